//! Which audit entries to list: the query's filters, checked. A bad value is a 400 naming its
//! field, never an empty list that looks like "nothing happened".

use crate::error::AppError;
use crate::ids::{CredentialId, MerchantId, UserId};
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Who acted, as a reader of the log sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A dashboard user (to a merchant: one of its own users).
    User,
    /// A merchant's server, by its API key.
    ApiKey,
    /// The platform itself (CLI, seed, jobs).
    System,
    /// Someone not yet authenticated.
    Anonymous,
    /// Platform staff: what a merchant sees of an operator's action (never who).
    Operator,
}

impl ActorType {
    /// The wire name (`actor_type` in the database for all but `operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::System => "system",
            ActorType::Anonymous => "anonymous",
            ActorType::Operator => "operator",
        }
    }
}

impl std::str::FromStr for ActorType {
    type Err = &'static str;
    /// The four kinds the log stores (`operator` is only ever shown, never stored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(ActorType::User),
            "api_key" => Ok(ActorType::ApiKey),
            "system" => Ok(ActorType::System),
            "anonymous" => Ok(ActorType::Anonymous),
            _ => Err("not an actor type the audit log stores"),
        }
    }
}

/// Who reads the log: operators see every entry whole; a merchant sees entries about itself,
/// some with details withheld (see `audit::entries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Operators.
    Platform,
    /// A merchant principal.
    Merchant,
}

/// An action filter: one action, or every action under a dotted prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// `merchant.suspended`: that action only.
    Exact(String),
    /// `merchant.*`: every action starting `merchant.` (not `merchant_return_secret.…`); holds
    /// the prefix with its dot.
    Prefix(String),
}

/// The raw query values, each as the caller sent it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterInput<'a> {
    /// `user`, `api_key`, `system`, `anonymous` (and, for merchants, `operator`).
    pub actor_type: Option<&'a str>,
    /// A `usr_…` or `cred_…` id.
    pub actor_id: Option<&'a str>,
    /// `merchant.suspended` or `merchant.*`.
    pub action: Option<&'a str>,
    /// The kind of object acted on (`merchant`, `webhook_endpoint`, …).
    pub target_type: Option<&'a str>,
    /// The id of the object acted on (with `target_type`).
    pub target_id: Option<&'a str>,
    /// Operators only: one merchant's entries.
    pub merchant_id: Option<&'a str>,
    /// At or after this time (RFC 3339).
    pub from: Option<&'a str>,
    /// Before this time (RFC 3339).
    pub to: Option<&'a str>,
}

/// Checked filters; every one optional, all of them must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Who acted.
    pub actor_type: Option<ActorType>,
    /// The acting user's or key's id, in its public form.
    pub actor_id: Option<String>,
    /// What was done.
    pub action: Option<ActionFilter>,
    /// The kind of object acted on.
    pub target_type: Option<String>,
    /// The object acted on.
    pub target_id: Option<String>,
    /// The merchant concerned (operators only).
    pub merchant_id: Option<MerchantId>,
    /// Inclusive lower bound of `occurred_at`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound of `occurred_at`.
    pub to: Option<DateTime<Utc>>,
}

/// Longest action, target type or target id accepted (audit rows hold short names and ids).
const MAX_TEXT: usize = 200;

