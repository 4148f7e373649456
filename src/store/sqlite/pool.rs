//! The connections to one database file, and how work reaches them: every call into SQLite
//! runs on Tokio's blocking thread pool, never on an executor thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::Semaphore;

use super::sql::Sql;
use super::{driver_error, schema};
use crate::store::StoreError;

/// How many connections may read at once.
const READERS: usize = 4;

/// How long a write waits for another process's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One writer connection, whose writes are serialized, and up to [`READERS`] reader
/// connections, opened on first use. In WAL mode readers never wait for the writer.
///
/// The semaphores queue callers on the executor, so that waiting for a connection never
/// holds a blocking thread; the mutexes are what actually guard the connections. A turn is
/// given back when the work on the blocking pool ends, not when its caller stops waiting
/// (a timeout): so a stalled database holds at most [`READERS`] reads and one write on the
/// blocking pool, and at most [`READERS`] reader connections, however many callers give up.
pub(super) struct Pool {
    path: PathBuf,
    write_turn: Arc<Semaphore>,
    writer: Mutex<Option<Connection>>,
    read_turns: Arc<Semaphore>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl Pool {
    /// Opens the database at `path`, creating an empty one if there is no file, and
    /// migrates it. Blocking.
    ///
    /// Nothing is written to the file before it is known to be a SQLite database: a
    /// wrong path is refused and left as it was.
    /// `adopt_legacy`: rename the unprefixed tables of tollgate before 0.2 to `sql`'s names
    /// (see [`schema::migrate`]).
    pub(super) fn open(path: PathBuf, sql: &Sql, adopt_legacy: bool) -> Result<Self, StoreError> {
        let mut writer = connect(&path, OpenFlags::SQLITE_OPEN_CREATE)?;
        // The first read of the header is where SQLite notices a file is not a database.
        writer
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
            .map_err(|err| match err.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => {
                    StoreError::Corrupt(format!("{} is not a SQLite database", path.display()))
                }
                Some(ErrorCode::DatabaseCorrupt) => {
                    StoreError::Corrupt(format!("{} is a damaged SQLite database: {err}", path.display()))
                }
                _ => open_error(&path, &err),
            })?;
        enable_wal(&writer, &path)?;
        // With WAL, NORMAL loses no committed write on a crash of the process, only
        // possibly the last ones on a power loss, and saves an fsync per write.
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|err| open_error(&path, &err))?;
        schema::migrate(&mut writer, sql, adopt_legacy)?;
        Ok(Self {
            path,
            write_turn: Arc::new(Semaphore::new(1)),
            writer: Mutex::new(Some(writer)),
            read_turns: Arc::new(Semaphore::new(READERS)),
            idle_readers: Mutex::new(Vec::with_capacity(READERS)),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection, on the blocking pool.
    pub(super) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let turn = Arc::clone(&self.read_turns)
            .acquire_owned()
            .await
            .map_err(StoreError::unavailable)?;
        let pool = Arc::clone(self);
        blocking(move || {
            let _turn = turn;
            let idle = pool.idle_readers().pop();
            let conn = match idle {
                Some(conn) => conn,
                None => connect_reader(&pool.path)?,
            };
            let result = f(&conn);
            pool.idle_readers().push(conn);
            result
        })
        .await
    }

    /// Runs `f` on the writer connection, on the blocking pool. `f` should write in a
    /// `BEGIN IMMEDIATE` transaction, so that another process's write is waited for.
    pub(super) async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let turn = Arc::clone(&self.write_turn)
            .acquire_owned()
            .await
            .map_err(StoreError::unavailable)?;
        let pool = Arc::clone(self);
        blocking(move || {
            let _turn = turn;
            // A panic in `f` rolled its transaction back while unwinding: the connection is sound.
            let mut writer = pool.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = writer
                .as_mut()
                .ok_or_else(|| StoreError::unavailable("the SQLite store is closed"))?;
            f(conn)
        })
        .await
    }

    /// Closes every connection, reporting the first failure. Blocking.
    pub(super) fn close(mut self) -> Result<(), StoreError> {
        let mut result = Ok(());
        for conn in self.take_connections() {
            if let Err((_, err)) = conn.close() {
                result = result.and(Err(driver_error(err)));
            }
        }
        result
    }

    fn idle_readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A Vec of idle connections is valid whatever a panicking holder was doing.
        self.idle_readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connections, readers first: the last one to close folds the WAL into the
    /// database file.
    fn take_connections(&mut self) -> Vec<Connection> {
        let mut connections = std::mem::take(self.idle_readers.get_mut().unwrap_or_else(PoisonError::into_inner));
        connections.extend(self.writer.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        connections
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let connections = self.take_connections();
        if connections.is_empty() {
            return;
        }
        // Closing checkpoints the WAL: file I/O, which must not stall an executor thread.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(connections))),
            Err(_) => drop(connections),
        }
    }
}

/// Runs `f` on the blocking pool. A panic in `f` is reported as
/// [`StoreError::Unavailable`].
pub(super) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(StoreError::unavailable)?
}

/// Puts the database in WAL mode, where readers and the writer do not block each other, in
/// this process or another. The mode is kept in the file: only its first opening switches.
fn enable_wal(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mode: String = loop {
        match conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)) {
            // While another connection writes a file not yet in WAL mode (two processes
            // opening a new file together, say), the switch fails at once: SQLite does not
            // apply the busy timeout to it, so wait here instead.
            Err(err) if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => break result.map_err(|err| open_error(path, &err))?,
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "SQLite could not switch to WAL mode");
    }
    Ok(())
}

/// A connection with the settings every connection needs. `NO_MUTEX`: the pool already
/// guarantees one thread at a time per connection.
fn connect(path: &Path, extra: OpenFlags) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| open_error(path, &err))?;
    // Neither setting touches the file.
    conn.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(|err| open_error(path, &err))?;
    Ok(conn)
}

/// A connection that refuses to write, so that only the writer's transactions ever do.
pub(super) fn connect_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = connect(path, OpenFlags::empty())?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|err| open_error(path, &err))?;
    Ok(conn)
}

fn open_error(path: &Path, err: &rusqlite::Error) -> StoreError {
    StoreError::unavailable(format!("cannot open SQLite database {}: {err}", path.display()))
}
