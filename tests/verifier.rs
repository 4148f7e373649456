//! The verifier's cache: single flight, negative cache, invalidation, expiry on hits, and
//! the fill-versus-revoke race.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode, header::AUTHORIZATION};
use support::{issue, memory, unknown_token};
use tollgate::store::{Rotation, TokenSource, TokenStore};
use tollgate::{
    AuthLayer, BasicCredential, Credential, InvalidReason, MemoryStore, Principal, SecretHasher, Verifier, VerifyError,
};
use tower::{Layer, ServiceExt, service_fn};

fn bearer(token: &str) -> Credential<'_> {
    Credential::Bearer(token)
}

fn invalid(result: Result<Principal, VerifyError>) -> InvalidReason {
    match result {
        Err(VerifyError::Invalid(reason)) => reason,
        other => panic!("expected an invalid credential, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_with_one_cold_token_make_one_lookup() {
    let store = memory();
    let (token, _) = issue(&store.inner, "cold", |r| r).await;
    store.set_delay(Duration::from_millis(50));
    let verifier = Verifier::builder(store.clone()).build();
    let service = AuthLayer::new(verifier).layer(service_fn(|req: Request<()>| async move {
        let id = req.extensions().get::<Principal>().unwrap().id().to_owned();
        Ok::<_, std::convert::Infallible>(Response::new(id))
    }));

    let header = format!("Bearer {}", token.token().expose());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let service = service.clone();
            let req = Request::builder().header(AUTHORIZATION, &header).body(()).unwrap();
            tokio::spawn(service.oneshot(req))
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(store.lookups(), 1, "one source lookup for 1,000 concurrent misses");
}

/// The negative cache forgets the least recently *seen* unknown token first: unknown tokens
/// that keep coming back stay remembered while a stream of distinct ones flows past them.
#[tokio::test]
async fn repeating_unknown_tokens_outlive_a_stream_of_distinct_ones() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).negative_capacity(1_000).build();
    let repeating: Vec<_> = (0..500).map(|_| unknown_token()).collect();
    let mut repeated_lookups = 0;
    // 10 rounds of 250 new distinct unknown tokens (2,500 in all, over the capacity), each
    // followed by the 500 repeating ones.
    for _ in 0..10 {
        for _ in 0..250 {
            invalid(verifier.verify(&bearer(unknown_token().token().expose())).await);
        }
        verifier.run_pending_tasks();
        let before = store.lookups();
        for token in &repeating {
            invalid(verifier.verify(&bearer(token.token().expose())).await);
        }
        repeated_lookups += store.lookups() - before;
        verifier.run_pending_tasks();
    }
    assert_eq!(
        repeated_lookups, 500,
        "each repeating unknown token was looked up once, not again after 1,000 inserts"
    );
}

#[tokio::test]
async fn unknown_tokens_stay_within_the_negative_cache_capacity() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).negative_capacity(1_000).build();
    let mut first = None;
    for _ in 0..100_000 {
        let token = unknown_token();
        let reason = invalid(verifier.verify(&bearer(token.token().expose())).await);
        assert_eq!(reason, InvalidReason::Unknown);
        first.get_or_insert(token);
    }
    assert_eq!(
        store.lookups(),
        100_000,
        "each distinct unknown token is looked up once"
    );
    verifier.run_pending_tasks();
    let held = verifier.negative_cached_count();
    assert!(
        held <= 1_000,
        "negative cache holds {held} entries, over its capacity of 1,000"
    );
    assert!(held > 0, "the negative cache is in use");

    // A token just found unknown is answered from the negative cache.
    let token = unknown_token();
    invalid(verifier.verify(&bearer(token.token().expose())).await);
    let before = store.lookups();
    invalid(verifier.verify(&bearer(token.token().expose())).await);
    assert_eq!(
        store.lookups(),
        before,
        "a repeated unknown token does not reach the source"
    );

    // After the flood of distinct tokens, a set of unknown tokens that repeats (and fits in
    // the capacity) is still admitted: each is looked up once, however often it comes back.
    let repeating: Vec<_> = (0..500).map(|_| unknown_token()).collect();
    let before = store.lookups();
    for _ in 0..5 {
        for token in &repeating {
            invalid(verifier.verify(&bearer(token.token().expose())).await);
        }
        verifier.run_pending_tasks();
    }
    assert_eq!(
        store.lookups() - before,
        500,
        "each repeating unknown token was looked up once"
    );
}

