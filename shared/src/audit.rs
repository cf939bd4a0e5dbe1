//! The audit log: who did what, to what, with the state before and after. Rows are written in the
//! same transaction as the change they describe, and the database refuses to alter them;
//! [`entries`] reads them back for operators and, cut down, for merchants.

pub mod entries;
pub mod filter;
mod merchant_view;

use crate::db::Transaction;
use crate::ids::{CredentialId, MerchantId, UserId};
use serde_json::Value;
use tokio_postgres::types::Type;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A dashboard user.
    User(UserId),
    /// A merchant's server, by its API key.
    ApiKey(CredentialId),
    /// The platform itself (CLI, seed, jobs).
    System,
    /// Someone not yet authenticated (a failed login).
    Anonymous,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<String>) {
        match self {
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::ApiKey(id) => ("api_key", Some(id.to_string())),
            Actor::System => ("system", None),
            Actor::Anonymous => ("anonymous", None),
        }
    }
}

/// The circumstances of an action: who, and which request.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// Who acted.
    pub actor: Actor,
    /// The request that carried the action.
    pub request_id: Option<String>,
    /// The client's address.
    pub source_ip: Option<String>,
}

impl AuditContext {
    /// The same request, attributed to `actor` (a login is by the user it authenticates).
    pub fn as_actor(&self, actor: Actor) -> AuditContext {
        AuditContext {
            actor,
            ..self.clone()
        }
    }

    /// An action by the platform itself (CLI, seeding).
    pub fn system() -> AuditContext {
        AuditContext {
            actor: Actor::System,
            request_id: None,
            source_ip: None,
        }
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Dotted name, e.g. `merchant.suspended`.
    pub action: &'static str,
    /// Success or failure.
    pub outcome: Outcome,
    /// The merchant the action concerns, if any.
    pub merchant_id: Option<MerchantId>,
    /// The kind and id of the object acted on.
    pub target: Option<(&'static str, String)>,
    /// State before (never secrets).
    pub before: Option<Value>,
    /// State after (never secrets).
    pub after: Option<Value>,
}

impl AuditEvent {
    /// A successful action with no target yet.
    pub fn success(action: &'static str) -> AuditEvent {
        AuditEvent {
            action,
            outcome: Outcome::Success,
            merchant_id: None,
            target: None,
            before: None,
            after: None,
        }
    }

    /// A refused action.
    pub fn failure(action: &'static str) -> AuditEvent {
        AuditEvent {
            outcome: Outcome::Failure,
            ..AuditEvent::success(action)
        }
    }

    /// Sets the merchant concerned (`None` leaves it unset).
    pub fn merchant(mut self, id: impl Into<Option<MerchantId>>) -> AuditEvent {
        self.merchant_id = id.into();
        self
    }

    /// Sets the object acted on.
    pub fn target(mut self, kind: &'static str, id: impl ToString) -> AuditEvent {
        self.target = Some((kind, id.to_string()));
        self
    }

    /// Sets the before and after states.
    pub fn change(mut self, before: Option<Value>, after: Option<Value>) -> AuditEvent {
        self.before = before;
        self.after = after;
        self
    }
}

impl std::str::FromStr for Outcome {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            _ => Err("expected success or failure"),
        }
    }
}

/// Appends an audit row inside the caller's transaction.
pub async fn record(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    event: AuditEvent,
) -> Result<(), tokio_postgres::Error> {
    let (actor_type, actor_id) = ctx.actor.parts();
    let outcome = match event.outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
    };
    let merchant = event.merchant_id.map(|m| m.as_uuid());
    let (target_type, target_id) = match &event.target {
        Some((kind, id)) => (Some(*kind), Some(id.as_str())),
        None => (None, None),
    };
    tx.execute_typed(
        "INSERT INTO audit_log (actor_type, actor_id, merchant_id, action, outcome, target_type, target_id, before, after, request_id, source_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            (&actor_type, Type::TEXT),
            (&actor_id, Type::TEXT),
            (&merchant, Type::UUID),
            (&event.action, Type::TEXT),
            (&outcome, Type::TEXT),
            (&target_type, Type::TEXT),
            (&target_id, Type::TEXT),
            (&event.before, Type::JSONB),
            (&event.after, Type::JSONB),
            (&ctx.request_id, Type::TEXT),
            (&ctx.source_ip, Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}
