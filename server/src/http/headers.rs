//! What every response tells the browser about protecting the console.
//!
//! Console pages carry a Content-Security-Policy that allows the page's own scripts (the
//! hydration script by its per-response nonce, the wasm module from this origin) and nothing else;
//! every other response gets one that allows nothing at all. No page may be framed, so a click
//! cannot be stolen by an overlay; HSTS is sent when the console is served over https.
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{header, HeaderValue};

/// The policy of a console page whose inline scripts carry `nonce`.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// For everything that is not a console page: JSON, CSV, files.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether to send HSTS: the console's public URL is https.
#[derive(Clone, Copy)]
pub struct Https(pub bool);

pub async fn set(State(Https(https)): State<Https>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(NOTHING));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Console URLs carry search terms (user ids, order ids): they stay on this site.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}
