//! Databases written by earlier versions of tollgate open, migrate, and keep every token
//! working, and the new fields work on them: SQLite files of schema 2 (before owners and
//! audit fields) and 3 (before rate limits), PostgreSQL schemas of version 1 and 2 (the same).
//! See `tests/fixtures/*/README.md` for how each was made. Redis keeps no schema for its
//! records: a record written before has no `owner`, `by`, `updated`, `revoked` or `rate`
//! field, and reads as one without an owner, creator or rate limit, changed when it was
//! created (`tests/store_redis.rs`); the keys' layout version (`<prefix>schema`) says whether
//! the owner index was built (`tests/redis_owner_index.rs`).
#![cfg(any(feature = "_sqlite", feature = "postgres"))]

mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tollgate::store::TokenStore;
use tollgate::{
    BasicCredential, Credential, ListQuery, NewToken, OwnerSettings, RateLimit, TokenManager, TokenPatch, TokenRecord,
    TokenStatus, Verifier,
};

fn fixture(dir: &str, file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(file)
}

/// Checks every token `tokens.json` of the fixture `dir` lists against `store`, then uses
/// owners, revoke-by-owner, rate limits and owner settings on it.
async fn every_token_still_works(dir: &str, store: Arc<dyn TokenStore>) {
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture(dir, "tokens.json")).unwrap()).unwrap();
    let verifier = Verifier::builder_shared(store.clone()).build();
    let tokens = TokenManager::from_shared(store.clone(), verifier.clone());

    for token in &expected {
        let (name, id, bearer) = (
            token["name"].as_str().unwrap(),
            token["id"].as_str().unwrap(),
            token["bearer"].as_str().unwrap(),
        );
        let record = tokens.get(id).await.unwrap().expect("every token is still there");
        assert_eq!(record.rate_limit, None, "{name}: a token from before has no rate limit");
        match token.get("record") {
            // The whole record as the version that wrote it read it: every field is kept.
            Some(then) => {
                let then: TokenRecord = serde_json::from_value(then.clone()).unwrap();
                assert_eq!(record, then, "{name}");
            }
            // A token from before owners has no owner or creator, and last changed when it
            // was made (a rotation then did not note it).
            None => {
                assert_eq!((record.owner.as_deref(), record.created_by.as_deref()), (None, None));
                assert_eq!(record.updated_at, record.created_at, "{name}");
                assert_eq!(
                    record.revoked_at, None,
                    "{name}: a revocation time from before is not known"
                );
            }
        }
        // An old secret works while its grace lasts (the fixture gave it a year).
        let in_force = token["works"].as_bool().unwrap()
            && record
                .previous_secret
                .as_ref()
                .filter(|_| name.contains("old secret"))
                .is_none_or(|previous| previous.valid_until > time::OffsetDateTime::now_utc());
        let verified = verifier.verify(&Credential::Bearer(bearer)).await;
        assert_eq!(verified.is_ok(), in_force, "{name}: {verified:?}");
        if let Some(secret) = token["basic_secret"].as_str() {
            let basic = BasicCredential::new(id, secret);
            assert!(
                verifier.verify(&Credential::Basic(basic)).await.is_ok(),
                "{name} as Basic"
            );
        }
    }

    // The new fields work on the migrated database, old tokens and new alike.
    let plain = expected.iter().find(|t| t["name"] == "plain").unwrap();
    let plain_id = plain["id"].as_str().unwrap();
    let limit = RateLimit::from_parts(100, 60, 10).unwrap();
    let owned = tokens
        .update(
            plain_id,
            TokenPatch::new()
                .owner(Some("customer_1".into()))
                .rate_limit(Some(limit)),
        )
        .await
        .unwrap();
    assert!(owned.updated_at > owned.created_at);
    assert_eq!(tokens.get(plain_id).await.unwrap().unwrap().rate_limit, Some(limit));
    let plan = OwnerSettings::new().with_rate_limit(Some(limit));
    assert_eq!(store.owner_settings("customer_1").await.unwrap(), OwnerSettings::new());
    store.set_owner_settings("customer_1", &plan).await.unwrap();
    assert_eq!(store.owner_settings("customer_1").await.unwrap(), plan);
    let issued = tokens.create(NewToken::new("new").owner("customer_1")).await.unwrap();
    let listed = tokens.list(&ListQuery::new(10).owner("customer_1")).await.unwrap();
    let ids: Vec<&str> = listed.records.iter().map(|r| r.id.as_str()).collect();
    let mut want = vec![plain_id, issued.id()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(tokens.revoke_owner("customer_1").await.unwrap(), 2);
    let revoked = tokens.get(plain_id).await.unwrap().unwrap();
    assert_eq!(revoked.status, TokenStatus::Inactive);
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.rate_limit, Some(limit), "revoking keeps the limit");
    let plain_bearer = plain["bearer"].as_str().unwrap();
    assert!(verifier.verify(&Credential::Bearer(plain_bearer)).await.is_err());
}

