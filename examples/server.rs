//! The example server of behaviour §4: `cargo run --example server`.
//!
//! | setting (flag or env) | default |
//! | --- | --- |
//! | `--addr` / `TOLLGATE_ADDR` | `127.0.0.1:3000` |
//! | `--store` / `TOLLGATE_STORE` | `sqlite:tollgate.db`; also `memory`, `postgres://…` (feature `postgres`), `redis://…` (feature `redis`) |
//! | `--schema` / `TOLLGATE_SCHEMA` | `tollgate`: the PostgreSQL schema of the tables |
//! | `--prefix` / `TOLLGATE_REDIS_PREFIX` | `tollgate:`: the prefix of the Redis keys |
//! | `--admin-token-out PATH` | none: where to also write the bootstrap admin token |
//! | `--pepper-file PATH` / `TOLLGATE_PEPPER` | none: the key of the secret hashes (HMAC-SHA-256) |
//! | `--header-timeout-ms` / `TOLLGATE_HEADER_TIMEOUT_MS` | `10000`: a client slower than this to send a request's headers is disconnected |
//! | `--max-connections` / `TOLLGATE_MAX_CONNECTIONS` | `1024`: connections served at once |
//! | `--max-failures` / `TOLLGATE_MAX_FAILURES` | `20`: failed verifications a client may make in a minute before 429 |
//! | `--rate-limit-store` / `TOLLGATE_RATE_LIMIT_STORE` | none: rate limits counted per process; `redis://…` (feature `redis`) counts them for every server using that Redis |
//! | `--rate-limit-prefix` / `TOLLGATE_RATE_LIMIT_PREFIX` | `tollgate:ratelimit:`: the prefix of the rate-limit keys in Redis |
//! | `--rate-limit-unavailable` / `TOLLGATE_RATE_LIMIT_UNAVAILABLE` | `local`: while that Redis is away, count in the process (`local`) or answer 503 (`refuse`) |
//! | `RUST_LOG` | `info`: which log lines to show (`tracing_subscriber`'s `EnvFilter`) |
//!
//! Routes: `GET /` public; `GET /me` any valid token (the principal, and where its rate
//! limits stand); `GET /reports` needs `reports:read`;
//! the admin API under `/admin`. On first start with an empty store it creates an admin
//! token and prints it once (two servers starting at once on one empty store make one).
//! One span and one log line per request, with the token id and never a secret. Ctrl-C
//! or SIGTERM finishes in-flight requests and exits 0.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use clap::Parser;
use tollgate::store::TokenStore;
use tollgate::{
    AdminApi, AuthLayer, Damping, MemoryStore, Principal, PrincipalSlot, RateLimitStatus, RateLimits, SecretHasher,
    TokenManager, Verifier,
};
use tracing::Instrument as _;

/// tollgate's example server.
#[derive(Debug, Parser)]
#[command(about = "tollgate example server: token-protected routes and the admin API")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Token store: `sqlite:PATH`, `memory`, `postgres://…` or `redis://…` (built with the
    /// `postgres` or `redis` feature: several servers can share it, and each hears the
    /// others' changes at once).
    #[arg(long, env = "TOLLGATE_STORE", default_value = "sqlite:tollgate.db")]
    store: String,
    /// Also write the bootstrap admin token to this file (created with mode 0600).
    #[arg(long)]
    admin_token_out: Option<PathBuf>,
    /// A file holding the pepper: the key secrets are hashed under (HMAC-SHA-256), so a
    /// copy of the database alone cannot be used to test guessed secrets. Or set
    /// `TOLLGATE_PEPPER`. Every server sharing a store must use the same one: the store
    /// records the first one's fingerprint, and a server with another, or none, refuses to
    /// start. Changing it makes every stored token unusable.
    #[arg(long)]
    pepper_file: Option<PathBuf>,
    /// The PostgreSQL schema of the token tables.
    #[arg(long, env = "TOLLGATE_SCHEMA", default_value = "tollgate")]
    schema: String,
    /// The prefix of the Redis keys.
    #[arg(long, env = "TOLLGATE_REDIS_PREFIX", default_value = "tollgate:")]
    prefix: String,
    /// A client that has not sent a request's headers within this many milliseconds is
    /// disconnected.
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// At most this many connections at once; further clients wait to be accepted.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Failed verifications a client may make in a minute before it is answered 429.
    #[arg(long, env = "TOLLGATE_MAX_FAILURES", default_value_t = 20)]
    max_failures: u32,
    /// Where rate limits are counted: in each process (the default), or `redis://…` for
    /// one count shared by every server that uses that Redis, whatever store holds the
    /// tokens (built with the `redis` feature).
    #[arg(long, env = "TOLLGATE_RATE_LIMIT_STORE")]
    rate_limit_store: Option<String>,
    /// The prefix of the rate-limit keys in Redis.
    #[arg(long, env = "TOLLGATE_RATE_LIMIT_PREFIX", default_value = "tollgate:ratelimit:")]
    rate_limit_prefix: String,
    /// While the rate-limit Redis is unreachable: `local` (count in this process meanwhile)
    /// or `refuse` (answer limited requests 503).
    #[arg(long, env = "TOLLGATE_RATE_LIMIT_UNAVAILABLE", default_value = "local")]
    rate_limit_unavailable: String,
}

