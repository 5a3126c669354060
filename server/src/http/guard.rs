//! Anonymous requests for console pages, and those of a session that has ended (password reset,
//! user disabled, role changed), go to the sign-in page instead.
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use http::Method;
use tower_sessions::Session;

use crate::{console_auth, state::AppState};

/// The API, assets and probes have their own rules; this guards the pages `app` says need a user.
fn is_console_page(path: &str) -> bool {
    let elsewhere = ["/api/", "/pkg/", "/healthz", "/readyz", "/favicon"].iter().any(|prefix| path.starts_with(prefix));
    !elsewhere && app::requires_sign_in(path)
}

pub async fn require_sign_in(State(state): State<AppState>, session: Session, req: Request, next: Next) -> Response {
    let page = matches!(*req.method(), Method::GET | Method::HEAD) && is_console_page(req.uri().path());
    if page {
        match console_auth::signed_in_user(&state.db, &session).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let login = format!("/login?next={}", urlencode(target));
                return Redirect::to(&login).into_response();
            }
            Err(err) => {
                tracing::error!(error = %err, "reading the session failed");
                return http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    next.run(req).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_pages_are_guarded_and_the_rest_is_not() {
        assert!(is_console_page("/"));
        assert!(is_console_page("/projects"));
        assert!(!is_console_page("/login"));
        assert!(!is_console_page("/api/login"));
        assert!(!is_console_page("/pkg/iap.wasm"));
        assert!(!is_console_page("/healthz"));
    }

    #[test]
    fn the_return_path_is_url_encoded() {
        assert_eq!(urlencode("/transactions?q=a b&x=1"), "/transactions%3Fq%3Da%20b%26x%3D1");
    }
}
