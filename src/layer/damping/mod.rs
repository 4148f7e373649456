//! [`Damping`]: brute-force damping per client.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{Extensions, HeaderMap};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

mod client;

use crate::principal::Principal;
use crate::store::StoreError;
use crate::verify::{CacheAnswer, Claim, Pending, VerifyError, coarse_ms};

use super::kind::RejectionKind;

pub use client::{ClientKey, ForwardedFor, PeerAddr};

/// How long a client whose allowance is taken up by lookups in flight is told to wait.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// Brute-force damping: failed verifications are counted per client; a client over the
/// limit is answered 429 with `Retry-After` until its window ends, without a store lookup
/// and, for a credential that could be guessed, without asking the cache either (what
/// exactly a blocked client gets is below).
///
/// The client is told by a [`ClientKey`]: the peer address by default ([`PeerAddr`]: a
/// `SocketAddr` your hyper accept loop inserts, with the `axum` feature axum's
/// `ConnectInfo`, with the `tonic` feature tonic's `TcpConnectInfo`), or the address a trusted reverse proxy reports ([`ForwardedFor`]), or
/// any function of the request's headers and extensions. A request whose client cannot be
/// told is not damped, and the first one is logged as a warning. IPv6 addresses are counted per /64, the block one
/// host usually holds. Counters live in a bounded cache: memory stays within
/// [`DampingBuilder::capacity`] clients however many addresses an attacker uses.
///
/// What is counted: credentials that do not authenticate (401 `invalid_token`). Missing
/// credentials (a client's first try), malformed headers (refused before any lookup),
/// missing scopes and store failures are not.
///
/// What a blocked client gets, until its window ends: 429 for every credential that could
/// be guessed, valid or not, before the cache or the store is asked. That is an imported
/// secret (an opaque Bearer token, or a Basic password that is not a generated token's
/// secret), which may be as short as 16 characters: a client guessing one learns nothing
/// more, not even that a guess was right, until damping lets it try again. A generated
/// token (whole, or its id and last segment in Basic) carries a 256-bit secret nobody can
/// guess, so it is still decided from the cache: a neighbour behind the same NAT, using its
/// own token, is not locked out by a misconfigured client. Only a lookup (a credential the
/// cache cannot decide) is refused to it as to anyone blocked. Checking whether a client is
/// blocked costs a request nothing unless some client has been blocked within the last
/// window.
///
/// The bound on store lookups holds for concurrent requests too: a lookup in flight counts
/// against the client's allowance until it is answered, so a client with `max_failures`
/// left cannot start more than that many lookups at once, however many requests it sends
/// in parallel. Beyond that it is answered 429 with `Retry-After: 1` until some of them
/// are answered.
///
/// # A task per damped lookup
///
/// A store lookup always runs as a Tokio task, shared by every request waiting for the same
/// token. With damping on, a request's wait for it is spawned as a task of its own too
/// (`tokio::spawn`), which the request awaits: a client that hangs up while the store is
/// slow still has its lookup counted against its allowance until the lookup ends, and its
/// failure counted when it does.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{AuthLayer, Damping, ForwardedFor, MemoryStore, Verifier};
///
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// // Behind one reverse proxy, which appends the client's address to X-Forwarded-For.
/// let damping = Damping::builder()
///     .max_failures(10)
///     .window(Duration::from_secs(300))
///     .client_key(ForwardedFor::new(1))
///     .build();
/// let layer = AuthLayer::builder(verifier).damping(damping).build();
/// # drop(layer);
/// ```
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
    /// Client → its window. Attackers choose the keys, so the default SipHash; LRU, so a
    /// flood of new addresses cannot stop a repeating one from being counted (TinyLFU would
    /// refuse newcomers that look no more popular than what they would evict).
    counters: Cache<IpAddr, Arc<Window>>,
    /// Whether a request without a client key was warned about.
    warned: std::sync::atomic::AtomicBool,
    /// Until when (coarse clock, ms) some client may be blocked: before it, no request
    /// needs to look its client up to know it is not.
    blocked_until_ms: AtomicU64,
}

