//! The wire side of the Apple fake: the App Store Server API of one environment.
use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::{json, Value};

use super::{Environment, FakeApple, Inner, ProductType, Transaction};
use crate::fakes::jwt;

/// Transaction history and refund history come in pages of this many.
const PAGE: usize = 20;

#[derive(Clone)]
pub(super) struct Api {
    pub fake: FakeApple,
    pub environment: Environment,
}

pub(super) fn router(fake: FakeApple, environment: Environment) -> Router {
    Router::new()
        .route("/inApps/v1/transactions/{id}", get(transaction))
        .route("/inApps/v1/history/{id}", get(history))
        .route("/inApps/v2/history/{id}", get(history))
        .route("/inApps/v1/subscriptions/{id}", get(statuses))
        .route("/inApps/v1/lookup/{order}", get(lookup))
        .route("/inApps/v2/refund/lookup/{id}", get(refunds))
        .route("/inApps/v1/transactions/consumption/{id}", put(consumption_v1))
        .route("/inApps/v2/transactions/consumption/{id}", put(consumption_v2))
        .route("/inApps/v1/transactions/{id}/finish", post(finish))
        .route("/inApps/v1/transactions/appTransactions/{id}", get(app_transaction))
        .route("/inApps/v1/transactions/{id}/appAccountToken", put(set_app_account_token))
        .route("/inApps/v1/notifications/history", post(notification_history))
        .with_state(Api { fake, environment })
}

/// Apple's error body; the HTTP status is the code's first three digits.
pub(super) fn error(code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16((code / 10_000) as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(json!({"errorCode": code, "errorMessage": message}))).into_response();
    if code == 4_290_000 {
        // Apple's Retry-After is the UNIX time in milliseconds when calls are taken again.
        let at = (crate::now_ms() + 1000).to_string();
        response.headers_mut().insert("retry-after", at.parse().expect("a header value"));
    }
    response
}

pub(super) async fn fault(api: &Api, route: &str) -> Option<Response> {
    let fault_error = |status: StatusCode| match status.as_u16() {
        429 => error(4_290_000, "Rate limit exceeded."),
        401 => StatusCode::UNAUTHORIZED.into_response(),
        code if code >= 500 => error(5_000_000, "An unknown error occurred."),
        _ => error(4_000_000, "Bad request."),
    };
    api.fake.faults.apply(route, fault_error).await
}

/// Checks the request's ES256 bearer token against the API keys the fake issued; returns the
/// bundle id it was issued for. Apple answers a bad token with a bare 401.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<String, Response> {
    let unauthorized = || StatusCode::UNAUTHORIZED.into_response();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let parts = jwt::split(token).ok_or_else(unauthorized)?;
    let inner = api.fake.lock();
    let key = parts.header["kid"].as_str().and_then(|kid| inner.keys.get(kid)).ok_or_else(unauthorized)?;
    let claims = &parts.claims;
    let now = jwt::now_secs();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    // `iat` is optional: Apple's Python library leaves it out.
    let lifetime_ok = claims["iat"].as_i64().is_none_or(|iat| iat <= now + 60 && exp - iat <= 3600);
    let valid = parts.header["alg"] == "ES256"
        && claims["aud"] == "appstoreconnect-v1"
        && claims["iss"] == key.issuer_id.as_str()
        && claims["bid"] == key.bundle_id.as_str()
        && exp > now
        && exp <= now + 3600 + 60
        && lifetime_ok
        && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.public_key)
            .verify(parts.signing_input.as_bytes(), &parts.signature)
            .is_ok();
    if valid {
        Ok(key.bundle_id.clone())
    } else {
        Err(unauthorized())
    }
}

/// The transaction `id` (a transaction or original transaction id) of `bundle` in this environment.
fn find<'a>(api: &Api, inner: &'a Inner, bundle: &str, id: &str) -> Result<&'a Transaction, Response> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(4_000_006, "Invalid transaction id."));
    }
    inner
        .transactions
        .iter()
        .find(|t| {
            (t.transaction_id == id || t.original_transaction_id == id)
                && t.bundle_id == bundle
                && t.environment == api.environment
        })
        .ok_or_else(|| error(4_040_010, "Transaction id not found."))
}

