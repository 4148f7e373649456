//! Table-driven vectors for the `Authorization` header parser (CONTRACT §1).
//!
//! Sources: RFC 6750 (Bearer), RFC 7617 (Basic), RFC 7235 / RFC 9110 (auth-scheme and
//! credentials grammar), plus the behaviours that peer crates test: tower-http
//! (`validate_request`, `auth::require_authorization`), actix-web-httpauth
//! (`headers/authorization/scheme/{basic,bearer}.rs`) and `headers`
//! (`common/authorization.rs`). Where a peer behaves differently from the contract (for
//! example tower-http compares the scheme case-sensitively), the vector follows the
//! contract and its name says so.
//!
//! Every base64 string below was computed with Python's `base64` module.

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use tollgate::{BasicCredential, Credential, CredentialError, CredentialParser};

/// What parsing one header value must give.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `Ok(Some(Credential::Bearer(token)))`.
    Bearer(&'static str),
    /// `Ok(Some(Credential::Basic(..)))` with this id and secret.
    Basic(&'static str, &'static str),
    /// `Ok(None)`: treated as a request without credentials.
    NoCredentials,
    /// `Err(error)`.
    Malformed(CredentialError),
}

/// One vector: a raw header value (built with `HeaderValue::from_bytes`) and its outcome.
struct Case {
    name: &'static str,
    header: &'static [u8],
    expect: Expect,
}