/// Reads `--rate-limit-store` and its settings.
fn rate_limits(args: &Args) -> Result<RateLimits, BoxError> {
    let when = match args.rate_limit_unavailable.as_str() {
        "local" => tollgate::WhenUnavailable::Local,
        "refuse" => tollgate::WhenUnavailable::Refuse,
        other => return Err(format!("--rate-limit-unavailable: `local` or `refuse`, not `{other}`").into()),
    };
    match args.rate_limit_store.as_deref() {
        None => Ok(RateLimits::local()),
        #[cfg(feature = "redis")]
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(RateLimits::redis_builder(url)
            .prefix(&args.rate_limit_prefix)
            .when_unavailable(when)
            .build()?),
        Some(other) => {
            let _ = when;
            Err(format!(
                "--rate-limit-store: a `redis://…` URL (with the `redis` feature), not `{}`",
                without_password(other)
            )
            .into())
        }
    }
}

/// The pepper from `--pepper-file` or `TOLLGATE_PEPPER` (not a flag's value, which `ps`
/// would show), if any, read as every process of one store reads it.
fn pepper(args: &Args) -> Result<Option<SecretHasher>, BoxError> {
    let text = match (&args.pepper_file, std::env::var_os("TOLLGATE_PEPPER")) {
        (Some(_), Some(_)) => return Err("give the pepper with --pepper-file or TOLLGATE_PEPPER, not both".into()),
        (Some(path), None) => std::fs::read(path).map_err(|err| format!("--pepper-file {}: {err}", path.display()))?,
        (None, Some(value)) => value.into_encoded_bytes(),
        (None, None) => return Ok(None),
    };
    Ok(Some(SecretHasher::from_pepper_text(&text)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), BoxError> {
    let pepper = pepper(&args)?;
    let store = open_store(&args).await?;
    let hasher = match pepper {
        Some(hasher) => hasher,
        None => {
            tracing::warn!("no pepper: secrets are stored as plain SHA-256; set TOLLGATE_PEPPER in production");
            SecretHasher::Sha256
        }
    };
    let verifier = Verifier::builder(store.clone())
        .hasher(hasher)
        .rate_limits(rate_limits(&args)?)
        .build();
    if let Some(task) = verifier.invalidation_task() {
        tokio::spawn(task);
    }
    // Records show `last_used_at`.
    tokio::spawn(verifier.usage_task(std::time::Duration::from_secs(5)));
    let tokens = TokenManager::from_shared(store.clone(), verifier.clone());
    // The first process on a store records its pepper's fingerprint; one with another (or
    // none where one was recorded) stops here, instead of refusing every token.
    tokens.check_pepper().await?;
    bootstrap_admin(&tokens, args.admin_token_out.as_deref()).await?;

    // Brute-force damping by peer address (the accept loop puts it in every request), shared
    // by the API and the admin API: a client with 20 (`--max-failures`) failed verifications
    // in a minute is answered 429 until its minute ends.
    let damping = Damping::builder().max_failures(args.max_failures).build();
    let auth = AuthLayer::builder(verifier.clone())
        .realm("tollgate example")
        .damping(damping.clone())
        .build()
        .same_body();
    let protected = Router::new()
        .route(
            "/me",
            get(
                |Extension(me): Extension<Principal>, limits: Option<Extension<RateLimitStatus>>| async move {
                    // The principal, and where its limits stand after this request.
                    let mut body = serde_json::to_value(&me).unwrap_or_default();
                    body["rate_limits"] =
                        serde_json::to_value(limits.map(|Extension(status)| status)).unwrap_or_default();
                    Json(body)
                },
            ),
        )
        .route(
            "/reports",
            get(|| async { Json(serde_json::json!({"reports": ["q1", "q2"]})) })
                .layer(auth.scope_layer(["reports:read"])),
        )
        .layer(middleware::from_fn(record_token_id))
        .layer(auth);
    let app = Router::new()
        .route(
            "/",
            get(|| async { "tollgate example server: see /me, /reports and /admin\n" }),
        )
        .merge(protected)
        .nest_service(
            "/admin",
            AdminApi::builder(store, verifier)
                .realm("tollgate example")
                .damping(damping)
                .build(),
        )
        .layer(middleware::from_fn(log_request));

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, store = %without_password(&args.store), "listening");
    // By hand rather than `axum::serve`, for the limits a server facing clients needs: a
    // header read timeout (a client that never finishes its headers is dropped) and a
    // bound on connections.
    let limits = common::Limits {
        header_read_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
        max_connections: args.max_connections.max(1),
    };
    common::serve(listener, app, limits).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Reads `--store`: `sqlite:PATH`, `memory`, `postgres://…` or `redis://…`.
async fn open_store(args: &Args) -> Result<Arc<dyn TokenStore>, BoxError> {
    let url = args.store.as_str();
    if url == "memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err("--store sqlite:PATH needs a path, e.g. sqlite:tollgate.db".into());
        }
        let store = tollgate::SqliteStore::open(path).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            let store = tollgate::PostgresStore::builder(url)
                .schema(&args.schema)
                .open()
                .await?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "postgres"))]
        return Err("this server was built without the PostgreSQL store: build it with `--features postgres`".into());
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        #[cfg(feature = "redis")]
        {
            let store = tollgate::RedisStore::builder(url).prefix(&args.prefix).open().await?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "redis"))]
        return Err("this server was built without the Redis store: build it with `--features redis`".into());
    }
    Err(format!(
        "unknown --store {:?}: expected sqlite:PATH, memory, postgres://… or redis://…",
        without_password(url)
    )
    .into())
}

