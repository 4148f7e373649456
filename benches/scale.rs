//! Scale and floods: does verification stay flat as the token count grows, and what does a
//! flood of bad credentials cost?
//!
//! Run with `cargo bench --bench scale` (about four minutes here; `TOLLGATE_SCALE_SIZES=10000,100000`
//! for a shorter run). It prints markdown tables and writes `target/scale/hit-latency.svg`.
//!
//! - **Scale**: `MemoryStore` and `SqliteStore` holding 10,000 / 100,000 / 1,000,000 tokens.
//!   Resident memory per stored token: RSS growth while filling the store, divided by the
//!   count, in a fresh child process (so that no memory freed earlier is reused unseen); for
//!   SQLite, whose pages live in its bounded page cache and the file, also the database
//!   file's size. Cache-miss time: the first verification of a
//!   token (10 batches of 1,000). Cache-hit time: 10,000 hot tokens in rotation, header parse
//!   included, as the layer does it (30 batches of 10,000); and, store-independent, every
//!   token of the store hot in a cache sized for all of them.
//! - **Floods** against a verifier with the default negative cache (10,000 entries): 1,000,000
//!   checksum-invalid tokens; 1,000,000 distinct checksum-valid unknown tokens; 1,000,000
//!   requests over 5,000 unknown tokens; and the distinct flood again through the layer with
//!   damping, from one client. Store calls are counted by a wrapper around the store.
#![allow(missing_docs)]

mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::FutureExt as _;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Request, Response};
use support::{fill, median};
use tollgate::{
    AuthLayer, ChangeStream, CredentialParser, Damping, MemoryStore, SecretHash, SqliteStore, StoreError, TokenRecord,
    TokenSource, Verifier,
};
use tower::{Layer, ServiceExt, service_fn};

fn bearer(i: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, support::bearer(i));
    headers
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// Counts the lookups that reach the store.
struct Counting<S> {
    inner: S,
    calls: AtomicU64,
}

#[async_trait]
impl<S: TokenSource> TokenSource for Counting<S> {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.get(id).await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.find_by_hash(hash).await
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.inner.changes()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Memory,
    Sqlite,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Memory => "MemoryStore",
            Kind::Sqlite => "SqliteStore",
        }
    }
}

struct Row {
    kind: Kind,
    tokens: u64,
    fill_secs: f64,
    rss_per_token: f64,
    file_per_token: Option<f64>,
    miss_ns: f64,
    hit_ns: f64,
}

const HOT: u64 = 10_000;

/// An empty store of `kind` (SQLite at `path`).
fn open(rt: &tokio::runtime::Handle, kind: Kind, path: &std::path::Path) -> Arc<dyn tollgate::TokenStore> {
    match kind {
        Kind::Memory => Arc::new(MemoryStore::new()),
        Kind::Sqlite => Arc::new(rt.block_on(SqliteStore::open(path)).unwrap()),
    }
}

/// Resident memory per token of a store of `kind` holding `n` tokens, measured by a child
/// process (this bench, run again) that only fills the store.
fn memory_per_token(kind: Kind, n: u64) -> f64 {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("TOLLGATE_SCALE_MEMORY_CHILD", n.to_string())
        .env("TOLLGATE_SCALE_MEMORY_KIND", kind.name())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

/// The child's side of [`memory_per_token`]: prints bytes per token.
fn memory_child(n: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = std::env::var("TOLLGATE_SCALE_MEMORY_KIND").is_ok_and(|k| k == Kind::Sqlite.name());
    let kind = if sqlite { Kind::Sqlite } else { Kind::Memory };
    let before = rss();
    let store = open(rt.handle(), kind, &dir.path().join("scale.db"));
    rt.block_on(fill(&*store, n));
    let after = rss();
    println!("{:.1}", after.saturating_sub(before) as f64 / n as f64);
}

/// Median ns per verification (header parse included) over `batches` batches of `batch`.
fn hits(verifier: &Verifier, headers: &[HeaderMap], batches: usize) -> f64 {
    let parser = CredentialParser::default().token_format(verifier.format().clone());
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        for h in headers {
            let credential = parser.parse(h).unwrap().unwrap();
            // A hit decides without waiting: the future is ready on its first poll.
            let principal = verifier.verify(&credential).now_or_never().unwrap().unwrap();
            std::hint::black_box(principal);
        }
        samples.push(started.elapsed().as_nanos() as f64 / headers.len() as f64);
    }
    median(samples)
}

