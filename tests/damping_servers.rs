//! `Damping::default()` on real servers, one of each kind: it damps where the server tells
//! who the client is (axum's `ConnectInfo`, a hyper accept loop that inserts the peer
//! address), and where nothing tells it, it says so once instead of being silently off.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::logs::Capture;
use support::memory;
use tollgate::{AuthLayer, BasicCredential, Damping, Verifier};
use tower::ServiceBuilder;

/// How many times damping warned that it found no client key.
fn warnings(capture: &Capture) -> usize {
    capture.text().matches("damping found no client key").count()
}

/// 21 failed guesses from one client: the statuses it got.
async fn guess(addr: SocketAddr) -> Vec<StatusCode> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let wrong = BasicCredential::new("knownid", "a-wrong-guess").to_header_value();
    let mut statuses = Vec::new();
    for _ in 0..21 {
        let req = Request::get(format!("http://{addr}/"))
            .header(http::header::AUTHORIZATION, wrong.clone())
            .body(Full::default())
            .unwrap();
        let response = client.request(req).await.unwrap();
        statuses.push(response.status());
        response.into_body().collect().await.unwrap();
    }
    statuses
}

fn damped(statuses: &[StatusCode]) -> bool {
    statuses[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED) && statuses[20] == StatusCode::TOO_MANY_REQUESTS
}

fn layer() -> AuthLayer {
    AuthLayer::builder(Verifier::builder(memory()).build())
        .damping(Damping::default())
        .build()
}

#[cfg(feature = "axum")]
async fn axum_server(connect_info: bool) -> SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hello" }))
        .layer(layer().same_body());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if connect_info {
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
    } else {
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    addr
}

async fn hyper_server(insert_peer: bool) -> SocketAddr {
    let auth = layer();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .map_request(move |mut req: Request<Incoming>| {
                    if insert_peer {
                        req.extensions_mut().insert(peer);
                    }
                    req
                })
                .layer(auth.clone())
                .service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(service);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// One test: the warnings are counted in one log capture, server after server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_damping_damps_where_the_server_names_the_client_and_warns_once_where_not() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.subscriber()).unwrap();

    let statuses = guess(hyper_server(true).await).await;
    assert!(damped(&statuses), "hyper, peer address inserted: {statuses:?}");
    assert_eq!(warnings(&capture), 0);

    let statuses = guess(hyper_server(false).await).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(
        warnings(&capture),
        1,
        "hyper without a peer address: warned once, not per request"
    );

    #[cfg(feature = "axum")]
    {
        let statuses = guess(axum_server(true).await).await;
        assert!(damped(&statuses), "axum with ConnectInfo: {statuses:?}");
        assert_eq!(warnings(&capture), 1);

        let statuses = guess(axum_server(false).await).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
        assert_eq!(warnings(&capture), 2, "axum without ConnectInfo: warned once");
    }
}