impl Filter {
    /// Checks the raw values for `audience`; every problem is reported, each under its field.
    pub fn parse(input: &FilterInput<'_>, audience: Audience) -> Result<Filter, AppError> {
        let mut errors = FieldErrors::new();
        let actor_type = input.actor_type.and_then(|raw| {
            actor_type(raw, audience)
                .map_err(|e| errors.add("actor_type", e))
                .ok()
        });
        let actor_id = input.actor_id.and_then(|raw| {
            actor_id(raw, actor_type)
                .map_err(|e| errors.add("actor_id", e))
                .ok()
        });
        let action = input
            .action
            .and_then(|raw| action(raw).map_err(|e| errors.add("action", e)).ok());
        let target_type = input.target_type.and_then(|raw| {
            if is_name(raw) && raw.len() <= MAX_TEXT {
                Some(raw.to_string())
            } else {
                errors.add(
                    "target_type",
                    "must be lowercase letters and underscores, like merchant or webhook_endpoint",
                );
                None
            }
        });
        let target_id = input.target_id.and_then(|raw| {
            if input.target_type.is_none() {
                errors.add(
                    "target_id",
                    "names an object only together with target_type",
                );
                None
            } else if raw.is_empty() || raw.len() > MAX_TEXT || raw.chars().any(char::is_control) {
                errors.add(
                    "target_id",
                    format!("must be 1 to {MAX_TEXT} printable characters"),
                );
                None
            } else {
                Some(raw.to_string())
            }
        });
        let merchant_id = input.merchant_id.and_then(|raw| match audience {
            Audience::Merchant => {
                errors.add(
                    "merchant_id",
                    "is for operators; a merchant sees its own entries",
                );
                None
            }
            Audience::Platform => raw
                .parse::<MerchantId>()
                .map_err(|e| errors.add("merchant_id", e.to_string()))
                .ok(),
        });
        let from = input
            .from
            .and_then(|raw| time(raw).map_err(|e| errors.add("from", e)).ok());
        let to = input
            .to
            .and_then(|raw| time(raw).map_err(|e| errors.add("to", e)).ok());
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            errors.add("from", "must not be after to");
        }
        errors.into_result()?;
        Ok(Filter {
            actor_type,
            actor_id,
            action,
            target_type,
            target_id,
            merchant_id,
            from,
            to,
        })
    }
}

fn actor_type(raw: &str, audience: Audience) -> Result<ActorType, String> {
    match (raw, audience) {
        ("user", _) => Ok(ActorType::User),
        ("api_key", _) => Ok(ActorType::ApiKey),
        ("system", _) => Ok(ActorType::System),
        ("anonymous", _) => Ok(ActorType::Anonymous),
        ("operator", Audience::Merchant) => Ok(ActorType::Operator),
        (_, Audience::Merchant) => {
            Err("must be one of user, api_key, system, anonymous, operator".into())
        }
        (_, Audience::Platform) => Err("must be one of user, api_key, system, anonymous".into()),
    }
}

/// A user's or key's id in its canonical public form, consistent with `actor_type`.
fn actor_id(raw: &str, actor_type: Option<ActorType>) -> Result<String, String> {
    let (kind, canonical) = if let Ok(user) = raw.parse::<UserId>() {
        (ActorType::User, user.to_string())
    } else if let Ok(key) = raw.parse::<CredentialId>() {
        (ActorType::ApiKey, key.to_string())
    } else {
        return Err(format!(
            "must be a user id ({}_…) or an API key id ({}_…)",
            UserId::PREFIX,
            CredentialId::PREFIX
        ));
    };
    match actor_type {
        None => Ok(canonical),
        Some(t) if t == kind => Ok(canonical),
        Some(ActorType::System | ActorType::Anonymous) => {
            Err("system and anonymous actors have no id".into())
        }
        Some(ActorType::Operator) => Err("operators are not named to merchants".into()),
        Some(t) => Err(format!("is not the id of an actor of type {}", t.as_str())),
    }
}

/// `a.b` (exactly) or `a.*` (every action under `a.`), in the log's own alphabet.
fn action(raw: &str) -> Result<ActionFilter, String> {
    let problem =
        || "must be an action like merchant.suspended, or a prefix like merchant.*".to_string();
    if raw.len() > MAX_TEXT {
        return Err(problem());
    }
    if let Some(prefix) = raw.strip_suffix(".*") {
        return if prefix.split('.').all(is_name) {
            Ok(ActionFilter::Prefix(format!("{prefix}.")))
        } else {
            Err(problem())
        };
    }
    let segments: Vec<&str> = raw.split('.').collect();
    if segments.len() >= 2 && segments.iter().all(|s| is_name(s)) {
        Ok(ActionFilter::Exact(raw.to_string()))
    } else {
        Err(problem())
    }
}

