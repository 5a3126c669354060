//! One-time products: reading a `ProductPurchaseV2` (`purchases.productsv2`), which names the
//! purchase option and offer bought (rentals, pre-orders) and the quantity per line item, and the
//! older `ProductPurchase` (`purchases.products.get`), read where v2 is unavailable.
use model::Store;
use serde::Deserialize;
use serde_json::Value;

use super::subscriptions::rfc3339_ms;
use crate::stores::{PurchaseState, StoreError, StorePurchase};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductPurchaseV2 {
    order_id: Option<String>,
    purchase_completion_time: Option<String>,
    purchase_state_context: Option<PurchaseStateContext>,
    acknowledgement_state: Option<String>,
    test_purchase_context: Option<Value>,
    obfuscated_external_account_id: Option<String>,
    #[serde(default)]
    product_line_item: Vec<ProductLineItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseStateContext {
    purchase_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductLineItem {
    product_id: String,
    product_offer_details: Option<ProductOfferDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductOfferDetails {
    purchase_option_id: Option<String>,
    quantity: Option<i32>,
    consumption_state: Option<String>,
    /// An empty object: its presence means a rental.
    rent_offer_details: Option<Value>,
    preorder_offer_details: Option<PreorderOfferDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreorderOfferDetails {
    preorder_release_time: Option<String>,
}

/// A `ProductPurchaseV2` read for one product.
#[derive(Debug)]
pub struct ReadV2 {
    pub purchase: StorePurchase,
    /// For a rental, the purchase option rented: its rental period is in the catalog, not here.
    pub rented_option: Option<String>,
}

/// The normalised purchase from Google's v2 answer for `token`, which must be a purchase of
/// `product_id`: v2 is asked by token alone, so a token of a cheaper product is refused here as
/// v1 refuses it by path. A pre-order waits (pending) until it is released.
pub fn from_product_purchase_v2(product_id: &str, token: &str, raw: Value, now_ms: i64) -> Result<ReadV2, StoreError> {
    let p: ProductPurchaseV2 =
        serde_json::from_value(raw.clone()).map_err(|e| StoreError::unreadable("ProductPurchaseV2", e))?;
    let items: Vec<&ProductOfferDetails> = p
        .product_line_item
        .iter()
        .filter(|item| item.product_id == product_id)
        .map(|item| item.product_offer_details.as_ref())
        .collect::<Option<_>>()
        .ok_or_else(|| StoreError::Config("ProductPurchaseV2 line item without offer details".into()))?;
    if items.is_empty() {
        return Err(StoreError::Rejected {
            code: "purchaseTokenDoesNotMatchProductId".into(),
            message: "The purchase token does not match the product ID.".into(),
        });
    }
    let mut state = match p.purchase_state_context.and_then(|c| c.purchase_state).as_deref() {
        Some("PURCHASED") => PurchaseState::Purchased,
        Some("CANCELLED") => PurchaseState::Cancelled,
        Some("PENDING") => PurchaseState::Pending,
        other => return Err(StoreError::Config(format!("unknown purchaseState {other:?}"))),
    };
    let release_ms = items
        .iter()
        .filter_map(|i| i.preorder_offer_details.as_ref())
        .map(|d| rfc3339_ms(d.preorder_release_time.as_deref()))
        .max();
    if release_ms.is_some_and(|release| release.is_none_or(|at| at > now_ms)) && state == PurchaseState::Purchased {
        state = PurchaseState::Pending;
    }
    let purchase_time_ms = match rfc3339_ms(p.purchase_completion_time.as_deref()) {
        Some(at) => at,
        // Google sets the completion time once the payment completes; until then it waits anyway.
        None if state != PurchaseState::Purchased => now_ms,
        None => return Err(StoreError::Config("ProductPurchaseV2 without purchaseCompletionTime".into())),
    };
    let consumed: Vec<Option<bool>> = items
        .iter()
        .map(|i| match i.consumption_state.as_deref() {
            Some("CONSUMPTION_STATE_CONSUMED") => Some(true),
            Some("CONSUMPTION_STATE_YET_TO_BE_CONSUMED") => Some(false),
            _ => None,
        })
        .collect();
    let rented_option =
        items.iter().find(|i| i.rent_offer_details.is_some()).map(|i| i.purchase_option_id.clone().unwrap_or_default());
    let acknowledged = match p.acknowledgement_state.as_deref() {
        Some("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED") => Some(true),
        Some("ACKNOWLEDGEMENT_STATE_PENDING") => Some(false),
        _ => None,
    };
    let purchase = StorePurchase {
        consumed: consumed.iter().copied().collect::<Option<Vec<bool>>>().map(|all| all.iter().all(|c| *c)),
        acknowledged,
        quantity: items.iter().map(|i| i.quantity.unwrap_or(1)).sum(),
        sandbox: p.test_purchase_context.is_some(),
        // v2 does not say where the purchase started (store_initiated); the order's sales channel does.
        account_id: p.obfuscated_external_account_id,
        ..one_time(product_id, token, p.order_id, purchase_time_ms, state, raw)
    };
    Ok(ReadV2 { purchase, rented_option })
}

/// The end of a rental bought at `start_ms` for `period`, an ISO 8601 duration as the catalog's
/// `rentalPeriod` gives it (`P3D`, `PT48H`, `P1M`).
pub fn rental_expiry(start_ms: i64, period: &str) -> Result<i64, StoreError> {
    let unreadable = || StoreError::Config(format!("unreadable rental period {period:?}"));
    let start = chrono::DateTime::from_timestamp_millis(start_ms).ok_or_else(unreadable)?;
    let rest = period.strip_prefix('P').filter(|r| !r.is_empty()).ok_or_else(unreadable)?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let (mut months, mut seconds) = (0u32, 0i64);
    for (part, units) in
        [(date, &[('Y', 0), ('M', 1), ('W', 2), ('D', 3)][..]), (time, &[('H', 4), ('M', 5), ('S', 6)][..])]
    {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: i64 = number.parse().map_err(|_| unreadable())?;
            number.clear();
            match units.iter().find(|(unit, _)| *unit == c).ok_or_else(unreadable)?.1 {
                0 => months += u32::try_from(n * 12).map_err(|_| unreadable())?,
                1 => months += u32::try_from(n).map_err(|_| unreadable())?,
                2 => seconds += n * 7 * 86_400,
                3 => seconds += n * 86_400,
                4 => seconds += n * 3600,
                5 => seconds += n * 60,
                _ => seconds += n,
            }
        }
        if !number.is_empty() {
            return Err(unreadable());
        }
    }
    let end = start
        .checked_add_months(chrono::Months::new(months))
        .and_then(|t| t.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?))
        .ok_or_else(unreadable)?;
    Ok(end.timestamp_millis())
}

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
        consumed: p.consumption_state.map(|c| c == 1),
        acknowledged: p.acknowledgement_state.map(|a| a == 1),
        quantity: p.quantity.unwrap_or(1),
        sandbox: p.purchase_type == Some(0),
        // Promo-code redemptions start in the Play Store, not in the app.
        store_initiated: p.purchase_type == Some(1),
        developer_payload: p.developer_payload.filter(|d| !d.is_empty()),
        account_id: p.obfuscated_external_account_id,
        ..one_time(product_id, token, p.order_id, purchase_time_ms, state, raw)
    })
}

