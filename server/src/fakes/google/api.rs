//! The wire side of the Google fake: `/token` and the Android Publisher v3 paths.
//!
//! Google's custom verbs (`…/tokens/{token}:acknowledge`) share a path segment with the token, so
//! POST handlers split the segment at its last `:`; tokens never end in a verb.
use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    current_order_id, error, fault_error, FakeGoogle, Kind, Purchase, SubscriptionState, GOOGLE_TOKEN_URI, KEY_ID,
    QUERYABLE_AFTER_EXPIRY_MS, SCOPE,
};
use crate::fakes::{jwt, keys};

const APP: &str = "/androidpublisher/v3/applications/{package}";

pub(super) fn router() -> Router<FakeGoogle> {
    Router::new()
        .route("/token", post(token))
        .route("/oauth2/v3/certs", get(push_keys))
        .route(&format!("{APP}/purchases/products/{{product}}/tokens/{{token}}"), get(product).post(product_action))
        .route(&format!("{APP}/purchases/productsv2/tokens/{{token}}"), get(product_v2))
        .route(&format!("{APP}/oneTimeProducts/{{product}}"), get(one_time_product))
        .route(
            &format!("{APP}/purchases/subscriptionsv2/tokens/{{token}}"),
            get(subscription).post(subscription_action),
        )
        .route(&format!("{APP}/purchases/subscriptions/{{product}}/tokens/{{token}}"), post(subscription_acknowledge))
        .route(&format!("{APP}/purchases/voidedpurchases"), get(voided))
        .route(&format!("{APP}/orders/{{order}}"), get(order).post(order_action))
        .route(&format!("{APP}/orders:batchGet"), get(orders_batch))
}

/// The keys Pub/Sub push tokens are signed with, as Google publishes them.
async fn push_keys() -> Response {
    ([("cache-control", "public, max-age=3600")], Json(FakeGoogle::push_keys())).into_response()
}

async fn fault(store: &FakeGoogle, route: &str) -> Option<Response> {
    store.faults.apply(route, fault_error).await
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    assertion: String,
}

/// The JWT-bearer grant: the assertion must be signed with the key the fake issued, name an
/// account it issued, ask for the Android Publisher scope and be addressed to a token endpoint.
async fn token(State(store): State<FakeGoogle>, Form(form): Form<TokenForm>) -> Response {
    if let Some(response) = fault(&store, "token").await {
        return response;
    }
    let invalid = |description: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": description})))
            .into_response()
    };
    if form.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    let Some(parts) = jwt::split(&form.assertion) else { return invalid("Invalid JWT.") };
    let public_key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, keys::rsa_key_pair().public().as_ref());
    let kid_ok = parts.header.get("kid").is_none_or(|kid| kid == KEY_ID);
    if parts.header["alg"] != "RS256"
        || !kid_ok
        || public_key.verify(parts.signing_input.as_bytes(), &parts.signature).is_err()
    {
        return invalid("Invalid JWT Signature.");
    }
    let claims = &parts.claims;
    let now = jwt::now_secs();
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if exp <= now || iat > now + 60 || exp - iat > 3600 {
        return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == SCOPE) {
        return invalid("Invalid OAuth scope or ID token audience provided.");
    }
    let inner = store.lock();
    let issuer = claims["iss"].as_str().unwrap_or_default();
    let Some(token_uri) = inner.accounts.get(issuer) else { return invalid("Invalid grant: account not found") };
    let audience = claims["aud"].as_str().unwrap_or_default();
    if audience != token_uri && audience != GOOGLE_TOKEN_URI {
        return invalid("Invalid JWT: audience is not a token endpoint.");
    }
    let (access_token, lifetime) = store.tokens.issue("ya29.fake.");
    Json(json!({"access_token": access_token, "expires_in": lifetime.as_secs().saturating_sub(1), "token_type": "Bearer"}))
        .into_response()
}

