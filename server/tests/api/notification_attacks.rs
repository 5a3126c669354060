//! Attacks on the notification callbacks, which are public URLs: forged Google pushes (no token,
//! a token signed with another key, a token for another audience), forged voids, floods about one
//! purchase, squatted message ids and oversized bodies. Each is played over HTTP and shown to leave
//! every payment as it was; the genuine notification still gets through.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{faults::FaultKind, google::FakeGoogle, jwt, Notifies},
};

use crate::helpers::within_30s;
use crate::shop::{shop, shop_with, Shop};

const ATTACKER_KEY: &str = include_str!("fixtures/attacker_rsa_key.pem");

fn rtdn_url(shop: &Shop) -> String {
    shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))
}

/// Every payment as one line: what an attack must leave as it was.
async fn ledger(shop: &Shop) -> Vec<String> {
    let rows: Vec<(i64, String, String, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, user_id, status, consumed, refund_time FROM payments ORDER BY id")
            .fetch_all(shop.app.db.pool())
            .await
            .unwrap();
    rows.into_iter().map(|r| format!("{r:?}")).collect()
}

/// The victim's verified Google gem and its purchase token and order id.
async fn victims_gem(shop: &Shop) -> (Value, String, String) {
    let gem = shop.google_gem().await;
    let payment =
        shop.verify("victim", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    (payment, gem.purchase_token, gem.order_id)
}

fn void_of(token: &str, order_id: &str) -> Value {
    json!({"voidedPurchaseNotification": {"purchaseToken": token, "orderId": order_id, "productType": 2, "refundType": 1}})
}

/// A push as Pub/Sub would post it, with `token` as its bearer token (or none).
async fn post_push(shop: &Shop, message_id: &str, notification: &Value, token: Option<&str>) -> StatusCode {
    let mut request =
        shop.http.post(rtdn_url(shop)).json(&FakeGoogle::push_body(demo::PACKAGE, message_id, notification));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

/// Catches the Google fake's pushes (their bearer token and body) instead of delivering them, so a
/// test can deliver one genuine push as often as it likes.
async fn catch_pushes(shop: &Shop) -> tokio::sync::mpsc::UnboundedReceiver<(Option<String>, Value)> {
    let (sender, caught) = tokio::sync::mpsc::unbounded_channel();
    let catcher = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| async move {
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).map(String::from);
            sender.send((bearer, body)).unwrap();
        }),
    );
    shop.fakes.google.set_notify_url(Some(server::fakes::serve(catcher, 0).await.unwrap()));
    caught
}

/// Delivers a caught push to the app's RTDN callback with its own bearer token.
async fn deliver(shop: &Shop, bearer: &Option<String>, push: &Value) -> StatusCode {
    let request = shop.http.post(rtdn_url(shop)).header("authorization", bearer.clone().unwrap()).json(push);
    request.send().await.unwrap().status()
}

/// A token exactly like Google's, for `audience`, signed with the attacker's own key under
/// Google's key id.
fn token_signed_by_attacker(audience: &str) -> String {
    let key = ring::signature::RsaKeyPair::from_pkcs8(&jwt::pem_der(ATTACKER_KEY).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "RS256", "kid": server::fakes::google::PUSH_KEY_ID, "typ": "JWT"});
    let claims = json!({"iss": "https://accounts.google.com", "aud": audience,
        "email": server::fakes::google::PUSH_SERVICE_ACCOUNT, "email_verified": true, "iat": now, "exp": now + 3600});
    jwt::sign_rs256(&header, &claims, &key)
}

