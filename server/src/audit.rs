//! The audit log: who did what to what, when, and why.
use model::{AuditPage, AuditQuery, AuditRow};
use sqlx::{Any, Row, Transaction};

use crate::{
    db::{
        sql::{day_start_ms, Sql},
        Db,
    },
    now_ms, Error,
};

const PAGE_SIZE: i64 = 100;

pub struct Entry {
    actor_user_id: Option<i64>,
    actor: String,
    action: &'static str,
    target: Option<(&'static str, String)>,
    project_id: Option<i64>,
    reason: Option<String>,
    detail: Option<String>,
    ip: Option<String>,
}

impl Entry {
    /// An action of the signed-in console user `user_id`, named `username` in the log.
    pub fn by(user_id: i64, username: &str, action: &'static str) -> Entry {
        Entry::new(Some(user_id), username.to_string(), action)
    }

    /// An action without a signed-in user (a failed sign-in, a command-line tool).
    pub fn anonymous(actor: &str, action: &'static str) -> Entry {
        Entry::new(None, actor.to_string(), action)
    }

    fn new(actor_user_id: Option<i64>, actor: String, action: &'static str) -> Entry {
        Entry { actor_user_id, actor, action, target: None, project_id: None, reason: None, detail: None, ip: None }
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Entry {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn project(mut self, id: i64) -> Entry {
        self.project_id = Some(id);
        self
    }

    /// Why the person did it, in their words.
    pub fn reason(mut self, reason: &str) -> Entry {
        self.reason = Some(reason.to_string());
        self
    }

    /// What changed, e.g. `role VIEWER → SUPPORT`; never a secret.
    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = Some(detail.into());
        self
    }

    pub fn ip(mut self, ip: Option<std::net::IpAddr>) -> Entry {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }
}

pub async fn record(db: &Db, entry: Entry) -> Result<(), Error> {
    insert(db.pool(), entry).await
}

/// Records `entry` in the transaction of the change it describes, so neither exists without the other.
pub async fn record_in(tx: &mut Transaction<'static, Any>, entry: Entry) -> Result<(), Error> {
    insert(&mut **tx, entry).await
}

/// Commits `tx`, whose one-row change touched `changed` rows, with `entry` written in it; a change
/// that found no row is `NotFound`, and nothing of it is kept.
pub async fn commit_one(mut tx: Transaction<'static, Any>, changed: u64, entry: Entry) -> Result<(), Error> {
    if changed == 0 {
        return Err(Error::NotFound);
    }
    record_in(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert<'e>(executor: impl sqlx::Executor<'e, Database = Any>, entry: Entry) -> Result<(), Error> {
    let (target_type, target_id) = match entry.target {
        Some((kind, id)) => (Some(kind), Some(id)),
        None => (None, None),
    };
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor, action, target_type, target_id, project_id, reason, detail, \
         ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now_ms())
    .bind(entry.actor_user_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(target_type)
    .bind(target_id)
    .bind(entry.project_id)
    .bind(entry.reason)
    .bind(entry.detail)
    .bind(entry.ip)
    .execute(executor)
    .await?;
    Ok(())
}

/// One page of the log, newest first, by keyset on (time, id).
pub async fn search(db: &Db, query: &AuditQuery) -> Result<AuditPage, Error> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let mut sql =
        Sql::new("SELECT id, at, actor, action, target_type, target_id, reason, detail, ip FROM audit_log WHERE 1 = 1");
    if let Some(actor) = text(&query.actor) {
        sql.push(" AND actor = ").push_bind(actor);
    }
    if let Some(action) = text(&query.action) {
        sql.push(" AND action = ").push_bind(action);
    }
    if let Some(from) = text(&query.from) {
        sql.push(" AND at >= ").push_bind(day_start_ms(&from, "from")?);
    }
    if let Some(to) = text(&query.to) {
        sql.push(" AND at < ").push_bind(day_start_ms(&to, "to")? + 86_400_000);
    }
    if let Some(cursor) = text(&query.after) {
        let unreadable = || Error::Invalid("unreadable page cursor".into());
        let (at, id) = cursor.split_once('.').ok_or_else(unreadable)?;
        let (at, id): (i64, i64) = (at.parse().map_err(|_| unreadable())?, id.parse().map_err(|_| unreadable())?);
        sql.push(" AND (at < ")
            .push_bind(at)
            .push(" OR (at = ")
            .push_bind(at)
            .push(" AND id < ")
            .push_bind(id)
            .push("))");
    }
    sql.push(format!(" ORDER BY at DESC, id DESC LIMIT {}", PAGE_SIZE + 1));
    let rows = sql.build().fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let mut page = Vec::new();
    let mut last = None;
    for row in rows.iter().take(PAGE_SIZE as usize) {
        let at: i64 = row.try_get("at")?;
        last = Some(format!("{at}.{}", row.try_get::<i64, _>("id")?));
        let target =
            match (row.try_get::<Option<String>, _>("target_type")?, row.try_get::<Option<String>, _>("target_id")?) {
                (Some(kind), Some(id)) => Some(format!("{kind} {id}")),
                (Some(kind), None) => Some(kind),
                _ => None,
            };
        page.push(AuditRow {
            at,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target,
            reason: row.try_get("reason")?,
            detail: row.try_get("detail")?,
            ip: row.try_get("ip")?,
        });
    }
    Ok(AuditPage { rows: page, next: if more { last } else { None } })
}
