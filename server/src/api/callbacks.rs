//! The URLs the stores send notifications to, as NHN Cloud IAP names them. A notification is
//! answered 200 once it is stored; processing happens in the background
//! ([`crate::store_notifications::worker`]). One that fails its checks is refused and not stored.
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use model::Store;

use crate::{
    crypto,
    state::AppState,
    store_apps,
    store_notifications::{self, Incoming},
    stores::{
        client::StoreClient,
        google::{
            push::Expected,
            rtdn::{self, NotificationKind},
        },
        onestore::pns,
    },
};

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

/// Stores the notification (a redelivery maps to the stored row), wakes the worker, answers 200.
async fn take(state: &AppState, incoming: Incoming) -> Response {
    match store_notifications::receive(&state.db, &incoming).await {
        Ok(_) => {
            state.inbox.notify_one();
            StatusCode::OK.into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "storing a notification failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "not stored; send it again")
        }
    }
}

async fn app(state: &AppState, store: Store, app_id: &str) -> Result<store_apps::StoreAppRecord, Response> {
    match store_apps::find(&state.db, &state.cipher, store, app_id).await {
        Ok(Some(app)) => Ok(app),
        Ok(None) => Err(refuse(StatusCode::NOT_FOUND, format!("no {} app {app_id}", store.label()))),
        Err(err) => {
            tracing::error!(error = %err, "reading a store app failed");
            Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "try again"))
        }
    }
}

fn setting<'a>(app: &'a store_apps::StoreAppRecord, key: &str) -> Option<&'a str> {
    app.settings.get(key).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty())
}

/// `POST /callback/subscription/{packageName}/GG`: a Pub/Sub push of an RTDN. When the app names
/// its push service account, the push must carry that account's OIDC token for the app's audience;
/// otherwise it is stored as an unauthenticated hint.
pub(super) async fn google(
    State(state): State<AppState>,
    Path(package): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = match app(&state, Store::Google, &package).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let authenticated = match setting(&app, "pushServiceAccount") {
        Some(service_account) => {
            let default_audience = format!("{}/callback/subscription/{package}/GG", state.settings.public_url);
            let audience = setting(&app, "pushAudience").unwrap_or(&default_audience);
            let authorization = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            match state.push_keys.verify(authorization, &Expected { audience, service_account }).await {
                Ok(()) => true,
                Err(err) if err.is_ours() => {
                    tracing::error!(error = %err, "cannot check Pub/Sub push tokens");
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again");
                }
                Err(err) => return refuse(StatusCode::UNAUTHORIZED, err.to_string()),
            }
        }
        None => false,
    };
    let push = match rtdn::parse_push(&body) {
        Ok(push) => push,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
    };
    if push.notification.package_name != package {
        return refuse(StatusCode::BAD_REQUEST, "the notification is for another package");
    }
    let (kind, purchase_ref) = match &push.notification.kind {
        NotificationKind::Subscription { notification_type, purchase_token, .. } => {
            (format!("{notification_type:?}"), Some(purchase_token.clone()))
        }
        NotificationKind::OneTimeProduct { notification_type, purchase_token, .. } => {
            (format!("ONE_TIME_{notification_type}"), Some(purchase_token.clone()))
        }
        NotificationKind::VoidedPurchase { purchase_token, .. } => ("VOIDED".into(), Some(purchase_token.clone())),
        NotificationKind::PendingRefundReview { .. } => ("PENDING_REFUND_REVIEW".into(), None),
        NotificationKind::Test => ("TEST".into(), None),
        NotificationKind::Other(kind) => (kind.clone(), None),
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    // Pub/Sub redelivers the same message id with the same data. Anyone can post a message id, so
    // the data is part of the key: a squatted id cannot hide the genuine notification.
    let key = format!("{}:{}", push.message_id, &crypto::sha256_hex(&push.data)[..16]);
    let incoming = Incoming {
        store: Store::Google,
        store_app_id: app.id,
        key,
        kind,
        subtype: None,
        body,
        purchase_ref,
        authenticated,
    };
    take(&state, incoming).await
}

/// `POST /callback/subscription/{bundleId}/AS/v2`: App Store Server Notifications V2, whose
/// signature is checked before anything is stored.
pub(super) async fn apple(State(state): State<AppState>, Path(bundle): Path<String>, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let Some(signed) = store_notifications::signed_payload(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "expected {\"signedPayload\": …}");
    };
    let app = match app(&state, Store::Apple, &bundle).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let incoming = match state.store_client(&app).as_deref() {
        Ok(StoreClient::Apple { client, .. }) => Incoming::apple(app.id, client, &signed, body),
        Ok(_) => return refuse(StatusCode::NOT_FOUND, "not an App Store app"),
        Err(err) => return refuse(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    };
    match incoming {
        Ok(incoming) => take(&state, incoming).await,
        Err(err) => refuse(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// `POST /markets/ONESTORE/notification/{packageName}/receive`: a signed payment notification
/// (PNS) or a subscription notification (SNS).
pub(super) async fn onestore(State(state): State<AppState>, Path(package): Path<String>, body: Bytes) -> Response {
    let app = match app(&state, Store::OneStore, &package).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let (key, kind, purchase_ref, authenticated) = if let Ok(change) = pns::parse_subscription(&body) {
        let kind = format!("{:?}", change.notification_type);
        let key = format!("SNS:{}:{kind}:{}", change.purchase_token, change.event_time_ms);
        (key, kind, Some(change.purchase_token), false)
    } else {
        let license_key = setting(&app, "licenseKey").unwrap_or_default();
        match pns::verify_payment(&body, license_key) {
            Ok(payment) => {
                let kind = if payment.cancelled { "CANCELED" } else { "COMPLETED" };
                (format!("PNS:{}:{kind}", payment.purchase_id), kind.to_string(), Some(payment.purchase_token), true)
            }
            Err(err) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
        }
    };
    let incoming = Incoming {
        store: Store::OneStore,
        store_app_id: app.id,
        key,
        kind,
        subtype: None,
        body: String::from_utf8_lossy(&body).into_owned(),
        purchase_ref,
        authenticated,
    };
    take(&state, incoming).await
}
