//! Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64 part of a `whsec_` secret, sent
//! as `v1,<base64>` — one entry per valid secret, space-separated, while a rotation is under way.
use base64::{engine::general_purpose::STANDARD, Engine};
use ring::hmac;

const PREFIX: &str = "whsec_";
/// How far a receiver should let a timestamp be from its clock (the specification's advice).
pub const TOLERANCE_SECS: i64 = 300;

/// A new signing secret: 24 random bytes, as the specification's `whsec_` string.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

fn key(secret: &str) -> Option<hmac::Key> {
    let raw = STANDARD.decode(secret.strip_prefix(PREFIX).unwrap_or(secret)).ok()?;
    Some(hmac::Key::new(hmac::HMAC_SHA256, &raw))
}

fn content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` header for `body`, signed with every secret given.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = content(id, timestamp, body);
    secrets
        .iter()
        .filter_map(|s| key(s))
        .map(|key| format!("v1,{}", STANDARD.encode(hmac::sign(&key, &content).as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a receiver does: the timestamp is recent and one `v1` signature matches (compared in
/// constant time).
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str, now_secs: i64) -> bool {
    let (Some(key), Ok(timestamp)) = (key(secret), timestamp.parse::<i64>()) else { return false };
    if (now_secs - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    let content = content(id, timestamp, body);
    signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .any(|sig| hmac::verify(&key, &content, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn the_reference_example_signs_to_the_reference_signature() {
        assert_eq!(header(&[SECRET], ID, TIMESTAMP, BODY), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_receiver_accepts_any_listed_signature_and_nothing_tampered_or_stale() {
        let other = new_secret();
        let both = header(&[&other, SECRET], ID, TIMESTAMP, BODY);
        let now = TIMESTAMP + 10;

        assert!(verify(SECRET, ID, "1614265330", BODY, &both, now));
        assert!(verify(&other, ID, "1614265330", BODY, &both, now));
        assert!(!verify(SECRET, ID, "1614265330", br#"{"test": 1}"#, &both, now));
        assert!(!verify(SECRET, "msg_other", "1614265330", BODY, &both, now));
        assert!(!verify(SECRET, ID, "1614265330", BODY, &both, TIMESTAMP + TOLERANCE_SECS + 1));
        assert!(!verify(&new_secret(), ID, "1614265330", BODY, &both, now));
    }
}
