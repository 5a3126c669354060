//! Sign-in throttling, kept in the database so every instance sees the same counts.
//!
//! Every attempt is counted against its username and its client address *before* the password is
//! checked, by one atomic increment per key: of a thousand attempts raced in parallel, only those
//! whose count is within the limit get a password check at all. Reaching the limit locks the key
//! until the lockout ends. The per-address limit is higher, so one attacker cannot lock a user out
//! from everywhere, and a username cannot be guessed from many addresses.
//!
//! Users behind one proxy (or one office NAT) share an address. An address lockout therefore does
//! not apply to a username that signed in successfully from that address within the last
//! `known_days`: an attack from a shared address locks out the names it tries, not everyone.
use crate::{config::LoginSettings, db::Db, now_ms, Error};

pub struct Keys {
    user: String,
    ip: Option<String>,
    /// The username as known from this address (`known:<ip>:<name>`).
    known: Option<String>,
}

impl Keys {
    pub fn new(username: &str, ip: Option<std::net::IpAddr>) -> Keys {
        let name = crate::users::normalize_username(username);
        Keys {
            user: format!("user:{name}"),
            ip: ip.map(|ip| format!("ip:{ip}")),
            known: ip.map(|ip| format!("known:{ip}:{name}")),
        }
    }
}

/// What the count allows for this attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Check the password; the attempt is already counted as a failure.
    Check,
    /// Locked: no password check, for this many more seconds.
    Locked(u64),
}

/// Counts the attempt against every key and says whether its password may be checked.
pub async fn attempt(db: &Db, keys: &Keys, limits: &LoginSettings) -> Result<Attempt, Error> {
    let now = now_ms();
    let mut counted = vec![(keys.user.as_str(), limits.max_user_failures)];
    if let Some(ip) = &keys.ip {
        if !known_here(db, keys, limits, now).await? {
            counted.push((ip.as_str(), limits.max_ip_failures));
        }
    }
    let mut locked_for = 0u64;
    for (key, limit) in counted {
        let (failures, locked_until) = count(db, key, limits, now).await?;
        let until = match locked_until.filter(|until| *until > now) {
            Some(until) => Some(until),
            // Over the limit (a race past the lock, or the attempt after the last allowed one):
            // the key is locked from now, and this attempt is not checked.
            None if failures > i64::from(limit) => Some(lock(db, key, limits, now).await?),
            None => None,
        };
        if let Some(until) = until {
            locked_for = locked_for.max(((until - now) as u64).div_ceil(1000));
        }
    }
    Ok(if locked_for > 0 { Attempt::Locked(locked_for) } else { Attempt::Check })
}

/// A failed check: locks each key whose count has reached its limit, so the next attempt waits.
/// Returns the lockout in seconds if this failure caused one.
pub async fn failed(db: &Db, keys: &Keys, limits: &LoginSettings) -> Result<Option<u64>, Error> {
    let now = now_ms();
    let known = keys.ip.is_some() && known_here(db, keys, limits, now).await?;
    let mut locked = None;
    for (key, limit) in
        [(Some(&keys.user), limits.max_user_failures), (keys.ip.as_ref().filter(|_| !known), limits.max_ip_failures)]
    {
        let Some(key) = key else { continue };
        let failures: Option<i64> =
            sqlx::query_scalar("SELECT CAST(failures AS BIGINT) FROM login_throttle WHERE throttle_key = $1")
                .bind(key)
                .fetch_optional(db.pool())
                .await?;
        if failures.is_some_and(|f| f >= i64::from(limit)) {
            lock(db, key, limits, now).await?;
            locked = Some(limits.lockout_secs as u64);
        }
    }
    Ok(locked)
}

/// A successful sign-in clears the username's count (not the address's: one good password must
/// not reset an attacker's budget for other names, but the attempt itself is taken back) and
/// remembers the username as known from this address.
pub async fn succeeded(db: &Db, keys: &Keys) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1").bind(&keys.user).execute(&mut *tx).await?;
    if let (Some(ip), Some(known)) = (&keys.ip, &keys.known) {
        sqlx::query("UPDATE login_throttle SET failures = failures - 1 WHERE throttle_key = $1 AND failures > 0")
            .bind(ip)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO login_throttle (throttle_key, failures, window_started_at) VALUES ($1, 0, $2) \
             ON CONFLICT (throttle_key) DO UPDATE SET window_started_at = $2",
        )
        .bind(known)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether the username signed in from this address recently (the row's time is its last success).
async fn known_here(db: &Db, keys: &Keys, limits: &LoginSettings, now: i64) -> Result<bool, Error> {
    let Some(known) = &keys.known else { return Ok(false) };
    let since = now - limits.known_days * 86_400_000;
    let last: Option<i64> = sqlx::query_scalar("SELECT window_started_at FROM login_throttle WHERE throttle_key = $1")
        .bind(known)
        .fetch_optional(db.pool())
        .await?;
    Ok(last.is_some_and(|at| at >= since))
}

/// Adds one to the key's count in one statement (a new window when the old one has passed);
/// returns the count and the lock.
async fn count(db: &Db, key: &str, limits: &LoginSettings, now: i64) -> Result<(i64, Option<i64>), Error> {
    let window_start = now - limits.window_secs * 1000;
    let mut tx = db.begin_write().await?;
    let counted: (i64, Option<i64>) = sqlx::query_as(
        "INSERT INTO login_throttle (throttle_key, failures, window_started_at) VALUES ($1, 1, $2) \
         ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = CASE WHEN login_throttle.window_started_at < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
         window_started_at = CASE WHEN login_throttle.window_started_at < $3 THEN $2 \
         ELSE login_throttle.window_started_at END \
         RETURNING CAST(failures AS BIGINT), locked_until",
    )
    .bind(key)
    .bind(now)
    .bind(window_start)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(counted)
}

/// Locks the key from now; a lockout starts a fresh window. Returns when it ends.
async fn lock(db: &Db, key: &str, limits: &LoginSettings, now: i64) -> Result<i64, Error> {
    let until = now + limits.lockout_secs * 1000;
    sqlx::query(
        "UPDATE login_throttle SET locked_until = $1, failures = 0, window_started_at = $2 WHERE throttle_key = $3",
    )
    .bind(until)
    .bind(now)
    .bind(key)
    .execute(db.writer())
    .await?;
    Ok(until)
}

/// Forgets what no longer counts: windows that have passed without a lock in force, and addresses
/// a username has not signed in from for `known_days`. A forgotten count is one that [`count`]
/// would have started again, so nothing changes but the table's size. Returns how many rows went.
pub async fn prune(db: &Db, limits: &LoginSettings) -> Result<u64, Error> {
    let now = now_ms();
    let counts = db
        .delete_chunked(
            "login_throttle",
            "throttle_key",
            "throttle_key NOT LIKE 'known:%' AND window_started_at < $1 AND (locked_until IS NULL OR locked_until < $2)",
            &[now - limits.window_secs * 1000, now],
        )
        .await?;
    let known = db
        .delete_chunked(
            "login_throttle",
            "throttle_key",
            "throttle_key LIKE 'known:%' AND window_started_at < $1",
            &[now - limits.known_days * 86_400_000],
        )
        .await?;
    Ok(counts + known)
}
