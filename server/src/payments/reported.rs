//! Purchases the store tells us about before any verify did: the app's verify was lost, the
//! purchase was made before the app used this server, or it started in the store (a promoted
//! purchase, an offer code). The store's own answer becomes a payment that belongs to nobody yet —
//! unclaimed: an empty user id and no access token — which support sees and the app's server hears
//! of (`payment.unclaimed`). Its buyer claims it with a normal verify, which hands out its access
//! token then. No AppKey call lists it before that: nothing on the public surface reveals it.
use serde_json::json;

use super::{
    append_histories, append_history, binding, by_id, new_access_token,
    refund::{self, RefundSource},
    verify::{self, Fields, Outcome, Refusal, Request},
    HistoryEntry, Payment, Source, Status,
};
use crate::{
    crypto::Cipher,
    db::Db,
    now_ms,
    services::Services,
    store_apps::StoreAppRecord,
    stores::{PurchaseState, StorePurchase, SubscriptionState},
    webhooks::EventType,
    Error,
};

/// What became of a purchase the store reported.
#[derive(Debug, PartialEq, Eq)]
pub enum Reported {
    /// Recorded as this unclaimed payment.
    Recorded(i64),
    /// Not a purchase to record, and why (kept with the notification).
    Skipped(String),
    /// A verify recorded it meanwhile: the store's answer applies to that payment.
    RecordedMeanwhile,
}

/// Records `purchase`, which no payment of `app` records, as an unclaimed payment; refunded at
/// once when the store says it was refunded, so a later verify of the old proof is refused.
pub async fn record(services: &Services, app: &StoreAppRecord, purchase: &StorePurchase) -> Result<Reported, Error> {
    let Some(product) = super::product(&services.db, app.id, &purchase.product_id).await? else {
        return Ok(Reported::Skipped(format!(
            "{} is not an item of this app: no payment recorded",
            purchase.product_id
        )));
    };
    if !app.environments.allows(purchase.sandbox) {
        return Ok(Reported::Skipped("a sandbox purchase, and this app takes production purchases only".into()));
    }
    let refunded = match purchase.state {
        PurchaseState::Purchased => purchase.subscription_state == Some(SubscriptionState::Revoked),
        PurchaseState::Cancelled | PurchaseState::Refunded => true,
        PurchaseState::Pending => {
            return Ok(Reported::Skipped("the store still waits for the payment: recorded once it is paid".into()))
        }
    };
    // No reservation of ours started it: to the app it is a purchase that started in the store.
    let purchase = &StorePurchase { store_initiated: true, ..purchase.clone() };
    let now = now_ms();
    let raw = purchase.raw.to_string();
    let mut tx = services.db.begin_write().await?;
    let fields = Fields {
        product: &product,
        purchase,
        linked: verify::linked_payment_id(&mut tx, app.id, purchase).await?,
        token: None,
        raw: &raw,
        ack_state: verify::ack_state(purchase),
        // Acknowledged when claimed: Google refunds what nobody takes within three days.
        acknowledge_at: None,
        claim_state: Some("UNCLAIMED"),
        now,
    };
    let id = match verify::insert_verified(&mut tx, app.project_id, app, "", &fields).await {
        Ok(id) => id,
        // A verify recorded the transaction meanwhile (or the paymentSeq draw collided: the
        // notification is retried and draws again).
        Err(err) if err.is_unique_violation() => {
            tx.rollback().await?;
            return Ok(Reported::RecordedMeanwhile);
        }
        Err(err) => return Err(err),
    };
    let entry = HistoryEntry {
        payment_id: id,
        from: None,
        to: Status::Success,
        event: "STORE_REPORTED",
        source: Source::Store,
        actor: None,
        reason: Some("reported by the store before any verify; no user has claimed it"),
        detail: Some(format!("store transaction {}", purchase.transaction_id)),
    };
    append_history(&mut tx, entry).await?;
    let extra = json!({"storeInitiated": purchase.store_initiated, "unclaimed": true});
    super::events::emit(&mut tx, EventType::PaymentUnclaimed, id, extra).await?;
    tx.commit().await?;
    if refunded {
        // A crash before this line leaves the payment SUCCESS: the notification is retried, finds
        // the payment and applies the refund then.
        let payment = by_id(&services.db, id).await?;
        let kind = if purchase.subscription_state == Some(SubscriptionState::Revoked) { "REVOKE" } else { "REFUND" };
        refund::by_store(services, &payment, RefundSource::Notification, kind, Some("refunded before any verify"))
            .await?;
    }
    Ok(Reported::Recorded(id))
}

