//! One interface over every store: a client built from a store app's record, asked one question
//! about what the app presented, answering with one normalised [`StorePurchase`].
use model::Store;
use serde::Deserialize;

use super::{
    apple::{self, receipts::ReceiptClient, AppleClient, AppleSettings},
    google::client::{self as google, GoogleClient},
    onestore::{self, Market, OneStoreClient},
    EnvironmentPolicy, StoreError, StorePurchase,
};

/// What the app presents as proof of a purchase, in each store's own terms. Kept with a payment
/// (as JSON) until the store has confirmed it, so it can be verified again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Proof {
    /// Google: the purchase token, and whether the product is a subscription (the two are read
    /// through different APIs).
    Google {
        product_id: String,
        purchase_token: String,
        subscription: bool,
    },
    /// StoreKit 2: the transaction id, looked up with the App Store Server API.
    AppleTransactionId(String),
    /// StoreKit 2: the signed transaction (JWS) the device received, verified locally.
    AppleSignedTransaction(String),
    /// StoreKit 1: the base64 app receipt for `verifyReceipt`, and which transaction in it
    /// (by transaction id or product id; the newest when neither matches).
    AppleReceipt {
        receipt_data: String,
        transaction_id: Option<String>,
        product_id: Option<String>,
    },
    OneStore {
        product_id: String,
        purchase_token: String,
    },
}

impl Proof {
    /// The purchase token or transaction id the proof names, to find a payment already recorded for
    /// it without asking the store again; `None` when only the store can tell (a JWS or a receipt).
    pub fn known_reference(&self) -> Option<&str> {
        match self {
            Proof::Google { purchase_token, .. } | Proof::OneStore { purchase_token, .. } => Some(purchase_token),
            Proof::AppleTransactionId(id) => Some(id),
            Proof::AppleSignedTransaction(_) | Proof::AppleReceipt { .. } => None,
        }
    }

    /// The product the app says it bought, when the proof names one.
    pub fn product_id(&self) -> Option<&str> {
        match self {
            Proof::Google { product_id, .. } | Proof::OneStore { product_id, .. } => Some(product_id),
            Proof::AppleReceipt { product_id, .. } => product_id.as_deref(),
            Proof::AppleTransactionId(_) | Proof::AppleSignedTransaction(_) => None,
        }
    }

    pub fn store(&self) -> Store {
        match self {
            Proof::Google { .. } => Store::Google,
            Proof::AppleTransactionId(_) | Proof::AppleSignedTransaction(_) | Proof::AppleReceipt { .. } => {
                Store::Apple
            }
            Proof::OneStore { .. } => Store::OneStore,
        }
    }
}

/// A store app as it is recorded: its store, its package name or bundle id, its non-secret
/// `settings` and its decrypted `credentials` (both JSON, camelCase keys).
pub struct StoreApp<'a> {
    pub store: Store,
    pub store_app_id: &'a str,
    pub settings: &'a serde_json::Value,
    pub credentials: &'a serde_json::Value,
    pub environments: EnvironmentPolicy,
}

pub enum StoreClient {
    Google(GoogleClient),
    Apple { client: AppleClient, receipts: Option<ReceiptClient>, binding: AppleBinding },
    OneStore { production: OneStoreClient, sandbox: OneStoreClient },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleConfig {
    api_root: Option<String>,
    service_account_json: String,
}

/// Which Apple proofs a store app accepts: its `verificationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum VerificationMode {
    /// StoreKit 2 only: signed transactions and transaction ids.
    #[default]
    V2,
    /// StoreKit 2 and StoreKit 1 receipts, for apps whose older versions still send receipts.
    #[serde(rename = "V2_AND_V1")]
    V2AndV1,
    /// StoreKit 1 receipts only.
    V1,
}

impl VerificationMode {
    fn accepts(self, proof: &Proof) -> bool {
        let receipt = matches!(proof, Proof::AppleReceipt { .. });
        match self {
            VerificationMode::V2 => !receipt,
            VerificationMode::V2AndV1 => true,
            VerificationMode::V1 => receipt,
        }
    }
}

