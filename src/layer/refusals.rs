//! [`Refusals`]: the one door every refusal of a layer goes through, its scope layers'
//! included: logged, counted, rendered, and carried in the response.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::answer::Answers;
use super::grpc::Form;
use super::rejection::Rejection;
use crate::metrics::LayerMetrics;

/// How one layer refuses: its answers, and the counters it reports refusals to.
pub(crate) struct Refusals {
    answers: Arc<Answers>,
    metrics: LayerMetrics,
}

impl Refusals {
    pub(crate) fn new(answers: Answers, metrics: LayerMetrics) -> Self {
        Self {
            answers: Arc::new(answers),
            metrics,
        }
    }

    /// The answers, for a [`Principal`](crate::Principal) extractor further in to refuse
    /// with as this layer would.
    pub(crate) fn answers(&self) -> &Arc<Answers> {
        &self.answers
    }

    /// The counters, for another layer of the same configuration to report to.
    pub(crate) fn metrics(&self) -> &LayerMetrics {
        &self.metrics
    }

    /// Refuses a request with these headers: the one door of every refusal a layer makes.
    /// The refusal is logged (at debug: a refused request is a client's doing), counted, and
    /// answered in the request's form (gRPC for a gRPC request, HTTP otherwise).
    pub(crate) fn refuse<B>(
        &self,
        rejection: &Rejection,
        request: &HeaderMap,
        wrap: impl FnOnce(Bytes) -> B,
    ) -> Response<B> {
        tracing::debug!(
            status = rejection.status().as_u16(),
            token_id = rejection.token_id(),
            reason = %rejection,
            "request refused"
        );
        self.metrics.rejected(|| rejection.kind().metric_label());
        rejection.render(&self.answers, Form::of(request), wrap)
    }
}
