//! [`Damping`]: brute-force damping. Failed verifications are counted per client; a client
//! over the limit is answered 429 with `Retry-After`, and its credentials are neither
//! verified nor looked up, until its window ends.
//!
//! The client is told by a [`ClientKey`]: the peer address by default ([`PeerAddr`]), or
//! the address a trusted reverse proxy reports ([`ForwardedFor`]), or any function of the
//! request's headers and extensions. IPv6 addresses are counted per /64, the block one
//! host usually holds. Counters live in a bounded cache: memory stays within
//! [`DampingBuilder::capacity`] clients however many addresses an attacker uses.
//!
//! What is counted: credentials that do not authenticate (401 `invalid_token`). Missing
//! credentials (a client's first try), malformed headers (refused before any lookup),
//! missing scopes and store failures are not. A blocked client's credential that the cache
//! proves valid still passes: a neighbour behind the same NAT is not locked out by a
//! misconfigured client, and no store is touched either way.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::extract::ConnectInfo;
//! use tollgate::{AuthLayer, Damping, MemoryStore, Verifier};
//!
//! let verifier = Verifier::builder(MemoryStore::new()).build();
//! // axum puts the peer address in `ConnectInfo` when served with
//! // `into_make_service_with_connect_info::<SocketAddr>()`.
//! let damping = Damping::builder()
//!     .max_failures(20)
//!     .window(Duration::from_secs(60))
//!     .client_key(|_: &http::HeaderMap, ext: &http::Extensions| {
//!         ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
//!     })
//!     .build();
//! let layer = AuthLayer::builder(verifier).damping(damping).build();
//! # drop(layer);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use http::{Extensions, HeaderMap, HeaderName};
use moka::sync::Cache;

/// Tells which client a request comes from, for [`Damping`].
///
/// Implemented for [`PeerAddr`], [`ForwardedFor`] and any
/// `Fn(&HeaderMap, &Extensions) -> Option<IpAddr>`.
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

/// The peer address: a [`SocketAddr`] in the request's extensions, as a hyper server
/// inserts it per connection (see `examples/hyper.rs`). With axum, use a closure that
/// reads `ConnectInfo<SocketAddr>` (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerAddr;

impl ClientKey for PeerAddr {
    fn client_key(&self, _headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<SocketAddr>().map(SocketAddr::ip)
    }
}

/// The client address as reported by trusted reverse proxies in `X-Forwarded-For`.
///
/// Each proxy appends the address it received the request from, so with `n` trusted
/// proxies in front of the service the `n`-th entry from the right is the client as the
/// outermost of them saw it; entries further left are whatever the client sent. When the
/// header has fewer entries, or that entry is not an address, the peer address is used.
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
        // Repeated headers are one list, in order (RFC 9110 §5.3).
        let entries: Vec<&str> = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        entries
            .len()
            .checked_sub(self.trusted_proxies)
            .and_then(|at| parse_addr(entries[at]))
            .or_else(|| PeerAddr.client_key(headers, extensions))
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1` or
/// `[2001:db8::1]:443`.
fn parse_addr(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// Counts failed verifications per client and blocks clients over the limit. See the
/// [module docs](self).
///
/// Cheap to clone; clones share their counters, so one `Damping` given to several layers
/// (the API and the admin API, say) counts a client's failures on all of them together.
#[derive(Clone)]
pub struct Damping {
    shared: Arc<Shared>,
}

struct Shared {
    max_failures: u32,
    window: Duration,
    key: Box<dyn ClientKey>,
    /// Client → its current window. Attackers choose the keys, so the default SipHash.
    counters: Cache<IpAddr, Arc<Window>>,
}

/// One client's failures since `started`.
struct Window {
    started: Instant,
    failures: AtomicU32,
}

impl fmt::Debug for Damping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Damping")
            .field("max_failures", &self.shared.max_failures)
            .field("window", &self.shared.window)
            .field("tracked_clients", &self.shared.counters.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for Damping {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Damping {
    /// Starts configuring damping.
    pub fn builder() -> DampingBuilder {
        DampingBuilder {
            max_failures: 20,
            window: Duration::from_secs(60),
            capacity: 100_000,
            key: Box::new(PeerAddr),
        }
    }

    /// How many clients have counters (exact: pending evictions are run first).
    #[must_use]
    pub fn tracked_clients(&self) -> u64 {
        self.shared.counters.run_pending_tasks();
        self.shared.counters.entry_count()
    }

    /// How long the client of this request is still blocked, if it is.
    pub(crate) fn blocked(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<Duration> {
        let client = self.client(headers, extensions)?;
        self.blocked_for(client, Instant::now())
    }

    /// Counts a failed verification for the client of this request. Returns how long it is
    /// blocked if it already was (the failure is then not counted: a blocked client cannot
    /// extend its own block).
    pub(crate) fn failed(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<Duration> {
        let client = self.client(headers, extensions)?;
        let now = Instant::now();
        if let Some(remaining) = self.blocked_for(client, now) {
            return Some(remaining);
        }
        let shared = &*self.shared;
        let window = shared.counters.get_with(client, || Window::starting(now));
        if now.duration_since(window.started) >= shared.window {
            // Ended, but not evicted yet: a new window starts with this failure.
            let fresh = Window::starting(now);
            fresh.failures.store(1, Ordering::Relaxed);
            shared.counters.insert(client, fresh);
        } else {
            window.failures.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    fn client(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        self.shared.key.client_key(headers, extensions).map(normalize)
    }

    fn blocked_for(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let shared = &*self.shared;
        let window = shared.counters.get(&client)?;
        let elapsed = now.duration_since(window.started);
        (elapsed < shared.window && window.failures.load(Ordering::Relaxed) >= shared.max_failures)
            .then(|| shared.window - elapsed)
    }
}

impl Window {
    fn starting(now: Instant) -> Arc<Self> {
        Arc::new(Self {
            started: now,
            failures: AtomicU32::new(0),
        })
    }
}

/// One key per host: IPv4-mapped IPv6 as IPv4, other IPv6 addresses by their /64.
fn normalize(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Configures [`Damping`]. Start with [`Damping::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`max_failures`](Self::max_failures) | 20 per window |
/// | [`window`](Self::window) | 60 s, from a client's first failure |
/// | [`capacity`](Self::capacity) | 100,000 clients |
/// | [`client_key`](Self::client_key) | [`PeerAddr`] |
#[must_use = "a builder does nothing until `build` is called"]
pub struct DampingBuilder {
    max_failures: u32,
    window: Duration,
    capacity: u64,
    key: Box<dyn ClientKey>,
}