/// What ties an Apple proof to this app beyond what Apple's signature checks: the bundle id and
/// the app's Apple id in a legacy receipt, and the kinds of proof accepted.
pub struct AppleBinding {
    bundle_id: String,
    app_apple_id: Option<i64>,
    mode: VerificationMode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppleConfig {
    #[serde(default)]
    verification_mode: VerificationMode,
    app_apple_id: Option<i64>,
    issuer_id: Option<String>,
    key_id: Option<String>,
    private_key: Option<String>,
    shared_secret: Option<String>,
    production_url: Option<String>,
    sandbox_url: Option<String>,
    verify_receipt_production_url: Option<String>,
    verify_receipt_sandbox_url: Option<String>,
    /// Base64 DER roots; Apple Root CA G3 when absent.
    root_certificates: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneStoreConfig {
    client_secret: String,
    market_code: Option<Market>,
    production_url: Option<String>,
    sandbox_url: Option<String>,
}

/// Settings and credentials read as one object: a key in `credentials` wins.
fn config<T: serde::de::DeserializeOwned>(app: &StoreApp<'_>) -> Result<T, StoreError> {
    let mut merged = app.settings.as_object().cloned().unwrap_or_default();
    merged.extend(app.credentials.as_object().cloned().unwrap_or_default());
    serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| StoreError::Config(format!("{} settings: {e}", app.store.label())))
}

/// Whether a store app setting decides where the app's calls go or whose answers it trusts: its
/// URLs and, for Apple, the trusted roots. Such a setting is honoured only when the server's
/// configuration allows store URL overrides, and changing it clears the app's stored secrets.
pub fn is_destination(key: &str) -> bool {
    key.ends_with("Url") || key == "apiRoot" || key == "rootCertificates"
}

/// Where a Google service-account key sends its signed assertion for a token: Google's own
/// endpoints only, unless store URL overrides are allowed (a fake issues the tests' tokens).
const GOOGLE_TOKEN_URIS: [&str; 2] =
    ["https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"];

/// Refuses settings that would send this app's secrets, or take its answers, from somewhere
/// other than its store, when the configuration does not allow that.
pub(crate) fn check_destinations(http: &crate::outbound::Http, app: &StoreApp<'_>) -> Result<(), StoreError> {
    if http.store_url_overrides() {
        return Ok(());
    }
    let settings = app.settings.as_object().into_iter().flatten();
    if let Some((key, _)) = settings.filter(|(_, v)| !v.is_null()).find(|(key, _)| is_destination(key)) {
        return Err(StoreError::Config(format!(
            "{key} is set, but this server calls only the stores' own addresses (outbound.store_url_overrides is off)"
        )));
    }
    let key_file = app.credentials.get("serviceAccountJson").and_then(|v| v.as_str());
    if let Some(token_uri) = key_file.and_then(google_token_uri) {
        if !GOOGLE_TOKEN_URIS.contains(&token_uri.as_str()) {
            return Err(StoreError::Config(
                "the service account key's token_uri is not Google's (outbound.store_url_overrides is off)".into(),
            ));
        }
    }
    Ok(())
}

/// The `token_uri` of a service-account key file.
pub fn google_token_uri(key_file: &str) -> Option<String> {
    let key: serde_json::Value = serde_json::from_str(key_file).ok()?;
    Some(key.get("token_uri")?.as_str()?.to_string())
}

impl StoreClient {
    /// The client for `app`; pointing it at a fake is only a matter of its URLs (and, for Apple,
    /// the trusted root), which the configuration must allow.
    pub fn for_app(http: &crate::outbound::Http, app: &StoreApp<'_>) -> Result<StoreClient, StoreError> {
        check_destinations(http, app)?;
        match app.store {
            Store::Google => {
                let c: GoogleConfig = config(app)?;
                let root = c.api_root.as_deref().unwrap_or(google::API_ROOT);
                Ok(StoreClient::Google(GoogleClient::new(
                    http.clone(),
                    root,
                    app.store_app_id,
                    &c.service_account_json,
                )?))
            }
            Store::Apple => {
                let c: AppleConfig = config(app)?;
                let api_key = match (c.issuer_id, c.key_id, c.private_key) {
                    (Some(issuer_id), Some(key_id), Some(private_key_pem)) => {
                        Some(apple::ApiKey { issuer_id, key_id, private_key_pem })
                    }
                    _ => None,
                };
                let mut settings = AppleSettings::new(app.store_app_id, c.app_apple_id, api_key);
                settings.environments = app.environments;
                if let Some(url) = c.production_url {
                    settings.production_url = url;
                }
                if let Some(url) = c.sandbox_url {
                    settings.sandbox_url = url;
                }
                if let Some(roots) = c.root_certificates {
                    settings.root_certificates = roots
                        .iter()
                        .map(|r| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, r))
                        .collect::<Result<_, _>>()
                        .map_err(|_| StoreError::Config("rootCertificates must be base64 DER".into()))?;
                }
                let receipts = c.shared_secret.map(|secret| {
                    ReceiptClient::new(
                        http.clone(),
                        c.verify_receipt_production_url.as_deref().unwrap_or(apple::receipts::PRODUCTION_URL),
                        c.verify_receipt_sandbox_url.as_deref().unwrap_or(apple::receipts::SANDBOX_URL),
                        Some(secret),
                    )
                });
                let binding = AppleBinding {
                    bundle_id: app.store_app_id.to_string(),
                    app_apple_id: c.app_apple_id,
                    mode: c.verification_mode,
                };
                Ok(StoreClient::Apple { client: AppleClient::new(http.clone(), &settings)?, receipts, binding })
            }
            Store::OneStore => {
                let c: OneStoreConfig = config(app)?;
                let credentials = onestore::Credentials {
                    client_id: app.store_app_id.to_string(),
                    client_secret: c.client_secret,
                    market: c.market_code.unwrap_or(Market::Korea),
                };
                let production = c.production_url.as_deref().unwrap_or(onestore::PRODUCTION_URL);
                let sandbox = c.sandbox_url.as_deref().unwrap_or(onestore::SANDBOX_URL);
                Ok(StoreClient::OneStore {
                    production: OneStoreClient::new(http.clone(), production, credentials.clone()),
                    sandbox: OneStoreClient::new(http.clone(), sandbox, credentials),
                })
            }
        }
    }

