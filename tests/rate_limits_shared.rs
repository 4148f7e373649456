//! Rate limits shared by a fleet in Redis (CONTRACT §3b): one count for every replica,
//! whatever store holds the tokens, and what happens while Redis is away.
#![cfg(feature = "redis")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::backends::{REDIS_ENV, url};
use support::logs::Capture;
use support::proxy::Proxy;
use tollgate::{AuthLayer, MemoryStore, NewToken, RateLimit, RateLimits, TokenManager, Verifier, WhenUnavailable};
use tower::{ServiceBuilder, ServiceExt as _, service_fn};

fn per(limit: u32, secs: u64) -> RateLimit {
    RateLimit::new(limit, Duration::from_secs(secs)).unwrap()
}

type Svc =
    tower::util::BoxCloneService<Request<Full<Bytes>>, Response<tollgate::body::AuthBody<Full<Bytes>>>, Infallible>;

fn replica(verifier: Verifier) -> Svc {
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .layer(AuthLayer::new(verifier))
            .service(service_fn(|_: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            })),
    )
}

async fn status(service: &Svc, token: &str) -> (StatusCode, Option<String>) {
    owned_status(service.clone(), token.to_owned()).await
}

async fn owned_status(service: Svc, token: String) -> (StatusCode, Option<String>) {
    let req = Request::builder()
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let response = service.oneshot(req).await.unwrap();
    let field = response
        .headers()
        .get("ratelimit")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), field)
}

/// Limits in Redis at `url` under the test's own prefix.
fn shared(url: &str, prefix: &support::redis::Prefix, when: WhenUnavailable) -> RateLimits {
    RateLimits::redis_builder(url)
        .prefix(format!("{}rl:", prefix.name))
        .timeout(Duration::from_millis(200))
        .when_unavailable(when)
        .build()
        .unwrap()
}

