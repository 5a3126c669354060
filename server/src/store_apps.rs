//! Store apps as the database records them, and the store client each one configures.
use std::sync::Arc;

use std::collections::BTreeMap;

use model::{store_fields, ConnectionCheck, FieldSpec, FieldValue, Store, StoreAppView, ENVIRONMENT_POLICIES};
use serde_json::Value;
use sqlx::Row;

use crate::{
    crypto::{Cipher, Column},
    db::{sql::Sql, Db},
    now_ms,
    outbound::Http,
    stores::{
        client::{check_destinations, is_destination, StoreApp, StoreClient},
        scrub, EnvironmentPolicy, StoreError,
    },
    Error,
};

/// One store app with its credentials decrypted. Deliberately not `Debug`: it holds secrets.
pub struct StoreAppRecord {
    pub id: i64,
    pub project_id: i64,
    pub store: Store,
    pub name: String,
    pub store_app_id: String,
    pub settings: Value,
    credentials: Value,
    pub environments: EnvironmentPolicy,
    pub enabled: bool,
    /// Whether our consume is followed by the store's (see [`crate::payments::store_consume`]).
    pub consume_at_store: bool,
}

impl StoreAppRecord {
    /// The client of this app's store, configured with its settings and credentials.
    pub fn client(&self, http: &Http) -> Result<StoreClient, StoreError> {
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

/// Store clients by store app, kept while the app's settings and credentials stay the same. A
/// client holds what is costly to make again for every request: Google's OAuth token (an RS256
/// signature and a round trip to get), ONE store's access token, Apple's verified certificate
/// chains. A changed app (on any instance) has another fingerprint and gets a new client.
#[derive(Default)]
pub struct ClientCache {
    clients: std::sync::Mutex<std::collections::HashMap<i64, (String, Arc<StoreClient>)>>,
}

impl ClientCache {
    pub fn client(&self, app: &StoreAppRecord, http: &Http) -> Result<Arc<StoreClient>, StoreError> {
        let fingerprint = crate::crypto::sha256_hex(&format!(
            "{}\n{}\n{}\n{}\n{}",
            app.store.code(),
            app.store_app_id,
            app.settings,
            app.credentials,
            app.environments.as_str()
        ));
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, client)) = clients.get(&app.id) {
            if *seen == fingerprint {
                return Ok(client.clone());
            }
        }
        let client = Arc::new(app.client(http)?);
        clients.insert(app.id, (fingerprint, client.clone()));
        Ok(client)
    }
}

const SELECT: &str = "SELECT id, project_id, store, name, store_app_id, settings, credentials_enc, \
    environment_policy, enabled, consume_at_store FROM store_apps WHERE ";

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

/// The enabled apps of `store`, of one project or of all.
pub async fn enabled_of_store(
    db: &Db,
    cipher: &Cipher,
    store: Store,
    project_id: Option<i64>,
) -> Result<Vec<StoreAppRecord>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push("store = ").push_bind(store.code()).push(" AND enabled = 1");
    if let Some(project_id) = project_id {
        sql.push(" AND project_id = ").push_bind(project_id);
    }
    sql.push(" ORDER BY id");
    sql.build().fetch_all(db.pool()).await?.iter().map(|row| record(cipher, row)).collect()
}

async fn load(db: &Db, cipher: &Cipher, sql: Sql) -> Result<Option<StoreAppRecord>, Error> {
    sql.build().fetch_optional(db.pool()).await?.map(|row| record(cipher, &row)).transpose()
}