/// Runs `f` with the checked request's bundle, the fake's state and the transaction `id`.
async fn with_transaction(
    api: &Api,
    route: &str,
    headers: &HeaderMap,
    id: &str,
    f: impl FnOnce(&Inner, &Transaction, &str) -> Response,
) -> Response {
    if let Some(response) = fault(api, route).await {
        return response;
    }
    let bundle = match authorize(api, headers) {
        Ok(bundle) => bundle,
        Err(response) => return response,
    };
    let inner = api.fake.lock();
    match find(api, &inner, &bundle, id) {
        Ok(t) => f(&inner, t, &bundle),
        Err(response) => response,
    }
}

fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The customer's transactions of this app and environment, oldest first.
fn customer_transactions<'a>(api: &Api, inner: &'a Inner, of: &Transaction) -> Vec<&'a Transaction> {
    let mut list: Vec<_> = inner
        .transactions
        .iter()
        .filter(|t| t.customer == of.customer && t.bundle_id == of.bundle_id && t.environment == api.environment)
        .collect();
    list.sort_by_key(|t| t.purchase_ms);
    list
}

/// One page of `list` from the revision cursor (a plain offset here), as Apple pages history.
fn page(api: &Api, list: Vec<&Transaction>, revision: Option<&str>) -> Result<(Vec<String>, String, bool), Response> {
    let offset = match revision {
        None => 0,
        Some(r) => r.parse::<usize>().map_err(|_| error(4_000_005, "Invalid request revision."))?,
    };
    let signed: Vec<String> =
        list.iter().skip(offset).take(PAGE).map(|t| api.fake.chains.good.sign(&t.claims())).collect();
    let next = offset + signed.len();
    Ok((signed, next.to_string(), next < list.len()))
}

async fn transaction(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let fake = api.fake.clone();
    with_transaction(&api, "transactions", &headers, &id, |_, t, _| {
        Json(json!({"signedTransactionInfo": fake.chains.good.sign(&t.claims())})).into_response()
    })
    .await
}

async fn history(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(&q);
    with_transaction(&api, "history", &headers, &id, |inner, t, bundle| {
        let products: Vec<&str> = pairs.iter().filter(|(k, _)| k == "productId").map(|(_, v)| v.as_str()).collect();
        let revoked = first(&pairs, "revoked").map(|r| r.eq_ignore_ascii_case("true"));
        let mut list: Vec<_> = customer_transactions(&api, inner, t)
            .into_iter()
            .filter(|t| products.is_empty() || products.contains(&t.product_id.as_str()))
            .filter(|t| revoked.is_none_or(|r| r == t.revocation_ms.is_some()))
            .collect();
        if first(&pairs, "sort") == Some("DESCENDING") {
            list.reverse();
        }
        match page(&api, list, first(&pairs, "revision")) {
            Ok((signed, revision, has_more)) => Json(json!({
                "revision": revision, "hasMore": has_more, "bundleId": bundle,
                "appAppleId": inner.app_apple_id(bundle),
                "environment": api.environment.wire(), "signedTransactions": signed,
            }))
            .into_response(),
            Err(response) => response,
        }
    })
    .await
}

async fn statuses(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(&q);
    let wanted: Vec<i64> = pairs.iter().filter(|(k, _)| k == "status").filter_map(|(_, v)| v.parse().ok()).collect();
    with_transaction(&api, "subscriptions", &headers, &id, |inner, t, bundle| {
        let mut originals: Vec<&str> = customer_transactions(&api, inner, t)
            .into_iter()
            .filter(|t| t.product_type == ProductType::AutoRenewable)
            .map(|t| t.original_transaction_id.as_str())
            .collect();
        // Renewals of one subscription interleave with other purchases: sort before deduplicating.
        originals.sort_unstable();
        originals.dedup();
        let last_transactions: Vec<Value> = originals
            .into_iter()
            .filter_map(|original| {
                let sub = inner.subscriptions.get(original)?;
                let latest = &inner.transactions[inner.latest_index(original)?];
                (wanted.is_empty() || wanted.contains(&i64::from(sub.status))).then(|| {
                    json!({
                        "status": sub.status,
                        "originalTransactionId": original,
                        "signedTransactionInfo": api.fake.chains.good.sign(&latest.claims()),
                        "signedRenewalInfo": api.fake.signed_renewal_info(inner, original),
                    })
                })
            })
            .collect();
        Json(json!({
            "environment": api.environment.wire(), "bundleId": bundle,
            "appAppleId": inner.app_apple_id(bundle),
            "data": [{"subscriptionGroupIdentifier": "21000001", "lastTransactions": last_transactions}],
        }))
        .into_response()
    })
    .await
}

