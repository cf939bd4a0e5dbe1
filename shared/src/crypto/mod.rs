//! Cryptography used across the platform: randomness, digests, password hashing and sealing of
//! stored secrets. Every comparison of secret material is constant-time.

pub mod cipher;
pub mod password;
pub mod random;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two byte strings without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
