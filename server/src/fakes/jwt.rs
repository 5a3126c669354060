//! The compact JWS/JWT handling the fakes need: splitting, base64url, PEM bodies, and ES256 signing.
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use ring::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256},
};
use serde_json::Value;

/// A token split into its parts; nothing is verified yet.
pub struct Parts<'a> {
    pub header: Value,
    pub claims: Value,
    /// `header.claims` as sent: what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

pub fn split(token: &str) -> Option<Parts<'_>> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    Some(Parts {
        header: serde_json::from_slice(&b64url_decode(header)?).ok()?,
        claims: serde_json::from_slice(&b64url_decode(claims)?).ok()?,
        signing_input,
        signature: b64url_decode(signature)?,
    })
}

/// base64url with or without padding: some clients (gcp_auth) pad, the JOSE spec does not.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER inside a PEM block.
pub fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).ok()
}

/// A compact ES256 JWS of `claims` with `header`, signed by the PKCS#8 P-256 key `pkcs8`.
pub fn sign_es256(header: &Value, claims: &Value, pkcs8: &[u8]) -> String {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
        .expect("the fake's own P-256 keys are valid PKCS#8");
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = key.sign(&rng, input.as_bytes()).expect("ECDSA signing does not fail");
    format!("{input}.{}", b64url(signature.as_ref()))
}

/// A compact RS256 JWS of `claims` with `header`, signed by `key`.
pub fn sign_rs256(header: &Value, claims: &Value, key: &RsaKeyPair) -> String {
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
        .expect("RSA signing with a valid key does not fail");
    format!("{input}.{}", b64url(&signature))
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_unpadded_base64url_both_decode() {
        assert_eq!(b64url_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64url_decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(b64url_decode("Y!"), None);
    }

    #[test]
    fn a_token_splits_into_header_claims_and_signature() {
        let token = format!("{}.{}.{}", b64url(br#"{"alg":"RS256"}"#), b64url(br#"{"iss":"x"}"#), b64url(b"sig"));

        let parts = split(&token).unwrap();

        assert_eq!(parts.header["alg"], "RS256");
        assert_eq!(parts.claims["iss"], "x");
        assert_eq!(parts.signature, b"sig");
        assert!(split("not-a-token").is_none());
        assert!(split("a.b").is_none());
    }
}
