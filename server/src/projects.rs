//! Projects and their keys.
use app::model::ProjectSummary;
use sqlx::Row;

use crate::{crypto, db::Db, now_ms, Error};

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
pub async fn create(db: &Db, name: &str, keys: Option<(&str, &str)>) -> Result<CreatedProject, Error> {
    let name = validate_name(name)?;
    let (app_key, secret_key) = match keys {
        Some((app_key, secret)) => (app_key.to_string(), secret.to_string()),
        None => (crypto::random_code(20), crypto::random_token(32)),
    };
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO projects (name, app_key, secret_hash, secret_hint, key_status, require_secret, \
         secret_rotated_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'ACTIVE', 1, $5, $5, $5) RETURNING id",
    )
    .bind(&name)
    .bind(&app_key)
    .bind(crypto::sha256_hex(&secret_key))
    .bind(hint(&secret_key))
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok(CreatedProject { id, app_key, secret_key })
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
