//! Revoking every token of an owner at once, through the Rust API: 1,000 tokens, each
//! cached as valid by two replicas (two stores, each with its verifier and change stream),
//! revoked in one call through the first; the next request with any of them is refused by
//! the first at once and by the second as soon as its change stream says so. The times are
//! printed. SQLite always runs; PostgreSQL and Redis run against the machine's servers.
#![cfg(any(feature = "_sqlite", feature = "postgres", feature = "redis"))]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::store::TokenStore;
use tollgate::{Credential, ListQuery, NewToken, TokenManager, Verifier};

const TOKENS: usize = 1000;

/// Makes `TOKENS` tokens of one owner and one of another through `a`, caches them all on
/// both replicas, revokes the owner through `a`, and checks both refuse them.
async fn revoke_an_owner_across_two_replicas(label: &str, a: Arc<dyn TokenStore>, b: Arc<dyn TokenStore>) {
    let verifier_a = Verifier::builder_shared(a.clone()).build();
    let verifier_b = Verifier::builder_shared(b.clone()).build();
    let listener = tokio::spawn(verifier_b.invalidation_task().expect("the store has a change stream"));
    let tokens_a = TokenManager::from_shared(a, verifier_a.clone());

    let owner = support::backends::unique_name("closing_");
    let made = Instant::now();
    let mut issued = Vec::with_capacity(TOKENS);
    for chunk in 0..TOKENS / 50 {
        let batch = (0..50).map(|i| {
            let tokens = tokens_a.clone();
            let owner = owner.clone();
            async move {
                let new = NewToken::new(format!("t{}", chunk * 50 + i)).owner(owner);
                tokens.create(new).await.unwrap().token().expose().to_owned()
            }
        });
        issued.extend(futures_util::future::join_all(batch).await);
    }
    let other = tokens_a
        .create(NewToken::new("someone else's").owner(format!("{owner}_not")))
        .await
        .unwrap();
    let other = other.token().expose().to_owned();
    println!("{label}: made {TOKENS} tokens in {:?}", made.elapsed());
    for token in &issued {
        assert!(verifier_a.verify(&Credential::Bearer(token)).await.is_ok());
        assert!(verifier_b.verify(&Credential::Bearer(token)).await.is_ok());
    }

    let started = Instant::now();
    let revoked = tokens_a.revoke_owner(&owner).await.unwrap();
    let took = started.elapsed();
    assert_eq!(revoked, TOKENS);
    verifier_a.run_pending_tasks();
    assert!(
        verifier_a.cached_count() <= 1,
        "the revoking replica's cache was told in the call"
    );
    // The other replica's cache drops them as its change stream tells it (what is left
    // cached is the other owner's token)...
    loop {
        verifier_b.run_pending_tasks();
        if verifier_b.cached_count() <= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the other replica still caches the tokens"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seen_by_b = started.elapsed();
    for token in &issued {
        assert!(
            verifier_a.verify(&Credential::Bearer(token)).await.is_err(),
            "the revoking replica refuses (its cache was told in the call)"
        );
    }
    // ...and refuses every one of them from its store.
    for token in &issued {
        assert!(verifier_b.verify(&Credential::Bearer(token)).await.is_err());
    }
    assert!(
        verifier_a.verify(&Credential::Bearer(&other)).await.is_ok(),
        "another owner's stays"
    );
    assert!(
        verifier_b.verify(&Credential::Bearer(&other)).await.is_ok(),
        "another owner's stays"
    );
    let left = tokens_a
        .list(
            &ListQuery::new(10)
                .owner(owner.clone())
                .status(tollgate::TokenStatus::Active),
        )
        .await
        .unwrap();
    assert!(left.records.is_empty());
    println!(
        "{label}: revoke_owner of {TOKENS} tokens took {:.1} ms; every one refused by the revoking replica at once, \
         dropped from the other replica's cache {:.1} ms after the call began",
        took.as_secs_f64() * 1000.0,
        seen_by_b.as_secs_f64() * 1000.0
    );
    listener.abort();
}

#[cfg(feature = "_sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_owner_of_1000_tokens_on_sqlite() {
    use tollgate::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let a = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b = Arc::new(SqliteStore::open(&path).await.unwrap());
    revoke_an_owner_across_two_replicas("SQLite (two stores on one file)", a, b).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_owner_of_1000_tokens_on_postgres() {
    let Some(url) = support::backends::url(
        support::backends::POSTGRES_ENV,
        "revoking_an_owner_of_1000_tokens_on_postgres",
    ) else {
        return;
    };
    let schema = support::pg::Schema::new(&url);
    let (a, b) = (Arc::new(schema.open().await), Arc::new(schema.open().await));
    revoke_an_owner_across_two_replicas("PostgreSQL (two stores)", a, b).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_owner_of_1000_tokens_on_redis() {
    let Some(url) = support::backends::url(
        support::backends::REDIS_ENV,
        "revoking_an_owner_of_1000_tokens_on_redis",
    ) else {
        return;
    };
    let prefix = support::redis::Prefix::new(&url);
    let (a, b) = (Arc::new(prefix.open().await), Arc::new(prefix.open().await));
    revoke_an_owner_across_two_replicas("Redis (two stores)", a, b).await;
}
