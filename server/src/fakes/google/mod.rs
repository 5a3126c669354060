//! A Google Play fake: the service-account token endpoint and the Android Publisher v3 paths the
//! server uses, with purchases and subscriptions that move through Google's states, voided
//! purchases with paging, RTDN pushes, and injectable faults.
//!
//! Every service account it issues carries the key the process made at start-up (`../keys.rs`):
//! the fake checks each RS256 assertion against it, so a client that signs wrongly, or with another
//! key, is refused as Google would refuse it.
mod api;
mod control;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use super::{faults::Faults, jwt, keys, tokens::AccessTokens};

/// The routes faults can be armed for.
pub const ROUTES: &[&str] = &[
    "token",
    "products.get",
    "productsv2.get",
    "onetimeproducts.get",
    "products.acknowledge",
    "products.consume",
    "subscriptions.get",
    "subscriptions.acknowledge",
    "subscriptions.cancel",
    "subscriptions.revoke",
    "voided",
    "orders.get",
    "orders.batchget",
    "orders.refund",
    "orders.reviewrefund",
];

pub const KEY_ID: &str = "fake-play-key-1";
/// The key id of the OIDC tokens the fake's pushes carry, published at `/google/oauth2/v3/certs`.
pub const PUSH_KEY_ID: &str = "fake-google-oidc-1";
/// The service account the fake's Pub/Sub pushes are authenticated as.
pub const PUSH_SERVICE_ACCOUNT: &str = "rtdn-push@fake-play-project.iam.gserviceaccount.com";
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
/// Google answers 410 for a subscription that expired longer ago than this.
const QUERYABLE_AFTER_EXPIRY_MS: i64 = 60 * 86_400_000;

#[derive(Clone)]
pub struct FakeGoogle {
    inner: Arc<Mutex<Inner>>,
    tokens: AccessTokens,
    faults: Faults,
}

impl Default for FakeGoogle {
    fn default() -> FakeGoogle {
        FakeGoogle { inner: Arc::default(), tokens: AccessTokens::default(), faults: Faults::new(ROUTES) }
    }
}

#[derive(Default)]
struct Inner {
    /// client_email → the token_uri it was issued with.
    accounts: HashMap<String, String>,
    purchases: HashMap<String, Purchase>,
    voided: Vec<Voided>,
    next_id: u64,
    notify_url: Option<String>,
    /// The audience of the pushes' OIDC tokens; Pub/Sub's default is the push URL.
    push_audience: Option<String>,
    /// The catalog's rental purchase options: (package, product) → (option id, ISO 8601 period).
    rentals: HashMap<(String, String), (String, String)>,
    /// Chargebacks waiting for the developer's review, by pending refund token.
    chargebacks: HashMap<String, Chargeback>,
}

/// A chargeback under review: the order and the first answer to it, the only one Google records.
pub struct Chargeback {
    pub order_id: String,
    pub review: Option<Value>,
}

struct Purchase {
    package: String,
    product_id: String,
    order_id: String,
    time_ms: i64,
    test: bool,
    account_id: Option<String>,
    acknowledged: bool,
    kind: Kind,
}

enum Kind {
    Product(Product),
    Subscription(Subscription),
}

struct Product {
    /// 0 purchased, 1 cancelled, 2 pending.
    state: i32,
    consumed: bool,
    promo: bool,
    payload: Option<String>,
    quantity: i32,
    /// The price of one, in micros of `currency`, as the Orders API reports it.
    price_micros: i64,
    currency: String,
    /// The purchase option bought: `buy` unless rented.
    option_id: String,
    rented: bool,
    /// A pre-order's release; until then Google reports it pending.
    preorder_release_ms: Option<i64>,
}

