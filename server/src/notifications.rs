//! Store notifications in: Google RTDN, App Store Server Notifications V2 and ONE store PNS/SNS.
//!
//! Each is checked, stored raw in the inbox before it is answered (so an acknowledged notification
//! is never lost), then processed from there: a repeated notification maps to the same inbox row
//! and changes nothing, and one whose processing failed is retried by the background job.
use std::time::Duration;

use app::model::Store;
use sqlx::Row;

use crate::{
    now_ms,
    payments::sync::{self, Applied, RefundSource},
    payments::verify::retry_delay,
    state::AppState,
    store_apps::{self, StoreAppRecord},
    stores::{
        client::{Proof, StoreClient},
        google::rtdn::{self, NotificationKind, SubscriptionNotification},
        onestore::pns,
        StoreError,
    },
    Error,
};

/// A notification that passed its checks, ready for the inbox.
pub struct Incoming {
    pub store: Store,
    pub store_app_id: i64,
    /// The store's id of the notification: the same on every redelivery.
    pub key: String,
    pub kind: String,
    pub subtype: Option<String>,
    pub body: String,
}

/// Stores `incoming` unless it is there already; returns its inbox id and whether it is new.
pub async fn receive(state: &AppState, incoming: &Incoming) -> Result<(i64, bool), Error> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO store_notifications (store, store_app_id, notification_key, notification_type, subtype, body, \
         received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (store, notification_key) DO NOTHING RETURNING id",
    )
    .bind(incoming.store.code())
    .bind(incoming.store_app_id)
    .bind(&incoming.key)
    .bind(&incoming.kind)
    .bind(&incoming.subtype)
    .bind(&incoming.body)
    .bind(now_ms())
    .fetch_optional(state.db.pool())
    .await?;
    match inserted {
        Some(id) => Ok((id, true)),
        None => {
            let id =
                sqlx::query_scalar("SELECT id FROM store_notifications WHERE store = $1 AND notification_key = $2")
                    .bind(incoming.store.code())
                    .bind(&incoming.key)
                    .fetch_one(state.db.pool())
                    .await?;
            Ok((id, false))
        }
    }
}