#[cfg(feature = "_sqlite")]
async fn a_sqlite_file_migrates_and_keeps_every_token_working(dir: &str, from: i64) {
    use tollgate::SqliteStore;
    fn schema_version(path: &Path) -> i64 {
        let raw = rusqlite::Connection::open(path).unwrap();
        raw.query_row("SELECT max(version) FROM tollgate_schema_version", [], |row| row.get(0))
            .unwrap()
    }
    let dir_path = tempfile::tempdir().unwrap();
    let path = dir_path.path().join("tollgate.sqlite3");
    // Never the fixture itself: migrating rewrites the file.
    std::fs::copy(fixture(dir, "tollgate.sqlite3"), &path).unwrap();
    assert_eq!(schema_version(&path), from, "the fixture is of schema {from}");

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(schema_version(&path), SQLITE_LATEST, "opening migrated it");
    every_token_still_works(dir, store.clone()).await;

    // It opens again, as the current schema, without migrating twice.
    Arc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    drop(SqliteStore::open(&path).await.unwrap());
    assert_eq!(schema_version(&path), SQLITE_LATEST);
}

/// The SQLite schema this version writes.
#[cfg(feature = "_sqlite")]
const SQLITE_LATEST: i64 = 5;

#[cfg(feature = "_sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_of_the_previous_schema_migrates_and_keeps_every_token_working() {
    a_sqlite_file_migrates_and_keeps_every_token_working("sqlite-v3", 3).await;
}

#[cfg(feature = "_sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_from_before_owners_migrates_and_keeps_every_token_working() {
    a_sqlite_file_migrates_and_keeps_every_token_working("sqlite-v2", 2).await;
}

/// The PostgreSQL schema version this version writes.
#[cfg(feature = "postgres")]
const POSTGRES_LATEST: i64 = 4;

/// Loads the fixture `dir` (a dump of the schema `dumped`, at version `from`) into a schema
/// of the test's own, opens it, and checks it.
#[cfg(feature = "postgres")]
async fn a_postgres_schema_migrates_and_keeps_every_token_working(test: &str, dir: &str, dumped: &str, from: i64) {
    let Some(url) = support::backends::url(support::backends::POSTGRES_ENV, test) else {
        return;
    };
    let schema = support::pg::Schema::new(&url);
    let dump = std::fs::read_to_string(fixture(dir, "schema.sql")).unwrap();
    let raw = schema.raw().await;
    raw.batch_execute(&dump.replace(dumped, &schema.name)).await.unwrap();
    let versions = format!("SELECT max(version)::bigint FROM {}.schema_version", schema.name);
    let version = |row: tokio_postgres::Row| row.get::<_, i64>(0);
    assert_eq!(version(raw.query_one(&versions, &[]).await.unwrap()), from);

    let store = Arc::new(schema.open().await);
    assert_eq!(
        version(raw.query_one(&versions, &[]).await.unwrap()),
        POSTGRES_LATEST,
        "opening migrated it"
    );
    every_token_still_works(dir, store).await;
    drop(schema.open().await);
    assert_eq!(
        version(raw.query_one(&versions, &[]).await.unwrap()),
        POSTGRES_LATEST,
        "migrated once"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_schema_of_the_previous_version_migrates_and_keeps_every_token_working() {
    a_postgres_schema_migrates_and_keeps_every_token_working(
        "a_postgres_schema_of_the_previous_version_migrates_and_keeps_every_token_working",
        "postgres-v2",
        "tollgate_fixture_v2",
        2,
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_schema_from_before_owners_migrates_and_keeps_every_token_working() {
    a_postgres_schema_migrates_and_keeps_every_token_working(
        "a_postgres_schema_from_before_owners_migrates_and_keeps_every_token_working",
        "postgres-v1",
        "tollgate_fixture_v1",
        1,
    )
    .await;
}