#[tokio::test]
async fn checksum_invalid_tokens_never_reach_the_source() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let token = unknown_token();
    let mut text = token.token().expose().to_owned();
    let last = text.pop().unwrap();
    text.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(
        invalid(verifier.verify(&bearer(&text)).await),
        InvalidReason::BadChecksum
    );
    assert_eq!(
        invalid(verifier.verify(&bearer("tg_abc")).await),
        InvalidReason::Malformed
    );
    assert_eq!(store.lookups(), 0);
}

#[tokio::test]
async fn hits_never_touch_the_source() {
    let store = memory();
    let (token, _) = issue(&store.inner, "hot", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    for _ in 0..100 {
        verifier.verify(&bearer(token.token().expose())).await.unwrap();
        let basic = BasicCredential::new(token.id(), token.secret_segment());
        verifier.verify(&Credential::Basic(basic)).await.unwrap();
    }
    assert_eq!(store.lookups(), 1);
}

#[tokio::test]
async fn revoked_token_fails_on_next_request() {
    let store = memory();
    let (token, _) = issue(&store.inner, "revoke me", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();

    store.inner.delete(token.id()).await.unwrap();
    verifier.invalidate(token.id());
    assert_eq!(
        invalid(verifier.verify(&bearer(token.token().expose())).await),
        InvalidReason::Unknown
    );
}

#[tokio::test]
async fn change_events_drop_cached_tokens_without_an_explicit_invalidate() {
    let store = Arc::new(MemoryStore::new());
    let (token, _) = issue(&*store, "watched", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    tokio::spawn(
        verifier
            .invalidation_task()
            .expect("the memory store publishes changes"),
    );
    verifier.verify(&bearer(token.token().expose())).await.unwrap();

    store.delete(token.id()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        if verifier.verify(&bearer(token.token().expose())).await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the change event never reached the cache"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn token_fails_at_its_expiry_instant_while_cached() {
    let store = memory();
    let expires = support::now() + time::Duration::milliseconds(300);
    let (token, _) = issue(&store.inner, "short-lived", |r| r.with_expiry(Some(expires))).await;
    let verifier = Verifier::builder(store.clone())
        .cache_ttl(Duration::from_secs(3600))
        .build();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();

    let wait = expires - time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    assert_eq!(
        invalid(verifier.verify(&bearer(token.token().expose())).await),
        InvalidReason::Expired
    );
    assert_eq!(store.lookups(), 1, "the expired token was decided from the cache");
}

#[tokio::test]
async fn store_errors_are_never_cached() {
    let store = memory();
    let (token, _) = issue(&store.inner, "flaky", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    store.set_failing(true);
    for _ in 0..3 {
        let err = verifier.verify(&bearer(token.token().expose())).await.unwrap_err();
        assert!(matches!(err, VerifyError::Unavailable(_)), "{err:?}");
    }
    assert_eq!(store.lookups(), 3, "every request retried the source");
    store.set_failing(false);
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
}

#[tokio::test]
async fn a_hanging_source_times_out() {
    let store = memory();
    let (token, _) = issue(&store.inner, "slow", |r| r).await;
    store.set_delay(Duration::from_secs(30));
    let verifier = Verifier::builder(store.clone())
        .source_timeout(Duration::from_millis(100))
        .build();
    let started = std::time::Instant::now();
    let err = verifier.verify(&bearer(token.token().expose())).await.unwrap_err();
    assert!(matches!(err, VerifyError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn opaque_imported_tokens_work_as_bearer_and_basic() {
    let store = memory();
    let secret = "legacy-opaque-token_0123456789";
    let record = tollgate::TokenRecord::new("Imp0rted", "legacy", SecretHasher::Sha256.hash(secret.as_bytes()));
    store.inner.create(record).await.unwrap();
    let verifier = Verifier::builder(store.clone()).build();
    assert_eq!(verifier.verify(&bearer(secret)).await.unwrap().id(), "Imp0rted");
    let basic = BasicCredential::new("Imp0rted", secret);
    assert_eq!(
        verifier.verify(&Credential::Basic(basic)).await.unwrap().id(),
        "Imp0rted"
    );
    let wrong = BasicCredential::new("Imp0rted", "legacy-opaque-token_0123456780");
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(wrong)).await),
        InvalidReason::WrongSecret
    );
    assert_eq!(
        store.lookups(),
        1,
        "the lookup by hash also filled the cache by id, so Basic was a hit"
    );
}

#[tokio::test]
async fn basic_accepts_the_whole_token_or_its_last_segment_but_not_another_id() {
    let store = memory();
    let (token, _) = issue(&store.inner, "basic", |r| r).await;
    let (other, _) = issue(&store.inner, "other", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    for secret in [token.token().expose(), token.secret_segment()] {
        let basic = BasicCredential::new(token.id(), secret);
        assert_eq!(
            verifier.verify(&Credential::Basic(basic)).await.unwrap().id(),
            token.id()
        );
    }
    let mismatched = BasicCredential::new(token.id(), other.token().expose());
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(mismatched)).await),
        InvalidReason::WrongSecret
    );
    let wrong = BasicCredential::new(token.id(), other.secret_segment());
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(wrong)).await),
        InvalidReason::WrongSecret
    );
}

