//! Purchases the store tells us about before any verify did: the app's verify was lost, the
//! purchase was made before the app used this server, or it started in the store (a promoted
//! purchase, an offer code). The store's own answer becomes a payment that belongs to nobody yet —
//! unclaimed: an empty user id and no access token — which support sees and the app's server hears
//! of (`payment.unclaimed`). Its buyer claims it with a normal verify (`verify::claim`), which hands
//! out its access token then. No AppKey call lists it before that: nothing on the public surface reveals it.
use serde_json::json;

use super::{
    append_history, by_id,
    refund::{self, RefundSource},
    verify::{self, Fields},
    HistoryEntry, Source, Status,
};
use crate::{
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
    // A subscription that continues one of a known user (a Play Store re-subscription after it
    // expired, a plan change) is theirs, by the store's own link; anything else waits for a claim.
    let continued = continued_user(services, app, purchase).await?;
    let access_token = continued.as_ref().map(|_| super::new_access_token());
    let sealed = access_token.as_ref().map(|t| super::sealed_access_token(&services.cipher, t));
    let now = now_ms();
    let raw = purchase.raw.to_string();
    let mut recorded = None;
    for _ in 0..5 {
        let mut tx = services.db.begin_write().await?;
        let fields = Fields {
            product: &product,
            purchase,
            linked: verify::linked_payment_id(&mut tx, app.id, purchase).await?,
            token: sealed.clone(),
            raw: &raw,
            ack_state: verify::ack_state(purchase),
            // Acknowledged when claimed: Google refunds what nobody takes within three days.
            acknowledge_at: continued.is_some().then_some(now),
            claim_state: continued.is_none().then_some("UNCLAIMED"),
            now,
        };
        let user_id = continued.as_deref().unwrap_or_default();
        match verify::insert_verified(&mut tx, app.project_id, app, user_id, &fields).await {
            Ok(id) => {
                recorded = Some((id, tx));
                break;
            }
            // A verify recorded the transaction meanwhile, or the paymentSeq draw clashed with
            // another payment's (drawn again).
            Err(err) if err.is_unique_violation() => {
                tx.rollback().await?;
                if verify::by_store_transaction(&services.db, app.id, &purchase.transaction_id).await?.is_some() {
                    return Ok(Reported::RecordedMeanwhile);
                }
            }
            Err(err) => return Err(err),
        }
    }
    let Some((id, mut tx)) = recorded else { return Err(Error::Other("no free paymentSeq after five draws".into())) };
    let entry = HistoryEntry {
        payment_id: id,
        from: None,
        to: Status::Success,
        event: "STORE_REPORTED",
        source: Source::Store,
        actor: None,
        reason: Some(if continued.is_some() {
            "reported by the store: it continues a subscription of this user"
        } else {
            "reported by the store before any verify; no user has claimed it"
        }),
        detail: super::sync::with_facts(Some(format!("store transaction {}", purchase.transaction_id)), purchase),
    };
    append_history(&mut tx, entry).await?;
    let (event, extra) = match &continued {
        Some(_) => (
            EventType::PaymentSucceeded,
            json!({"storeInitiated": true, "continues": purchase.linked_transaction_id.is_some()}),
        ),
        None => (EventType::PaymentUnclaimed, json!({"storeInitiated": purchase.store_initiated, "unclaimed": true})),
    };
    super::events::emit(&mut tx, event, id, extra).await?;
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

/// The user whose subscription `purchase` continues by the store's link (Google's
/// `linkedPurchaseToken`, or the expired purchase of a Play Store re-subscription), when a payment
/// of theirs holds the linked token and the purchase's account value names nobody else.
async fn continued_user(
    services: &Services,
    app: &StoreAppRecord,
    purchase: &StorePurchase,
) -> Result<Option<String>, Error> {
    let Some(linked) = &purchase.linked_transaction_id else { return Ok(None) };
    let user: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM payments WHERE store_app_id = $1 AND purchase_token = $2 AND user_id <> '' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(app.id)
    .bind(linked)
    .fetch_optional(services.db.pool())
    .await?;
    Ok(user.filter(|user| {
        super::binding::check(purchase.store, user, purchase.account_id.as_deref())
            != super::binding::Binding::OtherUser
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::seq::clash;

    #[tokio::test]
    async fn a_purchase_the_store_reports_is_recorded_under_a_new_draw_when_its_payment_seq_clashes() {
        let (services, app, _dir) = clash::services().await;
        let other = clash::reservation(&services, &app, "alice").await;
        let purchase = clash::google_purchase("gem_100", "GPA.0003");
        clash::force_next(&other.payment_seq);

        let reported = record(&services, &app, &purchase).await.unwrap();

        assert!(clash::all_drawn());
        let Reported::Recorded(id) = reported else { panic!("recorded, not {reported:?}") };
        let payment = by_id(&services.db, id).await.unwrap();
        assert_ne!(payment.payment_seq, other.payment_seq);
        assert_eq!((payment.payment_id.as_deref(), payment.unclaimed), (Some("GPA.0003"), true));
    }
}
