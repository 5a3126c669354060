//! A project's keys: the public AppKey that names the project in every API call, the SecretKey
//! only the app's server holds (rotated with a grace period, `rotation`), and the user tokens the
//! app's server mints with it so an app's call can prove which user it acts for.
use std::collections::BTreeMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use model::RotatedSecret;
use sqlx::Row;

use super::Policy;
use crate::{
    crypto::{self, Cipher},
    db::Db,
    now_ms, rotation, Error,
};

/// The key's last-used time is written at most this often, not on every request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;
/// The longest a user token may be valid for, however far ahead its app's server dates it.
const MAX_USER_TOKEN_SECS: i64 = 30 * 86_400;
/// AppKeys are codes of 20 characters; a longer header is not looked up.
const MAX_APP_KEY_LEN: usize = 64;

/// Why a call's AppKey was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Disabled,
}

/// A project as the purchase API authenticates a call: looked up by its AppKey. Not `Debug`: it
/// holds key hashes.
#[derive(Clone)]
pub struct ApiProject {
    pub id: i64,
    pub policy: Policy,
    enabled: bool,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
    require_secret: bool,
    last_used_at: Option<i64>,
    /// The keys user tokens are signed with (the current SecretKey's, then the previous one's while
    /// it is valid), encrypted, each with the hash of its SecretKey that it is bound to.
    user_token_keys: Vec<(String, String)>,
}

/// The key an app's server signs user tokens with: HMAC-SHA256 of `iap-user-token` under the
/// SecretKey, so the server needs neither the SecretKey in clear nor a second secret.
pub fn user_token_key(secret_key: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret_key.as_bytes());
    ring::hmac::sign(&key, b"iap-user-token").as_ref().to_vec()
}

/// The user-token key of `secret_key`, sealed to the SecretKey's hash (the row's `secret_hash`).
pub(super) fn sealed_user_token_key(cipher: &Cipher, secret_key: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(user_token_key(secret_key));
    cipher.encrypt(crypto::Column::UserTokenKey, &crypto::sha256_hex(secret_key), &key)
}

/// The last characters of a secret, enough for a person to tell two secrets apart.
pub(super) fn hint(secret: &str) -> String {
    format!("…{}", &secret[secret.len().saturating_sub(4)..])
}

/// The project a call's `app_key` names, when that key is known and enabled. Its last-used time is
/// written at most once a minute, best effort: a failed bookkeeping write must not fail the call.
pub async fn identify(db: &Db, touches: &Touches, app_key: &str) -> Result<Result<ApiProject, Refusal>, Error> {
    if app_key.len() > MAX_APP_KEY_LEN {
        return Ok(Err(Refusal::Unknown));
    }
    let Some(project) = by_app_key(db, app_key).await? else { return Ok(Err(Refusal::Unknown)) };
    if !project.enabled {
        return Ok(Err(Refusal::Disabled));
    }
    let now = now_ms();
    if project.last_used_at.is_none_or(|at| now - at > LAST_USED_GRANULARITY_MS) && touches.first_since(project.id, now)
    {
        touch_key(db, project.id).await;
    }
    Ok(Ok(project))
}

impl ApiProject {
    /// Whether a call from the app's server with `given` as its SecretKey (or none) is accepted:
    /// the current SecretKey, the replaced one during its grace, or none when the project accepts
    /// the AppKey alone (NHN-compatible mode).
    pub fn accepts_secret(&self, given: Option<&str>) -> bool {
        match given {
            None => !self.require_secret,
            Some(secret) => rotation::matches(
                &crypto::sha256_hex(secret),
                &self.secret_hash,
                self.previous_secret_hash.as_deref(),
                self.previous_secret_expires_at,
                now_ms(),
            ),
        }
    }