fn record(cipher: &Cipher, row: &sqlx::any::AnyRow) -> Result<StoreAppRecord, Error> {
    let json = |text: &str| serde_json::from_str(text).map_err(|e| Error::Other(format!("store app settings: {e}")));
    let id: i64 = row.try_get("id")?;
    let credentials = match row.try_get::<Option<String>, _>("credentials_enc")? {
        Some(sealed) => json(&cipher.decrypt(Column::StoreAppCredentials, &id.to_string(), &sealed)?)?,
        None => Value::Object(Default::default()),
    };
    let store: String = row.try_get("store")?;
    let policy: String = row.try_get("environment_policy")?;
    Ok(StoreAppRecord {
        id,
        project_id: row.try_get("project_id")?,
        store: Store::parse(&store).ok_or_else(|| Error::Other(format!("stored store {store}")))?,
        name: row.try_get("name")?,
        store_app_id: row.try_get("store_app_id")?,
        settings: json(&row.try_get::<String, _>("settings")?)?,
        credentials,
        environments: serde_json::from_value(Value::String(policy))
            .map_err(|e| Error::Other(format!("store app environment policy: {e}")))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        consume_at_store: row.try_get::<i64, _>("consume_at_store")? != 0,
    })
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
    let current: Option<(i64, String)> =
        sqlx::query_as("SELECT id, settings FROM store_apps WHERE store = $1 AND store_app_id = $2")
            .bind(store.code())
            .bind(store_app_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, current) = current.ok_or(Error::NotFound)?;
    let mut merged: Value = serde_json::from_str(&current).unwrap_or_else(|_| Value::Object(Default::default()));
    if let (Some(merged), Some(new)) = (merged.as_object_mut(), settings.as_object()) {
        merged.extend(new.clone());
    }
    sqlx::query("UPDATE store_apps SET settings = $1, credentials_enc = $2, updated_at = $3 WHERE id = $4")
        .bind(merged.to_string())
        .bind(cipher.encrypt(Column::StoreAppCredentials, &id.to_string(), &credentials.to_string()))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The project's store apps as the console shows them: settings in clear, secrets only as set or not.
pub async fn views(db: &Db, cipher: &Cipher, project_id: i64) -> Result<Vec<StoreAppView>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push("project_id = ").push_bind(project_id).push(" ORDER BY store, id");
    let rows = sql.build().fetch_all(db.pool()).await?;
    let last_notifications = crate::store_notifications::listing::last_received(db, project_id).await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in &rows {
        let app = record(cipher, row)?;
        let fields = store_fields(app.store)
            .iter()
            .map(|spec| {
                let stored = if spec.secret { &app.credentials } else { &app.settings };
                let value = stored.get(spec.key).filter(|v| !v.is_null());
                FieldValue {
                    key: spec.key.to_string(),
                    is_set: value.is_some(),
                    value: if spec.secret {
                        None
                    } else {
                        value.map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
                    },
                }
            })
            .collect();
        views.push(StoreAppView {
            id: app.id,
            store: app.store.code().to_string(),
            name: app.name,
            store_app_id: app.store_app_id,
            environment_policy: app.environments.as_str().to_string(),
            enabled: app.enabled,
            consume_at_store: app.consume_at_store,
            fields,
            last_notification_at: last_notifications.get(&app.id).copied(),
        });
    }
    Ok(views)
}

/// A store app's form as the console sends it. Fields it does not send, and secret fields left
/// empty, keep their stored value; a setting sent empty goes back to its default.
pub struct AppForm<'a> {
    /// `None` to add an app.
    pub id: Option<i64>,
    pub project_id: i64,
    pub store: Store,
    pub name: &'a str,
    pub store_app_id: &'a str,
    pub environment_policy: &'a str,
    pub enabled: bool,
    pub consume_at_store: bool,
    pub fields: &'a BTreeMap<String, String>,
}