/// A one-time purchase as both reads share it: one of one, identified by its order id (or by its
/// token when Google gives none), with no price until its order is read.
pub(super) fn one_time(
    product_id: &str,
    token: &str,
    order_id: Option<String>,
    purchase_time_ms: i64,
    state: PurchaseState,
    raw: Value,
) -> StorePurchase {
    StorePurchase {
        store: Store::Google,
        product_id: product_id.to_string(),
        transaction_id: order_id.unwrap_or_else(|| super::token_transaction_id(token)),
        original_transaction_id: None,
        linked_transaction_id: None,
        purchase_token: Some(token.to_string()),
        purchase_time_ms,
        state,
        consumed: None,
        acknowledged: None,
        quantity: 1,
        price_micros: None,
        currency: None,
        expiry_time_ms: None,
        auto_renewing: None,
        subscription_state: None,
        sandbox: false,
        store_initiated: false,
        developer_payload: None,
        account_id: None,
        refunded_share: None,
        raw,
    }
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

    fn v2(line_items: Value, extra: Value) -> Value {
        let mut v = json!({
            "kind": "androidpublisher#productPurchaseV2", "orderId": "GPA.3312-0001-0007-00001",
            "purchaseCompletionTime": "2026-01-01T00:00:00.123Z", "purchaseStateContext": {"purchaseState": "PURCHASED"},
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING", "regionCode": "KR",
            "productLineItem": line_items,
        });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    }

    const NOW: i64 = 1_767_225_600_123;

    #[test]
    fn a_v2_purchase_is_read_with_its_quantity_over_the_products_line_items() {
        let items = json!([
            {"productId": "gem_100", "productOfferDetails": {"purchaseOptionId": "buy", "quantity": 3,
                "consumptionState": "CONSUMPTION_STATE_YET_TO_BE_CONSUMED"}},
            {"productId": "gem_100", "productOfferDetails": {"purchaseOptionId": "buy",
                "consumptionState": "CONSUMPTION_STATE_YET_TO_BE_CONSUMED"}},
        ]);
        let raw = v2(items, json!({"obfuscatedExternalAccountId": "a1b2c3"}));

        let read = from_product_purchase_v2("gem_100", "tok", raw, NOW).unwrap();
        let p = read.purchase;

        assert_eq!(p.transaction_id, "GPA.3312-0001-0007-00001");
        assert_eq!(p.purchase_time_ms, NOW);
        assert_eq!(p.state, PurchaseState::Purchased);
        assert_eq!((p.consumed, p.acknowledged), (Some(false), Some(false)));
        assert_eq!(p.quantity, 4);
        assert_eq!(p.account_id.as_deref(), Some("a1b2c3"));
        assert!(!p.sandbox);
        assert_eq!(read.rented_option, None);
    }

    #[test]
    fn a_v2_token_of_another_product_is_refused_as_google_refuses_it_by_path() {
        let raw = v2(json!([{"productId": "gem_1", "productOfferDetails": {"quantity": 1}}]), json!({}));

        let err = from_product_purchase_v2("gem_1000", "tok", raw, NOW).unwrap_err();

        assert!(matches!(err, StoreError::Rejected { code, .. } if code == "purchaseTokenDoesNotMatchProductId"));
    }

    #[test]
    fn a_rental_names_its_option_and_a_test_purchase_is_sandbox() {
        let items = json!([{"productId": "movie", "productOfferDetails": {"purchaseOptionId": "rent-48h",
            "rentOfferDetails": {}, "quantity": 1}}]);
        let raw = v2(items, json!({"testPurchaseContext": {"fopType": "TEST"}}));

        let read = from_product_purchase_v2("movie", "tok", raw, NOW).unwrap();

        assert_eq!(read.rented_option.as_deref(), Some("rent-48h"));
        assert!(read.purchase.sandbox);
    }

    #[test]
    fn a_pre_order_waits_until_its_release_time() {
        let preorder = |release: &str| {
            json!([{"productId": "season", "productOfferDetails": {"purchaseOptionId": "pre",
                "preorderOfferDetails": {"preorderReleaseTime": release}}}])
        };

        let before = from_product_purchase_v2("season", "t", v2(preorder("2026-02-01T00:00:00Z"), json!({})), NOW);
        let after = from_product_purchase_v2("season", "t", v2(preorder("2025-12-01T00:00:00Z"), json!({})), NOW);
        let pending_without_time = v2(
            preorder("2026-02-01T00:00:00Z"),
            json!({"purchaseCompletionTime": null, "purchaseStateContext": {"purchaseState": "PENDING"}}),
        );

        assert_eq!(before.unwrap().purchase.state, PurchaseState::Pending);
        assert_eq!(after.unwrap().purchase.state, PurchaseState::Purchased);
        let pending = from_product_purchase_v2("season", "t", pending_without_time, NOW).unwrap().purchase;
        assert_eq!((pending.state, pending.purchase_time_ms), (PurchaseState::Pending, NOW));
    }

    #[test]
    fn unreadable_v2_answers_are_configuration_errors() {
        let item = json!([{"productId": "g", "productOfferDetails": {}}]);
        for raw in [
            json!([]),
            v2(item.clone(), json!({"purchaseStateContext": {"purchaseState": "SOLD"}})),
            v2(item.clone(), json!({"purchaseCompletionTime": "yesterday"})),
            v2(json!([{"productId": "g"}]), json!({})),
        ] {
            assert!(matches!(from_product_purchase_v2("g", "t", raw, NOW), Err(StoreError::Config(_))));
        }
    }

    #[test]
    fn a_rental_period_in_iso_8601_ends_the_rental() {
        let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z

        assert_eq!(rental_expiry(start, "PT48H").unwrap(), start + 48 * 3_600_000);
        assert_eq!(rental_expiry(start, "P3D").unwrap(), start + 3 * 86_400_000);
        assert_eq!(rental_expiry(start, "P1W").unwrap(), start + 7 * 86_400_000);
        assert_eq!(rental_expiry(start, "P1DT12H30M").unwrap(), start + 86_400_000 + 12 * 3_600_000 + 1_800_000);
        // A calendar month: January has 31 days.
        assert_eq!(rental_expiry(start, "P1M").unwrap(), start + 31 * 86_400_000);
        for bad in ["", "P", "3D", "P3", "PT3D", "P1H", "PXD"] {
            assert!(rental_expiry(start, bad).is_err(), "{bad}");
        }
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
