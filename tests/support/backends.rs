//! The shared database servers of the machine, for the tests of the stores that live in them:
//! where to find them, and a place of each test's own in them.

use std::net::SocketAddr;

/// The environment variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES_URL";

/// The environment variable naming the Redis server the tests may use.
pub const REDIS_ENV: &str = "TOLLGATE_TEST_REDIS_URL";

/// The server's URL from `var`; `None` (the test is skipped, and says so) when it is not set,
/// unless CI is the caller (`CI` is set), where a backend test that does not run is a failure.
pub fn url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("{test}: CI must set {var}"),
        _ => {
            eprintln!("skipped {test}: set {var} to run it against a real server");
            None
        }
    }
}

/// `url` with its host and port replaced by `addr` (a proxy in front of the server).
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{addr}/{path}")
}

/// The server's address in `url` (for a proxy to forward to).
pub fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = rest.split(['/', '?']).next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else if url.starts_with("redis") {
        format!("{host_port}:6379")
    } else {
        format!("{host_port}:5432")
    };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().expect("the test server's address is host:port")
}

/// A name no other test uses: `prefix` and random letters.
pub fn unique_name(prefix: &str) -> String {
    let token = tollgate::TokenFormat::default().generate().unwrap();
    format!("{prefix}{}", token.id().to_ascii_lowercase())
}
