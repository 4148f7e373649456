//! `tollgate tokens …`: each subcommand as one [`TokenManager`] call on the store, with the
//! manager's rules (the admin API's), printed by [`crate::output`].

use std::io::{IsTerminal as _, Read as _};

use serde_json::json;
use time::{Duration, OffsetDateTime};
use tollgate::{BasicCredential, Credential, ListQuery, NewToken, Secret, TokenPatch, TokenStatus};

use crate::args::{Create, Expiry, Global, List, Tokens, Update};
use crate::error::Failure;
use crate::output;
use crate::store::{self, Opened};

/// Runs one `tokens` subcommand.
pub(crate) async fn run(command: Tokens, global: &Global) -> Result<(), Failure> {
    // Read before the store is opened, so that a usage error costs no connection.
    let check_secret = match &command {
        Tokens::Check { .. } => Some(read_stdin("the token to check")?),
        _ => None,
    };
    // A token hashed without the servers' pepper is refused by them all, silently: say so.
    // (`check` says it in its answer when the token is refused.)
    let hashes = matches!(command, Tokens::Create(_) | Tokens::Rotate { .. });
    let opened = store::open(global).await?;
    if hashes {
        store::note_without_pepper(global);
    }
    if hashes || matches!(command, Tokens::Check { .. }) {
        store::check_pepper(&opened, hashes).await?;
    }
    let json = global.json;
    match command {
        Tokens::Create(create) => self::create(&opened, create, json).await,
        Tokens::List(list) => self::list(&opened, list, json).await,
        Tokens::Get { id } => match opened.tokens.get(&id).await.map_err(|err| fail(&opened, err, &id))? {
            Some(record) => {
                output::record(&record, json);
                Ok(())
            }
            None => Err(fail(&opened, tollgate::ManageError::NotFound, &id)),
        },
        Tokens::Update(update) => self::update(&opened, update, json).await,
        Tokens::Rotate { id, grace } => {
            let issued = opened
                .tokens
                .rotate(&id, Duration::seconds(grace.into()))
                .await
                .map_err(|err| fail(&opened, err, &id))?;
            output::issued(issued.record(), issued.token(), json);
            Ok(())
        }
        Tokens::Revoke { id } => {
            let record = opened.tokens.revoke(&id).await.map_err(|err| fail(&opened, err, &id))?;
            output::record(&record, json);
            Ok(())
        }
        Tokens::Delete { id } => {
            opened.tokens.delete(&id).await.map_err(|err| fail(&opened, err, &id))?;
            if json {
                output::print_json(&json!({"id": id, "deleted": true}));
            } else {
                println!("Deleted token {id}: it is refused from the next request on.");
            }
            Ok(())
        }
        Tokens::Check { id } => {
            let secret = check_secret.expect("read above");
            self::check(&opened, id.as_deref(), &secret, json).await
        }
    }
}

async fn create(opened: &Opened, create: Create, json: bool) -> Result<(), Failure> {
    let mut new = NewToken::new(create.name).scopes(create.scopes);
    if let Some(owner) = create.owner {
        new = new.owner(owner);
    }
    if let Some(kind) = create.kind {
        new = new.kind(kind);
    }
    if let Some(metadata) = create.metadata {
        new = new.metadata(metadata);
    }
    if create.inactive {
        new = new.status(TokenStatus::Inactive);
    }
    match create.expiry {
        Expiry {
            expires_in: Some(seconds),
            ..
        } => new = new.expires_in(Duration::seconds(seconds.into())),
        Expiry {
            expires_at: Some(at), ..
        } => new = new.expires_at(at),
        _ => {}
    }
    let secret = match (&create.secret_file, create.secret_stdin) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| Failure::usage(format!("--secret-file {}: {err}", path.display())))?,
        ),
        (None, true) => Some(read_stdin("the secret to import")?),
        (None, false) => None,
    };
    let Some(secret) = secret else {
        let issued = opened.tokens.create(new).await.map_err(|err| fail(opened, err, "?"))?;
        output::issued(issued.record(), issued.token(), json);
        return Ok(());
    };
    // An import: the secret is the operator's already, so nothing is shown but the record.
    let secret = Secret::new(secret.trim_ascii());
    if let Some(id) = &create.id {
        new = new.id(id);
    }
    let id = create.id.as_deref().unwrap_or("?");
    let record = opened
        .tokens
        .import(new, &secret)
        .await
        .map_err(|err| fail(opened, err, id))?;
    if !json {
        println!(
            "Imported: the secret you gave is the token (Bearer, or Basic {}:secret).",
            record.id
        );
        println!();
    }
    output::record(&record, json);
    Ok(())
}