impl fmt::Debug for DampingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DampingBuilder")
            .field("max_failures", &self.max_failures)
            .field("window", &self.window)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl DampingBuilder {
    /// How many failures a client may have in one window; the next request it makes that
    /// the cache cannot prove valid is answered 429 (at least 1).
    pub fn max_failures(mut self, failures: u32) -> Self {
        self.max_failures = failures.max(1);
        self
    }

    /// How long a window lasts, from the client's first failure in it. A blocked client is
    /// told to retry when its window ends.
    pub fn window(mut self, window: Duration) -> Self {
        // moka refuses lifetimes over 1,000 years.
        self.window = window.clamp(Duration::from_millis(1), Duration::from_secs(365 * 24 * 3600));
        self
    }

    /// How many clients are tracked at most; beyond it, the least recently failing are
    /// forgotten first.
    pub fn capacity(mut self, clients: u64) -> Self {
        self.capacity = clients;
        self
    }

    /// How the client of a request is told (default [`PeerAddr`]).
    pub fn client_key(mut self, key: impl ClientKey) -> Self {
        self.key = Box::new(key);
        self
    }

    /// Builds it.
    pub fn build(self) -> Damping {
        Damping {
            shared: Arc::new(Shared {
                max_failures: self.max_failures,
                window: self.window,
                key: self.key,
                counters: Cache::builder()
                    .max_capacity(self.capacity)
                    .time_to_live(self.window)
                    .build(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(addr: &str) -> Extensions {
        let mut ext = Extensions::new();
        ext.insert(addr.parse::<SocketAddr>().unwrap());
        ext
    }

    #[test]
    fn a_client_is_blocked_after_max_failures_and_not_before() {
        let damping = Damping::builder().max_failures(3).build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        for _ in 0..3 {
            assert_eq!(damping.blocked(&headers, &ext), None);
            assert_eq!(damping.failed(&headers, &ext), None);
        }
        let remaining = damping.blocked(&headers, &ext).expect("blocked after 3 failures");
        assert!(remaining <= Duration::from_secs(60) && remaining > Duration::from_secs(59));
        // Another port of the same host is the same client; another host is not.
        assert!(damping.blocked(&headers, &peer("192.0.2.1:6000")).is_some());
        assert_eq!(damping.blocked(&headers, &peer("192.0.2.2:5000")), None);
    }

    #[test]
    fn a_window_ends() {
        let damping = Damping::builder()
            .max_failures(1)
            .window(Duration::from_millis(50))
            .build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        damping.failed(&headers, &ext);
        assert!(damping.blocked(&headers, &ext).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(damping.blocked(&headers, &ext), None);
    }

    #[test]
    fn requests_without_a_client_key_are_not_damped() {
        let damping = Damping::builder().max_failures(1).build();
        let (headers, ext) = (HeaderMap::new(), Extensions::new());
        damping.failed(&headers, &ext);
        damping.failed(&headers, &ext);
        assert_eq!(damping.blocked(&headers, &ext), None);
        assert_eq!(damping.tracked_clients(), 0);
    }

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
        let cases: &[(&[&str], usize, Option<&str>)] = &[
            (&["203.0.113.9"], 1, Some("203.0.113.9")),
            // The client wrote the first entry; the proxy appended what it saw.
            (&["1.1.1.1, 203.0.113.9"], 1, Some("203.0.113.9")),
            (&["1.1.1.1, 203.0.113.9, 10.0.0.2"], 2, Some("203.0.113.9")),
            (&["1.1.1.1", "203.0.113.9"], 1, Some("203.0.113.9")),
            (&["[2001:db8::7]:443"], 1, Some("2001:db8::7")),
            (&["203.0.113.9:8080"], 1, Some("203.0.113.9")),
            // Too few entries, or garbage: the peer address.
            (&["203.0.113.9"], 2, Some("192.0.2.50")),
            (&["unknown"], 1, Some("192.0.2.50")),
            (&[], 1, Some("192.0.2.50")),
        ];
        for (values, proxies, expect) in cases {
            let mut headers = HeaderMap::new();
            for value in *values {
                headers.append("x-forwarded-for", value.parse().unwrap());
            }
            let got = ForwardedFor::new(*proxies).client_key(&headers, &peer("192.0.2.50:1"));
            assert_eq!(got, expect.map(|e| e.parse().unwrap()), "{values:?} behind {proxies}");
        }
    }
}