/// Look Up Order ID: `status` 0 with the order's transactions, or 1 for an order it does not know.
async fn lookup(State(api): State<Api>, headers: HeaderMap, Path(order): Path<String>) -> Response {
    if let Some(response) = fault(&api, "lookup").await {
        return response;
    }
    let bundle = match authorize(&api, &headers) {
        Ok(bundle) => bundle,
        Err(response) => return response,
    };
    let inner = api.fake.lock();
    let signed: Vec<String> = inner
        .transactions
        .iter()
        .filter(|t| t.order_id == order && t.bundle_id == bundle && t.environment == api.environment)
        .map(|t| api.fake.chains.good.sign(&t.claims()))
        .collect();
    Json(json!({"status": if signed.is_empty() { 1 } else { 0 }, "signedTransactions": signed})).into_response()
}

async fn refunds(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(&q);
    with_transaction(&api, "refunds", &headers, &id, |inner, t, _| {
        // In the order they were refunded, so a kept revision gets only the refunds made since.
        let mut refunded: Vec<_> =
            customer_transactions(&api, inner, t).into_iter().filter(|t| t.revocation_ms.is_some()).collect();
        refunded.sort_by_key(|t| t.revocation_ms);
        match page(&api, refunded, first(&pairs, "revision")) {
            Ok((signed, revision, has_more)) => {
                Json(json!({"signedTransactions": signed, "revision": revision, "hasMore": has_more})).into_response()
            }
            Err(response) => response,
        }
    })
    .await
}

/// Get Notification History: the notifications sent for the key's app in this environment within
/// `startDate`..`endDate` (at most 180 days back), only the undelivered ones when `onlyFailures`,
/// 20 a page.
async fn notification_history(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(response) = fault(&api, "notifications").await {
        return response;
    }
    let bundle = match authorize(&api, &headers) {
        Ok(bundle) => bundle,
        Err(response) => return response,
    };
    let Some(Json(body)) = body else { return error(4_000_000, "Bad request.") };
    let (Some(start), Some(end)) = (body["startDate"].as_i64(), body["endDate"].as_i64()) else {
        return error(4_000_015, "Invalid start date.");
    };
    if start >= end || start < crate::now_ms() - 180 * 86_400_000 {
        return error(4_000_015, "Invalid start date.");
    }
    let only_failures = body["onlyFailures"].as_bool().unwrap_or(false);
    let offset: usize = match first(&query_pairs(&q), "paginationToken") {
        None => 0,
        Some(token) => match token.parse() {
            Ok(offset) => offset,
            Err(_) => return error(4_000_014, "Invalid pagination token."),
        },
    };
    let inner = api.fake.lock();
    let matching: Vec<&super::Sent> = inner
        .sent
        .iter()
        .filter(|n| n.bundle_id == bundle && n.environment == api.environment)
        .filter(|n| n.sent_ms >= start && n.sent_ms < end && !(only_failures && n.delivered))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(PAGE)
        .map(|n| {
            let result = if n.delivered { "SUCCESS" } else { "NO_RESPONSE" };
            json!({"signedPayload": n.signed_payload, "sendAttempts": [{"attemptDate": n.sent_ms, "sendAttemptResult": result}]})
        })
        .collect();
    let has_more = offset + PAGE < matching.len();
    let mut answer = json!({"notificationHistory": page, "hasMore": has_more});
    if has_more {
        answer["paginationToken"] = json!((offset + PAGE).to_string());
    }
    Json(answer).into_response()
}

/// Send Consumption Information v1 (deprecated): consumables only.
async fn consumption_v1(api: State<Api>, headers: HeaderMap, id: Path<String>, body: Option<Json<Value>>) -> Response {
    consumption(api, headers, id, body, true).await
}

