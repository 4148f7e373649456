//! The store's own settings, a row of `settings` each: the pepper fingerprint.

use deadpool_postgres::GenericClient;

use super::row::pg_error;
use super::sql::Sql;
use crate::store::StoreError;

/// The name of the pepper fingerprint's row.
pub(super) const PEPPER: &str = "pepper_fingerprint";

/// The setting's value, if it has one.
pub(super) async fn read(client: &impl GenericClient, sql: &Sql, name: &str) -> Result<Option<String>, StoreError> {
    let select = format!("SELECT value FROM {}.settings WHERE name = $1", sql.schema);
    let row = client.query_opt(&select, &[&name]).await.map_err(pg_error)?;
    Ok(row.map(|row| row.get(0)))
}

/// Records `value` unless the setting has one (the primary key decides between two
/// processes at once), then reads what it has: a statement of its own, which sees the row
/// whichever process wrote it.
pub(super) async fn claim(
    client: &impl GenericClient,
    sql: &Sql,
    name: &str,
    value: &str,
) -> Result<String, StoreError> {
    let insert = format!(
        "INSERT INTO {}.settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        sql.schema
    );
    client.execute(&insert, &[&name, &value]).await.map_err(pg_error)?;
    read(client, sql, name)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("the setting {name} was recorded, then not found")))
}
