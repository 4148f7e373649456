//! `tollgate import FILE`: the tokens of the system being replaced, one a line, so that every
//! client keeps working on day one.
//!
//! Each line goes through the manager's import (the admin API's rules, and the secret hashed
//! as the servers hash it), a few at once. A line whose token is in the store already (its
//! id with this secret, or this secret) is skipped, so that a run cut short is finished by
//! running it again; an id another secret holds is refused, never overwritten. With
//! `--on-conflict fail` the first line found in the store stops the import instead.
//! `--dry-run` imports into an empty in-memory store with the same hasher (so every rule,
//! and every clash between lines, is found as the real run would), and asks the real store
//! what it holds.

mod line;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt as _;
use serde_json::json;
use tollgate::{ManageError, MemoryStore, SecretHash, TokenManager, TokenRecord, Verifier};

use self::line::{Entry, Given, Refusal};
use crate::args::{Conflict, Format, ImportArgs};
use crate::error::Failure;
use crate::output;
use crate::progress::Progress;
use crate::store::Opened;

/// Lines imported at once.
const IN_FLIGHT: usize = 16;

/// Lines named in the table's summary, for each outcome.
const NAMED: usize = 20;

/// What became of one line.
#[derive(Debug)]
enum Outcome {
    Imported,
    /// In the store already: this id with this secret, or this secret.
    Present(String),
    Refused(Refusal),
    /// Found in the store under `--on-conflict fail`: the import stops here.
    Conflict(Refusal),
    /// Not tried: an earlier line stopped the import.
    NotTried,
    /// The store failed: the import stops, and says so.
    Failed(Failure),
}

/// Runs `tollgate import`.
pub(crate) async fn run(args: ImportArgs, opened: &Opened, json: bool) -> Result<(), Failure> {
    let format = match args.format {
        Some(format) => format,
        None => format_of(&args.file)?,
    };
    let text = read(&args.file)?;
    let lines = split(&text, format)?;
    let target = if args.dry_run {
        // The same hasher and format as the real store's, on an empty store of its own.
        let store = Arc::new(MemoryStore::new());
        let real = opened.tokens.verifier();
        let verifier = Verifier::builder(store.clone())
            .hasher(real.hasher().clone())
            .format(real.format().clone())
            .build();
        TokenManager::new(store, verifier)
    } else {
        opened.tokens.clone()
    };
    let hasher = target.verifier().hasher().clone();
    let lines = refuse_repeats(lines, &hasher);
    let (stop, guess) = (AtomicBool::new(false), AtomicBool::new(false));
    let plan = Plan {
        target: &target,
        opened,
        on_conflict: args.on_conflict,
        dry_run: args.dry_run,
        guess: &guess,
    };
    let mut progress = Progress::new("lines", Some(lines.len() as u64));
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(lines.len());
    let mut results = futures_util::stream::iter(lines.into_iter().map(|(number, parsed)| {
        let stop = &stop;
        async move {
            let outcome = match parsed {
                Err(refusal) => Outcome::Refused(refusal),
                Ok(_) if stop.load(Ordering::Relaxed) => Outcome::NotTried,
                Ok(entry) => import(plan, entry).await,
            };
            if matches!(outcome, Outcome::Conflict(_)) {
                stop.store(true, Ordering::Relaxed);
            }
            (number, outcome)
        }
    }))
    // Under `--on-conflict fail`, one at a time: the import stops at the first line found in
    // the store, with no line after it written.
    .buffer_unordered(if args.on_conflict == Conflict::Fail {
        1
    } else {
        IN_FLIGHT
    });
    while let Some((number, outcome)) = results.next().await {
        if let Outcome::Failed(failure) = outcome {
            progress.finish();
            return Err(failure);
        }
        progress.advance(1);
        outcomes.push((number, outcome));
    }
    drop(results);
    progress.finish();
    outcomes.sort_unstable_by_key(|(number, _)| *number);
    report(&args.file, opened, &outcomes, args.dry_run, json);
    if let Some((number, _)) = outcomes
        .iter()
        .find(|(_, outcome)| matches!(outcome, Outcome::Conflict(_)))
    {
        return Err(Failure::refused(format!(
            "stopped at line {number}, whose token is in the store already\n  \
             --on-conflict skip goes past the tokens already there"
        )));
    }
    let refused = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Refused(_)))
        .count();
    if refused > 0 {
        return Err(Failure::refused(format!(
            "{refused} line(s) not imported: see above; fix them and run the same command again \
             (what was imported is skipped)"
        )));
    }
    Ok(())
}