    pub fn store(&self) -> Store {
        match self {
            StoreClient::Google(_) => Store::Google,
            StoreClient::Apple { .. } => Store::Apple,
            StoreClient::OneStore { .. } => Store::OneStore,
        }
    }

    /// What the store says about `proof`.
    pub async fn verify(&self, proof: &Proof) -> Result<StorePurchase, StoreError> {
        let wrong_store = || StoreError::Rejected {
            code: "WRONG_STORE".into(),
            message: format!("a {} proof given to a {} app", proof.store().label(), self.store().label()),
        };
        if let StoreClient::Apple { binding, .. } = self {
            if !binding.mode.accepts(proof) {
                return Err(StoreError::Rejected {
                    code: "PROOF_NOT_ACCEPTED".into(),
                    message: format!(
                        "this app's verification mode ({:?}) does not accept this kind of proof",
                        binding.mode
                    ),
                });
            }
        }
        match (self, proof) {
            (StoreClient::Google(client), Proof::Google { product_id, purchase_token, subscription }) => {
                if *subscription {
                    client.subscription(product_id, purchase_token).await
                } else {
                    client.product(product_id, purchase_token).await
                }
            }
            (StoreClient::Apple { client, .. }, Proof::AppleTransactionId(id)) => client.transaction(id).await,
            (StoreClient::Apple { client, .. }, Proof::AppleSignedTransaction(jws)) => {
                client.verify_signed_transaction(jws)
            }
            (
                StoreClient::Apple { receipts, binding, .. },
                Proof::AppleReceipt { receipt_data, transaction_id, product_id },
            ) => {
                let receipts = receipts
                    .as_ref()
                    .ok_or_else(|| StoreError::Config("verifyReceipt needs the app's shared secret".into()))?;
                let receipt = receipts.verify(receipt_data).await?;
                binding.check_receipt(&receipt)?;
                pick(receipt.purchases, transaction_id.as_deref(), product_id.as_deref())
            }
            (StoreClient::OneStore { production, sandbox }, Proof::OneStore { product_id, purchase_token }) => {
                onestore_host(production, sandbox, purchase_token).purchase(product_id, purchase_token).await
            }
            _ => Err(wrong_store()),
        }
    }

    /// Acknowledges a verified purchase at a store that refunds unacknowledged ones three days
    /// after the purchase (Google Play, ONE store). The App Store has nothing to acknowledge.
    /// `account` binds a Google subscription that carries no account value to its user.
    pub async fn acknowledge(
        &self,
        product_id: &str,
        token: &str,
        subscription: bool,
        account: Option<&str>,
    ) -> Result<(), StoreError> {
        match self {
            StoreClient::Google(google) if subscription => {
                google.acknowledge_subscription(product_id, token, account).await
            }
            StoreClient::Google(google) => google.acknowledge_product(product_id, token, None).await,
            StoreClient::OneStore { production, sandbox } => {
                onestore_host(production, sandbox, token).acknowledge(product_id, token, "").await
            }
            StoreClient::Apple { .. } => Ok(()),
        }
    }

