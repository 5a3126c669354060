//! An App Store fake: the App Store Server API (production and sandbox, each under its own
//! prefix), the legacy `verifyReceipt`, App Store Server Notifications V2, and a control API.
//!
//! Everything it returns as `signed*` is a JWS signed by its own chain (root → intermediate →
//! leaf, with Apple's OIDs) generated at start-up; a verifier trusting [`FakeApple::root_der`]
//! accepts them. Requests must carry an ES256 bearer JWT signed with an API key the fake issued.
mod api;
pub mod chain;
mod control;
mod receipts;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::Router;
use serde_json::{json, Value};

use super::faults::Faults;
use chain::Chains;

pub const ROUTES: &[&str] = &[
    "transactions",
    "history",
    "subscriptions",
    "lookup",
    "refunds",
    "consumption",
    "finish",
    "appTransactions",
    "appAccountToken",
    "notifications",
    "verifyReceipt",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Environment {
    Production,
    Sandbox,
}

impl Environment {
    pub fn wire(self) -> &'static str {
        match self {
            Environment::Production => "Production",
            Environment::Sandbox => "Sandbox",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductType {
    Consumable,
    NonConsumable,
    AutoRenewable,
}

impl ProductType {
    fn wire(self) -> &'static str {
        match self {
            ProductType::Consumable => "Consumable",
            ProductType::NonConsumable => "Non-Consumable",
            ProductType::AutoRenewable => "Auto-Renewable Subscription",
        }
    }
}

#[derive(Clone)]
pub struct FakeApple {
    inner: Arc<Mutex<Inner>>,
    chains: Arc<Chains>,
    faults: Faults,
}

impl Default for FakeApple {
    fn default() -> FakeApple {
        FakeApple { inner: Arc::default(), chains: Arc::new(Chains::generate()), faults: Faults::new(ROUTES) }
    }
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, App>,
    keys: HashMap<String, ApiKey>,
    transactions: Vec<Transaction>,
    subscriptions: HashMap<String, Subscription>,
    receipts: HashMap<String, Receipt>,
    consumption: Vec<(String, Value)>,
    /// The transactions finished (Finish Transaction), with when.
    finished: Vec<(String, i64)>,
    next_id: u64,
    notify_url: Option<String>,
    /// Every notification sent, for Get Notification History.
    sent: Vec<Sent>,
}

/// One notification the fake sent, and whether the server took it (answered 2xx).
#[derive(Clone)]
struct Sent {
    bundle_id: String,
    environment: Environment,
    signed_payload: String,
    sent_ms: i64,
    delivered: bool,
}

#[derive(Clone, Default)]
struct App {
    app_apple_id: Option<i64>,
    shared_secret: Option<String>,
}

struct ApiKey {
    issuer_id: String,
    bundle_id: String,
    /// The uncompressed P-256 point.
    public_key: Vec<u8>,
}

#[derive(Clone)]
struct Transaction {
    environment: Environment,
    bundle_id: String,
    customer: String,
    product_id: String,
    product_type: ProductType,
    transaction_id: String,
    original_transaction_id: String,
    web_order_line_item_id: Option<String>,
    order_id: String,
    purchase_ms: i64,
    original_purchase_ms: i64,
    expires_ms: Option<i64>,
    /// Milli-units, as Apple sends it: 9990 is 9.99.
    price: i64,
    currency: String,
    app_account_token: Option<String>,
    revocation_ms: Option<i64>,
    revocation_reason: Option<i32>,
    /// The share refunded, in thousandths of a percent, for a refund (not a Family Sharing revoke).
    refunded_share: Option<i64>,
    renewal: bool,
    offer_code: bool,
    signed_ms: i64,
}

struct Subscription {
    /// 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked.
    status: i32,
    auto_renew: bool,
    period_ms: i64,
    expiration_intent: Option<i32>,
    grace_expires_ms: Option<i64>,
}

struct Receipt {
    environment: Environment,
    bundle_id: String,
    customer: String,
}

/// A purchase to create.
pub struct NewPurchase<'a> {
    pub environment: Environment,
    pub bundle_id: &'a str,
    pub product_id: &'a str,
    pub product_type: ProductType,
    /// Whose purchase history it joins.
    pub customer: &'a str,
    pub app_account_token: Option<&'a str>,
    pub price: i64,
    pub currency: &'a str,
    /// For subscriptions: the length of one period.
    pub period: Duration,
    /// Redeemed with an offer code in the App Store rather than bought in the app.
    pub offer_code: bool,
}

impl<'a> NewPurchase<'a> {
    /// A sandbox consumable for 1.99 USD, for `customer-1`.
    pub fn consumable(bundle_id: &'a str, product_id: &'a str) -> NewPurchase<'a> {
        NewPurchase {
            environment: Environment::Sandbox,
            bundle_id,
            product_id,
            product_type: ProductType::Consumable,
            customer: "customer-1",
            app_account_token: None,
            price: 1990,
            currency: "USD",
            period: Duration::ZERO,
            offer_code: false,
        }
    }

    /// A monthly sandbox subscription for 9.99 USD.
    pub fn subscription(bundle_id: &'a str, product_id: &'a str) -> NewPurchase<'a> {
        NewPurchase {
            product_type: ProductType::AutoRenewable,
            price: 9990,
            period: Duration::from_secs(30 * 86_400),
            ..NewPurchase::consumable(bundle_id, product_id)
        }
    }
}

