//! Who is calling: the app (its SDK) by AppKey, or the app's server by AppKey and SecretKey.
use axum::{extract::FromRequestParts, http::request::Parts};
use sqlx::Row;

use super::envelope::{ApiError, Code};
use crate::{crypto, now_ms, state::AppState};

pub const APP_KEY_HEADER: &str = "x-nhn-tciap-appkey";
pub const SECRET_KEY_HEADER: &str = "x-secret-key";

/// The key's last-used time is written at most this often, not on every request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A call from the app, identified by its project's AppKey.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub project_id: i64,
}

/// A call from the app's server: the AppKey and the project's SecretKey (unless the project is in
/// NHN-compatible mode, where the AppKey alone is accepted as NHN accepts it).
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub project_id: i64,
}

struct Project {
    id: i64,
    enabled: bool,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
    require_secret: bool,
    last_used_at: Option<i64>,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

async fn project(parts: &Parts, state: &AppState) -> Result<Project, ApiError> {
    let app_key = header(parts, APP_KEY_HEADER).ok_or(Code::AppKeyUnknown)?;
    if app_key.len() > 64 {
        return Err(Code::AppKeyUnknown.into());
    }
    let row = sqlx::query(
        "SELECT id, key_status, secret_hash, previous_secret_hash, previous_secret_expires_at, require_secret, \
         key_last_used_at FROM projects WHERE app_key = $1",
    )
    .bind(app_key)
    .fetch_optional(state.db.pool())
    .await
    .map_err(crate::Error::from)?
    .ok_or(Code::AppKeyUnknown)?;
    let read = |row: &sqlx::any::AnyRow| -> Result<Project, sqlx::Error> {
        Ok(Project {
            id: row.try_get("id")?,
            enabled: row.try_get::<String, _>("key_status")? == "ACTIVE",
            secret_hash: row.try_get("secret_hash")?,
            previous_secret_hash: row.try_get("previous_secret_hash")?,
            previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
            require_secret: row.try_get::<i64, _>("require_secret")? != 0,
            last_used_at: row.try_get("key_last_used_at")?,
        })
    };
    let project = read(&row).map_err(crate::Error::from)?;
    if !project.enabled {
        return Err(Code::AppKeyDisabled.into());
    }
    if !state.limiter.allow(project.id) {
        return Err(Code::RateLimited.into());
    }
    let now = now_ms();
    if project.last_used_at.is_none_or(|at| now - at > LAST_USED_GRANULARITY_MS) {
        // Best effort: a failed bookkeeping write must not fail the call.
        let _ = sqlx::query("UPDATE projects SET key_last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(project.id)
            .execute(state.db.pool())
            .await;
    }
    Ok(project)
}

impl FromRequestParts<AppState> for App {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<App, ApiError> {
        Ok(App { project_id: project(parts, state).await?.id })
    }
}

impl FromRequestParts<AppState> for Server {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Server, ApiError> {
        let project = project(parts, state).await?;
        let given = header(parts, SECRET_KEY_HEADER);
        let accepted = match given {
            None => !project.require_secret,
            Some(secret) => {
                let hash = crypto::sha256_hex(secret);
                // Both comparisons always run, so timing does not tell which secret matched.
                let current = crypto::ct_eq(&hash, &project.secret_hash);
                let previous = project.previous_secret_hash.as_deref().is_some_and(|previous| {
                    crypto::ct_eq(&hash, previous) && project.previous_secret_expires_at.is_some_and(|t| t > now_ms())
                });
                current | previous
            }
        };
        if accepted {
            Ok(Server { project_id: project.id })
        } else {
            Err(Code::SecretKeyInvalid.into())
        }
    }
}
