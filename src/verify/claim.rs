//! [`Claim`]: what a credential claims, read once per request and handed to damping and to
//! the caches. Every rule about what a credential names lives here:
//!
//! - which token it names: by id (a structured token, or Basic's user-id), or by the hash of
//!   an opaque Bearer token; or none, on its face (a bad checksum, a malformed token, a
//!   Basic user-id that cannot be an id, a whole token under another token's id);
//! - what of the secret it presents is hashed (hashing waits until the caches are asked, so
//!   that a request damping refuses first costs no hash);
//! - the id it asks for, which a refusal may show when the reason says the token exists
//!   (a credential refused on its face names none: its id was never looked up);
//! - whether its secret could be guessed (an imported secret), for damping;
//! - that a generated token's last segment is never a secret of its own: sent alone as an
//!   opaque Bearer token it finds its token by hash, and is refused.

use crate::credential::{BasicCredential, Credential, Read};
use crate::token::{MAX_ID_LEN, TokenError, TokenFormat};

use super::error::InvalidReason;

/// What a credential claims, for one verifier's format.
pub(crate) struct Claim<'a> {
    /// What the caches and the source are asked.
    pub(super) ask: Ask<'a>,
    /// What was presented as a secret.
    presented: Presented<'a>,
    format: &'a TokenFormat,
}

/// What a claim asks of the caches, with the secret material whose hash is asked for.
pub(super) enum Ask<'a> {
    /// Nothing: it is refused on its face, and no lookup could change that.
    Refused(InvalidReason),
    /// The token with this id, and whether the hash of this material opens it.
    Id(&'a str, &'a str),
    /// The token one of whose secrets is the hash of this material (an opaque token).
    Hash(&'a str),
}

/// What was presented as a secret, as far as guessing it goes.
enum Presented<'a> {
    /// A generated token's secret (whole, or its last segment under its id): 256 bits.
    Generated,
    /// An opaque Bearer token: an imported secret, or a generated token's last segment.
    Opaque(&'a str),
    /// A Basic password that is not a whole token: a generated token's last segment, or
    /// an imported secret.
    Basic { id: &'a str, secret: &'a str },
}

impl<'a> Claim<'a> {
    /// The claim of what a layer's parser read from a request.
    #[inline]
    pub(crate) fn read(read: &'a Read<'a>, format: &'a TokenFormat) -> Self {
        match read {
            Read::Structured { parsed, .. } => match parsed {
                Ok(parsed) => Self {
                    ask: Ask::Id(parsed.id(), parsed.secret_segment()),
                    presented: Presented::Generated,
                    format,
                },
                Err(err) => Self::refused(reason(err), Presented::Generated, format),
            },
            Read::Bearer(token) => Self::bearer(token, format),
            Read::Basic(basic) => Self::basic(basic, format),
        }
    }

    /// The claim of a credential.
    pub(crate) fn of(credential: &'a Credential<'a>, format: &'a TokenFormat) -> Self {
        match credential {
            Credential::Bearer(token) => Self::bearer(token, format),
            Credential::Basic(basic) => Self::basic(basic, format),
        }
    }

    fn refused(reason: InvalidReason, presented: Presented<'a>, format: &'a TokenFormat) -> Self {
        Self {
            ask: Ask::Refused(reason),
            presented,
            format,
        }
    }

    fn bearer(token: &'a str, format: &'a TokenFormat) -> Self {
        match format.parse(token) {
            Ok(Some(parsed)) => Self {
                ask: Ask::Id(parsed.id(), parsed.secret_segment()),
                presented: Presented::Generated,
                format,
            },
            Ok(None) => Self {
                ask: Ask::Hash(token),
                presented: Presented::Opaque(token),
                format,
            },
            Err(err) => Self::refused(reason(&err), Presented::Generated, format),
        }
    }

