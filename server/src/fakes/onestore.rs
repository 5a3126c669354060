//! A ONE store V7 fake: client-credentials tokens, purchase details, consume and acknowledge, with
//! purchases kept per market code exactly as the real store keys them, and injectable faults.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use serde::Deserialize;
use serde_json::json;

use ring::signature::RSA_PKCS1_SHA512;

use super::{faults::Faults, keys, tokens::AccessTokens};
use crate::stores::onestore::{pns::Ordered, Market};

#[derive(Clone)]
pub struct FakeOneStore {
    inner: Arc<Mutex<Inner>>,
    tokens: AccessTokens,
    faults: Faults,
}

impl Default for FakeOneStore {
    fn default() -> FakeOneStore {
        FakeOneStore { inner: Arc::default(), tokens: AccessTokens::default(), faults: Faults::new(ROUTES) }
    }
}

#[derive(Default)]
struct Inner {
    clients: HashMap<String, String>,
    purchases: HashMap<PurchaseKey, FakePurchase>,
    next_id: u64,
    notify_url: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PurchaseKey {
    market: &'static str,
    package: String,
    product: String,
    token: String,
}

#[derive(Clone)]
struct FakePurchase {
    purchase_id: String,
    purchase_time: i64,
    developer_payload: Option<String>,
    consumed: bool,
    acknowledged: bool,
    cancelled: bool,
}

/// The routes faults can be armed for.
pub const ROUTES: &[&str] = &["token", "purchase", "consume", "acknowledge"];

/// What a new purchase looks like; the fake fills in the rest.
pub struct NewPurchase<'a> {
    pub market: Market,
    pub package: &'a str,
    pub product: &'a str,
    pub sandbox: bool,
    pub developer_payload: Option<&'a str>,
}

impl FakeOneStore {
    pub fn new() -> FakeOneStore {
        FakeOneStore::default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v7/oauth/token", post(token))
            .route("/v7/apps/{package}/purchases/inapp/products/{product}/{token}", get(details))
            .route("/v7/apps/{package}/purchases/inapp/products/{product}/{token}/consume", post(consume))
            .route("/v7/apps/{package}/purchases/all/products/{product}/{token}/acknowledge", post(acknowledge))
            .nest("/fake", control::router())
            .with_state(self.clone())
            .merge(self.faults.router("/fake"))
    }

    pub fn add_client(&self, client_id: &str, client_secret: &str) {
        self.lock().clients.insert(client_id.into(), client_secret.into());
    }

