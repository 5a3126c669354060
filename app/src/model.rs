//! Types shared by the console pages and the server.
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

    /// Accepts NHN's English alias `AUTO_SUBSCRIPTION` too.
    pub fn parse(s: &str) -> Option<ProductType> {
        match s {
            "AUTO_SUBSCRIPTION" => Some(ProductType::AutoRenewable),
            _ => ProductType::ALL.into_iter().find(|t| t.as_str() == s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
}

/// What every page needs to know about the browser's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<UserInfo>,
    /// Echoed back as the `_csrf` field of every state-changing request.
    pub csrf: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginResult {
    SignedIn,
    BadCredentials,
    Throttled { retry_after_secs: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub id: i64,
    pub name: String,
    pub app_key: String,
    pub key_enabled: bool,
    /// Store codes of the project's apps, e.g. `["AS", "GG"]`.
    pub stores: Vec<String>,
    pub product_count: i64,
    pub payment_count: i64,
    pub created_at: i64,
}

/// A project just created: the only time its SecretKey is ever shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProjectKeys {
    pub project_id: i64,
    pub name: String,
    pub app_key: String,
    pub secret_key: String,
}

/// A purchase search, as the transactions page's URL carries it. Every field is optional; an empty
/// query lists the newest payments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransactionQuery {
    /// Any identifier: paymentSeq, user id, store reference key (order or transaction id,
    /// original transaction id), purchase token or access token.
    pub q: Option<String>,
    pub project: Option<i64>,
    /// A store code: GG, AS or ONESTORE.
    pub store: Option<String>,
    /// A store product id.
    pub product: Option<String>,
    /// RESERVED, SUCCESS, FAILURE or REFUND.
    pub status: Option<String>,
    /// `Some(true)` consumed only, `Some(false)` unconsumed only.
    pub consumed: Option<bool>,
    /// Whether test (sandbox) purchases are shown.
    pub include_test: bool,
    /// Days `YYYY-MM-DD` (UTC), both included; no limit on the span.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// The cursor of the page to show, from the previous page.
    pub after: Option<String>,
}

/// One payment in the search results: the columns of NHN's Transaction tab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    pub payment_seq: String,
    pub project: String,
    pub store: String,
    pub user_id: String,
    pub product_name: Option<String>,
    pub product_id: String,
    pub product_type: String,
    pub price: Option<f64>,
    pub currency: Option<String>,
    pub consumed: bool,
    pub status: String,
    /// The store reference key.
    pub payment_id: Option<String>,
    pub reserved_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub refunded_at: Option<i64>,
    pub developer_payload: Option<String>,
    pub test: bool,
    /// Which identifier the search text matched, when there was one.
    pub matched: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionPage {
    pub rows: Vec<TransactionRow>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// Everything about one payment, for the detail page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentDetail {
    pub summary: TransactionRow,
    pub app_id: String,
    pub product_seq: Option<i64>,
    pub original_payment_id: Option<String>,
    pub linked_payment_id: Option<String>,
    pub purchase_token: Option<String>,
    pub purchase_time: Option<i64>,
    pub expiry_time: Option<i64>,
    pub renew_time: Option<i64>,
    pub subscription_state: Option<String>,
    pub auto_renewing: Option<bool>,
    pub pending_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub consumed_at: Option<i64>,
    pub consume_source: Option<String>,
    pub verify_attempts: i64,
    pub ack_state: String,
    /// The store's last answer about this payment, as JSON text.
    pub store_response: Option<String>,
    pub history: Vec<HistoryRow>,
    /// The other periods of the same subscription.
    pub related: Vec<TransactionRow>,
    /// The same user's other payments in the project, newest first.
    pub user_payments: Vec<TransactionRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub at: i64,
    pub from: Option<String>,
    pub to: String,
    pub event: String,
    /// CLIENT, SERVER, STORE, CONSOLE or SWEEP.
    pub source: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// What the refunds page shows, as its URL carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundQuery {
    pub store: Option<String>,
    /// Days `YYYY-MM-DD` (UTC), both included.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only users with at least this many refunds in the period (the abuse view).
    pub min_refunds: Option<i64>,
}

/// One refunded, voided or revoked payment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundRow {
    pub payment_seq: String,
    pub project: String,
    pub store: String,
    pub user_id: String,
    pub product_id: String,
    /// REFUND, VOID or REVOKE.
    pub kind: String,
    /// NOTIFICATION, SWEEP, MANUAL or STORE_API.
    pub source: String,
    pub refunded_at: i64,
    pub reason: Option<String>,
    /// The item had been consumed (granted) before the refund: it needs clawing back.
    pub was_consumed: bool,
    pub amount: Option<f64>,
    pub currency: Option<String>,
}

/// One user's refunds over the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundUser {
    pub project: String,
    pub user_id: String,
    pub refunds: i64,
    /// Per currency, e.g. `9.99 USD, 1100.00 KRW`.
    pub amounts: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundReport {
    /// The newest refunds of the period, at most 200.
    pub refunds: Vec<RefundRow>,
    /// Users by refund count, most first.
    pub users: Vec<RefundUser>,
}

/// An audit log search, as the audit page's URL carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// An action such as `login.failed` or `project.create`.
    pub action: Option<String>,
    /// Days `YYYY-MM-DD` (UTC), both included.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The cursor of the page to show, from the previous page.
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: i64,
    pub actor: String,
    pub action: String,
    /// `kind id`, e.g. `project 3`.
    pub target: Option<String>,
    pub reason: Option<String>,
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub next: Option<String>,
}
