//! `tollgate tokens …` as an operator runs it: the built binary, straight on a store (SQLite
//! always, PostgreSQL when `TOLLGATE_TEST_POSTGRES_URL` is set).

mod support;

use serde_json::{Value, json};
use support::{Backend, tollgate};

fn id_of(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

fn token_of(created: &Value) -> String {
    created["token"]
        .as_str()
        .expect("a created or rotated token is a field")
        .to_owned()
}

/// Every subcommand, with every option, in the order an operator meets them.
fn every_subcommand(store: &Backend) {
    // create: every option of the admin API's POST /tokens.
    let created = store.create(&[
        "ci deploy key",
        "--scope",
        "deploy",
        "--scope",
        "read",
        "--owner",
        "team-infra",
        "--kind",
        "service",
        "--expires-in",
        "3600",
        "--metadata",
        r#"{"ticket": "OPS-12"}"#,
    ]);
    let id = id_of(&created);
    let token = token_of(&created);
    assert!(token.starts_with(&format!("tg_{id}_")));
    assert_eq!(created["name"], "ci deploy key");
    assert_eq!(created["scopes"], json!(["deploy", "read"]));
    assert_eq!(created["owner"], "team-infra");
    assert_eq!(created["kind"], "service");
    assert_eq!(created["status"], "active");
    assert_eq!(created["metadata"], json!({"ticket": "OPS-12"}));
    assert!(created["expires_at"].is_string());

    let inactive = store.create(&["parked", "--inactive", "--expires-at", "2099-01-31T00:00:00Z"]);
    assert_eq!(inactive["status"], "inactive");
    assert_eq!(inactive["expires_at"], "2099-01-31T00:00:00Z");

    // create, importing: the secret from stdin or a file, the id kept; no token field.
    let legacy_secret = "Zq8vN2xLk4pW7tRb0YcH3mJf";
    let imported = store
        .run_with(
            &[
                "--json",
                "tokens",
                "create",
                "acct42 (legacy)",
                "--id",
                "acct42",
                "--secret-stdin",
            ],
            Some(&format!("{legacy_secret}\n")),
            &[],
        )
        .json();
    assert_eq!(imported["id"], "acct42");
    assert!(imported.get("token").is_none(), "an import shows no secret: {imported}");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("other.key");
    std::fs::write(&key_file, "pW7tRb0YcH3mJfZq8vN2xLk4\n").unwrap();
    let from_file = store
        .run(&[
            "--json",
            "tokens",
            "create",
            "from a file",
            "--secret-file",
            key_file.to_str().unwrap(),
        ])
        .json();
    assert_eq!(from_file["name"], "from a file");

    // check: Bearer, and Basic id:secret with the secret on stdin.
    let checked = store.run_with(&["--json", "tokens", "check"], Some(&token), &[]).json();
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["token"]["id"], id.as_str());
    let basic = store
        .run_with(
            &["--json", "tokens", "check", "--id", "acct42"],
            Some(legacy_secret),
            &[],
        )
        .json();
    assert_eq!(basic["token"]["id"], "acct42");
    let table = store.run_with(&["tokens", "check"], Some(legacy_secret), &[]).expect(0);
    assert!(
        table.stdout.contains("Valid") && table.stdout.contains("acct42"),
        "{table:#?}"
    );

    // get: JSON as the admin API shows a record; a table of fields.
    let got = store.run(&["--json", "tokens", "get", &id]).json();
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("token");
    assert_eq!(got, expected);
    let table = store.run(&["tokens", "get", &id]).expect(0);
    assert!(
        table
            .stdout
            .lines()
            .any(|line| line.split_whitespace().eq(["owner", "team-infra"]))
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|line| line.split_whitespace().eq(["scopes", "deploy", "read"]))
    );

    // list: a page with its cursor; filters.
    let page = store.run(&["--json", "tokens", "list"]).json();
    assert_eq!(page["tokens"].as_array().unwrap().len(), 4);
    assert_eq!(page["next_cursor"], Value::Null);
    let owned = store
        .run(&["--json", "tokens", "list", "--owner", "team-infra", "--all"])
        .json();
    assert_eq!(owned, json!([got]));
    let parked = store
        .run(&["--json", "tokens", "list", "--status", "inactive", "--all"])
        .json();
    assert_eq!(parked.as_array().unwrap().len(), 1);
    assert_eq!(parked[0]["name"], "parked");
    let readers = store
        .run(&["--json", "tokens", "list", "--scope", "read", "--all"])
        .json();
    assert_eq!(readers[0]["id"], id.as_str());
    let table = store.run(&["tokens", "list"]).expect(0);
    assert_eq!(table.stdout.lines().count(), 5, "a header and four rows: {table:#?}");

    // update: each field the admin API's PATCH takes.
    let updated = store
        .run(&[
            "--json",
            "tokens",
            "update",
            &id,
            "--name",
            "deploy key (prod)",
            "--scope",
            "deploy",
            "--owner",
            "team-prod",
            "--expires-at",
            "2098-06-01T12:00:00Z",
            "--metadata",
            r#"{"ticket": "OPS-13"}"#,
        ])
        .json();
    assert_eq!(updated["name"], "deploy key (prod)");
    assert_eq!(updated["scopes"], json!(["deploy"]));
    assert_eq!(updated["owner"], "team-prod");
    assert_eq!(updated["expires_at"], "2098-06-01T12:00:00Z");
    assert_eq!(updated["metadata"], json!({"ticket": "OPS-13"}));
    let cleared = store
        .run(&[
            "--json",
            "tokens",
            "update",
            &id,
            "--no-owner",
            "--no-expiry",
            "--no-scopes",
        ])
        .json();
    assert_eq!(cleared["owner"], Value::Null);
    assert_eq!(cleared["expires_at"], Value::Null);
    assert_eq!(cleared["scopes"], json!([]));
    let woken = store
        .run(&["--json", "tokens", "update", &id_of(&inactive), "--status", "active"])
        .json();
    assert_eq!(woken["status"], "active");

    // rotate: a new token, the same id; the old one works for its grace only.
    let rotated = store.run(&["--json", "tokens", "rotate", &id, "--grace", "600"]).json();
    let new_token = token_of(&rotated);
    assert_eq!(rotated["id"], id.as_str());
    assert_ne!(new_token, token);
    store.run_with(&["tokens", "check"], Some(&token), &[]).expect(0);
    let again = store.run(&["--json", "tokens", "rotate", &id]).json();
    store.run_with(&["tokens", "check"], Some(&token), &[]).expect(1);
    store.run_with(&["tokens", "check"], Some(&new_token), &[]).expect(1);
    let newest = token_of(&again);
    store.run_with(&["tokens", "check"], Some(&newest), &[]).expect(0);
    let table = store.run(&["tokens", "rotate", &id]).expect(0);
    assert!(table.stdout.contains("shown once"), "{table:#?}");

    // revoke: kept, inactive, refused.
    let newest = table.stdout.lines().nth(1).unwrap().to_owned();
    store.run_with(&["tokens", "check"], Some(&newest), &[]).expect(0);
    let revoked = store.run(&["--json", "tokens", "revoke", &id]).json();
    assert_eq!(revoked["status"], "inactive");
    let refused = store
        .run_with(&["--json", "tokens", "check"], Some(&newest), &[])
        .expect(1);
    assert_eq!(
        serde_json::from_str::<Value>(&refused.stdout).unwrap(),
        json!({"valid": false, "token": null})
    );

    // delete: gone.
    let deleted = store.run(&["--json", "tokens", "delete", &id]).json();
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    store.run(&["tokens", "get", &id]).expect(1);
    let table = store.run(&["tokens", "delete", "acct42"]).expect(0);
    assert!(table.stdout.contains("Deleted token acct42"));
}

