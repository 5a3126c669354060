//! Outbound webhooks: every state change the app's server should hear about becomes an event in a
//! durable outbox, written in the transaction of the change itself, with one delivery row per
//! endpoint that wants it. [`delivery`] sends them, signed ([`signing`]), until each endpoint
//! answers 2xx or the retries run out.
pub mod delivery;
pub mod signing;

use std::collections::{BTreeMap, HashMap};

use app::model::{DeliveryRow, WebhookEndpointView, Webhooks};
use serde_json::{json, Value};
use sqlx::{Any, Row, Transaction};

use crate::{
    crypto::{self, Cipher, Column},
    db::{
        sql::{ArgValue, Sql},
        Db,
    },
    now_ms,
    payments::{Payment, COLUMNS},
    Error,
};

/// The version of the event payload's shape; a new shape gets a new number.
pub const PAYLOAD_VERSION: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PaymentSucceeded,
    /// The store reported a purchase no verify had recorded: it waits for its buyer's verify.
    PaymentUnclaimed,
    PaymentConsumed,
    /// Refunded, voided or revoked; `alreadyConsumed` says whether the item must be clawed back.
    PaymentRefunded,
    /// The store took a refund back: the payment is SUCCESS again.
    PaymentRefundReversed,
    SubscriptionRenewed,
    SubscriptionCancelled,
    SubscriptionInGrace,
    SubscriptionOnHold,
    SubscriptionExpired,
    SubscriptionRevoked,
    AbuseFlagged,
    /// A parent withdrew consent for a minor's use of the app (Apple `RESCIND_CONSENT`).
    ConsentRescinded,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::PaymentSucceeded,
        EventType::PaymentUnclaimed,
        EventType::PaymentConsumed,
        EventType::PaymentRefunded,
        EventType::PaymentRefundReversed,
        EventType::SubscriptionRenewed,
        EventType::SubscriptionCancelled,
        EventType::SubscriptionInGrace,
        EventType::SubscriptionOnHold,
        EventType::SubscriptionExpired,
        EventType::SubscriptionRevoked,
        EventType::AbuseFlagged,
        EventType::ConsentRescinded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentUnclaimed => "payment.unclaimed",
            EventType::PaymentConsumed => "payment.consumed",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::PaymentRefundReversed => "payment.refund_reversed",
            EventType::SubscriptionRenewed => "subscription.renewed",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::SubscriptionInGrace => "subscription.in_grace",
            EventType::SubscriptionOnHold => "subscription.on_hold",
            EventType::SubscriptionExpired => "subscription.expired",
            EventType::SubscriptionRevoked => "subscription.revoked",
            EventType::AbuseFlagged => "abuse.flagged",
            EventType::ConsentRescinded => "consent.rescinded",
        }
    }

    /// The event a subscription state (as payments record it, see
    /// [`crate::payments::verify::subscription_state_name`]) is reported as, if any.
    pub fn for_subscription_state(state: &str) -> Option<EventType> {
        match state {
            "CANCELED" => Some(EventType::SubscriptionCancelled),
            "IN_GRACE_PERIOD" => Some(EventType::SubscriptionInGrace),
            "ON_HOLD" => Some(EventType::SubscriptionOnHold),
            "EXPIRED" => Some(EventType::SubscriptionExpired),
            "REVOKED" => Some(EventType::SubscriptionRevoked),
            _ => None,
        }
    }
}

/// Whether an endpoint's comma-separated `event_types` (or `*`) takes `event`.
fn wants(event_types: &str, event: &str) -> bool {
    event_types.split(',').map(str::trim).any(|t| t == "*" || t == event)
}

/// Writes an event about one payment to the outbox, in `tx`: the payment as it is after the change
/// (read inside the transaction), with `extra` fields added to its data.
pub async fn emit_for_payment(
    tx: &mut Transaction<'static, Any>,
    event: EventType,
    payment_id: i64,
    extra: Value,
) -> Result<(), Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(payment_id)
        .fetch_one(&mut **tx)
        .await?;
    let payment = Payment::from_row(&row)?;
    emit_all(tx, vec![payment_event(event, &payment, extra)]).await
}

/// The event about `payment`, as it is after the change, with `extra` fields added to its data.
pub fn payment_event(event: EventType, payment: &Payment, extra: Value) -> NewEvent<'_> {
    let mut data = payment_data(payment);
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    NewEvent {
        project_id: payment.project_id,
        event,
        user_id: Some(&payment.user_id),
        payment_id: Some(payment.id),
        data,
    }
}

fn payment_data(p: &Payment) -> Value {
    json!({
        "paymentSeq": p.payment_seq,
        "storeCode": p.store.code(),
        "productId": p.store_product_id,
        "productSeq": p.product_seq,
        "productType": p.product_type.as_str(),
        "status": p.status.as_str(),
        "price": p.price_micros.map(|m| m as f64 / 1e6),
        "currency": p.currency,
        "paymentId": p.payment_id,
        "originalPaymentId": p.original_payment_id,
        "purchaseTime": p.purchase_time,
        "expiryTime": p.expiry_time,
        "subscriptionState": p.subscription_state,
        "consumed": p.consumed,
        "isTestPurchase": p.sandbox,
    })
}