    fn basic(basic: &'a BasicCredential, format: &'a TokenFormat) -> Self {
        let (id, secret) = (basic.id(), basic.secret());
        let presented = Presented::Basic { id, secret };
        // Ids are base62 and short: anything else is unknown without a lookup.
        if id.len() > MAX_ID_LEN || !crate::base62::is_base62(id) {
            return Self::refused(InvalidReason::Unknown, presented, format);
        }
        match format.parse(secret) {
            // The whole token as the password: its id must be the user-id.
            Ok(Some(parsed)) if parsed.id() == id => Self {
                ask: Ask::Id(id, parsed.secret_segment()),
                presented: Presented::Generated,
                format,
            },
            // The whole token of another id: refused without a lookup, so `id` is not known to exist.
            Ok(Some(_)) => Self::refused(InvalidReason::WrongSecret, Presented::Generated, format),
            Err(err) => Self::refused(reason(&err), Presented::Generated, format),
            // The last segment, or an imported secret.
            Ok(None) => Self {
                ask: Ask::Id(id, secret),
                presented,
                format,
            },
        }
    }

    /// The id the credential asks for: a structured token's, or a Basic user-id that is
    /// base62 and at most 64 characters, unless it is refused on its face.
    #[must_use]
    pub(crate) fn id(&self) -> Option<&'a str> {
        match self.ask {
            Ask::Id(id, _) => Some(id),
            Ask::Refused(_) | Ask::Hash(_) => None,
        }
    }

    /// Whether the presented secret could be guessed: an imported secret, as an opaque
    /// Bearer token or a Basic password that is not a generated token's (whole, or the
    /// last segment of the one with its id). Generated secrets carry 256 bits.
    #[must_use]
    pub(crate) fn guessable(&self) -> bool {
        match self.presented {
            Presented::Generated => false,
            Presented::Opaque(token) => !self.format.claims(token),
            Presented::Basic { id, secret } => !self.format.claims(secret) && !is_segment_of(self.format, id, secret),
        }
    }

    /// For an opaque token, the token to hold against the token its hash finds (see
    /// [`refuses`]); `None` for any other claim.
    pub(super) fn opaque(&self) -> Option<&'a str> {
        match self.presented {
            Presented::Opaque(token) => Some(token),
            Presented::Generated | Presented::Basic { .. } => None,
        }
    }
}

/// Whether an opaque token that found the token `id` by its hash must be refused anyway: it
/// is that token's last segment, a generated token's secret shown without its prefix and
/// id (a leaked Basic password, say). A generated token works only whole, or with its id.
pub(super) fn refuses(format: &TokenFormat, id: &str, opaque: &str) -> bool {
    is_segment_of(format, id, opaque)
}

/// Whether `segment` is the last segment of a token of `format` with this id: base62, and
/// `<prefix>_<id>_<segment>` would carry a valid checksum. An imported secret matches it by
/// chance with odds of 1 in 62⁶, and the base62 shape besides.
fn is_segment_of(format: &TokenFormat, id: &str, segment: &str) -> bool {
    crate::chars::all_base62(segment.as_bytes()) && format.checksum_closes(id, segment)
}

