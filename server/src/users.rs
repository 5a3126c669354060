//! Console users.
use model::{ConsoleUserRow, Role};
use sqlx::Row;

use crate::{
    console_auth::password,
    db::{Db, Engine},
    now_ms, Error,
};

/// A console user as the server sees it. No `Serialize` and no `Debug` of the hash: it never leaves.
pub struct ConsoleUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// Moved on by every change that must end the user's sessions.
    pub session_epoch: i64,
    password_hash: String,
}

impl ConsoleUser {
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

/// Usernames compare without case and surrounding blanks.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub fn validate_username(username: &str) -> Result<(), Error> {
    let ok =
        (2..=64).contains(&username.len()) && username.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid("a username is 2 to 64 letters, digits or . _ - @".into()))
    }
}

pub fn validate_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < 10 {
        return Err(Error::Invalid("a password has at least 10 characters".into()));
    }
    if password.len() > 1024 {
        return Err(Error::Invalid("a password has at most 1024 bytes".into()));
    }
    Ok(())
}

const COLUMNS: &str = "id, username, password_hash, role, disabled, session_epoch";

fn from_row(row: sqlx::any::AnyRow) -> Result<ConsoleUser, Error> {
    let role: String = row.try_get("role")?;
    Ok(ConsoleUser {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).ok_or_else(|| Error::Other(format!("unknown role {role}")))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        session_epoch: row.try_get("session_epoch")?,
        password_hash: row.try_get("password_hash")?,
    })
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<ConsoleUser>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM console_users WHERE username = $1");
    let row = sqlx::query(&sql).bind(normalize_username(username)).fetch_optional(db.pool()).await?;
    row.map(from_row).transpose()
}

pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<ConsoleUser>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM console_users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.map(from_row).transpose()
}

/// Creates the user, or — when the name is taken and `replace` is set — resets its password and
/// role and re-enables it (the recovery path of `create-admin`). Returns the id and whether it was new.
pub async fn upsert(
    db: &Db,
    username: &str,
    plain_password: String,
    role: Role,
    replace: bool,
) -> Result<(i64, bool), Error> {
    let username = normalize_username(username);
    validate_username(&username)?;
    validate_password(&plain_password)?;
    let hash = password::hash(plain_password).await?;
    let now = now_ms();
    if let Some(existing) = find_by_username(db, &username).await? {
        if !replace {
            return Err(Error::Invalid(format!("the username {username} is taken")));
        }
        sqlx::query(
            "UPDATE console_users SET password_hash = $1, role = $2, disabled = 0, updated_at = $3, \
             session_epoch = session_epoch + 1 WHERE id = $4",
        )
        .bind(hash)
        .bind(role.as_str())
        .bind(now)
        .bind(existing.id)
        .execute(db.writer())
        .await?;
        return Ok((existing.id, false));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO console_users (username, password_hash, role, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, $4, $4) RETURNING id",
    )
    .bind(&username)
    .bind(hash)
    .bind(role.as_str())
    .bind(now)
    .fetch_one(db.writer())
    .await?;
    Ok((id, true))
}

pub async fn record_login(db: &Db, id: i64) -> Result<(), Error> {
    sqlx::query("UPDATE console_users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

pub async fn list(db: &Db) -> Result<Vec<ConsoleUserRow>, Error> {
    let rows = sqlx::query(
        "SELECT id, username, role, disabled, last_login_at, created_at FROM console_users ORDER BY username",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(ConsoleUserRow {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                role: Role::parse(&role).ok_or_else(|| Error::Other(format!("unknown role {role}")))?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                last_login_at: row.try_get("last_login_at")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// A change an admin makes to another user's account. A new role, disabling and a new password
/// end the user's sessions; enabling brings none back.
pub enum Update {
    Role(Role),
    Disabled(bool),
    Password(String),
}

/// Applies `update` to user `id`, with the audit row `audit` makes of the username and what
/// changed, in one transaction. The last enabled admin can be neither demoted nor disabled, so
/// the console cannot lock itself out.
pub async fn update(
    db: &Db,
    id: i64,
    update: Update,
    audit: impl FnOnce(&str, String) -> crate::audit::Entry,
) -> Result<(), Error> {
    let user = find_by_id(db, id).await?.ok_or(Error::NotFound)?;
    let loses_admin = user.role == Role::Admin
        && !user.disabled
        && matches!(update, Update::Role(r) if r != Role::Admin) | matches!(update, Update::Disabled(true));
    // Hashing is slow on purpose: done before the write transaction, not inside it.
    let new_hash = match &update {
        Update::Password(plain) => {
            validate_password(plain)?;
            Some(password::hash(plain.clone()).await?)
        }
        _ => None,
    };
    let mut tx = db.begin_write().await?;
    if loses_admin {
        // The enabled admins' rows are locked (SQLite's write lock already serialises this), so
        // two admins demoting each other at once cannot both see the other still there.
        let lock = if db.engine() == Engine::Postgres { " FOR UPDATE" } else { "" };
        let admins: Vec<i64> =
            sqlx::query_scalar(&format!("SELECT id FROM console_users WHERE role = 'ADMIN' AND disabled = 0{lock}"))
                .fetch_all(&mut *tx)
                .await?;
        if admins.iter().filter(|admin| **admin != id).count() == 0 {
            return Err(Error::Invalid("this is the last enabled admin; make another admin first".into()));
        }
    }
    let now = now_ms();
    let detail = match update {
        Update::Role(role) => {
            sqlx::query(
                "UPDATE console_users SET role = $1, updated_at = $2, session_epoch = session_epoch + 1 WHERE id = $3",
            )
            .bind(role.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            format!("role {} → {}", user.role.as_str(), role.as_str())
        }
        Update::Disabled(disabled) => {
            sqlx::query(
                "UPDATE console_users SET disabled = $1, updated_at = $2, \
                 session_epoch = session_epoch + CASE WHEN $1 = 1 THEN 1 ELSE 0 END WHERE id = $3",
            )
            .bind(i64::from(disabled))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if disabled { "disabled" } else { "enabled" }.to_string()
        }
        Update::Password(_) => {
            sqlx::query(
                "UPDATE console_users SET password_hash = $1, updated_at = $2, session_epoch = session_epoch + 1 \
                 WHERE id = $3",
            )
            .bind(new_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            "password reset".to_string()
        }
    };
    crate::audit::record_in(&mut tx, audit(&user.username, detail)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_compared_without_case_or_blanks() {
        assert_eq!(normalize_username("  Alice "), "alice");
    }

    #[test]
    fn usernames_with_spaces_or_symbols_are_refused() {
        assert!(validate_username("support.kim").is_ok());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("x").is_err());
        assert!(validate_username("drop;table").is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pw").is_ok());
    }
}
