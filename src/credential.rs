//! Reading credentials from the `Authorization` header (behaviour §1; RFC 7235, 6750, 7617).
//!
//! The Bearer path borrows from the header and allocates nothing; Basic decodes base64
//! into one owned buffer.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

use crate::chars;
use crate::secret::Secret;
use crate::token::{ParsedToken, TokenError, TokenFormat};

/// Default bound on the `Authorization` header value, in bytes.
const DEFAULT_MAX_HEADER_LEN: usize = 4096;

/// Credentials read from a request: the forms an `Authorization` header takes. More kinds
/// may come (other schemes), so a `match` on it needs a wildcard arm.
///
/// Read from a request by a [`CredentialParser`] (or built by hand), and handed to
/// [`Verifier::verify`](crate::Verifier::verify). Its `Debug` shows no secret:
///
/// ```
/// use http::{HeaderMap, header::AUTHORIZATION};
/// use tollgate::{BasicCredential, Credential, CredentialParser};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, BasicCredential::new("4fZk2Qe7", "s3cret-segment").to_header_value());
/// let credential = CredentialParser::default().parse(&headers)?.expect("a credential");
/// let who = match &credential {
///     Credential::Bearer(_) => None, // a whole token: its id is inside it
///     Credential::Basic(basic) => Some(basic.id()),
///     _ => None, // a scheme added later
/// };
/// assert_eq!(who, Some("4fZk2Qe7"));
/// assert!(!format!("{credential:?}").contains("s3cret-segment"));
/// # Ok::<(), tollgate::CredentialError>(())
/// ```
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential<'a> {
    /// `Bearer <token68>`: a structured or an opaque token, borrowed from the header.
    Bearer(&'a str),
    /// `Basic base64(id:secret)`.
    Basic(BasicCredential),
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer([redacted])"),
            Self::Basic(basic) => basic.fmt(f),
        }
    }
}

/// What a layer's parser read: a [`Credential`], with a Bearer token that claims the
/// verifier's structured format already read as one (its shape and checksum checked in the
/// same pass that proves it token68). Only the layer reads headers this way.
pub(crate) enum Read<'a> {
    /// An opaque Bearer token (one that does not claim the format's prefix).
    Bearer(&'a str),
    /// A Bearer token that claims the format's prefix: its id and secret segment, or why it
    /// is not a token of the format (a 401, not a 400: it is valid token68).
    Structured {
        token: &'a str,
        parsed: Result<ParsedToken<'a>, TokenError>,
    },
    /// `Basic base64(id:secret)`.
    Basic(BasicCredential),
}

impl<'a> From<Read<'a>> for Credential<'a> {
    fn from(read: Read<'a>) -> Self {
        match read {
            Read::Bearer(token) | Read::Structured { token, .. } => Self::Bearer(token),
            Read::Basic(basic) => Self::Basic(basic),
        }
    }
}

/// A decoded Basic credential: the token id and its secret.
///
/// ```
/// use http::{HeaderMap, header::AUTHORIZATION};
/// use tollgate::{BasicCredential, Credential, CredentialParser};
///
/// // A client sends the token's id, and the token (or its last segment) as the password...
/// let sent = BasicCredential::new("4fZk2Qe7", "s3cret-segment");
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, sent.to_header_value());
/// assert!(headers[AUTHORIZATION].is_sensitive());
///
/// // ...and the server reads it back.
/// let Some(Credential::Basic(read)) = CredentialParser::default().parse(&headers).unwrap() else {
///     panic!("a Basic credential");
/// };
/// assert_eq!(read, sent);
/// assert!(!format!("{read:?}").contains(read.secret()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredential {
    /// `id:secret`, decoded; kept whole so that parsing allocates once.
    decoded: Secret,
    colon: usize,
}

impl BasicCredential {
    /// Builds one from its parts, as a client would send it. The id must not contain a colon.
    ///
    /// ```
    /// use tollgate::BasicCredential;
    ///
    /// let basic = BasicCredential::new("abc", "s3cret:with:colons");
    /// assert_eq!(basic.id(), "abc");
    /// assert_eq!(basic.secret(), "s3cret:with:colons");
    /// ```
    #[must_use]
    pub fn new(id: &str, secret: &str) -> Self {
        Self {
            decoded: Secret::new(format!("{id}:{secret}")),
            colon: id.len(),
        }
    }