/// An event to write to the outbox.
pub struct NewEvent<'a> {
    pub project_id: i64,
    pub event: EventType,
    pub user_id: Option<&'a str>,
    pub payment_id: Option<i64>,
    pub data: Value,
}

/// Writes one event, numbered in its user's sequence, and a pending delivery for each enabled
/// endpoint of the project that takes its type.
pub async fn emit(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    event: EventType,
    user_id: Option<&str>,
    payment_id: Option<i64>,
    data: Value,
) -> Result<(), Error> {
    emit_all(tx, vec![NewEvent { project_id, event, user_id, payment_id, data }]).await
}

/// Writes `events` as [`emit`] does, in four statements however many there are: the users'
/// sequence numbers, the events, their projects' endpoints, the deliveries.
pub async fn emit_all(tx: &mut Transaction<'static, Any>, events: Vec<NewEvent<'_>>) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let user_seqs = next_user_seqs(tx, &events).await?;
    let timestamp = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().to_rfc3339();
    let ids: Vec<String> = events.iter().map(|_| format!("evt_{}", crypto::random_code(24))).collect();
    let mut sql = Sql::new(
        "INSERT INTO webhook_events (event_id, project_id, event_type, user_id, user_seq, payment_id, payload, \
         created_at) VALUES ",
    );
    sql.push_rows(events.iter().zip(&ids).zip(&user_seqs).map(|((e, id), user_seq)| {
        let payload = json!({
            "id": id,
            "type": e.event.as_str(),
            "version": PAYLOAD_VERSION,
            "timestamp": timestamp,
            "userId": e.user_id,
            "userSeq": user_seq,
            "data": e.data,
        });
        vec![
            id.as_str().into(),
            e.project_id.into(),
            e.event.as_str().into(),
            e.user_id.into(),
            (*user_seq).into(),
            e.payment_id.into(),
            payload.to_string().into(),
            now.into(),
        ]
    }));
    sql.push(" RETURNING id, event_id");
    // RETURNING promises no order: match the rows back by event id.
    let stored: HashMap<String, i64> =
        sql.build().fetch_all(&mut **tx).await?.iter().map(|row| (row.get("event_id"), row.get("id"))).collect();
    let mut projects: Vec<i64> = events.iter().map(|e| e.project_id).collect();
    projects.sort_unstable();
    projects.dedup();
    let mut sql =
        Sql::new("SELECT id, project_id, event_types FROM webhook_endpoints WHERE enabled = 1 AND project_id IN (");
    for (i, project) in projects.into_iter().enumerate() {
        sql.push(if i == 0 { "" } else { ", " }).push_bind(project);
    }
    sql.push(")");
    let endpoints: Vec<(i64, i64, String)> = sql
        .build()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| (r.get("id"), r.get("project_id"), r.get("event_types")))
        .collect();
    let deliveries: Vec<Vec<ArgValue>> = events
        .iter()
        .zip(&ids)
        .flat_map(|(e, id)| {
            let event_id = stored[id];
            endpoints
                .iter()
                .filter(move |(_, project, types)| *project == e.project_id && wants(types, e.event.as_str()))
                .map(move |(endpoint, _, _)| {
                    vec![event_id.into(), (*endpoint).into(), "PENDING".into(), 0.into(), now.into(), now.into()]
                })
        })
        .collect();
    if !deliveries.is_empty() {
        let mut sql = Sql::new(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at, created_at) VALUES ",
        );
        sql.push_rows(deliveries);
        sql.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The next number in each event's user sequence (gap-free per user), taken for all events in one
/// upsert; rows are locked in (project, user) order, as every writer takes them.
async fn next_user_seqs(
    tx: &mut Transaction<'static, Any>,
    events: &[NewEvent<'_>],
) -> Result<Vec<Option<i64>>, Error> {
    let mut counts: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for e in events {
        if let Some(user) = e.user_id {
            *counts.entry((e.project_id, user)).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(vec![None; events.len()]);
    }
    let mut sql = Sql::new("INSERT INTO user_event_sequences (project_id, user_id, last_seq) VALUES ");
    sql.push_rows(counts.iter().map(|((project, user), n)| vec![(*project).into(), (*user).into(), (*n).into()]));
    sql.push(
        " ON CONFLICT (project_id, user_id) DO UPDATE SET last_seq = user_event_sequences.last_seq + excluded.last_seq \
         RETURNING project_id, user_id, last_seq",
    );
    let mut next: HashMap<(i64, String), i64> = HashMap::new();
    for row in sql.build().fetch_all(&mut **tx).await? {
        let (project, user, last): (i64, String, i64) =
            (row.get("project_id"), row.get("user_id"), row.get("last_seq"));
        let first = last - counts[&(project, user.as_str())] + 1;
        next.insert((project, user), first);
    }
    Ok(events
        .iter()
        .map(|e| {
            let user = e.user_id?;
            let seq = next.get_mut(&(e.project_id, user.to_string()))?;
            *seq += 1;
            Some(*seq - 1)
        })
        .collect())
}

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
pub async fn create_endpoint(
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
    if !(0..=crate::projects::MAX_GRACE_HOURS).contains(&grace_hours) {
        return Err(Error::Invalid(format!("the grace period is 0 to {} hours", crate::projects::MAX_GRACE_HOURS)));
    }
    let secret = signing::new_secret();
    let now = now_ms();
    let until = (grace_hours > 0).then(|| now + grace_hours * 3_600_000);
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
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    crate::audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(secret)
}

/// Turns deliveries to the endpoint on or off, with `audit`, in one transaction.
pub async fn set_enabled(db: &Db, endpoint_id: i64, enabled: bool, audit: crate::audit::Entry) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE webhook_endpoints SET enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now_ms())
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
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
                previous_secret_valid_until: r
                    .try_get::<Option<i64>, _>("previous_secret_expires_at")?
                    .filter(|t| *t > now),
                delivered: r.try_get("delivered")?,
                pending: r.try_get("pending")?,
                dead: r.try_get("dead")?,
            })
        })
        .collect()
}

