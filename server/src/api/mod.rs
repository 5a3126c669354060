//! The purchase API: what the app's SDK calls (`/v1/sdk/...`, AppKey) and what the app's server
//! calls (`/v1/service/...`, NHN Cloud IAP's paths, AppKey and SecretKey).
//!
//! NHN's paths answer HTTP 200 whatever happened, with the outcome in the envelope, as NHN does;
//! our own paths also carry a matching HTTP status.
mod callbacks;
pub mod caller;
pub mod docs;
pub mod envelope;
pub mod limit;
mod sdk;
mod service;
mod views;

use axum::{
    extract::DefaultBodyLimit,
    http::StatusCode,
    middleware::map_response,
    response::Response,
    routing::{get, post},
    Router,
};

use self::envelope::{ApiError, Code};
use crate::state::AppState;

pub fn router(settings: &crate::config::Settings) -> Router<AppState> {
    let nhn = Router::new()
        .route("/v1/service/consume", post(service::consume))
        .route("/v1/service/consumable", post(service::consumable))
        .route("/v1/service/activeSubscriptionList", post(service::active_subscriptions))
        .route("/v1/service/payment", post(service::payment))
        .route("/v1/service/subscriptions/status", post(service::subscription_status))
        .route("/v1/service/subscriptions/cancel", post(service::cancel_subscription))
        .route("/v1/service/subscriptions/revoke", post(service::revoke_subscription))
        .route("/v1/service/webhooks/replay", post(service::replay_webhooks))
        .method_not_allowed_fallback(wrong_method)
        .layer(map_response(always_ok));
    let sdk = Router::new()
        .route("/v1/sdk/products", post(sdk::products))
        .route("/v1/sdk/reserve", post(sdk::reserve))
        .route("/v1/sdk/close", post(sdk::close))
        .route("/v1/sdk/verify", post(sdk::verify))
        .route("/v1/sdk/consumable", post(sdk::consumable))
        .route("/v1/sdk/consume", post(sdk::consume))
        .route("/v1/sdk/subscriptions/active", post(sdk::active_subscriptions))
        .route("/v1/sdk/restore", post(sdk::restore))
        .method_not_allowed_fallback(wrong_method);
    let callbacks = Router::new()
        .route("/callback/subscription/{package}/GG", post(callbacks::google))
        .route("/callback/subscription/{bundle}/AS/v2", post(callbacks::apple))
        .route("/markets/ONESTORE/notification/{package}/receive", post(callbacks::onestore))
        // Every store's notification is a few kilobytes; anything far larger is not one.
        .layer(DefaultBodyLimit::max(settings.notifications.max_body_bytes));
    let docs = Router::new().route("/openapi.json", get(docs::openapi_json)).route("/docs/api", get(docs::page));
    nhn.merge(sdk).merge(callbacks).merge(docs)
}

async fn wrong_method() -> ApiError {
    Code::Method.into()
}

/// NHN's paths always answer 200; the envelope says how it went.
async fn always_ok(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::OK;
    response
}