    /// The user-id part: everything before the first colon.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.decoded.expose()[..self.colon]
    }

    /// The password part: everything after the first colon (it may contain colons).
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.decoded.expose()[self.colon + 1..]
    }

    /// The header value a client would send for this credential, marked sensitive.
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        let encoded = STANDARD.encode(self.decoded.expose());
        let mut value =
            HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 output is a valid header value");
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for BasicCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basic")
            .field("id", &self.id())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Why an `Authorization` header is malformed (answered with 400 `invalid_request`).
///
/// No variant carries any part of the header, so an error can be logged as it is.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
/// use tollgate::{CredentialError, CredentialParser};
///
/// let parser = CredentialParser::default().max_len(64);
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
/// assert_eq!(parser.parse(&headers), Err(CredentialError::InvalidBase64));
///
/// let long = format!("Bearer {}", "a".repeat(100));
/// headers.insert(AUTHORIZATION, HeaderValue::try_from(long).unwrap());
/// let err = parser.parse(&headers).unwrap_err();
/// assert_eq!(err, CredentialError::TooLong { len: 107, max: 64 });
/// assert_eq!(err.to_string(), "authorization header is 107 bytes, over the limit of 64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// More than one `Authorization` header.
    #[error("more than one authorization header")]
    Duplicate,
    /// The value is longer than the configured bound.
    #[error("authorization header is {len} bytes, over the limit of {max}")]
    TooLong {
        /// Length of the value.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A byte outside visible ASCII and space.
    #[error("authorization header contains a byte outside visible ascii")]
    NotAscii,
    /// The auth-scheme is empty or not an HTTP token.
    #[error("authorization header has an invalid scheme")]
    InvalidScheme,
    /// The scheme is not followed by a single run of spaces and then credentials.
    #[error("authorization scheme must be followed by spaces and credentials")]
    MissingCredentials,
    /// A Bearer credential that is not token68.
    #[error("bearer token is not token68")]
    InvalidToken68,
    /// A Basic credential that is not padded standard base64.
    #[error("basic credentials are not padded standard base64")]
    InvalidBase64,
    /// Decoded Basic credentials that are not UTF-8.
    #[error("basic credentials are not utf-8")]
    NotUtf8,
    /// Decoded Basic credentials holding a control character (RFC 7617 §2).
    #[error("basic credentials contain a control character")]
    ControlCharacter,
    /// Decoded Basic credentials without a colon between id and secret.
    #[error("basic credentials have no colon between id and secret")]
    MissingColon,
}

/// Reads `Authorization` headers according to which schemes are enabled.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
/// use tollgate::{Credential, CredentialParser};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc.def"));
/// let parser = CredentialParser::default();
/// assert_eq!(parser.parse(&headers), Ok(Some(Credential::Bearer("abc.def"))));
///
/// // An unsupported scheme is the same as no credentials.
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Digest username=\"x\""));
/// assert_eq!(parser.parse(&headers), Ok(None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialParser {
    max_len: usize,
    bearer: bool,
    basic: bool,
    format: Option<TokenFormat>,
}

impl Default for CredentialParser {
    fn default() -> Self {
        Self {
            max_len: DEFAULT_MAX_HEADER_LEN,
            bearer: true,
            basic: true,
            format: None,
        }
    }
}

impl CredentialParser {
    /// The default bound on the `Authorization` header value, in bytes (4 KiB).
    pub const DEFAULT_MAX_LEN: usize = DEFAULT_MAX_HEADER_LEN;

    /// Sets the bound on the header value's length (default 4 KiB).
    #[must_use]
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Accepts or ignores the Bearer scheme (accepted by default). An ignored scheme is
    /// treated as no credentials.
    #[must_use]
    pub fn bearer(mut self, enabled: bool) -> Self {
        self.bearer = enabled;
        self
    }

    /// Accepts or ignores the Basic scheme (accepted by default).
    #[must_use]
    pub fn basic(mut self, enabled: bool) -> Self {
        self.basic = enabled;
        self
    }

