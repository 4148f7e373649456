//! The shared stores: what a cache miss costs when the token lives in PostgreSQL (or Redis),
//! that a hit costs the same whatever the store, and how long a revocation made through one
//! replica takes to be refused by another.
//!
//! Run with `TOLLGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! TOLLGATE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench backends --features
//! postgres,redis`. Each backend works in a schema or under a key prefix of its own, removed
//! at the end. Without the URL or the feature, the backend is skipped (and it says so).
//!
//! - **Miss**: 2,000 tokens, each verified once from an empty cache (the entry dropped before
//!   every request): the time of the whole verification, store round trip included, as
//!   p50 / p99, beside the same against a `MemoryStore` in this process.
//! - **Hit**: 10,000 cached tokens in rotation, one verifier over the backend and one over a
//!   `MemoryStore` holding the same tokens, interleaved in 31 rounds: median ns per hit and
//!   the ratio of the two.
//! - **Revocation**: two replicas (two stores, each with its own pool, listener, verifier and
//!   invalidation task); 300 tokens cached on B are deleted through A one by one, and B
//!   is asked again and again until it refuses: p50 / p99 / max of the time from A's delete
//!   returning to B's first refusal.
//! - **Shared rate limit** (Redis): one request through an `AuthLayer` whose limits are in
//!   Redis (`RateLimits::redis`), for a cached token under a limit it never reaches (one
//!   Redis round trip) and for a cached token without one, interleaved, 2,000 each: p50 /
//!   p99.
//! - **Owner index** (Redis): 1,000 tokens of one owner, alone in a store and then among
//!   99,000 others (of 500 other owners, and of none): a listing of them all (`list` with the
//!   owner, pages of 250) and a `revoke_owner` of them all (made active again, untimed, before
//!   each), 21 of each: median and max.
#![allow(missing_docs)]
// Without a shared backend compiled in, only the MemoryStore row runs.
#![cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tollgate::store::TokenStore;
use tollgate::{CredentialParser, MemoryStore, Verifier, VerifyError};

const TOKENS: u64 = 10_000;
const MISSES: u64 = 2_000;
const ROUNDS: usize = 31;
const REVOCATIONS: u64 = 300;

fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// p50 and p99 of `MISSES` verifications, each of a token just dropped from the cache, in µs.
async fn misses(verifier: &Verifier) -> (f64, f64) {
    let parser = CredentialParser::default();
    let mut samples = Vec::with_capacity(MISSES as usize);
    for i in 0..MISSES {
        let header = support::bearer(i);
        let credential = parser.parse_value(&header).unwrap().unwrap();
        verifier.invalidate(&support::token(i).0);
        let started = Instant::now();
        verifier.verify(&credential).await.expect("a stored token");
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    (quantile(&mut samples, 0.5), quantile(&mut samples, 0.99))
}

/// Median ns per hit over the first `TOKENS` tokens, cached, for each verifier in turn,
/// interleaved round by round.
async fn hits(verifiers: &[&Verifier]) -> Vec<f64> {
    let parser = CredentialParser::default();
    let headers: Vec<_> = (0..TOKENS).map(support::bearer).collect();
    for verifier in verifiers {
        for header in &headers {
            let credential = parser.parse_value(header).unwrap().unwrap();
            verifier.verify(&credential).await.expect("warm");
        }
    }
    let mut rounds = vec![Vec::new(); verifiers.len()];
    for _ in 0..ROUNDS {
        for (verifier, samples) in verifiers.iter().zip(&mut rounds) {
            let started = Instant::now();
            for header in &headers {
                let credential = parser.parse_value(header).unwrap().unwrap();
                // A hit decides without waiting: the future is ready on its first poll.
                let principal = verifier.verify(&credential).now_or_never().unwrap().unwrap();
                std::hint::black_box(principal);
            }
            samples.push(started.elapsed().as_nanos() as f64 / TOKENS as f64);
        }
    }
    rounds.into_iter().map(support::median).collect()
}

/// Revocations through `a`, timed until `b_verifier` refuses: p50, p99, max in ms.
async fn revocations(a: Arc<dyn TokenStore>, b_verifier: &Verifier) -> (f64, f64, f64) {
    let parser = CredentialParser::default();
    let mut samples = Vec::new();
    for i in 0..REVOCATIONS {
        let header = support::bearer(i);
        let credential = parser.parse_value(&header).unwrap().unwrap();
        b_verifier.verify(&credential).await.expect("cached on B");
        a.delete(&support::token(i).0).await.unwrap();
        let deleted = Instant::now();
        loop {
            match b_verifier.verify(&credential).await {
                Ok(_) => tokio::time::sleep(Duration::from_micros(100)).await,
                Err(VerifyError::Invalid(_)) => break,
                Err(err) => panic!("{err}"),
            }
            assert!(deleted.elapsed() < Duration::from_secs(10), "never refused");
        }
        samples.push(deleted.elapsed().as_secs_f64() * 1000.0);
    }
    let max = samples.iter().copied().fold(0.0, f64::max);
    (quantile(&mut samples, 0.5), quantile(&mut samples, 0.99), max)
}

/// Prints one backend's rows, given a fresh store of it twice (replica A and B), already
/// filled with the tokens.
async fn report(name: &str, a: Arc<dyn TokenStore>, b: Arc<dyn TokenStore>, memory: &Verifier) {
    let verifier = Verifier::builder_shared(b.clone()).cache_capacity(2 * TOKENS).build();
    let (p50, p99) = misses(&verifier).await;
    println!("| miss, {name} | {p50:.1} µs | {p99:.1} µs |");
    let medians = hits(&[&verifier, memory]).await;
    println!(
        "| hit, {name} / MemoryStore | {:.1} ns / {:.1} ns | ratio {:.3} |",
        medians[0],
        medians[1],
        medians[0] / medians[1]
    );
    tokio::spawn(verifier.invalidation_task().expect("a change stream"));
    let (p50, p99, max) = revocations(a, &verifier).await;
    println!(
        "| revocation seen by the other replica, {name} ({REVOCATIONS}) | p50 {p50:.2} ms | p99 {p99:.2} ms, max {max:.2} ms |"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let memory_store = Arc::new(MemoryStore::new());
    support::fill(&*memory_store, TOKENS).await;
    let memory = Verifier::builder(memory_store).cache_capacity(2 * TOKENS).build();
    println!("| what | p50 (or median) | p99 (or ratio) |\n| --- | ---: | ---: |");
    let (p50, p99) = misses(&memory).await;
    println!("| miss, MemoryStore | {p50:.1} µs | {p99:.1} µs |");
    postgres(&memory).await;
    redis(&memory).await;
}

#[cfg(feature = "postgres")]
async fn postgres(memory: &Verifier) {
    let Ok(url) = std::env::var("TOLLGATE_TEST_POSTGRES_URL") else {
        println!("PostgreSQL: skipped (set TOLLGATE_TEST_POSTGRES_URL)");
        return;
    };
    let schema = format!("tgbench_{}", std::process::id());
    let open = || {
        tollgate::PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .open()
    };
    let a: Arc<dyn TokenStore> = Arc::new(open().await.expect("PostgreSQL"));
    let b: Arc<dyn TokenStore> = Arc::new(open().await.expect("PostgreSQL"));
    support::fill(&*a, TOKENS).await;
    report("PostgreSQL", a, b, memory).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: &Verifier) {
    println!("PostgreSQL: skipped (build with --features postgres)");
}

#[cfg(feature = "redis")]
async fn redis(memory: &Verifier) {
    let Ok(url) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        println!("Redis: skipped (set TOLLGATE_TEST_REDIS_URL)");
        return;
    };
    let prefix = format!("tgbench:{}:", std::process::id());
    let open = || tollgate::RedisStore::builder(url.clone()).prefix(prefix.clone()).open();
    let a: Arc<dyn TokenStore> = Arc::new(open().await.expect("Redis"));
    let b: Arc<dyn TokenStore> = Arc::new(open().await.expect("Redis"));
    support::fill(&*a, TOKENS).await;
    report("Redis", a, b, memory).await;
    shared_limit(&url, &prefix).await;
    owner_index(&url, &format!("{prefix}owners:")).await;
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for chunk in keys.chunks(1000) {
        redis::cmd("DEL").arg(chunk).exec_async(&mut conn).await.unwrap();
    }
}

/// An owner's tokens listed and revoked, alone in the store and among many others.
#[cfg(feature = "redis")]
async fn owner_index(url: &str, prefix: &str) {
    use futures_util::StreamExt as _;
    use tollgate::{ListQuery, SecretHasher, TokenPatch, TokenRecord, TokenStatus};

    const OWNED: usize = 1_000;
    const LARGE: usize = 100_000;
    const RUNS: usize = 21;
    let store = tollgate::RedisStore::builder(url)
        .prefix(prefix)
        .open()
        .await
        .expect("Redis");
    let owner = "customer_1729";
    let record = |i: usize, owner: Option<String>| {
        let hash = SecretHasher::Sha256.hash(format!("secret {i}").as_bytes());
        TokenRecord::new(format!("tok{i:06}"), format!("token {i}"), hash).with_owner(owner)
    };
    let create_all = async |records: Vec<TokenRecord>| {
        futures_util::stream::iter(records)
            .map(|record| store.create(record))
            .buffer_unordered(256)
            .for_each(|created| async move { created.expect("create") })
            .await;
    };
    let owned = |i: &usize| i % (LARGE / OWNED) == 0;
    let ids: Vec<String> = (0..LARGE).filter(owned).map(|i| record(i, None).id).collect();
    let active = TokenPatch::new().status(TokenStatus::Active);
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1000.0;
    let mut rows = Vec::new();
    create_all(
        (0..LARGE)
            .filter(owned)
            .map(|i| record(i, Some(owner.to_owned())))
            .collect(),
    )
    .await;
    for size in [OWNED, LARGE] {
        if size == LARGE {
            let others = (0..LARGE).filter(|i| !owned(i)).map(|i| {
                let other = (i % 7 != 0).then(|| format!("other_{}", i % 500));
                record(i, other)
            });
            create_all(others.collect()).await;
        }
        let (mut listing, mut revoking) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let started = Instant::now();
            let mut listed = 0;
            let mut query = ListQuery::new(250).owner(owner);
            loop {
                let page = store.list(&query).await.expect("list");
                listed += page.records.len();
                match page.next_after {
                    Some(after) => query = query.after(after),
                    None => break,
                }
            }
            listing.push(ms(started));
            assert_eq!(listed, OWNED);

            futures_util::stream::iter(&ids)
                .map(|id| store.update(id, &active))
                .buffer_unordered(256)
                .for_each(|updated| async move { assert!(updated.expect("update").is_some()) })
                .await;
            let started = Instant::now();
            let revoked = store.revoke_owner(owner).await.expect("revoke_owner");
            revoking.push(ms(started));
            assert_eq!(revoked.len(), OWNED);
        }
        let max = |samples: &[f64]| samples.iter().copied().fold(0.0, f64::max);
        rows.push((size, "list", quantile(&mut listing, 0.5), max(&listing)));
        rows.push((size, "revoke_owner", quantile(&mut revoking, 0.5), max(&revoking)));
    }
    // By `SCAN`, a batch at a time: too many keys for one answer within the response timeout.
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("DEL").arg(keys).exec_async(&mut conn).await.unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for (size, what, median, max) in rows {
        println!(
            "| {what} of an owner's {OWNED} tokens, Redis, store of {size} ({RUNS}) | {median:.2} ms | max {max:.2} ms |"
        );
    }
}

