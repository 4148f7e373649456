//! The example servers, started for real on free loopback ports and driven over HTTP: the
//! axum one of CONTRACT §4 (temporary SQLite database, SIGTERM, restart) and the plain
//! hyper one.
#![cfg(all(unix, feature = "_sqlite", feature = "admin"))]

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header::AUTHORIZATION, header::CONTENT_TYPE};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::process::{Server, example_binary, free_port, server_binary, wait_for};

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(format!("http://{addr}{path}"));
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    if body.is_some() {
        req = req.header(CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Full::default, |b| Full::new(Bytes::from(b.to_string())));
    let response = client.request(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_survive_a_restart_and_the_admin_token_is_made_once() {
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let server = Server::start(&bin, dir.path(), &["--admin-token-out", admin_file.to_str().unwrap()]);
    let addr = server.addr;
    let admin = std::fs::read_to_string(&admin_file).unwrap().trim().to_owned();
    let admin_auth = format!("Bearer {admin}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&admin_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    assert_eq!(send(addr, Method::GET, "/", None, None).await.0, StatusCode::OK);
    assert_eq!(
        send(addr, Method::GET, "/me", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, created) = send(
        addr,
        Method::POST,
        "/admin/tokens",
        Some(&admin_auth),
        Some(json!({"name": "survivor"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, me) = send(addr, Method::GET, "/me", Some(&format!("Bearer {token}")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(
        send(addr, Method::GET, "/reports", Some(&format!("Bearer {token}")), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let (code, stdout, stderr) = server.stop();
    assert_eq!(code, 0, "SIGTERM ends the server cleanly");
    assert_eq!(stdout.matches(&admin).count(), 1, "the admin token is printed once");
    for line in [
        "path=/me status=401 token_id=-",
        &format!("path=/me status=200 token_id={id}"),
    ] {
        assert!(stderr.contains(line), "no log line {line:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains(&token) && !stderr.contains(&admin),
        "a secret reached the log"
    );

    // Second start, same database: the token still works; no new admin token.
    let second_file = dir.path().join("admin2.token");
    let server = Server::start(&bin, dir.path(), &["--admin-token-out", second_file.to_str().unwrap()]);
    let addr = server.addr;
    assert_eq!(
        send(addr, Method::GET, "/me", Some(&format!("Bearer {token}")), None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, list) = send(addr, Method::GET, "/admin/tokens", Some(&admin_auth), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["tokens"].as_array().unwrap().len(),
        2,
        "the admin token and ours, nothing new"
    );
    let (code, stdout, _) = server.stop();
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("Bootstrap admin token"),
        "no admin token on the second start:\n{stdout}"
    );
    assert!(!second_file.exists(), "nothing written on the second start");
}

/// With a pepper the stored hashes are HMACs under it: a token made under one pepper fails
/// under none or another. Each request's log line is in a span that names its token.
#[tokio::test]
async fn the_pepper_keys_the_stored_hashes_and_the_log_names_the_token() {
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let pepper = "a pepper of at least 16 bytes";
    let server = Server::start_env(
        &bin,
        dir.path(),
        &["--admin-token-out", admin_file.to_str().unwrap()],
        &[("TOLLGATE_PEPPER", pepper)],
    );
    let admin = format!("Bearer {}", std::fs::read_to_string(&admin_file).unwrap().trim());
    assert_eq!(
        send(server.addr, Method::GET, "/me", Some(&admin), None).await.0,
        StatusCode::OK
    );
    let (_, _, log) = server.stop();
    assert!(!log.contains("no pepper"), "{log}");
    let span_line = log
        .lines()
        .find(|line| line.contains("status=200"))
        .unwrap_or_else(|| panic!("no request line in:\n{log}"));
    assert!(
        span_line.contains("request{method=GET path=/me token_id=bootstrap}:"),
        "the request's span names its token: {span_line}"
    );

    // The same pepper from a file (its last newline is not part of it): the store's tokens
    // work.
    let pepper_file = dir.path().join("pepper");
    std::fs::write(&pepper_file, format!("{pepper}\n")).unwrap();
    let server = Server::start_env(&bin, dir.path(), &["--pepper-file", pepper_file.to_str().unwrap()], &[]);
    let status = send(server.addr, Method::GET, "/me", Some(&admin), None).await.0;
    server.stop();
    assert_eq!(status, StatusCode::OK);

    // Another pepper, or none, on the store the first server recorded its fingerprint in:
    // the server refuses to start, naming the mismatch (by fingerprints, never a pepper).
    for (contents, ours) in [(Some("another pepper, 16+ bytes"), "hmac-sha256:"), (None, "none")] {
        let mut refused = Command::new(&bin);
        let store = format!("sqlite:{}", dir.path().join("t.db").display());
        refused
            .args(["--addr", "127.0.0.1:0", "--store", &store])
            .env_remove("TOLLGATE_PEPPER");
        if let Some(contents) = contents {
            std::fs::write(&pepper_file, format!("{contents}\n")).unwrap();
            refused.args(["--pepper-file", pepper_file.to_str().unwrap()]);
        }
        let refused = refused.output().unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(
            stderr.contains("hashed under another pepper") && stderr.contains(&format!("this process has {ours}")),
            "{stderr}"
        );
        assert!(
            !stderr.contains(pepper) && !stderr.contains("another pepper, 16+"),
            "no pepper is shown: {stderr}"
        );
    }

    let short = Command::new(&bin)
        .args(["--addr", "127.0.0.1:0", "--store", "memory"])
        .env("TOLLGATE_PEPPER", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 16 bytes"));
}

// CONTRACT §4: two servers starting at once on one empty store make one admin token.
#[tokio::test]
async fn two_servers_starting_at_once_on_one_empty_store_make_one_admin_token() {
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let outs = [dir.path().join("a.token"), dir.path().join("b.token")];
    let servers: Vec<Server> = outs
        .iter()
        .map(|out| Server::spawn(&bin, dir.path(), &["--admin-token-out", out.to_str().unwrap()], &[]))
        .collect();
    for server in &servers {
        wait_for(server.addr);
    }
    let printed: Vec<String> = servers.into_iter().map(|server| server.stop().1).collect();
    let bootstrapped = printed
        .iter()
        .filter(|out| out.contains("Bootstrap admin token"))
        .count();
    assert_eq!(bootstrapped, 1, "{printed:?}");
    assert_eq!(outs.iter().filter(|out| out.exists()).count(), 1);
}

/// Two servers on one PostgreSQL schema, started at once: one admin token between them,
/// and a token revoked through one is refused by the other at once.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn two_servers_on_postgres_bootstrap_once_and_share_revocations() {
    use std::time::{Duration, Instant};
    let Some(url) = support::backends::url(support::backends::POSTGRES_ENV, "two_servers_on_postgres") else {
        return;
    };
    let schema = support::pg::Schema::new(&url);
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let outs = [dir.path().join("a.token"), dir.path().join("b.token")];
    let servers: Vec<Server> = outs
        .iter()
        .map(|out| {
            Server::spawn_on(
                &bin,
                &url,
                &["--schema", &schema.name, "--admin-token-out", out.to_str().unwrap()],
                &[],
            )
        })
        .collect();
    for server in &servers {
        wait_for(server.addr);
    }
    let made: Vec<&std::path::PathBuf> = outs.iter().filter(|out| out.exists()).collect();
    assert_eq!(made.len(), 1, "one admin token between the two");
    let admin = format!("Bearer {}", std::fs::read_to_string(made[0]).unwrap().trim());
    let (a, b) = (servers[0].addr, servers[1].addr);

    let (status, created) = send(
        a,
        Method::POST,
        "/admin/tokens",
        Some(&admin),
        Some(json!({"name": "shared"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = format!("Bearer {}", created["token"].as_str().unwrap());
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        send(b, Method::GET, "/me", Some(&token), None).await.0,
        StatusCode::OK,
        "B cached it"
    );
    let (status, _) = send(a, Method::DELETE, &format!("/admin/tokens/{id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = Instant::now();
    while send(b, Method::GET, "/me", Some(&token), None).await.0 == StatusCode::OK {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still serves the revoked token"
        );
    }
    println!(
        "revocation through one example server refused by the other after {:?}",
        revoked.elapsed()
    );
    for server in servers {
        let (code, _, log) = server.stop();
        assert_eq!(code, 0);
        assert!(!log.contains("password"), "{log}");
    }
}

/// The README's commands for two replicas on a shared store, run as written (`cargo run`
/// becomes the built example; the schema or key prefix is the test's own, through
/// `TOLLGATE_SCHEMA` or `TOLLGATE_REDIS_PREFIX`).
#[cfg(all(feature = "postgres", feature = "redis"))]
fn run_the_readme_replica_commands(db: &str, env: (&str, &str)) {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "the README's commands need curl"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Several replicas: PostgreSQL or Redis").nth(1).unwrap();
    let commands = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let shim = format!(
        "cargo() {{ while [ \"$1\" != \"--\" ]; do shift; done; shift; exec {} \"$@\"; }}\n",
        bin.display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("set -e\n{shim}{commands}"))
        .current_dir(dir.path())
        .env("DB", db)
        .env("A", free_port().to_string())
        .env("B", free_port().to_string())
        .env(env.0, env.1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the commands failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("second server: 200"), "{stdout}");
    assert!(stdout.contains("second server after revoke: 401"), "{stdout}");
}

#[cfg(all(feature = "postgres", feature = "redis"))]
#[tokio::test]
async fn the_readme_replica_commands_work_as_written_on_postgres() {
    let Some(url) = support::backends::url(support::backends::POSTGRES_ENV, "the_readme_replica_commands") else {
        return;
    };
    let schema = support::pg::Schema::new(&url);
    run_the_readme_replica_commands(&url, ("TOLLGATE_SCHEMA", &schema.name));
}

#[cfg(all(feature = "postgres", feature = "redis"))]
#[tokio::test]
async fn the_readme_replica_commands_work_as_written_on_redis() {
    let Some(url) = support::backends::url(support::backends::REDIS_ENV, "the_readme_replica_commands") else {
        return;
    };
    let prefix = support::redis::Prefix::new(&url);
    run_the_readme_replica_commands(&url, ("TOLLGATE_REDIS_PREFIX", &prefix.name));
}

/// Two servers on one SQLite file: a token revoked through one is refused by the other
/// within half a second (each polls the file's change log).
#[tokio::test]
async fn two_servers_on_one_sqlite_file_share_revocations() {
    use std::time::{Duration, Instant};
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let a = Server::start(&bin, dir.path(), &["--admin-token-out", admin_file.to_str().unwrap()]);
    let b = Server::start(&bin, dir.path(), &[]);
    let admin = format!("Bearer {}", std::fs::read_to_string(&admin_file).unwrap().trim());
    let (status, created) = send(
        a.addr,
        Method::POST,
        "/admin/tokens",
        Some(&admin),
        Some(json!({"name": "shared"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = format!("Bearer {}", created["token"].as_str().unwrap());
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        send(b.addr, Method::GET, "/me", Some(&token), None).await.0,
        StatusCode::OK
    );
    let (status, _) = send(
        a.addr,
        Method::DELETE,
        &format!("/admin/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = Instant::now();
    while send(b.addr, Method::GET, "/me", Some(&token), None).await.0 == StatusCode::OK {
        assert!(
            revoked.elapsed() < Duration::from_millis(500),
            "B still serves the revoked token"
        );
    }
    println!(
        "revocation through one server on a SQLite file refused by the other after {:?}",
        revoked.elapsed()
    );
    for server in [a, b] {
        assert_eq!(server.stop().0, 0);
    }
}

/// The server damps brute force by peer address (axum's `ConnectInfo`): after 20 failed
/// verifications, 429 with `Retry-After`, while a cached valid token keeps working.
#[tokio::test]
async fn brute_force_from_one_address_is_answered_429() {
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let server = Server::start(&bin, dir.path(), &["--admin-token-out", admin_file.to_str().unwrap()]);
    let addr = server.addr;
    let admin = std::fs::read_to_string(&admin_file).unwrap().trim().to_owned();
    let admin_auth = format!("Bearer {admin}");
    // The store's change poll hears the admin token's creation within 100 ms and drops it
    // from the cache once: cache it after that.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        send(addr, Method::GET, "/me", Some(&admin_auth), None).await.0,
        StatusCode::OK
    );
    let guess = format!(
        "Bearer {}",
        tollgate::TokenFormat::default().generate().unwrap().token().expose()
    );
    for _ in 0..20 {
        assert_eq!(
            send(addr, Method::GET, "/me", Some(&guess), None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, body) = send(addr, Method::GET, "/admin/tokens", Some(&guess), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the admin API shares the count");
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert_eq!(
        send(addr, Method::GET, "/me", Some(&admin_auth), None).await.0,
        StatusCode::OK
    );
    let (code, _, _) = server.stop();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn unsupported_store_urls_fail_with_a_clear_message() {
    let bin = server_binary();
    for (store, expected) in [
        (
            "postgres://tollgate:hunter2hunter2@127.0.0.1:1/test",
            if cfg!(feature = "postgres") {
                "token store unavailable"
            } else {
                "built without the PostgreSQL store"
            },
        ),
        (
            "redis://:hunter2hunter2@127.0.0.1:1",
            if cfg!(feature = "redis") {
                "token store unavailable"
            } else {
                "built without the Redis store"
            },
        ),
        ("mysql://x", "unknown --store"),
        ("sqlite:", "needs a path"),
    ] {
        let output = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0", "--store", store])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{store}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{store}: {stderr}");
        assert!(!stderr.contains("hunter2"), "a password reached the log: {stderr}");
    }
}

/// The README's walkthrough, its shell commands run as written (the server command through
/// a `cargo` shell function that starts the already built example).
#[tokio::test]
async fn the_readme_walkthrough_works_as_written() {
    if !curl_or_skip("the README walkthrough") {
        return;
    }
    let blocks = readme_sh_blocks("## Walkthrough with curl");
    assert_eq!(blocks.len(), 3, "server command, create and call, revoke");
    let output = run_readme_commands(&blocks[0], &format!("{}\n{}", blocks[1], blocks[2]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("\"name\":\"my laptop\"").count(),
        3,
        "created, then /me twice:\n{stdout}"
    );
    assert!(stdout.contains("reports: 403"), "{stdout}");
    assert!(stdout.contains("after revoke: 401"), "{stdout}");
}

/// The README's self-service commands, run as written against a fresh server started with
/// the walkthrough's command.
#[tokio::test]
async fn the_readme_self_service_commands_work_as_written() {
    if !curl_or_skip("the README's self-service commands") {
        return;
    }
    let server = readme_sh_blocks("## Walkthrough with curl").remove(0);
    let blocks = readme_sh_blocks("## Tokens that belong to someone");
    assert_eq!(blocks.len(), 1, "one block of curl commands");
    let output = run_readme_commands(&server, &blocks[0]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    // CONTRACT §3a: a token Alice creates is hers, and names her token as its creator.
    let made: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(made["owner"], "alice", "{stdout}");
    assert!(made["created_by"].is_string(), "{stdout}");
    let listed: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    let owners: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["alice", "alice"], "only hers, not the admin's: {stdout}");
    assert_eq!(lines[2], "admin scope: 403", "{stdout}");
    let me: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(me["owner"], "alice", "/me shows the owner: {stdout}");
    assert_eq!(lines[4], r#"{"revoked":2}"#, "{stdout}");
    assert_eq!(lines[5], "after revoke: 401", "{stdout}");
}

/// Whether curl is installed; without it, a failure under CI and a visible skip elsewhere.
fn curl_or_skip(what: &str) -> bool {
    if Command::new("curl").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} need curl, which CI must install"
    );
    eprintln!("skipped: {what} need curl, which is not installed");
    false
}

/// The ```sh blocks of the README section under `heading`.
fn readme_sh_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"))
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .collect()
}

/// Starts the example server with the README's `server` command (through a `cargo` shell
/// function that starts the already built example) in a fresh directory, runs `script`
/// there with `set -e`, stops the server, and returns what the script printed; panics when
/// the script failed.
fn run_readme_commands(server: &str, script: &str) -> std::process::Output {
    assert_eq!(
        server.trim(),
        "cargo run --example server -- --admin-token-out admin.token"
    );
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let shim = format!("cargo() {{ shift 4; exec {} \"$@\"; }}\n", bin.display());
    let mut server = Command::new("sh")
        .arg("-c")
        .arg(format!("{shim}{server}"))
        .current_dir(dir.path())
        .env("TOLLGATE_ADDR", addr.to_string())
        .env("TOLLGATE_STORE", "sqlite:walkthrough.db")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(addr);

    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("set -e\n{script}"))
        .current_dir(dir.path())
        .env("HOST", addr.to_string())
        .output()
        .unwrap();
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    assert!(
        output.status.success(),
        "the README's commands failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The same protection on plain hyper 1, without axum: the layer is framework-neutral.
#[tokio::test]
async fn the_plain_hyper_example_protects_the_same_routes() {
    use std::io::BufRead as _;

    let bin = example_binary("hyper");
    let addr = free_port();
    let mut child = Command::new(&bin)
        .env("TOLLGATE_ADDR", addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let admin = lines.nth(1).expect("the admin token line").unwrap();
    wait_for(addr);
    let admin_auth = format!("Bearer {admin}");

    assert_eq!(send(addr, Method::GET, "/", None, None).await.0, StatusCode::OK);
    assert_eq!(
        send(addr, Method::GET, "/me", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, me) = send(addr, Method::GET, "/me", Some(&admin_auth), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], "bootstrap admin");
    assert_eq!(
        send(addr, Method::GET, "/reports", Some(&admin_auth), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, created) = send(
        addr,
        Method::POST,
        "/admin/tokens",
        Some(&admin_auth),
        Some(json!({"name": "reporter", "scopes": ["reports:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let reporter = format!("Bearer {}", created["token"].as_str().unwrap());
    assert_eq!(
        send(addr, Method::GET, "/reports", Some(&reporter), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(addr, Method::GET, "/nope", Some(&reporter), None).await.0,
        StatusCode::NOT_FOUND
    );
    // Damping by the peer address the accept loop records.
    let guess = format!(
        "Bearer {}",
        tollgate::TokenFormat::default().generate().unwrap().token().expose()
    );
    for _ in 0..20 {
        send(addr, Method::GET, "/me", Some(&guess), None).await;
    }
    assert_eq!(
        send(addr, Method::GET, "/me", Some(&guess), None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        child.wait().unwrap().code(),
        Some(0),
        "SIGTERM ends the hyper example cleanly"
    );
}

/// A client that never finishes its headers is disconnected after the header timeout, and
/// clients past the connection limit wait until a place frees; for both example servers.
#[tokio::test]
async fn slow_and_numerous_clients_are_bounded_on_both_example_servers() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let env = [("TOLLGATE_HEADER_TIMEOUT_MS", "400"), ("TOLLGATE_MAX_CONNECTIONS", "2")];
    let dir = tempfile::tempdir().unwrap();
    let axum_server = Server::start_env(&server_binary(), dir.path(), &[], &env);
    let hyper_addr = free_port();
    let mut hyper_child = Command::new(example_binary("hyper"))
        .env("TOLLGATE_ADDR", hyper_addr.to_string())
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(hyper_addr);

    for addr in [axum_server.addr, hyper_addr] {
        // Half a request's headers, then nothing: disconnected after the timeout.
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{addr}: {took:?}"
        );
        assert!(!String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"), "{addr}");

        // Two places: two idle connections take them, a third client is not served until
        // one of them goes (the header timeout frees them too, later).
        let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(50));
        let mut third = TcpStream::connect(addr).unwrap();
        third
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        third.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut first = [0u8; 12];
        assert!(third.read_exact(&mut first).is_err(), "{addr}: served past the limit");
        drop(held);
        third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        third.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.1 200", "{addr}: served once a place was free");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &hyper_child.id().to_string()])
        .status();
    assert!(
        hyper_child.wait().unwrap().success(),
        "the hyper example exits 0 on SIGTERM"
    );
    assert_eq!(axum_server.stop().0, 0);
}