    /// Reads Bearer tokens that claim this structured format as [`Read::Structured`]: one
    /// pass checks their shape and checksum, which also proves them token68. The layer's own.
    #[must_use]
    pub(crate) fn structured(mut self, format: TokenFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Whether Bearer is accepted.
    #[must_use]
    pub fn bearer_enabled(&self) -> bool {
        self.bearer
    }

    /// Whether Basic is accepted.
    #[must_use]
    pub fn basic_enabled(&self) -> bool {
        self.basic
    }

    /// Reads the credentials of a request.
    ///
    /// `Ok(None)` means no credentials: no header, or a scheme that is not enabled.
    ///
    /// # Errors
    /// A [`CredentialError`] when the header is present but malformed.
    pub fn parse<'a>(&self, headers: &'a HeaderMap) -> Result<Option<Credential<'a>>, CredentialError> {
        Ok(self.read(headers)?.map(Credential::from))
    }

    /// Reads one `Authorization` header value.
    ///
    /// # Errors
    /// A [`CredentialError`] when the value is malformed.
    pub fn parse_value<'a>(&self, value: &'a HeaderValue) -> Result<Option<Credential<'a>>, CredentialError> {
        Ok(self.read_value(value)?.map(Credential::from))
    }

    /// [`parse`](Self::parse), with structured tokens read as such when the parser knows
    /// their format.
    #[inline]
    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Result<Option<Read<'a>>, CredentialError> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(CredentialError::Duplicate);
        }
        self.read_value(value)
    }

    #[inline(always)]
    fn read_value<'a>(&self, value: &'a HeaderValue) -> Result<Option<Read<'a>>, CredentialError> {
        let bytes = value.as_bytes();
        if bytes.len() > self.max_len {
            return Err(CredentialError::TooLong {
                len: bytes.len(),
                max: self.max_len,
            });
        }
        // Surrounding whitespace is not part of a field value (RFC 9110 §5.5).
        let bytes = trim_ows(bytes);
        // The form nearly every client sends, decided without the general scheme scan.
        if self.bearer {
            if let Some(token) = bytes.strip_prefix(b"Bearer ") {
                if token.first().is_some_and(|&b| b != b' ') {
                    return classify(token, self.parse_bearer(token));
                }
            }
        }
        let scheme_end = chars::span(bytes, chars::TCHAR);
        let (scheme, rest) = bytes.split_at(scheme_end);
        let is_bearer = scheme.eq_ignore_ascii_case(b"bearer");
        let is_basic = scheme.eq_ignore_ascii_case(b"basic");
        if !(is_bearer && self.bearer || is_basic && self.basic) {
            // behaviour §1: another scheme is no credentials, whatever its parameters hold.
            if scheme.is_empty() {
                return Err(if printable(bytes) {
                    CredentialError::InvalidScheme
                } else {
                    CredentialError::NotAscii
                });
            }
            // RFC 6750 §3.1: an unknown scheme is a request without credentials. It must
            // still be a scheme: a token, then nothing or a space.
            return if rest.is_empty() || rest[0] == b' ' {
                Ok(None)
            } else {
                Err(CredentialError::InvalidScheme)
            };
        }
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        let credentials = &rest[spaces..];
        if spaces == 0 || credentials.is_empty() {
            return Err(if printable(credentials) {
                CredentialError::MissingCredentials
            } else {
                CredentialError::NotAscii
            });
        }
        let parsed = if is_bearer {
            self.parse_bearer(credentials)
        } else {
            parse_basic(credentials).map(Read::Basic)
        };
        classify(credentials, parsed)
    }
}