#[test]
fn every_tokens_subcommand_works_on_sqlite() {
    every_subcommand(&Backend::sqlite());
}

#[test]
fn every_tokens_subcommand_works_on_postgres() {
    if let Some(store) = Backend::postgres("every_tokens_subcommand_works_on_postgres") {
        every_subcommand(&store);
    }
}

/// 250 tokens, listed a page of 100 at a time: `--all` follows the cursors to the end.
fn paging(store: &Backend) {
    for n in 0..250 {
        store
            .run(&["tokens", "create", &format!("token {n}"), "--owner", "many"])
            .expect(0);
    }
    let first = store.run(&["--json", "tokens", "list", "--limit", "100"]).json();
    let first_ids: Vec<&str> = first["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(first_ids.len(), 100);
    let cursor = first["next_cursor"].as_str().expect("more pages follow");
    assert_eq!(cursor, *first_ids.last().unwrap());
    let second = store
        .run(&["--json", "tokens", "list", "--limit", "100", "--after", cursor])
        .json();
    assert!(second["tokens"][0]["id"].as_str().unwrap() > cursor);

    let all = store
        .run(&["--json", "tokens", "list", "--all", "--limit", "100"])
        .json();
    let ids: Vec<&str> = all
        .as_array()
        .expect("--all --json: one array")
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 250);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "each once, by id");
    assert_eq!(&ids[..100], &first_ids[..]);

    let table = store.run(&["tokens", "list", "--all", "--owner", "many"]).expect(0);
    assert_eq!(table.stdout.lines().count(), 251, "a header and 250 rows");
    let page = store.run(&["tokens", "list", "--limit", "100"]).expect(0);
    assert!(
        page.stderr.contains(&format!("--after {cursor}")),
        "says how to go on: {page:#?}"
    );
}

