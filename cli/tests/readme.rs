//! The README's "Operating tokens from the shell" and "Moving from SQLite to PostgreSQL", their
//! commands run as written: `tollgate` is the built binary, and `cargo run … --example server
//! -- ARGS` runs the example server (built as the library's tests build it) with `ARGS`.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::Backend;

/// The ```sh blocks of the README section under `heading`.
fn readme_sh_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
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
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// The example server, built with the features the library's own tests build it with, so
/// that a full test run compiles it once.
fn server_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "tollgate",
            "--example",
            "server",
            "--no-default-features",
            "--features",
            "admin,sqlite,sqlite-unbundled,axum,metrics,postgres,redis,tonic",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the example server builds");
    let tollgate = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    tollgate.parent().unwrap().join("examples/server")
}

fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// Runs `script` with `sh -e` in `dir`: `tollgate` on the path, and `cargo` a function that
/// starts the example server with the arguments after `--`.
fn run(script: &str, dir: &Path, server: &Path, env: &[(&str, &str)]) -> (String, String) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tollgate")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let shim = format!(
        "cargo() {{ while [ \"$1\" != -- ]; do shift; done; shift; exec {} \"$@\"; }}\n",
        server.display()
    );
    let output = Command::new("sh")
        .arg("-ec")
        .arg(format!("{shim}{script}"))
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("TOLLGATE_PEPPER")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "the README's commands failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The walkthrough's server: `--admin-token-out admin.token` on `tollgate.db`, in `dir`.
fn walkthrough_server(server: &Path, dir: &Path, addr: &str) -> Child {
    let child = Command::new(server)
        .args(["--addr", addr, "--admin-token-out", "admin.token"])
        .current_dir(dir)
        .env_remove("TOLLGATE_STORE")
        .env_remove("TOLLGATE_PEPPER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the example server listens"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn curl_or_skip() -> bool {
    if Command::new("curl").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the README's commands need curl, which CI must install"
    );
    eprintln!("skipped: the README's commands need curl, which is not installed");
    false
}

#[test]
fn the_readme_shell_sections_work_as_written() {
    if !curl_or_skip() {
        return;
    }
    let server = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let host = free_addr();
    let mut first = walkthrough_server(&server, dir.path(), &host);

    let blocks = readme_sh_blocks("## Operating tokens from the shell");
    assert_eq!(blocks.len(), 1, "one block");
    let (stdout, stderr) = run(&blocks[0], dir.path(), &server, &[("HOST", &host)]);
    assert!(stdout.contains("shown once"), "create prints the token once:\n{stdout}");
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("ci deploy key") && line.contains("team-infra")),
        "list shows it:\n{stdout}"
    );
    assert!(stdout.contains("Imported 1 of 1"), "{stdout}");
    assert!(
        stdout.contains("Imported 0 of 1") && stdout.contains("skipped 1"),
        "{stdout}"
    );
    assert!(stdout.contains("legacy client: 200"), "{stdout}\n{stderr}");
    assert!(stdout.contains("after revoke: 401"), "{stdout}\n{stderr}");
    let _ = first.kill();
    let _ = first.wait();

    let Some(target) = Backend::postgres("the README's move to PostgreSQL") else {
        return;
    };
    let blocks = readme_sh_blocks("## Moving from SQLite to PostgreSQL");
    assert_eq!(blocks.len(), 1, "one block");
    let b = free_addr();
    let schema = target.var("TOLLGATE_SCHEMA").unwrap();
    let (stdout, stderr) = run(
        &blocks[0],
        dir.path(),
        &server,
        &[("DB", target.url()), ("TOLLGATE_SCHEMA", schema), ("B", &b)],
    );
    // The bootstrap admin token, the deploy key and the revoked legacy key.
    assert!(stdout.contains("3 new, 0 updated"), "{stdout}\n{stderr}");
    assert!(stdout.contains("Verified: every one of the 3"), "{stdout}");
    assert!(
        stdout.contains("on PostgreSQL: 200"),
        "the admin token made on SQLite works:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("Nothing to copy"),
        "the second copy has nothing to do:\n{stdout}"
    );
}
