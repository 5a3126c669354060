//! CSRF protection for every state-changing console request.
//!
//! Server functions are the console's only POST endpoints (`/api/…`). Each form carries the
//! session's token as `_csrf`; this layer reads it from the body before the function runs and
//! refuses the request when it does not match, so a server function cannot forget the check.
//! Cross-site requests are refused outright when the browser says so (`Sec-Fetch-Site`), and the
//! session cookie is `SameSite=Strict` besides.
use app::AppError;
use axum::{
    body::{to_bytes, Body},
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, Method, StatusCode};
use leptos::server_fn::error::{FromServerFnError, SERVER_FN_ERROR_HEADER};
use tower_sessions::Session;

use crate::console_auth;

/// Console forms are small; anything larger is not a console form.
const MAX_FORM_BYTES: usize = 256 * 1024;
pub const FIELD: &str = "_csrf";

pub async fn verify(session: Session, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let cross_site = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    if cross_site {
        return refuse(req.uri().path());
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    let presented = form_field(&bytes, FIELD).unwrap_or_default();
    match console_auth::csrf_matches(&session, &presented).await {
        Ok(true) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(false) => refuse(&path),
        Err(err) => {
            tracing::error!(error = %err, "reading the session failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A 403 the console's server-function client decodes as [`AppError::Csrf`].
fn refuse(path: &str) -> Response {
    tracing::warn!(path, "CSRF check failed");
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json"), (header::HeaderName::from_static(SERVER_FN_ERROR_HEADER), path)],
        AppError::Csrf.ser(),
    )
        .into_response()
}

/// The first value of `name` in a urlencoded form body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_among_other_fields() {
        let body = b"username=a%40b&_csrf=abc-_%2B1&password=x+y";
        assert_eq!(form_field(body, "_csrf").as_deref(), Some("abc-_+1"));
        assert_eq!(form_field(body, "password").as_deref(), Some("x y"));
    }

    #[test]
    fn a_missing_field_gives_nothing() {
        assert_eq!(form_field(b"a=1", "_csrf"), None);
        assert_eq!(form_field(b"", "_csrf"), None);
    }
}
