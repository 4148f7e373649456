//! `PostgresStore` against the machine's real PostgreSQL (`TOLLGATE_TEST_POSTGRES_URL`):
//! the conformance suite, revocation pushed between replicas, a listener that reconnects,
//! concurrent writers, concurrent migrations, and outages played with a proxy of the test's
//! own. Each test works in a schema of its own and drops it.
#![cfg(feature = "postgres")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::backends::{POSTGRES_ENV, addr_of, url, via};
use support::pg::Schema;
use support::proxy::Proxy;
use support::replicas::{self, passes};
use tollgate::store::{TokenSource, TokenStore};
use tollgate::{
    ListQuery, NewToken, OwnerSettings, PostgresStore, RateLimit, SecretHasher, StoreError, TokenManager, TokenRecord,
    Verifier,
};

/// The server's URL, or return from the test (it says it skipped).
macro_rules! server {
    ($test:literal) => {
        match url(POSTGRES_ENV, $test) {
            Some(url) => url,
            None => return,
        }
    };
}

#[tokio::test]
async fn postgres_store_passes_the_conformance_suite() {
    let url = server!("postgres_store_passes_the_conformance_suite");
    let schema = Schema::new(&url);
    let store = schema.open().await;
    support::conformance::run(&store, support::conformance::Changes::Streamed).await;
}

/// Two replicas, each with its own pool, listener and verifier: a revocation made through
/// one is refused by the other, timed from the moment the write returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_replica_is_refused_by_the_other_at_once() {
    let url = server!("a_revocation_through_one_replica_is_refused_by_the_other_at_once");
    let schema = Schema::new(&url);
    let (a, b) = (Arc::new(schema.open().await), Arc::new(schema.open().await));
    replicas::revocations_reach_the_other_replica(a, b, "PostgreSQL").await;
}

