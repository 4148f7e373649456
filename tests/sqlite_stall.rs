//! A stalled SQLite database (another program holds it exclusively) and callers that give
//! up: the store's blocking threads and reader connections stay bounded. One test in its
//! own binary, so that the process's thread count is this test's alone.
#![cfg(all(target_os = "linux", feature = "_sqlite"))]

use std::time::Duration;

use tollgate::SqliteStore;
use tollgate::store::TokenSource;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Open file descriptors on `path` (a connection holds the database file open).
fn connections_to(path: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
        .filter(|target| target == path)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_holds_a_bounded_number_of_threads_and_connections() {
    use tollgate::store::TokenStore;
    use tollgate::{SecretHasher, TokenRecord};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let store = SqliteStore::builder(&path).poll_changes(None).open().await.unwrap();
    assert!(store.get("warm").await.unwrap().is_none());
    let (threads_before, connections_before) = (threads(), connections_to(&path));

    // Another program holds the write lock: every write now waits out the busy timeout
    // (5 s). (Readers cannot be stalled from outside in WAL mode; reads and writes give
    // their turns back the same way.)
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // 200 writes that each give up after 10 ms, as a caller's timeout would, and 200
    // reads alongside.
    for i in 0..200 {
        let record = TokenRecord::new(
            format!("id{i}"),
            "stalled",
            SecretHasher::Sha256.hash(format!("s{i}").as_bytes()),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(10), store.create(record))
                .await
                .is_err(),
            "the write stalls"
        );
        let id = format!("id{i}");
        let _ = tokio::time::timeout(Duration::from_millis(1), store.get(&id)).await;
    }
    let (threads_during, connections_during) = (threads(), connections_to(&path));
    println!(
        "stalled: threads {threads_before} -> {threads_during}, connections {connections_before} -> {connections_during}"
    );
    // One write on the blocking pool at a time, four reads at most.
    assert!(
        threads_during <= threads_before + 5,
        "{threads_before} -> {threads_during} threads"
    );
    assert!(
        connections_during <= 5,
        "{connections_during} connections (four readers and the writer at most)"
    );

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let record = TokenRecord::new("after", "after", SecretHasher::Sha256.hash(b"after"));
    let resumed = tokio::time::timeout(Duration::from_secs(15), store.create(record)).await;
    assert!(
        matches!(resumed, Ok(Ok(()))),
        "writes resume once the database is free: {resumed:?}"
    );
}
