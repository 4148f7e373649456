//! Reaching the store: `--store` read as the example server reads it, the pepper read as it
//! reads it, and a [`TokenManager`] over both, hashing as the servers do.

use std::path::Path;
use std::sync::Arc;

use tollgate::store::TokenStore;
use tollgate::{SecretHasher, TokenManager, Verifier};

use crate::args::Global;
use crate::error::Failure;

/// A manager of the tokens in the store `--store` names, and that store's name for messages.
pub(crate) struct Opened {
    pub(crate) tokens: TokenManager,
    /// The store itself, for what the manager does not offer (who holds a secret).
    pub(crate) store: Arc<dyn TokenStore>,
    /// The store URL without its password.
    pub(crate) name: String,
}

/// Opens the store, with the pepper's hasher if a pepper is given.
pub(crate) async fn open(global: &Global) -> Result<Opened, Failure> {
    let Some(url) = global.store.as_deref() else {
        return Err(Failure::usage(
            "no store: give --store URL or set TOLLGATE_STORE (sqlite:PATH, postgres://… or redis://…)",
        ));
    };
    let name = without_password(url);
    let hasher = pepper(global.pepper_file.as_deref())?.unwrap_or(SecretHasher::Sha256);
    let place = Place {
        schema: &global.schema,
        prefix: &global.prefix,
        create: false,
    };
    let store = open_store(url, &name, place).await?;
    let verifier = Verifier::builder(store.clone()).hasher(hasher).build();
    Ok(Opened {
        tokens: TokenManager::from_shared(store.clone(), verifier),
        store,
        name,
    })
}

/// Whether this command hashes as the store's servers do. A command that writes hashes
/// (`claim`) records its pepper's fingerprint in a store that has none, as a server would;
/// one that only reads them compares with what is recorded, and records nothing.
pub(crate) async fn check_pepper(opened: &Opened, claim: bool) -> Result<(), Failure> {
    if claim {
        return opened
            .tokens
            .check_pepper()
            .await
            .map_err(|err| Failure::from_manage(err, &opened.name, None));
    }
    let ours = opened.tokens.verifier().hasher().fingerprint();
    match opened.store.pepper_fingerprint().await {
        Ok(Some(recorded)) if recorded != ours => Err(Failure::refused(crate::error::pepper_mismatch(
            &opened.name,
            &recorded,
            &ours,
        ))),
        Ok(_) => Ok(()),
        Err(err) => Err(Failure::from_store(&err, &opened.name)),
    }
}

/// A command that hashes without a pepper says that only servers without one accept what it
/// writes (not with --json, whose standard error a script may parse).
pub(crate) fn note_without_pepper(global: &Global) {
    let peppered = global.pepper_file.is_some() || std::env::var_os("TOLLGATE_PEPPER").is_some();
    if !peppered && !global.json {
        eprintln!(
            "note: no pepper given (--pepper-file or TOLLGATE_PEPPER): secrets are hashed as plain SHA-256, \
             which only servers without a pepper accept"
        );
    }
}

/// Where in a store its tokens are, and whether a SQLite file may be made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    /// The PostgreSQL schema.
    pub(crate) schema: &'a str,
    /// The Redis key prefix.
    pub(crate) prefix: &'a str,
    /// Whether a SQLite path that does not exist makes a new store (a copy's target) or is
    /// refused as mistyped.
    pub(crate) create: bool,
}

/// `sqlite:PATH`, `postgres://…` or `redis://…`, named `name` in messages (the URL without
/// its password). No background task is started: the command makes its calls and exits.
pub(crate) async fn open_store(url: &str, name: &str, place: Place<'_>) -> Result<Arc<dyn TokenStore>, Failure> {
    let failed = |err: tollgate::StoreError| Failure::from_store(&err, name);
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(Failure::usage(
                "--store sqlite:PATH needs a path, e.g. sqlite:tollgate.db",
            ));
        }
        // Opening a path that does not exist would make a new, empty store, where a token
        // minted for the real one would be lost: a mistyped path is an error instead.
        if !place.create && !Path::new(path).exists() {
            return Err(Failure::unreachable(format!(
                "no SQLite store at {path}\n  check the path (a server creates its store on its first start)"
            )));
        }
        let store = tollgate::SqliteStore::builder(path)
            .poll_changes(None)
            .open()
            .await
            .map_err(failed)?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = tollgate::PostgresStore::builder(url)
            .schema(place.schema)
            .max_connections(8)
            .listen(false)
            .open()
            .await
            .map_err(failed)?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let store = tollgate::RedisStore::builder(url)
            .prefix(place.prefix)
            .listen(false)
            .open()
            .await
            .map_err(failed)?;
        return Ok(Arc::new(store));
    }
    Err(Failure::usage(format!(
        "unknown --store {name:?}: expected sqlite:PATH, postgres://… or redis://…"
    )))
}

/// The pepper from `--pepper-file` or `TOLLGATE_PEPPER`, read as the servers read it
/// ([`SecretHasher::from_pepper_text`]): never a flag's value (which `ps` and the shell's
/// history would show).
fn pepper(file: Option<&Path>) -> Result<Option<SecretHasher>, Failure> {
    let text = match (file, std::env::var_os("TOLLGATE_PEPPER")) {
        (Some(_), Some(_)) => {
            return Err(Failure::usage(
                "give the pepper with --pepper-file or TOLLGATE_PEPPER, not both",
            ));
        }
        (Some(path), None) => {
            std::fs::read(path).map_err(|err| Failure::usage(format!("--pepper-file {}: {err}", path.display())))?
        }
        (None, Some(value)) => value.into_encoded_bytes(),
        (None, None) => return Ok(None),
    };
    SecretHasher::from_pepper_text(&text).map(Some).map_err(|short| {
        Failure::usage(format!(
            "{short}: give the servers' own (--pepper-file or TOLLGATE_PEPPER)"
        ))
    })
}

/// A store URL fit for a message: `user:password@` loses its password.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            let path = path.map(|path| format!("/{path}")).unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_store_url_is_shown_without_its_password() {
        for (url, shown) in [
            ("postgres://app:hunter2@db/app", "postgres://app:***@db/app"),
            ("redis://:hunter2@cache:6379", "redis://:***@cache:6379"),
            ("postgres://app@db/app", "postgres://app@db/app"),
            ("sqlite:tollgate.db", "sqlite:tollgate.db"),
        ] {
            assert_eq!(without_password(url), shown, "{url}");
        }
    }
}