    /// Whether `token` proves a call acts for `user_id`: minted for that user with the project's
    /// SecretKey (or the replaced one during its grace) and not expired. `Ok(Err(why))` when it
    /// does not hold.
    pub fn check_user_token(
        &self,
        cipher: &Cipher,
        token: &str,
        user_id: &str,
    ) -> Result<Result<(), &'static str>, Error> {
        let keys = self
            .user_token_keys
            .iter()
            .map(|(secret_hash, sealed)| cipher.decrypt(crypto::Column::UserTokenKey, secret_hash, sealed))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(verify_user_token(token, user_id, &keys, now_ms() / 1000))
    }
}

/// When this process last wrote each project's last-used time. Of the calls that all read the same
/// stale time at once, only the first writes: a burst would otherwise queue a write per call behind
/// SQLite's one writer.
#[derive(Default)]
pub struct Touches(std::sync::Mutex<BTreeMap<i64, i64>>);

impl Touches {
    fn first_since(&self, project_id: i64, now: i64) -> bool {
        let mut touched = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = touched.entry(project_id).or_insert(i64::MIN);
        if now.saturating_sub(*last) > LAST_USED_GRANULARITY_MS {
            *last = now;
            true
        } else {
            false
        }
    }
}

/// The project whose AppKey is `app_key`, known or not, enabled or not.
async fn by_app_key(db: &Db, app_key: &str) -> Result<Option<ApiProject>, Error> {
    let row = sqlx::query(
        "SELECT id, key_status, secret_hash, previous_secret_hash, previous_secret_expires_at, require_secret, \
         key_last_used_at, user_binding, client_consume, user_token_key_enc, previous_user_token_key_enc \
         FROM projects WHERE app_key = $1",
    )
    .bind(app_key)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let previous_secret_expires_at: Option<i64> = row.try_get("previous_secret_expires_at")?;
    let previous_valid = rotation::still_valid(previous_secret_expires_at, now_ms());
    let previous_hash: Option<String> = row.try_get("previous_secret_hash")?;
    let user_token_keys = [
        row.try_get::<Option<String>, _>("user_token_key_enc")?.map(|k| (row.try_get("secret_hash"), k)),
        row.try_get::<Option<String>, _>("previous_user_token_key_enc")?
            .filter(|_| previous_valid)
            .and_then(|k| previous_hash.clone().map(|h| (Ok(h), k))),
    ];
    Ok(Some(ApiProject {
        id: row.try_get("id")?,
        enabled: row.try_get::<String, _>("key_status")? == "ACTIVE",
        secret_hash: row.try_get("secret_hash")?,
        previous_secret_hash: previous_hash,
        previous_secret_expires_at,
        require_secret: row.try_get::<i64, _>("require_secret")? != 0,
        last_used_at: row.try_get("key_last_used_at")?,
        policy: super::policy_from_row(&row)?,
        user_token_keys: user_token_keys
            .into_iter()
            .flatten()
            .map(|(hash, sealed)| Ok((hash?, sealed)))
            .collect::<Result<_, sqlx::Error>>()?,
    }))
}

/// Records that the AppKey was used now; best effort, at most once a minute per project.
async fn touch_key(db: &Db, project_id: i64) {
    let _ = sqlx::query("UPDATE projects SET key_last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(project_id)
        .execute(db.writer())
        .await;
}

/// Replaces the SecretKey; the one it replaces keeps working for `grace_hours` (0 ends it now), so
/// the app's servers can be moved to the new one without an outage. `audit` is written with it.
pub async fn rotate_secret(
    db: &Db,
    cipher: &Cipher,
    id: i64,
    grace_hours: i64,
    audit: crate::audit::Entry,
) -> Result<RotatedSecret, Error> {
    let now = now_ms();
    let previous_until = rotation::previous_valid_until(grace_hours, now)?;
    let secret = crypto::random_token(32);
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE projects SET previous_secret_hash = CASE WHEN $1 IS NULL THEN NULL ELSE secret_hash END, \
         previous_user_token_key_enc = CASE WHEN $1 IS NULL THEN NULL ELSE user_token_key_enc END, \
         previous_secret_expires_at = $1, secret_hash = $2, secret_hint = $3, user_token_key_enc = $4, \
         secret_rotated_at = $5, updated_at = $5 WHERE id = $6",
    )
    .bind(previous_until)
    .bind(crypto::sha256_hex(&secret))
    .bind(hint(&secret))
    .bind(sealed_user_token_key(cipher, &secret))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let detail = match previous_until {
        Some(until) => format!("previous secret valid until {}", model::format::utc(until)),
        None => "previous secret ended now".into(),
    };
    crate::audit::commit_one(tx, updated.rows_affected(), audit.detail(detail)).await?;
    Ok(RotatedSecret { secret_key: secret, previous_valid_until: previous_until })
}