impl Shared {
    /// Notes that a client is blocked for `remaining`.
    fn note_block(&self, remaining: Duration) {
        let until = coarse_ms().saturating_add(u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX));
        self.blocked_until_ms.fetch_max(until, Ordering::Relaxed);
    }
}

/// One client's failures in its current window, and its lookups in flight. A mutex, not
/// atomics: the window's start, its count and the lookups in flight change together, and
/// only requests the cache could not decide take it.
#[derive(Default)]
struct Window(Mutex<State>);

#[derive(Default)]
struct State {
    /// The first failure of the current window; `None` before it.
    started: Option<Instant>,
    failures: u32,
    in_flight: u32,
}

impl State {
    /// Ends the window once its time is up.
    fn roll(&mut self, now: Instant, window: Duration) {
        if self
            .started
            .is_some_and(|started| now.duration_since(started) >= window)
        {
            self.started = None;
            self.failures = 0;
        }
    }

    /// How long the client is blocked for, if it is.
    fn blocked(&self, now: Instant, shared: &Shared) -> Option<Duration> {
        let started = self.started?;
        (self.failures >= shared.max_failures).then(|| shared.window.saturating_sub(now.duration_since(started)))
    }

    /// Counts a failure, noting a client that it blocks.
    fn count_failure(&mut self, now: Instant, shared: &Shared) {
        self.started.get_or_insert(now);
        self.failures = self.failures.saturating_add(1);
        if let Some(remaining) = self.blocked(now, shared) {
            shared.note_block(remaining);
        }
    }
}

impl Window {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds consistent counts.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Damping's say on a request, asked once ([`Damping::judge`]).
pub(crate) enum Judged {
    /// The client is blocked: refuse it, to retry after this long.
    Blocked(Duration),
    /// The cache decided; a failure is counted already.
    Decided(Result<Principal, VerifyError>),
    /// A lookup to make, counted against the client's allowance while it is in flight when
    /// the client can be told apart.
    Lookup(Pending, Option<Attempt>),
}

impl Judged {
    /// The cache's answer, when nothing is damped.
    pub(crate) fn undamped(answer: CacheAnswer) -> Self {
        match answer {
            CacheAnswer::Decided(decided) => Self::Decided(decided),
            CacheAnswer::Pending(pending) => Self::Lookup(pending, None),
        }
    }
}

/// Whether a verification that ended so is a failed guess, as the rejection table says.
fn is_failure(verdict: &Result<Principal, VerifyError>) -> bool {
    verdict.as_ref().is_err_and(|err| RejectionKind::from(err).is_failure())
}

/// What damping says of a lookup a request asks for ([`Damping::allow_lookup`]).
enum Allowance {
    /// The client may look its credential up; report how it went on this attempt.
    Counted(Attempt),
    /// The client cannot be told apart from others (no client key): not damped.
    Undamped,
    /// Blocked, or its lookups in flight take up what it has left: retry after this long.
    Refused(Duration),
}

/// A lookup a client was allowed to make, counted against its allowance until it is
/// answered. Dropping it (the lookup found the token, failed in the store, or was
/// cancelled) gives the allowance back; [`Attempt::settle`] first counts a failed guess.
#[must_use = "dropping an attempt ends it as not failed"]
pub(crate) struct Attempt {
    window: Arc<Window>,
    shared: Arc<Shared>,
}

impl Attempt {
    /// Runs the lookup this attempt counts to its end as a task of its own (see "A task per
    /// damped lookup" on [`Damping`]), and settles the attempt with its answer.
    pub(crate) async fn run(
        self,
        lookup: impl Future<Output = Result<Principal, VerifyError>> + Send + 'static,
    ) -> Result<Principal, VerifyError> {
        let counted = async move {
            let verdict = lookup.await;
            self.settle(&verdict);
            verdict
        };
        // Outside a runtime the lookup fails as it would undamped, naming the runtime.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return counted.await;
        };
        runtime.spawn(counted).await.unwrap_or_else(|_| {
            Err(VerifyError::Unavailable(std::sync::Arc::new(StoreError::unavailable(
                "the lookup task panicked",
            ))))
        })
    }

