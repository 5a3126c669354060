//! Store notifications in: Google RTDN, App Store Server Notifications V2 and ONE store PNS/SNS.
//!
//! The callback checks what it can (Apple's and ONE store's signatures, the OIDC token of an
//! authenticated Google push), stores the notification raw in the inbox and answers; nothing is
//! processed on the request path. The background worker ([`worker`]) takes each stored row under a
//! lease and works it off: a row whose worker died is taken again when the lease runs out, a
//! failure is retried with a growing delay, and a redelivery of an unfinished row makes it due at
//! once. So a notification answered 200 is processed at least once, and processing it again
//! changes nothing.
//!
//! No body is the truth on its own: a Google notification only says which purchase to ask Google
//! about, and one answer of Google covers every notification about that purchase received before
//! it was asked ([`google`]).
mod google;
pub mod listing;
pub mod worker;

use model::Store;

use crate::{
    backoff::retry_delay,
    db::Db,
    now_ms,
    payments::{
        manual,
        refund::{self, RefundSource},
        refund_requests,
        reported::{self, Reported},
        sync::{self, Applied},
        verify, Payment,
    },
    services::Services,
    store_apps::{self, StoreAppRecord},
    stores::{
        client::{Proof, StoreClient},
        onestore::pns,
        StoreError, StorePurchase,
    },
    webhooks::{self, EventType},
    Error,
};

/// A notification that passed its checks, ready for the inbox.
pub struct Incoming {
    pub store: Store,
    pub store_app_id: i64,
    /// The same on every redelivery of one notification, and unique per store app.
    pub key: String,
    pub kind: String,
    pub subtype: Option<String>,
    pub body: String,
    /// The purchase token or transaction id the notification is about, when it names one.
    pub purchase_ref: Option<String>,
    /// False for a Google push that carried no verified OIDC token: a hint only.
    pub authenticated: bool,
}

impl Incoming {
    /// An App Store notification of the store app `store_app_id` whose `signedPayload` (in
    /// `body`) `client` has verified; the same whether Apple posted it or the notification-history
    /// sweep found it.
    pub fn apple(
        store_app_id: i64,
        client: &crate::stores::apple::AppleClient,
        signed: &str,
        body: String,
    ) -> Result<Incoming, StoreError> {
        let notification = client.verify_notification(signed)?;
        let purchase_ref = notification
            .purchase
            .as_ref()
            .map(|p| p.original_transaction_id.clone().unwrap_or_else(|| p.transaction_id.clone()));
        Ok(Incoming {
            store: Store::Apple,
            store_app_id,
            key: notification.uuid,
            kind: notification.notification_type,
            subtype: notification.subtype,
            body,
            purchase_ref,
            authenticated: true,
        })
    }
}

/// Stores `incoming` unless it is there already, due for processing now; returns its inbox id and
/// whether it is new. A redelivery of a notification that is not finished makes it due now.
pub async fn receive(db: &Db, incoming: &Incoming) -> Result<(i64, bool), Error> {
    let now = now_ms();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO store_notifications (store, store_app_id, notification_key, notification_type, subtype, body, \
         received_at, next_attempt_at, purchase_ref, authenticated) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) \
         ON CONFLICT (store_app_id, notification_key) DO NOTHING RETURNING id",
    )
    .bind(incoming.store.code())
    .bind(incoming.store_app_id)
    .bind(&incoming.key)
    .bind(&incoming.kind)
    .bind(&incoming.subtype)
    .bind(&incoming.body)
    .bind(now)
    .bind(&incoming.purchase_ref)
    .bind(i64::from(incoming.authenticated))
    .fetch_optional(db.writer())
    .await?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM store_notifications WHERE store_app_id = $1 AND notification_key = $2")
            .bind(incoming.store_app_id)
            .bind(&incoming.key)
            .fetch_one(db.pool())
            .await?;
    // The store sends again what it thinks we did not take: if it is still waiting, take it now.
    sqlx::query(
        "UPDATE store_notifications SET next_attempt_at = $1 WHERE id = $2 AND status IN ('RECEIVED', 'FAILED')",
    )
    .bind(now)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok((id, false))
}

