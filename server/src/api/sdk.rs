//! The app's calls, as its SDK makes them: the item list, reserve, verify, the user's unconsumed
//! payments and subscriptions, restore, and consume in the build-in model (no app server).
use axum::{extract::State, http::HeaderMap};
use model::{ProductType, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    caller::App,
    envelope::{optional, required, ApiError, ApiResult, Body, Code, Envelope, Failure, Success},
    service::{self, ConsumeRequest, MAX_USER},
    views::{ActiveSubscription, Consumed, PaymentView, Reservation, Unconsumed},
};
use crate::{
    payments::{
        self,
        close::Closed,
        verify::{Outcome, Pending, Refusal, Request},
        NewReservation, Reserved, Source,
    },
    state::AppState,
    store_apps::{self, StoreAppRecord},
    stores::{client::Proof, google::signed::SignedPurchase},
};

/// ONE store's limit, the tightest of the three.
const MAX_PAYLOAD: usize = 200;
const MAX_PRODUCT: usize = 150;
const MAX_RESTORE: usize = 50;
const MAX_PURCHASE_TOKEN: usize = 4096;
const MAX_TRANSACTION_ID: usize = 64;
const MAX_SIGNED_TRANSACTION: usize = 64 * 1024;
const MAX_RECEIPT: usize = 1024 * 1024;
const MAX_PURCHASE_DATA: usize = 16 * 1024;
const MAX_SIGNATURE: usize = 2048;
const MAX_IDEMPOTENCY_KEY: usize = 128;
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

fn store(code: &Option<String>) -> Result<Store, ApiError> {
    let code = required("storeCode", code, 16)?;
    Store::parse(code).ok_or_else(|| ApiError::invalid(format!("unknown storeCode {code}: GG, AS or ONESTORE")))
}

/// The project's app in `store`, with its credentials.
async fn store_app(state: &AppState, project_id: i64, store: Store) -> Result<StoreAppRecord, ApiError> {
    store_apps::enabled_in_project(&state.db, &state.cipher, project_id, store)
        .await?
        .ok_or_else(|| Code::StoreAppNotFound.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProductsRequest {
    #[schema(value_type = String, required = true, pattern = "^(GG|AS|ONESTORE)$")]
    store_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProductView {
    product_seq: i64,
    product_id: String,
    product_type: &'static str,
    product_name: String,
}

/// The items the app may sell: status USE.
#[utoipa::path(post, path = "/v1/sdk/products", tag = "app", request_body = ProductsRequest,
    responses((status = 200, description = "The items the app may sell (status USE)", body = Envelope<Vec<ProductView>>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = [])))]
pub(super) async fn products(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<ProductsRequest>,
) -> ApiResult<Vec<ProductView>> {
    let app = store_app(&state, caller.project_id, store(&request.store_code)?).await?;
    let products = payments::products_in_use(&state.db, app.id).await?;
    Ok(Success(
        products
            .into_iter()
            .map(|p| ProductView {
                product_seq: p.product_seq,
                product_id: p.store_product_id,
                product_type: p.product_type.as_str(),
                product_name: p.name,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReserveRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"\S")]
    user_id: Option<String>,
    #[schema(value_type = String, required = true, pattern = "^(GG|AS|ONESTORE)$")]
    store_code: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 150, pattern = r"\S")]
    product_id: Option<String>,
    #[schema(max_length = 200)]
    developer_payload: Option<String>,
}

/// A reservation. The app hands the store the account value of its store (`obfuscatedAccountId`
/// in Google's `BillingFlowParams`, `appAccountToken` in StoreKit's purchase options), so the
/// purchase can only be verified for this user. An `Idempotency-Key` header makes a retried
/// reserve return the first reservation.
#[utoipa::path(post, path = "/v1/sdk/reserve", tag = "app", request_body = ReserveRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key again returns the same reservation (up to 128 characters)")),
    responses((status = 200, description = "A payment in RESERVED, and the account value to hand the store", body = Envelope<Reservation>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = [])))]