impl CredentialParser {
    /// A Bearer credential: a structured token of the configured format when it claims the
    /// prefix (one pass: a valid shape is token68), token68 otherwise.
    #[inline(always)]
    fn parse_bearer<'a>(&self, token: &'a [u8]) -> Result<Read<'a>, CredentialError> {
        if let Some(format) = &self.format {
            if crate::token::starts_with(token, format.prefix().as_bytes()) {
                let text = std::str::from_utf8(token).map_err(|_| CredentialError::NotAscii)?;
                let structured = |parsed| Read::Structured { token: text, parsed };
                return match format.parse(text) {
                    Ok(Some(parsed)) => Ok(structured(Ok(parsed))),
                    // A checksum is only checked once the shape (base62 and `_`) passed: the
                    // token is token68 already.
                    Err(TokenError::BadChecksum) => Ok(structured(Err(TokenError::BadChecksum))),
                    Err(err) => parse_token68(token).map(|_| structured(Err(err))),
                    // Prefix without its `_`: an ordinary bearer token.
                    Ok(None) => parse_token68(token).map(Read::Bearer),
                };
            }
        }
        parse_token68(token).map(Read::Bearer)
    }
}

/// Both credential grammars admit only visible ASCII, so stray bytes are looked for only to
/// name an error: control bytes and obs-text are not "bad token68".
#[inline(always)]
fn classify<'a>(
    credentials: &[u8],
    parsed: Result<Read<'a>, CredentialError>,
) -> Result<Option<Read<'a>>, CredentialError> {
    parsed.map(Some).map_err(|err| {
        if printable(credentials) {
            err
        } else {
            CredentialError::NotAscii
        }
    })
}

/// Visible ASCII, space and tab: what a field value may hold (obs-text aside).
fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
}

#[inline]
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, checked
/// in one pass; the `&str` is made only after it passed (it is then ASCII).
fn parse_token68(bytes: &[u8]) -> Result<&str, CredentialError> {
    let body = chars::span(bytes, chars::TOKEN68);
    if body == 0 || !bytes[body..].iter().all(|&b| b == b'=') {
        return Err(CredentialError::InvalidToken68);
    }
    std::str::from_utf8(bytes).map_err(|_| CredentialError::InvalidToken68)
}

