//! Scale and floods: does verification stay flat as the token count grows, and what does a
//! flood of bad credentials cost?
//!
//! Run with `cargo bench --bench scale` (about eight minutes here; `TOLLGATE_SCALE_SIZES=10000,100000`
//! for a shorter run, `TOLLGATE_SCALE_HOT_ONLY=1` for the every-token-hot rows alone,
//! `TOLLGATE_SCALE_LIMITS_ONLY=1` for the rate-limit table alone). It prints markdown tables
//! and writes `target/scale/hit-latency.svg`.
//!
//! - **Scale**: `MemoryStore` and `SqliteStore` holding 10,000 / 100,000 / 1,000,000 tokens.
//!   Resident memory per stored token: RSS growth while filling the store, divided by the
//!   count, in a fresh child process (so that no memory freed earlier is reused unseen); for
//!   SQLite, whose pages live in its bounded page cache and the file, also the database
//!   file's size. Cache-miss time: the first verification of a
//!   token (10 batches of 1,000). Cache-hit time: 10,000 hot tokens in rotation, header parse
//!   included, as the layer does it (30 rounds, each a pass over every row's 10,000 in
//!   turn, so that the machine's drift falls on all rows alike); and, store-independent, every
//!   token of the store hot in a cache sized for all of them, printed also in trips to
//!   memory: this machine's cost of a dependent load from a large working set, measured in
//!   the same run.
//! - **Floods** against a verifier with the default negative cache (10,000 entries): 1,000,000
//!   checksum-invalid tokens; 1,000,000 distinct checksum-valid unknown tokens; 1,000,000
//!   requests over 5,000 unknown tokens; and the distinct flood again through the layer with
//!   damping, from one client. Store calls are counted by a wrapper around the store.
//! - **Rate-limit state** (`limits.rs`): 1,000,000 tokens cached, 10,000 of them limited and
//!   active; resident memory per active limit, and the state kept before, during and after
//!   their use.
#![allow(missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod floods;
mod hits;
mod limits;
mod plot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::HeaderMap;
use support::{fill, median};
use tollgate::store::{ChangeStream, TokenSource};
use tollgate::{CredentialParser, MemoryStore, SecretHash, SqliteStore, StoreError, TokenRecord, Verifier};

use floods::floods;
use hits::{Chase, HotSet, Requests, bearer, hits, hot_set, interleaved, shuffle, warm_up};
use plot::plot;

