//! Apple's Set App Account Token. A purchase made without the app's account value (an offer code
//! redeemed in the App Store, a purchase from before the app set `appAccountToken`, a promoted
//! purchase) is bound at Apple to the user who verified or claimed it, so its renewals, refunds and
//! notifications carry that user's token, and a later presentation under another user id is told
//! apart as [`super::binding`] tells any other.
//!
//! Best effort, made once when the payment is recorded: a failure is written in the history and
//! changes nothing else, since the payment is its user's in our ledger either way.
use super::{append_note, binding, Payment};
use crate::{db::Db, stores::client::StoreClient, Error};

/// Binds `payment`'s purchase to its user at Apple, when it is an Apple purchase of a known user
/// and the app has an In-App Purchase key.
pub async fn bind_at_store(db: &Db, client: &StoreClient, payment: &Payment) -> Result<(), Error> {
    let StoreClient::Apple { client, .. } = client else { return Ok(()) };
    if payment.user_id.is_empty() || !client.has_api_key() {
        return Ok(());
    }
    let Some(original) = payment.original_payment_id.as_deref().or(payment.payment_id.as_deref()) else {
        return Ok(());
    };
    let token = binding::apple_account_token(&payment.user_id);
    let result = client.set_app_account_token(original, &token, payment.sandbox).await;
    let mut tx = db.begin_write().await?;
    let (event, detail) = match &result {
        Ok(()) => {
            // Every period of the purchase carries the token from now on.
            sqlx::query(
                "UPDATE payments SET store_account_id = $1 WHERE store_app_id = $2 AND \
                 (original_payment_id = $3 OR payment_id = $3) AND store_account_id IS NULL",
            )
            .bind(&token)
            .bind(payment.store_app_id)
            .bind(original)
            .execute(&mut *tx)
            .await?;
            ("ACCOUNT_TOKEN", format!("bound to the user at the App Store (appAccountToken {token})"))
        }
        Err(err) => {
            let error = crate::stores::scrub(&err.to_string());
            tracing::warn!(payment = %payment.payment_seq, %error, "Set App Account Token failed");
            ("ACCOUNT_TOKEN_FAILED", format!("not bound to the user at the App Store: {error}"))
        }
    };
    append_note(&mut tx, payment, event, Some(detail)).await?;
    tx.commit().await?;
    Ok(())
}
