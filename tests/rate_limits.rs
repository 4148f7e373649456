//! Rate limits per token and per owner, counted in this process (CONTRACT §3b).

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use support::{issue, memory};
use tollgate::{
    AuthLayer, Damping, MemoryStore, OwnerSettings, RateLimit, RateLimitStatus, Rejection, RejectionKind, TokenManager,
    TokenPatch, Verifier,
};
use tower::{ServiceBuilder, ServiceExt as _, service_fn};

fn per(limit: u32, secs: u64) -> RateLimit {
    RateLimit::new(limit, Duration::from_secs(secs)).unwrap()
}

type Body = tollgate::body::AuthBody<Full<Bytes>>;
type Svc = tower::util::BoxCloneService<Request<Full<Bytes>>, Response<Body>, Infallible>;

/// An app behind `layer` that answers 200 with what the layer told it of the token's limit.
fn app(layer: AuthLayer) -> Svc {
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            let status = req.extensions().get::<RateLimitStatus>().copied();
            let body = match status.and_then(|s| s.token) {
                Some(token) => format!("remaining {}", token.remaining),
                None => "no token limit".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        }));
    tower::util::BoxCloneService::new(service)
}

/// A response, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    rejection: Option<Rejection>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn send(service: &Svc, token: &str) -> Answer {
    let req = Request::builder()
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    read(service.clone().oneshot(req)).await
}

async fn read(call: impl Future<Output = Result<Response<Body>, Infallible>>) -> Answer {
    let response = call.await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        rejection: parts.extensions.get::<Rejection>().cloned(),
        body: String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    }
}

/// How many of `n` requests pass.
async fn passed(service: &Svc, token: &str, n: usize) -> usize {
    let mut passed = 0;
    for _ in 0..n {
        if send(service, token).await.status == StatusCode::OK {
            passed += 1;
        }
    }
    passed
}

// CONTRACT §3b: a token at 10 per minute (burst 10) gets 30 requests at once: exactly 10
// pass; every answer's RateLimit field says what happened; the refusals are 429
// `rate_limited` with Retry-After, naming the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_requests_at_once_against_ten_a_minute_pass_exactly_ten() {
    let store = memory();
    let (token, _) = issue(&store.inner, "ten", |r| r.with_rate_limit(Some(per(10, 60)))).await;
    let service = app(AuthLayer::new(Verifier::builder(store.clone()).build()));
    let secret = token.token().expose().to_owned();
    // Cached first, so that the thirty race on the hit path.
    let first = send(&service, &secret).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, "remaining 9", "the handler is told where the limit stands");
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let (service, secret) = (service.clone(), secret.clone());
            let req = Request::builder()
                .header(AUTHORIZATION, format!("Bearer {secret}"))
                .body(Full::default())
                .unwrap();
            tokio::spawn(read(service.oneshot(req)))
        })
        .collect();
    let mut answers = vec![first];
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let (passed, refused): (Vec<&Answer>, Vec<&Answer>) = answers.iter().partition(|a| a.status == StatusCode::OK);
    assert_eq!((passed.len(), refused.len()), (10, 21));
    // The passed ones say 9, 8, … 0 remaining, each once; the last one says when the next comes.
    let mut fields: Vec<&str> = passed.iter().map(|a| a.header("ratelimit").unwrap()).collect();
    fields.sort_unstable();
    let expected: Vec<String> = (0..10)
        .map(|r| format!("\"token\";r={r};t={}", if r == 0 { 6 } else { 0 }))
        .collect();
    assert_eq!(fields, expected);
    for answer in &answers {
        assert_eq!(answer.header("ratelimit-policy"), Some("\"token\";q=10;w=60"));
    }
    for answer in &refused {
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = answer.header(RETRY_AFTER.as_str()).unwrap().parse().unwrap();
        assert!((1..=6).contains(&retry), "{retry}");
        assert_eq!(
            answer.header("ratelimit"),
            Some(format!("\"token\";r=0;t={retry}").as_str())
        );
        let rejection = answer.rejection.as_ref().unwrap();
        assert_eq!(
            rejection.kind(),
            &RejectionKind::RateLimited {
                retry_after_secs: retry
            }
        );
        assert_eq!(rejection.token_id(), Some(token.id()), "the caller proved the secret");
        assert_eq!(answer.json()["error"]["code"], "rate_limited");
    }
}

