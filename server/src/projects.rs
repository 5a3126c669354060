//! Projects and their keys.
use app::model::{ProjectDetail, ProjectSummary, RotatedSecret};
use sqlx::Row;

use crate::{
    crypto::{self, Cipher},
    db::Db,
    now_ms,
    payments::binding::UserBinding,
    Error,
};

/// What a project allows callers holding only its public AppKey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub user_binding: UserBinding,
    /// The build-in model: the app may consume by itself (with the store proof of the payment).
    pub client_consume: bool,
}

/// A project as the purchase API authenticates a call: looked up by its AppKey.
pub struct ApiProject {
    pub id: i64,
    pub enabled: bool,
    pub secret_hash: String,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub require_secret: bool,
    pub last_used_at: Option<i64>,
    pub policy: Policy,
    /// The keys user tokens are signed with (the current SecretKey's, then the previous one's while
    /// it is valid), encrypted, each with the hash of its SecretKey that it is bound to.
    pub user_token_keys: Vec<(String, String)>,
}

/// The key an app's server signs user tokens with: HMAC-SHA256 of `iap-user-token` under the
/// SecretKey, so the server needs neither the SecretKey in clear nor a second secret.
pub fn user_token_key(secret_key: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret_key.as_bytes());
    ring::hmac::sign(&key, b"iap-user-token").as_ref().to_vec()
}

/// The user-token key of `secret_key`, sealed to the SecretKey's hash (the row's `secret_hash`).
fn sealed_user_token_key(cipher: &Cipher, secret_key: &str) -> String {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(user_token_key(secret_key));
    cipher.encrypt(crypto::Column::UserTokenKey, &crypto::sha256_hex(secret_key), &key)
}

/// A new project's keys. The secret exists in clear only here, to be shown once.
pub struct CreatedProject {
    pub id: i64,
    pub app_key: String,
    pub secret_key: String,
}

/// The last characters of a secret, enough for a person to tell two secrets apart.
fn hint(secret: &str) -> String {
    format!("…{}", &secret[secret.len().saturating_sub(4)..])
}

pub fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::Invalid("a project name has 1 to 100 characters".into()));
    }
    Ok(name.to_string())
}

/// Creates a project with fresh random keys, or with the given ones (the demo project's keys are
/// published in the README so its examples can be pasted).
pub async fn create(db: &Db, cipher: &Cipher, name: &str, keys: Option<(&str, &str)>) -> Result<CreatedProject, Error> {
    let name = validate_name(name)?;
    let (app_key, secret_key) = match keys {
        Some((app_key, secret)) => (app_key.to_string(), secret.to_string()),
        None => (crypto::random_code(20), crypto::random_token(32)),
    };
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO projects (name, app_key, secret_hash, secret_hint, user_token_key_enc, key_status, \
         require_secret, user_binding, client_consume, secret_rotated_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'ACTIVE', 1, 'REQUIRED', 0, $6, $6, $6) RETURNING id",
    )
    .bind(&name)
    .bind(&app_key)
    .bind(crypto::sha256_hex(&secret_key))
    .bind(hint(&secret_key))
    .bind(sealed_user_token_key(cipher, &secret_key))
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok(CreatedProject { id, app_key, secret_key })
}

/// The project whose AppKey is `app_key`.
pub async fn by_app_key(db: &Db, app_key: &str) -> Result<Option<ApiProject>, Error> {
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
    let previous_valid = previous_secret_expires_at.is_some_and(|t| t > now_ms());
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
        policy: policy_from_row(&row)?,
        user_token_keys: user_token_keys
            .into_iter()
            .flatten()
            .map(|(hash, sealed)| Ok((hash?, sealed)))
            .collect::<Result<_, sqlx::Error>>()?,
    }))
}

fn policy_from_row(row: &sqlx::any::AnyRow) -> Result<Policy, Error> {
    let binding: String = row.try_get("user_binding")?;
    Ok(Policy {
        user_binding: UserBinding::parse(&binding)
            .ok_or_else(|| Error::Other(format!("stored user binding {binding}")))?,
        client_consume: row.try_get::<i64, _>("client_consume")? != 0,
    })
}

