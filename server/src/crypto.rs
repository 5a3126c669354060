//! Secrets at rest and random tokens.
use std::{path::Path, sync::Arc};

use aes_gcm::{
    aead::{Aead, KeyInit},
    Aes256Gcm, Key, Nonce,
};
use base64::{engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{config::Settings, Error};

/// The prefix of every ciphertext, so a later key or algorithm change can tell old values apart.
const VERSION: &str = "v1:";

/// AES-256-GCM with the configured key: store credentials, webhook secrets and access tokens are
/// stored through it and never in clear.
#[derive(Clone)]
pub struct Cipher(Arc<Aes256Gcm>);

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher(Arc::new(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))))
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, Error> {
        let raw = stored
            .strip_prefix(VERSION)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > 12)
            .ok_or_else(|| Error::Crypto("malformed ciphertext".into()))?;
        let (nonce, sealed) = raw.split_at(12);
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| Error::Crypto("ciphertext does not open with the configured key".into()))?;
        String::from_utf8(plain).map_err(|_| Error::Crypto("plaintext is not UTF-8".into()))
    }

    /// The configured key, or the one in `<data_dir>/encryption.key`, created on first run.
    pub fn from_settings(settings: &Settings) -> Result<Cipher, Error> {
        if let Some(key) = &settings.encryption_key {
            return Cipher::from_base64(key.expose());
        }
        let path = settings.data_dir.join("encryption.key");
        if path.exists() {
            let stored = std::fs::read_to_string(&path)
                .map_err(|e| Error::Crypto(format!("reading {}: {e}", path.display())))?;
            return Cipher::from_base64(stored.trim());
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        write_private(&path, &STANDARD.encode(key))?;
        tracing::warn!(
            path = %path.display(),
            "no encryption key configured: generated one. Back it up, or set IAP_ENCRYPTION_KEY; \
             without it stored store credentials and access tokens cannot be read"
        );
        Ok(Cipher::new(&key))
    }

    fn from_base64(b64: &str) -> Result<Cipher, Error> {
        let key: [u8; 32] = STANDARD
            .decode(b64)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| Error::Crypto("the encryption key must be base64 of 32 bytes".into()))?;
        Ok(Cipher::new(&key))
    }
}

fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Crypto(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).and_then(|mut f| f.write_all(contents.as_bytes())).map_err(io)
}

/// `bytes` random bytes as URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Random uppercase letters and digits, for identifiers people read and copy (AppKeys).
pub fn random_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect()
}

pub fn sha256_hex(input: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(input.as_ref());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_text_opens_with_the_same_key_only() {
        let a = Cipher::new(&[1; 32]);
        let b = Cipher::new(&[2; 32]);
        let sealed = a.encrypt("service-account-json");
        assert!(!sealed.contains("service-account-json"));
        assert_eq!(a.decrypt(&sealed).unwrap(), "service-account-json");
        assert!(b.decrypt(&sealed).is_err());
    }

    #[test]
    fn the_same_plaintext_encrypts_differently_each_time() {
        let c = Cipher::new(&[7; 32]);
        assert_ne!(c.encrypt("x"), c.encrypt("x"));
    }

    #[test]
    fn tampered_or_malformed_ciphertext_is_an_error_not_a_panic() {
        let c = Cipher::new(&[7; 32]);
        let mut sealed = c.encrypt("secret");
        sealed.pop();
        sealed.push('A');
        assert!(c.decrypt(&sealed).is_err());
        assert!(c.decrypt("v1:").is_err());
        assert!(c.decrypt("garbage").is_err());
    }

    #[test]
    fn tokens_are_url_safe_and_distinct() {
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(t, random_token(32));
    }

    #[test]
    fn constant_time_equality_agrees_with_plain_equality() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
