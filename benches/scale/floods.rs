//! Floods of bad credentials against a verifier, and through the layer with damping.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Request, Response};
use tollgate::{AuthLayer, CredentialParser, Damping, MemoryStore, Verifier};
use tower::{Layer, ServiceExt, service_fn};

use crate::hits::bearer;
use crate::support::fill;
use crate::{Counting, rss};

pub(crate) fn floods(rt: &tokio::runtime::Runtime) -> String {
    const FLOOD: u64 = 1_000_000;
    let mut out = String::new();
    let store = Arc::new(MemoryStore::new());
    rt.block_on(fill(&*store, 100_000));
    let source = Arc::new(Counting {
        inner: store,
        calls: AtomicU64::new(0),
    });
    let verifier = Verifier::builder_shared(source.clone()).build();
    let parser = CredentialParser::default();
    // Unknown: ids past the store's.
    let unknown = |k: u64| bearer(10_000_000 + k);
    writeln!(
        out,
        "| flood (1,000,000 requests) | store calls | negative cache entries | RSS growth | time |"
    )
    .unwrap();
    writeln!(out, "| --- | ---: | ---: | ---: | ---: |").unwrap();

    let mut run = |name: &str, make: &dyn Fn(u64) -> HeaderMap| {
        let (calls, before, started) = (source.calls.load(Ordering::Relaxed), rss(), Instant::now());
        rt.block_on(async {
            for k in 0..FLOOD {
                let h = make(k);
                let result = match parser.parse(&h) {
                    Ok(Some(credential)) => verifier.verify(&credential).await,
                    other => panic!("{other:?}"),
                };
                assert!(result.is_err());
            }
        });
        verifier.run_pending_tasks();
        writeln!(
            out,
            "| {name} | {} | {} | {:.1} MiB | {:.1} s |",
            source.calls.load(Ordering::Relaxed) - calls,
            verifier.negative_cached_count(),
            rss().saturating_sub(before) as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        )
        .unwrap();
    };
    run("checksum-invalid, all distinct", &|k| {
        let mut h = unknown(k);
        let value = h[AUTHORIZATION].to_str().unwrap().to_owned();
        let last = if value.ends_with('0') { "1" } else { "0" };
        let bad = format!("{}{last}", &value[..value.len() - 1]);
        h.insert(AUTHORIZATION, HeaderValue::from_str(&bad).unwrap());
        h
    });
    run("checksum-valid unknown, all distinct", &|k| unknown(FLOOD + k));
    run("checksum-valid unknown, 5,000 distinct", &|k| {
        unknown(3 * FLOOD + k % 5_000)
    });

    // The distinct flood through the layer, from one client, with damping.
    let damping = Damping::builder().max_failures(20).build();
    let service = AuthLayer::builder(verifier.clone())
        .damping(damping)
        .build()
        .layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        }));
    let peer: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let (calls, started) = (source.calls.load(Ordering::Relaxed), Instant::now());
    let statuses = rt.block_on(async {
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        for k in 0..FLOOD {
            let mut req = Request::new(());
            *req.headers_mut() = unknown(5 * FLOOD + k);
            req.extensions_mut().insert(peer);
            let response = service.clone().oneshot(req).await.unwrap();
            *statuses.entry(response.status().as_u16()).or_default() += 1;
        }
        statuses
    });
    writeln!(
        out,
        "| checksum-valid unknown, all distinct, one client, layer with damping (statuses {statuses:?}) | {} | — | — | {:.1} s |",
        source.calls.load(Ordering::Relaxed) - calls,
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    out
}
