//! One line of an import file read into what the manager needs: JSON lines (one object a
//! line) or CSV with a header row naming the same columns.
//!
//! A line's values are read by hand, not by a deserializer, so that no message about a bad
//! line can quote its secret: every message names the field and the rule, never a value.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tollgate::{NewToken, Secret};

/// The columns a line may have.
pub(crate) const COLUMNS: [&str; 9] = [
    "id",
    "secret",
    "secret_sha256",
    "name",
    "scopes",
    "owner",
    "expires_at",
    "metadata",
    "kind",
];

/// The name of a token whose line gives none.
pub(crate) const DEFAULT_NAME: &str = "imported";

/// What a line imports: the token's settings, and its secret or the secret's SHA-256.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) new: NewToken,
    /// The id the line names, if any.
    pub(crate) id: Option<String>,
    pub(crate) secret: Given,
}

/// How the line gives the secret.
#[derive(Debug)]
pub(crate) enum Given {
    Secret(Secret),
    Sha256([u8; 32]),
}

/// Why a line cannot be imported: the field (or `line`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) field: String,
    pub(crate) rule: String,
}

impl Refusal {
    pub(crate) fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// The values of one line, by column, before their rules are checked.
#[derive(Debug, Default)]
struct Fields {
    id: Option<String>,
    secret: Option<String>,
    secret_sha256: Option<String>,
    name: Option<String>,
    scopes: Vec<String>,
    owner: Option<String>,
    expires_at: Option<String>,
    metadata: Option<Map<String, Value>>,
    kind: Option<String>,
}

/// A JSON line: one object with the columns as keys (`scopes` an array, `metadata` an
/// object); `null` is the same as absent.
pub(crate) fn from_json(text: &str) -> Result<Entry, Refusal> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Err(Refusal::new("line", "must be one JSON object"));
    };
    let mut fields = Fields::default();
    for (key, value) in object {
        if !COLUMNS.contains(&key.as_str()) {
            return Err(unknown(&key));
        }
        if value.is_null() {
            continue;
        }
        let text = |value: Value| match value {
            Value::String(text) => Ok(text),
            _ => Err(Refusal::new(key.clone(), "must be a string")),
        };
        match key.as_str() {
            "id" => fields.id = Some(text(value)?),
            "secret" => fields.secret = Some(text(value)?),
            "secret_sha256" => fields.secret_sha256 = Some(text(value)?),
            "name" => fields.name = Some(text(value)?),
            "owner" => fields.owner = Some(text(value)?),
            "expires_at" => fields.expires_at = Some(text(value)?),
            "kind" => fields.kind = Some(text(value)?),
            "scopes" => {
                let Value::Array(items) = value else {
                    return Err(Refusal::new("scopes", "must be an array of strings"));
                };
                for item in items {
                    match item {
                        Value::String(scope) => fields.scopes.push(scope),
                        _ => return Err(Refusal::new("scopes", "must be an array of strings")),
                    }
                }
            }
            "metadata" => match value {
                Value::Object(map) => fields.metadata = Some(map),
                _ => return Err(Refusal::new("metadata", "must be a JSON object")),
            },
            _ => return Err(unknown(&key)),
        }
    }
    fields.entry()
}

/// A CSV row under `header`: `scopes` space-separated, `metadata` a JSON object's text; an
/// empty cell is the same as absent.
pub(crate) fn from_csv(header: &csv::StringRecord, row: &csv::StringRecord) -> Result<Entry, Refusal> {
    let mut fields = Fields::default();
    for (column, cell) in header.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        let cell = cell.to_owned();
        match column {
            "id" => fields.id = Some(cell),
            "secret" => fields.secret = Some(cell),
            "secret_sha256" => fields.secret_sha256 = Some(cell),
            "name" => fields.name = Some(cell),
            "owner" => fields.owner = Some(cell),
            "expires_at" => fields.expires_at = Some(cell),
            "kind" => fields.kind = Some(cell),
            "scopes" => fields.scopes = cell.split_ascii_whitespace().map(str::to_owned).collect(),
            "metadata" => match serde_json::from_str(&cell) {
                Ok(Value::Object(map)) => fields.metadata = Some(map),
                _ => return Err(Refusal::new("metadata", "must be a JSON object's text")),
            },
            _ => return Err(unknown(column)),
        }
    }
    fields.entry()
}

/// A header row's columns are all known (checked once, before any row).
pub(crate) fn check_header(header: &csv::StringRecord) -> Result<(), Refusal> {
    match header.iter().find(|column| !COLUMNS.contains(column)) {
        Some(column) => Err(unknown(column)),
        None => Ok(()),
    }
}

/// A key or column that is none of [`COLUMNS`], named only if it looks like a column's
/// name: a data row taken for a header (or a value taken for a key) may hold a secret.
fn unknown(column: &str) -> Refusal {
    let named = (1..=32).contains(&column.len()) && column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let rule = format!("is not a column; the columns are {}", COLUMNS.join(", "));
    if named {
        Refusal::new(column, rule)
    } else {
        Refusal::new(
            "a column",
            format!("{rule} (a CSV file's first row must name its columns)"),
        )
    }
}

