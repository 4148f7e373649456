//! `RedisStore` against the machine's real Redis (`TOLLGATE_TEST_REDIS_URL`): the
//! conformance suite, revocation pushed between replicas, a subscriber that reconnects,
//! concurrent writers, and an outage played with a proxy of the test's own. Each test uses
//! a key prefix of its own and deletes its keys.
#![cfg(feature = "redis")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::backends::{REDIS_ENV, addr_of, url, via};
use support::proxy::Proxy;
use support::redis::Prefix;
use support::replicas::{self, passes};
use tollgate::store::{TokenSource, TokenStore};
use tollgate::{
    ListQuery, NewToken, OwnerSettings, RateLimit, RedisStore, SecretHasher, StoreError, TokenManager, TokenRecord,
    Verifier,
};

/// The server's URL, or return from the test (it says it skipped).
macro_rules! server {
    ($test:literal) => {
        match url(REDIS_ENV, $test) {
            Some(url) => url,
            None => return,
        }
    };
}

#[tokio::test]
async fn redis_store_passes_the_conformance_suite() {
    let url = server!("redis_store_passes_the_conformance_suite");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    support::conformance::run(&store, support::conformance::Changes::Streamed).await;
}

/// Two replicas, each with its own connections, subscriber and verifier: a revocation made
/// through one is refused by the other, timed from the moment the write returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_replica_is_refused_by_the_other_at_once() {
    let url = server!("a_revocation_through_one_replica_is_refused_by_the_other_at_once");
    let prefix = Prefix::new(&url);
    let (a, b) = (Arc::new(prefix.open().await), Arc::new(prefix.open().await));
    replicas::revocations_reach_the_other_replica(a, b, "Redis").await;
}