fn parse_basic(encoded: &[u8]) -> Result<BasicCredential, CredentialError> {
    // The STANDARD engine requires canonical padding and rejects non-zero trailing bits.
    let decoded = STANDARD.decode(encoded).map_err(|_| CredentialError::InvalidBase64)?;
    let decoded = String::from_utf8(decoded).map_err(|err| {
        // Wipe what we decoded before dropping it: it may hold a secret.
        zeroize::Zeroize::zeroize(&mut err.into_bytes());
        CredentialError::NotUtf8
    })?;
    let decoded = Secret::from(decoded);
    if decoded.expose().chars().any(char::is_control) {
        return Err(CredentialError::ControlCharacter);
    }
    let colon = decoded.expose().find(':').ok_or(CredentialError::MissingColon)?;
    Ok(BasicCredential { decoded, colon })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_round_trips_through_its_header_value() {
        let basic = BasicCredential::new("id", "pa:ss");
        let value = basic.to_header_value();
        assert!(value.is_sensitive());
        let parsed = CredentialParser::default().parse_value(&value).unwrap();
        assert_eq!(parsed, Some(Credential::Basic(basic)));
    }

    fn structured() -> CredentialParser {
        CredentialParser::default().structured(TokenFormat::default())
    }

    /// What the layer's parser read, as the public parser would give it.
    fn as_public(value: &HeaderValue) -> Result<Option<Credential<'_>>, CredentialError> {
        Ok(structured().read_value(value)?.map(Credential::from))
    }

    // CONTRACT §1 and §2: the layer reads structured tokens in one pass, and answers every
    // header exactly as the plain parser does (moved here from `tests/credential_vectors.rs`
    // when the structured reading stopped being public).
    #[test]
    fn the_layers_parser_reads_structured_tokens_in_one_pass() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let text = token.token().expose();
        for value in [
            format!("Bearer {text}"),
            format!("bEaReR   {text}"),
            format!("  Bearer {text}\t"),
        ] {
            let value = HeaderValue::from_str(&value).unwrap();
            match structured().read_value(&value) {
                Ok(Some(Read::Structured {
                    token: read,
                    parsed: Ok(parsed),
                })) => {
                    assert_eq!(read, text);
                    assert_eq!(parsed.id(), token.id());
                    assert_eq!(parsed.secret_segment(), token.secret_segment());
                }
                _ => panic!("{value:?} is not read as a structured token"),
            }
            assert_eq!(as_public(&value), CredentialParser::default().parse_value(&value));
        }
        let mut bad_sum = text.to_owned();
        let last = bad_sum.pop().unwrap();
        bad_sum.push(if last == 'A' { 'B' } else { 'A' });
        let read = |header: &str| match structured().read_value(&HeaderValue::from_str(header).unwrap()) {
            Ok(Some(Read::Structured { parsed: Err(err), .. })) => Ok(err),
            Ok(Some(Read::Structured { parsed: Ok(_), .. })) => panic!("{header}: a valid token"),
            Ok(Some(Read::Bearer(_) | Read::Basic(_)) | None) => panic!("{header}: not read as structured"),
            Err(err) => Err(err),
        };
        // CONTRACT §2: a checksum-invalid token is an invalid token (401), not malformed.
        assert_eq!(read(&format!("Bearer {bad_sum}")), Ok(TokenError::BadChecksum));
        // Valid token68 in the wrong shape: also 401.
        assert_eq!(read("Bearer tg_a-b_c"), Ok(TokenError::Malformed));
        assert_eq!(read("Bearer tg_"), Ok(TokenError::Malformed));
        // CONTRACT §1: not token68 at all is malformed (400), prefix or not.
        assert_eq!(read("Bearer tg_ab,c"), Err(CredentialError::InvalidToken68));
        assert_eq!(read("Bearer tg_ab=c"), Err(CredentialError::InvalidToken68));
        // Another prefix is an opaque Bearer token.
        let other = HeaderValue::from_static("Bearer ghp_abc_def");
        assert!(matches!(
            structured().read_value(&other),
            Ok(Some(Read::Bearer("ghp_abc_def")))
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

        // The layer's parser accepts, refuses and reads exactly what the public one does,
        // whatever the header holds, the format's prefix included.
        #[test]
        fn the_layers_parser_answers_as_the_public_one(
            head in "(|[Bb]earer |BEARER  |Basic | )(tg_)?",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
        ) {
            let mut raw = head.into_bytes();
            raw.extend(bytes);
            if let Ok(value) = HeaderValue::from_bytes(&raw) {
                proptest::prop_assert_eq!(as_public(&value), CredentialParser::default().parse_value(&value));
            }
        }

        // CONTRACT §2: a token of any format the verifier may use is read whole, its id and
        // secret segment as generated (moved here from `tests/properties.rs` when the
        // structured reading stopped being public).
        #[test]
        fn structured_tokens_of_any_format_are_read_whole(
            prefix in "[a-z0-9]{1,16}",
            id_len in 8usize..=64,
            secret_len in 43usize..=128,
        ) {
            let format = TokenFormat::new(&prefix).unwrap().with_id_len(id_len).unwrap().with_secret_len(secret_len).unwrap();
            let token = format.generate().unwrap();
            let value = HeaderValue::from_str(&format!("Bearer {}", token.token().expose())).unwrap();
            match CredentialParser::default().structured(format).read_value(&value) {
                Ok(Some(Read::Structured { token: read, parsed: Ok(parsed) })) => {
                    proptest::prop_assert_eq!(read, token.token().expose());
                    proptest::prop_assert_eq!(parsed.id(), token.id());
                    proptest::prop_assert_eq!(parsed.secret_segment(), token.secret_segment());
                }
                _ => proptest::prop_assert!(false, "not read as a structured token"),
            }
        }

        #[test]
        fn structured_tokens_with_a_character_changed_are_read_as_the_public_parser_reads_them(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            to in "[ -~]",
        ) {
            let token = TokenFormat::default().generate().unwrap();
            let mut chars: Vec<char> = token.token().expose().chars().collect();
            let at = at.index(chars.len());
            chars[at] = to.chars().next().unwrap();
            let changed: String = chars.into_iter().collect();
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {changed}")) {
                proptest::prop_assert_eq!(as_public(&value), CredentialParser::default().parse_value(&value));
            }
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let basic = BasicCredential::new("the-id", "the-secret");
        let rendered = format!("{:?} {:?}", Credential::Basic(basic), Credential::Bearer("tok-en"));
        assert!(rendered.contains("the-id"));
        assert!(!rendered.contains("the-secret"));
        assert!(!rendered.contains("tok-en"));
    }
}
