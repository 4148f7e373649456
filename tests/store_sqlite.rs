//! `SqliteStore`: the store conformance suite, persistence, concurrency, sharing a file
//! between connections and processes, and refusing files it cannot trust.
#![cfg(feature = "_sqlite")]

mod support;

use support::{now, percentiles};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tollgate::store::{Rotation, TokenSource, TokenStore};
use tollgate::{
    ListQuery, OwnerSettings, PreviousSecret, RateLimit, SecretHasher, SqliteStore, StoreError, TokenPatch,
    TokenRecord, TokenStatus,
};

/// Set in the environment of the child process that
/// `a_second_process_sees_writes_and_writes_alongside` starts: the database to open.
const CHILD_DB_ENV: &str = "TOLLGATE_TEST_SQLITE_CHILD_DB";

fn hash(text: &str) -> tollgate::SecretHash {
    SecretHasher::Sha256.hash(text.as_bytes())
}

fn record(id: &str) -> TokenRecord {
    TokenRecord::new(id, format!("name of {id}"), hash(&format!("secret of {id}")))
}

fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    (dir, path)
}

async fn all_ids(store: &SqliteStore) -> Vec<String> {
    let mut ids = Vec::new();
    let mut query = ListQuery::new(64);
    loop {
        let page = store.list(&query).await.unwrap();
        ids.extend(page.records.into_iter().map(|r| r.id));
        match page.next_after {
            Some(after) => query = ListQuery::new(64).after(after),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    support::conformance::run(&store, support::conformance::Changes::Streamed).await;
    store.close().await.unwrap();

    // Without its poller, the store says it has no stream, and the suite holds it to that.
    let (_dir, path) = temp_db();
    let store = SqliteStore::builder(&path).poll_changes(None).open().await.unwrap();
    support::conformance::run(&store, support::conformance::Changes::NotOffered).await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn tokens_survive_close_and_reopen() {
    let (_dir, path) = temp_db();
    let mut full = record("full").with_scopes(["b", "a"]);
    full.kind = "service".into();
    full.status = TokenStatus::Inactive;
    full.expires_at = Some(now() + time::Duration::days(3));
    full.last_used_at = Some(now());
    full.metadata = json!({"team": "infra", "n": [1, 2]}).as_object().unwrap().clone();
    full.previous_secret = Some(PreviousSecret {
        hash: hash("an older secret"),
        valid_until: now() + time::Duration::hours(1),
    });

    let store = SqliteStore::open(&path).await.unwrap();
    store.create(full.clone()).await.unwrap();
    store.create(record("plain")).await.unwrap();
    store.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.get("full").await.unwrap(), Some(full));
    assert_eq!(
        store.find_by_hash(&hash("an older secret")).await.unwrap().unwrap().id,
        "full"
    );
    assert_eq!(
        store.find_by_hash(&hash("secret of plain")).await.unwrap().unwrap().id,
        "plain"
    );
    store.delete("plain").await.unwrap();
    // Dropping, rather than closing, also keeps what was written.
    drop(store);

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(all_ids(&store).await, ["full"]);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_from_many_tasks_are_all_kept() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..25 {
                    store.create(record(&format!("t{task}-{i:02}"))).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Arc::into_inner(store).unwrap().close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let mut expected: Vec<String> = (0..8)
        .flat_map(|task| (0..25).map(move |i| format!("t{task}-{i:02}")))
        .collect();
    expected.sort();
    assert_eq!(all_ids(&store).await, expected);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_second_connection_sees_writes_at_once() {
    let (_dir, path) = temp_db();
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();

    first.create(record("shared")).await.unwrap();
    assert_eq!(second.get("shared").await.unwrap().unwrap().name, "name of shared");

    let mut patch = TokenPatch::default();
    patch.status = Some(TokenStatus::Inactive);
    second.update("shared", &patch).await.unwrap().unwrap();
    assert_eq!(
        first.get("shared").await.unwrap().unwrap().status,
        TokenStatus::Inactive
    );

    let rotation = Rotation::new(hash("rotated"), None);
    first.rotate("shared", &rotation).await.unwrap().unwrap();
    assert_eq!(
        second.find_by_hash(&hash("rotated")).await.unwrap().unwrap().id,
        "shared"
    );
    assert!(second.find_by_hash(&hash("secret of shared")).await.unwrap().is_none());

    // Each connection's writes are checked against the other's.
    let err = second.create(record("shared")).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId), "{err:?}");
    let err = second
        .create(TokenRecord::new("other", "other", hash("rotated")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");

    assert!(second.delete("shared").await.unwrap());
    assert!(first.get("shared").await.unwrap().is_none());
    first.close().await.unwrap();
    second.close().await.unwrap();
}

#[tokio::test]
async fn opening_waits_for_another_program_creating_the_file() {
    // Another program is writing the new file: switching it to WAL has to wait, and
    // SQLite's busy timeout does not cover that switch.
    let (_dir, path) = temp_db();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE unrelated (x);")
        .unwrap();

    let open = tokio::spawn(SqliteStore::open(path.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    other.execute_batch("COMMIT").unwrap();
    let store = open
        .await
        .unwrap()
        .expect("the open goes through once the other write is done");
    store.create(record("first")).await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_opening_a_new_file_at_once_all_succeed() {
    for _ in 0..20 {
        let (_dir, path) = temp_db();
        let opened = futures_util::future::join_all((0..4).map(|_| SqliteStore::open(&path))).await;
        let stores: Vec<SqliteStore> = opened.into_iter().map(Result::unwrap).collect();
        stores[0].create(record("first")).await.unwrap();
        for store in stores {
            assert!(store.get("first").await.unwrap().is_some());
            store.close().await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_second_process_sees_writes_and_writes_alongside() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    store.create(record("before-child")).await.unwrap();

    // The child is this test binary, running `second_process_child` alone.
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "second_process_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB_ENV, &path)
        .output();
    let writes = async {
        for i in 0..100 {
            store.create(record(&format!("parent-{i:03}"))).await.unwrap();
        }
    };
    let (output, ()) = tokio::join!(child, writes);
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "child process failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child ran its test"
    );

    let ids = all_ids(&store).await;
    assert_eq!(ids.len(), 201);
    assert_eq!(ids.iter().filter(|id| id.starts_with("child-")).count(), 100);
    assert_eq!(
        store
            .find_by_hash(&hash("secret of child-042"))
            .await
            .unwrap()
            .unwrap()
            .id,
        "child-042"
    );
    store.close().await.unwrap();
}

/// Half of `a_second_process_sees_writes_and_writes_alongside`; does nothing on its own.
#[tokio::test]
async fn second_process_child() {
    let Some(path) = std::env::var_os(CHILD_DB_ENV) else {
        return;
    };
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(
        store.get("before-child").await.unwrap().is_some(),
        "the parent's write is visible"
    );
    for i in 0..100 {
        store.create(record(&format!("child-{i:03}"))).await.unwrap();
    }
    let err = store.create(record("before-child")).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId), "{err:?}");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_waiting_for_another_writer_leaves_the_executor_free() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let mut create = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.create(record("waited")).await }
    });
    // On this single-threaded runtime the timer fires only if the waiting write is not
    // blocking the thread.
    let early = tokio::time::timeout(Duration::from_millis(300), &mut create).await;
    assert!(early.is_err(), "the write waits for the other writer's lock");

    other.execute_batch("COMMIT").unwrap();
    create
        .await
        .unwrap()
        .expect("the write goes through once the lock is free");
    assert!(store.get("waited").await.unwrap().is_some());
}

fn assert_refused_untouched(err: &StoreError, path: &Path, original: &[u8]) {
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "names the path: {message}"
    );
    assert!(message.contains("not a SQLite database"), "{message}");
    assert_eq!(std::fs::read(path).unwrap(), original, "the file is unchanged");
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        assert!(!Path::new(&side).exists(), "no {suffix} file is created");
    }
}

#[tokio::test]
async fn a_file_of_random_bytes_is_refused_and_left_untouched() {
    let (_dir, path) = temp_db();
    // A fixed xorshift sequence: random-looking, and the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_refused_untouched(&err, &path, &bytes);
}

#[tokio::test]
async fn a_text_file_is_refused_and_left_untouched() {
    let (_dir, path) = temp_db();
    for text in ["hello\n", &"a line of notes that is not a database\n".repeat(200)] {
        std::fs::write(&path, text).unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_refused_untouched(&err, &path, text.as_bytes());
    }
}

#[tokio::test]
async fn a_database_from_a_newer_tollgate_is_refused() {
    let (_dir, path) = temp_db();
    SqliteStore::open(&path).await.unwrap().close().await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO tollgate_schema_version (version, applied_at) VALUES (99, 0)",
        [],
    )
    .unwrap();
    drop(raw);

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("schema version 99 is newer"), "{err}");
}

