//! [`RecordView`]: what a client may see of a token's record.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::limit::RateLimit;
use crate::record::{TokenRecord, TokenStatus};

/// A token's record as a client may see it: every field but the secret's hashes, shown as
/// the admin API shows a record (behaviour §3.1).
///
/// Serializing a [`TokenRecord`] itself includes the hashes of its current and previous
/// secrets, which a store needs and a client must not get. An "API tokens" page of your
/// own app serializes [`TokenRecord::view`] instead:
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{ListQuery, MemoryStore, NewToken, TokenManager, TokenRecord, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
/// let mine = tokens.owned_by("user-42");
/// mine.create(NewToken::new("laptop")).await?;
///
/// // What a settings page sends to the browser: the user's tokens, without their hashes.
/// let page = mine.list(&ListQuery::new(20)).await?;
/// let views: Vec<_> = page.records.iter().map(TokenRecord::view).collect();
/// let json = serde_json::to_value(&views).unwrap();
/// assert_eq!(json[0]["name"], "laptop");
/// assert_eq!(json[0]["owner"], "user-42");
/// assert!(json[0].get("secret_hash").is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct RecordView<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    scopes: &'a [String],
    status: TokenStatus,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    metadata: &'a Map<String, Value>,
    owner: Option<&'a str>,
    rate_limit: Option<RateLimit>,
    created_by: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// This record as a client may see it: every field but the secret's hashes. See
    /// [`RecordView`].
    #[must_use]
    pub fn view(&self) -> RecordView<'_> {
        // Every field, so that one added to the record is shown, or said not to be.
        let TokenRecord {
            id,
            name,
            kind,
            scopes,
            status,
            created_at,
            expires_at,
            last_used_at,
            metadata,
            owner,
            rate_limit,
            created_by,
            updated_at,
            revoked_at,
            // Never to a client.
            secret_hash: _,
            previous_secret: _,
        } = self;
        RecordView {
            id,
            name,
            kind,
            scopes,
            status: *status,
            created_at: *created_at,
            expires_at: *expires_at,
            last_used_at: *last_used_at,
            metadata,
            owner: owner.as_deref(),
            rate_limit: *rate_limit,
            created_by: created_by.as_deref(),
            updated_at: *updated_at,
            revoked_at: *revoked_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use crate::hash::SecretHasher;
    use crate::limit::RateLimit;
    use crate::record::{PreviousSecret, TokenRecord};

    #[test]
    fn a_view_shows_every_field_of_a_record_but_its_hashes() {
        let current = SecretHasher::Sha256.hash(b"the current secret");
        let previous = SecretHasher::Sha256.hash(b"the previous secret");
        let record = TokenRecord::new("tok1", "laptop", current)
            .with_scopes(["b", "a"])
            .with_kind("personal")
            .with_owner(Some("user-42".to_owned()))
            .with_rate_limit(Some(RateLimit::from_parts(100, 60, 20).unwrap()))
            .with_previous_secret(Some(PreviousSecret {
                hash: previous,
                valid_until: OffsetDateTime::now_utc() + time::Duration::hours(1),
            }));
        let json = serde_json::to_value(record.view()).unwrap();

        // behaviour §3.1: the fields of a record, and no other.
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = "id name kind scopes status created_at expires_at \
            last_used_at metadata owner rate_limit created_by updated_at revoked_at"
            .split_whitespace()
            .collect();
        expected.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(json["owner"], "user-42");
        assert_eq!(
            json["rate_limit"],
            serde_json::json!({"limit": 100, "period": 60, "burst": 20})
        );
        let unlimited = TokenRecord::new("tok2", "laptop", current);
        assert_eq!(
            serde_json::to_value(unlimited.view()).unwrap()["rate_limit"],
            serde_json::Value::Null
        );
        assert_eq!(json["scopes"], serde_json::json!(["a", "b"]));

        // Neither hash, in any form the record's own serialization uses.
        let text = json.to_string();
        for hash in [current, previous] {
            assert!(!text.contains(&hash.to_hex()), "a hash in {text}");
        }
        assert!(serde_json::to_string(&record).unwrap().contains(&current.to_hex()));
    }
}
