//! The legacy `verifyReceipt` (deprecated by Apple, still used by StoreKit 1 apps): the receipt
//! goes to production first and to the sandbox on status 21007, as Apple prescribes. The answer
//! is always HTTP 200 with the outcome in `status`; every number in it is a string.
use std::collections::BTreeMap;

use model::Store;
use serde::Deserialize;
use serde_json::Value;

use crate::stores::{outage, PurchaseState, StoreError, StorePurchase, SubscriptionState};

pub const PRODUCTION_URL: &str = "https://buy.itunes.apple.com/verifyReceipt";
pub const SANDBOX_URL: &str = "https://sandbox.itunes.apple.com/verifyReceipt";

/// A receipt read by Apple: every transaction in it, newest state of each.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    pub bundle_id: String,
    /// The app's Apple id; 0 or absent in the sandbox.
    pub adam_id: Option<i64>,
    pub sandbox: bool,
    pub purchases: Vec<StorePurchase>,
}

pub struct ReceiptClient {
    http: crate::outbound::Http,
    production_url: String,
    sandbox_url: String,
    /// The app-specific shared secret; without it Apple leaves out subscription details.
    shared_secret: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    status: i64,
    #[serde(rename = "is-retryable", default)]
    is_retryable: bool,
    environment: Option<String>,
    receipt: Option<ReceiptBody>,
    #[serde(default)]
    latest_receipt_info: Vec<InApp>,
    #[serde(default)]
    pending_renewal_info: Vec<PendingRenewal>,
}

#[derive(Deserialize)]
struct ReceiptBody {
    bundle_id: String,
    adam_id: Option<i64>,
    #[serde(default)]
    in_app: Vec<InApp>,
}

#[derive(Deserialize, serde::Serialize, Clone)]
struct InApp {
    product_id: String,
    transaction_id: String,
    original_transaction_id: Option<String>,
    purchase_date_ms: String,
    expires_date_ms: Option<String>,
    cancellation_date_ms: Option<String>,
    quantity: Option<String>,
    app_account_token: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct PendingRenewal {
    original_transaction_id: String,
    auto_renew_status: Option<String>,
    is_in_billing_retry_period: Option<String>,
    grace_period_expires_date_ms: Option<String>,
}

impl ReceiptClient {
    pub fn new(
        http: crate::outbound::Http,
        production_url: &str,
        sandbox_url: &str,
        shared_secret: Option<String>,
    ) -> ReceiptClient {
        ReceiptClient {
            http,
            production_url: production_url.to_string(),
            sandbox_url: sandbox_url.to_string(),
            shared_secret,
        }
    }

    pub async fn verify(&self, receipt_data: &str) -> Result<VerifiedReceipt, StoreError> {
        match self.post(&self.production_url, receipt_data).await {
            // A sandbox receipt sent to production: the same body goes to the sandbox.
            Err(StoreError::Rejected { code, .. }) if code == "21007" => {
                self.post(&self.sandbox_url, receipt_data).await
            }
            other => other,
        }
    }

