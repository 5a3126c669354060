//! The HTTP surface: console pages and server functions, health probes, and the layers every
//! request passes (request id, tracing, session, CSRF, sign-in guard).
pub mod client_addr;
mod csrf;
mod guard;
mod headers;
mod health;

use std::sync::Arc;

use app::{backend::SharedBackend, shell, App};
use axum::{middleware, routing::get, Router};
use http::{HeaderName, Request};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{console::ConsoleBackend, state::AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "iap_session";

/// The server's routes. `state.settings.trusted_proxies` must be valid (checked at start-up).
pub fn router(state: AppState) -> Router {
    let proxies = client_addr::trusted(&state.settings.trusted_proxies).unwrap_or_default();
    let https = headers::Https(state.settings.public_url.starts_with("https://"));
    let backend: SharedBackend = Arc::new(ConsoleBackend::new(state.clone()));
    let sessions = SessionManagerLayer::new(state.db.sessions().clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.settings.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(state.settings.session.idle_minutes)));

    let leptos_options = state.leptos_options.clone();
    let console = Router::new()
        .route("/export/transactions.csv", get(crate::console::export::transactions_csv))
        .route("/preferences/time-zone", get(crate::console::time_zone::choose))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || {
                provide_context(backend.clone());
                page_policy();
            },
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), guard::require_sign_in))
        .layer(middleware::from_fn(csrf::verify))
        .layer(sessions)
        .with_state(state.clone());
    // The purchase API and the probes need no session: they skip the console's layers.
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(crate::api::router(&state.settings))
        .with_state(state)
        .merge(console)
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            // The path only: query strings can carry tokens and must not reach the log.
            tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
        }))
        .layer(middleware::from_fn_with_state(https, headers::set))
        .layer(middleware::from_fn_with_state(proxies, client_addr::set))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Sets the page's Content-Security-Policy for the nonce its hydration scripts are rendered with.
fn page_policy() {
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), leptos::prelude::use_context::<leptos_axum::ResponseOptions>())
    {
        let policy = headers::page_policy(&nonce);
        if let Ok(value) = http::HeaderValue::from_str(&policy) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}
