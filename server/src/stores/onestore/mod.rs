//! ONE store IAP Server API V7: client-credentials OAuth, purchase details, consume, acknowledge.
//!
//! Purchases are kept per market: a global app (`MKT_GLB`) queried as Korean (`MKT_ONE`, the
//! default when the header is absent) gets `NoSuchData`, and an acknowledge under the wrong market
//! does not take. `purchaseTime` is epoch milliseconds; the market's time zone (UTC+9 for
//! `MKT_ONE`, UTC for `MKT_GLB`) only affects formatted times, which we do not read.
pub mod pns;

use std::time::{Duration, Instant};

use model::Store;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{outage, path_segment, PurchaseState, StoreError, StorePurchase};

pub const PRODUCTION_URL: &str = "https://iap-apis.onestore.net";
pub const SANDBOX_URL: &str = "https://sbpp.onestore.net";

/// Tokens are renewed this long before they expire, so a request never carries one that lapses
/// on the way.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Market {
    #[serde(rename = "MKT_ONE")]
    Korea,
    #[serde(rename = "MKT_GLB")]
    Global,
}

impl Market {
    pub fn code(self) -> &'static str {
        match self {
            Market::Korea => "MKT_ONE",
            Market::Global => "MKT_GLB",
        }
    }

    pub fn parse(code: &str) -> Option<Market> {
        match code {
            "MKT_ONE" => Some(Market::Korea),
            "MKT_GLB" => Some(Market::Global),
            _ => None,
        }
    }
}

/// One app's credentials. The client id is the app's package name.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub market: Market,
}

pub struct OneStoreClient {
    http: crate::outbound::Http,
    base_url: String,
    credentials: Credentials,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseDetails {
    consumption_state: i32,
    developer_payload: Option<String>,
    purchase_state: i32,
    purchase_time: i64,
    purchase_id: String,
    acknowledge_state: i32,
    #[serde(default = "one")]
    quantity: i32,
}

fn one() -> i32 {
    1
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

impl OneStoreClient {
    pub fn new(http: crate::outbound::Http, base_url: &str, credentials: Credentials) -> OneStoreClient {
        OneStoreClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            credentials,
            token: Mutex::new(None),
        }
    }

    /// The purchase of `product_id` identified by `purchase_token`.
    pub async fn purchase(&self, product_id: &str, purchase_token: &str) -> Result<StorePurchase, StoreError> {
        let path = self.purchase_path("inapp", product_id, purchase_token);
        let raw = self.call(reqwest::Method::GET, &path, None).await?;
        let details: PurchaseDetails =
            serde_json::from_value(raw.clone()).map_err(|e| StoreError::unreadable("purchase details", e))?;
        Ok(StorePurchase {
            store: Store::OneStore,
            product_id: product_id.to_string(),
            transaction_id: details.purchase_id,
            original_transaction_id: None,
            linked_transaction_id: None,
            purchase_token: Some(purchase_token.to_string()),
            purchase_time_ms: details.purchase_time,
            state: if details.purchase_state == 0 { PurchaseState::Purchased } else { PurchaseState::Cancelled },
            consumed: Some(details.consumption_state == 1),
            acknowledged: Some(details.acknowledge_state == 1),
            quantity: details.quantity,
            price_micros: None,
            currency: None,
            expiry_time_ms: None,
            auto_renewing: None,
            subscription_state: None,
            // ONE store marks sandbox tokens in the token itself.
            sandbox: purchase_token.starts_with("SANDBOX"),
            store_initiated: false,
            developer_payload: details.developer_payload.filter(|p| !p.is_empty()),
            account_id: None,
            refunded_share: None,
            raw,
        })
    }

    pub async fn consume(&self, product_id: &str, purchase_token: &str, payload: &str) -> Result<(), StoreError> {
        self.post_action("inapp", product_id, purchase_token, "consume", payload).await
    }

    /// Acknowledge goes through `purchases/all`, which covers in-app and subscription products.
    pub async fn acknowledge(&self, product_id: &str, purchase_token: &str, payload: &str) -> Result<(), StoreError> {
        self.post_action("all", product_id, purchase_token, "acknowledge", payload).await
    }

    async fn post_action(
        &self,
        kind: &str,
        product_id: &str,
        purchase_token: &str,
        action: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        let path = format!("{}/{action}", self.purchase_path(kind, product_id, purchase_token));
        let body = serde_json::json!({ "developerPayload": payload });
        self.call(reqwest::Method::POST, &path, Some(body)).await.map(drop)
    }

    fn purchase_path(&self, kind: &str, product_id: &str, purchase_token: &str) -> String {
        format!(
            "/v7/apps/{}/purchases/{kind}/products/{}/{}",
            path_segment(&self.credentials.client_id),
            path_segment(product_id),
            path_segment(purchase_token)
        )
    }

    /// One API call with the cached token; an expired token is renewed once and the call repeated.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, StoreError> {
        let mut renewed = false;
        loop {
            let token = self.access_token().await?;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .bearer_auth(&token)
                .header("x-market-code", self.credentials.market.code());
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = self.http.send(request).await.map_err(StoreError::outbound)?;
            let status = response.status();
            let text = response.text().await.map_err(StoreError::transport)?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(serde_json::Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| StoreError::unreadable("answer from ONE store", e));
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                *self.token.lock().await = None;
                renewed = true;
                continue;
            }
            return Err(classify(status, &text));
        }
    }

    async fn access_token(&self) -> Result<String, StoreError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let request = self.http.post(format!("{}/v7/oauth/token", self.base_url)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.client_id.as_str()),
            ("client_secret", self.credentials.client_secret.as_str()),
        ]);
        let response = self.http.send(request).await.map_err(StoreError::outbound)?;
        let status = response.status();
        let text = response.text().await.map_err(StoreError::transport)?;
        if !status.is_success() {
            return Err(match classify(status, &text) {
                StoreError::Rejected { code, message } => {
                    StoreError::Config(format!("ONE store refused the client credentials: {code}: {message}"))
                }
                other => other,
            });
        }
        let token: TokenResponse =
            serde_json::from_str(&text).map_err(|e| StoreError::unreadable("token response", e))?;
        let expires = Instant::now() + Duration::from_secs(token.expires_in);
        *cached = Some((token.access_token.clone(), expires));
        Ok(token.access_token)
    }
}

