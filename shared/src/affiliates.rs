//! Affiliates: who brought a merchant, and their share (basis points) of our fee on its payments.
//! Operators add affiliates and link merchants to them; the commission itself is booked by
//! [`crate::ledger::book::capture`] from the link in force when a payment is captured, onto the
//! affiliate's `affiliate_payable` account, whose balance is what the affiliate has accrued.
//!
//! Every change is audited in its transaction. A relink moves only future commission: what was
//! accrued stays with the affiliate it was accrued to (and a refund claws it back from there).

use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AffiliateId, LedgerAccountId, MerchantId};
use crate::mode::Mode;
use crate::validation::{FieldErrors, check_length, normalize_email};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// The largest commission, in basis points (all of our fee).
pub const MAX_COMMISSION_BPS: i64 = 10_000;

/// An affiliate as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Affiliate {
    /// Its id.
    pub id: AffiliateId,
    /// Its name.
    pub name: String,
    /// Its contact email (unique).
    pub email: String,
    /// How many merchants are linked to it now.
    pub merchant_count: i64,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "a.id, a.name, a.email, a.created_at, a.updated_at,
    (SELECT count(*) FROM affiliate_merchants am WHERE am.affiliate_id = a.id) AS merchant_count";

impl Affiliate {
    fn from_row(row: &Row) -> Result<Affiliate, DecodeError> {
        let row = Record::new(row, "affiliates");
        Ok(Affiliate {
            id: AffiliateId::from_uuid(row.get("id")?),
            name: row.get("name")?,
            email: row.get("email")?,
            merchant_count: row.get("merchant_count")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

/// An affiliate with what it has accrued and the merchants it brought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AffiliateDetail)]
pub struct Detail {
    /// The affiliate.
    #[serde(flatten)]
    pub affiliate: Affiliate,
    /// Commission accrued and not yet paid out: the balance of each of its `affiliate_payable`
    /// accounts, one per mode and currency it has earned in.
    pub accrued_commission: Vec<Accrued>,
    /// The merchants linked to it now.
    pub merchants: Vec<AffiliateMerchant>,
}

/// The balance of one of an affiliate's payable accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AccruedCommission)]
pub struct Accrued {
    /// Test or live books.
    pub mode: Mode,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Minor units owed to the affiliate (credits less debits of the account).
    pub amount: i64,
    /// The ledger account.
    pub account_id: LedgerAccountId,
}

/// A merchant's link to its affiliate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AffiliateMerchant {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The merchant's business name.
    pub merchant_name: String,
    /// The affiliate.
    pub affiliate_id: AffiliateId,
    /// Its share of our fee on the merchant's payments, in basis points.
    #[schema(minimum = 0, maximum = 10000)]
    pub commission_bps: i32,
    /// When the merchant was first linked.
    pub created_at: DateTime<Utc>,
    /// When the link last changed.
    pub updated_at: DateTime<Utc>,
}

const LINK_COLUMNS: &str = "am.merchant_id, m.name AS merchant_name, am.affiliate_id, am.commission_bps, am.created_at, am.updated_at";

impl AffiliateMerchant {
    fn from_row(row: &Row) -> Result<AffiliateMerchant, DecodeError> {
        let row = Record::new(row, "affiliate_merchants");
        Ok(AffiliateMerchant {
            merchant_id: MerchantId::from_uuid(row.get("merchant_id")?),
            merchant_name: row.get("merchant_name")?,
            affiliate_id: AffiliateId::from_uuid(row.get("affiliate_id")?),
            commission_bps: row.get("commission_bps")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `POST /api/v1/admin/affiliates`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "Kirana Connect", "email": "partners@kiranaconnect.example" }))]
pub struct NewAffiliate {
    /// Its name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Its contact email (unique).
    #[schema(format = Email)]
    pub email: String,
}

/// `PUT /api/v1/admin/merchants/{id}/affiliate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "affiliate_id": "aff_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f", "commission_bps": 2500 }))]
pub struct LinkAffiliate {
    /// The affiliate.
    #[schema(value_type = AffiliateId)]
    pub affiliate_id: String,
    /// Its share of our fee on the merchant's payments, 0 to 10000 basis points.
    #[schema(minimum = 0, maximum = 10000)]
    pub commission_bps: i64,
}

/// Adds an affiliate (platform scope); `409` when the email is taken.
pub async fn create(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    request: &NewAffiliate,
) -> Result<Affiliate, AppError> {
    let mut errors = FieldErrors::new();
    check_length(&mut errors, "name", &request.name, 1, 200);
    let email = normalize_email(&request.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    errors.into_result()?;
    let email = email.unwrap_or_default();
    let id = AffiliateId::generate();
    let inserted = tx
        .query_typed_opt(
            "INSERT INTO affiliates (id, name, email) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO NOTHING RETURNING id",
            &[
                (&id.as_uuid(), Type::UUID),
                (&request.name.trim(), Type::TEXT),
                (&email, Type::TEXT),
            ],
        )
        .await?;
    if inserted.is_none() {
        return Err(AppError::Conflict(format!(
            "an affiliate with email {email} already exists"
        )));
    }
    let affiliate = get(tx, id)
        .await?
        .ok_or_else(|| AppError::Internal("the affiliate just added is not there".into()))?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("affiliate.created")
            .target("affiliate", id)
            .change(None, serde_json::to_value(&affiliate).ok()),
    )
    .await?;
    Ok(affiliate)
}

/// Affiliates, newest first.
pub async fn list(
    tx: &Transaction<'_>,
    page: &PageRequest<AffiliateId>,
) -> Result<Page<Affiliate>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM affiliates a
                  WHERE ($1::uuid IS NULL OR a.id < $1) ORDER BY a.id DESC LIMIT $2"
            ),
            &[
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(Affiliate::from_row)
            .collect::<Result<_, _>>()?,
        page.limit,
    ))
}

