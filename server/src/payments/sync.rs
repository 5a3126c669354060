//! What the store says later — a renewal, a lapse, a refund — applied to the payments it concerns.
//! Notifications and reconciliation sweeps call this with the store's current answer.
use app::model::Store;
use serde_json::json;

use super::{
    append_history, by_id, new_access_token, verify::subscription_state_name, HistoryEntry, Payment, Source, Status,
    COLUMNS,
};
use crate::{
    abuse,
    config::AbuseSettings,
    crypto::Cipher,
    db::Db,
    now_ms,
    state::AppState,
    stores::{PurchaseState, StorePurchase, SubscriptionState},
    webhooks::{self, EventType},
    Error,
};

/// How a refund reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundSource {
    Notification,
    Sweep,
    /// The app's server asked the store (a Google revoke).
    StoreApi,
    /// A support person, from the console.
    Manual,
}

impl RefundSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundSource::Notification => "NOTIFICATION",
            RefundSource::Sweep => "SWEEP",
            RefundSource::StoreApi => "STORE_API",
            RefundSource::Manual => "MANUAL",
        }
    }
}

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
    state: &AppState,
    store_app_id: i64,
    purchase: &StorePurchase,
    source: RefundSource,
) -> Result<Applied, Error> {
    let (db, cipher) = (&state.db, &state.cipher);
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
            refund(state, &payment, source, kind, None).await?;
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
        detail: purchase.expiry_time_ms.map(|t| format!("expires {t}")),
    };
    append_history(&mut tx, entry).await?;
    let event =
        state.filter(|s| payment.subscription_state.as_deref() != Some(*s)).and_then(EventType::for_subscription_state);
    if let Some(event) = event {
        webhooks::emit_for_payment(&mut tx, event, payment.id, json!({})).await?;
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
         subscription_state, auto_renewing, environment, is_test, store_response, claim_state, reserved_at, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'SUCCESS', $9, $10, $11, $11, $12, $13, $14, $15, $16, \
         $17, $18, $16, $19, $20, $21, $22, $23, $24, $16, $16, $16) RETURNING id",
    )
    .bind(super::new_payment_seq())
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
        detail: Some(format!("renews {}", previous.payment_seq)),
    };
    append_history(&mut tx, entry).await?;
    webhooks::emit_for_payment(&mut tx, EventType::SubscriptionRenewed, id, json!({"renews": previous.payment_seq}))
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Marks the payment REFUND (final) and records its refund, with whether the item had been
/// consumed already (a claw-back is needed then). A payment is refunded once: a second report of
/// the refund (a void after a refund, or one store answer applied by two notifications) changes
/// nothing, whatever kind it names.
pub async fn refund(
    state: &AppState,
    payment: &Payment,
    source: RefundSource,
    kind: &str,
    reason: Option<&str>,
) -> Result<(), Error> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE payments SET status = 'REFUND', refund_time = $1, subscription_state = \
         CASE WHEN subscription_state IS NULL THEN NULL ELSE 'REVOKED' END, updated_at = $1 \
         WHERE id = $2 AND status <> 'REFUND'",
    )
    .bind(now)
    .bind(payment.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    record_refund(&mut tx, payment, source, kind, reason, now).await?;
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: Status::Refund,
        event: kind,
        source: if source == RefundSource::Sweep { Source::Sweep } else { Source::Store },
        actor: None,
        reason,
        detail: Some(format!("consumed before: {}", payment.consumed)),
    };
    append_history(&mut tx, entry).await?;
    announce_refund(&mut tx, &state.settings.abuse, payment, source, kind).await?;
    tx.commit().await?;
    Ok(())
}

/// The store took a refund back (Apple `REFUND_REVERSED`): the payment is SUCCESS again, its refund
/// records when and why it was reversed (and stops counting in reports and abuse rules), and the
/// app's server is told, so it can give back what it clawed back. A payment that is not refunded is
/// left alone.
pub async fn reverse_refund(state: &AppState, payment: &Payment, reason: &str) -> Result<(), Error> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE payments SET status = 'SUCCESS', refund_time = NULL, updated_at = $1 WHERE id = $2 AND status = 'REFUND'",
    )
    .bind(now)
    .bind(payment.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    sqlx::query(
        "UPDATE refunds SET reversed_at = $1, reversed_reason = $2 WHERE payment_id = $3 AND reversed_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(payment.id)
    .execute(&mut *tx)
    .await?;
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(Status::Refund),
        to: Status::Success,
        event: "REFUND_REVERSED",
        source: Source::Store,
        actor: None,
        reason: Some(reason),
        detail: Some(format!("consumed before: {}", payment.consumed)),
    };
    append_history(&mut tx, entry).await?;
    let extra = json!({"alreadyConsumed": payment.consumed, "reason": reason});
    webhooks::emit_for_payment(&mut tx, EventType::PaymentRefundReversed, payment.id, extra).await?;
    tx.commit().await?;
    Ok(())
}

/// Tells the app's server about a payment's first refund and applies the abuse rules to its user,
/// in the refund's transaction.
pub(crate) async fn announce_refund(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rules: &AbuseSettings,
    payment: &Payment,
    source: RefundSource,
    kind: &str,
) -> Result<(), Error> {
    let extra = json!({"alreadyConsumed": payment.consumed, "refundKind": kind, "refundSource": source.as_str()});
    webhooks::emit_for_payment(tx, EventType::PaymentRefunded, payment.id, extra).await?;
    // A purchase nobody claimed counts against no user.
    if payment.unclaimed {
        return Ok(());
    }
    abuse::after_refund(tx, rules, payment.project_id, &payment.user_id).await
}

/// Records the refund of `payment`, once per kind; a refund of a kind that was reversed is in
/// force again.
pub(crate) async fn record_refund(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    payment: &Payment,
    source: RefundSource,
    kind: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO refunds (payment_id, project_id, user_id, source, kind, refunded_at, reason, was_consumed, \
         amount_micros, currency, missed_notification, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $6) ON CONFLICT (payment_id, kind) DO UPDATE SET \
         reversed_at = NULL, reversed_reason = NULL, refunded_at = excluded.refunded_at, source = excluded.source, \
         reason = excluded.reason, was_consumed = excluded.was_consumed WHERE refunds.reversed_at IS NOT NULL",
    )
    .bind(payment.id)
    .bind(payment.project_id)
    .bind(&payment.user_id)
    .bind(source.as_str())
    .bind(kind)
    .bind(now)
    .bind(reason)
    .bind(i64::from(payment.consumed))
    .bind(payment.price_micros)
    .bind(&payment.currency)
    // A sweep records only what no notification had: each of its refunds is a missed notification.
    .bind(i64::from(source == RefundSource::Sweep))
    .execute(&mut **tx)
    .await?;
    Ok(())
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
