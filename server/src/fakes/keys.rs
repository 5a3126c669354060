//! The fakes' one RSA key: the Google fake's service-account key and the ONE store fake's
//! license key. It is made when a process first needs it, never published, so nothing outside
//! this process can sign as the fakes, and no real app can be configured with a key everyone knows.
use std::sync::OnceLock;

use ring::signature::RsaKeyPair;
use rsa::{
    pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
    RsaPrivateKey,
};

struct Key {
    private: RsaPrivateKey,
    pair: RsaKeyPair,
    pem: String,
    spki: Vec<u8>,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("an RSA key is made");
        let der = private.to_pkcs8_der().expect("an RSA key encodes as PKCS#8");
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("an RSA key encodes as PEM").to_string();
        let spki = private.to_public_key().to_public_key_der().expect("an RSA public key encodes").into_vec();
        let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key it is given");
        Key { private, pair, pem, spki }
    })
}

/// A PKCS#1 v1.5 signature over SHA-1 of `message`: Google Play still signs purchase data so, and
/// ring signs only with SHA-2.
pub fn rsa_sign_sha1(message: &[u8]) -> Vec<u8> {
    const SHA1_DIGEST_INFO: [u8; 15] =
        [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, message);
    let scheme = rsa::Pkcs1v15Sign { hash_len: Some(20), prefix: SHA1_DIGEST_INFO.into() };
    key().private.sign(scheme, digest.as_ref()).expect("RSA signing with the fakes' key")
}

pub fn rsa_key_pair() -> &'static RsaKeyPair {
    &key().pair
}

/// The private key as PKCS#8 PEM, the form of a Google service-account key file.
pub fn rsa_private_key_pem() -> &'static str {
    &key().pem
}

/// The public half as X.509 SubjectPublicKeyInfo DER, the form of ONE store's license key.
pub fn rsa_public_key_spki() -> &'static [u8] {
    &key().spki
}
