//! `RedisStore`'s owner index against the machine's real Redis (`TOLLGATE_TEST_REDIS_URL`):
//! revoking and listing an owner's tokens cost the owner's tokens, not the store's; the index
//! follows creates, owner changes and deletes; opening a store builds it for tokens written
//! without it; and an entry the index should not hold changes nothing. Each test uses a key
//! prefix of its own and deletes its keys.
//!
//! The cost is counted by Redis itself: the `calls` of `INFO commandstats`, summed over every
//! command (those a script runs included), before and after the call. The counters are the
//! whole server's, and other clients of the shared server only ever add to them, so each
//! call is counted several times and the fewest is kept.
#![cfg(feature = "redis")]

mod support;

use std::time::Instant;

use futures_util::StreamExt as _;
use redis::aio::MultiplexedConnection;
use support::backends::{REDIS_ENV, url};
use support::redis::Prefix;
use tollgate::store::{Rotation, TokenSource as _, TokenStore};
use tollgate::{ListQuery, SecretHasher, StoreError, TokenPatch, TokenRecord, TokenStatus};

/// The server's URL, or return from the test (it says it skipped).
macro_rules! server {
    ($test:literal) => {
        match url(REDIS_ENV, $test) {
            Some(url) => url,
            None => return,
        }
    };
}

/// The owner's tokens.
const OWNED: usize = 1_000;
/// The tokens of the larger store, the owner's among them.
const LARGE: usize = 100_000;
/// How many times each call is counted.
const RUNS: usize = 5;

/// The record of token `i`: ids in the order of `i`, so that the owner's tokens lie spread
/// among the others in id order.
fn record(i: usize, owner: Option<&str>) -> TokenRecord {
    let hash = SecretHasher::Sha256.hash(format!("secret {i}").as_bytes());
    TokenRecord::new(format!("tok{i:06}"), format!("token {i}"), hash).with_owner(owner.map(str::to_owned))
}

/// Creates `records` through the store's own writes, many at once (the store's one
/// connection pipelines them).
async fn create_all(store: &dyn TokenStore, records: impl Iterator<Item = TokenRecord>) {
    futures_util::stream::iter(records)
        .map(|record| store.create(record))
        .buffer_unordered(256)
        .for_each(|created| async move { created.unwrap() })
        .await;
}

/// Every command Redis has run since it started, by any client, scripts' commands included,
/// less `INFO` (the counting's own).
async fn commands_run(raw: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(raw).await.unwrap();
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("info:"))
        .map(|line| {
            let calls = line.split_once(":calls=").expect("cmdstat_<name>:calls=<n>,…").1;
            calls.split(',').next().unwrap().parse::<u64>().unwrap()
        })
        .sum()
}

/// The fewest commands Redis ran while `call` ran, over [`RUNS`] runs, each after `prepare`
/// (not counted).
async fn fewest_commands(
    raw: &mut MultiplexedConnection,
    mut prepare: impl AsyncFnMut(),
    mut call: impl AsyncFnMut(),
) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..RUNS {
        prepare().await;
        let before = commands_run(raw).await;
        call().await;
        fewest = fewest.min(commands_run(raw).await - before);
    }
    fewest
}

/// The commands a walk through every page of the owner's tokens (250 a page) runs, and those
/// a `revoke_owner` of them all runs; each call checked for what it returns.
async fn owner_costs(
    store: &dyn TokenStore,
    raw: &mut MultiplexedConnection,
    owner: &str,
    owned: &[String],
) -> (u64, u64) {
    let listing = fewest_commands(
        raw,
        async || {},
        async || {
            let mut listed = Vec::new();
            let mut query = ListQuery::new(250).owner(owner);
            loop {
                let page = store.list(&query).await.unwrap();
                listed.extend(page.records.into_iter().map(|r| r.id));
                match page.next_after {
                    Some(after) => query = query.after(after),
                    None => break,
                }
            }
            assert_eq!(listed, owned, "the owner's tokens, each once, in id order");
        },
    )
    .await;
    let active = TokenPatch::new().status(TokenStatus::Active);
    let revoking = fewest_commands(
        raw,
        async || {
            futures_util::stream::iter(owned)
                .map(|id| store.update(id, &active))
                .buffer_unordered(256)
                .for_each(|updated| async move { assert!(updated.unwrap().is_some()) })
                .await;
        },
        async || {
            assert_eq!(
                store.revoke_owner(owner).await.unwrap(),
                owned,
                "every one, in id order"
            );
        },
    )
    .await;
    (listing, revoking)
}