// CONTRACT §3b: a token with no limit, and no owner limit, gets no RateLimit fields and no
// status for its handler.
#[tokio::test]
async fn a_token_without_a_limit_gets_no_fields() {
    let store = memory();
    let (token, _) = issue(&store.inner, "free", |r| r.with_owner(Some("acme".into()))).await;
    let service = app(AuthLayer::new(Verifier::builder(store.clone()).build()));
    for _ in 0..3 {
        let answer = send(&service, token.token().expose()).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "no token limit");
        assert_eq!(answer.header("ratelimit"), None);
        assert_eq!(answer.header("ratelimit-policy"), None);
    }
}

// CONTRACT §3b: limit state outlives cache entries. A token at 1 per hour stays refused
// across a cache expiry, a rename, a rotation and a reset of the whole cache.
#[tokio::test]
async fn the_cache_never_hands_out_a_fresh_limit() {
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(Arc::clone(&store))
        .cache_ttl(Duration::from_millis(50))
        .build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    let issued = tokens
        .create(tollgate::NewToken::new("hourly").rate_limit(Some(per(1, 3_600))))
        .await
        .unwrap();
    let service = app(AuthLayer::new(verifier.clone()));
    let secret = issued.token().expose().to_owned();
    assert_eq!(send(&service, &secret).await.status, StatusCode::OK);
    let refused = send(&service, &secret).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").unwrap().parse::<u64>().unwrap() > 3_500);

    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        send(&service, &secret).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "after the TTL"
    );
    tokens
        .update(issued.id(), TokenPatch::new().name("renamed"))
        .await
        .unwrap();
    assert_eq!(
        send(&service, &secret).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "after a rename"
    );
    let rotated = tokens.rotate(issued.id(), time::Duration::ZERO).await.unwrap();
    let secret = rotated.token().expose().to_owned();
    assert_eq!(
        send(&service, &secret).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "after a rotation"
    );
    verifier.invalidate_all();
    assert_eq!(
        send(&service, &secret).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "after a reset"
    );
}

// CONTRACT §3b: an owner's limit is shared by all its tokens: two tokens of one owner at 10
// a minute for the owner pass 10 in all; a token limit and the owner's both apply.
#[tokio::test]
async fn an_owners_limit_is_shared_by_its_tokens() {
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(Arc::clone(&store)).build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    tokens
        .set_owner_settings("acme", OwnerSettings::new().with_rate_limit(Some(per(10, 60))))
        .await
        .unwrap();
    let a = tokens.create(tollgate::NewToken::new("a").owner("acme")).await.unwrap();
    let b = tokens.create(tollgate::NewToken::new("b").owner("acme")).await.unwrap();
    let other = tokens
        .create(tollgate::NewToken::new("c").owner("globex"))
        .await
        .unwrap();
    let service = app(AuthLayer::new(verifier));
    let mut passed_in_all = 0;
    for _ in 0..15 {
        for token in [&a, &b] {
            let answer = send(&service, token.token().expose()).await;
            if answer.status == StatusCode::OK {
                passed_in_all += 1;
                assert_eq!(answer.header("ratelimit-policy"), Some("\"owner\";q=10;w=60"));
            }
        }
    }
    assert_eq!(passed_in_all, 10);
    assert_eq!(
        passed(&service, other.token().expose(), 20).await,
        20,
        "another owner is not limited"
    );
}

