//! What the API shows of a payment. Field names follow NHN Cloud IAP (and Gamebase, where NHN is
//! silent), so existing app servers read them unchanged.
use serde::Serialize;
use utoipa::ToSchema;

use crate::payments::Payment;

/// NHN sends `price` as a float in the currency's units; we keep micros and convert here.
fn price(p: &Payment) -> Option<f64> {
    p.price_micros.map(|m| m as f64 / 1_000_000.0)
}

/// What every view of a payment shows, flattened into each.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    pub payment_seq: String,
    pub user_id: String,
    pub market_id: &'static str,
    pub product_seq: Option<i64>,
    pub product_id: String,
    pub product_type: &'static str,
    pub price: Option<f64>,
    pub currency: Option<String>,
    /// `STORE` when `price` is what the store says was paid, `LIST` when it is the item's registered
    /// price because the store gave none (yet); absent with no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_source: Option<&'static str>,
    /// Units bought; `price` is for all of them.
    pub quantity: i64,
    /// The store's transaction / order id ("Store Reference Key").
    pub payment_id: Option<String>,
    /// The store's purchase token (Google, ONE store), which the app already holds.
    pub payment_token: Option<String>,
    pub original_payment_id: Option<String>,
    pub linked_payment_id: Option<String>,
    pub purchase_time_millis: Option<i64>,
    pub expiry_time_millis: Option<i64>,
    pub renew_time_millis: Option<i64>,
    pub subscription_state: Option<String>,
    pub is_test_purchase: bool,
    /// Verified by the purchase's signature alone while the store could not be reached (an app's
    /// opt-in outage fallback); absent once the store confirmed it, and on every other payment.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

impl Common {
    fn new(p: &Payment) -> Common {
        Common {
            payment_seq: p.payment_seq.clone(),
            user_id: p.user_id.clone(),
            market_id: p.store.code(),
            product_seq: p.product_seq,
            product_id: p.store_product_id.clone(),
            product_type: p.product_type.as_str(),
            price: price(p),
            currency: p.currency.clone(),
            price_source: p.price_source(),
            quantity: p.quantity,
            payment_id: p.payment_id.clone(),
            payment_token: p.purchase_token.clone(),
            original_payment_id: p.original_payment_id.clone(),
            linked_payment_id: p.linked_payment_id.clone(),
            purchase_time_millis: p.purchase_time,
            expiry_time_millis: p.expiry_time,
            renew_time_millis: p.renew_time,
            subscription_state: p.subscription_state.clone(),
            is_test_purchase: p.sandbox,
            provisional: p.provisional,
        }
    }
}

/// A payment as verify, lookup and the status call answer it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    #[serde(flatten)]
    pub common: Common,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub status: &'static str,
    pub is_store_payment: bool,
    pub developer_payload: Option<String>,
    /// Successful, of a consumable type, and not consumed yet.
    pub is_consumable: bool,
    /// Gamebase's status word for the payment's state at the store.
    pub reference_status: &'static str,
}

impl PaymentView {
    pub fn new(p: &Payment, access_token: Option<String>) -> PaymentView {
        PaymentView {
            common: Common::new(p),
            access_token,
            status: p.status.as_str(),
            is_store_payment: p.store_initiated,
            developer_payload: p.developer_payload.clone(),
            is_consumable: p.status == crate::payments::Status::Success && p.is_consumable_type() && !p.consumed,
            reference_status: reference_status(p),
        }
    }
}

/// Gamebase's `referenceStatus` for a payment: what the store last said of it.
fn reference_status(p: &Payment) -> &'static str {
    use crate::payments::Status;
    match (p.status, p.subscription_state.as_deref()) {
        (Status::Refund, None) => "CANCELED_PRODUCT",
        (Status::Refund, Some(_)) => "REVOKED",
        (Status::Reserved | Status::UserClose, _) => "PENDING",
        (Status::Failure, _) => "NOT_APPOINTED",
        (Status::Success, Some("CANCELED")) => "CANCELED_SUBSCRIPTION",
        (Status::Success, Some("IN_GRACE_PERIOD")) => "IN_GRACE",
        (Status::Success, Some("ON_HOLD")) => "ON_HOLD",
        (Status::Success, Some("PAUSED")) => "PAUSED",
        (Status::Success, Some("EXPIRED")) => "EXPIRED",
        (Status::Success, Some("REVOKED")) => "REVOKED",
        (Status::Success, _) if p.renew_time.is_some() => "RENEWED",
        (Status::Success, _) => "PURCHASED",
    }
}

