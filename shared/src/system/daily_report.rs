//! The `system-health-report` schedule: every morning at 06:00 IST, the previous IST day in
//! numbers (payments, success rates, refunds, incidents), filed in `system_health_reports` and
//! sent to the operators' Slack and WhatsApp recipients.
//!
//! The day reported is the one before the IST day of the run's *scheduled* time, so a late or
//! repeated run reports the day its slot was for. The row (keyed by that date) is written and the
//! messages queued in one transaction: a second run for the same day finds the row, and stores
//! and sends nothing.

use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::money;
use crate::notifications::{self, Audience, Notice, Severity};
use crate::routing::caps::IST_OFFSET_SECONDS;
use crate::schedules::Tick;
use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use tokio_postgres::types::{ToSql, Type};

/// The notice kind operators' recipients may choose (or leave out) in their preferences.
pub const NOTICE_KIND: &str = "report.system_health";

/// Asia/Kolkata: UTC+05:30 all year (no daylight saving time).
fn ist() -> FixedOffset {
    FixedOffset::east_opt(IST_OFFSET_SECONDS).expect("IST offset is within a day")
}

/// The IST day a run scheduled at `scheduled_at` reports: the day before its own IST day.
pub fn reported_day(scheduled_at: DateTime<Utc>) -> NaiveDate {
    let today = scheduled_at.with_timezone(&ist()).date_naive();
    today.checked_sub_days(Days::new(1)).unwrap_or(today)
}

/// The IST day `day` in UTC: `[start, end)`, from IST midnight to the next.
pub fn bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(ist()).single())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    (start, start + chrono::Duration::days(1))
}

/// Payments created in the day, per mode and currency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PaymentVolume {
    /// `test` or `live`.
    pub mode: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Payments created.
    pub created: i64,
    /// Their amount, in minor units.
    pub created_amount: i64,
    /// Of which succeeded (refunded later or not).
    pub succeeded: i64,
    /// Their amount, in minor units.
    pub succeeded_amount: i64,
    /// Of which failed.
    pub failed: i64,
    /// Of which expired unpaid.
    pub expired: i64,
}

/// One gateway account's attempts created in the day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GatewayDay {
    /// The account.
    pub gateway_account_id: uuid::Uuid,
    /// Its provider.
    pub provider: String,
    /// Its name for operators.
    pub label: String,
    /// Attempts that ended (succeeded, failed, expired, mismatched).
    pub attempts: i64,
    /// Of which succeeded.
    pub successes: i64,
    /// `successes` per 10000 `attempts`, rounded down; `null` without attempts.
    pub success_rate_bps: Option<i64>,
}

/// Refunds asked for in the day, per mode and currency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundVolume {
    /// `test` or `live`.
    pub mode: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Refunds created.
    pub count: i64,
    /// Their amount, in minor units.
    pub amount: i64,
    /// Of which succeeded.
    pub succeeded: i64,
    /// Of which failed.
    pub failed: i64,
}

/// Alerts opened in the day, per kind and severity.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AlertTally {
    /// The alert kind.
    pub kind: String,
    /// Its severity.
    pub severity: String,
    /// Alerts opened.
    pub count: i64,
}

/// A scheduled job's runs for slots in the day that failed (and were not taken up again
/// successfully).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedRuns {
    /// The job.
    pub job: String,
    /// Runs failed.
    pub count: i64,
}

/// What went wrong in the day.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Incidents {
    /// Alerts opened, per kind and severity.
    pub alerts: Vec<AlertTally>,
    /// Scheduled runs that failed, per job.
    pub failed_runs: Vec<FailedRuns>,
    /// Gateway accounts whose breaker opened (an open-breaker alert opened for them).
    pub breakers_opened: i64,
}

