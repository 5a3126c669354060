//! Subscriptions: reading a `SubscriptionPurchaseV2` (`purchases.subscriptionsv2.get`).
//!
//! The removed `latestOrderId` is not read: the order of the current period is the line item's
//! `latestSuccessfulOrderId`, and renewals are that first order id with a `..N` suffix.
use model::Store;
use serde::Deserialize;
use serde_json::Value;

use crate::stores::{PurchaseState, StoreError, StorePurchase, SubscriptionState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionPurchaseV2 {
    start_time: Option<String>,
    subscription_state: Option<String>,
    linked_purchase_token: Option<String>,
    acknowledgement_state: Option<String>,
    test_purchase: Option<Value>,
    external_account_identifiers: Option<ExternalAccountIdentifiers>,
    out_of_app_purchase_context: Option<OutOfAppPurchaseContext>,
    #[serde(default)]
    line_items: Vec<LineItem>,
}

/// A re-subscription bought in the Play Store after the user's subscription expired: Google names
/// the expired purchase.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutOfAppPurchaseContext {
    expired_purchase_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalAccountIdentifiers {
    obfuscated_external_account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    product_id: String,
    expiry_time: Option<String>,
    auto_renewing_plan: Option<AutoRenewingPlan>,
    latest_successful_order_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutoRenewingPlan {
    #[serde(default)]
    auto_renew_enabled: bool,
    recurring_price: Option<Money>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Money {
    currency_code: String,
    /// int64 as a JSON string.
    #[serde(default)]
    units: Option<String>,
    #[serde(default)]
    nanos: i64,
}

/// The normalised subscription from Google's answer for `token`. With several line items, the
/// one for `product_id` is read (the first when none matches).
pub fn from_subscription_v2(product_id: &str, token: &str, raw: Value) -> Result<StorePurchase, StoreError> {
    let s: SubscriptionPurchaseV2 =
        serde_json::from_value(raw.clone()).map_err(|e| StoreError::unreadable("SubscriptionPurchaseV2", e))?;
    let item = s
        .line_items
        .iter()
        .find(|i| i.product_id == product_id)
        .or_else(|| s.line_items.first())
        .ok_or_else(|| StoreError::Config("SubscriptionPurchaseV2 without line items".into()))?;
    let state_name = s.subscription_state.as_deref().unwrap_or("SUBSCRIPTION_STATE_UNSPECIFIED");
    let (state, subscription_state) = match state_name {
        "SUBSCRIPTION_STATE_PENDING" => (PurchaseState::Pending, None),
        "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED" => (PurchaseState::Cancelled, None),
        "SUBSCRIPTION_STATE_ACTIVE" => (PurchaseState::Purchased, Some(SubscriptionState::Active)),
        "SUBSCRIPTION_STATE_CANCELED" => (PurchaseState::Purchased, Some(SubscriptionState::Cancelled)),
        "SUBSCRIPTION_STATE_IN_GRACE_PERIOD" => (PurchaseState::Purchased, Some(SubscriptionState::InGrace)),
        "SUBSCRIPTION_STATE_ON_HOLD" => (PurchaseState::Purchased, Some(SubscriptionState::OnHold)),
        "SUBSCRIPTION_STATE_PAUSED" => (PurchaseState::Purchased, Some(SubscriptionState::Paused)),
        "SUBSCRIPTION_STATE_EXPIRED" => (PurchaseState::Purchased, Some(SubscriptionState::Expired)),
        other => return Err(StoreError::Config(format!("unknown subscriptionState {other}"))),
    };
    let order_id = item.latest_successful_order_id.clone();
    // A Play Store re-subscription continues the expired one: linked to it, and so to its user.
    let store_initiated = s.out_of_app_purchase_context.is_some();
    let expired_token = s.out_of_app_purchase_context.and_then(|c| c.expired_purchase_token);
    let price = item.auto_renewing_plan.as_ref().and_then(|p| p.recurring_price.as_ref());
    Ok(StorePurchase {
        store: Store::Google,
        product_id: item.product_id.clone(),
        original_transaction_id: order_id.as_deref().map(|o| first_order_id(o).to_string()),
        transaction_id: order_id.unwrap_or_else(|| super::token_transaction_id(token)),
        // Google links a re-signup or plan change to the purchase it replaces by token.
        linked_transaction_id: s.linked_purchase_token.or(expired_token),
        purchase_token: Some(token.to_string()),
        purchase_time_ms: rfc3339_ms(s.start_time.as_deref())
            .ok_or_else(|| StoreError::Config("SubscriptionPurchaseV2 without a readable startTime".into()))?,
        state,
        consumed: None,
        acknowledged: match s.acknowledgement_state.as_deref() {
            Some("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED") => Some(true),
            Some("ACKNOWLEDGEMENT_STATE_PENDING") => Some(false),
            _ => None,
        },
        quantity: 1,
        price_micros: price.and_then(micros),
        currency: price.map(|p| p.currency_code.clone()),
        expiry_time_ms: rfc3339_ms(item.expiry_time.as_deref()),
        auto_renewing: Some(item.auto_renewing_plan.as_ref().is_some_and(|p| p.auto_renew_enabled)),
        subscription_state,
        sandbox: s.test_purchase.is_some(),
        store_initiated,
        developer_payload: None,
        account_id: s.external_account_identifiers.and_then(|e| e.obfuscated_external_account_id),
        refunded_share: None,
        raw,
    })
}

/// See [`StorePurchase::facts`]: read from a `SubscriptionPurchaseV2` as kept, for `product_id`'s
/// line item. Unknown or missing parts say nothing.
pub fn facts(raw: &Value, product_id: &str) -> Vec<String> {
    let mut facts = Vec::new();
    for (context, state) in [("inGracePeriodStateContext", "grace period"), ("onHoldStateContext", "on hold")] {
        if let Some(order) = raw[context]["renewalDeclined"]["pendingOrderId"].as_str() {
            facts.push(format!("{state}: the renewal was declined, order {order} pending"));
        }
    }
    if let Some(expired) = raw["outOfAppPurchaseContext"]["expiredPurchaseToken"].as_str() {
        let digest = crate::crypto::sha256_hex(expired);
        facts.push(format!(
            "re-subscribed in the Play Store after an expired subscription (token sha256 {})",
            &digest[..12]
        ));
    }
    let items = raw["lineItems"].as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(item) = items.iter().find(|i| i["productId"] == product_id).or(items.first()) else { return facts };
    let step_up = &item["autoRenewingPlan"]["priceStepUpConsentDetails"];
    if let Some(state) = step_up["state"].as_str() {
        let price = money_words(&step_up["newPrice"]);
        let deadline = step_up["consentDeadlineTime"].as_str().unwrap_or("no deadline given");
        facts.push(format!("price step-up to {price}: consent {state}, deadline {deadline}"));
    }
    let replaced = &item["itemReplacement"];
    if let Some(product) = replaced["productId"].as_str() {
        let mode = replaced["replacementMode"].as_str().unwrap_or("REPLACEMENT_MODE_UNSPECIFIED");
        facts.push(format!("replaces {product} ({mode})"));
    }
    if let Some(phase) = item["offerPhase"].as_object().and_then(|phase| phase.keys().next()) {
        facts.push(format!("offer phase: {phase}"));
    }
    facts
}

/// `Money` as `USD 12.99`.
fn money_words(money: &Value) -> String {
    let Ok(m) = serde_json::from_value::<Money>(money.clone()) else { return "an unknown price".into() };
    match micros(&m) {
        Some(micros) => format!("{} {}.{:02}", m.currency_code, micros / 1_000_000, (micros % 1_000_000) / 10_000),
        None => "an unknown price".into(),
    }
}

/// `GPA.1234-5678-9012-34567..5` (the sixth renewal) → `GPA.1234-5678-9012-34567`.
pub fn first_order_id(order_id: &str) -> &str {
    order_id.split_once("..").map_or(order_id, |(first, _)| first)
}

pub(super) fn rfc3339_ms(time: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time?).ok().map(|t| t.timestamp_millis())
}

fn micros(money: &Money) -> Option<i64> {
    let units: i64 = money.units.as_deref().unwrap_or("0").parse().ok()?;
    units.checked_mul(1_000_000)?.checked_add(money.nanos / 1_000)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn active() -> Value {
        json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "startTime": "2026-01-01T00:00:00.123456789Z", "regionCode": "US",
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "latestOrderId": "GPA.9999-9999-9999-99999",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
            "externalAccountIdentifiers": { "obfuscatedExternalAccountId": "a1b2c3" },
            "testPurchase": {},
            "lineItems": [{ "productId": "premium_monthly", "expiryTime": "2026-02-01T00:00:00.123Z",
                "autoRenewingPlan": { "autoRenewEnabled": true,
                    "recurringPrice": { "currencyCode": "USD", "units": "9", "nanos": 990000000 } },
                "offerDetails": { "basePlanId": "p1m", "offerTags": [] },
                "latestSuccessfulOrderId": "GPA.3331-7311-8633-87504..5" }]
        })
    }

    #[test]
    fn an_active_subscription_is_read_from_its_line_item_not_latest_order_id() {
        let p = from_subscription_v2("premium_monthly", "tok", active()).unwrap();

        assert_eq!(p.transaction_id, "GPA.3331-7311-8633-87504..5");
        assert_eq!(p.original_transaction_id.as_deref(), Some("GPA.3331-7311-8633-87504"));
        assert_eq!(p.state, PurchaseState::Purchased);
        assert_eq!(p.subscription_state, Some(SubscriptionState::Active));
        assert_eq!(p.purchase_time_ms, 1_767_225_600_123);
        assert_eq!(p.expiry_time_ms, Some(1_769_904_000_123));
        assert_eq!((p.price_micros, p.currency.as_deref()), (Some(9_990_000), Some("USD")));
        assert_eq!(p.auto_renewing, Some(true));
        assert_eq!(p.acknowledged, Some(false));
        assert_eq!(p.account_id.as_deref(), Some("a1b2c3"));
        assert!(p.sandbox);
    }

    #[test]
    fn every_subscription_state_maps_to_one_of_ours() {
        let cases = [
            ("SUBSCRIPTION_STATE_PENDING", PurchaseState::Pending, None),
            ("SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", PurchaseState::Cancelled, None),
            ("SUBSCRIPTION_STATE_CANCELED", PurchaseState::Purchased, Some(SubscriptionState::Cancelled)),
            ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", PurchaseState::Purchased, Some(SubscriptionState::InGrace)),
            ("SUBSCRIPTION_STATE_ON_HOLD", PurchaseState::Purchased, Some(SubscriptionState::OnHold)),
            ("SUBSCRIPTION_STATE_PAUSED", PurchaseState::Purchased, Some(SubscriptionState::Paused)),
            ("SUBSCRIPTION_STATE_EXPIRED", PurchaseState::Purchased, Some(SubscriptionState::Expired)),
        ];
        for (name, state, sub) in cases {
            let mut raw = active();
            raw["subscriptionState"] = json!(name);
            let p = from_subscription_v2("premium_monthly", "tok", raw).unwrap();
            assert_eq!((p.state, p.subscription_state), (state, sub), "{name}");
        }
    }

    #[test]
    fn a_re_signup_carries_the_replaced_token_and_a_pending_one_has_no_order_yet() {
        let mut raw = active();
        raw["linkedPurchaseToken"] = json!("old-token");
        raw["lineItems"][0].as_object_mut().unwrap().remove("latestSuccessfulOrderId");
        raw["lineItems"][0]["autoRenewingPlan"]["autoRenewEnabled"] = json!(false);

        let p = from_subscription_v2("premium_monthly", "new-token", raw).unwrap();

        assert_eq!(p.linked_transaction_id.as_deref(), Some("old-token"));
        assert!(p.transaction_id.starts_with("token:"));
        assert_eq!(p.original_transaction_id, None);
        assert_eq!(p.auto_renewing, Some(false));
    }

    #[test]
    fn unreadable_subscriptions_are_configuration_errors() {
        let mut no_items = active();
        no_items["lineItems"] = json!([]);
        let mut bad_state = active();
        bad_state["subscriptionState"] = json!("SOMETHING_NEW");
        let mut bad_time = active();
        bad_time["startTime"] = json!("yesterday");
        for raw in [no_items, bad_state, bad_time, json!("x")] {
            assert!(matches!(from_subscription_v2("premium_monthly", "t", raw), Err(StoreError::Config(_))));
        }
    }

    #[test]
    fn renewal_suffixes_are_stripped_to_the_first_order() {
        assert_eq!(first_order_id("GPA.1-2-3-4..58"), "GPA.1-2-3-4");
        assert_eq!(first_order_id("GPA.1-2-3-4"), "GPA.1-2-3-4");
    }
}
