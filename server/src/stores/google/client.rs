//! The Android Publisher v3 client: one app (package) with its service account.
//!
//! OAuth is gcp_auth's: it signs the RS256 assertion, posts it to the key file's `token_uri` and
//! caches the access token until shortly before it expires. Pointing the client at a fake is only
//! a matter of the key file's `token_uri` and the API root.
use std::sync::Arc;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::RwLock;

use super::{error::classify, orders, products, subscriptions, voided};
use crate::stores::{path_segment, StoreError, StorePurchase};

pub const API_ROOT: &str = "https://androidpublisher.googleapis.com/";
const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

pub struct GoogleClient {
    http: crate::outbound::Http,
    api_root: String,
    package: String,
    service_account_json: String,
    /// Replaced when Google stops accepting a cached token before its stated expiry.
    auth: RwLock<Arc<CustomServiceAccount>>,
}

/// How a revoked subscription is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    Full,
    Prorated,
}

/// The window and paging of a `voidedpurchases.list` call.
#[derive(Debug, Clone, Default)]
pub struct VoidedQuery {
    pub start_time_ms: Option<i64>,
    pub end_time_ms: Option<i64>,
    /// Subscriptions too, not only one-time products.
    pub include_subscriptions: bool,
    pub max_results: Option<u32>,
    /// The previous page's `next_page_token`.
    pub page_token: Option<String>,
}

impl GoogleClient {
    /// `service_account_json` is the key file as downloaded from Google Cloud.
    pub fn new(
        http: crate::outbound::Http,
        api_root: &str,
        package: &str,
        service_account_json: &str,
    ) -> Result<GoogleClient, StoreError> {
        let auth = service_account(service_account_json)?;
        Ok(GoogleClient {
            http,
            api_root: format!("{}/", api_root.trim_end_matches('/')),
            package: package.to_string(),
            service_account_json: service_account_json.to_string(),
            auth: RwLock::new(Arc::new(auth)),
        })
    }

    /// A one-time purchase, normalised, with what was paid from its order: `purchases.productsv2`,
    /// or `purchases.products.get` where Google does not serve v2 for the app. A rental ends when
    /// the rental period of the option bought, read from the catalog, has passed.
    pub async fn product(&self, product_id: &str, token: &str) -> Result<StorePurchase, StoreError> {
        let path = format!("{}/productsv2/tokens/{}", self.purchases_path(), path_segment(token));
        let purchase = match self.call(Method::GET, &path, None).await {
            Ok(raw) => {
                let read = products::from_product_purchase_v2(product_id, token, raw, crate::now_ms())?;
                let mut purchase = read.purchase;
                if let Some(option) = read.rented_option {
                    let period = self.rental_period(product_id, &option).await?;
                    purchase.expiry_time_ms = Some(products::rental_expiry(purchase.purchase_time_ms, &period)?);
                }
                purchase
            }
            Err(StoreError::Rejected { code, .. }) if v2_unavailable(&code) => {
                let raw = self.call(Method::GET, &self.product_path(product_id, token, ""), None).await?;
                products::from_product_purchase(product_id, token, raw)?
            }
            Err(err) => return Err(err),
        };
        self.with_amounts(purchase).await
    }

