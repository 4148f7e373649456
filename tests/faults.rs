//! A failing token store behind the layer: latency, errors, hangs, every Nth call failing,
//! and the opt-in stale mode. Through a real axum router, as a user mounts it.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{Request, StatusCode};
use support::logs::Capture;
use support::{Instrumented, issue, memory, unknown_token};
use tollgate::store::TokenStore;
use tollgate::{
    AuthLayer, MemoryStore, Principal, SecretHasher, TokenPatch, TokenRecord, TokenStatus, Verifier, VerifierBuilder,
};
use tower::ServiceExt as _;

struct App {
    store: Arc<Instrumented<MemoryStore>>,
    verifier: Verifier,
    router: Router,
}

fn app(configure: impl FnOnce(VerifierBuilder) -> VerifierBuilder) -> App {
    let store = memory();
    let verifier = configure(Verifier::builder(store.clone())).build();
    let router = Router::new()
        .route(
            "/me",
            get(|Extension(p): Extension<Principal>| async move { p.id().to_owned() }),
        )
        .layer(AuthLayer::new(verifier.clone()));
    App {
        store,
        verifier,
        router,
    }
}

async fn status(app: &App, token: &str) -> StatusCode {
    reply(app, token).await.status()
}

async fn reply(app: &App, token: &str) -> http::Response<Body> {
    let req = Request::get("/me")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.router.clone().oneshot(req).await.unwrap()
}

// CONTRACT §1: token store unreachable → 503 + Retry-After, within the configured timeout.
// Tokio's clock is paused: the timeout is measured on it, exactly, without waiting.
#[tokio::test(start_paused = true)]
async fn a_hanging_store_is_answered_503_within_the_source_timeout() {
    let app = app(|b| b.source_timeout(Duration::from_millis(200)));
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    app.store.set_hanging(true);
    let started = tokio::time::Instant::now();
    let response = reply(&app, token.token().expose()).await;
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(RETRY_AFTER));
    assert!(
        (Duration::from_millis(200)..Duration::from_millis(201)).contains(&took),
        "answered at {took:?}, not at the timeout"
    );
}