/// The demo Google app without a push service account: its pushes are taken as hints only.
async fn pushes_unauthenticated(shop: &Shop) {
    let settings: String = sqlx::query_scalar("SELECT settings FROM store_apps WHERE store = 'GG'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let mut settings: Value = serde_json::from_str(&settings).unwrap();
    settings.as_object_mut().unwrap().remove("pushServiceAccount");
    sqlx::query("UPDATE store_apps SET settings = $1 WHERE store = 'GG'")
        .bind(settings.to_string())
        .execute(shop.app.db.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn forged_google_pushes_without_a_token_with_another_key_or_for_another_audience_are_refused_and_not_stored() {
    let shop = shop().await;
    let (payment, token, order_id) = victims_gem(&shop).await;
    let before = ledger(&shop).await;
    let void = void_of(&token, &order_id);

    let without = post_push(&shop, "1", &void, None).await;
    let other_key = post_push(&shop, "2", &void, Some(&token_signed_by_attacker(demo::PUSH_AUDIENCE))).await;
    let other_audience =
        post_push(&shop, "3", &void, Some(&FakeGoogle::push_token("https://attacker.example/push"))).await;
    let garbage = post_push(&shop, "4", &void, Some("not-a-jwt")).await;
    let genuine = post_push(
        &shop,
        "5",
        &json!({"testNotification": {"version": "1.0"}}),
        Some(&FakeGoogle::push_token(demo::PUSH_AUDIENCE)),
    )
    .await;
    shop.inbox_settled().await;

    assert_eq!([without, other_key, other_audience, garbage], [StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(genuine, StatusCode::OK, "a push with Google's token for the app's audience is taken");
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 1, "only the genuine push is stored");
    assert_eq!(ledger(&shop).await, before);
    let lookup = shop.server("/v1/service/payment", json!({"accessToken": payment["accessToken"]})).await;
    assert_eq!(lookup.ok()["status"], "SUCCESS");
}

#[tokio::test]
async fn a_forged_void_in_an_app_without_push_authentication_is_only_a_hint_that_google_does_not_confirm() {
    let shop = shop().await;
    pushes_unauthenticated(&shop).await;
    let (payment, token, order_id) = victims_gem(&shop).await;
    let before = ledger(&shop).await;

    let status = post_push(&shop, "136969346945", &void_of(&token, &order_id), None).await;
    shop.inbox_settled().await;

    assert_eq!(status, StatusCode::OK, "stored as a hint");
    let (state, error, authenticated): (String, Option<String>, i64) =
        sqlx::query_as("SELECT status, last_error, authenticated FROM store_notifications")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    assert_eq!((state.as_str(), authenticated), ("IGNORED", 0));
    assert!(error.unwrap().contains("does not list this purchase as voided"));
    assert_eq!(ledger(&shop).await, before, "no refund, no claw-back");
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds").await, 0);
    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_events WHERE event_type = 'payment.refunded'").await, 0);
    let lookup = shop.server("/v1/service/payment", json!({"accessToken": payment["accessToken"]})).await;
    assert_eq!(lookup.ok()["status"], "SUCCESS");
}

#[tokio::test]
async fn a_genuine_void_refunds_the_payment_once_however_often_it_is_delivered() {
    let shop = shop().await;
    let (_, token, order_id) = victims_gem(&shop).await;
    let mut caught = catch_pushes(&shop).await;
    shop.fakes.google.void(&token, 0, 1).await;
    let (bearer, push) = within_30s("the store's notification", caught.recv()).await.unwrap();

    for _ in 0..3 {
        assert_eq!(deliver(&shop, &bearer, &push).await, StatusCode::OK);
    }
    shop.inbox_settled().await;

    let refunded: (String, String) = sqlx::query_as(
        "SELECT p.status, r.kind FROM payments p JOIN refunds r ON r.payment_id = p.id WHERE p.store_txn_key = $1",
    )
    .bind(&order_id)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!(refunded, ("REFUND".to_string(), "VOID".to_string()));
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds").await, 1);
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM store_notifications").await,
        1,
        "one notification, delivered three times"
    );
    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_events WHERE event_type = 'payment.refunded'").await, 1);
}

#[tokio::test]
async fn a_thousand_forged_pushes_about_one_purchase_cost_google_a_bounded_number_of_look_ups() {
    let shop = shop_with(|settings| settings.notifications.hint_interval_secs = 2).await;
    pushes_unauthenticated(&shop).await;
    let (_, token, _) = victims_gem(&shop).await;
    let before = ledger(&shop).await;
    let looked_up_before = shop.fakes.google.faults().requests("productsv2.get");
    let renewal =
        json!({"oneTimeProductNotification": {"notificationType": 1, "purchaseToken": token, "sku": "gem_100"}});

    let started = Instant::now();
    let mut sent = tokio::task::JoinSet::new();
    for batch in 0..20 {
        let (http, url, renewal) = (shop.http.clone(), rtdn_url(&shop), renewal.clone());
        sent.spawn(async move {
            for n in 0..50 {
                let body = FakeGoogle::push_body(demo::PACKAGE, &format!("forged-{batch}-{n}"), &renewal);
                assert_eq!(http.post(&url).json(&body).send().await.unwrap().status(), StatusCode::OK);
            }
        });
    }
    while let Some(done) = sent.join_next().await {
        done.unwrap();
    }
    let burst = started.elapsed();
    wait_until_finished(&shop, 1000, Duration::from_secs(30)).await;

    let look_ups = shop.fakes.google.faults().requests("productsv2.get") - looked_up_before;
    // One look-up per hint interval the burst lasted, one after it, and one per worker slot racing.
    let bound = burst.as_secs() / 2 + 2 + 4;
    assert!(look_ups <= bound, "{look_ups} look-ups for 1,000 pushes over {burst:?} (at most {bound})");
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications WHERE status = 'PROCESSED'").await, 1000);
    assert!(
        shop.count("SELECT COUNT(*) FROM store_notifications WHERE covered_by IS NOT NULL").await
            >= 1000 - look_ups as i64
    );
    assert_eq!(ledger(&shop).await, before);
}

/// Waits until `count` notifications are finished (processed or ignored).
async fn wait_until_finished(shop: &Shop, count: i64, within: Duration) {
    let started = Instant::now();
    while shop.count("SELECT COUNT(*) FROM store_notifications WHERE status IN ('PROCESSED', 'IGNORED')").await < count
    {
        assert!(started.elapsed() < within, "notifications still unfinished after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_squatted_message_id_does_not_hide_the_genuine_notification() {
    let shop = shop().await;
    pushes_unauthenticated(&shop).await;
    let (_, token, _) = victims_gem(&shop).await;
    // The attacker posts first, with the id the genuine void will have and a harmless body.
    let (sender, mut caught) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let catcher = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| async move { sender.send(body).unwrap() }),
    );
    shop.fakes.google.set_notify_url(Some(server::fakes::serve(catcher, 0).await.unwrap()));
    shop.fakes.google.void(&token, 0, 1).await;
    let genuine = within_30s("the store's notification", caught.recv()).await.unwrap();
    let message_id = genuine["message"]["messageId"].as_str().unwrap();
    let squat = post_push(&shop, message_id, &json!({"testNotification": {"version": "1.0"}}), None).await;

    let delivered = shop.http.post(rtdn_url(&shop)).json(&genuine).send().await.unwrap().status();
    shop.inbox_settled().await;

    assert_eq!((squat, delivered), (StatusCode::OK, StatusCode::OK));
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 2);
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM refunds WHERE kind = 'VOID'").await,
        1,
        "the genuine void was processed"
    );
}

#[tokio::test]
async fn an_oversized_notification_body_is_refused_before_anything_is_stored() {
    let shop = shop_with(|settings| settings.notifications.max_body_bytes = 4096).await;
    let padding = "x".repeat(8192);
    let body = json!({"signedPayload": padding});

    let apple = shop
        .http
        .post(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE)))
        .json(&body)
        .send()
        .await
        .unwrap();
    let google = shop.http.post(rtdn_url(&shop)).json(&body).send().await.unwrap();

    assert_eq!(apple.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(google.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 0);
}

