//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30-second
//! steps, one step of clock drift either way. SHA-1 is what every authenticator app implements;
//! HMAC-SHA-1 has no known weakness that matters for a 30-second code.

use crate::crypto::{constant_time_eq, random};
use crate::secret::Secret;
use hmac::{KeyInit, Mac};

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either way.
const DRIFT_STEPS: i64 = 1;

/// A new 160-bit secret (the RFC 4226 recommendation).
pub fn generate_secret() -> Secret<Vec<u8>> {
    Secret::new(random::bytes::<20>().to_vec())
}

/// The HOTP value of `secret` at `counter`, `digits` long (RFC 4226 section 5.3).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step `code` is valid for at `unix_seconds` (±1 step), if any, and only if it is later
/// than `last_used_step`: a code is good once.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    // Every candidate is computed and compared in constant time, so timing says nothing about
    // which step matched.
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = format!(
            "{:0width$}",
            hotp(secret, counter, DIGITS),
            width = DIGITS as usize
        );
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found.filter(|step| last_used_step.is_none_or(|last| *step > last))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans (issuer and account percent-encoded).
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer_enc = encode(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret_base32}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(account)
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII seed and 8-digit codes.
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let counter = u64::try_from(step_at(time)).unwrap();
            assert_eq!(hotp(seed, counter, 8), code, "T = {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_checked_with_one_step_of_drift_and_once() {
        let seed = b"12345678901234567890";
        let t = 1_111_111_111;
        let code = |time: i64| format!("{:06}", hotp(seed, step_at(time) as u64, 6));
        assert_eq!(verify(seed, &code(t), t, None), Some(step_at(t)));
        assert_eq!(verify(seed, &code(t - 30), t, None), Some(step_at(t) - 1));
        assert_eq!(verify(seed, &code(t + 30), t, None), Some(step_at(t) + 1));
        assert_eq!(verify(seed, &code(t - 90), t, None), None, "too old");
        assert_eq!(
            verify(seed, &code(t), t, Some(step_at(t))),
            None,
            "replayed"
        );
        assert_eq!(verify(seed, "12345", t, None), None);
        assert_eq!(verify(seed, "abcdef", t, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
