//! The token parser (CONTRACT §2) on arbitrary strings, under a few formats.
//!
//! A string the parser accepts must start with the prefix, split into a base62 id and
//! segment that are slices of it, and carry the CRC-32 checksum of everything before the
//! last six characters; whatever the parser says, `claims` must agree on the prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::TokenFormat;

#[path = "../../tests/support/checksum.rs"]
mod checksum;

use checksum::checksum;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(candidate) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match choice % 3 {
        0 => TokenFormat::default(),
        1 => TokenFormat::new("x").expect("valid prefix"),
        _ => TokenFormat::new("sk9live").expect("valid prefix"),
    };
    let head = format!("{}_", format.prefix());
    assert_eq!(format.claims(candidate), candidate.starts_with(&head));
    match format.parse(candidate) {
        Ok(None) => assert!(!format.claims(candidate)),
        Err(_) => assert!(format.claims(candidate)),
        Ok(Some(parsed)) => {
            let base62 = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
            assert!(base62(parsed.id()) && base62(parsed.secret_segment()));
            assert_eq!(candidate, format!("{head}{}_{}", parsed.id(), parsed.secret_segment()));
            let (body, sum) = candidate.as_bytes().split_at(candidate.len() - 6);
            assert_eq!(&checksum(body)[..], sum);
        }
    }
});
