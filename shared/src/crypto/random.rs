//! Randomness from the operating system.

/// The base62 alphabet used in keys and tokens: no symbols, so they survive copy and paste.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills an array with OS randomness.
///
/// # Panics
/// If the operating system cannot provide randomness, which leaves no safe way to continue.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system random number generator failed");
    buf
}

/// A uniformly random base62 string of `len` characters (rejection sampling, no modulo bias).
pub fn base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<64>() {
            // 248 = 4 * 62: values at or above it would bias the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base62_has_the_length_and_alphabet_asked_for() {
        let s = super::base62(40);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(s, super::base62(40));
    }
}