#[tokio::test]
async fn the_same_notification_id_for_two_store_apps_is_two_notifications() {
    let shop = shop().await;
    let demo_app: i64 = sqlx::query_scalar("SELECT id FROM store_apps WHERE store = 'GG' AND store_app_id = $1")
        .bind(demo::PACKAGE)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let incoming = |app: i64| server::store_notifications::Incoming {
        store: model::Store::Google,
        store_app_id: app,
        key: "136969346945:same".into(),
        kind: "TEST".into(),
        subtype: None,
        body: "{}".into(),
        purchase_ref: None,
        authenticated: true,
    };
    let other_app: i64 = sqlx::query_scalar(
        "INSERT INTO store_apps (project_id, store, name, store_app_id, settings, environment_policy, enabled, created_at, updated_at) \
         SELECT project_id, store, 'Other', 'com.example.other', '{}', environment_policy, 1, created_at, updated_at FROM store_apps WHERE id = $1 RETURNING id",
    )
    .bind(demo_app)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();

    let (first, new_first) = server::store_notifications::receive(&shop.app.db, &incoming(demo_app)).await.unwrap();
    let (second, new_second) = server::store_notifications::receive(&shop.app.db, &incoming(other_app)).await.unwrap();
    let (again, new_again) = server::store_notifications::receive(&shop.app.db, &incoming(demo_app)).await.unwrap();

    assert!(new_first && new_second && !new_again);
    assert_ne!(first, second);
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_notification_google_throttles_waits_for_its_retry_after_and_is_then_processed() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(rtdn_url(&shop)));
    let subscription = shop.google_subscription("premium_monthly", 30).await;
    shop.verify("user-t", "GG", json!({"productId": "premium_monthly", "purchaseToken": subscription.purchase_token}))
        .await;
    shop.inbox_settled().await;
    shop.fakes.google.faults().inject("subscriptions.get", FaultKind::Status(429), 1);

    shop.fakes.google.change_subscription(&subscription.purchase_token, server::fakes::google::Change::Renew).await;
    let started = Instant::now();
    let (status, next, received): (String, Option<i64>, i64) = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the renewal's notification was never attempted");
        let row: (String, Option<i64>, i64) = sqlx::query_as(
            "SELECT status, next_attempt_at, received_at FROM store_notifications ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
        if row.0 != "RECEIVED" {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    assert_eq!(status, "FAILED");
    assert!(next.unwrap() >= received + 1000, "not before Google's Retry-After (1 s)");
    sqlx::query("UPDATE store_notifications SET next_attempt_at = 0 WHERE status = 'FAILED'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    for _ in 0..200 {
        if shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'RENEW'").await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the renewal was not applied after the retry");
}

#[tokio::test]
async fn processed_notifications_lose_their_raw_body_after_the_retention_time_and_keep_the_rest() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(rtdn_url(&shop)));
    let gem = shop.google_gem().await;
    shop.verify("user-k", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    shop.fakes.google.void(&gem.purchase_token, 0, 1).await;
    shop.inbox_settled().await;
    let day: i64 = 86_400_000;

    let kept = server::store_notifications::prune_bodies(&shop.app.db, 30).await.unwrap();
    sqlx::query("UPDATE store_notifications SET processed_at = processed_at - $1")
        .bind(31 * day)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let pruned = server::store_notifications::prune_bodies(&shop.app.db, 30).await.unwrap();

    assert_eq!(kept, 0, "nothing is pruned before its time");
    assert_eq!(pruned as i64, shop.count("SELECT COUNT(*) FROM store_notifications").await);
    let (body, status, pruned_at): (String, String, Option<i64>) = sqlx::query_as(
        "SELECT body, status, body_pruned_at FROM store_notifications WHERE notification_type = 'VOIDED'",
    )
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!((body.as_str(), status.as_str()), ("", "PROCESSED"), "what was done stays");
    assert!(pruned_at.is_some());
}

