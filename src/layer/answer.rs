//! How a refusal is answered: [`Answers`], the one renderer of a kind of refusal into a
//! response, with the headers a layer's settings call for, rendered once.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::grpc::{self, Form};
use super::kind::{Headers, Payload, RejectionKind};

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
    /// The scopes required, space separated: a gRPC answer names them in its message.
    scopes: String,
    /// The `Retry-After` of [`Headers::RetryAfter`], for a gRPC answer's pushback.
    retry_after_secs: u64,
}

impl Answers {
    pub(crate) fn new(realm: &str, bearer: bool, basic: bool, scopes: &[String], retry_after_secs: u64) -> Self {
        let realm = quote(realm);
        let bearer_challenge = format!("Bearer realm={realm}");
        let bearer_error = |error: &str| header(&format!("{bearer_challenge}, error=\"{error}\""));
        let basic_challenge = header(&format!("Basic realm={realm}, charset=\"UTF-8\""));
        let scopes = scopes.join(" ");
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
                    let scope = quote(&scopes);
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
        Self {
            headers,
            scopes,
            retry_after_secs,
        }
    }

    /// The response to a refusal of this kind, in `form`: its row's status and body (over
    /// HTTP) or gRPC status (over gRPC), and these answers' headers for its shape. Every
    /// refusal is rendered here, the layer's and a handler's alike (see `Rejection::render`).
    pub(crate) fn respond<B>(&self, kind: &RejectionKind, form: Form, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let row = kind.row();
        let payload = kind.payload();
        let mut headers = self.headers[row.headers as usize].clone();
        let retry_after_secs = match (row.headers, payload) {
            (Headers::OwnRetryAfter, Payload::RetryAfter(secs)) => {
                headers.insert(RETRY_AFTER, HeaderValue::from(secs));
                Some(secs)
            }
            (Headers::RetryAfter, _) => Some(self.retry_after_secs),
            _ => None,
        };
        let (status, body) = match form {
            Form::Http => {
                let body = match payload {
                    // The message names what is wrong: rendered each time.
                    Payload::Shown(_) => error_body(row.code, &kind.message()),
                    Payload::None | Payload::Reason(_) | Payload::RetryAfter(_) => {
                        Bytes::from_static(row.body.as_bytes())
                    }
                };
                (row.status, body)
            }
            // Trailers-Only: everything in the headers, and a body that has ended.
            Form::Grpc(content_type) => {
                let message = grpc::message(kind, &self.scopes);
                grpc::headers(&mut headers, content_type, row.grpc, &message, retry_after_secs);
                (StatusCode::OK, Bytes::new())
            }
        };
        let mut response = Response::new(wrap(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
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

    // A realm from configuration never makes a header value that is not visible ASCII: a
    // tab is kept, anything else becomes `?`.
    #[test]
    fn characters_a_header_cannot_carry_become_question_marks() {
        let answers = Answers::new("caf\u{e9}\tx", true, false, &[], 1);
        assert_eq!(
            answers.headers[Headers::Challenges as usize][WWW_AUTHENTICATE],
            "Bearer realm=\"caf?\tx\""
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