/// Lowercase letters and underscores, at least one (the audit log's `action` segments).
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 time, like 2026-12-04T10:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: FilterInput<'_>, audience: Audience) -> Result<Filter, String> {
        Filter::parse(&input, audience).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn actions_are_exact_or_a_dotted_prefix() {
        assert_eq!(
            action("merchant.suspended"),
            Ok(ActionFilter::Exact("merchant.suspended".into()))
        );
        assert_eq!(
            action("merchant.*"),
            Ok(ActionFilter::Prefix("merchant.".into()))
        );
        assert_eq!(
            action("auth.mfa.*"),
            Ok(ActionFilter::Prefix("auth.mfa.".into()))
        );
        for bad in [
            "merchant",
            "merchant.",
            "*",
            ".*",
            "merchant.*.x",
            "Merchant.created",
            "a..b",
            "a.b%",
            "merchant*",
        ] {
            assert!(action(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actor_ids_must_match_their_type() {
        let user = UserId::generate().to_string();
        let key = CredentialId::generate().to_string();
        assert_eq!(actor_id(&user, Some(ActorType::User)), Ok(user.clone()));
        assert_eq!(actor_id(&key, None), Ok(key.clone()));
        assert!(actor_id(&key, Some(ActorType::User)).is_err());
        assert!(actor_id(&user, Some(ActorType::System)).is_err());
        assert!(actor_id(&user, Some(ActorType::Operator)).is_err());
        assert!(actor_id("mer_0123", None).is_err());
    }

    #[test]
    fn only_merchants_filter_by_operator_and_only_operators_by_merchant() {
        let operator = FilterInput {
            actor_type: Some("operator"),
            ..Default::default()
        };
        assert!(parse(operator, Audience::Platform).is_err());
        assert_eq!(
            parse(operator, Audience::Merchant).unwrap().actor_type,
            Some(ActorType::Operator)
        );
        let merchant = MerchantId::generate().to_string();
        let by_merchant = FilterInput {
            merchant_id: Some(&merchant),
            ..Default::default()
        };
        assert!(parse(by_merchant, Audience::Merchant).is_err());
        assert!(parse(by_merchant, Audience::Platform).is_ok());
    }

    #[test]
    fn times_must_be_rfc_3339_and_in_order() {
        let reversed = FilterInput {
            from: Some("2026-12-01T00:00:00Z"),
            to: Some("2026-12-01T00:00:00+05:30"),
            ..Default::default()
        };
        assert!(
            parse(reversed, Audience::Platform).is_err(),
            "from after to"
        );
        let equal = FilterInput {
            from: Some("2026-12-01T00:00:00Z"),
            to: Some("2026-12-01T05:30:00+05:30"),
            ..Default::default()
        };
        assert!(parse(equal, Audience::Platform).is_ok());
        let bad = FilterInput {
            from: Some("yesterday"),
            ..Default::default()
        };
        assert!(parse(bad, Audience::Platform).unwrap_err().contains("from"));
    }

    #[test]
    fn a_target_id_needs_its_type() {
        let alone = FilterInput {
            target_id: Some("mer_1"),
            ..Default::default()
        };
        assert!(parse(alone, Audience::Platform).is_err());
        let both = FilterInput {
            target_type: Some("merchant"),
            target_id: Some("mer_1"),
            ..Default::default()
        };
        assert!(parse(both, Audience::Platform).is_ok());
        let bad_type = FilterInput {
            target_type: Some("Merchant"),
            ..Default::default()
        };
        assert!(parse(bad_type, Audience::Platform).is_err());
    }
}
