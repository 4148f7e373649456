//! The commands that need no store: `inspect`, `completions`, and the help texts.

mod support;

use serde_json::json;
use support::tollgate;
use tollgate::TokenFormat;

#[test]
fn inspect_reads_a_good_token_from_stdin_and_shows_its_prefix_and_id_never_its_secret() {
    let token = TokenFormat::default().generate().unwrap();
    let text = token.token().expose();
    let json = tollgate(&["--json", "inspect", "-"], Some(text), &[]).json();
    assert_eq!(
        json,
        json!({"format": "structured", "prefix": "tg", "id": token.id(), "checksum_valid": true})
    );
    let table = tollgate(&["inspect", "-"], Some(&format!("{text}\n")), &[]).expect(0);
    assert!(
        table
            .stdout
            .lines()
            .any(|line| line.split_whitespace().eq(["checksum", "valid"]))
    );
    assert!(table.stdout.contains(token.id()));
    assert!(!table.output().contains(token.secret_segment()), "{table:#?}");
}

#[test]
fn inspect_refuses_a_mistyped_token_with_exit_1() {
    let token = TokenFormat::default().generate().unwrap();
    let mut typo = token.token().expose().to_owned().into_bytes();
    let at = typo.len() - 12;
    typo[at] = if typo[at] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    let run = tollgate(&["--json", "inspect", "-"], Some(&typo), &[]).expect(1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["checksum_valid"], false);
    assert_eq!(json["id"], token.id());
    assert!(
        run.stderr.contains("mistyped"),
        "says what happened and what to do: {run:#?}"
    );
    let secret_part = &typo[typo.rfind('_').unwrap() + 1..];
    assert!(!run.output().contains(secret_part));
    tollgate(&["inspect", "-"], Some("tg_oops"), &[]).expect(1);
}

#[test]
fn inspect_takes_a_token_as_an_argument_too_and_reads_other_prefixes_and_opaque_secrets() {
    let acme = TokenFormat::new("acme").unwrap().generate().unwrap();
    let run = tollgate(&["--json", "inspect", acme.token().expose()], None, &[]).json();
    assert_eq!(run["prefix"], "acme");
    assert_eq!(run["id"], acme.id());
    let opaque = tollgate(&["--json", "inspect", "-"], Some("Zq8vN2xLk4pW7tRb0YcH3mJf"), &[]).json();
    assert_eq!(opaque, json!({"format": "opaque"}));
    tollgate(&["inspect", "-"], Some(""), &[]).expect(2);
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = tollgate(&["completions", shell], None, &[]).expect(0);
        assert!(run.stdout.contains("tollgate"), "{shell}: {run:#?}");
        assert!(run.stdout.contains("rotate"), "{shell}: subcommands completed");
    }
    tollgate(&["completions", "tcsh"], None, &[]).expect(2);
}

#[test]
fn help_shows_examples_on_the_main_commands_and_the_exit_codes() {
    let main = tollgate(&["--help"], None, &[]).expect(0);
    assert!(main.stdout.contains("Exit codes:") && main.stdout.contains("3  the store is unreachable"));
    for command in [
        &["--help"][..],
        &["tokens", "--help"],
        &["tokens", "create", "--help"],
        &["tokens", "list", "--help"],
        &["tokens", "update", "--help"],
        &["tokens", "rotate", "--help"],
        &["tokens", "check", "--help"],
        &["inspect", "--help"],
        &["completions", "--help"],
    ] {
        let run = tollgate(command, None, &[]).expect(0);
        assert!(run.stdout.contains("Examples:"), "{command:?}: {run:#?}");
        // Never a token as an argument in the docs: it would stay in the shell's history.
        assert!(!run.stdout.contains("check tg_") && !run.stdout.contains("inspect tg_"));
    }
}

#[test]
fn usage_errors_exit_2() {
    tollgate(&["--frobnicate"], None, &[]).expect(2);
    tollgate(&[], None, &[]).expect(2);
    tollgate(&["inspect"], None, &[]).expect(2);
}
