//! The Apple fake's signing chains: a root, an intermediate carrying Apple's WWDR OID and a leaf
//! carrying the receipt-signing OID, generated at start-up like Apple's own test CA; plus the
//! defective chains negative tests need. Built as Apple's are (subject and authority key
//! identifiers, key usage, basic constraints), because Apple's libraries verify with OpenSSL's
//! strict checks, which refuse a certificate below the root without an authority key identifier.
use base64::{engine::general_purpose::STANDARD, Engine};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::{json, Value};

use crate::fakes::jwt;

const WWDR_INTERMEDIATE_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 2, 1];
const RECEIPT_SIGNER_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 11, 1];
const BASIC_CONSTRAINTS_OID: &[u64] = &[2, 5, 29, 19];
const SUBJECT_KEY_IDENTIFIER_OID: &[u64] = &[2, 5, 29, 14];

/// A leaf key and the `x5c` header of its chain (leaf, intermediate, root).
pub struct Signer {
    x5c: Vec<String>,
    pkcs8: Vec<u8>,
}

impl Signer {
    /// A compact ES256 JWS of `claims`, as Apple signs transactions, renewals and notifications.
    pub fn sign(&self, claims: &Value) -> String {
        jwt::sign_es256(&json!({"alg": "ES256", "x5c": self.x5c}), claims, &self.pkcs8)
    }

    /// Signed with this chain's header but another key: a forgery.
    pub fn forge(&self, other: &Signer, claims: &Value) -> String {
        jwt::sign_es256(&json!({"alg": "ES256", "x5c": self.x5c}), claims, &other.pkcs8)
    }
}

pub struct Chains {
    /// The root a verifier must trust to accept `good`, DER-encoded.
    pub root_der: Vec<u8>,
    pub good: Signer,
    /// A well-formed chain under a root nobody configured.
    pub foreign: Signer,
    /// Chains to the right root, but the leaf lacks the receipt-signing OID.
    pub missing_oid: Signer,
    /// Chains to the right root, but the leaf certificate has expired.
    pub expired: Signer,
}

struct Authority {
    cert: Certificate,
    key: KeyPair,
}

impl Chains {
    pub fn generate() -> Chains {
        let root = authority("Fake Apple Root CA - G3", None);
        let intermediate = authority("Fake Apple Worldwide Developer Relations CA - G6", Some(&root));
        let other_root = authority("Somebody Else's Root CA", None);
        let other_intermediate = authority("Somebody Else's Intermediate", Some(&other_root));
        Chains {
            root_der: root.cert.der().to_vec(),
            good: leaf(&intermediate, &root, LeafKind::Valid),
            foreign: leaf(&other_intermediate, &other_root, LeafKind::Valid),
            missing_oid: leaf(&intermediate, &root, LeafKind::WithoutOid),
            expired: leaf(&intermediate, &root, LeafKind::Expired),
        }
    }
}

fn params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no subject alternative names");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "Fake Apple Inc.");
    params.distinguished_name.push(DnType::CountryName, "US");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    params
}

/// A root (no issuer) or an intermediate carrying the WWDR OID.
fn authority(common_name: &str, issuer: Option<&Authority>) -> Authority {
    let key = KeyPair::generate().expect("P-256 key generation");
    let mut params = params(common_name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = match issuer {
        None => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.self_signed(&key)
        }
        Some(issuer) => {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.use_authority_key_identifier_extension = true;
            params.custom_extensions.push(CustomExtension::from_oid_content(WWDR_INTERMEDIATE_OID, vec![0x05, 0x00]));
            params.signed_by(&key, &issuer.cert, &issuer.key)
        }
    };
    Authority { cert: cert.expect("certificate signing"), key }
}

enum LeafKind {
    Valid,
    WithoutOid,
    Expired,
}

fn leaf(intermediate: &Authority, root: &Authority, kind: LeafKind) -> Signer {
    let key = KeyPair::generate().expect("P-256 key generation");
    let mut params = params("Fake Prod ECC Mac App Store and iTunes Store Receipt Signing");
    // Not `IsCa::ExplicitNoCa`: rcgen writes its `cA FALSE` out, which DER forbids (a default is
    // left out) and the `cryptography` package refuses. The extension, as DER has it, is written
    // here, with the subject key identifier rcgen writes only for the explicit form.
    params.is_ca = IsCa::NoCa;
    params.custom_extensions.push(CustomExtension::from_oid_content(BASIC_CONSTRAINTS_OID, vec![0x30, 0x00]));
    params.custom_extensions.push(subject_key_identifier(&key));
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if matches!(kind, LeafKind::Expired) {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now - time::Duration::days(1);
    }
    if !matches!(kind, LeafKind::WithoutOid) {
        params.custom_extensions.push(CustomExtension::from_oid_content(RECEIPT_SIGNER_OID, vec![0x05, 0x00]));
    }
    let cert = params.signed_by(&key, &intermediate.cert, &intermediate.key).expect("certificate signing");
    let x5c = [cert.der(), intermediate.cert.der(), root.cert.der()].map(|der| STANDARD.encode(der)).to_vec();
    Signer { x5c, pkcs8: key.serialize_der() }
}

/// RFC 5280's key identifier, method 1: the SHA-1 of the public key's bits.
fn subject_key_identifier(key: &KeyPair) -> CustomExtension {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.public_key_raw());
    let mut content = vec![0x04, digest.as_ref().len() as u8];
    content.extend_from_slice(digest.as_ref());
    CustomExtension::from_oid_content(SUBJECT_KEY_IDENTIFIER_OID, content)
}