#[test]
fn list_all_follows_cursors_over_250_tokens_on_sqlite() {
    paging(&Backend::sqlite());
}

#[test]
fn list_all_follows_cursors_over_250_tokens_on_postgres() {
    if let Some(store) = Backend::postgres("list_all_follows_cursors_over_250_tokens_on_postgres") {
        paging(&store);
    }
}

#[test]
fn exit_codes_tell_done_refused_usage_and_unreachable_apart() {
    let store = Backend::sqlite();
    // 0: done.
    let created = store.create(&["laptop"]);
    let id = id_of(&created);
    store.run(&["tokens", "get", &id]).expect(0);

    // 1: refused by the store or its rules, an unknown id, an invalid token.
    for args in [
        &["tokens", "get", "nosuchid"][..],
        &["tokens", "update", "nosuchid", "--name", "x"],
        &["tokens", "rotate", "nosuchid"],
        &["tokens", "revoke", "nosuchid"],
        &["tokens", "delete", "nosuchid"],
    ] {
        let run = store.run(args).expect(1);
        assert!(run.stderr.contains("tollgate tokens list"), "says what to do: {run:#?}");
    }
    let long_name = "n".repeat(129);
    let run = store.run(&["tokens", "create", &long_name]).expect(1);
    assert!(run.stderr.contains("name") && run.stderr.contains("fix"), "{run:#?}");
    let run = store.run(&["tokens", "rotate", &id, "--grace", "99999999"]).expect(1);
    assert!(run.stderr.contains("--grace"), "{run:#?}");
    let secret = "Zq8vN2xLk4pW7tRb0YcH3mJf";
    let import = ["tokens", "create", "legacy", "--id", "acct42", "--secret-stdin"];
    store.run_with(&import, Some(secret), &[]).expect(0);
    let run = store.run_with(&import, Some(secret), &[]).expect(1);
    assert!(run.stderr.contains("acct42"), "{run:#?}");
    let run = store
        .run_with(
            &["tokens", "create", "weak", "--secret-stdin"],
            Some("aaaaaaaaaaaaaaaaaaaa"),
            &[],
        )
        .expect(1);
    assert!(run.stderr.contains("secret"), "names the rule: {run:#?}");
    store
        .run_with(
            &["tokens", "check"],
            Some("tg_0123456789abcdef_notARealSecret000000"),
            &[],
        )
        .expect(1);

    // 2: usage, whether clap or the command finds it.
    for args in [
        &["tokens"][..],
        &["tokens", "create"],
        &["tokens", "frobnicate"],
        &["tokens", "list", "--limit", "0"],
        &["tokens", "list", "--status", "sleeping"],
        &["tokens", "create", "x", "--expires-at", "tomorrow"],
        &["tokens", "create", "x", "--metadata", "[1]"],
        &["tokens", "create", "x", "--id", "acct43"],
        &[
            "tokens",
            "create",
            "x",
            "--expires-in",
            "60",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
        &["tokens", "update", &id],
    ] {
        store.run(args).expect(2);
    }
    store.run_with(&["tokens", "check"], Some(""), &[]).expect(2);
    let run = tollgate(&["tokens", "list"], None, &[]).expect(2);
    assert!(run.stderr.contains("TOLLGATE_STORE"), "{run:#?}");
    tollgate(&["--store", "mysql://db/app", "tokens", "list"], None, &[]).expect(2);
    let run = store
        .run_with(&["tokens", "list"], None, &[("TOLLGATE_PEPPER", "short")])
        .expect(2);
    assert!(run.stderr.contains("16 bytes"), "{run:#?}");

    // 3: the store cannot be reached.
    let run = tollgate(
        &["--store", "sqlite:/no/such/dir/tokens.db", "tokens", "list"],
        None,
        &[],
    )
    .expect(3);
    assert!(run.stderr.contains("check the path"), "{run:#?}");
    let run = tollgate(
        &["--store", "postgres://ops:hunter2@127.0.0.1:1/app", "tokens", "list"],
        None,
        &[],
    )
    .expect(3);
    assert!(run.stderr.contains("check that it is running"), "{run:#?}");
    assert!(!run.stderr.contains("hunter2"), "no password in messages: {run:#?}");
}

#[test]
fn no_secret_is_printed_but_by_create_and_rotate() {
    let store = Backend::sqlite();
    let created = store
        .run(&["tokens", "create", "laptop", "--scope", "profile"])
        .expect(0);
    let token = created.stdout.lines().nth(1).unwrap().to_owned();
    assert!(created.stdout.contains("shown once"), "{created:#?}");
    assert_eq!(created.stdout.matches(&token).count(), 1);
    let id = token.split('_').nth(1).unwrap().to_owned();
    let rotated = store.run(&["--json", "tokens", "rotate", &id, "--grace", "60"]).json();
    let new_token = token_of(&rotated);
    let imported_secret = "Zq8vN2xLk4pW7tRb0YcH3mJf";
    let secrets = [&token, &new_token, imported_secret];
    let secret_parts: Vec<&str> = secrets.iter().map(|s| s.rsplit('_').next().unwrap()).collect();

    let mut runs = vec![
        store.run_with(
            &["tokens", "create", "legacy", "--secret-stdin"],
            Some(imported_secret),
            &[],
        ),
        store.run_with(
            &["--json", "tokens", "create", "legacy2", "--secret-stdin"],
            Some("pW7tRb0YcH3mJfZq8vN2xLk4"),
            &[],
        ),
    ];
    for json in [false, true] {
        let flag: &[&str] = if json { &["--json"] } else { &[] };
        fn flagged<'a>(flag: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
            [flag, args].concat()
        }
        runs.push(store.run(&flagged(flag, &["tokens", "get", &id])));
        runs.push(store.run(&flagged(flag, &["tokens", "list"])));
        runs.push(store.run(&flagged(flag, &["tokens", "list", "--all"])));
        runs.push(store.run(&flagged(flag, &["tokens", "update", &id, "--name", "laptop 2"])));
        for secret in secrets {
            runs.push(store.run_with(&flagged(flag, &["tokens", "check"]), Some(secret), &[]));
            runs.push(store.run_with(&flagged(flag, &["inspect", "-"]), Some(secret), &[]));
        }
        runs.push(store.run(&flagged(flag, &["tokens", "revoke", &id])));
        runs.push(store.run_with(&flagged(flag, &["tokens", "check"]), Some(&new_token), &[]));
    }
    runs.push(store.run(&["tokens", "delete", &id]));
    for run in &runs {
        for part in &secret_parts {
            assert!(!run.output().contains(part), "a secret printed: {run:#?}");
        }
    }
}

