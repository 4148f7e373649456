//! The PostgreSQL side of the change stream: a connection of its own, outside the pool,
//! `LISTEN`s to the schema's channel; every write's `NOTIFY` (sent when its transaction
//! commits) carries the token's id. Reconnecting is the shared [`Listener`]'s work.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use futures_util::future::Either;
use tokio_postgres::{AsyncMessage, NoTls};

use super::row::pg_error;
use crate::store::listen::Listener;
use crate::store::{ChangeEvent, StoreError};

type Events = Pin<Box<dyn Stream<Item = Result<ChangeEvent, String>> + Send>>;

/// Listens on `channel` through connections made from `config`.
pub(super) async fn start(
    config: tokio_postgres::Config,
    channel: String,
    timeout: Duration,
) -> Result<Listener, StoreError> {
    Listener::start("postgres", move || listen(config.clone(), channel.clone(), timeout)).await
}

/// Connects and `LISTEN`s, within `timeout`: the ids of the notifications from then on.
async fn listen(config: tokio_postgres::Config, channel: String, timeout: Duration) -> Result<Events, StoreError> {
    let connect = async {
        let (client, mut connection) = config.connect(NoTls).await.map_err(pg_error)?;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx)).boxed();
        // The connection only moves while its messages are polled: drive it until the
        // LISTEN is answered. Nothing is listened to before then, so nothing is missed.
        {
            let listen_sql = format!("LISTEN \"{channel}\"");
            let mut listen = std::pin::pin!(client.batch_execute(&listen_sql));
            loop {
                match futures_util::future::select(listen.as_mut(), messages.next()).await {
                    Either::Left((listened, _)) => break listened.map_err(pg_error)?,
                    Either::Right((Some(Ok(_)), _)) => {}
                    Either::Right((Some(Err(err)), _)) => return Err(pg_error(err)),
                    Either::Right((None, _)) => return Err(StoreError::unavailable("the listening connection closed")),
                }
            }
        }
        // The client goes with the stream: dropping it would close the connection.
        let ids = messages.filter_map(move |message| {
            let _client = &client;
            std::future::ready(match message {
                Ok(AsyncMessage::Notification(note)) => Some(Ok(ChangeEvent::Changed {
                    id: note.payload().to_owned(),
                })),
                Ok(_) => None,
                Err(err) => Some(Err(err.to_string())),
            })
        });
        Ok(Box::pin(ids) as Events)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(StoreError::unavailable(format!("could not listen within {timeout:?}"))))
}
