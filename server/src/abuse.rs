//! Refund abuse: users who refund too often or too much within a period, and receipts presented by
//! two users. A rule that trips flags the user once (until the flag is cleared) and emits an
//! `abuse.flagged` event, in the transaction of the change that tripped it.
use model::AbuseFlagRow;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use crate::{
    config::AbuseSettings,
    db::Db,
    now_ms,
    webhooks::{self, EventType},
    Error,
};

const DAY_MS: i64 = 86_400_000;

/// Flags the user for `rule` unless an open flag for it exists; returns whether it was new.
pub async fn flag(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    user_id: &str,
    rule: &str,
    detail: String,
) -> Result<bool, Error> {
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM abuse_flags WHERE project_id = $1 AND user_id = $2 AND rule = $3 AND cleared_at IS NULL",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(rule)
    .fetch_one(&mut **tx)
    .await?;
    if open > 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO abuse_flags (project_id, user_id, rule, detail, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(project_id)
        .bind(user_id)
        .bind(rule)
        .bind(&detail)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    let data = json!({"rule": rule, "detail": detail});
    webhooks::emit(tx, project_id, EventType::AbuseFlagged, Some(user_id), None, data).await?;
    Ok(true)
}

/// Applies the refund rules to the user after one more refund, inside the refund's transaction.
pub async fn after_refund(
    tx: &mut Transaction<'static, Any>,
    rules: &AbuseSettings,
    project_id: i64,
    user_id: &str,
) -> Result<(), Error> {
    let since = now_ms() - rules.period_days * DAY_MS;
    // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read: cast it back.
    let rows = sqlx::query(
        "SELECT COALESCE(currency, '') AS currency, COUNT(*) AS n, CAST(COALESCE(SUM(amount_micros), 0) AS BIGINT) \
         AS amount FROM refunds WHERE project_id = $1 AND user_id = $2 AND refunded_at >= $3 AND reversed_at IS NULL \
         GROUP BY COALESCE(currency, '')",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await?;
    let mut count = 0;
    for row in &rows {
        count += row.try_get::<i64, _>("n")?;
        let currency: String = row.try_get("currency")?;
        let amount = row.try_get::<i64, _>("amount")? as f64 / 1e6;
        if let Some(limit) = rules.max_refund_amount.get(&currency).filter(|limit| amount > **limit) {
            let detail = format!("{amount:.2} {currency} refunded in {} days (limit {limit:.2})", rules.period_days);
            flag(tx, project_id, user_id, "REFUND_AMOUNT", detail).await?;
        }
    }
    if rules.max_refunds > 0 && count > rules.max_refunds {
        let detail = format!("{count} refunds in {} days (limit {})", rules.period_days, rules.max_refunds);
        flag(tx, project_id, user_id, "REFUND_COUNT", detail).await?;
    }
    Ok(())
}

/// Open flags, newest first.
pub async fn open_flags(db: &Db) -> Result<Vec<AbuseFlagRow>, Error> {
    Ok(sqlx::query_as::<_, AbuseFlagRow>(
        "SELECT f.id, p.name AS project, f.user_id, f.rule, f.detail, f.created_at FROM abuse_flags f \
         JOIN projects p ON p.id = f.project_id WHERE f.cleared_at IS NULL ORDER BY f.created_at DESC, f.id DESC \
         LIMIT 500",
    )
    .fetch_all(db.pool())
    .await?)
}

/// Clears a flag after review, with the audit row `audit` makes of its project, in one
/// transaction; the rule can flag the user again later.
pub async fn clear(db: &Db, flag_id: i64, audit: impl FnOnce(i64) -> crate::audit::Entry) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let project: i64 = sqlx::query_scalar(
        "UPDATE abuse_flags SET cleared_at = $1 WHERE id = $2 AND cleared_at IS NULL RETURNING project_id",
    )
    .bind(now_ms())
    .bind(flag_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    crate::audit::record_in(&mut tx, audit(project)).await?;
    tx.commit().await?;
    Ok(())
}

/// A user presenting another user's payment as theirs.
pub struct ReceiptClaim<'a> {
    pub project_id: i64,
    /// The payment presented: its id, paymentSeq and the user it belongs to.
    pub payment_id: i64,
    pub payment_seq: &'a str,
    pub owner: &'a str,
    pub claimed_by: &'a str,
    /// The claimer's own reservation the payment was presented for.
    pub claimed_payment_seq: Option<&'a str>,
    /// Whether the claim came with the claimer's own user token.
    pub authenticated: bool,
}

/// Records the claim once per (payment, claimer), and flags the claimer (SHARED_RECEIPT) the
/// first time, only when the claim was authenticated: anyone can name any user id, so an
/// unauthenticated claim says nothing about the user it names.
pub async fn receipt_claimed(db: &Db, claim: ReceiptClaim<'_>) -> Result<(), Error> {
    let project_id = claim.project_id;
    let mut tx = db.begin_write().await?;
    let first = sqlx::query(
        "INSERT INTO receipt_conflicts (project_id, payment_id, claimed_by_user, claimed_payment_seq, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id, claimed_by_user) DO NOTHING",
    )
    .bind(project_id)
    .bind(claim.payment_id)
    .bind(claim.claimed_by)
    .bind(claim.claimed_payment_seq)
    .bind(crate::now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if first && claim.authenticated {
        let detail = format!("presented payment {} of user {}", claim.payment_seq, claim.owner);
        flag(&mut tx, project_id, claim.claimed_by, "SHARED_RECEIPT", detail).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Forgets which users presented which payment more than `keep_days` days ago (0 keeps it): the
/// flags raised stay, and a user who presents the same payment again after that is flagged again.
/// Returns how many rows went.
pub async fn prune_receipt_conflicts(db: &Db, keep_days: i64) -> Result<u64, Error> {
    if keep_days <= 0 {
        return Ok(0);
    }
    db.delete_chunked("receipt_conflicts", "id", "created_at < $1", &[crate::now_ms() - keep_days * 86_400_000]).await
}