pub(super) async fn reserve(
    State(state): State<AppState>,
    caller: App,
    headers: HeaderMap,
    Body(request): Body<ReserveRequest>,
) -> ApiResult<Reservation> {
    let user = required("userId", &request.user_id, MAX_USER)?;
    let product_id = required("productId", &request.product_id, MAX_PRODUCT)?;
    let payload = optional("developerPayload", &request.developer_payload, MAX_PAYLOAD)?;
    let key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => {
            let key = value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY);
            Some(key.ok_or_else(|| ApiError::invalid("Idempotency-Key holds 1 to 128 visible ASCII characters"))?)
        }
    };
    let store = store(&request.store_code)?;
    let app = store_app(&state, caller.project_id, store).await?;
    let product = payments::product(&state.db, app.id, product_id).await?.ok_or(Code::ProductNotFound)?;
    if !product.in_use {
        return Err(Code::ProductStopped.into());
    }
    let reservation = NewReservation {
        project_id: caller.project_id,
        store_app_id: app.id,
        store,
        product: &product,
        user_id: user,
        developer_payload: payload,
        idempotency_key: key,
    };
    match payments::reserve(&state.db, reservation).await? {
        Reserved::New(payment) | Reserved::Again(payment) => Ok(Success(Reservation::new(&payment))),
        Reserved::KeyUsedElsewhere => Err(Code::IdempotencyConflict.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CloseRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"\S")]
    user_id: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 32, pattern = r"\S")]
    payment_seq: Option<String>,
}

/// The user cancelled the purchase (NHN's UserClose): the reservation becomes `USER_CLOSE`.
/// A closed reservation still takes its purchase if the user paid after all, so closing is safe
/// to send whenever the store's purchase screen ends without a purchase.
#[utoipa::path(post, path = "/v1/sdk/close", tag = "app", request_body = CloseRequest,
    responses((status = 200, description = "The reservation in USER_CLOSE", body = Envelope<Reservation>),
        (status = "4XX", description = "refused: `header.resultCode` says why (4009: it is not a reservation waiting for its purchase)", body = Failure),
        (status = "5XX", description = "this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = [])))]
pub(super) async fn close(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<CloseRequest>,
) -> ApiResult<Reservation> {
    let user = required("userId", &request.user_id, MAX_USER)?;
    let seq = required("paymentSeq", &request.payment_seq, 32)?;
    match payments::close::close(&state.db, caller.project_id, user, seq).await? {
        Closed::Closed(payment) => Ok(Success(Reservation::new(&payment))),
        Closed::NotFound => Err(Code::PaymentNotFound.into()),
        Closed::OtherUser => Err(Code::PaymentUserMismatch.into()),
        Closed::NotOpen(payment) => Err(ApiError::new(
            Code::PaymentNotPending,
            format!("the payment is {}, not a reservation waiting for its purchase", payment.status.as_str()),
        )),
    }
}

/// What the store gave the app, in whichever form its store uses.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Purchase {
    /// Google and ONE store. In this object an empty text or `null` is the same as an absent one.
    #[schema(max_length = 150)]
    product_id: Option<String>,
    /// Google and ONE store.
    #[schema(max_length = 4096)]
    purchase_token: Option<String>,
    /// Google: whether the product is a subscription; read from the registered item when absent.
    subscription: Option<bool>,
    /// Apple StoreKit 2: one of the transaction id or the signed transaction.
    #[schema(max_length = 64)]
    transaction_id: Option<String>,
    #[schema(max_length = 65536)]
    signed_transaction: Option<String>,
    /// Apple StoreKit 1: the base64 app receipt.
    #[schema(max_length = 1048576)]
    receipt: Option<String>,
    /// Google, optional: the Play Billing Library's `Purchase.getOriginalJson()` and
    /// `Purchase.getSignature()`, read only while Google cannot be reached by an app whose
    /// `outageFallback` is `SIGNATURE`.
    #[schema(max_length = 16384)]
    original_json: Option<String>,
    #[schema(max_length = 2048)]
    signature: Option<String>,
}

impl Purchase {
    /// Every field within its documented length, whichever store reads it: a restore holding a
    /// malformed purchase is refused whole, before any of its purchases is verified.
    fn check_lengths(&self, index: usize) -> Result<(), ApiError> {
        let fields = [
            ("productId", &self.product_id, MAX_PRODUCT),
            ("purchaseToken", &self.purchase_token, MAX_PURCHASE_TOKEN),
            ("transactionId", &self.transaction_id, MAX_TRANSACTION_ID),
            ("signedTransaction", &self.signed_transaction, MAX_SIGNED_TRANSACTION),
            ("receipt", &self.receipt, MAX_RECEIPT),
            ("originalJson", &self.original_json, MAX_PURCHASE_DATA),
            ("signature", &self.signature, MAX_SIGNATURE),
        ];
        for (name, value, max) in fields {
            optional(&format!("purchases[{index}].{name}"), value, max)?;
        }
        Ok(())
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"\S")]
    user_id: Option<String>,
    #[schema(value_type = String, required = true, pattern = "^(GG|AS|ONESTORE)$")]
    store_code: Option<String>,
    /// The reservation this purchase completes; absent for purchases that started in the store.
    #[schema(min_length = 1, max_length = 32)]
    payment_seq: Option<String>,
    #[serde(flatten)]
    purchase: Purchase,
}