    /// The store's consume after ours, for a one-time consumable: Google's and ONE store's consume
    /// (which also acknowledges, and lets the item be bought again), Apple's Finish Transaction.
    pub async fn consume_at_store(&self, item: &Consumed<'_>) -> Result<(), StoreError> {
        match self {
            StoreClient::Google(google) => google.consume_product(item.product_id, item.token).await,
            StoreClient::OneStore { production, sandbox } => {
                onestore_host(production, sandbox, item.token).consume(item.product_id, item.token, "").await
            }
            StoreClient::Apple { client, .. } => client.finish(item.transaction_id, item.sandbox).await,
        }
    }
}

/// A purchase we consumed, as the store's consume names it.
pub struct Consumed<'a> {
    pub product_id: &'a str,
    /// Google's and ONE store's purchase token.
    pub token: &'a str,
    /// Apple's transaction id.
    pub transaction_id: &'a str,
    pub sandbox: bool,
}

/// ONE store marks sandbox tokens, and serves them from the sandbox host only: the two hosts keep
/// separate purchase records.
fn onestore_host<'a>(production: &'a OneStoreClient, sandbox: &'a OneStoreClient, token: &str) -> &'a OneStoreClient {
    if token.starts_with("SANDBOX") {
        sandbox
    } else {
        production
    }
}

impl StoreClient {
    /// Makes one harmless authenticated call with the app's settings and says what the store
    /// accepted. Looking up something that does not exist is enough: "not found" is an answer
    /// only an authenticated caller gets.
    pub async fn check_connection(&self) -> Result<&'static str, StoreError> {
        fn answered<T>(result: Result<T, StoreError>) -> Result<(), StoreError> {
            match result {
                Ok(_) | Err(StoreError::Rejected { .. }) => Ok(()),
                Err(err) => Err(err),
            }
        }
        match self {
            StoreClient::Google(client) => {
                let query = google::VoidedQuery { max_results: Some(1), ..Default::default() };
                client.voided(&query).await.map(|_| "Google Play accepted the service account for this package")
            }
            StoreClient::Apple { client, .. } if client.has_api_key() => answered(client.transaction("0").await)
                .map(|_| "the App Store Server API accepted the In-App Purchase key"),
            StoreClient::Apple { receipts: Some(receipts), .. } => answered(receipts.verify("").await)
                .map(|_| "verifyReceipt answered (the shared secret is checked with the first real receipt)"),
            StoreClient::Apple { .. } => {
                Err(StoreError::Config("set an In-App Purchase key (V2) or a shared secret (V1)".into()))
            }
            StoreClient::OneStore { production, .. } => answered(production.purchase("check", "check").await)
                .map(|_| "ONE store accepted the client id and secret"),
        }
    }
}

impl AppleBinding {
    /// Apple signs a receipt for whichever app asked, and checks the shared secret only for receipts
    /// holding subscriptions: without this, a receipt bought in any app would pass as this app's.
    fn check_receipt(&self, receipt: &super::apple::receipts::VerifiedReceipt) -> Result<(), StoreError> {
        let mismatch = |message: String| StoreError::Rejected { code: "INVALID_APP_IDENTIFIER".into(), message };
        if receipt.bundle_id != self.bundle_id {
            return Err(mismatch(format!("the receipt is of bundle {}, not {}", receipt.bundle_id, self.bundle_id)));
        }
        // Sandbox receipts carry adam_id 0; a production one names the app's Apple id.
        if let (Some(expected), false) = (self.app_apple_id, receipt.sandbox) {
            if receipt.adam_id != Some(expected) {
                return Err(mismatch(format!("the receipt is of app Apple id {:?}, not {expected}", receipt.adam_id)));
            }
        }
        Ok(())
    }
}

/// The transaction a receipt's answer is about: the one named, else the newest of the product.
fn pick(
    purchases: Vec<StorePurchase>,
    transaction_id: Option<&str>,
    product_id: Option<&str>,
) -> Result<StorePurchase, StoreError> {
    let found = match transaction_id {
        Some(id) => purchases.into_iter().find(|p| p.transaction_id == id),
        None => purchases
            .into_iter()
            .filter(|p| product_id.is_none_or(|product| p.product_id == product))
            .max_by_key(|p| p.purchase_time_ms),
    };
    found.ok_or_else(|| StoreError::Rejected {
        code: "NOT_IN_RECEIPT".into(),
        message: "the receipt holds no such transaction".into(),
    })
}
