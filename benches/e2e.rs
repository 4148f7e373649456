//! End to end: an axum "hello" served over HTTP/1.1 on 127.0.0.1 by one server worker
//! thread, driven by a hyper client (keep-alive, 32 connections) on another thread, in
//! interleaved rounds of
//!
//! - `no-auth`: the router alone;
//! - `tower-http`: tower-http's `ValidateRequestHeaderLayer::bearer`, one static token;
//! - `tollgate`: tollgate's layer with a warm cache: 10,000 distinct tokens in rotation,
//!   100,000 in the `MemoryStore`; mounted as the README shows for axum (`same_body`, so
//!   that responses keep axum's body type, as tower-http's do).
//!
//! Every request carries an `Authorization: Bearer` header of the same length, and every
//! variant's client walks 10,000 distinct header values (the same work for each). Each
//! variant has 32 connections, opened once. A round runs every variant for
//! `TOLLGATE_E2E_SECS` seconds (default 1), in an order that rotates from round to round;
//! after `TOLLGATE_E2E_ROUNDS` rounds (default 30) it prints each variant's median
//! requests/s, and the median over rounds of each round's own ratio to no-auth (variants
//! measured a second apart share the machine's state, so that ratio resists its drift):
//!
//! - `ratio per server core …`: requests per second of the server thread's CPU time (from
//!   `/proc`), what one server core can serve;
//! - `ratio tollgate/no-auth: X.XXX`, the last line: requests per second of wall-clock time.
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

/// The `Authorization` values a variant's client walks, request by request.
type Headers = Arc<Vec<HeaderValue>>;

fn pin(core: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.len() >= 2 {
        core_affinity::set_for_current(cores[core]);
    }
}

/// A server: its address, and the file where Linux counts its thread's CPU time.
struct Server {
    addr: SocketAddr,
    schedstat: Option<std::path::PathBuf>,
}

impl Server {
    /// Nanoseconds the server thread has run on a CPU (0 where /proc does not tell).
    fn cpu_ns(&self) -> u64 {
        self.schedstat
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// Finds this process's thread named `name` in /proc.
fn thread_schedstat(name: &str) -> Option<std::path::PathBuf> {
    for _ in 0..100 {
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() == name {
                // `/proc/self` names the reading thread's process: pin the pid.
                let pid = std::process::id();
                let tid = task.file_name();
                return Some(
                    std::path::Path::new("/proc")
                        .join(pid.to_string())
                        .join("task")
                        .join(tid)
                        .join("schedstat"),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Serves `app` on a new thread, named `name`, with a one-thread runtime pinned to core 0.
fn serve(name: &str, app: Router) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            pin(0);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        })
        .unwrap();
    Server {
        addr,
        schedstat: thread_schedstat(name),
    }
}

async fn hello() -> &'static str {
    "Hello, World!"
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// `CONNECTIONS` keep-alive connections to `addr`, kept for the whole run.
async fn connect(addr: SocketAddr) -> Vec<Sender> {
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        senders.push(sender);
    }
    senders
}

/// What one slice of load measured.
#[derive(Clone, Copy)]
struct Slice {
    /// Requests per second of wall-clock time.
    throughput: f64,
    /// Requests per second of the server thread's CPU time: what one server core can serve.
    capacity: f64,
}

/// Drives `server` for `secs`, one request at a time per connection, every connection
/// walking `headers` from its own offset.
async fn drive(server: &Server, senders: &mut Vec<Sender>, secs: f64, headers: &Headers) -> Slice {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (c, mut sender) in senders.drain(..).enumerate() {
        let (stop, done, headers) = (stop.clone(), done.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = (c as u64) * 313;
            while !stop.load(Ordering::Relaxed) {
                let req = Request::get("/")
                    .header("host", "bench")
                    .header(AUTHORIZATION, headers[(n % headers.len() as u64) as usize].clone())
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let response = sender.send_request(req).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap();
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            sender
        }));
    }
    // Every connection busy before the clock starts.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (start_count, started, start_cpu) = (done.load(Ordering::Relaxed), Instant::now(), server.cpu_ns());
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let (elapsed, cpu_ns) = (started.elapsed().as_secs_f64(), server.cpu_ns() - start_cpu);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        senders.push(task.await.unwrap());
    }
    Slice {
        throughput: count as f64 / elapsed,
        capacity: if cpu_ns == 0 {
            f64::NAN
        } else {
            count as f64 / (cpu_ns as f64 / 1e9)
        },
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rounds: usize = env("TOLLGATE_E2E_ROUNDS", 30);
    let secs: f64 = env("TOLLGATE_E2E_SECS", 1.0);
    pin(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // The tokens: 100,000 in the store, the first 10,000 hot (spread by a stride).
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, STORE));
    let verifier = Verifier::builder(store).build();
    let hot: Headers = Arc::new((0..HOT).map(|k| bearer(k * (STORE / HOT))).collect());
    let static_token = support::token(STORE + 1).1;
    let static_header = HeaderValue::from_str(&format!("Bearer {static_token}")).unwrap();

