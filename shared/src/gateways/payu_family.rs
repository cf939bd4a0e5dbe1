//! What PayU and Easebuzz (a PayU derivative) share: the SHA-512 request hash of the payment
//! form, the reverse hash on a posted result (return or webhook), reading a posted result and
//! verifying it. Both hash ten UDF slots; they differ only in how many of them are named fields
//! (PayU 5, the rest hashed empty; Easebuzz 10), in PayU's optional `additionalCharges` leading
//! the reverse hash, and in how strictly a callback body is read. Each connector describes
//! itself with a [`Family`] value; its hosts, commands and status tables stay its own.

use super::signature::{sha512_pipe_hex, verify_sha512_pipe_hex};
use super::{Account, GatewayEvent, PaymentMethod, StatusReport};
use serde_json::Value;
use std::collections::BTreeMap;

/// The ten UDF slots both hashes have, by name.
const UDFS: [&str; 10] = [
    "udf1", "udf2", "udf3", "udf4", "udf5", "udf6", "udf7", "udf8", "udf9", "udf10",
];

/// How one member of the family hashes and posts results.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The provider's name, in messages.
    pub name: &'static str,
    /// How many UDF slots are named fields (`udf1..udfN`); the rest of the ten are hashed empty.
    pub udfs: usize,
    /// Whether a non-empty `additionalCharges` leads the reverse hash.
    pub charges_lead_reverse_hash: bool,
    /// Whether a body that opens with `{` must be a JSON object; otherwise a body that is not
    /// one is read as a form.
    pub braced_body_is_json: bool,
}

impl Family {
    /// The named UDF fields, then the empty slots that make ten.
    fn udf_slots<'a>(&self, field: impl Fn(&str) -> &'a str) -> Vec<&'a str> {
        let named = UDFS.iter().take(self.udfs).map(|u| field(u));
        named
            .chain(std::iter::repeat_n(
                "",
                UDFS.len().saturating_sub(self.udfs),
            ))
            .collect()
    }

    /// The request hash of the payment form:
    /// `sha512(key|txnid|amount|productinfo|firstname|email|udf1..udf10|salt)`.
    pub fn request_hash(&self, key: &str, salt: &str, form: &BTreeMap<&str, String>) -> String {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        let mut fields = vec![
            key,
            field("txnid"),
            field("amount"),
            field("productinfo"),
            field("firstname"),
            field("email"),
        ];
        fields.extend(self.udf_slots(field));
        fields.push(salt);
        sha512_pipe_hex(&fields)
    }

    /// The fields of the reverse hash on a posted result, in order, for `params` as posted:
    /// `[additionalCharges|]salt|status|udf10..udf1|email|firstname|productinfo|amount|txnid|key`.
    pub fn reverse_fields<'a>(
        &self,
        salt: &'a str,
        params: &'a BTreeMap<String, String>,
    ) -> Vec<&'a str> {
        let field = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        let mut fields = Vec::new();
        if self.charges_lead_reverse_hash
            && let Some(charges) = params.get("additionalCharges").filter(|c| !c.is_empty())
        {
            fields.push(charges.as_str());
        }
        fields.extend([salt, field("status")]);
        fields.extend(self.udf_slots(field).into_iter().rev());
        fields.extend(
            [
                "email",
                "firstname",
                "productinfo",
                "amount",
                "txnid",
                "key",
            ]
            .into_iter()
            .map(field),
        );
        fields
    }

    /// Whether a posted result carries the reverse hash for this key and salt.
    pub fn verify_result(&self, key: &str, salt: &str, params: &BTreeMap<String, String>) -> bool {
        let Some(hash) = params.get("hash") else {
            return false;
        };
        params.get("key").map(String::as_str) == Some(key)
            && verify_sha512_pipe_hex(&self.reverse_fields(salt, params), hash)
    }

    /// A posted result as text fields: a JSON object, or form-encoded.
    pub fn fields_of(&self, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
        let braced = body.trim_ascii_start().starts_with(b"{");
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                return Ok(map
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s,
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k, text)
                    })
                    .collect());
            }
            _ if braced && self.braced_body_is_json => {
                return Err(format!(
                    "unreadable {} callback: not a JSON object",
                    self.name
                ));
            }
            _ => {}
        }
        serde_urlencoded::from_bytes(body)
            .map_err(|e| format!("unreadable {} callback: {e}", self.name))
    }

    /// Whether a webhook body is a result carrying the account's reverse hash.
    pub fn verify_webhook(&self, account: &Account, body: &[u8]) -> bool {
        let (Ok(key), Ok(salt)) = (account.credential("key"), account.credential("salt")) else {
            return false;
        };
        self.fields_of(body)
            .is_ok_and(|fields| self.verify_result(key, salt, &fields))
    }

    /// The txnid of a browser return that carries the account's reverse hash.
    pub fn verify_return(
        &self,
        account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        let key = account.credential("key").ok()?;
        let salt = account.credential("salt").ok()?;
        self.verify_result(key, salt, params)
            .then(|| params.get("txnid").cloned())?
    }
}