/// The store proof for `purchase` as the app's store sends it.
async fn proof(state: &AppState, app: &StoreAppRecord, purchase: &Purchase) -> Result<Proof, ApiError> {
    let token = || required("purchaseToken", &purchase.purchase_token, MAX_PURCHASE_TOKEN).map(String::from);
    let product = || required("productId", &purchase.product_id, MAX_PRODUCT).map(String::from);
    Ok(match app.store {
        Store::Google => {
            let product_id = product()?;
            let subscription = match purchase.subscription {
                Some(flag) => flag,
                None => payments::product(&state.db, app.id, &product_id)
                    .await?
                    .is_some_and(|p| p.product_type != ProductType::Consumable),
            };
            Proof::Google { product_id, purchase_token: token()?, subscription }
        }
        Store::OneStore => Proof::OneStore { product_id: product()?, purchase_token: token()? },
        Store::Apple => {
            let transaction_id = optional("transactionId", &purchase.transaction_id, MAX_TRANSACTION_ID)?;
            if let Some(jws) = optional("signedTransaction", &purchase.signed_transaction, MAX_SIGNED_TRANSACTION)? {
                Proof::AppleSignedTransaction(jws.to_string())
            } else if let Some(receipt) = optional("receipt", &purchase.receipt, MAX_RECEIPT)? {
                Proof::AppleReceipt {
                    receipt_data: receipt.to_string(),
                    transaction_id: transaction_id.map(String::from),
                    product_id: optional("productId", &purchase.product_id, MAX_PRODUCT)?.map(String::from),
                }
            } else if let Some(id) = transaction_id {
                Proof::AppleTransactionId(id.to_string())
            } else {
                return Err(ApiError::invalid(
                    "an App Store purchase needs signedTransaction, transactionId or receipt",
                ));
            }
        }
    })
}