/// Processes inbox row `id` and records the outcome: PROCESSED, IGNORED (nothing to do), or
/// FAILED with a time for the next attempt.
pub async fn process(state: &AppState, id: i64) -> Result<(), Error> {
    let row = sqlx::query("SELECT store, store_app_id, body, attempts FROM store_notifications WHERE id = $1")
        .bind(id)
        .fetch_one(state.db.pool())
        .await?;
    let store: String = row.try_get("store")?;
    let app_id: Option<i64> = row.try_get("store_app_id")?;
    let body: String = row.try_get("body")?;
    let attempts: i64 = row.try_get("attempts")?;
    let app = match app_id {
        Some(app_id) => store_apps::by_id(&state.db, &state.cipher, app_id).await?,
        None => None,
    };
    let outcome = match (Store::parse(&store), app) {
        (Some(store), Some(app)) => handle(state, store, &app, &body).await,
        _ => Ok(Handled::Ignored("no store app for this notification".into())),
    };
    let now = now_ms();
    let (status, error, payment, next) = match outcome {
        Ok(Handled::Applied(payment)) => ("PROCESSED", None, payment, None),
        Ok(Handled::Ignored(why)) => ("IGNORED", Some(why), None, None),
        Err(err) => ("FAILED", Some(err.to_string()), None, Some(now + retry_delay(attempts).as_millis() as i64)),
    };
    sqlx::query(
        "UPDATE store_notifications SET status = $1, last_error = $2, payment_id = COALESCE($3, payment_id), \
         attempts = attempts + 1, next_attempt_at = $4, processed_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(error)
    .bind(payment)
    .bind(next)
    .bind(now)
    .bind(id)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

enum Handled {
    Applied(Option<i64>),
    Ignored(String),
}

impl From<Applied> for Handled {
    fn from(applied: Applied) -> Handled {
        match applied {
            Applied::Updated(id) | Applied::Renewed(id) | Applied::Refunded(id) => Handled::Applied(Some(id)),
            Applied::Unknown => Handled::Ignored("no payment is recorded for this purchase yet".into()),
        }
    }
}

/// Store failures while processing are retried; our own errors too.
fn store_error(err: StoreError) -> Error {
    Error::Other(format!("asking the store: {err}"))
}

async fn handle(state: &AppState, store: Store, app: &StoreAppRecord, body: &str) -> Result<Handled, Error> {
    let client = state.store_client(app).map_err(store_error)?;
    match store {
        Store::Google => google(state, app, &client, body).await,
        Store::Apple => apple(state, app, &client, body).await,
        Store::OneStore => onestore(state, app, body).await,
    }
}

/// An RTDN carries no state: the purchase is read from Google, then applied.
async fn google(state: &AppState, app: &StoreAppRecord, client: &StoreClient, body: &str) -> Result<Handled, Error> {
    let push = rtdn::parse_push(body.as_bytes()).map_err(|e| Error::Other(e.to_string()))?;
    let (product_id, token, subscription) = match push.notification.kind {
        NotificationKind::Subscription { notification_type, purchase_token, subscription_id } => {
            if notification_type == SubscriptionNotification::PendingPurchaseCanceled {
                return Ok(Handled::Ignored("a pending purchase was abandoned".into()));
            }
            (subscription_id.unwrap_or_default(), purchase_token, true)
        }
        NotificationKind::OneTimeProduct { purchase_token, sku, .. } => (sku, purchase_token, false),
        NotificationKind::VoidedPurchase { purchase_token, order_id, .. } => {
            let reference = if order_id.is_empty() { purchase_token } else { order_id };
            let Some(payment) = sync::by_reference(&state.db, app.id, &reference).await? else {
                return Ok(Handled::Ignored("no payment is recorded for the voided purchase".into()));
            };
            sync::refund(state, &payment, RefundSource::Notification, "VOID", Some("voided by Google")).await?;
            return Ok(Handled::Applied(Some(payment.id)));
        }
        NotificationKind::Test => return Ok(Handled::Ignored("test notification".into())),
        NotificationKind::Other(kind) => return Ok(Handled::Ignored(format!("unhandled kind {kind}"))),
    };
    let product_id = if product_id.is_empty() { product_of_token(state, app.id, &token).await? } else { product_id };
    let proof = Proof::Google { product_id, purchase_token: token, subscription };
    let purchase = match client.verify(&proof).await {
        Ok(purchase) => purchase,
        Err(StoreError::Rejected { code, message }) => return Ok(Handled::Ignored(format!("{code}: {message}"))),
        Err(err) => return Err(store_error(err)),
    };
    Ok(sync::apply(state, app.id, &purchase, RefundSource::Notification).await?.into())
}

/// Newer RTDNs leave out the subscription id: the product is the one recorded for the token.
async fn product_of_token(state: &AppState, store_app_id: i64, token: &str) -> Result<String, Error> {
    let product: Option<String> = sqlx::query_scalar(
        "SELECT store_product_id FROM payments WHERE store_app_id = $1 AND purchase_token = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(store_app_id)
    .bind(token)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(product.unwrap_or_default())
}

/// ASSN v2 carries the signed transaction and renewal info: applied as they are.
async fn apple(state: &AppState, app: &StoreAppRecord, client: &StoreClient, body: &str) -> Result<Handled, Error> {
    let StoreClient::Apple { client, .. } = client else { return Ok(Handled::Ignored("not an App Store app".into())) };
    let signed = signed_payload(body).ok_or_else(|| Error::Other("no signedPayload".into()))?;
    let notification = client.verify_notification(&signed).map_err(store_error)?;
    let Some(purchase) = notification.purchase else {
        return Ok(Handled::Ignored(format!("{} carries no transaction", notification.notification_type)));
    };
    Ok(sync::apply(state, app.id, &purchase, RefundSource::Notification).await?.into())
}

pub fn signed_payload(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("signedPayload")?.as_str().map(String::from)
}

/// A PNS cancellation refunds the payment; a completed payment is the app's to verify. SNS asks
/// the store for the subscription, which ONE store's V7 API (as we know it) cannot answer.
async fn onestore(state: &AppState, app: &StoreAppRecord, body: &str) -> Result<Handled, Error> {
    if let Ok(change) = pns::parse_subscription(body.as_bytes()) {
        return Ok(Handled::Ignored(format!("subscription notification {:?} recorded", change.notification_type)));
    }
    let license_key = app.settings.get("licenseKey").and_then(|k| k.as_str()).unwrap_or_default();
    let payment = pns::verify_payment(body.as_bytes(), license_key).map_err(|e| Error::Other(e.to_string()))?;
    if !payment.cancelled {
        return Ok(Handled::Ignored("payment completed: verified when the app reports it".into()));
    }
    let Some(recorded) = sync::by_reference(&state.db, app.id, &payment.purchase_token).await? else {
        return Ok(Handled::Ignored("no payment is recorded for the cancelled purchase".into()));
    };
    sync::refund(state, &recorded, RefundSource::Notification, "REFUND", Some("cancelled at ONE store")).await?;
    Ok(Handled::Applied(Some(recorded.id)))
}

/// Retries the notifications whose processing failed, when their time has come.
pub async fn retry_due(state: &AppState) -> Result<usize, Error> {
    let ids = state
        .db
        .claim_due("store_notifications", "next_attempt_at", "status = 'FAILED'", Duration::from_secs(120), 20)
        .await?;
    for id in &ids {
        process(state, *id).await?;
    }
    Ok(ids.len())
}
