//! Sends due deliveries: each is claimed first (so of several instances one sends it), posted with
//! its Standard Webhooks headers, and its attempt logged; a 2xx ends it, anything else schedules
//! the next try after the configured delay, and after the last delay it becomes a dead letter.
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use sqlx::Row;

use super::signing;
use crate::{crypto::Column, now_ms, services::Services, Error};

const BATCH: i64 = 50;
/// Deliveries sent at once by one instance.
const CONCURRENCY: usize = 8;

/// Sends the due deliveries once; returns how many were attempted.
pub async fn run_due(services: &Services) -> Result<usize, Error> {
    let timeout = Duration::from_secs(services.settings.webhooks.timeout_secs.max(1));
    // A claim outlives the slowest attempt, so a delivery is never sent twice at once.
    let claim = timeout + Duration::from_secs(30);
    let ids =
        services.db.claim_due("webhook_deliveries", "next_attempt_at", "status = 'PENDING'", claim, BATCH).await?;
    let count = ids.len();
    stream::iter(ids)
        .for_each_concurrent(CONCURRENCY, |id| async move {
            if let Err(err) = attempt(services, id, timeout).await {
                tracing::warn!(delivery = id, error = %err, "webhook delivery failed to run");
            }
        })
        .await;
    Ok(count)
}

/// Deletes the attempt log of deliveries older than `keep_days` days (0 keeps it); the deliveries
/// themselves, with their last status and error, stay. Returns how many attempts went.
pub async fn prune_attempts(db: &crate::db::Db, keep_days: i64) -> Result<u64, Error> {
    if keep_days <= 0 {
        return Ok(0);
    }
    db.delete_chunked("webhook_attempts", "id", "at < $1", &[now_ms() - keep_days * 86_400_000]).await
}

async fn attempt(services: &Services, delivery_id: i64, timeout: Duration) -> Result<(), Error> {
    let row = sqlx::query(
        "SELECT d.attempts, d.endpoint_id, ev.event_id, ev.payload, e.url, e.secret_enc, e.previous_secret_enc, \
         e.previous_secret_expires_at FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_one(services.db.pool())
    .await?;
    let attempts: i64 = row.try_get("attempts")?;
    let event_id: String = row.try_get("event_id")?;
    let payload: String = row.try_get("payload")?;
    let url: String = row.try_get("url")?;
    let endpoint = row.try_get::<i64, _>("endpoint_id")?.to_string();
    let open = |sealed: &str| services.cipher.decrypt(Column::WebhookSecret, &endpoint, sealed);
    let mut secrets = vec![open(&row.try_get::<String, _>("secret_enc")?)?];
    let previous_valid = crate::rotation::still_valid(row.try_get("previous_secret_expires_at")?, now_ms());
    if let (true, Some(previous)) = (previous_valid, row.try_get::<Option<String>, _>("previous_secret_enc")?) {
        secrets.push(open(&previous)?);
    }
    let timestamp = now_ms() / 1000;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = signing::header(&secrets, &event_id, timestamp, payload.as_bytes());
    let started = Instant::now();
    let request = services
        .http
        .post(&url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "iap-server-webhooks/1")
        .header("webhook-id", &event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload);
    let sent = services.http.send(request).await;
    let took = started.elapsed().as_millis() as i64;
    // Only the status and a short reason are kept: the body, and the URL (which may carry a
    // token), never reach the delivery log.
    let (code, error) = match &sent {
        Ok(response) => (Some(i64::from(response.status().as_u16())), None),
        Err(failure) => (None, Some(failure.to_string())),
    };
    let delivered = code.is_some_and(|c| (200..300).contains(&c));
    let now = now_ms();
    let attempts = attempts + 1;
    let delays = &services.settings.webhooks.retry_delays_ms;
    let (status, next) = match delays.get(attempts as usize - 1) {
        _ if delivered => ("DELIVERED", None),
        Some(delay) => ("PENDING", Some(now + *delay as i64)),
        None => ("DEAD", None),
    };
    let error = error.or_else(|| (!delivered).then(|| format!("HTTP {}", code.unwrap_or_default())));
    let mut tx = services.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms, error) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(delivery_id)
    .bind(now)
    .bind(code)
    .bind(took)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status_code = $4, \
         last_error = $5, delivered_at = CASE WHEN $1 = 'DELIVERED' THEN $6 ELSE delivered_at END WHERE id = $7",
    )
    .bind(status)
    .bind(attempts)
    .bind(next)
    .bind(code)
    .bind(if delivered { None } else { error })
    .bind(now)
    .bind(delivery_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if status == "DEAD" {
        tracing::warn!(event = %event_id, attempts, "webhook delivery dead-lettered");
    }
    Ok(())
}