#[tokio::test]
async fn rotated_secret_keeps_working_only_during_grace() {
    let store = memory();
    let (old, _) = issue(&store.inner, "rotating", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    verifier.verify(&bearer(old.token().expose())).await.unwrap();

    let new = tollgate::TokenFormat::default().generate_for(old.id()).unwrap();
    let until = support::now() + time::Duration::milliseconds(300);
    let rotation = Rotation::new(SecretHasher::Sha256.hash(new.secret_segment().as_bytes()), Some(until));
    store.inner.rotate(old.id(), &rotation).await.unwrap().unwrap();
    verifier.invalidate(old.id());

    verifier.verify(&bearer(new.token().expose())).await.unwrap();
    verifier.verify(&bearer(old.token().expose())).await.unwrap();
    tokio::time::sleep(Duration::try_from(until - time::OffsetDateTime::now_utc()).unwrap_or_default()).await;
    assert_eq!(
        invalid(verifier.verify(&bearer(old.token().expose())).await),
        InvalidReason::WrongSecret
    );
    verifier.verify(&bearer(new.token().expose())).await.unwrap();
}

/// A lookup already in flight when the token is revoked must not put the revoked record
/// back into the cache. Readers hammer the token from several threads while it is
/// revoked; every verification that starts after the revocation returned must fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lookup_in_flight_during_revocation_does_not_refill_the_cache() {
    for round in 0..200 {
        let store = memory();
        let (token, _) = issue(&store.inner, "raced", |r| r).await;
        // A slow source keeps lookups in flight while the revocation happens.
        store.set_delay(Duration::from_millis(round % 3));
        let verifier = Verifier::builder(store.clone()).build();
        let revoked = Arc::new(AtomicBool::new(false));
        let text: Arc<str> = token.token().expose().into();

        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (verifier, revoked, text) = (verifier.clone(), revoked.clone(), text.clone());
                tokio::spawn(async move {
                    for _ in 0..40 {
                        let started_after_revocation = revoked.load(Ordering::SeqCst);
                        let result = verifier.verify(&Credential::Bearer(&text)).await;
                        if started_after_revocation {
                            assert!(result.is_err(), "round {round}: a revoked token passed");
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();

        tokio::time::sleep(Duration::from_micros(200 * (round % 5))).await;
        store.inner.delete(token.id()).await.unwrap();
        verifier.invalidate(token.id());
        revoked.store(true, Ordering::SeqCst);

        for reader in readers {
            reader.await.unwrap();
        }
        assert!(verifier.verify(&Credential::Bearer(&text)).await.is_err());
    }
}

/// The same race, made deterministic: the lookup has read the record before the
/// revocation and returns after it. Its answer must not fill the cache (the positive
/// fill's generation check in `Inner::fill`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_read_before_revocation_and_returned_after_is_not_cached() {
    let store = memory();
    let (token, _) = issue(&store.inner, "raced", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    let mut held = store.hold_next_lookup();
    let in_flight = {
        let verifier = verifier.clone();
        let text = token.token().expose().to_owned();
        tokio::spawn(async move { verifier.verify(&Credential::Bearer(&text)).await })
    };
    // The lookup has read the token while it was active...
    held.has_read().await;
    // ...and answers after the revocation.
    store.inner.delete(token.id()).await.unwrap();
    verifier.invalidate(token.id());
    held.release();
    let answered = in_flight.await.unwrap();
    assert!(answered.is_ok(), "it answered what it read: {answered:?}");
    let reason = invalid(verifier.verify(&bearer(token.token().expose())).await);
    assert_eq!(reason, InvalidReason::Unknown);
    assert_eq!(
        store.lookups(),
        2,
        "the request after revocation went back to the source"
    );
}

/// A request that starts after a revocation must not join a lookup that started before it
/// (the age guard of the single flight, `Flights::join`): that lookup read the old record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_revocation_does_not_join_a_lookup_from_before() {
    let store = memory();
    let (token, _) = issue(&store.inner, "raced", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    let text: Arc<str> = token.token().expose().into();
    let mut held = store.hold_next_lookup();
    let before = {
        let (verifier, text) = (verifier.clone(), text.clone());
        tokio::spawn(async move { verifier.verify(&Credential::Bearer(&text)).await })
    };
    held.has_read().await;
    store.inner.delete(token.id()).await.unwrap();
    verifier.invalidate(token.id());
    let after = {
        let (verifier, text) = (verifier.clone(), text.clone());
        tokio::spawn(async move { verifier.verify(&Credential::Bearer(&text)).await })
    };
    // A request that joined the held lookup would wait for it; one of its own answers.
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        while !after.is_finished() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    held.release();
    assert!(
        answered.is_ok(),
        "the request after the revocation waited for the lookup from before"
    );
    let reason = invalid(after.await.unwrap());
    assert_eq!(reason, InvalidReason::Unknown);
    assert!(
        before.await.unwrap().is_ok(),
        "the lookup from before answered what it read"
    );
    assert_eq!(store.lookups(), 2);
}

#[tokio::test]
async fn cached_tokens_are_read_again_after_the_cache_ttl() {
    let store = memory();
    let (token, _) = issue(&store.inner, "ttl", |r| r).await;
    let verifier = Verifier::builder(store.clone())
        .cache_ttl(Duration::from_millis(200))
        .build();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    assert_eq!(store.lookups(), 1, "a hit within the ttl");
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    assert_eq!(store.lookups(), 2, "a stale entry is read from the source again");
}

#[tokio::test]
async fn the_positive_cache_stays_within_its_capacity() {
    let store = memory();
    let mut tokens = Vec::new();
    for i in 0..2_000 {
        tokens.push(issue(&store.inner, &format!("t{i}"), |r| r).await.0);
    }
    let verifier = Verifier::builder(store.clone()).cache_capacity(100).build();
    for token in &tokens {
        verifier.verify(&bearer(token.token().expose())).await.unwrap();
    }
    verifier.run_pending_tasks();
    let cached = verifier.cached_count();
    assert!(cached <= 100, "{cached} cached tokens, over the capacity of 100");
    assert!(cached > 0);
    // Evicted tokens still verify: they are read again.
    for token in tokens.iter().take(10) {
        verifier.verify(&bearer(token.token().expose())).await.unwrap();
    }
}

#[tokio::test]
async fn successful_uses_are_reported_to_the_store() {
    let store = memory();
    let (token, _) = issue(&store.inner, "used", |r| r).await;
    let (idle, _) = issue(&store.inner, "idle", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    assert_eq!(verifier.flush_usage().await.unwrap(), 0, "nothing used yet");

    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    let wrong = BasicCredential::new(idle.id(), "not-the-secret");
    assert!(verifier.verify(&Credential::Basic(wrong)).await.is_err());

    assert_eq!(
        verifier.flush_usage().await.unwrap(),
        1,
        "one token was used, the failed one was not"
    );
    let used = store
        .inner
        .get(token.id())
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .expect("recorded");
    let age = time::OffsetDateTime::now_utc() - used;
    assert!(
        age >= time::Duration::ZERO - time::Duration::seconds(1) && age < time::Duration::seconds(5),
        "{age}"
    );
    assert!(
        store
            .inner
            .get(idle.id())
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_none()
    );
    assert_eq!(verifier.flush_usage().await.unwrap(), 0, "each use is reported once");
}

#[tokio::test]
async fn a_panicking_source_is_not_remembered() {
    let store = memory();
    let (token, _) = issue(&store.inner, "panicky", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    store.panic_on_next_lookup();
    let err = verifier.verify(&bearer(token.token().expose())).await.unwrap_err();
    assert!(matches!(err, VerifyError::Unavailable(_)), "{err:?}");
    // The next request asks the source again, and passes.
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    assert_eq!(store.lookups(), 2);
}

#[tokio::test]
async fn overlong_basic_ids_are_refused_without_a_lookup() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let basic = BasicCredential::new(&"a".repeat(65), "some-secret-value");
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(basic)).await),
        InvalidReason::Unknown
    );
    let not_base62 = BasicCredential::new("abc-def", "some-secret-value");
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(not_base62)).await),
        InvalidReason::Unknown
    );
    assert_eq!(store.lookups(), 0);
}

