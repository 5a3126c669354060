//! Secrets at rest and random tokens.
use std::{path::Path, sync::Arc};

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Key, Nonce,
};
use base64::{engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{config::Settings, Error};

/// The prefix of every ciphertext: `v2` is bound to its place (below); `v1`, written before that,
/// is read only to seal it again at start-up ([`crate::db::at_rest`]).
const VERSION: &str = "v2:";
const LEGACY: &str = "v1:";

/// Every encrypted column. A ciphertext is sealed with its column's name and a value of its own
/// row as associated data, so one copied to another row or column (by anyone who can write to the
/// database) does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// `store_apps.credentials_enc`, bound to the app's id.
    StoreAppCredentials,
    /// `payments.access_token_enc`, bound to the row's `access_token_hash`, which no other
    /// payment shares.
    PaymentAccessToken,
    /// `projects.user_token_key_enc` and `previous_user_token_key_enc`, bound to the hash of the
    /// SecretKey each is derived from (the pair moves together when the SecretKey is rotated).
    UserTokenKey,
    /// `webhook_endpoints.secret_enc` and `previous_secret_enc`, bound to the endpoint's id.
    WebhookSecret,
    /// `encryption_key_check.sealed`: proves the key is the one the database was written with.
    KeyCheck,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::StoreAppCredentials => "store_apps.credentials_enc",
            Column::PaymentAccessToken => "payments.access_token_enc",
            Column::UserTokenKey => "projects.user_token_key_enc",
            Column::WebhookSecret => "webhook_endpoints.secret_enc",
            Column::KeyCheck => "encryption_key_check.sealed",
        }
    }

    fn associated_data(self, row: &str) -> Vec<u8> {
        format!("iap-server\0{}\0{row}", self.name()).into_bytes()
    }
}

