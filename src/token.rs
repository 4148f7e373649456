//! The token format `<prefix>_<id>_<secret><checksum>` (behaviour §2): generation, parsing
//! and the offline checksum check.

use std::fmt;

use crate::secret::Secret;
use crate::{base62, chars};

/// Characters of checksum at the end of a structured token.
pub(crate) const CHECKSUM_LEN: usize = 6;
/// Default length of a token id, in base62 characters.
const DEFAULT_ID_LEN: usize = 16;
/// Default length of a generated secret: 43 base62 characters carry 256 bits.
const DEFAULT_SECRET_LEN: usize = 43;
pub(crate) const MAX_ID_LEN: usize = 64;

/// Why a token could not be read or made.
///
/// ```
/// use tollgate::{TokenError, TokenFormat};
///
/// let format = TokenFormat::default();
/// // Mistyped, or made up: the checksum fails before any store is asked.
/// let typo = format.parse("tg_0123456789abcdef_notARealSecret000000");
/// assert_eq!(typo.unwrap_err(), TokenError::BadChecksum);
/// // The prefix, but not the form.
/// assert_eq!(format.parse("tg_oops").unwrap_err(), TokenError::Malformed);
/// // A setting out of range, named in the message.
/// let err = TokenFormat::new("Acme").unwrap_err();
/// assert_eq!(err.to_string(), r#"token prefix must be 1 to 16 characters of [a-z0-9], got "Acme""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The prefix is not 1 to 16 characters of `[a-z0-9]`.
    #[error("token prefix must be 1 to 16 characters of [a-z0-9], got {0:?}")]
    InvalidPrefix(String),
    /// A length setting is out of range.
    #[error("{field} must be between {min} and {max}, got {got}")]
    InvalidLength {
        /// Which setting.
        field: &'static str,
        /// The smallest allowed.
        min: usize,
        /// The largest allowed.
        max: usize,
        /// What was asked for.
        got: usize,
    },
    /// The token carries this format's prefix but not its shape.
    #[error("token is not of the form <prefix>_<id>_<secret><checksum>")]
    Malformed,
    /// The checksum does not match: a mistyped or made-up token.
    #[error("token checksum does not match")]
    BadChecksum,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// The shape of structured tokens: prefix, id length and secret length.
///
/// ```
/// use tollgate::TokenFormat;
///
/// let format = TokenFormat::new("acme").unwrap();
/// let token = format.generate().unwrap();
/// let parsed = format.parse(token.token().expose()).unwrap().unwrap();
/// assert_eq!(parsed.id(), token.id());
/// assert!(token.token().expose().starts_with("acme_"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TokenFormat {
    /// `<prefix>_`, kept with its underscore so parsing is one `strip_prefix`.
    head: Box<str>,
    id_len: usize,
    secret_len: usize,
}

impl Default for TokenFormat {
    fn default() -> Self {
        Self {
            head: "tg_".into(),
            id_len: DEFAULT_ID_LEN,
            secret_len: DEFAULT_SECRET_LEN,
        }
    }
}

impl fmt::Debug for TokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFormat")
            .field("prefix", &self.prefix())
            .field("id_len", &self.id_len)
            .field("secret_len", &self.secret_len)
            .finish()
    }
}

impl TokenFormat {
    /// Characters of checksum at the end of a structured token.
    pub const CHECKSUM_LEN: usize = CHECKSUM_LEN;
    /// Default length of a token id, in base62 characters.
    pub const DEFAULT_ID_LEN: usize = DEFAULT_ID_LEN;
    /// Default length of a generated secret: 43 base62 characters carry 256 bits.
    pub const DEFAULT_SECRET_LEN: usize = DEFAULT_SECRET_LEN;