    async fn post(&self, url: &str, receipt_data: &str) -> Result<VerifiedReceipt, StoreError> {
        let mut body = serde_json::json!({"receipt-data": receipt_data, "exclude-old-transactions": false});
        if let Some(secret) = &self.shared_secret {
            body["password"] = secret.as_str().into();
        }
        let response = self.http.send(self.http.post(url).json(&body)).await.map_err(StoreError::outbound)?;
        let status = response.status();
        let text = response.text().await.map_err(StoreError::transport)?;
        if let Some(err) = outage(status) {
            return Err(err);
        }
        parse(&text)
    }
}

/// What each `status` means for the caller.
fn status_error(status: i64, retryable: bool) -> Option<StoreError> {
    let rejected = |message: &str| StoreError::Rejected { code: status.to_string(), message: message.into() };
    match status {
        // 21006: valid, but the subscription in it has expired.
        0 | 21_006 => None,
        21_000 => Some(rejected("the App Store could not read the request")),
        21_002 => Some(rejected("the receipt data is malformed or missing")),
        21_003 => Some(rejected("the receipt could not be authenticated")),
        21_004 => Some(StoreError::Config("the shared secret does not match the app's".into())),
        21_005 | 21_009 => Some(StoreError::Unavailable(format!("the receipt server is unavailable ({status})"))),
        21_007 => Some(rejected("a sandbox receipt sent to production")),
        21_008 => Some(rejected("a production receipt sent to the sandbox")),
        21_010 => Some(rejected("the receipt could not be authorised: treat as never purchased")),
        21_100..=21_199 if retryable => Some(StoreError::Unavailable(format!("internal data access error ({status})"))),
        _ => Some(rejected("the App Store refused the receipt")),
    }
}

/// Reads a `verifyReceipt` answer.
pub fn parse(text: &str) -> Result<VerifiedReceipt, StoreError> {
    let answer: Answer = serde_json::from_str(text).map_err(|e| StoreError::unreadable("verifyReceipt answer", e))?;
    if let Some(err) = status_error(answer.status, answer.is_retryable) {
        return Err(err);
    }
    let receipt = answer.receipt.ok_or_else(|| StoreError::Config("verifyReceipt answer without a receipt".into()))?;
    let sandbox = answer.environment.as_deref() != Some("Production");
    // latest_receipt_info holds the newest state of subscription transactions: it wins.
    let mut by_id: BTreeMap<String, InApp> = BTreeMap::new();
    for entry in receipt.in_app.into_iter().chain(answer.latest_receipt_info) {
        by_id.insert(entry.transaction_id.clone(), entry);
    }
    let renewals: BTreeMap<&str, &PendingRenewal> =
        answer.pending_renewal_info.iter().map(|r| (r.original_transaction_id.as_str(), r)).collect();
    let purchases = by_id
        .into_values()
        .map(|entry| {
            let original = entry.original_transaction_id.as_deref().unwrap_or(&entry.transaction_id);
            normalise(&entry, sandbox, renewals.get(original).copied())
        })
        .collect::<Result<_, _>>()?;
    Ok(VerifiedReceipt { bundle_id: receipt.bundle_id, adam_id: receipt.adam_id, sandbox, purchases })
}

fn millis(value: &Option<String>) -> Result<Option<i64>, StoreError> {
    value
        .as_deref()
        .map(|v| v.parse::<i64>().map_err(|_| StoreError::Config(format!("not a time in milliseconds: {v}"))))
        .transpose()
}

fn normalise(entry: &InApp, sandbox: bool, renewal: Option<&PendingRenewal>) -> Result<StorePurchase, StoreError> {
    let purchase_time_ms = millis(&Some(entry.purchase_date_ms.clone()))?.unwrap_or_default();
    let expiry = millis(&entry.expires_date_ms)?;
    let cancelled = millis(&entry.cancellation_date_ms)?.is_some();
    let auto_renewing = renewal.and_then(|r| r.auto_renew_status.as_deref()).map(|s| s == "1");
    let in_retry = renewal.and_then(|r| r.is_in_billing_retry_period.as_deref()) == Some("1");
    let in_grace = renewal.and_then(|r| r.grace_period_expires_date_ms.as_ref()).is_some();
    let subscription_state = expiry.map(|expiry| match () {
        _ if cancelled => SubscriptionState::Revoked,
        _ if in_retry && in_grace => SubscriptionState::InGrace,
        _ if in_retry => SubscriptionState::OnHold,
        _ if expiry <= crate::now_ms() => SubscriptionState::Expired,
        _ if auto_renewing == Some(false) => SubscriptionState::Cancelled,
        _ => SubscriptionState::Active,
    });
    Ok(StorePurchase {
        store: Store::Apple,
        product_id: entry.product_id.clone(),
        transaction_id: entry.transaction_id.clone(),
        original_transaction_id: entry.original_transaction_id.clone(),
        linked_transaction_id: None,
        purchase_token: None,
        purchase_time_ms,
        state: if cancelled { PurchaseState::Refunded } else { PurchaseState::Purchased },
        consumed: None,
        acknowledged: None,
        quantity: entry.quantity.as_deref().and_then(|q| q.parse().ok()).unwrap_or(1),
        price_micros: None,
        currency: None,
        expiry_time_ms: expiry,
        auto_renewing,
        subscription_state,
        sandbox,
        store_initiated: false,
        developer_payload: None,
        account_id: entry.app_account_token.clone(),
        refunded_share: None,
        raw: serde_json::to_value(entry).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_is_sorted_into_the_right_kind() {
        assert!(status_error(0, false).is_none());
        assert!(status_error(21_006, false).is_none());
        for rejected in [21_000, 21_002, 21_003, 21_007, 21_008, 21_010, 21_199, 12_345] {
            assert!(matches!(status_error(rejected, false), Some(StoreError::Rejected { .. })), "{rejected}");
        }
        for outage in [21_005, 21_009] {
            assert!(status_error(outage, false).unwrap().is_retryable(), "{outage}");
        }
        assert!(status_error(21_150, true).unwrap().is_retryable());
        assert!(matches!(status_error(21_004, false), Some(StoreError::Config(_))));
    }

    #[test]
    fn the_newest_state_of_a_subscription_transaction_wins() {
        let answer = r#"{"status":0,"environment":"Production",
            "receipt":{"bundle_id":"com.example","in_app":[
              {"product_id":"gem","transaction_id":"1","purchase_date_ms":"1000","quantity":"2"},
              {"product_id":"sub","transaction_id":"2","original_transaction_id":"2","purchase_date_ms":"1000",
               "expires_date_ms":"99999999999999"}]},
            "latest_receipt_info":[{"product_id":"sub","transaction_id":"2","original_transaction_id":"2",
               "purchase_date_ms":"1000","expires_date_ms":"99999999999999","cancellation_date_ms":"5000"}],
            "pending_renewal_info":[{"original_transaction_id":"2","auto_renew_status":"0"}]}"#;

        let receipt = parse(answer).unwrap();

        assert!(!receipt.sandbox);
        assert_eq!(receipt.purchases.len(), 2);
        assert_eq!(receipt.purchases[0].quantity, 2);
        assert_eq!(receipt.purchases[1].state, PurchaseState::Refunded);
        assert_eq!(receipt.purchases[1].subscription_state, Some(SubscriptionState::Revoked));
        assert_eq!(receipt.purchases[1].auto_renewing, Some(false));
    }

    #[test]
    fn random_bytes_never_panic_the_receipt_parser() {
        let valid = r#"{"status":0,"receipt":{"bundle_id":"b","in_app":[{"product_id":"p","transaction_id":"1",
            "purchase_date_ms":"1","expires_date_ms":"2"}]},"pending_renewal_info":[{"original_transaction_id":"1"}]}"#;
        for text in crate::noise::texts(valid, 4000) {
            let _ = parse(&text);
        }
    }
}
