//! The built `tollgate` binary run as a process, on a store of the test's own: a SQLite file
//! in a temporary directory, or a PostgreSQL schema dropped when the test ends.
#![allow(dead_code, unreachable_pub)] // Each test file uses some of these.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The environment variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES_URL";

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
        assert_eq!(self.code, 0, "{self:#?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| panic!("not one JSON document ({err}): {self:#?}"))
    }

    /// The run exited with `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "{self:#?}");
        self
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
        let url = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => panic!("{test}: CI must set {POSTGRES_ENV}"),
            _ => {
                eprintln!("skipped {test}: set {POSTGRES_ENV} to run it against a real server");
                return None;
            }
        };
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dropped: Result<(), tokio_postgres::Error> = runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .await
        });
        if let Err(err) = dropped {
            eprintln!("could not drop the test schema {}: {err}", self.name);
        }
    }
}