/// The reason a token that claims the format's prefix is refused on its face.
fn reason(err: &TokenError) -> InvalidReason {
    match err {
        TokenError::BadChecksum => InvalidReason::BadChecksum,
        // `TokenFormat::parse` gives no other error, but a new one is malformed too.
        TokenError::Malformed
        | TokenError::InvalidPrefix(_)
        | TokenError::InvalidLength { .. }
        | TokenError::Random(_) => InvalidReason::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_tokens_last_segment_is_known_for_its_id_only() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        assert!(is_segment_of(&format, token.id(), token.secret_segment()));
        let other = format.generate().unwrap();
        assert!(!is_segment_of(&format, other.id(), token.secret_segment()));
        assert!(!is_segment_of(&format, token.id(), "legacy-secret-0123456789"));
        assert!(!is_segment_of(&format, token.id(), "abc"));
        assert!(!is_segment_of(&format, token.id(), ""));
        let acme = TokenFormat::new("acme").unwrap();
        assert!(
            !is_segment_of(&acme, token.id(), token.secret_segment()),
            "another prefix"
        );
    }

    fn claim_of<'a>(credential: &'a Credential<'a>, format: &'a TokenFormat) -> Claim<'a> {
        Claim::of(credential, format)
    }

    #[test]
    fn what_each_form_of_credential_names_and_whether_it_could_be_guessed() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let whole = token.token().expose();
        let segment = token.secret_segment();
        let imported = "an-imported-secret-of-some-length";
        let mut bad_sum = whole.to_owned();
        let last = bad_sum.pop().unwrap();
        bad_sum.push(if last == 'A' { 'B' } else { 'A' });
        let other = format.generate().unwrap();

        let cases: [(Credential<'_>, Option<&str>, bool, &str); 9] = [
            (Credential::Bearer(whole), Some(token.id()), false, "id"),
            (Credential::Bearer(&bad_sum), None, false, "refused BadChecksum"),
            (Credential::Bearer(imported), None, true, "hash"),
            (Credential::Bearer(segment), None, true, "hash"),
            (
                Credential::Basic(BasicCredential::new(token.id(), whole)),
                Some(token.id()),
                false,
                "id",
            ),
            (
                Credential::Basic(BasicCredential::new(token.id(), segment)),
                Some(token.id()),
                false,
                "id",
            ),
            (
                Credential::Basic(BasicCredential::new(token.id(), imported)),
                Some(token.id()),
                true,
                "id",
            ),
            // The whole token of another id: its id is not named, it was never looked up.
            (
                Credential::Basic(BasicCredential::new(other.id(), whole)),
                None,
                false,
                "refused WrongSecret",
            ),
            (
                Credential::Basic(BasicCredential::new("not-an-id", imported)),
                None,
                true,
                "refused Unknown",
            ),
        ];
        for (credential, id, guessable, asks) in &cases {
            let claim = claim_of(credential, &format);
            let asked = match &claim.ask {
                Ask::Id(..) => "id".to_owned(),
                Ask::Hash(_) => "hash".to_owned(),
                Ask::Refused(reason) => format!("refused {reason:?}"),
            };
            assert_eq!(asked, *asks, "{credential:?}");
            assert_eq!(claim.id(), *id, "{credential:?}");
            assert_eq!(claim.guessable(), *guessable, "{credential:?}");
        }
    }

    // What is hashed is what the store keeps the hash of: a generated token's last segment,
    // whichever form presents it, or an opaque token whole.
    #[test]
    fn the_material_hashed_is_what_the_store_hashed_for_every_form() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        for credential in [
            Credential::Bearer(token.token().expose()),
            Credential::Basic(BasicCredential::new(token.id(), token.token().expose())),
            Credential::Basic(BasicCredential::new(token.id(), token.secret_segment())),
        ] {
            match Claim::of(&credential, &format).ask {
                Ask::Id(id, material) => assert_eq!((id, material), (token.id(), token.secret_segment())),
                _ => panic!("{credential:?}"),
            }
        }
        let imported = Credential::Bearer("an-imported-secret-of-some-length");
        match Claim::of(&imported, &format).ask {
            Ask::Hash(material) => assert_eq!(material, "an-imported-secret-of-some-length"),
            _ => panic!("an opaque token is asked for by the hash of itself"),
        }
    }

    #[test]
    fn an_opaque_token_that_is_a_generated_tokens_segment_is_refused_for_that_token_only() {
        let format = TokenFormat::default();
        let token = format.generate().unwrap();
        let credential = Credential::Bearer(token.secret_segment());
        let claim = claim_of(&credential, &format);
        let opaque = claim.opaque().expect("an opaque claim");
        assert!(refuses(&format, token.id(), opaque));
        assert!(!refuses(&format, format.generate().unwrap().id(), opaque));
        let whole = Credential::Bearer(token.token().expose());
        assert!(claim_of(&whole, &format).opaque().is_none());
    }
}
