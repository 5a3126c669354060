//! Who a store purchase belongs to. The app hands the store a value derived from its user id with
//! the purchase (Google `obfuscatedAccountId`, Apple `appAccountToken`); the store keeps it on the
//! purchase and signs it into its answer, so a purchase presented under another user id is told
//! apart from the buyer's own. ONE store carries no such value.
//!
//! The value is a one-way digest of the user id, as Google asks (no personal data at the store),
//! and the same for every project: an app computes it itself for purchases that start in the
//! store, or takes it from the reservation. Knowing it lets nobody take a purchase: it only names
//! the user a purchase was made for.
use model::Store;
use sha2::{Digest, Sha256};

/// A project's rule for purchases that carry no account value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserBinding {
    /// A purchase without the value is refused (the default for new projects).
    Required,
    /// A purchase without the value is accepted (weaker: for apps that cannot set it yet); one
    /// naming another user is still refused.
    WhenPresent,
}

impl UserBinding {
    pub fn as_str(self) -> &'static str {
        match self {
            UserBinding::Required => "REQUIRED",
            UserBinding::WhenPresent => "WHEN_PRESENT",
        }
    }

    pub fn parse(s: &str) -> Option<UserBinding> {
        match s {
            "REQUIRED" => Some(UserBinding::Required),
            "WHEN_PRESENT" => Some(UserBinding::WhenPresent),
            _ => None,
        }
    }
}

fn digest(user_id: &str) -> [u8; 32] {
    Sha256::new().chain_update(b"iap-account:").chain_update(user_id.as_bytes()).finalize().into()
}

/// Google's `obfuscatedAccountId` for `user_id`: the SHA-256 of `iap-account:` and the user id, in
/// hex (64 characters, Google's limit).
pub fn google_account_id(user_id: &str) -> String {
    digest(user_id).iter().map(|b| format!("{b:02x}")).collect()
}

/// Apple's `appAccountToken` for `user_id`: the first 16 bytes of the same digest as a UUID
/// (version 8, RFC 9562's custom version), lower case.
pub fn apple_account_token(user_id: &str) -> String {
    let mut b: [u8; 16] = digest(user_id)[..16].try_into().expect("16 of 32 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The value a purchase in `store` carries for `user_id`; `None` where the store carries none.
pub fn account_value(store: Store, user_id: &str) -> Option<String> {
    match store {
        Store::Google => Some(google_account_id(user_id)),
        Store::Apple => Some(apple_account_token(user_id)),
        Store::OneStore => None,
    }
}

/// How a purchase's account value compares with the user it is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The value names this user, or the store carries none.
    Matches,
    /// The store could carry one and the purchase has none.
    Missing,
    /// The value names someone else.
    OtherUser,
}

pub fn check(store: Store, user_id: &str, carried: Option<&str>) -> Binding {
    let Some(expected) = account_value(store, user_id) else { return Binding::Matches };
    match carried.map(str::trim).filter(|v| !v.is_empty()) {
        None => Binding::Missing,
        // UUIDs are compared without regard to case; Google's value is ours, in lower-case hex.
        Some(value) if value.eq_ignore_ascii_case(&expected) => Binding::Matches,
        Some(_) => Binding::OtherUser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_values_are_digests_of_the_user_id_in_each_stores_format() {
        // The same as Python's hashlib.sha256(b"iap-account:user-1").hexdigest().
        assert_eq!(google_account_id("user-1"), "586fc7cc035a4abb555d36833a2d524cd00d66618dbac9d9a5ae11fc4993be35");
        let token = apple_account_token("user-1");
        assert_eq!(token.len(), 36);
        assert_eq!(&token[14..15], "8", "UUID version 8");
        assert!(matches!(&token[19..20], "8" | "9" | "a" | "b"), "RFC 9562 variant");
        assert_eq!(token[..8], google_account_id("user-1")[..8]);
    }

    #[test]
    fn a_purchase_is_bound_to_the_user_its_value_names_and_to_nobody_else() {
        let mine = apple_account_token("alice");

        assert_eq!(check(Store::Apple, "alice", Some(&mine.to_uppercase())), Binding::Matches);
        assert_eq!(check(Store::Apple, "mallory", Some(&mine)), Binding::OtherUser);
        assert_eq!(check(Store::Google, "alice", None), Binding::Missing);
        assert_eq!(check(Store::Google, "alice", Some(" ")), Binding::Missing);
        assert_eq!(check(Store::OneStore, "alice", None), Binding::Matches, "ONE store carries no value");
    }
}
