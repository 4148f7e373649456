//! The rules every token's fields follow, whether they come from the admin API or from
//! Rust code: one home, so the two cannot drift. Each error names its field.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::ManageError;
use crate::token::{MAX_ID_LEN, TokenFormat};

pub(crate) const MAX_NAME_CHARS: usize = 128;
pub(crate) const MAX_KIND_CHARS: usize = 64;
pub(crate) const MAX_OWNER_CHARS: usize = 256;
pub(crate) const MAX_SCOPES: usize = 256;
pub(crate) const MAX_SCOPE_CHARS: usize = 128;
pub(crate) const MAX_METADATA_BYTES: usize = 4096;
/// The longest lifetime a token may be given: 100 years.
pub(crate) const MAX_EXPIRES_IN: Duration = Duration::seconds(100 * 366 * 24 * 3600);
/// The longest grace period a rotation may give the old secret: one year.
pub(crate) const MAX_GRACE: Duration = Duration::seconds(366 * 24 * 3600);
pub(crate) const MIN_SECRET_LEN: usize = 16;
pub(crate) const MAX_SECRET_LEN: usize = 512;
/// The fewest distinct characters an imported secret may have.
pub(crate) const MIN_SECRET_DISTINCT: usize = 16;
/// The least estimated strength of an imported secret, in bits (see [`strength_bits`]).
pub(crate) const MIN_SECRET_BITS: f64 = 80.0;

pub(crate) fn name(name: &str) -> Result<(), ManageError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ManageError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ManageError::invalid("name", "must not contain control characters"));
    }
    Ok(())
}

pub(crate) fn kind(kind: &str) -> Result<(), ManageError> {
    printable("kind", kind, MAX_KIND_CHARS)
}

/// An owner: an opaque id of the application's, 1 to 256 characters without control
/// characters.
pub(crate) fn owner(owner: &str) -> Result<(), ManageError> {
    printable("owner", owner, MAX_OWNER_CHARS)
}

/// Who created a token, as its creator gives it: the owner's rule.
pub(crate) fn created_by(actor: &str) -> Result<(), ManageError> {
    printable("created_by", actor, MAX_OWNER_CHARS)
}

