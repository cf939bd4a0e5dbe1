//! The contract's scenario about reading webhooks: each documented event type parses into what
//! the platform acts on.

use super::{Connects, quick};
use http::HeaderMap;
use shared::gateways::{Gateway, PaymentOutcome, RefundStatus};

/// What a documented webhook body must parse as.
#[derive(Debug, Clone)]
pub enum ParsesAs {
    /// A report about the payment on `reference` made for `receipt`.
    Payment {
        /// The gateway's order id.
        reference: &'static str,
        /// Our attempt id.
        receipt: &'static str,
        /// Our outcome for it.
        outcome: PaymentOutcome,
        /// The gateway's payment id.
        payment_id: Option<&'static str>,
        /// Why it failed.
        failure_reason: Option<&'static str>,
    },
    /// News of a refund of the payment on `reference`.
    Refund {
        /// The gateway's order id.
        reference: &'static str,
        /// Our refund id.
        refund_id: &'static str,
        /// The gateway's refund id, when checked.
        gateway_refund_id: Option<&'static str>,
        /// Where it stands.
        status: RefundStatus,
    },
    /// Neither: stored, never acted on.
    Other {
        /// The gateway's order id, if the event names one.
        reference: Option<&'static str>,
    },
}

/// One documented webhook body of `event_type` and what it must parse as.
#[derive(Debug, Clone)]
pub struct DocumentedWebhook {
    /// The provider's event type, as parsed.
    pub event_type: &'static str,
    /// The body, as delivered.
    pub body: Vec<u8>,
    /// What it must parse as.
    pub parses_as: ParsesAs,
}

/// A provider whose webhook bodies the contract parses by type.
pub trait ParsesWebhooks: Connects {
    /// The documented webhook bodies, one or more per event type.
    fn documented_webhooks() -> Vec<DocumentedWebhook>;
    /// Bodies that cannot be read or applied, and why.
    fn unreadable_webhooks() -> Vec<(&'static str, Vec<u8>)>;
}

/// Every documented event type parses into its payment report, its refund news, or nothing to
/// act on, always under the same event id for the same body; unreadable bodies are errors.
pub async fn webhooks_are_parsed_by_type<F: ParsesWebhooks>() {
    let gateway = quick::<F>("http://mock.invalid");
    let none = HeaderMap::new();
    for case in F::documented_webhooks() {
        let kind = case.event_type;
        let event = gateway.parse_webhook(&none, &case.body).unwrap();
        assert_eq!(event.event_type, kind);
        let again = gateway.parse_webhook(&none, &case.body).unwrap();
        assert_eq!(
            again.event_id, event.event_id,
            "{kind}: the same body, the same id"
        );
        match case.parses_as {
            ParsesAs::Payment {
                reference,
                receipt,
                outcome,
                payment_id,
                failure_reason,
            } => {
                assert_eq!(event.reference.as_deref(), Some(reference), "{kind}");
                assert_eq!(event.receipt.as_deref(), Some(receipt), "{kind}");
                let report = event.report.expect(kind);
                assert_eq!(report.status, outcome, "{kind}");
                assert_eq!(report.payment_id.as_deref(), payment_id, "{kind}");
                assert_eq!(report.failure_reason.as_deref(), failure_reason, "{kind}");
                assert_eq!(event.refund, None, "{kind}");
            }
            ParsesAs::Refund {
                reference,
                refund_id,
                gateway_refund_id,
                status,
            } => {
                assert_eq!(event.reference.as_deref(), Some(reference), "{kind}");
                assert_eq!(event.report, None, "{kind}");
                let refund = event.refund.expect(kind);
                assert_eq!(refund.refund_id.as_deref(), Some(refund_id), "{kind}");
                if let Some(id) = gateway_refund_id {
                    assert_eq!(refund.gateway_refund_id.as_deref(), Some(id), "{kind}");
                }
                assert_eq!(refund.status, status, "{kind}");
            }
            ParsesAs::Other { reference } => {
                assert_eq!(event.reference.as_deref(), reference, "{kind}");
                assert_eq!(event.report, None, "{kind}");
                assert_eq!(event.refund, None, "{kind}");
            }
        }
    }
    for (why, body) in F::unreadable_webhooks() {
        assert!(gateway.parse_webhook(&none, &body).is_err(), "{why}");
    }
}
