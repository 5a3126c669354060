//! The vocabulary the console and the server share: store codes, product types and roles; the
//! queries and rows the console pages exchange with the server; the rules both enforce; and pure
//! formatting. Serde only, so the payment domain and the store clients use it without the console.
mod codes;
pub mod format;
mod rules;
pub mod urls;
mod views;

pub use codes::*;
pub use rules::*;
pub use views::*;
