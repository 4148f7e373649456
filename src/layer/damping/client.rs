//! Telling clients apart for [`Damping`](super::Damping): [`ClientKey`] and its two
//! ready-made implementations, and the grouping of addresses into hosts.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{Extensions, HeaderMap, HeaderName};

/// Tells which client a request comes from, for [`Damping`](super::Damping).
///
/// Implemented for [`PeerAddr`], [`ForwardedFor`] and any
/// `Fn(&HeaderMap, &Extensions) -> Option<IpAddr>`.
///
/// ```
/// use std::net::IpAddr;
/// use http::{Extensions, HeaderMap};
/// use tollgate::{ClientKey, Damping};
///
/// // Behind a CDN that sends the client's address in a header of its own.
/// let cdn = |headers: &HeaderMap, _: &Extensions| -> Option<IpAddr> {
///     headers.get("cf-connecting-ip")?.to_str().ok()?.parse().ok()
/// };
/// let mut headers = HeaderMap::new();
/// headers.insert("cf-connecting-ip", "203.0.113.9".parse().unwrap());
/// assert_eq!(cdn.client_key(&headers, &Extensions::new()), "203.0.113.9".parse().ok());
/// assert_eq!(cdn.client_key(&HeaderMap::new(), &Extensions::new()), None); // not damped
///
/// let damping = Damping::builder().client_key(cdn).build();
/// # drop(damping);
/// ```
pub trait ClientKey: Send + Sync + 'static {
    /// The client's address, or `None` when it cannot be told: such a request is not
    /// damped.
    fn client_key(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr>;
}

impl<F> ClientKey for F
where
    F: Fn(&HeaderMap, &Extensions) -> Option<IpAddr> + Send + Sync + 'static,
{
    fn client_key(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        self(headers, extensions)
    }
}

/// The peer address: a [`SocketAddr`] in the request's extensions, as your hyper accept
/// loop inserts it per connection (hyper itself inserts none); with the `axum` feature,
/// axum's `ConnectInfo<SocketAddr>`, which `axum::serve` inserts when the app is served
/// with `into_make_service_with_connect_info::<SocketAddr>()`; with the `tonic` feature,
/// the `TcpConnectInfo` tonic's `Server` inserts for every request.
///
/// When none is there, the request is not damped, and [`Damping`](super::Damping) warns
/// once.
///
/// A tonic server that terminates TLS itself puts a `TlsConnectInfo<TcpConnectInfo>` in the
/// request instead, a type that exists only with tonic's own `tls-connect-info` feature;
/// give [`DampingBuilder::client_key`](super::DampingBuilder::client_key) a closure that
/// reads it: `|_, extensions| extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?.get_ref()
/// .remote_addr().map(|addr| addr.ip())`.
///
/// ```
/// use std::net::SocketAddr;
/// use http::{Extensions, HeaderMap};
/// use tollgate::{ClientKey, PeerAddr};
///
/// // What a hyper accept loop inserts in each request of a connection.
/// let peer: SocketAddr = "192.0.2.7:50312".parse().unwrap();
/// let mut extensions = Extensions::new();
/// extensions.insert(peer);
/// assert_eq!(PeerAddr.client_key(&HeaderMap::new(), &extensions), Some(peer.ip()));
/// // Nothing inserted: the client cannot be told.
/// assert_eq!(PeerAddr.client_key(&HeaderMap::new(), &Extensions::new()), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerAddr;

impl ClientKey for PeerAddr {
    fn client_key(&self, _headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let peer = extensions.get::<SocketAddr>().copied();
        #[cfg(feature = "axum")]
        let peer = peer.or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0)
        });
        #[cfg(feature = "tonic")]
        let peer = peer.or_else(|| {
            extensions
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(tonic::transport::server::TcpConnectInfo::remote_addr)
        });
        peer.map(|addr| addr.ip())
    }
}