/// The project's latest deliveries (or only the dead letters), newest first.
pub async fn deliveries(db: &Db, project_id: i64, dead_only: bool, limit: i64) -> Result<Vec<DeliveryRow>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT d.id, ev.event_id, ev.event_type, ev.user_id, d.endpoint_id, d.status, d.attempts, \
         d.last_status_code, d.last_error, d.delivered_at, d.next_attempt_at, ev.created_at \
         FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
         WHERE ev.project_id = $1 {} ORDER BY d.id DESC LIMIT {limit}",
        if dead_only { "AND d.status = 'DEAD'" } else { "" }
    ))
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(DeliveryRow {
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("event_type")?,
                user_id: r.try_get("user_id")?,
                endpoint: r.try_get("endpoint_id")?,
                next_attempt_at: if status == "PENDING" { r.try_get("next_attempt_at")? } else { None },
                status,
                attempts: r.try_get("attempts")?,
                last_status_code: r.try_get::<Option<i64>, _>("last_status_code")?,
                last_error: r.try_get("last_error")?,
                delivered_at: r.try_get("delivered_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Which events to send again.
pub enum Replay<'a> {
    Event(&'a str),
    /// Events created in `[from, to)`, epoch ms.
    Range(i64, i64),
    User(&'a str),
}

/// The most events one replay sends again; a larger range is replayed in parts.
const REPLAY_LIMIT: i64 = 10_000;

/// Sends the chosen events again to every enabled endpoint of the project that takes them, as new
/// deliveries from the first attempt (delivered ones included: a replay is asked for on purpose).
/// Returns how many deliveries were scheduled.
pub async fn replay(db: &Db, project_id: i64, which: Replay<'_>) -> Result<usize, Error> {
    let mut sql = crate::db::sql::Sql::new("SELECT id, event_type FROM webhook_events WHERE project_id = ");
    sql.push_bind(project_id);
    match which {
        Replay::Event(event_id) => {
            sql.push(" AND event_id = ").push_bind(event_id.trim());
        }
        Replay::Range(from, to) => {
            sql.push(" AND created_at >= ").push_bind(from).push(" AND created_at < ").push_bind(to);
        }
        Replay::User(user) => {
            sql.push(" AND user_id = ").push_bind(user.trim());
        }
    }
    sql.push(format!(" ORDER BY id LIMIT {REPLAY_LIMIT}"));
    let events: Vec<(i64, String)> = sql
        .build()
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let endpoints: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, event_types FROM webhook_endpoints WHERE project_id = $1 AND enabled = 1")
            .bind(project_id)
            .fetch_all(db.pool())
            .await?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let mut scheduled = 0;
    for (event, event_type) in &events {
        for (endpoint, _) in endpoints.iter().filter(|(_, types)| wants(types, event_type)) {
            sqlx::query(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, 'PENDING', 0, $3, $3) ON CONFLICT (event_id, endpoint_id) DO UPDATE SET \
                 status = 'PENDING', attempts = 0, next_attempt_at = $3, delivered_at = NULL",
            )
            .bind(event)
            .bind(endpoint)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            scheduled += 1;
        }
    }
    tx.commit().await?;
    Ok(scheduled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_takes_the_types_it_lists_or_all_with_a_star() {
        assert!(wants("*", "payment.refunded"));
        assert!(wants("payment.succeeded, payment.refunded", "payment.refunded"));
        assert!(!wants("payment.succeeded", "payment.refunded"));
    }

    #[test]
    fn event_type_lists_are_checked_and_normalised() {
        assert_eq!(validate_event_types(" ").unwrap(), "*");
        assert_eq!(validate_event_types("payment.refunded , abuse.flagged").unwrap(), "payment.refunded,abuse.flagged");
        assert!(validate_event_types("payment.stolen").is_err());
    }
}
