//! The codes both sides of the API and the console speak: stores, product types, console roles.
use serde::{Deserialize, Serialize};

/// Console roles, ordered by what they may do: each role may do everything the ones below it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Reads everything a support person reads; changes nothing.
    Viewer,
    /// Searches, reads details, changes payment status.
    Support,
    /// Everything, including AppKeys, store credentials, items and console users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Support, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Support => "SUPPORT",
            Role::Admin => "ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// The three stores, by the codes the NHN API uses (`marketId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Store {
    #[serde(rename = "GG")]
    Google,
    #[serde(rename = "AS")]
    Apple,
    #[serde(rename = "ONESTORE")]
    OneStore,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::Google, Store::Apple, Store::OneStore];

    pub fn code(self) -> &'static str {
        match self {
            Store::Google => "GG",
            Store::Apple => "AS",
            Store::OneStore => "ONESTORE",
        }
    }

    pub fn parse(code: &str) -> Option<Store> {
        Store::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Store::Google => "Google Play",
            Store::Apple => "App Store",
            Store::OneStore => "ONE store",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProductType {
    Consumable,
    AutoRenewable,
    /// A subscription whose every renewal is a payment to consume once.
    ConsumableAutoRenewable,
}

impl ProductType {
    pub const ALL: [ProductType; 3] =
        [ProductType::Consumable, ProductType::AutoRenewable, ProductType::ConsumableAutoRenewable];

    pub fn as_str(self) -> &'static str {
        match self {
            ProductType::Consumable => "CONSUMABLE",
            ProductType::AutoRenewable => "AUTO_RENEWABLE",
            ProductType::ConsumableAutoRenewable => "CONSUMABLE_AUTO_RENEWABLE",
        }
    }

    pub fn is_subscription(self) -> bool {
        matches!(self, ProductType::AutoRenewable | ProductType::ConsumableAutoRenewable)
    }

    /// Whether its payments are consumed by the app (every renewal, for a consumable subscription).
    pub fn is_consumable(self) -> bool {
        matches!(self, ProductType::Consumable | ProductType::ConsumableAutoRenewable)
    }

    /// Accepts NHN's English alias `AUTO_SUBSCRIPTION` too.
    pub fn parse(s: &str) -> Option<ProductType> {
        match s {
            "AUTO_SUBSCRIPTION" => Some(ProductType::AutoRenewable),
            _ => ProductType::ALL.into_iter().find(|t| t.as_str() == s),
        }
    }
}