/// What `project_id` allows AppKey callers.
pub async fn policy(db: &Db, project_id: i64) -> Result<Policy, Error> {
    let row = sqlx::query("SELECT user_binding, client_consume FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(Error::NotFound)?;
    policy_from_row(&row)
}

/// Changes what AppKey callers may do; `false` when the project does not exist.
pub async fn set_policy(db: &Db, project_id: i64, policy: Policy) -> Result<(), Error> {
    let updated =
        sqlx::query("UPDATE projects SET user_binding = $1, client_consume = $2, updated_at = $3 WHERE id = $4")
            .bind(policy.user_binding.as_str())
            .bind(i64::from(policy.client_consume))
            .bind(now_ms())
            .bind(project_id)
            .execute(db.pool())
            .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Records that the AppKey was used now; best effort, at most once a minute per project.
pub async fn touch_key(db: &Db, project_id: i64) {
    let _ = sqlx::query("UPDATE projects SET key_last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(project_id)
        .execute(db.pool())
        .await;
}

pub async fn find_id_by_name(db: &Db, name: &str) -> Result<Option<i64>, Error> {
    Ok(sqlx::query_scalar("SELECT id FROM projects WHERE name = $1 ORDER BY id LIMIT 1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn count(db: &Db) -> Result<i64, Error> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM projects").fetch_one(db.pool()).await?)
}

pub async fn list(db: &Db) -> Result<Vec<ProjectSummary>, Error> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.app_key, p.key_status, p.created_at, \
           (SELECT COUNT(*) FROM products pr JOIN store_apps a ON a.id = pr.store_app_id \
             WHERE a.project_id = p.id) AS product_count, \
           (SELECT COUNT(*) FROM payments pay WHERE pay.project_id = p.id) AS payment_count \
         FROM projects p ORDER BY p.name, p.id",
    )
    .fetch_all(db.pool())
    .await?;
    let stores =
        sqlx::query("SELECT DISTINCT project_id, store FROM store_apps ORDER BY store").fetch_all(db.pool()).await?;
    rows.into_iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let key_status: String = row.try_get("key_status")?;
            Ok(ProjectSummary {
                id,
                name: row.try_get("name")?,
                app_key: row.try_get("app_key")?,
                key_enabled: key_status == "ACTIVE",
                stores: stores
                    .iter()
                    .filter(|s| s.try_get::<i64, _>("project_id").ok() == Some(id))
                    .filter_map(|s| s.try_get::<String, _>("store").ok())
                    .collect(),
                product_count: row.try_get("product_count")?,
                payment_count: row.try_get("payment_count")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// The longest a replaced SecretKey may keep working, so a forgotten rotation cannot leave an old
/// secret valid for good.
pub const MAX_GRACE_HOURS: i64 = 24 * 30;

/// The project's key state, its store apps (secrets masked) and its items.
pub async fn detail(db: &Db, cipher: &Cipher, id: i64) -> Result<ProjectDetail, Error> {
    let row = sqlx::query(
        "SELECT id, name, app_key, key_status, secret_hint, secret_rotated_at, previous_secret_expires_at, \
         key_last_used_at, user_binding, client_consume FROM projects WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(Error::NotFound)?;
    let previous_until: Option<i64> = row.try_get("previous_secret_expires_at")?;
    let policy = policy_from_row(&row)?;
    Ok(ProjectDetail {
        id,
        name: row.try_get("name")?,
        app_key: row.try_get("app_key")?,
        key_enabled: row.try_get::<String, _>("key_status")? == "ACTIVE",
        secret_hint: row.try_get("secret_hint")?,
        secret_rotated_at: row.try_get("secret_rotated_at")?,
        previous_secret_valid_until: previous_until.filter(|t| *t > now_ms()),
        key_last_used_at: row.try_get("key_last_used_at")?,
        user_binding: policy.user_binding.as_str().into(),
        client_consume: policy.client_consume,
        apps: crate::store_apps::views(db, cipher, id).await?,
        items: crate::items::in_project(db, id).await?,
        webhooks: crate::webhooks::overview(db, id).await?,
    })
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
    if !(0..=MAX_GRACE_HOURS).contains(&grace_hours) {
        return Err(Error::Invalid(format!("the grace period is 0 to {MAX_GRACE_HOURS} hours")));
    }
    let secret = crypto::random_token(32);
    let now = now_ms();
    let previous_until = (grace_hours > 0).then(|| now + grace_hours * 3_600_000);
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
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    let detail = match previous_until {
        Some(until) => format!("previous secret valid until {}", app::format::utc(until)),
        None => "previous secret ended now".into(),
    };
    crate::audit::record_in(&mut tx, audit.detail(detail)).await?;
    tx.commit().await?;
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
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    crate::audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}