/// One IST day of the platform.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// The IST date.
    pub date: NaiveDate,
    /// Its start in UTC.
    pub period_start: DateTime<Utc>,
    /// Its end in UTC (exclusive).
    pub period_end: DateTime<Utc>,
    /// Payments created, per mode and currency.
    pub payments: Vec<PaymentVolume>,
    /// Of the payments created in the day that have ended, those that succeeded, per 10000
    /// (rounded down); `null` when none ended.
    pub success_rate_bps: Option<i64>,
    /// Per gateway account.
    pub gateways: Vec<GatewayDay>,
    /// Refunds created, per mode and currency.
    pub refunds: Vec<RefundVolume>,
    /// What went wrong.
    pub incidents: Incidents,
}

fn bps(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| part * 10_000 / whole)
}

/// Reads the day `[start, end)` (system scope).
pub async fn compile(tx: &Transaction<'_>, day: NaiveDate) -> Result<HealthReport, AppError> {
    let (start, end) = bounds(day);
    let window: [(&(dyn ToSql + Sync), Type); 2] =
        [(&start, Type::TIMESTAMPTZ), (&end, Type::TIMESTAMPTZ)];

    let mut payments = Vec::new();
    let (mut ended, mut won) = (0, 0);
    for row in tx
        .query_typed(
            "SELECT mode, currency, count(*) AS created, sum(amount)::int8 AS created_amount,
                    count(*) FILTER (WHERE succeeded_at IS NOT NULL) AS succeeded,
                    coalesce(sum(amount) FILTER (WHERE succeeded_at IS NOT NULL), 0)::int8 AS succeeded_amount,
                    count(*) FILTER (WHERE status = 'failed') AS failed,
                    count(*) FILTER (WHERE status = 'expired') AS expired
               FROM transactions WHERE created_at >= $1 AND created_at < $2
              GROUP BY mode, currency ORDER BY mode, currency",
            &window,
        )
        .await?
    {
        let row = Record::new(&row, "transactions");
        let volume = PaymentVolume {
            mode: row.get("mode")?,
            currency: row.get("currency")?,
            created: row.get("created")?,
            created_amount: row.get("created_amount")?,
            succeeded: row.get("succeeded")?,
            succeeded_amount: row.get("succeeded_amount")?,
            failed: row.get("failed")?,
            expired: row.get("expired")?,
        };
        ended += volume.succeeded + volume.failed + volume.expired;
        won += volume.succeeded;
        payments.push(volume);
    }

    let mut gateways = Vec::new();
    for row in tx
        .query_typed(
            // From the accounts, so each account's attempts of the day come from the
            // (gateway_account_id, created_at) index.
            "SELECT g.id, g.provider, g.label, count(*) AS attempts,
                    count(*) FILTER (WHERE a.status = 'succeeded') AS successes
               FROM gateway_accounts g
               JOIN transaction_attempts a ON a.gateway_account_id = g.id
                AND a.created_at >= $1 AND a.created_at < $2
              WHERE a.status IN ('succeeded', 'failed', 'expired', 'amount_mismatch')
              GROUP BY g.id, g.provider, g.label ORDER BY g.id",
            &window,
        )
        .await?
    {
        let row = Record::new(&row, "transaction_attempts");
        let attempts: i64 = row.get("attempts")?;
        let successes: i64 = row.get("successes")?;
        gateways.push(GatewayDay {
            gateway_account_id: row.get("id")?,
            provider: row.get("provider")?,
            label: row.get("label")?,
            attempts,
            successes,
            success_rate_bps: bps(successes, attempts),
        });
    }

    let mut refunds = Vec::new();
    for row in tx
        .query_typed(
            "SELECT mode, currency, count(*) AS count, sum(amount)::int8 AS amount,
                    count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                    count(*) FILTER (WHERE status = 'failed') AS failed
               FROM refunds WHERE created_at >= $1 AND created_at < $2
              GROUP BY mode, currency ORDER BY mode, currency",
            &window,
        )
        .await?
    {
        let row = Record::new(&row, "refunds");
        refunds.push(RefundVolume {
            mode: row.get("mode")?,
            currency: row.get("currency")?,
            count: row.get("count")?,
            amount: row.get("amount")?,
            succeeded: row.get("succeeded")?,
            failed: row.get("failed")?,
        });
    }

    let mut incidents = Incidents::default();
    for row in tx
        .query_typed(
            "SELECT kind, severity, count(*) AS count FROM alerts
              WHERE created_at >= $1 AND created_at < $2
              GROUP BY kind, severity ORDER BY kind, severity",
            &window,
        )
        .await?
    {
        let row = Record::new(&row, "alerts");
        incidents.alerts.push(AlertTally {
            kind: row.get("kind")?,
            severity: row.get("severity")?,
            count: row.get("count")?,
        });
    }
    let row = tx
        .query_typed_one(
            "SELECT count(DISTINCT key) AS opened FROM alerts
              WHERE kind = 'gateway_breaker_open' AND created_at >= $1 AND created_at < $2",
            &window,
        )
        .await?;
    incidents.breakers_opened = Record::new(&row, "alerts").get("opened")?;
    for row in tx
        .query_typed(
            "SELECT job, count(*) AS count FROM schedule_runs
              WHERE status = 'failed' AND scheduled_at >= $1 AND scheduled_at < $2
              GROUP BY job ORDER BY job",
            &window,
        )
        .await?
    {
        let row = Record::new(&row, "schedule_runs");
        incidents.failed_runs.push(FailedRuns {
            job: row.get("job")?,
            count: row.get("count")?,
        });
    }

    Ok(HealthReport {
        date: day,
        period_start: start,
        period_end: end,
        payments,
        success_rate_bps: bps(won, ended),
        gateways,
        refunds,
        incidents,
    })
}