    /// The rental period of purchase option `option` of `product_id`, from the catalog
    /// (`monetization.onetimeproducts.get`): a purchase names the option, only the catalog its length.
    async fn rental_period(&self, product_id: &str, option: &str) -> Result<String, StoreError> {
        let path = format!(
            "androidpublisher/v3/applications/{}/oneTimeProducts/{}",
            path_segment(&self.package),
            path_segment(product_id)
        );
        let product = self.call(Method::GET, &path, None).await?;
        product["purchaseOptions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["purchaseOptionId"] == option)
            .and_then(|o| o["rentOption"]["rentalPeriod"].as_str())
            .map(String::from)
            .ok_or_else(|| StoreError::Config(format!("the catalog has no rental period for {product_id}/{option}")))
    }

    /// `orders.batchGet`: up to 1,000 orders in one call, as Google keeps them. Google fails the
    /// whole call when one id is unknown.
    pub async fn orders(&self, order_ids: &[&str]) -> Result<Vec<Value>, StoreError> {
        let query = {
            let mut params = form_urlencoded::Serializer::new(String::new());
            for id in order_ids {
                params.append_pair("orderIds", id);
            }
            params.finish()
        };
        let path = format!("androidpublisher/v3/applications/{}/orders:batchGet?{query}", path_segment(&self.package));
        let answer = self.call(Method::GET, &path, None).await?;
        Ok(answer["orders"].as_array().cloned().unwrap_or_default())
    }

    /// `orders.get`: the order as Google keeps it, amounts and line items.
    pub async fn order(&self, order_id: &str) -> Result<Value, StoreError> {
        let path = format!(
            "androidpublisher/v3/applications/{}/orders/{}",
            path_segment(&self.package),
            path_segment(order_id)
        );
        self.call(Method::GET, &path, None).await
    }

    /// The purchase with the price its buyer paid, from its order (`orders.get`), and the order kept
    /// beside the purchase in the store's answer. A purchase without an order id (license tests)
    /// keeps what it has; so does one whose order Google cannot give now: the purchase is proven,
    /// the price is not, and it is logged.
    async fn with_amounts(&self, mut purchase: StorePurchase) -> Result<StorePurchase, StoreError> {
        if purchase.transaction_id.starts_with("token:") {
            return Ok(purchase);
        }
        let order = match self.order(&purchase.transaction_id).await {
            Ok(order) => order,
            Err(err) => {
                tracing::warn!(error = %err, "Google's order could not be read: the payment keeps no price");
                return Ok(purchase);
            }
        };
        // A purchase that started in the Play Store (a promo code, a store-side re-subscription).
        purchase.store_initiated |= order["salesChannel"] == "PLAY_STORE";
        match orders::amounts(&order) {
            Ok(amounts) => {
                purchase.price_micros = Some(amounts.total_micros);
                purchase.currency = Some(amounts.currency);
            }
            Err(err) => tracing::warn!(error = %err, "Google's order could not be read: the payment keeps no price"),
        }
        if let Some(raw) = purchase.raw.as_object_mut() {
            raw.insert("order".into(), order);
        }
        Ok(purchase)
    }

    /// Google refunds one-time purchases that are not acknowledged (or consumed) within 3 days.
    pub async fn acknowledge_product(
        &self,
        product_id: &str,
        token: &str,
        developer_payload: Option<&str>,
    ) -> Result<(), StoreError> {
        let body = developer_payload.map(|p| json!({ "developerPayload": p })).unwrap_or(json!({}));
        let path = self.product_path(product_id, token, ":acknowledge");
        self.call(Method::POST, &path, Some(body)).await.map(drop)
    }

    /// Consuming also acknowledges, and lets the user buy the product again.
    pub async fn consume_product(&self, product_id: &str, token: &str) -> Result<(), StoreError> {
        let path = self.product_path(product_id, token, ":consume");
        self.call(Method::POST, &path, None).await.map(drop)
    }

    /// `purchases.subscriptionsv2.get`, normalised; `product_id` picks the line item.
    pub async fn subscription(&self, product_id: &str, token: &str) -> Result<StorePurchase, StoreError> {
        let path = format!("{}/subscriptionsv2/tokens/{}", self.purchases_path(), path_segment(token));
        let raw = self.call(Method::GET, &path, None).await?;
        self.with_amounts(subscriptions::from_subscription_v2(product_id, token, raw)?).await
    }

    /// Acknowledge goes through the v1 resource: v2 has no acknowledge method. `account` is the
    /// obfuscated account id of the user for a subscription that carries none (bought in the Play
    /// Store): Google binds it to the purchase (`externalAccountIds`).
    pub async fn acknowledge_subscription(
        &self,
        product_id: &str,
        token: &str,
        account: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = format!(
            "{}/subscriptions/{}/tokens/{}:acknowledge",
            self.purchases_path(),
            path_segment(product_id),
            path_segment(token)
        );
        let body = account.map_or(json!({}), |a| json!({"externalAccountIds": {"obfuscatedAccountId": a}}));
        self.call(Method::POST, &path, Some(body)).await.map(drop)
    }

    /// Stops renewals; the user keeps access until the paid period ends.
    pub async fn cancel_subscription(&self, token: &str) -> Result<(), StoreError> {
        let path = format!("{}/subscriptionsv2/tokens/{}:cancel", self.purchases_path(), path_segment(token));
        let body = json!({"cancellationContext": {"cancellationType": "DEVELOPER_REQUESTED_STOP_PAYMENTS"}});
        self.call(Method::POST, &path, Some(body)).await.map(drop)
    }

    /// Ends access now and refunds.
    pub async fn revoke_subscription(&self, token: &str, refund: Refund) -> Result<(), StoreError> {
        let path = format!("{}/subscriptionsv2/tokens/{}:revoke", self.purchases_path(), path_segment(token));
        let context = match refund {
            Refund::Full => json!({"fullRefund": {}}),
            Refund::Prorated => json!({"proratedRefund": {}}),
        };
        self.call(Method::POST, &path, Some(json!({ "revocationContext": context }))).await.map(drop)
    }

    /// One page of `purchases.voidedpurchases.list`.
    pub async fn voided(&self, query: &VoidedQuery) -> Result<voided::VoidedPage, StoreError> {
        // The serializer is not Send: it is dropped before the request is awaited.
        let query_string = {
            let mut params = form_urlencoded::Serializer::new(String::new());
            if let Some(token) = &query.page_token {
                // Google ignores the window once a page token is given; the token carries it.
                params.append_pair("token", token);
            } else {
                if let Some(start) = query.start_time_ms {
                    params.append_pair("startTime", &start.to_string());
                }
                if let Some(end) = query.end_time_ms {
                    params.append_pair("endTime", &end.to_string());
                }
            }
            params.append_pair("type", if query.include_subscriptions { "1" } else { "0" });
            if let Some(max) = query.max_results {
                params.append_pair("maxResults", &max.to_string());
            }
            params.finish()
        };
        let path = format!("{}/voidedpurchases?{query_string}", self.purchases_path());
        let raw = self.call(Method::GET, &path, None).await?;
        voided::parse_page(&raw.to_string())
    }

    /// `orders.refund`; with `revoke` the entitlement ends too. Orders older than 3 years cannot be
    /// refunded.
    pub async fn refund_order(&self, order_id: &str, revoke: bool) -> Result<(), StoreError> {
        let path = format!(
            "androidpublisher/v3/applications/{}/orders/{}:refund?revoke={revoke}",
            path_segment(&self.package),
            path_segment(order_id)
        );
        self.call(Method::POST, &path, None).await.map(drop)
    }

    /// `orders.reviewrefund`: the answer to a chargeback review. Google records the first answer
    /// to a notification and ignores the rest (still answering OK).
    pub async fn review_refund(&self, order_id: &str, review: &ReviewRefund) -> Result<(), StoreError> {
        let path = format!(
            "androidpublisher/v3/applications/{}/orders/{}:reviewrefund",
            path_segment(&self.package),
            path_segment(order_id)
        );
        let body = serde_json::to_value(review).map_err(|e| StoreError::Config(e.to_string()))?;
        self.call(Method::POST, &path, Some(body)).await.map(drop)
    }

    fn purchases_path(&self) -> String {
        format!("androidpublisher/v3/applications/{}/purchases", path_segment(&self.package))
    }

    fn product_path(&self, product_id: &str, token: &str, verb: &str) -> String {
        format!("{}/products/{}/tokens/{}{verb}", self.purchases_path(), path_segment(product_id), path_segment(token))
    }

    /// One API call with the cached access token. A 401 means Google stopped accepting the
    /// token early (revoked, key rotated): it is renewed once and the call repeated.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, StoreError> {
        let mut renewed = false;
        loop {
            let auth = self.auth.read().await.clone();
            let token = auth.token(&[SCOPE]).await.map_err(token_error)?;
            let mut request =
                self.http.request(method.clone(), format!("{}{path}", self.api_root)).bearer_auth(token.as_str());
            if let Some(body) = &body {
                request = request.json(body);
            } else if method == Method::POST {
                request = request.header("content-length", "0");
            }
            let response = self.http.send(request).await.map_err(StoreError::outbound)?;
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(StoreError::throttled(response.headers()));
            }
            let text = response.text().await.map_err(StoreError::transport)?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| StoreError::unreadable("answer from Google", e));
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                let mut current = self.auth.write().await;
                // Another request may have renewed it while this one waited for the lock.
                if Arc::ptr_eq(&current, &auth) {
                    *current = Arc::new(service_account(&self.service_account_json)?);
                }
                continue;
            }
            return Err(classify(status, &text));
        }
    }
}

