//! Reading admin requests: a bounded JSON body, the list query, and the validation of every
//! field CONTRACT §3 names. Every error says which field is wrong.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Request};
use http_body::Body;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use crate::record::truncate_to_micros;
use crate::store::BoxError;
use crate::{ListQuery, Secret, TokenStatus};

const MAX_NAME_CHARS: usize = 128;
const MAX_KIND_CHARS: usize = 64;
const MAX_SCOPES: usize = 256;
const MAX_SCOPE_CHARS: usize = 128;
const MAX_METADATA_BYTES: usize = 4096;
const MAX_EXPIRES_IN: i64 = 100 * 366 * 24 * 3600;
const MAX_GRACE_SECONDS: i64 = 366 * 24 * 3600;
const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 512;
const MAX_LIST_LIMIT: usize = 1000;
const DEFAULT_LIST_LIMIT: usize = 100;

/// Reads the body as JSON. With `required` false, an empty body without a content type
/// gives `None`.
pub(crate) async fn read_json<T, B>(req: Request<B>, limit: usize, required: bool) -> Result<Option<T>, ApiError>
where
    T: DeserializeOwned,
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let declared = declared_length(&parts.headers)?;
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let is_json = content_type_is_json(&parts.headers);
    if parts.headers.contains_key(CONTENT_TYPE) && !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if !is_json && (required || declared.is_some_and(|len| len > 0)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(body, limit).await?;
    if !is_json {
        return if bytes.is_empty() {
            Ok(None)
        } else {
            Err(ApiError::UnsupportedMediaType)
        };
    }
    if bytes.iter().all(u8::is_ascii_whitespace) && !required {
        return Ok(None);
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // A syntax error is the body's fault, not the field the parser had reached.
        if !inner.is_data() || path == "." || path.is_empty() {
            ApiError::bad(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad(format!("{path}: {inner}"))
        }
    })?;
    Ok(Some(value))
}

fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad("content-length is not a number"))
        })
        .transpose()
}

fn content_type_is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Collects at most `limit` bytes; a longer body is refused without buffering the rest.
async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(ApiError::TooLarge(limit)),
        Err(_) => Err(ApiError::bad("the request body could not be read")),
    }
}

/// `POST /tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    pub(crate) name: String,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) expires_at: Option<String>,
    pub(crate) expires_in: Option<i64>,
    pub(crate) status: Option<TokenStatus>,
    pub(crate) kind: Option<String>,
    pub(crate) metadata: Option<Map<String, Value>>,
    pub(crate) secret: Option<Secret>,
}

/// `PATCH /tokens/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRequest {
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) status: Option<TokenStatus>,
    /// `null` removes the expiry.
    #[serde(default, deserialize_with = "present")]
    pub(crate) expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) metadata: Option<Map<String, Value>>,
}

/// `POST /tokens/{id}/rotate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    pub(crate) grace_seconds: Option<i64>,
}

/// `POST /tokens/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    pub(crate) token: Option<Secret>,
    pub(crate) id: Option<String>,
    pub(crate) secret: Option<Secret>,
}

/// Refuses a field given as `null`, so that `{"scopes": null}` is an error instead of a
/// patch that silently leaves every scope in place (send `[]` to remove them).
fn not_null<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(de)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("must not be null")),
    }
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

pub(crate) fn name(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::bad(format!("name: must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad("name: must not contain control characters"));
    }
    Ok(())
}

pub(crate) fn kind(kind: &str) -> Result<(), ApiError> {
    let chars = kind.chars().count();
    if chars == 0 || chars > MAX_KIND_CHARS || kind.chars().any(char::is_control) {
        return Err(ApiError::bad(format!(
            "kind: must be 1 to {MAX_KIND_CHARS} characters without control characters"
        )));
    }
    Ok(())
}

/// Scopes are RFC 6749 §3.3 scope-tokens: they travel in `WWW-Authenticate` challenges.
pub(crate) fn scopes(scopes: &[String]) -> Result<(), ApiError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ApiError::bad(format!("scopes: at most {MAX_SCOPES} scopes")));
    }
    for (i, scope) in scopes.iter().enumerate() {
        let valid = (1..=MAX_SCOPE_CHARS).contains(&scope.len())
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(ApiError::bad(format!(
                "scopes[{i}]: must be 1 to {MAX_SCOPE_CHARS} visible ASCII characters, without spaces, quotes or backslashes"
            )));
        }
    }
    Ok(())
}

