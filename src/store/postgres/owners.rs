//! The owners' settings: a row of `owners` for each owner that has any.

use deadpool_postgres::{GenericClient, Transaction};

use super::row::{owner_settings_from_row, pg_error};
use super::sql::Sql;
use crate::limit::OwnerSettings;
use crate::store::{StoreError, rate_columns};

/// The settings of `owner`: the default when it has no row.
pub(super) async fn read(client: &impl GenericClient, sql: &Sql, owner: &str) -> Result<OwnerSettings, StoreError> {
    let statement = client.prepare_cached(&sql.owner_settings).await.map_err(pg_error)?;
    match client.query_opt(&statement, &[&owner]).await.map_err(pg_error)? {
        Some(row) => owner_settings_from_row(owner, &row),
        None => Ok(OwnerSettings::default()),
    }
}

/// Replaces the settings of `owner` (empty ones delete its row), and notifies a change of
/// every token of the owner, whatever its status, so that every replica's cache reads them
/// again with the new settings once the caller's transaction commits.
pub(super) async fn write(
    tx: &Transaction<'_>,
    sql: &Sql,
    owner: &str,
    settings: &OwnerSettings,
) -> Result<(), StoreError> {
    // Every field, so that one added to the settings cannot be forgotten here.
    let OwnerSettings { rate_limit } = *settings;
    if settings.is_empty() {
        let delete = tx.prepare_cached(&sql.delete_owner).await.map_err(pg_error)?;
        tx.execute(&delete, &[&owner]).await.map_err(pg_error)?;
    } else {
        let [limit, period, burst] = rate_columns::to_columns(rate_limit);
        let put = tx.prepare_cached(&sql.put_owner).await.map_err(pg_error)?;
        tx.execute(&put, &[&owner, &limit, &period, &burst])
            .await
            .map_err(pg_error)?;
    }
    let notify = tx.prepare_cached(&sql.notify_owner).await.map_err(pg_error)?;
    tx.execute(&notify, &[&sql.channel, &owner]).await.map_err(pg_error)?;
    Ok(())
}