struct Subscription {
    state: SubscriptionState,
    expiry_ms: i64,
    period_ms: i64,
    auto_renew: bool,
    renewals: u32,
    linked_token: Option<String>,
    price_micros: i64,
    currency: String,
    /// Bought in the Play Store after the subscription with this token expired.
    resubscribed_from: Option<String>,
    /// The product of the linked subscription this one replaced (a plan change).
    replaced_product: Option<String>,
    /// A price step-up awaiting the user's consent: the new price and the consent deadline (ms).
    step_up: Option<(i64, i64)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SubscriptionState {
    Pending,
    Active,
    Canceled,
    InGracePeriod,
    OnHold,
    Paused,
    Expired,
}

impl SubscriptionState {
    fn wire(self) -> &'static str {
        match self {
            SubscriptionState::Pending => "SUBSCRIPTION_STATE_PENDING",
            SubscriptionState::Active => "SUBSCRIPTION_STATE_ACTIVE",
            SubscriptionState::Canceled => "SUBSCRIPTION_STATE_CANCELED",
            SubscriptionState::InGracePeriod => "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
            SubscriptionState::OnHold => "SUBSCRIPTION_STATE_ON_HOLD",
            SubscriptionState::Paused => "SUBSCRIPTION_STATE_PAUSED",
            SubscriptionState::Expired => "SUBSCRIPTION_STATE_EXPIRED",
        }
    }
}

struct Voided {
    token: String,
    order_id: String,
    purchase_ms: i64,
    voided_ms: i64,
    /// 0 user, 1 developer, 2 Google.
    source: i32,
    reason: i32,
    subscription: bool,
}

/// A one-time purchase to create; the fake fills in the rest.
#[derive(Default)]
pub struct NewProduct<'a> {
    pub package: &'a str,
    pub product_id: &'a str,
    pub test: bool,
    pub promo: bool,
    pub pending: bool,
    pub account_id: Option<&'a str>,
    pub developer_payload: Option<&'a str>,
    pub quantity: Option<i32>,
    /// The price of one, in micros; 1,200,000,000 (KRW 1,200) when not given.
    pub price_micros: Option<i64>,
    /// `KRW` when not given.
    pub currency: Option<&'a str>,
    /// A rental: its purchase option id and ISO 8601 rental period, registered in the catalog.
    pub rental: Option<(&'a str, &'a str)>,
    /// A pre-order released at this time (epoch ms): pending until then, or until
    /// [`FakeGoogle::release`].
    pub preorder_release_ms: Option<i64>,
}

/// A subscription to create: active for one period from now.
pub struct NewSubscription<'a> {
    pub package: &'a str,
    pub product_id: &'a str,
    pub test: bool,
    pub account_id: Option<&'a str>,
    pub linked_token: Option<&'a str>,
    pub period: Duration,
    pub price_micros: i64,
    pub currency: &'a str,
}

impl<'a> NewSubscription<'a> {
    /// 9.99 USD a month.
    pub fn monthly(package: &'a str, product_id: &'a str) -> NewSubscription<'a> {
        NewSubscription {
            package,
            product_id,
            test: false,
            account_id: None,
            linked_token: None,
            period: Duration::from_secs(30 * 86_400),
            price_micros: 9_990_000,
            currency: "USD",
        }
    }
}

/// What the control API can do to a subscription; each sends the RTDN Google would send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Renew,
    Cancel,
    GracePeriod,
    OnHold,
    Pause,
    Recover,
    /// Expired `days_ago` days ago; past 60 days the token is no longer queryable (410).
    Expire {
        days_ago: u32,
    },
    Revoke,
    /// The price rises by more than the user must accept without consent.
    PriceStepUp,
}

/// What a created purchase is known by.
#[derive(Debug, Clone)]
pub struct Created {
    pub purchase_token: String,
    pub order_id: String,
}

/// The app's in-app billing license key, as the Play Console shows it: base64 of the public key
/// that signs purchase data.
pub fn license_key() -> String {
    STANDARD.encode(keys::rsa_public_key_spki())
}

/// Google's signature of purchase data (SHA1withRSA, base64).
pub fn sign_purchase_data(data: &str) -> String {
    STANDARD.encode(keys::rsa_sign_sha1(data.as_bytes()))
}

impl FakeGoogle {
    pub fn new() -> FakeGoogle {
        FakeGoogle::default()
    }