/// 1 to `max` characters, none of them a control character.
fn printable(field: &str, value: &str, max: usize) -> Result<(), ManageError> {
    let chars = value.chars().count();
    if chars == 0 || chars > max || value.chars().any(char::is_control) {
        return Err(ManageError::invalid(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// Scopes are RFC 6749 §3.3 scope-tokens: they travel in `WWW-Authenticate` challenges.
pub(crate) fn scopes(scopes: &[String]) -> Result<(), ManageError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ManageError::invalid("scopes", format!("at most {MAX_SCOPES} scopes")));
    }
    match scopes.iter().position(|scope| !is_scope(scope)) {
        Some(i) => Err(ManageError::invalid(format!("scopes[{i}]"), SCOPE_RULE)),
        None => Ok(()),
    }
}

/// What a scope is, in words.
pub(crate) const SCOPE_RULE: &str = "must be 1 to 128 visible ASCII characters, without spaces, quotes or backslashes";

/// Whether `scope` is a scope-token of at most [`MAX_SCOPE_CHARS`] characters.
pub(crate) fn is_scope(scope: &str) -> bool {
    (1..=MAX_SCOPE_CHARS).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

pub(crate) fn metadata(metadata: &Map<String, Value>) -> Result<(), ManageError> {
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |v| v.len());
    if size > MAX_METADATA_BYTES {
        return Err(ManageError::invalid(
            "metadata",
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// An expiry strictly in the future, in UTC (which must fall before the year 10000, the
/// last RFC 3339 can write).
pub(crate) fn expires_at(at: OffsetDateTime, now: OffsetDateTime) -> Result<OffsetDateTime, ManageError> {
    let at = at
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| ManageError::invalid("expires_at", "must be before the year 10000 in UTC"))?;
    if at <= now {
        return Err(ManageError::invalid("expires_at", "must be in the future"));
    }
    Ok(crate::record::truncate_to_micros(at))
}

pub(crate) fn expires_in(lifetime: Duration, now: OffsetDateTime) -> Result<OffsetDateTime, ManageError> {
    if lifetime < Duration::SECOND || lifetime > MAX_EXPIRES_IN {
        return Err(ManageError::invalid(
            "expires_in",
            format!("must be between 1 and {} seconds", MAX_EXPIRES_IN.whole_seconds()),
        ));
    }
    Ok(crate::record::truncate_to_micros(now + lifetime))
}

pub(crate) fn grace(grace: Duration) -> Result<Duration, ManageError> {
    if grace.is_negative() || grace > MAX_GRACE {
        return Err(ManageError::invalid(
            "grace_seconds",
            format!("must be between 0 and {}", MAX_GRACE.whole_seconds()),
        ));
    }
    Ok(grace)
}

/// The id an imported token names: 1 to 64 base62 characters, what a Basic credential's
/// user-id may be for the layer to look it up.
pub(crate) fn imported_id(id: &str) -> Result<(), ManageError> {
    if id.len() > MAX_ID_LEN || !crate::base62::is_base62(id) {
        return Err(ManageError::invalid(
            "id",
            format!("must be 1 to {MAX_ID_LEN} base62 characters (0-9, A-Z, a-z)"),
        ));
    }
    Ok(())
}

/// An imported secret: 16 to 512 token68 characters, and not something that claims to be
/// one of our structured tokens.
pub(crate) fn imported_secret(secret: &str, format: &TokenFormat) -> Result<(), ManageError> {
    let token68 = {
        let body = secret.trim_end_matches('=');
        !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
    };
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) || !token68 {
        return Err(ManageError::invalid(
            "secret",
            format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} token68 characters"),
        ));
    }
    if format.claims(secret) {
        return Err(ManageError::invalid(
            "secret",
            format!("must not start with the token prefix `{}_`", format.prefix()),
        ));
    }
    let mut distinct: Vec<u8> = secret.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_SECRET_DISTINCT {
        return Err(ManageError::invalid(
            "secret",
            format!("is too weak: it must have at least {MIN_SECRET_DISTINCT} distinct characters"),
        ));
    }
    if strength_bits(secret) < MIN_SECRET_BITS {
        return Err(ManageError::invalid(
            "secret",
            format!(
                "is too weak: it must be worth at least {MIN_SECRET_BITS} bits (its length times log2 of the \
                 alphabet its kinds of characters span: 26 lower-case, 26 upper-case, 10 digits, 7 symbols)"
            ),
        ));
    }
    Ok(())
}

/// A rough strength of a secret, in bits: its length times log2 of the alphabet its
/// character classes span (lower-case letters 26, upper-case 26, digits 10, the symbols
/// token68 allows 7). It overrates words and patterns; it is a floor against the obviously
/// weak, not a measure of a good secret.
fn strength_bits(secret: &str) -> f64 {
    let has = |class: fn(&u8) -> bool| secret.as_bytes().iter().any(class);
    let alphabet = [
        (has(u8::is_ascii_lowercase), 26.0),
        (has(u8::is_ascii_uppercase), 26.0),
        (has(u8::is_ascii_digit), 10.0),
        (has(|b| !b.is_ascii_alphanumeric()), 7.0),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .map(|(_, size)| size)
    .sum::<f64>();
    #[allow(clippy::cast_precision_loss)]
    let length = secret.len() as f64;
    length * alphabet.log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_must_be_scope_tokens() {
        assert!(scopes(&["reports:read".into(), "a/b".into()]).is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(scopes(&[bad.into()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn owners_are_bounded_and_printable() {
        assert!(owner("user_42").is_ok());
        assert!(owner(&"é".repeat(MAX_OWNER_CHARS)).is_ok());
        for bad in [String::new(), "a".repeat(MAX_OWNER_CHARS + 1), "a\nb".to_owned()] {
            assert!(owner(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn imported_secrets_are_token68_of_bounded_length_and_not_ours() {
        let format = TokenFormat::default();
        assert!(imported_secret("legacy-secret-0123456789", &format).is_ok());
        assert!(imported_secret("short", &format).is_err());
        assert!(imported_secret(&"a".repeat(513), &format).is_err());
        assert!(imported_secret("has spaces in it, sadly", &format).is_err());
        assert!(imported_secret("tg_looks_like_one_of_ours", &format).is_err());
    }

    #[test]
    fn obviously_weak_imported_secrets_are_refused_naming_the_rule() {
        let format = TokenFormat::default();
        for weak in [
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "abababababababab0101",
            "passwordpassword1234",
        ] {
            let err = imported_secret(weak, &format).unwrap_err();
            assert!(err.to_string().contains("distinct characters"), "{weak}: {err}");
        }
        // 16 distinct lower-case letters: 16 x log2(26) = 75 bits.
        let err = imported_secret("abcdefghijklmnop", &format).unwrap_err();
        assert!(err.to_string().contains("80 bits"), "{err}");
        for fine in [
            "abcdefghijklmnopqr",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "Legacy-Key-9f3Q-7xZr-2mWb",
        ] {
            assert!(imported_secret(fine, &format).is_ok(), "{fine}");
        }
    }

    #[test]
    fn lifetimes_are_bounded_on_both_sides() {
        let now = crate::record::now();
        assert!(expires_in(Duration::SECOND, now).is_ok());
        assert!(expires_in(Duration::ZERO, now).is_err());
        assert!(expires_in(MAX_EXPIRES_IN + Duration::SECOND, now).is_err());
        assert!(expires_at(now, now).is_err());
        let last_local = time::macros::datetime!(9999-12-31 23:59:59 -1);
        assert!(expires_at(last_local, now).is_err(), "past the year 9999 in UTC");
        assert!(expires_at(time::macros::datetime!(9999-12-31 23:59:59 UTC), now).is_ok());
        assert!(grace(Duration::seconds(-1)).is_err());
        assert!(grace(MAX_GRACE).is_ok());
    }
}
