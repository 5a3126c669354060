//! The Apple App Store: the App Store Server API, verification of every signed payload, App Store
//! Server Notifications V2, and the legacy `verifyReceipt` for apps still on StoreKit 1.
//!
//! Models, the request JWT (ES256, fresh per request) and `SignedDataVerifier` come from the
//! `app-store-server-library` crate. Signed payloads are checked against the configured roots
//! (Apple Root CA G3 unless told otherwise), Apple's two OIDs, the bundle id, the app's Apple id
//! and the environment; a verified certificate chain is cached for 15 minutes.
pub mod receipts;
mod transport;

use app_store_server_library::{
    api_client::error::ApiClientError,
    app_store_server_api_client::{
        AppStoreServerApiClient, AppStoreServerApiClientError, GetTransactionHistoryVersion,
    },
    chain_verifier::{ChainVerificationFailureReason, ChainVerifierError},
    models::{
        app_store_environment::Environment, auto_renew_status::AutoRenewStatus,
        consumption_request::ConsumptionRequest, jws_renewal_info_decoded_payload::JWSRenewalInfoDecodedPayload,
        jws_transaction_decoded_payload::JWSTransactionDecodedPayload,
        notification_history_request::NotificationHistoryRequest, offer_type::OfferType,
        order_lookup_status::OrderLookupStatus, product_type::ProductType, revocation_type::RevocationType,
        status::Status, transaction_history_request::TransactionHistoryRequest,
        update_app_account_token_request::UpdateAppAccountTokenRequest,
    },
    signed_data_verifier::{SignedDataVerifier, SignedDataVerifierError},
};
use model::Store;

use self::transport::HttpTransport;
use super::{EnvironmentPolicy, PurchaseState, StoreError, StorePurchase, SubscriptionState};

pub const PRODUCTION_URL: &str = "https://api.storekit.apple.com";
pub const SANDBOX_URL: &str = "https://api.storekit-sandbox.apple.com";
/// Apple Root CA - G3 (SHA-256 63:34:3A:BF:…:3E:91:79), valid until 2039-04-30.
pub const APPLE_ROOT_CA_G3: &[u8] = include_bytes!("AppleRootCA-G3.cer");

/// An App Store Connect In-App Purchase API key.
#[derive(Clone)]
pub struct ApiKey {
    pub issuer_id: String,
    pub key_id: String,
    /// The `.p8` file's PEM.
    pub private_key_pem: String,
}

/// One app's settings. `app_apple_id` is required to accept production payloads.
#[derive(Clone)]
pub struct AppleSettings {
    pub bundle_id: String,
    pub app_apple_id: Option<i64>,
    pub api_key: Option<ApiKey>,
    pub production_url: String,
    pub sandbox_url: String,
    /// DER roots trusted for signed payloads.
    pub root_certificates: Vec<Vec<u8>>,
    /// Payloads from an environment the app does not accept are refused as INVALID_ENVIRONMENT.
    pub environments: EnvironmentPolicy,
}

impl AppleSettings {
    /// Apple's own hosts and root.
    pub fn new(bundle_id: &str, app_apple_id: Option<i64>, api_key: Option<ApiKey>) -> AppleSettings {
        AppleSettings {
            bundle_id: bundle_id.to_string(),
            app_apple_id,
            api_key,
            production_url: PRODUCTION_URL.into(),
            sandbox_url: SANDBOX_URL.into(),
            root_certificates: vec![APPLE_ROOT_CA_G3.to_vec()],
            environments: EnvironmentPolicy::default(),
        }
    }
}

struct Side {
    environment: Environment,
    allowed: bool,
    api: Option<AppStoreServerApiClient<HttpTransport>>,
    /// `None` in production without an app Apple id: nothing from production can be checked.
    verifier: Option<SignedDataVerifier>,
}

pub struct AppleClient {
    production: Side,
    sandbox: Side,
}

/// One page of a transaction or refund history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub purchases: Vec<StorePurchase>,
    /// Pass back to get the next page.
    pub revision: Option<String>,
    pub has_more: bool,
}

/// A verified App Store Server Notification V2.
#[derive(Debug, Clone)]
pub struct Notification {
    pub notification_type: String,
    pub subtype: Option<String>,
    /// The same on every retry of one notification: it deduplicates.
    pub uuid: String,
    pub signed_date_ms: Option<i64>,
    /// The purchase it is about, with the subscription's status and renewal info applied.
    pub purchase: Option<StorePurchase>,
    /// The customer's app transaction, for notifications about the app rather than a purchase
    /// (`RESCIND_CONSENT`): stable per Apple Account and app.
    pub app_transaction_id: Option<String>,
    pub raw: serde_json::Value,
}

