//! [`RejectionKind`]: every kind of refusal, declared once. Each row of the table below
//! says all that is known of a kind: how it is answered (status, `code` and `message` of
//! the JSON body, the headers it carries, the gRPC status a gRPC client gets), how it is
//! counted (its label in `tollgate_rejections_total`, and whether damping counts it as a
//! failed guess), whether it may name the token it refused, and what of its payload a
//! refusal shows ([`Payload`]). The renderer, the metrics and the admin API read these rows;
//! nothing else in the layer names a kind's status or code. (The admin API's own errors,
//! a bad field and a handler's panic, share two codes with the rows, `invalid_request` and
//! `internal_error`; a test holds them equal.)

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use crate::credential::CredentialError;
use crate::verify::{InvalidReason, VerifyError};

/// All that is known of a kind of refusal besides its payload.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) status: StatusCode,
    /// The JSON body's `code`.
    pub(crate) code: &'static str,
    /// The JSON body's `message` (followed by the detail, when it is [`Payload::Shown`]).
    pub(crate) message: &'static str,
    /// `{"error":{"code":..,"message":..}}`, written once.
    pub(crate) body: &'static str,
    pub(crate) headers: Headers,
    /// The status a gRPC client is answered with (behaviour §1a).
    pub(crate) grpc: Grpc,
    pub(crate) metric: Metric,
    pub(crate) failure: Failure,
    pub(crate) names_token: Naming,
}

/// The headers a refusal carries besides `Content-Type`: a shape, rendered once per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Headers {
    /// One challenge per enabled scheme.
    Challenges,
    /// The Bearer challenge with `error="invalid_request"`.
    InvalidRequest,
    /// The Bearer challenge with `error="invalid_token"`, and the Basic one when Basic is
    /// enabled.
    InvalidToken,
    /// The Bearer challenge with `error="insufficient_scope"` and the scopes required.
    InsufficientScope,
    /// The layer's `Retry-After`.
    RetryAfter,
    /// The `Retry-After` the refusal carries itself ([`Payload::RetryAfter`]).
    OwnRetryAfter,
    /// Nothing more.
    Nothing,
}

impl Headers {
    /// Every shape, in declaration order: a shape's index is its discriminant.
    pub(crate) const ALL: [Self; 7] = [
        Self::Challenges,
        Self::InvalidRequest,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::RetryAfter,
        Self::OwnRetryAfter,
        Self::Nothing,
    ];
}

/// A gRPC status code (grpc/grpc `doc/statuscodes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grpc {
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// A kind's label in `tollgate_rejections_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Label(&'static str),
    /// The label of its [`InvalidReason`].
    OfReason,
}

/// Whether damping counts a kind as a failed guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    No,
    /// As its [`InvalidReason`]'s row says.
    OfReason,
}

/// Whether a refusal may name the token it refused (its id, in the `Rejection`): only when
/// the token is known to exist, so that a client that put a secret where the id goes does
/// not see it logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    Never,
    /// The token authenticated: its id is known.
    Always,
    /// As its [`InvalidReason`]'s row says.
    OfReason,
}

/// What of a refusal's payload is shown, and where.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Nothing.
    None,
    /// In the body, after the row's message: what is wrong with the header.
    Shown(&'a dyn fmt::Display),
    /// Why a credential does not authenticate: in logs and metrics, never in the body (an
    /// attacker must not learn which check failed).
    Reason(InvalidReason),
    /// Seconds a client should wait, sent as `Retry-After`.
    RetryAfter(u64),
}

