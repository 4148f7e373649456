//! [`RateLimit`]: at most `limit` requests per `period`, with a burst, as a token or an
//! owner carries it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// At most `limit` requests per `period`, of which up to `burst` may come at once: what a
/// token, or an owner for all its tokens together, may carry
/// ([`TokenRecord::rate_limit`](crate::TokenRecord::rate_limit),
/// [`OwnerSettings::rate_limit`]).
///
/// Requests are spread evenly over the period (GCRA, the cell rate algorithm): one becomes
/// allowed every `period / limit`, and up to `burst` of them can be saved up. `burst` is
/// `limit` unless set; it may be from 1 to 100 × `limit`.
///
/// In JSON: `{"limit": 100, "period": 60, "burst": 20}`, the period in whole seconds, from 1
/// to 86,400 (a day), and `burst` optional.
///
/// ```
/// use std::time::Duration;
/// use tollgate::RateLimit;
///
/// let limit = RateLimit::new(100, Duration::from_secs(60))?.with_burst(20)?;
/// assert_eq!((limit.limit(), limit.period_secs(), limit.burst()), (100, 60, 20));
/// assert_eq!(serde_json::to_string(&limit)?, r#"{"limit":100,"period":60,"burst":20}"#);
///
/// let read: RateLimit = serde_json::from_str(r#"{"limit": 10, "period": 3600}"#)?;
/// assert_eq!(read.burst(), 10, "burst defaults to the limit");
/// assert!(RateLimit::new(0, Duration::from_secs(60)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Fields", into = "Fields")]
pub struct RateLimit {
    limit: u32,
    period_secs: u32,
    burst: u32,
}

/// Why a [`RateLimit`] cannot be made: each names its rule.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{RateLimit, RateLimitError};
///
/// assert_eq!(RateLimit::new(100, Duration::from_millis(1_500)), Err(RateLimitError::Period));
/// let err = RateLimit::new(10, Duration::from_secs(60))?.with_burst(5_000).unwrap_err();
/// assert_eq!(err, RateLimitError::Burst { max: 1_000 });
/// // The message names the field as the admin API's JSON does.
/// assert_eq!(err.to_string(), "rate_limit.burst must be from 1 to 100 times the limit (1000 here)");
/// # Ok::<(), RateLimitError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// `limit` was 0.
    #[error("rate_limit.limit must be at least 1")]
    ZeroLimit,
    /// `period` was not whole seconds from 1 to 86,400.
    #[error("rate_limit.period must be whole seconds, from 1 to 86400 (a day)")]
    Period,
    /// `burst` was 0, or more than 100 × `limit`.
    #[error("rate_limit.burst must be from 1 to 100 times the limit ({max} here)")]
    Burst {
        /// The largest burst this limit allows.
        max: u64,
    },
}

impl RateLimit {
    /// The longest period, in seconds: a day.
    pub const MAX_PERIOD_SECS: u32 = 86_400;

    /// How many times `limit` a burst may be.
    pub const MAX_BURST_FACTOR: u32 = 100;

    /// `limit` requests per `period`, with a burst of `limit`.
    ///
    /// # Errors
    /// A limit of 0, or a period that is not whole seconds from 1 s to a day.
    pub fn new(limit: u32, period: Duration) -> Result<Self, RateLimitError> {
        if period.subsec_nanos() != 0 {
            return Err(RateLimitError::Period);
        }
        let period_secs = u32::try_from(period.as_secs()).map_err(|_| RateLimitError::Period)?;
        Self::from_parts(limit, period_secs, limit)
    }

    /// The same limit with another burst: how many requests may come at once.
    ///
    /// # Errors
    /// A burst of 0, or more than 100 × the limit.
    pub fn with_burst(self, burst: u32) -> Result<Self, RateLimitError> {
        Self::from_parts(self.limit, self.period_secs, burst)
    }

    /// A limit from its three numbers, as stores keep them, checked.
    ///
    /// # Errors
    /// As [`RateLimit::new`] and [`RateLimit::with_burst`].
    pub fn from_parts(limit: u32, period_secs: u32, burst: u32) -> Result<Self, RateLimitError> {
        if limit == 0 {
            return Err(RateLimitError::ZeroLimit);
        }
        if !(1..=Self::MAX_PERIOD_SECS).contains(&period_secs) {
            return Err(RateLimitError::Period);
        }
        let max = u64::from(limit) * u64::from(Self::MAX_BURST_FACTOR);
        if burst == 0 || u64::from(burst) > max {
            return Err(RateLimitError::Burst { max });
        }
        Ok(Self {
            limit,
            period_secs,
            burst,
        })
    }

    /// Requests per period.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The period.
    #[must_use]
    pub const fn period(&self) -> Duration {
        Duration::from_secs(self.period_secs as u64)
    }

