//! [`Limits`]: the rate limits a cached token is under (its own, its owner's), with handles
//! on their buckets; what checking a request against them says ([`Checked`]); and how that
//! is told to the client ([`LimitFields`], the IETF `RateLimit-Policy` and `RateLimit`
//! fields) and to the handler ([`RateLimitStatus`]).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::buckets::{Buckets, Scope};
use super::gcra::{Bucket, Cell, Quota};
use super::rate::RateLimit;

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the policies, fixed per token.
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: where each policy stands after this request.
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One limit of a token, and a handle on its bucket.
pub(crate) struct Held {
    pub(crate) scope: Scope,
    pub(crate) limit: RateLimit,
    /// The limit as GCRA reads it, worked out when the entry was filled.
    pub(crate) cell: Cell,
    /// The token id or the owner: the bucket's key, here and on Redis.
    pub(crate) key: Arc<str>,
    bucket: Arc<Bucket>,
}

impl Held {
    fn new(scope: Scope, limit: RateLimit, key: Arc<str>, buckets: &Buckets) -> Self {
        let bucket = buckets.bucket(scope, &key);
        Self {
            scope,
            limit,
            cell: Cell::of(&limit),
            key,
            bucket,
        }
    }

    /// Takes a slot at `now` (ns), from the held bucket or, once the sweep retired it,
    /// from the live one.
    #[inline]
    fn take(&self, buckets: &Buckets, now: u64) -> Quota {
        match self.bucket.take(now, &self.cell) {
            Some(quota) => quota,
            None => self.take_retired(buckets, now),
        }
    }

    /// [`Held::take`] once the sweep retired the held bucket.
    #[cold]
    fn take_retired(&self, buckets: &Buckets, now: u64) -> Quota {
        loop {
            let bucket = buckets.revive(self.scope, &self.key, &self.bucket);
            if let Some(quota) = bucket.take(now, &self.cell) {
                return quota;
            }
        }
    }

    /// Gives back a slot [`Held::take`] took, to the bucket it was taken from (the live one).
    fn give_back(&self, buckets: &Buckets) {
        if self.bucket.is_retired() {
            buckets
                .revive(self.scope, &self.key, &self.bucket)
                .give_back(&self.cell);
        } else {
            self.bucket.give_back(&self.cell);
        }
    }

    fn peek(&self, buckets: &Buckets, now: u64) -> Quota {
        if self.bucket.is_retired() {
            buckets.bucket(self.scope, &self.key).peek(now, &self.cell)
        } else {
            self.bucket.peek(now, &self.cell)
        }
    }
}

/// The limits a cached token is under; an entry has one only when there is a limit.
pub(crate) struct Limits {
    pub(crate) token: Option<Held>,
    pub(crate) owner: Option<Held>,
    /// `RateLimit-Policy`, written once.
    policy: HeaderValue,
}

impl Limits {
    /// The limits of token `id` with its own `token` limit and its `owner`'s; `None` when
    /// neither is set.
    pub(crate) fn new(
        id: &Arc<str>,
        token: Option<RateLimit>,
        owner: Option<(&str, RateLimit)>,
        buckets: &Buckets,
    ) -> Option<Box<Self>> {
        if token.is_none() && owner.is_none() {
            return None;
        }
        let token = token.map(|limit| Held::new(Scope::Token, limit, Arc::clone(id), buckets));
        let owner = owner.map(|(owner, limit)| Held::new(Scope::Owner, limit, Arc::from(owner), buckets));
        let mut policy = Vec::with_capacity(48);
        for held in token.iter().chain(owner.iter()) {
            if !policy.is_empty() {
                policy.extend_from_slice(b", ");
            }
            policy.push(b'"');
            policy.extend_from_slice(held.scope.policy().as_bytes());
            policy.extend_from_slice(b"\";q=");
            policy.extend_from_slice(itoa::Buffer::new().format(held.limit.limit()).as_bytes());
            policy.extend_from_slice(b";w=");
            policy.extend_from_slice(itoa::Buffer::new().format(held.limit.period_secs()).as_bytes());
        }
        let policy = HeaderValue::from_bytes(&policy).expect("ASCII digits and names");
        Some(Box::new(Self { token, owner, policy }))
    }

    /// The limits held, token first.
    #[cfg(feature = "redis")]
    pub(crate) fn held(&self) -> impl Iterator<Item = &Held> {
        self.token.iter().chain(self.owner.iter())
    }

    /// Checks a request at `now_ms` (coarse clock) against the local buckets: it passes
    /// only if both limits allow it, and a request one limit refuses takes nothing from
    /// the other.
    pub(crate) fn check_local(&self, buckets: &Buckets, now_ms: u64) -> Checked {
        buckets.sweep_if_due(now_ms);
        let now = now_ms.saturating_mul(1_000_000);
        let token = self.token.as_ref().map(|held| held.take(buckets, now));
        if let Some(quota) = token.as_ref().filter(|quota| !quota.allowed) {
            let owner = self.owner.as_ref().map(|held| held.peek(buckets, now));
            return self.checked(Some(*quota), owner);
        }
        let owner = self.owner.as_ref().map(|held| held.take(buckets, now));
        let mut token_quota = token;
        if owner.is_some_and(|quota| !quota.allowed) {
            if let (Some(quota), Some(held)) = (&token, &self.token) {
                held.give_back(buckets);
                token_quota = Some(Quota {
                    remaining: quota.remaining.saturating_add(1),
                    wait_ns: 0,
                    ..*quota
                });
            }
        }
        self.checked(token_quota, owner)
    }

