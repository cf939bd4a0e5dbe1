//! The audit log read back, newest first, a page at a time: whole for operators, and for a
//! merchant only the entries about it, as `merchant_view` allows.
//!
//! Pages are keyed on the entry id (an identity, so later entries have larger ids): a walk with
//! `starting_after` never meets an entry twice, and entries written while it walks land before
//! its first page instead of shifting the pages after it.

use super::filter::{ActionFilter, ActorType, Filter};
use super::merchant_view;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{MerchantId, UserId};
use crate::mode::Mode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// An entry's id: the log's own sequence, the cursor of its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId(pub i64);

impl FromStr for EntryId {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(EntryId(n)),
            _ => Err("must be the id of an audit log entry (a whole number from 1)"),
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One entry of the audit log, as its reader may see it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Pass the last one as `starting_after` for the next page.
    pub id: i64,
    /// When the action happened (its transaction's start).
    pub occurred_at: DateTime<Utc>,
    /// Who acted; `operator` is what a merchant sees of platform staff.
    pub actor_type: ActorType,
    /// The acting user's or API key's id; never an operator's for a merchant.
    pub actor_id: Option<String>,
    /// Dotted name, e.g. `merchant.suspended`.
    #[schema(pattern = r"^[a-z_]+(\.[a-z_]+)+$")]
    pub action: String,
    /// Whether it happened or was refused.
    pub outcome: super::Outcome,
    /// The merchant concerned, if any.
    pub merchant_id: Option<MerchantId>,
    /// The kind of object acted on.
    pub target_type: Option<String>,
    /// The object acted on.
    pub target_id: Option<String>,
    /// State before (never secrets).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// State after (never secrets).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// True when `before` and `after` were withheld from this reader (a merchant, for actions
    /// whose states hold operators' details).
    pub details_withheld: bool,
    /// The request that carried the action (for a merchant: only its own requests').
    pub request_id: Option<String>,
    /// The client's address (for a merchant: only its own users' and keys').
    pub source_ip: Option<String>,
}

/// Operators: every entry the filters match.
pub async fn list_for_operators(
    tx: &Transaction<'_>,
    filter: &Filter,
    page: &PageRequest<EntryId>,
) -> Result<Page<AuditEntry>, AppError> {
    let rows = query(tx, filter, page, &Restriction::default()).await?;
    let entries = rows.iter().map(entry).collect::<Result<_, _>>()?;
    Ok(Page::from_rows(entries, page.limit))
}

/// A merchant principal in `mode`: the entries about `merchant` only, less those it is never
/// shown, each with what it may not see withheld (see `merchant_view`).
pub async fn list_for_merchant(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
    filter: &Filter,
    page: &PageRequest<EntryId>,
) -> Result<Page<AuditEntry>, AppError> {
    let own_users = own_users(tx, merchant).await?;
    // Asking for someone else's user id would name an operator's entries: it matches nothing.
    if let Some(id) = &filter.actor_id
        && id.starts_with(UserId::PREFIX)
        && !own_users.contains(id)
    {
        return Ok(Page::from_rows(Vec::new(), page.limit));
    }
    let restriction = Restriction {
        merchant: Some(merchant),
        own_users: Some(own_users.iter().cloned().collect()),
        own_actor: match filter.actor_type {
            Some(ActorType::User) => Some(true),
            Some(ActorType::Operator) => Some(false),
            _ => None,
        },
        hidden: Some(
            merchant_view::HIDDEN_FROM_MERCHANTS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        ),
        other_mode: Some(match mode {
            Mode::Test => Mode::Live,
            Mode::Live => Mode::Test,
        }),
    };
    let rows = query(tx, filter, page, &restriction).await?;
    let entries = rows
        .iter()
        .map(|row| entry(row).map(|e| merchant_view::disclose(e, &own_users)))
        .collect::<Result<_, _>>()?;
    Ok(Page::from_rows(entries, page.limit))
}

/// What a merchant's reading adds to the filters.
#[derive(Default)]
struct Restriction {
    /// Only this merchant's entries (Row Level Security says so too; this is the second line).
    merchant: Option<MerchantId>,
    /// The merchant's own users' ids.
    own_users: Option<Vec<String>>,
    /// `actor_type=user` (true) or `operator` (false): by a user who is (not) one of them.
    own_actor: Option<bool>,
    /// `LIKE` patterns of actions never shown.
    hidden: Option<Vec<String>>,
    /// Entries recording this mode (`before`/`after` `mode`) are the other mode's principals'.
    other_mode: Option<Mode>,
}

