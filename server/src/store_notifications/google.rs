//! A Google RTDN says only which purchase changed, and anyone can post one to a push URL that is
//! not authenticated: every one is a hint to ask Google, never the truth. A void is refunded only
//! when Google's voided-purchases list has it; any other kind is applied from the purchase as
//! Google answers for it now.
//!
//! Look-ups are shared per purchase: an answer covers every notification about the purchase that
//! arrived before it was asked, and an unauthenticated hint about a purchase asked about less than
//! `notifications.hint_interval_secs` ago waits for the next look-up. So a flood of forged pushes
//! about one purchase costs Google a look-up per interval, not one per push.
use super::{Handled, Stored};
use crate::{
    db::Db,
    now_ms,
    payments::{
        self,
        refund::{self, RefundSource},
        refund_requests,
    },
    services::Services,
    store_apps::StoreAppRecord,
    stores::{
        client::{Proof, StoreClient},
        google::{
            client::VoidedQuery,
            rtdn::{self, NotificationKind, SubscriptionNotification},
        },
        StoreError,
    },
    Error,
};

/// Google keeps voided purchases listable for 30 days.
const VOIDED_WINDOW_MS: i64 = 30 * 86_400_000;
/// Pages of the voided list read to confirm one void; Google lists 1,000 per page.
const VOIDED_PAGES: usize = 10;

pub(super) async fn handle(
    services: &Services,
    app: &StoreAppRecord,
    client: &StoreClient,
    row: &Stored,
) -> Result<Handled, Error> {
    let push = rtdn::parse_push(row.body.as_bytes()).map_err(|e| Error::Other(e.to_string()))?;
    if let Some(reference) = &row.purchase_ref {
        if let Some(waiting) = wait_for_look_up(services, row, reference).await? {
            return Ok(waiting);
        }
    }
    let (product_id, token, subscription) = match push.notification.kind {
        NotificationKind::Subscription { notification_type, purchase_token, subscription_id } => {
            if notification_type == SubscriptionNotification::PendingPurchaseCanceled {
                return Ok(Handled::Ignored("a pending purchase was abandoned".into()));
            }
            (subscription_id.unwrap_or_default(), purchase_token, true)
        }
        NotificationKind::OneTimeProduct { purchase_token, sku, .. } => (sku, purchase_token, false),
        NotificationKind::VoidedPurchase { purchase_token, .. } => {
            return confirm_void(services, app, client, &purchase_token, push.notification.event_time_ms).await
        }
        NotificationKind::PendingRefundReview { pending_refund_token, order_id, refund_reason } => {
            let review = Review { pending_refund_token, order_id, refund_reason };
            return chargeback_review(services, app, row, review, push.notification.event_time_ms).await;
        }
        NotificationKind::Test => return Ok(Handled::Ignored("test notification".into())),
        NotificationKind::Other(kind) => return Ok(Handled::Ignored(format!("{kind}: kept, not acted on"))),
    };
    let product_id =
        if product_id.is_empty() { product_of_token(&services.db, app.id, &token).await? } else { product_id };
    let proof = Proof::Google { product_id, purchase_token: token, subscription };
    // A payment waits for this purchase (a deferred payment that cleared, a pre-order released):
    // it is verified again now, completing the reservation it was kept on.
    if let Some(waiting) = payments::verify::waiting_for(&services.db, app.id, &proof).await? {
        payments::retry::reverify(services, waiting.id).await?;
        return Ok(Handled::Applied(Some(waiting.id)));
    }
    let purchase = match client.verify(&proof).await {
        Ok(purchase) => purchase,
        Err(StoreError::Rejected { code, message }) => {
            return Ok(Handled::Ignored(crate::stores::scrub(&format!("{code}: {message}"))))
        }
        Err(err) => return Err(err.into()),
    };
    super::apply(services, app, &purchase).await
}

