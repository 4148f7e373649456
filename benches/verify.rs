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
//! | `verify/hit_limited` | `hit_bearer` for a token under a rate limit counted in the process (never reached), the `RateLimit` fields on its response |
//!
//! The hello service answers with no header at all, so the first header added to its
//! response allocates the response's header map: `hit_limited` pays that, where a real
//! handler's response (with a `content-type`) has paid it already. The interleaved rounds
//! also run both hits against a hello that answers with a `content-type`, as a handler does
//! (`typed_hit_bearer`, `typed_hit_limited`), and print both ratios. One more interleaved
//! variant, `fields_hit_bearer`, is an unlimited hit whose hello answers with the
//! `content-type` and the two `RateLimit` fields as constants: the least any limiter that
//! sends the fields could cost, so `typed_hit_limited / fields_hit_bearer` is what the
//! limiter itself adds (the count, the value written for this request).
//!
//! Run with `cargo bench --bench verify`; medians are in
//! `target/criterion/verify/*/new/estimates.json` (`python3 benches/ratios.py` prints them
//! with their ratios).
//!
//! Criterion measures one benchmark after another, so a machine whose speed drifts over
//! seconds (a shared VM) skews the ratios between them. After the criterion group, the same
//! variants run again *interleaved*, in rounds of A B C … with 20,000 requests each, and
//! the last lines print each median and the ratios measured that way.
//!
//! With `--features metrics` the interleaved rounds have one more variant,
//! `hit_recorded`: the same hit through a verifier and layer built with a recorder in place
//! (metrics-util's `DebuggingRecorder`, atomic counters as an exporter keeps them), so the
//! cost of counting a hit is printed as `hit_recorded/hit_bearer`. The feature's cost
//! without a recorder is the `hit_bearer` ratio of a run with the feature against one
//! without.
#![allow(missing_docs)]
#![allow(deprecated)] // tower-http's static bearer check is deprecated, and still the baseline to beat.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use std::time::Instant;

use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tollgate::store::TokenStore;
use tollgate::{AuthLayer, BasicCredential, MemoryStore, SecretHasher, TokenFormat, TokenRecord, Verifier};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_http::validate_request::ValidateRequestHeaderLayer;

const STORE_SIZE: usize = 100_000;

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

/// The services and headers every variant uses, set up once.
struct Setup {
    rt: tokio::runtime::Runtime,
    verifier: Verifier,
    bare: Hello,
    tower_http: tower_http::validate_request::ValidateRequestHeader<
        Hello,
        tower_http::auth::require_authorization::Bearer<Full<Bytes>>,
    >,
    tollgate: tollgate::AuthService<Hello>,
    /// The same layer around a hello that answers with a `content-type`.
    typed: tollgate::AuthService<Hello>,
    /// The same layer around a hello that also answers with the `RateLimit` fields, as
    /// constants.
    fielded: tollgate::AuthService<Hello>,
    /// The same layer with its handles registered on a recorder.
    #[cfg(feature = "metrics")]
    recorded: tollgate::AuthService<Hello>,
    hit_bearer: HeaderValue,
    hit_limited: HeaderValue,
    hit_basic: HeaderValue,
    miss: HeaderValue,
    cold_id: String,
    bad_checksum: HeaderValue,
    static_header: HeaderValue,
}

type HelloFuture = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;
/// The inner "hello" service every variant wraps.
type Hello = tower::util::ServiceFn<fn(Request<Full<Bytes>>) -> HelloFuture>;

fn hello(_req: Request<Full<Bytes>>) -> HelloFuture {
    std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello")))))
}

fn typed_hello(_req: Request<Full<Bytes>>) -> HelloFuture {
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    std::future::ready(Ok(response))
}

const RATELIMIT_POLICY: http::HeaderName = http::HeaderName::from_static("ratelimit-policy");
const RATELIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit");

