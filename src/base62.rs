//! Base62 with the alphabet `0-9A-Za-z` (behaviour §2), for ids, secrets and checksums.

/// The base62 alphabet, in digit order.
pub(crate) const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether `s` is non-empty and made only of base62 digits.
pub(crate) fn is_base62(s: &str) -> bool {
    !s.is_empty() && crate::chars::all_base62(s.as_bytes())
}

/// Reads fixed-width base62 digits back into a number; `None` if a byte is not a digit.
/// The inverse of [`encode_fixed`], without a division.
pub(crate) fn decode_fixed(digits: &[u8]) -> Option<u64> {
    digits
        .iter()
        .try_fold(0u64, |acc, &b| Some(acc.checked_mul(62)? + crate::chars::digit(b)?))
}

/// Writes `value` as exactly `N` base62 digits, most significant first, left-padded with `0`.
///
/// `N` must be large enough for `value` (6 digits hold any `u32`).
pub(crate) fn encode_fixed<const N: usize>(mut value: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    debug_assert_eq!(value, 0, "value does not fit in {N} base62 digits");
    out
}

/// Fills a string of `len` base62 characters from the OS CSPRNG, without modulo bias.
///
/// # Errors
/// Fails only when the operating system's random source does.
pub(crate) fn random(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)?;
        for &b in &buf {
            // 248 = 4 * 62: rejecting bytes >= 248 keeps every digit equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_encoding_pads_and_orders_most_significant_first() {
        assert_eq!(&encode_fixed::<6>(0), b"000000");
        assert_eq!(&encode_fixed::<6>(61), b"00000z");
        assert_eq!(&encode_fixed::<6>(62), b"000010");
        // u32::MAX = 4_294_967_295 = "4gfFC3" in this alphabet.
        assert_eq!(&encode_fixed::<6>(u64::from(u32::MAX)), b"4gfFC3");
    }

    #[test]
    fn decoding_inverts_encoding() {
        for value in [0u64, 1, 61, 62, 3843, 916_132_831, u64::from(u32::MAX)] {
            assert_eq!(decode_fixed(&encode_fixed::<6>(value)), Some(value));
        }
        assert_eq!(decode_fixed(b"00_000"), None);
    }

    #[test]
    fn random_strings_have_the_length_and_alphabet_asked_for() {
        let a = random(43).unwrap();
        let b = random(43).unwrap();
        assert_eq!(a.len(), 43);
        assert!(is_base62(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn digit_check_rejects_everything_outside_the_alphabet() {
        assert!(is_base62("abcXYZ019"));
        assert!(!is_base62(""));
        assert!(!is_base62("ab_c"));
        assert!(!is_base62("ab-c"));
        assert!(!is_base62("é"));
    }
}