/// A line with the id or the secret of an earlier line of the file is refused, naming that
/// line: decided in file order, before any line is imported (they run a few at once).
fn refuse_repeats(lines: Vec<Numbered>, hasher: &tollgate::SecretHasher) -> Vec<Numbered> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], usize> = HashMap::new();
    lines
        .into_iter()
        .map(|(number, parsed)| {
            let Ok(entry) = parsed else {
                return (number, parsed);
            };
            let hash = match &entry.secret {
                Given::Secret(secret) => *hasher.hash(secret.expose().as_bytes()).as_bytes(),
                Given::Sha256(bytes) => *bytes,
            };
            if let Some(id) = &entry.id {
                if let Some(first) = ids.get(id) {
                    return (number, Err(Refusal::new("id", format!("is line {first}'s too"))));
                }
                ids.insert(id.clone(), number);
            }
            if let Some(first) = hashes.get(&hash) {
                return (number, Err(Refusal::new("secret", format!("is line {first}'s too"))));
            }
            hashes.insert(hash, number);
            (number, Ok(entry))
        })
        .collect()
}

/// The format a file's name says: `.jsonl` (or `.ndjson`, `.json`) or `.csv`.
fn format_of(path: &Path) -> Result<Format, Failure> {
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv),
        _ => Err(Failure::usage(format!(
            "cannot tell the format of {} from its name: give --format jsonl or --format csv",
            path.display()
        ))),
    }
}

/// The whole file (`-`: standard input).
fn read(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|err| Failure::usage(format!("standard input: {err}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|err| Failure::usage(format!("{}: {err}", path.display())))
}

/// A line's number, and what it holds.
type Numbered = (usize, Result<Entry, Refusal>);

/// Every line read, with its number (from 1; a CSV file's header is line 1). Blank lines of
/// a JSON lines file are no lines.
fn split(text: &str, format: Format) -> Result<Vec<Numbered>, Failure> {
    match format {
        Format::Jsonl => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(at, line)| (at + 1, line::from_json(line)))
            .collect()),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
            let header = reader
                .headers()
                .map_err(|_| Failure::usage("the CSV file has no header row naming its columns"))?
                .clone();
            line::check_header(&header)
                .map_err(|refusal| Failure::usage(format!("the CSV header: {} {}", refusal.field, refusal.rule)))?;
            let mut rows = Vec::new();
            for (at, row) in reader.records().enumerate() {
                // A row's own line, or the row's place after the header when it is unreadable.
                let number = row
                    .as_ref()
                    .ok()
                    .and_then(|row| row.position())
                    .map_or(at + 2, |position| {
                        usize::try_from(position.line()).unwrap_or(usize::MAX)
                    });
                let entry = match row {
                    Ok(row) => line::from_csv(&header, &row),
                    Err(err) => Err(match err.kind() {
                        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Refusal::new(
                            "line",
                            format!("has {len} field(s) where the header has {expected_len}"),
                        ),
                        _ => Refusal::new("line", "is not a CSV row of UTF-8 text"),
                    }),
                };
                rows.push((number, entry));
            }
            Ok(rows)
        }
    }
}

