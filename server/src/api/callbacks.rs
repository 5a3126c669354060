//! The URLs the stores send notifications to, as NHN Cloud IAP names them. A notification is
//! answered 200 only once it is stored; one that fails its checks is refused and not stored.
use app::model::Store;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{
    notifications::{self, Incoming},
    state::AppState,
    store_apps,
    stores::{client::StoreClient, google::rtdn, onestore::pns},
};

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

/// Stores the notification, processes it if it is new, and answers the store.
async fn take(state: &AppState, incoming: Incoming) -> Response {
    match notifications::receive(state, &incoming).await {
        Ok((id, true)) => {
            // Stored: the store gets its 200 whatever processing does; failures are retried.
            if let Err(err) = notifications::process(state, id).await {
                tracing::warn!(notification = id, error = %err, "processing a notification failed");
            }
            StatusCode::OK.into_response()
        }
        Ok((_, false)) => StatusCode::OK.into_response(),
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

/// `POST /callback/subscription/{packageName}/GG`: a Pub/Sub push of an RTDN.
pub(super) async fn google(State(state): State<AppState>, Path(package): Path<String>, body: Bytes) -> Response {
    let push = match rtdn::parse_push(&body) {
        Ok(push) => push,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
    };
    if push.notification.package_name != package {
        return refuse(StatusCode::BAD_REQUEST, "the notification is for another package");
    }
    let app = match app(&state, Store::Google, &package).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let kind = match &push.notification.kind {
        rtdn::NotificationKind::Subscription { notification_type, .. } => format!("{notification_type:?}"),
        rtdn::NotificationKind::OneTimeProduct { notification_type, .. } => format!("ONE_TIME_{notification_type}"),
        rtdn::NotificationKind::VoidedPurchase { .. } => "VOIDED".into(),
        rtdn::NotificationKind::Test => "TEST".into(),
        rtdn::NotificationKind::Other(kind) => kind.clone(),
    };
    let incoming = Incoming {
        store: Store::Google,
        store_app_id: app.id,
        key: push.message_id,
        kind,
        subtype: None,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    take(&state, incoming).await
}

/// `POST /callback/subscription/{bundleId}/AS/v2`: App Store Server Notifications V2, whose
/// signature is checked before anything is stored.
pub(super) async fn apple(State(state): State<AppState>, Path(bundle): Path<String>, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let Some(signed) = notifications::signed_payload(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "expected {\"signedPayload\": …}");
    };
    let app = match app(&state, Store::Apple, &bundle).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let notification = match state.store_client(&app).as_deref() {
        Ok(StoreClient::Apple { client, .. }) => client.verify_notification(&signed),
        Ok(_) => return refuse(StatusCode::NOT_FOUND, "not an App Store app"),
        Err(err) => return refuse(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    };
    let notification = match notification {
        Ok(notification) => notification,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let incoming = Incoming {
        store: Store::Apple,
        store_app_id: app.id,
        key: notification.uuid,
        kind: notification.notification_type,
        subtype: notification.subtype,
        body,
    };
    take(&state, incoming).await
}

/// `POST /markets/ONESTORE/notification/{packageName}/receive`: a signed payment notification
/// (PNS) or a subscription notification (SNS).
pub(super) async fn onestore(State(state): State<AppState>, Path(package): Path<String>, body: Bytes) -> Response {
    let app = match app(&state, Store::OneStore, &package).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let (key, kind) = if let Ok(change) = pns::parse_subscription(&body) {
        let kind = format!("{:?}", change.notification_type);
        (format!("SNS:{}:{kind}:{}", change.purchase_token, change.event_time_ms), kind)
    } else {
        let license_key = app.settings.get("licenseKey").and_then(|k| k.as_str()).unwrap_or_default();
        match pns::verify_payment(&body, license_key) {
            Ok(payment) => {
                let kind = if payment.cancelled { "CANCELED" } else { "COMPLETED" };
                (format!("PNS:{}:{kind}", payment.purchase_id), kind.to_string())
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
    };
    take(&state, incoming).await
}
