//! ONE store's notifications: PNS (a payment completed or was cancelled), signed with the app's
//! license key, and SNS (a subscription changed), which is not signed and carries no state.
//!
//! A PNS `signature` is SHA512withRSA over the message without it, serialised compactly in the
//! order received (what ONE store's Java and Python samples rebuild), base64. Key order matters,
//! so the body is read into an order-keeping tree rather than a map.
use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY};
use serde::{
    de::{self, MapAccess, SeqAccess, Visitor},
    ser::{SerializeMap, SerializeSeq},
    Deserialize, Deserializer, Serialize, Serializer,
};
use serde_json::Value;

use crate::stores::google::rtdn::SubscriptionNotification;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PnsError {
    /// Not a PNS body we can read.
    Malformed(String),
    /// Signed with another key, or altered on the way.
    BadSignature,
    /// The configured license key is not a base64 RSA public key.
    LicenseKey,
}

impl fmt::Display for PnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PnsError::Malformed(why) => write!(f, "malformed ONE store notification: {why}"),
            PnsError::BadSignature => f.write_str("the ONE store notification's signature does not verify"),
            PnsError::LicenseKey => f.write_str("the ONE store license key is not a base64 RSA public key"),
        }
    }
}

impl std::error::Error for PnsError {}

/// A verified payment notification.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentNotification {
    /// `clientId` (PNS 3.1) or `packageName` (3.0 and earlier).
    pub client_id: String,
    pub product_id: String,
    pub purchase_id: String,
    pub purchase_token: String,
    pub developer_payload: Option<String>,
    pub purchase_time_ms: i64,
    /// `purchaseState` CANCELED: the payment was cancelled (refunded).
    pub cancelled: bool,
    pub price: Option<String>,
    pub currency: Option<String>,
    /// Paid from a registered test phone (`isTestMdn`).
    pub test_phone: bool,
    pub sandbox: bool,
    pub market: Option<String>,
    pub raw: Value,
}

/// A subscription notification: which subscription changed; its state must be asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionChange {
    pub client_id: String,
    pub event_time_ms: i64,
    pub notification_type: SubscriptionNotification,
    pub purchase_token: String,
    pub product_id: String,
    pub sandbox: bool,
    pub market: Option<String>,
}

/// Checks a PNS body's signature with the app's license key (base64 SubjectPublicKeyInfo, as the
/// Developer Center shows it) and reads it.
pub fn verify_payment(body: &[u8], license_key: &str) -> Result<PaymentNotification, PnsError> {
    let Ordered::Object(mut members) =
        serde_json::from_slice::<Ordered>(body).map_err(|e| PnsError::Malformed(e.to_string()))?
    else {
        return Err(PnsError::Malformed("not a JSON object".into()));
    };
    let at = members.iter().position(|(k, _)| k == "signature").ok_or(PnsError::BadSignature)?;
    let Ordered::String(signature) = members.remove(at).1 else { return Err(PnsError::BadSignature) };
    let signed = serde_json::to_vec(&Ordered::Object(members)).map_err(|e| PnsError::Malformed(e.to_string()))?;
    let signature = STANDARD.decode(signature.trim()).map_err(|_| PnsError::BadSignature)?;
    UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY, rsa_public_key(license_key)?)
        .verify(&signed, &signature)
        .map_err(|_| PnsError::BadSignature)?;
    read_payment(serde_json::from_slice(body).map_err(|e| PnsError::Malformed(e.to_string()))?)
}

fn rsa_public_key(license_key: &str) -> Result<Vec<u8>, PnsError> {
    crate::crypto::license_key_rsa(license_key).ok_or(PnsError::LicenseKey)
}

fn text(raw: &Value, key: &str) -> Option<String> {
    raw.get(key).and_then(Value::as_str).map(String::from)
}

fn required(raw: &Value, key: &str) -> Result<String, PnsError> {
    text(raw, key).ok_or_else(|| PnsError::Malformed(format!("no {key}")))
}

/// Sandbox messages say so in `environment`, and their version ends in `D`.
fn sandbox(raw: &Value) -> bool {
    text(raw, "environment").as_deref() == Some("SANDBOX") || text(raw, "msgVersion").is_some_and(|v| v.ends_with('D'))
}

