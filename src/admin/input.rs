//! Reading admin requests: a bounded JSON body, the list query, dates and an owner named in
//! a path. The rules each field follows are the token manager's (`manage::rules`), and a
//! rate limit's are [`RateLimit`]'s own; every error names its field.

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
use crate::limit::RateLimit;
use crate::manage::rules;
use crate::record::TokenStatus;
use crate::secret::Secret;
use crate::store::BoxError;
use crate::store::ListQuery;

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
    // Every body is an object: serde would also read a struct from an array of its fields.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad("invalid JSON body: expected a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // A syntax error is the body's fault, not the field the parser had reached.
        if !inner.is_data() || path == "." || path.is_empty() {
            ApiError::bad(format!("invalid JSON body: {inner}"))
        } else if names_its_field(&inner.to_string(), &path) {
            // A rule that names its own field (`rate_limit.period must be…`).
            ApiError::bad(inner.to_string())
        } else {
            ApiError::bad(format!("{path}: {inner}"))
        }
    })?;
    Ok(Some(value))
}

/// Whether `message` starts with the field at `path` or one inside it.
fn names_its_field(message: &str, path: &str) -> bool {
    message
        .strip_prefix(path)
        .is_some_and(|rest| rest.starts_with(['.', ' ', ':']))
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

/// `POST /tokens`. A field given as `null` is refused, as the OpenAPI document says: leave
/// it out instead. The exception is `rate_limit`, where `null` is what a record shows for
/// none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    pub(crate) name: String,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) expires_at: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) expires_in: Option<i64>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) status: Option<TokenStatus>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) secret: Option<Secret>,
    /// The id of an imported token (with `secret` only).
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) owner: Option<String>,
    #[serde(default)]
    pub(crate) rate_limit: Option<RateLimit>,
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
    /// `null` removes the owner.
    #[serde(default, deserialize_with = "present")]
    pub(crate) owner: Option<Option<String>>,
    /// `null` removes the rate limit.
    #[serde(default, deserialize_with = "present")]
    pub(crate) rate_limit: Option<Option<RateLimit>>,
}

/// `PUT /owners/{owner}`: the owner's settings, whole. `rate_limit` is required (`null` for
/// none), so that a body that left it out by mistake cannot lift a plan's limit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerSettingsRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) rate_limit: Option<RateLimit>,
}

/// `POST /tokens/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeOwnerRequest {
    pub(crate) owner: String,
}

/// `POST /tokens/{id}/rotate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) grace_seconds: Option<i64>,
}

/// `POST /tokens/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) token: Option<Secret>,
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
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

/// A required field that may be `null`: serde reads a missing `Option` as `None` unless it
/// is deserialized by a function of its own.
fn nullable<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de)
}

/// An owner named in a path segment (`/owners/{owner}`): percent-decoded, since an owner is
/// any string of the application's (`/` is `%2F`), then held to the owner rule.
pub(crate) fn owner_in_path(segment: &str) -> Result<String, ApiError> {
    let owner = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::bad("owner: must be percent-encoded UTF-8"))?;
    rules::owner(&owner)?;
    Ok(owner.into_owned())
}

/// An RFC 3339 date-time, in UTC. Whether it is in the future is the token rules' call.
pub(crate) fn instant(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| ApiError::bad(format!("{field}: must be an RFC 3339 date-time")))?
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| ApiError::bad(format!("{field}: must be before the year 10000 in UTC")))
}

/// Reads `limit`, `cursor`, `status`, `scope` and `owner`; anything else, or a repeated
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
            "scope" if rules::is_scope(&value) => list.scope = Some(value.into_owned()),
            "scope" => return Err(ApiError::bad(format!("scope: {}", rules::SCOPE_RULE))),
            "owner" => {
                rules::owner(&value)?;
                list.owner = Some(value.into_owned());
            }
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
    fn owners_in_paths_are_percent_decoded_then_held_to_the_owner_rule() {
        assert_eq!(owner_in_path("user_42").unwrap(), "user_42");
        assert_eq!(owner_in_path("acme%2Fteam%20a").unwrap(), "acme/team a");
        assert_eq!(
            owner_in_path("caf%C3%A9+x").unwrap(),
            "café+x",
            "`+` is not a space in a path"
        );
        for bad in ["%FF", "a%0Ab", "%00", &"a".repeat(257)] {
            assert!(matches!(owner_in_path(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn a_message_that_names_its_field_is_not_prefixed_with_it() {
        assert!(names_its_field("rate_limit.period must be whole seconds", "rate_limit"));
        assert!(!names_its_field("rate_limits are", "rate_limit"));
        assert!(!names_its_field("must be 1 to 128 characters", "name"));
    }

    #[test]
    fn list_queries_are_strict() {
        let q = list_query(Some("limit=5&status=inactive&scope=a%3Ab&owner=user%2F42")).unwrap();
        assert_eq!(
            (q.limit, q.status, q.scope.as_deref(), q.owner.as_deref()),
            (5, Some(TokenStatus::Inactive), Some("a:b"), Some("user/42"))
        );
        assert_eq!(list_query(None).unwrap().limit, 100);
        assert!(matches!(
            instant("expires_at", "9999-12-31T23:59:59-01:00"),
            Err(ApiError::BadRequest(_))
        ));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "status=gone",
            "limit=1&limit=2",
            "foo=1",
            "cursor=%%%",
            "cursor=",
            "scope=",
            "scope=a%20b",
            "owner=",
            "owner=a%0Ab",
        ] {
            assert!(matches!(list_query(Some(bad)), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}