/// The same 1,000 tokens of one owner, first alone in the store, then among 99,000 others
/// (of 500 other owners, and of none): listing them and revoking them run as many commands
/// in both. Without the index both read every record of the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_and_listing_an_owner_cost_the_same_in_a_store_of_100_000_as_of_1_000() {
    let url = server!("revoking_and_listing_an_owner_cost_the_same_in_a_store_of_100_000_as_of_1_000");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let mut raw = prefix.raw().await;
    let owner = "customer_1729";
    // Every hundredth token is the owner's.
    let owned: Vec<String> = (0..LARGE).step_by(LARGE / OWNED).map(|i| record(i, None).id).collect();
    assert_eq!(owned.len(), OWNED);

    create_all(
        &store,
        (0..LARGE).step_by(LARGE / OWNED).map(|i| record(i, Some(owner))),
    )
    .await;
    let (list_small, revoke_small) = owner_costs(&store, &mut raw, owner, &owned).await;

    let filled = Instant::now();
    let others = (0..LARGE).filter(|i| i % (LARGE / OWNED) != 0).map(|i| {
        let other = format!("other_{}", i % 500);
        record(i, (i % 7 != 0).then_some(other.as_str()))
    });
    create_all(&store, others).await;
    println!(
        "filled the store to {LARGE} tokens in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let (list_large, revoke_large) = owner_costs(&store, &mut raw, owner, &owned).await;

    println!(
        "commands to list {OWNED} tokens of an owner: {list_small} in a store of {OWNED}, {list_large} in one of {LARGE}"
    );
    println!(
        "commands to revoke {OWNED} tokens of an owner: {revoke_small} in a store of {OWNED}, {revoke_large} in one of {LARGE}"
    );
    // Equal on a quiet server; the slack is for a server never quiet through all the runs.
    for (what, small, large) in [("list", list_small, list_large), ("revoke", revoke_small, revoke_large)] {
        assert!(
            large <= small + small / 20,
            "{what}: {large} commands among {LARGE} tokens, {small} among {OWNED}"
        );
        assert!(
            small <= 5 * OWNED as u64 + 100,
            "{what}: {small} commands for {OWNED} tokens: a few per token of the owner, not more"
        );
    }
}

/// The members of the sorted set `key`.
async fn members(raw: &mut MultiplexedConnection, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(raw)
        .await
        .unwrap()
}

/// The keys of the owner index under `prefix`.
async fn owner_indexes(raw: &mut MultiplexedConnection, prefix: &Prefix) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}ot:*", prefix.name))
        .query_async(raw)
        .await
        .unwrap();
    keys.sort();
    keys
}