/// Adds or updates a store app; returns its id. Its audit row, made by `audit` of the id and the
/// names of the fields that changed (names only, never values), is written in the same transaction.
///
/// A store URL is taken only when the configuration allows overrides and the server may call it;
/// changing one clears every stored secret the same form does not enter again, so secrets given
/// for one destination are never sent to another.
pub async fn save(
    db: &Db,
    cipher: &Cipher,
    http: &Http,
    form: AppForm<'_>,
    audit: impl FnOnce(i64, &[String]) -> crate::audit::Entry,
) -> Result<i64, Error> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::Invalid("an app name has 1 to 100 characters".into()));
    }
    let store_app_id = form.store_app_id.trim();
    let valid_id = !store_app_id.is_empty()
        && store_app_id.len() <= 200
        && store_app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid_id {
        return Err(Error::Invalid("the Store App ID is a package name or bundle id such as com.example.game".into()));
    }
    if !ENVIRONMENT_POLICIES.contains(&form.environment_policy) {
        return Err(Error::Invalid(format!("unknown environment policy {}", form.environment_policy)));
    }
    let specs = store_fields(form.store);
    if let Some(unknown) = form.fields.keys().find(|k| !specs.iter().any(|s| s.key == k.as_str())) {
        return Err(Error::Invalid(format!("{} apps have no field {unknown}", form.store.label())));
    }
    let existing = match form.id {
        Some(id) => {
            let app =
                by_id(db, cipher, id).await?.filter(|a| a.project_id == form.project_id).ok_or(Error::NotFound)?;
            if app.store != form.store {
                return Err(Error::Invalid("an app's store cannot change; add a new app instead".into()));
            }
            Some(app)
        }
        None => None,
    };
    let mut settings = existing.as_ref().and_then(|a| a.settings.as_object().cloned()).unwrap_or_default();
    let mut credentials = existing.as_ref().and_then(|a| a.credentials.as_object().cloned()).unwrap_or_default();
    let mut changed = Vec::new();
    let mut destination_changed = false;
    for spec in specs {
        // A field the form did not send is left as it is.
        let Some(given) = form.fields.get(spec.key) else { continue };
        let new = field_value(spec, given.trim())?;
        if let (true, Some(Value::String(url))) = (is_destination(spec.key), &new) {
            check_url(http, spec, url)?;
            destination_changed |= settings.get(spec.key) != new.as_ref();
        }
        let target = if spec.secret { &mut credentials } else { &mut settings };
        match new {
            // An empty secret field means "keep"; an empty setting means "use the default".
            None if spec.secret => {}
            None => {
                if target.remove(spec.key).is_some() {
                    changed.push(spec.key.to_string());
                }
            }
            Some(value) => {
                if target.get(spec.key) != Some(&value) {
                    changed.push(spec.key.to_string());
                    target.insert(spec.key.to_string(), value);
                }
            }
        }
    }
    if destination_changed {
        let entered = |key: &str| form.fields.get(key).is_some_and(|v| !v.trim().is_empty());
        let cleared: Vec<String> = credentials.keys().filter(|k| !entered(k)).cloned().collect();
        for key in cleared {
            credentials.remove(&key);
            changed.push(format!("{key} cleared"));
        }
    }
    let (settings, credentials) = (Value::Object(settings), Value::Object(credentials));
    let candidate = StoreApp {
        store: form.store,
        store_app_id,
        settings: &settings,
        credentials: &credentials,
        environments: EnvironmentPolicy::default(),
    };
    check_destinations(http, &candidate).map_err(|refused| Error::Invalid(refused.to_string()))?;
    let credentials = (credentials.as_object().is_some_and(|c| !c.is_empty())).then(|| credentials.to_string());
    let now = now_ms();
    let settings = settings.to_string();
    if let Some(app) = &existing {
        for (field, changes) in [
            ("storeAppId", app.store_app_id != store_app_id),
            ("environmentPolicy", app.environments.as_str() != form.environment_policy),
            ("enabled", app.enabled != form.enabled),
            ("consumeAtStore", app.consume_at_store != form.consume_at_store),
        ] {
            if changes {
                changed.push(field.to_string());
            }
        }
    }
    // The credentials are sealed to the app's id, so a new app's row is made first; one update
    // then writes the form, in the same transaction.
    let taken = |e: sqlx::Error| match Error::from(e) {
        e if e.is_unique_violation() => {
            Error::Invalid(format!("another app in {} already has the Store App ID {store_app_id}", form.store.label()))
        }
        e => e,
    };
    let mut tx = db.begin_write().await?;
    let id: i64 = match &existing {
        Some(app) => app.id,
        None => sqlx::query_scalar(
            "INSERT INTO store_apps (project_id, store, name, store_app_id, settings, environment_policy, enabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, '{}', $5, 0, $6, $6) RETURNING id",
        )
        .bind(form.project_id)
        .bind(form.store.code())
        .bind(name)
        .bind(store_app_id)
        .bind(form.environment_policy)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(taken)?,
    };
    let sealed = credentials.map(|c| cipher.encrypt(Column::StoreAppCredentials, &id.to_string(), &c));
    sqlx::query(
        "UPDATE store_apps SET name = $1, store_app_id = $2, settings = $3, credentials_enc = $4, \
         environment_policy = $5, enabled = $6, consume_at_store = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(name)
    .bind(store_app_id)
    .bind(&settings)
    .bind(sealed)
    .bind(form.environment_policy)
    .bind(i64::from(form.enabled))
    .bind(i64::from(form.consume_at_store))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(taken)?;
    crate::audit::record_in(&mut tx, audit(id, &changed)).await?;
    tx.commit().await?;
    Ok(id)
}