pub(crate) fn metadata(metadata: &Map<String, Value>) -> Result<(), ApiError> {
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |v| v.len());
    if size > MAX_METADATA_BYTES {
        return Err(ApiError::bad(format!(
            "metadata: must be at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(())
}

/// An RFC 3339 instant strictly in the future.
pub(crate) fn future_instant(field: &str, text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, ApiError> {
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| ApiError::bad(format!("{field}: must be an RFC 3339 date-time")))?;
    let at = truncate_to_micros(at.to_offset(time::UtcOffset::UTC));
    if at <= now {
        return Err(ApiError::bad(format!("{field}: must be in the future")));
    }
    Ok(at)
}

pub(crate) fn expires_in(seconds: i64, now: OffsetDateTime) -> Result<OffsetDateTime, ApiError> {
    if !(1..=MAX_EXPIRES_IN).contains(&seconds) {
        return Err(ApiError::bad(format!(
            "expires_in: must be between 1 and {MAX_EXPIRES_IN} seconds"
        )));
    }
    Ok(now + time::Duration::seconds(seconds))
}

pub(crate) fn grace_seconds(seconds: i64) -> Result<i64, ApiError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&seconds) {
        return Err(ApiError::bad(format!(
            "grace_seconds: must be between 0 and {MAX_GRACE_SECONDS}"
        )));
    }
    Ok(seconds)
}

/// An imported secret: 16 to 512 token68 characters, and not something that claims to be
/// one of our structured tokens.
pub(crate) fn imported_secret(secret: &str, format: &crate::TokenFormat) -> Result<(), ApiError> {
    let token68 = {
        let body = secret.trim_end_matches('=');
        !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
    };
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) || !token68 {
        return Err(ApiError::bad(format!(
            "secret: must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} token68 characters"
        )));
    }
    if format.claims(secret) {
        return Err(ApiError::bad(format!(
            "secret: must not start with the token prefix `{}_`",
            format.prefix()
        )));
    }
    Ok(())
}

/// Reads `limit`, `cursor`, `status` and `scope`; anything else, or a repeated
/// parameter, is an error.
pub(crate) fn list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut limit = None;
    let mut list = ListQuery::new(DEFAULT_LIST_LIMIT);
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if seen.iter().any(|k| *k == key) {
            return Err(ApiError::bad(format!("{key}: given more than once")));
        }
        seen.push(key.clone().into_owned());
        match &*key {
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                    .ok_or_else(|| ApiError::bad(format!("limit: must be an integer from 1 to {MAX_LIST_LIMIT}")))?;
                limit = Some(n);
            }
            "cursor" => list.after = Some(super::cursor::decode(&value)?),
            "status" => {
                list.status = Some(
                    TokenStatus::from_name(&value)
                        .ok_or_else(|| ApiError::bad("status: must be `active` or `inactive`"))?,
                );
            }
            "scope" => list.scope = Some(value.into_owned()),
            other => return Err(ApiError::bad(format!("{other}: unknown query parameter"))),
        }
    }
    list.limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_are_strict() {
        let q = list_query(Some("limit=5&status=inactive&scope=a%3Ab")).unwrap();
        assert_eq!(
            (q.limit, q.status, q.scope.as_deref()),
            (5, Some(TokenStatus::Inactive), Some("a:b"))
        );
        assert_eq!(list_query(None).unwrap().limit, 100);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "status=gone",
            "limit=1&limit=2",
            "foo=1",
            "cursor=%%%",
        ] {
            assert!(matches!(list_query(Some(bad)), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_scope_tokens() {
        assert!(scopes(&["reports:read".into(), "a/b".into()]).is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(scopes(&[bad.into()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn imported_secrets_are_token68_of_bounded_length_and_not_ours() {
        let format = crate::TokenFormat::default();
        assert!(imported_secret("legacy-secret-0123456789", &format).is_ok());
        assert!(imported_secret("short", &format).is_err());
        assert!(imported_secret(&"a".repeat(513), &format).is_err());
        assert!(imported_secret("has spaces in it, sadly", &format).is_err());
        assert!(imported_secret("tg_looks_like_one_of_ours", &format).is_err());
    }
}
