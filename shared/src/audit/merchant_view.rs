//! What a merchant may see of the entries about itself. The log is written for operators, so a
//! merchant's reading is cut down three ways:
//!
//! - **who**: an operator is shown as `operator` with no id, and only the merchant's own users
//!   and keys keep their request id and source address (never an operator's or the platform's);
//! - **what**: `before`/`after` are shown only for the actions listed in [`CHANGES_SHOWN`], whose
//!   states are the merchant's own settings as its own routes show them (less any field named
//!   there); every other action's states are withheld (`details_withheld`). A new action is
//!   therefore withheld until someone decides otherwise;
//! - **which**: a few operator-side actions are not shown at all ([`HIDDEN_FROM_MERCHANTS`]).

use super::entries::AuditEntry;
use super::filter::ActorType;
use std::collections::HashSet;

/// `LIKE` patterns of actions a merchant never sees: the platform's dealings with affiliates
/// (commission terms), operators' alert handling, and key-rotation housekeeping (key ids).
pub const HIDDEN_FROM_MERCHANTS: &[&str] = &["merchant.affiliate%", "alert.%", "%.resealed"];

/// Actions whose `before`/`after` a merchant sees, each with the fields taken out first. Routing
/// pools (operators' labels and caps of platform accounts), gateway accounts and ledger suspense
/// are missing on purpose.
const CHANGES_SHOWN: &[(&str, &[&str])] = &[
    ("auth.login", &[]),
    ("auth.logout", &[]),
    ("auth.mfa_enabled", &[]),
    ("auth.mfa_enrolment_started", &[]),
    ("auth.refresh_token_reused", &[]),
    ("merchant.created", &[]),
    ("merchant.credentials_regenerated", &[]),
    ("merchant.fees_replaced", &[]),
    ("merchant.reactivated", &[]),
    ("merchant.return_signing_secret_rotated", &[]),
    ("merchant.suspended", &[]),
    ("merchant.updated", &[]),
    ("notification_recipient.created", &[]),
    ("notification_recipient.deleted", &[]),
    ("notification_recipient.updated", &[]),
    ("refund.created", &[]),
    ("user.locked", &[]),
    ("user.unlocked", &[]),
    ("wallet.thresholds_updated", &[]),
    // The operator who recorded a top-up is not named to the merchant.
    ("wallet.topped_up", &["created_by"]),
    ("webhook_endpoint.created", &[]),
    ("webhook_endpoint.deleted", &[]),
    ("webhook_endpoint.disabled", &[]),
    ("webhook_endpoint.secret_rotated", &[]),
    ("webhook_endpoint.updated", &[]),
];

/// The entry as the merchant whose users are `own_users` may see it.
pub(super) fn disclose(mut entry: AuditEntry, own_users: &HashSet<String>) -> AuditEntry {
    let own = match entry.actor_type {
        ActorType::User => entry
            .actor_id
            .as_ref()
            .is_some_and(|id| own_users.contains(id)),
        // Only a merchant's own keys act on its entries.
        ActorType::ApiKey => true,
        ActorType::System | ActorType::Anonymous | ActorType::Operator => false,
    };
    if entry.actor_type == ActorType::User && !own {
        entry.actor_type = ActorType::Operator;
        entry.actor_id = None;
    }
    if !own {
        entry.request_id = None;
        entry.source_ip = None;
    }
    match CHANGES_SHOWN
        .iter()
        .find(|(action, _)| *action == entry.action)
    {
        Some((_, dropped)) => {
            for state in [&mut entry.before, &mut entry.after].into_iter().flatten() {
                if let Some(fields) = state.as_object_mut() {
                    for field in *dropped {
                        fields.remove(*field);
                    }
                }
            }
        }
        None => {
            entry.details_withheld = entry.before.is_some() || entry.after.is_some();
            entry.before = None;
            entry.after = None;
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;
    use chrono::Utc;
    use serde_json::json;

    fn entry(action: &str, actor_type: ActorType, actor_id: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: 1,
            occurred_at: Utc::now(),
            actor_type,
            actor_id: actor_id.map(str::to_string),
            action: action.to_string(),
            outcome: Outcome::Success,
            merchant_id: None,
            target_type: None,
            target_id: None,
            before: Some(json!({ "label": "platform razorpay" })),
            after: Some(json!({ "amount": 100, "created_by": "usr_ops" })),
            details_withheld: false,
            request_id: Some("req".into()),
            source_ip: Some("10.0.0.1".into()),
        }
    }

    #[test]
    fn operators_are_anonymised_and_their_addresses_dropped() {
        let own: HashSet<String> = ["usr_mine".to_string()].into();
        let seen = disclose(
            entry("merchant.suspended", ActorType::User, Some("usr_ops")),
            &own,
        );
        assert_eq!(
            (seen.actor_type, seen.actor_id),
            (ActorType::Operator, None)
        );
        assert_eq!((seen.request_id, seen.source_ip), (None, None));
        let mine = disclose(entry("auth.login", ActorType::User, Some("usr_mine")), &own);
        assert_eq!(mine.actor_id.as_deref(), Some("usr_mine"));
        assert_eq!(mine.source_ip.as_deref(), Some("10.0.0.1"));
        let system = disclose(entry("merchant.updated", ActorType::System, None), &own);
        assert_eq!(system.source_ip, None);
    }

    #[test]
    fn states_are_shown_only_for_listed_actions_less_their_dropped_fields() {
        let own = HashSet::new();
        let pool = disclose(
            entry("routing_pool.replaced", ActorType::User, Some("usr_ops")),
            &own,
        );
        assert!(pool.details_withheld);
        assert_eq!((pool.before, pool.after), (None, None));
        let top_up = disclose(
            entry("wallet.topped_up", ActorType::User, Some("usr_ops")),
            &own,
        );
        assert!(!top_up.details_withheld);
        assert_eq!(top_up.after, Some(json!({ "amount": 100 })));
    }

    #[test]
    fn the_shown_list_is_sorted_and_names_real_actions() {
        let names: Vec<&str> = CHANGES_SHOWN.iter().map(|(a, _)| *a).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in names {
            assert!(name.contains('.') && !name.ends_with(".resealed"), "{name}");
        }
    }
}
