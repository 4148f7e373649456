//! [`Failure`]: why a command did not do what it was asked, the exit code a script sees for
//! it, and a message that says what to do.

use std::fmt;
use std::process::ExitCode;

use tollgate::{ManageError, StoreError};

/// A command that failed: its class (the exit code) and what to tell the operator.
#[derive(Debug)]
pub(crate) struct Failure {
    kind: Kind,
    message: String,
}

/// The classes a script tells apart by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 1: the store refused, the id is unknown, the token is invalid.
    Refused,
    /// 2: the command line cannot be carried out as written (clap's own errors are 2 too).
    Usage,
    /// 3: the store could not be reached, or did not answer in time.
    Unreachable,
}

impl Failure {
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(Kind::Refused, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unreachable, message)
    }

    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Refused => 1,
            Kind::Usage => 2,
            Kind::Unreachable => 3,
        })
    }

    /// A failure of the store named `store` (without its password), while opening it.
    pub(crate) fn from_store(err: &StoreError, store: &str) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::unreachable(format!(
                "cannot reach the store {store}: {err}\n  \
                 check that it is running and that --store (or TOLLGATE_STORE) names it"
            )),
            StoreError::Config(_) => Self::usage(format!("{err}\n  check --store, --schema and --prefix")),
            // A schema from a newer tollgate says "upgrade tollgate" itself.
            StoreError::Corrupt(_) => Self::refused(format!("the store {store} cannot be used: {err}")),
            _ => Self::refused(format!("the store {store} refused: {err}")),
        }
    }

    /// A failure of a [`tollgate::TokenManager`] call about the token `id`, if one was named.
    pub(crate) fn from_manage(err: ManageError, store: &str, id: Option<&str>) -> Self {
        let id = id.unwrap_or("?");
        match err {
            ManageError::Invalid { field, rule } => Self::refused(format!(
                "refused: {field}: {rule}\n  fix {} and try again",
                option_of(&field)
            )),
            ManageError::NotFound => Self::refused(format!(
                "no token with id {id} in {store}\n  `tollgate tokens list` shows the ids"
            )),
            ManageError::DuplicateId => Self::refused(format!(
                "a token with id {id} already exists\n  \
                 if it is this import, done already, there is nothing to do; else choose another --id"
            )),
            ManageError::DuplicateSecret => Self::refused(
                "another token already uses this secret\n  \
                 if it was imported before, `tollgate tokens list` shows it; else import another secret",
            ),
            ManageError::Store(StoreError::Unavailable(source)) => {
                Self::from_store(&StoreError::Unavailable(source), store)
            }
            ManageError::Store(err @ StoreError::Config(_)) => Self::from_store(&err, store),
            ManageError::PepperMismatch { recorded, ours } => Self::refused(pepper_mismatch(store, &recorded, &ours)),
            ManageError::Timeout(after) => Self::unreachable(format!(
                "the store {store} did not answer within {after:?}\n  \
                 check that it is running and reachable, then run the command again \
                 (a change may have been made: `tollgate tokens get` shows)"
            )),
            err => Self::refused(format!("refused: {err}")),
        }
    }
}

/// What to say when this command's pepper is not the one the store recorded.
pub(crate) fn pepper_mismatch(store: &str, recorded: &str, ours: &str) -> String {
    format!(
        "the secrets of {store} are hashed under another pepper: the store records the fingerprint {recorded}, \
         this command has {ours}\n  give the pepper its servers use, with --pepper-file or TOLLGATE_PEPPER \
         (a token hashed under another would be refused by every server)"
    )
}

/// The option that sets a field the manager names (`scopes[2]` is `--scope`).
fn option_of(field: &str) -> &'static str {
    match field.split(['[', '.']).next().unwrap_or(field) {
        "name" => "the NAME (or --name)",
        "scopes" => "--scope",
        "owner" => "--owner",
        "kind" => "--kind",
        "metadata" => "--metadata",
        "expires_at" | "expires_in" => "--expires-in or --expires-at",
        "grace_seconds" | "grace" => "--grace",
        "id" => "--id",
        "secret" => "the secret (--secret-file or --secret-stdin)",
        _ => "the command",
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
