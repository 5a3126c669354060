//! The Google fake's control API, for tests written in any language: `POST /google/fake/...`.
use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;

use super::{Change, Created, FakeGoogle, NewProduct, NewSubscription};

pub(super) fn router() -> Router<FakeGoogle> {
    Router::new()
        .route("/service-accounts", post(service_account))
        .route("/products", post(add_product))
        .route("/subscriptions", post(add_subscription))
        .route("/subscriptions/{token}/{change}", post(change_subscription))
        .route("/purchases/{token}/void", post(void))
        .route("/purchases/{token}/release", post(release))
        .route("/purchases/{token}/billing", axum::routing::get(billing))
        .route("/purchases/{token}/chargeback", post(chargeback))
        .route("/chargebacks/{pending}", axum::routing::get(chargeback_review))
        .route("/tokens/expire", post(expire_tokens))
        .route("/notifications", post(crate::fakes::set_notify_url::<FakeGoogle>))
}

fn created(c: Created) -> Response {
    (StatusCode::CREATED, Json(json!({"purchaseToken": c.purchase_token, "orderId": c.order_id}))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccountRequest {
    #[serde(default = "default_email")]
    client_email: String,
}

fn default_email() -> String {
    "iap-server@fake-play-project.iam.gserviceaccount.com".into()
}

/// The key file, with `token_uri` pointing back at this fake as the caller reached it.
async fn service_account(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Json(body): Json<ServiceAccountRequest>,
) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let token_uri = format!("http://{host}/google/token");
    let key = store.service_account(&body.client_email, &token_uri);
    (StatusCode::CREATED, [("content-type", "application/json")], key).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProductRequest {
    package_name: String,
    product_id: String,
    #[serde(default)]
    test: bool,
    #[serde(default)]
    promo: bool,
    #[serde(default)]
    pending: bool,
    account_id: Option<String>,
    developer_payload: Option<String>,
    quantity: Option<i32>,
    price_micros: Option<i64>,
    currency: Option<String>,
    rental: Option<RentalRequest>,
    preorder_release_time_millis: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RentalRequest {
    purchase_option_id: String,
    /// ISO 8601, as the catalog's `rentalPeriod` (`PT48H`).
    rental_period: String,
}

async fn add_product(State(store): State<FakeGoogle>, Json(b): Json<ProductRequest>) -> Response {
    created(
        store
            .add_product(NewProduct {
                package: &b.package_name,
                product_id: &b.product_id,
                test: b.test,
                promo: b.promo,
                pending: b.pending,
                account_id: b.account_id.as_deref(),
                developer_payload: b.developer_payload.as_deref(),
                quantity: b.quantity,
                price_micros: b.price_micros,
                currency: b.currency.as_deref(),
                rental: b.rental.as_ref().map(|r| (r.purchase_option_id.as_str(), r.rental_period.as_str())),
                preorder_release_ms: b.preorder_release_time_millis,
            })
            .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionRequest {
    package_name: String,
    product_id: String,
    #[serde(default)]
    test: bool,
    account_id: Option<String>,
    linked_purchase_token: Option<String>,
    #[serde(default = "thirty")]
    period_days: u64,
    #[serde(default = "price")]
    price_micros: i64,
    #[serde(default = "usd")]
    currency: String,
}

fn thirty() -> u64 {
    30
}

fn price() -> i64 {
    9_990_000
}

fn usd() -> String {
    "USD".into()
}

async fn add_subscription(State(store): State<FakeGoogle>, Json(b): Json<SubscriptionRequest>) -> Response {
    created(
        store
            .add_subscription(NewSubscription {
                package: &b.package_name,
                product_id: &b.product_id,
                test: b.test,
                account_id: b.account_id.as_deref(),
                linked_token: b.linked_purchase_token.as_deref(),
                period: Duration::from_secs(b.period_days * 86_400),
                price_micros: b.price_micros,
                currency: &b.currency,
            })
            .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ChangeBody {
    #[serde(default)]
    days_ago: u32,
}

/// `renew`, `cancel`, `grace`, `hold`, `pause`, `recover`, `expire` (`{"daysAgo":61}` makes the
/// token unqueryable), `revoke`, `price-step-up`, or `resubscribe` (a new purchase in the Play
/// Store after the subscription expired; answers with it).
async fn change_subscription(
    State(store): State<FakeGoogle>,
    Path((token, change)): Path<(String, String)>,
    body: Option<Json<ChangeBody>>,
) -> Response {
    let days_ago = body.map(|Json(b)| b.days_ago).unwrap_or_default();
    if change == "resubscribe" {
        return match store.resubscribe_in_play_store(&token).await {
            Some(c) => created(c),
            None => (StatusCode::NOT_FOUND, "no subscription with this token").into_response(),
        };
    }
    let change = match change.as_str() {
        "renew" => Change::Renew,
        "cancel" => Change::Cancel,
        "grace" => Change::GracePeriod,
        "hold" => Change::OnHold,
        "pause" => Change::Pause,
        "recover" => Change::Recover,
        "expire" => Change::Expire { days_ago },
        "revoke" => Change::Revoke,
        "price-step-up" => Change::PriceStepUp,
        other => return (StatusCode::NOT_FOUND, format!("unknown change {other}")).into_response(),
    };
    match store.change_subscription(&token, change).await {
        Some(state) => Json(json!({"subscriptionState": state.wire()})).into_response(),
        None => (StatusCode::NOT_FOUND, "no subscription with this token").into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VoidBody {
    #[serde(default)]
    source: i32,
    #[serde(default = "remorse")]
    reason: i32,
}

fn remorse() -> i32 {
    1
}

async fn void(State(store): State<FakeGoogle>, Path(token): Path<String>, body: Option<Json<VoidBody>>) -> StatusCode {
    let Json(b) = body.unwrap_or_else(|| Json(VoidBody { source: 0, reason: remorse() }));
    if store.void(&token, b.source, b.reason).await {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// What the Play Billing Library hands the app with a one-time purchase, and the license key that
/// verifies it.
async fn billing(State(store): State<FakeGoogle>, Path(token): Path<String>) -> Response {
    match store.billing_purchase(&token) {
        Some((data, signature)) => {
            let body = json!({"originalJson": data, "signature": signature, "licenseKey": super::license_key()});
            Json(body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Releases a pre-order now and pushes the notification of its completed purchase.
async fn release(State(store): State<FakeGoogle>, Path(token): Path<String>) -> StatusCode {
    if store.release(&token).await {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// Opens a chargeback review of the purchase and pushes its notification.
async fn chargeback(State(store): State<FakeGoogle>, Path(token): Path<String>) -> Response {
    match store.chargeback(&token).await {
        Some(pending) => (StatusCode::CREATED, Json(json!({"pendingRefundToken": pending}))).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The answer Google recorded for a chargeback review; 404 while there is none.
async fn chargeback_review(State(store): State<FakeGoogle>, Path(pending): Path<String>) -> Response {
    match store.chargeback_review(&pending) {
        Some(review) => Json(review).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn expire_tokens(State(store): State<FakeGoogle>) -> StatusCode {
    store.expire_tokens();
    StatusCode::OK
}
