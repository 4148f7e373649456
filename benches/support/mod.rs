//! What the benchmarks share: tokens computed from their number, so that a store of a
//! million tokens can be filled and verified without keeping the tokens anywhere else.
#![allow(dead_code, unreachable_pub)]

#[path = "../../tests/support/checksum.rs"]
mod checksum;

use checksum::checksum;

use http::HeaderValue;
use tollgate::store::TokenStore;
use tollgate::{SecretHash, SecretHasher, TokenRecord};

/// Token `i`: `(id, whole token, hash of its secret segment)`.
pub fn token(i: u64) -> (String, String, SecretHash) {
    let id = format!("{i:016}");
    let secret = format!("{:043}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let body = format!("tg_{id}_{secret}");
    let sum = checksum(body.as_bytes());
    let sum = std::str::from_utf8(&sum).expect("base62 digits");
    let hash = SecretHasher::Sha256.hash(format!("{secret}{sum}").as_bytes());
    (id, format!("{body}{sum}"), hash)
}

/// `Bearer <token i>`.
pub fn bearer(i: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {}", token(i).1)).expect("token68")
}

/// Creates tokens `0..n` in `store`.
pub async fn fill(store: &dyn TokenStore, n: u64) {
    for i in 0..n {
        let (id, _, hash) = token(i);
        store
            .create(TokenRecord::new(id, format!("t{i}"), hash))
            .await
            .expect("create");
    }
}

/// The median of some samples.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