impl AppleClient {
    pub fn new(http: crate::outbound::Http, settings: &AppleSettings) -> Result<AppleClient, StoreError> {
        let side = |environment: Environment, url: &str| -> Result<Side, StoreError> {
            let api = match &settings.api_key {
                Some(key) => Some(
                    AppStoreServerApiClient::new(
                        key.private_key_pem.clone().into_bytes(),
                        &key.key_id,
                        &key.issuer_id,
                        &settings.bundle_id,
                        environment.clone(),
                        HttpTransport::new(http.clone(), url),
                    )
                    .map_err(|e| StoreError::Config(format!("App Store Server API: {e}")))?,
                ),
                None => None,
            };
            let verifier = SignedDataVerifier::new(
                settings.root_certificates.clone(),
                environment.clone(),
                settings.bundle_id.clone(),
                settings.app_apple_id,
                true,
            )
            .ok();
            let allowed = settings.environments.allows(environment != Environment::Production);
            Ok(Side { environment, allowed, api, verifier })
        };
        Ok(AppleClient {
            production: side(Environment::Production, &settings.production_url)?,
            sandbox: side(Environment::Sandbox, &settings.sandbox_url)?,
        })
    }

    /// Whether an In-App Purchase key is configured (without one only signed data can be verified).
    pub fn has_api_key(&self) -> bool {
        self.production.api.is_some()
    }

    /// Verifies a signed transaction as the app got it from StoreKit 2, without calling Apple.
    pub fn verify_signed_transaction(&self, jws: &str) -> Result<StorePurchase, StoreError> {
        let side = self.side_of(jws)?;
        let verifier = verifier(side)?;
        let payload = verifier.verify_and_decode_signed_transaction(jws).map_err(rejection)?;
        Ok(normalise(&payload))
    }

