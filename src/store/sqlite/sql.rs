//! The store's SQL, written once per store for its table prefix.

/// The tables of one store, and every statement that names them.
pub(super) struct Sql {
    pub(super) tokens: String,
    pub(super) secrets: String,
    pub(super) versions: String,
    pub(super) owners: String,
    /// The store's own settings (the pepper fingerprint), by name.
    pub(super) settings: String,
    pub(super) setting: String,
    pub(super) claim_setting: String,
    /// One row per token, its current and previous secret joined in: the columns
    /// [`record_from_row`](super::row::record_from_row) reads. Filters are appended.
    pub(super) select_record: String,
    pub(super) get: String,
    pub(super) find_by_hash: String,
    pub(super) record_use: String,
    pub(super) insert_token: String,
    pub(super) insert_secret: String,
    pub(super) update: String,
    pub(super) delete_secrets: String,
    pub(super) delete_token: String,
    pub(super) secret_taken: String,
    pub(super) revoke_owner: String,
    pub(super) owner_settings: String,
    pub(super) put_owner: String,
    pub(super) delete_owner: String,
    pub(super) owner_tokens: String,
    pub(super) changes: String,
    pub(super) log_change: String,
    pub(super) trim_changes: String,
    pub(super) latest_change: String,
    pub(super) oldest_change: String,
    pub(super) changes_since: String,
}

impl Sql {
    /// The statements for tables named `<prefix>tokens`, `<prefix>token_secrets`,
    /// `<prefix>changes`, `<prefix>owners`, `<prefix>settings` and `<prefix>schema_version`. The prefix is
    /// checked by the builder: letters, digits and underscores, so it needs no quoting.
    pub(super) fn new(prefix: &str) -> Self {
        let tokens = format!("{prefix}tokens");
        let secrets = format!("{prefix}token_secrets");
        let changes = format!("{prefix}changes");
        let owners = format!("{prefix}owners");
        let settings = format!("{prefix}settings");
        let select_record = format!(
            "SELECT t.id, t.name, t.kind, t.scopes, t.status, t.created_at, t.expires_at, t.last_used_at, \
             t.metadata, cur.hash, prev.hash, prev.valid_until, t.owner, t.created_by, t.updated_at, t.revoked_at, \
             t.rate_limit_limit, t.rate_limit_period, t.rate_limit_burst \
             FROM {tokens} AS t \
             LEFT JOIN {secrets} AS cur ON cur.token_id = t.id AND cur.role = 'current' \
             LEFT JOIN {secrets} AS prev ON prev.token_id = t.id AND prev.role = 'previous'"
        );
        Self {
            setting: format!("SELECT value FROM {settings} WHERE name = ?1"),
            claim_setting: format!(
                "INSERT INTO {settings} (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING"
            ),
            settings,
            get: format!("{select_record} WHERE t.id = ?1"),
            find_by_hash: format!(
                "{select_record} WHERE t.id = (SELECT token_id FROM {secrets} \
                 WHERE hash = ?1 AND (role = 'current' OR valid_until > ?2))"
            ),
            // Reports arrive out of order: never move the time back.
            record_use: format!(
                "UPDATE {tokens} SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)"
            ),
            insert_token: format!(
                "INSERT INTO {tokens} (id, name, kind, scopes, status, created_at, expires_at, last_used_at, metadata, \
                 owner, created_by, updated_at, revoked_at, rate_limit_limit, rate_limit_period, rate_limit_burst) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ),
            insert_secret: format!("INSERT INTO {secrets} (hash, token_id, role, valid_until) VALUES (?1, ?2, ?3, ?4)"),
            // Every column a change can touch (see `update_token`).
            update: format!(
                "UPDATE {tokens} SET name = ?2, kind = ?3, scopes = ?4, status = ?5, expires_at = ?6, metadata = ?7, \
                 owner = ?8, updated_at = ?9, revoked_at = ?10, rate_limit_limit = ?11, rate_limit_period = ?12, \
                 rate_limit_burst = ?13 WHERE id = ?1"
            ),
            delete_secrets: format!("DELETE FROM {secrets} WHERE token_id = ?1"),
            delete_token: format!("DELETE FROM {tokens} WHERE id = ?1"),
            secret_taken: format!("SELECT 1 FROM {secrets} WHERE hash = ?1"),
            // `Revocation`'s values, for the owner's tokens it applies to.
            revoke_owner: format!(
                "UPDATE {tokens} SET status = ?3, revoked_at = ?4, updated_at = ?5 \
                 WHERE owner = ?1 AND status = ?2 RETURNING id"
            ),
            owner_settings: format!(
                "SELECT rate_limit_limit, rate_limit_period, rate_limit_burst FROM {owners} WHERE owner = ?1"
            ),
            put_owner: format!(
                "INSERT INTO {owners} (owner, rate_limit_limit, rate_limit_period, rate_limit_burst) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner) DO UPDATE SET rate_limit_limit = excluded.rate_limit_limit, \
                 rate_limit_period = excluded.rate_limit_period, rate_limit_burst = excluded.rate_limit_burst"
            ),
            delete_owner: format!("DELETE FROM {owners} WHERE owner = ?1"),
            // Every token of the owner, whatever its status.
            owner_tokens: format!("SELECT id FROM {tokens} WHERE owner = ?1"),
            log_change: format!("INSERT INTO {changes} (token_id) VALUES (?1)"),
            trim_changes: format!(
                "DELETE FROM {changes} WHERE seq <= (SELECT max(seq) FROM {changes}) - {}",
                super::changes::KEPT
            ),
            latest_change: format!("SELECT coalesce(max(seq), 0) FROM {changes}"),
            oldest_change: format!("SELECT min(seq) FROM {changes}"),
            changes_since: format!("SELECT seq, token_id FROM {changes} WHERE seq > ?1 ORDER BY seq"),
            changes,
            versions: format!("{prefix}schema_version"),
            owners,
            select_record,
            tokens,
            secrets,
        }
    }
}