#[tokio::test]
async fn an_unbounded_cache_ttl_is_accepted() {
    let store = memory();
    let (token, _) = issue(&store.inner, "forever", |r| r).await;
    let builder = Verifier::builder(store.clone())
        .cache_ttl(Duration::MAX)
        .negative_ttl(Duration::MAX)
        .serve_stale(Duration::MAX);
    // Clamped in the setters, as their docs say, to about 100 years.
    let years = tollgate::MAX_DURATION.as_secs() / (365 * 24 * 3600);
    assert_eq!(years, 100, "{:?}", tollgate::MAX_DURATION);
    let shown = format!("{builder:?}");
    assert_eq!(
        shown.matches(&format!("{:?}", tollgate::MAX_DURATION)).count(),
        3,
        "{shown}"
    );
    let verifier = builder.build();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    assert_eq!(store.lookups(), 1);
}

/// Polls a future once, outside any runtime.
fn poll_once<F: std::future::Future>(future: F) -> std::task::Poll<F::Output> {
    let mut future = std::pin::pin!(future);
    future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// Outside a Tokio runtime a hit is decided as anywhere, and a miss fails with an error
/// that names the requirement, instead of Tokio's panic ("there is no reactor running").
#[test]
fn outside_a_runtime_a_miss_is_a_clear_error_and_a_hit_still_works() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = Arc::new(MemoryStore::new());
    let (cached, _) = runtime.block_on(issue(&*store, "cached", |r| r));
    let (cold, _) = runtime.block_on(issue(&*store, "cold", |r| r));
    let verifier = Verifier::builder(store).build();
    runtime
        .block_on(verifier.verify(&bearer(cached.token().expose())))
        .unwrap();
    drop(runtime);

    let hit = poll_once(verifier.verify(&bearer(cached.token().expose())));
    assert!(matches!(hit, std::task::Poll::Ready(Ok(_))), "{hit:?}");
    let std::task::Poll::Ready(miss) = poll_once(verifier.verify(&bearer(cold.token().expose()))) else {
        panic!("a miss outside a runtime answers at once");
    };
    let err = miss.unwrap_err();
    assert!(matches!(err, VerifyError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("needs a Tokio runtime"), "{err}");
}

/// The principal a hit hands out is a handle on the cache entry, which also holds the
/// secret's hash and the cache's bookkeeping: it shows, compares and serializes as the
/// identity alone, like a principal made from the record.
#[tokio::test]
async fn a_cached_principal_shows_its_identity_and_nothing_of_the_cache() {
    let store = memory();
    let (token, record) = issue(&store.inner, "shown", |r| r.with_scopes(["b", "a"])).await;
    let verifier = Verifier::builder(store.clone()).build();
    let cached = verifier.verify(&bearer(token.token().expose())).await.unwrap();
    let made = Principal::from_record(&record);
    assert_eq!(cached, made);
    assert_eq!(format!("{cached:?}"), format!("{made:?}"));
    assert_eq!(
        serde_json::to_value(&cached).unwrap(),
        serde_json::to_value(&made).unwrap()
    );
    let hex: String = record
        .secret_hash
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let debug = format!("{cached:?}");
    for shown in [&hex[..16], "hash", "filled", "stale", "last_used"] {
        assert!(!debug.contains(shown), "{debug}");
    }
}

/// An imported token, stored under `id` with `secret` as its whole secret.
async fn import(store: &impl TokenStore, id: &str, secret: &str) -> tollgate::SecretHash {
    let hash = SecretHasher::Sha256.hash(secret.as_bytes());
    store
        .create(tollgate::TokenRecord::new(id, "imported", hash))
        .await
        .unwrap();
    hash
}

// An imported token is found by the hash of its secret once; after that the hash is known
// to the cache and no request for it goes back to the source.
#[tokio::test]
async fn an_opaque_token_is_looked_up_once_then_served_from_the_cache() {
    let store = memory();
    let secret = "legacy-opaque-token-0123456789";
    import(&store.inner, "Imp0rted", secret).await;
    let verifier = Verifier::builder(store.clone()).build();
    for _ in 0..3 {
        assert_eq!(verifier.verify(&bearer(secret)).await.unwrap().id(), "Imp0rted");
    }
    assert_eq!(store.lookups(), 1);
}

/// A lookup by hash that found nothing, and answers after that secret was imported (and
/// `invalidate_hash` called, as the token manager does), must not leave the secret
/// remembered as unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_lookup_from_before_an_import_does_not_hide_the_import() {
    let store = memory();
    let secret = "legacy-opaque-token-0123456789";
    let verifier = Verifier::builder(store.clone()).build();
    let mut held = store.hold_next_lookup();
    let in_flight = {
        let verifier = verifier.clone();
        tokio::spawn(async move { verifier.verify(&bearer(secret)).await })
    };
    // The lookup has found nothing...
    held.has_read().await;
    // ...and answers after the import.
    let hash = import(&store.inner, "Imp0rted", secret).await;
    verifier.invalidate_hash(&hash);
    held.release();
    assert_eq!(
        invalid(in_flight.await.unwrap()),
        InvalidReason::Unknown,
        "it answered what it read"
    );
    assert_eq!(verifier.verify(&bearer(secret)).await.unwrap().id(), "Imp0rted");
}

