//! The command line: every command, option and environment variable, and the help texts
//! with their examples. Nothing here reaches a store.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tollgate::TokenStatus;

const MAIN_EXAMPLES: &str = "\
Examples:
  # Every command below reads the store from here (or from --store)
  export TOLLGATE_STORE=sqlite:/var/lib/app/tollgate.db

  # Break-glass: mint an admin token straight in the store, no server needed
  tollgate --pepper-file /etc/app/pepper tokens create 'break-glass admin' \\
      --scope tokens:admin --expires-in 3600

  tollgate tokens list --owner customer_1729 --all
  tollgate tokens rotate 3kTMd9aQ2xLp7vWb --grace 86400
  tollgate inspect - < token.txt

  # A legacy system's keys, their ids kept; then the whole store to PostgreSQL
  tollgate --pepper-file /etc/app/pepper import legacy-keys.jsonl
  tollgate copy --from sqlite:/var/lib/app/tollgate.db --to postgres://app@db.internal/app --verify

Exit codes:
  0  done
  1  refused: by the store, an unknown id, `tokens check` of an invalid token,
     `inspect` of a token whose checksum does not match, an import line, a pepper
     other than the store's
  2  usage: an option missing, unknown or malformed
  3  the store is unreachable (or did not answer in time)";

const TOKENS_EXAMPLES: &str = "\
Examples:
  tollgate tokens create 'ci deploy key' --scope deploy --owner team-infra --expires-in 7776000
  tollgate tokens list --status active --all --json
  tollgate tokens update 3kTMd9aQ2xLp7vWb --scope deploy --scope read
  tollgate tokens revoke 3kTMd9aQ2xLp7vWb
  tollgate tokens check < token.txt";

const CREATE_EXAMPLES: &str = "\
Examples:
  # A generated token: printed once, here, and never again
  tollgate tokens create 'ci deploy key' --scope deploy --scope read --expires-in 7776000

  # Break-glass: an admin token for an hour, on a store no admin token can reach any more
  tollgate --store postgres://ops@db.internal/app --pepper-file /etc/app/pepper \\
      tokens create 'break-glass admin' --scope tokens:admin --expires-in 3600

  # Import a legacy key with the id its clients send as Basic id:secret
  tollgate tokens create 'acct42 (legacy)' --id acct42 --secret-file acct42.key";

const LIST_EXAMPLES: &str = "\
Examples:
  tollgate tokens list                          # the first 100, by id
  tollgate tokens list --owner customer_1729 --all
  tollgate tokens list --status inactive --all --json | jq -r '.[].id'";

const UPDATE_EXAMPLES: &str = "\
Examples:
  tollgate tokens update 3kTMd9aQ2xLp7vWb --name 'deploy key (prod)' --scope deploy
  tollgate tokens update 3kTMd9aQ2xLp7vWb --status active      # undo a revoke
  tollgate tokens update 3kTMd9aQ2xLp7vWb --no-expiry --metadata '{\"ticket\": \"OPS-12\"}'";

const ROTATE_EXAMPLES: &str = "\
Examples:
  # A new secret now; the old one keeps working for a day, so clients can move over
  tollgate tokens rotate 3kTMd9aQ2xLp7vWb --grace 86400";

const CHECK_EXAMPLES: &str = "\
Examples:
  tollgate tokens check < token.txt
  tollgate tokens check --id acct42 < acct42.key     # Basic id:secret, the secret on stdin";

const COPY_EXAMPLES: &str = "\
Examples:
  # Outgrowing SQLite: every token, with its hashes, status, owner and limits
  tollgate copy --from sqlite:/var/lib/app/tollgate.db --to postgres://app@db.internal/app --verify

  # After the servers moved to PostgreSQL: bring over what changed on SQLite meanwhile
  tollgate copy --from sqlite:/var/lib/app/tollgate.db --to postgres://app@db.internal/app

How a re-run decides, record by record (by id):
  only on the source                 copied
  on both, the same                  left alone (when it was last used does not count)
  on both, the source's as new       copied again (a revocation on the source reaches the target)
  on both, the target's newer        kept, and named (also when it changes during the copy)
  only on the target                 kept, or deleted with --prune

Owners' settings are copied for the owners of the source's tokens, the source's winning.
After the cut-over, --prune would delete the tokens made on the target since: leave it out.";

