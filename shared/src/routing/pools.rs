//! Routing pools as operators edit them and merchants read them: a merchant's mode and its members
//! (which gateway accounts, in which order and share, up to which volume).
//!
//! Every change to a pool moves its `version` by one, in the same transaction as the change. An
//! edit names the version it was based on and is refused (`409 CONFLICT`) when the pool has moved
//! since, so two operators editing at once never silently overwrite each other: the compare and
//! set is one `UPDATE … WHERE version = $2`, and its row lock makes the second editor wait for the
//! first and then find the version gone.
//!
//! What may be in a pool: an account that exists and is not archived, owned by the platform or by
//! this merchant, and live only while the merchant's live mode is enabled. A disabled account may
//! stay in the pool only as a disabled member (`enabled: false`), so the pool can keep its place
//! and caps for when it is enabled again, but no edit pretends it routes payments meanwhile.

use super::engine::RoutingMode;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The most members a pool may have: more is a mistake, and every payment reads them all.
pub const MAX_MEMBERS: usize = 50;
/// The largest priority number (the lowest preference); 0 is tried first.
pub const MAX_PRIORITY: i64 = 1000;
/// The largest weight.
pub const MAX_WEIGHT: i64 = 10_000;
/// A member's weight when none is sent (the column's default).
pub const DEFAULT_WEIGHT: i64 = 100;

/// A merchant's routing pool as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutingPool)]
pub struct Pool {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// How the pool chooses among its eligible members.
    pub mode: RoutingMode,
    /// Moves by one with every change; send it back with an edit.
    #[schema(minimum = 1)]
    pub version: i64,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its members, by priority (lowest first), then account id.
    pub members: Vec<Member>,
}

/// One member of a pool as operators see it (never credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutingPoolMember)]
pub struct Member {
    /// The gateway account.
    pub account_id: GatewayAccountId,
    /// Its provider.
    #[schema(value_type = crate::gateways::Provider)]
    pub provider: String,
    /// Its name for operators.
    pub label: String,
    /// The environment it takes payments in: only payments of that mode use it.
    pub environment: Mode,
    /// `platform` or `merchant`.
    #[schema(pattern = "^(platform|merchant)$")]
    pub ownership: String,
    /// Lower is tried first (priority mode, and the failover order).
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: i32,
    /// Share in weighted mode.
    #[schema(minimum = 0, maximum = 10000)]
    pub weight: i32,
    /// Most paise per Asia/Kolkata day through this member (`null`: no cap).
    #[schema(minimum = 1)]
    pub daily_cap: Option<i64>,
    /// Most paise per Asia/Kolkata month through this member (`null`: no cap).
    #[schema(minimum = 1)]
    pub monthly_cap: Option<i64>,
    /// Whether the member takes payments.
    pub enabled: bool,
    /// The account's own state: `active`, `disabled` or `archived`.
    #[schema(pattern = "^(active|disabled|archived)$")]
    pub account_status: String,
}

impl Member {
    fn from_row(row: &Row) -> Result<Member, DecodeError> {
        let row = Record::new(row, "routing_pool_members");
        Ok(Member {
            account_id: GatewayAccountId::from_uuid(row.get("id")?),
            provider: row.get("provider")?,
            label: row.get("label")?,
            environment: row.parse("environment")?,
            ownership: row.get("ownership")?,
            priority: row.get("priority")?,
            weight: row.get("weight")?,
            daily_cap: row.get("daily_cap")?,
            monthly_cap: row.get("monthly_cap")?,
            enabled: row.get("enabled")?,
            account_status: row.get("status")?,
        })
    }
}

/// `PUT /api/v1/admin/merchants/{id}/routing`: the whole pool, replacing mode and members.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplaceRoutingPool, example = json!({
    "version": 3,
    "mode": "priority",
    "members": [
        { "account_id": "gwa_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f", "priority": 0, "monthly_cap": 500000000 },
        { "account_id": "gwa_0190f0c2a4b87c3e9d1f2a3b4c5d6e80", "priority": 10, "enabled": false }
    ]
}))]
pub struct ReplacePool {
    /// The version this edit is based on (from the last read): another is refused with `409`.
    #[schema(minimum = 1)]
    pub version: i64,
    /// `priority`, `round_robin`, `weighted` or `smart`.
    #[schema(value_type = RoutingMode)]
    pub mode: String,
    /// Every member: accounts not listed leave the pool.
    #[schema(max_items = 50)]
    pub members: Vec<MemberRequest>,
}