/// Whether this notification needs no look-up of its own: one made after it arrived answered it,
/// or, for a hint nobody authenticated, one made a moment ago will be made again soon.
async fn wait_for_look_up(services: &Services, row: &Stored, reference: &str) -> Result<Option<Handled>, Error> {
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, looked_up_at FROM store_notifications WHERE store_app_id = $1 AND purchase_ref = $2 \
         AND looked_up_at IS NOT NULL AND id <> $3 ORDER BY looked_up_at DESC LIMIT 1",
    )
    .bind(row.store_app_id)
    .bind(reference)
    .bind(row.id)
    .fetch_optional(services.db.pool())
    .await?;
    let Some((by, asked_at)) = last else { return Ok(None) };
    if asked_at >= row.received_at {
        return Ok(Some(Handled::Covered(by)));
    }
    let interval = services.settings.notifications.hint_interval_secs as i64 * 1000;
    if row.authenticated == 0 && asked_at + interval > now_ms() {
        return Ok(Some(Handled::Deferred(asked_at + interval)));
    }
    Ok(None)
}

/// Refunds what Google's voided-purchases list says was voided of the purchase `token`; the
/// notification's own order id and times are not believed.
async fn confirm_void(
    services: &Services,
    app: &StoreAppRecord,
    client: &StoreClient,
    token: &str,
    event_time_ms: i64,
) -> Result<Handled, Error> {
    let StoreClient::Google(google) = client else { return Ok(Handled::Ignored("not a Google Play app".into())) };
    let now = now_ms();
    // The event time only narrows the search; a made-up one cannot widen it past Google's window.
    let start = (event_time_ms - 86_400_000).clamp(now - VOIDED_WINDOW_MS, now);
    let mut query = VoidedQuery {
        start_time_ms: Some(start),
        end_time_ms: None,
        include_subscriptions: true,
        max_results: Some(1000),
        page_token: None,
    };
    let mut confirmed = Vec::new();
    for _ in 0..VOIDED_PAGES {
        let page = google.voided(&query).await?;
        confirmed.extend(page.purchases.into_iter().filter(|v| v.purchase_token == token));
        match page.next_page_token {
            Some(next) => query.page_token = Some(next),
            None => break,
        }
    }
    if confirmed.is_empty() {
        return Ok(Handled::Ignored("Google does not list this purchase as voided: nothing changed".into()));
    }
    let mut refunded = None;
    for voided in &confirmed {
        let reference = voided.order_id.as_deref().unwrap_or(token);
        let Some(payment) = crate::payments::sync::by_reference(&services.db, app.id, reference).await? else {
            continue;
        };
        let reason = format!("voided by Google ({}, {})", voided.source, voided.reason);
        refund::by_store(services, &payment, RefundSource::Notification, "VOID", Some(&reason)).await?;
        refunded = Some(payment.id);
    }
    Ok(match refunded {
        Some(id) => Handled::Applied(Some(id)),
        None => Handled::Ignored("Google confirms the void; no payment is recorded for it".into()),
    })
}

struct Review {
    pending_refund_token: String,
    order_id: String,
    refund_reason: Option<i64>,
}

/// A chargeback Google asks us to review: answered from the ledger of the order's payment. Only an
/// authenticated push is answered — anyone could post one naming any order, and Google takes only
/// the first answer, so a forged one must not spend it.
async fn chargeback_review(
    services: &Services,
    app: &StoreAppRecord,
    row: &Stored,
    review: Review,
    event_time_ms: i64,
) -> Result<Handled, Error> {
    if row.authenticated == 0 {
        return Ok(Handled::Ignored("a chargeback review from a push nobody authenticated is not answered".into()));
    }
    let Some(payment) = crate::payments::sync::by_reference(&services.db, app.id, &review.order_id).await? else {
        return Ok(Handled::Ignored("no payment is recorded for the order under review".into()));
    };
    let asked = refund_requests::Asked {
        payment: &payment,
        notification_id: row.id,
        reason: review.refund_reason.map(|code| format!("Google refund reason {code}")),
        pending_token: Some(review.pending_refund_token),
        asked_at: event_time_ms.min(row.received_at),
    };
    refund_requests::received(services, asked).await?;
    Ok(Handled::Applied(Some(payment.id)))
}

/// Newer RTDNs leave out the subscription id: the product is the one recorded for the token.
async fn product_of_token(db: &Db, store_app_id: i64, token: &str) -> Result<String, Error> {
    let product: Option<String> = sqlx::query_scalar(
        "SELECT store_product_id FROM payments WHERE store_app_id = $1 AND purchase_token = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(store_app_id)
    .bind(token)
    .fetch_optional(db.pool())
    .await?;
    Ok(product.unwrap_or_default())
}