// CONTRACT §1: fail closed: an erroring store never lets a request through, and its errors
// are not remembered (each request asks again; an unknown token is not cached as unknown).
#[tokio::test]
async fn store_errors_are_never_cached_and_never_let_a_request_through() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    let unknown = unknown_token();
    app.store.set_failing(true);
    for round in 1..=10 {
        assert_eq!(
            status(&app, token.token().expose()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(&app, unknown.token().expose()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(app.store.lookups(), 2 * round, "every request asked the store again");
    }
    app.store.set_failing(false);
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    assert_eq!(status(&app, unknown.token().expose()).await, StatusCode::UNAUTHORIZED);
}

// An operator reads which token's lookup failed: a generated token by its id, an imported
// one (found by the hash of its secret) by neither its secret nor its hash.
#[tokio::test]
async fn a_failed_lookup_is_logged_with_the_token_id_and_never_the_secret() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    let imported = "legacy-opaque-token_0123456789";
    let hash = SecretHasher::Sha256.hash(imported.as_bytes());
    let record = TokenRecord::new("Imp0rted", "legacy", hash);
    app.store.inner.create(record).await.unwrap();
    app.store.set_failing(true);
    assert_eq!(
        status(&app, token.token().expose()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status(&app, imported).await, StatusCode::SERVICE_UNAVAILABLE);

    let logged = capture.text();
    let failures: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains("token store lookup failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{logged}");
    assert!(failures[0].contains(" WARN "), "{}", failures[0]);
    assert!(
        failures[0].contains(&format!("key=Id(\"{}\")", token.id())),
        "{}",
        failures[0]
    );
    assert!(failures[1].contains("key=Hash(..)"), "{}", failures[1]);
    let hex = serde_json::to_string(&hash).unwrap();
    for secret in [token.secret_segment(), imported, hex.trim_matches('"')] {
        assert!(!logged.contains(secret), "{logged}");
    }
}

#[tokio::test]
async fn the_layer_recovers_on_the_first_good_call() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    app.store.set_failing(true);
    for _ in 0..3 {
        assert_eq!(
            status(&app, token.token().expose()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    app.store.set_failing(false);
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    assert_eq!(app.store.lookups(), 4, "one good call was enough");
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    assert_eq!(app.store.lookups(), 4, "and its answer is cached");
}

#[tokio::test]
async fn every_nth_failing_call_fails_only_its_own_request() {
    let app = app(|b| b);
    let mut tokens = Vec::new();
    for i in 0..40 {
        tokens.push(issue(&app.store.inner, &format!("t{i}"), |r| r).await.0);
    }
    app.store.fail_every(4);
    let mut failed = Vec::new();
    for token in &tokens {
        match status(&app, token.token().expose()).await {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => failed.push(token),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(failed.len(), 10, "one cold lookup in four failed");
    assert_eq!(app.store.injected_failures(), 10);
    app.store.fail_every(0);
    for token in &tokens {
        assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    }
    assert_eq!(app.store.lookups(), 50, "only the failed ones were looked up again");
}

#[tokio::test(start_paused = true)]
async fn latency_under_the_timeout_slows_only_the_cold_request() {
    let app = app(|b| b.source_timeout(Duration::from_secs(2)));
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    app.store.set_delay(Duration::from_millis(150));
    let started = tokio::time::Instant::now();
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    assert_eq!(started.elapsed(), Duration::from_millis(150), "the store's latency");
    let started = tokio::time::Instant::now();
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    assert_eq!(started.elapsed(), Duration::ZERO, "the warm request did not wait");
    assert_eq!(app.store.lookups(), 1);
}

#[tokio::test]
async fn without_stale_mode_an_outage_fails_closed_once_the_cache_ttl_passes() {
    let app = app(|b| b.cache_ttl(Duration::from_millis(100)));
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    app.store.set_failing(true);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        status(&app, token.token().expose()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn stale_mode_serves_cached_tokens_through_an_outage_for_the_window_only() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(100))
            .serve_stale(Duration::from_millis(900))
            .source_timeout(Duration::from_millis(100))
    });
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    let never_seen = issue(&app.store.inner, "cold", |r| r).await.0;
    let filled = Instant::now();
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    app.store.set_failing(true);

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        status(&app, token.token().expose()).await,
        StatusCode::OK,
        "stale, served"
    );
    assert_eq!(
        status(&app, never_seen.token().expose()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a token the cache never held still fails closed"
    );
    let failures = app.store.injected_failures();
    assert!(failures >= 1, "the source was asked first");

    // Past cache_ttl + window (1 s from the fill): no longer served.
    tokio::time::sleep(Duration::from_millis(1_200).saturating_sub(filled.elapsed())).await;
    assert_eq!(
        status(&app, token.token().expose()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.store.set_failing(false);
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
}

#[tokio::test]
async fn stale_mode_never_serves_a_revoked_token() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(50))
            .serve_stale(Duration::from_secs(60))
            .source_timeout(Duration::from_millis(100))
    });
    let invalidations = tokio::spawn(
        app.verifier
            .invalidation_task()
            .expect("memory store has a change stream"),
    );
    let (deleted, _) = issue(&app.store.inner, "deleted", |r| r).await;
    let (deactivated, _) = issue(&app.store.inner, "deactivated", |r| r).await;
    let (revoked, _) = issue(&app.store.inner, "revoked", |r| r).await;
    // Let the creations' own change events pass first: each drops its token from the cache.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for token in [&deleted, &deactivated, &revoked] {
        assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    }
    app.store.set_failing(true);
    tokio::time::sleep(Duration::from_millis(80)).await;
    for token in [&deleted, &deactivated, &revoked] {
        assert_eq!(
            status(&app, token.token().expose()).await,
            StatusCode::OK,
            "stale, served"
        );
    }

    // Revoked while the store is failing for reads: by another replica (the change
    // stream), and by this process's admin API (`invalidate`).
    assert!(app.store.inner.delete(deleted.id()).await.unwrap());
    let mut patch = TokenPatch::default();
    patch.status = Some(TokenStatus::Inactive);
    app.store.inner.update(deactivated.id(), &patch).await.unwrap();
    app.verifier.invalidate(revoked.id());
    tokio::time::sleep(Duration::from_millis(50)).await;

    for _ in 0..3 {
        for token in [&deleted, &deactivated, &revoked] {
            assert_eq!(
                status(&app, token.token().expose()).await,
                StatusCode::SERVICE_UNAVAILABLE,
                "a revoked token is never served from a stale entry"
            );
        }
    }
    app.store.set_failing(false);
    for token in [&deleted, &deactivated] {
        assert_eq!(status(&app, token.token().expose()).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(status(&app, revoked.token().expose()).await, StatusCode::OK);
    invalidations.abort();
}

#[tokio::test]
async fn stale_mode_drops_an_entry_the_source_says_is_gone() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(50))
            .serve_stale(Duration::from_secs(60))
    });
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    // Deleted without telling this verifier (no change stream task runs here).
    app.store.inner.delete(token.id()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::UNAUTHORIZED);
    app.store.set_failing(true);
    assert_ne!(status(&app, token.token().expose()).await, StatusCode::OK);
}