/// Runs `f` on the purchase behind `token` once the caller's bearer token is valid and the token
/// belongs to `package`; otherwise answers as Google does.
fn with_purchase<T>(
    store: &FakeGoogle,
    headers: &HeaderMap,
    package: &str,
    token: &str,
    f: impl FnOnce(&mut Purchase) -> Result<T, Response>,
) -> Result<T, Response> {
    authorized(store, headers)?;
    let mut inner = store.lock();
    match inner.purchases.get_mut(token) {
        None => Err(error(StatusCode::NOT_FOUND, "purchaseTokenNotFound", "The purchase token was not found.")),
        Some(p) if p.package != package => Err(error(
            StatusCode::BAD_REQUEST,
            "purchaseTokenDoesNotMatchPackageName",
            "The purchase token does not match the package name.",
        )),
        Some(p) => f(p),
    }
}

fn invalid_state() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalidPurchaseState",
        "The purchase is not in a valid state to perform the desired operation.",
    )
}

fn product_of<'a>(p: &'a mut Purchase, product_id: &str) -> Result<&'a mut super::Product, Response> {
    let matches = p.product_id == product_id;
    match &mut p.kind {
        Kind::Product(product) if matches => Ok(product),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "purchaseTokenDoesNotMatchProductId",
            "The purchase token does not match the product ID.",
        )),
    }
}

fn answer(result: Result<Value, Response>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(response) => response,
    }
}

async fn product(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, product_id, token)): Path<(String, String, String)>,
) -> Response {
    if let Some(response) = fault(&store, "products.get").await {
        return response;
    }
    answer(with_purchase(&store, &headers, &package, &token, |p| {
        let (time_ms, order_id, acknowledged, test, account_id) =
            (p.time_ms, p.order_id.clone(), p.acknowledged, p.test, p.account_id.clone());
        let product = product_of(p, &product_id)?;
        let mut body = json!({
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": time_ms.to_string(),
            // v1 knows no pre-orders: an unreleased one is just pending.
            "purchaseState": if product.preorder_release_ms.is_some_and(|r| r > crate::now_ms()) { 2 } else { product.state },
            "consumptionState": product.consumed as i32,
            "developerPayload": product.payload.clone().unwrap_or_default(),
            "orderId": order_id,
            "acknowledgementState": acknowledged as i32,
            "regionCode": "KR",
            "quantity": product.quantity,
            "refundableQuantity": if product.state == 1 { 0 } else { product.quantity },
        });
        // purchaseType is only present on purchases that are not normal ones.
        if test {
            body["purchaseType"] = json!(0);
        } else if product.promo {
            body["purchaseType"] = json!(1);
        }
        if let Some(account) = account_id {
            body["obfuscatedExternalAccountId"] = json!(account);
        }
        Ok(body)
    }))
}

/// `purchases.productsv2.getproductpurchasev2`: the purchase by token alone, its purchase option,
/// offer kind (rental, pre-order) and quantity on a line item, states as enum names.
async fn product_v2(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, token)): Path<(String, String)>,
) -> Response {
    if let Some(response) = fault(&store, "productsv2.get").await {
        return response;
    }
    answer(with_purchase(&store, &headers, &package, &token, |p| {
        let Kind::Product(product) = &p.kind else {
            return Err(error(StatusCode::BAD_REQUEST, "invalid", "Invalid Value"));
        };
        let now = crate::now_ms();
        let unreleased = product.preorder_release_ms.is_some_and(|release| release > now);
        let state = match product.state {
            _ if unreleased => "PENDING",
            0 => "PURCHASED",
            1 => "CANCELLED",
            _ => "PENDING",
        };
        let mut offer = json!({
            "purchaseOptionId": product.option_id,
            "quantity": product.quantity,
            "refundableQuantity": if product.state == 1 { 0 } else { product.quantity },
            "consumptionState": if product.consumed {
                "CONSUMPTION_STATE_CONSUMED"
            } else {
                "CONSUMPTION_STATE_YET_TO_BE_CONSUMED"
            },
            "offerToken": format!("offer-{}", product.option_id),
        });
        if product.rented {
            offer["rentOfferDetails"] = json!({});
        }
        if let Some(release) = product.preorder_release_ms {
            offer["preorderOfferDetails"] = json!({"preorderReleaseTime": rfc3339(release)});
        }
        let mut body = json!({
            "kind": "androidpublisher#productPurchaseV2",
            "productLineItem": [{"productId": p.product_id, "productOfferDetails": offer}],
            "purchaseStateContext": {"purchaseState": state},
            "orderId": p.order_id,
            "regionCode": "KR",
            "acknowledgementState": if p.acknowledged {
                "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
            } else {
                "ACKNOWLEDGEMENT_STATE_PENDING"
            },
        });
        // Set only once the payment completed.
        if state == "PURCHASED" || state == "CANCELLED" {
            body["purchaseCompletionTime"] = json!(rfc3339(p.time_ms));
        }
        if p.test {
            body["testPurchaseContext"] = json!({"fopType": "TEST"});
        }
        if let Some(account) = &p.account_id {
            body["obfuscatedExternalAccountId"] = json!(account);
        }
        Ok(body)
    }))
}