/// A token with an owner is in its owner's index and no other; one without is in none.
#[tokio::test]
async fn an_update_moves_a_token_between_owners_and_a_delete_removes_it() {
    let url = server!("an_update_moves_a_token_between_owners_and_a_delete_removes_it");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let mut raw = prefix.raw().await;
    let index = |owner: &str| format!("{}ot:{owner}", prefix.name);
    let owner = |owner: &str| TokenPatch::new().owner(Some(owner.to_owned()));

    store.create(record(1, Some("ann"))).await.unwrap();
    store.create(record(2, Some("ann"))).await.unwrap();
    store.create(record(3, None)).await.unwrap();
    assert_eq!(members(&mut raw, &index("ann")).await, ["tok000001", "tok000002"]);
    assert_eq!(
        owner_indexes(&mut raw, &prefix).await,
        [index("ann")],
        "none for no owner"
    );

    store.update("tok000001", &owner("bob")).await.unwrap().unwrap();
    assert_eq!(members(&mut raw, &index("ann")).await, ["tok000002"]);
    assert_eq!(members(&mut raw, &index("bob")).await, ["tok000001"]);

    store
        .update("tok000002", &TokenPatch::new().owner(None))
        .await
        .unwrap()
        .unwrap();
    store.update("tok000003", &owner("ann")).await.unwrap().unwrap();
    assert_eq!(members(&mut raw, &index("ann")).await, ["tok000003"]);

    // Changes that keep the owner keep the token where it is.
    store
        .update("tok000001", &TokenPatch::new().name("renamed"))
        .await
        .unwrap()
        .unwrap();
    let new_hash = SecretHasher::Sha256.hash(b"rotated");
    store
        .rotate("tok000001", &Rotation::new(new_hash, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.revoke_owner("bob").await.unwrap(), ["tok000001"]);
    assert_eq!(members(&mut raw, &index("bob")).await, ["tok000001"]);
    assert_eq!(owner_indexes(&mut raw, &prefix).await, [index("ann"), index("bob")]);

    assert!(store.delete("tok000001").await.unwrap());
    assert!(store.delete("tok000003").await.unwrap());
    assert_eq!(owner_indexes(&mut raw, &prefix).await, Vec::<String>::new());
    let listed = store.list(&ListQuery::new(10).owner("bob")).await.unwrap();
    assert!(listed.records.is_empty() && listed.next_after.is_none());
    assert!(store.revoke_owner("ann").await.unwrap().is_empty());
}

/// Tokens written by a tollgate from before the index (here: written now, then the index and
/// the layout version removed, as that tollgate left them): two stores opening at once index
/// them, over more than one batch of the migration, and mark the layout as migrated. A
/// layout newer than this code, or not a version at all, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_store_indexes_the_owners_of_tokens_written_before_the_index() {
    let url = server!("opening_a_store_indexes_the_owners_of_tokens_written_before_the_index");
    let prefix = Prefix::new(&url);
    let mut raw = prefix.raw().await;
    let schema = format!("{}schema", prefix.name);
    let owner_of = |i: usize| ["ann", "bob", "cy"].get(i % 4).copied();
    let tokens = 2_500;
    let store = prefix.open().await;
    create_all(&store, (0..tokens).map(|i| record(i, owner_of(i)))).await;
    let version: String = redis::cmd("GET").arg(&schema).query_async(&mut raw).await.unwrap();
    assert_eq!(version, "1", "a new store is at the latest layout");
    let mut before = owner_indexes(&mut raw, &prefix).await;
    before.push(schema.clone());
    redis::cmd("DEL").arg(&before).exec_async(&mut raw).await.unwrap();
    let listed = store.list(&ListQuery::new(10).owner("ann")).await.unwrap();
    assert!(listed.records.is_empty(), "the store lists an owner from its index");
    drop(store);

    let (a, b) = tokio::join!(prefix.open(), prefix.open());
    let version: String = redis::cmd("GET").arg(&schema).query_async(&mut raw).await.unwrap();
    assert_eq!(version, "1");
    for (name, index) in ["ann", "bob", "cy"].into_iter().enumerate() {
        let expected: Vec<String> = (0..tokens)
            .filter(|i| i % 4 == name)
            .map(|i| record(i, None).id)
            .collect();
        let key = format!("{}ot:{index}", prefix.name);
        assert_eq!(members(&mut raw, &key).await, expected, "{index}");
    }
    assert_eq!(owner_indexes(&mut raw, &prefix).await.len(), 3, "none for no owner");
    let revoked = a.revoke_owner("bob").await.unwrap();
    assert_eq!(revoked.len(), tokens / 4);
    let left = b
        .list(&ListQuery::new(10).owner("bob").status(TokenStatus::Active))
        .await
        .unwrap();
    assert!(left.records.is_empty());
    assert_eq!(b.get(&revoked[0]).await.unwrap().unwrap().status, TokenStatus::Inactive);
    drop((a, b));

    for bad in ["2", "one"] {
        redis::cmd("SET")
            .arg(&schema)
            .arg(bad)
            .exec_async(&mut raw)
            .await
            .unwrap();
        let err = tollgate::RedisStore::builder(&url)
            .prefix(&prefix.name)
            .open()
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{bad}: {err:?}");
    }
}

/// An index entry the record does not bear out (a writer without the index moved the token
/// to another owner): the owner's listing skips it, and revoking the owner leaves it.
#[tokio::test]
async fn an_index_entry_whose_record_names_another_owner_is_neither_listed_nor_revoked() {
    let url = server!("an_index_entry_whose_record_names_another_owner_is_neither_listed_nor_revoked");
    let prefix = Prefix::new(&url);
    let store = prefix.open().await;
    let mut raw = prefix.raw().await;
    store.create(record(1, Some("bob"))).await.unwrap();
    redis::cmd("ZADD")
        .arg(format!("{}ot:ann", prefix.name))
        .arg(0)
        .arg("tok000001")
        .exec_async(&mut raw)
        .await
        .unwrap();
    assert!(
        store
            .list(&ListQuery::new(10).owner("ann"))
            .await
            .unwrap()
            .records
            .is_empty()
    );
    assert!(store.revoke_owner("ann").await.unwrap().is_empty());
    assert_eq!(
        store.get("tok000001").await.unwrap().unwrap().status,
        TokenStatus::Active
    );
}