/// Gives the unclaimed payment `existing` to the verifying user, when the verify holds what only
/// the buyer's device holds and the account value the store keeps does not name someone else.
/// The subscription's earlier unclaimed periods go with it. `None` when a concurrent verify claimed
/// it first.
pub(super) async fn claim(
    db: &Db,
    cipher: &Cipher,
    existing: &Payment,
    request: &Request<'_>,
    reserved: Option<&Payment>,
) -> Result<Option<Outcome>, Error> {
    let refusal = if existing.status != Status::Success {
        Some(Refusal::Cancelled)
    } else if !request.proves_possession() {
        let why = "a purchase the store reported is claimed with its purchase token, signed transaction or receipt";
        Some(Refusal::ProofNotAccepted(why.into()))
    } else {
        match binding::check(existing.store, request.user_id, existing.store_account_id.as_deref()) {
            binding::Binding::Matches => None,
            binding::Binding::OtherUser => Some(Refusal::OtherUsersPurchase),
            binding::Binding::Missing if request.policy.user_binding == binding::UserBinding::Required => {
                Some(Refusal::AccountValueMissing)
            }
            binding::Binding::Missing => None,
        }
    };
    if let Some(refusal) = refusal {
        return verify::refuse(db, reserved, refusal, request.source).await.map(Some);
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let periods: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM payments WHERE store_app_id = $1 AND claim_state = 'UNCLAIMED' AND status = 'SUCCESS' \
         AND (id = $2 OR original_payment_id = $3) ORDER BY id",
    )
    .bind(existing.store_app_id)
    .bind(existing.id)
    .bind(&existing.original_payment_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut access_token = None;
    let mut entries = Vec::new();
    for id in periods {
        let token = new_access_token();
        let sealed = super::sealed_access_token(cipher, &token);
        let claimed = sqlx::query(
            "UPDATE payments SET user_id = $1, claim_state = 'CLAIMED', access_token_hash = $2, access_token_enc = $3, \
             next_ack_at = CASE WHEN ack_state = 'PENDING' THEN $4 ELSE next_ack_at END, updated_at = $4 \
             WHERE id = $5 AND claim_state = 'UNCLAIMED'",
        )
        .bind(request.user_id)
        .bind(&sealed.0)
        .bind(&sealed.1)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return Ok(None);
        }
        if id == existing.id {
            access_token = Some(token);
        }
        entries.push(HistoryEntry {
            payment_id: id,
            from: Some(Status::Success),
            to: Status::Success,
            event: "CLAIM",
            source: request.source,
            actor: None,
            reason: Some("claimed by its buyer's verify"),
            detail: Some(format!("user {}", request.user_id)),
        });
    }
    let Some(access_token) = access_token else {
        tx.rollback().await?;
        return Ok(None);
    };
    append_histories(&mut tx, entries).await?;
    let extra = json!({"storeInitiated": existing.store_initiated, "claimed": true});
    super::events::emit(&mut tx, EventType::PaymentSucceeded, existing.id, extra).await?;
    tx.commit().await?;
    if let Some(waiting) = reserved {
        verify::close_duplicate(db, waiting, existing, request.source).await?;
    }
    let payment = by_id(db, existing.id).await?;
    Ok(Some(Outcome::Verified { payment, access_token, new: true }))
}