/// A new reservation, with the value the app hands the store so that the purchase is bound to
/// this user (`payments::binding`): Google `obfuscatedAccountId`, Apple `appAccountToken`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    #[serde(flatten)]
    pub payment: PaymentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obfuscated_account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_account_token: Option<String>,
}

impl Reservation {
    pub fn new(p: &Payment) -> Reservation {
        let value = crate::payments::binding::account_value(p.store, &p.user_id);
        let (obfuscated_account_id, app_account_token) = match p.store {
            model::Store::Google => (value, None),
            _ => (None, value),
        };
        Reservation { payment: PaymentView::new(p, None), obfuscated_account_id, app_account_token }
    }
}

/// NHN's consume answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumed {
    pub price: Option<f64>,
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_source: Option<&'static str>,
    pub quantity: i64,
    pub product_seq: Option<i64>,
    pub product_id: String,
    pub market_id: &'static str,
    pub payload: Option<String>,
}

impl Consumed {
    pub fn new(p: &Payment) -> Consumed {
        Consumed {
            price: price(p),
            currency: p.currency.clone(),
            price_source: p.price_source(),
            quantity: p.quantity,
            product_seq: p.product_seq,
            product_id: p.store_product_id.clone(),
            market_id: p.store.code(),
            payload: p.developer_payload.clone(),
        }
    }
}

/// One entry of NHN's unconsumed list (`/v1/service/consumable`), with Gamebase's extra fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unconsumed {
    pub payment_seq: String,
    pub product_seq: Option<i64>,
    pub product_id: String,
    pub price: Option<f64>,
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_source: Option<&'static str>,
    pub quantity: i64,
    /// Absent on the app's calls without the user's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub market_id: &'static str,
    pub payment_id: Option<String>,
    pub purchase_time_millis: Option<i64>,
    pub payload: Option<String>,
    pub is_test_purchase: bool,
}

impl Unconsumed {
    pub fn new(p: &Payment, access_token: Option<String>) -> Unconsumed {
        Unconsumed {
            payment_seq: p.payment_seq.clone(),
            product_seq: p.product_seq,
            product_id: p.store_product_id.clone(),
            price: price(p),
            currency: p.currency.clone(),
            price_source: p.price_source(),
            quantity: p.quantity,
            access_token,
            market_id: p.store.code(),
            payment_id: p.payment_id.clone(),
            purchase_time_millis: p.purchase_time,
            payload: p.developer_payload.clone(),
            is_test_purchase: p.sandbox,
        }
    }

    /// What the app may see of a payment without its user's token: nothing that acts on it or
    /// identifies it at the store.
    pub fn without_secrets(self) -> Unconsumed {
        Unconsumed { access_token: None, payment_id: None, payload: None, ..self }
    }
}

/// One entry of NHN's active subscription list (`/v1/service/activeSubscriptionList`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSubscription {
    pub channel: &'static str,
    #[serde(flatten)]
    pub common: Common,
    pub access_token: Option<String>,
    pub app_id: String,
}

impl ActiveSubscription {
    pub fn new(p: &Payment, app_id: &str, access_token: Option<String>) -> ActiveSubscription {
        ActiveSubscription { channel: "GF", common: Common::new(p), access_token, app_id: app_id.to_string() }
    }

    /// What the app may see of a subscription without its user's token.
    pub fn without_secrets(self) -> ActiveSubscription {
        let common = Common {
            payment_id: None,
            payment_token: None,
            original_payment_id: None,
            linked_payment_id: None,
            ..self.common
        };
        ActiveSubscription { common, access_token: None, ..self }
    }
}
