//! Reservations that no purchase came for: the app says the user cancelled (NHN's UserClose), or
//! the reservation expires. Either way the payment becomes USER_CLOSE with a history row saying
//! why. Closing takes nothing from anyone: a closed reservation still takes its purchase if one
//! comes after all (a deferred payment, an app killed before it could verify), so a close sent for
//! someone else's reservation changes no outcome.
use super::{append_history, by_seq, HistoryEntry, Payment, Source, Status};
use crate::{db::Db, now_ms, Error};

/// Reservations expired per transaction: bounds how long one pass holds the writer.
const EXPIRE_CHUNK: usize = 200;

pub enum Closed {
    Closed(Payment),
    NotFound,
    OtherUser,
    /// It is not a reservation waiting for its purchase: it was paid, refused, closed already, or
    /// its purchase is being verified (a proof is kept).
    NotOpen(Payment),
}

/// The app reports that `user` cancelled the purchase reserved as `payment_seq`.
pub async fn close(db: &Db, project_id: i64, user: &str, payment_seq: &str) -> Result<Closed, Error> {
    let Some(payment) = by_seq(db, project_id, payment_seq).await? else { return Ok(Closed::NotFound) };
    if payment.user_id != user {
        return Ok(Closed::OtherUser);
    }
    let mut tx = db.begin_write().await?;
    if !close_one(&mut tx, payment.id, "USER_CLOSE", Source::Client, "the app reports that the user cancelled").await? {
        tx.rollback().await?;
        return Ok(Closed::NotOpen(payment));
    }
    tx.commit().await?;
    Ok(Closed::Closed(super::by_id(db, payment.id).await?))
}

/// Closes the reservations made more than `ttl_hours` ago that no purchase came for (0: never).
/// A reservation whose proof is kept for another verification attempt is not one of them.
/// Returns how many were closed.
pub async fn expire_reservations(db: &Db, ttl_hours: i64) -> Result<u64, Error> {
    if ttl_hours <= 0 {
        return Ok(0);
    }
    let cutoff = now_ms() - ttl_hours * 3_600_000;
    let reason = format!("no purchase came within {ttl_hours} hours of the reservation");
    let mut closed = 0;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM payments WHERE status = 'RESERVED' AND receipt IS NULL AND reserved_at < $1 \
             ORDER BY id LIMIT {EXPIRE_CHUNK}"
        ))
        .bind(cutoff)
        .fetch_all(db.pool())
        .await?;
        let mut tx = db.begin_write().await?;
        for id in &ids {
            closed += u64::from(close_one(&mut tx, *id, "EXPIRE", Source::Server, &reason).await?);
        }
        tx.commit().await?;
        if ids.len() < EXPIRE_CHUNK {
            return Ok(closed);
        }
    }
}

/// Moves one open reservation to USER_CLOSE with its history row; false when it is not open (a
/// concurrent verify completed it, or it holds a proof being verified).
async fn close_one(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    event: &str,
    source: Source,
    reason: &str,
) -> Result<bool, Error> {
    let now = now_ms();
    let changed = sqlx::query(
        "UPDATE payments SET status = 'USER_CLOSE', updated_at = $1 WHERE id = $2 AND status = 'RESERVED' \
         AND receipt IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if changed {
        let entry = HistoryEntry {
            payment_id: id,
            from: Some(Status::Reserved),
            to: Status::UserClose,
            event,
            source,
            actor: None,
            reason: Some(reason),
            detail: None,
        };
        append_history(tx, entry).await?;
    }
    Ok(changed)
}