    /// Get Transaction Info: production first, then the sandbox when production does not know the
    /// id (Apple has no redirect). Subscriptions come with their current status.
    pub async fn transaction(&self, transaction_id: &str) -> Result<StorePurchase, StoreError> {
        let mut last = None;
        for side in [&self.production, &self.sandbox] {
            match api(side)?.get_transaction_info(transaction_id).await {
                Ok(response) => {
                    let jws = response
                        .signed_transaction_info
                        .ok_or_else(|| StoreError::Config("Apple answered without signedTransactionInfo".into()))?;
                    let payload = verifier(side)?.verify_and_decode_signed_transaction(&jws).map_err(rejection)?;
                    let purchase = normalise(&payload);
                    if payload.r#type == Some(ProductType::AutoRenewableSubscription) {
                        return self.subscription_in(side, purchase).await;
                    }
                    return Ok(purchase);
                }
                Err(err) if not_found(&err) => last = Some(api_error(err)),
                Err(err) => return Err(api_error(err)),
            }
        }
        Err(last.expect("both environments were asked"))
    }

    /// The subscription `purchase` belongs to, as Get All Subscription Statuses reports it: the
    /// latest transaction, its state and its renewal info.
    async fn subscription_in(&self, side: &Side, purchase: StorePurchase) -> Result<StorePurchase, StoreError> {
        let original = purchase.original_transaction_id.clone().unwrap_or_else(|| purchase.transaction_id.clone());
        let response = api(side)?.get_all_subscription_statuses(&original, None).await.map_err(api_error)?;
        let verifier = verifier(side)?;
        let item = response
            .data
            .unwrap_or_default()
            .into_iter()
            .flat_map(|group| group.last_transactions.unwrap_or_default())
            .find(|item| item.original_transaction_id.as_deref() == Some(original.as_str()));
        let Some(item) = item else { return Ok(purchase) };
        let latest = match &item.signed_transaction_info {
            Some(jws) => normalise(&verifier.verify_and_decode_signed_transaction(jws).map_err(rejection)?),
            None => purchase,
        };
        let renewal = match &item.signed_renewal_info {
            Some(jws) => Some(verifier.verify_and_decode_renewal_info(jws).map_err(rejection)?),
            None => None,
        };
        Ok(with_status(latest, item.status.as_ref(), renewal.as_ref()))
    }

    /// One page of Get Transaction History v2 for the customer who owns `transaction_id`.
    pub async fn history(&self, transaction_id: &str, revision: Option<&str>) -> Result<HistoryPage, StoreError> {
        let request = TransactionHistoryRequest {
            start_date: None,
            end_date: None,
            product_ids: None,
            product_types: None,
            sort: None,
            subscription_group_identifiers: None,
            in_app_ownership_type: None,
            revoked: None,
        };
        let request = &request;
        self.first_environment(|side| async move {
            let response = api(side)?
                .get_transaction_history(transaction_id, revision, request, GetTransactionHistoryVersion::V2)
                .await?;
            Ok((response.signed_transactions, response.revision, response.has_more))
        })
        .await
    }

    /// One page of Get Refund History v2 for the customer who owns `transaction_id`, asked of the
    /// environment their purchases were made in (the sandbox has a tenth of production's limits,
    /// so it is not asked on the way).
    pub async fn refund_history(
        &self,
        sandbox: bool,
        transaction_id: &str,
        revision: Option<&str>,
    ) -> Result<HistoryPage, StoreError> {
        let side = if sandbox { &self.sandbox } else { &self.production };
        let response =
            api(side)?.get_refund_history(transaction_id, revision.unwrap_or("")).await.map_err(api_error)?;
        self.page(side, response.signed_transactions, response.revision, response.has_more)
    }

    /// Get Notification History, failures only: the signed payloads of the notifications Apple
    /// sent between `start_ms` and `end_ms` in one environment and could not deliver, a page at a
    /// time (`page` from the previous answer), with the token of the next page. Apple keeps 180
    /// days of production history and 30 of the sandbox.
    pub async fn failed_notifications(
        &self,
        sandbox: bool,
        start_ms: i64,
        end_ms: i64,
        page: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let side = if sandbox { &self.sandbox } else { &self.production };
        let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let request = NotificationHistoryRequest {
            start_date: time(start_ms),
            end_date: time(end_ms),
            notification_type: None,
            notification_subtype: None,
            transaction_id: None,
            only_failures: Some(true),
        };
        let response = api(side)?.get_notification_history(page.unwrap_or(""), &request).await.map_err(api_error)?;
        let payloads = response.notification_history.unwrap_or_default().into_iter().filter_map(|n| n.signed_payload);
        let next = response.pagination_token.filter(|_| response.has_more == Some(true));
        Ok((payloads.collect(), next))
    }

    /// Look Up Order ID: the transactions of the order a customer's receipt email shows.
    pub async fn look_up_order(&self, order_id: &str) -> Result<Vec<StorePurchase>, StoreError> {
        let mut last = None;
        for side in [&self.production, &self.sandbox] {
            let response = api(side)?.look_up_order_id(order_id).await.map_err(api_error)?;
            if response.status == Some(OrderLookupStatus::Valid) {
                return self.verify_all(side, response.signed_transactions);
            }
            last = Some(StoreError::Rejected { code: "ORDER_NOT_FOUND".into(), message: "no such order id".into() });
        }
        Err(last.expect("both environments were asked"))
    }

    /// Send Consumption Information, when Apple asks for it (CONSUMPTION_REQUEST) before deciding
    /// a refund of a consumable.
    pub async fn send_consumption(&self, transaction_id: &str, request: &ConsumptionRequest) -> Result<(), StoreError> {
        let mut last = None;
        for side in [&self.production, &self.sandbox] {
            match api(side)?.send_consumption_information(transaction_id, request).await {
                Ok(()) => return Ok(()),
                Err(err) if not_found(&err) => last = Some(api_error(err)),
                Err(err) => return Err(api_error(err)),
            }
        }
        Err(last.expect("both environments were asked"))
    }

    /// Finish Transaction: tells Apple the consumable was delivered (after our consume), in the
    /// environment it was bought in.
    pub async fn finish(&self, transaction_id: &str, sandbox: bool) -> Result<(), StoreError> {
        let side = if sandbox { &self.sandbox } else { &self.production };
        api(side)?.finish_transaction(transaction_id).await.map_err(api_error)
    }

    /// Set App Account Token: binds a purchase made without the app's account value (and its
    /// renewals) to `token`, a UUID, by its original transaction id.
    pub async fn set_app_account_token(
        &self,
        original_transaction_id: &str,
        token: &str,
        sandbox: bool,
    ) -> Result<(), StoreError> {
        let request: UpdateAppAccountTokenRequest =
            serde_json::from_value(serde_json::json!({ "appAccountToken": token }))
                .map_err(|e| StoreError::Config(format!("appAccountToken {token}: {e}")))?;
        let side = if sandbox { &self.sandbox } else { &self.production };
        api(side)?.set_app_account_token(original_transaction_id, &request).await.map_err(api_error)
    }

    /// Verifies an App Store Server Notification V2 body's `signedPayload`, and the signed
    /// transaction and renewal info inside it.
    pub fn verify_notification(&self, signed_payload: &str) -> Result<Notification, StoreError> {
        let side = self.side_of(signed_payload)?;
        let verifier = verifier(side)?;
        let payload = verifier.verify_and_decode_notification(signed_payload).map_err(rejection)?;
        let raw = serde_json::to_value(&payload).unwrap_or_default();
        let data = payload.data.as_ref();
        let purchase = match data.and_then(|d| d.signed_transaction_info.as_deref()) {
            Some(jws) => {
                let transaction = normalise(&verifier.verify_and_decode_signed_transaction(jws).map_err(rejection)?);
                let renewal = match data.and_then(|d| d.signed_renewal_info.as_deref()) {
                    Some(jws) => Some(verifier.verify_and_decode_renewal_info(jws).map_err(rejection)?),
                    None => None,
                };
                let status = data.and_then(|d| d.status.as_ref());
                Some(if status.is_some() || renewal.is_some() {
                    with_status(transaction, status, renewal.as_ref())
                } else {
                    transaction
                })
            }
            None => None,
        };
        let app_transaction_id = match payload.app_data.as_ref().and_then(|d| d.signed_app_transaction_info.as_deref())
        {
            Some(jws) => verifier.verify_and_decode_app_transaction(jws).map_err(rejection)?.app_transaction_id,
            None => None,
        };
        Ok(Notification {
            notification_type: wire_name(&payload.notification_type),
            subtype: payload.subtype.as_ref().map(|s| wire_name(&Some(s))),
            uuid: payload.notification_uuid.clone().unwrap_or_default(),
            signed_date_ms: payload.signed_date.map(|d| d.timestamp_millis()),
            purchase,
            app_transaction_id,
            raw,
        })
    }

    /// Tries production, then the sandbox when production does not know the id, and verifies the
    /// page of signed transactions the call returns.
    async fn first_environment<'a, F, Fut>(&'a self, call: F) -> Result<HistoryPage, StoreError>
    where
        F: Fn(&'a Side) -> Fut,
        Fut: std::future::Future<Output = Result<(Option<Vec<String>>, Option<String>, Option<bool>), CallError>>,
    {
        let mut last = None;
        for side in [&self.production, &self.sandbox] {
            match call(side).await {
                Ok((signed, revision, has_more)) => return self.page(side, signed, revision, has_more),
                Err(CallError::Api(err)) if not_found(&err) => last = Some(api_error(err)),
                Err(CallError::Api(err)) => return Err(api_error(err)),
                Err(CallError::Store(err)) => return Err(err),
            }
        }
        Err(last.expect("both environments were asked"))
    }

    /// A page of signed transactions, each verified.
    fn page(
        &self,
        side: &Side,
        signed: Option<Vec<String>>,
        revision: Option<String>,
        has_more: Option<bool>,
    ) -> Result<HistoryPage, StoreError> {
        Ok(HistoryPage { purchases: self.verify_all(side, signed)?, revision, has_more: has_more.unwrap_or(false) })
    }

    fn verify_all(&self, side: &Side, signed: Option<Vec<String>>) -> Result<Vec<StorePurchase>, StoreError> {
        let verifier = verifier(side)?;
        signed
            .unwrap_or_default()
            .iter()
            .map(|jws| verifier.verify_and_decode_signed_transaction(jws).map(|p| normalise(&p)).map_err(rejection))
            .collect()
    }

    /// The environment a payload claims, read before verification only to pick the verifier;
    /// the verifier then checks the claim.
    fn side_of(&self, jws: &str) -> Result<&Side, StoreError> {
        let malformed = || StoreError::Rejected { code: "MALFORMED_JWS".into(), message: "not a compact JWS".into() };
        let payload = jws.split('.').nth(1).ok_or_else(malformed)?;
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload.trim_end_matches('='))
                .map_err(|_| malformed())?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        let environment = claims
            .get("environment")
            .or_else(|| claims.get("data").and_then(|d| d.get("environment")))
            .or_else(|| claims.get("appData").and_then(|d| d.get("environment")))
            .and_then(|e| e.as_str());
        Ok(match environment {
            Some("Production") => &self.production,
            _ => &self.sandbox,
        })
    }
}