/// How one line is imported: into `target` (the store's manager, or a dry run's), and what
/// happens when its token is found there.
#[derive(Clone, Copy)]
struct Plan<'a> {
    target: &'a TokenManager,
    opened: &'a Opened,
    on_conflict: Conflict,
    dry_run: bool,
    /// Whether the lines before were found in the store (a re-run): then ask before writing.
    guess: &'a AtomicBool,
}

/// One line.
async fn import(plan: Plan<'_>, entry: Entry) -> Outcome {
    let Plan {
        target,
        opened,
        on_conflict,
        dry_run,
        guess,
    } = plan;
    let Entry { new, id, secret } = entry;
    if matches!(secret, Given::Sha256(_)) && !matches!(target.verifier().hasher(), tollgate::SecretHasher::Sha256) {
        return Outcome::Refused(Refusal::new(
            "secret_sha256",
            "cannot be used: this store's secrets are hashed under a pepper, which a plain SHA-256 cannot match; \
             import the secret itself",
        ));
    }
    let hash = match &secret {
        Given::Secret(secret) => target.verifier().hasher().hash(secret.expose().as_bytes()),
        Given::Sha256(bytes) => SecretHash::from_bytes(*bytes),
    };
    // A dry run asks the store first. A real run writes, and asks when the write clashes;
    // while lines keep turning out present (a re-run), it asks by id first instead: one read
    // in place of a write that fails. Only the speed depends on the guess, never the outcome.
    let there = match (dry_run, id.as_deref()) {
        (true, _) => present(opened, id.as_deref(), &hash).await,
        (false, Some(id)) if guess.load(Ordering::Relaxed) => opened
            .store
            .get(id)
            .await
            .map_err(|err| Failure::from_store(&err, &opened.name)),
        (false, _) => Ok(None),
    };
    match there {
        Ok(Some(holder)) => return classify(&holder, id.as_deref(), &hash, on_conflict),
        Ok(None) => {}
        Err(failure) => return Outcome::Failed(failure),
    }
    let outcome = write(plan, new, id.as_deref(), secret, &hash).await;
    guess.store(matches!(outcome, Outcome::Present(_)), Ordering::Relaxed);
    outcome
}

/// The write itself, and what a clash means.
async fn write(plan: Plan<'_>, new: tollgate::NewToken, id: Option<&str>, secret: Given, hash: &SecretHash) -> Outcome {
    let Plan {
        target,
        opened,
        on_conflict,
        dry_run,
        ..
    } = plan;
    let imported = match secret {
        Given::Secret(secret) => target.import(new, &secret).await,
        Given::Sha256(bytes) => target.import_sha256(new, bytes).await,
    };
    match imported {
        Ok(_) => Outcome::Imported,
        Err(ManageError::DuplicateId | ManageError::DuplicateSecret) if dry_run => Outcome::Refused(Refusal::new(
            "line",
            "has the id or the secret of an earlier line of this file",
        )),
        Err(ManageError::DuplicateId | ManageError::DuplicateSecret) => {
            match present(opened, id, hash).await {
                Ok(Some(holder)) => classify(&holder, id, hash, on_conflict),
                // Held where no lookup finds it: a previous secret whose grace ended (or a
                // token deleted in between, which a second run imports).
                Ok(None) => Outcome::Refused(Refusal::new(
                    "secret",
                    "is still held by a token as a previous secret whose grace ended (or the token was deleted \
                     meanwhile: run again)",
                )),
                Err(failure) => Outcome::Failed(failure),
            }
        }
        Err(ManageError::Invalid { field, rule }) => Outcome::Refused(Refusal::new(field, rule)),
        Err(err @ (ManageError::Store(_) | ManageError::Timeout(_))) => {
            Outcome::Failed(Failure::from_manage(err, &opened.name, id))
        }
        Err(err) => Outcome::Refused(Refusal::new("line", err.to_string())),
    }
}

