//! OAuth access tokens as the Google and ONE store fakes issue and check them.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::http::HeaderMap;

/// Both stores issue hour-long tokens.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Clone, Default)]
pub struct AccessTokens {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Instant>,
    lifetime: Option<Duration>,
    issued: u32,
}

impl AccessTokens {
    /// A new token starting with `prefix`, and how long it lasts.
    pub fn issue(&self, prefix: &str) -> (String, Duration) {
        let mut inner = self.lock();
        inner.issued += 1;
        let lifetime = inner.lifetime.unwrap_or(DEFAULT_LIFETIME);
        let token = format!("{prefix}{}", crate::crypto::random_token(24));
        inner.live.insert(token.clone(), Instant::now() + lifetime);
        (token, lifetime)
    }

    /// Whether the request carries exactly `Bearer <a live token>`: both stores refuse a
    /// lower-case scheme or a missing one.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(token) =
            headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.lock().live.get(token).is_some_and(|expires| *expires > Instant::now())
    }

    /// Tokens issued from now on last this long.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.lock().lifetime = Some(lifetime);
    }

    /// Ends every issued token now, as a revocation at the store would.
    pub fn expire_all(&self) {
        self.lock().live.clear();
    }

    pub fn issued(&self) -> u32 {
        self.lock().issued
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