/// What went wrong inside one environment's call.
enum CallError {
    Api(AppStoreServerApiClientError),
    Store(StoreError),
}

impl From<AppStoreServerApiClientError> for CallError {
    fn from(err: AppStoreServerApiClientError) -> CallError {
        CallError::Api(err)
    }
}

impl From<StoreError> for CallError {
    fn from(err: StoreError) -> CallError {
        CallError::Store(err)
    }
}

fn api(side: &Side) -> Result<&AppStoreServerApiClient<HttpTransport>, StoreError> {
    side.api.as_ref().ok_or_else(|| StoreError::Config("no App Store Server API key is configured".into()))
}

fn verifier(side: &Side) -> Result<&SignedDataVerifier, StoreError> {
    if !side.allowed {
        return Err(StoreError::Rejected {
            code: "INVALID_ENVIRONMENT".into(),
            message: format!("this app does not accept {:?} purchases", side.environment),
        });
    }
    side.verifier.as_ref().ok_or_else(|| {
        StoreError::Config(format!("the app's Apple id is needed to verify {:?} payloads", side.environment))
    })
}

/// Apple answers 4040010 for an id of the other environment.
fn not_found(err: &AppStoreServerApiClientError) -> bool {
    err.raw_code() == Some(4_040_010)
}

/// Sorts an API failure: Apple's retryable codes, 5xx, 429 and transport failures are outages;
/// 401 is our key; an answer of the wrong shape is ours to fix (one cut off is a transport
/// failure, see `transport`); other 4xx are Apple saying no.
fn api_error(err: AppStoreServerApiClientError) -> StoreError {
    let inner: &ApiClientError = err.inner();
    let message = inner.message().unwrap_or_default().to_string();
    let retryable_code = matches!(inner.raw_code(), Some(4_040_002 | 4_040_004 | 4_040_006 | 5_000_001));
    if message.contains("deserialize") {
        return StoreError::Config(format!("unreadable answer from Apple: {message}"));
    }
    if let Some((_, until)) = message.split_once(transport::THROTTLED) {
        // Apple limits calls per app and hour; past the limit it names when it takes them again.
        let wait = until.trim().parse::<i64>().ok().map(|at| at - crate::now_ms());
        let wait = wait.map(|ms| std::time::Duration::from_millis(ms.clamp(0, 3_600_000) as u64));
        return StoreError::Throttled { retry_after: Some(wait.unwrap_or(std::time::Duration::from_secs(60))) };
    }
    match inner.status() {
        _ if retryable_code => StoreError::Unavailable(format!("{}: {message}", inner.raw_code().unwrap_or(0))),
        429 | 500..=599 => StoreError::Unavailable(format!("HTTP {}: {message}", inner.status())),
        401 | 403 => StoreError::Config(format!("Apple refused our API key (HTTP {})", inner.status())),
        status => StoreError::Rejected {
            code: inner.raw_code().map(|c| c.to_string()).unwrap_or_else(|| format!("HTTP{status}")),
            message,
        },
    }
}