    /// A format with this prefix and the default lengths.
    ///
    /// # Errors
    /// [`TokenError::InvalidPrefix`] unless the prefix is 1 to 16 characters of `[a-z0-9]`.
    pub fn new(prefix: &str) -> Result<Self, TokenError> {
        let valid =
            (1..=16).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(TokenError::InvalidPrefix(prefix.to_owned()));
        }
        Ok(Self {
            head: format!("{prefix}_").into(),
            ..Self::default()
        })
    }

    /// Sets the length of generated ids (8 to 64 characters; default 16).
    ///
    /// # Errors
    /// [`TokenError::InvalidLength`] outside that range.
    pub fn with_id_len(mut self, len: usize) -> Result<Self, TokenError> {
        check_len("id length", len, 8, MAX_ID_LEN)?;
        self.id_len = len;
        Ok(self)
    }

    /// Sets the length of generated secrets (43 to 128 characters; default 43 = 256 bits).
    ///
    /// # Errors
    /// [`TokenError::InvalidLength`] outside that range.
    pub fn with_secret_len(mut self, len: usize) -> Result<Self, TokenError> {
        check_len("secret length", len, DEFAULT_SECRET_LEN, 128)?;
        self.secret_len = len;
        Ok(self)
    }

    /// The prefix, without its underscore.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.head[..self.head.len() - 1]
    }

    /// Whether `candidate` claims to be a token of this format (it starts with `<prefix>_`).
    /// Such a string is never treated as an opaque secret.
    #[must_use]
    #[inline]
    pub fn claims(&self, candidate: &str) -> bool {
        starts_with(candidate.as_bytes(), self.head.as_bytes())
    }

    /// Generates a new token: a fresh id and secret from the OS CSPRNG.
    ///
    /// # Errors
    /// [`TokenError::Random`] if the operating system's random source fails.
    pub fn generate(&self) -> Result<GeneratedToken, TokenError> {
        let id = base62::random(self.id_len).map_err(TokenError::Random)?;
        self.generate_for(&id)
    }

    /// Generates a new secret for an existing id, as rotation does.
    ///
    /// # Errors
    /// [`TokenError::Random`] if the operating system's random source fails, and
    /// [`TokenError::Malformed`] if `id` is not base62.
    pub fn generate_for(&self, id: &str) -> Result<GeneratedToken, TokenError> {
        if !base62::is_base62(id) || id.len() > MAX_ID_LEN {
            return Err(TokenError::Malformed);
        }
        let secret = base62::random(self.secret_len).map_err(TokenError::Random)?;
        let mut token = String::with_capacity(self.head.len() + id.len() + 1 + secret.len() + 6);
        token.push_str(&self.head);
        token.push_str(id);
        token.push('_');
        token.push_str(&secret);
        let checksum = checksum(token.as_bytes());
        // The checksum digits are ASCII by construction.
        token.extend(checksum.iter().map(|&b| b as char));
        Ok(GeneratedToken {
            id_len: id.len(),
            head_len: self.head.len(),
            token: Secret::from(token),
        })
    }

    /// Reads a structured token.
    ///
    /// Returns `Ok(None)` when `candidate` does not start with this format's prefix (it may
    /// be an opaque, imported token), and an error when it does but its shape or checksum
    /// is wrong. Only the checksum is checked: no store is consulted.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] or [`TokenError::BadChecksum`].
    #[inline(always)]
    pub fn parse<'a>(&self, candidate: &'a str) -> Result<Option<ParsedToken<'a>>, TokenError> {
        if !self.claims(candidate) {
            return Ok(None);
        }
        let rest = &candidate[self.head.len()..];
        // `<id>_<segment>`, both base62: the id is the base62 run the first `_` ends.
        let bytes = rest.as_bytes();
        let id_len = chars::span(bytes, chars::BASE62);
        let segment_start = id_len + 1;
        let shaped = (1..=MAX_ID_LEN).contains(&id_len)
            && bytes.get(id_len) == Some(&b'_')
            && bytes.len() > segment_start + CHECKSUM_LEN
            && chars::all_base62(&bytes[segment_start..]);
        if !shaped {
            return Err(TokenError::Malformed);
        }
        let (body, sum) = candidate.as_bytes().split_at(candidate.len() - CHECKSUM_LEN);
        // Decoding the six digits is cheaper than encoding the CRC to compare text.
        if base62::decode_fixed(sum) != Some(u64::from(crc32fast::hash(body))) {
            return Err(TokenError::BadChecksum);
        }
        Ok(Some(ParsedToken {
            id: &rest[..id_len],
            segment: &rest[segment_start..],
        }))
    }
}

