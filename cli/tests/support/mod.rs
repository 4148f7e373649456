//! The built `tollgate` binary run as a process, on a store of the test's own: a SQLite file
//! in a temporary directory, or a PostgreSQL schema dropped when the test ends.
#![allow(dead_code, unreachable_pub)] // Each test file uses some of these.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The environment variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES_URL";

/// The environment variable naming the Redis server the tests may use.
pub const REDIS_ENV: &str = "TOLLGATE_TEST_REDIS_URL";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run succeeded; its stdout, read as one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{}", self.shown());
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("not one JSON document ({err}): {}", self.shown()))
    }

    /// The run exited with `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "{}", self.shown());
        self
    }

    /// The run for a failure's message: each stream's first 4,000 characters.
    pub fn shown(&self) -> String {
        let head = |text: &str| text.chars().take(4000).collect::<String>();
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            head(&self.stdout),
            head(&self.stderr)
        )
    }

    /// Everything it printed, both streams.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `tollgate args…` with `stdin`, in an environment without the operator's `TOLLGATE_*`
/// settings and with `env` added.
pub fn tollgate(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.args(args);
    for var in [
        "TOLLGATE_STORE",
        "TOLLGATE_SCHEMA",
        "TOLLGATE_REDIS_PREFIX",
        "TOLLGATE_PEPPER",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the tollgate binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A store of the test's own, and the environment that names it to the binary.
pub struct Backend {
    env: Vec<(String, String)>,
    _place: Place,
}

enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(Schema),
    Redis(Prefix),
    /// Another's: nothing to clean up.
    Borrowed,
}

impl Backend {
    /// An empty SQLite store in a temporary directory (an empty file is an empty database).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("tokens.db");
        std::fs::File::create(&path).unwrap();
        Self {
            env: vec![("TOLLGATE_STORE".to_owned(), format!("sqlite:{}", path.display()))],
            _place: Place::Sqlite(dir),
        }
    }

    /// A schema of the test's own on the PostgreSQL server of `TOLLGATE_TEST_POSTGRES_URL`;
    /// `None` (the test says it skipped) when that is not set, unless `CI` is set, where a
    /// test that cannot run fails.
    pub fn postgres(test: &str) -> Option<Self> {
        let url = server_url(test, POSTGRES_ENV)?;
        let schema = Schema {
            url: url.clone(),
            name: unique_name("tgcli_"),
        };
        Some(Self {
            env: vec![
                ("TOLLGATE_STORE".to_owned(), url),
                ("TOLLGATE_SCHEMA".to_owned(), schema.name.clone()),
            ],
            _place: Place::Postgres(schema),
        })
    }

    /// A store some other value owns (a copy's SQLite target in the test's directory).
    pub fn at(url: &str) -> Self {
        Self {
            env: vec![("TOLLGATE_STORE".to_owned(), url.to_owned())],
            _place: Place::Borrowed,
        }
    }

    /// A key prefix of the test's own on the Redis server of `TOLLGATE_TEST_REDIS_URL`, its
    /// keys deleted when the test ends; `None` as for [`Backend::postgres`].
    pub fn redis(test: &str) -> Option<Self> {
        let url = server_url(test, REDIS_ENV)?;
        let prefix = Prefix {
            url: url.clone(),
            name: format!("{}:", unique_name("tgcli_")),
        };
        Some(Self {
            env: vec![
                ("TOLLGATE_STORE".to_owned(), url),
                ("TOLLGATE_REDIS_PREFIX".to_owned(), prefix.name.clone()),
            ],
            _place: Place::Redis(prefix),
        })
    }

    /// The store's URL, as `--store` names it.
    pub fn url(&self) -> &str {
        self.var("TOLLGATE_STORE").expect("every backend names its store")
    }

    /// The options that name this store as a copy's target (`--to` and its schema or prefix).
    pub fn as_target(&self) -> Vec<String> {
        let mut args = vec!["--to".to_owned(), self.url().to_owned()];
        if let Some(schema) = self.var("TOLLGATE_SCHEMA") {
            args.extend(["--to-schema".to_owned(), schema.to_owned()]);
        }
        if let Some(prefix) = self.var("TOLLGATE_REDIS_PREFIX") {
            args.extend(["--to-prefix".to_owned(), prefix.to_owned()]);
        }
        args
    }

    /// The store, opened in the test's own process, without change listeners.
    pub async fn open(&self) -> std::sync::Arc<dyn tollgate::store::TokenStore> {
        let url = self.url();
        if let Some(path) = url.strip_prefix("sqlite:") {
            return std::sync::Arc::new(
                tollgate::SqliteStore::builder(path)
                    .poll_changes(None)
                    .open()
                    .await
                    .unwrap(),
            );
        }
        if let Some(schema) = self.var("TOLLGATE_SCHEMA") {
            return std::sync::Arc::new(
                tollgate::PostgresStore::builder(url)
                    .schema(schema)
                    .listen(false)
                    .open()
                    .await
                    .unwrap(),
            );
        }
        let prefix = self.var("TOLLGATE_REDIS_PREFIX").expect("a Redis backend has a prefix");
        std::sync::Arc::new(
            tollgate::RedisStore::builder(url)
                .prefix(prefix)
                .listen(false)
                .open()
                .await
                .unwrap(),
        )
    }

    /// `tollgate args…` on this store, with `env` added, started and left running, its
    /// output discarded.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command.args(args).env_remove("TOLLGATE_PEPPER");
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tollgate binary runs")
    }

    /// One of the settings that name this store (`TOLLGATE_SCHEMA`, say).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Runs `tollgate args…` on this store.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    /// Runs `tollgate args…` on this store, with `stdin` and more environment.
    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut all: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(env);
        tollgate(args, stdin, &all)
    }

    /// Creates a token and returns its JSON (with `token`, shown this once).
    #[track_caller]
    pub fn create(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json", "tokens", "create"];
        all.extend_from_slice(args);
        self.run(&all).json()
    }
}

