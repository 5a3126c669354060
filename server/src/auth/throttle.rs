//! Sign-in throttling, kept in the database so every instance sees the same counts.
//!
//! Failures are counted per username and per client address within a window. Reaching the limit
//! locks that key until the lockout ends; the per-address limit is higher, so one attacker cannot
//! lock a user out from everywhere, and a username cannot be guessed from many addresses.
use sqlx::Row;

use crate::{config::LoginSettings, db::Db, now_ms, Error};

pub struct Keys {
    user: String,
    ip: Option<String>,
}

impl Keys {
    pub fn new(username: &str, ip: Option<std::net::IpAddr>) -> Keys {
        Keys {
            user: format!("user:{}", crate::users::normalize_username(username)),
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.user.as_str()).chain(self.ip.as_deref())
    }
}

/// Seconds until the first of the keys is unlocked, if any is locked now.
pub async fn locked_for(db: &Db, keys: &Keys) -> Result<Option<u64>, Error> {
    let now = now_ms();
    let mut longest = None;
    for key in keys.all() {
        let until: Option<Option<i64>> =
            sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE throttle_key = $1")
                .bind(key)
                .fetch_optional(db.pool())
                .await?;
        if let Some(Some(until)) = until {
            if until > now {
                let secs = ((until - now) as u64).div_ceil(1000);
                longest = Some(longest.map_or(secs, |l: u64| l.max(secs)));
            }
        }
    }
    Ok(longest)
}

/// Counts one failure against every key; returns the lockout in seconds if this failure caused one.
pub async fn record_failure(db: &Db, keys: &Keys, limits: &LoginSettings) -> Result<Option<u64>, Error> {
    let now = now_ms();
    let window = limits.window_secs * 1000;
    let mut locked = None;
    let mut tx = db.begin_write().await?;
    for key in keys.all() {
        let limit = if key.starts_with("user:") { limits.max_user_failures } else { limits.max_ip_failures } as i64;
        let row = sqlx::query("SELECT failures, window_started_at FROM login_throttle WHERE throttle_key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let (failures, started) = match row {
            Some(row) => {
                let failures: i32 = row.try_get("failures")?;
                let started: i64 = row.try_get("window_started_at")?;
                if now - started > window {
                    (1, now)
                } else {
                    (failures as i64 + 1, started)
                }
            }
            None => (1, now),
        };
        let locked_until = (failures >= limit).then(|| now + limits.lockout_secs * 1000);
        // A lockout starts a fresh window, so the next failure after it counts from one again.
        let (failures, started) = if locked_until.is_some() { (0, now) } else { (failures, started) };
        sqlx::query(
            "INSERT INTO login_throttle (throttle_key, failures, window_started_at, locked_until) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (throttle_key) DO UPDATE SET failures = $2, window_started_at = $3, \
             locked_until = COALESCE($4, login_throttle.locked_until)",
        )
        .bind(key)
        .bind(failures as i32)
        .bind(started)
        .bind(locked_until)
        .execute(&mut *tx)
        .await?;
        if locked_until.is_some() {
            locked = Some(limits.lockout_secs as u64);
        }
    }
    tx.commit().await?;
    Ok(locked)
}

/// A successful sign-in clears the username's count (not the address's: one good password
/// must not reset an attacker's budget for other names).
pub async fn record_success(db: &Db, keys: &Keys) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1").bind(&keys.user).execute(db.pool()).await?;
    Ok(())
}
