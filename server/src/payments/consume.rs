//! Consume: the one change that must happen exactly once. A conditional update (`consumed = 0`)
//! decides the winner among concurrent calls; it commits, with its history row, before the answer.
use super::{append_history, by_seq, HistoryEntry, Payment, Source, Status};
use serde_json::json;

use crate::{
    db::Db,
    now_ms,
    webhooks::{self, EventType},
    Error,
};

/// Why a payment was not consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    WrongToken,
    NotConsumableType,
    Refunded,
    /// Not (yet) a successful payment.
    NotSuccessful,
    AlreadyConsumed,
}

/// Consumes `payment_seq` if `access_token` is its token. `source` is the app's server, or the app
/// itself in the build-in model.
pub async fn consume(
    db: &Db,
    project_id: i64,
    payment_seq: &str,
    access_token: &str,
    source: Source,
) -> Result<Result<Payment, Refusal>, Error> {
    let Some(payment) = by_seq(db, project_id, payment_seq).await? else { return Ok(Err(Refusal::NotFound)) };
    if let Err(refusal) = check(&payment, access_token) {
        return Ok(Err(refusal));
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let won = sqlx::query(
        "UPDATE payments SET consumed = 1, consumed_at = $1, consume_source = $2, updated_at = $1 \
         WHERE id = $3 AND consumed = 0 AND status = 'SUCCESS'",
    )
    .bind(now)
    .bind(source.as_str())
    .bind(payment.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !won {
        tx.rollback().await?;
        // Another call consumed it first, or it was refunded meanwhile: read again and say which.
        let now_stored = by_seq(db, project_id, payment_seq).await?.ok_or(Error::NotFound)?;
        return Ok(Err(check(&now_stored, access_token).err().unwrap_or(Refusal::AlreadyConsumed)));
    }
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(Status::Success),
        to: Status::Success,
        event: "CONSUME",
        source,
        actor: None,
        reason: None,
        detail: None,
    };
    append_history(&mut tx, entry).await?;
    webhooks::emit_for_payment(&mut tx, EventType::PaymentConsumed, payment.id, json!({"consumedBy": source.as_str()}))
        .await?;
    tx.commit().await?;
    Ok(Ok(Payment { consumed: true, ..payment }))
}

fn check(payment: &Payment, access_token: &str) -> Result<(), Refusal> {
    if !payment.token_matches(access_token) {
        return Err(Refusal::WrongToken);
    }
    if !payment.is_consumable_type() {
        return Err(Refusal::NotConsumableType);
    }
    match payment.status {
        Status::Refund => Err(Refusal::Refunded),
        Status::Success if payment.consumed => Err(Refusal::AlreadyConsumed),
        Status::Success => Ok(()),
        Status::Reserved | Status::Failure => Err(Refusal::NotSuccessful),
    }
}
