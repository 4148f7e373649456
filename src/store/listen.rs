//! A change stream fed by a connection of its own to a shared store (PostgreSQL's
//! `LISTEN`, Redis's `SUBSCRIBE`, a poll of SQLite's change log): every event it hears goes
//! to every subscriber.
//!
//! When the connection drops (a server restart, a killed connection, the network), the
//! task reconnects with backoff, logs a warning, and once it hears again sends
//! [`ChangeEvent::Reset`]: changes made meanwhile were missed. Not before: during an outage
//! a cache keeps serving what it holds, as its time-to-live and stale mode allow. The task
//! runs on its own and never blocks a request.

use std::future::Future;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{ChangeEvent, ChangeStream, StoreError};

/// The first wait before reconnecting after a failed attempt, and the longest.
const MIN_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// The listening task, and the channel its events go out on. Dropping it stops the task,
/// and ends every subscriber's stream.
pub(crate) struct Listener {
    events: broadcast::Sender<ChangeEvent>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Connects with `connect` before returning, so that every change made after it is
    /// heard; then listens in a task of its own. `connect` gives a stream of the events it
    /// hears, which ends, or yields an error, when the connection is lost. `store` names the
    /// store in log lines.
    pub(crate) async fn start<C, F, S>(store: &'static str, connect: C) -> Result<Self, StoreError>
    where
        C: Fn() -> F + Send + Sync + 'static,
        F: Future<Output = Result<S, StoreError>> + Send + 'static,
        S: Stream<Item = Result<ChangeEvent, String>> + Send + Unpin + 'static,
    {
        let first = connect().await?;
        let (events, _) = broadcast::channel(1024);
        let task = tokio::spawn(run(store, connect, events.clone(), first));
        Ok(Self { events, task })
    }

    /// The events from now on.
    pub(crate) fn subscribe(&self) -> ChangeStream {
        super::changes_from(self.events.subscribe())
    }
}

// Only SQLite waits for its poller to stop (it closes the file's connection on purpose).
#[cfg(feature = "_sqlite")]
impl Listener {
    /// Stops the task and waits until it has stopped, so that its connection is closed.
    pub(crate) async fn stop(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        task.abort();
        let _ = task.await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run<C, F, S>(store: &'static str, connect: C, events: broadcast::Sender<ChangeEvent>, first: S)
where
    C: Fn() -> F,
    F: Future<Output = Result<S, StoreError>>,
    S: Stream<Item = Result<ChangeEvent, String>> + Unpin,
{
    let mut heard = Some(first);
    let mut delay = MIN_DELAY;
    loop {
        let mut heard_events = match heard.take() {
            Some(heard_events) => heard_events,
            None => match connect().await {
                Ok(heard_events) => {
                    tracing::warn!(
                        target: "tollgate::store",
                        store,
                        "listening for token changes again: caches drop every token, since changes may have been missed"
                    );
                    let _ = events.send(ChangeEvent::Reset);
                    delay = MIN_DELAY;
                    heard_events
                }
                Err(err) => {
                    tracing::warn!(target: "tollgate::store", store, error = %err, retry_in = ?delay, "cannot listen for token changes");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY);
                    continue;
                }
            },
        };
        let lost = loop {
            match heard_events.next().await {
                // No subscriber is no error: the events are for whoever listens.
                Some(Ok(event)) => drop(events.send(event)),
                Some(Err(err)) => break err,
                None => break "the connection closed".to_owned(),
            }
        };
        tracing::warn!(target: "tollgate::store", store, error = %lost, "lost the connection that listens for token changes: reconnecting");
    }
}
