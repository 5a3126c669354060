//! Acknowledgement at the store: Google Play and ONE store refund a purchase that stays
//! unacknowledged for three days, so the server acknowledges every verified purchase of theirs,
//! retrying until it is done.
use model::Store;

use super::{append_note, Payment};
use crate::{
    backoff::retry_delay,
    db::Db,
    now_ms,
    stores::{client::StoreClient, StoreError},
    Error,
};

/// Google and ONE store refund a purchase that is not acknowledged within three days of it.
const ACKNOWLEDGE_WITHIN_MS: i64 = 3 * 86_400_000;
const ALERT_BEFORE_DEADLINE_MS: i64 = 86_400_000;

/// Acknowledges a Google Play or ONE store purchase. The store refunds one that stays
/// unacknowledged for three days, so a failure is never taken for success: a refusal counts as
/// done only when the purchase reads as acknowledged already (both stores refuse a second
/// acknowledge); any other refusal is retried like an outage. Every attempt is written in the
/// payment's history, and one that fails with less than a day left before the store's deadline is
/// logged as an error.
pub async fn acknowledge(db: &Db, client: &StoreClient, payment: &Payment) -> Result<(), Error> {
    if !needs_acknowledging(payment.store) {
        return Ok(());
    }
    let token = payment.purchase_token.as_deref().unwrap_or_default();
    // A Google subscription bought without our account value (in the Play Store) is bound to its
    // user as it is acknowledged, so Google's later answers name them.
    let unbound = payment.store_account_id.is_none() && !payment.user_id.is_empty();
    let account = (payment.store == Store::Google && payment.is_subscription() && unbound)
        .then(|| super::binding::google_account_id(&payment.user_id));
    let result =
        client.acknowledge(&payment.store_product_id, token, payment.is_subscription(), account.as_deref()).await;
    let result = match result {
        Err(StoreError::Rejected { .. }) if already_acknowledged(client, payment).await => Ok(()),
        other => other,
    };
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let detail = match &result {
        Ok(()) => {
            sqlx::query("UPDATE payments SET ack_state = 'DONE', next_ack_at = NULL, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
            if let Some(account) = &account {
                sqlx::query(
                    "UPDATE payments SET store_account_id = $1 WHERE store_app_id = $2 AND purchase_token = $3 \
                     AND store_account_id IS NULL",
                )
                .bind(account)
                .bind(payment.store_app_id)
                .bind(token)
                .execute(&mut *tx)
                .await?;
                format!("acknowledged with {}, bound to the user's account value", payment.store.label())
            } else {
                format!("acknowledged with {}", payment.store.label())
            }
        }
        Err(err) => {
            let attempts: i64 = sqlx::query_scalar(
                "UPDATE payments SET ack_attempts = ack_attempts + 1 WHERE id = $1 RETURNING CAST(ack_attempts AS BIGINT)",
            )
            .bind(payment.id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE payments SET next_ack_at = $1, updated_at = $2 WHERE id = $3")
                .bind(now + retry_delay(attempts).as_millis() as i64)
                .bind(now)
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
            let error = crate::stores::scrub(&err.to_string());
            let deadline = payment.purchase_time.unwrap_or(now) + ACKNOWLEDGE_WITHIN_MS;
            if deadline - now < ALERT_BEFORE_DEADLINE_MS {
                tracing::error!(payment = %payment.payment_seq, store = payment.store.code(), %error,
                    deadline_ms = deadline, "acknowledge keeps failing and the store refunds the purchase at its deadline");
            } else {
                tracing::warn!(payment = %payment.payment_seq, store = payment.store.code(), %error,
                    "acknowledge failed; retried later");
            }
            format!("acknowledge attempt {attempts} failed, retried later: {error}")
        }
    };
    let event = if result.is_ok() { "ACKNOWLEDGE" } else { "ACKNOWLEDGE_FAILED" };
    append_note(&mut tx, payment, event, Some(detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// The stores that refund a purchase nobody acknowledged.
pub(super) fn needs_acknowledging(store: Store) -> bool {
    matches!(store, Store::Google | Store::OneStore)
}

/// Whether the store reads the purchase as acknowledged (asked after it refused an acknowledge).
async fn already_acknowledged(client: &StoreClient, payment: &Payment) -> bool {
    matches!(super::read_at_store(client, payment).await, Some(purchase) if purchase.acknowledged == Some(true))
}
