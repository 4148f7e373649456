//! Rate-limit state at scale: 1,000,000 tokens cached, 10,000 of them under a limit and
//! active. How much memory an active limit costs, that the state follows the active limits
//! only, and that it is forgotten once their buckets are full again. Run in a child
//! process of its own (`TOLLGATE_SCALE_LIMITS_CHILD`), so that no memory freed by the rest of
//! the bench is reused unseen.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use tollgate::store::TokenStore;
use tollgate::{AuthLayer, MemoryStore, RateLimit, TokenRecord, Verifier};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::rss;
use crate::support::{bearer, token};

const CACHED: u64 = 1_000_000;
const LIMITED: u64 = 10_000;

/// Runs the measurement in a child process and returns its markdown.
pub(crate) fn limits() -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("TOLLGATE_SCALE_LIMITS_CHILD", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The child's side of [`limits`]: prints the table.
pub(crate) fn limits_child() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every 100th token is limited: 10 a second, so that one request's slot is back 0.1 s
    // later.
    let limit = RateLimit::new(10, Duration::from_secs(1)).unwrap();
    let store = Arc::new(MemoryStore::new());
    rt.block_on(async {
        for i in 0..CACHED {
            let (id, _, hash) = token(i);
            let record = TokenRecord::new(id, format!("t{i}"), hash);
            let record = if i % (CACHED / LIMITED) == 0 {
                record.with_rate_limit(Some(limit))
            } else {
                record
            };
            store.create(record).await.unwrap();
        }
    });
    let verifier = Verifier::builder(Arc::clone(&store))
        .cache_capacity(CACHED + 1_000)
        .cache_ttl(Duration::from_secs(3_600))
        .build();
    let inner =
        service_fn(|_: Request<Full<Bytes>>| async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) });
    let service = AuthLayer::new(verifier.clone()).layer(inner);
    let call = |i: u64| {
        let mut service = service.clone();
        async move {
            let mut req = Request::new(Full::default());
            req.headers_mut().insert(AUTHORIZATION, bearer(i));
            service.ready().await.unwrap().call(req).await.unwrap().status()
        }
    };
    // Every token cached, through the layer; the limited ones' first request is counted.
    rt.block_on(async {
        for i in 0..CACHED {
            assert_eq!(call(i).await, 200);
        }
    });
    verifier.run_pending_tasks();
    let cached = verifier.cached_count();
    let after_fill = verifier.rate_limit_states();
    // Full again 0.1 s after each one's request; forgotten by the sweep that the next
    // limited request runs (at most once a second). Measured from there: the cache's memory
    // is all in place, and what the next requests add is the limits' state.
    std::thread::sleep(Duration::from_millis(1_200));
    rt.block_on(call(0));
    let forgotten = verifier.rate_limit_states();
    let limited: Vec<u64> = (0..CACHED).step_by((CACHED / LIMITED) as usize).skip(1).collect();
    let before = rss();
    rt.block_on(async {
        for &i in &limited {
            assert_eq!(call(i).await, 200);
        }
    });
    let after = rss();
    let active = verifier.rate_limit_states();
    let per_limit = after.saturating_sub(before) as f64 / limited.len() as f64;
    // Unlimited tokens keep nothing.
    rt.block_on(async {
        for i in (1..CACHED).step_by(997).filter(|i| i % (CACHED / LIMITED) != 0) {
            assert_eq!(call(i).await, 200);
        }
    });
    let after_unlimited = verifier.rate_limit_states();
    std::thread::sleep(Duration::from_millis(1_200));
    let started = Instant::now();
    rt.block_on(call(0));
    let swept_in = started.elapsed();
    let left = verifier.rate_limit_states();

    println!("## Rate-limit state\n");
    println!(
        "| tokens cached | limited | states after the first pass | once full again | active again | after 1,000 unlimited requests | RSS per active limit | once full again | the request that swept |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {cached} | {} | {after_fill} | {forgotten} | {active} | {after_unlimited} | {per_limit:.0} B | {left} | {:.2} ms |",
        limited.len() + 1,
        swept_in.as_secs_f64() * 1e3
    );
}