/// `monetization.onetimeproducts.get`: the catalog entry, with the rental purchase option that was
/// registered for it (a plain product has only its `buy` option).
async fn one_time_product(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, product_id)): Path<(String, String)>,
) -> Response {
    if let Some(response) = fault(&store, "onetimeproducts.get").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let inner = store.lock();
    let known = inner.purchases.values().any(|p| p.package == package && p.product_id == product_id);
    let rental = inner.rentals.get(&(package.clone(), product_id.clone()));
    if !known && rental.is_none() {
        return error(StatusCode::NOT_FOUND, "notFound", "Requested entity was not found.");
    }
    let mut options =
        vec![json!({"purchaseOptionId": "buy", "state": "ACTIVE", "buyOption": {"legacyCompatible": true}})];
    if let Some((option, period)) = rental {
        options.push(json!({"purchaseOptionId": option, "state": "ACTIVE", "rentOption": {"rentalPeriod": period}}));
    }
    Json(json!({
        "packageName": package,
        "productId": product_id,
        "listings": [{"languageCode": "en-US", "title": product_id}],
        "purchaseOptions": options,
    }))
    .into_response()
}

/// Acknowledge and consume: Google answers either with an empty body. The request body (an
/// optional developer payload) is read, so the caller's connection stays open as Google's does.
async fn product_action(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, product_id, segment)): Path<(String, String, String)>,
    _body: axum::body::Bytes,
) -> Response {
    let Some((token, verb)) = segment.rsplit_once(':') else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    let route = match verb {
        "acknowledge" => "products.acknowledge",
        "consume" => "products.consume",
        _ => return error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    };
    if let Some(response) = fault(&store, route).await {
        return response;
    }
    empty(with_purchase(&store, &headers, &package, token, |p| {
        let acknowledged = p.acknowledged;
        let product = product_of(p, &product_id)?;
        let allowed = product.state == 0 && !product.consumed && (verb == "consume" || !acknowledged);
        if !allowed {
            return Err(invalid_state());
        }
        // Consuming a purchase also acknowledges it.
        if verb == "consume" {
            product.consumed = true;
        }
        p.acknowledged = true;
        Ok(())
    }))
}