const IMPORT_EXAMPLES: &str = "\
Examples:
  tollgate --pepper-file /etc/app/pepper import legacy-keys.jsonl --dry-run
  tollgate --pepper-file /etc/app/pepper import legacy-keys.jsonl

  # legacy-keys.jsonl, one token a line (only secret, or secret_sha256, is required):
  {\"id\": \"acct42\", \"secret\": \"…\", \"name\": \"Acme\", \"scopes\": [\"read\"], \"owner\": \"acme\"}
  {\"id\": \"acct43\", \"secret_sha256\": \"9f86d0…\", \"expires_at\": \"2027-01-31T00:00:00Z\"}

  # keys.csv: a header row naming the same columns; scopes space-separated
  id,secret,name,scopes,owner
  acct42,…,Acme,read write,acme

Columns: id (kept, so Basic id:secret clients keep working; random without it), secret or
secret_sha256 (64 hex digits; only on a store without a pepper), name (\"imported\" without it),
scopes, owner, expires_at (RFC 3339), metadata (a JSON object), kind.

A line whose token is in the store already (its id with this secret) is skipped: run the same
command again after an interruption. An id that holds another secret is refused, never
overwritten. No secret is ever printed. Exit 1 if any line is refused.";

const INSPECT_EXAMPLES: &str = "\
Examples:
  tollgate inspect - < token.txt
  pbpaste | tollgate inspect - --json";

/// tollgate, the operator's command.
#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Manage the tokens of a tollgate store: create, list, rotate, revoke, check",
    long_about = "Manage the tokens of a tollgate store: create, list, rotate, revoke, check.\n\n\
                  Commands under `tokens` work straight on the store (--store), through the same \
                  rules as the admin API: no server needs to run, which is how an admin token is \
                  minted when none is left (break-glass).",
    after_help = MAIN_EXAMPLES
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The options every command takes, before or after its name.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The token store: `sqlite:PATH`, `postgres://…` or `redis://…`, as the servers name it.
    #[arg(
        long,
        env = "TOLLGATE_STORE",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub(crate) store: Option<String>,
    /// The PostgreSQL schema of the token tables.
    #[arg(long, env = "TOLLGATE_SCHEMA", default_value = "tollgate", global = true)]
    pub(crate) schema: String,
    /// The prefix of the Redis keys.
    #[arg(long, env = "TOLLGATE_REDIS_PREFIX", default_value = "tollgate:", global = true)]
    pub(crate) prefix: String,
    /// A file holding the servers' pepper (the key secrets are hashed under), or set
    /// TOLLGATE_PEPPER. Needed to create, rotate or check tokens of a peppered store: a
    /// token hashed without it, or with another, is refused by every server.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) pepper_file: Option<PathBuf>,
    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, change and remove tokens, straight on the store.
    #[command(subcommand, after_help = TOKENS_EXAMPLES)]
    Tokens(Tokens),
    /// Copy every token, secret hashes included, from one store to another (a re-run brings
    /// the target up to date).
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Import the tokens of another system from a file (JSON lines or CSV), keeping their ids.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
    /// Read a token offline: its prefix, its id, whether its checksum is right (never its secret).
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect {
        /// `-` to read the token from standard input (keeps it out of the shell's history).
        #[arg(value_name = "TOKEN|-")]
        token: String,
    },
    /// Print a shell's completion script.
    #[command(
        after_help = "Examples:\n  tollgate completions bash > /etc/bash_completion.d/tollgate\n  \
                            tollgate completions zsh > \"${fpath[1]}/_tollgate\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum Tokens {
    /// Create a token (printed once), or import an existing secret.
    #[command(after_help = CREATE_EXAMPLES)]
    Create(Create),
    /// List tokens by id, a page at a time or all of them.
    #[command(after_help = LIST_EXAMPLES)]
    List(List),
    /// Show one token's record.
    Get {
        /// The token's id.
        id: String,
    },
    /// Change a token's name, scopes, owner, status, expiry or metadata.
    #[command(after_help = UPDATE_EXAMPLES)]
    Update(Update),
    /// Give a token a new secret (printed once); the id and everything else stay.
    #[command(after_help = ROTATE_EXAMPLES)]
    Rotate {
        /// The token's id.
        id: String,
        /// How long the old secret keeps working, in seconds (0 to one year; never past the
        /// token's expiry).
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        grace: u32,
    },
    /// Make a token inactive: refused from the next request on, kept until deleted.
    Revoke {
        /// The token's id.
        id: String,
    },
    /// Delete a token: refused from the next request on, and forgotten.
    Delete {
        /// The token's id.
        id: String,
    },
    /// Whether a token, read from standard input, is accepted by this store (exit 1 if not).
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// Check Basic `ID:secret` instead: the secret alone is read from standard input.
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("secret").args(["secret_file", "secret_stdin"])))]
pub(crate) struct Create {
    /// The token's name (1 to 128 characters).
    pub(crate) name: String,
    /// A scope the token grants; repeat for more.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// The owner (1 to 256 characters): a user, a team, a customer of the application's.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// The kind, free text (`api` by default).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    #[command(flatten)]
    pub(crate) expiry: Expiry,
    /// A JSON object kept with the token (4 KiB at most).
    #[arg(long, value_parser = json_object, value_name = "JSON")]
    pub(crate) metadata: Option<Map<String, Value>>,
    /// Create it inactive (refused until made active with `tokens update --status active`).
    #[arg(long)]
    pub(crate) inactive: bool,
    /// Import an existing secret instead of generating one: read from this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Import an existing secret instead of generating one: read from standard input.
    #[arg(long)]
    pub(crate) secret_stdin: bool,
    /// The imported token's id (1 to 64 base62 characters), so that clients sending Basic
    /// `id:secret` keep working; random without it. Only with an imported secret.
    #[arg(long, requires = "secret")]
    pub(crate) id: Option<String>,
}