    /// Ends the attempt with the lookup's answer: a failed guess is one failure for the
    /// client, counted before the lookup stops counting as in flight, so that the two
    /// never sum below the truth. Any other answer gives the allowance back.
    fn settle(self, verdict: &Result<Principal, VerifyError>) {
        if is_failure(verdict) {
            let now = Instant::now();
            let mut state = self.window.lock();
            state.roll(now, self.shared.window);
            state.count_failure(now, &self.shared);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let mut state = self.window.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
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

    /// Damping's whole say on a request, in one place: a blocked client's credential that
    /// could be guessed is refused before the cache is asked (it learns nothing, not even
    /// that a guess was right); `cached` is asked otherwise; a failure it decides is counted
    /// (and refused as blocked if the client already was); a lookup it cannot decide is
    /// allowed, counted, or refused by the client's allowance.
    #[inline]
    pub(crate) fn judge(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        claim: &Claim<'_>,
        cached: impl FnOnce() -> CacheAnswer,
    ) -> Judged {
        if self.any_blocked() && claim.guessable() {
            if let Some(remaining) = self.blocked(headers, extensions) {
                return Judged::Blocked(remaining);
            }
        }
        match cached() {
            CacheAnswer::Decided(verdict) if is_failure(&verdict) => match self.failed(headers, extensions) {
                Some(remaining) => Judged::Blocked(remaining),
                None => Judged::Decided(verdict),
            },
            CacheAnswer::Decided(verdict) => Judged::Decided(verdict),
            CacheAnswer::Pending(pending) => match self.allow_lookup(headers, extensions) {
                Allowance::Refused(remaining) => Judged::Blocked(remaining),
                Allowance::Counted(attempt) => Judged::Lookup(pending, Some(attempt)),
                Allowance::Undamped => Judged::Lookup(pending, None),
            },
        }
    }

    /// Asks to look this request's credential up (see [`Allowance`]).
    fn allow_lookup(&self, headers: &HeaderMap, extensions: &Extensions) -> Allowance {
        let shared = &*self.shared;
        let opened = self.open(headers, extensions, |state, now| {
            if let Some(remaining) = state.blocked(now, shared) {
                return Err(remaining);
            }
            if state.failures.saturating_add(state.in_flight) >= shared.max_failures {
                return Err(IN_FLIGHT_RETRY);
            }
            state.in_flight += 1;
            Ok(())
        });
        match opened {
            None => Allowance::Undamped,
            Some((_, Err(remaining))) => Allowance::Refused(remaining),
            Some((window, Ok(()))) => Allowance::Counted(Attempt {
                window,
                shared: Arc::clone(&self.shared),
            }),
        }
    }

    /// Counts a failed verification the cache decided (no lookup) for the client of this
    /// request. Returns how long it is blocked if it already was (the failure is then not
    /// counted: a blocked client cannot extend its own block).
    fn failed(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<Duration> {
        let shared = &*self.shared;
        let (_, blocked) = self.open(headers, extensions, |state, now| {
            let blocked = state.blocked(now, shared);
            if blocked.is_none() {
                state.count_failure(now, shared);
            }
            blocked
        })?;
        blocked
    }

    /// Whether some client may be blocked now: when not, no request needs [`Damping::blocked`].
    #[inline]
    fn any_blocked(&self) -> bool {
        coarse_ms() < self.shared.blocked_until_ms.load(Ordering::Relaxed)
    }

    /// How long this request's client is still blocked, if it is; never opens a window for
    /// a client.
    fn blocked(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<Duration> {
        let shared = &*self.shared;
        let client = shared.key.client_key(headers, extensions).map(client::normalize)?;
        let window = shared.counters.get(&client)?;
        let now = Instant::now();
        let mut state = window.lock();
        state.roll(now, shared.window);
        state.blocked(now, shared)
    }

    /// Warns, once per `Damping`, that a request came whose client could not be told: with
    /// every request like it, damping is off, and nothing else would say so.
    #[cold]
    fn no_client_key(&self) {
        if !self.shared.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "brute-force damping found no client key for a request, so it does not damp such requests: \
                 serve axum with `into_make_service_with_connect_info::<SocketAddr>()`, insert the peer's \
                 `SocketAddr` into each request's extensions on hyper, enable tollgate's `tonic` feature on \
                 tonic, or configure `DampingBuilder::client_key` \
                 (warned once)"
            );
        }
    }

    /// Runs `f` on the window of this request's client, ended first if its time is up, under
    /// its lock; `None` when the client cannot be told (it is not damped).
    fn open<T>(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        f: impl FnOnce(&mut State, Instant) -> T,
    ) -> Option<(Arc<Window>, T)> {
        let Some(client) = self.shared.key.client_key(headers, extensions).map(client::normalize) else {
            self.no_client_key();
            return None;
        };
        let now = Instant::now();
        let window = self.shared.counters.get_with(client, Arc::default);
        let out = {
            let mut state = window.lock();
            state.roll(now, self.shared.window);
            f(&mut state, now)
        };
        Some((window, out))
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
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Duration;
/// use http::{Request, Response, header::AUTHORIZATION};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, Damping, MemoryStore, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let damping = Damping::builder().max_failures(1).window(Duration::from_secs(60)).capacity(10_000).build();
/// let auth = AuthLayer::builder(Verifier::builder(MemoryStore::new()).build()).damping(damping).build();
/// let service = auth.layer(service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// }));
/// let guess = || {
///     let mut request = Request::builder().header(AUTHORIZATION, "Bearer guessed-secret-1234").body(()).unwrap();
///     request.extensions_mut().insert("192.0.2.7:50312".parse::<SocketAddr>().unwrap());
///     request
/// };
/// assert_eq!(service.clone().oneshot(guess()).await.unwrap().status(), 401);
/// // Its one failure is spent: the next guess is refused unchecked until the window ends.
/// let blocked = service.oneshot(guess()).await.unwrap();
/// assert_eq!(blocked.status(), 429);
/// assert!(blocked.headers().contains_key("retry-after"));
/// # }
/// ```
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
    /// How many failures a client may have in one window (default 20; 0 is taken as 1); the
    /// next request it makes that the cache cannot prove valid is answered 429.
    pub fn max_failures(mut self, failures: u32) -> Self {
        self.max_failures = failures.max(1);
        self
    }

    /// How long a window lasts, from the client's first failure in it (default 60 s). A
    /// blocked client is told to retry when its window ends. Clamped to 1 ms at least and
    /// [`MAX_DURATION`](crate::MAX_DURATION) at most.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.clamp(Duration::from_millis(1), crate::verify::MAX_DURATION);
        self
    }

    /// How many clients are tracked at most (default 100,000; 0 is taken as 1); beyond it,
    /// the least recently
    /// seen are forgotten first. A client is seen when it fails, or asks for a lookup.
    pub fn capacity(mut self, clients: u64) -> Self {
        self.capacity = clients.max(1);
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
                // Idle for a whole window: whatever window it held has ended.
                counters: Cache::builder()
                    .max_capacity(self.capacity)
                    .eviction_policy(EvictionPolicy::lru())
                    .time_to_idle(self.window)
                    .build(),
                warned: std::sync::atomic::AtomicBool::new(false),
                blocked_until_ms: AtomicU64::new(0),
            }),
        }
    }
}

