//! The cost of one request through each kind of authentication, in one run, so that the
//! ratios between them hold on any machine:
//!
//! | benchmark | what runs |
//! | --- | --- |
//! | `verify/bare` | the inner service alone |
//! | `verify/tower_http_static` | tower-http's `ValidateRequestHeaderLayer::bearer`, one static token, no lookup |
//! | `verify/hit_bearer` | tollgate, cache hit, structured Bearer token, 100,000 tokens in the store |
//! | `verify/hit_basic` | the same with Basic `id:secret` |
//! | `verify/miss_memory` | tollgate, cache miss, looked up in `MemoryStore` |
//! | `verify/bad_checksum` | tollgate, a token with a wrong checksum (rejected before any lookup) |
//!
//! Run with `cargo bench --bench verify`; medians are in
//! `target/criterion/verify/*/new/estimates.json`.
#![allow(missing_docs)]
#![allow(deprecated)] // tower-http's static bearer check is deprecated, and still the baseline to beat.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tollgate::{AuthLayer, BasicCredential, MemoryStore, SecretHasher, TokenFormat, TokenRecord, TokenStore, Verifier};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_http::validate_request::ValidateRequestHeaderLayer;

const STORE_SIZE: usize = 100_000;

async fn hello(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// One request with this `Authorization` value through `service`, response awaited.
async fn call<S, B>(service: &S, authorization: &HeaderValue) -> Response<B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
{
    let mut req = Request::new(Full::default());
    req.headers_mut().insert(AUTHORIZATION, authorization.clone());
    let mut service = service.clone();
    let ready = service.ready().await.unwrap();
    ready.call(req).await.unwrap()
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let format = TokenFormat::default();
    let store = Arc::new(MemoryStore::new());
    let mut tokens = Vec::with_capacity(STORE_SIZE);
    rt.block_on(async {
        for i in 0..STORE_SIZE {
            let token = format.generate().unwrap();
            let hash = SecretHasher::Sha256.hash(token.secret_segment().as_bytes());
            store
                .create(TokenRecord::new(token.id(), format!("t{i}"), hash))
                .await
                .unwrap();
            tokens.push(token);
        }
    });
    let verifier = Verifier::builder(store.clone()).build();
    let tollgate = AuthLayer::new(verifier.clone()).layer(service_fn(hello));
    let bare = service_fn(hello);
    let static_token = "a-static-token-of-the-same-length-as-ours-0123456789abcdefghijklmnop";
    let tower_http = ValidateRequestHeaderLayer::bearer(static_token).layer(service_fn(hello));

    let hot = &tokens[STORE_SIZE / 2];
    let hit_bearer = header(&format!("Bearer {}", hot.token().expose()));
    let hit_basic = BasicCredential::new(hot.id(), hot.secret_segment()).to_header_value();
    let cold = &tokens[STORE_SIZE / 3];
    let miss = header(&format!("Bearer {}", cold.token().expose()));
    let mut wrong = hot.token().expose().to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let bad_checksum = header(&format!("Bearer {wrong}"));
    let static_header = header(&format!("Bearer {static_token}"));

    // Every variant must do what it is measured doing.
    rt.block_on(async {
        assert_eq!(call(&tower_http, &static_header).await.status(), 200);
        assert_eq!(call(&tollgate, &hit_bearer).await.status(), 200);
        assert_eq!(call(&tollgate, &hit_basic).await.status(), 200);
        assert_eq!(call(&tollgate, &bad_checksum).await.status(), 401);
        verifier.invalidate(cold.id());
        assert_eq!(call(&tollgate, &miss).await.status(), 200);
    });

    let mut group = c.benchmark_group("verify");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&bare, &hit_bearer).await) })
    });
    group.bench_function("tower_http_static", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&tower_http, &static_header).await) })
    });
    group.bench_function("hit_bearer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&tollgate, &hit_bearer).await) })
    });
    group.bench_function("hit_basic", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&tollgate, &hit_basic).await) })
    });
    group.bench_function("miss_memory", |b| {
        b.to_async(&rt).iter(|| async {
            verifier.invalidate(cold.id());
            black_box(call(&tollgate, &miss).await)
        })
    });
    group.bench_function("bad_checksum", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&tollgate, &bad_checksum).await) })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
