//! The database: one `sqlx::Any` pool over SQLite or PostgreSQL, chosen by the URL.
//!
//! Queries are written once in the SQL both engines accept (`$1` placeholders, epoch-millisecond
//! integers for times, `RETURNING`), so every repository works on either; the few places that must
//! differ ask [`Db::engine`].
pub mod at_rest;
mod sessions;
pub mod sql;

use std::{str::FromStr, time::Duration};

use sqlx::{
    any::{Any, AnyPoolOptions},
    migrate::{MigrateDatabase, Migrator},
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
    AnyPool, Executor, Transaction,
};

pub use sessions::SessionBackend;

use crate::Error;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where write transactions run. SQLite takes one writer at a time: a pool of one connection
    /// queues writers in order, instead of SQLite's busy handler putting them to sleep and waking
    /// them late (which made the slowest writes wait a hundred times the average). PostgreSQL
    /// writes through the common pool.
    writer: AnyPool,
    engine: Engine,
    sessions: SessionBackend,
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) or the PostgreSQL database if missing.
    pub async fn connect(url: &str) -> Result<Db, Error> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(Error::Invalid(format!(
                "DATABASE_URL must start with sqlite:// or postgres:// (got {})",
                redact(url)
            )));
        };
        let url = match engine {
            Engine::Sqlite => prepare_sqlite_file(url)?,
            Engine::Postgres => url.to_string(),
        };
        if !Any::database_exists(&url).await? {
            Any::create_database(&url).await?;
        }
        let (pool, writer, sessions) = match engine {
            Engine::Sqlite => {
                // WAL lets readers proceed during a write; it is a property of the file, so set it once.
                let options = SqliteConnectOptions::from_str(&url)?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                let session_pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await?;
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(&url)
                    .await?;
                (pool, writer, SessionBackend::sqlite(session_pool))
            }
            Engine::Postgres => {
                let session_pool = PgPoolOptions::new().max_connections(4).connect(&url).await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await?;
                (pool.clone(), pool, SessionBackend::postgres(session_pool))
            }
        };
        Ok(Db { pool, writer, engine, sessions })
    }

    /// Applies pending migrations; safe to run on every start and from several instances at once.
    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| Error::Other(format!("migration failed: {e}")))?;
        self.sessions.migrate().await?;
        Ok(())
    }

    /// For reads, and for the statements of a transaction begun here.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For a single statement that writes, outside a transaction: on SQLite the one writer
    /// connection, so it queues behind the write transactions instead of meeting SQLITE_BUSY; on
    /// PostgreSQL the pool.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn sessions(&self) -> &SessionBackend {
        &self.sessions
    }

    /// A transaction that intends to write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later can fail with
    /// SQLITE_BUSY instead of waiting its turn.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, Error> {
        let tx = match self.engine {
            Engine::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Deletes the rows of `table` that meet `condition` (its `$1`, `$2`… bound to `binds`), a
    /// thousand per transaction so that a large delete never holds the writer for long; `key` is
    /// the table's primary key. Returns how many rows went.
    pub async fn delete_chunked(&self, table: &str, key: &str, condition: &str, binds: &[i64]) -> Result<u64, Error> {
        const CHUNK: u64 = 1000;
        let sql =
            format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {CHUNK})");
        let mut deleted = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let mut query = sqlx::query(&sql);
            for value in binds {
                query = query.bind(*value);
            }
            let gone = query.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            deleted += gone;
            if gone < CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Claims up to `limit` rows of `table` whose `column` time has come (and that meet
    /// `condition`), by moving that time `lease` ahead with a conditional update: of several
    /// instances polling at once, one takes each row. Returns the claimed ids.
    pub async fn claim_due(
        &self,
        table: &str,
        column: &str,
        condition: &str,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<i64>, Error> {
        let now = crate::now_ms();
        let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT id, {column} FROM {table} WHERE {column} <= $1 AND {condition} ORDER BY {column} LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for (id, at) in due {
            let taken = sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3"))
                .bind(now + lease.as_millis() as i64)
                .bind(id)
                .bind(at)
                .execute(&self.writer)
                .await?
                .rows_affected()
                == 1;
            if taken {
                claimed.push(id);
            }
        }
        Ok(claimed)
    }

    pub async fn ping(&self) -> Result<(), Error> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }
}

/// Makes the SQLite file's folder and asks sqlx to create the file (`mode=rwc`) unless told otherwise.
fn prepare_sqlite_file(url: &str) -> Result<String, Error> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(Error::Invalid("the SQLite database must be a file".into()));
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Other(format!("creating {}: {e}", dir.display())))?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://data/iap.db"), "sqlite://data/iap.db");
    }

    #[test]
    fn sqlite_urls_get_create_mode_unless_a_mode_is_given() {
        let dir = std::env::temp_dir().join(format!("iap-url-{}", std::process::id()));
        let file = dir.join("x.db");
        let url = format!("sqlite://{}", file.display());
        assert_eq!(prepare_sqlite_file(&url).unwrap(), format!("{url}?mode=rwc"));
        assert_eq!(prepare_sqlite_file(&format!("{url}?mode=ro")).unwrap(), format!("{url}?mode=ro"));
        assert!(dir.exists());
        assert!(prepare_sqlite_file("sqlite::memory:").is_err());
    }
}