/// Extensions holding `addr` as the peer address, as a hyper server records it.
#[cfg(test)]
fn peer(addr: &str) -> Extensions {
    let mut ext = Extensions::new();
    ext.insert(addr.parse::<std::net::SocketAddr>().unwrap());
    ext
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_out_of_range_is_clamped_as_documented() {
        assert_eq!(
            Damping::builder().window(Duration::MAX).window,
            crate::verify::MAX_DURATION
        );
        assert_eq!(
            Damping::builder().window(Duration::ZERO).window,
            Duration::from_millis(1)
        );
        let damping = Damping::builder().window(Duration::MAX).max_failures(0).build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        assert_eq!(damping.failed(&headers, &ext), None);
        let remaining = refused(damping.allow_lookup(&headers, &ext)).expect("one failure blocks");
        assert!(remaining > crate::verify::MAX_DURATION - Duration::from_secs(1));
    }

    fn refused(allowance: Allowance) -> Option<Duration> {
        match allowance {
            Allowance::Refused(remaining) => Some(remaining),
            Allowance::Counted(_) | Allowance::Undamped => None,
        }
    }

    fn counted(allowance: Allowance) -> Attempt {
        match allowance {
            Allowance::Counted(attempt) => attempt,
            Allowance::Undamped => panic!("no client key"),
            Allowance::Refused(remaining) => panic!("refused for {remaining:?}"),
        }
    }

    #[test]
    fn a_client_is_blocked_after_max_failures_and_not_before() {
        let damping = Damping::builder().max_failures(3).build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        for _ in 0..3 {
            assert!(refused(damping.allow_lookup(&headers, &ext)).is_none());
            assert_eq!(damping.failed(&headers, &ext), None);
        }
        let remaining = refused(damping.allow_lookup(&headers, &ext)).expect("blocked after 3 failures");
        assert!(remaining <= Duration::from_secs(60) && remaining > Duration::from_secs(59));
        // A blocked client's failure is not counted, and says how long it still is blocked.
        assert!(damping.failed(&headers, &ext).is_some());
        // Another port of the same host is the same client; another host is not.
        assert!(refused(damping.allow_lookup(&headers, &peer("192.0.2.1:6000"))).is_some());
        assert!(refused(damping.allow_lookup(&headers, &peer("192.0.2.2:5000"))).is_none());
    }

    #[test]
    fn a_window_ends() {
        let damping = Damping::builder()
            .max_failures(1)
            .window(Duration::from_millis(50))
            .build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        damping.failed(&headers, &ext);
        assert!(refused(damping.allow_lookup(&headers, &ext)).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(refused(damping.allow_lookup(&headers, &ext)).is_none());
    }

    #[test]
    fn requests_without_a_client_key_are_not_damped() {
        let damping = Damping::builder().max_failures(1).build();
        let (headers, ext) = (HeaderMap::new(), Extensions::new());
        damping.failed(&headers, &ext);
        damping.failed(&headers, &ext);
        assert!(matches!(damping.allow_lookup(&headers, &ext), Allowance::Undamped));
        assert_eq!(damping.tracked_clients(), 0);
    }

    #[test]
    fn lookups_in_flight_count_against_the_allowance() {
        let damping = Damping::builder().max_failures(5).build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        let mut attempts: Vec<Attempt> = (0..5).map(|_| counted(damping.allow_lookup(&headers, &ext))).collect();
        assert_eq!(
            refused(damping.allow_lookup(&headers, &ext)),
            Some(IN_FLIGHT_RETRY),
            "five lookups in flight take up an allowance of five"
        );
        // One found its token: its share comes back.
        drop(attempts.pop());
        attempts.push(counted(damping.allow_lookup(&headers, &ext)));
        // All five failed: blocked for the window, not for the in-flight retry.
        for attempt in attempts {
            attempt.settle(&Err(VerifyError::Invalid(crate::verify::InvalidReason::Unknown)));
        }
        let remaining = refused(damping.allow_lookup(&headers, &ext)).unwrap();
        assert!(remaining > Duration::from_secs(59), "{remaining:?}");
    }

    #[test]
    fn a_flood_of_addresses_does_not_stop_a_new_one_from_being_counted() {
        let damping = Damping::builder().max_failures(3).capacity(100).build();
        let headers = HeaderMap::new();
        for k in 0..1_000u32 {
            let [_, _, hi, lo] = k.to_be_bytes();
            damping.failed(&headers, &peer(&format!("198.51.{hi}.{lo}:1")));
        }
        damping.shared.counters.run_pending_tasks();
        assert!(damping.tracked_clients() <= 100, "bounded memory");
        let ext = peer("203.0.113.7:1");
        for _ in 0..3 {
            assert!(refused(damping.allow_lookup(&headers, &ext)).is_none());
            assert_eq!(damping.failed(&headers, &ext), None);
            damping.shared.counters.run_pending_tasks();
        }
        assert!(
            refused(damping.allow_lookup(&headers, &ext)).is_some(),
            "blocked after exactly max_failures, though the table was full"
        );
    }

    #[test]
    fn a_capacity_of_zero_still_damps() {
        let damping = Damping::builder().max_failures(1).capacity(0).build();
        let (headers, ext) = (HeaderMap::new(), peer("192.0.2.1:5000"));
        damping.failed(&headers, &ext);
        assert!(refused(damping.allow_lookup(&headers, &ext)).is_some());
    }
}
