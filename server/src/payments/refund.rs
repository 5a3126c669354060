//! Moving a payment to REFUND, and back when the store reverses a refund. Every path that refunds
//! — a store notification, a sweep, the app server's revoke, a support person — goes through
//! [`transition`], so what a refund changes (status, refund time, no further re-verification, a
//! revoked subscription state, the refund record, the history, the webhook, the abuse rules)
//! cannot differ between them.
use serde_json::json;
use sqlx::{Any, Transaction};

use super::{append_history, HistoryEntry, Payment, Source, Status};
use crate::{abuse, config::AbuseSettings, now_ms, services::Services, webhooks::EventType, Error};

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

/// What moved a payment to REFUND, for its refund record and history.
pub struct Refunding<'a> {
    pub source: RefundSource,
    /// REFUND, VOID or REVOKE: what the store (or the person) called it.
    pub kind: &'a str,
    pub reason: Option<&'a str>,
    /// The console user, for a refund made by hand.
    pub actor: Option<&'a str>,
    /// The share refunded, in thousandths of a percent, when the store refunded only part (Apple's
    /// prorated refunds); `None` for the whole.
    pub share: Option<i64>,
}

/// Marks `payment` REFUND (final) in `tx` and records its refund, with whether the item had been
/// consumed already (a claw-back is needed then). `false`, with nothing written, when the payment
/// is refunded already, or (for a refund by hand) no longer has the status the person saw.
pub async fn transition(
    tx: &mut Transaction<'static, Any>,
    rules: &AbuseSettings,
    payment: &Payment,
    refunding: Refunding<'_>,
) -> Result<bool, Error> {
    let now = now_ms();
    // A support person's change holds only for the status they saw; the store's is the store's.
    let by_hand = refunding.source == RefundSource::Manual;
    let update = format!(
        "UPDATE payments SET status = 'REFUND', refund_time = $1, next_verify_at = NULL, subscription_state = \
         CASE WHEN subscription_state IS NULL THEN NULL ELSE 'REVOKED' END, updated_at = $1 \
         WHERE id = $2 AND status <> 'REFUND'{}",
        if by_hand { " AND status = $3" } else { "" }
    );
    let mut query = sqlx::query(&update).bind(now).bind(payment.id);
    if by_hand {
        query = query.bind(payment.status.as_str());
    }
    let changed = query.execute(&mut **tx).await?.rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    record(tx, payment, &refunding, now).await?;
    let (event, source) = match refunding.source {
        RefundSource::Manual => ("MANUAL_REFUND", Source::Console),
        RefundSource::Sweep => (refunding.kind, Source::Sweep),
        RefundSource::Notification | RefundSource::StoreApi => (refunding.kind, Source::Store),
    };
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: Status::Refund,
        event,
        source,
        actor: refunding.actor,
        reason: refunding.reason,
        detail: Some(match refunding.share {
            Some(share) => format!("consumed before: {}; {} refunded", payment.consumed, model::format::share(share)),
            None => format!("consumed before: {}", payment.consumed),
        }),
    };
    append_history(tx, entry).await?;
    announce(tx, rules, payment, &refunding).await?;
    Ok(true)
}

/// The store's refund of `payment`, in a transaction of its own. A payment is refunded once: a
/// second report of the refund (a void after a refund, or one store answer applied by two
/// notifications) changes nothing, whatever kind it names.
pub async fn by_store(
    services: &Services,
    payment: &Payment,
    source: RefundSource,
    kind: &str,
    reason: Option<&str>,
) -> Result<(), Error> {
    partly_by_store(services, payment, source, kind, reason, None).await
}

/// The store's refund of `share` (thousandths of a percent; `None` the whole) of `payment`: the
/// payment is refunded as by [`by_store`], and its refund record holds the share and the amount.
pub async fn partly_by_store(
    services: &Services,
    payment: &Payment,
    source: RefundSource,
    kind: &str,
    reason: Option<&str>,
    share: Option<i64>,
) -> Result<(), Error> {
    let mut tx = services.db.begin_write().await?;
    let refunding = Refunding { source, kind, reason, actor: None, share };
    if transition(&mut tx, &services.settings.abuse, payment, refunding).await? {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// The store took a refund back (Apple `REFUND_REVERSED`): the payment is SUCCESS again, its refund
/// records when and why it was reversed (and stops counting in reports and abuse rules), and the
/// app's server is told, so it can give back what it clawed back. A payment that is not refunded is
/// left alone.
pub async fn reverse(services: &Services, payment: &Payment, reason: &str) -> Result<(), Error> {
    let now = now_ms();
    let mut tx = services.db.begin_write().await?;
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
    super::events::emit(&mut tx, EventType::PaymentRefundReversed, payment.id, extra).await?;
    tx.commit().await?;
    Ok(())
}

/// Tells the app's server about a payment's first refund and applies the abuse rules to its user,
/// in the refund's transaction.
async fn announce(
    tx: &mut Transaction<'static, Any>,
    rules: &AbuseSettings,
    payment: &Payment,
    refunding: &Refunding<'_>,
) -> Result<(), Error> {
    let extra = json!({
        "alreadyConsumed": payment.consumed,
        "refundKind": refunding.kind,
        "refundSource": refunding.source.as_str(),
        "refundedShare": refunding.share.unwrap_or(WHOLE),
    });
    super::events::emit(tx, EventType::PaymentRefunded, payment.id, extra).await?;
    // A purchase nobody claimed counts against no user.
    if payment.unclaimed {
        return Ok(());
    }
    abuse::after_refund(tx, rules, payment.project_id, &payment.user_id).await
}

/// The whole of a payment, in thousandths of a percent.
const WHOLE: i64 = 100_000;

/// Records the refund of `payment`, once per kind, with the amount refunded (the share of the
/// price, for a partial refund); a refund of a kind that was reversed is in force again.
async fn record(
    tx: &mut Transaction<'static, Any>,
    payment: &Payment,
    refunding: &Refunding<'_>,
    now: i64,
) -> Result<(), Error> {
    let (source, kind, reason) = (refunding.source, refunding.kind, refunding.reason);
    let amount = payment.price_micros.map(|price| match refunding.share {
        Some(share) => (i128::from(price) * i128::from(share) / i128::from(WHOLE)) as i64,
        None => price,
    });
    sqlx::query(
        "INSERT INTO refunds (payment_id, project_id, user_id, source, kind, refunded_at, reason, was_consumed, \
         amount_micros, currency, missed_notification, share_milli, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $6) ON CONFLICT (payment_id, kind) DO UPDATE SET \
         reversed_at = NULL, reversed_reason = NULL, refunded_at = excluded.refunded_at, source = excluded.source, \
         reason = excluded.reason, was_consumed = excluded.was_consumed, amount_micros = excluded.amount_micros, \
         share_milli = excluded.share_milli WHERE refunds.reversed_at IS NOT NULL",
    )
    .bind(payment.id)
    .bind(payment.project_id)
    .bind(&payment.user_id)
    .bind(source.as_str())
    .bind(kind)
    .bind(now)
    .bind(reason)
    .bind(i64::from(payment.consumed))
    .bind(amount)
    .bind(&payment.currency)
    // A sweep records only what no notification had: each of its refunds is a missed notification.
    .bind(i64::from(source == RefundSource::Sweep))
    .bind(refunding.share)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
