//! Hashing secrets for storage and comparing the hashes in constant time (behaviour §2).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The stored, deterministic hash of a secret: what a store keeps instead of the secret.
///
/// Equality is constant-time. `Debug` does not print the bytes: a hash is not a secret,
/// but it is still of use to an attacker who has no table of their own.
///
/// ```
/// use tollgate::{SecretHash, SecretHasher};
///
/// let hash = SecretHasher::Sha256.hash(b"the token's last segment");
/// // A store keeps the 32 bytes, and reads them back.
/// let stored: [u8; 32] = *hash.as_bytes();
/// let read = SecretHash::from_bytes(stored);
/// assert_eq!(read, hash); // in constant time
/// assert_eq!(format!("{read:?}"), "SecretHash(..)");
/// ```
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Wraps 32 bytes read back from a store.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for a store to persist.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        // Four word-sized constant-time comparisons: a byte-wise `ct_eq` over 32 bytes costs
        // several times more on every request.
        let words = |bytes: &[u8; 32]| -> [u64; 4] {
            std::array::from_fn(|i| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
        };
        let (a, b) = (words(&self.0), words(&other.0));
        (a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3])).into()
    }
}

impl Eq for SecretHash {}

// Equal hashes have equal bytes, so hashing the bytes agrees with the constant-time `eq`.
impl std::hash::Hash for SecretHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// As 64 lowercase hex digits in human-readable formats (what `sha256sum` prints for an
/// unpeppered hash), as 32 bytes in binary ones.
impl serde::Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        if de.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(de)?;
            Self::from_hex(&text).ok_or_else(|| D::Error::custom("a secret hash is 64 hex digits"))
        } else {
            let bytes = <std::borrow::Cow<'de, [u8]>>::deserialize(de)?;
            <[u8; 32]>::try_from(&*bytes)
                .map(Self)
                .map_err(|_| D::Error::invalid_length(bytes.len(), &"32 bytes"))
        }
    }
}

impl SecretHash {
    /// The 64 lowercase hex digits of the hash.
    pub(crate) fn to_hex(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0
            .iter()
            .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]])
            .map(char::from)
            .collect()
    }

    /// Reads 64 hex digits, either case.
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let nibble = |d: u8| char::from(d).to_digit(16).and_then(|n| u8::try_from(n).ok());
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Self(out))
    }
}

/// How secrets are turned into [`SecretHash`]es.
///
/// [`SecretHasher::Sha256`] is the default. [`SecretHasher::hmac_sha256`] keys the hash with
/// a server-side "pepper", so that a leaked table alone cannot be used to test guesses;
/// it is the recommended choice in production. Every replica sharing a store must use the
/// same hasher, and changing it makes every stored token unusable.
///
/// ```
/// use tollgate::SecretHasher;
///
/// let plain = SecretHasher::Sha256;
/// let peppered = SecretHasher::hmac_sha256(b"a key from the secret manager");
/// assert_eq!(plain.hash(b"abc"), plain.hash(b"abc"));
/// assert_ne!(plain.hash(b"abc"), peppered.hash(b"abc"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum SecretHasher {
    /// Plain SHA-256 of the secret.
    #[default]
    Sha256,
    /// HMAC-SHA-256 under a server-side key. Build it with [`SecretHasher::hmac_sha256`].
    HmacSha256(Box<Hmac<Sha256>>),
}

impl SecretHasher {
    /// HMAC-SHA-256 keyed by `pepper` (any length; 32 random bytes is a good choice).
    #[must_use]
    pub fn hmac_sha256(pepper: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes keys of any length");
        Self::HmacSha256(Box::new(mac))
    }

    /// The fewest bytes a pepper read by [`SecretHasher::from_pepper_text`] may have.
    pub const MIN_PEPPER_LEN: usize = 16;

    /// HMAC-SHA-256 keyed by a pepper as it is kept in a file or an environment variable:
    /// the ASCII whitespace around it (a file's last newline) is not part of it, and what
    /// remains must be at least [`MIN_PEPPER_LEN`](Self::MIN_PEPPER_LEN) bytes. Every
    /// process that hashes for one store (each server, an operator's command) must read the
    /// pepper the same way, or their hashes differ and the tokens one of them makes are
    /// refused by the others: this is that one way.
    ///
    /// ```
    /// use tollgate::SecretHasher;
    ///
    /// let from_file = SecretHasher::from_pepper_text(b"0123456789abcdef0123456789abcdef\n")?;
    /// let from_env = SecretHasher::from_pepper_text(b"0123456789abcdef0123456789abcdef")?;
    /// assert_eq!(from_file.hash(b"secret"), from_env.hash(b"secret"));
    /// assert!(SecretHasher::from_pepper_text(b"too short\n").is_err());
    /// # Ok::<(), tollgate::ShortPepper>(())
    /// ```
    ///
    /// # Errors
    /// [`ShortPepper`] when fewer than 16 bytes remain.
    pub fn from_pepper_text(text: &[u8]) -> Result<Self, ShortPepper> {
        let pepper = text.trim_ascii();
        if pepper.len() < Self::MIN_PEPPER_LEN {
            return Err(ShortPepper);
        }
        Ok(Self::hmac_sha256(pepper))
    }

