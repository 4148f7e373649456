//! `tollgate import FILE`: a legacy system's tokens, kept with their ids, each line imported
//! once however often the command runs, and refused lines named by number without a secret.

mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Backend, answer, answer_with, basic};
use tollgate::SecretHasher;

/// The secret of legacy key `n`: 26 token68 characters, at least 16 of them distinct, unique.
fn secret(n: usize) -> String {
    format!("Lk{n:08}QwErTyUiOpAsDfGh")
}

/// Every form a line may take, a few broken ones among them.
const MIXED: &str = r#"{"id": "acct1", "secret": "Lk00000001QwErTyUiOpAsDfGh", "name": "Acme", "scopes": ["read"], "owner": "acme", "metadata": {"plan": "gold"}}
{"id": "acct2", "secret_sha256": "SHA256_OF_2", "scopes": ["read"], "expires_at": "2099-01-31T00:00:00Z"}
{"secret": "Lk00000003QwErTyUiOpAsDfGh", "scopes": ["read"]}
{"id": "not-base62", "secret": "Lk00000004QwErTyUiOpAsDfGh"}

{"id": "acct5", "secret": "short-secret-5"}
{"id": "acct6", "secret": "Lk00000006QwErTyUiOpAsDfGh", "scopes": "read"}
{"id": "acct1", "secret": "Lk00000007QwErTyUiOpAsDfGh"}
"#;

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            write!(hex, "{byte:02x}").unwrap();
            hex
        })
}

fn refused_lines(summary: &Value) -> Vec<(u64, String)> {
    summary["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["field"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_keeps_ids_skips_what_is_there_and_names_refused_lines() {
    let store = Backend::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.jsonl");
    std::fs::write(&file, MIXED.replace("SHA256_OF_2", &sha256_hex(&secret(2)))).unwrap();
    let file = file.to_str().unwrap();
    let refused = vec![
        (4, "id".to_owned()),
        (6, "secret".to_owned()),
        (7, "scopes".to_owned()),
        (8, "id".to_owned()),
    ];

    // A dry run checks every line and writes nothing.
    let dry = store.run(&["--json", "import", file, "--dry-run"]).expect(1);
    let dry: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(dry["imported"], 3, "{dry}");
    assert_eq!(refused_lines(&dry)[..3], refused[..3], "{dry}");
    assert!(
        store
            .open()
            .await
            .list(&tollgate::ListQuery::new(10))
            .await
            .unwrap()
            .records
            .is_empty()
    );

    let first = store.run(&["--json", "import", file]).expect(1);
    let summary: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(summary["imported"], 3, "{summary}");
    assert_eq!(refused_lines(&summary), refused, "{summary}");
    assert_eq!(
        summary["refused"][3]["reason"], "is line 1's too",
        "repeats are refused in file order"
    );
    for n in 1..=7 {
        assert!(!first.output().contains(&secret(n)), "no secret is printed: {first:#?}");
    }

    // The ids are kept: Basic id:secret works; the SHA-256 alone is enough unpeppered.
    let tokens = store.open().await;
    assert_eq!(answer(tokens.clone(), &basic("acct1", &secret(1))).await, 200);
    assert_eq!(answer(tokens.clone(), &basic("acct2", &secret(2))).await, 200);
    assert_eq!(answer(tokens.clone(), &format!("Bearer {}", secret(3))).await, 200);
    let acct1 = store.run(&["--json", "tokens", "get", "acct1"]).json();
    assert_eq!(acct1["owner"], "acme");
    assert_eq!(acct1["metadata"], json!({"plan": "gold"}));

    // A re-run imports nothing twice: what is there is skipped, by line.
    let again = store.run(&["--json", "import", file]).expect(1);
    let again: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["imported"], 0);
    let skipped: Vec<u64> = again["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["line"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, [1, 2, 3]);
    // An id the store holds with another secret is refused, and left as it is.
    let clash = dir.path().join("clash.jsonl");
    std::fs::write(
        &clash,
        format!("{{\"id\": \"acct1\", \"secret\": \"{}\"}}\n", secret(7)),
    )
    .unwrap();
    let clashed = store.run(&["--json", "import", clash.to_str().unwrap()]).expect(1);
    let clashed: Value = serde_json::from_str(&clashed.stdout).unwrap();
    assert_eq!(
        clashed["refused"][0]["reason"],
        "is taken by a token with another secret (left as it is)"
    );
    assert_eq!(
        answer(tokens.clone(), &basic("acct1", &secret(1))).await,
        200,
        "left as it is"
    );
    // --on-conflict fail stops at the first of them, and says how to go past it.
    let stopped = store.run(&["import", file, "--on-conflict", "fail"]).expect(1);
    assert!(stopped.stderr.contains("stopped at line 1"), "{stopped:#?}");

    // CSV, with the same columns; scopes space-separated.
    let csv = dir.path().join("keys.csv");
    std::fs::write(
        &csv,
        format!(
            "id,secret,scopes,owner\nacct9,{},read write,acme\nacct10,x\n",
            secret(9)
        ),
    )
    .unwrap();
    let from_csv = store.run(&["--json", "import", csv.to_str().unwrap()]).expect(1);
    let from_csv: Value = serde_json::from_str(&from_csv.stdout).unwrap();
    assert_eq!(from_csv["imported"], 1);
    assert_eq!(refused_lines(&from_csv), [(3, "line".to_owned())]);
    assert_eq!(
        store.run(&["--json", "tokens", "get", "acct9"]).json()["scopes"],
        json!(["read", "write"])
    );
    // A CSV file without its header row: the first row is taken for one, and refused
    // without being shown (it holds a secret).
    let headless = dir.path().join("headless.csv");
    std::fs::write(&headless, format!("acct11,{},read\n", secret(11))).unwrap();
    let refused = store.run(&["import", headless.to_str().unwrap()]).expect(2);
    assert!(
        refused.stderr.contains("first row must name its columns"),
        "{}",
        refused.shown()
    );
    assert!(!refused.output().contains(&secret(11)), "{}", refused.shown());
    // A name that says neither format.
    let unnamed = dir.path().join("keys.txt");
    std::fs::write(&unnamed, "").unwrap();
    store.run(&["import", unnamed.to_str().unwrap()]).expect(2);
}

/// A peppered store takes the secrets hashed under its pepper, and refuses a bare SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peppered_store_refuses_a_sha256_and_hashes_secrets_under_its_pepper() {
    let store = Backend::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.jsonl");
    std::fs::write(&file, MIXED.replace("SHA256_OF_2", &sha256_hex(&secret(2)))).unwrap();
    let pepper = "0123456789abcdef0123456789abcdef";
    let run = store.run_with(
        &["--json", "import", file.to_str().unwrap()],
        None,
        &[("TOLLGATE_PEPPER", pepper)],
    );
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["refused"][0]["line"], 2, "{summary}");
    assert_eq!(summary["refused"][0]["field"], "secret_sha256");
    let hasher = || SecretHasher::from_pepper_text(pepper.as_bytes()).unwrap();
    let tokens = store.open().await;
    assert_eq!(
        answer_with(tokens.clone(), &basic("acct1", &secret(1)), hasher()).await,
        200
    );
    assert_eq!(
        answer(tokens, &basic("acct1", &secret(1))).await,
        401,
        "not hashed without the pepper"
    );
}

