//! The App Store Server API library's HTTP transport, on our shared reqwest client.
//!
//! The library fixes the base URL per environment; this transport swaps it for the configured
//! one, which is how the client reaches a fake (or a proxy) with nothing else changed.
use std::future::Future;

use app_store_server_library::api_client::transport::{Transport, TransportError};

use crate::outbound::Failure;

pub struct HttpTransport {
    http: crate::outbound::Http,
    base_url: String,
}

impl HttpTransport {
    pub fn new(http: crate::outbound::Http, base_url: &str) -> HttpTransport {
        HttpTransport { http, base_url: base_url.trim_end_matches('/').to_string() }
    }
}

impl Transport for HttpTransport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let (parts, body) = request.into_parts();
        let request =
            self.http.request(parts.method, format!("{}{path}", self.base_url)).headers(parts.headers).body(body);
        let http = self.http.clone();
        async move {
            let response = http.send(request).await.map_err(outbound_error)?;
            let status = response.status();
            if status == http::StatusCode::TOO_MANY_REQUESTS {
                // The library drops the headers of an error answer: the wait Apple asks for goes
                // through as the failure's text, and `api_error` reads it back.
                let until = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("");
                return Err(TransportError::RequestFailed(format!("{THROTTLED}{until}")));
            }
            let body = response.bytes().await.map_err(|e| outbound_error(Failure::of(&e)))?;
            // The library reports any unreadable body as its own mistake; a body that is not even
            // JSON was cut off or garbled on the way, an outage to retry.
            if status.is_success() && !body.is_empty() {
                if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                    return Err(TransportError::InvalidResponse(format!("answer cut off or garbled: {err}")));
                }
            }
            http::Response::builder()
                .status(status)
                .body(body.to_vec())
                .map_err(|e| TransportError::InvalidResponse(e.to_string()))
        }
    }
}

/// How a 429 answer's `Retry-After` (a UNIX time in milliseconds) is passed to `api_error`.
pub(super) const THROTTLED: &str = "throttled by Apple until ";

fn outbound_error(failure: Failure) -> TransportError {
    match failure {
        Failure::Timeout => TransportError::Timeout,
        other => TransportError::NetworkError(other.to_string()),
    }
}
