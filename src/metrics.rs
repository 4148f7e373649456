//! What tollgate reports through the [`metrics`](https://docs.rs/metrics) facade, with the
//! `metrics` feature: the app installs the recorder (a Prometheus exporter, say) *before*
//! it builds its verifier and layers, which register their handles when they are built.
//!
//! The names, types and labels are listed in the README ("Watch it").
//!
//! Without the feature every call here is empty and compiles to nothing.

use std::time::Duration;

#[cfg(feature = "metrics")]
use crate::InvalidReason;
use crate::RejectionKind;

/// The verifier's handles.
#[derive(Default)]
pub(crate) struct VerifierMetrics {
    #[cfg(feature = "metrics")]
    handles: Option<VerifierHandles>,
}

#[cfg(feature = "metrics")]
struct VerifierHandles {
    hits: metrics::Counter,
    misses: metrics::Counter,
    /// found, not found, error, timeout.
    lookups: [metrics::Counter; 4],
    lookup_seconds: metrics::Histogram,
    cached: metrics::Gauge,
    negative_cached: metrics::Gauge,
}

/// How a store lookup ended.
#[derive(Clone, Copy)]
pub(crate) enum Lookup {
    Found,
    NotFound,
    Error,
    Timeout,
}

impl VerifierMetrics {
    /// Registers the handles with the recorder installed now.
    pub(crate) fn register() -> Self {
        #[cfg(feature = "metrics")]
        {
            let lookup = |result: &'static str| metrics::counter!("tollgate_store_lookups_total", "result" => result);
            Self {
                handles: Some(VerifierHandles {
                    hits: metrics::counter!("tollgate_cache_hits_total"),
                    misses: metrics::counter!("tollgate_cache_misses_total"),
                    lookups: [lookup("found"), lookup("not_found"), lookup("error"), lookup("timeout")],
                    lookup_seconds: metrics::histogram!("tollgate_store_lookup_seconds"),
                    cached: metrics::gauge!("tollgate_cache_entries"),
                    negative_cached: metrics::gauge!("tollgate_negative_cache_entries"),
                }),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self::default()
    }

    #[inline]
    pub(crate) fn hit(&self) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.hits.increment(1);
        }
    }

    #[inline]
    pub(crate) fn miss(&self) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.misses.increment(1);
        }
    }

    /// A lookup that took `took`, and the cache sizes after it.
    pub(crate) fn lookup(&self, result: Lookup, took: Duration, cached: u64, negative_cached: u64) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.lookups[result as usize].increment(1);
            h.lookup_seconds.record(took.as_secs_f64());
            #[allow(clippy::cast_precision_loss)]
            {
                h.cached.set(cached as f64);
                h.negative_cached.set(negative_cached as f64);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (result, took, cached, negative_cached);
    }
}

/// The layer's handles: one counter per rejection reason.
#[derive(Default)]
pub(crate) struct LayerMetrics {
    #[cfg(feature = "metrics")]
    rejections: Option<Vec<metrics::Counter>>,
}

/// Every reason label, in [`reason_slot`] order.
#[cfg(feature = "metrics")]
const REASONS: [&str; 12] = [
    "missing_credentials",
    "invalid_request",
    "malformed",
    "bad_checksum",
    "unknown",
    "wrong_secret",
    "expired",
    "inactive",
    "insufficient_scope",
    "too_many_failures",
    "unavailable",
    "internal",
];

#[cfg(feature = "metrics")]
fn reason_slot(kind: &RejectionKind) -> usize {
    match kind {
        RejectionKind::MissingCredentials => 0,
        RejectionKind::Malformed(_) => 1,
        RejectionKind::InvalidToken(reason) => match reason {
            InvalidReason::Malformed => 2,
            InvalidReason::BadChecksum => 3,
            InvalidReason::Unknown => 4,
            InvalidReason::WrongSecret => 5,
            InvalidReason::Expired => 6,
            InvalidReason::Inactive => 7,
        },
        RejectionKind::InsufficientScope => 8,
        RejectionKind::TooManyFailures { .. } => 9,
        RejectionKind::Unavailable => 10,
        RejectionKind::Internal => 11,
    }
}

impl LayerMetrics {
    /// Registers the handles with the recorder installed now.
    pub(crate) fn register() -> Self {
        #[cfg(feature = "metrics")]
        {
            Self {
                rejections: Some(
                    REASONS
                        .iter()
                        .map(|reason| metrics::counter!("tollgate_rejections_total", "reason" => *reason))
                        .collect(),
                ),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self::default()
    }

    pub(crate) fn rejected(&self, kind: &RejectionKind) {
        #[cfg(feature = "metrics")]
        if let Some(counters) = &self.rejections {
            counters[reason_slot(kind)].increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = kind;
    }
}