/// Google's answer to a method without a response: 204 and no body.
fn empty(result: Result<(), Response>) -> Response {
    result.map_or_else(|response| response, |()| StatusCode::NO_CONTENT.into_response())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn subscription(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, token)): Path<(String, String)>,
) -> Response {
    if let Some(response) = fault(&store, "subscriptions.get").await {
        return response;
    }
    // The account value the expired subscription a Play Store re-subscription follows carried.
    let expired_account = {
        let inner = store.lock();
        let expired = inner.purchases.get(&token).and_then(|p| match &p.kind {
            Kind::Subscription(sub) => sub.resubscribed_from.as_ref(),
            Kind::Product(_) => None,
        });
        expired.and_then(|t| inner.purchases.get(t)).and_then(|p| p.account_id.clone())
    };
    answer(with_purchase(&store, &headers, &package, &token, |p| {
        let order_id = current_order_id(p);
        let Kind::Subscription(sub) = &p.kind else {
            return Err(error(StatusCode::BAD_REQUEST, "invalid", "Invalid Value"));
        };
        if sub.state == SubscriptionState::Expired && crate::now_ms() - sub.expiry_ms > QUERYABLE_AFTER_EXPIRY_MS {
            return Err(error(
                StatusCode::GONE,
                "subscriptionPurchaseNoLongerAvailable",
                "The subscription purchase is no longer available for query because it has been expired for too long.",
            ));
        }
        let units = sub.price_micros / 1_000_000;
        let nanos = (sub.price_micros % 1_000_000) * 1000;
        let mut body = json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "startTime": rfc3339(p.time_ms),
            "regionCode": "KR",
            "subscriptionState": sub.state.wire(),
            // Removed from the API in 2026 but still in older answers; clients must not need it.
            "latestOrderId": order_id,
            "acknowledgementState": if p.acknowledged { "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED" } else { "ACKNOWLEDGEMENT_STATE_PENDING" },
            "etag": format!("fake-etag-{}", sub.renewals),
            "lineItems": [{
                "productId": p.product_id,
                "expiryTime": rfc3339(sub.expiry_ms),
                "autoRenewingPlan": {
                    "autoRenewEnabled": sub.auto_renew,
                    "recurringPrice": {"currencyCode": sub.currency, "units": units.to_string(), "nanos": nanos},
                },
                "offerDetails": {"basePlanId": "p1m", "offerTags": []},
                "offerPhase": {"basePrice": {}},
                "latestSuccessfulOrderId": order_id,
            }],
        });
        // A declined renewal: the order of the next period waits.
        let pending_order = format!("{}..{}", p.order_id, sub.renewals);
        match sub.state {
            SubscriptionState::InGracePeriod => {
                body["inGracePeriodStateContext"] = json!({"renewalDeclined": {"pendingOrderId": pending_order}});
            }
            SubscriptionState::OnHold => {
                body["onHoldStateContext"] = json!({"renewalDeclined": {"pendingOrderId": pending_order}});
            }
            _ => {}
        }
        if let Some((price, deadline)) = sub.step_up {
            body["lineItems"][0]["autoRenewingPlan"]["priceStepUpConsentDetails"] = json!({
                "state": "PENDING", "consentDeadlineTime": rfc3339(deadline),
                "newPrice": {"currencyCode": sub.currency, "units": (price / 1_000_000).to_string(), "nanos": (price % 1_000_000) * 1000},
            });
        }
        if let Some(replaced) = &sub.replaced_product {
            body["lineItems"][0]["itemReplacement"] =
                json!({"productId": replaced, "basePlanId": "p1m", "replacementMode": "WITH_TIME_PRORATION"});
        }
        if p.test {
            body["testPurchase"] = json!({});
        }
        if let Some(account) = &p.account_id {
            body["externalAccountIdentifiers"] = json!({"obfuscatedExternalAccountId": account});
        }
        if let Some(linked) = &sub.linked_token {
            body["linkedPurchaseToken"] = json!(linked);
        }
        if let Some(expired) = &sub.resubscribed_from {
            let account = expired_account.clone();
            body["outOfAppPurchaseContext"] = json!({"expiredPurchaseToken": expired,
                "expiredExternalAccountIdentifiers": {"obfuscatedExternalAccountId": account}});
        }
        if sub.state == SubscriptionState::Canceled {
            body["canceledStateContext"] =
                json!({"userInitiatedCancellation": {"cancelTime": rfc3339(crate::now_ms())}});
        }
        Ok(body)
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ActionBody {
    revocation_context: Option<Value>,
}

async fn subscription_action(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, segment)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Response {
    let Some((token, verb)) = segment.rsplit_once(':') else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    let change = match verb {
        "cancel" => super::Change::Cancel,
        "revoke" => super::Change::Revoke,
        _ => return error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    };
    if let Some(response) = fault(&store, &format!("subscriptions.{verb}")).await {
        return response;
    }
    if change == super::Change::Revoke && body.is_none_or(|Json(b)| b.revocation_context.is_none()) {
        return error(StatusCode::BAD_REQUEST, "required", "revocationContext is required");
    }
    let checked = with_purchase(&store, &headers, &package, token, |p| match &p.kind {
        Kind::Subscription(sub) if sub.state != SubscriptionState::Expired => Ok(()),
        Kind::Subscription(_) => Err(invalid_state()),
        Kind::Product(_) => Err(error(StatusCode::BAD_REQUEST, "invalid", "Invalid Value")),
    });
    if let Err(response) = checked {
        return response;
    }
    store.change_subscription(token, change).await;
    Json(json!({})).into_response()
}

async fn subscription_acknowledge(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, product_id, segment)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    // `externalAccountIds` binds a purchase that carries no account value (one made in the Play
    // Store) to the developer's user.
    let account = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["externalAccountIds"]["obfuscatedAccountId"].as_str().map(String::from));
    let Some((token, "acknowledge")) = segment.rsplit_once(':') else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    if let Some(response) = fault(&store, "subscriptions.acknowledge").await {
        return response;
    }
    empty(with_purchase(&store, &headers, &package, token, |p| {
        let pending = matches!(&p.kind, Kind::Subscription(s) if s.state == SubscriptionState::Pending);
        if p.product_id != product_id || !matches!(p.kind, Kind::Subscription(_)) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "purchaseTokenDoesNotMatchSubscriptionId",
                "The purchase token does not match the subscription ID.",
            ));
        }
        if p.acknowledged || pending {
            return Err(invalid_state());
        }
        p.acknowledged = true;
        if p.account_id.is_none() {
            p.account_id = account;
        }
        Ok(())
    }))
}