/// A hit through a layer whose limits are in Redis, against one without a limit.
#[cfg(feature = "redis")]
async fn shared_limit(url: &str, prefix: &str) {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    let store = Arc::new(MemoryStore::new());
    let limits = tollgate::RateLimits::redis_builder(url)
        .prefix(format!("{prefix}rl:"))
        .build()
        .unwrap();
    let verifier = Verifier::builder(Arc::clone(&store)).rate_limits(limits).build();
    let tokens = tollgate::TokenManager::new(Arc::clone(&store), verifier.clone());
    let never_reached = tollgate::RateLimit::new(4_000_000_000, Duration::from_secs(1)).unwrap();
    let limited = tokens
        .create(tollgate::NewToken::new("limited").rate_limit(Some(never_reached)))
        .await
        .unwrap();
    let free = tokens.create(tollgate::NewToken::new("free")).await.unwrap();
    let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tollgate::AuthLayer::new(verifier).layer(inner);
    let call = |token: String| {
        let mut service = service.clone();
        async move {
            let req = Request::builder()
                .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Full::default())
                .unwrap();
            let started = Instant::now();
            let response = service.ready().await.unwrap().call(req).await.unwrap();
            let took = started.elapsed().as_secs_f64() * 1e6;
            assert_eq!(response.status(), 200);
            (took, response.headers().contains_key("ratelimit"))
        }
    };
    let (limited, free) = (limited.token().expose().to_owned(), free.token().expose().to_owned());
    assert!(call(limited.clone()).await.1, "counted in Redis");
    assert!(!call(free.clone()).await.1);
    let (mut shared, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..2_000 {
        shared.push(call(limited.clone()).await.0);
        plain.push(call(free.clone()).await.0);
    }
    let (s50, s99) = (quantile(&mut shared, 0.5), quantile(&mut shared, 0.99));
    let (p50, p99) = (quantile(&mut plain, 0.5), quantile(&mut plain, 0.99));
    println!("| hit through the layer, rate limit shared in Redis | {s50:.1} µs | {s99:.1} µs |");
    println!("| hit through the same layer, no limit | {p50:.1} µs | {p99:.1} µs |");
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &Verifier) {
    println!("Redis: skipped (build with --features redis)");
}