/// Verifies one purchase and says how it went, as the envelope will carry it. The access token
/// goes only to a caller that proved it holds the purchase (or is the user, by user token).
async fn verify_one(
    state: &AppState,
    caller: &App,
    app: &StoreAppRecord,
    user: &str,
    payment_seq: Option<&str>,
    purchase: &Purchase,
) -> Result<PaymentView, ApiError> {
    let proof = proof(state, app, purchase).await?;
    let signed = match (
        optional("originalJson", &purchase.original_json, MAX_PURCHASE_DATA)?,
        optional("signature", &purchase.signature, MAX_SIGNATURE)?,
    ) {
        (Some(data), Some(signature)) if app.store == Store::Google => {
            Some(SignedPurchase { data: data.into(), signature: signature.into() })
        }
        _ => None,
    };
    let client = state.store_client(app).map_err(|e| ApiError::new(Code::StoreConfiguration, e.to_string()))?;
    let request = Request {
        project_id: caller.project_id,
        app,
        user_id: user,
        payment_seq,
        proof: &proof,
        source: Source::Client,
        policy: caller.policy,
        user_authenticated: caller.authenticates(&state.cipher, user)?,
        signed: signed.as_ref(),
    };
    match payments::verify::verify(&state.db, &state.cipher, &client, &request).await? {
        Outcome::Verified { payment, access_token, new } => {
            if new {
                // The verify is answered whatever happens here: a waiting notification is only late.
                if let Err(err) = crate::store_notifications::verified(state, &payment).await {
                    tracing::warn!(payment = %payment.payment_seq, error = %err, "waiting notifications not woken");
                }
            }
            Ok(PaymentView::new(&payment, request.proves_possession().then_some(access_token)))
        }
        Outcome::Pending { payment, reason, .. } => {
            let (code, message) = match reason {
                Pending::StoreUnavailable => (Code::StoreUnavailable, Code::StoreUnavailable.meaning()),
                Pending::StoreConfiguration => (Code::StoreConfiguration, Code::StoreConfiguration.meaning()),
                Pending::StorePending => (Code::PurchasePending, Code::PurchasePending.meaning()),
            };
            // The payment that keeps the proof may be another user's, who sent it first.
            Err(match payment.user_id == user {
                true => ApiError::new(code, format!("{message} (paymentSeq {})", payment.payment_seq)),
                false => ApiError::new(code, message),
            })
        }
        Outcome::Refused(refusal) => Err(match refusal {
            Refusal::PaymentNotFound => Code::PaymentNotFound.into(),
            Refusal::UserMismatch => Code::PaymentUserMismatch.into(),
            Refusal::ProductNotFound(id) => {
                ApiError::new(Code::ProductNotFound, format!("{id} is not a registered item"))
            }
            Refusal::ProductStopped => Code::ProductStopped.into(),
            Refusal::ProductMismatch { reserved, bought } => {
                ApiError::new(Code::ProductMismatch, format!("reserved {reserved}, the store sold {bought}"))
            }
            Refusal::StoreRejected { code, message } => {
                ApiError::new(Code::StoreRejected, format!("the store says {code}: {message}"))
            }
            Refusal::AppMismatch(message) => ApiError::new(Code::AppMismatch, message),
            Refusal::SandboxNotAllowed => Code::SandboxNotAllowed.into(),
            Refusal::Cancelled => Code::PurchaseCancelled.into(),
            Refusal::UsedByOtherUser => Code::ReceiptUsedByOtherUser.into(),
            Refusal::ProofNotAccepted(message) => ApiError::new(Code::ProofNotAccepted, message),
            Refusal::OtherUsersPurchase => Code::PurchaseOfOtherUser.into(),
            Refusal::AccountValueMissing => Code::AccountValueMissing.into(),
        }),
    }
}

#[utoipa::path(post, path = "/v1/sdk/verify", tag = "app", request_body = VerifyRequest,
    responses((status = 200, description = "The payment in SUCCESS with its access token", body = Envelope<PaymentView>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = []), ("app_key" = [], "user_token" = [])))]
pub(super) async fn verify(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<VerifyRequest>,
) -> ApiResult<PaymentView> {
    let user = required("userId", &request.user_id, MAX_USER)?;
    let seq = optional("paymentSeq", &request.payment_seq, 32)?;
    let app = store_app(&state, caller.project_id, store(&request.store_code)?).await?;
    verify_one(&state, &caller, &app, user, seq, &request.purchase).await.map(Success)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"\S")]
    user_id: Option<String>,
    /// One store, or every store of the project when absent (a purchase made on iOS shows on
    /// Android for the same user); empty or `null` is the same as absent.
    #[schema(pattern = "^(GG|AS|ONESTORE)?$")]
    store_code: Option<String>,
}

fn user_and_stores(request: &UserRequest) -> Result<(&str, Vec<Store>), ApiError> {
    let user = required("userId", &request.user_id, MAX_USER)?;
    Ok((user, service::stores(&None, &request.store_code)?))
}

#[utoipa::path(post, path = "/v1/sdk/consumable", tag = "app", request_body = UserRequest,
    responses((status = 200, description = "The user's unconsumed payments", body = Envelope<Vec<Unconsumed>>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = []), ("app_key" = [], "user_token" = [])))]
