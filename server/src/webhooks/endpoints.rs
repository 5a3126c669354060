//! A project's webhook endpoints as the console manages them: their URLs (checked at every
//! delivery too), the event types each takes, their signing secrets (rotated with a grace period,
//! `rotation`), and what was delivered to them.
use model::{DeliveryRow, WebhookEndpointView, Webhooks};
use sqlx::Row;

use super::{signing, EventType};
use crate::{
    crypto::{Cipher, Column},
    db::Db,
    now_ms, rotation, Error,
};

/// A URL the server may deliver to: checked again at every delivery, when its name is resolved.
fn validate_url<'a>(http: &crate::outbound::Http, url: &'a str) -> Result<&'a str, Error> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| Error::Invalid("the endpoint is a full URL".into()))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() || url.len() > 2000 {
        return Err(Error::Invalid("the endpoint is an http(s) URL".into()));
    }
    http.check(&parsed).map_err(|refused| Error::Invalid(format!("the endpoint is not called: {refused}")))?;
    Ok(url)
}

/// `*` or a comma-separated list of known event types.
fn validate_event_types(types: &str) -> Result<String, Error> {
    let types: Vec<&str> = types.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if types.is_empty() || types == ["*"] {
        return Ok("*".into());
    }
    for t in &types {
        if !EventType::ALL.iter().any(|e| e.as_str() == *t) {
            return Err(Error::Invalid(format!("unknown event type {t}")));
        }
    }
    Ok(types.join(","))
}

/// Adds an endpoint; returns its id and its signing secret, shown once.
pub async fn create(
    db: &Db,
    cipher: &Cipher,
    http: &crate::outbound::Http,
    project_id: i64,
    url: &str,
    event_types: &str,
    audit: impl FnOnce(i64) -> crate::audit::Entry,
) -> Result<(i64, String), Error> {
    let url = validate_url(http, url)?;
    let types = validate_event_types(event_types)?;
    let secret = signing::new_secret();
    let now = now_ms();
    // Inserted only for a project that exists: nothing is written for a wrong id. The secret is
    // sealed to the endpoint's id, known once the row is.
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (project_id, url, event_types, enabled, secret_enc, created_at, updated_at) \
         SELECT id, $2, $3, 1, '', $4, $4 FROM projects WHERE id = $1 RETURNING id",
    )
    .bind(project_id)
    .bind(url)
    .bind(types)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    sqlx::query("UPDATE webhook_endpoints SET secret_enc = $1 WHERE id = $2")
        .bind(cipher.encrypt(Column::WebhookSecret, &id.to_string(), &secret))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_in(&mut tx, audit(id)).await?;
    tx.commit().await?;
    Ok((id, secret))
}

/// The project an endpoint belongs to, for permission and audit.
pub async fn project_of(db: &Db, endpoint_id: i64) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT project_id FROM webhook_endpoints WHERE id = $1")
        .bind(endpoint_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(Error::NotFound)
}

/// A new signing secret; deliveries are signed with both until `grace_hours` have passed.
/// `audit` is written in the same transaction.
pub async fn rotate_secret(
    db: &Db,
    cipher: &Cipher,
    endpoint_id: i64,
    grace_hours: i64,
    audit: crate::audit::Entry,
) -> Result<String, Error> {
    let now = now_ms();
    let until = rotation::previous_valid_until(grace_hours, now)?;
    let secret = signing::new_secret();
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_enc = CASE WHEN $1 IS NULL THEN NULL ELSE secret_enc END, \
         previous_secret_expires_at = $1, secret_enc = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(until)
    .bind(cipher.encrypt(Column::WebhookSecret, &endpoint_id.to_string(), &secret))
    .bind(now)
    .bind(endpoint_id)
    .execute(&mut *tx)
    .await?;
    crate::audit::commit_one(tx, updated.rows_affected(), audit).await?;
    Ok(secret)
}

/// Turns deliveries to the endpoint on or off, with `audit`, in one transaction.
pub async fn set_enabled(db: &Db, endpoint_id: i64, enabled: bool, audit: crate::audit::Entry) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query("UPDATE webhook_endpoints SET enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now_ms())
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
    crate::audit::commit_one(tx, updated.rows_affected(), audit).await
}

/// The webhook section of a project page: endpoints, the latest deliveries and the dead letters.
pub async fn overview(db: &Db, project_id: i64) -> Result<Webhooks, Error> {
    Ok(Webhooks {
        endpoints: endpoints(db, project_id).await?,
        deliveries: deliveries(db, project_id, false, 50).await?,
        dead_letters: deliveries(db, project_id, true, 50).await?,
    })
}

pub async fn endpoints(db: &Db, project_id: i64) -> Result<Vec<WebhookEndpointView>, Error> {
    let rows = sqlx::query(
        "SELECT e.id, e.url, e.event_types, e.enabled, e.previous_secret_expires_at, \
           (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'DELIVERED') AS delivered, \
           (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'PENDING') AS pending, \
           (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'DEAD') AS dead \
         FROM webhook_endpoints e WHERE e.project_id = $1 ORDER BY e.id",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    let now = now_ms();
    rows.iter()
        .map(|r| {
            Ok(WebhookEndpointView {
                id: r.try_get("id")?,
                url: r.try_get("url")?,
                event_types: r.try_get("event_types")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                previous_secret_valid_until: rotation::valid_until(r.try_get("previous_secret_expires_at")?, now),
                delivered: r.try_get("delivered")?,
                pending: r.try_get("pending")?,
                dead: r.try_get("dead")?,
            })
        })
        .collect()
}

/// The project's latest deliveries (or only the dead letters), newest first.
pub async fn deliveries(db: &Db, project_id: i64, dead_only: bool, limit: i64) -> Result<Vec<DeliveryRow>, Error> {
    // The next attempt is shown only while one is coming.
    Ok(sqlx::query_as::<_, DeliveryRow>(&format!(
        "SELECT ev.event_id, ev.event_type, ev.user_id, d.endpoint_id AS endpoint, d.status, d.attempts, \
         d.last_status_code, d.last_error, d.delivered_at, \
         CASE WHEN d.status = 'PENDING' THEN d.next_attempt_at END AS next_attempt_at, ev.created_at \
         FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
         WHERE ev.project_id = $1 {} ORDER BY d.id DESC LIMIT {limit}",
        if dead_only { "AND d.status = 'DEAD'" } else { "" }
    ))
    .bind(project_id)
    .fetch_all(db.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_lists_are_checked_and_normalised() {
        assert_eq!(validate_event_types(" ").unwrap(), "*");
        assert_eq!(validate_event_types("payment.refunded , abuse.flagged").unwrap(), "payment.refunded,abuse.flagged");
        assert!(validate_event_types("payment.stolen").is_err());
    }
}
