//! The Apple fake's control API, for tests written in any language: `/apple/fake/...`.
use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;
use serde_json::json;

use super::{Change, Defect, Environment, FakeApple, NewPurchase, ProductType};

pub(super) fn router() -> Router<FakeApple> {
    Router::new()
        .route("/root", get(root))
        .route("/apps", post(add_app))
        .route("/keys", post(issue_key))
        .route("/purchases", post(add_purchase))
        .route("/subscriptions/{original}/{change}", post(change_subscription))
        .route("/transactions/{id}/refund", post(refund))
        .route("/transactions/{id}/defective", post(defective))
        .route("/transactions/{id}/refund-request", post(refund_request))
        .route("/transactions/{id}/consumption", get(consumption))
        .route("/transactions/{id}/finish", get(finished))
        .route("/notifications", post(crate::fakes::set_notify_url::<FakeApple>))
}

/// The root certificate to trust, base64 DER.
async fn root(State(fake): State<FakeApple>) -> Json<serde_json::Value> {
    Json(json!({"rootCertificate": STANDARD.encode(fake.root_der())}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AppRequest {
    bundle_id: String,
    app_apple_id: Option<i64>,
    shared_secret: Option<String>,
}

async fn add_app(State(fake): State<FakeApple>, Json(b): Json<AppRequest>) -> StatusCode {
    fake.add_app(&b.bundle_id, b.app_apple_id, b.shared_secret.as_deref());
    StatusCode::CREATED
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRequest {
    bundle_id: String,
}

async fn issue_key(State(fake): State<FakeApple>, Json(b): Json<KeyRequest>) -> Response {
    let key = fake.issue_key(&b.bundle_id);
    let body = json!({"issuerId": key.issuer_id, "keyId": key.key_id, "privateKey": key.private_key_pem});
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PurchaseRequest {
    bundle_id: String,
    product_id: String,
    /// `consumable` (default), `nonConsumable` or `autoRenewable`.
    #[serde(default)]
    r#type: Option<String>,
    /// `Sandbox` (default) or `Production`.
    #[serde(default)]
    environment: Option<String>,
    customer: Option<String>,
    app_account_token: Option<String>,
    price: Option<i64>,
    currency: Option<String>,
    period_days: Option<u64>,
    #[serde(default)]
    offer_code: bool,
}

async fn add_purchase(State(fake): State<FakeApple>, Json(b): Json<PurchaseRequest>) -> Response {
    let product_type = match b.r#type.as_deref().unwrap_or("consumable") {
        "consumable" => ProductType::Consumable,
        "nonConsumable" => ProductType::NonConsumable,
        "autoRenewable" => ProductType::AutoRenewable,
        other => return (StatusCode::BAD_REQUEST, format!("unknown type {other}")).into_response(),
    };
    let environment = match b.environment.as_deref().unwrap_or("Sandbox") {
        "Sandbox" => Environment::Sandbox,
        "Production" => Environment::Production,
        other => return (StatusCode::BAD_REQUEST, format!("unknown environment {other}")).into_response(),
    };
    let mut new = match product_type {
        ProductType::AutoRenewable => NewPurchase::subscription(&b.bundle_id, &b.product_id),
        _ => NewPurchase { product_type, ..NewPurchase::consumable(&b.bundle_id, &b.product_id) },
    };
    new.environment = environment;
    new.customer = b.customer.as_deref().unwrap_or(new.customer);
    new.app_account_token = b.app_account_token.as_deref();
    new.price = b.price.unwrap_or(new.price);
    new.currency = b.currency.as_deref().unwrap_or(new.currency);
    new.offer_code = b.offer_code;
    if let Some(days) = b.period_days {
        new.period = Duration::from_secs(days * 86_400);
    }
    let created = fake.add_purchase(new).await;
    let body = json!({
        "transactionId": created.transaction_id, "originalTransactionId": created.original_transaction_id,
        "orderId": created.order_id, "signedTransaction": created.signed_transaction, "receipt": created.receipt,
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `renew`, `cancel`, `billingRetry`, `grace`, `expire` or `refund`.
async fn change_subscription(
    State(fake): State<FakeApple>,
    Path((original, change)): Path<(String, String)>,
) -> Response {
    let change = match change.as_str() {
        "renew" => Change::Renew,
        "cancel" => Change::Cancel,
        "billingRetry" => Change::BillingRetry { grace: false },
        "grace" => Change::BillingRetry { grace: true },
        "expire" => Change::Expire,
        "refund" => Change::Refund,
        other => return (StatusCode::NOT_FOUND, format!("unknown change {other}")).into_response(),
    };
    match fake.change_subscription(&original, change).await {
        Some(latest) => Json(json!({"transactionId": latest})).into_response(),
        None => (StatusCode::NOT_FOUND, "no subscription with this original transaction id").into_response(),
    }
}

#[derive(Deserialize)]
struct RefundBody {
    /// The share refunded, in thousandths of a percent; the whole when left out.
    percentage: Option<i64>,
}

/// Refunds a transaction, whole or (with `percentage`) prorated.
async fn refund(State(fake): State<FakeApple>, Path(id): Path<String>, body: Option<Json<RefundBody>>) -> StatusCode {
    let share = body.and_then(|Json(b)| b.percentage).unwrap_or(100_000);
    if fake.refund_share(&id, share).await {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// The customer asks Apple for a refund: Apple sends `CONSUMPTION_REQUEST`.
async fn refund_request(State(fake): State<FakeApple>, Path(id): Path<String>) -> StatusCode {
    if fake.send_notification(&id, "CONSUMPTION_REQUEST", None).await {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// The consumption information Apple received for the transaction, oldest first.
async fn consumption(State(fake): State<FakeApple>, Path(id): Path<String>) -> Response {
    Json(fake.consumption_requests(&id)).into_response()
}

async fn finished(State(fake): State<FakeApple>, Path(id): Path<String>) -> Response {
    let at = fake.finished_at(&id);
    Json(json!({"finished": at.is_some(), "finishedDate": at})).into_response()
}

#[derive(Deserialize)]
struct DefectRequest {
    /// `forged`, `wrongRoot`, `missingOid`, `wrongBundle`, `wrongEnvironment` or `expiredCertificate`.
    defect: String,
}

async fn defective(State(fake): State<FakeApple>, Path(id): Path<String>, Json(b): Json<DefectRequest>) -> Response {
    let defect = match b.defect.as_str() {
        "forged" => Defect::Forged,
        "wrongRoot" => Defect::WrongRoot,
        "missingOid" => Defect::MissingOid,
        "wrongBundle" => Defect::WrongBundle,
        "wrongEnvironment" => Defect::WrongEnvironment,
        "expiredCertificate" => Defect::ExpiredCertificate,
        other => return (StatusCode::BAD_REQUEST, format!("unknown defect {other}")).into_response(),
    };
    match fake.defective_transaction(&id, defect) {
        Some(jws) => Json(json!({"signedTransaction": jws})).into_response(),
        None => (StatusCode::NOT_FOUND, "no such transaction").into_response(),
    }
}
