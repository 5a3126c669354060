//! Projects: their names, what their AppKey callers may do, and the console's view of them.
//! Their keys (AppKey, SecretKey, user tokens) are [`keys`].
pub mod keys;

use model::{ProjectDetail, ProjectSummary};
use sqlx::Row;

use self::keys::{hint, sealed_user_token_key};
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

/// A new project's keys. The secret exists in clear only here, to be shown once.
pub struct CreatedProject {
    pub id: i64,
    pub app_key: String,
    pub secret_key: String,
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
    .fetch_one(db.writer())
    .await?;
    Ok(CreatedProject { id, app_key, secret_key })
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
            .execute(db.writer())
            .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
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

/// The project's key state, its store apps (secrets masked) and its items.
pub async fn detail(db: &Db, cipher: &Cipher, id: i64) -> Result<ProjectDetail, Error> {
    let row = sqlx::query(
        "SELECT id, name, app_key, key_status, secret_hint, secret_rotated_at, previous_secret_expires_at, \
         key_last_used_at, user_binding, client_consume, refund_policy, consumption_consent FROM projects WHERE id = $1",
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
        previous_secret_valid_until: crate::rotation::valid_until(previous_until, now_ms()),
        key_last_used_at: row.try_get("key_last_used_at")?,
        user_binding: policy.user_binding.as_str().into(),
        client_consume: policy.client_consume,
        refund_policy: row.try_get("refund_policy")?,
        consumption_consent: row.try_get::<i64, _>("consumption_consent")? != 0,
        apps: crate::store_apps::views(db, cipher, id).await?,
        items: crate::items::in_project(db, id).await?,
        webhooks: crate::webhooks::endpoints::overview(db, id).await?,
    })
}