/// The client address as reported by trusted reverse proxies in `X-Forwarded-For`.
///
/// Each proxy appends the address it received the request from, so with `n` trusted
/// proxies in front of the service the `n`-th entry from the right is the client as the
/// outermost of them saw it; entries further left are whatever the client sent, and
/// nothing in them (not even bytes that are not ASCII) changes which entry is read. When
/// the header has fewer entries, or that entry is not an address, the peer address is
/// used.
///
/// ```
/// use http::{Extensions, HeaderMap};
/// use tollgate::{ClientKey, ForwardedFor};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
/// let key = ForwardedFor::new(1).client_key(&headers, &Extensions::new());
/// assert_eq!(key, Some("198.51.100.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone)]
pub struct ForwardedFor {
    header: HeaderName,
    trusted_proxies: usize,
}

impl ForwardedFor {
    /// Reads `X-Forwarded-For` behind `trusted_proxies` proxies (at least 1).
    #[must_use]
    pub fn new(trusted_proxies: usize) -> Self {
        Self {
            header: HeaderName::from_static("x-forwarded-for"),
            trusted_proxies: trusted_proxies.max(1),
        }
    }

    /// Reads another header of the same form (a comma-separated list of addresses, the
    /// nearest proxy's last), such as one your load balancer sets.
    #[must_use]
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }
}

impl ClientKey for ForwardedFor {
    fn client_key(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        // Repeated headers are one list, in order (RFC 9110 §5.3): walk it from the right,
        // entry by entry, as bytes, so nothing a client put further left is even decoded.
        let entry = headers
            .get_all(&self.header)
            .iter()
            .rev()
            .flat_map(|value| value.as_bytes().rsplit(|&b| b == b','))
            .nth(self.trusted_proxies - 1);
        entry
            .and_then(parse_addr)
            .or_else(|| PeerAddr.client_key(headers, extensions))
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1` or
/// `[2001:db8::1]:443`, with optional surrounding whitespace.
fn parse_addr(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// One key per host: IPv4-mapped IPv6 as IPv4, other IPv6 addresses by their /64.
pub(super) fn normalize(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::super::peer;
    use super::*;

    #[test]
    fn ipv6_hosts_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(normalize(a), normalize(b));
        assert_ne!(normalize(a), normalize(c));
        assert_eq!(
            normalize("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_for_takes_the_entry_the_outermost_trusted_proxy_wrote() {
        // Header lines, trusted proxies, the client expected.
        type Case<'a> = (&'a [&'a [u8]], usize, Option<&'a str>);
        let cases: &[Case<'_>] = &[
            (&[b"203.0.113.9"], 1, Some("203.0.113.9")),
            // The client wrote the first entry; the proxy appended what it saw.
            (&[b"1.1.1.1, 203.0.113.9"], 1, Some("203.0.113.9")),
            (&[b"1.1.1.1, 203.0.113.9, 10.0.0.2"], 2, Some("203.0.113.9")),
            (&[b"1.1.1.1", b"203.0.113.9"], 1, Some("203.0.113.9")),
            (&[b"1.1.1.1, 203.0.113.9", b"10.0.0.2"], 2, Some("203.0.113.9")),
            (&[b"[2001:db8::7]:443"], 1, Some("2001:db8::7")),
            (&[b"203.0.113.9:8080"], 1, Some("203.0.113.9")),
            // Whatever the client put on the left, even bytes that are not ASCII on the
            // proxy's own line (nginx's `$proxy_add_x_forwarded_for`), is never decoded.
            (&[b"\xff\xfe, 203.0.113.9"], 1, Some("203.0.113.9")),
            (&[b"\xff", b"203.0.113.9"], 1, Some("203.0.113.9")),
            (&[b"a,,b,, 203.0.113.9"], 1, Some("203.0.113.9")),
            // Too few entries, or garbage where the trusted proxy's entry should be: the
            // peer address.
            (&[b"203.0.113.9"], 2, Some("192.0.2.50")),
            (&[b"unknown"], 1, Some("192.0.2.50")),
            (&[b"203.0.113.9, \xff"], 1, Some("192.0.2.50")),
            (&[], 1, Some("192.0.2.50")),
        ];
        for (values, proxies, expect) in cases {
            let mut headers = HeaderMap::new();
            for value in *values {
                headers.append("x-forwarded-for", HeaderValue::from_bytes(value).unwrap());
            }
            let got = ForwardedFor::new(*proxies).client_key(&headers, &peer("192.0.2.50:1"));
            assert_eq!(got, expect.map(|e| e.parse().unwrap()), "{values:?} behind {proxies}");
        }
    }
}