/// AES-256-GCM with the configured key: store credentials, webhook secrets and access tokens are
/// stored through it and never in clear.
#[derive(Clone)]
pub struct Cipher(Arc<Aes256Gcm>);

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher(Arc::new(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))))
    }

    /// Seals `plaintext` for `column` of the row identified by `row`.
    pub fn encrypt(&self, column: Column, row: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = column.associated_data(row);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: &aad })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    /// Opens what [`Cipher::encrypt`] sealed for this column and row, and nothing else.
    pub fn decrypt(&self, column: Column, row: &str, stored: &str) -> Result<String, Error> {
        self.open(stored.strip_prefix(VERSION), &column.associated_data(row))
    }

    /// Opens a ciphertext written before ciphertexts were bound to their place.
    pub(crate) fn decrypt_legacy(&self, stored: &str) -> Result<String, Error> {
        self.open(stored.strip_prefix(LEGACY), b"")
    }

    pub(crate) fn is_legacy(stored: &str) -> bool {
        stored.starts_with(LEGACY)
    }

    fn open(&self, body: Option<&str>, aad: &[u8]) -> Result<String, Error> {
        let raw = body
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > 12)
            .ok_or_else(|| Error::Crypto("malformed ciphertext".into()))?;
        let (nonce, sealed) = raw.split_at(12);
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| Error::Crypto("a ciphertext does not open with the configured key in its place".into()))?;
        String::from_utf8(plain).map_err(|_| Error::Crypto("plaintext is not UTF-8".into()))
    }

    /// The configured key (`encryption_key`), else the key file (`encryption_key_file`, by default
    /// outside the data folder, so a backup of the database does not carry its key), created on
    /// first run. A key an earlier version generated into the data folder is still used, with a
    /// warning to move it.
    pub fn from_settings(settings: &Settings) -> Result<Cipher, Error> {
        if let Some(key) = &settings.encryption_key {
            return Cipher::from_base64(key.expose());
        }
        let beside_data = settings.data_dir.join("encryption.key");
        if settings.encryption_key_file.is_none() && beside_data.exists() {
            tracing::warn!(
                path = %beside_data.display(),
                "the encryption key sits beside the database, so every backup of the data folder holds both: \
                 move it elsewhere and point encryption_key_file (IAP_ENCRYPTION_KEY_FILE) at it"
            );
            return Cipher::from_file(&beside_data);
        }
        let path = settings.key_file()?;
        if path.exists() {
            return Cipher::from_file(&path);
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        if !write_private(&path, &STANDARD.encode(key))? {
            // Another process created it first: use theirs.
            return Cipher::from_file(&path);
        }
        tracing::warn!(
            path = %path.display(),
            "no encryption key configured: generated one. Back it up apart from the database, or set \
             IAP_ENCRYPTION_KEY; without it stored store credentials and access tokens cannot be read"
        );
        Ok(Cipher::new(&key))
    }

    fn from_file(path: &Path) -> Result<Cipher, Error> {
        let stored =
            std::fs::read_to_string(path).map_err(|e| Error::Crypto(format!("reading {}: {e}", path.display())))?;
        Cipher::from_base64(stored.trim())
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

/// Writes `contents` to a new private file at `path` whole: written aside, then linked into place,
/// so a process starting at the same moment reads either no file or the complete one. `false`
/// when the file already existed.
fn write_private(path: &Path, contents: &str) -> Result<bool, Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Crypto(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let aside = path.with_extension(format!("{}.{}", std::process::id(), random_code(8)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&aside).and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|_| f.sync_all())).map_err(io)?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// `bytes` random bytes as URL-safe base64 without padding.
/// The PKCS#1 RSA key, as ring reads it, inside a store's license key: base64 of an X.509
/// SubjectPublicKeyInfo (Google Play's in-app billing key, ONE store's PNS key).
pub fn license_key_rsa(license_key: &str) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let der = STANDARD.decode(license_key.trim()).ok()?;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).ok()?;
    Some(spki.subject_public_key.data.to_vec())
}

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

    const APP: Column = Column::StoreAppCredentials;

    #[test]
    fn encrypted_text_opens_with_the_same_key_only() {
        let a = Cipher::new(&[1; 32]);
        let b = Cipher::new(&[2; 32]);
        let sealed = a.encrypt(APP, "1", "service-account-json");
        assert!(!sealed.contains("service-account-json"));
        assert_eq!(a.decrypt(APP, "1", &sealed).unwrap(), "service-account-json");
        assert!(b.decrypt(APP, "1", &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_opens_only_in_the_row_and_column_it_was_sealed_for() {
        let c = Cipher::new(&[3; 32]);
        let sealed = c.encrypt(APP, "1", "secret");
        assert!(c.decrypt(APP, "2", &sealed).is_err(), "another row");
        assert!(c.decrypt(Column::WebhookSecret, "1", &sealed).is_err(), "another column");
        assert!(c.decrypt_legacy(&sealed).is_err());
    }

    #[test]
    fn a_legacy_ciphertext_opens_only_through_the_upgrade_path() {
        let c = Cipher::new(&[4; 32]);
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = c.0.encrypt(Nonce::from_slice(&nonce), b"old".as_slice()).unwrap();
        let legacy = format!("{LEGACY}{}", STANDARD.encode([nonce.to_vec(), sealed].concat()));
        assert!(Cipher::is_legacy(&legacy));
        assert_eq!(c.decrypt_legacy(&legacy).unwrap(), "old");
        assert!(c.decrypt(APP, "1", &legacy).is_err());
    }

    #[test]
    fn the_same_plaintext_encrypts_differently_each_time() {
        let c = Cipher::new(&[7; 32]);
        assert_ne!(c.encrypt(APP, "1", "x"), c.encrypt(APP, "1", "x"));
    }

    #[test]
    fn tampered_or_malformed_ciphertext_is_an_error_not_a_panic() {
        let c = Cipher::new(&[7; 32]);
        let mut sealed = c.encrypt(APP, "1", "secret");
        sealed.pop();
        sealed.push('A');
        assert!(c.decrypt(APP, "1", &sealed).is_err());
        assert!(c.decrypt(APP, "1", "v2:").is_err());
        assert!(c.decrypt(APP, "1", "garbage").is_err());
    }

    #[test]
    fn two_processes_generating_the_key_file_at_once_end_with_one_key() {
        let dir = std::env::temp_dir().join(format!("iap-key-{}-{}", std::process::id(), random_code(6)));
        let path = &dir.join("encryption.key");
        let written: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|i| s.spawn(move || write_private(path, &format!("key{i}")))).collect();
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert_eq!(written.iter().filter(|w| **w).count(), 1);
        assert!(std::fs::read_to_string(dir.join("encryption.key")).unwrap().starts_with("key"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing left aside");
        std::fs::remove_dir_all(dir).unwrap();
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