    /// What the Play Billing Library hands the app with the one-time purchase of this token: its
    /// purchase data (`getOriginalJson()`) and signature (`getSignature()`).
    pub fn billing_purchase(&self, token: &str) -> Option<(String, String)> {
        let inner = self.lock();
        let purchase = inner.purchases.get(token)?;
        let Kind::Product(product) = &purchase.kind else { return None };
        let mut data = json!({
            "orderId": purchase.order_id,
            "packageName": purchase.package,
            "productId": purchase.product_id,
            "purchaseTime": purchase.time_ms,
            "purchaseState": if product.state == 2 { 4 } else { product.state },
            "purchaseToken": token,
            "quantity": product.quantity,
            "acknowledged": purchase.acknowledged,
        });
        if let Some(account) = &purchase.account_id {
            data["obfuscatedAccountId"] = json!(account);
        }
        let data = data.to_string();
        let signature = sign_purchase_data(&data);
        Some((data, signature))
    }

    pub fn router(&self) -> Router {
        api::router().nest("/fake", control::router()).with_state(self.clone()).merge(self.faults.router("/fake"))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// A service-account key file for `client_email` whose `token_uri` is `token_uri` (the fake's
    /// `/token`), in the format the Play Console downloads.
    pub fn service_account(&self, client_email: &str, token_uri: &str) -> String {
        self.lock().accounts.insert(client_email.into(), token_uri.into());
        json!({
            "type": "service_account",
            "project_id": "fake-play-project",
            "private_key_id": KEY_ID,
            "private_key": keys::rsa_private_key_pem(),
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        })
        .to_string()
    }

    /// Tokens issued from now on last this long (Google: 3600 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.tokens.set_lifetime(lifetime);
    }

    /// Ends every issued access token now, as a revocation at Google would.
    pub fn expire_tokens(&self) {
        self.tokens.expire_all();
    }

    pub fn token_requests(&self) -> u32 {
        self.tokens.issued()
    }

    pub async fn add_product(&self, new: NewProduct<'_>) -> Created {
        let (created, package) = {
            let mut inner = self.lock();
            let (token, order_id) = inner.new_ids();
            let purchase = Purchase {
                package: new.package.into(),
                product_id: new.product_id.into(),
                order_id: order_id.clone(),
                time_ms: crate::now_ms(),
                test: new.test,
                account_id: new.account_id.map(String::from),
                acknowledged: false,
                kind: Kind::Product(Product {
                    state: if new.pending { 2 } else { 0 },
                    consumed: false,
                    promo: new.promo,
                    payload: new.developer_payload.map(String::from),
                    quantity: new.quantity.unwrap_or(1),
                    price_micros: new.price_micros.unwrap_or(1_200_000_000),
                    currency: new.currency.unwrap_or("KRW").into(),
                    option_id: new.rental.map_or("buy", |(option, _)| option).into(),
                    rented: new.rental.is_some(),
                    preorder_release_ms: new.preorder_release_ms,
                }),
            };
            if let Some((option, period)) = new.rental {
                inner.rentals.insert((new.package.into(), new.product_id.into()), (option.into(), period.into()));
            }
            inner.purchases.insert(token.clone(), purchase);
            (Created { purchase_token: token, order_id }, new.package.to_string())
        };
        let notification = json!({"oneTimeProductNotification": {
            "version": "1.0", "notificationType": 1, "purchaseToken": created.purchase_token, "sku": new.product_id}});
        self.push(&package, notification).await;
        created
    }

    pub async fn add_subscription(&self, new: NewSubscription<'_>) -> Created {
        let created = {
            let mut inner = self.lock();
            let (token, order_id) = inner.new_ids();
            let now = crate::now_ms();
            let period_ms = new.period.as_millis() as i64;
            let purchase = Purchase {
                package: new.package.into(),
                product_id: new.product_id.into(),
                order_id: order_id.clone(),
                time_ms: now,
                test: new.test,
                account_id: new.account_id.map(String::from),
                acknowledged: false,
                kind: Kind::Subscription(Subscription {
                    state: SubscriptionState::Active,
                    expiry_ms: now + period_ms,
                    period_ms,
                    auto_renew: true,
                    renewals: 0,
                    linked_token: new.linked_token.map(String::from),
                    price_micros: new.price_micros,
                    currency: new.currency.into(),
                    resubscribed_from: None,
                    replaced_product: new
                        .linked_token
                        .and_then(|linked| inner.purchases.get(linked))
                        .map(|old| old.product_id.clone())
                        .filter(|old| old != new.product_id),
                    step_up: None,
                }),
            };
            inner.purchases.insert(token.clone(), purchase);
            Created { purchase_token: token, order_id }
        };
        self.push_subscription(new.package, 4, &created.purchase_token, new.product_id).await;
        created
    }