/// Send Consumption Information v2: any product type, answered 202.
async fn consumption_v2(api: State<Api>, headers: HeaderMap, id: Path<String>, body: Option<Json<Value>>) -> Response {
    consumption(api, headers, id, body, false).await
}

/// Get App Transaction Info: the app transaction of the customer who owns the transaction.
async fn app_transaction(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut owner = None;
    let answer = with_transaction(&api, "appTransactions", &headers, &id, |_, t, bundle| {
        owner = Some((bundle.to_string(), super::app_transaction_id(bundle, &t.customer)));
        StatusCode::OK.into_response()
    })
    .await;
    // Signing reads the fake's state, which `with_transaction` holds while it runs.
    match owner {
        Some((bundle, app_transaction_id)) => {
            let signed = api.fake.signed_app_transaction(&bundle, api.environment, &app_transaction_id);
            Json(json!({"signedAppTransactionInfo": signed})).into_response()
        }
        None => answer,
    }
}

/// Set App Account Token: the original transaction and every later one of it carry the token.
async fn set_app_account_token(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let token = body.and_then(|Json(b)| b["appAccountToken"].as_str().map(String::from));
    let Some(token) = token.filter(|t| is_uuid(t)) else {
        return error(4_000_183, "Invalid request. The app account token field must be a valid UUID.");
    };
    let mut original = None;
    let answer = with_transaction(&api, "appAccountToken", &headers, &id, |_, t, _| {
        if t.original_transaction_id != id {
            return error(4_000_187, "Invalid request. The transaction id is not an original transaction id.");
        }
        original = Some((t.bundle_id.clone(), t.environment));
        StatusCode::OK.into_response()
    })
    .await;
    if let Some((bundle, environment)) = original {
        let mut inner = api.fake.lock();
        let chain = inner
            .transactions
            .iter_mut()
            .filter(|t| t.original_transaction_id == id && t.bundle_id == bundle && t.environment == environment);
        for transaction in chain {
            transaction.app_account_token = Some(token.to_lowercase());
        }
    }
    answer
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Finish Transaction: a consumable is marked delivered; finishing it again changes nothing.
async fn finish(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let fake = api.fake.clone();
    let mut finished = None;
    let answer = with_transaction(&api, "finish", &headers, &id, |_, t, _| {
        if t.product_type != ProductType::Consumable {
            return error(4_000_043, "Invalid request. The transaction is not a consumable in-app purchase.");
        }
        finished = Some(t.transaction_id.clone());
        StatusCode::OK.into_response()
    })
    .await;
    if let Some(transaction_id) = finished {
        let mut inner = fake.lock();
        if !inner.finished.iter().any(|(id, _)| *id == transaction_id) {
            inner.finished.push((transaction_id, crate::now_ms()));
        }
    }
    answer
}

/// Apple refuses a body without the customer's consent or with a field out of its range.
async fn consumption(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
    consumables_only: bool,
) -> Response {
    let fake = api.fake.clone();
    let Some(Json(body)) = body else { return error(4_000_000, "Bad request.") };
    let accepted = with_transaction(&api, "consumption", &headers, &id, |_, t, _| {
        if consumables_only && t.product_type != ProductType::Consumable {
            return error(4_000_043, "Invalid request. The transaction is not a consumable in-app purchase.");
        }
        if body.get("customerConsented") != Some(&json!(true)) {
            return error(4_000_035, "Invalid request. The customer consented field is invalid.");
        }
        let delivery = [
            "DELIVERED",
            "UNDELIVERED_QUALITY_ISSUE",
            "UNDELIVERED_WRONG_ITEM",
            "UNDELIVERED_SERVER_OUTAGE",
            "UNDELIVERED_OTHER",
        ];
        if !consumables_only && !body["deliveryStatus"].as_str().is_some_and(|d| delivery.contains(&d)) {
            return error(4_000_036, "Invalid request. The delivery status field is invalid.");
        }
        if !consumables_only && !body["sampleContentProvided"].is_boolean() {
            return error(4_000_041, "Invalid request. The sample content provided field is invalid.");
        }
        StatusCode::ACCEPTED.into_response()
    })
    .await;
    if accepted.status() == StatusCode::ACCEPTED {
        fake.lock().consumption.push((id, body));
    }
    accepted
}
