//! What the commands print: a record as the admin API shows it ([`TokenRecord::view`]), as a
//! table for people or as JSON for scripts, and the one place a secret is printed.

use comfy_table::{Table, presets};
use serde_json::{Value, json};
use tollgate::{Secret, TokenRecord};

/// A record's fields, in the order a person reads them.
const FIELDS: [&str; 14] = [
    "id",
    "name",
    "kind",
    "status",
    "scopes",
    "owner",
    "expires_at",
    "created_at",
    "updated_at",
    "last_used_at",
    "revoked_at",
    "created_by",
    "rate_limit",
    "metadata",
];

/// The columns of a list.
const COLUMNS: [&str; 8] = [
    "id",
    "name",
    "kind",
    "status",
    "scopes",
    "owner",
    "expires_at",
    "last_used_at",
];

/// A record as the admin API shows it: every field but the secret's hashes.
pub(crate) fn view(record: &TokenRecord) -> Value {
    serde_json::to_value(record.view()).expect("a record view is plain JSON")
}

/// Prints one JSON document.
pub(crate) fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

/// One record: as a two-column table, or its view.
pub(crate) fn record(record: &TokenRecord, json: bool) {
    if json {
        return print_json(&view(record));
    }
    let view = view(record);
    let mut table = plain_table();
    for field in FIELDS {
        table.add_row(vec![field.to_owned(), cell(&view[field])]);
    }
    println!("{}", render(table));
}

/// A token just made (created or rotated): the whole token, marked as shown once, and its
/// record. The only path by which a secret reaches the output.
pub(crate) fn issued(record: &TokenRecord, token: &Secret, json: bool) {
    if json {
        let mut value = view(record);
        value["token"] = json!(token.expose());
        return print_json(&value);
    }
    println!("Token (shown once: store it now, it cannot be shown again):");
    println!("{}", token.expose());
    println!();
    self::record(record, false);
}

/// Records as a table with one row each, for a list.
pub(crate) fn records_table(records: &[TokenRecord]) {
    if records.is_empty() {
        println!("No tokens.");
        return;
    }
    let mut table = plain_table();
    table.set_header(COLUMNS.iter().map(|column| column.to_ascii_uppercase()));
    for record in records {
        let view = view(record);
        table.add_row(COLUMNS.iter().map(|column| cell(&view[*column])));
    }
    println!("{}", render(table));
}

/// Columns apart by spaces, no borders: what `grep` and `awk` read as easily as people do.
fn plain_table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table
}

/// The table's text, its columns two spaces apart (once the rows say how many there are).
fn render(mut table: Table) -> String {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A field's value in a cell: `-` for none, scopes joined by spaces, objects as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(" "),
        Value::Object(map) if map.is_empty() => "-".to_owned(),
        other => other.to_string(),
    }
}
