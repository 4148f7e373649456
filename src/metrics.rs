//! What tollgate reports through the [`metrics`](https://docs.rs/metrics) facade, with the
//! `metrics` feature: the app installs the recorder (a Prometheus exporter, say) *before*
//! it builds its verifier and layers, which register their handles when they are built.
//!
//! The names, types and labels are listed in the README ("Watch it").
//!
//! Without the feature every call here is empty and compiles to nothing.

use std::time::Duration;

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

/// The layer's handles: one counter per label of `tollgate_rejections_total{reason}`, the
/// labels the rejection table gives. Clones share the counters (a layer's scope layers
/// count with it).
#[derive(Clone, Default)]
pub(crate) struct LayerMetrics {
    #[cfg(feature = "metrics")]
    rejections: Option<std::sync::Arc<[(&'static str, metrics::Counter)]>>,
}

impl LayerMetrics {
    /// Registers a counter per label with the recorder installed now.
    pub(crate) fn register(labels: impl Iterator<Item = &'static str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            let counters = labels
                .map(|label| (label, metrics::counter!("tollgate_rejections_total", "reason" => label)))
                .collect();
            Self {
                rejections: Some(counters),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = labels;
            Self::default()
        }
    }

    /// Counts a refusal under its label (asked for only when there are counters).
    #[inline]
    pub(crate) fn rejected(&self, label: impl FnOnce() -> &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(counters) = &self.rejections {
            let label = label();
            if let Some((_, counter)) = counters.iter().find(|(registered, _)| *registered == label) {
                counter.increment(1);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = label;
    }
}

/// `tollgate_rate_limit_fallbacks_total`: limited requests decided by the local buckets
/// because the shared limits' Redis was unavailable. Registered when the verifier is built.
#[cfg(feature = "redis")]
#[derive(Default)]
pub(crate) struct FallbackCounter {
    #[cfg(feature = "metrics")]
    counter: Option<metrics::Counter>,
}

#[cfg(feature = "redis")]
impl FallbackCounter {
    /// Registers the counter with the recorder installed now.
    pub(crate) fn register() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            counter: Some(metrics::counter!("tollgate_rate_limit_fallbacks_total")),
        }
    }

    /// Counts one request.
    pub(crate) fn increment(&self) {
        #[cfg(feature = "metrics")]
        if let Some(counter) = &self.counter {
            counter.increment(1);
        }
    }
}
