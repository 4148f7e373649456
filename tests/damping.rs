//! Brute-force damping through a real axum router: failed verifications counted per
//! client, 429 with `Retry-After` over the limit, without touching the store.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use support::{Instrumented, issue, memory, unknown_token};
use tollgate::{AuthLayer, Damping, DampingBuilder, ForwardedFor, MemoryStore, TokenFormat, Verifier};
use tower::ServiceExt as _;

struct App {
    store: Arc<Instrumented<MemoryStore>>,
    damping: Damping,
    router: Router,
}

fn app(configure: impl FnOnce(DampingBuilder) -> DampingBuilder) -> App {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let damping = configure(Damping::builder().max_failures(5)).build();
    let router = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(AuthLayer::builder(verifier).damping(damping.clone()).build());
    App { store, damping, router }
}

/// A request from `peer` (as a hyper server records it), with these headers.
async fn send(app: &App, peer: &str, headers: &[(&str, String)]) -> http::Response<Body> {
    let mut req = Request::get("/me").body(Body::empty()).unwrap();
    req.extensions_mut().insert(peer.parse::<SocketAddr>().unwrap());
    for (name, value) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    app.router.clone().oneshot(req).await.unwrap()
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

async fn status(app: &App, peer: &str, token: &str) -> StatusCode {
    send(app, peer, &[bearer(token)]).await.status()
}

const ATTACKER: &str = "203.0.113.7:40000";
const NEIGHBOUR: &str = "198.51.100.20:50000";

#[tokio::test]
async fn a_client_over_the_limit_gets_429_with_retry_after_and_no_lookup() {
    let app = app(|b| b.window(Duration::from_secs(30)));
    for _ in 0..5 {
        assert_eq!(
            status(&app, ATTACKER, unknown_token().token().expose()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.store.lookups(), 5);
    let response = send(&app, ATTACKER, &[bearer(unknown_token().token().expose())]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.store.lookups(),
        5,
        "a blocked client's credentials are not looked up"
    );
    let retry_after: u64 = response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // A port change is the same host.
    assert_eq!(
        status(&app, "203.0.113.7:40001", unknown_token().token().expose()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.store.lookups(), 5);
}

#[tokio::test]
async fn checksum_failures_count_and_never_reach_the_store() {
    let app = app(|b| b);
    let mut bad = unknown_token().token().expose().to_owned();
    bad.replace_range(bad.len() - 1.., if bad.ends_with('0') { "1" } else { "0" });
    let statuses: Vec<StatusCode> = futures_util::future::join_all((0..8).map(|_| status(&app, ATTACKER, &bad))).await;
    assert_eq!(&statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(&statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 3]);
    assert_eq!(app.store.lookups(), 0);
}

#[tokio::test]
async fn other_clients_are_unaffected() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "neighbour", |r| r).await;
    for _ in 0..6 {
        status(&app, ATTACKER, unknown_token().token().expose()).await;
    }
    assert_eq!(
        status(&app, ATTACKER, unknown_token().token().expose()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&app, NEIGHBOUR, token.token().expose()).await, StatusCode::OK);
    assert_eq!(
        status(&app, NEIGHBOUR, unknown_token().token().expose()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_blocked_client_keeps_its_cached_valid_token_but_cold_ones_are_not_looked_up() {
    let app = app(|b| b);
    let (warm, _) = issue(&app.store.inner, "warm", |r| r).await;
    let (cold, _) = issue(&app.store.inner, "cold", |r| r).await;
    assert_eq!(status(&app, ATTACKER, warm.token().expose()).await, StatusCode::OK);
    for _ in 0..5 {
        status(&app, ATTACKER, unknown_token().token().expose()).await;
    }
    let lookups = app.store.lookups();
    // Proven valid by the cache alone: passes, as for anyone behind the same address.
    assert_eq!(status(&app, ATTACKER, warm.token().expose()).await, StatusCode::OK);
    assert_eq!(
        status(&app, ATTACKER, cold.token().expose()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.store.lookups(), lookups);
}

#[tokio::test]
async fn missing_malformed_and_forbidden_requests_are_not_counted() {
    let app = app(|b| b);
    for _ in 0..10 {
        assert_eq!(send(&app, ATTACKER, &[]).await.status(), StatusCode::UNAUTHORIZED);
        let malformed = send(&app, ATTACKER, &[("authorization", "Bearer a b".to_owned())]).await;
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.damping.tracked_clients(), 0);
    assert_eq!(
        status(&app, ATTACKER, unknown_token().token().expose()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn store_failures_are_not_counted_against_the_client() {
    let app = app(|b| b);
    app.store.set_failing(true);
    for _ in 0..10 {
        assert_eq!(
            status(&app, ATTACKER, unknown_token().token().expose()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // Ten store failures, over the limit of five, and the client is not blocked.
    app.store.set_failing(false);
    assert_eq!(
        status(&app, ATTACKER, unknown_token().token().expose()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_block_ends_with_its_window() {
    let app = app(|b| b.max_failures(2).window(Duration::from_millis(300)));
    for _ in 0..2 {
        status(&app, ATTACKER, unknown_token().token().expose()).await;
    }
    let response = send(&app, ATTACKER, &[bearer(unknown_token().token().expose())]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1", "rounded up to a whole second");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        status(&app, ATTACKER, unknown_token().token().expose()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_window_ends_on_time_for_a_client_that_kept_asking() {
    // A client idle for a whole window is forgotten; this one is not: its window is ended
    // by the clock, not by forgetting it.
    let app = app(|b| b.max_failures(2).window(Duration::from_millis(1000)));
    let guess = || async { status(&app, ATTACKER, unknown_token().token().expose()).await };
    assert_eq!(guess().await, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(guess().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        guess().await,
        StatusCode::TOO_MANY_REQUESTS,
        "two failures in the window"
    );
    // 1,200 ms after the window opened, 600 ms after the client's last failure.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(guess().await, StatusCode::UNAUTHORIZED, "a new window");
    assert_eq!(guess().await, StatusCode::UNAUTHORIZED);
    assert_eq!(guess().await, StatusCode::TOO_MANY_REQUESTS, "and it counts afresh");
}

#[test]
fn damping_and_its_builder_show_their_settings_in_debug() {
    let builder = Damping::builder()
        .max_failures(7)
        .window(Duration::from_secs(42))
        .capacity(900);
    let shown = format!("{builder:?}");
    for part in ["max_failures: 7", "window: 42s", "capacity: 900"] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    let damping = builder.build();
    let shown = format!("{damping:?}");
    for part in ["max_failures: 7", "window: 42s", "tracked_clients: 0"] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
}

#[tokio::test]
async fn counter_memory_is_bounded_by_the_configured_capacity() {
    let app = app(|b| b.capacity(1_000));
    let format = TokenFormat::default();
    let mut bad = format.generate().unwrap().token().expose().to_owned();
    bad.replace_range(bad.len() - 1.., if bad.ends_with('0') { "1" } else { "0" });
    for i in 0..20_000u32 {
        let [a, b, c, d] = (0x0a00_0000 | i).to_be_bytes();
        let peer = format!("{a}.{b}.{c}.{d}:1234");
        assert_eq!(status(&app, &peer, &bad).await, StatusCode::UNAUTHORIZED);
    }
    let tracked = app.damping.tracked_clients();
    assert!(tracked <= 1_000, "{tracked} clients tracked");
    assert!(tracked > 0);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted_not_the_proxy() {
    let app = app(|b| b.client_key(ForwardedFor::new(1)));
    const PROXY: &str = "10.0.0.2:443";
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    for i in 0..6 {
        // The attacker varies the entries it controls; the proxy appends the real address.
        let forwarded = ("x-forwarded-for", format!("192.0.2.{i}, 203.0.113.7"));
        send(&app, PROXY, &[bearer(unknown_token().token().expose()), forwarded]).await;
    }
    let attacker = send(
        &app,
        PROXY,
        &[
            bearer(unknown_token().token().expose()),
            ("x-forwarded-for", "203.0.113.7".to_owned()),
        ],
    )
    .await;
    assert_eq!(attacker.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = send(
        &app,
        PROXY,
        &[
            bearer(token.token().expose()),
            ("x-forwarded-for", "198.51.100.20".to_owned()),
        ],
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK, "the proxy itself is not blocked");
}

#[cfg(feature = "admin")]
#[tokio::test]
async fn one_damping_counts_failures_across_layers() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let damping = Damping::builder().max_failures(4).build();
    let admin = tollgate::AdminApi::builder(store.clone(), verifier.clone())
        .damping(damping.clone())
        .build();
    let router = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(AuthLayer::builder(verifier).damping(damping.clone()).build())
        .nest_service("/admin", admin);
    let app = App { store, damping, router };
    let call = |path: &'static str| {
        let app = &app;
        async move {
            let mut req = Request::get(path)
                .header(AUTHORIZATION, format!("Bearer {}", unknown_token().token().expose()))
                .body(Body::empty())
                .unwrap();
            req.extensions_mut().insert(ATTACKER.parse::<SocketAddr>().unwrap());
            app.router.clone().oneshot(req).await.unwrap().status()
        }
    };
    for path in ["/me", "/admin/tokens", "/me", "/admin/tokens"] {
        assert_eq!(call(path).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(call("/admin/tokens").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(call("/me").await, StatusCode::TOO_MANY_REQUESTS);
}

/// Concurrency does not buy a client more lookups: 100 requests at once, each with another
/// unknown (checksum-valid) token, against a slow store, make at most `max_failures` (5)
/// lookups; the rest are answered 429 without touching the store.
#[tokio::test]
async fn concurrent_guesses_from_one_client_make_at_most_max_failures_lookups() {
    let app = app(|b| b);
    app.store.set_delay(Duration::from_millis(100));
    let guesses = (0..100).map(|_| {
        let router = app.router.clone();
        let token = unknown_token();
        async move {
            let mut req = Request::get("/me")
                .header(AUTHORIZATION, format!("Bearer {}", token.token().expose()))
                .body(Body::empty())
                .unwrap();
            req.extensions_mut().insert(ATTACKER.parse::<SocketAddr>().unwrap());
            router.oneshot(req).await.unwrap().status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let unauthorized = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(app.store.lookups(), 5, "lookups: {}", app.store.lookups());
    assert_eq!((unauthorized, limited), (5, 95), "{statuses:?}");
    // And once those five are answered, the client is blocked for its window.
    let response = send(&app, ATTACKER, &[bearer(unknown_token().token().expose())]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry > 50, "blocked for the window, not the in-flight retry: {retry}");
}

/// A client guessing an imported secret of a known id, over Basic and as an opaque Bearer
/// token, from one address: once blocked it gets 429 for every guess, the right one
/// included, so it learns nothing until its window ends; a NAT neighbour's generated token
/// keeps working meanwhile. (Before this rule, the right guess was answered 200 to a
/// blocked client as soon as the cache held the token.)
#[tokio::test]
async fn a_blocked_client_learns_nothing_about_an_imported_secret_it_guesses() {
    use tollgate::{NewToken, Secret, TokenManager};
    let app = app(|d| d.window(Duration::from_millis(600)));
    let tokens = TokenManager::new(app.store.clone(), Verifier::builder(app.store.clone()).build());
    let secret = Secret::new("Legacy-Key-9f3Q-7xZr-2mWb");
    let known = tokens.import(NewToken::new("legacy"), &secret).await.unwrap();
    let (neighbour, _) = issue(&app.store.inner, "neighbour", |r| r).await;
    let basic = |password: &str| {
        (
            "authorization",
            tollgate::BasicCredential::new(&known.id, password)
                .to_header_value()
                .to_str()
                .unwrap()
                .to_owned(),
        )
    };
    // The right secret is in the cache (the attacker's wrong guesses would fill it too), and
    // so is the neighbour's own token.
    assert_eq!(
        send(&app, NEIGHBOUR, &[basic(secret.expose())]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        status(&app, NEIGHBOUR, neighbour.token().expose()).await,
        StatusCode::OK
    );
    let mut statuses = Vec::new();
    for guess in 0..5 {
        statuses.push(
            send(&app, ATTACKER, &[basic(&format!("wrong-guess-{guess:04}-abcdef"))])
                .await
                .status(),
        );
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    for credential in [basic(secret.expose()), bearer(secret.expose())] {
        let refused = send(&app, ATTACKER, &[credential]).await;
        assert_eq!(
            refused.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the right guess, while blocked"
        );
        assert!(refused.headers().contains_key(RETRY_AFTER));
    }
    assert_eq!(
        status(&app, ATTACKER, neighbour.token().expose()).await,
        StatusCode::OK,
        "a cached generated token still passes from the blocked address"
    );
    let segment = tollgate::BasicCredential::new(neighbour.id(), neighbour.secret_segment());
    let segment = ("authorization", segment.to_header_value().to_str().unwrap().to_owned());
    assert_eq!(
        send(&app, ATTACKER, &[segment]).await.status(),
        StatusCode::OK,
        "and its Basic form"
    );
    assert_eq!(
        send(&app, NEIGHBOUR, &[basic(secret.expose())]).await.status(),
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        send(&app, ATTACKER, &[basic(secret.expose())]).await.status(),
        StatusCode::OK,
        "once the window ends, a guess is answered again"
    );
}

/// A client that sends guesses and hangs up while the store is slow: each lookup it left
/// running still counts against its allowance, and its failure is counted when the lookup
/// ends, so it is blocked as if it had waited. (Before, a hang-up gave the allowance back
/// and counted nothing: such a client was never blocked.)
#[tokio::test]
async fn a_client_that_hangs_up_on_slow_lookups_is_still_counted() {
    let app = app(|d| d.max_failures(3));
    app.store.set_delay(Duration::from_millis(200));
    for _ in 0..3 {
        let guess = unknown_token();
        let hung_up = tokio::time::timeout(
            Duration::from_millis(20),
            send(&app, ATTACKER, &[bearer(guess.token().expose())]),
        )
        .await;
        assert!(hung_up.is_err(), "the client hung up before the answer");
    }
    // While the three lookups run they take the whole allowance.
    assert_eq!(
        status(&app, ATTACKER, unknown_token().token().expose()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // They ended, as failures: the client is blocked, not free to start again.
    let refused = send(&app, ATTACKER, &[bearer(unknown_token().token().expose())]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(
        refused.headers()[RETRY_AFTER],
        "1",
        "blocked for the window, not waiting on lookups"
    );
    assert_eq!(app.store.lookups(), 3, "no lookup after the three");
}