/// What a created purchase is known by, and how the device would present it.
#[derive(Debug, Clone)]
pub struct Created {
    pub transaction_id: String,
    pub original_transaction_id: String,
    pub order_id: String,
    /// The JWS StoreKit 2 hands the app.
    pub signed_transaction: String,
    /// The base64 app receipt StoreKit 1 hands the app, for `verifyReceipt`.
    pub receipt: String,
}

/// An API key the fake issued: what App Store Connect shows, and the downloaded `.p8`.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub issuer_id: String,
    pub key_id: String,
    pub private_key_pem: String,
}

/// What the control API can do to a subscription; each sends the ASSN v2 Apple would send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Renew,
    /// Auto-renew turned off; access lasts until the period ends.
    Cancel,
    /// Renewal failed: billing retry, with a grace period when `grace` is set.
    BillingRetry {
        grace: bool,
    },
    Expire,
    Refund,
}

/// The defects a signed transaction can be given, for negative tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    Forged,
    WrongRoot,
    MissingOid,
    WrongBundle,
    WrongEnvironment,
    ExpiredCertificate,
}

impl FakeApple {
    pub fn new() -> FakeApple {
        FakeApple::default()
    }

    /// The fake's API under `/production` and `/sandbox` (App Store Server API and
    /// `verifyReceipt` of each environment), and its control API under `/fake`.
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/production", self.environment(Environment::Production))
            .nest("/sandbox", self.environment(Environment::Sandbox))
            .nest("/fake", control::router().with_state(self.clone()))
            .merge(self.faults.router("/fake"))
    }

    fn environment(&self, environment: Environment) -> Router {
        api::router(self.clone(), environment).merge(receipts::router(self.clone(), environment))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The root certificate (DER) a verifier must trust for this fake's signatures.
    pub fn root_der(&self) -> Vec<u8> {
        self.chains.root_der.clone()
    }

    /// Registers an app: its Apple id (in production notifications) and the shared secret
    /// `verifyReceipt` wants for subscriptions.
    pub fn add_app(&self, bundle_id: &str, app_apple_id: Option<i64>, shared_secret: Option<&str>) {
        let app = App { app_apple_id, shared_secret: shared_secret.map(String::from) };
        self.lock().apps.insert(bundle_id.into(), app);
    }

    /// Issues an In-App Purchase API key for `bundle_id`.
    pub fn issue_key(&self, bundle_id: &str) -> IssuedKey {
        let key = rcgen::KeyPair::generate().expect("P-256 key generation");
        let mut inner = self.lock();
        inner.next_id += 1;
        let issued = IssuedKey {
            issuer_id: format!("57246542-96fe-1a63-e053-{:012}", 10_000_000 + inner.next_id),
            key_id: format!("FAKEKEY{:03}", inner.next_id),
            private_key_pem: key.serialize_pem(),
        };
        inner.keys.insert(
            issued.key_id.clone(),
            ApiKey {
                issuer_id: issued.issuer_id.clone(),
                bundle_id: bundle_id.into(),
                public_key: key.public_key_raw().to_vec(),
            },
        );
        issued
    }

    pub async fn add_purchase(&self, new: NewPurchase<'_>) -> Created {
        let (created, subscription) = {
            let mut inner = self.lock();
            let now = crate::now_ms();
            let id = inner.new_transaction_id();
            let subscription = new.product_type == ProductType::AutoRenewable;
            let transaction = Transaction {
                environment: new.environment,
                bundle_id: new.bundle_id.into(),
                customer: new.customer.into(),
                product_id: new.product_id.into(),
                product_type: new.product_type,
                transaction_id: id.clone(),
                original_transaction_id: id.clone(),
                web_order_line_item_id: subscription.then(|| format!("{}", 4_000_000 + inner.next_id)),
                order_id: order_id(inner.next_id),
                purchase_ms: now,
                original_purchase_ms: now,
                expires_ms: subscription.then(|| now + new.period.as_millis() as i64),
                price: new.price,
                currency: new.currency.into(),
                app_account_token: new.app_account_token.map(String::from),
                revocation_ms: None,
                revocation_reason: None,
                refunded_share: None,
                renewal: false,
                offer_code: new.offer_code,
                signed_ms: now,
            };
            if subscription {
                let sub = Subscription {
                    status: 1,
                    auto_renew: true,
                    period_ms: new.period.as_millis() as i64,
                    expiration_intent: None,
                    grace_expires_ms: None,
                };
                inner.subscriptions.insert(id.clone(), sub);
            }
            let receipt_id = format!("{}", inner.receipts.len() + 1);
            inner.receipts.insert(
                receipt_id.clone(),
                Receipt {
                    environment: new.environment,
                    bundle_id: new.bundle_id.into(),
                    customer: new.customer.into(),
                },
            );
            let created = Created {
                transaction_id: id.clone(),
                original_transaction_id: id,
                order_id: transaction.order_id.clone(),
                signed_transaction: self.chains.good.sign(&transaction.claims()),
                receipt: receipts::encode(&receipt_id),
            };
            inner.transactions.push(transaction);
            (created, subscription)
        };
        let (kind, subtype) =
            if subscription { ("SUBSCRIBED", Some("INITIAL_BUY")) } else { ("ONE_TIME_CHARGE", None) };
        self.notify(&created.transaction_id, kind, subtype).await;
        created
    }

    /// Moves the subscription whose original transaction id is `original` and sends the matching
    /// notification. Returns the latest transaction id, `None` for an unknown subscription.
    pub async fn change_subscription(&self, original: &str, change: Change) -> Option<String> {
        let (latest, kind, subtype) = {
            let mut inner = self.lock();
            let now = crate::now_ms();
            let latest = inner.latest_index(original)?;
            let sub = inner.subscriptions.get_mut(original)?;
            let (kind, subtype) = match change {
                Change::Renew => {
                    sub.status = 1;
                    sub.auto_renew = true;
                    sub.grace_expires_ms = None;
                    ("DID_RENEW", None)
                }
                Change::Cancel => {
                    sub.auto_renew = false;
                    sub.expiration_intent = Some(1);
                    ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED"))
                }
                Change::BillingRetry { grace } => {
                    sub.status = if grace { 4 } else { 3 };
                    sub.expiration_intent = Some(2);
                    sub.grace_expires_ms = grace.then_some(now + 16 * 86_400_000);
                    ("DID_FAIL_TO_RENEW", grace.then_some("GRACE_PERIOD"))
                }
                Change::Expire => {
                    sub.status = 2;
                    sub.auto_renew = false;
                    ("EXPIRED", Some("VOLUNTARY"))
                }
                Change::Refund => {
                    sub.status = 5;
                    sub.auto_renew = false;
                    ("REFUND", None)
                }
            };
            let period_ms = sub.period_ms;
            let latest_id = match change {
                Change::Renew => {
                    let previous = inner.transactions[latest].clone();
                    let id = inner.new_transaction_id();
                    let start = previous.expires_ms.unwrap_or(now).max(now);
                    let renewal = Transaction {
                        transaction_id: id.clone(),
                        web_order_line_item_id: Some(format!("{}", 4_000_000 + inner.next_id)),
                        order_id: order_id(inner.next_id),
                        purchase_ms: start,
                        expires_ms: Some(start + period_ms),
                        renewal: true,
                        signed_ms: now,
                        ..previous
                    };
                    inner.transactions.push(renewal);
                    id
                }
                Change::Expire => {
                    let t = &mut inner.transactions[latest];
                    t.expires_ms = Some(t.expires_ms.unwrap_or(now).min(now));
                    t.transaction_id.clone()
                }
                Change::Refund => {
                    let t = &mut inner.transactions[latest];
                    t.revocation_ms = Some(now);
                    t.revocation_reason = Some(0);
                    t.refunded_share = Some(100_000);
                    t.transaction_id.clone()
                }
                Change::Cancel | Change::BillingRetry { .. } => inner.transactions[latest].transaction_id.clone(),
            };
            (latest_id, kind, subtype)
        };
        self.notify(&latest, kind, subtype).await;
        Some(latest)
    }

    /// Refunds one transaction (a consumable, or one period of a subscription) and sends REFUND.
    pub async fn refund(&self, transaction_id: &str) -> bool {
        self.refund_share(transaction_id, 100_000).await
    }

    /// Refunds `share` (thousandths of a percent) of one transaction, as Apple's prorated refunds
    /// do: the transaction is revoked with `revocationType` `REFUND_PRORATED` and its
    /// `revocationPercentage`, and REFUND goes out.
    pub async fn refund_share(&self, transaction_id: &str, share: i64) -> bool {
        self.revoke(transaction_id, Some((1, Some(share.clamp(1, 100_000)))), "REFUND").await
    }

    /// Takes back the refund of one transaction and sends REFUND_REVERSED.
    pub async fn reverse_refund(&self, transaction_id: &str) -> bool {
        self.revoke(transaction_id, None, "REFUND_REVERSED").await
    }

    /// Ends a Family Sharing member's access to one transaction and sends REVOKE.
    pub async fn revoke_family_sharing(&self, transaction_id: &str) -> bool {
        self.revoke(transaction_id, Some((0, None)), "REVOKE").await
    }

    /// Revokes one transaction for a reason (Apple's `revocationReason`: 1 a refund for an issue, 0
    /// other, as Family Sharing) with the share refunded, or takes a revocation back (`None`), with
    /// its subscription's status, and sends `kind`. `false` if the transaction is unknown.
    async fn revoke(&self, transaction_id: &str, revocation: Option<(i32, Option<i64>)>, kind: &str) -> bool {
        let reason = revocation.map(|(reason, _)| reason);
        {
            let mut inner = self.lock();
            let Some(t) = inner.transactions.iter_mut().find(|t| t.transaction_id == transaction_id) else {
                return false;
            };
            t.revocation_ms = reason.map(|_| crate::now_ms());
            t.revocation_reason = reason;
            t.refunded_share = revocation.and_then(|(_, share)| share);
            let original = t.original_transaction_id.clone();
            // A Family Sharing revoke ends one member's access, not the subscription.
            if let (Some(sub), false) = (inner.subscriptions.get_mut(&original), reason == Some(0)) {
                sub.status = if reason.is_some() { 5 } else { 1 };
                sub.auto_renew &= reason.is_none();
            }
        }
        self.notify(transaction_id, kind, None).await;
        true
    }

    /// The transaction signed with `defect`, for tests of the verifier; `None` if unknown.
    pub fn defective_transaction(&self, transaction_id: &str, defect: Defect) -> Option<String> {
        let inner = self.lock();
        let mut claims = inner.transactions.iter().find(|t| t.transaction_id == transaction_id)?.claims();
        let chains = &self.chains;
        Some(match defect {
            Defect::Forged => chains.good.forge(&chains.foreign, &claims),
            Defect::WrongRoot => chains.foreign.sign(&claims),
            Defect::MissingOid => chains.missing_oid.sign(&claims),
            Defect::ExpiredCertificate => chains.expired.sign(&claims),
            Defect::WrongBundle => {
                claims["bundleId"] = json!("com.example.someone.else");
                chains.good.sign(&claims)
            }
            Defect::WrongEnvironment => {
                let other = if claims["environment"] == "Production" { "Sandbox" } else { "Production" };
                claims["environment"] = json!(other);
                chains.good.sign(&claims)
            }
        })
    }

    /// The consumption information received for a transaction, newest last.
    pub fn consumption_requests(&self, transaction_id: &str) -> Vec<Value> {
        let inner = self.lock();
        inner.consumption.iter().filter(|(id, _)| id == transaction_id).map(|(_, body)| body.clone()).collect()
    }

    /// The `appAccountToken` the transaction carries now, if any.
    pub fn app_account_token(&self, transaction_id: &str) -> Option<String> {
        let inner = self.lock();
        inner.transactions.iter().find(|t| t.transaction_id == transaction_id)?.app_account_token.clone()
    }

    /// When the transaction was finished (Finish Transaction), if it was.
    pub fn finished_at(&self, transaction_id: &str) -> Option<i64> {
        self.lock().finished.iter().find(|(id, _)| id == transaction_id).map(|(_, at)| *at)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn signed_renewal_info(&self, inner: &Inner, original: &str) -> Option<String> {
        let sub = inner.subscriptions.get(original)?;
        let latest = &inner.transactions[inner.latest_index(original)?];
        let mut claims = json!({
            "originalTransactionId": original,
            "productId": latest.product_id,
            "autoRenewProductId": latest.product_id,
            "autoRenewStatus": sub.auto_renew as i32,
            "isInBillingRetryPeriod": matches!(sub.status, 3 | 4),
            "signedDate": crate::now_ms(),
            "environment": latest.environment.wire(),
            "recentSubscriptionStartDate": latest.original_purchase_ms,
            "renewalDate": latest.expires_ms,
            "currency": latest.currency,
            "renewalPrice": latest.price,
        });
        if let Some(intent) = sub.expiration_intent {
            claims["expirationIntent"] = json!(intent);
        }
        if let Some(grace) = sub.grace_expires_ms {
            claims["gracePeriodExpiresDate"] = json!(grace);
        }
        Some(self.chains.good.sign(&claims))
    }

    /// Posts `{"signedPayload": …}` about `transaction_id` to the configured URL, as Apple does.
    /// A failed delivery is logged; Apple's own retries are not modelled, the sweeps cover them.
    async fn notify(&self, transaction_id: &str, kind: &str, subtype: Option<&str>) {
        let data = {
            let inner = self.lock();
            let Some(t) = inner.transactions.iter().find(|t| t.transaction_id == transaction_id) else { return };
            let app = inner.apps.get(&t.bundle_id).cloned().unwrap_or_default();
            let mut data = json!({
                "environment": t.environment.wire(),
                "appAppleId": app.app_apple_id,
                "bundleId": t.bundle_id,
                "bundleVersion": "1.0",
                "signedTransactionInfo": self.chains.good.sign(&t.claims()),
            });
            if kind == "CONSUMPTION_REQUEST" {
                // Apple says why the customer asked for the refund.
                data["consumptionRequestReason"] = json!("UNINTENDED_PURCHASE");
            }
            if let Some(sub) = inner.subscriptions.get(&t.original_transaction_id) {
                data["status"] = json!(sub.status);
                data["signedRenewalInfo"] = json!(self.signed_renewal_info(&inner, &t.original_transaction_id));
            }
            data
        };
        self.deliver(kind, subtype, "data", data).await;
    }

    /// Sends a notification of `kind` about `transaction_id` as the transaction stands, for the
    /// types whose effect is outside the transaction (`PRICE_INCREASE`, `RENEWAL_EXTENDED`,
    /// `CONSUMPTION_REQUEST`, …). `false` if the transaction is unknown.
    pub async fn send_notification(&self, transaction_id: &str, kind: &str, subtype: Option<&str>) -> bool {
        if !self.lock().transactions.iter().any(|t| t.transaction_id == transaction_id) {
            return false;
        }
        self.notify(transaction_id, kind, subtype).await;
        true
    }

    /// Sends `TEST`, as Apple's "Request a Test Notification" does: no transaction, the app only.
    pub async fn test_notification(&self, bundle_id: &str) {
        let mut data = self.app_data(bundle_id, Environment::Sandbox);
        data["bundleVersion"] = json!("1.0");
        self.deliver("TEST", None, "data", data).await;
    }

    /// A parent withdrew consent for the customer's use of the app (Declared Age Range): Apple sends
    /// `RESCIND_CONSENT` with the customer's signed app transaction.
    pub async fn rescind_consent(&self, bundle_id: &str, app_transaction_id: &str) {
        let mut data = self.app_data(bundle_id, Environment::Sandbox);
        data["signedAppTransactionInfo"] =
            json!(self.signed_app_transaction(bundle_id, Environment::Sandbox, app_transaction_id));
        self.deliver("RESCIND_CONSENT", None, "appData", data).await;
    }

    /// The customer's app transaction, signed, as Get App Transaction Info and `RESCIND_CONSENT`
    /// carry it.
    fn signed_app_transaction(&self, bundle_id: &str, environment: Environment, app_transaction_id: &str) -> String {
        let app_apple_id = self.lock().apps.get(bundle_id).and_then(|a| a.app_apple_id);
        let now = crate::now_ms();
        self.chains.good.sign(&json!({
            "receiptType": environment.wire(),
            "appAppleId": app_apple_id,
            "bundleId": bundle_id,
            "applicationVersion": "1.0",
            "receiptCreationDate": now,
            "originalPurchaseDate": now,
            "originalApplicationVersion": "1.0",
            "appTransactionId": app_transaction_id,
            "originalPlatform": "iOS",
            "signedDate": now,
        }))
    }

    /// The app part of a notification that is about no transaction.
    fn app_data(&self, bundle_id: &str, environment: Environment) -> Value {
        let app = self.lock().apps.get(bundle_id).cloned().unwrap_or_default();
        json!({"environment": environment.wire(), "appAppleId": app.app_apple_id, "bundleId": bundle_id})
    }

    async fn deliver(&self, kind: &str, subtype: Option<&str>, part: &str, data: Value) {
        let bundle_id = data["bundleId"].as_str().unwrap_or_default().to_string();
        let environment = if data["environment"] == Environment::Production.wire() {
            Environment::Production
        } else {
            Environment::Sandbox
        };
        let (url, signed_payload) = {
            let inner = self.lock();
            let Some(url) = inner.notify_url.clone() else { return };
            let mut payload = json!({
                "notificationType": kind,
                "notificationUUID": uuid_like(&crate::crypto::random_token(16)),
                "version": "2.0",
                "signedDate": crate::now_ms(),
            });
            payload[part] = data;
            if let Some(subtype) = subtype {
                payload["subtype"] = json!(subtype);
            }
            (url, self.chains.good.sign(&payload))
        };
        let client = crate::fakes::sender();
        let body = json!({"signedPayload": signed_payload});
        let sent = client.post(&url).json(&body).send().await.and_then(|r| r.error_for_status());
        if let Err(err) = &sent {
            tracing::warn!(error = %err, "the Apple fake could not deliver a notification");
        }
        let delivered = sent.is_ok();
        let sent = Sent { bundle_id, environment, signed_payload, sent_ms: crate::now_ms(), delivered };
        self.lock().sent.push(sent);
    }
}

impl Inner {
    fn app_apple_id(&self, bundle_id: &str) -> Option<i64> {
        self.apps.get(bundle_id).and_then(|a| a.app_apple_id)
    }

    fn new_transaction_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 2_000_000_000_000_000u64 + self.next_id)
    }

    /// The index of the newest transaction of the subscription `original`.
    fn latest_index(&self, original: &str) -> Option<usize> {
        self.transactions.iter().rposition(|t| t.original_transaction_id == original)
    }
}

