//! Sending chosen events again: one event, a time range or one user's, to every enabled endpoint
//! of the project that takes them.
use sqlx::Row;

use super::wants;
use crate::{db::Db, now_ms, Error};

/// Which events to send again.
pub enum Which<'a> {
    Event(&'a str),
    /// Events created in `[from, to)`, epoch ms.
    Range(i64, i64),
    User(&'a str),
}

/// The most events one replay sends again; a larger range is replayed in parts.
const REPLAY_LIMIT: i64 = 10_000;
/// Events scheduled per transaction, so a large replay never holds the SQLite writer for long.
const CHUNK: usize = 500;

/// Sends the chosen events again to every enabled endpoint of the project that takes them, as new
/// deliveries from the first attempt (delivered ones included: a replay is asked for on purpose).
/// Returns how many deliveries were scheduled.
pub async fn schedule(db: &Db, project_id: i64, which: Which<'_>) -> Result<usize, Error> {
    let mut sql = crate::db::sql::Sql::new("SELECT id, event_type FROM webhook_events WHERE project_id = ");
    sql.push_bind(project_id);
    match which {
        Which::Event(event_id) => {
            sql.push(" AND event_id = ").push_bind(event_id.trim());
        }
        Which::Range(from, to) => {
            sql.push(" AND created_at >= ").push_bind(from).push(" AND created_at < ").push_bind(to);
        }
        Which::User(user) => {
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
    let mut scheduled = 0;
    for chunk in events.chunks(CHUNK) {
        let mut tx = db.begin_write().await?;
        for (event, event_type) in chunk {
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
    }
    Ok(scheduled)
}