/// Declares [`RejectionKind`] from one row per kind: its variant and doc, and its [`Row`],
/// with, for a kind that carries a payload, the [`Payload`] it shows of it.
macro_rules! rejection_kinds {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident
            $( ( $bind:ident : $payload:ty ) )?
            $( { $(#[doc = $field_doc:literal])* $field:ident : $field_type:ty } )?
        => {
            status: $status:ident,
            code: $code:literal,
            message: $message:literal,
            headers: $headers:ident,
            grpc: $grpc:ident,
            metric: $metric:expr,
            failure: $failure:ident,
            names_token: $naming:ident,
            $( payload: $payload_shown:expr, )?
        }
    )+) => {
        /// Why a request was refused: the [`kind`](crate::Rejection::kind) of the
        /// [`Rejection`](crate::Rejection) every refusal carries in its response's
        /// extensions, for your logs and metrics.
        ///
        /// ```
        /// use http::{Request, Response, header::AUTHORIZATION};
        /// use tower::{Layer, ServiceExt, service_fn};
        /// use tollgate::{AuthLayer, MemoryStore, Rejection, RejectionKind, Verifier};
        ///
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// let layer = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
        /// let service = layer.layer(service_fn(|_: Request<()>| async {
        ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        /// }));
        /// // A mistyped token: its checksum fails, and no store is asked.
        /// let typo = "Bearer tg_0123456789abcdef_notARealSecret000000";
        /// let request = Request::builder().header(AUTHORIZATION, typo).body(()).unwrap();
        /// let response = service.oneshot(request).await.unwrap();
        ///
        /// // An access log's line: why, without parsing the body.
        /// let why = match response.extensions().get::<Rejection>().map(Rejection::kind) {
        ///     Some(RejectionKind::InvalidToken(reason)) => format!("invalid token: {reason}"),
        ///     Some(other) => format!("{other:?}"),
        ///     None => "passed".to_owned(),
        /// };
        /// assert_eq!(why, "invalid token: token checksum does not match");
        /// # }
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum RejectionKind {
            $(
                $(#[doc = $doc])*
                $kind $( ($payload) )? $( { $(#[doc = $field_doc])* $field: $field_type } )?,
            )+
        }

        impl RejectionKind {
            /// Every kind's row, in declaration order.
            pub(crate) const ROWS: &'static [Row] = &[$(
                Row {
                    status: StatusCode::$status,
                    code: $code,
                    message: $message,
                    body: concat!(r#"{"error":{"code":""#, $code, r#"","message":""#, $message, r#""}}"#),
                    headers: Headers::$headers,
                    grpc: Grpc::$grpc,
                    metric: $metric,
                    failure: Failure::$failure,
                    names_token: Naming::$naming,
                },
            )+];

            /// This kind's row.
            #[inline]
            pub(crate) fn row(&self) -> &'static Row {
                #[allow(clippy::enum_variant_names)]
                enum Slot {
                    $($kind,)+
                }
                match self {
                    $( Self::$kind { .. } => &Self::ROWS[Slot::$kind as usize], )+
                }
            }

            /// What this refusal shows of its payload.
            #[allow(unused_variables)]
            pub(crate) fn payload(&self) -> Payload<'_> {
                match self {
                    $(
                        Self::$kind $( ($bind) )? $( { $field } )? => rejection_kinds!(@payload $($payload_shown)?),
                    )+
                }
            }
        }
    };
    (@payload) => { Payload::None };
    (@payload $payload_shown:expr) => { $payload_shown };
}

rejection_kinds! {
    /// No credentials, or an unsupported scheme: 401 with one challenge per scheme.
    MissingCredentials => {
        status: UNAUTHORIZED,
        code: "unauthorized",
        message: "authentication required",
        headers: Challenges,
        grpc: Unauthenticated,
        metric: Metric::Label("missing_credentials"),
        failure: No,
        names_token: Never,
    }
    /// A malformed `Authorization` header: 400 `invalid_request`.
    Malformed(error: CredentialError) => {
        status: BAD_REQUEST,
        code: "invalid_request",
        message: "malformed authorization header",
        headers: InvalidRequest,
        grpc: Unauthenticated,
        metric: Metric::Label("invalid_request"),
        failure: No,
        names_token: Never,
        payload: Payload::Shown(error),
    }
    /// Credentials that do not authenticate: 401 `invalid_token`.
    InvalidToken(reason: InvalidReason) => {
        status: UNAUTHORIZED,
        code: "invalid_token",
        // The same for every reason: an attacker must not learn which check failed.
        message: "invalid, expired or revoked credentials",
        headers: InvalidToken,
        grpc: Unauthenticated,
        metric: Metric::OfReason,
        failure: OfReason,
        names_token: OfReason,
        payload: Payload::Reason(*reason),
    }
    /// A valid token without a required scope: 403 `insufficient_scope`.
    InsufficientScope => {
        status: FORBIDDEN,
        code: "insufficient_scope",
        message: "the token lacks a required scope",
        headers: InsufficientScope,
        grpc: PermissionDenied,
        metric: Metric::Label("insufficient_scope"),
        failure: No,
        names_token: Always,
    }
    /// The token store failed or timed out: 503 with `Retry-After`.
    Unavailable => {
        status: SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "token store unavailable, retry later",
        headers: RetryAfter,
        grpc: Unavailable,
        metric: Metric::Label("unavailable"),
        failure: No,
        names_token: Never,
    }
    /// The client failed too often ([`Damping`](crate::Damping)): 429 with `Retry-After`,
    /// its credentials not verified.
    TooManyFailures {
        /// Seconds until the client's window ends.
        retry_after_secs: u64
    } => {
        status: TOO_MANY_REQUESTS,
        code: "too_many_requests",
        message: "too many failed authentication attempts, retry later",
        headers: OwnRetryAfter,
        grpc: ResourceExhausted,
        metric: Metric::Label("too_many_failures"),
        failure: No,
        names_token: Never,
        payload: Payload::RetryAfter(*retry_after_secs),
    }
    /// The token, or its owner, is over its rate limit
    /// ([`RateLimit`](crate::RateLimit)): 429 with `Retry-After` and the `RateLimit` fields.
    /// The rejection names the token: its caller proved the secret.
    RateLimited {
        /// Seconds until the request would be allowed.
        retry_after_secs: u64
    } => {
        status: TOO_MANY_REQUESTS,
        code: "rate_limited",
        message: "rate limit exceeded, retry later",
        headers: OwnRetryAfter,
        grpc: ResourceExhausted,
        metric: Metric::Label("rate_limited"),
        failure: No,
        names_token: Always,
        payload: Payload::RetryAfter(*retry_after_secs),
    }
    /// Rate limits are shared in Redis, Redis is unreachable or slow, and the operator chose
    /// to refuse meanwhile ([`WhenUnavailable::Refuse`](crate::WhenUnavailable::Refuse)):
    /// 503 with `Retry-After`.
    LimitsUnavailable => {
        status: SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "rate limit store unavailable, retry later",
        headers: RetryAfter,
        grpc: Unavailable,
        metric: Metric::Label("rate_limits_unavailable"),
        failure: No,
        names_token: Never,
    }
    /// The layer's own code, or code it calls (a [`ClientKey`](crate::ClientKey), say),
    /// panicked while deciding: 500 for this request, and the next is decided afresh.
    Internal => {
        status: INTERNAL_SERVER_ERROR,
        code: "internal_error",
        message: "the request could not be authenticated",
        headers: Nothing,
        grpc: Internal,
        metric: Metric::Label("internal"),
        failure: No,
        names_token: Never,
    }
}

/// The kind of refusal a failed verification is answered with.
impl From<&VerifyError> for RejectionKind {
    fn from(err: &VerifyError) -> Self {
        match err {
            VerifyError::Invalid(reason) => Self::InvalidToken(*reason),
            VerifyError::Unavailable(_) | VerifyError::Timeout(_) => Self::Unavailable,
        }
    }
}

impl RejectionKind {
    /// The reason a credential did not authenticate, for a kind that carries one.
    fn reason(&self) -> Option<InvalidReason> {
        match self.payload() {
            Payload::Reason(reason) => Some(reason),
            Payload::None | Payload::Shown(_) | Payload::RetryAfter(_) => None,
        }
    }

    /// The `message` of the JSON body: the row's, followed by the detail it shows.
    pub(crate) fn message(&self) -> Cow<'static, str> {
        let message = self.row().message;
        match self.payload() {
            Payload::Shown(detail) => Cow::Owned(format!("{message}: {detail}")),
            Payload::None | Payload::Reason(_) | Payload::RetryAfter(_) => Cow::Borrowed(message),
        }
    }

    /// This kind's label in `tollgate_rejections_total{reason}`.
    pub(crate) fn metric_label(&self) -> &'static str {
        match (self.row().metric, self.reason()) {
            (Metric::Label(label), _) => label,
            (Metric::OfReason, Some(reason)) => reason.row().label,
            (Metric::OfReason, None) => self.row().code,
        }
    }

    /// Whether damping counts this refusal as a failed guess.
    pub(crate) fn is_failure(&self) -> bool {
        match self.row().failure {
            Failure::No => false,
            Failure::OfReason => self.reason().is_some_and(|reason| reason.row().failure),
        }
    }

    /// Whether a refusal of this kind may name the token it refused.
    pub(crate) fn names_token(&self) -> bool {
        match self.row().names_token {
            Naming::Never => false,
            Naming::Always => true,
            Naming::OfReason => self.reason().is_some_and(|reason| reason.row().token_exists),
        }
    }

    /// Every label in `tollgate_rejections_total{reason}`, each once.
    pub(crate) fn metric_labels() -> impl Iterator<Item = &'static str> {
        Self::ROWS.iter().flat_map(|row| match row.metric {
            Metric::Label(label) => vec![label],
            Metric::OfReason => InvalidReason::ALL.iter().map(|reason| reason.row().label).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One kind of each variant, and `InvalidToken` with every reason.
    fn every_kind() -> Vec<RejectionKind> {
        let mut kinds = vec![
            RejectionKind::MissingCredentials,
            RejectionKind::Malformed(CredentialError::Duplicate),
            RejectionKind::InsufficientScope,
            RejectionKind::Unavailable,
            RejectionKind::TooManyFailures { retry_after_secs: 7 },
            RejectionKind::RateLimited { retry_after_secs: 7 },
            RejectionKind::LimitsUnavailable,
            RejectionKind::Internal,
        ];
        kinds.extend(
            InvalidReason::ALL
                .iter()
                .map(|&reason| RejectionKind::InvalidToken(reason)),
        );
        kinds
    }

    #[test]
    fn every_row_is_its_own_kinds_and_its_body_is_json_of_its_code_and_message() {
        let kinds = every_kind();
        let mut rows: Vec<*const Row> = kinds.iter().map(|kind| std::ptr::from_ref(kind.row())).collect();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(
            rows.len(),
            RejectionKind::ROWS.len(),
            "every row is some kind's, and every kind has one"
        );
        for row in RejectionKind::ROWS {
            let body: serde_json::Value = serde_json::from_str(row.body).unwrap();
            assert_eq!(body["error"]["code"], row.code);
            assert_eq!(body["error"]["message"], row.message);
        }
    }

    #[test]
    fn every_kind_has_a_metric_label_of_its_own_and_each_label_is_registered() {
        let labels: Vec<&str> = every_kind().iter().map(RejectionKind::metric_label).collect();
        let mut distinct = labels.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), labels.len(), "{labels:?}");
        let mut registered: Vec<&str> = RejectionKind::metric_labels().collect();
        registered.sort_unstable();
        assert_eq!(registered, distinct);
    }

    // Behaviour §1a: the gRPC status of each HTTP refusal.
    #[test]
    fn each_kind_has_the_grpc_status_of_its_http_row() {
        for kind in every_kind() {
            let expected = match kind.row().status.as_u16() {
                400 | 401 => Grpc::Unauthenticated,
                403 => Grpc::PermissionDenied,
                429 => Grpc::ResourceExhausted,
                503 => Grpc::Unavailable,
                500 => Grpc::Internal,
                other => panic!("{kind:?}: status {other} has no gRPC status"),
            };
            assert_eq!(kind.row().grpc, expected, "{kind:?}");
        }
    }

    #[test]
    fn only_invalid_credentials_count_as_failures_and_only_known_tokens_are_named() {
        for kind in every_kind() {
            let invalid = matches!(kind, RejectionKind::InvalidToken(_));
            assert_eq!(kind.is_failure(), invalid, "{kind:?}");
            let named = match &kind {
                RejectionKind::InsufficientScope | RejectionKind::RateLimited { .. } => true,
                RejectionKind::InvalidToken(reason) => matches!(
                    reason,
                    InvalidReason::WrongSecret | InvalidReason::Expired | InvalidReason::Inactive
                ),
                _ => false,
            };
            assert_eq!(kind.names_token(), named, "{kind:?}");
        }
    }
}