fn fields_hello(req: Request<Full<Bytes>>) -> HelloFuture {
    let mut response = typed_hello(req).into_inner().unwrap();
    let headers = response.headers_mut();
    headers.insert(
        RATELIMIT_POLICY,
        HeaderValue::from_static(r#""token";q=4000000000;w=1"#),
    );
    headers.insert(RATELIMIT, HeaderValue::from_static(r#""token";r=3999999999;t=0"#));
    std::future::ready(Ok(response))
}

impl Setup {
    fn new() -> Self {
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
        // A token under a limit it never reaches: 4 billion a second.
        let limited = format.generate().unwrap();
        let limit = tollgate::RateLimit::new(4_000_000_000, std::time::Duration::from_secs(1)).unwrap();
        rt.block_on(async {
            let hash = SecretHasher::Sha256.hash(limited.secret_segment().as_bytes());
            let record = TokenRecord::new(limited.id(), "limited", hash).with_rate_limit(Some(limit));
            store.create(record).await.unwrap();
        });
        let inner: fn(Request<Full<Bytes>>) -> HelloFuture = hello;
        #[cfg(feature = "metrics")]
        let recorded = {
            let recorder: &'static _ = Box::leak(Box::new(metrics_util::debugging::DebuggingRecorder::new()));
            metrics::with_local_recorder(recorder, || {
                AuthLayer::new(Verifier::builder(store.clone()).build()).layer(service_fn(inner))
            })
        };
        let verifier = Verifier::builder(store).build();
        let static_token = "a-static-token-of-the-same-length-as-ours-0123456789abcdefghijklmnop";
        let hot = &tokens[STORE_SIZE / 2];
        let cold = &tokens[STORE_SIZE / 3];
        let mut wrong = hot.token().expose().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        let setup = Self {
            bare: service_fn(inner),
            tower_http: ValidateRequestHeaderLayer::bearer(static_token).layer(service_fn(inner)),
            tollgate: AuthLayer::new(verifier.clone()).layer(service_fn(inner)),
            typed: AuthLayer::new(verifier.clone())
                .layer(service_fn(typed_hello as fn(Request<Full<Bytes>>) -> HelloFuture)),
            fielded: AuthLayer::new(verifier.clone())
                .layer(service_fn(fields_hello as fn(Request<Full<Bytes>>) -> HelloFuture)),
            #[cfg(feature = "metrics")]
            recorded,
            hit_bearer: header(&format!("Bearer {}", hot.token().expose())),
            hit_limited: header(&format!("Bearer {}", limited.token().expose())),
            hit_basic: BasicCredential::new(hot.id(), hot.secret_segment()).to_header_value(),
            miss: header(&format!("Bearer {}", cold.token().expose())),
            cold_id: cold.id().to_owned(),
            bad_checksum: header(&format!("Bearer {wrong}")),
            static_header: header(&format!("Bearer {static_token}")),
            verifier,
            rt,
        };
        // Every variant must do what it is measured doing.
        setup.rt.block_on(async {
            assert_eq!(call(&setup.tower_http, &setup.static_header).await.status(), 200);
            assert_eq!(call(&setup.tollgate, &setup.hit_bearer).await.status(), 200);
            assert_eq!(call(&setup.tollgate, &setup.hit_basic).await.status(), 200);
            let limited = call(&setup.tollgate, &setup.hit_limited).await;
            assert_eq!(limited.status(), 200);
            assert!(limited.headers().contains_key("ratelimit"), "counted");
            #[cfg(feature = "metrics")]
            assert_eq!(call(&setup.recorded, &setup.hit_bearer).await.status(), 200);
            assert_eq!(call(&setup.tollgate, &setup.bad_checksum).await.status(), 401);
            setup.verifier.invalidate(&setup.cold_id);
            assert_eq!(call(&setup.tollgate, &setup.miss).await.status(), 200);
        });
        setup
    }
}

fn bench(c: &mut Criterion) {
    let s = Setup::new();
    let rt = &s.rt;
    let (bare, tower_http, tollgate, verifier) = (&s.bare, &s.tower_http, &s.tollgate, &s.verifier);
    let (hit_bearer, hit_limited, hit_basic, miss, bad_checksum, static_header) = (
        &s.hit_bearer,
        &s.hit_limited,
        &s.hit_basic,
        &s.miss,
        &s.bad_checksum,
        &s.static_header,
    );
    let cold_id = s.cold_id.as_str();
    let mut group = c.benchmark_group("verify");
    group.bench_function("bare", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(bare, hit_bearer).await) })
    });
    group.bench_function("tower_http_static", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(tower_http, static_header).await) })
    });
    group.bench_function("hit_bearer", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(tollgate, hit_bearer).await) })
    });
    group.bench_function("hit_basic", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(tollgate, hit_basic).await) })
    });
    group.bench_function("miss_memory", |b| {
        b.to_async(rt).iter(|| async {
            verifier.invalidate(cold_id);
            black_box(call(tollgate, miss).await)
        })
    });
    group.bench_function("bad_checksum", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(tollgate, bad_checksum).await) })
    });
    group.bench_function("hit_limited", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(call(tollgate, hit_limited).await) })
    });
    group.finish();
}