// Ids are at most 64 characters: a Basic user-id of 64 is looked up, one of 65 is refused
// without a lookup.
#[tokio::test]
async fn a_basic_id_of_the_longest_length_is_looked_up_and_a_longer_one_is_not() {
    let store = memory();
    let secret = "an-imported-secret-of-some-length";
    let longest = "L".repeat(64);
    import(&store.inner, &longest, secret).await;
    let verifier = Verifier::builder(store.clone()).build();
    let basic = BasicCredential::new(&longest, secret);
    assert_eq!(verifier.verify(&Credential::Basic(basic)).await.unwrap().id(), longest);
    assert_eq!(store.lookups(), 1);
    let longer = BasicCredential::new(&"L".repeat(65), secret);
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(longer)).await),
        InvalidReason::Unknown
    );
    assert_eq!(store.lookups(), 1, "an id too long for any token is not looked up");
}

// Basic with one token's id and another token whole as the password is refused at once:
// the two ids disagree, and no lookup is needed to say so.
#[tokio::test]
async fn basic_with_another_tokens_whole_token_is_refused_without_a_lookup() {
    let store = memory();
    let (a, _) = issue(&store.inner, "a", |r| r).await;
    let (b, _) = issue(&store.inner, "b", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    let mixed = BasicCredential::new(a.id(), b.token().expose());
    assert_eq!(
        invalid(verifier.verify(&Credential::Basic(mixed)).await),
        InvalidReason::WrongSecret
    );
    assert_eq!(store.lookups(), 0);
}

#[tokio::test]
async fn a_verifiers_debug_shows_its_setup_and_cache_sizes_and_never_a_secret() {
    let store = memory();
    let (token, _) = issue(&store.inner, "shown", |r| r).await;
    let verifier = Verifier::builder(store.clone()).build();
    assert!(format!("{verifier:?}").contains("cached: 0"), "{verifier:?}");

    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    for _ in 0..2 {
        let unknown = unknown_token();
        let _ = verifier.verify(&bearer(unknown.token().expose())).await;
    }
    verifier.run_pending_tasks();
    assert_eq!((verifier.cached_count(), verifier.negative_cached_count()), (1, 2));
    let shown = format!("{verifier:?}");
    for part in [
        "Verifier",
        "format",
        "hasher: Sha256",
        "cached: 1",
        "negative_cached: 2",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    assert!(!shown.contains(token.secret_segment()), "{shown}");
}

#[tokio::test]
async fn a_verifier_with_its_own_token_prefix_gives_it_to_the_manager_and_the_layer() {
    let store = Arc::new(MemoryStore::new());
    let format = tollgate::TokenFormat::new("acme").unwrap();
    let verifier = Verifier::builder(store.clone()).format(format).build();
    assert_eq!(verifier.format().prefix(), "acme");

    let tokens = tollgate::TokenManager::new(store, verifier.clone());
    let issued = tokens.create(tollgate::NewToken::new("ci")).await.unwrap();
    assert!(
        issued.token().expose().starts_with("acme_"),
        "made with the verifier's prefix"
    );
    let service = AuthLayer::new(verifier).layer(service_fn(|_req: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(()))
    }));
    let request = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {}", issued.token().expose()))
        .body(())
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
}