#[tokio::test]
async fn bad_rows_are_reported_as_corrupt_naming_the_column() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    store.create(record("frozen")).await.unwrap();
    store.create(record("badjson")).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE tollgate_tokens SET status = 'frozen' WHERE id = 'frozen'", [])
        .unwrap();
    raw.execute("UPDATE tollgate_tokens SET metadata = '[1, 2' WHERE id = 'badjson'", [])
        .unwrap();

    for (id, column) in [("frozen", "status"), ("badjson", "metadata")] {
        let err = store.get(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains(&format!("column {column}")), "{err}");
    }
    let err = store.list(&ListQuery::new(10)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    store.close().await.unwrap();
}

/// A rate limit is three columns: a combination no limit could be, written behind the
/// store's back, is reported as corrupt naming the column, for a token and an owner alike.
#[tokio::test]
async fn a_rate_limit_no_limit_could_be_is_corrupt_naming_the_column() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    let limit = Some(RateLimit::from_parts(10, 60, 10).unwrap());
    let damaged = [
        ("half", "rate_limit_period = NULL", "rate_limit_period"),
        ("zero", "rate_limit_limit = 0", "rate_limit_limit"),
        ("long", "rate_limit_period = 86401", "rate_limit_period"),
        ("huge", "rate_limit_burst = 4294967296", "rate_limit_burst"),
    ];
    let raw = rusqlite::Connection::open(&path).unwrap();
    for (id, set, _) in damaged {
        store.create(record(id).with_rate_limit(limit)).await.unwrap();
        raw.execute(&format!("UPDATE tollgate_tokens SET {set} WHERE id = ?1"), [id])
            .unwrap();
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
    raw.execute(
        "UPDATE tollgate_owners SET rate_limit_limit = NULL WHERE owner = 'acme'",
        [],
    )
    .unwrap();
    let err = store.owner_settings("acme").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains("owner \"acme\", column rate_limit_limit"),
        "{err}"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn stores_with_different_table_prefixes_share_a_file_apart() {
    let (_dir, path) = temp_db();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE tokens (app_column TEXT); CREATE TABLE schema_version (v INTEGER);")
        .unwrap();
    drop(raw);
    let default = SqliteStore::open(&path).await.unwrap();
    let other = SqliteStore::builder(&path).table_prefix("auth_").open().await.unwrap();
    default.create(record("in-default")).await.unwrap();
    other.create(record("in-other")).await.unwrap();
    assert_eq!(all_ids(&default).await, ["in-default"]);
    assert_eq!(all_ids(&other).await, ["in-other"]);
    default.close().await.unwrap();
    other.close().await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    let mut tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "auth_changes",
            "auth_owners",
            "auth_schema_version",
            "auth_settings",
            "auth_token_secrets",
            "auth_tokens",
            "schema_version",
            "sqlite_sequence",
            "tokens",
            "tollgate_changes",
            "tollgate_owners",
            "tollgate_schema_version",
            "tollgate_settings",
            "tollgate_token_secrets",
            "tollgate_tokens"
        ],
        "the application's own tables are left alone"
    );
}

