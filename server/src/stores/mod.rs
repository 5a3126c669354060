//! "What does the store say about this purchase?" — one question, one normalised answer,
//! whichever store it was.
pub mod apple;
pub mod client;
pub mod google;
pub mod onestore;

use std::time::Duration;

use model::Store;
use serde::Serialize;

/// A purchase as a store reports it, in the same shape for every store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorePurchase {
    pub store: Store,
    pub product_id: String,
    /// The store's id of this transaction (Google order id, Apple transactionId, ONE store purchaseId).
    pub transaction_id: String,
    pub original_transaction_id: Option<String>,
    pub linked_transaction_id: Option<String>,
    pub purchase_token: Option<String>,
    pub purchase_time_ms: i64,
    pub state: PurchaseState,
    /// As the store sees them; `None` when the store does not say.
    pub consumed: Option<bool>,
    pub acknowledged: Option<bool>,
    pub quantity: i32,
    pub price_micros: Option<i64>,
    pub currency: Option<String>,
    pub expiry_time_ms: Option<i64>,
    pub auto_renewing: Option<bool>,
    pub subscription_state: Option<SubscriptionState>,
    pub sandbox: bool,
    pub store_initiated: bool,
    pub developer_payload: Option<String>,
    pub account_id: Option<String>,
    /// For a refund of part of it (Apple's prorated refunds): the share refunded, in thousandths of
    /// a percent. `None` for a whole refund, or no refund.
    pub refunded_share: Option<i64>,
    /// The store's own answer, kept for support.
    pub raw: serde_json::Value,
}

impl StorePurchase {
    /// Apple's `appTransactionId`, as the signed transaction carries it: the customer's app
    /// transaction, the same for one Apple Account and app across devices, reinstalls and refunds.
    pub fn app_transaction_id(&self) -> Option<&str> {
        match self.store {
            Store::Apple => self.raw.get("appTransactionId")?.as_str(),
            _ => None,
        }
    }

    /// What the store says about a subscription beyond its state, in words for its history: the
    /// order a declined renewal waits on (grace period, on hold), a price step-up awaiting the
    /// user's consent, the item a plan change replaced, the offer phase, a re-subscription made in
    /// the Play Store. Empty for other stores and purchases.
    pub fn facts(&self) -> Vec<String> {
        match self.store {
            Store::Google => google::subscriptions::facts(&self.raw, &self.product_id),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PurchaseState {
    Purchased,
    /// Paid by a deferred method (cash, bank transfer) that has not cleared.
    Pending,
    Cancelled,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionState {
    Active,
    Cancelled,
    InGrace,
    OnHold,
    Paused,
    Expired,
    Revoked,
}

/// Which of a store's environments an app accepts purchases from (the store app's
/// `environment_policy`): test purchases on a production-only app are refused. Production only is
/// the default: sandbox, TestFlight and license-test purchases cost nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvironmentPolicy {
    #[default]
    ProductionOnly,
    ProductionAndSandbox,
    SandboxOnly,
}

impl EnvironmentPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentPolicy::ProductionOnly => "PRODUCTION_ONLY",
            EnvironmentPolicy::ProductionAndSandbox => "PRODUCTION_AND_SANDBOX",
            EnvironmentPolicy::SandboxOnly => "SANDBOX_ONLY",
        }
    }

    pub fn allows(self, sandbox: bool) -> bool {
        match self {
            EnvironmentPolicy::ProductionOnly => !sandbox,
            EnvironmentPolicy::ProductionAndSandbox => true,
            EnvironmentPolicy::SandboxOnly => sandbox,
        }
    }
}

/// Why a store call did not give an answer. The split matters to every caller: a rejection is
/// final (tell the user), an outage is not (keep the receipt, retry later).
///
/// Its text goes to logs, payment history and the console, so it is [`scrub`]bed: a store's
/// error message may echo a purchase token, and no text here ever holds a request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store answered and says no: unknown token, wrong product, wrong app.
    #[error("the store rejected the request: {}: {}", scrub(.code), scrub(.message))]
    Rejected { code: String, message: String },
    /// The store could not be reached, failed or timed out.
    #[error("the store is unavailable: {}", scrub(.0))]
    Unavailable(String),
    /// The store asked us to slow down (HTTP 429), for as long as its `Retry-After` said.
    #[error("the store asked us to slow down{}", retry_after.map(|d| format!(" for {} s", d.as_secs())).unwrap_or_default())]
    Throttled { retry_after: Option<Duration> },
    /// Our side is wrong: missing or refused credentials, a malformed answer we cannot read.
    #[error("store configuration: {}", scrub(.0))]
    Config(String),
}

/// Longest store text kept; the rest of a long error body says nothing support needs.
const MAX_TEXT: usize = 300;