    /// The user of the expired subscription `expired_token` subscribes again in the Play Store, not
    /// in the app: a new purchase with no account value of its own, whose answer names the expired
    /// one (`outOfAppPurchaseContext`), announced as a new subscription. `None` when the token is
    /// not a subscription.
    pub async fn resubscribe_in_play_store(&self, expired_token: &str) -> Option<Created> {
        let (created, package, product_id) = {
            let mut inner = self.lock();
            let expired = inner.purchases.get(expired_token)?;
            let Kind::Subscription(old) = &expired.kind else { return None };
            let (package, product_id, test) = (expired.package.clone(), expired.product_id.clone(), expired.test);
            let (period_ms, price_micros, currency) = (old.period_ms, old.price_micros, old.currency.clone());
            let (token, order_id) = inner.new_ids();
            let now = crate::now_ms();
            let purchase = Purchase {
                package: package.clone(),
                product_id: product_id.clone(),
                order_id: order_id.clone(),
                time_ms: now,
                test,
                account_id: None,
                acknowledged: false,
                kind: Kind::Subscription(Subscription {
                    state: SubscriptionState::Active,
                    expiry_ms: now + period_ms,
                    period_ms,
                    auto_renew: true,
                    renewals: 0,
                    linked_token: None,
                    price_micros,
                    currency,
                    resubscribed_from: Some(expired_token.to_string()),
                    replaced_product: None,
                    step_up: None,
                }),
            };
            inner.purchases.insert(token.clone(), purchase);
            (Created { purchase_token: token, order_id }, package, product_id)
        };
        self.push_subscription(&package, 4, &created.purchase_token, &product_id).await;
        Some(created)
    }

    /// Moves a subscription as the store would and sends the matching RTDN. `None` when the token
    /// is not a subscription.
    pub async fn change_subscription(&self, token: &str, change: Change) -> Option<SubscriptionState> {
        let (package, product_id, notification_type, state) = {
            let mut inner = self.lock();
            let now = crate::now_ms();
            let purchase = inner.purchases.get_mut(token)?;
            let Kind::Subscription(sub) = &mut purchase.kind else { return None };
            let notification_type = match change {
                Change::Renew => {
                    sub.renewals += 1;
                    sub.expiry_ms = sub.expiry_ms.max(now) + sub.period_ms;
                    sub.state = SubscriptionState::Active;
                    sub.auto_renew = true;
                    2
                }
                Change::Cancel => {
                    sub.state = SubscriptionState::Canceled;
                    sub.auto_renew = false;
                    3
                }
                Change::GracePeriod => {
                    sub.state = SubscriptionState::InGracePeriod;
                    6
                }
                Change::OnHold => {
                    sub.state = SubscriptionState::OnHold;
                    sub.expiry_ms = sub.expiry_ms.min(now);
                    5
                }
                Change::Pause => {
                    sub.state = SubscriptionState::Paused;
                    10
                }
                Change::Recover => {
                    sub.renewals += 1;
                    sub.expiry_ms = now + sub.period_ms;
                    sub.state = SubscriptionState::Active;
                    1
                }
                Change::Expire { days_ago } => {
                    sub.state = SubscriptionState::Expired;
                    sub.auto_renew = false;
                    sub.expiry_ms = now - i64::from(days_ago) * 86_400_000;
                    13
                }
                Change::Revoke => {
                    sub.state = SubscriptionState::Expired;
                    sub.auto_renew = false;
                    sub.expiry_ms = now;
                    12
                }
                // A fifth more, to be accepted within 30 days (SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED).
                Change::PriceStepUp => {
                    sub.step_up = Some((sub.price_micros / 5 * 6, now + 30 * 86_400_000));
                    22
                }
            };
            let state = sub.state;
            let revoked = change == Change::Revoke;
            let (package, product_id) = (purchase.package.clone(), purchase.product_id.clone());
            if revoked {
                inner.void(token, 1, 0, now);
            }
            (package, product_id, notification_type, state)
        };
        self.push_subscription(&package, notification_type, token, &product_id).await;
        Some(state)
    }

