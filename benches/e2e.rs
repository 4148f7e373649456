//! End to end: an axum "hello" served over HTTP/1.1 on 127.0.0.1 by one server worker
//! thread, driven by a hyper client (keep-alive, 32 connections) on another thread, in
//! interleaved rounds of
//!
//! - `no-auth`: the router alone;
//! - `tower-http`: tower-http's `ValidateRequestHeaderLayer::bearer`, one static token;
//! - `tollgate`: tollgate's layer with a warm cache: 10,000 distinct tokens in rotation,
//!   100,000 in the `MemoryStore`.
//!
//! Every request carries an `Authorization: Bearer` header of the same length. Each round
//! runs every variant for `TOLLGATE_E2E_SECS` seconds (default 2) in turn; after
//! `TOLLGATE_E2E_ROUNDS` rounds (default 9) it prints the median requests/s of each and,
//! last, `ratio tollgate/no-auth: X.XXX`.
//!
//! Run with `cargo bench --bench e2e`. On a machine with two cores or more the server
//! threads are pinned to the first core and the load generator to the second.
#![allow(missing_docs)]
#![allow(deprecated)] // tower-http's static bearer check is deprecated, and still the baseline.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use support::{bearer, fill, median};
use tollgate::{AuthLayer, MemoryStore, Verifier};
use tower_http::validate_request::ValidateRequestHeaderLayer;

const CONNECTIONS: usize = 32;
const STORE: u64 = 100_000;
const HOT: u64 = 10_000;

/// The header a connection sends with its `n`th request.
type Headers = Arc<dyn Fn(usize, u64) -> HeaderValue + Send + Sync>;

fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.len() >= 2 {
        core_affinity::set_for_current(cores[core]);
    }
}

/// Serves `app` on a new thread with a one-thread runtime pinned to core 0.
fn serve(app: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        pin(0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

async fn hello() -> &'static str {
    "Hello, World!"
}

/// Requests per second over `secs`, from `CONNECTIONS` keep-alive connections, each
/// sending the header `headers(connection, n)` with its `n`th request.
async fn drive(addr: SocketAddr, secs: f64, headers: Headers) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (stop, done, headers) = (stop.clone(), done.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = Request::get("/")
                    .header("host", "bench")
                    .header(AUTHORIZATION, headers(c, n))
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let response = sender.send_request(req).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap();
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Connections open and warm up before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (start_count, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    count as f64 / elapsed
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rounds: usize = env("TOLLGATE_E2E_ROUNDS", 9);
    let secs: f64 = env("TOLLGATE_E2E_SECS", 2.0);
    pin(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // The tokens: 100,000 in the store, the first 10,000 hot (spread by a stride).
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, STORE));
    let verifier = Verifier::builder(store).build();
    let hot: Arc<Vec<HeaderValue>> = Arc::new((0..HOT).map(|k| bearer(k * (STORE / HOT))).collect());
    let static_token = support::token(STORE + 1).1;
    let static_header = HeaderValue::from_str(&format!("Bearer {static_token}")).unwrap();

    let plain = Router::new().route("/", get(hello));
    let variants: Vec<(&str, SocketAddr, Headers)> = vec![
        ("no-auth", serve(plain.clone()), {
            let h = static_header.clone();
            Arc::new(move |_, _| h.clone())
        }),
        (
            "tower-http",
            serve(plain.clone().layer(ValidateRequestHeaderLayer::bearer(&static_token))),
            {
                let h = static_header.clone();
                Arc::new(move |_, _| h.clone())
            },
        ),
        ("tollgate", serve(plain.layer(AuthLayer::new(verifier.clone()))), {
            let hot = hot.clone();
            // Each connection walks the hot set from its own offset.
            Arc::new(move |c, n| hot[((c as u64 * 313 + n) % HOT) as usize].clone())
        }),
    ];
    // Warm tollgate's cache with the hot set, and every server's code paths.
    for (_, addr, headers) in &variants {
        rt.block_on(drive(*addr, 0.5, headers.clone()));
    }
    assert!(verifier.cached_count() >= HOT, "the hot set is cached");

    let mut results: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 1..=rounds {
        let mut line = format!("round {round}:");
        for (k, (name, addr, headers)) in variants.iter().enumerate() {
            let rps = rt.block_on(drive(*addr, secs, headers.clone()));
            results[k].push(rps);
            line.push_str(&format!(" {name} {rps:.0}/s"));
        }
        println!("{line}");
    }
    let medians: Vec<f64> = results.iter().map(|r| median(r.clone())).collect();
    println!();
    for ((name, _, _), m) in variants.iter().zip(&medians) {
        println!("median {name}: {m:.0} requests/s");
    }
    println!("ratio tower-http/no-auth: {:.3}", medians[1] / medians[0]);
    println!("ratio tollgate/no-auth: {:.3}", medians[2] / medians[0]);
}