    /// What the quotas of each limit say, together.
    pub(crate) fn checked(&self, token: Option<Quota>, owner: Option<Quota>) -> Checked {
        let allowed = token.is_none_or(|q| q.allowed) && owner.is_none_or(|q| q.allowed);
        Checked {
            allowed,
            token: self.token.as_ref().zip(token).map(|(held, quota)| (held.limit, quota)),
            owner: self.owner.as_ref().zip(owner).map(|(held, quota)| (held.limit, quota)),
        }
    }

    /// The fields a response to a request checked as `checked` carries.
    pub(crate) fn fields(&self, checked: &Checked) -> LimitFields {
        // Written on the stack, then copied once into the value.
        let mut state = Buffer::default();
        if let Some((_, quota)) = &checked.token {
            state.item(Scope::Token, quota);
        }
        if let Some((_, quota)) = &checked.owner {
            if state.len > 0 {
                state.extend_from_slice(b", ");
            }
            state.item(Scope::Owner, quota);
        }
        LimitFields {
            policy: self.policy.clone(),
            state: HeaderValue::from_bytes(state.as_bytes()).expect("ASCII digits and names"),
        }
    }
}

/// What a request's limits said of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) allowed: bool,
    pub(crate) token: Option<(RateLimit, Quota)>,
    pub(crate) owner: Option<(RateLimit, Quota)>,
}

impl Checked {
    /// Seconds until a refused request would be allowed, rounded up: the longest wait of
    /// the limits that refused it.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        [self.token, self.owner]
            .into_iter()
            .flatten()
            .filter(|(_, quota)| !quota.allowed)
            .map(|(_, quota)| quota.wait_secs())
            .max()
            .unwrap_or(0)
    }

    /// What a handler may read of it.
    pub(crate) fn status(&self) -> RateLimitStatus {
        let state = |(limit, quota): (RateLimit, Quota)| LimitState {
            limit,
            remaining: quota.remaining,
            reset_after: if quota.allowed && quota.remaining > 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos(quota.wait_ns)
            },
        };
        RateLimitStatus {
            token: self.token.map(state),
            owner: self.owner.map(state),
        }
    }
}

/// The `RateLimit-Policy` and `RateLimit` fields of one response.
#[derive(Debug, Clone)]
pub(crate) struct LimitFields {
    policy: HeaderValue,
    state: HeaderValue,
}

impl LimitFields {
    /// Adds the fields to a response's headers.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_POLICY, self.policy);
        headers.insert(RATELIMIT, self.state);
    }
}

/// Where the rate limits of the request's token stand, once the request was counted: what
/// the `RateLimit` response fields say, for a handler to read. The layer puts it in the
/// request's extensions beside the [`Principal`](crate::Principal) when the token, or its
/// owner, has a limit, and only then. It serializes as
/// `{"token": {"limit","period","burst","remaining","reset_after"} | null, "owner": …}`,
/// `reset_after` in whole seconds, rounded up.
///
/// ```
/// use tollgate::{RateLimitStatus, Principal};
///
/// // In a handler (axum: `Option<Extension<RateLimitStatus>>`).
/// fn describe(status: Option<&RateLimitStatus>) -> String {
///     match status.and_then(|s| s.token) {
///         Some(token) => format!("{} of {} left", token.remaining, token.limit.limit()),
///         None => "no limit".to_owned(),
///     }
/// }
/// assert_eq!(describe(None), "no limit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// The token's own limit, if it has one.
    pub token: Option<LimitState>,
    /// Its owner's limit, shared by the owner's tokens, if there is one.
    pub owner: Option<LimitState>,
}

/// One rate limit, after the request was counted.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use http::{Request, Response, header::AUTHORIZATION};
/// use http_body_util::BodyExt;
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, LimitState, MemoryStore, NewToken, RateLimit, RateLimitStatus, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let trial = NewToken::new("trial").rate_limit(Some(RateLimit::new(3, Duration::from_secs(60))?));
/// let issued = TokenManager::new(store, verifier.clone()).create(trial).await?;
///
/// let service = AuthLayer::new(verifier).layer(service_fn(|req: Request<()>| async move {
///     let token: Option<LimitState> = req.extensions().get::<RateLimitStatus>().and_then(|s| s.token);
///     let token = token.expect("a limited token");
///     Ok::<_, std::convert::Infallible>(Response::new(format!("{} of {} left", token.remaining, token.limit.limit())))
/// }));
/// let bearer = format!("Bearer {}", issued.token().expose());
/// let response = service.oneshot(Request::builder().header(AUTHORIZATION, bearer).body(())?).await?;
/// assert_eq!(response.into_body().collect().await?.to_bytes(), "2 of 3 left");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitState {
    /// The limit.
    pub limit: RateLimit,
    /// How many more requests may be sent now without a refusal.
    pub remaining: u32,
    /// How long until the next request is allowed: zero while `remaining` is not.
    pub reset_after: Duration,
}