/// The report as a message for people: a title and a few lines.
pub fn notice(report: &HealthReport) -> Notice {
    let mut body = String::new();
    let rate = |bps: Option<i64>| {
        bps.map_or_else(
            || "n/a".to_string(),
            |b| format!("{}.{:02}%", b / 100, b % 100),
        )
    };
    if report.payments.is_empty() {
        body.push_str("Payments: none\n");
    }
    for p in &report.payments {
        let _ = writeln!(
            body,
            "Payments {} {}: {} created ({}), {} succeeded ({}), {} failed, {} expired",
            p.mode,
            p.currency,
            p.created,
            money::to_major_string(p.created_amount),
            p.succeeded,
            money::to_major_string(p.succeeded_amount),
            p.failed,
            p.expired
        );
    }
    let _ = writeln!(body, "Success rate: {}", rate(report.success_rate_bps));
    for g in &report.gateways {
        let _ = writeln!(
            body,
            "Gateway {} ({}): {} of {} attempts, {}",
            g.label,
            g.provider,
            g.successes,
            g.attempts,
            rate(g.success_rate_bps)
        );
    }
    if report.refunds.is_empty() {
        body.push_str("Refunds: none\n");
    }
    for r in &report.refunds {
        let _ = writeln!(
            body,
            "Refunds {} {}: {} ({}), {} succeeded, {} failed",
            r.mode,
            r.currency,
            r.count,
            money::to_major_string(r.amount),
            r.succeeded,
            r.failed
        );
    }
    let alerts: i64 = report.incidents.alerts.iter().map(|a| a.count).sum();
    let failed: i64 = report.incidents.failed_runs.iter().map(|f| f.count).sum();
    let _ = write!(
        body,
        "Incidents: {alerts} alerts opened, {failed} scheduled runs failed, {} breakers opened",
        report.incidents.breakers_opened
    );
    for a in &report.incidents.alerts {
        let _ = write!(body, "\n  {} {}: {}", a.severity, a.kind, a.count);
    }
    for f in &report.incidents.failed_runs {
        let _ = write!(body, "\n  run failed {}: {}", f.job, f.count);
    }
    Notice {
        kind: NOTICE_KIND.into(),
        severity: Severity::Info,
        title: format!("Daily health report for {} (IST)", report.date),
        body,
    }
}

