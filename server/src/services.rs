//! What the domain works with: the database, the cipher, the outbound HTTP client and the store
//! clients made from it, the consume committer and the settings. Built once per process by
//! [`prepare`]; the HTTP edge wraps it with what only serving needs (`state::AppState`), and the
//! commands that serve nothing (`migrate`, `seed`, `create-admin`) use it alone.
use std::{sync::Arc, time::Duration};

use crate::{
    config::Settings,
    crypto::Cipher,
    db::Db,
    outbound::Http,
    payments::consume::Committer,
    projects::keys::Touches,
    store_apps::{ClientCache, StoreAppRecord},
    stores::{client::StoreClient, google::push::PushKeys, StoreError},
    Error,
};

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// Encrypts store credentials and access tokens at rest.
    pub cipher: Cipher,
    /// The one pooled HTTP client every store and webhook call goes through.
    pub http: Http,
    pub store_clients: Arc<ClientCache>,
    /// Commits consumes in groups (one per instance).
    pub consumes: Arc<Committer>,
    /// Google's keys for the OIDC tokens of authenticated Pub/Sub pushes.
    pub push_keys: Arc<PushKeys>,
    /// Wakes this instance's notification worker when a notification is stored.
    pub inbox: Arc<tokio::sync::Notify>,
    /// Keeps AppKey last-used writes to one per project per minute.
    pub key_touches: Arc<Touches>,
}

impl Services {
    /// The store client of `app`, made once and reused while the app stays as it is.
    pub fn store_client(&self, app: &StoreAppRecord) -> Result<Arc<StoreClient>, StoreError> {
        self.store_clients.client(app, &self.http)
    }
}

/// Connects and migrates the database and loads the encryption key.
pub async fn prepare(settings: Settings) -> Result<Services, Error> {
    let db = Db::connect(&settings.database_url()).await?;
    db.migrate().await?;
    let cipher = Cipher::from_settings(&settings)?;
    crate::db::at_rest::prepare(&db, &cipher).await?;
    let http = Http::new(&settings.outbound, Duration::from_secs(settings.stores.timeout_secs));
    let consumes = Arc::new(Committer::start(db.clone()));
    let push_keys = Arc::new(PushKeys::new(&settings.stores.google_push_keys_url, http.clone()));
    Ok(Services {
        db,
        settings: Arc::new(settings),
        cipher,
        http,
        store_clients: Arc::default(),
        consumes,
        push_keys,
        inbox: Arc::default(),
        key_touches: Arc::default(),
    })
}