/// Marks notification `id` as recovered from the store's notification history by a sweep.
pub async fn recovered(db: &Db, id: i64) -> Result<(), Error> {
    sqlx::query("UPDATE store_notifications SET recovered_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A stored notification as processing reads it.
#[derive(sqlx::FromRow)]
struct Stored {
    id: i64,
    store: String,
    store_app_id: Option<i64>,
    body: String,
    status: String,
    attempts: i64,
    received_at: i64,
    purchase_ref: Option<String>,
    authenticated: i64,
}

/// What processing one notification came to.
enum Handled {
    /// Applied to this payment (or to none: the store's answer changed nothing we record).
    Applied(Option<i64>),
    /// Nothing to do, and why: kept and shown, never silently dropped.
    Ignored(String),
    /// Another notification's look-up, made after this one arrived, answered it.
    Covered(i64),
    /// Not worked on yet: try again at this time (an unauthenticated hint about a purchase that was
    /// just looked up). Not an attempt.
    Deferred(i64),
    /// About a purchase no payment records yet: waits until this time for the app's verify, which
    /// makes it due at once. Not an attempt.
    AwaitingVerify(i64),
}

/// Processes inbox row `id` once and records the outcome: PROCESSED, IGNORED (nothing to do, with
/// why), or FAILED with the time of the next attempt. Returns the store's `Retry-After` when the
/// store asked us to slow down, so the worker holds back the app's other notifications.
pub async fn process(services: &Services, id: i64) -> Result<Option<std::time::Duration>, Error> {
    let row: Stored = sqlx::query_as(
        "SELECT id, store, store_app_id, body, status, attempts, received_at, purchase_ref, authenticated \
         FROM store_notifications WHERE id = $1",
    )
    .bind(id)
    .fetch_one(services.db.pool())
    .await?;
    if matches!(row.status.as_str(), "PROCESSED" | "IGNORED") {
        return Ok(None);
    }
    let started = now_ms();
    let outcome = handle(services, &row).await;
    let now = now_ms();
    let mut throttled = None;
    let (status, error, payment, next, covered_by, looked_up) = match outcome {
        Ok(Handled::Applied(payment)) => ("PROCESSED", None, payment, None, None, Some(started)),
        Ok(Handled::Ignored(why)) => ("IGNORED", Some(why), None, None, None, Some(started)),
        Ok(Handled::Covered(by)) => ("PROCESSED", None, None, None, Some(by), None),
        Ok(Handled::Deferred(at)) => {
            reschedule(&services.db, id, at).await?;
            return Ok(None);
        }
        Ok(Handled::AwaitingVerify(at)) => {
            reschedule(&services.db, id, at).await?;
            // A verify that recorded the purchase after it was looked for, but before this row was
            // rescheduled, could not wake it: look once more.
            if let (Some(reference), Some(app)) = (&row.purchase_ref, row.store_app_id) {
                if sync::is_known(&services.db, app, reference).await? {
                    reschedule(&services.db, id, now_ms()).await?;
                    services.inbox.notify_one();
                }
            }
            return Ok(None);
        }
        Err(err) => {
            let mut next = now + retry_delay(row.attempts).as_millis() as i64;
            if let Error::Store(StoreError::Throttled { retry_after }) = &err {
                let wait = retry_after.unwrap_or(std::time::Duration::from_secs(60));
                next = next.max(now + wait.as_millis() as i64);
                throttled = Some(wait);
            }
            ("FAILED", Some(err.to_string()), None, Some(next), None, None)
        }
    };
    sqlx::query(
        "UPDATE store_notifications SET status = $1, last_error = $2, payment_id = COALESCE($3, payment_id), \
         attempts = attempts + 1, next_attempt_at = $4, processed_at = $5, covered_by = $6, \
         looked_up_at = COALESCE($7, looked_up_at) WHERE id = $8",
    )
    .bind(status)
    .bind(error)
    .bind(payment)
    .bind(next)
    .bind(now)
    .bind(covered_by)
    .bind(looked_up)
    .bind(id)
    .execute(services.db.writer())
    .await?;
    // Only a Google answer is the purchase's state now; Apple's and ONE store's notifications each
    // carry their own signed state and are all applied.
    let shares_look_ups = row.store == Store::Google.code();
    if let (true, Some(started), Some(reference), Some(app)) =
        (shares_look_ups, looked_up, &row.purchase_ref, row.store_app_id)
    {
        cover_waiting(&services.db, app, reference, id, started).await?;
    }
    Ok(throttled)
}

async fn reschedule(db: &Db, id: i64, at: i64) -> Result<(), Error> {
    sqlx::query("UPDATE store_notifications SET next_attempt_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// The notifications about the same purchase that arrived before notification `by` asked the store
/// are answered by that answer: they are finished without another look-up.
async fn cover_waiting(db: &Db, store_app_id: i64, reference: &str, by: i64, asked_at: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE store_notifications SET status = 'PROCESSED', covered_by = $1, next_attempt_at = NULL, \
         processed_at = $2 WHERE store_app_id = $3 AND purchase_ref = $4 AND status IN ('RECEIVED', 'FAILED') \
         AND received_at <= $5 AND id <> $1",
    )
    .bind(by)
    .bind(now_ms())
    .bind(store_app_id)
    .bind(reference)
    .bind(asked_at)
    .execute(db.writer())
    .await?;
    Ok(())
}

async fn handle(services: &Services, row: &Stored) -> Result<Handled, Error> {
    let app = match row.store_app_id {
        Some(app_id) => store_apps::by_id(&services.db, &services.cipher, app_id).await?,
        None => None,
    };
    let (Some(store), Some(app)) = (Store::parse(&row.store), app) else {
        return Ok(Handled::Ignored("no store app for this notification".into()));
    };
    // A notification often comes before the app's own verify of the same purchase: give the
    // verify its time, so the purchase is recorded as its buyer's and not as unclaimed.
    if let Some(reference) = &row.purchase_ref {
        let wait_until = row.received_at + services.settings.notifications.unknown_purchase_wait_secs as i64 * 1000;
        if wait_until > now_ms()
            && !sync::is_known(&services.db, app.id, reference).await?
            && !verify::keeps_token(&services.db, app.id, reference).await?
        {
            return Ok(Handled::AwaitingVerify(wait_until));
        }
    }
    let client = services.store_client(&app)?;
    match store {
        Store::Google => google::handle(services, &app, &client, row).await,
        Store::Apple => apple(services, &app, &client, row).await,
        Store::OneStore => onestore(services, &app, &client, &row.body).await,
    }
}

/// Applies the store's answer about `purchase`; a purchase no payment records is recorded as an
/// unclaimed payment for its buyer to claim.
async fn apply(services: &Services, app: &StoreAppRecord, purchase: &StorePurchase) -> Result<Handled, Error> {
    let mut applied = sync::apply(services, app.id, purchase, RefundSource::Notification).await?;
    if applied == Applied::Unknown {
        match reported::record(services, app, purchase).await? {
            Reported::Recorded(id) => return Ok(Handled::Applied(Some(id))),
            Reported::Skipped(why) => return Ok(Handled::Ignored(why)),
            Reported::RecordedMeanwhile => {
                applied = sync::apply(services, app.id, purchase, RefundSource::Notification).await?;
            }
        }
    }
    Ok(match applied {
        Applied::Updated(id) | Applied::Renewed(id) | Applied::Refunded(id) => Handled::Applied(Some(id)),
        Applied::Unknown => Handled::Ignored("no payment is recorded for this purchase".into()),
    })
}

/// ASSN v2 is signed by Apple: its transaction and renewal info are proof, applied as they are,
/// with what the type adds: a reversed refund, a revoked Family Sharing entitlement, a withdrawn
/// parental consent.
async fn apple(
    services: &Services,
    app: &StoreAppRecord,
    client: &StoreClient,
    row: &Stored,
) -> Result<Handled, Error> {
    let StoreClient::Apple { client, .. } = client else { return Ok(Handled::Ignored("not an App Store app".into())) };
    let signed = signed_payload(&row.body).ok_or_else(|| Error::Other("no signedPayload".into()))?;
    let notification = client.verify_notification(&signed)?;
    let kind = notification.notification_type.as_str();
    match kind {
        "TEST" => return Ok(Handled::Ignored("App Store test notification: the callback URL works".into())),
        "RESCIND_CONSENT" => return consent_rescinded(services, app, &notification).await,
        _ => {}
    }
    let Some(purchase) = notification.purchase else {
        return Ok(Handled::Ignored(format!("{kind} carries no transaction")));
    };
    let recorded = sync::by_reference(&services.db, app.id, &purchase.transaction_id).await?;
    match (kind, recorded) {
        ("REFUND_REVERSED", Some(payment)) => {
            refund::reverse(services, &payment, "Apple reversed the refund").await?;
        }
        ("REVOKE", Some(payment)) => {
            let reason = "Family Sharing: the purchaser stopped sharing it or was refunded";
            refund::by_store(services, &payment, RefundSource::Notification, "REVOKE", Some(reason)).await?;
            return Ok(Handled::Applied(Some(payment.id)));
        }
        _ => {}
    }
    let applied = apply(services, app, &purchase).await?;
    if kind == "CONSUMPTION_REQUEST" {
        if let Some(payment) = sync::by_reference(&services.db, app.id, &purchase.transaction_id).await? {
            let reason = notification.raw["data"]["consumptionRequestReason"].as_str().map(String::from);
            let asked = refund_requests::Asked {
                payment: &payment,
                notification_id: row.id,
                reason,
                pending_token: None,
                asked_at: notification.signed_date_ms.unwrap_or(row.received_at).min(row.received_at),
            };
            refund_requests::received(services, asked).await?;
        }
    }
    Ok(applied)
}

/// A parent withdrew consent (Declared Age Range): Apple stops the app from launching, and the
/// app's server is told so it can end the minor's sessions and delete what the consent covered.
async fn consent_rescinded(
    services: &Services,
    app: &StoreAppRecord,
    notification: &crate::stores::apple::Notification,
) -> Result<Handled, Error> {
    // The notification names only the customer's app transaction; our payments name their users.
    let users = match &notification.app_transaction_id {
        Some(id) => crate::payments::users_of_app_transaction(&services.db, app.id, id).await?,
        None => Vec::new(),
    };
    let data = serde_json::json!({
        "storeCode": Store::Apple.code(),
        "appTransactionId": notification.app_transaction_id,
        "signedDate": notification.signed_date_ms,
        "userIds": users,
    });
    let mut tx = services.db.begin_write().await?;
    let user = users.first().map(String::as_str);
    webhooks::emit(&mut tx, app.project_id, EventType::ConsentRescinded, user, None, data).await?;
    tx.commit().await?;
    Ok(Handled::Applied(None))
}

pub fn signed_payload(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("signedPayload")?.as_str().map(String::from)
}

/// A PNS is signed with the app's license key: a cancellation refunds the payment. A purchase no
/// payment records is recorded from ONE store's own answer. An SNS (unsigned) is kept and shown.
async fn onestore(
    services: &Services,
    app: &StoreAppRecord,
    client: &StoreClient,
    body: &str,
) -> Result<Handled, Error> {
    if let Ok(change) = pns::parse_subscription(body.as_bytes()) {
        return Ok(Handled::Ignored(format!("subscription notification {:?} recorded", change.notification_type)));
    }
    let license_key = app.settings.get("licenseKey").and_then(|k| k.as_str()).unwrap_or_default();
    let payment = pns::verify_payment(body.as_bytes(), license_key).map_err(|e| Error::Other(e.to_string()))?;
    match sync::by_reference(&services.db, app.id, &payment.purchase_token).await? {
        Some(recorded) if payment.cancelled => {
            refund::by_store(services, &recorded, RefundSource::Notification, "REFUND", Some("cancelled at ONE store"))
                .await?;
            Ok(Handled::Applied(Some(recorded.id)))
        }
        Some(recorded) => {
            paid_amount(&services.db, recorded.id, &payment).await?;
            Ok(Handled::Applied(Some(recorded.id)))
        }
        None => {
            let proof = Proof::OneStore {
                product_id: payment.product_id.clone(),
                purchase_token: payment.purchase_token.clone(),
            };
            match client.verify(&proof).await {
                Ok(purchase) => {
                    let handled = apply(services, app, &purchase).await?;
                    if let Handled::Applied(Some(id)) = handled {
                        paid_amount(&services.db, id, &payment).await?;
                    }
                    Ok(handled)
                }
                Err(StoreError::Rejected { code, message }) => {
                    Ok(Handled::Ignored(crate::stores::scrub(&format!("{code}: {message}"))))
                }
                Err(err) => Err(err.into()),
            }
        }
    }
}

/// ONE store's purchase details carry no amount; its signed PNS does (`price`,
/// `priceCurrencyCode`): written on the payment in place of none or of its item's list price.
async fn paid_amount(db: &Db, payment_id: i64, pns: &pns::PaymentNotification) -> Result<(), Error> {
    let (Some(price), Some(currency)) = (pns.price.as_deref(), pns.currency.as_deref()) else { return Ok(()) };
    let (Ok(micros), Ok(currency)) = (manual::price_micros(price), manual::currency(currency)) else {
        tracing::warn!(payment_id, "a ONE store PNS carried an amount that does not read as one");
        return Ok(());
    };
    sqlx::query(
        "UPDATE payments SET price_micros = $1, currency = $2, price_is_list = 0, updated_at = $3 \
         WHERE id = $4 AND (price_micros IS NULL OR price_is_list = 1)",
    )
    .bind(micros)
    .bind(currency)
    .bind(now_ms())
    .bind(payment_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// A verify has just recorded `payment`: notifications about its purchase that were waiting for
/// that verify are due now. (Rows under a worker's lease are left to their worker.)
pub async fn verified(services: &Services, payment: &Payment) -> Result<(), Error> {
    let now = now_ms();
    let leased_until = now + services.settings.notifications.lease_secs as i64 * 1000;
    let woken = sqlx::query(
        "UPDATE store_notifications SET next_attempt_at = $1 WHERE store_app_id = $2 AND status = 'RECEIVED' \
         AND purchase_ref IN ($3, $4, $5) AND next_attempt_at > $6",
    )
    .bind(now)
    .bind(payment.store_app_id)
    .bind(&payment.purchase_token)
    .bind(&payment.original_payment_id)
    .bind(&payment.payment_id)
    .bind(leased_until)
    .execute(services.db.writer())
    .await?
    .rows_affected();
    if woken > 0 {
        services.inbox.notify_one();
    }
    Ok(())
}

/// Empties the raw bodies of notifications finished more than `keep_days` days ago; returns how
/// many. What was done with them (kind, status, payment, error) stays.
pub async fn prune_bodies(db: &Db, keep_days: i64) -> Result<u64, Error> {
    if keep_days <= 0 {
        return Ok(0);
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let pruned = sqlx::query(
        "UPDATE store_notifications SET body = '', body_pruned_at = $1 WHERE body_pruned_at IS NULL \
         AND status IN ('PROCESSED', 'IGNORED') AND processed_at < $2",
    )
    .bind(now)
    .bind(now - keep_days * 86_400_000)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(pruned.rows_affected())
}