/// Median ns per first verification, over batches of 1,000 tokens from `from`.
async fn misses(verifier: &Verifier, from: impl Iterator<Item = u64>, batches: usize) -> f64 {
    let parser = CredentialParser::default().token_format(verifier.format().clone());
    let ids: Vec<u64> = from.take(batches * 1_000).collect();
    let mut samples = Vec::new();
    for chunk in ids.chunks(1_000) {
        let headers: Vec<HeaderMap> = chunk.iter().map(|&i| bearer(i)).collect();
        let started = Instant::now();
        for h in &headers {
            let credential = parser.parse(h).unwrap().unwrap();
            verifier.verify(&credential).await.unwrap();
        }
        samples.push(started.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    median(samples)
}

fn measure(rt: &tokio::runtime::Runtime, kind: Kind, n: u64) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scale.db");
    let started = Instant::now();
    let store = open(rt.handle(), kind, &path);
    rt.block_on(fill(&*store, n));
    let fill_secs = started.elapsed().as_secs_f64();
    // In a fresh process: memory this one freed earlier would be reused unseen.
    let rss_per_token = memory_per_token(kind, n);
    let file_per_token = (kind == Kind::Sqlite).then(|| {
        let bytes: u64 = ["scale.db", "scale.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum();
        bytes as f64 / n as f64
    });

    let source = Arc::new(Counting {
        inner: store,
        calls: AtomicU64::new(0),
    });
    let verifier = Verifier::builder_shared(source.clone())
        .cache_ttl(Duration::from_secs(3600))
        .build();
    // Misses: tokens spread over the whole store, each verified for the first time.
    let stride = (n / 10_000).max(1);
    let miss_ns = rt.block_on(misses(&verifier, (0..n).step_by(stride as usize).skip(1), 10));
    // Hits: a hot set of 10,000 tokens spread over the store, warmed, in shuffled order.
    let hot: Vec<u64> = (0..HOT).map(|k| (k * (n / HOT)) % n).collect();
    let mut headers: Vec<HeaderMap> = hot.iter().map(|&i| bearer(i)).collect();
    rt.block_on(async {
        let parser = CredentialParser::default().token_format(verifier.format().clone());
        for h in &headers {
            verifier.verify(&parser.parse(h).unwrap().unwrap()).await.unwrap();
        }
    });
    shuffle(&mut headers);
    let calls = source.calls.load(Ordering::Relaxed);
    // A first pass, not counted, so that no row pays for warming this process up.
    hits(&verifier, &headers, 3);
    let hit_ns = hits(&verifier, &headers, 30);
    assert_eq!(
        source.calls.load(Ordering::Relaxed),
        calls,
        "hits never reach the store"
    );
    Row {
        kind,
        tokens: n,
        fill_secs,
        rss_per_token,
        file_per_token,
        miss_ns,
        hit_ns,
    }
}

/// Every token of the store hot: a cache sized for all of them, warmed, hits in shuffled
/// order over the whole set. The store plays no part once warm.
fn all_hot(rt: &tokio::runtime::Runtime, n: u64) -> f64 {
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, n));
    let verifier = Verifier::builder(store)
        .cache_capacity(n + n / 10)
        .cache_ttl(Duration::from_secs(3600))
        .build();
    let mut headers: Vec<HeaderMap> = (0..n).map(bearer).collect();
    rt.block_on(async {
        let parser = CredentialParser::default().token_format(verifier.format().clone());
        for h in &headers {
            verifier.verify(&parser.parse(h).unwrap().unwrap()).await.unwrap();
        }
    });
    verifier.run_pending_tasks();
    shuffle(&mut headers);
    let batches = (3_000_000 / n).clamp(3, 30) as usize;
    hits(&verifier, &headers, batches)
}

