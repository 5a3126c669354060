//! Console users.
use app::model::Role;
use sqlx::Row;

use crate::{auth::password, db::Db, now_ms, Error};

/// A console user as the server sees it. No `Serialize` and no `Debug` of the hash: it never leaves.
pub struct ConsoleUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
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

const COLUMNS: &str = "id, username, password_hash, role, disabled";

fn from_row(row: sqlx::any::AnyRow) -> Result<ConsoleUser, Error> {
    let role: String = row.try_get("role")?;
    Ok(ConsoleUser {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).ok_or_else(|| Error::Other(format!("unknown role {role}")))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
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
            "UPDATE console_users SET password_hash = $1, role = $2, disabled = 0, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(hash)
        .bind(role.as_str())
        .bind(now)
        .bind(existing.id)
        .execute(db.pool())
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
    .fetch_one(db.pool())
    .await?;
    Ok((id, true))
}

pub async fn record_login(db: &Db, id: i64) -> Result<(), Error> {
    sqlx::query("UPDATE console_users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
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
