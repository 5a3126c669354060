//! Authenticating a Pub/Sub push: the OIDC token Google puts in `Authorization: Bearer …` when the
//! push subscription is authenticated. The token is an RS256 JWT signed with one of Google's keys
//! (published as a JWKS at a configurable URL), issued by `accounts.google.com`, for the audience
//! set on the subscription and the service account it pushes as.
//!
//! Without this check a push is anyone's POST: whatever it says is only a hint to ask Google.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::Value;

/// Google's published keys for the tokens it signs.
pub const GOOGLE_KEYS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Clocks differ a little; a token is accepted this long past its `exp`.
const SKEW_SECS: i64 = 60;
/// Keys are kept this long unless the answer's `Cache-Control` says otherwise.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// An unknown key id makes the keys be fetched again, but not more often than this: tokens naming
/// made-up key ids must not turn into a flood of requests to the key URL.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// What the store app expects of its pushes.
pub struct Expected<'a> {
    pub audience: &'a str,
    pub service_account: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushAuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is not RS256")]
    Algorithm,
    #[error("the token is signed with a key Google does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token was not issued by Google")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another service account")]
    ServiceAccount,
    #[error("Google's keys could not be read: {0}")]
    Keys(String),
}

impl PushAuthError {
    /// Whether the push may be good and only our side failed: the store should send it again.
    pub fn is_ours(&self) -> bool {
        matches!(self, PushAuthError::Keys(_))
    }
}

struct KeySet {
    keys: HashMap<String, RsaPublicKeyComponents<Vec<u8>>>,
    fetched: Instant,
    max_age: Duration,
}

/// Google's keys, fetched when first needed and kept as long as Google says.
pub struct PushKeys {
    url: String,
    http: crate::outbound::Http,
    set: tokio::sync::Mutex<Option<KeySet>>,
}

impl PushKeys {
    pub fn new(url: &str, http: crate::outbound::Http) -> PushKeys {
        PushKeys { url: url.to_string(), http, set: tokio::sync::Mutex::new(None) }
    }

    /// Checks the `Authorization` header of a push against `expected`.
    pub async fn verify(&self, authorization: Option<&str>, expected: &Expected<'_>) -> Result<(), PushAuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(PushAuthError::Missing)?;
        let token = Token::parse(token).ok_or(PushAuthError::Malformed)?;
        if token.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(PushAuthError::Algorithm);
        }
        let kid = token.header.get("kid").and_then(Value::as_str).ok_or(PushAuthError::UnknownKey)?;
        let key = self.key(kid).await?;
        key.verify(&RSA_PKCS1_2048_8192_SHA256, token.signing_input.as_bytes(), &token.signature)
            .map_err(|_| PushAuthError::Signature)?;
        check_claims(&token.claims, expected, chrono::Utc::now().timestamp())
    }

    async fn key(&self, kid: &str) -> Result<RsaPublicKeyComponents<Vec<u8>>, PushAuthError> {
        let mut set = self.set.lock().await;
        let fresh = set.as_ref().is_some_and(|s| s.fetched.elapsed() < s.max_age);
        let known = set.as_ref().and_then(|s| s.keys.get(kid)).cloned();
        if let (true, Some(key)) = (fresh, &known) {
            return Ok(key.clone());
        }
        let may_refetch = set.as_ref().is_none_or(|s| !fresh || s.fetched.elapsed() >= REFETCH_AFTER);
        if may_refetch {
            match self.fetch().await {
                Ok(fetched) => *set = Some(fetched),
                // Google's key URL failing must not reject pushes signed with a key we still hold.
                Err(err) if known.is_none() => return Err(err),
                Err(err) => tracing::warn!(error = %err, "refreshing Google's push keys failed; the old ones are used"),
            }
        }
        set.as_ref().and_then(|s| s.keys.get(kid)).cloned().or(known).ok_or(PushAuthError::UnknownKey)
    }

    async fn fetch(&self) -> Result<KeySet, PushAuthError> {
        let failed = |e: String| PushAuthError::Keys(e);
        let response = self.http.send(self.http.get(&self.url)).await.map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let jwks: Jwks = response.json().await.map_err(|e| failed(e.without_url().to_string()))?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                let n = URL_SAFE_NO_PAD.decode(k.n.trim_end_matches('=')).ok()?;
                let e = URL_SAFE_NO_PAD.decode(k.e.trim_end_matches('=')).ok()?;
                Some((k.kid, RsaPublicKeyComponents { n, e }))
            })
            .collect();
        Ok(KeySet { keys, fetched: Instant::now(), max_age })
    }
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
}

fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
}

struct Token {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Token {
    fn parse(token: &str) -> Option<Token> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok();
        Some(Token {
            header: serde_json::from_slice(&decode(header)?).ok()?,
            claims: serde_json::from_slice(&decode(claims)?).ok()?,
            signing_input: signing_input.to_string(),
            signature: decode(signature)?,
        })
    }
}

/// The claims of a token whose signature verified.
fn check_claims(claims: &Value, expected: &Expected<'_>, now: i64) -> Result<(), PushAuthError> {
    let text = |key: &str| claims.get(key).and_then(Value::as_str);
    if !text("iss").is_some_and(|iss| ISSUERS.contains(&iss)) {
        return Err(PushAuthError::Issuer);
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !audience_matches {
        return Err(PushAuthError::Audience);
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(PushAuthError::Expired)?;
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if exp + SKEW_SECS < now || iat > now + SKEW_SECS {
        return Err(PushAuthError::Expired);
    }
    let verified =
        matches!(claims.get("email_verified"), Some(Value::Bool(true))) || text("email_verified") == Some("true");
    if !verified || !text("email").is_some_and(|e| e.eq_ignore_ascii_case(expected.service_account)) {
        return Err(PushAuthError::ServiceAccount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EXPECTED: Expected<'static> =
        Expected { audience: "https://iap.example/push", service_account: "push@p.iam.gserviceaccount.com" };

    fn claims() -> Value {
        json!({"iss": "https://accounts.google.com", "aud": "https://iap.example/push",
               "email": "push@p.iam.gserviceaccount.com", "email_verified": true, "iat": 1000, "exp": 4600})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[key] = value;
        claims
    }

    #[test]
    fn a_token_from_google_for_this_audience_and_service_account_passes() {
        assert_eq!(check_claims(&claims(), &EXPECTED, 2000), Ok(()));
        assert_eq!(check_claims(&with("iss", json!("accounts.google.com")), &EXPECTED, 2000), Ok(()));
        assert_eq!(check_claims(&with("aud", json!(["x", "https://iap.example/push"])), &EXPECTED, 2000), Ok(()));
    }

    #[test]
    fn each_wrong_claim_is_refused_for_its_own_reason() {
        let cases = [
            (with("iss", json!("https://evil.example")), PushAuthError::Issuer),
            (with("aud", json!("https://other.example/push")), PushAuthError::Audience),
            (with("email", json!("someone@else.iam.gserviceaccount.com")), PushAuthError::ServiceAccount),
            (with("email_verified", json!(false)), PushAuthError::ServiceAccount),
            (with("exp", json!(1500)), PushAuthError::Expired),
            (with("iat", json!(9000)), PushAuthError::Expired),
        ];
        for (claims, expected) in cases {
            assert_eq!(check_claims(&claims, &EXPECTED, 2000), Err(expected.clone()), "{claims}");
        }
    }

    #[test]
    fn the_cache_lifetime_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=19923, must-revalidate"), Some(Duration::from_secs(19923)));
        assert_eq!(max_age("no-cache"), None);
    }
}
