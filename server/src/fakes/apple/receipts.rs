//! The legacy `verifyReceipt` endpoint: always HTTP 200, the outcome in `status`, every number
//! and date a string, as Apple's answer is.
use axum::{extract::State, response::Response, routing::post, Json, Router};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use super::{
    api::{self, Api},
    Environment, FakeApple, ProductType, Transaction,
};

const PREFIX: &str = "fake-app-receipt:";

/// The base64 "app receipt" the fake hands out for receipt `id`.
pub(super) fn encode(id: &str) -> String {
    STANDARD.encode(format!("{PREFIX}{id}"))
}

fn decode(data: &str) -> Option<String> {
    let bytes = STANDARD.decode(data.trim()).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix(PREFIX).map(String::from)
}

fn status(code: i64) -> Response {
    axum::response::IntoResponse::into_response(Json(json!({"status": code})))
}

/// The receipt endpoint of one environment, beside its App Store Server API.
pub(super) fn router(fake: FakeApple, environment: Environment) -> Router {
    Router::new().route("/verifyReceipt", post(verify)).with_state(Api { fake, environment })
}

async fn verify(State(api): State<Api>, body: axum::body::Bytes) -> Response {
    if let Some(response) = api::fault(&api, "verifyReceipt").await {
        return response;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else { return status(21_000) };
    let Some(data) = request.get("receipt-data").and_then(Value::as_str) else { return status(21_002) };
    let Some(id) = decode(data) else { return status(21_002) };
    let inner = api.fake.lock();
    let Some(receipt) = inner.receipts.get(&id) else { return status(21_003) };
    match (receipt.environment, api.environment) {
        (Environment::Sandbox, Environment::Production) => return status(21_007),
        (Environment::Production, Environment::Sandbox) => return status(21_008),
        _ => {}
    }
    let transactions: Vec<&Transaction> = inner
        .transactions
        .iter()
        .filter(|t| {
            t.customer == receipt.customer && t.bundle_id == receipt.bundle_id && t.environment == receipt.environment
        })
        .collect();
    let has_subscriptions = transactions.iter().any(|t| t.product_type == ProductType::AutoRenewable);
    let password = request.get("password").and_then(Value::as_str);
    let secret = inner.apps.get(&receipt.bundle_id).and_then(|a| a.shared_secret.as_deref());
    if has_subscriptions && password.is_some() && password != secret {
        return status(21_004);
    }
    let mut answer = json!({
        "status": 0,
        "environment": receipt.environment.wire(),
        "receipt": {
            "receipt_type": if receipt.environment == Environment::Production { "Production" } else { "ProductionSandbox" },
            "bundle_id": receipt.bundle_id,
            // Apple's sandbox receipts carry adam_id 0.
            "adam_id": match receipt.environment {
                Environment::Production => inner.app_apple_id(&receipt.bundle_id).unwrap_or(0),
                Environment::Sandbox => 0,
            },
            "application_version": "1.0",
            "receipt_creation_date_ms": crate::now_ms().to_string(),
            "in_app": transactions.iter().map(|t| in_app(t)).collect::<Vec<_>>(),
        },
        "latest_receipt": data,
    });
    // Subscription details come back only when the shared secret was sent.
    if has_subscriptions && password.is_some() {
        let subscriptions: Vec<_> =
            transactions.iter().filter(|t| t.product_type == ProductType::AutoRenewable).collect();
        answer["latest_receipt_info"] = subscriptions.iter().map(|t| in_app(t)).collect();
        let mut originals: Vec<&str> = subscriptions.iter().map(|t| t.original_transaction_id.as_str()).collect();
        // Renewals of one subscription interleave with other purchases: sort before deduplicating.
        originals.sort_unstable();
        originals.dedup();
        answer["pending_renewal_info"] = originals
            .into_iter()
            .filter_map(|original| {
                let sub = inner.subscriptions.get(original)?;
                let latest = &inner.transactions[inner.latest_index(original)?];
                let mut info = json!({
                    "auto_renew_product_id": latest.product_id, "product_id": latest.product_id,
                    "original_transaction_id": original, "auto_renew_status": (sub.auto_renew as i32).to_string(),
                    "is_in_billing_retry_period": (matches!(sub.status, 3 | 4) as i32).to_string(),
                });
                if let Some(intent) = sub.expiration_intent {
                    info["expiration_intent"] = json!(intent.to_string());
                }
                if let Some(grace) = sub.grace_expires_ms {
                    info["grace_period_expires_date_ms"] = json!(grace.to_string());
                }
                Some(info)
            })
            .collect();
    }
    axum::response::IntoResponse::into_response(Json(answer))
}

fn in_app(t: &Transaction) -> Value {
    let mut entry = json!({
        "quantity": "1", "product_id": t.product_id, "transaction_id": t.transaction_id,
        "original_transaction_id": t.original_transaction_id,
        "purchase_date_ms": t.purchase_ms.to_string(), "original_purchase_date_ms": t.original_purchase_ms.to_string(),
        "is_trial_period": "false", "in_app_ownership_type": "PURCHASED",
    });
    if let Some(expires) = t.expires_ms {
        entry["expires_date_ms"] = json!(expires.to_string());
    }
    if let Some(id) = &t.web_order_line_item_id {
        entry["web_order_line_item_id"] = json!(id);
    }
    if let Some(revoked) = t.revocation_ms {
        entry["cancellation_date_ms"] = json!(revoked.to_string());
        entry["cancellation_reason"] = json!(t.revocation_reason.unwrap_or(0).to_string());
    }
    if let Some(token) = &t.app_account_token {
        entry["app_account_token"] = json!(token);
    }
    entry
}