/// What a server on `store` answers `authorization` on a route that requires the scope
/// `read`: the `AuthLayer` every server runs, with the default hasher (no pepper).
pub async fn answer(store: std::sync::Arc<dyn tollgate::store::TokenStore>, authorization: &str) -> u16 {
    answer_with(store, authorization, tollgate::SecretHasher::Sha256).await
}

/// [`answer`] by a server with this hasher (its pepper).
pub async fn answer_with(
    store: std::sync::Arc<dyn tollgate::store::TokenStore>,
    authorization: &str,
    hasher: tollgate::SecretHasher,
) -> u16 {
    use http_body_util::Full;
    use tower::{ServiceBuilder, ServiceExt as _};
    let verifier = tollgate::Verifier::builder(store).hasher(hasher).build();
    let service = ServiceBuilder::new()
        .layer(tollgate::AuthLayer::builder(verifier).require_scopes(["read"]).build())
        .service(tower::service_fn(|_: http::Request<Full<bytes::Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::new())))
        }));
    let request = http::Request::get("/")
        .header(http::header::AUTHORIZATION, authorization)
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    service.oneshot(request).await.unwrap().status().as_u16()
}

/// `Basic` credentials.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// The server URL in `var`; `None` (the test says it skipped) when that is not set, unless
/// `CI` is set, where a test that cannot run fails.
fn server_url(test: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("{test}: CI must set {var}"),
        _ => {
            eprintln!("skipped {test}: set {var} to run it against a real server");
            None
        }
    }
}

/// A name no other test uses: `prefix` and random letters.
pub fn unique_name(prefix: &str) -> String {
    let token = tollgate::TokenFormat::default().generate().unwrap();
    format!("{prefix}{}", token.id().to_ascii_lowercase())
}

/// A PostgreSQL schema, dropped when the test ends, however it ends.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // A thread of its own: the test may be inside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
            })
        })
        .join()
        .unwrap_or_else(|_| panic!("dropping the schema {} panicked", self.name));
        if let Err(err) = dropped {
            eprintln!("could not drop the test schema {}: {err}", self.name);
        }
    }
}

/// A Redis key prefix, its keys deleted when the test ends, however it ends.
struct Prefix {
    url: String,
    name: String,
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let (url, pattern) = (self.url.clone(), format!("{}*", self.name));
        // A thread of its own: the test may be inside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut conn = redis::Client::open(url.as_str())?
                    .get_multiplexed_async_connection()
                    .await?;
                let mut cursor = 0_u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await?;
                    if !keys.is_empty() {
                        redis::cmd("DEL").arg(keys).exec_async(&mut conn).await?;
                    }
                    if next == 0 {
                        return Ok::<_, redis::RedisError>(());
                    }
                    cursor = next;
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not delete the test keys {}*", self.name);
        }
    }
}