/// A posted result's fields as a JSON object of strings, the shape the status tables read.
pub fn details(fields: &BTreeMap<String, String>) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// How the customer paid, from the `mode` of a posted result or a status answer's transaction.
/// PayU's modes: `CC`, `DC` (cards), `NB`, `UPI`, `CASH` (wallets), `EMI`, `BNPL` (pay later);
/// Easebuzz reports the same codes; its `MW` (mobile wallet) is not in our gateway reference and
/// is unconfirmed. Others read as `other`.
pub fn method(details: &Value) -> Option<PaymentMethod> {
    let mode = details.get("mode").and_then(Value::as_str);
    PaymentMethod::read(mode, |mode| {
        Some(match mode {
            "cc" | "dc" | "card" | "credit card" | "debit card" => PaymentMethod::Card,
            "nb" | "netbanking" | "net banking" => PaymentMethod::Netbanking,
            "upi" => PaymentMethod::Upi,
            "cash" | "wallet" | "mw" => PaymentMethod::Wallet,
            "emi" => PaymentMethod::Emi,
            "bnpl" | "paylater" | "pay later" => PaymentMethod::Paylater,
            _ => return None,
        })
    })
}

/// The payment event of a posted result about `txnid`, with its status `report`; its id is made
/// only of fields the reverse hash covers (txnid, status, amount).
pub fn payment_event(
    txnid: String,
    receipt: Option<String>,
    fields: &BTreeMap<String, String>,
    report: StatusReport,
) -> GatewayEvent {
    let status = fields.get("status").map(String::as_str).unwrap_or("");
    let amount = fields.get("amount").map(String::as_str).unwrap_or("");
    GatewayEvent {
        event_id: format!("{txnid}:{status}:{amount}"),
        event_type: format!("payment.{status}"),
        receipt,
        reference: Some(txnid),
        report: Some(report),
        refund: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENIENT: Family = Family {
        name: "lenient",
        udfs: 5,
        charges_lead_reverse_hash: true,
        braced_body_is_json: false,
    };
    const STRICT: Family = Family {
        name: "strict",
        udfs: 10,
        charges_lead_reverse_hash: false,
        braced_body_is_json: true,
    };

    #[test]
    fn every_member_hashes_ten_udf_slots() {
        let params: BTreeMap<String, String> = UDFS
            .iter()
            .map(|u| (u.to_string(), u.to_uppercase()))
            .collect();
        let five = LENIENT.reverse_fields("s", &params);
        let ten = STRICT.reverse_fields("s", &params);
        assert_eq!(five.len(), ten.len());
        assert_eq!(
            &five[2..12],
            ["", "", "", "", "", "UDF5", "UDF4", "UDF3", "UDF2", "UDF1"]
        );
        assert_eq!(ten[2], "UDF10");
        assert_eq!(ten[11], "UDF1");
    }

    #[test]
    fn only_a_strict_member_refuses_a_braced_body_that_is_not_json() {
        let body = b"{x=1&txnid=T1";
        assert!(STRICT.fields_of(body).is_err());
        let fields = LENIENT.fields_of(body).unwrap();
        assert_eq!(fields.get("txnid").map(String::as_str), Some("T1"));
        for member in [LENIENT, STRICT] {
            let fields = member
                .fields_of(br#" {"txnid":"T1","n":2,"z":null}"#)
                .unwrap();
            assert_eq!(fields["n"], "2");
            assert_eq!(fields["z"], "");
            assert_eq!(member.fields_of(b"txnid=T1").unwrap()["txnid"], "T1");
        }
    }

    #[test]
    fn the_mode_names_the_method() {
        let of = |mode: Value| method(&serde_json::json!({ "txnid": "T1", "mode": mode }));
        for (mode, ours) in [
            ("CC", PaymentMethod::Card),
            ("DC", PaymentMethod::Card),
            ("NB", PaymentMethod::Netbanking),
            ("UPI", PaymentMethod::Upi),
            ("CASH", PaymentMethod::Wallet),
            ("MW", PaymentMethod::Wallet),
            ("EMI", PaymentMethod::Emi),
            ("BNPL", PaymentMethod::Paylater),
            ("IVR", PaymentMethod::Other),
        ] {
            assert_eq!(of(mode.into()), Some(ours), "{mode}");
        }
        assert_eq!(of(Value::Null), None);
        assert_eq!(of("".into()), None);
        assert_eq!(
            of(serde_json::json!(7)),
            None,
            "not text: nothing, never a failure"
        );
        assert_eq!(method(&serde_json::json!({ "txnid": "T1" })), None);
    }
}