impl TokenFormat {
    /// Whether `segment` carries the checksum a token of this format with this id would end
    /// with: the CRC-32 of `<prefix>_<id>_<secret>`, as its last six characters. The one
    /// checksum rule besides [`TokenFormat::parse`]'s, for a segment shown without its
    /// prefix and id.
    pub(crate) fn checksum_closes(&self, id: &str, segment: &str) -> bool {
        let Some(body_len) = segment.len().checked_sub(CHECKSUM_LEN).filter(|len| *len > 0) else {
            return false;
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(self.head.as_bytes());
        crc.update(id.as_bytes());
        crc.update(b"_");
        crc.update(&segment.as_bytes()[..body_len]);
        base62::decode_fixed(&segment.as_bytes()[body_len..]) == Some(u64::from(crc.finalize()))
    }
}

/// `bytes.starts_with(head)` for a head of a few bytes, compared inline: the general
/// slice comparison calls `memcmp`, which costs more than the comparison on this path.
#[inline]
pub(crate) fn starts_with(bytes: &[u8], head: &[u8]) -> bool {
    bytes.len() >= head.len() && bytes.iter().zip(head).all(|(a, b)| a == b)
}

fn check_len(field: &'static str, got: usize, min: usize, max: usize) -> Result<(), TokenError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(TokenError::InvalidLength { field, min, max, got })
    }
}

/// CRC-32 (zlib polynomial) of `body`, as six base62 digits.
#[must_use]
pub(crate) fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    base62::encode_fixed(u64::from(crc32fast::hash(body)))
}

/// A token that passed the format and checksum check. Borrowed from the request.
///
/// ```
/// use tollgate::TokenFormat;
///
/// let format = TokenFormat::default();
/// let sent = format.generate()?; // as a client would send it
/// let parsed = format.parse(sent.token().expose())?.expect("it claims the `tg_` prefix");
/// // The id finds the record; the segment is what its hash is compared with.
/// assert_eq!(parsed.id(), sent.id());
/// assert_eq!(parsed.secret_segment(), sent.secret_segment());
/// assert!(!format!("{parsed:?}").contains(parsed.secret_segment()));
///
/// // An opaque (imported) token does not claim the prefix: not this format's to read.
/// assert!(format.parse("an-imported-secret-0123")?.is_none());
/// # Ok::<(), tollgate::TokenError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    id: &'a str,
    segment: &'a str,
}

impl<'a> ParsedToken<'a> {
    /// The token's public id.
    #[must_use]
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The last segment (`<secret><checksum>`): what is hashed and stored.
    #[must_use]
    pub fn secret_segment(&self) -> &'a str {
        self.segment
    }
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A freshly generated token. The whole token is shown to its owner once; only the hash
/// of [`GeneratedToken::secret_segment`] is stored.
///
/// [`TokenManager`](crate::TokenManager) makes one for you; a store or an import script
/// of your own makes it with [`TokenFormat::generate`]:
///
/// ```
/// use tollgate::{SecretHasher, TokenFormat, TokenRecord};
///
/// let token = TokenFormat::new("acme")?.generate()?;
/// let hash = SecretHasher::Sha256.hash(token.secret_segment().as_bytes());
/// let record = TokenRecord::new(token.id(), "ci deploy key", hash); // what the store keeps
/// assert!(token.token().expose().starts_with(&format!("acme_{}_", record.id)));
/// // Its `Debug` shows the id only.
/// assert!(!format!("{token:?}").contains(token.secret_segment()));
/// # Ok::<(), tollgate::TokenError>(())
/// ```
#[derive(Clone)]
#[must_use = "a generated token is useless unless it is stored and shown to its owner"]
pub struct GeneratedToken {
    head_len: usize,
    id_len: usize,
    token: Secret,
}

impl GeneratedToken {
    /// The token's public id.
    pub fn id(&self) -> &str {
        &self.token.expose()[self.head_len..self.head_len + self.id_len]
    }

