//! Real-time developer notifications: the Pub/Sub push body and the `DeveloperNotification` in it.
//!
//! A notification carries no purchase state, only which purchase changed; the handler asks the
//! Play API for the state. Unknown notification kinds and types are kept, not refused, so a new
//! Google notification is stored and can be handled later instead of being lost.
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    /// Pub/Sub's id of the message: the same on every redelivery, so it deduplicates.
    pub message_id: String,
    pub publish_time: Option<String>,
    pub subscription: Option<String>,
    /// The decoded message data, as Google sent it.
    pub data: Vec<u8>,
    pub notification: DeveloperNotification,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeveloperNotification {
    pub package_name: String,
    pub event_time_ms: i64,
    pub kind: NotificationKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotificationKind {
    Subscription {
        notification_type: SubscriptionNotification,
        purchase_token: String,
        /// Deprecated by Google; absent in newer notifications.
        subscription_id: Option<String>,
    },
    OneTimeProduct {
        /// 1 purchased, 2 canceled.
        notification_type: i64,
        purchase_token: String,
        sku: String,
    },
    VoidedPurchase {
        purchase_token: String,
        order_id: String,
        /// 1 subscription, 2 one-time product.
        product_type: i64,
        /// 1 full refund, 2 quantity-based partial refund.
        refund_type: i64,
    },
    /// A chargeback Google asks the developer to review, answered with `orders.reviewrefund`.
    PendingRefundReview {
        pending_refund_token: String,
        order_id: String,
        /// Google's refund reason code.
        refund_reason: Option<i64>,
    },
    Test,
    /// A kind this server does not know yet, by its field name.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionNotification {
    Recovered,
    Renewed,
    Canceled,
    Purchased,
    OnHold,
    InGracePeriod,
    Restarted,
    PriceChangeConfirmed,
    Deferred,
    Paused,
    PauseScheduleChanged,
    Revoked,
    Expired,
    ItemsChanged,
    CancellationScheduled,
    PriceChangeUpdated,
    PendingPurchaseCanceled,
    PriceStepUpConsentUpdated,
    Unknown(i64),
}

impl SubscriptionNotification {
    pub fn from_code(code: i64) -> SubscriptionNotification {
        use SubscriptionNotification::*;
        match code {
            1 => Recovered,
            2 => Renewed,
            3 => Canceled,
            4 => Purchased,
            5 => OnHold,
            6 => InGracePeriod,
            7 => Restarted,
            8 => PriceChangeConfirmed,
            9 => Deferred,
            10 => Paused,
            11 => PauseScheduleChanged,
            12 => Revoked,
            13 => Expired,
            17 => ItemsChanged,
            18 => CancellationScheduled,
            19 => PriceChangeUpdated,
            20 => PendingPurchaseCanceled,
            22 => PriceStepUpConsentUpdated,
            other => Unknown(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtdnError {
    #[error("not a Pub/Sub push body: {0}")]
    Envelope(String),
    #[error("the message data is not base64")]
    Base64,
    #[error("not a DeveloperNotification: {0}")]
    Notification(String),
}

#[derive(Deserialize)]
struct Push {
    message: Message,
    subscription: Option<String>,
}

/// Real push bodies carry both spellings of the id and time, so neither can be an alias of the other.
#[derive(Deserialize)]
struct Message {
    data: String,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    #[serde(rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(rename = "publishTime")]
    publish_time: Option<String>,
    #[serde(rename = "publish_time")]
    publish_time_snake: Option<String>,
}

/// Parses a Pub/Sub push request body.
pub fn parse_push(body: &[u8]) -> Result<PushMessage, RtdnError> {
    let push: Push = serde_json::from_slice(body).map_err(|e| RtdnError::Envelope(e.to_string()))?;
    let message = push.message;
    let message_id = message
        .message_id
        .or(message.message_id_snake)
        .ok_or_else(|| RtdnError::Envelope("messageId missing".into()))?;
    let data = STANDARD.decode(message.data.trim()).map_err(|_| RtdnError::Base64)?;
    Ok(PushMessage {
        message_id,
        publish_time: message.publish_time.or(message.publish_time_snake),
        subscription: push.subscription,
        notification: parse_notification(&data)?,
        data,
    })
}

/// Parses the decoded `DeveloperNotification` JSON.
pub fn parse_notification(json: &[u8]) -> Result<DeveloperNotification, RtdnError> {
    let invalid = |what: &str| RtdnError::Notification(what.to_string());
    let value: Value = serde_json::from_slice(json).map_err(|e| RtdnError::Notification(e.to_string()))?;
    let package_name = text(&value, "packageName").ok_or_else(|| invalid("packageName missing"))?;
    let event_time_ms = integer(&value, "eventTimeMillis").ok_or_else(|| invalid("eventTimeMillis missing"))?;
    let kind = if let Some(n) = value.get("subscriptionNotification") {
        NotificationKind::Subscription {
            notification_type: SubscriptionNotification::from_code(
                integer(n, "notificationType").ok_or_else(|| invalid("notificationType missing"))?,
            ),
            purchase_token: text(n, "purchaseToken").ok_or_else(|| invalid("purchaseToken missing"))?,
            subscription_id: text(n, "subscriptionId"),
        }
    } else if let Some(n) = value.get("oneTimeProductNotification") {
        NotificationKind::OneTimeProduct {
            notification_type: integer(n, "notificationType").ok_or_else(|| invalid("notificationType missing"))?,
            purchase_token: text(n, "purchaseToken").ok_or_else(|| invalid("purchaseToken missing"))?,
            sku: text(n, "sku").ok_or_else(|| invalid("sku missing"))?,
        }
    } else if let Some(n) = value.get("voidedPurchaseNotification") {
        NotificationKind::VoidedPurchase {
            purchase_token: text(n, "purchaseToken").ok_or_else(|| invalid("purchaseToken missing"))?,
            order_id: text(n, "orderId").unwrap_or_default(),
            product_type: integer(n, "productType").unwrap_or(0),
            refund_type: integer(n, "refundType").unwrap_or(0),
        }
    } else if let Some(n) = value.get("pendingRefundReviewNotification") {
        NotificationKind::PendingRefundReview {
            pending_refund_token: text(n, "pendingRefundToken").ok_or_else(|| invalid("pendingRefundToken missing"))?,
            order_id: text(n, "orderId").ok_or_else(|| invalid("orderId missing"))?,
            refund_reason: integer(n, "refundReason"),
        }
    } else if value.get("testNotification").is_some() {
        NotificationKind::Test
    } else {
        let other = value
            .as_object()
            .and_then(|o| o.keys().find(|k| k.ends_with("Notification")).cloned())
            .ok_or_else(|| invalid("no notification in the message"))?;
        NotificationKind::Other(other)
    };
    Ok(DeveloperNotification { package_name, event_time_ms, kind })
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().map(String::from)
}

/// Google sends int64 fields as JSON strings; accept numbers too.
fn integer(value: &Value, key: &str) -> Option<i64> {
    match value.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(notification: &str) -> Vec<u8> {
        serde_json::json!({
            "message": {
                "attributes": {},
                "data": STANDARD.encode(notification),
                "messageId": "136969346945",
                "message_id": "136969346945",
                "publishTime": "2026-01-01T00:00:00.858Z",
            },
            "subscription": "projects/p/subscriptions/s",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_subscription_notification_is_read_with_its_type_and_token() {
        let body = push(
            r#"{"version":"1.0","packageName":"com.example.app","eventTimeMillis":"1767225600123",
                "subscriptionNotification":{"version":"1.0","notificationType":4,"purchaseToken":"tok",
                "subscriptionId":"premium_monthly"}}"#,
        );

        let message = parse_push(&body).unwrap();

        assert_eq!(message.message_id, "136969346945");
        assert_eq!(message.notification.package_name, "com.example.app");
        assert_eq!(message.notification.event_time_ms, 1_767_225_600_123);
        assert_eq!(
            message.notification.kind,
            NotificationKind::Subscription {
                notification_type: SubscriptionNotification::Purchased,
                purchase_token: "tok".into(),
                subscription_id: Some("premium_monthly".into()),
            }
        );
    }

    #[test]
    fn every_documented_subscription_type_has_a_name_and_others_are_kept() {
        let known = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20, 22];
        for code in known {
            assert!(!matches!(SubscriptionNotification::from_code(code), SubscriptionNotification::Unknown(_)));
        }
        assert_eq!(SubscriptionNotification::from_code(99), SubscriptionNotification::Unknown(99));
    }

    #[test]
    fn one_time_voided_test_and_unknown_kinds_are_read() {
        let one_time = parse_notification(
            br#"{"packageName":"p","eventTimeMillis":1,"oneTimeProductNotification":{"notificationType":2,"purchaseToken":"t","sku":"gem_100"}}"#,
        )
        .unwrap();
        let voided = parse_notification(
            br#"{"packageName":"p","eventTimeMillis":"2","voidedPurchaseNotification":{"purchaseToken":"t","orderId":"GPA.1","productType":2,"refundType":1}}"#,
        )
        .unwrap();
        let test =
            parse_notification(br#"{"packageName":"p","eventTimeMillis":"3","testNotification":{"version":"1.0"}}"#)
                .unwrap();
        let review = parse_notification(
            br#"{"packageName":"p","eventTimeMillis":"4","pendingRefundReviewNotification":{"version":"1.0",
                "pendingRefundToken":"prt","orderId":"GPA.2","refundReason":7}}"#,
        )
        .unwrap();
        let other =
            parse_notification(br#"{"packageName":"p","eventTimeMillis":"5","somethingNewNotification":{}}"#).unwrap();

        assert_eq!(
            one_time.kind,
            NotificationKind::OneTimeProduct {
                notification_type: 2,
                purchase_token: "t".into(),
                sku: "gem_100".into()
            }
        );
        assert_eq!(
            voided.kind,
            NotificationKind::VoidedPurchase {
                purchase_token: "t".into(),
                order_id: "GPA.1".into(),
                product_type: 2,
                refund_type: 1
            }
        );
        assert_eq!(test.kind, NotificationKind::Test);
        assert_eq!(
            review.kind,
            NotificationKind::PendingRefundReview {
                pending_refund_token: "prt".into(),
                order_id: "GPA.2".into(),
                refund_reason: Some(7)
            }
        );
        assert_eq!(other.kind, NotificationKind::Other("somethingNewNotification".into()));
    }

    #[test]
    fn broken_bodies_are_errors() {
        assert!(matches!(parse_push(b"not json"), Err(RtdnError::Envelope(_))));
        assert!(matches!(parse_push(br#"{"message":{"data":"***","messageId":"1"}}"#), Err(RtdnError::Base64)));
        assert!(matches!(parse_push(&push(r#"{"packageName":"p"}"#)), Err(RtdnError::Notification(_))));
        assert!(matches!(
            parse_push(&push(r#"{"packageName":"p","eventTimeMillis":"1"}"#)),
            Err(RtdnError::Notification(_))
        ));
    }

    #[test]
    fn random_bytes_return_errors_and_never_panic() {
        let valid = br#"{"packageName":"p","eventTimeMillis":"1","subscriptionNotification":{"notificationType":2,"purchaseToken":"t"}}"#;
        for bytes in crate::noise::inputs(valid, 5000) {
            let _ = parse_notification(&bytes);
            let _ = parse_push(&bytes);
            let _ = parse_push(&push(&String::from_utf8_lossy(&bytes)));
        }
    }
}
