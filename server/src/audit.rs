//! The audit log: who did what to what, when, and why.
use crate::{db::Db, now_ms, users::ConsoleUser, Error};

pub struct Entry {
    actor_user_id: Option<i64>,
    actor: String,
    action: &'static str,
    target: Option<(&'static str, String)>,
    project_id: Option<i64>,
    ip: Option<String>,
}

impl Entry {
    pub fn by(user: &ConsoleUser, action: &'static str) -> Entry {
        Entry::new(Some(user.id), user.username.clone(), action)
    }

    /// An action without a signed-in user (a failed sign-in, a command-line tool).
    pub fn anonymous(actor: &str, action: &'static str) -> Entry {
        Entry::new(None, actor.to_string(), action)
    }

    fn new(actor_user_id: Option<i64>, actor: String, action: &'static str) -> Entry {
        Entry { actor_user_id, actor, action, target: None, project_id: None, ip: None }
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Entry {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn project(mut self, id: i64) -> Entry {
        self.project_id = Some(id);
        self
    }

    pub fn ip(mut self, ip: Option<std::net::IpAddr>) -> Entry {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }
}

pub async fn record(db: &Db, entry: Entry) -> Result<(), Error> {
    let (target_type, target_id) = match entry.target {
        Some((kind, id)) => (Some(kind), Some(id)),
        None => (None, None),
    };
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor, action, target_type, target_id, project_id, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(entry.actor_user_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(target_type)
    .bind(target_id)
    .bind(entry.project_id)
    .bind(entry.ip)
    .execute(db.pool())
    .await?;
    Ok(())
}