/// A store URL fit for a log line: `user:password@` loses its password.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let path = if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            };
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// On an empty store, creates an admin token and shows it once.
async fn bootstrap_admin(tokens: &TokenManager, out: Option<&std::path::Path>) -> Result<(), BoxError> {
    let Some(admin) = tokens.bootstrap_admin().await? else {
        if out.is_some() {
            tracing::info!("the store already holds tokens: no bootstrap admin token was created or written");
        }
        return Ok(());
    };
    if let Some(path) = out {
        write_private(path, admin.token().expose())?;
    }
    println!(
        "Bootstrap admin token (shown once, scope tokens:admin):\n{}",
        admin.token().expose()
    );
    tracing::info!(token_id = admin.id(), "created the bootstrap admin token");
    Ok(())
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

/// One span per request, and one line when it ends: method, path, status and token id,
/// never a secret.
async fn log_request(mut req: Request, next: Next) -> Response {
    let slot = PrincipalSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %method, %path, token_id = tracing::field::Empty);
    let response = next.run(req).instrument(span.clone()).await;
    let token_id = slot.get().map_or("-", Principal::id);
    span.in_scope(|| tracing::info!(%method, %path, status = response.status().as_u16(), %token_id, "request"));
    response
}

/// Names the token in the request's span as soon as the auth layer has let it through, so
/// that whatever the handler logs carries it.
async fn record_token_id(req: Request, next: Next) -> Response {
    if let Some(principal) = req.extensions().get::<Principal>() {
        tracing::Span::current().record("token_id", tracing::field::display(principal.id()));
    }
    next.run(req).await
}
