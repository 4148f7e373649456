//! The `metrics` feature: what one request of each kind counts.
#![cfg(feature = "metrics")]

mod support;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::AUTHORIZATION;
use http::{Request, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{issue, memory, unknown_token};
use tollgate::{AuthLayer, Rejection, RejectionKind, Verifier};
use tower::ServiceExt as _;

/// Every metric's value, by `name{label=value}`.
fn values(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            (name, value)
        })
        .collect()
}

fn counter(values: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match values.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?} in {values:?}"),
    }
}

#[tokio::test]
async fn hits_misses_lookups_and_each_refusal_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = memory();
    let (token, _) = issue(&*store, "counted", |r| r).await;
    let (scoped, _) = issue(&*store, "no scope", |r| r.with_scopes(["other"])).await;
    // The handles are registered when the verifier and the layer are built.
    let router = metrics::with_local_recorder(&recorder, || {
        let verifier = Verifier::builder(store.clone()).build();
        let auth = AuthLayer::builder(verifier)
            .require_scopes(["other"])
            .build()
            .same_body();
        Router::new().route("/", get(|| async { "ok" })).layer(auth)
    });
    let call = |auth: Option<String>| {
        let router = router.clone();
        async move {
            let mut req = Request::get("/");
            if let Some(auth) = auth {
                req = req.header(AUTHORIZATION, auth);
            }
            router.oneshot(req.body(Body::empty()).unwrap()).await.unwrap().status()
        }
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));

    assert_eq!(
        call(bearer(token.token().expose())).await,
        StatusCode::FORBIDDEN,
        "a miss, then the scope"
    );
    assert_eq!(call(bearer(scoped.token().expose())).await, StatusCode::OK, "a miss");
    assert_eq!(call(bearer(scoped.token().expose())).await, StatusCode::OK, "a hit");
    assert_eq!(
        call(bearer(unknown_token().token().expose())).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(None).await, StatusCode::UNAUTHORIZED);
    let mut bad = token.token().expose().to_owned();
    bad.pop();
    bad.push('!');
    assert_eq!(call(Some(format!("Bearer {bad}"))).await, StatusCode::BAD_REQUEST);

    let values = values(&snapshotter);
    assert_eq!(counter(&values, "tollgate_cache_hits_total"), 1);
    assert_eq!(counter(&values, "tollgate_cache_misses_total"), 3);
    assert_eq!(counter(&values, "tollgate_store_lookups_total{result=found}"), 2);
    assert_eq!(counter(&values, "tollgate_store_lookups_total{result=not_found}"), 1);
    assert_eq!(
        counter(&values, "tollgate_rejections_total{reason=insufficient_scope}"),
        1
    );
    assert_eq!(counter(&values, "tollgate_rejections_total{reason=unknown}"), 1);
    assert_eq!(
        counter(&values, "tollgate_rejections_total{reason=missing_credentials}"),
        1
    );
    assert_eq!(counter(&values, "tollgate_rejections_total{reason=invalid_request}"), 1);
    assert_eq!(counter(&values, "tollgate_rejections_total{reason=expired}"), 0);
    match &values["tollgate_store_lookup_seconds"] {
        DebugValue::Histogram(samples) => assert_eq!(samples.len(), 3),
        other => panic!("{other:?}"),
    }
    match &values["tollgate_cache_entries"] {
        DebugValue::Gauge(n) => assert_eq!(n.into_inner(), 2.0),
        other => panic!("{other:?}"),
    }
}

// The scope layer refuses through its auth layer's one door: its 403s and 401s are counted
// with that layer's counters, and carry their `Rejection` (the token's id on a 403).
#[tokio::test]
async fn a_scope_layers_refusals_are_counted_and_carry_their_rejection() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = memory();
    let (token, _) = issue(&*store, "no reports", |r| r.with_scopes(["other"])).await;
    let router = metrics::with_local_recorder(&recorder, || {
        let verifier = Verifier::builder(store.clone()).build();
        let auth = AuthLayer::builder(verifier).allow_anonymous(true).build().same_body();
        Router::new()
            .route(
                "/reports",
                get(|| async { "reports" }).layer(auth.scope_layer(["reports:read"])),
            )
            .layer(auth)
    });
    let call = |auth: Option<String>| {
        let router = router.clone();
        async move {
            let mut req = Request::get("/reports");
            if let Some(auth) = auth {
                req = req.header(AUTHORIZATION, auth);
            }
            router.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
        }
    };

    let forbidden = call(Some(format!("Bearer {}", token.token().expose()))).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let rejection = forbidden
        .extensions()
        .get::<Rejection>()
        .expect("the 403 carries its rejection");
    assert_eq!(rejection.kind(), &RejectionKind::InsufficientScope);
    assert_eq!(rejection.token_id(), Some(token.id()));

    let anonymous = call(None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let rejection = anonymous
        .extensions()
        .get::<Rejection>()
        .expect("the 401 carries its rejection");
    assert_eq!(rejection.kind(), &RejectionKind::MissingCredentials);

    let values = values(&snapshotter);
    assert_eq!(
        counter(&values, "tollgate_rejections_total{reason=insufficient_scope}"),
        1
    );
    assert_eq!(
        counter(&values, "tollgate_rejections_total{reason=missing_credentials}"),
        1
    );
}

// README "Watch it": a refusal by a rate limit is counted under `rate_limited`; with the
// limits in a Redis that cannot be reached, each limited request decided in the process is
// counted in `tollgate_rate_limit_fallbacks_total`.
#[cfg(feature = "redis")]
#[tokio::test]
async fn rate_limit_refusals_and_fallbacks_are_counted() {
    use std::time::Duration;
    use tollgate::{RateLimit, RateLimits};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = memory();
    let limit = RateLimit::new(1, Duration::from_secs(3_600)).unwrap();
    let (token, _) = issue(&*store, "one an hour", |r| r.with_rate_limit(Some(limit))).await;
    // Nothing listens there: every limited request is decided in the process.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let router = metrics::with_local_recorder(&recorder, || {
        let limits = RateLimits::redis_builder(format!("redis://{closed}"))
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let verifier = Verifier::builder(store.clone()).rate_limits(limits).build();
        Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(AuthLayer::new(verifier).same_body())
    });
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let req = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {}", token.token().expose()))
            .body(Body::empty())
            .unwrap();
        statuses.push(router.clone().oneshot(req).await.unwrap().status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let values = values(&snapshotter);
    assert_eq!(counter(&values, "tollgate_rejections_total{reason=rate_limited}"), 2);
    assert_eq!(counter(&values, "tollgate_rate_limit_fallbacks_total"), 3);
}
