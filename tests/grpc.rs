//! gRPC clients behind the layer (behaviour §1a): a real tonic server and client over a
//! socket, the refusals on the HTTP/2 wire, gRPC-Web, and the README's gRPC example.
#![cfg(feature = "tonic")]

mod support;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use support::{Instrumented, issue, unknown_token};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tollgate::{
    AuthLayer, Damping, GeneratedToken, MemoryStore, Principal, Rejection, RejectionKind, TokenFormat, TokenStatus,
    Verifier,
};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::ServiceExt as _;

/// The principal's id, in the answer's metadata: it reached the handler.
const PRINCIPAL_ID: &str = "principal-id";

/// A health service whose `check` is a handler of the app's: it reads the principal, and
/// for the service name `reports` requires a scope of it.
struct Handler;

#[tonic::async_trait]
impl Health for Handler {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, Status> {
        let principal = Principal::from_extensions(request.extensions())?;
        if request.get_ref().service == "reports" {
            principal.require_scopes(["reports:write"])?;
        }
        let mut response = tonic::Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        });
        response
            .metadata_mut()
            .insert(PRINCIPAL_ID, principal.id().parse().unwrap());
        Ok(response)
    }

    type WatchStream =
        Pin<Box<dyn tonic::codegen::tokio_stream::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// A tonic server on a free port: `auth` around a scope layer requiring `scopes` (none:
/// every principal passes) around the handler.
async fn serve(auth: AuthLayer, scopes: &[&str]) -> SocketAddr {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let scope = auth.scope_layer(scopes.iter().copied());
    let server = Server::builder()
        .layer(auth)
        .layer(scope)
        .add_service(HealthServer::new(Handler))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    addr
}

async fn connect(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// Checks `service` with this `Authorization` value: the principal's id, or the status.
async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
    authorization: Option<&str>,
) -> Result<String, Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value.parse().unwrap());
    }
    let response = client.check(request).await?;
    assert_eq!(response.get_ref().status, i32::from(ServingStatus::Serving));
    Ok(response
        .metadata()
        .get(PRINCIPAL_ID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn bearer_of(token: &GeneratedToken) -> String {
    bearer(token.token().expose())
}

fn refused(result: Result<String, Status>) -> Status {
    result.expect_err("refused")
}

const INVALID: &str = "invalid, expired or revoked credentials";

// Behaviour §1a: missing, malformed and invalid credentials are UNAUTHENTICATED, with the
// JSON body's message, the same for every invalid-token reason; a valid token reaches the
// handler with its principal.
#[tokio::test]
async fn a_tonic_client_is_told_why_it_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let (valid, record) = issue(&*store, "caller", |r| r).await;
    let (expired, _) = issue(&*store, "old", |r| {
        r.with_expiry(Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)))
    })
    .await;
    let (inactive, _) = issue(&*store, "revoked", |r| r.with_status(TokenStatus::Inactive)).await;
    let verifier = Verifier::builder(store.clone()).build();
    let mut client = connect(serve(AuthLayer::new(verifier), &[]).await).await;

    assert_eq!(
        check(&mut client, "", Some(&bearer_of(&valid))).await.unwrap(),
        record.id
    );

    let status = refused(check(&mut client, "", None).await);
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "authentication required");
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        "Bearer realm=\"tollgate\""
    );

    let status = refused(check(&mut client, "", Some("Bearer not a token")).await);
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().starts_with("malformed authorization header: "),
        "{}",
        status.message()
    );

    let valid = valid.token().expose();
    // Another secret under the same id, with its checksum right.
    let other = TokenFormat::default().generate().unwrap();
    let body = format!("tg_{}_{}", record.id, &other.secret_segment()[..43]);
    let wrong_secret = format!(
        "{body}{}",
        String::from_utf8(support::checksum(body.as_bytes()).to_vec()).unwrap()
    );
    let last = valid.chars().last().unwrap();
    let bad_checksum = format!("{}{}", &valid[..valid.len() - 1], if last == 'A' { 'B' } else { 'A' });
    for token in [
        unknown_token().token().expose().to_owned(),
        wrong_secret,
        bad_checksum,
        expired.token().expose().to_owned(),
        inactive.token().expose().to_owned(),
    ] {
        let status = refused(check(&mut client, "", Some(&bearer(&token))).await);
        assert_eq!(status.code(), Code::Unauthenticated, "{token}");
        // CONTRACT §1: never which check failed.
        assert_eq!(status.message(), INVALID, "{token}");
    }
}

