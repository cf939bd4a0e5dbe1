//! Field-level validation errors and the checks shared by every request body.

use std::collections::BTreeMap;

/// Problems with a request, keyed by the field's path (`customer.email`, `limit`, `body`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single problem.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records a problem; the first message for a field wins.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded problems.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// `Ok(())` when empty, the errors otherwise.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Normalises and checks an email address: trimmed, lower-cased, one `@`, a dotted domain.
///
/// Deliberately stricter than RFC 5321 (no quoted local parts, no IP literals): these addresses
/// receive payment notifications and must work with every mail provider.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_ascii_lowercase();
    if email.is_empty() {
        return Err("is required");
    }
    if email.len() > 254 {
        return Err("must be at most 254 characters");
    }
    let (local, domain) = email
        .split_once('@')
        .ok_or("must be a valid email address")?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err("must be a valid email address")
    }
}

/// Checks that a trimmed text has between `min` and `max` characters.
pub fn check_length(errors: &mut FieldErrors, field: &str, value: &str, min: usize, max: usize) {
    let count = value.trim().chars().count();
    if count < min {
        errors.add(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        );
    } else if count > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        assert_eq!(
            normalize_email("  Priya.Sharma+pay@Example.co.in ").as_deref(),
            Ok("priya.sharma+pay@example.co.in")
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@x.com",
            "a@-x.com",
            "a@x.c0m",
            "a..b@x.com",
            "a@x..com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn first_message_per_field_wins() {
        let mut e = FieldErrors::new();
        e.add("email", "first");
        e.add("email", "second");
        assert_eq!(e.fields()["email"], "first");
    }
}
