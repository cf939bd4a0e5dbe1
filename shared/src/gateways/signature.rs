//! Gateway signatures: HMAC-SHA256 and the pipe-joined SHA-512 hashes of PayU and Easebuzz,
//! computed here and compared in constant time.

use crate::crypto::constant_time_eq;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Lower-case hex SHA-512 of `fields` joined with `|` (empty fields keep their place).
pub fn sha512_pipe_hex(fields: &[&str]) -> String {
    hex::encode(Sha512::digest(fields.join("|").as_bytes()))
}

/// Whether `presented_hex` is the hash of `fields`, compared in constant time; case-insensitive
/// hex, fails closed.
pub fn verify_sha512_pipe_hex(fields: &[&str], presented_hex: &str) -> bool {
    let expected = sha512_pipe_hex(fields);
    constant_time_eq(
        expected.as_bytes(),
        presented_hex.trim().to_ascii_lowercase().as_bytes(),
    )
}

/// Lower-case hex HMAC-SHA256 of `message` under `secret`.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(b"k")
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Whether `presented_hex` is the HMAC of `message`, compared in constant time; fails closed.
pub fn verify_hmac_sha256_hex(secret: &[u8], message: &[u8], presented_hex: &str) -> bool {
    let Ok(presented) = hex::decode(presented_hex.trim()) else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
    mac.update(message);
    mac.verify_slice(&presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256_hex(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(!verify_hmac_sha256_hex(
            b"Jefe",
            b"what do ya want for nothing!",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(!verify_hmac_sha256_hex(b"Jefe", b"x", "not hex"));
    }
}
