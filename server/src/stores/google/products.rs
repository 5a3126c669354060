//! One-time products: reading a `ProductPurchase` (`purchases.products.get`).
use model::Store;
use serde::Deserialize;
use serde_json::Value;

use crate::stores::{PurchaseState, StoreError, StorePurchase};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductPurchase {
    /// int64 as a JSON string.
    purchase_time_millis: Option<String>,
    purchase_state: Option<i32>,
    consumption_state: Option<i32>,
    acknowledgement_state: Option<i32>,
    order_id: Option<String>,
    /// Only set for purchases that are not normal: 0 test (license tester), 1 promo code, 2 rewarded.
    purchase_type: Option<i32>,
    developer_payload: Option<String>,
    obfuscated_external_account_id: Option<String>,
    /// "If not present, the quantity is 1."
    quantity: Option<i32>,
}

/// The normalised purchase from Google's answer for `product_id` / `token`.
pub fn from_product_purchase(product_id: &str, token: &str, raw: Value) -> Result<StorePurchase, StoreError> {
    let p: ProductPurchase =
        serde_json::from_value(raw.clone()).map_err(|e| StoreError::unreadable("ProductPurchase", e))?;
    let purchase_time_ms = p
        .purchase_time_millis
        .as_deref()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| StoreError::Config("ProductPurchase without purchaseTimeMillis".into()))?;
    let state = match p.purchase_state {
        Some(0) => PurchaseState::Purchased,
        Some(1) => PurchaseState::Cancelled,
        Some(2) => PurchaseState::Pending,
        other => return Err(StoreError::Config(format!("unknown purchaseState {other:?}"))),
    };
    Ok(StorePurchase {
        store: Store::Google,
        product_id: product_id.to_string(),
        transaction_id: p.order_id.unwrap_or_else(|| super::token_transaction_id(token)),
        original_transaction_id: None,
        linked_transaction_id: None,
        purchase_token: Some(token.to_string()),
        purchase_time_ms,
        state,
        consumed: p.consumption_state.map(|c| c == 1),
        acknowledged: p.acknowledgement_state.map(|a| a == 1),
        quantity: p.quantity.unwrap_or(1),
        price_micros: None,
        currency: None,
        expiry_time_ms: None,
        auto_renewing: None,
        subscription_state: None,
        sandbox: p.purchase_type == Some(0),
        // Promo-code redemptions start in the Play Store, not in the app.
        store_initiated: p.purchase_type == Some(1),
        developer_payload: p.developer_payload.filter(|d| !d.is_empty()),
        account_id: p.obfuscated_external_account_id,
        refunded_share: None,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_normal_purchase_is_read_with_its_order_id_and_account() {
        let raw = json!({
            "kind": "androidpublisher#productPurchase", "purchaseTimeMillis": "1767225600123",
            "purchaseState": 0, "consumptionState": 0, "developerPayload": "", "orderId": "GPA.3312-3456-7890-12345",
            "acknowledgementState": 1, "obfuscatedExternalAccountId": "a1b2c3", "regionCode": "KR",
        });

        let p = from_product_purchase("gem_100", "tok", raw).unwrap();

        assert_eq!(p.transaction_id, "GPA.3312-3456-7890-12345");
        assert_eq!(p.purchase_time_ms, 1_767_225_600_123);
        assert_eq!(p.state, PurchaseState::Purchased);
        assert_eq!((p.consumed, p.acknowledged), (Some(false), Some(true)));
        assert_eq!(p.quantity, 1);
        assert_eq!(p.account_id.as_deref(), Some("a1b2c3"));
        assert_eq!(p.developer_payload, None);
        assert!(!p.sandbox && !p.store_initiated);
    }

    #[test]
    fn test_promo_and_pending_purchases_are_flagged() {
        let base = |extra: Value| {
            let mut v = json!({"purchaseTimeMillis": "1", "purchaseState": 0, "orderId": "GPA.1"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };

        let test = from_product_purchase("g", "t", base(json!({"purchaseType": 0}))).unwrap();
        let promo = from_product_purchase("g", "t", base(json!({"purchaseType": 1}))).unwrap();
        let pending = from_product_purchase("g", "t", base(json!({"purchaseState": 2}))).unwrap();
        let cancelled = from_product_purchase("g", "t", base(json!({"purchaseState": 1, "quantity": 3}))).unwrap();

        assert!(test.sandbox);
        assert!(promo.store_initiated);
        assert_eq!(pending.state, PurchaseState::Pending);
        assert_eq!(cancelled.state, PurchaseState::Cancelled);
        assert_eq!(cancelled.quantity, 3);
    }

    #[test]
    fn a_purchase_without_an_order_id_is_identified_by_its_token() {
        let raw = json!({"purchaseTimeMillis": "1", "purchaseState": 0, "purchaseType": 0});

        let a = from_product_purchase("g", "token-a", raw.clone()).unwrap();
        let b = from_product_purchase("g", "token-b", raw).unwrap();

        assert!(a.transaction_id.starts_with("token:"));
        assert_ne!(a.transaction_id, b.transaction_id);
    }

    #[test]
    fn unreadable_answers_are_configuration_errors() {
        for raw in [
            json!([]),
            json!({"purchaseState": 0}),
            json!({"purchaseTimeMillis": "x", "purchaseState": 0}),
            json!({"purchaseTimeMillis": "1", "purchaseState": 7}),
            json!({"purchaseTimeMillis": 1}),
        ] {
            assert!(matches!(from_product_purchase("g", "t", raw), Err(StoreError::Config(_))));
        }
    }
}
