//! Byte classes for the parsers on the request path: one table lookup per byte instead of
//! a chain of comparisons.

/// `tchar` of RFC 9110 §5.6.2: what an auth-scheme is made of.
pub(crate) const TCHAR: u8 = 1;
/// The characters of RFC 7235's `token68`, before its trailing `=`s.
pub(crate) const TOKEN68: u8 = 2;
/// Base62 digits: `0-9A-Za-z`.
pub(crate) const BASE62: u8 = 4;

const fn classify(b: u8) -> u8 {
    let alnum = b.is_ascii_alphanumeric();
    let mut class = 0;
    if alnum
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
    {
        class |= TCHAR;
    }
    if alnum || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/') {
        class |= TOKEN68;
    }
    if alnum {
        class |= BASE62;
    }
    class
}

static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = classify(i as u8);
        i += 1;
    }
    table
};

/// Whether `b` is in `class`.
#[inline]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// How many leading bytes of `bytes` are in `class`.
///
/// Eight bytes at a time: their classes ANDed together answer for the whole chunk, so
/// the common case (a long token that is entirely valid) costs about two instructions
/// a byte; only the chunk holding the first misfit is scanned byte by byte.
#[inline]
pub(crate) fn span(bytes: &[u8], class: u8) -> usize {
    let mut done = 0;
    for chunk in bytes.chunks_exact(8) {
        let c: &[u8; 8] = chunk.try_into().expect("chunks of eight");
        let joint = c.iter().fold(0xff, |acc, &b| acc & CLASSES[b as usize]);
        if joint & class == 0 {
            break;
        }
        done += 8;
    }
    done + bytes[done..]
        .iter()
        .position(|&b| !is(b, class))
        .unwrap_or(bytes.len() - done)
}

/// Base62 digit values, and 0xff for every other byte.
static DIGITS: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 62 {
        table[crate::base62::ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The value of a base62 digit, or `None`.
#[inline]
pub(crate) fn digit(b: u8) -> Option<u64> {
    match DIGITS[b as usize] {
        0xff => None,
        value => Some(u64::from(value)),
    }
}

/// Whether every byte of `bytes` is a base62 digit (`0-9A-Za-z`): two range checks a byte,
/// with no branch and no table, which the compiler turns into vector code (about twice as
/// fast as a table lookup a byte on a 49-byte secret segment). Valid input, the case that
/// matters, is read to the end anyway.
#[inline]
pub(crate) fn all_base62(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |acc, &b| {
        let digit = b.wrapping_sub(b'0') < 10;
        // Setting bit 5 maps `A-Z` onto `a-z` and moves no other byte into that range.
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        acc & (digit | letter)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_their_grammars() {
        for b in 0..=255u8 {
            let c = b as char;
            assert_eq!(is(b, BASE62), c.is_ascii_alphanumeric(), "{b}");
            assert_eq!(is(b, TOKEN68), c.is_ascii_alphanumeric() || "-._~+/".contains(c), "{b}");
            assert_eq!(
                is(b, TCHAR),
                c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c),
                "{b}"
            );
        }
        assert_eq!(span(b"Bearer abc", TCHAR), 6);
        // Misfits in every position of long inputs, across chunk boundaries.
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert_eq!(span(&clean, BASE62), len);
            for bad in 0..len {
                let mut bytes = clean.clone();
                bytes[bad] = b'_';
                assert_eq!(span(&bytes, BASE62), bad, "len {len}, misfit at {bad}");
                assert_eq!(span(&bytes, TOKEN68), len);
            }
        }
        for b in 0..=255u8 {
            assert_eq!(all_base62(&[b'a', b, b'Z']), is(b, BASE62), "{b}");
        }
        assert!(all_base62(b"") && all_base62(b"09azAZ") && !all_base62(b"a_c"));
    }
}