/// `text` without what must not be shown or kept: a URL keeps only its scheme and host (paths
/// and queries carry tokens and keys), a token-like run (20 or more letters, digits and
/// `-_.+/=~%`, with both letters and digits: purchase tokens, JWS, bearer tokens) becomes `[…]`,
/// control characters become spaces, and the whole is cut to 300 characters.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT));
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(url) = url_at(rest) {
            let authority = url.find("://").map_or(0, |i| i + 3);
            let host_end = url[authority..].find(['/', '?', '#']).map_or(url.len(), |i| authority + i);
            let host = &url[authority..host_end];
            out.push_str(&url[..authority]);
            out.push_str(host.rsplit_once('@').map_or(host, |(_, host)| host));
            if host_end < url.len() {
                out.push_str("/…");
            }
            rest = &rest[url.len()..];
            continue;
        }
        let run = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if run > 0 {
            let word = &rest[..run];
            let token_like = word.len() >= 20
                && word.chars().any(|c| c.is_ascii_digit())
                && word.chars().any(|c| c.is_ascii_alphabetic());
            out.push_str(if token_like { "[…]" } else { word });
            rest = &rest[run..];
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(if c.is_control() { ' ' } else { c });
        rest = &rest[c.len_utf8()..];
    }
    if out.chars().count() > MAX_TEXT {
        out = out.chars().take(MAX_TEXT).collect::<String>() + "…";
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.+/=~%".contains(c)
}

/// The URL `text` starts with, up to the first blank or quote.
fn url_at(text: &str) -> Option<&str> {
    let lower = text.get(..8)?.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    let end = text.find(|c: char| c.is_whitespace() || "\"'<>".contains(c)).unwrap_or(text.len());
    Some(&text[..end])
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Throttled { .. })
    }

    /// A 429 with the wait its `Retry-After` asks for (seconds; an HTTP date is read as "a while").
    pub(crate) fn throttled(headers: &reqwest::header::HeaderMap) -> StoreError {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::from_secs(60)));
        StoreError::Throttled { retry_after }
    }

    /// Classifies an answer we could not read. Broken JSON (cut off, garbled) is the store or the
    /// network failing and worth retrying; well-formed JSON of the wrong shape is ours to fix.
    pub(crate) fn unreadable(what: &str, err: serde_json::Error) -> StoreError {
        if err.is_data() {
            StoreError::Config(format!("unreadable {what}: {err}"))
        } else {
            StoreError::Unavailable(format!("{what} cut off or garbled: {err}"))
        }
    }

    /// Classifies a failure to read an answer: worth retrying later. The text never holds the
    /// URL, which carries purchase tokens.
    fn transport(err: reqwest::Error) -> StoreError {
        StoreError::outbound(crate::outbound::Failure::of(&err))
    }

    /// A call that got no answer. A destination the server may not call, or a redirect, is ours
    /// to fix (the app's settings); a timeout or a dropped connection is worth retrying.
    fn outbound(failure: crate::outbound::Failure) -> StoreError {
        use crate::outbound::Failure;
        match failure {
            Failure::Refused(_) | Failure::Redirect(_) => StoreError::Config(failure.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Server errors and rate limiting are outages whatever the store; `None` for everything else.
fn outage(status: reqwest::StatusCode) -> Option<StoreError> {
    (status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS)
        .then(|| StoreError::Unavailable(format!("HTTP {status}")))
}

/// Percent-encodes one path segment. Store tokens may hold `+`, `=` or `/`; a raw `/` would
/// split the segment (ONE store answers an encoded one with an HTML 404, which is a rejection).
fn path_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{EnvironmentPolicy, StoreError};

    #[test]
    fn a_new_store_app_accepts_production_purchases_only_in_the_server_and_in_the_console_form() {
        let default = EnvironmentPolicy::default();

        assert!(default.allows(false));
        assert!(!default.allows(true), "sandbox purchases cost nothing");
        assert_eq!(model::ENVIRONMENT_POLICIES[0], default.as_str(), "the console's new-app form starts there");
    }

    #[test]
    fn store_texts_lose_tokens_url_paths_and_control_characters() {
        let token = "opaque-token-of-the-purchase.AO-J1OxBcD3fGh1234567890";
        let text = format!(
            "Invalid token {token} at https://user:pw@androidpublisher.googleapis.com/v3/x/tokens/{token}?key=k\r\nmore"
        );
        let scrubbed = super::scrub(&text);
        assert!(!scrubbed.contains("AO-J1OxBcD3fGh1234567890"), "{scrubbed}");
        assert!(!scrubbed.contains("pw") && !scrubbed.contains("key=k"), "{scrubbed}");
        assert!(scrubbed.contains("https://androidpublisher.googleapis.com/…"), "{scrubbed}");
        assert!(!scrubbed.contains('\r') && !scrubbed.contains('\n'));
        assert_eq!(
            super::scrub("Purchase token not found: PURCHASE_NOT_FOUND"),
            "Purchase token not found: PURCHASE_NOT_FOUND"
        );
        assert_eq!(super::scrub(&"x".repeat(400)).chars().count(), 301);

        let rejected = StoreError::Rejected { code: "404".into(), message: format!("no purchase {token}") };
        assert!(!rejected.to_string().contains("1234567890"));
    }

    #[test]
    fn a_cut_off_answer_is_an_outage_and_one_of_the_wrong_shape_is_ours_to_fix() {
        let cut_off = serde_json::from_str::<serde_json::Value>("{\"purchase").unwrap_err();
        let wrong_shape = serde_json::from_str::<Vec<i64>>("{\"purchase\": 1}").unwrap_err();

        assert!(StoreError::unreadable("answer", cut_off).is_retryable());
        assert!(matches!(StoreError::unreadable("answer", wrong_shape), StoreError::Config(_)));
    }
}