/// The listener's connection is killed: the stream says `Reset` (the verifier empties its
/// cache) and a warning is logged, the listener comes back, and later changes reach the
/// verifier again.
#[tokio::test]
async fn a_killed_listener_reconnects_says_reset_and_hears_later_changes() {
    let url = server!("a_killed_listener_reconnects_says_reset_and_hears_later_changes");
    let schema = Schema::new(&url);
    let store = Arc::new(schema.open().await);
    let raw = schema.raw().await;
    let listener = format!("tollgate listener {}", schema.name);
    replicas::a_verifier_follows_the_stream_across_a_reconnect(store, async || {
        let killed: i64 = raw
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&listener],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(killed, 1, "one listening connection");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_creates_on_two_replicas_are_each_listed_once() {
    let url = server!("a_thousand_concurrent_creates_on_two_replicas_are_each_listed_once");
    let schema = Schema::new(&url);
    let replicas = [Arc::new(schema.open().await), Arc::new(schema.open().await)];
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_a_new_schema_at_once_migrate_it_once() {
    let url = server!("stores_opening_a_new_schema_at_once_migrate_it_once");
    let schema = Schema::new(&url);
    let opened = futures_util::future::join_all(
        (0..4).map(|_| PostgresStore::builder(url.clone()).schema(schema.name.clone()).open()),
    )
    .await;
    for store in &opened {
        assert!(store.is_ok(), "{store:?}");
    }
    let row = schema
        .raw()
        .await
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT version), max(version)::bigint FROM \"{}\".schema_version",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    let (applied, distinct, latest): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (applied, distinct, latest),
        (4, 4, 4),
        "every migration, each applied once"
    );
}

/// The database goes away: a lookup is answered 503 within the source timeout, never a
/// hang and never a pass; when it is back, service resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_within_the_timeout_then_recovers() {
    let url = server!("an_unreachable_database_is_unavailable_within_the_timeout_then_recovers");
    let schema = Schema::new(&url);
    let direct = Arc::new(schema.open().await);
    let tokens = TokenManager::new(direct.clone(), Verifier::builder(direct).build());
    let token = tokens.create(NewToken::new("outage")).await.unwrap();

    let proxy = Proxy::start(addr_of(&url)).await;
    let store = PostgresStore::builder(via(&url, proxy.addr))
        .schema(&schema.name)
        .connect_timeout(Duration::from_millis(500))
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

/// All the pool's connections are busy (one, held by a lookup through a stalled network):
/// the next lookup waits at most the connect timeout, and is refused, not passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_not_a_hang() {
    let url = server!("an_exhausted_pool_is_unavailable_not_a_hang");
    let schema = Schema::new(&url);
    drop(schema.open().await);
    let proxy = Proxy::start(addr_of(&url)).await;
    let store = Arc::new(
        PostgresStore::builder(via(&url, proxy.addr))
            .schema(&schema.name)
            .max_connections(1)
            .connect_timeout(Duration::from_millis(300))
            .listen(false)
            .open()
            .await
            .unwrap(),
    );
    assert!(store.changes().is_none());
    proxy.set_delay(Duration::from_millis(500));
    let held = tokio::spawn({
        let store = store.clone();
        async move { store.get("held").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = Instant::now();
    let err = store.get("another").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(asked.elapsed() < Duration::from_secs(1), "took {:?}", asked.elapsed());
    assert!(held.await.unwrap().unwrap().is_none(), "the slow lookup still answers");
}

#[tokio::test]
async fn bad_settings_and_bad_rows_are_told_apart_from_outages() {
    let url = server!("bad_settings_and_bad_rows_are_told_apart_from_outages");
    for schema in ["", "Upper", "1abc", "semi;colon", &"a".repeat(49)] {
        let err = PostgresStore::builder(url.clone())
            .schema(schema)
            .open()
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{schema:?}: {err:?}");
    }
    let err = PostgresStore::open("postgres://[nonsense").await.unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");

    let schema = Schema::new(&url);
    let store = schema.open().await;
    let tokens = TokenManager::new(store, Verifier::builder(tollgate::MemoryStore::new()).build());
    let issued = tokens.create(NewToken::new("to be damaged")).await.unwrap();
    let raw = schema.raw().await;
    raw.batch_execute(&format!(
        "ALTER TABLE \"{0}\".tokens DROP CONSTRAINT tokens_status; UPDATE \"{0}\".tokens SET status = 'frozen'",
        schema.name
    ))
    .await
    .unwrap();
    let err = tokens.get(issued.id()).await.unwrap_err();
    assert!(err.to_string().contains("column status"), "{err}");

    raw.batch_execute(&format!(
        "INSERT INTO \"{}\".schema_version (version) VALUES (99)",
        schema.name
    ))
    .await
    .unwrap();
    let err = PostgresStore::builder(url.clone())
        .schema(&schema.name)
        .open()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("version 99"), "{err}");
}

/// A rate limit is three columns: a combination no limit could be, written behind the
/// store's back, is reported as corrupt naming the column, for a token and an owner alike.
#[tokio::test]
async fn a_rate_limit_no_limit_could_be_is_corrupt_naming_the_column() {
    let url = server!("a_rate_limit_no_limit_could_be_is_corrupt_naming_the_column");
    let schema = Schema::new(&url);
    let store = schema.open().await;
    let raw = schema.raw().await;
    let limit = Some(RateLimit::from_parts(10, 60, 10).unwrap());
    let damaged = [
        ("half", "rate_limit_period = NULL", "rate_limit_period"),
        ("zero", "rate_limit_limit = 0", "rate_limit_limit"),
        ("long", "rate_limit_period = 86401", "rate_limit_period"),
        ("huge", "rate_limit_burst = 4294967296", "rate_limit_burst"),
        ("negative", "rate_limit_limit = -1", "rate_limit_limit"),
    ];
    for (id, set, _) in damaged {
        let hash = SecretHasher::Sha256.hash(id.as_bytes());
        store
            .create(TokenRecord::new(id, id, hash).with_rate_limit(limit))
            .await
            .unwrap();
        let update = format!("UPDATE \"{}\".tokens SET {set} WHERE id = $1", schema.name);
        raw.execute(&update, &[&id]).await.unwrap();
    }
    for (id, set, column) in damaged {
        let err = store.get(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{set}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("token {id:?}, column {column}")),
            "{set}: {text}"
        );
    }

    store
        .set_owner_settings("acme", &OwnerSettings::new().with_rate_limit(limit))
        .await
        .unwrap();
    let update = format!(
        "UPDATE \"{}\".owners SET rate_limit_limit = NULL WHERE owner = 'acme'",
        schema.name
    );
    raw.batch_execute(&update).await.unwrap();
    let err = store.owner_settings("acme").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains("owner \"acme\", column rate_limit_limit"),
        "{err}"
    );
}