/// When a token expires: at most one of the two.
#[derive(Debug, Args)]
pub(crate) struct Expiry {
    /// Expire this many seconds from now.
    #[arg(long, value_name = "SECONDS", conflicts_with = "expires_at")]
    pub(crate) expires_in: Option<u32>,
    /// Expire at this instant (RFC 3339, e.g. 2027-01-31T00:00:00Z).
    #[arg(long, value_parser = rfc3339, value_name = "TIME")]
    pub(crate) expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub(crate) struct List {
    /// Only this owner's tokens.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Only tokens with this status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<Status>,
    /// Only tokens granting this scope.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// Tokens per page (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) limit: u16,
    /// Start after this id: the cursor a previous page ended with.
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub(crate) after: Option<String>,
    /// Every matching token, following the pages to the end (`--json`: one array).
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Update {
    /// The token's id.
    pub(crate) id: String,
    /// A new name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The scopes, replacing the current ones; repeat for more.
    #[arg(long = "scope", value_name = "SCOPE", conflicts_with = "no_scopes")]
    pub(crate) scopes: Vec<String>,
    /// Remove every scope.
    #[arg(long)]
    pub(crate) no_scopes: bool,
    /// A new owner.
    #[arg(long, conflicts_with = "no_owner")]
    pub(crate) owner: Option<String>,
    /// Remove the owner.
    #[arg(long)]
    pub(crate) no_owner: bool,
    /// `active` or `inactive`.
    #[arg(long, value_enum)]
    pub(crate) status: Option<Status>,
    #[command(flatten)]
    pub(crate) expiry: Expiry,
    /// Never expire.
    #[arg(long, conflicts_with_all = ["expires_in", "expires_at"])]
    pub(crate) no_expiry: bool,
    /// A JSON object replacing the metadata.
    #[arg(long, value_parser = json_object, value_name = "JSON")]
    pub(crate) metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// The store to copy from (`sqlite:PATH`, `postgres://…`, `redis://…`). Its tokens are
    /// only read, but opening it brings its schema up to this version's, as a server of this
    /// version would: upgrade its servers first.
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,
    /// The store to copy to; a SQLite file that does not exist is made.
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// The target's PostgreSQL schema, if not --schema's.
    #[arg(long, value_name = "SCHEMA")]
    pub(crate) to_schema: Option<String>,
    /// The target's Redis key prefix, if not --prefix's.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) to_prefix: Option<String>,
    /// Delete from the target the tokens the source does not hold.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Then read every record back from the target and compare (exit 1 if any differs).
    #[arg(long)]
    pub(crate) verify: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file: JSON lines (`.jsonl`) or CSV with a header row (`.csv`); `-` for standard
    /// input (with --format).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The file's format, if its name does not say.
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
    /// What to do with a line whose token is in the store already: skip it (so that a run
    /// cut short is finished by running it again), or stop there.
    #[arg(long, value_enum, default_value_t = Conflict::Skip)]
    pub(crate) on_conflict: Conflict,
    /// Check every line, and what the store holds, without writing anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// An import file's format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// One JSON object a line.
    Jsonl,
    /// A header row naming the columns, then a row a token.
    Csv,
}

/// An import line whose token is in the store already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Conflict {
    /// Skip it, and say so in the summary.
    Skip,
    /// Stop the import there (exit 1).
    Fail,
}

/// A token's status, as the admin API names it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Status {
    Active,
    Inactive,
}

impl From<Status> for TokenStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => TokenStatus::Active,
            Status::Inactive => TokenStatus::Inactive,
        }
    }
}

fn rfc3339(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|err| format!("an RFC 3339 time such as 2027-01-31T00:00:00Z ({err})"))
}

fn json_object(value: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("a JSON object, such as '{\"ticket\": \"OPS-12\"}'".to_owned()),
        Err(err) => Err(format!("a JSON object ({err})")),
    }
}
