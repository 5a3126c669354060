//! Outbound webhooks. This module is the outbox: every state change the app's server should hear
//! about becomes an event, written in the transaction of the change itself, with one delivery row
//! per endpoint that wants it. [`delivery`] sends them, signed ([`signing`]), until each endpoint
//! answers 2xx or the retries run out; [`endpoints`] are the project's receivers as the console
//! manages them; [`replay`] sends chosen events again.
pub mod delivery;
pub mod endpoints;
pub mod replay;
pub mod signing;

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use sqlx::{Any, Row, Transaction};

use crate::{
    crypto,
    db::sql::{ArgValue, Sql},
    now_ms, Error,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_takes_the_types_it_lists_or_all_with_a_star() {
        assert!(wants("*", "payment.refunded"));
        assert!(wants("payment.succeeded, payment.refunded", "payment.refunded"));
        assert!(!wants("payment.succeeded", "payment.refunded"));
    }
}
