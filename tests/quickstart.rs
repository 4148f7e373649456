//! The README's quick starts, as a new user follows them: the code blocks are the example
//! files word for word, and the examples, run as processes, mint the first token, serve
//! it, and damp a client that guesses.
#![cfg(all(unix, feature = "_sqlite", feature = "admin"))]

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header::AUTHORIZATION, header::CONTENT_TYPE};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::process::{Server, example_binary, start_in};
use support::readme::{example_source, readme_block};

#[test]
fn the_readme_quick_starts_are_the_examples_word_for_word() {
    assert_eq!(readme_block("## Quick start (axum)"), example_source("quickstart"));
    assert_eq!(
        readme_block("## Quick start (hyper)"),
        example_source("quickstart_hyper")
    );
}

async fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (StatusCode, String) {
    send(addr, Method::GET, path, auth, None).await
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    auth: Option<&str>,
    json: Option<&str>,
) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(format!("http://{addr}{path}"));
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    if json.is_some() {
        req = req.header(CONTENT_TYPE, "application/json");
    }
    let body = json.map_or_else(Full::default, |json| Full::new(Bytes::from(json.to_owned())));
    let response = client.request(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads the admin token the example prints on its first start.
fn admin_token(server: &mut Server) -> String {
    use std::io::BufRead as _;
    let stdout = server.child.stdout.as_mut().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("admin token (shown once): ")
        .unwrap_or_else(|| panic!("the first line is the admin token: {line:?}"))
        .to_owned()
}

/// 20 failed guesses are answered 401, the 21st 429: `Damping::default()` tells the
/// client by its address.
async fn guessing_is_damped(addr: SocketAddr, path: &str) {
    let guess = format!("Basic {}", base64_basic("nosuchid", "a-guessed-secret"));
    let mut statuses = Vec::new();
    for _ in 0..21 {
        statuses.push(get(addr, path, Some(&guess)).await.0);
    }
    assert!(
        statuses[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

// CONTRACT §3 / §1: follow the quick start, mint a token, call the protected route: 200.
#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_quick_start_works_as_written() {
    let bin = example_binary("quickstart");
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_in(&bin, dir.path());
    let addr = server.addr;
    let admin = admin_token(&mut server);
    let admin_auth = format!("Bearer {admin}");

    assert_eq!(get(addr, "/me", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(addr, "/me", Some(&admin_auth)).await,
        (StatusCode::OK, "hello, bootstrap admin\n".to_owned())
    );
    let (status, created) = send(
        addr,
        Method::POST,
        "/admin/tokens",
        Some(&admin_auth),
        Some(r#"{"name": "my laptop", "scopes": ["profile"]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = created["token"].as_str().unwrap();
    assert_eq!(
        get(addr, "/me", Some(&format!("Bearer {token}"))).await,
        (StatusCode::OK, "hello, my laptop\n".to_owned())
    );
    guessing_is_damped(addr, "/me").await;
    let (stdout, _) = server.kill();
    assert!(stdout.is_empty(), "nothing more was printed: {stdout}");

    // A second start on the same database mints no second admin token.
    let server = start_in(&bin, dir.path());
    assert_eq!(get(server.addr, "/me", Some(&admin_auth)).await.0, StatusCode::OK);
    let (stdout, _) = server.kill();
    assert!(!stdout.contains("admin token"), "{stdout}");
}

// CONTRACT §1: the same on plain hyper, with the peer address inserted by the accept loop.
#[tokio::test]
async fn the_hyper_quick_start_works_as_written() {
    let bin = example_binary("quickstart_hyper");
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_in(&bin, dir.path());
    let addr = server.addr;
    let admin = admin_token(&mut server);

    let (status, _) = get(addr, "/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(addr, "/", Some(&format!("Bearer {admin}"))).await,
        (StatusCode::OK, "hello, bootstrap admin\n".to_owned())
    );
    guessing_is_damped(addr, "/anything").await;
    server.kill();
}
