use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{config::Settings, crypto::Cipher, db::Db};

/// Everything a request handler may need. Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub settings: Arc<Settings>,
    /// Encrypts store credentials and access tokens at rest.
    pub cipher: Cipher,
    /// The one pooled HTTP client every store call goes through.
    pub http: crate::outbound::Http,
    pub limiter: Arc<crate::api::limit::RateLimiter>,
    pub store_clients: Arc<crate::store_apps::ClientCache>,
    /// Commits consumes in groups (one per instance).
    pub consumes: Arc<crate::payments::consume::Committer>,
    /// Google's keys for the OIDC tokens of authenticated Pub/Sub pushes.
    pub push_keys: Arc<crate::stores::google::push::PushKeys>,
    /// Wakes this instance's notification worker when a notification is stored.
    pub inbox: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// The store client of `app`, made once and reused while the app stays as it is.
    pub fn store_client(
        &self,
        app: &crate::store_apps::StoreAppRecord,
    ) -> Result<Arc<crate::stores::client::StoreClient>, crate::stores::StoreError> {
        self.store_clients.client(app, &self.http)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