// Behaviour §1a: a missing scope is PERMISSION_DENIED naming the scopes required, whether the
// layer, a scope layer or the handler requires it.
#[tokio::test]
async fn a_missing_scope_is_permission_denied_naming_the_scopes() {
    let store = Arc::new(MemoryStore::new());
    let (caller, _) = issue(&*store, "caller", |r| r.with_scopes(["grpc:call"])).await;
    let (reader, _) = issue(&*store, "reader", |r| r.with_scopes(["grpc:call", "reports:read"])).await;
    let verifier = Verifier::builder(store.clone()).build();

    // The layer's own requirement.
    let layer = AuthLayer::builder(verifier.clone())
        .require_scopes(["grpc:admin"])
        .build();
    let mut strict = connect(serve(layer, &[]).await).await;
    let status = refused(check(&mut strict, "", Some(&bearer_of(&caller))).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "the token lacks a required scope: grpc:admin");

    // A scope layer further in, and the handler's own `require_scopes`.
    let mut client = connect(serve(AuthLayer::new(verifier), &["grpc:call"]).await).await;
    assert!(check(&mut client, "", Some(&bearer_of(&caller))).await.is_ok());
    let (plain, _) = issue(&*store, "plain", |r| r).await;
    let status = refused(check(&mut client, "", Some(&bearer_of(&plain))).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "the token lacks a required scope: grpc:call");

    let status = refused(check(&mut client, "reports", Some(&bearer_of(&reader))).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "the token lacks a required scope: reports:write");
}

// Behaviour §1a: with the default damping (the `tonic` feature's peer address), a client that
// keeps failing ends in RESOURCE_EXHAUSTED, with the retry hints; not UNAVAILABLE, which
// retry policies retry.
#[tokio::test]
async fn thirty_failures_from_one_client_end_in_resource_exhausted() {
    let verifier = Verifier::builder(MemoryStore::new()).build();
    let layer = AuthLayer::builder(verifier).damping(Damping::default()).build();
    let mut client = connect(serve(layer, &[]).await).await;
    let guess = bearer_of(&unknown_token());
    let mut codes = Vec::new();
    let mut last = None;
    for _ in 0..30 {
        let status = refused(check(&mut client, "", Some(&guess)).await);
        codes.push(status.code());
        last = Some(status);
    }
    let unauthenticated = codes.iter().take_while(|code| **code == Code::Unauthenticated).count();
    assert_eq!(unauthenticated, 20, "{codes:?}");
    assert!(
        codes[20..].iter().all(|code| *code == Code::ResourceExhausted),
        "{codes:?}"
    );
    let last = last.unwrap();
    assert_eq!(last.message(), "too many failed authentication attempts, retry later");
    let secs: u64 = last
        .metadata()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    let pushback: u64 = last
        .metadata()
        .get("grpc-retry-pushback-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pushback, secs * 1000);
}

// Behaviour §1a: a store outage is UNAVAILABLE with the retry hints; a panic while deciding
// is INTERNAL with a generic message.
#[tokio::test]
async fn an_outage_is_unavailable_and_a_panic_internal() {
    let store = Instrumented::new(MemoryStore::new());
    let (token, _) = issue(&*store, "caller", |r| r).await;
    store.set_failing(true);
    let verifier = Verifier::builder(store.clone()).build();
    let layer = AuthLayer::builder(verifier.clone())
        .retry_after(Duration::from_secs(3))
        .build();
    let mut client = connect(serve(layer, &[]).await).await;
    let status = refused(check(&mut client, "", Some(&bearer_of(&token))).await);
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "token store unavailable, retry later");
    assert_eq!(status.metadata().get("retry-after").unwrap(), "3");
    assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "3000");

    store.set_failing(false);
    let panicking = Damping::builder()
        .client_key(
            |_: &http::HeaderMap, _: &http::Extensions| -> Option<std::net::IpAddr> {
                panic!("a client key that panics")
            },
        )
        .build();
    let layer = AuthLayer::builder(verifier).damping(panicking).build();
    let mut client = connect(serve(layer, &[]).await).await;
    let status = refused(check(&mut client, "", Some(&bearer_of(&token))).await);
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "the request could not be authenticated");
}

