use std::time::Duration;

use axum::{extract::State, http::StatusCode};

use crate::state::AppState;

/// The process is up and answering.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers too; load balancers send traffic only to ready instances.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timeout"),
    }
}
