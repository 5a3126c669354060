use std::net::SocketAddr;

use axum::Router;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::{config::Settings, http, state::AppState, Error};

/// A server bound to its address and ready to serve: `main` runs one, tests run many on port 0.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects and migrates the database, loads the encryption key and binds the listener.
    pub async fn build(settings: Settings, leptos_options: LeptosOptions) -> Result<Application, Error> {
        http::client_addr::trusted(&settings.trusted_proxies)?;
        let state = AppState::new(crate::services::prepare(settings).await?, leptos_options);
        let listener = TcpListener::bind(state.settings.site_addr)
            .await
            .map_err(|e| Error::Other(format!("binding {}: {e}", state.settings.site_addr)))?;
        let router = http::router(state.clone());
        Ok(Application { listener, router, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        crate::scheduler::start(&self.state.services);
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
    }
}

/// Ctrl-C or SIGTERM, whichever comes first.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