// CONTRACT §3b: two replicas on one Redis count one limit: 200 requests split across both
// at once, against 20 an hour, pass exactly 20, not 40.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_count_one_limit_in_redis() {
    let Some(redis) = url(REDIS_ENV, "two_replicas_count_one_limit_in_redis") else {
        return;
    };
    let prefix = support::redis::Prefix::new(&redis);
    let store = Arc::new(MemoryStore::new());
    let a = Verifier::builder(Arc::clone(&store))
        .rate_limits(shared(&redis, &prefix, WhenUnavailable::Refuse))
        .build();
    let b = Verifier::builder(Arc::clone(&store))
        .rate_limits(shared(&redis, &prefix, WhenUnavailable::Refuse))
        .build();
    let tokens = TokenManager::new(Arc::clone(&store), a.clone());
    let issued = tokens
        .create(NewToken::new("shared").rate_limit(Some(per(20, 3_600))))
        .await
        .unwrap();
    let secret = issued.token().expose().to_owned();
    let replicas = [replica(a), replica(b)];
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let (service, secret) = (replicas[i % 2].clone(), secret.clone());
            tokio::spawn(owned_status(service, secret))
        })
        .collect();
    let mut passed = 0;
    let mut remaining = Vec::new();
    for call in calls {
        let (code, field) = call.await.unwrap();
        if code == StatusCode::OK {
            passed += 1;
            remaining.push(field.unwrap());
        } else {
            assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    assert_eq!(passed, 20);
    remaining.sort();
    remaining.dedup();
    assert_eq!(
        remaining.len(),
        20,
        "each passed request saw its own count: {remaining:?}"
    );
}

// CONTRACT §3b: with Redis gone (a proxy of the test's own, stopped), the layer keeps
// answering from local limits, warns once, and counts in Redis again once it is back. (On
// one thread: the log capture is the test thread's.)
#[tokio::test]
async fn while_redis_is_away_limits_are_local_and_then_shared_again() {
    let Some(redis) = url(REDIS_ENV, "while_redis_is_away_limits_are_local_and_then_shared_again") else {
        return;
    };
    let logs = Capture::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let prefix = support::redis::Prefix::new(&redis);
    let target: SocketAddr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let via_proxy = format!("redis://{}", proxy.addr);
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(Arc::clone(&store))
        .rate_limits(shared(&via_proxy, &prefix, WhenUnavailable::Local))
        .build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    let issued = tokens
        .create(NewToken::new("hourly").rate_limit(Some(per(3, 3_600))))
        .await
        .unwrap();
    let secret = issued.token().expose().to_owned();
    let service = replica(verifier);
    assert_eq!(status(&service, &secret).await.0, StatusCode::OK);
    let key = format!("{}rl:token:{}", prefix.name, issued.id());
    let mut raw = prefix.raw().await;
    let kept: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut raw).await.unwrap();
    assert!(kept.is_some(), "counted in Redis");

    proxy.stop();
    // Redis away: answered from the local count (a fresh one: 3 pass), never a 503.
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(status(&service, &secret).await.0.as_u16());
    }
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let warnings = logs.text().matches("rate limits: Redis unavailable").count();
    assert_eq!(warnings, 1, "one warning per outage:\n{}", logs.text());

    proxy.resume().await;
    // Back: after the retry delay, counted in Redis again, where 2 remain.
    let back = Instant::now();
    loop {
        let (code, field) = status(&service, &secret).await;
        if field.as_deref() == Some("\"token\";r=1;t=0") {
            assert_eq!(code, StatusCode::OK);
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "never shared again: {code} {field:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logs.text().contains("rate limits are shared again"), "{}", logs.text());
}

// CONTRACT §3b: an operator who prefers it gets 503 while Redis is away, never an
// unlimited request.
#[tokio::test]
async fn an_operator_may_refuse_while_redis_is_away() {
    let Some(redis) = url(REDIS_ENV, "an_operator_may_refuse_while_redis_is_away") else {
        return;
    };
    let prefix = support::redis::Prefix::new(&redis);
    let store = Arc::new(MemoryStore::new());
    // Nothing listens on this port.
    let closed = support::process::free_port();
    let verifier = Verifier::builder(Arc::clone(&store))
        .rate_limits(shared(&format!("redis://{closed}"), &prefix, WhenUnavailable::Refuse))
        .build();
    let tokens = TokenManager::new(Arc::clone(&store), verifier.clone());
    let limited = tokens
        .create(NewToken::new("limited").rate_limit(Some(per(3, 3_600))))
        .await
        .unwrap();
    let free = tokens.create(NewToken::new("free")).await.unwrap();
    let service = replica(verifier);
    assert_eq!(
        status(&service, limited.token().expose()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(&service, free.token().expose()).await.0,
        StatusCode::OK,
        "a token without a limit never asks Redis"
    );
}

// CONTRACT §3b and §4: two example servers on one PostgreSQL store, their limits in Redis
// (`--rate-limit-store`): one token at 50 an hour, 500 requests split across both at once,
// pass exactly 50 in all, not 100. `/me` shows where the limit stands.
#[cfg(all(unix, feature = "postgres", feature = "_sqlite", feature = "admin"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_example_servers_share_one_limit_through_redis() {
    use http::Method;
    use http_body_util::BodyExt as _;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use support::backends::POSTGRES_ENV;
    use support::process::{Server, server_binary, wait_for};

    let Some(pg) = url(POSTGRES_ENV, "two_example_servers_share_one_limit_through_redis") else {
        return;
    };
    let Some(redis) = url(REDIS_ENV, "two_example_servers_share_one_limit_through_redis") else {
        return;
    };
    let schema = support::pg::Schema::new(&pg);
    let prefix = support::redis::Prefix::new(&redis);
    let limits_prefix = format!("{}rl:", prefix.name);
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let bin = server_binary();
    let start = |extra: &[&str]| {
        // 500 requests from one address at once: damping (by default 20 failures, with the
        // lookups in flight counted as possible ones, per client) would answer the requests
        // that miss a cold cache together 429 `too_many_requests`. Damping is not what this
        // test is about.
        let mut args = vec![
            "--max-failures",
            "1000000",
            "--schema",
            &schema.name,
            "--rate-limit-store",
            &redis,
            "--rate-limit-prefix",
            &limits_prefix,
        ];
        args.extend_from_slice(extra);
        Server::spawn_on(&bin, &pg, &args, &[])
    };
    let a = start(&["--admin-token-out", admin_file.to_str().unwrap()]);
    wait_for(a.addr);
    let b = start(&[]);
    wait_for(b.addr);
    let admin = format!("Bearer {}", std::fs::read_to_string(&admin_file).unwrap().trim());

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let send = |addr: SocketAddr, method: Method, path: &str, auth: String, body: Option<serde_json::Value>| {
        let client = client.clone();
        let uri = format!("http://{addr}{path}");
        async move {
            let mut req = Request::builder().method(method).uri(uri).header(AUTHORIZATION, auth);
            if body.is_some() {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
            }
            let body = body.map_or_else(Full::default, |b| Full::new(Bytes::from(b.to_string())));
            let response = client.request(req.body(body).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            )
        }
    };
    let (status, created) = send(
        a.addr,
        Method::POST,
        "/admin/tokens",
        admin.clone(),
        Some(serde_json::json!({"name": "fifty", "rate_limit": {"limit": 50, "period": 3600}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = format!("Bearer {}", created["token"].as_str().unwrap());

    let calls: Vec<_> = (0..500)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            tokio::spawn(send(addr, Method::GET, "/me", token.clone(), None))
        })
        .collect();
    let mut passed = 0;
    for call in calls {
        let (status, body) = call.await.unwrap();
        match status {
            StatusCode::OK => {
                passed += 1;
                assert_eq!(body["rate_limits"]["token"]["limit"], 50, "{body}");
            }
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["error"]["code"], "rate_limited"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(passed, 50, "one count for both servers");
    let (status, _) = send(b.addr, Method::GET, "/me", token.clone(), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    a.stop();
    b.stop();
}
