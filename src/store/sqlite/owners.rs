//! The owners' settings: a row of `<prefix>owners` for each owner that has any.

use rusqlite::{Connection, Transaction};

use super::row::owner_settings_from_row;
use super::sql::Sql;
use super::{driver_error, log_change};
use crate::limit::OwnerSettings;
use crate::store::{StoreError, rate_columns};

/// The settings of `owner`: the default when it has no row.
pub(super) fn read(conn: &Connection, sql: &Sql, owner: &str) -> Result<OwnerSettings, StoreError> {
    let mut statement = conn.prepare_cached(&sql.owner_settings).map_err(driver_error)?;
    let mut rows = statement.query([owner]).map_err(driver_error)?;
    match rows.next().map_err(driver_error)? {
        Some(row) => owner_settings_from_row(owner, row),
        None => Ok(OwnerSettings::default()),
    }
}

/// Replaces the settings of `owner` (empty ones delete its row), and logs a change of every
/// token of the owner, whatever its status, so that every process's cache reads them again
/// with the new settings. In the caller's transaction.
pub(super) fn write(tx: &Transaction<'_>, sql: &Sql, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
    // Every field, so that one added to the settings cannot be forgotten here.
    let OwnerSettings { rate_limit } = *settings;
    if settings.is_empty() {
        tx.execute(&sql.delete_owner, [owner]).map_err(driver_error)?;
    } else {
        let [limit, period, burst] = rate_columns::to_columns(rate_limit);
        tx.execute(&sql.put_owner, (owner, limit, period, burst))
            .map_err(driver_error)?;
    }
    let ids = {
        let mut statement = tx.prepare_cached(&sql.owner_tokens).map_err(driver_error)?;
        let rows = statement
            .query_map([owner], |row| row.get::<_, String>(0))
            .map_err(driver_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(driver_error)?
    };
    for id in &ids {
        log_change(tx, sql, id)?;
    }
    Ok(())
}
