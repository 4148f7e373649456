//! The schema, and the forward migrations that build it when a store opens.

use deadpool_postgres::Client;

use super::row::pg_error;
use super::sql::Sql;
use crate::store::StoreError;

/// The migrations, in order: running the one at index `i` brings the schema to version
/// `i + 1`. Append only: a released migration is never edited. `{s}` stands for the
/// quoted schema.
///
/// Ids compare bytewise (`COLLATE "C"`), as keyset paging promises whatever the database's
/// collation. Secret hashes live in their own table so that one primary key covers current
/// and previous (grace) secrets alike: no two tokens can hold the same hash, in whatever
/// role, and the database enforces it for every replica that writes. The constraints are
/// named, because the store tells a duplicate id from a duplicate secret by name.
const MIGRATIONS: &[&str] = &[
    // 1: tokens and their secrets.
    r#"CREATE TABLE {s}.tokens (
        id           text COLLATE "C" NOT NULL,
        name         text NOT NULL,
        kind         text NOT NULL,
        scopes       text[] NOT NULL,
        status       text NOT NULL,
        created_at   timestamptz NOT NULL,
        expires_at   timestamptz,
        last_used_at timestamptz,
        metadata     json NOT NULL,
        CONSTRAINT tokens_pkey PRIMARY KEY (id),
        CONSTRAINT tokens_status CHECK (status IN ('active', 'inactive'))
    );
    CREATE INDEX tokens_scopes ON {s}.tokens USING gin (scopes);
    CREATE TABLE {s}.token_secrets (
        hash        bytea NOT NULL,
        token_id    text COLLATE "C" NOT NULL REFERENCES {s}.tokens (id) ON DELETE CASCADE,
        role        text NOT NULL,
        valid_until timestamptz,
        CONSTRAINT token_secrets_pkey PRIMARY KEY (hash),
        CONSTRAINT token_secrets_role UNIQUE (token_id, role),
        CONSTRAINT token_secrets_hash_length CHECK (length(hash) = 32),
        CONSTRAINT token_secrets_roles CHECK (role IN ('current', 'previous')),
        CONSTRAINT token_secrets_grace CHECK ((role = 'current') = (valid_until IS NULL))
    );"#,
    // 2: owners and audit fields; a token from before has no owner, and was last changed
    // when it was created (as far as anyone knows).
    r#"ALTER TABLE {s}.tokens
        ADD COLUMN owner text,
        ADD COLUMN created_by text,
        ADD COLUMN updated_at timestamptz,
        ADD COLUMN revoked_at timestamptz;
    UPDATE {s}.tokens SET updated_at = created_at;
    ALTER TABLE {s}.tokens ALTER COLUMN updated_at SET NOT NULL;
    CREATE INDEX tokens_by_owner ON {s}.tokens (owner, id);"#,
    // 3: rate limits, of a token and of an owner for all its tokens: three numbers (bigint,
    // as a limit may be up to 2^32 - 1), all null for none (`rate_columns.rs`). Tokens from
    // before have none, nor has any owner.
    r#"ALTER TABLE {s}.tokens
        ADD COLUMN rate_limit_limit bigint,
        ADD COLUMN rate_limit_period bigint,
        ADD COLUMN rate_limit_burst bigint;
    CREATE TABLE {s}.owners (
        owner             text NOT NULL,
        rate_limit_limit  bigint,
        rate_limit_period bigint,
        rate_limit_burst  bigint,
        CONSTRAINT owners_pkey PRIMARY KEY (owner)
    );"#,
    // 4: the store's own settings: the fingerprint of the pepper its secrets are hashed
    // under (`settings.rs`), recorded by the first process to use it.
    r#"CREATE TABLE {s}.settings (
        name  text NOT NULL,
        value text NOT NULL,
        CONSTRAINT settings_pkey PRIMARY KEY (name)
    );"#,
];

/// The schema version this code writes and reads.
pub(super) const LATEST: i32 = MIGRATIONS.len() as i32;

/// Creates the schema if need be and brings it up to [`LATEST`], in one transaction that
/// first takes an advisory lock named for the schema: replicas that start together take
/// turns (`CREATE … IF NOT EXISTS` alone fails with a unique violation when two
/// transactions race), and each finds what the one before it did.
///
/// # Errors
/// [`StoreError::Corrupt`] when the schema was written by a newer tollgate;
/// [`StoreError::Unavailable`] when the database fails, or refuses (no right to create the
/// schema, say).
pub(super) async fn migrate(client: &mut Client, sql: &Sql) -> Result<(), StoreError> {
    let s = &sql.schema;
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("tollgate migrations {s}")],
    )
    .await
    .map_err(pg_error)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg_error)?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    if current > LATEST {
        return Err(StoreError::Corrupt(format!(
            "schema {s} is at version {current}, newer than this tollgate supports ({LATEST}): upgrade tollgate"
        )));
    }
    for (version, migration) in (1..).zip(MIGRATIONS).skip_while(|(version, _)| *version <= current) {
        tx.batch_execute(&migration.replace("{s}", s)).await.map_err(pg_error)?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(schema = %s, version, "applied a tollgate migration");
    }
    tx.commit().await.map_err(pg_error)
}