    /// The period in seconds.
    #[must_use]
    pub const fn period_secs(&self) -> u32 {
        self.period_secs
    }

    /// How many requests may come at once.
    #[must_use]
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// The time between two requests at the steady rate, in nanoseconds (GCRA's emission
    /// interval), never 0: 1 s over `u32::MAX` requests would round down to it.
    pub(crate) fn interval_ns(&self) -> u64 {
        (u64::from(self.period_secs) * 1_000_000_000 / u64::from(self.limit)).max(1)
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s (burst {})", self.limit, self.period_secs, self.burst)
    }
}

/// The JSON form: `burst` optional on the way in, always written on the way out.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rate limit: {\"limit\": N, \"period\": SECONDS}")]
struct Fields {
    limit: u32,
    period: u32,
    /// Absent for the default; `null` is refused, as any other non-number.
    #[serde(default, deserialize_with = "some_number", skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
}

fn some_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    u32::deserialize(deserializer).map(Some)
}

impl TryFrom<Fields> for RateLimit {
    type Error = RateLimitError;

    fn try_from(fields: Fields) -> Result<Self, Self::Error> {
        Self::from_parts(fields.limit, fields.period, fields.burst.unwrap_or(fields.limit))
    }
}

impl From<RateLimit> for Fields {
    fn from(limit: RateLimit) -> Self {
        Self {
            limit: limit.limit,
            period: limit.period_secs,
            burst: Some(limit.burst),
        }
    }
}

/// What an owner (your application's user or customer) carries for all its tokens
/// together: today a rate limit, a customer's plan. Kept by the store
/// ([`TokenStore::set_owner_settings`](crate::store::TokenStore::set_owner_settings)),
/// set through [`TokenManager::set_owner_settings`](crate::TokenManager::set_owner_settings)
/// or the admin API's `PUT /owners/{owner}`.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{OwnerSettings, RateLimit};
///
/// let plan = OwnerSettings::new().with_rate_limit(Some(RateLimit::new(1_000, Duration::from_secs(3_600))?));
/// assert_eq!(serde_json::to_string(&plan)?, r#"{"rate_limit":{"limit":1000,"period":3600,"burst":1000}}"#);
/// assert!(OwnerSettings::new().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OwnerSettings {
    /// The limit all the owner's tokens share, if any.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

impl OwnerSettings {
    /// No settings.
    #[must_use]
    pub const fn new() -> Self {
        Self { rate_limit: None }
    }

    /// With this rate limit (`None` for none).
    #[must_use]
    pub const fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Whether nothing is set: a store may forget such an owner.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.rate_limit.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_named() {
        let secs = Duration::from_secs;
        assert_eq!(RateLimit::new(0, secs(1)), Err(RateLimitError::ZeroLimit));
        assert_eq!(RateLimit::new(1, secs(0)), Err(RateLimitError::Period));
        assert_eq!(RateLimit::new(1, secs(86_401)), Err(RateLimitError::Period));
        assert_eq!(
            RateLimit::new(1, Duration::from_millis(1_500)),
            Err(RateLimitError::Period)
        );
        assert!(RateLimit::new(1, secs(86_400)).is_ok());
        let ten = RateLimit::new(10, secs(60)).unwrap();
        assert_eq!(ten.with_burst(0), Err(RateLimitError::Burst { max: 1_000 }));
        assert_eq!(ten.with_burst(1_001), Err(RateLimitError::Burst { max: 1_000 }));
        assert_eq!(ten.with_burst(1_000).unwrap().burst(), 1_000);
        assert_eq!(ten.with_burst(1).unwrap().burst(), 1);
    }

    #[test]
    fn json_reads_what_it_writes_and_refuses_what_breaks_a_rule() {
        let limit: RateLimit = serde_json::from_str(r#"{"limit":5,"period":10,"burst":7}"#).unwrap();
        assert_eq!(
            serde_json::from_str::<RateLimit>(&serde_json::to_string(&limit).unwrap()).unwrap(),
            limit
        );
        let err = serde_json::from_str::<RateLimit>(r#"{"limit":5,"period":0}"#).unwrap_err();
        assert!(err.to_string().contains("rate_limit.period"), "{err}");
        let err = serde_json::from_str::<RateLimit>(r#"{"limit":5,"period":10,"brust":7}"#).unwrap_err();
        assert!(err.to_string().contains("brust"), "{err}");
        let err = serde_json::from_str::<RateLimit>(r#"{"limit":5,"period":10,"burst":null}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type: null"), "{err}");
    }

    #[test]
    fn the_interval_spreads_the_limit_over_the_period() {
        let secs = Duration::from_secs;
        assert_eq!(RateLimit::new(10, secs(60)).unwrap().interval_ns(), 6_000_000_000);
        assert_eq!(RateLimit::new(u32::MAX, secs(1)).unwrap().interval_ns(), 1);
    }
}