#[tokio::test]
async fn a_forged_chargeback_review_in_an_app_without_push_authentication_sends_google_nothing() {
    let shop = shop().await;
    pushes_unauthenticated(&shop).await;
    let (_, _, order_id) = victims_gem(&shop).await;
    let before = ledger(&shop).await;
    let forged = json!({"pendingRefundReviewNotification": {
        "version": "1.0", "pendingRefundToken": "forged", "orderId": order_id, "refundReason": 7}});

    let status = post_push(&shop, "136969346999", &forged, None).await;
    shop.inbox_settled().await;

    assert_eq!(status, StatusCode::OK, "stored as a hint");
    let (state, error): (String, Option<String>) = sqlx::query_as("SELECT status, last_error FROM store_notifications")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(state, "IGNORED");
    assert!(error.unwrap().contains("nobody authenticated"));
    assert_eq!(shop.count("SELECT COUNT(*) FROM refund_requests").await, 0, "no answer spent on a forgery");
    assert_eq!(ledger(&shop).await, before);
}

#[tokio::test]
async fn a_chargeback_review_delivered_twice_is_answered_once() {
    let shop = shop().await;
    let (_, token, _) = victims_gem(&shop).await;
    let mut caught = catch_pushes(&shop).await;
    shop.fakes.google.chargeback(&token).await.unwrap();
    let (bearer, push) = within_30s("the store's notification", caught.recv()).await.unwrap();

    for _ in 0..2 {
        assert_eq!(deliver(&shop, &bearer, &push).await, StatusCode::OK);
        shop.inbox_settled().await;
    }

    assert_eq!(shop.count("SELECT COUNT(*) FROM refund_requests WHERE status = 'ANSWERED'").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'REFUND_REQUEST_ANSWERED'").await, 1);
}