/// Compiles the day before the tick's IST day, files it and queues it for the operators'
/// recipients, all in one transaction; a day already filed is left as it is and nobody is told
/// again.
pub async fn run(app: &App, tick: Tick) -> Result<serde_json::Value, AppError> {
    let day = reported_day(tick.scheduled_at);
    let (start, end) = bounds(day);
    let (ids, stored, notified) = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        // The day's row is claimed first: a concurrent run for the same day waits here and then
        // finds it, so the report is never compiled and sent twice.
        let claimed = tx
            .execute_typed(
                "INSERT INTO system_health_reports (report_date, scheduled_at, period_start, period_end,
                     report, notifications)
                 VALUES ($1, $2, $3, $4, '{}'::jsonb, 0)
                 ON CONFLICT (report_date) DO NOTHING",
                &[
                    (&day, Type::DATE),
                    (&tick.scheduled_at, Type::TIMESTAMPTZ),
                    (&start, Type::TIMESTAMPTZ),
                    (&end, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        if claimed == 0 {
            tx.commit().await?;
            (Vec::new(), false, 0)
        } else {
            let report = compile(&tx, day).await?;
            let ids =
                notifications::notify(&tx, app, Audience::Operators, &notice(&report)).await?;
            let notified = queued_here(&tx).await?;
            let body = serde_json::to_value(&report)
                .map_err(|e| AppError::Internal(format!("health report: {e}")))?;
            tx.execute_typed(
                "UPDATE system_health_reports SET report = $2, notifications = $3 WHERE report_date = $1",
                &[(&day, Type::DATE), (&body, Type::JSONB), (&notified, Type::INT4)],
            )
            .await?;
            tx.commit().await?;
            (ids, true, notified)
        }
    };
    app.publish(&ids).await;
    Ok(json!({ "date": day, "stored": stored, "notifications": notified }))
}

/// The report's messages this transaction queued (rows it inserted: their `xmin` is its id).
/// `notify` answers outbox ids, which a direct delivery does not have, so they are counted here.
async fn queued_here(tx: &Transaction<'_>) -> Result<i32, AppError> {
    let row = tx
        .query_typed_one(
            "SELECT ((SELECT count(*) FROM slack_queue
                       WHERE notice_kind = $1 AND xmin = pg_current_xact_id()::xid)
                   + (SELECT count(*) FROM whatsapp_queue
                       WHERE notice_kind = $1 AND xmin = pg_current_xact_id()::xid))::int4 AS queued",
            &[(&NOTICE_KIND, Type::TEXT)],
        )
        .await?;
    Ok(Record::new(&row, "slack_queue").get("queued")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_run_reports_the_ist_day_before_its_scheduled_time() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // 06:00 IST on 10 March is 00:30 UTC on 10 March: it reports 9 March.
        let slot = Utc.with_ymd_and_hms(2026, 3, 10, 0, 30, 0).unwrap();
        assert_eq!(reported_day(slot), date(2026, 3, 9));
        // 23:59 IST on 10 March (18:29 UTC): still the slot's day, so still 9 March.
        let late = Utc.with_ymd_and_hms(2026, 3, 10, 18, 29, 0).unwrap();
        assert_eq!(reported_day(late), date(2026, 3, 9));
        // 18:30 UTC on 9 March is already 10 March in IST.
        let early = Utc.with_ymd_and_hms(2026, 3, 9, 18, 30, 0).unwrap();
        assert_eq!(reported_day(early), date(2026, 3, 9));
        let (start, end) = bounds(date(2026, 3, 9));
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 3, 8, 18, 30, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 3, 9, 18, 30, 0).unwrap());
    }

    #[test]
    fn rates_read_as_percentages() {
        let report = HealthReport {
            date: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
            period_start: Utc.with_ymd_and_hms(2026, 3, 8, 18, 30, 0).unwrap(),
            period_end: Utc.with_ymd_and_hms(2026, 3, 9, 18, 30, 0).unwrap(),
            payments: Vec::new(),
            success_rate_bps: Some(9_850),
            gateways: Vec::new(),
            refunds: Vec::new(),
            incidents: Incidents::default(),
        };
        let notice = notice(&report);
        assert_eq!(notice.title, "Daily health report for 2026-03-09 (IST)");
        assert!(
            notice.body.contains("Success rate: 98.50%"),
            "{}",
            notice.body
        );
        assert!(notice.body.contains("Payments: none"), "{}", notice.body);
    }
}