/// A refresh that finds the token deactivated, while the administrator changes other tokens
/// (invalidations that overlap the lookup, so its answer is not cached): the stale entry
/// it would have replaced must go too, or a later outage serves the deactivated token.
#[tokio::test]
async fn stale_mode_never_serves_a_token_a_refused_refresh_found_revoked() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(50))
            .serve_stale(Duration::from_secs(60))
            .source_timeout(Duration::from_secs(2))
    });
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    // Deactivated without telling this verifier (another process, no change stream here).
    let mut patch = TokenPatch::default();
    patch.status = Some(TokenStatus::Inactive);
    app.store.inner.update(token.id(), &patch).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;

    app.store.set_delay(Duration::from_millis(300));
    let refresh = {
        let verifier = app.verifier.clone();
        let header = token.token().expose().to_owned();
        tokio::spawn(async move {
            verifier
                .verify(&tollgate::Credential::Bearer(&header))
                .await
                .map(|p| p.id().to_owned())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Other tokens change meanwhile: enough of them that one shares whatever invalidation
    // bookkeeping this token's lookup is checked against.
    for k in 0..2_000 {
        app.verifier.invalidate(&format!("other{k}"));
    }
    let refreshed = refresh.await.unwrap();
    assert!(
        matches!(refreshed, Err(tollgate::VerifyError::Invalid(_))),
        "the refresh saw the deactivation: {refreshed:?}"
    );

    app.store.set_delay(Duration::ZERO);
    app.store.set_failing(true);
    for _ in 0..3 {
        assert_ne!(
            status(&app, token.token().expose()).await,
            StatusCode::OK,
            "a token the source said is inactive is never served stale"
        );
    }
}

#[tokio::test]
async fn stale_mode_still_checks_expiry() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(50))
            .serve_stale(Duration::from_secs(60))
            .source_timeout(Duration::from_millis(100))
    });
    let expires = time::OffsetDateTime::now_utc() + Duration::from_millis(300);
    let (token, _) = issue(&app.store.inner, "t", |r| r.with_expiry(Some(expires))).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    app.store.set_failing(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn stale_mode_asks_a_failing_source_about_once_a_second_per_token() {
    let app = app(|b| {
        b.cache_ttl(Duration::from_millis(50))
            .serve_stale(Duration::from_secs(60))
            .source_timeout(Duration::from_millis(200))
    });
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
    app.store.set_hanging(true);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let lookups = app.store.lookups();
    let started = Instant::now();
    // 60 requests over about 1.5 s.
    let mut slow = 0;
    for _ in 0..60 {
        let one = Instant::now();
        assert_eq!(status(&app, token.token().expose()).await, StatusCode::OK);
        if one.elapsed() >= Duration::from_millis(200) {
            slow += 1;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let asked = app.store.lookups() - lookups;
    assert!(asked >= 1, "the source was tried");
    assert!(
        (asked as f64) <= seconds.ceil() + 1.0,
        "{asked} lookups in {seconds:.1} s: the stale entry should have answered meanwhile"
    );
    assert_eq!(
        slow, asked,
        "only the requests that asked the source waited for its timeout"
    );
}

/// `Retry-After` is whole seconds, 1 at least, as `AuthLayerBuilder::retry_after` says,
/// from the layer and from a scope layer made from it alike.
#[tokio::test]
async fn retry_after_below_a_second_is_sent_as_one() {
    let store = memory();
    let (token, _) = issue(&store.inner, "t", |r| r).await;
    store.set_failing(true);
    let auth = AuthLayer::builder(Verifier::builder(store.clone()).build())
        .retry_after(Duration::from_millis(300))
        .build();
    let router = Router::new()
        .route("/me", get(|| async { "me" }).layer(auth.scope_layer(["x"])))
        .layer(auth);
    let request = Request::get("/me")
        .header(AUTHORIZATION, format!("Bearer {}", token.token().expose()))
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}
