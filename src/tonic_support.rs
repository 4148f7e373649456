//! tonic integration (feature `tonic`): a [`Rejection`] as the `tonic::Status` a handler
//! returns. ([`PeerAddr`](crate::PeerAddr) reads tonic's `TcpConnectInfo` under the same
//! feature.)

use crate::layer::Rejection;

/// The status the layer answers a gRPC client with for this refusal: its code
/// ([`Rejection::grpc_code`]), its message ([`Rejection::grpc_message`]), and as metadata
/// the retry hints and challenges the layer would send. With it, `?` turns a refusal into
/// the handler's error:
///
/// ```
/// use tollgate::Principal;
/// use tonic::{Code, Request, Response, Status};
///
/// // In a tonic handler: the principal the layer authenticated, and a scope it must have.
/// fn delete_report(request: &Request<()>) -> Result<Response<()>, Status> {
///     let principal = Principal::from_extensions(request.extensions())?;
///     principal.require_scopes(["reports:write"])?;
///     Ok(Response::new(()))
/// }
///
/// // No layer in front, or one that let the request through anonymously: UNAUTHENTICATED.
/// let refused = delete_report(&Request::new(())).unwrap_err();
/// assert_eq!(refused.code(), Code::Unauthenticated);
/// assert_eq!(refused.message(), "authentication required");
/// ```
impl From<Rejection> for tonic::Status {
    fn from(rejection: Rejection) -> Self {
        tonic::Status::from_header_map(&rejection.grpc_headers())
            .unwrap_or_else(|| tonic::Status::new(tonic::Code::from(rejection.grpc_code()), rejection.grpc_message()))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use crate::layer::{Rejection, RejectionKind};

    // Behaviour §1a: a handler's refusal is the status the layer would answer.
    #[test]
    fn a_rejection_is_the_status_the_layer_answers_with() {
        let status = tonic::Status::from(Rejection::insufficient_scope(["reports:write", "a"]));
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "the token lacks a required scope: reports:write a");

        let status = tonic::Status::from(Rejection::new(RejectionKind::TooManyFailures { retry_after_secs: 7 }));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.metadata().get("retry-after").unwrap(), "7");
        assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "7000");

        let status = tonic::Status::from(Rejection::new(RejectionKind::Unavailable));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "token store unavailable, retry later");
        let status = tonic::Status::from(Rejection::new(RejectionKind::Internal));
        assert_eq!(status.code(), Code::Internal);
    }
}