    // Every variant's client walks 10,000 distinct header values, so that the load generator
    // does the same work for each: tower-http's are copies of its one token.
    let copies: Headers = Arc::new(
        (0..HOT)
            .map(|_| HeaderValue::from_bytes(static_header.as_bytes()).unwrap())
            .collect(),
    );
    let plain = Router::new().route("/", get(hello));
    let variants: Vec<(&str, Server, Headers)> = vec![
        ("no-auth", serve("srv-no-auth", plain.clone()), hot.clone()),
        (
            "tower-http",
            serve(
                "srv-tower-http",
                plain.clone().layer(ValidateRequestHeaderLayer::bearer(&static_token)),
            ),
            copies,
        ),
        (
            "tollgate",
            serve(
                "srv-tollgate",
                plain.layer(AuthLayer::new(verifier.clone()).same_body()),
            ),
            hot,
        ),
    ];
    let mut connections: Vec<Vec<Sender>> = variants
        .iter()
        .map(|(_, server, _)| rt.block_on(connect(server.addr)))
        .collect();
    // Warm tollgate's cache with the hot set, and every server's code paths.
    for ((_, server, headers), senders) in variants.iter().zip(&mut connections) {
        rt.block_on(drive(server, senders, 1.0, headers));
    }
    assert!(verifier.cached_count() >= HOT, "the hot set is cached");

    let mut results: Vec<Vec<Slice>> = vec![Vec::new(); variants.len()];
    for round in 1..=rounds {
        // A B C, B C A, C A B, ...: no variant always runs first or after the same one.
        let mut slices = vec![None; variants.len()];
        for step in 0..variants.len() {
            let k = (round - 1 + step) % variants.len();
            let (_, server, headers) = &variants[k];
            slices[k] = Some(rt.block_on(drive(server, &mut connections[k], secs, headers)));
        }
        let mut line = format!("round {round:2}:");
        for (k, (name, _, _)) in variants.iter().enumerate() {
            let slice = slices[k].expect("every variant ran");
            results[k].push(slice);
            line.push_str(&format!(
                " {name} {:.0}/s ({:.0}/s per server core)",
                slice.throughput, slice.capacity
            ));
        }
        println!("{line}");
    }
    let of = |k: usize, pick: fn(&Slice) -> f64| -> Vec<f64> { results[k].iter().map(pick).collect() };
    let throughput: fn(&Slice) -> f64 = |s| s.throughput;
    let capacity: fn(&Slice) -> f64 = |s| s.capacity;
    // Each round's variants ran seconds apart; the ratio within a round is immune to the
    // machine's slower drift, so its median over rounds is the figure to compare.
    let paired = |k: usize, pick: fn(&Slice) -> f64| {
        median(of(k, pick).iter().zip(of(0, pick)).map(|(x, base)| x / base).collect())
    };
    println!();
    for (k, (name, _, _)) in variants.iter().enumerate() {
        println!(
            "median {name}: {:.0} requests/s, {:.0} requests/s per server core",
            median(of(k, throughput)),
            median(of(k, capacity))
        );
    }
    println!("ratio per server core tower-http/no-auth: {:.3}", paired(1, capacity));
    println!("ratio per server core tollgate/no-auth: {:.3}", paired(2, capacity));
    println!("ratio tower-http/no-auth: {:.3}", paired(1, throughput));
    println!("ratio tollgate/no-auth: {:.3}", paired(2, throughput));
}