#[test]
fn break_glass_mints_a_working_admin_token_on_a_store_whose_admin_was_revoked() {
    let store = Backend::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pepper_file = dir.path().join("pepper");
    std::fs::write(&pepper_file, "a pepper of the servers, 32 bytes\n").unwrap();
    let pepper = ["--pepper-file", pepper_file.to_str().unwrap()];

    // The store's only admin token, then revoked: no admin API call can be made any more.
    let admin = store.create(&[&pepper[..], &["first admin", "--scope", "tokens:admin"]].concat());
    store.run(&["tokens", "revoke", &id_of(&admin)]).expect(0);
    store
        .run_with(
            &[&pepper[..], &["tokens", "check"]].concat(),
            Some(&token_of(&admin)),
            &[],
        )
        .expect(1);

    // Straight on the store, with the servers' pepper: a new admin token that works.
    let minted = store
        .run(
            &[
                &pepper[..],
                &[
                    "tokens",
                    "create",
                    "break-glass admin",
                    "--scope",
                    "tokens:admin",
                    "--expires-in",
                    "3600",
                ],
            ]
            .concat(),
        )
        .expect(0);
    assert!(minted.stdout.contains("shown once"));
    assert!(!minted.stderr.contains("no pepper"), "{minted:#?}");
    let token = minted.stdout.lines().nth(1).unwrap().to_owned();
    let checked = store
        .run_with(
            &[&pepper[..], &["--json", "tokens", "check"]].concat(),
            Some(&token),
            &[],
        )
        .json();
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["token"]["scopes"], json!(["tokens:admin"]));
    assert_eq!(checked["token"]["name"], "break-glass admin");

    // The pepper from TOLLGATE_PEPPER is the same key; without one, the token is refused,
    // and the message names the pepper.
    let pepper_value = "a pepper of the servers, 32 bytes";
    store
        .run_with(&["tokens", "check"], Some(&token), &[("TOLLGATE_PEPPER", pepper_value)])
        .expect(0);
    let unpeppered = store.run_with(&["tokens", "check"], Some(&token), &[]).expect(1);
    assert!(unpeppered.stderr.contains("pepper"), "{unpeppered:#?}");
    let both = store.run_with(
        &[&pepper[..], &["tokens", "list"]].concat(),
        None,
        &[("TOLLGATE_PEPPER", pepper_value)],
    );
    both.expect(2);
}

