//! Argon2id password hashes. Hashing is deliberately slow, so it runs off the async runtime, and
//! never more at once than the machine has cores: each takes 19 MiB and a core for tens of
//! milliseconds, and sign-in needs no account, so unbounded hashing would let anyone exhaust the
//! server's memory and CPU.
use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::Error;

/// Permits for hashing at once: one per core.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

pub async fn hash(plain: String) -> Result<String, Error> {
    let _permit = HASHING.acquire().await.map_err(|e| Error::Other(format!("hashing closed: {e}")))?;
    tokio::task::spawn_blocking(move || hash_blocking(&plain))
        .await
        .map_err(|e| Error::Other(format!("hashing task failed: {e}")))?
}

fn hash_blocking(plain: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::thread_rng());
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Crypto(format!("argon2: {e}")))
}

/// Checks `plain` against `stored`. With no stored hash (unknown user) it checks against a dummy
/// hash, so the answer takes as long as for a real user and does not reveal which names exist.
pub async fn verify(plain: String, stored: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else { return false };
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        known && matches
    })
    .await
    .unwrap_or(false)
}

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("no user has this password").expect("hashing a constant"));

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(stored.clone())).await);
        assert!(!verify("wrong horse".into(), Some(stored)).await);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify("no user has this password".into(), None).await);
    }
}