/// A connection's bytes as the client reads them.
struct Recording<T> {
    io: T,
    read: Arc<Mutex<Vec<u8>>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Recording<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = Arc::clone(&self.read);
        read.lock().unwrap().extend_from_slice(&buf.filled()[before..]);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Recording<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The (type, flags) of every HTTP/2 frame the server sent on `stream`.
fn frames_on(bytes: &[u8], stream: u32) -> Vec<(u8, u8)> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let id = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        if id == stream {
            frames.push((rest[3], rest[4]));
        }
        rest = &rest[(9 + len).min(rest.len())..];
    }
    frames
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const END_STREAM: u8 = 0x1;

/// One request on a fresh HTTP/2 connection: the answer's head, its body's bytes, and the
/// frames the server sent on its stream.
async fn on_the_wire(addr: SocketAddr, content_type: &str) -> (http::response::Parts, Bytes, Vec<(u8, u8)>) {
    let read = Arc::new(Mutex::new(Vec::new()));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = Recording {
        io: tcp,
        read: Arc::clone(&read),
    };
    let (mut h2, connection) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let request = Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(CONTENT_TYPE, content_type)
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, _) = h2.send_request(request, true).unwrap();
    let (head, mut body) = response.await.unwrap().into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    // The stream has ended: every frame of it has been read.
    let frames = frames_on(&read.lock().unwrap(), 1);
    (head, Bytes::from(bytes), frames)
}

// Behaviour §1a: Trailers-Only on the wire: status 200, the gRPC content-type, grpc-status and
// grpc-message in the one HEADERS frame, which ends the stream; no DATA frame, not even an
// empty one. A plain HTTP request on the same server is answered as before.
#[tokio::test]
async fn a_grpc_refusal_is_one_headers_frame_that_ends_the_stream() {
    let verifier = Verifier::builder(MemoryStore::new()).build();
    let addr = serve(AuthLayer::new(verifier), &[]).await;

    let (head, body, frames) = on_the_wire(addr, "application/grpc").await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[CONTENT_TYPE], "application/grpc");
    assert_eq!(head.headers["grpc-status"], "16");
    assert_eq!(head.headers["grpc-message"], "authentication required");
    assert!(body.is_empty());
    assert_eq!(
        frames,
        vec![(HEADERS, END_STREAM | 0x4)],
        "one HEADERS frame with END_HEADERS and END_STREAM"
    );

    let (head, body, frames) = on_the_wire(addr, "application/json").await;
    assert_eq!(head.status, StatusCode::UNAUTHORIZED);
    assert_eq!(head.headers[CONTENT_TYPE], "application/json");
    assert!(!head.headers.contains_key("grpc-status"));
    assert_eq!(
        body,
        r#"{"error":{"code":"unauthorized","message":"authentication required"}}"#
    );
    assert!(frames.iter().any(|(kind, _)| *kind == DATA), "{frames:?}");
}

fn hello() -> impl tower::Service<
    Request<String>,
    Response = Response<http_body_util::Full<Bytes>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(|_: Request<String>| async {
        Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(Bytes::from_static(b"hello"))))
    })
}