/// 100,000 lines into PostgreSQL, killed half-way and run again: every token once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_lines_cut_short_and_run_again_are_each_imported_once() {
    const LINES: usize = 100_000;
    let Some(store) = Backend::postgres("a_hundred_thousand_lines_cut_short_and_run_again_are_each_imported_once")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.jsonl");
    let mut text = String::with_capacity(LINES * 100);
    for n in 0..LINES {
        writeln!(
            text,
            r#"{{"id": "acct{n}", "secret": "{}", "scopes": ["read"]}}"#,
            secret(n)
        )
        .unwrap();
    }
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();

    // The store exists once a first command opened it.
    store.run(&["tokens", "list"]).expect(0);
    let counter = Counter::connect(&store).await;
    // The command's sessions commit without waiting for the disk (a setting of the session,
    // not of the server): the test is about each token landing once, not about the disk
    // (about a tenth of its time here). BENCHMARKS.md measures with synchronous commits.
    let separator = if store.url().contains('?') { '&' } else { '?' };
    let fast = format!("{}{separator}options=-c%20synchronous_commit%3Doff", store.url());
    let fast = [("TOLLGATE_STORE", fast.as_str())];
    let started = Instant::now();
    let mut cut = store.spawn(&["import", file], &fast);
    let mut counted = 0;
    while counted < LINES / 2 {
        assert!(cut.try_wait().unwrap().is_none(), "the import ended before half-way");
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "half-way within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        counted = counter.tokens().await;
    }
    cut.kill().unwrap();
    cut.wait().unwrap();
    let at_kill = counter.tokens().await;
    assert!(at_kill < LINES, "killed before the end ({at_kill})");

    let rerun = Instant::now();
    let summary = store.run_with(&["--json", "import", file], None, &fast).json();
    let took = rerun.elapsed();
    assert_eq!(summary["refused"], json!([]), "{summary}");
    let skipped = summary["skipped"].as_array().unwrap().len();
    let imported = summary["imported"].as_u64().unwrap() as usize;
    assert_eq!(imported + skipped, LINES);
    assert!(skipped >= at_kill, "what was there was skipped ({skipped} < {at_kill})");
    assert_eq!(counter.tokens().await, LINES, "each token once");
    assert_eq!(counter.secrets().await, LINES, "each secret once");
    eprintln!(
        "imported {LINES} lines: {at_kill} before the kill, then {imported} more and {skipped} skipped in {took:?}"
    );

    // A sample of 1,000, as Basic id:secret through the layer every server runs.
    let tokens = store.open().await;
    for n in (0..LINES).step_by(LINES / 1000) {
        assert_eq!(
            answer(tokens.clone(), &basic(&format!("acct{n}"), &secret(n))).await,
            200,
            "acct{n}"
        );
    }
}

/// Counts rows in the test's schema.
struct Counter {
    client: tokio_postgres::Client,
    schema: String,
}

impl Counter {
    async fn connect(store: &Backend) -> Self {
        let (client, connection) = tokio_postgres::connect(store.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let schema = store.var("TOLLGATE_SCHEMA").unwrap().to_owned();
        Self { client, schema }
    }

    async fn count(&self, sql: &str) -> usize {
        let row = self
            .client
            .query_one(&sql.replace("{s}", &self.schema), &[])
            .await
            .unwrap();
        usize::try_from(row.get::<_, i64>(0)).unwrap()
    }

    async fn tokens(&self) -> usize {
        self.count(r#"SELECT count(*) FROM "{s}".tokens"#).await
    }

    async fn secrets(&self) -> usize {
        self.count(r#"SELECT count(DISTINCT hash) FROM "{s}".token_secrets"#)
            .await
    }
}