/// The token the store holds with the line's id, or else with its secret.
async fn present(opened: &Opened, id: Option<&str>, hash: &SecretHash) -> Result<Option<TokenRecord>, Failure> {
    let failed = |err: tollgate::StoreError| Failure::from_store(&err, &opened.name);
    if let Some(id) = id {
        if let Some(record) = opened.store.get(id).await.map_err(failed)? {
            return Ok(Some(record));
        }
    }
    opened.store.find_by_hash(hash).await.map_err(failed)
}

/// A line whose id or secret the store holds already: the same token (skipped, or a
/// conflict under `--on-conflict fail`), or another one (refused, and left as it is).
fn classify(holder: &TokenRecord, id: Option<&str>, hash: &SecretHash, on_conflict: Conflict) -> Outcome {
    let same_secret = holder.secret_hash == *hash || holder.previous_secret.as_ref().is_some_and(|p| p.hash == *hash);
    if !same_secret {
        return Outcome::Refused(Refusal::new(
            "id",
            "is taken by a token with another secret (left as it is)",
        ));
    }
    if id.is_some_and(|id| id != holder.id) {
        return Outcome::Refused(Refusal::new("secret", format!("is token {}'s already", holder.id)));
    }
    match on_conflict {
        Conflict::Skip => Outcome::Present(holder.id.clone()),
        Conflict::Fail => Outcome::Conflict(Refusal::new(
            "line",
            format!("token {} is in the store already (--on-conflict fail)", holder.id),
        )),
    }
}

fn report(file: &Path, opened: &Opened, outcomes: &[(usize, Outcome)], dry_run: bool, json: bool) {
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, outcome)| wanted(outcome)).count();
    let imported = count(|outcome| matches!(outcome, Outcome::Imported));
    let not_tried = count(|outcome| matches!(outcome, Outcome::NotTried));
    let skipped: Vec<(usize, &str)> = outcomes
        .iter()
        .filter_map(|(number, outcome)| match outcome {
            Outcome::Present(id) => Some((*number, id.as_str())),
            _ => None,
        })
        .collect();
    let refused: Vec<(usize, &Refusal)> = outcomes
        .iter()
        .filter_map(|(number, outcome)| match outcome {
            Outcome::Refused(refusal) | Outcome::Conflict(refusal) => Some((*number, refusal)),
            _ => None,
        })
        .collect();
    if json {
        return output::print_json(&json!({
            "file": file.display().to_string(),
            "store": opened.name,
            "dry_run": dry_run,
            "lines": outcomes.len(),
            "imported": imported,
            "skipped": skipped.iter().map(|(line, id)| json!({"line": line, "id": id})).collect::<Vec<_>>(),
            "refused": refused
                .iter()
                .map(|(line, refusal)| json!({"line": line, "field": refusal.field, "reason": refusal.rule}))
                .collect::<Vec<_>>(),
            "not_tried": not_tried,
        }));
    }
    let verb = if dry_run { "Would import" } else { "Imported" };
    println!(
        "{verb} {imported} of {} line(s) from {} into {}{}; skipped {} (in the store already); refused {}.",
        outcomes.len(),
        file.display(),
        opened.name,
        if dry_run { " (a dry run: nothing written)" } else { "" },
        skipped.len(),
        refused.len()
    );
    for (number, refusal) in refused.iter().take(NAMED) {
        match refusal.field.as_str() {
            "line" => println!("  line {number}: {}", refusal.rule),
            field => println!("  line {number}: {field} {}", refusal.rule),
        }
    }
    if refused.len() > NAMED {
        println!(
            "  … and {} more refused (--json lists every line)",
            refused.len() - NAMED
        );
    }
    if !skipped.is_empty() {
        let lines: Vec<String> = skipped
            .iter()
            .take(NAMED)
            .map(|(number, _)| number.to_string())
            .collect();
        let more = if skipped.len() > NAMED { " …" } else { "" };
        println!("  skipped lines: {}{more}", lines.join(", "));
    }
    if not_tried > 0 {
        println!("  stopped at the first token found in the store: {not_tried} line(s) after it not tried");
    }
}
