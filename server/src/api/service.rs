//! The app server's calls, on NHN Cloud IAP's paths and with its field names.
use axum::extract::State;
use model::Store;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    caller::Server,
    envelope::{optional, required, ApiError, ApiResult, Body, Code, Envelope, Success},
    views::{ActiveSubscription, Consumed, PaymentView, Unconsumed},
};
use crate::{
    payments::{
        self,
        cancel::{Change, Refused},
        consume::Refusal,
        Source,
    },
    state::AppState,
    store_apps,
    stores::StoreError,
    webhooks,
};

const MAX_SEQ: usize = 32;
const MAX_TOKEN: usize = 256;
pub(super) const MAX_USER: usize = 128;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConsumeRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 32, pattern = r"\S")]
    payment_seq: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256, pattern = r"\S")]
    access_token: Option<String>,
}

impl ConsumeRequest {
    /// The paymentSeq and the access token, both required.
    pub(super) fn fields(&self) -> Result<(&str, &str), ApiError> {
        Ok((
            required("paymentSeq", &self.payment_seq, MAX_SEQ)?,
            required("accessToken", &self.access_token, MAX_TOKEN)?,
        ))
    }
}

#[utoipa::path(post, path = "/v1/service/consume", tag = "app server", request_body = ConsumeRequest,
    responses((status = 200, description = "Consumes the payment exactly once; NHN's paths always answer 200: read `header`", body = Envelope<Consumed>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn consume(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ConsumeRequest>,
) -> ApiResult<Consumed> {
    consume_as(&state, caller.project_id, &request, Source::Server).await
}

/// Consume for the app's server, or (build-in model) for the app itself.
pub(super) async fn consume_as(
    state: &AppState,
    project_id: i64,
    request: &ConsumeRequest,
    source: Source,
) -> ApiResult<Consumed> {
    let (seq, token) = request.fields()?;
    match state.consumes.consume(&state.db, project_id, seq, token, source).await? {
        Ok(payment) => Ok(Success(Consumed::new(&payment))),
        Err(refusal) => Err(match refusal {
            Refusal::NotFound => Code::PaymentNotFound,
            Refusal::WrongToken => Code::AccessTokenInvalid,
            Refusal::NotConsumableType => Code::NotConsumableType,
            Refusal::Refunded => Code::PaymentRefunded,
            Refusal::NotSuccessful => Code::ConsumeFailed,
            Refusal::AlreadyConsumed => Code::AlreadyConsumed,
        }
        .into()),
    }
}

/// The stores a list asks for: `marketIds`, or the older `marketId`, or every store.
pub(super) fn stores(market_ids: &Option<Vec<String>>, market_id: &Option<String>) -> Result<Vec<Store>, ApiError> {
    let codes: Vec<&str> = match (market_ids, market_id) {
        (Some(ids), _) if !ids.is_empty() => ids.iter().map(String::as_str).collect(),
        (_, Some(id)) if !id.is_empty() => vec![id.as_str()],
        _ => return Ok(Store::ALL.to_vec()),
    };
    codes
        .into_iter()
        .map(|code| Store::parse(code).ok_or_else(|| ApiError::invalid(format!("unknown marketId {code}"))))
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListRequest {
    market_id: Option<String>,
    market_ids: Option<Vec<String>>,
    /// NHN's name for the user id; Gamebase says `userId`.
    #[serde(alias = "userId")]
    user_key: Option<String>,
    package_name: Option<String>,
}

#[utoipa::path(post, path = "/v1/service/consumable", tag = "app server", request_body = ListRequest,
    responses((status = 200, description = "The user's unconsumed payments with their access tokens; NHN's paths always answer 200: read `header`", body = Envelope<Vec<Unconsumed>>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn consumable(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ListRequest>,
) -> ApiResult<Vec<Unconsumed>> {
    let user = required("userKey", &request.user_key, MAX_USER)?;
    let stores = stores(&request.market_ids, &request.market_id)?;
    Ok(Success(unconsumed_of(&state, caller.project_id, user, &stores, true).await?))
}

/// The user's unconsumed payments; with `secrets`, with the access tokens that consume them.
pub(super) async fn unconsumed_of(
    state: &AppState,
    project_id: i64,
    user: &str,
    stores: &[Store],
    secrets: bool,
) -> Result<Vec<Unconsumed>, ApiError> {
    let list = payments::unconsumed(&state.db, project_id, user, stores).await?;
    let mut answer = Vec::with_capacity(list.len());
    for p in &list {
        answer.push(match secrets {
            true => Unconsumed::new(p, p.access_token(&state.cipher)?),
            false => Unconsumed::new(p, None).without_secrets(),
        });
    }
    Ok(answer)
}

#[utoipa::path(post, path = "/v1/service/activeSubscriptionList", tag = "app server", request_body = ListRequest,
    responses((status = 200, description = "The user's subscriptions that have not expired; NHN's paths always answer 200: read `header`", body = Envelope<Vec<ActiveSubscription>>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn active_subscriptions(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ListRequest>,
) -> ApiResult<Vec<ActiveSubscription>> {
    let user = required("userKey", &request.user_key, MAX_USER)?;
    let package = optional("packageName", &request.package_name, 255)?;
    let stores = stores(&request.market_ids, &request.market_id)?;
    Ok(Success(subscriptions_of(&state, caller.project_id, user, &stores, package, true).await?))
}

pub(super) async fn subscriptions_of(
    state: &AppState,
    project_id: i64,
    user: &str,
    stores: &[Store],
    package: Option<&str>,
    secrets: bool,
) -> Result<Vec<ActiveSubscription>, ApiError> {
    // The package name / bundle id of each of the project's apps, read once for the whole list.
    let app_ids = store_apps::store_app_ids(&state.db, project_id).await?;
    let mut active = Vec::new();
    for p in payments::active_subscriptions(&state.db, project_id, user, stores).await? {
        let app_id = app_ids.get(&p.store_app_id).map(String::as_str).unwrap_or_default();
        if package.is_none_or(|package| package == app_id) {
            active.push(match secrets {
                true => ActiveSubscription::new(&p, app_id, p.access_token(&state.cipher)?),
                false => ActiveSubscription::new(&p, app_id, None).without_secrets(),
            });
        }
    }
    Ok(active)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LookupRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256, pattern = r"\S")]
    access_token: Option<String>,
}

/// Gamebase's "Get Payment Transaction": the payment an access token belongs to, with whether it
/// can be consumed now (`isConsumable`).
#[utoipa::path(post, path = "/v1/service/payment", tag = "app server", request_body = LookupRequest,
    responses((status = 200, description = "The payment an access token belongs to; NHN's paths always answer 200: read `header`", body = Envelope<PaymentView>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn payment(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<LookupRequest>,
) -> ApiResult<PaymentView> {
    let token = required("accessToken", &request.access_token, MAX_TOKEN)?;
    let payment =
        payments::by_access_token(&state.db, caller.project_id, token).await?.ok_or(Code::AccessTokenInvalid)?;
    Ok(Success(PaymentView::new(&payment, Some(token.to_string()))))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusRequest {
    #[schema(value_type = Vec<ConsumeRequest>, required = true, min_items = 1, max_items = 10)]
    payments: Option<Vec<ConsumeRequest>>,
}

/// Gamebase's "Get Subscriptions Status" for up to 10 payments, each proven by its access token.
#[utoipa::path(post, path = "/v1/service/subscriptions/status", tag = "app server", request_body = StatusRequest,
    responses((status = 200, description = "The state of up to 10 subscriptions; NHN's paths always answer 200: read `header`", body = Envelope<Vec<PaymentView>>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn subscription_status(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<StatusRequest>,
) -> ApiResult<Vec<PaymentView>> {
    let asked = request.payments.unwrap_or_default();
    if asked.is_empty() || asked.len() > 10 {
        return Err(ApiError::invalid("payments holds 1 to 10 {paymentSeq, accessToken}"));
    }
    let mut answer = Vec::new();
    for item in &asked {
        let (seq, token) = item.fields()?;
        let payment = payments::by_seq(&state.db, caller.project_id, seq).await?.ok_or(Code::PaymentNotFound)?;
        if !payment.token_matches(token) {
            return Err(Code::AccessTokenInvalid.into());
        }
        answer.push(PaymentView::new(&payment, None));
    }
    Ok(Success(answer))
}

#[utoipa::path(post, path = "/v1/service/subscriptions/cancel", tag = "app server", request_body = ConsumeRequest,
    responses((status = 200, description = "Stops the renewals of a Google subscription; NHN's paths always answer 200: read `header`", body = Envelope<PaymentView>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn cancel_subscription(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ConsumeRequest>,
) -> ApiResult<PaymentView> {
    change_subscription(&state, caller.project_id, &request, Change::Cancel).await
}

#[utoipa::path(post, path = "/v1/service/subscriptions/revoke", tag = "app server", request_body = ConsumeRequest,
    responses((status = 200, description = "Ends a Google subscription now, refunded; NHN's paths always answer 200: read `header`", body = Envelope<PaymentView>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn revoke_subscription(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ConsumeRequest>,
) -> ApiResult<PaymentView> {
    change_subscription(&state, caller.project_id, &request, Change::Revoke).await
}

/// Gamebase's cancel and revoke (Google only), as `payments::cancel` makes them.
async fn change_subscription(
    state: &AppState,
    project_id: i64,
    request: &ConsumeRequest,
    change: Change,
) -> ApiResult<PaymentView> {
    let (seq, token) = request.fields()?;
    match payments::cancel::change(state, project_id, seq, token, change).await? {
        Ok(payment) => Ok(Success(PaymentView::new(&payment, None))),
        Err(Refused::NotFound) => Err(Code::PaymentNotFound.into()),
        Err(Refused::WrongAccessToken) => Err(Code::AccessTokenInvalid.into()),
        Err(Refused::NotSubscription) => Err(Code::NotSubscription.into()),
        Err(Refused::NoStoreApp) => Err(Code::StoreAppNotFound.into()),
        Err(Refused::Configuration(why)) => Err(ApiError::new(Code::StoreConfiguration, why)),
        Err(Refused::NotGoogle) => Err(Code::NotSupportedByStore.into()),
        Err(Refused::Store(err)) => Err(store_error(err)),
    }
}

/// A store call that gave no answer, as the envelope says it.
pub(super) fn store_error(err: StoreError) -> ApiError {
    let scrub = |text: &str| crate::stores::scrub(text);
    match err {
        StoreError::Unavailable(message) => ApiError::new(Code::StoreUnavailable, scrub(&message)),
        throttled @ StoreError::Throttled { .. } => ApiError::new(Code::StoreUnavailable, throttled.to_string()),
        StoreError::Config(message) => ApiError::new(Code::StoreConfiguration, scrub(&message)),
        StoreError::Rejected { code, message } => {
            ApiError::new(Code::StoreRejected, format!("the store says {}: {}", scrub(&code), scrub(&message)))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReplayRequest {
    /// One event, by the id its deliveries carry as `webhook-id`.
    event_id: Option<String>,
    /// Events created in `[from, to)`, epoch ms.
    from: Option<i64>,
    to: Option<i64>,
    /// One user's events.
    user_id: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Replayed {
    /// Deliveries scheduled: one per event and enabled endpoint that takes it.
    scheduled: usize,
}

#[utoipa::path(post, path = "/v1/service/webhooks/replay", tag = "app server", request_body = ReplayRequest,
    responses((status = 200, description = "Sends the chosen webhook events again, from the first attempt", body = Envelope<Replayed>)),
    security(("app_key" = [], "secret_key" = [])))]
pub(super) async fn replay_webhooks(
    State(state): State<AppState>,
    caller: Server,
    Body(request): Body<ReplayRequest>,
) -> ApiResult<Replayed> {
    let event_id = optional("eventId", &request.event_id, MAX_TOKEN)?;
    let user_id = optional("userId", &request.user_id, MAX_USER)?;
    let which = match (event_id, request.from, request.to, user_id) {
        (Some(event), _, _, _) => webhooks::replay::Which::Event(event),
        (None, Some(from), Some(to), _) if from < to => webhooks::replay::Which::Range(from, to),
        (None, Some(_), Some(_), _) => return Err(ApiError::invalid("from must be before to")),
        (None, None, None, Some(user)) => webhooks::replay::Which::User(user),
        _ => return Err(ApiError::invalid("give eventId, from and to, or userId")),
    };
    let scheduled = webhooks::replay::schedule(&state.db, caller.project_id, which).await?;
    Ok(Success(Replayed { scheduled }))
}