/// Resident set size of this process, in bytes.
pub(crate) fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// Counts the lookups that reach the store.
pub(crate) struct Counting<S> {
    pub(crate) inner: S,
    pub(crate) calls: AtomicU64,
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

/// A row's store and warm verifier, kept until every row's hits are timed: the rows are
/// timed in turn, round after round, so that the machine's drift falls on all of them.
struct Warm {
    verifier: Verifier,
    requests: Requests,
    source: Arc<Counting<Arc<dyn tollgate::store::TokenStore>>>,
    /// Store calls once warm: hits must add none.
    calls: u64,
    _dir: tempfile::TempDir,
}

const HOT: u64 = 10_000;

/// An empty store of `kind` (SQLite at `path`).
fn open(rt: &tokio::runtime::Handle, kind: Kind, path: &std::path::Path) -> Arc<dyn tollgate::store::TokenStore> {
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

/// Median ns per first verification, over batches of 1,000 tokens from `from`.
async fn misses(verifier: &Verifier, from: impl Iterator<Item = u64>, batches: usize) -> f64 {
    let parser = CredentialParser::default();
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

/// A row's fill, memory and misses; its hits are timed later, by [`hits_in_turn`].
fn measure(rt: &tokio::runtime::Runtime, kind: Kind, n: u64) -> (Row, Warm) {
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
    let mut hot: Vec<u64> = (0..HOT).map(|k| (k * (n / HOT)) % n).collect();
    shuffle(&mut hot);
    let requests = Requests::new(&hot);
    rt.block_on(requests.warm(&verifier));
    let calls = source.calls.load(Ordering::Relaxed);
    let row = Row {
        kind,
        tokens: n,
        fill_secs,
        rss_per_token,
        file_per_token,
        miss_ns,
        hit_ns: f64::NAN,
    };
    let warm = Warm {
        verifier,
        requests,
        source,
        calls,
        _dir: dir,
    };
    (row, warm)
}

/// Times every row's hits in turn, a pass over its 10,000 hot tokens each, 30 times, and
/// sets each row's median. Timed one row after another, a row read up to twice
/// another with the same work (the machine's speed drifts over seconds), and a row at
/// 10,000 tokens could read more than one at 1,000,000, which a hit cannot.
fn hits_in_turn(rows: &mut [Row], warm: &[Warm]) {
    const ROUNDS: usize = 30;
    for w in warm {
        // Not counted, so that no row pays for warming this process up.
        warm_up(&w.verifier, &w.requests);
    }
    let mut samples = vec![Vec::with_capacity(ROUNDS); warm.len()];
    for _ in 0..ROUNDS {
        for (w, samples) in warm.iter().zip(&mut samples) {
            samples.push(hits(&w.verifier, &w.requests, 1));
        }
    }
    for ((row, w), samples) in rows.iter_mut().zip(warm).zip(samples) {
        row.hit_ns = median(samples);
        assert_eq!(
            w.source.calls.load(Ordering::Relaxed),
            w.calls,
            "hits never reach the store"
        );
    }
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
    if std::env::var_os("TOLLGATE_SCALE_LIMITS_CHILD").is_some() {
        return limits::limits_child();
    }
    // Only the rate-limit state table.
    if std::env::var("TOLLGATE_SCALE_LIMITS_ONLY").is_ok_and(|v| v == "1") {
        println!("{}", limits::limits());
        return;
    }
    let sizes: Vec<u64> = std::env::var("TOLLGATE_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Only the every-token-hot rows and the machine's cost of a trip to memory.
    let hot_only = std::env::var("TOLLGATE_SCALE_HOT_ONLY").is_ok_and(|v| v == "1");

    // Floods first, in a process that has not freed memory yet, so that their RSS growth
    // is not hidden by reused allocations.
    let floods = if hot_only { String::new() } else { floods(&rt) };
    let (mut rows, mut warm) = (Vec::new(), Vec::new());
    for kind in [Kind::Memory, Kind::Sqlite] {
        for &n in sizes.iter().filter(|_| !hot_only) {
            let (row, w) = measure(&rt, kind, n);
            eprintln!("{} {}: filled", kind.name(), n);
            rows.push(row);
            warm.push(w);
        }
    }
    hits_in_turn(&mut rows, &warm);
    drop(warm);
    let mut sets: Vec<HotSet> = sizes.iter().map(|&n| hot_set(&rt, n)).collect();
    let hot = interleaved(&mut sets, &mut Chase::new());

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
    let first = sizes.first().copied().unwrap_or(0);
    println!(
        "\n| every token hot (cache sized for all) | tokens | hit (median) | over {first} tokens, \
         paired | over {first} tokens, in trips to memory | hit, a HeaderMap per request (before) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (k, set) in sets.iter().enumerate() {
        println!(
            "| any store | {} | {:.0} ns | {:.3} | {:.2} | {:.0} ns |",
            set.tokens, hot.hit_ns[k], hot.ratio[k], hot.extra_trips[k], set.before_ns
        );
    }
    println!(
        "\none trip to memory (a dependent load, 256 MiB working set): {:.1} ns",
        hot.load_ns
    );
    for kind in [Kind::Memory, Kind::Sqlite] {
        let of = |n: u64| rows.iter().find(|r| r.kind == kind && r.tokens == n).map(|r| r.hit_ns);
        if let (Some(small), Some(large)) = (of(10_000), of(1_000_000)) {
            println!("\nratio {} hit 1M/10k: {:.3}", kind.name(), large / small);
        }
    }
    let at = |n: u64| sets.iter().position(|set| set.tokens == n);
    if let (Some(0), Some(large)) = (at(10_000), at(1_000_000)) {
        println!(
            "ratio every-token-hot hit 1M/10k (median of paired rounds): {:.3}",
            hot.ratio[large]
        );
        println!(
            "every-token-hot hit 1M over 10k, in trips to memory: {:.2}",
            hot.extra_trips[large]
        );
        println!(
            "ratio every-token-hot hit 1M/10k, a HeaderMap per request (before): {:.3}",
            sets[large].before_ns / sets[0].before_ns
        );
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
        (
            "every token hot",
            "#2ca02c",
            sets.iter()
                .map(|set| set.tokens)
                .zip(hot.hit_ns.iter().copied())
                .collect(),
        ),
    ]);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("hit-latency.svg"), svg).unwrap();
    println!("\nplot: target/scale/hit-latency.svg\n");

    if !hot_only {
        println!("## Floods\n");
        println!("{floods}");
        println!("{}", limits::limits());
    }
}