// Behaviour §1a: a gRPC-Web request is refused in gRPC-Web form, its content-type echoed; the
// layer's body has ended (both body modes), and the `Rejection` is in the extensions.
#[tokio::test]
async fn a_grpc_web_request_is_refused_in_grpc_web_form() {
    let verifier = Verifier::builder(MemoryStore::new()).build();
    let layer = AuthLayer::builder(verifier.clone())
        .retry_after(Duration::from_secs(2))
        .build();
    for content_type in ["application/grpc-web+proto", "application/grpc-web-text"] {
        let request = Request::post("/grpc.health.v1.Health/Check")
            .header(CONTENT_TYPE, content_type)
            .header(AUTHORIZATION, bearer_of(&unknown_token()))
            .body(String::new())
            .unwrap();
        let response = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service(hello())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], content_type);
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], INVALID);
        assert!(response.body().is_end_stream());
        assert_eq!(response.body().size_hint().exact(), Some(0));
        let rejection = response.extensions().get::<Rejection>().unwrap();
        assert!(matches!(rejection.kind(), RejectionKind::InvalidToken(_)));
    }

    // The same body, ended, in the `same_body` mode with axum's body.
    let request = Request::get("/")
        .header(CONTENT_TYPE, "application/grpc+proto")
        .body(axum::body::Body::empty())
        .unwrap();
    let axum_service = tower::service_fn(|_: Request<axum::body::Body>| async {
        Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::from("hello")))
    });
    let response = tower::ServiceBuilder::new()
        .layer(layer.same_body())
        .service(axum_service)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
    assert!(response.body().is_end_stream());
    assert!(!response.headers().contains_key(RETRY_AFTER));
}

// Behaviour §1a: a gRPC answer tells no more than the HTTP one: the message of an invalid
// token is the JSON body's, never the rejection's `Display` (which names the reason), and
// the secret is nowhere in it.
#[tokio::test]
async fn a_grpc_refusal_never_names_the_reason_or_the_secret() {
    let store = Arc::new(MemoryStore::new());
    let (token, _) = issue(&*store, "caller", |r| r.with_status(TokenStatus::Inactive)).await;
    let verifier = Verifier::builder(store).build();
    let layer = AuthLayer::new(verifier);
    let request = Request::post("/x")
        .header(CONTENT_TYPE, "application/grpc")
        .header(AUTHORIZATION, bearer_of(&token))
        .body(String::new())
        .unwrap();
    let response = tower::ServiceBuilder::new()
        .layer(layer)
        .service(hello())
        .oneshot(request)
        .await
        .unwrap();
    let rejection = response.extensions().get::<Rejection>().unwrap().clone();
    assert_ne!(rejection.to_string(), INVALID, "the Display names the reason");
    assert_eq!(response.headers()["grpc-message"], INVALID);
    let secret = token.secret_segment();
    assert!(!rejection.to_string().contains(secret));
    for (name, value) in response.headers() {
        assert!(
            !value.to_str().unwrap_or_default().contains(secret),
            "{name} carries the secret"
        );
    }
}

#[cfg(all(unix, feature = "_sqlite"))]
mod example {
    use super::*;
    use support::process::{example_binary, start_in};
    use support::readme::{example_source, readme_block};

    #[test]
    fn the_readme_grpc_section_is_the_example_word_for_word() {
        assert_eq!(readme_block("## gRPC (tonic)"), example_source("grpc"));
    }

    // The README's gRPC example, run as a process: the printed token is served, a call
    // without one is UNAUTHENTICATED, and a client that guesses is damped.
    #[tokio::test]
    async fn the_grpc_example_works_as_written() {
        use std::io::BufRead as _;

        let bin = example_binary("grpc");
        let dir = tempfile::tempdir().unwrap();
        let mut server = start_in(&bin, dir.path());
        let mut line = String::new();
        std::io::BufReader::new(server.child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let admin = line
            .trim()
            .strip_prefix("admin token (shown once): ")
            .unwrap_or_else(|| panic!("the first line is the admin token: {line:?}"))
            .to_owned();

        let mut client = connect(server.addr).await;
        let mut request = tonic::Request::new(HealthCheckRequest::default());
        request
            .metadata_mut()
            .insert("authorization", bearer(&admin).parse().unwrap());
        let response = client.check(request).await.unwrap();
        assert_eq!(response.get_ref().status, i32::from(ServingStatus::Serving));

        let status = client
            .check(tonic::Request::new(HealthCheckRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);

        let guess = bearer_of(&unknown_token());
        let mut codes = Vec::new();
        for _ in 0..21 {
            let mut request = tonic::Request::new(HealthCheckRequest::default());
            request.metadata_mut().insert("authorization", guess.parse().unwrap());
            codes.push(client.check(request).await.unwrap_err().code());
        }
        assert!(codes[..20].iter().all(|c| *c == Code::Unauthenticated), "{codes:?}");
        assert_eq!(codes[20], Code::ResourceExhausted);
        server.kill();
    }
}
