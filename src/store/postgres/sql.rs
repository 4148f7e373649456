//! The store's SQL, written once per store for its schema.

/// Every statement of one store, with its schema's name in them.
pub(super) struct Sql {
    /// The schema, quoted.
    pub(super) schema: String,
    /// The NOTIFY channel of the schema's changes.
    pub(super) channel: String,
    /// One row per token with its current and previous secret: the columns
    /// [`record_from_row`](super::row::record_from_row) reads. Filters are appended.
    pub(super) select_record: String,
    pub(super) get: String,
    pub(super) get_for_update: String,
    pub(super) find_by_hash: String,
    pub(super) record_use: String,
    pub(super) insert_token: String,
    pub(super) insert_secret: String,
    pub(super) update: String,
    pub(super) delete_token: String,
    pub(super) delete_secrets: String,
    pub(super) secret_taken: String,
    pub(super) revoke_owner: String,
    pub(super) owner_settings: String,
    pub(super) put_owner: String,
    pub(super) delete_owner: String,
    /// One notification per token of an owner, whatever its status.
    pub(super) notify_owner: String,
    pub(super) notify: &'static str,
    /// One notification per id of an array, in one round trip.
    pub(super) notify_all: &'static str,
}

impl Sql {
    /// The statements for tables in `schema`, which the builder has checked to be
    /// lower-case letters, digits and underscores.
    pub(super) fn new(schema: &str) -> Self {
        let q = format!("\"{schema}\"");
        let select_record = format!(
            "SELECT t.id, t.name, t.kind, t.scopes, t.status, t.created_at, t.expires_at, t.last_used_at, \
             t.metadata::text, cur.hash, prev.hash, prev.valid_until, t.owner, t.created_by, t.updated_at, t.revoked_at, \
             t.rate_limit_limit, t.rate_limit_period, t.rate_limit_burst \
             FROM {q}.tokens AS t \
             LEFT JOIN {q}.token_secrets AS cur ON cur.token_id = t.id AND cur.role = 'current' \
             LEFT JOIN {q}.token_secrets AS prev ON prev.token_id = t.id AND prev.role = 'previous'"
        );
        Self {
            channel: format!("tollgate_{schema}"),
            get: format!("{select_record} WHERE t.id = $1"),
            get_for_update: format!("{select_record} WHERE t.id = $1 FOR UPDATE OF t"),
            find_by_hash: format!(
                "{select_record} WHERE t.id = (SELECT token_id FROM {q}.token_secrets \
                 WHERE hash = $1 AND (role = 'current' OR valid_until > $2))"
            ),
            // One statement for the whole batch; an id reported twice counts once, at its
            // latest; a time never moves back.
            record_use: format!(
                "UPDATE {q}.tokens AS t SET last_used_at = u.at \
                 FROM (SELECT id, max(at) AS at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) GROUP BY id) AS u \
                 WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)"
            ),
            insert_token: format!(
                "INSERT INTO {q}.tokens (id, name, kind, scopes, status, created_at, expires_at, last_used_at, metadata, \
                 owner, created_by, updated_at, revoked_at, rate_limit_limit, rate_limit_period, rate_limit_burst) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::json, $10, $11, $12, $13, $14, $15, $16)"
            ),
            insert_secret: format!(
                "INSERT INTO {q}.token_secrets (hash, token_id, role, valid_until) VALUES ($1, $2, $3, $4)"
            ),
            // Every column a change can touch (see `update_token`).
            update: format!(
                "UPDATE {q}.tokens SET name = $2, kind = $3, scopes = $4, status = $5, expires_at = $6, \
                 metadata = $7::text::json, owner = $8, updated_at = $9, revoked_at = $10, rate_limit_limit = $11, \
                 rate_limit_period = $12, rate_limit_burst = $13 WHERE id = $1"
            ),
            delete_secrets: format!("DELETE FROM {q}.token_secrets WHERE token_id = $1"),
            delete_token: format!("DELETE FROM {q}.tokens WHERE id = $1"),
            secret_taken: format!("SELECT 1 FROM {q}.token_secrets WHERE hash = $1"),
            // `Revocation`'s values, for the owner's tokens it applies to.
            revoke_owner: format!(
                "UPDATE {q}.tokens SET status = $3, revoked_at = $4, updated_at = $5 \
                 WHERE owner = $1 AND status = $2 RETURNING id"
            ),
            owner_settings: format!(
                "SELECT rate_limit_limit, rate_limit_period, rate_limit_burst FROM {q}.owners WHERE owner = $1"
            ),
            put_owner: format!(
                "INSERT INTO {q}.owners (owner, rate_limit_limit, rate_limit_period, rate_limit_burst) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (owner) DO UPDATE SET rate_limit_limit = EXCLUDED.rate_limit_limit, \
                 rate_limit_period = EXCLUDED.rate_limit_period, rate_limit_burst = EXCLUDED.rate_limit_burst"
            ),
            delete_owner: format!("DELETE FROM {q}.owners WHERE owner = $1"),
            notify_owner: format!("SELECT pg_notify($1, id) FROM {q}.tokens WHERE owner = $2"),
            notify: "SELECT pg_notify($1, $2)",
            notify_all: "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id",
            select_record,
            schema: q,
        }
    }

    /// A page of records: the query's filters, in id order, one more than its limit to tell
    /// whether another page follows. Parameters in order: after, status, scope, owner,
    /// limit, for the filters present.
    pub(super) fn list(&self, query: &super::ListQuery) -> String {
        let mut filters = Vec::new();
        let mut n = 0;
        let mut param = || {
            n += 1;
            n
        };
        if query.after.is_some() {
            filters.push(format!("t.id > ${}", param()));
        }
        if query.status.is_some() {
            filters.push(format!("t.status = ${}", param()));
        }
        if query.scope.is_some() {
            filters.push(format!("${} = ANY (t.scopes)", param()));
        }
        if query.owner.is_some() {
            filters.push(format!("t.owner = ${}", param()));
        }
        let mut sql = self.select_record.clone();
        if !filters.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&filters.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY t.id LIMIT ${}", param()));
        sql
    }
}