/// A source whose `record_use` takes `delay_ms` to answer.
struct SlowUses {
    inner: MemoryStore,
    delay_ms: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl TokenSource for SlowUses {
    async fn get(&self, id: &str) -> Result<Option<tollgate::TokenRecord>, tollgate::StoreError> {
        self.inner.get(id).await
    }

    async fn find_by_hash(
        &self,
        hash: &tollgate::SecretHash,
    ) -> Result<Option<tollgate::TokenRecord>, tollgate::StoreError> {
        self.inner.find_by_hash(hash).await
    }

    async fn record_use(&self, uses: &[(String, time::OffsetDateTime)]) -> Result<(), tollgate::StoreError> {
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
        self.inner.record_use(uses).await
    }
}

// Reporting uses waits for the store up to the source timeout, and no longer: a slow store
// is reported to, a hanging one is an error when the timeout ends. (Tokio's clock is paused.)
#[tokio::test(start_paused = true)]
async fn reporting_uses_waits_for_the_store_up_to_the_source_timeout() {
    let inner = MemoryStore::new();
    let (token, _) = issue(&inner, "used", |r| r).await;
    let (later, _) = issue(&inner, "used later", |r| r).await;
    let store = Arc::new(SlowUses {
        inner,
        delay_ms: std::sync::atomic::AtomicU64::new(200),
    });
    let verifier = Verifier::builder(store.clone())
        .source_timeout(Duration::from_secs(1))
        .build();
    verifier.verify(&bearer(token.token().expose())).await.unwrap();
    assert_eq!(verifier.flush_usage().await.unwrap(), 1, "200 ms is within the timeout");

    store.delay_ms.store(5_000, Ordering::SeqCst);
    verifier.verify(&bearer(later.token().expose())).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = verifier.flush_usage().await.unwrap_err();
    assert!(matches!(err, tollgate::StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}
