//! How refusals are answered: [`Answers`], the one renderer of a [`Rejection`] into a
//! response, and [`Refusals`], the one door every refusal of a layer goes through (logged,
//! counted, rendered, carried).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response};

use super::kind::{Headers, Payload};
use super::rejection::Rejection;
use crate::metrics::LayerMetrics;

/// Default realm in challenges.
pub const DEFAULT_REALM: &str = "tollgate";

/// The JSON error body the layer and the admin API answer with:
/// `{"error":{"code":..,"message":..}}`.
#[must_use]
pub(crate) fn error_body(code: &str, message: &str) -> Bytes {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Bytes::from(body.to_string())
}

/// The headers a layer answers with, per [`Headers`] shape, rendered once when it is built
/// (its realm, its schemes, the scopes it requires): a refusal clones a ready map.
pub(crate) struct Answers {
    headers: [HeaderMap; Headers::ALL.len()],
}

impl Answers {
    pub(crate) fn new(realm: &str, bearer: bool, basic: bool, scopes: &[String], retry_after_secs: u64) -> Self {
        let realm = quote(realm);
        let bearer_challenge = format!("Bearer realm={realm}");
        let bearer_error = |error: &str| header(&format!("{bearer_challenge}, error=\"{error}\""));
        let basic_challenge = header(&format!("Basic realm={realm}, charset=\"UTF-8\""));
        let headers = Headers::ALL.map(|shape| {
            let mut map = HeaderMap::with_capacity(3);
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            match shape {
                Headers::Challenges => {
                    if bearer || !basic {
                        map.append(WWW_AUTHENTICATE, header(&bearer_challenge));
                    }
                    if basic {
                        map.append(WWW_AUTHENTICATE, basic_challenge.clone());
                    }
                }
                Headers::InvalidRequest => {
                    map.append(WWW_AUTHENTICATE, bearer_error("invalid_request"));
                }
                Headers::InvalidToken => {
                    map.append(WWW_AUTHENTICATE, bearer_error("invalid_token"));
                    if basic {
                        map.append(WWW_AUTHENTICATE, basic_challenge.clone());
                    }
                }
                Headers::InsufficientScope => {
                    let scope = quote(&scopes.join(" "));
                    map.append(
                        WWW_AUTHENTICATE,
                        header(&format!(
                            "{bearer_challenge}, error=\"insufficient_scope\", scope={scope}"
                        )),
                    );
                }
                Headers::RetryAfter => {
                    map.insert(RETRY_AFTER, header(&retry_after_secs.to_string()));
                }
                Headers::OwnRetryAfter | Headers::Nothing => {}
            }
            map
        });
        Self { headers }
    }

    /// The response to a refusal: its row's status and body, these answers' headers for
    /// its shape, and the rejection itself in the response's extensions. Every refusal is
    /// rendered here, the layer's and a handler's alike.
    pub(crate) fn respond<B>(&self, rejection: &Rejection, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let kind = rejection.kind();
        let row = kind.row();
        let detail = kind.payload();
        let body = match detail {
            // The message names what is wrong: rendered each time.
            Payload::Shown(_) => error_body(row.code, &rejection.message()),
            Payload::None | Payload::Reason(_) | Payload::RetryAfter(_) => Bytes::from_static(row.body.as_bytes()),
        };
        let mut response = Response::new(wrap(body));
        *response.status_mut() = row.status;
        *response.headers_mut() = self.headers[row.headers as usize].clone();
        if let (Headers::OwnRetryAfter, Payload::RetryAfter(secs)) = (row.headers, detail) {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(rejection.clone());
        response
    }
}

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

    /// Refuses a request: the one door of every refusal a layer makes. The refusal is
    /// logged (at debug: a refused request is a client's doing), counted, and answered.
    pub(crate) fn refuse<B>(&self, rejection: &Rejection, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        tracing::debug!(
            status = rejection.status().as_u16(),
            token_id = rejection.token_id(),
            reason = %rejection,
            "request refused"
        );
        self.metrics.rejected(rejection.kind().metric_label());
        self.answers.respond(rejection, wrap)
    }
}

/// An RFC 9110 quoted-string.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A header value from configuration; characters a header cannot carry become `?`.
fn header(value: &str) -> HeaderValue {
    let cleaned: String = value
        .chars()
        .map(|c| if c == '\t' || (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::try_from(cleaned).expect("visible ascii is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_are_quoted_and_escaped() {
        let answers = Answers::new("my \"api\"", true, true, &["a".into(), "b c".into()], 1);
        assert_eq!(
            answers.headers[Headers::Challenges as usize][WWW_AUTHENTICATE],
            "Bearer realm=\"my \\\"api\\\"\""
        );
        assert_eq!(
            answers.headers[Headers::InsufficientScope as usize][WWW_AUTHENTICATE],
            "Bearer realm=\"my \\\"api\\\"\", error=\"insufficient_scope\", scope=\"a b c\""
        );
    }

    #[test]
    fn every_shape_has_its_place() {
        for (i, shape) in Headers::ALL.iter().enumerate() {
            assert_eq!(*shape as usize, i, "{shape:?}");
        }
    }

    #[test]
    fn error_bodies_are_json() {
        let body = error_body("invalid_token", "say \"no\"");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"]["code"], "invalid_token");
        assert_eq!(value["error"]["message"], "say \"no\"");
    }
}
