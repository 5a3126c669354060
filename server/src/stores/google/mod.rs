//! Google Play (Android Publisher API v3).
pub mod error;
pub mod products;
pub mod rtdn;
pub mod subscriptions;
pub mod voided;
