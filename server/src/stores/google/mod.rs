//! Google Play (Android Publisher API v3).
pub mod client;
pub mod error;
pub mod products;
pub mod rtdn;
pub mod subscriptions;
pub mod voided;

/// The transaction id of a purchase Google reports without an order id (license-test purchases,
/// pending subscriptions): the token, which is unique per purchase, as a fixed-length digest.
fn token_transaction_id(token: &str) -> String {
    format!("token:{}", crate::crypto::sha256_hex(token))
}