impl Fields {
    fn entry(self) -> Result<Entry, Refusal> {
        let secret = match (self.secret, self.secret_sha256) {
            (Some(secret), None) => Given::Secret(Secret::new(secret)),
            (None, Some(hex)) => Given::Sha256(sha256(&hex)?),
            (Some(_), Some(_)) => return Err(Refusal::new("secret", "give secret or secret_sha256, not both")),
            (None, None) => return Err(Refusal::new("secret", "is required (or secret_sha256)")),
        };
        let mut new = NewToken::new(self.name.unwrap_or_else(|| DEFAULT_NAME.to_owned())).scopes(self.scopes);
        if let Some(id) = &self.id {
            new = new.id(id.clone());
        }
        if let Some(owner) = self.owner {
            new = new.owner(owner);
        }
        if let Some(kind) = self.kind {
            new = new.kind(kind);
        }
        if let Some(metadata) = self.metadata {
            new = new.metadata(metadata);
        }
        if let Some(at) = self.expires_at {
            let at = OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Refusal::new("expires_at", "must be an RFC 3339 time, such as 2027-01-31T00:00:00Z"))?;
            new = new.expires_at(at);
        }
        Ok(Entry {
            new,
            id: self.id,
            secret,
        })
    }
}

/// 64 hex digits.
fn sha256(hex: &str) -> Result<[u8; 32], Refusal> {
    let refused = || Refusal::new("secret_sha256", "must be 64 hex digits (a SHA-256)");
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return Err(refused());
    }
    let digit = |byte: u8| (byte as char).to_digit(16).ok_or_else(refused);
    let mut bytes = [0; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let (high, low) = (digit(pair[0])?, digit(pair[1])?);
        bytes[i] = u8::try_from(high * 16 + low).expect("two hex digits make a byte");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(line: &str) -> Refusal {
        from_json(line).expect_err("refused")
    }

    #[test]
    fn a_json_line_reads_every_column() {
        let line = r#"{"id": "acct42", "secret": "Zq8vN2xLk4pW7tRb0YcH3mJf", "name": "n", "scopes": ["a", "b"], "owner": "o", "expires_at": "2099-01-31T00:00:00Z", "metadata": {"k": 1}, "kind": null}"#;
        let entry = from_json(line).unwrap();
        assert_eq!(entry.id.as_deref(), Some("acct42"));
        assert!(matches!(entry.secret, Given::Secret(_)));
    }

    #[test]
    fn a_bad_line_names_the_field_and_never_the_secret() {
        let secret = "Zq8vN2xLk4pW7tRb0YcH3mJf";
        for (line, field) in [
            ("not json", "line"),
            ("[1]", "line"),
            (r#"{"name": "n"}"#, "secret"),
            (r#"{"secret": 42}"#, "secret"),
            (r#"{"secret": "Zq8vN2xLk4pW7tRb0YcH3mJf", "scopes": "a b"}"#, "scopes"),
            (r#"{"secret": "Zq8vN2xLk4pW7tRb0YcH3mJf", "secrte": "x"}"#, "secrte"),
            (
                r#"{"secret": "Zq8vN2xLk4pW7tRb0YcH3mJf", "expires_at": "tomorrow"}"#,
                "expires_at",
            ),
            (r#"{"secret_sha256": "abc"}"#, "secret_sha256"),
            (
                r#"{"secret": "Zq8vN2xLk4pW7tRb0YcH3mJf", "secret_sha256": "00"}"#,
                "secret",
            ),
        ] {
            let refused = refusal(line);
            assert_eq!(refused.field, field, "{line}");
            assert!(!format!("{refused:?}").contains(secret), "{line}");
        }
    }

    #[test]
    fn a_sha256_is_64_hex_digits() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(sha256(hex).unwrap()[..2], [0x9f, 0x86]);
        assert_eq!(sha256(&hex.to_uppercase()).unwrap(), sha256(hex).unwrap());
        assert!(sha256(&hex[1..]).is_err());
        assert!(sha256(&hex.replace('9', "g")).is_err());
    }

    #[test]
    fn a_csv_row_splits_scopes_and_reads_metadata() {
        let header = csv::StringRecord::from(vec!["id", "secret", "scopes", "metadata", "owner"]);
        check_header(&header).unwrap();
        let row = csv::StringRecord::from(vec![
            "acct42",
            "Zq8vN2xLk4pW7tRb0YcH3mJf",
            "read  write",
            r#"{"a": 1}"#,
            "",
        ]);
        let entry = from_csv(&header, &row).unwrap();
        assert_eq!(entry.id.as_deref(), Some("acct42"));
        let bad = csv::StringRecord::from(vec!["acct42", "Zq8vN2xLk4pW7tRb0YcH3mJf", "", "[1]", ""]);
        assert_eq!(from_csv(&header, &bad).unwrap_err().field, "metadata");
        let unknown = csv::StringRecord::from(vec!["id", "token"]);
        assert_eq!(check_header(&unknown).unwrap_err().field, "token");
    }
}