/// Why a signed payload was refused, in the verifier's terms.
fn rejection(err: SignedDataVerifierError) -> StoreError {
    let code = match &err {
        SignedDataVerifierError::VerificationFailure => "INVALID_SIGNATURE",
        SignedDataVerifierError::InvalidAppIdentifier => "INVALID_APP_IDENTIFIER",
        SignedDataVerifierError::InvalidEnvironment => "INVALID_ENVIRONMENT",
        SignedDataVerifierError::InvalidAppAppleId => "INVALID_APP_APPLE_ID",
        SignedDataVerifierError::InternalChainVerifierError(ChainVerifierError::VerificationFailure(
            ChainVerificationFailureReason::InvalidChainLength,
        )) => "INVALID_CHAIN_LENGTH",
        SignedDataVerifierError::InternalChainVerifierError(_) => "INVALID_CERTIFICATE",
        SignedDataVerifierError::InternalDecodeError(_)
        | SignedDataVerifierError::InternalDeserializationError(_)
        | SignedDataVerifierError::InternalJWSError(_) => "MALFORMED_JWS",
    };
    StoreError::Rejected { code: code.into(), message: err.to_string() }
}

/// An enum's wire name (`"DID_RENEW"`), from its serde form.
fn wire_name<T: serde::Serialize>(value: &Option<T>) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The normalised purchase from a verified transaction.
fn normalise(t: &JWSTransactionDecodedPayload) -> StorePurchase {
    let now = crate::now_ms();
    let expiry = t.expires_date.map(|d| d.timestamp_millis());
    let subscription = t.r#type == Some(ProductType::AutoRenewableSubscription);
    let revoked = t.revocation_date.is_some();
    let subscription_state = subscription.then(|| match expiry {
        _ if revoked => SubscriptionState::Revoked,
        Some(expiry) if expiry <= now => SubscriptionState::Expired,
        _ => SubscriptionState::Active,
    });
    StorePurchase {
        store: Store::Apple,
        product_id: t.product_id.clone().unwrap_or_default(),
        transaction_id: t.transaction_id.clone().unwrap_or_default(),
        original_transaction_id: t.original_transaction_id.clone(),
        linked_transaction_id: None,
        purchase_token: None,
        purchase_time_ms: t.purchase_date.map(|d| d.timestamp_millis()).unwrap_or_default(),
        state: if revoked { PurchaseState::Refunded } else { PurchaseState::Purchased },
        // Apple does not track consumption or acknowledgement on the server.
        consumed: None,
        acknowledged: None,
        quantity: t.quantity.unwrap_or(1),
        // Apple's price is in milli-units of the currency.
        price_micros: t.price.map(|p| p * 1000),
        currency: t.currency.clone(),
        expiry_time_ms: expiry,
        auto_renewing: None,
        subscription_state,
        sandbox: t.environment != Some(Environment::Production),
        // Offer codes are redeemed in the App Store, not bought in the app.
        store_initiated: t.offer_type == Some(OfferType::OfferCode),
        developer_payload: None,
        account_id: t.app_account_token.map(|u| u.to_string()),
        refunded_share: match t.revocation_type {
            Some(RevocationType::RefundProrated) => t.revocation_percentage.map(i64::from),
            _ => None,
        },
        raw: serde_json::to_value(t).unwrap_or_default(),
    }
}