/// `voidedpurchases.list`: filtered on when the void was recorded, one page at a time. The page
/// token carries the filter, because Google ignores the time window once a token is given.
async fn voided(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path(package): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = fault(&store, "voided").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let number = |key: &str| query.get(key).and_then(|v| v.parse::<i64>().ok());
    let now = crate::now_ms();
    let (start, end, kind, max, offset) = match query.get("token") {
        Some(token) => match parse_page_token(token) {
            Some(filter) => filter,
            None => return error(StatusCode::BAD_REQUEST, "invalid", "Invalid Value"),
        },
        None => (
            number("startTime").unwrap_or(now - 30 * 86_400_000),
            number("endTime").unwrap_or(now),
            number("type").unwrap_or(0),
            number("maxResults").unwrap_or(1000).clamp(1, 1000),
            0,
        ),
    };
    if start < now - 30 * 86_400_000 - 60_000 || start > end {
        return error(StatusCode::BAD_REQUEST, "invalid", "startTime can be at most 30 days in the past");
    }
    let inner = store.lock();
    let matching: Vec<_> = inner
        .voided
        .iter()
        .filter(|v| v.voided_ms >= start && v.voided_ms <= end && (kind == 1 || !v.subscription))
        .filter(|v| inner.purchases.get(&v.token).is_some_and(|p| p.package == package))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset as usize)
        .take(max as usize)
        .map(|v| {
            json!({
                "kind": "androidpublisher#voidedPurchase", "purchaseToken": v.token,
                "purchaseTimeMillis": v.purchase_ms.to_string(), "voidedTimeMillis": v.voided_ms.to_string(),
                "orderId": v.order_id, "voidedSource": v.source, "voidedReason": v.reason, "voidedQuantity": 1,
            })
        })
        .collect();
    let next = offset + page.len() as i64;
    let mut body = json!({
        "pageInfo": {"totalResults": matching.len(), "resultPerPage": max, "startIndex": offset},
        "voidedPurchases": page,
    });
    if (next as usize) < matching.len() {
        body["tokenPagination"] = json!({"nextPageToken": format!("{start}.{end}.{kind}.{max}.{next}")});
    }
    Json(body).into_response()
}

fn parse_page_token(token: &str) -> Option<(i64, i64, i64, i64, i64)> {
    let numbers: Vec<i64> = token.split('.').map(|n| n.parse().ok()).collect::<Option<_>>()?;
    match numbers[..] {
        [start, end, kind, max, offset] => Some((start, end, kind, max, offset)),
        _ => None,
    }
}

fn authorized(store: &FakeGoogle, headers: &HeaderMap) -> Result<(), Response> {
    if store.tokens.authorizes(headers) {
        Ok(())
    } else {
        Err(error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials"))
    }
}

/// `orders.refund`: refunds an order; with `revoke=true` the purchase is also revoked and shows in
/// the voided list, as a Play Console refund with "revoke entitlement" does.
/// `orders.get`: the order with what was paid, tax and line items.
async fn order(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, order_id)): Path<(String, String)>,
) -> Response {
    if let Some(response) = fault(&store, "orders.get").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let inner = store.lock();
    let found = inner
        .purchases
        .iter()
        .filter(|(_, p)| p.package == package)
        .find_map(|(token, p)| super::order_of(token, p, &order_id));
    match found {
        Some(order) => Json(order).into_response(),
        None => error(StatusCode::NOT_FOUND, "orderNotFound", "The order was not found."),
    }
}

