//! The Apple fake's signing chains: a root, an intermediate carrying Apple's WWDR OID and a leaf
//! carrying the receipt-signing OID, generated at start-up like Apple's own test CA; plus the
//! defective chains negative tests need.
use base64::{engine::general_purpose::STANDARD, Engine};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::{json, Value};

use crate::fakes::jwt;

const WWDR_INTERMEDIATE_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 2, 1];
const RECEIPT_SIGNER_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 11, 1];

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
    params.is_ca = IsCa::ExplicitNoCa;
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