#[tokio::test]
async fn a_table_prefix_that_is_not_an_identifier_is_refused() {
    let (_dir, path) = temp_db();
    for bad in ["a-b", "1abc", "x y", "t;DROP", &"a".repeat(65)] {
        let err = SqliteStore::builder(&path).table_prefix(bad).open().await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{bad}: {err:?}");
    }
    assert!(!path.exists(), "nothing was written");
}

/// The schema tollgate wrote before table prefixes, exactly as its first migration made it.
const UNPREFIXED_SCHEMA: &str = "
    CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL) STRICT;
    INSERT INTO schema_version VALUES (1, 0);
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, scopes TEXT NOT NULL,
        status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, last_used_at INTEGER,
        metadata TEXT NOT NULL
    ) STRICT;
    CREATE TABLE token_secrets (
        hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
        token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('current', 'previous')),
        valid_until INTEGER,
        CHECK ((role = 'current') = (valid_until IS NULL)),
        UNIQUE (token_id, role)
    ) STRICT, WITHOUT ROWID;";

#[tokio::test]
async fn a_database_from_before_table_prefixes_keeps_its_tokens() {
    let (_dir, path) = temp_db();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(UNPREFIXED_SCHEMA).unwrap();
    raw.execute(
        "INSERT INTO tokens VALUES ('old1', 'from 0.1', 'api', '[\"b\",\"a\"]', 'active', 1700000000000000, NULL, NULL, '{}')",
        [],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO token_secrets VALUES (?1, 'old1', 'current', NULL)",
        [hash("secret of old1").as_bytes()],
    )
    .unwrap();
    drop(raw);

    let store = SqliteStore::open(&path).await.unwrap();
    let found = store.find_by_hash(&hash("secret of old1")).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.scopes.as_slice()),
        ("old1", &["a".to_owned(), "b".to_owned()][..])
    );
    // The foreign key followed the rename: deleting the token deletes its secret.
    assert!(store.delete("old1").await.unwrap());
    store.create(record("new1")).await.unwrap();
    assert_eq!(all_ids(&store).await, ["new1"]);
    store.close().await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    let old_tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('tokens', 'token_secrets', 'schema_version')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(old_tables, 0, "renamed, not copied");
    let orphans: i64 = raw
        .query_row(
            "SELECT count(*) FROM tollgate_token_secrets WHERE token_id = 'old1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

/// Two stores on one file, each with its own verifier and change poller, as two processes
/// would have: a token deleted through one is refused by the other within a poll or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_store_is_refused_through_another_on_the_same_file() {
    use tollgate::{Credential, NewToken, TokenManager, Verifier};
    let (_dir, path) = temp_db();
    let (a, b) = (
        Arc::new(SqliteStore::open(&path).await.unwrap()),
        Arc::new(SqliteStore::open(&path).await.unwrap()),
    );
    let (verifier_a, verifier_b) = (
        Verifier::builder(a.clone()).build(),
        Verifier::builder(b.clone()).build(),
    );
    tokio::spawn(verifier_b.invalidation_task().expect("SQLite polls its change log"));
    let tokens = TokenManager::new(a.clone(), verifier_a);
    let mut latencies = Vec::new();
    for i in 0..20 {
        let issued = tokens.create(NewToken::new(format!("t{i}"))).await.unwrap();
        let token = issued.token().expose().to_owned();
        assert!(
            verifier_b.verify(&Credential::Bearer(&token)).await.is_ok(),
            "cached on B"
        );
        tokens.delete(issued.id()).await.unwrap();
        let deleted = std::time::Instant::now();
        while verifier_b.verify(&Credential::Bearer(&token)).await.is_ok() {
            assert!(
                deleted.elapsed() < Duration::from_millis(500),
                "B still accepts the token"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(deleted.elapsed());
    }
    let (p50, p99, max) = percentiles(latencies);
    println!(
        "revocation seen through another store on the same SQLite file (20): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
    );
}

/// A poller that fell behind more than the log keeps hears `Reset`; without a poll
/// interval there is no stream.
#[tokio::test]
async fn a_poller_behind_the_trimmed_log_hears_reset() {
    use futures_util::StreamExt as _;
    let (_dir, path) = temp_db();
    let store = SqliteStore::builder(&path)
        .poll_changes(Some(Duration::from_millis(20)))
        .open()
        .await
        .unwrap();
    let mut changes = store.changes().expect("a change stream");
    // Behind its back: more changes than the log keeps, as if this poller had slept.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005)
         INSERT INTO tollgate_changes (token_id) SELECT 'old' || i FROM n;
         DELETE FROM tollgate_changes WHERE seq <= (SELECT max(seq) FROM tollgate_changes) - 10000;",
    )
    .unwrap();
    drop(raw);
    let first = tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .unwrap();
    assert_eq!(first, Some(tollgate::store::ChangeEvent::Reset));
    store.close().await.unwrap();

    let quiet = SqliteStore::builder(&path).poll_changes(None).open().await.unwrap();
    assert!(quiet.changes().is_none());
    quiet.close().await.unwrap();
}

#[tokio::test]
async fn a_path_that_cannot_be_opened_is_unavailable() {
    let (dir, _) = temp_db();
    let path = dir.path().join("no such directory").join("tokens.db");
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("no such directory"), "names the path: {err}");
}

#[tokio::test]
async fn debug_output_shows_the_path() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.path(), path);
    assert!(format!("{store:?}").contains(&path.display().to_string()));
    store.close().await.unwrap();
}