fn read_payment(raw: Value) -> Result<PaymentNotification, PnsError> {
    let cancelled = match required(&raw, "purchaseState")?.as_str() {
        "COMPLETED" => false,
        "CANCELED" => true,
        other => return Err(PnsError::Malformed(format!("unknown purchaseState {other}"))),
    };
    Ok(PaymentNotification {
        client_id: text(&raw, "clientId")
            .or_else(|| text(&raw, "packageName"))
            .ok_or_else(|| PnsError::Malformed("neither clientId nor packageName".into()))?,
        product_id: required(&raw, "productId")?,
        purchase_id: required(&raw, "purchaseId")?,
        purchase_token: required(&raw, "purchaseToken")?,
        developer_payload: text(&raw, "developerPayload").filter(|p| !p.is_empty()),
        purchase_time_ms: raw
            .get("purchaseTimeMillis")
            .and_then(Value::as_i64)
            .ok_or_else(|| PnsError::Malformed("no purchaseTimeMillis".into()))?,
        cancelled,
        price: text(&raw, "price"),
        currency: text(&raw, "priceCurrencyCode"),
        test_phone: raw.get("isTestMdn").and_then(Value::as_bool).unwrap_or(false),
        sandbox: sandbox(&raw),
        market: text(&raw, "marketCode"),
        raw,
    })
}

/// Reads an SNS body. It is not signed: act on it only by asking the store for the subscription.
pub fn parse_subscription(body: &[u8]) -> Result<SubscriptionChange, PnsError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| PnsError::Malformed(e.to_string()))?;
    let change =
        raw.get("subscriptionNotification").ok_or_else(|| PnsError::Malformed("no subscriptionNotification".into()))?;
    Ok(SubscriptionChange {
        client_id: required(&raw, "clientId")?,
        event_time_ms: raw
            .get("eventTimeMillis")
            .and_then(Value::as_i64)
            .ok_or_else(|| PnsError::Malformed("no eventTimeMillis".into()))?,
        notification_type: SubscriptionNotification::from_code(
            change
                .get("notificationType")
                .and_then(Value::as_i64)
                .ok_or_else(|| PnsError::Malformed("no notificationType".into()))?,
        ),
        purchase_token: required(change, "purchaseToken")?,
        product_id: required(change, "productId")?,
        sandbox: sandbox(&raw),
        market: text(&raw, "marketCode"),
    })
}

/// JSON that keeps the order of object members, to rebuild exactly what was signed.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ordered, D::Error> {
        struct OrderedVisitor;

        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ordered, E> {
                serde_json::Number::from_f64(v).map(Ordered::Number).ok_or_else(|| E::custom("not a JSON number"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::String(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Ordered::Object(members))
            }
        }

        deserializer.deserialize_any(OrderedVisitor)
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Null => serializer.serialize_unit(),
            Ordered::Bool(b) => serializer.serialize_bool(*b),
            Ordered::Number(n) => n.serialize(serializer),
            Ordered::String(s) => serializer.serialize_str(s),
            Ordered::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_order_and_come_back_compact() {
        let body = r#"{ "b": 1, "a": [ {"z": "x/y", "y": "가"} ], "c": null, "d": true }"#;

        let ordered: Ordered = serde_json::from_str(body).unwrap();

        assert_eq!(serde_json::to_string(&ordered).unwrap(), r#"{"b":1,"a":[{"z":"x/y","y":"가"}],"c":null,"d":true}"#);
    }

    #[test]
    fn a_subscription_notification_is_read_without_a_signature() {
        let body = br#"{"msgVersion":"3.1.0D","clientId":"com.example","eventTimeMillis":1767225600000,
            "subscriptionNotification":{"version":"1","notificationType":13,"purchaseToken":"T","productId":"p"},
            "environment":"SANDBOX","marketCode":"MKT_ONE"}"#;

        let change = parse_subscription(body).unwrap();

        assert_eq!(change.notification_type, SubscriptionNotification::Expired);
        assert_eq!(change.purchase_token, "T");
        assert!(change.sandbox);
    }

    #[test]
    fn random_bytes_never_panic_the_notification_readers() {
        let valid = r#"{"msgVersion":"3.1.0","clientId":"c","productId":"p","messageType":"SINGLE_PAYMENT_TRANSACTION",
            "purchaseId":"1","purchaseTimeMillis":1,"purchaseState":"COMPLETED","purchaseToken":"t","signature":"AAAA"}"#;
        for bytes in crate::noise::inputs(valid.as_bytes(), 4000) {
            assert!(verify_payment(&bytes, "MIIB").is_err());
            let _ = parse_subscription(&bytes);
        }
    }
}