const ROUNDS: usize = 31;
const BATCH: u32 = 20_000;

/// Mean time of one request over a batch, in nanoseconds.
fn batch<S, B>(rt: &tokio::runtime::Runtime, service: &S, authorization: &HeaderValue, before: impl Fn()) -> f64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
{
    rt.block_on(async {
        let started = Instant::now();
        for _ in 0..BATCH {
            before();
            black_box(call(service, authorization).await);
        }
        started.elapsed().as_nanos() as f64 / f64::from(BATCH)
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    interleaved();
}

/// The same variants, interleaved round by round, so every ratio compares requests
/// measured at the same moments.
fn interleaved() {
    let s = Setup::new();
    let names = [
        "bare",
        "tower_http_static",
        "hit_bearer",
        "hit_basic",
        "miss_memory",
        "bad_checksum",
        "hit_limited",
        "typed_hit_bearer",
        "typed_hit_limited",
        "fields_hit_bearer",
        #[cfg(feature = "metrics")]
        "hit_recorded",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); names.len()];
    for _ in 0..ROUNDS {
        times[0].push(batch(&s.rt, &s.bare, &s.hit_bearer, || ()));
        times[1].push(batch(&s.rt, &s.tower_http, &s.static_header, || ()));
        times[2].push(batch(&s.rt, &s.tollgate, &s.hit_bearer, || ()));
        times[3].push(batch(&s.rt, &s.tollgate, &s.hit_basic, || ()));
        times[4].push(batch(&s.rt, &s.tollgate, &s.miss, || {
            s.verifier.invalidate(s.cold_id.as_str())
        }));
        times[5].push(batch(&s.rt, &s.tollgate, &s.bad_checksum, || ()));
        times[6].push(batch(&s.rt, &s.tollgate, &s.hit_limited, || ()));
        times[7].push(batch(&s.rt, &s.typed, &s.hit_bearer, || ()));
        times[8].push(batch(&s.rt, &s.typed, &s.hit_limited, || ()));
        times[9].push(batch(&s.rt, &s.fielded, &s.hit_bearer, || ()));
        #[cfg(feature = "metrics")]
        times[10].push(batch(&s.rt, &s.recorded, &s.hit_bearer, || ()));
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!("\ninterleaved: {ROUNDS} rounds of {BATCH} requests per variant, median of the rounds' means");
    for (name, ns) in names.iter().zip(&medians) {
        println!(
            "interleaved verify/{name:<18} {ns:8.1} ns  {:5.2}x tower_http_static",
            ns / medians[1]
        );
    }
    println!("ratio hit_bearer/tower_http_static: {:.3}", medians[2] / medians[1]);
    println!("ratio bad_checksum/hit_bearer: {:.3}", medians[5] / medians[2]);
    println!("ratio hit_limited/hit_bearer: {:.3}", medians[6] / medians[2]);
    println!(
        "ratio typed_hit_limited/typed_hit_bearer: {:.3}",
        medians[8] / medians[7]
    );
    println!(
        "ratio fields_hit_bearer/typed_hit_bearer: {:.3}",
        medians[9] / medians[7]
    );
    println!(
        "ratio typed_hit_limited/fields_hit_bearer: {:.3}",
        medians[8] / medians[9]
    );
    #[cfg(feature = "metrics")]
    println!("ratio hit_recorded/hit_bearer: {:.3}", medians[10] / medians[2]);
}
