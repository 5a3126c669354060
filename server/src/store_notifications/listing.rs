//! The inbox as support reads it: store notifications newest first, filtered and paged by keyset,
//! and the one change support makes to it: processing a notification again.
use std::collections::HashMap;

use model::{NotificationPage, NotificationQuery, NotificationRow, Store};
use sqlx::FromRow;

use crate::{
    db::sql::day_start_ms,
    db::{sql::Sql, Db},
    now_ms, Error,
};

pub const PAGE_SIZE: i64 = 50;

const STATUSES: [&str; 4] = ["RECEIVED", "PROCESSED", "IGNORED", "FAILED"];

/// A notification with its app, project and payment, as the inbox query reads it.
#[derive(FromRow)]
struct Listed {
    id: i64,
    store: String,
    project: Option<String>,
    app_name: Option<String>,
    notification_type: Option<String>,
    subtype: Option<String>,
    status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    payment_seq: Option<String>,
    received_at: i64,
    processed_at: Option<i64>,
    purchase_ref: Option<String>,
    authenticated: i64,
    covered_by: Option<i64>,
    recovered_at: Option<i64>,
    body: String,
    body_pruned_at: Option<i64>,
}

impl Listed {
    fn into_dto(self) -> NotificationRow {
        let pruned = self.body_pruned_at.is_some() || self.body.is_empty();
        NotificationRow {
            id: self.id,
            store: self.store,
            project: self.project,
            app_name: self.app_name,
            notification_type: self.notification_type,
            subtype: self.subtype,
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            payment_seq: self.payment_seq,
            received_at: self.received_at,
            processed_at: self.processed_at,
            purchase_ref: self.purchase_ref,
            authenticated: self.authenticated != 0,
            covered_by: self.covered_by,
            recovered_at: self.recovered_at,
            body: (!pruned).then_some(self.body),
            body_pruned_at: self.body_pruned_at,
        }
    }
}

const LISTED: &str = "SELECT n.id, n.store, pr.name AS project, a.name AS app_name, n.notification_type, \
     n.subtype, n.status, n.attempts, n.next_attempt_at, n.last_error, p.payment_seq, n.received_at, n.processed_at, \
     n.purchase_ref, n.authenticated, n.covered_by, n.recovered_at, n.body, n.body_pruned_at \
     FROM store_notifications n LEFT JOIN store_apps a ON a.id = n.store_app_id \
     LEFT JOIN projects pr ON pr.id = a.project_id LEFT JOIN payments p ON p.id = n.payment_id WHERE 1 = 1";

/// The most notifications the payment page lists.
const ABOUT_PAYMENT: i64 = 200;

/// The notifications about the purchase of payment `payment_seq` (its token, transaction or
/// original transaction), or that changed it, oldest first; the raw bodies stay in the inbox.
pub async fn about_payment(db: &Db, payment_seq: &str) -> Result<Vec<NotificationRow>, Error> {
    let payment: Option<(i64, i64, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, store_app_id, purchase_token, original_payment_id, payment_id FROM payments WHERE payment_seq = $1",
    )
    .bind(payment_seq)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, app, token, original, transaction)) = payment else { return Ok(Vec::new()) };
    let mut sql = Sql::new(LISTED);
    sql.push(" AND n.store_app_id = ").push_bind(app);
    sql.push(" AND (n.payment_id = ").push_bind(id);
    for reference in [token, original, transaction].into_iter().flatten() {
        sql.push(" OR n.purchase_ref = ").push_bind(reference);
    }
    sql.push(format!(") ORDER BY n.id LIMIT {ABOUT_PAYMENT}"));
    let rows = sql.build().fetch_all(db.pool()).await?;
    rows.iter().map(|row| Ok(NotificationRow { body: None, ..Listed::from_row(row)?.into_dto() })).collect()
}

/// One page of the inbox matching `query`, newest first. A notification that named no store app
/// of ours belongs to no project: it is listed only when no project is asked for.
pub async fn list(db: &Db, query: &NotificationQuery) -> Result<NotificationPage, Error> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let mut sql = Sql::new(LISTED);
    if let Some(project) = query.project {
        sql.push(" AND a.project_id = ").push_bind(project);
    }
    if let Some(code) = text(&query.store) {
        let store = Store::parse(&code).ok_or_else(|| Error::Invalid(format!("unknown store {code}")))?;
        sql.push(" AND n.store = ").push_bind(store.code());
    }
    if let Some(status) = text(&query.status) {
        let status = STATUSES
            .into_iter()
            .find(|known| *known == status)
            .ok_or_else(|| Error::Invalid(format!("unknown status {status}")))?;
        sql.push(" AND n.status = ").push_bind(status);
    }
    if let Some(since) = text(&query.since) {
        sql.push(" AND n.received_at >= ").push_bind(day_start_ms(&since, "since")?);
    }
    if let Some(cursor) = text(&query.after) {
        let after: i64 = cursor.parse().map_err(|_| Error::Invalid("unreadable page cursor".into()))?;
        sql.push(" AND n.id < ").push_bind(after);
    }
    // Ids grow with arrival, so the newest first is the highest id first, and the id alone is the cursor.
    sql.push(format!(" ORDER BY n.id DESC LIMIT {}", PAGE_SIZE + 1));
    let rows = sql.build().fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let rows = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|row| Ok(Listed::from_row(row)?.into_dto()))
        .collect::<Result<Vec<_>, Error>>()?;
    let next = if more { rows.last().map(|r| r.id.to_string()) } else { None };
    Ok(NotificationPage { rows, next })
}

/// Makes notification `id` due for processing now: a finished one (PROCESSED, IGNORED) waits
/// again, a waiting or failed one is tried at once, and none counts as answered by another's
/// look-up any more. Returns whether there is such a notification.
pub async fn requeue(db: &Db, id: i64) -> Result<bool, Error> {
    let changed = sqlx::query(
        "UPDATE store_notifications SET status = CASE WHEN status IN ('PROCESSED', 'IGNORED') THEN 'RECEIVED' \
         ELSE status END, next_attempt_at = $1, covered_by = NULL WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// What the audit log says about a notification: its store, kind, status and project.
pub struct Summary {
    pub store: String,
    pub kind: Option<String>,
    pub status: String,
    /// `None` when it named no store app of ours.
    pub project_id: Option<i64>,
}

pub async fn summary(db: &Db, id: i64) -> Result<Option<Summary>, Error> {
    let row: Option<(String, Option<String>, String, Option<i64>)> = sqlx::query_as(
        "SELECT n.store, n.notification_type, n.status, a.project_id FROM store_notifications n \
         LEFT JOIN store_apps a ON a.id = n.store_app_id WHERE n.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(store, kind, status, project_id)| Summary { store, kind, status, project_id }))
}

/// When the last notification of each of the project's store apps arrived, by store app id; an
/// app that never had one is absent.
pub async fn last_received(db: &Db, project_id: i64) -> Result<HashMap<i64, i64>, Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT n.store_app_id, MAX(n.received_at) FROM store_notifications n \
         JOIN store_apps a ON a.id = n.store_app_id WHERE a.project_id = $1 GROUP BY n.store_app_id",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().collect())
}