/// Applies a subscription status (1 active … 5 revoked) and renewal info to its latest transaction.
fn with_status(
    mut purchase: StorePurchase,
    status: Option<&Status>,
    renewal: Option<&JWSRenewalInfoDecodedPayload>,
) -> StorePurchase {
    let auto_renew = renewal.and_then(|r| r.auto_renew_status.as_ref()).map(|s| *s == AutoRenewStatus::On);
    purchase.auto_renewing = auto_renew;
    purchase.subscription_state = match status {
        Some(Status::Active) if auto_renew == Some(false) => Some(SubscriptionState::Cancelled),
        Some(Status::Active) => Some(SubscriptionState::Active),
        Some(Status::Expired) => Some(SubscriptionState::Expired),
        Some(Status::BillingRetry) => Some(SubscriptionState::OnHold),
        Some(Status::BillingGracePeriod) => Some(SubscriptionState::InGrace),
        Some(Status::Revoked) => Some(SubscriptionState::Revoked),
        Some(Status::NotSupported(_)) | None => purchase.subscription_state,
    };
    if let Some(renewal) = renewal {
        purchase.raw = serde_json::json!({
            "transaction": purchase.raw,
            "renewalInfo": serde_json::to_value(renewal).unwrap_or_default(),
            "status": status.map(Status::raw_value),
        });
    }
    purchase
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    use super::*;

    #[test]
    fn random_bytes_and_mangled_tokens_never_panic_the_verifier() {
        let client = AppleClient::new(
            crate::outbound::Http::new(&Default::default(), std::time::Duration::from_secs(1)),
            &AppleSettings::new("com.example", Some(1), None),
        )
        .unwrap();
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let header = part(r#"{"alg":"ES256","x5c":["MIIB","YQ==","YQ"]}"#);
        let claims = part(r#"{"environment":"Production","bundleId":"com.example","data":{"environment":"Sandbox"}}"#);
        let valid = format!("{header}.{claims}.{}", part("signature"));
        for token in crate::noise::texts(&valid, 4000) {
            assert!(client.verify_signed_transaction(&token).is_err());
            assert!(client.verify_notification(&token).is_err());
        }
    }
}