async fn list(opened: &Opened, list: List, json: bool) -> Result<(), Failure> {
    let mut query = ListQuery::new(list.limit.into());
    if let Some(owner) = list.owner {
        query = query.owner(owner);
    }
    if let Some(status) = list.status {
        query = query.status(status.into());
    }
    if let Some(scope) = list.scope {
        query = query.scope(scope);
    }
    if let Some(after) = list.after {
        query = query.after(after);
    }
    let mut records = Vec::new();
    let next = loop {
        let page = opened.tokens.list(&query).await.map_err(|err| fail(opened, err, "?"))?;
        records.extend(page.records);
        match page.next_after {
            Some(after) if list.all => query = query.after(after),
            next => break next,
        }
    };
    if json {
        let views: Vec<_> = records.iter().map(output::view).collect();
        if list.all {
            output::print_json(&json!(views));
        } else {
            output::print_json(&json!({"tokens": views, "next_cursor": next}));
        }
        return Ok(());
    }
    output::records_table(&records);
    if let Some(after) = next {
        eprintln!("more tokens follow: add --after {after} for the next page, or --all for every one");
    }
    Ok(())
}

async fn update(opened: &Opened, update: Update, json: bool) -> Result<(), Failure> {
    let mut patch = TokenPatch::new();
    let mut changed = false;
    if let Some(name) = update.name {
        patch = patch.name(name);
        changed = true;
    }
    if !update.scopes.is_empty() {
        patch = patch.scopes(update.scopes);
        changed = true;
    }
    if update.no_scopes {
        patch = patch.scopes(Vec::<String>::new());
        changed = true;
    }
    if let Some(owner) = update.owner {
        patch = patch.owner(Some(owner));
        changed = true;
    }
    if update.no_owner {
        patch = patch.owner(None);
        changed = true;
    }
    if let Some(status) = update.status {
        patch = patch.status(status.into());
        changed = true;
    }
    if let Some(seconds) = update.expiry.expires_in {
        patch = patch.expires_at(Some(OffsetDateTime::now_utc() + Duration::seconds(seconds.into())));
        changed = true;
    }
    if let Some(at) = update.expiry.expires_at {
        patch = patch.expires_at(Some(at));
        changed = true;
    }
    if update.no_expiry {
        patch = patch.expires_at(None);
        changed = true;
    }
    if let Some(metadata) = update.metadata {
        patch = patch.metadata(metadata);
        changed = true;
    }
    if !changed {
        return Err(Failure::usage(
            "nothing to change: give one or more of --name, --scope, --no-scopes, --owner, --no-owner, \
             --status, --expires-in, --expires-at, --no-expiry, --metadata",
        ));
    }
    let record = opened
        .tokens
        .update(&update.id, patch)
        .await
        .map_err(|err| fail(opened, err, &update.id))?;
    output::record(&record, json);
    Ok(())
}

async fn check(opened: &Opened, id: Option<&str>, secret: &str, json: bool) -> Result<(), Failure> {
    let basic;
    let credential = match id {
        Some(id) => {
            basic = BasicCredential::new(id, secret);
            Credential::Basic(basic)
        }
        None => Credential::Bearer(secret),
    };
    let record = opened
        .tokens
        .check(&credential)
        .await
        .map_err(|err| fail(opened, err, id.unwrap_or("?")))?;
    if json {
        output::print_json(&json!({"valid": record.is_some(), "token": record.as_ref().map(output::view)}));
    }
    match record {
        Some(record) => {
            if !json {
                println!("Valid: this store accepts the token.");
                println!();
                output::record(&record, false);
            }
            Ok(())
        }
        None => Err(Failure::refused(
            "invalid: this store does not accept the token (unknown, revoked, expired, mistyped, \
             or hashed under another pepper: give the servers' --pepper-file or TOLLGATE_PEPPER)",
        )),
    }
}

/// Reads a secret from standard input, whole, without its surrounding whitespace.
pub(crate) fn read_stdin(what: &str) -> Result<String, Failure> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading {what} from standard input (end with Ctrl-D)");
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|err| Failure::usage(format!("standard input: {err}")))?;
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(Failure::usage(format!(
            "standard input is empty: give {what} on it, e.g. `< token.txt`"
        )));
    }
    Ok(text.to_owned())
}

fn fail(opened: &Opened, err: tollgate::ManageError, id: &str) -> Failure {
    Failure::from_manage(err, &opened.name, Some(id))
}
