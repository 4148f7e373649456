//! The change stream: one connection of its own, outside the pool, `LISTEN`s to the
//! schema's channel, and every write's `NOTIFY` (sent when its transaction commits) becomes
//! a [`ChangeEvent::Changed`] for every subscriber.
//!
//! When the connection drops (a server restart, `pg_terminate_backend`, the network), the
//! task reconnects with backoff, logs a warning, and once it listens again sends
//! [`ChangeEvent::Reset`]: changes made meanwhile were not heard. Not before: a cache
//! keeps serving what it holds during an outage, as its time-to-live and stale mode allow.
//! The task runs on its own and never blocks a request.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use futures_util::future::Either;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::row::pg_error;
use crate::{ChangeEvent, ChangeStream, StoreError};

/// The first wait before reconnecting after a failed attempt, and the longest.
const MIN_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);

type Messages = Pin<Box<dyn Stream<Item = Result<AsyncMessage, tokio_postgres::Error>> + Send>>;

/// A connection that listens, and its messages.
struct Listening {
    _client: Client,
    messages: Messages,
}

/// The listening task, and the channel its events go out on.
pub(super) struct Listener {
    events: broadcast::Sender<ChangeEvent>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Listens on `channel` before returning, so that every write committed after it is
    /// heard; then keeps listening in a task of its own.
    pub(super) async fn start(
        config: tokio_postgres::Config,
        channel: String,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let first = listen(&config, &channel, timeout).await?;
        let (events, _) = broadcast::channel(1024);
        let task = tokio::spawn(run(config, channel, timeout, events.clone(), first));
        Ok(Self { events, task })
    }

    /// The events from now on.
    pub(super) fn subscribe(&self) -> ChangeStream {
        crate::store::changes_from(self.events.subscribe())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects, and `LISTEN`s, within `timeout`.
async fn listen(config: &tokio_postgres::Config, channel: &str, timeout: Duration) -> Result<Listening, StoreError> {
    let connect = async {
        let (client, mut connection) = config.connect(NoTls).await.map_err(pg_error)?;
        let mut messages: Messages = Box::pin(futures_util::stream::poll_fn(move |cx| connection.poll_message(cx)));
        // The connection only moves while its messages are polled: drive it until the
        // LISTEN is answered. Nothing is listened to before then, so nothing is missed.
        let listen_sql = format!("LISTEN \"{channel}\"");
        {
            let mut listen = std::pin::pin!(client.batch_execute(&listen_sql));
            loop {
                match futures_util::future::select(listen.as_mut(), messages.next()).await {
                    Either::Left((listened, _)) => {
                        listened.map_err(pg_error)?;
                        break;
                    }
                    Either::Right((Some(Ok(_)), _)) => {}
                    Either::Right((Some(Err(err)), _)) => return Err(pg_error(err)),
                    Either::Right((None, _)) => return Err(StoreError::unavailable("the listening connection closed")),
                }
            }
        }
        Ok(Listening {
            _client: client,
            messages,
        })
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(StoreError::unavailable(format!("could not listen within {timeout:?}"))))
}

async fn run(
    config: tokio_postgres::Config,
    channel: String,
    timeout: Duration,
    events: broadcast::Sender<ChangeEvent>,
    first: Listening,
) {
    let mut listening = Some(first);
    let mut delay = MIN_DELAY;
    loop {
        let mut current = match listening.take() {
            Some(current) => current,
            None => match listen(&config, &channel, timeout).await {
                Ok(current) => {
                    tracing::warn!(
                        target: "tollgate::postgres",
                        %channel,
                        "listening for token changes again: caches drop every token, since changes may have been missed"
                    );
                    let _ = events.send(ChangeEvent::Reset);
                    delay = MIN_DELAY;
                    current
                }
                Err(err) => {
                    tracing::warn!(target: "tollgate::postgres", %channel, error = %err, retry_in = ?delay, "cannot listen for token changes");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY);
                    continue;
                }
            },
        };
        let lost = loop {
            match current.messages.next().await {
                Some(Ok(AsyncMessage::Notification(note))) => {
                    // No subscriber is no error: the events are for whoever listens.
                    let _ = events.send(ChangeEvent::Changed {
                        id: note.payload().to_owned(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break err.to_string(),
                None => break "the connection closed".to_owned(),
            }
        };
        tracing::warn!(target: "tollgate::postgres", %channel, error = %lost, "lost the connection that listens for token changes: reconnecting");
    }
}