/// `orders.batchGet`: 1 to 1,000 distinct order ids; one unknown id fails the whole call.
async fn orders_batch(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path(package): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if let Some(response) = fault(&store, "orders.batchget").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let ids: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "orderIds")
        .map(|(_, id)| id.into_owned())
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    if ids.is_empty() || ids.len() > 1000 || distinct.len() != ids.len() {
        return error(StatusCode::BAD_REQUEST, "invalid", "Between 1 and 1000 distinct order ids are required.");
    }
    let inner = store.lock();
    let mut orders = Vec::with_capacity(ids.len());
    for id in &ids {
        let found = inner
            .purchases
            .iter()
            .filter(|(_, p)| p.package == package)
            .find_map(|(token, p)| super::order_of(token, p, id));
        match found {
            Some(order) => orders.push(order),
            None => return error(StatusCode::NOT_FOUND, "orderNotFound", "The order was not found."),
        }
    }
    Json(json!({ "orders": orders })).into_response()
}

/// `orders/{orderId}:refund` and `orders/{orderId}:reviewrefund`.
async fn order_action(
    State(store): State<FakeGoogle>,
    headers: HeaderMap,
    Path((package, segment)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    match segment.rsplit_once(':') {
        Some((order_id, "refund")) => refund_order(store, headers, &package, order_id, query).await,
        Some((order_id, "reviewrefund")) => review_refund(store, headers, order_id, &body).await,
        _ => error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    }
}

/// Google checks the token against the order and the body against `OrdersReviewRefundRequest`,
/// records the first answer and answers every later one OK without recording it.
async fn review_refund(store: FakeGoogle, headers: HeaderMap, order_id: &str, body: &[u8]) -> Response {
    if let Some(response) = fault(&store, "orders.reviewrefund").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let invalid = |message: &str| error(StatusCode::BAD_REQUEST, "invalid", message);
    let Ok(review) = serde_json::from_slice::<Value>(body) else { return invalid("Invalid JSON payload received.") };
    if !matches!(review["refundPreference"].as_str(), Some("APPROVE" | "DECLINE" | "NEUTRAL")) {
        return invalid("refundPreference is required.");
    }
    if !review["sampleContentProvided"].is_boolean() {
        return invalid("sampleContentProvided is required.");
    }
    if let Some(share) = review.get("consumptionPercentageMilliunits") {
        if !share.as_i64().is_some_and(|s| (0..=100_000).contains(&s)) {
            return invalid("consumptionPercentageMilliunits must be between 0 and 100000.");
        }
    }
    if review.get("consumptionUsageEvents").and_then(Value::as_array).is_some_and(|e| e.len() > 1000) {
        return invalid("Lists with over 1000 items will be rejected.");
    }
    let pending = review["pendingRefundToken"].as_str().unwrap_or_default().to_string();
    let mut inner = store.lock();
    match inner.chargebacks.get_mut(&pending) {
        Some(chargeback) if chargeback.order_id == order_id => {
            chargeback.review.get_or_insert(review);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => invalid("The pending refund token is not valid for this order."),
    }
}

async fn refund_order(
    store: FakeGoogle,
    headers: HeaderMap,
    package: &str,
    order_id: &str,
    query: HashMap<String, String>,
) -> Response {
    if let Some(response) = fault(&store, "orders.refund").await {
        return response;
    }
    if let Err(response) = authorized(&store, &headers) {
        return response;
    }
    let token = {
        let inner = store.lock();
        inner
            .purchases
            .iter()
            .find(|(_, p)| p.package == package && (p.order_id == order_id || current_order_id(p) == order_id))
            .map(|(token, _)| token.clone())
    };
    let Some(token) = token else {
        return error(StatusCode::NOT_FOUND, "orderNotFound", "The order was not found.");
    };
    if query.get("revoke").is_some_and(|r| r == "true") {
        store.void(&token, 1, 0).await;
    }
    StatusCode::NO_CONTENT.into_response()
}
