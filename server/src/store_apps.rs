//! Store apps as the database records them, and the store client each one configures.
use app::model::Store;
use serde_json::Value;
use sqlx::Row;

use crate::{
    crypto::Cipher,
    db::{sql::Sql, Db},
    now_ms,
    stores::{
        client::{StoreApp, StoreClient},
        EnvironmentPolicy, StoreError,
    },
    Error,
};

/// One store app with its credentials decrypted. Deliberately not `Debug`: it holds secrets.
pub struct StoreAppRecord {
    pub id: i64,
    pub project_id: i64,
    pub store: Store,
    pub store_app_id: String,
    pub settings: Value,
    credentials: Value,
    pub environments: EnvironmentPolicy,
    pub enabled: bool,
}

impl StoreAppRecord {
    /// The client of this app's store, configured with its settings and credentials.
    pub fn client(&self, http: &reqwest::Client) -> Result<StoreClient, StoreError> {
        StoreClient::for_app(
            http,
            &StoreApp {
                store: self.store,
                store_app_id: &self.store_app_id,
                settings: &self.settings,
                credentials: &self.credentials,
                environments: self.environments,
            },
        )
    }
}

const SELECT: &str = "SELECT id, project_id, store, store_app_id, settings, credentials_enc, environment_policy, \
    enabled FROM store_apps WHERE ";

/// The app of `store` with this package name or bundle id.
pub async fn find(db: &Db, cipher: &Cipher, store: Store, store_app_id: &str) -> Result<Option<StoreAppRecord>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push("store = ").push_bind(store.code()).push(" AND store_app_id = ").push_bind(store_app_id);
    load(db, cipher, sql).await
}

/// The store app with this row id.
pub async fn by_id(db: &Db, cipher: &Cipher, id: i64) -> Result<Option<StoreAppRecord>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push("id = ").push_bind(id);
    load(db, cipher, sql).await
}

/// The project's enabled app in `store` (the first, if it has several).
pub async fn enabled_in_project(
    db: &Db,
    cipher: &Cipher,
    project_id: i64,
    store: Store,
) -> Result<Option<StoreAppRecord>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push("project_id = ").push_bind(project_id).push(" AND store = ").push_bind(store.code());
    sql.push(" AND enabled = 1 ORDER BY id LIMIT 1");
    load(db, cipher, sql).await
}

async fn load(db: &Db, cipher: &Cipher, sql: Sql) -> Result<Option<StoreAppRecord>, Error> {
    let Some(row) = sql.build().fetch_optional(db.pool()).await? else { return Ok(None) };
    let json = |text: &str| serde_json::from_str(text).map_err(|e| Error::Other(format!("store app settings: {e}")));
    let credentials = match row.try_get::<Option<String>, _>("credentials_enc")? {
        Some(sealed) => json(&cipher.decrypt(&sealed)?)?,
        None => Value::Object(Default::default()),
    };
    let store: String = row.try_get("store")?;
    let policy: String = row.try_get("environment_policy")?;
    Ok(Some(StoreAppRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        store: Store::parse(&store).ok_or_else(|| Error::Other(format!("stored store {store}")))?,
        store_app_id: row.try_get("store_app_id")?,
        settings: json(&row.try_get::<String, _>("settings")?)?,
        credentials,
        environments: serde_json::from_value(Value::String(policy))
            .map_err(|e| Error::Other(format!("store app environment policy: {e}")))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    }))
}

/// Merges `settings` into the app's settings and replaces its credentials, encrypted.
pub async fn connect(
    db: &Db,
    cipher: &Cipher,
    store: Store,
    store_app_id: &str,
    settings: &Value,
    credentials: &Value,
) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT settings FROM store_apps WHERE store = $1 AND store_app_id = $2")
            .bind(store.code())
            .bind(store_app_id)
            .fetch_optional(&mut *tx)
            .await?;
    let current = current.ok_or(Error::NotFound)?;
    let mut merged: Value = serde_json::from_str(&current).unwrap_or_else(|_| Value::Object(Default::default()));
    if let (Some(merged), Some(new)) = (merged.as_object_mut(), settings.as_object()) {
        merged.extend(new.clone());
    }
    sqlx::query(
        "UPDATE store_apps SET settings = $1, credentials_enc = $2, updated_at = $3 WHERE store = $4 AND store_app_id = $5",
    )
    .bind(merged.to_string())
    .bind(cipher.encrypt(&credentials.to_string()))
    .bind(now_ms())
    .bind(store.code())
    .bind(store_app_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