/// The JSON value of one form field, checked; `None` when it was left empty.
fn field_value(spec: &FieldSpec, given: &str) -> Result<Option<Value>, Error> {
    if given.is_empty() {
        return Ok(None);
    }
    if given.len() > 20_000 {
        return Err(Error::Invalid(format!("{} is too long", spec.label)));
    }
    if !spec.choices.is_empty() && !spec.choices.contains(&given) {
        return Err(Error::Invalid(format!("{} is one of {}", spec.label, spec.choices.join(", "))));
    }
    if spec.numeric {
        let number: i64 = given.parse().map_err(|_| Error::Invalid(format!("{} is a number", spec.label)))?;
        return Ok(Some(Value::from(number)));
    }
    match spec.key {
        "serviceAccountJson" => {
            let key: Value = serde_json::from_str(given).map_err(|_| {
                Error::Invalid("the service account key is the JSON file downloaded from Google Cloud".into())
            })?;
            if key.get("client_email").is_none() || key.get("private_key").is_none() {
                return Err(Error::Invalid("the service account key has no client_email or private_key".into()));
            }
        }
        "privateKey" if !given.contains("BEGIN PRIVATE KEY") => {
            return Err(Error::Invalid("the In-App Purchase key is the text of the .p8 file".into()));
        }
        key if key.ends_with("Url") || key == "apiRoot" => {
            if !(given.starts_with("https://") || given.starts_with("http://")) {
                return Err(Error::Invalid(format!("{} is an http(s) URL", spec.label)));
            }
        }
        _ => {}
    }
    Ok(Some(Value::String(given.to_string())))
}

/// A store URL the server may be told to call: overrides allowed, and a destination it may reach.
fn check_url(http: &Http, spec: &FieldSpec, url: &str) -> Result<(), Error> {
    if !http.store_url_overrides() {
        return Err(Error::Invalid(format!(
            "{}: this server calls only the stores' own addresses (store URL overrides are off in its \
             configuration: outbound.store_url_overrides)",
            spec.label
        )));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| Error::Invalid(format!("{} is a full URL", spec.label)))?;
    http.check(&parsed).map_err(|refused| Error::Invalid(format!("{} is not called: {refused}", spec.label)))
}

/// Tries the app's current settings against its store. The message is short and scrubbed: the
/// status and the store's own error text, never its body or a URL.
pub async fn check(app: &StoreAppRecord, http: &Http) -> ConnectionCheck {
    let result = match app.client(http) {
        Ok(client) => client.check_connection().await,
        Err(err) => Err(err),
    };
    match result {
        Ok(message) => ConnectionCheck { ok: true, message: message.to_string() },
        Err(StoreError::Config(detail)) => {
            ConnectionCheck { ok: false, message: format!("settings refused: {}", scrub(&detail)) }
        }
        Err(StoreError::Unavailable(detail)) => {
            ConnectionCheck { ok: false, message: format!("the store could not be reached: {}", scrub(&detail)) }
        }
        Err(throttled @ StoreError::Throttled { .. }) => ConnectionCheck { ok: false, message: throttled.to_string() },
        Err(StoreError::Rejected { code, message }) => {
            ConnectionCheck { ok: false, message: format!("the store refused: {} {}", scrub(&code), scrub(&message)) }
        }
    }
}

/// The Store App ID (package name, bundle id, ONE store client id) of each of the project's apps,
/// by our id.
pub async fn store_app_ids(db: &Db, project_id: i64) -> Result<std::collections::HashMap<i64, String>, Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, store_app_id FROM store_apps WHERE project_id = $1")
        .bind(project_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().collect())
}
