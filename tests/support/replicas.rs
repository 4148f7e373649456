//! Shared stores seen from several replicas, run by `tests/store_postgres.rs` and
//! `tests/store_redis.rs` alike: revocations pushed to another replica's cache, a change
//! stream that comes back after its connection was killed, and what the layer answers
//! while the store is unreachable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use tollgate::store::{ChangeEvent, TokenStore};
use tollgate::{AuthLayer, Credential, MemoryStore, NewToken, TokenManager, Verifier, VerifyError};
use tower::{Layer as _, ServiceExt as _, service_fn};

use super::percentiles;

pub async fn passes(verifier: &Verifier, token: &str) -> Result<bool, VerifyError> {
    match verifier.verify(&Credential::Bearer(token)).await {
        Ok(_) => Ok(true),
        Err(VerifyError::Invalid(_)) => Ok(false),
        Err(err) => Err(err),
    }
}

/// How long until `verifier` refuses `token`, polled; panics after five seconds.
async fn refused_after(verifier: &Verifier, token: &str, since: Instant) -> Duration {
    while passes(verifier, token).await.unwrap() {
        assert!(since.elapsed() < Duration::from_secs(5), "the token was never refused");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    since.elapsed()
}

/// Two replicas, each with its own connections, change stream and verifier, both caches
/// warm: 100 tokens revoked through A, half by status and half deleted, each refused by
/// A at once and by B as soon as its stream tells it. Prints B's p50 / p99 / max.
pub async fn revocations_reach_the_other_replica<S: TokenStore>(a: Arc<S>, b: Arc<S>, label: &str) {
    let (verifier_a, verifier_b) = (
        Verifier::builder(a.clone()).build(),
        Verifier::builder(b.clone()).build(),
    );
    tokio::spawn(verifier_a.invalidation_task().unwrap());
    tokio::spawn(verifier_b.invalidation_task().unwrap());
    let tokens = TokenManager::new(a, verifier_a.clone());

    let mut issued = Vec::new();
    for i in 0..100 {
        issued.push(tokens.create(NewToken::new(format!("replica test {i}"))).await.unwrap());
    }
    // Both caches warm, and still warm once the creations' own change events have come by
    // (each drops its token from both caches).
    let warming = Instant::now();
    loop {
        for verifier in [&verifier_a, &verifier_b] {
            for token in &issued {
                assert!(passes(verifier, token.token().expose()).await.unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let warm = |v: &Verifier| {
            v.run_pending_tasks();
            v.cached_count()
        };
        if (warm(&verifier_a), warm(&verifier_b)) == (100, 100) {
            break;
        }
        assert!(
            warming.elapsed() < Duration::from_secs(5),
            "the caches never stayed warm"
        );
    }

    let (mut by_status, mut by_delete) = (Vec::new(), Vec::new());
    for (i, token) in issued.iter().enumerate() {
        let secret = token.token().expose();
        let latencies = if i % 2 == 0 {
            tokens.revoke(token.id()).await.unwrap();
            &mut by_status
        } else {
            tokens.delete(token.id()).await.unwrap();
            &mut by_delete
        };
        let revoked = Instant::now();
        assert!(
            !passes(&verifier_a, secret).await.unwrap(),
            "A refuses its own revocation at once"
        );
        latencies.push(refused_after(&verifier_b, secret, revoked).await);
    }
    let all: Vec<Duration> = by_status.iter().chain(&by_delete).copied().collect();
    let (p50, p99, max) = percentiles(all);
    let (s50, _, smax) = percentiles(by_status);
    let (d50, _, dmax) = percentiles(by_delete);
    println!(
        "revocation seen by the other replica ({label}, 100 tokens): p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms \
         (50 revoked: p50 {s50:.2}, max {smax:.2}; 50 deleted: p50 {d50:.2}, max {dmax:.2})"
    );
    assert!(max < 1000.0, "the worst of 100 took {max:.1} ms");
}

/// A verifier following `store`'s change stream, whose connection `kill` cuts: the stream
/// says `Reset` and the verifier empties its cache (changes may have been missed); once
/// the stream is back, a later change is heard, and a token revoked through another
/// handle on the store is refused by the verifier well before its cache lifetime. The
/// loss and the reconnect are logged as warnings. Run it on a current-thread runtime, so
/// that the store's listening task logs where this captures.
pub async fn a_verifier_follows_the_stream_across_a_reconnect<S, K>(store: Arc<S>, kill: K)
where
    S: TokenStore,
    K: AsyncFnOnce(),
{
    let logs = super::logs::Capture::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let verifier = Verifier::builder(store.clone())
        .cache_ttl(Duration::from_secs(600))
        .build();
    tokio::spawn(verifier.invalidation_task().expect("a change stream"));
    let mut changes = store.changes().expect("a change stream");
    // Writes through the store alone: the verifier learns of them only from the stream.
    let tokens = TokenManager::new(store, Verifier::builder(MemoryStore::new()).build());
    let kept = tokens.create(NewToken::new("before the reconnect")).await.unwrap();
    assert!(passes(&verifier, kept.token().expose()).await.unwrap());
    assert_eq!(
        changes.next().await,
        Some(ChangeEvent::Changed {
            id: kept.id().to_owned()
        })
    );

    kill().await;
    let event = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .unwrap();
    assert_eq!(event, Some(ChangeEvent::Reset));
    let reset = Instant::now();
    loop {
        verifier.run_pending_tasks();
        if verifier.cached_count() == 0 {
            break;
        }
        assert!(reset.elapsed() < Duration::from_secs(5), "the verifier kept its cache");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        passes(&verifier, kept.token().expose()).await.unwrap(),
        "looked up again"
    );

    let later = tokens.create(NewToken::new("after the reconnect")).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .unwrap();
    assert_eq!(
        event,
        Some(ChangeEvent::Changed {
            id: later.id().to_owned()
        })
    );

    tokens.revoke(kept.id()).await.unwrap();
    let took = refused_after(&verifier, kept.token().expose(), Instant::now()).await;
    println!("after the reconnect, a revocation reached the verifier in {took:?}");

    let logged = logs.text();
    for warning in [
        "lost the connection that listens for token changes: reconnecting",
        "listening for token changes again: caches drop every token",
    ] {
        assert!(
            logged
                .lines()
                .any(|line| line.contains(" WARN ") && line.contains(warning)),
            "warned {warning:?}:\n{logged}"
        );
    }
}

/// What an [`AuthLayer`] over `verifier` answers `token` (status and headers), and how
/// long it took.
pub async fn layer_answers(verifier: &Verifier, token: &str) -> (StatusCode, http::HeaderMap, Duration) {
    let service = AuthLayer::new(verifier.clone()).layer(service_fn(|_req: Request<String>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    }));
    let request = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let asked = Instant::now();
    let response = service.oneshot(request).await.unwrap();
    (response.status(), response.headers().clone(), asked.elapsed())
}

/// The layer over `verifier` answers 503 with `Retry-After` for `token`, a lookup the
/// store cannot serve, within `within`.
pub async fn assert_unavailable(verifier: &Verifier, token: &str, within: Duration) {
    let (status, headers, took) = layer_answers(verifier, token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{headers:?}");
    assert!(headers.contains_key(RETRY_AFTER), "{headers:?}");
    println!("store unreachable or slow: 503 in {took:?}");
    assert!(took < within, "took {took:?}");
}