    /// Refunds and revokes a purchase (one-time or subscription): it shows in the voided list and a
    /// voided-purchase RTDN goes out. `false` for an unknown token.
    pub async fn void(&self, token: &str, source: i32, reason: i32) -> bool {
        let (package, order_id, subscription) = {
            let mut inner = self.lock();
            let Some(voided) = inner.void(token, source, reason, crate::now_ms()) else { return false };
            voided
        };
        let notification = json!({"voidedPurchaseNotification": {
            "purchaseToken": token, "orderId": order_id,
            "productType": if subscription { 1 } else { 2 }, "refundType": 1}});
        self.push(&package, notification).await;
        true
    }

    /// A customer's bank charges back the purchase `token`: Google opens a review and pushes a
    /// `pendingRefundReviewNotification` (reason 7, chargeback). Returns the pending refund token,
    /// or `None` for an unknown purchase.
    pub async fn chargeback(&self, token: &str) -> Option<String> {
        let (package, order_id, account, pending) = {
            let mut inner = self.lock();
            let purchase = inner.purchases.get(token)?;
            let (package, order_id, account) =
                (purchase.package.clone(), current_order_id(purchase), purchase.account_id.clone());
            inner.next_id += 1;
            let pending = format!("prt.{}.{}", inner.next_id, crate::crypto::random_code(12));
            inner.chargebacks.insert(pending.clone(), Chargeback { order_id: order_id.clone(), review: None });
            (package, order_id, account, pending)
        };
        let notification = json!({"pendingRefundReviewNotification": {
            "version": "1.0", "pendingRefundToken": pending, "orderId": order_id, "refundReason": 7,
            "obfuscatedAccountId": account}});
        self.push(&package, notification).await;
        Some(pending)
    }

    /// The answer Google recorded for the chargeback `pending_token` (the first one), if any.
    pub fn chargeback_review(&self, pending_token: &str) -> Option<Value> {
        self.lock().chargebacks.get(pending_token).and_then(|c| c.review.clone())
    }

    /// Releases the pre-order `token` now: it is purchased, and the RTDN Google sends for a completed
    /// one-time purchase goes out. `false` when it is not a pre-order.
    pub async fn release(&self, token: &str) -> bool {
        let (package, product_id) = {
            let mut inner = self.lock();
            let Some(purchase) = inner.purchases.get_mut(token) else { return false };
            let Kind::Product(product) = &mut purchase.kind else { return false };
            let Some(release) = product.preorder_release_ms.as_mut() else { return false };
            *release = crate::now_ms().min(*release);
            purchase.time_ms = crate::now_ms();
            (purchase.package.clone(), purchase.product_id.clone())
        };
        let notification = json!({"oneTimeProductNotification": {
            "version": "1.0", "notificationType": 1, "purchaseToken": token, "sku": product_id}});
        self.push(&package, notification).await;
        true
    }