    /// The whole token, `<prefix>_<id>_<secret><checksum>`.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The last segment, `<secret><checksum>`: what the store's hash is computed over, and
    /// what a Basic client may send as its password.
    pub fn secret_segment(&self) -> &str {
        &self.token.expose()[self.head_len + self.id_len + 1..]
    }
}

impl fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("id", &self.id())
            .field("token", &self.token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_their_id_and_segment() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let text = token.token().expose();
        assert_eq!(token.id().len(), DEFAULT_ID_LEN);
        assert_eq!(token.secret_segment().len(), DEFAULT_SECRET_LEN + CHECKSUM_LEN);
        assert_eq!(text.len(), 3 + 16 + 1 + 43 + 6);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let parsed = format.parse(text).unwrap().unwrap();
        assert_eq!(parsed.id(), token.id());
        assert_eq!(parsed.secret_segment(), token.secret_segment());
    }

    #[test]
    fn checksum_matches_an_independent_crc32_computation() {
        // CRC-32 of "tg_abc_def" computed with Python's zlib.crc32 = 0x7ea88389 = 2124972937,
        // which is "2JoAX3" in base62 (six digits, no padding needed).
        assert_eq!(crc32fast::hash(b"tg_abc_def"), 0x7ea8_8389);
        assert_eq!(&checksum(b"tg_abc_def"), b"2JoAX3");
        let format = TokenFormat::default();
        let parsed = format.parse("tg_abc_def2JoAX3").unwrap().unwrap();
        assert_eq!(parsed.id(), "abc");
        assert_eq!(parsed.secret_segment(), "def2JoAX3");
    }

    #[test]
    fn every_single_character_change_breaks_the_checksum() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let text = token.token().expose().to_owned();
        for i in 3..text.len() {
            let mut bytes = text.clone().into_bytes();
            if bytes[i] == b'_' {
                continue;
            }
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(format.parse(&changed).is_err(), "change at {i} went unnoticed");
        }
    }

    #[test]
    fn shapes_that_claim_the_prefix_but_are_wrong_are_malformed() {
        let format = TokenFormat::default();
        for bad in [
            "tg_",
            "tg_abc",
            "tg__abc2JoAX3",
            "tg_abc_",
            "tg_abc_12345",
            "tg_a-c_def2JoAX3",
            "tg_abc_de_f2JoAX3",
        ] {
            assert_eq!(format.parse(bad), Err(TokenError::Malformed), "{bad}");
        }
        assert_eq!(format.parse("tg_abc_def2JoAX4"), Err(TokenError::BadChecksum));
    }

    #[test]
    fn other_prefixes_are_not_claimed() {
        let format = TokenFormat::default();
        assert_eq!(format.parse("ghp_abc_def2JoAX3"), Ok(None));
        assert_eq!(format.parse("opaque-token"), Ok(None));
        assert_eq!(format.parse("TG_abc_def2JoAX3"), Ok(None));
        assert!(!format.claims("tgx_abc"));
    }

    #[test]
    fn prefixes_and_lengths_are_validated() {
        for bad in ["", "Tg", "t_g", "abcdefghijklmnopq", "é"] {
            assert!(
                matches!(TokenFormat::new(bad), Err(TokenError::InvalidPrefix(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            TokenFormat::new("abcdefghijklmnop").unwrap().prefix(),
            "abcdefghijklmnop"
        );
        assert!(TokenFormat::default().with_secret_len(42).is_err());
        assert!(TokenFormat::default().with_id_len(7).is_err());
        let long = TokenFormat::default()
            .with_id_len(24)
            .unwrap()
            .with_secret_len(64)
            .unwrap();
        let token = long.generate().unwrap();
        assert_eq!(token.id().len(), 24);
        assert_eq!(token.secret_segment().len(), 70);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let parsed = format.parse(token.token().expose()).unwrap().unwrap();
        for rendered in [format!("{token:?}"), format!("{parsed:?}")] {
            assert!(!rendered.contains(token.secret_segment()), "{rendered}");
            assert!(rendered.contains(token.id()));
        }
    }
}