/// Apple order ids look like `MK5TTTVWJH`.
fn order_id(n: u64) -> String {
    let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let tail: String = (0..8)
        .map(|_| {
            let c = alphabet[(x % 32) as usize] as char;
            x /= 32;
            c
        })
        .collect();
    format!("MK{tail}")
}

fn uuid_like(random: &str) -> String {
    let hex = crate::crypto::sha256_hex(random);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

impl Transaction {
    /// The JWSTransactionDecodedPayload Apple signs for this transaction.
    fn revocation_type(&self) -> &'static str {
        match self.refunded_share {
            None => "FAMILY_REVOKE",
            Some(100_000) => "REFUND_FULL",
            Some(_) => "REFUND_PRORATED",
        }
    }

    fn claims(&self) -> Value {
        let mut claims = json!({
            "transactionId": self.transaction_id,
            "originalTransactionId": self.original_transaction_id,
            "bundleId": self.bundle_id,
            "productId": self.product_id,
            "purchaseDate": self.purchase_ms,
            "originalPurchaseDate": self.original_purchase_ms,
            "quantity": 1,
            "type": self.product_type.wire(),
            "inAppOwnershipType": "PURCHASED",
            "signedDate": self.signed_ms,
            "environment": self.environment.wire(),
            "transactionReason": if self.renewal { "RENEWAL" } else { "PURCHASE" },
            "storefront": "KOR",
            "storefrontId": "143466",
            "price": self.price,
            "currency": self.currency,
        });
        let optional = [
            ("webOrderLineItemId", self.web_order_line_item_id.as_ref().map(|v| json!(v))),
            ("expiresDate", self.expires_ms.map(|v| json!(v))),
            ("appAccountToken", self.app_account_token.as_ref().map(|v| json!(v))),
            ("appTransactionId", Some(json!(app_transaction_id(&self.bundle_id, &self.customer)))),
            ("revocationDate", self.revocation_ms.map(|v| json!(v))),
            ("revocationReason", self.revocation_reason.map(|v| json!(v))),
            ("revocationType", self.revocation_ms.map(|_| json!(self.revocation_type()))),
            ("revocationPercentage", self.refunded_share.filter(|s| *s < 100_000).map(|s| json!(s))),
            ("offerType", self.offer_code.then(|| json!(3))),
            (
                "subscriptionGroupIdentifier",
                (self.product_type == ProductType::AutoRenewable).then(|| json!("21000001")),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                claims[key] = value;
            }
        }
        claims
    }
}

/// The customer's app transaction id: Apple's is a number, the same for one Apple Account and app
/// across devices, reinstalls, refunds and purchases.
pub fn app_transaction_id(bundle_id: &str, customer: &str) -> String {
    let digest = crate::crypto::sha256_hex(&format!("{bundle_id}\n{customer}"));
    let number = u64::from_str_radix(&digest[..15], 16).expect("hex digits");
    format!("7{:017}", number % 100_000_000_000_000_000)
}

impl super::Notifies for FakeApple {
    fn set_notify_url(&self, url: Option<String>) {
        self.lock().notify_url = url;
    }
}