    /// Whether the one-time purchase with this token was consumed (so it can be bought again).
    pub fn is_consumed(&self, purchase_token: &str) -> Option<bool> {
        match &self.lock().purchases.get(purchase_token)?.kind {
            Kind::Product(product) => Some(product.consumed),
            Kind::Subscription(_) => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn push_subscription(&self, package: &str, notification_type: i32, token: &str, product_id: &str) {
        let notification = json!({"subscriptionNotification": {
            "version": "1.0", "notificationType": notification_type, "purchaseToken": token,
            "subscriptionId": product_id}});
        self.push(package, notification).await;
    }

    /// The audience the pushes' OIDC tokens are for, as set on an authenticated push subscription;
    /// `None` is Pub/Sub's default, the push URL.
    pub fn set_push_audience(&self, audience: Option<&str>) {
        self.lock().push_audience = audience.map(String::from);
    }

    /// An OIDC token as Pub/Sub puts in an authenticated push: RS256 with the key published at
    /// `/google/oauth2/v3/certs`, for `audience` and the push service account.
    pub fn push_token(audience: &str) -> String {
        let now = jwt::now_secs();
        let header = json!({"alg": "RS256", "kid": PUSH_KEY_ID, "typ": "JWT"});
        let claims = json!({
            "iss": "https://accounts.google.com", "aud": audience, "azp": "104776541830934517040",
            "sub": "104776541830934517040", "email": PUSH_SERVICE_ACCOUNT, "email_verified": true,
            "iat": now, "exp": now + 3600,
        });
        jwt::sign_rs256(&header, &claims, keys::rsa_key_pair())
    }

    /// A Pub/Sub push envelope of `notification` about `package`, as Google posts it for RTDN.
    pub fn push_body(package: &str, message_id: &str, notification: &Value) -> Value {
        let mut developer_notification = json!({
            "version": "1.0", "packageName": package, "eventTimeMillis": crate::now_ms().to_string()});
        developer_notification
            .as_object_mut()
            .expect("an object")
            .extend(notification.as_object().cloned().unwrap_or_default());
        let publish_time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({
            "message": {
                "attributes": {},
                "data": STANDARD.encode(developer_notification.to_string()),
                "messageId": message_id, "message_id": message_id,
                "publishTime": publish_time, "publish_time": publish_time,
            },
            "subscription": "projects/fake-play-project/subscriptions/play-rtdn",
        })
    }

    /// Posts a Pub/Sub push envelope with `notification` to the configured URL, as Google does for
    /// RTDN, authenticated with an OIDC token. Delivery failures are logged, not retried: the sweeps
    /// exist for lost notifications.
    async fn push(&self, package: &str, notification: Value) {
        let (url, message_id, audience) = {
            let mut inner = self.lock();
            let Some(url) = inner.notify_url.clone() else { return };
            inner.next_id += 1;
            let audience = inner.push_audience.clone().unwrap_or_else(|| url.clone());
            (url, format!("{}", 136_969_346_945u64 + inner.next_id), audience)
        };
        let envelope = FakeGoogle::push_body(package, &message_id, &notification);
        let client = crate::fakes::sender();
        let request = client.post(&url).bearer_auth(FakeGoogle::push_token(&audience)).json(&envelope);
        if let Err(err) = request.send().await.and_then(|r| r.error_for_status()) {
            tracing::warn!(error = %err, "the Google fake could not deliver an RTDN push");
        }
    }

    /// Google's published keys (JWKS) with the one the fake signs push tokens with.
    pub fn push_keys() -> Value {
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(keys::rsa_key_pair().public());
        json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": PUSH_KEY_ID,
            "n": jwt::b64url(&public.n), "e": jwt::b64url(&public.e),
        }]})
    }
}

impl Inner {
    /// A new purchase token and order id. Tokens are long and opaque like Google's, with the
    /// characters that need care in a URL path.
    fn new_ids(&mut self) -> (String, String) {
        self.next_id += 1;
        let token =
            format!("fake.{}-{}_{}", crate::crypto::random_token(24), self.next_id, crate::crypto::random_token(8));
        let order =
            format!("GPA.3312-{:04}-{:04}-{:05}", self.next_id % 10_000, (self.next_id * 7) % 10_000, self.next_id);
        (token, order)
    }

    fn void(&mut self, token: &str, source: i32, reason: i32, now: i64) -> Option<(String, String, bool)> {
        let purchase = self.purchases.get_mut(token)?;
        let subscription = match &mut purchase.kind {
            Kind::Product(product) => {
                product.state = 1;
                false
            }
            Kind::Subscription(sub) => {
                sub.state = SubscriptionState::Expired;
                sub.auto_renew = false;
                sub.expiry_ms = sub.expiry_ms.min(now);
                true
            }
        };
        let order_id = current_order_id(purchase);
        let voided = Voided {
            token: token.into(),
            order_id: order_id.clone(),
            purchase_ms: purchase.time_ms,
            voided_ms: now,
            source,
            reason,
            subscription,
        };
        let package = purchase.package.clone();
        self.voided.push(voided);
        Some((package, order_id, subscription))
    }
}