    /// What names this hasher's key without giving it away: `none` for plain SHA-256, else
    /// `hmac-sha256:` and 16 hex digits of the HMAC of a fixed text under the pepper. Every
    /// process of one store must hash alike; a store keeps the fingerprint of the first to
    /// use it, so that another is refused instead of making tokens nobody accepts (see
    /// [`TokenManager::check_pepper`](crate::TokenManager::check_pepper)). The fingerprint
    /// lets whoever reads it test guesses of the pepper, as the secret hashes beside it do:
    /// a pepper of 32 random bytes makes that hopeless, a word does not.
    ///
    /// ```
    /// use tollgate::SecretHasher;
    ///
    /// assert_eq!(SecretHasher::Sha256.fingerprint(), "none");
    /// let one = SecretHasher::hmac_sha256(b"0123456789abcdef0123456789abcdef");
    /// let other = SecretHasher::hmac_sha256(b"fedcba9876543210fedcba9876543210");
    /// assert!(one.fingerprint().starts_with("hmac-sha256:"));
    /// assert_ne!(one.fingerprint(), other.fingerprint());
    /// ```
    #[must_use]
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Sha256 => "none".to_owned(),
            Self::HmacSha256(_) => {
                let keyed = self.hash(b"tollgate pepper fingerprint, version 1");
                let hex = keyed.to_hex();
                format!("hmac-sha256:{}", &hex[..16])
            }
        }
    }

    /// Hashes one secret.
    #[must_use]
    #[inline]
    pub fn hash(&self, secret: &[u8]) -> SecretHash {
        match self {
            Self::Sha256 => SecretHash(sha256(secret)),
            Self::HmacSha256(keyed) => {
                // Cloning the keyed state skips re-deriving the padded key on every call.
                let mut mac = (**keyed).clone();
                mac.update(secret);
                SecretHash(mac.finalize().into_bytes().into())
            }
        }
    }
}

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256. A secret of up to 55 bytes (every generated secret segment) fits one padded
/// block, which is compressed directly: this skips the streaming `Digest` machinery,
/// which costs about as much as the compression itself on the request path. Longer input
/// goes through `Digest`.
fn sha256(data: &[u8]) -> [u8; 32] {
    if data.len() > 55 {
        return Sha256::digest(data).into();
    }
    // FIPS 180-4 §5.1.1: the message, a 1 bit, zeros, and the bit length in 64 bits,
    // written straight into the block type the compression takes (no copy of the block).
    let mut blocks = [sha2::digest::generic_array::GenericArray::<u8, sha2::digest::consts::U64>::default()];
    let block = &mut blocks[0];
    block[..data.len()].copy_from_slice(data);
    block[data.len()] = 0x80;
    block[56..].copy_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    let mut state = SHA256_INIT;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256 => f.write_str("Sha256"),
            Self::HmacSha256(_) => f.write_str("HmacSha256([redacted key])"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_test_vector() {
        // FIPS 180-2, "abc".
        let hash = SecretHasher::Sha256.hash(b"abc");
        let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn one_block_fast_path_matches_the_digest_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=data.len() {
            let expected: [u8; 32] = Sha256::digest(&data[..len]).into();
            assert_eq!(sha256(&data[..len]), expected, "length {len}");
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let hash = SecretHasher::hmac_sha256(b"Jefe").hash(b"what do ya want for nothing?");
        let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn equality_compares_every_byte() {
        let base = SecretHasher::Sha256.hash(b"x");
        assert_eq!(base, base);
        for i in 0..32 {
            let mut bytes = *base.as_bytes();
            bytes[i] ^= 1;
            assert_ne!(SecretHash::from_bytes(bytes), base, "byte {i}");
        }
    }

    #[test]
    fn hashes_serialize_as_the_hex_sha256sum_prints_and_read_back() {
        let hash = SecretHasher::Sha256.hash(b"abc");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(
            json,
            "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""
        );
        assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), hash);
        assert_eq!(serde_json::from_str::<SecretHash>(&json.to_uppercase()).unwrap(), hash);
        for bad in [
            "\"abc\"",
            "\"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
            "12",
        ] {
            assert!(serde_json::from_str::<SecretHash>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_hash_bytes_and_pepper() {
        let hasher = SecretHasher::hmac_sha256(b"pepper-value");
        let hash = hasher.hash(b"x");
        assert_eq!(format!("{hash:?}"), "SecretHash(..)");
        assert!(!format!("{hasher:?}").contains("pepper-value"));
    }
}

/// A pepper shorter than [`SecretHasher::MIN_PEPPER_LEN`] bytes, refused by
/// [`SecretHasher::from_pepper_text`].
///
/// ```
/// use tollgate::{SecretHasher, ShortPepper};
///
/// let err = SecretHasher::from_pepper_text(b"   short   ").err();
/// assert_eq!(err, Some(ShortPepper));
/// assert!(ShortPepper.to_string().contains("at least 16 bytes"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pepper must be at least 16 bytes (32 random bytes is a good choice)")]
pub struct ShortPepper;
