//! The example binaries as real processes: built with the test's features, started on free
//! loopback ports, stopped with SIGTERM.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The example server binary, built with the same features as this test.
pub fn server_binary() -> PathBuf {
    example_binary("server")
}

/// An example's binary, built with the same features as this test.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--example", name, "--no-default-features"]);
    let features: Vec<&str> = [
        (cfg!(feature = "admin"), "admin"),
        (cfg!(feature = "sqlite"), "sqlite"),
        (cfg!(feature = "sqlite-unbundled"), "sqlite-unbundled"),
        (cfg!(feature = "axum"), "axum"),
        (cfg!(feature = "metrics"), "metrics"),
        (cfg!(feature = "postgres"), "postgres"),
        (cfg!(feature = "redis"), "redis"),
        (cfg!(feature = "tonic"), "tonic"),
    ]
    .into_iter()
    .filter_map(|(on, feature)| on.then_some(feature))
    .collect();
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status().unwrap();
    assert!(status.success(), "building the example {name} failed");
    profile_dir.join("examples").join(name)
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Waits until something listens on `addr` (30 s at most).
pub fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing started listening on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

/// An example started in `dir` (its working directory) with `ADDR` set to a free port, and
/// waited for.
pub fn start_in(bin: &Path, dir: &Path) -> Server {
    let addr = free_port();
    let child = Command::new(bin)
        .current_dir(dir)
        .env("ADDR", addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(addr);
    Server { child, addr }
}

impl Server {
    /// The example server on the SQLite database `dir/t.db`, with `extra` arguments, once it
    /// listens.
    pub fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Self {
        Self::start_env(bin, dir, extra, &[])
    }

    /// [`Server::start`] with these environment variables too.
    pub fn start_env(bin: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let server = Self::spawn(bin, dir, extra, env);
        wait_for(server.addr);
        server
    }

    /// [`Server::start_env`] without waiting for it to listen.
    pub fn spawn(bin: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_on(bin, &format!("sqlite:{}", dir.join("t.db").display()), extra, env)
    }

    /// The example server on the store `store` (`--store`), not waited for.
    pub fn spawn_on(bin: &Path, store: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let addr = free_port();
        let child = Command::new(bin)
            .args(["--addr", &addr.to_string(), "--store", store])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("TOLLGATE_PEPPER")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self { child, addr }
    }

    /// SIGTERM, then the exit status and everything it printed.
    pub fn stop(self) -> (i32, String, String) {
        let (exit, out, err) = self.terminate();
        (exit.code().expect("exited, not killed by a signal"), out, err)
    }

    /// SIGTERM, for a program that does not handle it, then everything it printed.
    pub fn kill(self) -> (String, String) {
        let (_, out, err) = self.terminate();
        (out, err)
    }

    fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (exit, out, err)
    }
}
