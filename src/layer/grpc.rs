//! The gRPC form of a refusal (behaviour §1a): which requests are gRPC's, and the
//! "Trailers-Only" answer they get (grpc/grpc `doc/PROTOCOL-HTTP2.md`): HTTP 200, the
//! status in `grpc-status` and `grpc-message`, all in the one HEADERS frame, no body.

use std::borrow::Cow;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::kind::{Grpc, RejectionKind};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// How a refusal is answered: in HTTP with a JSON body, or in gRPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Form {
    Http,
    /// A gRPC request: the `Content-Type` to answer with.
    Grpc(HeaderValue),
}

impl Form {
    /// The form a request with these headers is answered in: gRPC when its `Content-Type`
    /// starts with `application/grpc` in any case (`+proto`, `+json` and the gRPC-Web
    /// variants too). Native gRPC is answered `application/grpc`, gRPC-Web with the
    /// request's own content-type (`application/grpc-web+proto`, `-web-text`, …), which is
    /// how a gRPC-Web client tells the encoding of the answer.
    pub(crate) fn of(request: &HeaderMap) -> Self {
        const GRPC: &[u8] = b"application/grpc";
        const WEB: &[u8] = b"application/grpc-web";
        let Some(content_type) = request.get(CONTENT_TYPE) else {
            return Self::Http;
        };
        let bytes = content_type.as_bytes();
        let starts = |prefix: &[u8]| {
            bytes
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if !starts(GRPC) {
            Self::Http
        } else if starts(WEB) {
            Self::Grpc(content_type.clone())
        } else {
            Self::Grpc(HeaderValue::from_static("application/grpc"))
        }
    }
}

impl Grpc {
    /// The code, as `grpc-status` and `tonic::Code` number it.
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}

/// The `grpc-message` of a refusal: its JSON body's `message` (the same for every invalid
/// token, as over HTTP), and for a missing scope, the scopes required (`scopes`, space
/// separated), which HTTP names in the challenge and gRPC has no other place for.
pub(crate) fn message(kind: &RejectionKind, scopes: &str) -> Cow<'static, str> {
    let message = kind.message();
    match kind {
        RejectionKind::InsufficientScope if !scopes.is_empty() => Cow::Owned(format!("{message}: {scopes}")),
        _ => message,
    }
}

/// What a `grpc-message` must escape (the gRPC spec): every byte outside printable ASCII
/// (0x20 to 0x7E), and `%`.
const GRPC_MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// `message`, percent-encoded as `grpc-message` carries it.
pub(crate) fn message_header(message: &str) -> HeaderValue {
    let encoded = utf8_percent_encode(message, GRPC_MESSAGE_ESCAPES).to_string();
    HeaderValue::try_from(encoded).expect("percent-encoded text is visible ASCII")
}

/// Turns the headers of an HTTP refusal into its gRPC answer's: the content-type, the status
/// and message, and, when the refusal says when to come back (`retry_after_secs`), the
/// same in `grpc-retry-pushback-ms`. The challenges and `Retry-After` stay: gRPC clients
/// read them as metadata.
pub(crate) fn headers(
    headers: &mut HeaderMap,
    content_type: HeaderValue,
    status: Grpc,
    message: &str,
    retry_after_secs: Option<u64>,
) {
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(GRPC_STATUS, HeaderValue::from(status.code()));
    headers.insert(GRPC_MESSAGE, message_header(message));
    if let Some(secs) = retry_after_secs {
        headers.insert(GRPC_RETRY_PUSHBACK_MS, HeaderValue::from(secs.saturating_mul(1000)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(content_type: &str) -> Form {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        Form::of(&headers)
    }

    // Behaviour §1a: a gRPC request is told by its content-type's prefix, in any case.
    #[test]
    fn grpc_requests_are_told_by_their_content_type() {
        let native = Form::Grpc(HeaderValue::from_static("application/grpc"));
        assert_eq!(form("application/grpc"), native);
        assert_eq!(form("application/grpc+proto"), native);
        assert_eq!(form("Application/GRPC+json"), native);
        assert_eq!(
            form("application/grpc-web+proto"),
            Form::Grpc(HeaderValue::from_static("application/grpc-web+proto"))
        );
        assert_eq!(
            form("application/GRPC-WEB-text"),
            Form::Grpc(HeaderValue::from_static("application/GRPC-WEB-text"))
        );
        assert_eq!(form("application/json"), Form::Http);
        assert_eq!(form("application/grp"), Form::Http);
        assert_eq!(form("text/application/grpc"), Form::Http);
        assert_eq!(Form::of(&HeaderMap::new()), Form::Http);
    }

    // The gRPC spec: printable ASCII but `%` as is, everything else as %XX of its UTF-8.
    #[test]
    fn grpc_messages_are_percent_encoded_as_the_spec_says() {
        assert_eq!(message_header("plain text: a-z ~!"), "plain text: a-z ~!");
        assert_eq!(message_header("100% sure"), "100%25 sure");
        assert_eq!(message_header("two\nlines\r\t"), "two%0Alines%0D%09");
        assert_eq!(message_header("caf\u{e9} \u{1f600}"), "caf%C3%A9 %F0%9F%98%80");
        assert_eq!(message_header("\u{7f}"), "%7F");
    }

    #[test]
    fn a_missing_scope_names_the_scopes_required() {
        let kind = RejectionKind::InsufficientScope;
        assert_eq!(
            message(&kind, "reports:read reports:write"),
            "the token lacks a required scope: reports:read reports:write"
        );
        assert_eq!(message(&kind, ""), "the token lacks a required scope");
        assert_eq!(
            message(&RejectionKind::MissingCredentials, "a"),
            "authentication required"
        );
    }
}
