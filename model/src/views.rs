//! What the console pages and the server exchange: queries as the URLs carry them, and the rows and
//! pages the server answers with.
use serde::{Deserialize, Serialize};

use crate::Role;

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
    /// The viewer's chosen offset from UTC for the times shown, in minutes (a cookie).
    pub utc_offset_minutes: i32,
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
    /// RESERVED, SUCCESS, FAILURE, REFUND or USER_CLOSE.
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
    /// The price is the item's registered list price: the store gave no amount (yet).
    pub list_price: bool,
    pub consumed: bool,
    pub status: String,
    /// The store reference key.
    pub payment_id: Option<String>,
    pub reserved_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub refunded_at: Option<i64>,
    pub developer_payload: Option<String>,
    pub test: bool,
    /// Reported by the store before any verify and not claimed by its buyer yet: no user.
    pub unclaimed: bool,
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
    /// Apple's `appTransactionId`: the customer, across devices and reinstalls.
    pub app_transaction_id: Option<String>,
    /// When the store consumed it after ours (Apple: finished it), for apps that ask for it.
    pub store_consumed_at: Option<i64>,
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
    /// The store notifications about its purchase, oldest first (without their raw bodies).
    pub notifications: Vec<NotificationRow>,
    /// What the store asked before deciding a refund, and what was answered, oldest first.
    pub refund_requests: Vec<RefundRequestRow>,
}

/// A store's question before it decides a refund (Apple's consumption request, Google's chargeback
/// review) and the answer sent from the ledger.
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequestRow {
    pub id: i64,
    /// CONSUMPTION_REQUEST or CHARGEBACK_REVIEW.
    pub kind: String,
    pub reason: Option<String>,
    /// OPEN, ANSWERED, WITHHELD, FAILED or EXPIRED.
    pub status: String,
    pub received_at: i64,
    /// When the store stops taking an answer.
    pub deadline_at: i64,
    /// A support person's choice, under the SUPPORT policy.
    pub chosen_preference: Option<String>,
    /// Who decided the preference sent: `policy …` or a console user.
    pub decided_by: Option<String>,
    /// The body sent to the store, as JSON text.
    pub answer: Option<String>,
    pub answered_at: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
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
    /// Only refunds that a reconciliation sweep found and no store notification had reported.
    pub missed_only: bool,
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
    /// Found by a reconciliation sweep: the store never notified it.
    pub missed_notification: bool,
    /// For a partial refund, the share refunded in thousandths of a percent (the amount is that
    /// share of the price); `None` for the whole.
    pub refunded_share: Option<i64>,
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
    /// Users flagged by the abuse rules, not yet cleared.
    pub flags: Vec<AbuseFlagRow>,
}

/// The store-notification inbox, as its page's URL carries it. Every field is optional; an empty
/// query lists the newest notifications of every project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationQuery {
    pub project: Option<i64>,
    /// A store code: GG, AS or ONESTORE.
    pub store: Option<String>,
    /// RECEIVED, PROCESSED, IGNORED or FAILED.
    pub status: Option<String>,
    /// A day `YYYY-MM-DD` (UTC): only notifications received on it or later.
    pub since: Option<String>,
    /// The cursor of the page to show, from the previous page.
    pub after: Option<String>,
}

/// One store notification in the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRow {
    pub id: i64,
    pub store: String,
    /// The project and app it was sent for; `None` when it named no store app of ours.
    pub project: Option<String>,
    pub app_name: Option<String>,
    pub notification_type: Option<String>,
    pub subtype: Option<String>,
    /// RECEIVED (waiting or being processed), PROCESSED, IGNORED or FAILED (will be retried).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    /// The payment its processing changed.
    pub payment_seq: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    /// The purchase token or transaction id it is about.
    pub purchase_ref: Option<String>,
    /// `false` for a Google push that carried no verified OIDC token: only a hint to ask Google.
    pub authenticated: bool,
    /// The notification whose look-up at the store answered this one too.
    pub covered_by: Option<i64>,
    /// When a sweep found it in the store's notification history: the store could not deliver it.
    pub recovered_at: Option<i64>,
    /// The body as the store sent it: only for support and admins, and `None` once pruned.
    pub body: Option<String>,
    pub body_pruned_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPage {
    pub rows: Vec<NotificationRow>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
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
    /// What changed, e.g. `role VIEWER → SUPPORT`.
    pub detail: Option<String>,
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub next: Option<String>,
}

/// One field of a payment as we recorded it and as the store answers now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub field: String,
    pub ours: String,
    pub store: String,
}

impl Comparison {
    pub fn differs(&self) -> bool {
        self.ours != self.store
    }
}

/// The store's answer about a payment, asked now, beside our record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverification {
    pub checked_at: i64,
    pub comparisons: Vec<Comparison>,
    /// Why the store gave no answer (refused, unreachable, not configured).
    pub error: Option<String>,
    /// The store's answer as JSON text.
    pub raw: Option<String>,
}

/// A project with its key state, store apps and items, for the project page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDetail {
    pub id: i64,
    pub name: String,
    pub app_key: String,
    pub key_enabled: bool,
    /// The last characters of the current SecretKey.
    pub secret_hint: String,
    pub secret_rotated_at: Option<i64>,
    /// Until when the SecretKey replaced by the last rotation still works.
    pub previous_secret_valid_until: Option<i64>,
    pub key_last_used_at: Option<i64>,
    /// REQUIRED, or WHEN_PRESENT (weaker): whether a purchase must carry the buyer's account value.
    pub user_binding: String,
    /// Whether the app may consume by itself (the build-in model, weaker).
    pub client_consume: bool,
    /// What is answered when a store asks about a refund: OFF, LEDGER, DEFEND or SUPPORT.
    pub refund_policy: String,
    /// Whether the app's customers consented to consumption data going to Apple.
    pub consumption_consent: bool,
    pub apps: Vec<StoreAppView>,
    pub items: Vec<ItemRow>,
    pub webhooks: Webhooks,
}

