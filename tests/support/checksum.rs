//! The checksum of a structured token, written from the token format's description, apart
//! from the crate's own code. Shared by the tests, the benches and the fuzz targets.

/// CRC-32 (zlib polynomial) of `body`, as six base62 digits (`0-9A-Za-z`), most significant
/// first, left-padded with `0`.
pub fn checksum(body: &[u8]) -> [u8; 6] {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value = u64::from(crc32fast::hash(body));
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}
