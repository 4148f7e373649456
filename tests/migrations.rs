//! Databases written by the previous version of tollgate, before owners and audit fields,
//! open, migrate, and keep every token working, and the new fields work on them: a SQLite
//! file (schema 2) and a PostgreSQL schema (version 1). See `tests/fixtures/*/README.md`
//! for how each was made. Redis keeps no schema: a record written before has no `owner`,
//! `by`, `updated` or `revoked` field, and reads as one without an owner or creator,
//! changed when it was created.
#![cfg(any(feature = "_sqlite", feature = "postgres"))]

mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tollgate::store::TokenStore;
use tollgate::{BasicCredential, Credential, ListQuery, NewToken, TokenManager, TokenPatch, TokenStatus, Verifier};

fn fixture(dir: &str, file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(file)
}

/// Checks every token `tokens.json` of the fixture `dir` lists against `store`, then uses
/// owners and revoke-by-owner on it.
async fn every_token_still_works(dir: &str, store: Arc<dyn TokenStore>) {
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture(dir, "tokens.json")).unwrap()).unwrap();
    let verifier = Verifier::builder_shared(store.clone()).build();
    let tokens = TokenManager::from_shared(store, verifier.clone());

    for token in &expected {
        let (name, id, bearer) = (
            token["name"].as_str().unwrap(),
            token["id"].as_str().unwrap(),
            token["bearer"].as_str().unwrap(),
        );
        let record = tokens.get(id).await.unwrap().expect("every token is still there");
        // A token from before has no owner or creator, and last changed when it was made
        // (a rotation then did not note it).
        assert_eq!((record.owner.as_deref(), record.created_by.as_deref()), (None, None));
        assert_eq!(record.updated_at, record.created_at, "{name}");
        assert_eq!(
            record.revoked_at, None,
            "{name}: a revocation time from before is not known"
        );
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
    let owned = tokens
        .update(plain_id, TokenPatch::new().owner(Some("customer_1".into())))
        .await
        .unwrap();
    assert!(owned.updated_at > owned.created_at);
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
    let plain_bearer = plain["bearer"].as_str().unwrap();
    assert!(verifier.verify(&Credential::Bearer(plain_bearer)).await.is_err());
}

#[cfg(feature = "_sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_of_the_previous_schema_migrates_and_keeps_every_token_working() {
    use tollgate::SqliteStore;
    fn schema_version(path: &Path) -> i64 {
        let raw = rusqlite::Connection::open(path).unwrap();
        raw.query_row("SELECT max(version) FROM tollgate_schema_version", [], |row| row.get(0))
            .unwrap()
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.sqlite3");
    // Never the fixture itself: migrating rewrites the file.
    std::fs::copy(fixture("sqlite-v2", "tollgate.sqlite3"), &path).unwrap();
    assert_eq!(schema_version(&path), 2, "the fixture is of the previous schema");

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(schema_version(&path), 3, "opening migrated it");
    every_token_still_works("sqlite-v2", store.clone()).await;

    // It opens again, as the current schema, without migrating twice.
    Arc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    drop(SqliteStore::open(&path).await.unwrap());
    assert_eq!(schema_version(&path), 3);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_schema_of_the_previous_version_migrates_and_keeps_every_token_working() {
    const NAME: &str = "a_postgres_schema_of_the_previous_version_migrates_and_keeps_every_token_working";
    let Some(url) = support::backends::url(support::backends::POSTGRES_ENV, NAME) else {
        return;
    };
    let schema = support::pg::Schema::new(&url);
    let dump = std::fs::read_to_string(fixture("postgres-v1", "schema.sql")).unwrap();
    let raw = schema.raw().await;
    raw.batch_execute(&dump.replace("tollgate_fixture_v1", &schema.name))
        .await
        .unwrap();
    let versions = format!("SELECT max(version)::bigint FROM {}.schema_version", schema.name);
    let version = |row: tokio_postgres::Row| row.get::<_, i64>(0);
    assert_eq!(version(raw.query_one(&versions, &[]).await.unwrap()), 1);

    let store = Arc::new(schema.open().await);
    assert_eq!(
        version(raw.query_one(&versions, &[]).await.unwrap()),
        2,
        "opening migrated it"
    );
    every_token_still_works("postgres-v1", store).await;
    drop(schema.open().await);
    assert_eq!(
        version(raw.query_one(&versions, &[]).await.unwrap()),
        2,
        "migrated once"
    );
}