/// Google's `Money`: whole units as a string, and nanos.
fn money(micros: i64, currency: &str) -> Value {
    json!({"currencyCode": currency, "units": (micros / 1_000_000).to_string(), "nanos": (micros % 1_000_000) * 1000})
}

/// The Orders API's `Order` for `order_id` of `purchase` (its first order or a renewal's), with the
/// amounts paid: tax included, one tenth of the total as VAT.
fn order_of(token: &str, purchase: &Purchase, order_id: &str) -> Option<Value> {
    let (price, currency, quantity, details) = match &purchase.kind {
        Kind::Product(p) => (p.price_micros, p.currency.as_str(), p.quantity, one_time_details(p)),
        Kind::Subscription(s) => {
            (s.price_micros, s.currency.as_str(), 1, json!({"subscriptionDetails": {"basePlanId": "monthly"}}))
        }
    };
    let renewals = match &purchase.kind {
        Kind::Subscription(s) => s.renewals,
        Kind::Product(_) => 0,
    };
    let known =
        order_id == purchase.order_id || (0..renewals).any(|n| order_id == format!("{}..{n}", purchase.order_id));
    if !known {
        return None;
    }
    let total = price * i64::from(quantity);
    let tax = total / 11;
    let mut line_item = json!({
        "productId": purchase.product_id,
        "productTitle": purchase.product_id,
        "listingPrice": money(price, currency),
        "total": money(total, currency),
        "tax": money(tax, currency),
    });
    line_item.as_object_mut().expect("an object").extend(details.as_object().cloned().unwrap_or_default());
    let time = chrono::DateTime::from_timestamp_millis(purchase.time_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    Some(json!({
        "orderId": order_id,
        "purchaseToken": token,
        "state": "PROCESSED",
        "createTime": time,
        "lastEventTime": time,
        "total": money(total, currency),
        "tax": money(tax, currency),
        "lineItems": [line_item],
        "orderDetails": {"taxInclusive": true},
        // A promo code is redeemed in the Play Store.
        "salesChannel": if matches!(&purchase.kind, Kind::Product(p) if p.promo) { "PLAY_STORE" } else { "IN_APP" },
    }))
}

/// An order line's `oneTimePurchaseDetails`: the option bought, and what kind of offer it was.
fn one_time_details(p: &Product) -> Value {
    let mut details = json!({"quantity": p.quantity, "purchaseOptionId": p.option_id});
    if p.rented {
        details["rentalDetails"] = json!({});
    }
    if p.preorder_release_ms.is_some() {
        details["preorderDetails"] = json!({});
    }
    json!({ "oneTimePurchaseDetails": details })
}

/// The order of the current period: renewals are the first order id with a `..N` suffix.
fn current_order_id(purchase: &Purchase) -> String {
    match &purchase.kind {
        Kind::Subscription(sub) if sub.renewals > 0 => format!("{}..{}", purchase.order_id, sub.renewals - 1),
        _ => purchase.order_id.clone(),
    }
}

/// Google's error envelope.
fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(), "message": message,
        "errors": [{"message": message, "domain": "androidpublisher", "reason": reason}],
    }});
    (status, Json(body)).into_response()
}

/// The error body a faulted route answers with: what Google sends for that status.
fn fault_error(status: StatusCode) -> Response {
    match status.as_u16() {
        // Google's quota errors say when to come back.
        429 => {
            let mut response = error(status, "rateLimitExceeded", "Rate Limit Exceeded");
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        }
        401 => error(status, "authError", "Invalid Credentials"),
        // What Google answers for a method it does not serve.
        404 => error(status, "notFound", "Not Found"),
        code if code >= 500 => error(status, "backendError", "Backend Error"),
        _ => error(status, "invalid", "Invalid Value"),
    }
}

impl super::Notifies for FakeGoogle {
    fn set_notify_url(&self, url: Option<String>) {
        self.lock().notify_url = url;
    }
}