impl Serialize for LimitState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("LimitState", 5)?;
        state.serialize_field("limit", &self.limit.limit())?;
        state.serialize_field("period", &self.limit.period_secs())?;
        state.serialize_field("burst", &self.limit.burst())?;
        state.serialize_field("remaining", &self.remaining)?;
        let reset_after = self.reset_after.as_secs() + u64::from(self.reset_after.subsec_nanos() > 0);
        state.serialize_field("reset_after", &reset_after)?;
        state.end()
    }
}

/// Room for both policies' `RateLimit` items: `"token";r=<10 digits>;t=<20 digits>`, a
/// separator, and the owner's.
#[derive(Debug)]
struct Buffer {
    bytes: [u8; 96],
    len: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Self { bytes: [0; 96], len: 0 }
    }
}

impl Buffer {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// One policy's item: `"<policy>";r=<remaining>;t=<seconds until the next is allowed>`.
    fn item(&mut self, scope: Scope, quota: &Quota) {
        self.extend_from_slice(b"\"");
        self.extend_from_slice(scope.policy().as_bytes());
        self.extend_from_slice(b"\";r=");
        self.extend_from_slice(itoa::Buffer::new().format(quota.remaining).as_bytes());
        if quota.allowed && quota.remaining > 0 {
            self.extend_from_slice(b";t=0");
        } else {
            self.extend_from_slice(b";t=");
            self.extend_from_slice(itoa::Buffer::new().format(quota.wait_secs()).as_bytes());
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32, secs: u64) -> RateLimit {
        RateLimit::new(n, Duration::from_secs(secs)).unwrap()
    }

    const NOW_MS: u64 = 5_000_000;

    #[test]
    fn no_limit_is_no_limits() {
        assert!(Limits::new(&Arc::from("id"), None, None, &Buckets::default()).is_none());
    }

    #[test]
    fn the_fields_name_each_policy_and_where_it_stands() {
        let buckets = Buckets::default();
        let limits = Limits::new(
            &Arc::from("id"),
            Some(limit(2, 60)),
            Some(("acme", limit(100, 3_600))),
            &buckets,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        let checked = limits.check_local(&buckets, NOW_MS);
        assert!(checked.allowed);
        limits.fields(&checked).apply(&mut headers);
        assert_eq!(headers[RATELIMIT_POLICY], r#""token";q=2;w=60, "owner";q=100;w=3600"#);
        assert_eq!(headers[RATELIMIT], r#""token";r=1;t=0, "owner";r=99;t=0"#);
        let last = limits.check_local(&buckets, NOW_MS);
        limits.fields(&last).apply(&mut headers);
        assert_eq!(headers[RATELIMIT], r#""token";r=0;t=30, "owner";r=98;t=0"#);
        let refused = limits.check_local(&buckets, NOW_MS);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs(), 30);
        limits.fields(&refused).apply(&mut headers);
        assert_eq!(
            headers[RATELIMIT], r#""token";r=0;t=30, "owner";r=98;t=0"#,
            "the owner's limit was not counted"
        );
    }

    #[test]
    fn a_request_the_owner_refuses_takes_nothing_from_the_token() {
        let buckets = Buckets::default();
        let owner = Some(("acme", limit(1, 60)));
        let a = Limits::new(&Arc::from("a"), Some(limit(5, 60)), owner, &buckets).unwrap();
        let b = Limits::new(&Arc::from("b"), None, owner, &buckets).unwrap();
        assert!(b.check_local(&buckets, NOW_MS).allowed, "the owner's one request");
        let refused = a.check_local(&buckets, NOW_MS);
        assert!(!refused.allowed);
        assert_eq!(refused.token.unwrap().1.remaining, 5, "given back");
        assert_eq!(refused.retry_after_secs(), 60);
        assert_eq!(refused.status().owner.unwrap().reset_after, Duration::from_secs(60));
    }

    #[test]
    fn a_token_only_limit_has_one_policy() {
        let buckets = Buckets::default();
        let limits = Limits::new(&Arc::from("id"), Some(limit(10, 1)), None, &buckets).unwrap();
        let checked = limits.check_local(&buckets, NOW_MS);
        let mut headers = HeaderMap::new();
        limits.fields(&checked).apply(&mut headers);
        assert_eq!(headers[RATELIMIT_POLICY], r#""token";q=10;w=1"#);
        assert_eq!(headers[RATELIMIT], r#""token";r=9;t=0"#);
        assert_eq!(checked.status().owner, None);
        assert_eq!(
            serde_json::to_value(checked.status()).unwrap(),
            serde_json::json!({
                "token": {"limit": 10, "period": 1, "burst": 10, "remaining": 9, "reset_after": 0},
                "owner": null
            })
        );
    }
}
