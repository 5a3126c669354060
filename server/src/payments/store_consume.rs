//! The store's consume after ours, for the apps that ask for it (`store_apps.consume_at_store`):
//! Google's and ONE store's consume, Apple's Finish Transaction. Google and ONE store do not sell
//! a one-time item again while the last one is unconsumed at the store, so when the device never
//! consumes it (the app died after the grant, or leaves consuming to the server) the server does.
//!
//! Our consume marks the payment due in its own transaction ([`SCHEDULE`]); the background retry
//! ([`super::retry`]) makes the call, so the consume's answer never waits for a store. A refusal
//! counts as done only when the store reads the purchase as consumed already; every attempt is
//! written in the payment's history.
use model::Store;

use super::{append_note, Payment};
use crate::{
    backoff::retry_delay,
    db::Db,
    now_ms,
    stores::{
        client::{Consumed, StoreClient},
        StoreError,
    },
    Error,
};

/// The assignment our consume's conditional update makes (`$1` is its time): a one-time
/// consumable of an app that consumes at the store becomes due at once.
pub(super) const SCHEDULE: &str = "next_store_consume_at = CASE WHEN product_type = 'CONSUMABLE' AND EXISTS \
     (SELECT 1 FROM store_apps a WHERE a.id = payments.store_app_id AND a.consume_at_store = 1) THEN $1 END";

/// After this many failed attempts (about a day of retries) the store consume is given up and
/// said so in the history: the item is ours to grant either way, only buying it again waits.
const MAX_ATTEMPTS: i64 = 30;

/// Consumes `payment` at its store and records the attempt.
pub async fn consume_at_store(db: &Db, client: &StoreClient, payment: &Payment) -> Result<(), Error> {
    let token = payment.purchase_token.as_deref().unwrap_or_default();
    let item = Consumed {
        product_id: &payment.store_product_id,
        token,
        transaction_id: payment.payment_id.as_deref().unwrap_or_default(),
        sandbox: payment.sandbox,
    };
    let result = match client.consume_at_store(&item).await {
        Err(StoreError::Rejected { .. }) if consumed_already(client, payment).await => Ok(()),
        other => other,
    };
    let now = now_ms();
    let store = payment.store.label();
    let mut tx = db.begin_write().await?;
    let detail = match &result {
        Ok(()) => {
            // The store's consume acknowledges too: an acknowledgement still due is done.
            sqlx::query(
                "UPDATE payments SET store_consumed_at = $1, next_store_consume_at = NULL, \
                 ack_state = CASE WHEN ack_state = 'PENDING' THEN 'DONE' ELSE ack_state END, \
                 next_ack_at = CASE WHEN ack_state = 'PENDING' THEN NULL ELSE next_ack_at END, \
                 updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(payment.id)
            .execute(&mut *tx)
            .await?;
            match payment.store {
                Store::Apple => format!("finished at the {store}"),
                _ => format!("consumed at {store}"),
            }
        }
        Err(err) => {
            let attempts: i64 = sqlx::query_scalar(
                "UPDATE payments SET store_consume_attempts = store_consume_attempts + 1 WHERE id = $1 \
                 RETURNING CAST(store_consume_attempts AS BIGINT)",
            )
            .bind(payment.id)
            .fetch_one(&mut *tx)
            .await?;
            let next = (attempts < MAX_ATTEMPTS).then(|| now + retry_delay(attempts).as_millis() as i64);
            sqlx::query("UPDATE payments SET next_store_consume_at = $1, updated_at = $2 WHERE id = $3")
                .bind(next)
                .bind(now)
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
            let error = crate::stores::scrub(&err.to_string());
            tracing::warn!(payment = %payment.payment_seq, store = payment.store.code(), %error, attempts,
                "consume at the store failed");
            match next {
                Some(_) => format!("consume at {store}, attempt {attempts}, failed, retried later: {error}"),
                None => format!("consume at {store} given up after {attempts} attempts: {error}"),
            }
        }
    };
    let event = if result.is_ok() { "STORE_CONSUME" } else { "STORE_CONSUME_FAILED" };
    append_note(&mut tx, payment, event, Some(detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the store reads the purchase as consumed (asked after it refused a consume: both
/// Google and ONE store refuse a second one). Apple has nothing to read back.
async fn consumed_already(client: &StoreClient, payment: &Payment) -> bool {
    matches!(super::read_at_store(client, payment).await, Some(purchase) if purchase.consumed == Some(true))
}
