//! A database file written by the previous version of tollgate (schema 2, before owners and
//! audit fields; see `tests/fixtures/sqlite-v2/README.md`) opens, migrates, and keeps every
//! token working, and the new fields work on it.
#![cfg(feature = "_sqlite")]

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tollgate::{
    BasicCredential, Credential, ListQuery, NewToken, SqliteStore, TokenManager, TokenPatch, TokenStatus, Verifier,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sqlite-v2");

fn schema_version(path: &Path) -> i64 {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.query_row("SELECT max(version) FROM tollgate_schema_version", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_schema_migrates_and_keeps_every_token_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.sqlite3");
    std::fs::copy(Path::new(FIXTURE).join("tollgate.sqlite3"), &path).unwrap();
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURE).join("tokens.json")).unwrap()).unwrap();
    assert_eq!(schema_version(&path), 2, "the fixture is of the previous schema");

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(schema_version(&path), 3, "opening migrated it");
    let verifier = Verifier::builder(store.clone()).build();
    let tokens = TokenManager::new(store.clone(), verifier.clone());

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

    // The new fields work on the migrated file, old tokens and new alike.
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

    // And it opens again, as the current schema, without migrating twice.
    drop((tokens, verifier));
    Arc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(schema_version(&path), 3);
    drop(again);
}