    /// Tokens issued from now on last this long (the real store: 3600 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.tokens.set_lifetime(lifetime);
    }

    /// Ends every issued access token now, as if they had lapsed at the store.
    pub fn expire_tokens(&self) {
        self.tokens.expire_all();
    }

    pub fn token_requests(&self) -> u32 {
        self.tokens.issued()
    }

    /// Creates a purchase and returns its purchase token.
    pub fn add_purchase(&self, new: NewPurchase<'_>) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let token = if new.sandbox {
            format!("SANDBOX{:013}", 3_000_000_000_000u64 + id)
        } else {
            format!("{:012}SGP{:05}", 260_918_000_000u64 + id, id)
        };
        let purchase = FakePurchase {
            purchase_id: format!("{}", 17_070_421_461_015_116_000u128 + id as u128),
            purchase_time: crate::now_ms(),
            // The real store sends null in production and "" in the sandbox when no payload was given.
            developer_payload: new.developer_payload.map(String::from).or_else(|| new.sandbox.then(String::new)),
            consumed: false,
            acknowledged: false,
            cancelled: false,
        };
        let key = PurchaseKey {
            market: new.market.code(),
            package: new.package.into(),
            product: new.product.into(),
            token: token.clone(),
        };
        self.notify(&inner, &key, &purchase);
        inner.purchases.insert(key, purchase);
        token
    }

    /// Whether the purchase with this token was acknowledged (or consumed, which acknowledges).
    pub fn is_acknowledged(&self, purchase_token: &str) -> Option<bool> {
        let inner = self.lock();
        inner.purchases.iter().find(|(k, _)| k.token == purchase_token).map(|(_, p)| p.acknowledged)
    }

    /// Whether the purchase with this token was consumed.
    pub fn is_consumed(&self, purchase_token: &str) -> Option<bool> {
        let inner = self.lock();
        inner.purchases.iter().find(|(k, _)| k.token == purchase_token).map(|(_, p)| p.consumed)
    }

    /// Refunds (cancels) the purchase with this token: `purchaseState` becomes 1 and a CANCELED
    /// payment notification goes out.
    pub fn refund(&self, purchase_token: &str) -> bool {
        let mut inner = self.lock();
        let Some((key, purchase)) = inner.purchases.iter_mut().find(|(k, _)| k.token == purchase_token) else {
            return false;
        };
        purchase.cancelled = true;
        let (key, purchase) = (key.clone(), purchase.clone());
        self.notify(&inner, &key, &purchase);
        true
    }

    /// The license key to verify PNS signatures with, as the Developer Center shows it.
    pub fn license_key(&self) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, keys::rsa_public_key_spki())
    }

    /// Sends the PNS message for `purchase` in the background, as ONE store does: it may come
    /// before or after the app's own report, and a failed delivery is only logged here.
    fn notify(&self, inner: &Inner, key: &PurchaseKey, purchase: &FakePurchase) {
        let Some(url) = inner.notify_url.clone() else { return };
        let sandbox = key.token.starts_with("SANDBOX");
        let (price, currency) = if key.market == "MKT_GLB" { ("0.99", "USD") } else { ("1100", "KRW") };
        let text = |s: &str| Ordered::String(s.to_string());
        let mut members = vec![
            ("msgVersion".to_string(), text(if sandbox { "3.1.0D" } else { "3.1.0" })),
            ("clientId".into(), text(&key.package)),
            ("productId".into(), text(&key.product)),
            ("messageType".into(), text("SINGLE_PAYMENT_TRANSACTION")),
            ("purchaseId".into(), text(&purchase.purchase_id)),
            ("developerPayload".into(), text(purchase.developer_payload.as_deref().unwrap_or_default())),
            ("purchaseTimeMillis".into(), Ordered::Number(purchase.purchase_time.into())),
            ("purchaseState".into(), text(if purchase.cancelled { "CANCELED" } else { "COMPLETED" })),
            ("price".into(), text(price)),
            ("priceCurrencyCode".into(), text(currency)),
            (
                "paymentTypeList".into(),
                Ordered::Array(vec![Ordered::Object(vec![
                    ("paymentMethod".into(), text("CREDITCARD")),
                    ("amount".into(), text(price)),
                ])]),
            ),
            ("billingKey".into(), text(&crate::crypto::sha256_hex(&purchase.purchase_id))),
            ("isTestMdn".into(), Ordered::Bool(false)),
            ("purchaseToken".into(), text(&key.token)),
            ("environment".into(), text(if sandbox { "SANDBOX" } else { "COMMERCIAL" })),
            ("marketCode".into(), text(key.market)),
        ];
        let signed = serde_json::to_vec(&Ordered::Object(members.clone())).expect("JSON of strings and numbers");
        let mut signature = vec![0; keys::rsa_key_pair().public().modulus_len()];
        keys::rsa_key_pair()
            .sign(&RSA_PKCS1_SHA512, &ring::rand::SystemRandom::new(), &signed, &mut signature)
            .expect("RSA signing with the fakes' key");
        members.push((
            "signature".into(),
            text(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature)),
        ));
        let body = serde_json::to_vec(&Ordered::Object(members)).expect("JSON of strings and numbers");
        tokio::spawn(async move {
            let client = super::sender();
            let sent = client.post(&url).header("content-type", "application/json").body(body).send().await;
            if let Err(err) = sent.and_then(|r| r.error_for_status()) {
                tracing::warn!(error = %err, "the ONE store fake could not deliver a payment notification");
            }
        });
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn market(headers: &HeaderMap) -> &'static str {
        match headers.get("x-market-code").and_then(|v| v.to_str().ok()) {
            Some("MKT_GLB") => "MKT_GLB",
            _ => "MKT_ONE",
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// An armed fault for `route`, answered with ONE store's error body.
async fn fault_response(store: &FakeOneStore, route: &str) -> Option<Response> {
    store.faults.apply(route, |status| error(status, "InjectedFault", "fault injected by the fake")).await
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

async fn token(State(store): State<FakeOneStore>, Form(form): Form<TokenForm>) -> Response {
    if let Some(response) = fault_response(&store, "token").await {
        return response;
    }
    let known = store.lock().clients.get(&form.client_id).is_some_and(|s| *s == form.client_secret);
    if form.grant_type != "client_credentials" || !known {
        return error(StatusCode::UNAUTHORIZED, "InvalidClient", "invalid client credentials");
    }
    let (token, lifetime) = store.tokens.issue("");
    Json(json!({
        "client_id": form.client_id,
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
        "scope": "DEFAULT",
    }))
    .into_response()
}

type PurchasePath = Path<(String, String, String)>;

/// Looks the purchase up as the real store does, or answers as it would when it cannot.
fn with_purchase<T>(
    store: &FakeOneStore,
    headers: &HeaderMap,
    (package, product, token): (String, String, String),
    f: impl FnOnce(&mut FakePurchase) -> T,
) -> Result<T, Response> {
    if !store.tokens.authorizes(headers) {
        return Err(error(StatusCode::UNAUTHORIZED, "AccessTokenExpired", "access token expired or invalid"));
    }
    let key = PurchaseKey { market: FakeOneStore::market(headers), package, product, token };
    let mut inner = store.lock();
    match inner.purchases.get_mut(&key) {
        Some(purchase) => Ok(f(purchase)),
        None => Err(error(StatusCode::NOT_FOUND, "NoSuchData", "no purchase matches the request")),
    }
}

async fn details(State(store): State<FakeOneStore>, headers: HeaderMap, Path(path): PurchasePath) -> Response {
    if let Some(response) = fault_response(&store, "purchase").await {
        return response;
    }
    let answer = with_purchase(&store, &headers, path, |p| {
        json!({
            "consumptionState": p.consumed as i32,
            "developerPayload": p.developer_payload,
            "purchaseState": p.cancelled as i32,
            "purchaseTime": p.purchase_time,
            "purchaseId": p.purchase_id,
            "acknowledgeState": p.acknowledged as i32,
            "quantity": 1,
        })
    });
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(response) => response,
    }
}

async fn consume(State(store): State<FakeOneStore>, headers: HeaderMap, Path(path): PurchasePath) -> Response {
    // Consuming a managed product also acknowledges it.
    change_state(&store, &headers, path, "consume", |p| {
        let allowed = !p.consumed && !p.cancelled;
        if allowed {
            p.consumed = true;
            p.acknowledged = true;
        }
        allowed
    })
    .await
}

async fn acknowledge(State(store): State<FakeOneStore>, headers: HeaderMap, Path(path): PurchasePath) -> Response {
    change_state(&store, &headers, path, "acknowledge", |p| {
        let allowed = !p.acknowledged && !p.cancelled;
        if allowed {
            p.acknowledged = true;
        }
        allowed
    })
    .await
}

/// Applies `change` (which says whether the purchase was in a state that allows it) to the purchase.
async fn change_state(
    store: &FakeOneStore,
    headers: &HeaderMap,
    path: (String, String, String),
    route: &str,
    change: impl FnOnce(&mut FakePurchase) -> bool,
) -> Response {
    if let Some(response) = fault_response(store, route).await {
        return response;
    }
    match with_purchase(store, headers, path, change) {
        Ok(true) => Json(json!({})).into_response(),
        Ok(false) => {
            error(StatusCode::CONFLICT, "InvalidPurchaseState", "the purchase is not in a state that allows this")
        }
        Err(response) => response,
    }
}

/// The control API, for tests written in any language: `POST /fake/...` with JSON bodies.
mod control {
    use super::*;

    pub fn router() -> Router<FakeOneStore> {
        Router::new()
            .route("/clients", post(add_client))
            .route("/purchases", post(add_purchase))
            .route("/purchases/{token}/refund", post(refund))
            .route("/tokens/expire", post(expire_tokens))
            .route("/notifications", post(crate::fakes::set_notify_url::<FakeOneStore>))
            .route("/license-key", axum::routing::get(license_key))
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct NewClient {
        client_id: String,
        client_secret: String,
    }

    async fn add_client(State(store): State<FakeOneStore>, Json(body): Json<NewClient>) -> StatusCode {
        store.add_client(&body.client_id, &body.client_secret);
        StatusCode::CREATED
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PurchaseRequest {
        #[serde(default = "korea")]
        market: Market,
        package_name: String,
        product_id: String,
        #[serde(default)]
        sandbox: bool,
        developer_payload: Option<String>,
    }

    fn korea() -> Market {
        Market::Korea
    }

    async fn add_purchase(State(store): State<FakeOneStore>, Json(body): Json<PurchaseRequest>) -> Response {
        let token = store.add_purchase(NewPurchase {
            market: body.market,
            package: &body.package_name,
            product: &body.product_id,
            sandbox: body.sandbox,
            developer_payload: body.developer_payload.as_deref(),
        });
        (StatusCode::CREATED, Json(json!({ "purchaseToken": token }))).into_response()
    }

    async fn refund(State(store): State<FakeOneStore>, Path(token): Path<String>) -> StatusCode {
        if store.refund(&token) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        }
    }

    async fn expire_tokens(State(store): State<FakeOneStore>) -> StatusCode {
        store.expire_tokens();
        StatusCode::OK
    }

    async fn license_key(State(store): State<FakeOneStore>) -> Json<serde_json::Value> {
        Json(json!({ "licenseKey": store.license_key() }))
    }
}

impl super::Notifies for FakeOneStore {
    fn set_notify_url(&self, url: Option<String>) {
        self.lock().notify_url = url;
    }
}