/// A store app as the console shows it: settings in clear, secrets only as "set" or "not set".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreAppView {
    pub id: i64,
    pub store: String,
    pub name: String,
    pub store_app_id: String,
    pub environment_policy: String,
    pub enabled: bool,
    /// Whether our consume is followed by the store's (Apple: Finish Transaction).
    pub consume_at_store: bool,
    pub fields: Vec<FieldValue>,
    /// When its last store notification arrived.
    pub last_notification_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValue {
    pub key: String,
    /// Always `None` for a secret field.
    pub value: Option<String>,
    pub is_set: bool,
}

/// A registered item.
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRow {
    pub product_seq: i64,
    pub store_app: i64,
    pub store: String,
    pub store_product_id: String,
    pub name: String,
    pub product_type: String,
    /// USE or STOP.
    pub status: String,
    pub updated_at: i64,
    /// The prices registered for the item, the default first. A payment the store gives no amount
    /// for is recorded at the price in its currency (else the default), marked as a list price.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub list_prices: Vec<ListPrice>,
}

/// One registered price of an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPrice {
    pub currency: String,
    pub price_micros: i64,
}

impl ListPrice {
    /// `1200 KRW`, `0.99 USD`: exact, because the console's price field is edited as a
    /// comma-separated list of these.
    pub fn label(&self) -> String {
        let (whole, fraction) = (self.price_micros / 1_000_000, self.price_micros % 1_000_000);
        match fraction {
            0 => format!("{whole} {}", self.currency),
            _ => format!("{whole}.{} {}", format!("{fraction:06}").trim_end_matches('0'), self.currency),
        }
    }
}

/// A SecretKey just made by rotation: shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotatedSecret {
    pub secret_key: String,
    pub previous_valid_until: Option<i64>,
}

/// What a store said when a store app's settings were tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
}

/// What the statistics page shows, as its URL carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatisticsQuery {
    pub project: Option<i64>,
    /// `YYYY-MM` (UTC); the current month when absent.
    pub month: Option<String>,
    pub include_test: bool,
}

/// Sales of one store in one currency over one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SalesTotal {
    /// `YYYY-MM` or `YYYY-MM-DD`.
    pub period: String,
    pub store: String,
    pub currency: String,
    pub payments: i64,
    pub amount: f64,
    pub refunds: i64,
    pub refunded_amount: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// The month shown, `YYYY-MM`.
    pub month: String,
    /// The twelve months up to the one shown, newest first, per store and currency.
    pub months: Vec<SalesTotal>,
    /// Every day of the month shown that had sales or refunds, per store and currency.
    pub days: Vec<SalesTotal>,
}

/// A console user as the users page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleUserRow {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

/// A support person's status change of one payment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusChange {
    pub payment_seq: String,
    /// SUCCESS or REFUND.
    pub to: String,
    pub reason: String,
    /// For SUCCESS: the receipt number (the store's order or transaction id), price and currency.
    pub receipt: String,
    pub price: String,
    pub currency: String,
}

/// A store app's settings form: `id` is `None` for a new app; a secret field left empty keeps its
/// stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreAppForm {
    pub project: i64,
    pub id: Option<i64>,
    pub store: String,
    pub name: String,
    pub store_app_id: String,
    pub environment_policy: String,
    pub enabled: bool,
    pub consume_at_store: bool,
    pub fields: std::collections::BTreeMap<String, String>,
}

/// What an admin changes about another console user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserChange {
    Role(Role),
    Disable,
    Enable,
    /// The new password, told to the user out of band.
    ResetPassword(String),
}

/// A webhook endpoint of a project, as the console shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpointView {
    pub id: i64,
    pub url: String,
    /// `*` or a comma-separated list of event types.
    pub event_types: String,
    pub enabled: bool,
    /// Until when deliveries are signed with the replaced secret too.
    pub previous_secret_valid_until: Option<i64>,
    pub delivered: i64,
    pub pending: i64,
    pub dead: i64,
}

/// One event's delivery to one endpoint.
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub event_id: String,
    pub event_type: String,
    pub user_id: Option<String>,
    pub endpoint: i64,
    /// PENDING, DELIVERED or DEAD.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
}

/// Which events to send again: one event, a time range (days `YYYY-MM-DD`, UTC, both included) or
/// one user's; the first one filled in is used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayRequest {
    pub project: i64,
    pub event_id: String,
    pub from: String,
    pub to: String,
    pub user_id: String,
}

/// A new webhook endpoint or a rotated signing secret: the secret is shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub endpoint: i64,
    pub secret: String,
}

/// The webhook section of a project page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhooks {
    pub endpoints: Vec<WebhookEndpointView>,
    /// The latest deliveries, newest first.
    pub deliveries: Vec<DeliveryRow>,
    pub dead_letters: Vec<DeliveryRow>,
}

/// A user flagged by a refund-abuse rule, until someone clears the flag.
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbuseFlagRow {
    pub id: i64,
    pub project: String,
    pub user_id: String,
    /// REFUND_COUNT, REFUND_AMOUNT or SHARED_RECEIPT.
    pub rule: String,
    pub detail: Option<String>,
    pub created_at: i64,
}