pub(super) async fn consumable(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<UserRequest>,
) -> ApiResult<Vec<Unconsumed>> {
    let (user, stores) = user_and_stores(&request)?;
    let secrets = caller.authenticates(&state.cipher, user)?;
    Ok(Success(service::unconsumed_of(&state, caller.project_id, user, &stores, secrets).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientConsumeRequest {
    #[serde(flatten)]
    payment: ConsumeRequest,
    /// The store proof of this very payment: Google and ONE store `purchaseToken` (with
    /// `productId`), App Store `signedTransaction` or `receipt`.
    #[serde(flatten)]
    purchase: Purchase,
}

/// Consume from the app itself (the build-in model, for apps without a server), when the project
/// allows it (off by default). Weaker than the server's consume: the app proves it holds the
/// payment's access token and the store proof of that very payment, but a tampered app can still
/// consume without granting. Prefer `/v1/service/consume`.
#[utoipa::path(post, path = "/v1/sdk/consume", tag = "app", request_body = ClientConsumeRequest,
    responses((status = 200, description = "Consumed by the app itself (build-in model)", body = Envelope<Consumed>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = [])))]
pub(super) async fn consume(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<ClientConsumeRequest>,
) -> ApiResult<Consumed> {
    if !caller.policy.client_consume {
        return Err(Code::ClientConsumeOff.into());
    }
    request.purchase.check_lengths(0)?;
    let (seq, token) = request.payment.fields()?;
    let payment = payments::by_seq(&state.db, caller.project_id, seq).await?.ok_or(Code::PaymentNotFound)?;
    if !payment.token_matches(token) {
        return Err(Code::AccessTokenInvalid.into());
    }
    let app = store_apps::by_id(&state.db, &state.cipher, payment.store_app_id).await?.ok_or(Code::StoreAppNotFound)?;
    let proof = proof(&state, &app, &request.purchase).await?;
    let client = state.store_client(&app).map_err(|e| ApiError::new(Code::StoreConfiguration, e.to_string()))?;
    match payment.is_proven_by(&client, &proof).await {
        Ok(true) => {}
        Ok(false) => return Err(Code::ProofMismatch.into()),
        Err(err) => return Err(service::store_error(err)),
    }
    service::consume_as(&state, caller.project_id, &request.payment, Source::Client).await
}

#[utoipa::path(post, path = "/v1/sdk/subscriptions/active", tag = "app", request_body = UserRequest,
    responses((status = 200, description = "The user's active subscriptions", body = Envelope<Vec<ActiveSubscription>>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = []), ("app_key" = [], "user_token" = [])))]
pub(super) async fn active_subscriptions(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<UserRequest>,
) -> ApiResult<Vec<ActiveSubscription>> {
    let (user, stores) = user_and_stores(&request)?;
    let secrets = caller.authenticates(&state.cipher, user)?;
    Ok(Success(service::subscriptions_of(&state, caller.project_id, user, &stores, None, secrets).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RestoreRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"\S")]
    user_id: Option<String>,
    #[schema(value_type = String, required = true, pattern = "^(GG|AS|ONESTORE)$")]
    store_code: Option<String>,
    #[schema(value_type = Vec<Purchase>, required = true, min_items = 1, max_items = 50)]
    purchases: Option<Vec<Purchase>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Failed {
    index: usize,
    result_code: i32,
    result_message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Restored {
    success_list: Vec<PaymentView>,
    fail_list: Vec<Failed>,
}

/// Re-syncs what the store says the user owns (after a reinstall, on a new device): each purchase
/// is verified as a purchase without reservation; ones recorded before come back unchanged.
#[utoipa::path(post, path = "/v1/sdk/restore", tag = "app", request_body = RestoreRequest,
    responses((status = 200, description = "What was restored and what failed", body = Envelope<Restored>),
        (status = "4XX", description = "refused: `header.resultCode` says why", body = Failure),
        (status = "5XX", description = "the store or this server failed: `header.resultCode` says which", body = Failure)),
    security(("app_key" = []), ("app_key" = [], "user_token" = [])))]
pub(super) async fn restore(
    State(state): State<AppState>,
    caller: App,
    Body(request): Body<RestoreRequest>,
) -> ApiResult<Restored> {
    let user = required("userId", &request.user_id, MAX_USER)?;
    let purchases = request.purchases.unwrap_or_default();
    if purchases.is_empty() || purchases.len() > MAX_RESTORE {
        return Err(ApiError::invalid(format!("purchases holds 1 to {MAX_RESTORE} purchases")));
    }
    for (index, purchase) in purchases.iter().enumerate() {
        purchase.check_lengths(index)?;
    }
    let app = store_app(&state, caller.project_id, store(&request.store_code)?).await?;
    let mut restored = Restored { success_list: Vec::new(), fail_list: Vec::new() };
    for (index, purchase) in purchases.iter().enumerate() {
        match verify_one(&state, &caller, &app, user, None, purchase).await {
            Ok(view) => restored.success_list.push(view),
            Err(err) => {
                restored.fail_list.push(Failed { index, result_code: err.code.number(), result_message: err.message })
            }
        }
    }
    Ok(Success(restored))
}