/// One affiliate.
pub async fn get(tx: &Transaction<'_>, id: AffiliateId) -> Result<Option<Affiliate>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM affiliates a WHERE a.id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(Affiliate::from_row).transpose()?)
}

/// One affiliate with its accrued commission and its merchants.
pub async fn detail(tx: &Transaction<'_>, id: AffiliateId) -> Result<Option<Detail>, AppError> {
    let Some(affiliate) = get(tx, id).await? else {
        return Ok(None);
    };
    let accounts = tx
        .query_typed(
            "SELECT id, mode, currency, credits - debits AS amount FROM ledger_accounts
              WHERE code = 'affiliate_payable' AND owner_kind = 'affiliate' AND owner_id = $1
              ORDER BY mode, currency",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    let accrued_commission = accounts
        .iter()
        .map(|row| {
            let row = Record::new(row, "ledger_accounts");
            Ok(Accrued {
                mode: row.parse("mode")?,
                currency: row.get("currency")?,
                amount: row.get("amount")?,
                account_id: LedgerAccountId::from_uuid(row.get("id")?),
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    let links = tx
        .query_typed(
            &format!(
                "SELECT {LINK_COLUMNS} FROM affiliate_merchants am JOIN merchants m ON m.id = am.merchant_id
                  WHERE am.affiliate_id = $1 ORDER BY am.merchant_id"
            ),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(Some(Detail {
        affiliate,
        accrued_commission,
        merchants: links
            .iter()
            .map(AffiliateMerchant::from_row)
            .collect::<Result<_, _>>()?,
    }))
}

/// The merchant's link, locked for a change.
async fn link_of(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<Option<AffiliateMerchant>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!(
                "SELECT {LINK_COLUMNS} FROM affiliate_merchants am JOIN merchants m ON m.id = am.merchant_id
                  WHERE am.merchant_id = $1 FOR UPDATE OF am"
            ),
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(AffiliateMerchant::from_row).transpose()?)
}

/// Links `merchant` to an affiliate, or relinks it (platform scope), audited.
pub async fn link(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
    request: &LinkAffiliate,
) -> Result<AffiliateMerchant, AppError> {
    let mut errors = FieldErrors::new();
    let affiliate = request
        .affiliate_id
        .parse::<AffiliateId>()
        .map_err(|e| errors.add("affiliate_id", e.to_string()))
        .ok();
    let bps = match i32::try_from(request.commission_bps) {
        Ok(bps) if (0..=MAX_COMMISSION_BPS).contains(&request.commission_bps) => bps,
        _ => {
            errors.add(
                "commission_bps",
                format!("must be a whole number of basis points from 0 to {MAX_COMMISSION_BPS}"),
            );
            0
        }
    };
    errors.into_result()?;
    let affiliate = affiliate.ok_or_else(|| AppError::field("affiliate_id", "is required"))?;
    // The merchant's row lock orders two operators linking the same merchant at once.
    let exists = tx
        .query_typed_opt(
            "SELECT id FROM merchants WHERE id = $1 FOR UPDATE",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::NotFound("merchant"));
    }
    let known = tx
        .query_typed_opt(
            "SELECT id FROM affiliates WHERE id = $1 FOR SHARE",
            &[(&affiliate.as_uuid(), Type::UUID)],
        )
        .await?;
    if known.is_none() {
        return Err(AppError::field("affiliate_id", "no such affiliate"));
    }
    let before = link_of(tx, merchant).await?;
    tx.execute_typed(
        "INSERT INTO affiliate_merchants (merchant_id, affiliate_id, commission_bps) VALUES ($1, $2, $3)
         ON CONFLICT (merchant_id) DO UPDATE
            SET affiliate_id = EXCLUDED.affiliate_id, commission_bps = EXCLUDED.commission_bps, updated_at = now()",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&affiliate.as_uuid(), Type::UUID),
            (&bps, Type::INT4),
        ],
    )
    .await?;
    let after = link_of(tx, merchant)
        .await?
        .ok_or_else(|| AppError::Internal("the link just written is not there".into()))?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("merchant.affiliate_linked")
            .merchant(merchant)
            .target("merchant", merchant)
            .change(
                before.as_ref().map(AffiliateMerchant::snapshot),
                Some(after.snapshot()),
            ),
    )
    .await?;
    Ok(after)
}

/// Ends `merchant`'s link to its affiliate (platform scope), audited; `404` when it has none.
pub async fn unlink(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
) -> Result<AffiliateMerchant, AppError> {
    let exists = tx
        .query_typed_opt(
            "SELECT id FROM merchants WHERE id = $1 FOR UPDATE",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::NotFound("merchant"));
    }
    let before = link_of(tx, merchant)
        .await?
        .ok_or(AppError::NotFound("affiliate link"))?;
    tx.execute_typed(
        "DELETE FROM affiliate_merchants WHERE merchant_id = $1",
        &[(&merchant.as_uuid(), Type::UUID)],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("merchant.affiliate_unlinked")
            .merchant(merchant)
            .target("merchant", merchant)
            .change(Some(before.snapshot()), None),
    )
    .await?;
    Ok(before)
}