/// One member of a pool replacement.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RoutingPoolMemberRequest)]
pub struct MemberRequest {
    /// The gateway account: platform-owned or the merchant's own, not archived.
    #[schema(value_type = GatewayAccountId)]
    pub account_id: String,
    /// 0 to 1000, lower first (default: the member's position in the list).
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: Option<i64>,
    /// 1 to 10000, the share in weighted mode (default 100).
    #[schema(minimum = 1, maximum = 10000)]
    pub weight: Option<i64>,
    /// Most paise per Asia/Kolkata day (default: no cap).
    #[schema(minimum = 1)]
    pub daily_cap: Option<i64>,
    /// Most paise per Asia/Kolkata month (default: no cap).
    #[schema(minimum = 1)]
    pub monthly_cap: Option<i64>,
    /// Whether it takes payments (default true; must be false for a disabled account).
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/admin/merchants/{id}/routing/priorities`: new priorities of some members.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChangeRoutingPriorities, example = json!({
    "version": 4,
    "priorities": [
        { "account_id": "gwa_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f", "priority": 10 },
        { "account_id": "gwa_0190f0c2a4b87c3e9d1f2a3b4c5d6e80", "priority": 0 }
    ]
}))]
pub struct ChangePriorities {
    /// The version this edit is based on (from the last read): another is refused with `409`.
    #[schema(minimum = 1)]
    pub version: i64,
    /// Members already in the pool and their new priorities; the others keep theirs.
    #[schema(min_items = 1, max_items = 50)]
    pub priorities: Vec<PriorityRequest>,
}

/// One member's new priority.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RoutingPriority)]
pub struct PriorityRequest {
    /// A member of the pool.
    #[schema(value_type = GatewayAccountId)]
    pub account_id: String,
    /// 0 to 1000, lower first.
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: i64,
}

/// What validation needs to know about a gateway account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    /// The owning merchant (`None`: platform-owned).
    pub owner: Option<MerchantId>,
    /// Its environment.
    pub environment: Mode,
    /// `active`, `disabled` or `archived`.
    pub status: String,
}

/// A member as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// The account.
    pub account: GatewayAccountId,
    /// 0..=1000.
    pub priority: i32,
    /// 1..=10000.
    pub weight: i32,
    /// Paise per day, positive.
    pub daily_cap: Option<i64>,
    /// Paise per month, positive.
    pub monthly_cap: Option<i64>,
    /// Takes payments.
    pub enabled: bool,
}

/// The account ids of a request that parse, by position; a malformed one is reported at its path.
fn parse_ids<'a>(
    errors: &mut FieldErrors,
    list: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Vec<Option<GatewayAccountId>> {
    let mut seen = BTreeSet::new();
    ids.enumerate()
        .map(|(i, raw)| match raw.parse::<GatewayAccountId>() {
            Ok(id) => {
                if !seen.insert(id) {
                    errors.add(
                        format!("{list}[{i}].account_id"),
                        "is listed more than once",
                    );
                }
                Some(id)
            }
            Err(_) => {
                errors.add(
                    format!("{list}[{i}].account_id"),
                    "must be a gateway account id (gwa_ and 32 lowercase hexadecimal digits)",
                );
                None
            }
        })
        .collect()
}

fn check_version(errors: &mut FieldErrors, version: i64) {
    if version < 1 {
        errors.add(
            "version",
            "must be the pool's version, a whole number from 1",
        );
    }
}

fn check_priority(errors: &mut FieldErrors, path: String, priority: i64) -> i32 {
    match i32::try_from(priority) {
        Ok(p) if (0..=MAX_PRIORITY).contains(&priority) => p,
        _ => {
            errors.add(path, format!("must be from 0 to {MAX_PRIORITY}"));
            0
        }
    }
}

/// Checks a whole pool against the accounts it names; every problem at once, by field path
/// (`members[2].weight`). `accounts` holds what exists of the named accounts.
pub fn validate(
    request: &ReplacePool,
    merchant: MerchantId,
    live_enabled: bool,
    accounts: &HashMap<GatewayAccountId, AccountFacts>,
) -> Result<(RoutingMode, Vec<NewMember>), FieldErrors> {
    let mut errors = FieldErrors::new();
    check_version(&mut errors, request.version);
    let mode = request.mode.parse::<RoutingMode>().ok();
    if mode.is_none() {
        let names: Vec<&str> = RoutingMode::ALL.iter().map(|m| m.as_str()).collect();
        errors.add("mode", format!("must be one of: {}", names.join(", ")));
    }
    if request.members.len() > MAX_MEMBERS {
        errors.add(
            "members",
            format!("a pool has at most {MAX_MEMBERS} members"),
        );
    }
    let ids = parse_ids(
        &mut errors,
        "members",
        request.members.iter().map(|m| m.account_id.as_str()),
    );
    let mut members = Vec::with_capacity(request.members.len());
    for (i, (member, id)) in request.members.iter().zip(ids).enumerate() {
        let at = |field: &str| format!("members[{i}].{field}");
        let default_priority = i64::try_from(i).unwrap_or(MAX_PRIORITY).min(MAX_PRIORITY);
        let priority = check_priority(
            &mut errors,
            at("priority"),
            member.priority.unwrap_or(default_priority),
        );
        let weight = member.weight.unwrap_or(DEFAULT_WEIGHT);
        let weight = match i32::try_from(weight) {
            Ok(w) if (1..=MAX_WEIGHT).contains(&weight) => w,
            _ => {
                errors.add(at("weight"), format!("must be from 1 to {MAX_WEIGHT}"));
                0
            }
        };
        for (field, cap) in [
            ("daily_cap", member.daily_cap),
            ("monthly_cap", member.monthly_cap),
        ] {
            if cap.is_some_and(|c| c <= 0) {
                errors.add(
                    at(field),
                    "must be a positive amount in paise, or null for no cap",
                );
            }
        }
        if let (Some(day), Some(month)) = (member.daily_cap, member.monthly_cap)
            && day > 0
            && month > 0
            && day > month
        {
            errors.add(at("daily_cap"), "must not exceed monthly_cap");
        }
        let enabled = member.enabled.unwrap_or(true);
        let Some(id) = id else { continue };
        match accounts.get(&id) {
            None => errors.add(at("account_id"), "no such gateway account"),
            Some(facts) => {
                if facts.owner.is_some_and(|owner| owner != merchant) {
                    errors.add(at("account_id"), "belongs to another merchant");
                } else if facts.status == "archived" {
                    errors.add(at("account_id"), "is archived");
                } else if facts.environment == Mode::Live && !live_enabled {
                    errors.add(
                        at("account_id"),
                        "is a live account, and live mode is not enabled for this merchant",
                    );
                }
                if facts.status == "disabled" && enabled {
                    errors.add(
                        at("enabled"),
                        "must be false: the account is disabled (it may stay in the pool only as a disabled member)",
                    );
                }
            }
        }
        members.push(NewMember {
            account: id,
            priority,
            weight,
            daily_cap: member.daily_cap,
            monthly_cap: member.monthly_cap,
            enabled,
        });
    }
    errors.into_result()?;
    let mode = mode.ok_or_else(|| FieldErrors::single("mode", "is not a routing mode"))?;
    Ok((mode, members))
}

/// The pool of `merchant`, if the transaction's scope sees it.
pub async fn get(tx: &Transaction<'_>, merchant: MerchantId) -> Result<Option<Pool>, AppError> {
    let Some(row) = tx
        .query_typed_opt(
            "SELECT strategy, version, updated_at FROM routing_pools WHERE merchant_id = $1",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Ok(None);
    };
    let pool = Record::new(&row, "routing_pools");
    let rows = tx
        .query_typed(
            "SELECT a.id, a.provider, a.label, a.environment, a.ownership, a.status,
                    p.priority, p.weight, p.daily_cap, p.monthly_cap, p.enabled
               FROM routing_pool_members p JOIN gateway_accounts a ON a.id = p.gateway_account_id
              WHERE p.merchant_id = $1
              ORDER BY p.priority, a.id",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(Some(Pool {
        merchant_id: merchant,
        mode: pool.parse("strategy")?,
        version: pool.get("version")?,
        updated_at: pool.get("updated_at")?,
        members: rows
            .iter()
            .map(Member::from_row)
            .collect::<Result<_, _>>()?,
    }))
}

/// Whether the merchant exists, and whether its live mode is enabled.
async fn live_enabled(tx: &Transaction<'_>, merchant: MerchantId) -> Result<bool, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT live_enabled FROM merchants WHERE id = $1",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    Ok(Record::new(&row, "merchants").get("live_enabled")?)
}

/// What exists of the accounts `ids`, share-locked: an account cannot be archived, disabled or
/// given to another owner between this check and the commit of the pool that relies on it.
async fn account_facts(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<GatewayAccountId, AccountFacts>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id, owner_merchant_id, environment, status FROM gateway_accounts
              WHERE id = ANY($1) FOR SHARE",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let row = Record::new(row, "gateway_accounts");
            Ok((
                GatewayAccountId::from_uuid(row.get("id")?),
                AccountFacts {
                    owner: row
                        .get::<Option<Uuid>>("owner_merchant_id")?
                        .map(MerchantId::from_uuid),
                    environment: row.parse("environment")?,
                    status: row.get("status")?,
                },
            ))
        })
        .collect()
}

fn stale(sent: i64, current: i64) -> AppError {
    AppError::Conflict(format!(
        "the routing pool is at version {current}, not {sent}: read it again and apply the change to it"
    ))
}

/// The compare and set: moves the pool from version `expected` to the next, with `mode`, or
/// answers `409` when another change got there first. The row lock it takes holds every other
/// change of this pool (they all go through here or [`touch`]) until the transaction ends.
async fn advance(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    expected: i64,
    mode: RoutingMode,
) -> Result<(), AppError> {
    let advanced = tx
        .execute_typed(
            "UPDATE routing_pools SET strategy = $3, version = version + 1, updated_at = now()
              WHERE merchant_id = $1 AND version = $2",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&expected, Type::INT8),
                (&mode.as_str(), Type::TEXT),
            ],
        )
        .await?;
    if advanced == 1 {
        return Ok(());
    }
    let current = tx
        .query_typed_opt(
            "SELECT version FROM routing_pools WHERE merchant_id = $1",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("routing pool"))?;
    Err(stale(
        expected,
        Record::new(&current, "routing_pools").get("version")?,
    ))
}

/// Moves a pool's version on a change made elsewhere (adding an account to it), so that an edit
/// based on the version before is refused rather than undoing the change. Takes the row lock.
pub async fn touch(tx: &Transaction<'_>, merchant: MerchantId) -> Result<(), AppError> {
    tx.execute_typed(
        "UPDATE routing_pools SET version = version + 1, updated_at = now() WHERE merchant_id = $1",
        &[(&merchant.as_uuid(), Type::UUID)],
    )
    .await?;
    Ok(())
}

fn snapshot(pool: &Pool) -> Option<serde_json::Value> {
    serde_json::to_value(pool).ok()
}

/// Replaces a pool's mode and members if it is still at `request.version` (operator scope);
/// audited with the pool before and after. Answers the new pool.
pub async fn replace(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
    request: ReplacePool,
) -> Result<Pool, AppError> {
    let live = live_enabled(tx, merchant).await?;
    let ids: Vec<Uuid> = request
        .members
        .iter()
        .filter_map(|m| m.account_id.parse::<GatewayAccountId>().ok())
        .map(|id| id.as_uuid())
        .collect();
    let accounts = account_facts(tx, &ids).await?;
    let (mode, members) = validate(&request, merchant, live, &accounts)?;
    let before = get(tx, merchant)
        .await?
        .ok_or(AppError::NotFound("routing pool"))?;
    if before.version != request.version {
        return Err(stale(request.version, before.version));
    }
    advance(tx, merchant, request.version, mode).await?;
    let accounts: Vec<Uuid> = members.iter().map(|m| m.account.as_uuid()).collect();
    tx.execute_typed(
        "DELETE FROM routing_pool_members WHERE merchant_id = $1 AND gateway_account_id <> ALL($2)",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&accounts, Type::UUID_ARRAY),
        ],
    )
    .await?;
    let priorities: Vec<i32> = members.iter().map(|m| m.priority).collect();
    let weights: Vec<i32> = members.iter().map(|m| m.weight).collect();
    let enabled: Vec<bool> = members.iter().map(|m| m.enabled).collect();
    let daily: Vec<Option<i64>> = members.iter().map(|m| m.daily_cap).collect();
    let monthly: Vec<Option<i64>> = members.iter().map(|m| m.monthly_cap).collect();
    tx.execute_typed(
        "INSERT INTO routing_pool_members
             (merchant_id, gateway_account_id, priority, weight, enabled, daily_cap, monthly_cap)
         SELECT $1, m.account, m.priority, m.weight, m.enabled, m.daily_cap, m.monthly_cap
           FROM unnest($2::uuid[], $3::int4[], $4::int4[], $5::bool[], $6::int8[], $7::int8[])
                AS m(account, priority, weight, enabled, daily_cap, monthly_cap)
         ON CONFLICT (merchant_id, gateway_account_id) DO UPDATE
            SET priority = EXCLUDED.priority, weight = EXCLUDED.weight, enabled = EXCLUDED.enabled,
                daily_cap = EXCLUDED.daily_cap, monthly_cap = EXCLUDED.monthly_cap, updated_at = now()",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&accounts, Type::UUID_ARRAY),
            (&priorities, Type::INT4_ARRAY),
            (&weights, Type::INT4_ARRAY),
            (&enabled, Type::BOOL_ARRAY),
            (&daily, Type::INT8_ARRAY),
            (&monthly, Type::INT8_ARRAY),
        ],
    )
    .await?;
    audited(tx, ctx, merchant, "routing_pool.replaced", &before).await
}

/// Sets new priorities on members already in the pool if it is still at `request.version`
/// (operator scope); the other members keep theirs. Audited; answers the new pool.
pub async fn change_priorities(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
    request: ChangePriorities,
) -> Result<Pool, AppError> {
    live_enabled(tx, merchant).await?;
    let before = get(tx, merchant)
        .await?
        .ok_or(AppError::NotFound("routing pool"))?;
    let mut errors = FieldErrors::new();
    check_version(&mut errors, request.version);
    if request.priorities.is_empty() {
        errors.add("priorities", "must name at least one member");
    } else if request.priorities.len() > MAX_MEMBERS {
        errors.add(
            "priorities",
            format!("a pool has at most {MAX_MEMBERS} members"),
        );
    }
    let ids = parse_ids(
        &mut errors,
        "priorities",
        request.priorities.iter().map(|p| p.account_id.as_str()),
    );
    let members: BTreeSet<GatewayAccountId> = before.members.iter().map(|m| m.account_id).collect();
    let mut accounts = Vec::new();
    let mut priorities = Vec::new();
    for (i, (change, id)) in request.priorities.iter().zip(ids).enumerate() {
        let priority = check_priority(
            &mut errors,
            format!("priorities[{i}].priority"),
            change.priority,
        );
        let Some(id) = id else { continue };
        if !members.contains(&id) {
            errors.add(
                format!("priorities[{i}].account_id"),
                "is not a member of this pool",
            );
        }
        accounts.push(id.as_uuid());
        priorities.push(priority);
    }
    errors.into_result()?;
    if before.version != request.version {
        return Err(stale(request.version, before.version));
    }
    advance(tx, merchant, request.version, before.mode).await?;
    tx.execute_typed(
        "UPDATE routing_pool_members p SET priority = c.priority, updated_at = now()
           FROM unnest($2::uuid[], $3::int4[]) AS c(account, priority)
          WHERE p.merchant_id = $1 AND p.gateway_account_id = c.account",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&accounts, Type::UUID_ARRAY),
            (&priorities, Type::INT4_ARRAY),
        ],
    )
    .await?;
    audited(
        tx,
        ctx,
        merchant,
        "routing_pool.priorities_changed",
        &before,
    )
    .await
}

/// Reads the pool as changed and audits `action` with it before and after; answers it.
async fn audited(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
    action: &'static str,
    before: &Pool,
) -> Result<Pool, AppError> {
    let after = get(tx, merchant)
        .await?
        .ok_or(AppError::NotFound("routing pool"))?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success(action)
            .merchant(merchant)
            .target("routing_pool", merchant)
            .change(snapshot(before), snapshot(&after)),
    )
    .await?;
    Ok(after)
}

/// A merchant's own pool in one environment, as the merchant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = MerchantRoutingPool)]
pub struct MerchantPool {
    /// How the pool chooses among its eligible members.
    pub mode: RoutingMode,
    /// Moves by one with every change the platform makes to the pool.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The environment shown: the caller's mode.
    pub environment: Mode,
    /// The members of that environment, by priority (lowest first).
    pub members: Vec<MerchantMember>,
}

/// One member of a merchant's own pool. Platform-owned accounts show neither their label nor
/// their caps (the platform's business); the merchant's own accounts show both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = MerchantRoutingPoolMember)]
pub struct MerchantMember {
    /// The gateway account.
    pub account_id: GatewayAccountId,
    /// Its provider.
    #[schema(value_type = crate::gateways::Provider)]
    pub provider: String,
    /// `platform` or `merchant`.
    #[schema(pattern = "^(platform|merchant)$")]
    pub ownership: String,
    /// Its name (the merchant's own accounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Lower is tried first.
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: i32,
    /// Share in weighted mode.
    #[schema(minimum = 0, maximum = 10000)]
    pub weight: i32,
    /// Most paise per day (the merchant's own accounts only; `null`: no cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub daily_cap: Option<Option<i64>>,
    /// Most paise per month (the merchant's own accounts only; `null`: no cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub monthly_cap: Option<Option<i64>>,
    /// Whether the member takes payments.
    pub enabled: bool,
    /// The account's own state: `active`, `disabled` or `archived`.
    #[schema(pattern = "^(active|disabled|archived)$")]
    pub account_status: String,
}

impl From<Member> for MerchantMember {
    fn from(member: Member) -> MerchantMember {
        let own = member.ownership == "merchant";
        MerchantMember {
            account_id: member.account_id,
            provider: member.provider,
            ownership: member.ownership,
            label: own.then_some(member.label),
            priority: member.priority,
            weight: member.weight,
            daily_cap: own.then_some(member.daily_cap),
            monthly_cap: own.then_some(member.monthly_cap),
            enabled: member.enabled,
            account_status: member.account_status,
        }
    }
}

/// The merchant's own pool, members of `environment` only (merchant scope: Row Level Security
/// shows it only its own pool, and of accounts only the platform's and its own).
pub async fn for_merchant(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    environment: Mode,
) -> Result<MerchantPool, AppError> {
    let pool = get(tx, merchant)
        .await?
        .ok_or(AppError::NotFound("routing pool"))?;
    Ok(MerchantPool {
        mode: pool.mode,
        version: pool.version,
        environment,
        members: pool
            .members
            .into_iter()
            .filter(|m| m.environment == environment)
            .map(MerchantMember::from)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> MemberRequest {
        MemberRequest {
            account_id: id.into(),
            priority: None,
            weight: None,
            daily_cap: None,
            monthly_cap: None,
            enabled: None,
        }
    }

    fn id(n: u8) -> GatewayAccountId {
        format!("gwa_{:032x}", n).parse().unwrap()
    }

    fn facts(owner: Option<MerchantId>, environment: Mode, status: &str) -> AccountFacts {
        AccountFacts {
            owner,
            environment,
            status: status.into(),
        }
    }

    #[test]
    fn defaults_follow_the_list_order() {
        let merchant = MerchantId::generate();
        let accounts = HashMap::from([
            (id(1), facts(None, Mode::Test, "active")),
            (id(2), facts(Some(merchant), Mode::Test, "active")),
        ]);
        let request = ReplacePool {
            version: 1,
            mode: "weighted".into(),
            members: vec![member(&id(1).to_string()), member(&id(2).to_string())],
        };
        let (mode, members) = validate(&request, merchant, false, &accounts).unwrap();
        assert_eq!(mode, RoutingMode::Weighted);
        assert_eq!(
            members,
            vec![
                NewMember {
                    account: id(1),
                    priority: 0,
                    weight: 100,
                    daily_cap: None,
                    monthly_cap: None,
                    enabled: true
                },
                NewMember {
                    account: id(2),
                    priority: 1,
                    weight: 100,
                    daily_cap: None,
                    monthly_cap: None,
                    enabled: true
                },
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let merchant = MerchantId::generate();
        let accounts = HashMap::from([
            (
                id(1),
                facts(Some(MerchantId::generate()), Mode::Test, "active"),
            ),
            (id(2), facts(None, Mode::Live, "active")),
            (id(3), facts(None, Mode::Test, "archived")),
            (id(4), facts(None, Mode::Test, "disabled")),
        ]);
        let mut members: Vec<MemberRequest> = (1..=4).map(|n| member(&id(n).to_string())).collect();
        members[0].weight = Some(0);
        members[1].priority = Some(1001);
        members[2].daily_cap = Some(0);
        members.push(member(&id(1).to_string()));
        members.push(member("gwa_nope"));
        members.push(MemberRequest {
            daily_cap: Some(10),
            monthly_cap: Some(5),
            ..member(&id(9).to_string())
        });
        let request = ReplacePool {
            version: 0,
            mode: "fastest".into(),
            members,
        };
        let errors = validate(&request, merchant, false, &accounts).unwrap_err();
        let fields: Vec<&str> = errors.fields().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            vec![
                "members[0].account_id",
                "members[0].weight",
                "members[1].account_id",
                "members[1].priority",
                "members[2].account_id",
                "members[2].daily_cap",
                "members[3].enabled",
                "members[4].account_id",
                "members[5].account_id",
                "members[6].account_id",
                "members[6].daily_cap",
                "mode",
                "version",
            ]
        );
        assert!(errors.fields()["members[4].account_id"].contains("more than once"));
        assert!(errors.fields()["members[6].account_id"].contains("no such"));
    }

    #[test]
    fn a_disabled_account_may_stay_as_a_disabled_member_and_live_needs_live_mode() {
        let merchant = MerchantId::generate();
        let accounts = HashMap::from([
            (id(1), facts(None, Mode::Test, "disabled")),
            (id(2), facts(Some(merchant), Mode::Live, "active")),
        ]);
        let request = ReplacePool {
            version: 2,
            mode: "priority".into(),
            members: vec![
                MemberRequest {
                    enabled: Some(false),
                    ..member(&id(1).to_string())
                },
                member(&id(2).to_string()),
            ],
        };
        assert!(validate(&request, merchant, true, &accounts).is_ok());
        let errors = validate(&request, merchant, false, &accounts).unwrap_err();
        assert_eq!(errors.fields().len(), 1, "{errors:?}");
        assert!(errors.fields().contains_key("members[1].account_id"));
    }

    #[test]
    fn more_than_the_most_members_is_refused() {
        let merchant = MerchantId::generate();
        let accounts: HashMap<_, _> = (1..=51)
            .map(|n| (id(n), facts(None, Mode::Test, "active")))
            .collect();
        let request = ReplacePool {
            version: 1,
            mode: "smart".into(),
            members: (1..=51).map(|n| member(&id(n).to_string())).collect(),
        };
        let errors = validate(&request, merchant, false, &accounts).unwrap_err();
        assert!(errors.fields().contains_key("members"), "{errors:?}");
    }

    #[test]
    fn merchants_see_no_label_or_caps_of_platform_accounts() {
        let base = Member {
            account_id: id(1),
            provider: "razorpay".into(),
            label: "Platform Razorpay".into(),
            environment: Mode::Test,
            ownership: "platform".into(),
            priority: 0,
            weight: 100,
            daily_cap: Some(1_000),
            monthly_cap: None,
            enabled: true,
            account_status: "active".into(),
        };
        let shown = serde_json::to_value(MerchantMember::from(base.clone())).unwrap();
        assert!(shown.get("label").is_none() && shown.get("daily_cap").is_none());
        assert!(shown.get("monthly_cap").is_none());
        let own = Member {
            ownership: "merchant".into(),
            ..base
        };
        let shown = serde_json::to_value(MerchantMember::from(own)).unwrap();
        assert_eq!(shown["label"], "Platform Razorpay");
        assert_eq!(shown["daily_cap"], 1_000);
        assert!(shown["monthly_cap"].is_null() && shown.get("monthly_cap").is_some());
    }
}