fn shuffle<T>(items: &mut [T]) {
    // A fixed xorshift: the same order every run.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

fn floods(rt: &tokio::runtime::Runtime) -> String {
    const FLOOD: u64 = 1_000_000;
    let mut out = String::new();
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, 100_000));
    let source = Arc::new(Counting {
        inner: store,
        calls: AtomicU64::new(0),
    });
    let verifier = Verifier::builder_shared(source.clone()).build();
    let parser = CredentialParser::default().token_format(verifier.format().clone());
    // Unknown: ids past the store's.
    let unknown = |k: u64| bearer(10_000_000 + k);
    writeln!(
        out,
        "| flood (1,000,000 requests) | store calls | negative cache entries | RSS growth | time |"
    )
    .unwrap();
    writeln!(out, "| --- | ---: | ---: | ---: | ---: |").unwrap();

    let mut run = |name: &str, make: &dyn Fn(u64) -> HeaderMap| {
        let (calls, before, started) = (source.calls.load(Ordering::Relaxed), rss(), Instant::now());
        rt.block_on(async {
            for k in 0..FLOOD {
                let h = make(k);
                let result = match parser.parse(&h) {
                    Ok(Some(credential)) => verifier.verify(&credential).await,
                    other => panic!("{other:?}"),
                };
                assert!(result.is_err());
            }
        });
        verifier.run_pending_tasks();
        writeln!(
            out,
            "| {name} | {} | {} | {:.1} MiB | {:.1} s |",
            source.calls.load(Ordering::Relaxed) - calls,
            verifier.negative_cached_count(),
            rss().saturating_sub(before) as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        )
        .unwrap();
    };
    run("checksum-invalid, all distinct", &|k| {
        let mut h = unknown(k);
        let value = h[AUTHORIZATION].to_str().unwrap().to_owned();
        let last = if value.ends_with('0') { "1" } else { "0" };
        let bad = format!("{}{last}", &value[..value.len() - 1]);
        h.insert(AUTHORIZATION, HeaderValue::from_str(&bad).unwrap());
        h
    });
    run("checksum-valid unknown, all distinct", &|k| unknown(FLOOD + k));
    run("checksum-valid unknown, 5,000 distinct", &|k| {
        unknown(3 * FLOOD + k % 5_000)
    });

    // The distinct flood through the layer, from one client, with damping.
    let damping = Damping::builder().max_failures(20).build();
    let service = AuthLayer::builder(verifier.clone())
        .damping(damping)
        .build()
        .layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        }));
    let peer: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let (calls, started) = (source.calls.load(Ordering::Relaxed), Instant::now());
    let statuses = rt.block_on(async {
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        for k in 0..FLOOD {
            let mut req = Request::new(());
            *req.headers_mut() = unknown(5 * FLOOD + k);
            req.extensions_mut().insert(peer);
            let response = service.clone().oneshot(req).await.unwrap();
            *statuses.entry(response.status().as_u16()).or_default() += 1;
        }
        statuses
    });
    writeln!(
        out,
        "| checksum-valid unknown, all distinct, one client, layer with damping (statuses {statuses:?}) | {} | — | — | {:.1} s |",
        source.calls.load(Ordering::Relaxed) - calls,
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    out
}

/// A line of the plot: its name, its colour, and (token count, ns) points.
type Series<'a> = (&'a str, &'a str, Vec<(u64, f64)>);