const CASES: &[Case] = &[
    // ------------------------------------------------------------------------------------
    // Bearer: well-formed
    // ------------------------------------------------------------------------------------
    Case {
        name: "RFC 6750 §2.1 example",
        header: b"Bearer mF_9.B5f-4.1JqM",
        expect: Expect::Bearer("mF_9.B5f-4.1JqM"),
    },
    Case {
        name: "headers crate: bearer_decode",
        header: b"Bearer fpKL54jvWmEGVoRdCNjG",
        expect: Expect::Bearer("fpKL54jvWmEGVoRdCNjG"),
    },
    Case {
        name: "tower-http: bearer token is case-sensitive in the token (kept as sent)",
        header: b"Bearer Foobar",
        expect: Expect::Bearer("Foobar"),
    },
    Case {
        name: "RFC 7519-style JWT (three dot-separated base64url parts) is token68",
        header: b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        expect: Expect::Bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
    },
    // CONTRACT §1: scheme names are case-insensitive (RFC 9110 §11.1)
    Case {
        name: "headers crate: bearer_decode_case_insensitive (lowercase scheme)",
        header: b"bearer fpKL54jvWmEGVoRdCNjG",
        expect: Expect::Bearer("fpKL54jvWmEGVoRdCNjG"),
    },
    Case {
        name: "RFC 9110 §11.1: uppercase BEARER scheme (tower-http would reject; contract accepts)",
        header: b"BEARER mF_9.B5f-4.1JqM",
        expect: Expect::Bearer("mF_9.B5f-4.1JqM"),
    },
    Case {
        name: "RFC 9110 §11.1: mixed-case bEaReR scheme",
        header: b"bEaReR mF_9.B5f-4.1JqM",
        expect: Expect::Bearer("mF_9.B5f-4.1JqM"),
    },
    // CONTRACT §1: one or more SP between scheme and credentials (RFC 9110 §11.4 `1*SP`)
    Case {
        name: "headers crate: bearer_decode_extra_whitespaces (three spaces)",
        header: b"Bearer   fpKL54jvWmEGVoRdCNjG",
        expect: Expect::Bearer("fpKL54jvWmEGVoRdCNjG"),
    },
    // CONTRACT §1: leading/trailing SP/HTAB around the field value is trimmed (RFC 9110 §5.5)
    Case {
        name: "RFC 9110 §5.5: leading and trailing spaces are not part of the value",
        header: b"  Bearer mF_9.B5f-4.1JqM  ",
        expect: Expect::Bearer("mF_9.B5f-4.1JqM"),
    },
    Case {
        name: "RFC 9110 §5.5: leading and trailing HTAB are not part of the value",
        header: b"\tBearer mF_9.B5f-4.1JqM\t",
        expect: Expect::Bearer("mF_9.B5f-4.1JqM"),
    },
    // CONTRACT §1: Bearer credentials must match token68 `[A-Za-z0-9._~+/-]+=*` (RFC 6750 §2.1)
    Case {
        name: "RFC 6750 §2.1 b64token: trailing '=' padding",
        header: b"Bearer abc==",
        expect: Expect::Bearer("abc=="),
    },
    Case {
        name: "RFC 6750 §2.1 b64token: any number of trailing '='",
        header: b"Bearer a====",
        expect: Expect::Bearer("a===="),
    },
    Case {
        name: "RFC 6750 §2.1 b64token: every punctuation char - . _ ~ + / between letters and digits",
        header: b"Bearer A-Z.a_z~0+9/x",
        expect: Expect::Bearer("A-Z.a_z~0+9/x"),
    },
    Case {
        name: "RFC 6750 §2.1 b64token: punctuation only, then padding",
        header: b"Bearer -._~+/=",
        expect: Expect::Bearer("-._~+/="),
    },
    Case {
        name: "RFC 6750 §2.1 b64token: standard base64 ('+', '/') is a valid bearer token",
        header: b"Bearer dXNlcjo+Pj4/Pz8=",
        expect: Expect::Bearer("dXNlcjo+Pj4/Pz8="),
    },
    // ------------------------------------------------------------------------------------
    // Bearer: malformed
    // ------------------------------------------------------------------------------------
    Case {
        name: "RFC 6750 §2.1: space inside the token",
        header: b"Bearer a b",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: comma inside the token",
        header: b"Bearer a,b",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 9110 §5.3: two credentials folded into one line are not split (Authorization is not a list)",
        header: b"Bearer mF_9.B5f-4.1JqM, Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: '=' may only trail, not lead",
        header: b"Bearer =abc",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: '=' may only trail, not sit in the middle",
        header: b"Bearer ab=c",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: padding only, no token characters",
        header: b"Bearer ===",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 9110 §11.4: Bearer with an auth-param instead of token68",
        header: b"Bearer realm=\"x\"",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: quoted token is not a b64token",
        header: b"Bearer \"mF_9.B5f-4.1JqM\"",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: '!' is a tchar but not a b64token char",
        header: b"Bearer abc!",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: HTAB inside the token",
        header: b"Bearer abc\tdef",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    Case {
        name: "RFC 6750 §2.1: SP then HTAB before the token (HTAB is not a separator)",
        header: b"Bearer \tabc",
        expect: Expect::Malformed(CredentialError::InvalidToken68),
    },
    // CONTRACT §1: Bearer/Basic must be followed by 1*SP and credentials
    Case {
        name: "RFC 6750 §2.1: scheme alone, no token",
        header: b"Bearer",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "actix-web-httpauth: test_missing_token (\"Bearer \")",
        header: b"Bearer ",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "RFC 6750 §2.1: scheme followed by spaces only",
        header: b"Bearer     ",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "RFC 9110 §11.4: HTAB is not SP between scheme and token",
        header: b"Bearer\tmF_9.B5f-4.1JqM",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "RFC 9110 §11.4: colon after the scheme (\"Bearer: token\")",
        header: b"Bearer: mF_9.B5f-4.1JqM",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    // ------------------------------------------------------------------------------------
    // Basic: well-formed
    // ------------------------------------------------------------------------------------
    Case {
        name: "RFC 7617 §2 Aladdin example",
        header: b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    Case {
        name: "tower-http: valid_basic_token (foo:bar)",
        header: b"Basic Zm9vOmJhcg==",
        expect: Expect::Basic("foo", "bar"),
    },
    Case {
        name: "tower-http: basic_auth_is_case_sensitive_in_value (Foo:bar kept as sent)",
        header: b"Basic Rm9vOmJhcg==",
        expect: Expect::Basic("Foo", "bar"),
    },
    // CONTRACT §1: scheme names are case-insensitive
    Case {
        name: "headers crate: basic_decode_case_insensitive (lowercase scheme)",
        header: b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    Case {
        name: "RFC 9110 §11.1: uppercase BASIC scheme (tower-http would reject; contract accepts)",
        header: b"BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    Case {
        name: "RFC 9110 §11.1: mixed-case bAsIc scheme",
        header: b"bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    // CONTRACT §1: one or more SP between scheme and credentials; surrounding SP/HTAB trimmed
    Case {
        name: "headers crate: basic_decode_extra_whitespaces (two spaces)",
        header: b"Basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    Case {
        name: "RFC 9110 §5.5: Basic with surrounding HTAB and SP",
        header: b"\t Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== \t",
        expect: Expect::Basic("Aladdin", "open sesame"),
    },
    // CONTRACT §1: the id is everything before the first colon; id or secret may be empty
    Case {
        name: "headers crate: basic_decode_no_password / actix-web-httpauth: test_empty_password",
        header: b"Basic QWxhZGRpbjo=",
        expect: Expect::Basic("Aladdin", ""),
    },
    Case {
        name: "RFC 7617 §2: empty user-id (\":secret\")",
        header: b"Basic OnNlY3JldA==",
        expect: Expect::Basic("", "secret"),
    },
    Case {
        name: "RFC 7617 §2: empty user-id and empty password (\":\")",
        header: b"Basic Og==",
        expect: Expect::Basic("", ""),
    },
    Case {
        name: "headers crate: basic with colon in password (Basic::decode splits at the first colon)",
        header: b"Basic dXNlcjpwYTpzcw==",
        expect: Expect::Basic("user", "pa:ss"),
    },
    Case {
        name: "RFC 7617 §2: '=' in the password is just data",
        header: b"Basic aWQ6PQ==",
        expect: Expect::Basic("id", "="),
    },
    Case {
        name: "RFC 7617 §2: SP is not a control character (spaces in id and password)",
        header: b"Basic YSBiOmMgZA==",
        expect: Expect::Basic("a b", "c d"),
    },
    Case {
        name: "RFC 4648 §4: standard alphabet '+' and '/' in Basic",
        header: b"Basic dXNlcjo+Pj4/Pz8=",
        expect: Expect::Basic("user", ">>>???"),
    },
    // CONTRACT §1: decoded Basic credentials are UTF-8 (RFC 7617 §2.1 charset="UTF-8")
    Case {
        name: "RFC 7617 §2.1 test:123£ example",
        header: b"Basic dGVzdDoxMjPCow==",
        expect: Expect::Basic("test", "123£"),
    },
    Case {
        name: "RFC 7617 §2.1: non-ASCII UTF-8 user-id and password",
        header: b"Basic SsO8cmdlbjpww6Rzc3fDtnJk",
        expect: Expect::Basic("Jürgen", "pässwörd"),
    },
    Case {
        name: "RFC 7617 §2.1: four-byte UTF-8 user-id (U+1F980)",
        header: b"Basic 8J+mgDpmZXJyaXM=",
        expect: Expect::Basic("🦀", "ferris"),
    },
    // ------------------------------------------------------------------------------------
    // Basic: malformed
    // ------------------------------------------------------------------------------------
    // CONTRACT §1: Basic must be followed by 1*SP and credentials
    Case {
        name: "RFC 7617 §2: scheme alone, no credentials",
        header: b"Basic",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "actix-web-httpauth: test_missing_credentials (\"Basic \")",
        header: b"Basic ",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "RFC 9110 §11.4: HTAB is not SP between Basic and its credentials",
        header: b"Basic\tQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    Case {
        name: "RFC 9110 §11.4: comma right after the Basic scheme",
        header: b"Basic,QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Malformed(CredentialError::MissingCredentials),
    },
    // CONTRACT §1: standard base64 with canonical padding and zero trailing bits
    Case {
        name: "RFC 4648 §3.5: canonical QQ== decodes (to \"A\", which then lacks a colon)",
        header: b"Basic QQ==",
        expect: Expect::Malformed(CredentialError::MissingColon),
    },
    Case {
        name: "RFC 4648 §3.5: non-canonical QR== (non-zero trailing bits)",
        header: b"Basic QR==",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.5: non-canonical Oh== (canonical is Og== for \":\")",
        header: b"Basic Oh==",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.5: non-canonical two-byte tail (Aladdin: with trailing bits set)",
        header: b"Basic QWxhZGRpbjp=",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.2: Aladdin example with its padding stripped",
        header: b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.2: missing single '=' pad",
        header: b"Basic QWxhZGRpbjo",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.2: excess padding",
        header: b"Basic QWxhZGRpbjo==",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.2: padding in the middle (two padded quanta concatenated)",
        header: b"Basic QQ==QQ==",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §5: URL-safe alphabet ('-' and '_') is not standard base64",
        header: b"Basic dXNlcjo-Pj4_Pz8=",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 4648 §3.3: SP inside the base64 text",
        header: b"Basic QWxh ZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    Case {
        name: "RFC 9110 §11.4: Basic with an auth-param instead of token68",
        header: b"Basic realm=\"x\"",
        expect: Expect::Malformed(CredentialError::InvalidBase64),
    },
    // CONTRACT §1: decoded Basic bytes must be UTF-8
    Case {
        name: "RFC 7617 §2.1: test:123£ sent as ISO-8859-1 (0xA3) is not UTF-8",
        header: b"Basic dGVzdDoxMjOj",
        expect: Expect::Malformed(CredentialError::NotUtf8),
    },
    Case {
        name: "RFC 7617 §2.1: bytes 0xFF 0xFE in the user-id are not UTF-8",
        header: b"Basic //46eA==",
        expect: Expect::Malformed(CredentialError::NotUtf8),
    },
    // CONTRACT §1: decoded Basic credentials contain no control character (char::is_control)
    Case {
        name: "RFC 7617 §2: NUL in the user-id",
        header: b"Basic YQA6Yg==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    Case {
        name: "RFC 7617 §2: DEL in the password",
        header: b"Basic YTpifw==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    Case {
        name: "RFC 7617 §2: LF in the password",
        header: b"Basic YTpiCg==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    Case {
        name: "RFC 7617 §2: CR LF in the password",
        header: b"Basic eDoNCg==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    Case {
        name: "RFC 7617 §2: HTAB in the password is a control character",
        header: b"Basic YToJYg==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    Case {
        name: "RFC 7617 §2: C1 control U+0085 (NEL) in the password",
        header: b"Basic YTrChQ==",
        expect: Expect::Malformed(CredentialError::ControlCharacter),
    },
    // CONTRACT §1: decoded Basic credentials must contain a colon
    Case {
        name: "actix-web-httpauth: missing password colon (\"Alladin\")",
        header: b"Basic QWxsYWRpbg==",
        expect: Expect::Malformed(CredentialError::MissingColon),
    },
    Case {
        name: "RFC 7617 §2: user-pass without a colon",
        header: b"Basic bm9Db2xvbkhlcmU=",
        expect: Expect::Malformed(CredentialError::MissingColon),
    },
    // ------------------------------------------------------------------------------------
    // Other schemes and the auth-scheme grammar
    // ------------------------------------------------------------------------------------
    // CONTRACT §1: a scheme other than Bearer or Basic is the same as no credentials
    Case {
        name: "RFC 7616 §3.9.1 Digest example (abridged) with auth-params",
        header: b"Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", qop=auth, nc=00000001",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §11.4: unknown Token scheme with token68",
        header: b"Token abc123",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 4559: Negotiate scheme alone",
        header: b"Negotiate",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 4559 §4.2: Negotiate with a GSS-API token (synthetic)",
        header: b"Negotiate YIIBngYGKwYBBQUCoIIBkjCCAY6gGDAWBgkqhkiC9xIBAgIGCSqGSIb3EgECAg==",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "actix-web-httpauth: test_wrong_scheme (OAuthToken foo)",
        header: b"OAuthToken foo",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "actix-web-httpauth: test_wrong_scheme (\"THOUSHALLNOTPASS please?\")",
        header: b"THOUSHALLNOTPASS please?",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §11.4: scheme that starts with Bearer is another scheme (Bearerx abc)",
        header: b"Bearerx abc",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §11.4: Bearer glued to its token is one token, an unknown scheme",
        header: b"Bearerabc",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §5.6.2: AWS SigV4 scheme with '-' (a tchar) in it",
        header: b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=abc",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §5.6.2: scheme made of every tchar punctuation character",
        header: b"!#$%&'*+-.^_`|~ x",
        expect: Expect::NoCredentials,
    },
    Case {
        name: "RFC 9110 §5.5: unknown scheme with surrounding whitespace",
        header: b" \t Token abc \t ",
        expect: Expect::NoCredentials,
    },
    // CONTRACT §1: the scheme must be a non-empty token followed by nothing or SP
    Case {
        name: "actix-web-httpauth: test_empty_header (empty value)",
        header: b"",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §5.5: whitespace-only value trims to empty",
        header: b"   ",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §5.5: HTAB-only value trims to empty",
        header: b"\t",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §11.4: value starting with '=' has an empty scheme",
        header: b"=abc",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §11.4: quoted scheme is not a token",
        header: b"\"Bearer\" mF_9.B5f-4.1JqM",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §5.6.1: empty list element before the credentials",
        header: b", Bearer mF_9.B5f-4.1JqM",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §11.4: unknown scheme followed by HTAB",
        header: b"Foo\tbar",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §5.6.2: '=' is not a tchar, so Foo=bar is no scheme",
        header: b"Foo=bar",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §5.6.2: '(' is not a tchar",
        header: b"Foo(bar) x",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    Case {
        name: "RFC 9110 §11.4: Basic glued to base64 with padding ('=' ends the token)",
        header: b"BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        expect: Expect::Malformed(CredentialError::InvalidScheme),
    },
    // ------------------------------------------------------------------------------------
    // CONTRACT §1: bytes outside visible ASCII / SP / HTAB are malformed (obs-text 0x80-0xFF
    // is accepted by HeaderValue::from_bytes but not by the parser)
    // ------------------------------------------------------------------------------------
    Case {
        name: "RFC 9110 §5.5 obs-text: 0xFF at the end of a bearer token",
        header: b"Bearer abc\xff",
        expect: Expect::Malformed(CredentialError::NotAscii),
    },
    Case {
        name: "RFC 9110 §5.5 obs-text: 0x80 after Basic credentials",
        header: b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\x80",
        expect: Expect::Malformed(CredentialError::NotAscii),
    },
    Case {
        name: "RFC 9110 §5.5 obs-text: Latin-1 NBSP (0xA0) between scheme and token",
        header: b"Bearer\xa0mF_9.B5f-4.1JqM",
        expect: Expect::Malformed(CredentialError::NotAscii),
    },
    Case {
        name: "RFC 9110 §5.5 obs-text: raw UTF-8 in a bearer token",
        header: b"Bearer caf\xc3\xa9",
        expect: Expect::Malformed(CredentialError::NotAscii),
    },
    // CONTRACT §1: an unsupported scheme is no credentials, whatever its parameters hold.
    Case {
        name: "CONTRACT §1: obs-text under an unknown scheme is still no credentials",
        header: b"Token caf\xc3\xa9",
        expect: Expect::NoCredentials,
    },
];

type Parsed<'a> = Result<Option<Credential<'a>>, CredentialError>;

/// Whether `got` is what `expect` asks for.
fn matches(expect: Expect, got: &Parsed<'_>) -> bool {
    match (expect, got) {
        (Expect::Bearer(want), Ok(Some(Credential::Bearer(token)))) => want == *token,
        (Expect::Basic(id, secret), Ok(Some(Credential::Basic(basic)))) => {
            basic.id() == id && basic.secret() == secret && *basic == BasicCredential::new(id, secret)
        }
        (Expect::NoCredentials, Ok(None)) => true,
        (Expect::Malformed(want), Err(err)) => want == *err,
        _ => false,
    }
}

/// Renders a result in full (the crate's own `Debug` redacts secrets, which hides the
/// very thing a failing vector needs to show).
fn render(got: &Parsed<'_>) -> String {
    match got {
        Ok(None) => "Ok(None)".to_owned(),
        Ok(Some(Credential::Bearer(token))) => format!("Ok(Some(Bearer({token:?})))"),
        Ok(Some(Credential::Basic(basic))) => {
            format!("Ok(Some(Basic(id: {:?}, secret: {:?})))", basic.id(), basic.secret())
        }
        Ok(Some(other)) => format!("Ok(Some({other:?}))"),
        Err(err) => format!("Err({err:?})"),
    }
}

#[test]
fn credential_vectors() {
    assert!(CASES.len() >= 45, "only {} vectors", CASES.len());
    let parser = CredentialParser::default();
    let mut failures = Vec::new();

    for (i, case) in CASES.iter().enumerate() {
        if CASES[..i].iter().any(|earlier| earlier.name == case.name) {
            failures.push(format!("{}: duplicate vector name", case.name));
        }
        let shown = case.header.escape_ascii().to_string();
        let value = match HeaderValue::from_bytes(case.header) {
            Ok(value) => value,
            Err(_) => {
                failures.push(format!(
                    "{}: HeaderValue::from_bytes rejected b\"{shown}\" (vector cannot be built)",
                    case.name
                ));
                continue;
            }
        };

        let got = parser.parse_value(&value);
        if !matches(case.expect, &got) {
            failures.push(format!(
                "{}: parse_value(b\"{shown}\"): expected {:?}, got {}",
                case.name,
                case.expect,
                render(&got)
            ));
        }

        // The same value as the only Authorization header of a request.
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        let via_map = parser.parse(&headers);
        if !matches(case.expect, &via_map) {
            failures.push(format!(
                "{}: parse(b\"{shown}\"): expected {:?}, got {}",
                case.name,
                case.expect,
                render(&via_map)
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {} credential vectors failed:\n  {}",
        failures.len(),
        CASES.len(),
        failures.join("\n  ")
    );
}

// CONTRACT §1: more than one Authorization header is malformed, even if each is valid.
#[test]
fn duplicate_headers_are_malformed() {
    let parser = CredentialParser::default();
    let pairs: &[(&str, &str, &str)] = &[
        (
            "RFC 9110 §5.3: two valid bearer headers",
            "Bearer mF_9.B5f-4.1JqM",
            "Bearer fpKL54jvWmEGVoRdCNjG",
        ),
        (
            "RFC 9110 §5.3: the same bearer header twice",
            "Bearer mF_9.B5f-4.1JqM",
            "Bearer mF_9.B5f-4.1JqM",
        ),
        (
            "RFC 9110 §5.3: bearer and basic",
            "Bearer mF_9.B5f-4.1JqM",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ),
        (
            "RFC 9110 §5.3: valid basic and an unknown scheme",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Digest username=\"Mufasa\"",
        ),
        (
            "RFC 9110 §5.3: valid bearer and an empty value",
            "Bearer mF_9.B5f-4.1JqM",
            "",
        ),
        ("RFC 9110 §5.3: two unknown schemes", "Token a", "Negotiate b"),
    ];
    for (name, first, second) in pairs {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, HeaderValue::from_str(first).unwrap());
        headers.append(AUTHORIZATION, HeaderValue::from_str(second).unwrap());
        assert_eq!(parser.parse(&headers).err(), Some(CredentialError::Duplicate), "{name}");
    }

    // Three headers.
    let mut headers = HeaderMap::new();
    for token in ["Bearer a", "Bearer b", "Bearer c"] {
        headers.append(AUTHORIZATION, HeaderValue::from_static(token));
    }
    assert_eq!(parser.parse(&headers).err(), Some(CredentialError::Duplicate));

    // Duplicates are malformed whatever schemes are enabled.
    let mut headers = HeaderMap::new();
    headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
    headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
    let bearer_off = CredentialParser::default().bearer(false);
    assert_eq!(bearer_off.parse(&headers).err(), Some(CredentialError::Duplicate));

    // `insert` replaces rather than appends: one header, the last one wins.
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer first"));
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer second"));
    assert_eq!(parser.parse(&headers), Ok(Some(Credential::Bearer("second"))));
}

// CONTRACT §1: header values are bounded (default 4096 bytes); longer is malformed.
#[test]
fn header_length_is_bounded() {
    let parser = CredentialParser::default();

    // Exactly 4096 bytes: accepted.
    let at_limit = format!("Bearer {}", "a".repeat(4096 - "Bearer ".len()));
    assert_eq!(at_limit.len(), 4096);
    let value = HeaderValue::from_str(&at_limit).unwrap();
    assert_eq!(
        parser.parse_value(&value),
        Ok(Some(Credential::Bearer(&at_limit["Bearer ".len()..])))
    );

    // 4097 bytes: too long, through parse_value and through parse.
    let over = format!("Bearer {}", "a".repeat(4097 - "Bearer ".len()));
    assert_eq!(over.len(), 4097);
    let value = HeaderValue::from_str(&over).unwrap();
    let too_long = CredentialError::TooLong { len: 4097, max: 4096 };
    assert_eq!(parser.parse_value(&value), Err(too_long));
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    assert_eq!(parser.parse(&headers), Err(too_long));

    // The bound applies to the raw value, before surrounding whitespace is trimmed.
    let padded = format!("Bearer abc{}", " ".repeat(4097 - "Bearer abc".len()));
    assert_eq!(padded.len(), 4097);
    let value = HeaderValue::from_str(&padded).unwrap();
    assert_eq!(parser.parse_value(&value), Err(too_long));

    // The bound applies whatever the scheme: an over-long unknown scheme is malformed too.
    let digest = format!("Digest {}", "a".repeat(4097 - "Digest ".len()));
    let value = HeaderValue::from_str(&digest).unwrap();
    assert_eq!(parser.parse_value(&value), Err(too_long));

    // A custom bound.
    let small = CredentialParser::default().max_len(16);
    let value = HeaderValue::from_static("Bearer 123456789"); // 16 bytes
    assert_eq!(small.parse_value(&value), Ok(Some(Credential::Bearer("123456789"))));
    let value = HeaderValue::from_static("Bearer 1234567890"); // 17 bytes
    assert_eq!(
        small.parse_value(&value),
        Err(CredentialError::TooLong { len: 17, max: 16 })
    );

    // A larger custom bound lets the 4097-byte value through.
    let large = CredentialParser::default().max_len(8192);
    let value = HeaderValue::from_str(&over).unwrap();
    assert_eq!(
        large.parse_value(&value),
        Ok(Some(Credential::Bearer(&over["Bearer ".len()..])))
    );
}

// CONTRACT §1: a disabled scheme is the same as no credentials.
#[test]
fn disabled_schemes_are_no_credentials() {
    let aladdin = HeaderValue::from_static("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    let bearer = HeaderValue::from_static("Bearer mF_9.B5f-4.1JqM");
    let expected_basic = Ok(Some(Credential::Basic(BasicCredential::new("Aladdin", "open sesame"))));

    // Bearer disabled: Bearer headers read as no credentials, Basic still parses.
    let no_bearer = CredentialParser::default().bearer(false);
    assert_eq!(no_bearer.parse_value(&bearer), Ok(None));
    assert_eq!(
        no_bearer.parse_value(&HeaderValue::from_static("bearer mF_9.B5f-4.1JqM")),
        Ok(None)
    );
    assert_eq!(no_bearer.parse_value(&HeaderValue::from_static("Bearer")), Ok(None));
    // A disabled scheme's credentials are not inspected...
    assert_eq!(no_bearer.parse_value(&HeaderValue::from_static("Bearer a b")), Ok(None));
    // ...but it must still be a scheme: a token followed by nothing or SP.
    assert_eq!(
        no_bearer.parse_value(&HeaderValue::from_static("Bearer\tabc")),
        Err(CredentialError::InvalidScheme)
    );
    assert_eq!(no_bearer.parse_value(&aladdin), expected_basic);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer.clone());
    assert_eq!(no_bearer.parse(&headers), Ok(None));

    // Basic disabled: Basic headers read as no credentials, Bearer still parses.
    let no_basic = CredentialParser::default().basic(false);
    assert_eq!(no_basic.parse_value(&aladdin), Ok(None));
    assert_eq!(no_basic.parse_value(&HeaderValue::from_static("BASIC !!!!")), Ok(None));
    assert_eq!(
        no_basic.parse_value(&bearer),
        Ok(Some(Credential::Bearer("mF_9.B5f-4.1JqM")))
    );

    // Both disabled: nothing is read, not even what a read would refuse (CONTRACT §1).
    let neither = CredentialParser::default().bearer(false).basic(false);
    assert_eq!(neither.parse_value(&aladdin), Ok(None));
    assert_eq!(neither.parse_value(&bearer), Ok(None));
    assert_eq!(
        neither.parse_value(&HeaderValue::from_bytes(b"Bearer caf\xc3\xa9").unwrap()),
        Ok(None)
    );

    // Re-enabling restores parsing.
    let again = no_bearer.bearer(true);
    assert_eq!(
        again.parse_value(&bearer),
        Ok(Some(Credential::Bearer("mF_9.B5f-4.1JqM")))
    );
}

// CONTRACT §1: no Authorization header is no credentials.
#[test]
fn no_header_is_no_credentials() {
    let parser = CredentialParser::default();
    assert_eq!(parser.parse(&HeaderMap::new()), Ok(None));

    // Other headers, including Proxy-Authorization (RFC 9110 §11.7.2), are not read.
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::PROXY_AUTHORIZATION,
        HeaderValue::from_static("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
    );
    headers.insert(http::header::COOKIE, HeaderValue::from_static("session=abc"));
    assert_eq!(parser.parse(&headers), Ok(None));
}

/// The answer the layer gives a request with this `Authorization` value: its status, and its
/// body's code and message. Its store is empty, so no credential is valid.
async fn layer_answer(value: HeaderValue) -> (u16, String, String) {
    use http_body_util::BodyExt as _;
    use tower::{Layer as _, ServiceExt as _};

    let verifier = tollgate::Verifier::builder(tollgate::MemoryStore::new()).build();
    let service = tollgate::AuthLayer::new(verifier).layer(tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    }));
    let mut req = http::Request::new(String::new());
    req.headers_mut().insert(AUTHORIZATION, value);
    let response = service.oneshot(req).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let text = |key: &str| json["error"][key].as_str().unwrap().to_owned();
    (status, text("code"), text("message"))
}

/// The layer reads headers in its own pass (a structured token's shape and checksum with
/// its token68 check); it answers every vector above, and structured tokens, as the
/// parser reads them: a malformed header is 400 naming the parser's very error, no
/// credentials 401 `unauthorized`, any credential (none valid here) 401 `invalid_token`.
#[tokio::test]
async fn the_layer_answers_every_vector_as_the_parser_reads_it() {
    let format = tollgate::TokenFormat::default();
    let token = format.generate().unwrap();
    let mut bad_sum = token.token().expose().to_owned();
    let last = bad_sum.pop().unwrap();
    bad_sum.push(if last == 'A' { 'B' } else { 'A' });
    let structured = [
        format!("Bearer {}", token.token().expose()),
        format!("bEaReR   {bad_sum}"),
        // CONTRACT §2: valid token68 in the wrong shape is an invalid token (401).
        "Bearer tg_a-b_c".to_owned(),
        "Bearer tg_".to_owned(),
        // CONTRACT §1: not token68 at all is malformed (400), prefix or not.
        "Bearer tg_ab,c".to_owned(),
        "Bearer tg_ab=c".to_owned(),
        "Bearer ghp_abc_def".to_owned(),
    ];
    let values = CASES
        .iter()
        .map(|case| (case.name.to_owned(), HeaderValue::from_bytes(case.header).unwrap()))
        .chain(
            structured
                .into_iter()
                .map(|h| (h.clone(), HeaderValue::from_str(&h).unwrap())),
        );
    let parser = CredentialParser::default();
    for (name, value) in values {
        let expected = match parser.parse_value(&value) {
            Err(err) => (
                400,
                "invalid_request".to_owned(),
                format!("malformed authorization header: {err}"),
            ),
            Ok(None) => (401, "unauthorized".to_owned(), "authentication required".to_owned()),
            Ok(Some(_)) => (
                401,
                "invalid_token".to_owned(),
                "invalid, expired or revoked credentials".to_owned(),
            ),
        };
        assert_eq!(layer_answer(value).await, expected, "{name}");
    }
}