/// `CLIENT KILL` of the subscriber's connection: the stream says `Reset` (the verifier
/// empties its cache), the subscriber comes back, and later changes reach the verifier
/// again.
#[tokio::test]
async fn a_killed_subscriber_reconnects_says_reset_and_hears_later_changes() {
    let url = server!("a_killed_subscriber_reconnects_says_reset_and_hears_later_changes");
    let prefix = Prefix::new(&url);
    // Through a proxy of the test's own, so that the test can tell its connections from
    // every other test's on the shared server.
    let proxy = Proxy::start(addr_of(&url)).await;
    let store = Arc::new(prefix.open_at(&via(&url, proxy.addr)).await);
    let mut raw = prefix.raw().await;
    replicas::a_verifier_follows_the_stream_across_a_reconnect(store, async || {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut raw)
            .await
            .unwrap();
        let ours: Vec<String> = proxy.upstream_addrs().iter().map(ToString::to_string).collect();
        let subscriber: Vec<&str> = clients
            .lines()
            .filter(|line| ours.iter().any(|addr| line.contains(&format!(" addr={addr} "))))
            .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
            .collect();
        assert_eq!(subscriber.len(), 1, "one subscriber of ours ({ours:?}) in:\n{clients}");
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(subscriber[0])
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(killed, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_creates_on_two_replicas_are_each_listed_once() {
    let url = server!("a_thousand_concurrent_creates_on_two_replicas_are_each_listed_once");
    let prefix = Prefix::new(&url);
    let replicas = [Arc::new(prefix.open().await), Arc::new(prefix.open().await)];
    let mut creates = Vec::new();
    for i in 0..1000 {
        let store = replicas[i % 2].clone();
        creates.push(tokio::spawn(async move {
            let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
            tokens
                .create(NewToken::new(format!("t{i}")))
                .await
                .map(|issued| issued.id().to_owned())
        }));
    }
    let mut created = Vec::new();
    for create in creates {
        created.push(create.await.unwrap().unwrap());
    }
    let mut listed = Vec::new();
    let mut query = ListQuery::new(97);
    loop {
        let page = replicas[1].list(&query).await.unwrap();
        listed.extend(page.records.into_iter().map(|r| r.id));
        match page.next_after {
            Some(after) => query = ListQuery::new(97).after(after),
            None => break,
        }
    }
    created.sort();
    assert_eq!(listed, created, "every token, once, in id order");
}

/// Redis goes away: a lookup is answered 503 within the source timeout, never a hang and
/// never a pass; when it is back, service resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_unavailable_within_the_timeout_then_recovers() {
    let url = server!("an_unreachable_redis_is_unavailable_within_the_timeout_then_recovers");
    let prefix = Prefix::new(&url);
    let direct = Arc::new(prefix.open().await);
    let tokens = TokenManager::new(direct.clone(), Verifier::builder(direct).build());
    let token = tokens.create(NewToken::new("outage")).await.unwrap();

    let proxy = Proxy::start(addr_of(&url)).await;
    let store = RedisStore::builder(via(&url, proxy.addr))
        .prefix(&prefix.name)
        .timeout(Duration::from_millis(500))
        .open()
        .await
        .unwrap();
    let verifier = Verifier::builder(store).source_timeout(Duration::from_secs(1)).build();

    // The verifier gives up after its source timeout (1 s); the bound leaves a busy
    // machine room to schedule the answer.
    let within = Duration::from_millis(1500);
    proxy.stop();
    replicas::assert_unavailable(&verifier, token.token().expose(), within).await;

    // Slow, not gone: every byte late. Still an answer within the timeout.
    proxy.resume().await;
    proxy.set_delay(Duration::from_secs(3));
    replicas::assert_unavailable(&verifier, token.token().expose(), within).await;

    proxy.set_delay(Duration::ZERO);
    let back = Instant::now();
    loop {
        match passes(&verifier, token.token().expose()).await {
            Ok(true) => break,
            Ok(false) => panic!("a valid token was refused"),
            Err(_) => {
                assert!(back.elapsed() < Duration::from_secs(15), "no recovery");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn bad_settings_and_bad_data_are_told_apart_from_outages() {
    let url = server!("bad_settings_and_bad_data_are_told_apart_from_outages");
    for prefix in ["", "has space:", "tab\t", &"a".repeat(65)] {
        let err = RedisStore::builder(url.clone())
            .prefix(prefix)
            .open()
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{prefix:?}: {err:?}");
    }
    let err = RedisStore::open("not a url").await.unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .timeout(Duration::from_millis(300))
        .open()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let tokens = TokenManager::new(store, Verifier::builder(tollgate::MemoryStore::new()).build());
    let issued = tokens.create(NewToken::new("to be damaged")).await.unwrap();
    let mut raw = prefix.raw().await;
    let key = format!("{}t:{}", prefix.name, issued.id());
    redis::cmd("HSET")
        .arg(&key)
        .arg("status")
        .arg("frozen")
        .exec_async(&mut raw)
        .await
        .unwrap();
    let err = tokens.get(issued.id()).await.unwrap_err();
    assert!(err.to_string().contains("field status"), "{err}");
    redis::cmd("DEL").arg(&key).exec_async(&mut raw).await.unwrap();
    redis::cmd("SET")
        .arg(&key)
        .arg("a string")
        .exec_async(&mut raw)
        .await
        .unwrap();
    let err = tokens.get(issued.id()).await.unwrap_err();
    assert!(
        matches!(err, tollgate::ManageError::Store(StoreError::Corrupt(_))),
        "{err:?}"
    );
}

/// A change is computed from the record as read and written only if the record's version is
/// still the one read. Versions come from one counter: a token deleted and created again
/// under its id never has a version it had before, so a change read from the first cannot be
/// written over the second. A record written before versions existed has none, and is
/// updated all the same.
#[tokio::test]
async fn a_tokens_version_is_new_at_every_write_and_never_repeats_across_a_recreate() {
    let url = server!("a_tokens_version_is_new_at_every_write_and_never_repeats_across_a_recreate");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let mut raw = prefix.raw().await;
    let key = format!("{}t:Ver1", prefix.name);
    let version = async |raw: &mut redis::aio::MultiplexedConnection| -> Option<String> {
        redis::cmd("HGET").arg(&key).arg("v").query_async(raw).await.unwrap()
    };
    let hash = |s: &str| tollgate::SecretHasher::Sha256.hash(s.as_bytes());
    store
        .create(tollgate::TokenRecord::new("Ver1", "first", hash("v-1")))
        .await
        .unwrap();
    let created = version(&mut raw).await.expect("a created record has a version");
    let patch = tollgate::TokenPatch::new().name("renamed");
    store.update("Ver1", &patch).await.unwrap().unwrap();
    let updated = version(&mut raw).await.unwrap();
    assert_ne!(updated, created);
    assert!(store.delete("Ver1").await.unwrap());
    store
        .create(tollgate::TokenRecord::new("Ver1", "again", hash("v-2")))
        .await
        .unwrap();
    let recreated = version(&mut raw).await.unwrap();
    assert!(recreated != created && recreated != updated, "{recreated} again");

    // As written before versions: none; an update reads it as such, and gives it one.
    redis::cmd("HDEL")
        .arg(&key)
        .arg("v")
        .exec_async(&mut raw)
        .await
        .unwrap();
    let renamed = store.update("Ver1", &patch).await.unwrap().unwrap();
    assert_eq!(renamed.name, "renamed");
    assert!(version(&mut raw).await.is_some());
    let rotated = store
        .rotate("Ver1", &tollgate::store::Rotation::new(hash("v-3"), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret_hash, hash("v-3"));
    assert!(store.delete("Ver1").await.unwrap());
}

/// A token's rate limit and an owner's settings are a field holding JSON: a record written
/// before rate limits has none and reads as unlimited; a value no limit could be, written
/// behind the store's back, is reported as corrupt naming the field.
#[tokio::test]
async fn a_rate_limit_field_is_optional_and_a_bad_one_is_corrupt_naming_it() {
    let url = server!("a_rate_limit_field_is_optional_and_a_bad_one_is_corrupt_naming_it");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let mut raw = prefix.raw().await;
    let limit = Some(RateLimit::from_parts(10, 60, 10).unwrap());
    let hash = SecretHasher::Sha256.hash(b"rl-1");
    store
        .create(TokenRecord::new("Rl1", "limited", hash).with_rate_limit(limit))
        .await
        .unwrap();
    let key = format!("{}t:Rl1", prefix.name);
    let field: String = redis::cmd("HGET")
        .arg(&key)
        .arg("rate")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(field, r#"{"limit":10,"period":60,"burst":10}"#);

    // As written before rate limits: no field.
    redis::cmd("HDEL")
        .arg(&key)
        .arg("rate")
        .exec_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(store.get("Rl1").await.unwrap().unwrap().rate_limit, None);

    for bad in [r#"{"limit":0,"period":60}"#, r#"{"limit":1}"#, "ten a minute"] {
        redis::cmd("HSET")
            .arg(&key)
            .arg("rate")
            .arg(bad)
            .exec_async(&mut raw)
            .await
            .unwrap();
        let err = store.get("Rl1").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{bad}: {err:?}");
        assert!(err.to_string().contains("token \"Rl1\", field rate"), "{bad}: {err}");
    }
    assert!(store.delete("Rl1").await.unwrap());

    store
        .set_owner_settings("acme", &OwnerSettings::new().with_rate_limit(limit))
        .await
        .unwrap();
    let owner_key = format!("{}o:acme", prefix.name);
    let field: String = redis::cmd("HGET")
        .arg(&owner_key)
        .arg("rate")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(field, r#"{"limit":10,"period":60,"burst":10}"#, "one hash per owner");
    redis::cmd("HSET")
        .arg(&owner_key)
        .arg("rate")
        .arg(r#"{"limit":10,"period":0}"#)
        .exec_async(&mut raw)
        .await
        .unwrap();
    let err = store.owner_settings("acme").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("owner \"acme\", field rate"), "{err}");
    store.set_owner_settings("acme", &OwnerSettings::new()).await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&owner_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!exists, "empty settings delete the owner's key");
}
