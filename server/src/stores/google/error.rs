//! Google API error answers, sorted into the three kinds callers act on.
use serde::Deserialize;

use crate::stores::{outage, StoreError};

#[derive(Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<Detail>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Detail {
    reason: Option<String>,
}

/// The `reason` of Google's first error detail (e.g. `purchaseTokenNotFound`) becomes the code.
/// 401/403 mean our service account is wrong or lacks Play Console permissions; 409
/// `concurrentUpdate` and every 5xx or 429 are worth retrying; the rest is the store saying no
/// (400 wrong product or package, 404 unknown token, 410 a token too old to query).
pub fn classify(status: reqwest::StatusCode, body: &str) -> StoreError {
    if let Some(err) = outage(status) {
        return err;
    }
    let (code, message) = match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) => {
            let reason = envelope.error.errors.into_iter().find_map(|d| d.reason);
            let code = reason.or(envelope.error.status).unwrap_or_else(|| format!("HTTP{}", status.as_u16()));
            (code, envelope.error.message)
        }
        Err(_) => (format!("HTTP{}", status.as_u16()), "the store answered without an error body".into()),
    };
    match status.as_u16() {
        401 | 403 => StoreError::Config(format!("Google refused our credentials: {code}: {message}")),
        409 => StoreError::Unavailable(format!("{code}: {message}")),
        _ => StoreError::Rejected { code, message },
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    #[test]
    fn the_reason_of_a_rejection_becomes_its_code() {
        let body = r#"{"error":{"code":400,"message":"The purchase token does not match the product ID.",
            "errors":[{"message":"x","domain":"androidpublisher","reason":"purchaseTokenDoesNotMatchProductId",
            "location":"token","locationType":"parameter"}]}}"#;

        let err = classify(StatusCode::BAD_REQUEST, body);

        assert_eq!(
            err,
            StoreError::Rejected {
                code: "purchaseTokenDoesNotMatchProductId".into(),
                message: "The purchase token does not match the product ID.".into()
            }
        );
    }

    #[test]
    fn unknown_and_expired_tokens_are_final() {
        let gone = r#"{"error":{"code":410,"message":"The purchase token is no longer valid.",
            "errors":[{"domain":"androidpublisher","reason":"purchaseTokenNoLongerValid"}]}}"#;
        let missing = r#"{"error":{"code":404,"message":"The purchase token was not found.",
            "errors":[{"domain":"global","reason":"purchaseTokenNotFound"}]}}"#;

        assert!(
            matches!(classify(StatusCode::GONE, gone), StoreError::Rejected { code, .. } if code == "purchaseTokenNoLongerValid")
        );
        assert!(
            matches!(classify(StatusCode::NOT_FOUND, missing), StoreError::Rejected { code, .. } if code == "purchaseTokenNotFound")
        );
    }

    #[test]
    fn credentials_problems_outages_and_conflicts_are_told_apart() {
        let auth = r#"{"error":{"code":401,"message":"Invalid Credentials","errors":[{"reason":"authError"}]}}"#;

        assert!(matches!(classify(StatusCode::UNAUTHORIZED, auth), StoreError::Config(_)));
        assert!(matches!(classify(StatusCode::FORBIDDEN, "{}"), StoreError::Config(_)));
        assert!(classify(StatusCode::TOO_MANY_REQUESTS, "").is_retryable());
        assert!(classify(StatusCode::SERVICE_UNAVAILABLE, "<html>").is_retryable());
        assert!(
            classify(StatusCode::CONFLICT, r#"{"error":{"errors":[{"reason":"concurrentUpdate"}]}}"#).is_retryable()
        );
        assert!(
            matches!(classify(StatusCode::BAD_REQUEST, "not json"), StoreError::Rejected { code, .. } if code == "HTTP400")
        );
    }
}