/// A disabled AppKey is refused by every API call (code 4002) until it is enabled again. `audit`
/// is written with the change.
pub async fn set_key_enabled(db: &Db, id: i64, enabled: bool, audit: crate::audit::Entry) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query("UPDATE projects SET key_status = $1, updated_at = $2 WHERE id = $3")
        .bind(if enabled { "ACTIVE" } else { "DISABLED" })
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    crate::audit::commit_one(tx, updated.rows_affected(), audit).await
}

/// A user token as the app's server mints it for its signed-in `user`, valid until `expiry` (Unix
/// seconds): `<expiry>.<signature>`, the signature the base64url HMAC-SHA256 of `<user>.<expiry>`
/// under [`user_token_key`] of the SecretKey (README, "User tokens").
pub fn mint_user_token(secret_key: &str, user: &str, expiry: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &user_token_key(secret_key));
    let signature = ring::hmac::sign(&key, format!("{user}.{expiry}").as_bytes());
    format!("{expiry}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// Checks `token` (as [`mint_user_token`] makes it) for `user_id` at `now` seconds against `keys`
/// (each base64 of a [`user_token_key`]).
fn verify_user_token(token: &str, user_id: &str, keys: &[String], now: i64) -> Result<(), &'static str> {
    let (expiry, signature) = token.split_once('.').ok_or("a user token is <expiry>.<signature>")?;
    let expires: i64 = expiry.parse().map_err(|_| "the user token's expiry is not a number of seconds")?;
    if expires <= now {
        return Err("the user token has expired");
    }
    if expires - now > MAX_USER_TOKEN_SECS {
        return Err("a user token may be valid for 30 days at most");
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "the user token's signature is not base64url")?;
    let message = format!("{user_id}.{expiry}");
    // Every key is tried, so timing does not tell which one matched.
    let matched = keys.iter().fold(false, |matched, key| {
        let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key) else { return matched };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        ring::hmac::verify(&key, message.as_bytes(), &signature).is_ok() | matched
    });
    if matched {
        Ok(())
    } else {
        Err("the user token is not signed for this user with the project's SecretKey")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(secret: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(user_token_key(secret))
    }

    #[test]
    fn a_user_token_minted_as_the_readme_shows_is_accepted_for_its_user_only() {
        // Minted with the README's Python example: SecretKey "s3cret", user "user-1", expiry 2000000000.
        let token = "2000000000.WuJZKkSxGwkfdF9M6_WpaQY2R-r0fmeA-gGCn7zsWgc";
        let keys = [key_of("s3cret")];
        let now = 2_000_000_000 - 3600;

        assert_eq!(mint_user_token("s3cret", "user-1", 2_000_000_000), token, "the Rust minting agrees");
        assert_eq!(verify_user_token(token, "user-1", &keys, now), Ok(()));
        assert!(verify_user_token(token, "user-2", &keys, now).is_err(), "another user");
        assert!(verify_user_token(token, "user-1", &[key_of("other")], now).is_err(), "another SecretKey");
        assert!(verify_user_token(token, "user-1", &keys, 2_000_000_000).is_err(), "expired");
        assert!(verify_user_token(token, "user-1", &keys, now - MAX_USER_TOKEN_SECS).is_err(), "too far ahead");
        assert!(verify_user_token("garbage", "user-1", &keys, now).is_err());
        assert_eq!(verify_user_token(token, "user-1", &[key_of("other"), key_of("s3cret")], now), Ok(()), "rotation");
    }
}
