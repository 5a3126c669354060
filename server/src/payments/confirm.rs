//! Payments verified by a purchase's Play Billing signature alone, while Google could not be
//! reached ([`crate::stores::google::signed`]), are provisional until Google is asked again. A
//! purchase Google confirms keeps its payment, now with Google's own figures (environment, price);
//! one Google does not know as a valid purchase of the item — refunded meanwhile, unknown, a
//! license tester's on an app that takes production purchases only — is refunded, with the
//! claw-back flag when it was consumed, and the app's server told by webhook.
use std::time::Duration;

use sqlx::{Any, Transaction};

use super::{append_history, by_id, refund, HistoryEntry, Payment, Source};
use crate::{
    now_ms,
    services::Services,
    store_apps,
    stores::{PurchaseState, StoreError, StorePurchase},
    Error,
};

/// How soon after the outage began Google is asked first; later tries follow the claim's lapse.
const FIRST_TRY: Duration = Duration::from_secs(60);
const CLAIM: Duration = Duration::from_secs(120);
const BATCH: i64 = 20;

/// Marks the payment just verified in `tx` as provisional, due for confirmation.
pub(super) async fn mark_provisional(tx: &mut Transaction<'static, Any>, id: i64, now: i64) -> Result<(), Error> {
    sqlx::query("UPDATE payments SET confirm_state = 'PROVISIONAL', next_confirm_at = $1 WHERE id = $2")
        .bind(now + FIRST_TRY.as_millis() as i64)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What asking Google again made of a provisional payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// Refunded, for the reason given.
    Refuted(String),
    /// Google still cannot answer (or the payment is no longer provisional): asked again later.
    NotYet,
}

/// Confirms the provisional payments that are due; returns how many were asked about.
pub async fn confirm_due(services: &Services) -> Result<usize, Error> {
    let due = "confirm_state = 'PROVISIONAL'";
    let ids = services.db.claim_due("payments", "next_confirm_at", due, CLAIM, BATCH).await?;
    for id in &ids {
        if let Err(err) = confirm(services, *id).await {
            tracing::warn!(payment = id, error = %err, "confirmation failed; tried again later");
        }
    }
    Ok(ids.len())
}

/// Asks Google about the provisional payment `id`.
pub async fn confirm(services: &Services, id: i64) -> Result<Confirmation, Error> {
    let payment = by_id(&services.db, id).await?;
    let (true, Some(proof)) = (payment.provisional, payment.proof()) else { return Ok(Confirmation::NotYet) };
    let app = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await?.ok_or(Error::NotFound)?;
    let client = services.store_client(&app).map_err(|e| Error::Other(e.to_string()))?;
    let refuted = match client.verify(&proof).await {
        Ok(purchase) if purchase.state != PurchaseState::Purchased => {
            format!("Google reports the purchase {:?}", purchase.state).to_lowercase()
        }
        Ok(purchase) if purchase.product_id != payment.store_product_id => {
            format!("Google reports a purchase of {}", purchase.product_id)
        }
        Ok(purchase) if !app.environments.allows(purchase.sandbox) => {
            "Google reports a license tester's purchase, which this app does not take".to_string()
        }
        Ok(purchase) => return confirmed(services, &payment, &purchase).await,
        Err(StoreError::Rejected { code, message }) => {
            format!("Google refuses the purchase: {code}: {}", crate::stores::scrub(&message))
        }
        Err(_) => return Ok(Confirmation::NotYet),
    };
    let mut tx = services.db.begin_write().await?;
    if !settle(&mut tx, payment.id, "REFUTED").await? {
        tx.rollback().await?;
        return Ok(Confirmation::NotYet);
    }
    let reason = format!("not confirmed after a signature-only verification: {refuted}");
    let refunding = refund::Refunding {
        source: refund::RefundSource::Sweep,
        kind: "REVOKE",
        reason: Some(&reason),
        actor: None,
        share: None,
    };
    // A payment the store refunded meanwhile (by notification) stays as that refund made it.
    refund::transition(&mut tx, &services.settings.abuse, &payment, refunding).await?;
    tx.commit().await?;
    Ok(Confirmation::Refuted(refuted))
}

/// Ends the provisional state; `false` when another instance ended it first.
async fn settle(tx: &mut Transaction<'static, Any>, id: i64, state: &str) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE payments SET confirm_state = $1, next_confirm_at = NULL, updated_at = $2 \
         WHERE id = $3 AND confirm_state = 'PROVISIONAL'",
    )
    .bind(state)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn confirmed(services: &Services, payment: &Payment, purchase: &StorePurchase) -> Result<Confirmation, Error> {
    let mut tx = services.db.begin_write().await?;
    if !settle(&mut tx, payment.id, "CONFIRMED").await? {
        tx.rollback().await?;
        return Ok(Confirmation::NotYet);
    }
    // The signed data carried neither the environment nor a price; Google's answer does.
    sqlx::query(
        "UPDATE payments SET environment = $1, is_test = $2, store_response = $3, \
         price_micros = COALESCE($4, price_micros), currency = CASE WHEN $4 IS NULL THEN currency ELSE $5 END, \
         price_is_list = CASE WHEN $4 IS NULL THEN price_is_list ELSE 0 END WHERE id = $6",
    )
    .bind(if purchase.sandbox { "SANDBOX" } else { "PRODUCTION" })
    .bind(i64::from(purchase.sandbox))
    .bind(purchase.raw.to_string())
    .bind(purchase.price_micros)
    .bind(&purchase.currency)
    .bind(payment.id)
    .execute(&mut *tx)
    .await?;
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: payment.status,
        event: "CONFIRM",
        source: Source::Store,
        actor: None,
        reason: None,
        detail: Some("Google confirmed the purchase verified by its signature alone".into()),
    };
    append_history(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(Confirmation::Confirmed)
}