/// The store records the pepper of the first command or server that hashes into it; another
/// pepper, or none, is refused naming both fingerprints (never a pepper), and a command that
/// only reads checks without recording.
#[test]
fn a_command_with_another_pepper_than_the_stores_is_refused() {
    let store = Backend::sqlite();
    let (first, other) = ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    // Reading first records nothing: a later pepper is still free to be the store's.
    store.run(&["tokens", "list"]).expect(0);
    store.run_with(&["tokens", "check"], Some("tg_nothing"), &[]).expect(1);
    let created = store
        .run_with(
            &["--json", "tokens", "create", "first"],
            None,
            &[("TOLLGATE_PEPPER", first)],
        )
        .json();
    let token = token_of(&created);

    for (pepper, ours) in [(Some(other), "hmac-sha256:"), (None, "none")] {
        let env: Vec<(&str, &str)> = pepper.map(|p| ("TOLLGATE_PEPPER", p)).into_iter().collect();
        let refused = store.run_with(&["tokens", "create", "second"], None, &env).expect(1);
        assert!(
            refused.stderr.contains("hashed under another pepper")
                && refused.stderr.contains(&format!("this command has {ours}")),
            "{}",
            refused.shown()
        );
        assert!(!refused.output().contains(first) && !refused.output().contains(other));
        let checked = store.run_with(&["tokens", "check"], Some(&token), &env).expect(1);
        assert!(checked.stderr.contains("another pepper"), "{}", checked.shown());
    }
    let listed = store.run(&["--json", "tokens", "list"]).json();
    assert_eq!(
        listed["tokens"].as_array().map(Vec::len),
        Some(1),
        "nothing was made: {listed}"
    );
    store
        .run_with(&["tokens", "check"], Some(&token), &[("TOLLGATE_PEPPER", first)])
        .expect(0);

    // A copy takes the fingerprint along, and refuses a target that records another.
    let dir = tempfile::tempdir().unwrap();
    let target = format!("sqlite:{}", dir.path().join("copy.db").display());
    tollgate(&["copy", "--from", store.url(), "--to", &target], None, &[]).expect(0);
    let copied = Backend::at(&target);
    copied
        .run_with(&["tokens", "create", "x"], None, &[("TOLLGATE_PEPPER", other)])
        .expect(1);
    let elsewhere = Backend::sqlite();
    elsewhere
        .run_with(&["tokens", "create", "y"], None, &[("TOLLGATE_PEPPER", other)])
        .expect(0);
    let refused = tollgate(&["copy", "--from", store.url(), "--to", elsewhere.url()], None, &[]).expect(1);
    assert!(refused.stderr.contains("different peppers"), "{}", refused.shown());
}