// CONTRACT §3b: a request must pass both limits; one the owner refuses is not counted
// against the token.
#[tokio::test]
async fn a_request_passes_both_its_tokens_limit_and_its_owners() {
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(Arc::clone(&store)).build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    tokens
        .set_owner_settings("acme", OwnerSettings::new().with_rate_limit(Some(per(3, 60))))
        .await
        .unwrap();
    let small = tokens
        .create(
            tollgate::NewToken::new("small")
                .owner("acme")
                .rate_limit(Some(per(2, 60))),
        )
        .await
        .unwrap();
    let big = tokens
        .create(
            tollgate::NewToken::new("big")
                .owner("acme")
                .rate_limit(Some(per(100, 60))),
        )
        .await
        .unwrap();
    let service = app(AuthLayer::new(verifier));
    assert_eq!(
        passed(&service, small.token().expose(), 5).await,
        2,
        "the token's own limit"
    );
    let answer = send(&service, big.token().expose()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("ratelimit-policy"),
        Some("\"token\";q=100;w=60, \"owner\";q=3;w=60")
    );
    assert_eq!(
        answer.header("ratelimit"),
        Some("\"token\";r=99;t=0, \"owner\";r=0;t=20")
    );
    let refused = send(&service, big.token().expose()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.header("ratelimit"),
        Some("\"token\";r=99;t=0, \"owner\";r=0;t=20"),
        "the token's slot was given back"
    );
}

// CONTRACT §3b: checking a token counts nothing against its limit.
#[tokio::test]
async fn checking_a_token_counts_nothing() {
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(Arc::clone(&store)).build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    let issued = tokens
        .create(tollgate::NewToken::new("one").rate_limit(Some(per(1, 3_600))))
        .await
        .unwrap();
    let credential = tollgate::Credential::Bearer(issued.token().expose());
    for _ in 0..5 {
        assert!(tokens.check(&credential).await.unwrap().is_some());
    }
    let service = app(AuthLayer::new(verifier));
    assert_eq!(passed(&service, issued.token().expose(), 3).await, 1);
}

