//! The opaque list cursor: the last id of a page, versioned and base64url-encoded so that
//! clients treat it as a token, not as an id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ApiError;

const VERSION: &str = "1:";

pub(crate) fn encode(after_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{after_id}"))
}

pub(crate) fn decode(cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::bad("cursor: is not a cursor this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.strip_prefix(VERSION) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode(&encode("abcXYZ")).unwrap(), "abcXYZ");
        assert!(decode("abcXYZ").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("2:abc")).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("1:")).is_err());
    }
}
