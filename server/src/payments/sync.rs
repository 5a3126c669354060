//! What the store says later — a renewal, a lapse, a refund — applied to the payments it concerns.
//! Notifications and reconciliation sweeps call this with the store's current answer.
use model::Store;
use serde_json::json;

use super::{
    append_history, by_id, new_access_token, refund::RefundSource, verify::subscription_state_name, HistoryEntry,
    Payment, Source, Status, COLUMNS,
};
use crate::{
    crypto::Cipher,
    db::Db,
    now_ms,
    services::Services,
    stores::{PurchaseState, StorePurchase, SubscriptionState},
    webhooks::EventType,
    Error,
};

#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The payment's state was brought up to date.
    Updated(i64),
    /// A subscription renewed: a new payment for the new period.
    Renewed(i64),
    Refunded(i64),
    /// No payment is known for this purchase yet: the app has not verified it.
    Unknown,
}

/// Applies the store's current view of `purchase` (of the app `store_app_id`).
pub async fn apply(
    services: &Services,
    store_app_id: i64,
    purchase: &StorePurchase,
    source: RefundSource,
) -> Result<Applied, Error> {
    let (db, cipher) = (&services.db, &services.cipher);
    let refunded = matches!(purchase.state, PurchaseState::Refunded | PurchaseState::Cancelled)
        || purchase.subscription_state == Some(SubscriptionState::Revoked);
    if let Some(payment) = by_txn_key(db, store_app_id, &purchase.transaction_id).await? {
        if refunded {
            // Google calls every refund, chargeback and cancellation of a purchase a void.
            let kind = match (purchase.subscription_state, purchase.store) {
                (Some(SubscriptionState::Revoked), _) => "REVOKE",
                (_, Store::Google) => "VOID",
                _ => "REFUND",
            };
            super::refund::partly_by_store(services, &payment, source, kind, None, purchase.refunded_share).await?;
            return Ok(Applied::Refunded(payment.id));
        }
        update_state(db, &payment, purchase).await?;
        return Ok(Applied::Updated(payment.id));
    }
    // A new transaction id in a known subscription is a renewal.
    let Some(previous) = latest_of_subscription(db, store_app_id, purchase).await? else { return Ok(Applied::Unknown) };
    if refunded || !previous.is_subscription() {
        return Ok(Applied::Unknown);
    }
    renew(db, cipher, &previous, purchase).await.map(Applied::Renewed)
}

async fn by_txn_key(db: &Db, store_app_id: i64, key: &str) -> Result<Option<Payment>, Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE store_app_id = $1 AND store_txn_key = $2"))
        .bind(store_app_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(Payment::from_row).transpose()
}

/// The newest payment of the subscription `purchase` belongs to: same purchase token (Google keeps
/// one token across renewals) or same original transaction (Apple).
async fn latest_of_subscription(
    db: &Db,
    store_app_id: i64,
    purchase: &StorePurchase,
) -> Result<Option<Payment>, Error> {
    let (column, value) = match (purchase.store, &purchase.purchase_token, &purchase.original_transaction_id) {
        (Store::Google | Store::OneStore, Some(token), _) => ("purchase_token", token.as_str()),
        (_, _, Some(original)) => ("original_payment_id", original.as_str()),
        _ => return Ok(None),
    };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE store_app_id = $1 AND {column} = $2 AND status IN ('SUCCESS', 'REFUND') \
         ORDER BY purchase_time DESC, id DESC LIMIT 1"
    ))
    .bind(store_app_id)
    .bind(value)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(Payment::from_row).transpose()
}