// CONTRACT §3b: the limit runs after the layer's own scopes and before the inner service:
// a route-level scope refusal further in still counts; a refusal by the layer's own scope
// requirement does not.
#[tokio::test]
async fn a_route_level_scope_refusal_still_counts_and_the_layers_own_does_not() {
    let store = memory();
    let (token, _) = issue(&store.inner, "two", |r| {
        r.with_rate_limit(Some(per(2, 60))).with_scopes(["read"])
    })
    .await;
    let layer = AuthLayer::new(Verifier::builder(store.clone()).build());
    let route = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(layer.scope_layer(["write"]))
        .service(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let req = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {}", token.token().expose()))
            .body(Full::default())
            .unwrap();
        statuses.push(route.clone().oneshot(req).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [403, 403, 429, 429], "the route's refusals were counted");

    let (token, _) = issue(&store.inner, "two more", |r| {
        r.with_rate_limit(Some(per(2, 60))).with_scopes(["read"])
    })
    .await;
    let strict = app(AuthLayer::builder(layer.verifier().clone())
        .require_scopes(["admin"])
        .build());
    for _ in 0..5 {
        assert_eq!(
            send(&strict, token.token().expose()).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let scoped = app(AuthLayer::new(layer.verifier().clone()));
    assert_eq!(
        passed(&scoped, token.token().expose(), 3).await,
        2,
        "five refusals by the layer's scopes took nothing"
    );
}

// CONTRACT §3b: damping counts failures, not refusals by a limit: a client refused 429 by a
// limit many times is not blocked.
#[tokio::test]
async fn refusals_by_a_limit_are_not_failures_for_damping() {
    let store = memory();
    let (limited, _) = issue(&store.inner, "one", |r| r.with_rate_limit(Some(per(1, 3_600)))).await;
    let (free, _) = issue(&store.inner, "free", |r| r).await;
    let layer = AuthLayer::builder(Verifier::builder(store.clone()).build())
        .damping(Damping::builder().max_failures(3).build())
        .build();
    let service = app(layer);
    assert_eq!(passed(&service, limited.token().expose(), 20).await, 1);
    let answer = send(&service, free.token().expose()).await;
    assert_eq!(answer.status, StatusCode::OK, "not blocked: {}", answer.body);
}

// The state of a limit is forgotten once its bucket is full again, so memory follows the
// limits in use.
#[tokio::test]
async fn limit_state_is_kept_only_while_a_bucket_is_not_full() {
    let store = memory();
    let mut secrets = Vec::new();
    for i in 0..200 {
        let (token, _) = issue(&store.inner, &format!("t{i}"), |r| r.with_rate_limit(Some(per(5, 1)))).await;
        secrets.push(token.token().expose().to_owned());
    }
    let (free, _) = issue(&store.inner, "free", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    let service = app(AuthLayer::new(verifier.clone()));
    assert_eq!(passed(&service, free.token().expose(), 10).await, 10);
    assert_eq!(verifier.rate_limit_states(), 0, "an unlimited token keeps nothing");
    for secret in &secrets {
        assert_eq!(send(&service, secret).await.status, StatusCode::OK);
    }
    assert_eq!(verifier.rate_limit_states(), 200);
    // A bucket of 5 per second, one taken, is full again 200 ms later; a sweep runs at most
    // once a second, on a limited request's path.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(send(&service, &secrets[0]).await.status, StatusCode::OK);
    assert_eq!(verifier.rate_limit_states(), 1, "only the one just used");
}

// CONTRACT §3b, in real time through a socket: an axum app, 30 requests at once over HTTP
// against 10 a minute pass exactly 10; once the Retry-After they were given has passed,
// exactly one more passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket_ten_pass_then_one_more_after_retry_after() {
    use axum::routing::get;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let store = memory();
    let (token, _) = issue(&store.inner, "ten", |r| r.with_rate_limit(Some(per(10, 60)))).await;
    let router = axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(AuthLayer::new(Verifier::builder(store.clone()).build()).same_body());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let get = |client: Client<_, Full<Bytes>>| {
        let auth = format!("Bearer {}", token.token().expose());
        async move {
            let req = Request::get(format!("http://{addr}/"))
                .header(AUTHORIZATION, auth)
                .body(Full::default())
                .unwrap();
            let response = client.request(req).await.unwrap();
            let retry = response
                .headers()
                .get(RETRY_AFTER)
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (response.status(), retry)
        }
    };
    let calls: Vec<_> = (0..30).map(|_| tokio::spawn(get(client.clone()))).collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let started = std::time::Instant::now();
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::OK).count(), 10);
    let longest = answers.iter().filter_map(|(_, retry)| *retry).max().unwrap();
    assert!((5..=6).contains(&longest), "{longest}");
    // Not yet: a second before the slot, still refused.
    assert_eq!(get(client.clone()).await.0, StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_secs(longest).saturating_sub(started.elapsed())).await;
    let after: Vec<StatusCode> = {
        let mut after = Vec::new();
        for _ in 0..3 {
            after.push(get(client.clone()).await.0);
        }
        after
    };
    assert_eq!(
        after,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "exactly one more once Retry-After has passed"
    );
}

// CONTRACT §1a and §3b: a gRPC request over its limit gets 8 RESOURCE_EXHAUSTED in one
// HEADERS frame, with the pushback and the RateLimit fields as metadata.
#[tokio::test]
async fn a_grpc_request_over_its_limit_is_resource_exhausted() {
    let store = memory();
    let (token, _) = issue(&store.inner, "one", |r| r.with_rate_limit(Some(per(1, 60)))).await;
    let service = app(AuthLayer::new(Verifier::builder(store.clone()).build()));
    let grpc = |token: &str| {
        Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .body(Full::default())
            .unwrap()
    };
    let passed = read(service.clone().oneshot(grpc(token.token().expose()))).await;
    assert_eq!(passed.status, StatusCode::OK);
    assert_eq!(passed.header("grpc-status"), None, "the inner service answered");
    assert_eq!(passed.header("ratelimit"), Some("\"token\";r=0;t=60"));
    let refused = read(service.oneshot(grpc(token.token().expose()))).await;
    assert_eq!(refused.status, StatusCode::OK, "gRPC answers in its own status");
    assert_eq!(refused.header("grpc-status"), Some("8"));
    assert_eq!(refused.header("grpc-message"), Some("rate limit exceeded, retry later"));
    assert_eq!(refused.header("grpc-retry-pushback-ms"), Some("60000"));
    assert_eq!(refused.header("ratelimit"), Some("\"token\";r=0;t=60"));
    assert_eq!(refused.body, "", "no body: one HEADERS frame");
}
