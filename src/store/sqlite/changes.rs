//! The change log: how processes that share one SQLite file hear each other's writes.
//!
//! Every write appends the token's id to the log table in its own transaction, so a
//! change is logged exactly when it is committed, whichever process made it. Each store
//! polls the log on a connection of its own (every 100 ms by default); `PRAGMA
//! data_version`, which moves only when another connection changed the file, makes an idle
//! poll one cheap query. The log keeps the last [`KEPT`] changes: a reader that fell
//! further behind than that (asleep, or very busy) gets [`ChangeEvent::Reset`], as does one
//! whose connection failed and came back (the shared listener's rule).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use rusqlite::Connection;

use super::driver_error;
use super::pool::{blocking, connect_reader};
use super::sql::Sql;
use crate::store::{ChangeEvent, StoreError};

/// How many changes the log keeps; writes trim what is older.
pub(super) const KEPT: i64 = 10_000;

/// Where a poller is in the log.
struct Poller {
    conn: Connection,
    sql: Arc<Sql>,
    /// The last change read.
    seen: i64,
    /// `data_version` at the last read.
    version: i64,
}

impl Poller {
    /// The changes since the last poll, if the file changed.
    fn poll(&mut self) -> Result<Vec<ChangeEvent>, StoreError> {
        let version = data_version(&self.conn)?;
        if version == self.version {
            return Ok(Vec::new());
        }
        self.version = version;
        let mut events = Vec::new();
        let oldest: Option<i64> = self
            .conn
            .query_row(&self.sql.oldest_change, [], |row| row.get(0))
            .map_err(driver_error)?;
        // The log was trimmed past what this poller had read: changes were missed.
        if oldest.is_some_and(|oldest| oldest > self.seen + 1) {
            events.push(ChangeEvent::Reset);
        }
        let mut statement = self
            .conn
            .prepare_cached(&self.sql.changes_since)
            .map_err(driver_error)?;
        let mut rows = statement.query([self.seen]).map_err(driver_error)?;
        while let Some(row) = rows.next().map_err(driver_error)? {
            let (seq, id): (i64, String) = (row.get(0).map_err(driver_error)?, row.get(1).map_err(driver_error)?);
            self.seen = seq;
            events.push(ChangeEvent::Changed { id });
        }
        Ok(events)
    }
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
        .map_err(driver_error)
}

/// A poller from the end of the log now, on a connection of its own: the changes after now,
/// every `interval`.
pub(super) async fn follow(
    path: PathBuf,
    sql: Arc<Sql>,
    interval: Duration,
) -> Result<impl Stream<Item = Result<ChangeEvent, String>> + Send + Unpin + 'static, StoreError> {
    let poller = blocking(move || {
        let conn = connect_reader(&path)?;
        let seen: i64 = conn
            .query_row(&sql.latest_change, [], |row| row.get(0))
            .map_err(driver_error)?;
        let version = data_version(&conn)?;
        Ok(Poller {
            conn,
            sql,
            seen,
            version,
        })
    })
    .await?;
    let state = (Some(poller), VecDeque::new());
    Ok(Box::pin(futures_util::stream::unfold(
        state,
        move |(mut poller, mut pending)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (poller, pending)));
                }
                tokio::time::sleep(interval).await;
                let mut current = poller.take()?;
                let polled = blocking(move || {
                    let events = current.poll();
                    Ok((current, events))
                })
                .await;
                match polled {
                    Ok((current, Ok(events))) => {
                        poller = Some(current);
                        pending.extend(events);
                    }
                    // The stream ends after its error: the listener polls anew on a fresh
                    // connection, and says `Reset`.
                    Ok((_, Err(err))) | Err(err) => return Some((Err(err.to_string()), (None, pending))),
                }
            }
        },
    )))
}
