//! The `Authorization` parser (CONTRACT §1) on arbitrary header values.
//!
//! Input: one or more header values separated by `\n`. Beyond "never panics", checks what
//! every parse must satisfy: more than one header is malformed; a parser that knows the token
//! format accepts and refuses exactly what the plain one does; a Bearer credential is token68;
//! a Basic credential re-encodes to a header that parses back to the same id and secret.
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate::{Credential, CredentialParser, TokenFormat};

fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.split(|&b| b == b'\n') {
        match HeaderValue::from_bytes(part) {
            Ok(value) => {
                headers.append(AUTHORIZATION, value);
            }
            // Not a value an HTTP stack would hand over.
            Err(_) => return,
        }
    }
    let plain = CredentialParser::default();
    let structured = CredentialParser::default().token_format(TokenFormat::default());
    let parsed = plain.parse(&headers);
    let parsed_structured = structured.parse(&headers);

    if headers.get_all(AUTHORIZATION).iter().count() > 1 {
        assert!(parsed.is_err(), "two headers must be malformed");
    }
    match (&parsed, &parsed_structured) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(None), Ok(None)) | (Ok(Some(_)), Ok(Some(_))) => {}
        (a, b) => panic!("the parsers disagree: {a:?} vs {b:?}"),
    }
    match parsed {
        Ok(Some(Credential::Bearer(token))) => {
            assert!(is_token68(token), "bearer credential is not token68");
            let again = HeaderValue::from_str(&format!("Bearer {token}")).expect("token68 is a header value");
            match plain.parse_value(&again) {
                Ok(Some(Credential::Bearer(same))) => assert_eq!(same, token),
                other => panic!("re-encoded bearer did not parse back: {other:?}"),
            }
        }
        Ok(Some(Credential::Basic(basic))) => {
            assert!(!basic.id().contains(':'));
            assert!(!basic.id().chars().chain(basic.secret().chars()).any(char::is_control));
            let again = basic.to_header_value();
            match plain.parse_value(&again) {
                Ok(Some(Credential::Basic(same))) => {
                    assert_eq!(same.id(), basic.id());
                    assert_eq!(same.secret(), basic.secret());
                }
                other => panic!("re-encoded basic did not parse back: {other:?}"),
            }
        }
        Ok(Some(Credential::Token(_))) => panic!("a plain parser does not read token structure"),
        Ok(Some(other)) => panic!("a credential kind this target does not know: {other:?}"),
        Ok(None) | Err(_) => {}
    }
});