/// A history detail with what else the store says of the purchase ([`StorePurchase::facts`]).
pub(super) fn with_facts(detail: Option<String>, purchase: &StorePurchase) -> Option<String> {
    let parts: Vec<String> = detail.into_iter().chain(purchase.facts()).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

async fn update_state(db: &Db, payment: &Payment, purchase: &StorePurchase) -> Result<(), Error> {
    let state = purchase.subscription_state.map(subscription_state_name);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE payments SET subscription_state = COALESCE($1, subscription_state), \
         expiry_time = COALESCE($2, expiry_time), auto_renewing = COALESCE($3, auto_renewing), \
         cancel_time = CASE WHEN $4 = 1 AND cancel_time IS NULL THEN $5 ELSE cancel_time END, \
         store_response = $6, updated_at = $5 WHERE id = $7",
    )
    .bind(state)
    .bind(purchase.expiry_time_ms)
    .bind(purchase.auto_renewing.map(i64::from))
    .bind(i64::from(purchase.subscription_state == Some(SubscriptionState::Cancelled)))
    .bind(now_ms())
    .bind(purchase.raw.to_string())
    .bind(payment.id)
    .execute(&mut *tx)
    .await?;
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: payment.status,
        event: "STORE_STATE",
        source: Source::Store,
        actor: None,
        reason: state,
        detail: with_facts(purchase.expiry_time_ms.map(|t| format!("expires {t}")), purchase),
    };
    append_history(&mut tx, entry).await?;
    let event =
        state.filter(|s| payment.subscription_state.as_deref() != Some(*s)).and_then(EventType::for_subscription_state);
    if let Some(event) = event {
        super::events::emit(&mut tx, event, payment.id, json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A new SUCCESS payment for the renewed period, for the same user, with the subscription's
/// original payment id.
async fn renew(db: &Db, cipher: &Cipher, previous: &Payment, purchase: &StorePurchase) -> Result<i64, Error> {
    let token = new_access_token();
    let sealed = super::sealed_access_token(cipher, &token);
    let now = now_ms();
    // A unique violation is either the same renewal recorded by a concurrent report (found by its
    // store transaction) or a paymentSeq already drawn today (drawn again).
    let mut recorded = None;
    for _ in 0..5 {
        let mut tx = db.begin_write().await?;
        let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO payments (payment_seq, project_id, store_app_id, store, product_seq, store_product_id, product_type, \
         user_id, status, price_micros, currency, store_txn_key, payment_id, original_payment_id, \
         purchase_token, access_token_hash, access_token_enc, verified_at, purchase_time, expiry_time, renew_time, \
         subscription_state, auto_renewing, environment, is_test, store_response, claim_state, app_transaction_id, \
         price_is_list, reserved_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'SUCCESS', $9, \
         $10, $11, $11, $12, $13, $14, $15, $16, $17, $18, $16, $19, $20, $21, $22, $23, $24, $25, $26, $16, $16, $16) \
         RETURNING id",
    )
    .bind(super::seq::draw())
    .bind(previous.project_id)
    .bind(previous.store_app_id)
    .bind(previous.store.code())
    .bind(previous.product_seq)
    .bind(&previous.store_product_id)
    .bind(previous.product_type.as_str())
    .bind(&previous.user_id)
    .bind(purchase.price_micros.or(previous.price_micros))
    .bind(purchase.currency.clone().or_else(|| previous.currency.clone()))
    .bind(&purchase.transaction_id)
    .bind(purchase.original_transaction_id.clone().or_else(|| previous.original_payment_id.clone()))
    .bind(&purchase.purchase_token)
    .bind(&sealed.0)
    .bind(&sealed.1)
    .bind(now)
    .bind(purchase.purchase_time_ms)
    .bind(purchase.expiry_time_ms)
    .bind(purchase.subscription_state.map(subscription_state_name))
    .bind(purchase.auto_renewing.map(i64::from))
    .bind(if purchase.sandbox { "SANDBOX" } else { "PRODUCTION" })
    .bind(i64::from(purchase.sandbox))
    .bind(purchase.raw.to_string())
    // A period of a subscription nobody has claimed waits for the same claim.
    .bind(previous.unclaimed.then_some("UNCLAIMED"))
    .bind(purchase.app_transaction_id())
    // A period the store gives no amount for costs what the one before it did, as a list price
    // when that one was.
    .bind(i64::from(purchase.price_micros.is_none() && previous.price_is_list))
    .fetch_one(&mut *tx)
    .await;
        match inserted.map_err(Error::from) {
            Ok(id) => {
                recorded = Some((id, tx));
                break;
            }
            Err(err) if err.is_unique_violation() => {
                tx.rollback().await?;
                if let Some(other) = by_txn_key(db, previous.store_app_id, &purchase.transaction_id).await? {
                    return Ok(other.id);
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
        event: "RENEW",
        source: Source::Store,
        actor: None,
        reason: None,
        detail: with_facts(Some(format!("renews {}", previous.payment_seq)), purchase),
    };
    append_history(&mut tx, entry).await?;
    super::events::emit(&mut tx, EventType::SubscriptionRenewed, id, json!({"renews": previous.payment_seq})).await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether any payment of `store_app_id` is about the purchase `reference` names: its purchase
/// token, store transaction or original transaction.
pub async fn is_known(db: &Db, store_app_id: i64, reference: &str) -> Result<bool, Error> {
    let known: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM payments WHERE store_app_id = $1 AND (purchase_token = $2 OR store_txn_key = $2 \
         OR original_payment_id = $2) LIMIT 1",
    )
    .bind(store_app_id)
    .bind(reference)
    .fetch_optional(db.pool())
    .await?;
    Ok(known.is_some())
}

/// The payment of `store_app_id` with this purchase token or store transaction id, for refunds
/// that name only one of them.
pub async fn by_reference(db: &Db, store_app_id: i64, reference: &str) -> Result<Option<Payment>, Error> {
    let row = sqlx::query(
        "SELECT id FROM payments WHERE store_app_id = $1 AND (store_txn_key = $2 OR purchase_token = $2) \
         AND status IN ('SUCCESS', 'REFUND') ORDER BY purchase_time DESC, id DESC LIMIT 1",
    )
    .bind(store_app_id)
    .bind(reference)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => Ok(Some(by_id(db, sqlx::Row::try_get(&row, 0)?).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::seq::clash;

    #[tokio::test]
    async fn a_renewal_whose_payment_seq_clashes_with_another_payment_draws_again() {
        let (services, app, _dir) = clash::services().await;
        let previous = clash::reservation(&services, &app, "alice").await;
        let purchase = clash::google_purchase("gem_100", "GPA.0002..1");
        clash::force_next(&previous.payment_seq);

        let id = renew(&services.db, &services.cipher, &previous, &purchase).await.unwrap();

        assert!(clash::all_drawn());
        let renewed = by_id(&services.db, id).await.unwrap();
        assert_ne!(renewed.payment_seq, previous.payment_seq);
        assert_eq!((renewed.payment_id.as_deref(), renewed.user_id.as_str()), (Some("GPA.0002..1"), "alice"));
    }
}
