//! The fakes' one RSA key: the Google fake's service-account key and the ONE store fake's
//! license key. It is published with the source, so it is good for tests only. RSA keys are
//! slow to generate, which is why it is fixed rather than made at start-up.
use std::sync::OnceLock;

use ring::signature::RsaKeyPair;

use super::jwt;

pub const TEST_RSA_KEY_PEM: &str = include_str!("test_rsa_key.pem");

pub fn rsa_key_pair() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = jwt::pem_der(TEST_RSA_KEY_PEM).expect("the fakes' key file is PEM");
        RsaKeyPair::from_pkcs8(&der).expect("the fakes' key file is an RSA PKCS#8 key")
    })
}

/// The public half as X.509 SubjectPublicKeyInfo DER, the form of ONE store's license key.
pub fn rsa_public_key_spki() -> Vec<u8> {
    rcgen::KeyPair::from_pem(TEST_RSA_KEY_PEM).expect("the fakes' key file is an RSA PKCS#8 key").public_key_der()
}
