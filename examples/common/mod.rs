//! What both example servers share.

/// Resolves on Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt as _;

/// What a server accepts from its clients, as a server facing the internet must bound it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// A client that has not sent a request's headers in this time is disconnected.
    pub(crate) header_read_timeout: Duration,
    /// At most this many connections at once; further clients wait to be accepted.
    pub(crate) max_connections: usize,
}

/// Serves `app` over HTTP/1.1 until the shutdown signal, every request carrying its peer's
/// `SocketAddr` (what `tollgate::PeerAddr`, the damping's default client key, reads), within
/// `limits`; then stops accepting and finishes the requests in flight (30 s at most).
pub(crate) async fn serve<S, B>(listener: tokio::net::TcpListener, app: S, limits: Limits) -> std::io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        // Hold a place before accepting: past the limit, clients wait in the listen queue.
        let place = tokio::select! {
            place = Arc::clone(&connections).acquire_owned() => place.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert::<SocketAddr>(peer);
            req
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 30 s: leaving them");
    }
    Ok(())
}