async fn query(
    tx: &Transaction<'_>,
    filter: &Filter,
    page: &PageRequest<EntryId>,
    restriction: &Restriction,
) -> Result<Vec<tokio_postgres::Row>, AppError> {
    // `user` and `operator` are decided by `own_actor` for a merchant, by the column otherwise.
    let stored_actor_type = match (filter.actor_type, restriction.own_actor) {
        (Some(_), Some(_)) | (None, _) => None,
        (Some(t), None) => Some(t.as_str()),
    };
    let (exact, prefix) = match &filter.action {
        Some(ActionFilter::Exact(a)) => (Some(a.as_str()), None),
        Some(ActionFilter::Prefix(p)) => (None, Some(p.as_str())),
        None => (None, None),
    };
    let merchant = restriction
        .merchant
        .or(filter.merchant_id)
        .map(|m| m.as_uuid());
    let rows = tx
        .query_typed(
            "SELECT id, occurred_at, actor_type, actor_id, merchant_id, action, outcome, target_type,
                    target_id, before, after, request_id, source_ip
               FROM audit_log
              WHERE ($1::text IS NULL OR actor_type = $1)
                AND ($2::text IS NULL OR actor_id = $2)
                AND ($3::text IS NULL OR action = $3)
                AND ($4::text IS NULL OR starts_with(action, $4))
                AND ($5::text IS NULL OR target_type = $5)
                AND ($6::text IS NULL OR target_id = $6)
                AND ($7::uuid IS NULL OR merchant_id = $7)
                AND ($8::timestamptz IS NULL OR occurred_at >= $8)
                AND ($9::timestamptz IS NULL OR occurred_at < $9)
                AND ($10::bool IS NULL OR (actor_type = 'user' AND (actor_id = ANY($11)) = $10))
                AND ($12::text[] IS NULL OR NOT (action LIKE ANY($12)))
                AND ($13::text IS NULL OR coalesce(after ->> 'mode', before ->> 'mode') IS DISTINCT FROM $13)
                AND ($14::int8 IS NULL OR id < $14)
              ORDER BY id DESC
              LIMIT $15",
            &[
                (&stored_actor_type, Type::TEXT),
                (&filter.actor_id, Type::TEXT),
                (&exact, Type::TEXT),
                (&prefix, Type::TEXT),
                (&filter.target_type, Type::TEXT),
                (&filter.target_id, Type::TEXT),
                (&merchant, Type::UUID),
                (&filter.from, Type::TIMESTAMPTZ),
                (&filter.to, Type::TIMESTAMPTZ),
                (&restriction.own_actor, Type::BOOL),
                (&restriction.own_users, Type::TEXT_ARRAY),
                (&restriction.hidden, Type::TEXT_ARRAY),
                (&restriction.other_mode.map(Mode::as_str), Type::TEXT),
                (&page.starting_after.map(|c| c.0), Type::INT8),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(rows)
}

/// The merchant's own users, by their public ids (Row Level Security shows no one else's).
async fn own_users(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<HashSet<String>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id FROM users WHERE merchant_id = $1",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let id: Uuid = Record::new(row, "users").get("id")?;
            Ok(UserId::from_uuid(id).to_string())
        })
        .collect()
}

fn entry(row: &tokio_postgres::Row) -> Result<AuditEntry, AppError> {
    let r = Record::new(row, "audit_log");
    Ok(AuditEntry {
        id: r.get("id")?,
        occurred_at: r.get("occurred_at")?,
        actor_type: r.parse("actor_type")?,
        actor_id: r.get("actor_id")?,
        action: r.get("action")?,
        outcome: r.parse("outcome")?,
        merchant_id: r
            .get::<Option<Uuid>>("merchant_id")?
            .map(MerchantId::from_uuid),
        target_type: r.get("target_type")?,
        target_id: r.get("target_id")?,
        before: r.get("before")?,
        after: r.get("after")?,
        details_withheld: false,
        request_id: r.get("request_id")?,
        source_ip: r.get("source_ip")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_is_a_positive_entry_id() {
        assert_eq!("42".parse::<EntryId>(), Ok(EntryId(42)));
        for bad in ["0", "-1", "4.2", "mer_1", "", "99999999999999999999"] {
            assert!(bad.parse::<EntryId>().is_err(), "{bad}");
        }
    }
}
