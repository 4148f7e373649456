//! Hostile input on the wire: malformed `Authorization` headers, admin request bodies,
//! queries and paths, sent as raw bytes over TCP to the example server (CONTRACT §4), each
//! answered as CONTRACT §1 and §3 say. Never a 500; every answer the layer or the admin
//! API gives is the JSON error body; no answer carries a secret that was sent or stored.
//!
//! `cargo test --test hostile_wire -- --nocapture` prints the table of what was sent and
//! what came back.
#![cfg(all(unix, feature = "_sqlite", feature = "admin"))]

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use support::process::{Server, server_binary};

/// An answer, as read off the socket.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The `error.code` of a JSON error body.
    fn code(&self) -> Option<String> {
        let value: Value = serde_json::from_slice(&self.body).ok()?;
        value["error"]["code"].as_str().map(str::to_owned)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `raw` on a new connection and reads the whole answer (the request says
/// `Connection: close`).
fn exchange(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before it has read everything (413, 431).
    let _ = stream.write_all(raw);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut body = bytes[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let answer = Answer {
        status,
        head,
        body: Vec::new(),
    };
    if answer
        .header("transfer-encoding")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Answer { body, ..answer }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&bytes[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&bytes[start..start + size]);
        bytes = &bytes[start + size + 2..];
    }
}

/// A request's bytes: `Host` and `Connection: close` added, and `Content-Length` when there
/// is a body and no header already frames it.
fn request(method: &str, path: &str, headers: &[(&str, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n").into_bytes();
    let framed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    if !framed && !body.is_empty() {
        raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

fn auth(value: impl Into<Vec<u8>>) -> (&'static str, Vec<u8>) {
    ("Authorization", value.into())
}

fn json_type() -> (&'static str, Vec<u8>) {
    ("Content-Type", b"application/json".to_vec())
}

fn basic(user_pass: &[u8]) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
}

/// One row of the table: what was sent, the statuses CONTRACT allows, and the error code
/// the body must carry (`None`: no JSON error body is required, e.g. a success or an
/// answer of the HTTP server itself).
struct Case {
    what: String,
    raw: Vec<u8>,
    statuses: &'static [u16],
    code: Option<&'static str>,
    /// Answered by the authentication layer (a header case), not by the admin API.
    layer: bool,
}

fn case(what: impl Into<String>, raw: Vec<u8>, statuses: &'static [u16], code: Option<&'static str>) -> Case {
    Case {
        what: what.into(),
        raw,
        statuses,
        code,
        layer: false,
    }
}

/// Replaces the last character of the secret segment and recomputes the checksum: a token
/// with a known id and a wrong secret that passes the checksum.
fn wrong_secret(token: &str) -> String {
    let body = &token[..token.len() - tollgate::TokenFormat::CHECKSUM_LEN];
    let last = body.chars().last().unwrap();
    let mut body = body[..body.len() - 1].to_owned();
    body.push(if last == 'a' { 'b' } else { 'a' });
    let sum = support::checksum(body.as_bytes());
    format!("{body}{}", std::str::from_utf8(&sum).unwrap())
}

fn header_cases(token: &str, id: &str) -> Vec<Case> {
    let get_me = |headers: &[(&str, Vec<u8>)]| request("GET", "/me", headers, b"");
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    let mut bad_checksum = token.to_owned();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == '0' { '1' } else { '0' });
    let unknown = tollgate::TokenFormat::default().generate().unwrap();
    let long_id = "a".repeat(70);
    const OK: &[u16] = &[200];
    const R400: &[u16] = &[400];
    const R401: &[u16] = &[401];
    let (ir, it) = (Some("invalid_request"), Some("invalid_token"));
    vec![
        // CONTRACT §1: no credentials, or an unsupported scheme: 401 with the challenges.
        case("no Authorization header", get_me(&[]), R401, Some("unauthorized")),
        case(
            "`Digest username=\"a\", realm=\"r\"`",
            get_me(&[auth("Digest username=\"a\", realm=\"r\"")]),
            R401,
            Some("unauthorized"),
        ),
        case("`Token abc`", get_me(&[auth("Token abc")]), R401, Some("unauthorized")),
        case(
            "`Negotiate YII=`",
            get_me(&[auth("Negotiate YII=")]),
            R401,
            Some("unauthorized"),
        ),
        case("empty value", get_me(&[auth("")]), &[400, 401], None),
        // CONTRACT §1: malformed credentials: 400 invalid_request.
        case("`Bearer` alone", get_me(&[auth("Bearer")]), R400, ir),
        case("`Bearer` and spaces", get_me(&[auth("Bearer    ")]), R400, ir),
        case("`Bearer a b`", get_me(&[auth("Bearer a b")]), R400, ir),
        case("`Bearer abc,def`", get_me(&[auth("Bearer abc,def")]), R400, ir),
        case("`Bearer =abc`", get_me(&[auth("Bearer =abc")]), R400, ir),
        case("`Bearer abc=def`", get_me(&[auth("Bearer abc=def")]), R400, ir),
        case("`Bearer \"quoted\"`", get_me(&[auth("Bearer \"quoted\"")]), R400, ir),
        case("`Bearer<TAB>token`", get_me(&[auth("Bearer\tabcdef")]), R400, ir),
        case(
            "`Bearer <token>, Basic eDp5`",
            get_me(&[auth(format!("Bearer {token}, Basic eDp5"))]),
            R400,
            ir,
        ),
        case(
            "Bearer with obs-text bytes (0xFF 0xFE)",
            get_me(&[auth(b"Bearer ab\xff\xfecd".to_vec())]),
            R400,
            ir,
        ),
        case(
            "Bearer with a NUL byte",
            get_me(&[auth(b"Bearer ab\0cd".to_vec())]),
            R400,
            None,
        ),
        case(
            "two Authorization headers (both the valid token)",
            get_me(&[auth(bearer(token)), auth(bearer(token))]),
            R400,
            ir,
        ),
        case(
            "Bearer of 5,000 bytes (over the 4 KiB bound)",
            get_me(&[auth(bearer(&"a".repeat(5000)))]),
            &[400, 431],
            None,
        ),
        case(
            "Bearer of 1 MiB",
            get_me(&[auth(bearer(&"a".repeat(1 << 20)))]),
            &[400, 431],
            None,
        ),
        case("`Basic` alone", get_me(&[auth("Basic")]), R400, ir),
        case("`Basic !!!!`", get_me(&[auth("Basic !!!!")]), R400, ir),
        case(
            "Basic without a colon (`user`)",
            get_me(&[auth(basic(b"user"))]),
            R400,
            ir,
        ),
        case(
            "Basic without padding (`dXNlcjpwYXM`)",
            get_me(&[auth("Basic dXNlcjpwYXM")]),
            R400,
            ir,
        ),
        case(
            "Basic, URL-safe alphabet (`-_` for `+/`)",
            get_me(&[auth(format!(
                "Basic {}",
                base64::engine::general_purpose::URL_SAFE.encode(b"i:\xfb\xff")
            ))]),
            R400,
            ir,
        ),
        case(
            "Basic with a control character (`id:\\x01secret`)",
            get_me(&[auth(basic(b"id:\x01secret"))]),
            R400,
            ir,
        ),
        case(
            "Basic, not UTF-8 (`id:\\xff\\xfe`)",
            get_me(&[auth(basic(b"id:\xff\xfe"))]),
            R400,
            ir,
        ),
        // CONTRACT §1: not a usable token: 401 invalid_token, alike for every reason.
        case(
            "`Bearer tg_x_y` (prefix, not the shape)",
            get_me(&[auth("Bearer tg_x_y")]),
            R401,
            it,
        ),
        case(
            "the valid token with its checksum's last digit changed",
            get_me(&[auth(bearer(&bad_checksum))]),
            R401,
            it,
        ),
        case(
            "checksum-valid token, unknown id",
            get_me(&[auth(bearer(unknown.token().expose()))]),
            R401,
            it,
        ),
        case(
            "known id, wrong secret, checksum recomputed",
            get_me(&[auth(bearer(&wrong_secret(token)))]),
            R401,
            it,
        ),
        case(
            "opaque Bearer nobody imported",
            get_me(&[auth("Bearer abcdefghijklmnop1234")]),
            R401,
            it,
        ),
        case(
            "Basic, id not base62 (`not-an-id:secret`)",
            get_me(&[auth(basic(b"not-an-id:secret"))]),
            R401,
            it,
        ),
        case(
            "Basic, 70-character id",
            get_me(&[auth(basic(format!("{long_id}:secret").as_bytes()))]),
            R401,
            it,
        ),
        case(
            "Basic, known id, wrong secret",
            get_me(&[auth(basic(format!("{id}:wrong").as_bytes()))]),
            R401,
            it,
        ),
        // Positive controls: the same parser accepts what the RFCs allow.
        case(
            "`bearer <token>` (lower case)",
            get_me(&[auth(format!("bearer {token}"))]),
            OK,
            None,
        ),
        case(
            "`BEARER    <token>` (upper case, four spaces)",
            get_me(&[auth(format!("BEARER    {token}"))]),
            OK,
            None,
        ),
        case(
            "Basic `id:<whole token>`",
            get_me(&[auth(basic(format!("{id}:{token}").as_bytes()))]),
            OK,
            None,
        ),
        // CONTRACT §1: valid, missing a required scope: 403.
        case(
            "valid token without `reports:read` on /reports",
            request("GET", "/reports", &[auth(bearer(token))], b""),
            &[403],
            Some("insufficient_scope"),
        ),
        case(
            "valid token without `tokens:admin` on /admin/tokens",
            request("GET", "/admin/tokens", &[auth(bearer(token))], b""),
            &[403],
            Some("insufficient_scope"),
        ),
    ]
}

fn admin_cases(admin: &str, id: &str, imported: &str) -> Vec<Case> {
    let a = || auth(format!("Bearer {admin}"));
    let post = |path: &str, body: &[u8]| request("POST", path, &[a(), json_type()], body);
    let create = |body: &str| post("/admin/tokens", body.as_bytes());
    let get = |path: &str| request("GET", path, &[a()], b"");
    const R400: &[u16] = &[400];
    let ir = Some("invalid_request");
    let big_metadata = format!(r#"{{"name":"a","metadata":{{"k":"{}"}}}}"#, "x".repeat(5000));
    let deep = format!(
        r#"{{"name":"a","metadata":{{"k":{}1{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let mut chunked = b"46000\r\n".to_vec();
    chunked.extend(std::iter::repeat_n(b' ', 0x46000));
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    vec![
        // CONTRACT §3: 415 not JSON.
        case(
            "POST /tokens without Content-Type",
            request("POST", "/admin/tokens", &[a()], br#"{"name":"a"}"#),
            &[415],
            Some("unsupported_media_type"),
        ),
        case(
            "POST /tokens as text/plain",
            request(
                "POST",
                "/admin/tokens",
                &[a(), ("Content-Type", b"text/plain".to_vec())],
                br#"{"name":"a"}"#,
            ),
            &[415],
            Some("unsupported_media_type"),
        ),
        // CONTRACT §3: 400 malformed JSON or field, naming the field.
        case("body `{`", create("{"), R400, ir),
        case("empty body", create(""), R400, ir),
        case("body `[]`", create("[]"), R400, ir),
        case("body `\"name\"`", create("\"name\""), R400, ir),
        case("body `{}` (no name)", create("{}"), R400, ir),
        case("`name` empty", create(r#"{"name":""}"#), R400, ir),
        case(
            "`name` of 129 characters",
            create(&format!(r#"{{"name":"{}"}}"#, "n".repeat(129))),
            R400,
            ir,
        ),
        case("`name` a number", create(r#"{"name":5}"#), R400, ir),
        case("`name` twice", create(r#"{"name":"a","name":"b"}"#), R400, ir),
        case("unknown field `bogus`", create(r#"{"name":"a","bogus":1}"#), R400, ir),
        case("`scopes` a string", create(r#"{"name":"a","scopes":"x"}"#), R400, ir),
        case("`scopes` [1]", create(r#"{"name":"a","scopes":[1]}"#), R400, ir),
        case(
            "`expires_at` not RFC 3339",
            create(r#"{"name":"a","expires_at":"tomorrow"}"#),
            R400,
            ir,
        ),
        case(
            "`expires_at` in the past",
            create(r#"{"name":"a","expires_at":"2000-01-01T00:00:00Z"}"#),
            R400,
            ir,
        ),
        case("`expires_in` 0", create(r#"{"name":"a","expires_in":0}"#), R400, ir),
        case("`expires_in` -5", create(r#"{"name":"a","expires_in":-5}"#), R400, ir),
        case(
            "`expires_in` 1e30",
            create(r#"{"name":"a","expires_in":1e30}"#),
            R400,
            ir,
        ),
        case(
            "both `expires_at` and `expires_in`",
            create(r#"{"name":"a","expires_in":60,"expires_at":"2999-01-01T00:00:00Z"}"#),
            R400,
            ir,
        ),
        case(
            "`status` \"revoked\"",
            create(r#"{"name":"a","status":"revoked"}"#),
            R400,
            ir,
        ),
        case("`metadata` [1]", create(r#"{"name":"a","metadata":[1]}"#), R400, ir),
        case("`metadata` over 4 KiB", create(&big_metadata), R400, ir),
        case("`metadata` nested 300 deep", create(&deep), R400, ir),
        case(
            "`secret` of 5 characters",
            create(r#"{"name":"a","secret":"short"}"#),
            R400,
            ir,
        ),
        case(
            "`secret` starting `tg_`",
            create(&format!(r#"{{"name":"a","secret":"tg_{}"}}"#, "s".repeat(40))),
            R400,
            ir,
        ),
        case(
            "`secret` not token68 (spaces)",
            create(r#"{"name":"a","secret":"has spaces in it 0123456789"}"#),
            R400,
            ir,
        ),
        case(
            "`secret` of 600 characters",
            create(&format!(r#"{{"name":"a","secret":"{}"}}"#, "s".repeat(600))),
            R400,
            ir,
        ),
        case(
            "body not UTF-8",
            post("/admin/tokens", b"{\"name\":\"\xff\xfe\"}"),
            R400,
            ir,
        ),
        // CONTRACT §3: 409 conflict.
        case(
            "import of a secret already in use",
            create(&format!(r#"{{"name":"again","secret":"{imported}"}}"#)),
            &[409],
            Some("conflict"),
        ),
        // CONTRACT §3: 413 body over the limit (64 KiB).
        case(
            "70 KiB body with Content-Length",
            create(&huge),
            &[413],
            Some("payload_too_large"),
        ),
        case(
            "280 KiB chunked body, no Content-Length",
            request(
                "POST",
                "/admin/tokens",
                &[a(), json_type(), ("Transfer-Encoding", b"chunked".to_vec())],
                &chunked,
            ),
            &[413],
            Some("payload_too_large"),
        ),
        case(
            "`Content-Length: abc`",
            request(
                "POST",
                "/admin/tokens",
                &[a(), json_type(), ("Content-Length", b"abc".to_vec())],
                b"{}",
            ),
            R400,
            None,
        ),
        // The list query.
        case("`?limit=0`", get("/admin/tokens?limit=0"), R400, ir),
        case("`?limit=1001`", get("/admin/tokens?limit=1001"), R400, ir),
        case("`?limit=ten`", get("/admin/tokens?limit=ten"), R400, ir),
        case("`?cursor=%%%`", get("/admin/tokens?cursor=%%%"), R400, ir),
        case(
            "`?cursor=` base64 of garbage",
            get("/admin/tokens?cursor=Z2FyYmFnZQ"),
            R400,
            ir,
        ),
        case("`?status=bogus`", get("/admin/tokens?status=bogus"), R400, ir),
        case("`?limit=1&limit=2`", get("/admin/tokens?limit=1&limit=2"), R400, ir),
        // Paths and methods: 404, 405 with Allow.
        case(
            "GET /tokens/<unknown id>",
            get("/admin/tokens/doesnotexist"),
            &[404],
            Some("not_found"),
        ),
        case("GET /tokens/%00", get("/admin/tokens/%00"), &[400, 404], None),
        case("GET /nothing", get("/admin/nothing"), &[404], Some("not_found")),
        case(
            "PUT /tokens",
            request("PUT", "/admin/tokens", &[a(), json_type()], b"{}"),
            &[405],
            Some("method_not_allowed"),
        ),
        case(
            "DELETE /tokens",
            request("DELETE", "/admin/tokens", &[a()], b""),
            &[405],
            Some("method_not_allowed"),
        ),
        // Updates, rotation and checks.
        case(
            "PATCH `{\"expires_at\":\"soon\"}`",
            request(
                "PATCH",
                &format!("/admin/tokens/{id}"),
                &[a(), json_type()],
                br#"{"expires_at":"soon"}"#,
            ),
            R400,
            ir,
        ),
        case(
            "PATCH `{\"name\":null}`",
            request(
                "PATCH",
                &format!("/admin/tokens/{id}"),
                &[a(), json_type()],
                br#"{"name":null}"#,
            ),
            R400,
            ir,
        ),
        case(
            "PATCH `{\"status\":\"deleted\"}`",
            request(
                "PATCH",
                &format!("/admin/tokens/{id}"),
                &[a(), json_type()],
                br#"{"status":"deleted"}"#,
            ),
            R400,
            ir,
        ),
        case(
            "PATCH an unknown id",
            request(
                "PATCH",
                "/admin/tokens/doesnotexist",
                &[a(), json_type()],
                br#"{"name":"x"}"#,
            ),
            &[404],
            Some("not_found"),
        ),
        case(
            "rotate `{\"grace_seconds\":-1}`",
            post(&format!("/admin/tokens/{id}/rotate"), br#"{"grace_seconds":-1}"#),
            R400,
            ir,
        ),
        case(
            "rotate `{\"grace_seconds\":\"x\"}`",
            post(&format!("/admin/tokens/{id}/rotate"), br#"{"grace_seconds":"x"}"#),
            R400,
            ir,
        ),
        case("check `{}`", post("/admin/tokens/check", b"{}"), R400, ir),
        case(
            "check `{\"token\":5}`",
            post("/admin/tokens/check", br#"{"token":5}"#),
            R400,
            ir,
        ),
        case(
            "check `{\"token\":\"x\",\"id\":\"y\"}`",
            post("/admin/tokens/check", br#"{"token":"x","id":"y"}"#),
            R400,
            ir,
        ),
        // Positive control: a well-formed create with a charset parameter.
        case(
            "create with `application/json; charset=utf-8`",
            request(
                "POST",
                "/admin/tokens",
                &[a(), ("Content-Type", b"application/json; charset=utf-8".to_vec())],
                br#"{"name":"control"}"#,
            ),
            &[201],
            None,
        ),
    ]
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

// CONTRACT §1 (every row of its outcome table) and §3 (every error row), over the wire.
#[test]
fn hostile_headers_and_bodies_get_the_contracts_answers() {
    let bin = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin.token");
    let server = Server::start(&bin, dir.path(), &["--admin-token-out", admin_file.to_str().unwrap()]);
    let admin = std::fs::read_to_string(&admin_file).unwrap().trim().to_owned();
    let admin_auth = || auth(format!("Bearer {admin}"));

    let created = exchange(
        server.addr,
        &request(
            "POST",
            "/admin/tokens",
            &[admin_auth(), json_type()],
            br#"{"name":"user","scopes":["profile"]}"#,
        ),
    );
    assert_eq!(created.status, 201);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let imported = "imported-secret-0123456789";
    let import = exchange(
        server.addr,
        &request(
            "POST",
            "/admin/tokens",
            &[admin_auth(), json_type()],
            format!(r#"{{"name":"imported","secret":"{imported}"}}"#).as_bytes(),
        ),
    );
    assert_eq!(import.status, 201);

    let secrets = [admin.as_str(), token.as_str(), imported, &token[token.len() - 49..]];
    let mut cases: Vec<Case> = header_cases(&token, &id)
        .into_iter()
        .map(|case| Case { layer: true, ..case })
        .collect();
    cases.extend(admin_cases(&admin, &id, imported));
    let mut table = String::from("| sent | status | error code | `WWW-Authenticate` |\n|---|---|---|---|\n");
    let mut failures = Vec::new();
    for case in &cases {
        let answer = exchange(server.addr, &case.raw);
        let code = answer.code();
        let challenges = answer.header("www-authenticate").join(" / ");
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            escape(&case.what),
            answer.status,
            code.as_deref().unwrap_or("-"),
            if challenges.is_empty() {
                "-".to_owned()
            } else {
                escape(&challenges)
            }
        ));
        if !case.statuses.contains(&answer.status) {
            failures.push(format!(
                "{}: status {} not in {:?}",
                case.what, answer.status, case.statuses
            ));
        }
        if let Some(expected) = case.code {
            if code.as_deref() != Some(expected) {
                failures.push(format!("{}: code {code:?}, expected {expected:?}", case.what));
            }
        }
        // Whatever the layer or the admin API refuses has the JSON error body.
        if answer.status >= 400 && !answer.body.is_empty() && code.is_none() {
            failures.push(format!("{}: an error without the JSON error body", case.what));
        }
        if answer.status >= 500 {
            failures.push(format!("{}: a server error", case.what));
        }
        let whole = format!("{}{}", answer.head, String::from_utf8_lossy(&answer.body));
        if case.statuses != [201] && case.statuses != [200] {
            if let Some(secret) = secrets.iter().find(|s| whole.contains(**s)) {
                failures.push(format!(
                    "{}: the answer shows a secret ({} chars)",
                    case.what,
                    secret.len()
                ));
            }
        }
        // CONTRACT §1: the challenges of each 401/400/403 the layer gives.
        let challenge = |needle: &str| answer.header("www-authenticate").iter().any(|c| c.contains(needle));
        match (answer.status, code.as_deref()) {
            (401, Some("unauthorized"))
                if !challenge("Bearer realm=") || !challenge("Basic realm=") || challenge("error=") =>
            {
                failures.push(format!("{}: 401 without both plain challenges", case.what));
            }
            (401, Some("invalid_token")) if !challenge("error=\"invalid_token\"") => {
                failures.push(format!("{}: 401 without error=\"invalid_token\"", case.what));
            }
            // The layer's 400s (a malformed Authorization header) carry the challenge; the
            // admin API's (a malformed body) do not need one.
            (400, Some("invalid_request")) if case.layer && !challenge("error=\"invalid_request\"") => {
                failures.push(format!("{}: 400 without error=\"invalid_request\"", case.what));
            }
            (403, Some("insufficient_scope")) if !challenge("error=\"insufficient_scope\"") => {
                failures.push(format!("{}: 403 without error=\"insufficient_scope\"", case.what));
            }
            (405, _) if answer.header("allow").is_empty() => {
                failures.push(format!("{}: 405 without Allow", case.what));
            }
            _ => {}
        }
    }
    println!("{table}");

    // The server survived all of it: the token and the admin API still work.
    let me = exchange(
        server.addr,
        &request("GET", "/me", &[auth(format!("Bearer {token}"))], b""),
    );
    assert_eq!(me.status, 200, "the server still serves after the hostile input");
    let (exit, _, stderr) = server.stop();
    assert_eq!(exit, 0);
    for secret in secrets {
        assert!(!stderr.contains(secret), "a secret reached the server's log");
    }
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
}
