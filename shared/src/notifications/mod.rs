//! Notifications to people: WhatsApp and Slack messages for merchants' contacts and for the
//! platform's operators, chosen by each recipient's preferences (kinds and minimum severity).
//! Producers call [`notify`] inside their own database transaction; the senders deliver after
//! commit and record every outcome.

use crate::ids::MerchantId;
use serde::{Deserialize, Serialize};

/// How urgent something is; recipients choose the least severity they want to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record; nobody is woken.
    Info,
    /// Needs attention within the working day.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(format!("unknown severity {other:?} (info, warning or critical)")),
        }
    }
}

/// Who hears about a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A merchant's contacts.
    Merchant(MerchantId),
    /// The platform's operators.
    Operators,
}

/// What to tell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// A stable kind recipients can choose (`alert.gateway_breaker_open`,
    /// `webhook_endpoint.disabled`, …).
    pub kind: String,
    /// How urgent it is.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few lines more, plain text.
    pub body: String,
}

// TEMP(h-alerts): replaced by the real notify at merge
/// Tells `audience` about `notice` in the caller's transaction; answers the outbox ids to publish
/// after commit. A stand-in with the agreed signature until the notifications stream lands.
pub async fn notify(
    _tx: &crate::db::Transaction<'_>,
    _app: &crate::App,
    _audience: Audience,
    _notice: &Notice,
) -> Result<Vec<uuid::Uuid>, crate::AppError> {
    Ok(Vec::new())
}