/// Whether Google's refusal of a v2 read means the method is not served (an unknown path, an API
/// version the project is not enabled for), not that the purchase is unknown or wrong.
fn v2_unavailable(code: &str) -> bool {
    matches!(code, "notFound" | "HTTP404" | "NOT_FOUND")
}

fn service_account(json: &str) -> Result<CustomServiceAccount, StoreError> {
    CustomServiceAccount::from_json(json)
        .map_err(|e| StoreError::Config(format!("unusable Google service-account key: {e}")))
}

/// gcp_auth retries the token endpoint itself and then reports only that it failed, whether the
/// endpoint was down or refused the grant; either way we may retry later, so it is an outage.
fn token_error(err: gcp_auth::Error) -> StoreError {
    StoreError::Unavailable(format!("Google's token endpoint: {err}"))
}

/// The body of `orders.reviewrefund` (`OrdersReviewRefundRequest`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRefund {
    /// The token of the pending refund review notification.
    pub pending_refund_token: String,
    /// APPROVE, DECLINE or NEUTRAL.
    pub refund_preference: String,
    pub sample_content_provided: bool,
    /// The share the customer used, 0 to 100,000.
    pub consumption_percentage_milliunits: i64,
    /// When and where the item was used (`ConsumptionUsageEvent`), at most 1,000.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumption_usage_events: Vec<Value>,
}
