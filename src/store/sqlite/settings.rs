//! The store's own settings, a row of `<prefix>settings` each: the pepper fingerprint.

use rusqlite::{Connection, OptionalExtension as _};

use super::driver_error;
use super::sql::Sql;
use crate::store::StoreError;

/// The name of the pepper fingerprint's row.
pub(super) const PEPPER: &str = "pepper_fingerprint";

/// The setting's value, if it has one.
pub(super) fn read(conn: &Connection, sql: &Sql, name: &str) -> Result<Option<String>, StoreError> {
    conn.query_row(&sql.setting, [name], |row| row.get(0))
        .optional()
        .map_err(driver_error)
}

/// Records `value` unless the setting has one, in one write transaction; the value it has
/// after.
pub(super) fn claim(conn: &mut Connection, sql: &Sql, name: &str, value: &str) -> Result<String, StoreError> {
    let tx = super::immediate(conn)?;
    tx.execute(&sql.claim_setting, [name, value]).map_err(driver_error)?;
    let held = tx
        .query_row(&sql.setting, [name], |row| row.get(0))
        .map_err(driver_error)?;
    tx.commit().map_err(driver_error)?;
    Ok(held)
}