/// Hit latency against token count, one line per series, as an SVG.
fn plot(series: &[Series<'_>]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 30.0, 190.0);
    let max_ns = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.15;
    let (lo, hi) = (10_000f64.log10(), 1_000_000f64.log10());
    let x = |n: u64| left + ((n as f64).log10() - lo) / (hi - lo) * (w - left - right);
    let y = |ns: f64| h - bottom - ns / max_ns * (h - bottom - top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">tollgate: cache-hit time against token count</text>\n",
        (w - right + left) / 2.0
    );
    for n in [10_000u64, 100_000, 1_000_000] {
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{n}</text>",
            x(n),
            top,
            h - bottom,
            h - bottom + 18.0
        );
    }
    let step = if max_ns > 1000.0 { 200.0 } else { 100.0 };
    let mut tick = 0.0;
    while tick <= max_ns {
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#eee\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{tick}</text>",
            y(tick),
            w - right,
            left - 6.0,
            y(tick) + 4.0
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tokens in the store (log scale)</text>\
         <text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">ns per verification (median)</text>",
        (w - right + left) / 2.0,
        h - 10.0,
        (h - bottom + top) / 2.0
    );
    for (k, (name, color, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(n, ns)| format!("{:.1},{:.1}", x(n), y(ns)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for &(n, ns) in points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                x(n),
                y(ns)
            );
        }
        let ly = top + 10.0 + 20.0 * k as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{2}\" y=\"{3}\">{name}</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 35.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this too: skip then.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if let Some(n) = std::env::var("TOLLGATE_SCALE_MEMORY_CHILD")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return memory_child(n);
    }
    let sizes: Vec<u64> = std::env::var("TOLLGATE_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Floods first, in a process that has not freed memory yet, so that their RSS growth
    // is not hidden by reused allocations.
    let floods = floods(&rt);
    let mut rows = Vec::new();
    for kind in [Kind::Memory, Kind::Sqlite] {
        for &n in &sizes {
            let row = measure(&rt, kind, n);
            eprintln!("{} {}: done", kind.name(), n);
            rows.push(row);
        }
    }
    let all: Vec<(u64, f64)> = sizes.iter().map(|&n| (n, all_hot(&rt, n))).collect();

    println!("## Scale\n");
    println!(
        "| store | tokens | fill time | RSS per stored token | file per token | miss (median) | hit, 10,000 hot (median) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} s | {:.0} B | {} | {:.0} ns | {:.0} ns |",
            r.kind.name(),
            r.tokens,
            r.fill_secs,
            r.rss_per_token,
            r.file_per_token.map_or("—".to_owned(), |b| format!("{b:.0} B")),
            r.miss_ns,
            r.hit_ns
        );
    }
    println!("\n| every token hot (cache sized for all) | tokens | hit (median) |");
    println!("| --- | ---: | ---: |");
    for (n, ns) in &all {
        println!("| any store | {n} | {ns:.0} ns |");
    }
    for kind in [Kind::Memory, Kind::Sqlite] {
        let of = |n: u64| rows.iter().find(|r| r.kind == kind && r.tokens == n).map(|r| r.hit_ns);
        if let (Some(small), Some(large)) = (of(10_000), of(1_000_000)) {
            println!("\nratio {} hit 1M/10k: {:.3}", kind.name(), large / small);
        }
    }
    if let (Some(small), Some(large)) = (
        all.iter().find(|p| p.0 == 10_000),
        all.iter().find(|p| p.0 == 1_000_000),
    ) {
        println!("ratio every-token-hot hit 1M/10k: {:.3}", large.1 / small.1);
    }

    let series = |kind: Kind| -> Vec<(u64, f64)> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .map(|r| (r.tokens, r.hit_ns))
            .collect()
    };
    let svg = plot(&[
        ("MemoryStore, 10k hot", "#1f77b4", series(Kind::Memory)),
        ("SqliteStore, 10k hot", "#ff7f0e", series(Kind::Sqlite)),
        ("every token hot", "#2ca02c", all),
    ]);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("hit-latency.svg"), svg).unwrap();
    println!("\nplot: target/scale/hit-latency.svg\n");

    println!("## Floods\n");
    println!("{floods}");
}
