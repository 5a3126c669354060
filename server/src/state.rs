use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::services::Services;

/// What a request handler may need: the domain's services plus what only serving needs. Derefs to
/// [`Services`], so a handler passes `&state` wherever the domain asks for `&Services`.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub leptos_options: LeptosOptions,
    pub limiter: Arc<crate::api::limit::RateLimiter>,
}

impl AppState {
    pub fn new(services: Services, leptos_options: LeptosOptions) -> AppState {
        let limiter = Arc::new(crate::api::limit::RateLimiter::new(services.settings.api.clone()));
        AppState { services, leptos_options, limiter }
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