/// 4xx is the store saying no (with its error code when the body has one); 429 and 5xx are outages.
fn classify(status: reqwest::StatusCode, body: &str) -> StoreError {
    if let Some(err) = outage(status) {
        return err;
    }
    match serde_json::from_str::<ErrorEnvelope>(body) {
        Ok(envelope) => StoreError::Rejected { code: envelope.error.code, message: envelope.error.message },
        Err(_) => StoreError::Rejected {
            code: format!("HTTP{}", status.as_u16()),
            message: "the store answered without an error body".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_and_outages_are_told_apart() {
        let rejected =
            classify(reqwest::StatusCode::NOT_FOUND, r#"{"error":{"code":"NoSuchData","message":"no purchase"}}"#);
        assert_eq!(rejected, StoreError::Rejected { code: "NoSuchData".into(), message: "no purchase".into() });
        assert!(classify(reqwest::StatusCode::BAD_GATEWAY, "<html>").is_retryable());
        assert!(classify(reqwest::StatusCode::TOO_MANY_REQUESTS, "").is_retryable());
        assert!(!classify(reqwest::StatusCode::NOT_FOUND, "<html>404</html>").is_retryable());
    }

    #[test]
    fn random_bytes_never_panic_the_error_classifier() {
        let valid =
            r#"{"consumptionState":0,"purchaseState":0,"purchaseTime":1,"purchaseId":"1","acknowledgeState":0}"#;
        for text in crate::noise::texts(valid, 4000) {
            let _ = classify(reqwest::StatusCode::BAD_REQUEST, &text);
            let _ = serde_json::from_str::<PurchaseDetails>(&text);
        }
    }
}
