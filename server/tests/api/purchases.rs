//! The purchase API over real HTTP: reserve → store → verify → consume for every store, against
//! the demo project whose store apps point at the store fakes.

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{apple, faults::FaultKind, google, Notifies},
};

use crate::{
    helpers::within_30s,
    shop::{shop, Shop},
};

#[tokio::test]
async fn a_google_consumable_is_reserved_verified_listed_and_consumed_exactly_once() {
    let shop = shop().await;
    let seq = shop.reserve("user-1", "GG", "gem_100").await;
    let bought = shop.google_gem().await;

    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-1", "storeCode": "GG", "paymentSeq": seq, "productId": "gem_100",
                   "purchaseToken": bought.purchase_token}),
        )
        .await;
    let payment = verified.ok().clone();
    let token = payment["accessToken"].as_str().unwrap().to_string();
    let listed = shop.unconsumed("user-1").await;
    let consumed = shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": token})).await;
    let again = shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": token})).await;

    assert_eq!(payment["status"], "SUCCESS");
    assert_eq!(payment["paymentSeq"], seq.as_str());
    assert_eq!(payment["paymentId"], bought.order_id.as_str());
    assert_eq!(payment["productType"], "CONSUMABLE");
    assert_eq!(token.len(), 86);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["accessToken"], token.as_str());
    assert_eq!(consumed.ok()["productSeq"], payment["productSeq"]);
    assert_eq!((again.status, again.code()), (StatusCode::OK, 5018), "NHN's paths answer 200 with the code");
    assert!(shop.unconsumed("user-1").await.is_empty());
    let acknowledged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE ack_state = 'DONE'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(acknowledged, 1, "Google purchases are acknowledged after verification");
}

#[tokio::test]
async fn an_acknowledge_google_refuses_is_retried_and_shown_in_the_history_not_taken_for_done() {
    let shop = shop().await;
    let bought = shop.google_gem().await;
    shop.fakes.google.faults().inject("products.acknowledge", FaultKind::Status(400), 1);

    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-a", "storeCode": "GG", "productId": "gem_100", "purchaseToken": bought.purchase_token}),
        )
        .await;
    verified.ok();
    let acknowledged = shop.count("SELECT COUNT(*) FROM payments WHERE ack_state = 'DONE'").await;
    assert_eq!(acknowledged, 0, "a refused acknowledge of a purchase Google reads as unacknowledged is not done");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'ACKNOWLEDGE_FAILED'").await, 1);

    retry_acknowledgements_until_done(&shop).await;

    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'ACKNOWLEDGE'").await, 1);
    let attempts = shop.count("SELECT CAST(ack_attempts AS BIGINT) FROM payments WHERE ack_state = 'DONE'").await;
    assert_eq!(attempts, 1, "the failed attempt is counted");
}

/// Makes every pending acknowledgement due and waits until the retry has done them.
async fn retry_acknowledgements_until_done(shop: &crate::shop::Shop) {
    sqlx::query("UPDATE payments SET next_ack_at = 0 WHERE ack_state = 'PENDING'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    // This pass or the app's own background one (whichever claims the row first) retries it.
    server::payments::retry::run_due(&shop.app.state).await.unwrap();
    let started = std::time::Instant::now();
    let pending = "SELECT COUNT(*) FROM payments WHERE ack_state = 'PENDING'";
    while shop.count(pending).await > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the retry never acknowledged it");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_one_store_purchase_is_acknowledged_at_one_store_and_a_failed_acknowledge_is_retried_not_taken_for_done() {
    // ONE store refunds a purchase nobody acknowledged within three days, as Google does.
    let shop = shop().await;
    let token = shop.onestore_gem();
    shop.fakes.onestore.faults().inject("acknowledge", FaultKind::Status(503), 1);

    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-o", "storeCode": "ONESTORE", "productId": "gem_100", "purchaseToken": token}),
        )
        .await;
    verified.ok();
    let acknowledged = shop.count("SELECT COUNT(*) FROM payments WHERE ack_state = 'DONE'").await;
    assert_eq!(acknowledged, 0, "the store was down: not acknowledged");
    assert_eq!(shop.fakes.onestore.is_acknowledged(&token), Some(false));
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'ACKNOWLEDGE_FAILED'").await, 1);

    retry_acknowledgements_until_done(&shop).await;

    assert_eq!(shop.fakes.onestore.is_acknowledged(&token), Some(true), "acknowledged at ONE store");
    let history = "SELECT detail FROM payment_history WHERE event = 'ACKNOWLEDGE'";
    let detail: Option<String> = sqlx::query_scalar(history).fetch_one(shop.app.db.pool()).await.unwrap();
    assert_eq!(detail.as_deref(), Some("acknowledged with ONE store"));
}

#[tokio::test]
async fn an_app_store_purchase_verifies_from_its_signed_transaction_and_from_its_transaction_id() {
    let shop = shop().await;
    let seq = shop.reserve("user-2", "AS", "gem_100").await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;

    let by_jws = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-2", "storeCode": "AS", "paymentSeq": seq, "signedTransaction": bought.signed_transaction}),
        )
        .await;
    let by_id = shop
        .sdk("/v1/sdk/verify", json!({"userId": "user-2", "storeCode": "AS", "transactionId": bought.transaction_id}))
        .await;

    let first = by_jws.ok();
    assert_eq!(first["paymentId"], bought.transaction_id.as_str());
    assert_eq!(first["price"], 1.99);
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["isTestPurchase"], true);
    assert_eq!(by_id.ok()["paymentSeq"], first["paymentSeq"], "one store transaction, one payment");
    assert!(by_id.ok()["accessToken"].is_null(), "a bare transaction id is guessable: it gets no access token");
}

#[tokio::test]
async fn a_one_store_purchase_is_verified_and_consumed_in_the_build_in_model() {
    let shop = shop().await;
    let seq = shop.reserve("user-3", "ONESTORE", "gem_100").await;
    let token = shop.onestore_gem();

    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-3", "storeCode": "ONESTORE", "paymentSeq": seq, "productId": "gem_100", "purchaseToken": token}),
        )
        .await;
    let access_token = verified.ok()["accessToken"].as_str().unwrap().to_string();
    let consume =
        json!({"paymentSeq": seq, "accessToken": access_token, "productId": "gem_100", "purchaseToken": token});
    let while_off = shop.sdk("/v1/sdk/consume", consume.clone()).await;
    shop.set_policy(server::payments::binding::UserBinding::WhenPresent, true).await;
    let without_proof = shop.sdk("/v1/sdk/consume", json!({"paymentSeq": seq, "accessToken": access_token})).await;
    let consumed = shop.sdk("/v1/sdk/consume", consume.clone()).await;
    let again = shop.sdk("/v1/sdk/consume", consume).await;

    assert_eq!(
        (while_off.status, while_off.code()),
        (StatusCode::FORBIDDEN, 4036),
        "off unless the project turns it on"
    );
    assert_eq!(without_proof.code(), 1100, "the store proof of the payment is required");
    assert_eq!(consumed.ok()["marketId"], "ONESTORE");
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, 5018), "the SDK paths carry an HTTP status");
}

#[tokio::test]
async fn two_hundred_concurrent_consumes_of_one_payment_succeed_exactly_once() {
    let shop = shop().await;
    let bought = shop.google_gem().await;
    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-4", "storeCode": "GG", "productId": "gem_100", "purchaseToken": bought.purchase_token}),
        )
        .await;
    let payment = verified.ok().clone();
    let body = json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]});

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let request = shop
            .http
            .post(format!("{}/v1/service/consume", shop.app.base))
            .header("x-nhn-tciap-appkey", demo::APP_KEY)
            .header("x-secret-key", demo::SECRET_KEY)
            .json(&body);
        calls.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    let answers = calls.join_all().await;

    let codes: Vec<i64> = answers.iter().map(|a| a["header"]["resultCode"].as_i64().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 5018).count(), 199, "{codes:?}");
    let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_history WHERE event = 'CONSUME'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(history, 1);
}

#[tokio::test]
async fn a_receipt_presented_by_a_second_user_is_refused_and_recorded() {
    let shop = shop().await;
    let bought = shop.google_gem().await;
    let verify = |user: &str| json!({"userId": user, "storeCode": "GG", "productId": "gem_100", "purchaseToken": bought.purchase_token});

    shop.sdk("/v1/sdk/verify", verify("owner")).await.ok();
    let stolen = shop.sdk("/v1/sdk/verify", verify("thief")).await;

    assert_eq!(stolen.code(), 4022);
    let conflicts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipt_conflicts WHERE claimed_by_user = 'thief'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(conflicts, 1);
    assert!(shop.unconsumed("thief").await.is_empty());
}

#[tokio::test]
async fn a_store_outage_during_verify_keeps_the_receipt_and_the_retry_job_completes_the_payment() {
    let shop = shop().await;
    let seq = shop.reserve("user-5", "GG", "gem_100").await;
    let bought = shop.google_gem().await;
    shop.fakes.google.faults().inject("productsv2.get", FaultKind::Status(503), 1);
    let body = json!({"userId": "user-5", "storeCode": "GG", "paymentSeq": seq, "productId": "gem_100",
                      "purchaseToken": bought.purchase_token});

    let during = shop.sdk("/v1/sdk/verify", body).await;
    assert_eq!((during.status, during.code()), (StatusCode::SERVICE_UNAVAILABLE, 4021));
    assert!(shop.unconsumed("user-5").await.is_empty());
    sqlx::query("UPDATE payments SET next_verify_at = 0 WHERE payment_seq = $1")
        .bind(&seq)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let handled = server::payments::retry::run_due(&shop.app.state).await.unwrap();

    assert!(handled >= 1);
    let listed = shop.unconsumed("user-5").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["paymentSeq"], seq.as_str());
}

#[tokio::test]
async fn an_app_store_promoted_purchase_verified_without_a_reservation_is_a_store_payment() {
    let shop = shop().await;
    let promoted = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let reserved_seq = shop.reserve("user-6", "AS", "gem_100").await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;

    let from_the_store = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-6", "storeCode": "AS", "signedTransaction": promoted.signed_transaction}),
        )
        .await;
    let from_the_app = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-6", "storeCode": "AS", "paymentSeq": reserved_seq, "signedTransaction": bought.signed_transaction}),
        )
        .await;

    assert_eq!(from_the_store.ok()["isStorePayment"], true);
    assert_eq!(from_the_app.ok()["isStorePayment"], false);
    let flagged = shop.count("SELECT COUNT(*) FROM payments WHERE store_initiated = 1").await;
    assert_eq!(flagged, 1, "the payment itself is recorded as store-initiated");
}

#[tokio::test]
async fn a_renewed_google_subscription_presented_again_answers_with_its_newest_period() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let pass = shop.google_subscription("gem_pass_weekly", 7).await;
    let proof = json!({"productId": "gem_pass_weekly", "purchaseToken": pass.purchase_token});
    let first = shop.verify("vic", "GG", proof.clone()).await;
    shop.fakes.google.change_subscription(&pass.purchase_token, google::Change::Renew).await;
    shop.inbox_settled().await;
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 2, "the renewal is a payment of its own");

    let again = shop.verify("vic", "GG", proof).await;

    assert_ne!(again["paymentSeq"], first["paymentSeq"], "the renewal answers, not the expired first period");
    assert!(again["expiryTimeMillis"].as_i64().unwrap() > first["expiryTimeMillis"].as_i64().unwrap());
}

#[tokio::test]
async fn a_purchase_that_started_in_the_store_is_recorded_without_a_reservation() {
    let shop = shop().await;
    let promo = shop
        .fakes
        .google
        .add_product(google::NewProduct {
            package: demo::PACKAGE,
            product_id: "gem_500",
            promo: true,
            ..Default::default()
        })
        .await;

    let verified = shop
        .sdk("/v1/sdk/verify", json!({"userId": "user-6", "storeCode": "GG", "productId": "gem_500", "purchaseToken": promo.purchase_token}))
        .await;

    let payment = verified.ok();
    assert_eq!(payment["isStorePayment"], true);
    assert_eq!(payment["productId"], "gem_500");
    assert_eq!(shop.unconsumed("user-6").await.len(), 1);
}

#[tokio::test]
async fn a_google_rental_answers_with_its_end_and_a_pre_order_completes_when_it_is_released() {
    let shop = shop().await;
    let google = &shop.fakes.google;
    google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let rental = google
        .add_product(google::NewProduct {
            package: demo::PACKAGE,
            product_id: "gem_500",
            rental: Some(("rent-7d", "P7D")),
            ..Default::default()
        })
        .await;
    let preorder = google
        .add_product(google::NewProduct {
            package: demo::PACKAGE,
            product_id: "gem_100",
            preorder_release_ms: Some(server::now_ms() + 7 * 86_400_000),
            ..Default::default()
        })
        .await;
    let verify = |seq: &str, product: &str, token: &str| json!({"userId": "erin", "storeCode": "GG", "paymentSeq": seq, "productId": product, "purchaseToken": token});

    let rental_seq = shop.reserve("erin", "GG", "gem_500").await;
    let rented = shop.sdk("/v1/sdk/verify", verify(&rental_seq, "gem_500", &rental.purchase_token)).await;
    let preorder_seq = shop.reserve("erin", "GG", "gem_100").await;
    let waiting = shop.sdk("/v1/sdk/verify", verify(&preorder_seq, "gem_100", &preorder.purchase_token)).await;

    let rented = rented.ok();
    let bought = rented["purchaseTimeMillis"].as_i64().unwrap();
    assert_eq!(rented["expiryTimeMillis"].as_i64(), Some(bought + 7 * 86_400_000));
    assert_eq!(waiting.code(), 4026, "a pre-order is not granted before its release");
    assert_eq!(shop.status_of(&preorder_seq).await, "RESERVED");
    assert!(google.release(&preorder.purchase_token).await);
    within_30s("the released pre-order completes its reservation", async {
        while shop.status_of(&preorder_seq).await != "SUCCESS" {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let completed = shop.sdk("/v1/sdk/verify", verify(&preorder_seq, "gem_100", &preorder.purchase_token)).await;
    assert_eq!(completed.ok()["paymentSeq"], preorder_seq.as_str());
}

#[tokio::test]
async fn restore_verifies_every_purchase_and_reports_the_ones_that_fail() {
    let shop = shop().await;
    let first = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let second =
        shop.fakes.apple.add_purchase(apple::NewPurchase::subscription(demo::PACKAGE, "premium_monthly")).await;

    let restored = shop
        .sdk(
            "/v1/sdk/restore",
            json!({"userId": "user-7", "storeCode": "AS", "purchases": [
                {"signedTransaction": first.signed_transaction},
                {"transactionId": second.transaction_id},
                {"transactionId": "9999999999"},
            ]}),
        )
        .await;

    let result = restored.ok();
    assert_eq!(result["successList"].as_array().unwrap().len(), 2);
    assert_eq!(result["failList"][0]["index"], 2);
    assert_eq!(result["failList"][0]["resultCode"], 4020);
    let active = shop.sdk("/v1/sdk/subscriptions/active", json!({"userId": "user-7"})).await;
    assert_eq!(active.ok().as_array().unwrap().len(), 1);
    assert_eq!(active.ok()[0]["productId"], "premium_monthly");
}

#[tokio::test]
async fn a_restore_holding_a_malformed_purchase_is_refused_whole_and_verifies_none() {
    let shop = shop().await;
    let gem = shop.google_gem().await;

    let restored = shop
        .sdk(
            "/v1/sdk/restore",
            json!({"userId": "user-7", "storeCode": "GG", "purchases": [
                {"productId": "gem_100", "purchaseToken": gem.purchase_token},
                {"productId": "", "purchaseToken": "0".repeat(4097)},
            ]}),
        )
        .await;

    assert_eq!(restored.status, StatusCode::BAD_REQUEST);
    assert_eq!(restored.code(), 1100);
    let message = restored.body["header"]["resultMessage"].as_str().unwrap();
    assert!(message.contains("purchases[1].purchaseToken"), "{message}");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 0, "not even the well-formed one");
}

#[tokio::test]
async fn active_subscriptions_are_listed_in_nhns_shape() {
    let shop = shop().await;
    let seq = shop.reserve("user-8", "GG", "premium_monthly").await;
    let subscription = shop.google_subscription("premium_monthly", 30).await;
    shop.sdk(
        "/v1/sdk/verify",
        json!({"userId": "user-8", "storeCode": "GG", "paymentSeq": seq, "productId": "premium_monthly",
               "purchaseToken": subscription.purchase_token}),
    )
    .await
    .ok();

    let listed = shop
        .server(
            "/v1/service/activeSubscriptionList",
            json!({"marketId": "GG", "packageName": demo::PACKAGE, "userChannel": "GF", "userKey": "user-8"}),
        )
        .await;

    let entry = &listed.ok()[0];
    assert_eq!(entry["paymentSeq"], seq.as_str());
    assert_eq!(entry["appId"], demo::PACKAGE);
    assert_eq!(entry["productType"], "AUTO_RENEWABLE");
    assert_eq!(entry["price"], 9.99);
    assert_eq!(entry["originalPaymentId"], subscription.order_id.as_str());
    assert!(entry["expiryTimeMillis"].as_i64().unwrap() > entry["purchaseTimeMillis"].as_i64().unwrap());
    let consume =
        shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": entry["accessToken"]})).await;
    assert_eq!(consume.code(), 4006, "an AUTO_RENEWABLE payment is not consumed");
}

#[tokio::test]
async fn every_kind_of_bad_request_gets_its_code_and_changes_nothing() {
    let shop = shop().await;
    let url = |path: &str| format!("{}{path}", shop.app.base);
    let code = |body: Value| body["header"]["resultCode"].as_i64().unwrap();
    let consume = json!({"paymentSeq": "2026010100000000", "accessToken": "x"});

    let no_key = shop.post("/v1/service/consume", &[], &consume).await;
    let unknown_key = shop.post("/v1/service/consume", &[("x-nhn-tciap-appkey", "NOPE")], &consume).await;
    let no_secret = shop.post("/v1/service/consume", &[("x-nhn-tciap-appkey", demo::APP_KEY)], &consume).await;
    let wrong_secret = shop
        .post("/v1/service/consume", &[("x-nhn-tciap-appkey", demo::APP_KEY), ("x-secret-key", "wrong")], &consume)
        .await;
    let text_body = shop
        .http
        .post(url("/v1/service/consume"))
        .header("x-nhn-tciap-appkey", demo::APP_KEY)
        .header("x-secret-key", demo::SECRET_KEY)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let get = shop.http.get(url("/v1/service/consume")).send().await.unwrap();
    let broken_json = shop
        .http
        .post(url("/v1/sdk/reserve"))
        .header("x-nhn-tciap-appkey", demo::APP_KEY)
        .header("content-type", "application/json")
        .body("{\"userId\":")
        .send()
        .await
        .unwrap();
    let wrong_type =
        shop.sdk("/v1/sdk/reserve", json!({"userId": 42, "storeCode": "GG", "productId": "gem_100"})).await;
    let unknown_store =
        shop.sdk("/v1/sdk/reserve", json!({"userId": "u", "storeCode": "XX", "productId": "gem_100"})).await;
    let too_long = shop
        .sdk("/v1/sdk/reserve", json!({"userId": "u".repeat(200), "storeCode": "GG", "productId": "gem_100"}))
        .await;
    let unknown_product =
        shop.sdk("/v1/sdk/reserve", json!({"userId": "u", "storeCode": "GG", "productId": "nope"})).await;
    let stopped =
        shop.sdk("/v1/sdk/reserve", json!({"userId": "u", "storeCode": "GG", "productId": "starter_pack_2025"})).await;
    let missing_payment = shop.server("/v1/service/consume", consume.clone()).await;
    let bad_token = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "u", "storeCode": "GG", "productId": "gem_100", "purchaseToken": "no-such-token"}),
        )
        .await;

    assert_eq!((no_key.status, no_key.code()), (StatusCode::OK, 4001));
    assert_eq!(unknown_key.code(), 4001);
    assert_eq!(no_secret.code(), 4003);
    assert_eq!(wrong_secret.code(), 4003);
    assert_eq!(text_body.status(), StatusCode::OK);
    assert_eq!(code(text_body.json().await.unwrap()), 2111);
    assert_eq!(code(get.json().await.unwrap()), 2112);
    assert_eq!(broken_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(broken_json.json().await.unwrap()), 1100);
    assert_eq!(wrong_type.code(), 1100);
    assert_eq!(unknown_store.code(), 1100);
    assert_eq!(too_long.code(), 1100);
    assert_eq!((unknown_product.status, unknown_product.code()), (StatusCode::NOT_FOUND, 4010));
    assert_eq!(stopped.code(), 4011);
    assert_eq!(missing_payment.code(), 4004);
    assert_eq!(bad_token.code(), 4020);
    let payments: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payments").fetch_one(shop.app.db.pool()).await.unwrap();
    assert_eq!(payments, 0, "no bad request left a payment behind");
}

#[tokio::test]
async fn a_wrong_access_token_cannot_consume_or_look_up_a_payment() {
    let shop = shop().await;
    let bought = shop.google_gem().await;
    let payment = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "u9", "storeCode": "GG", "productId": "gem_100", "purchaseToken": bought.purchase_token}),
        )
        .await
        .ok()
        .clone();

    let forged = shop
        .server("/v1/service/consume", json!({"paymentSeq": payment["paymentSeq"], "accessToken": "A".repeat(86)}))
        .await;
    let lookup = shop.server("/v1/service/payment", json!({"accessToken": payment["accessToken"]})).await;
    let status = shop
        .server(
            "/v1/service/subscriptions/status",
            json!({"payments": [{"paymentSeq": payment["paymentSeq"], "accessToken": "wrong"}]}),
        )
        .await;

    assert_eq!(forged.code(), 4005);
    assert_eq!(lookup.ok()["isConsumable"], true);
    assert_eq!(lookup.ok()["paymentSeq"], payment["paymentSeq"]);
    assert_eq!(status.code(), 4005);
    assert_eq!(shop.unconsumed("u9").await.len(), 1, "still unconsumed");
}

#[tokio::test]
async fn each_refused_consume_says_why_and_consumes_nothing() {
    let shop = shop().await;
    let gem = shop.google_gem().await;
    let paid = shop.verify("u7", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    let monthly = shop.google_subscription("premium_monthly", 30).await;
    let subscription =
        shop.verify("u7", "GG", json!({"productId": "premium_monthly", "purchaseToken": monthly.purchase_token})).await;
    let second_gem = shop.google_gem().await;
    let refunded =
        shop.verify("u7", "GG", json!({"productId": "gem_100", "purchaseToken": second_gem.purchase_token})).await;
    sqlx::query("UPDATE payments SET status = 'REFUND' WHERE payment_seq = $1")
        .bind(refunded["paymentSeq"].as_str().unwrap())
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let other = server::projects::create(&shop.app.db, &shop.app.state.cipher, "Other game", None).await.unwrap();
    let consume = |payment: &Value, token: &Value| {
        shop.server("/v1/service/consume", json!({"paymentSeq": payment["paymentSeq"], "accessToken": token}))
    };

    let unknown = consume(&json!({"paymentSeq": "2099010112345678"}), &paid["accessToken"]).await;
    let foreign_token = consume(&paid, &subscription["accessToken"]).await;
    let not_consumable = consume(&subscription, &subscription["accessToken"]).await;
    let after_refund = consume(&refunded, &refunded["accessToken"]).await;
    let other_project = shop
        .post(
            "/v1/service/consume",
            &[("x-nhn-tciap-appkey", &other.app_key), ("x-secret-key", &other.secret_key)],
            &json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}),
        )
        .await;

    assert_eq!(unknown.code(), 4004);
    assert_eq!(foreign_token.code(), 4005, "another payment's token");
    assert_eq!(not_consumable.code(), 4006);
    assert_eq!(after_refund.code(), 4007);
    assert_eq!(other_project.code(), 4004, "another project's keys do not find the payment");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE consumed = 1").await, 0);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'CONSUME'").await, 0);
    assert_eq!(consume(&paid, &paid["accessToken"]).await.ok()["productId"], "gem_100");
    assert_eq!(consume(&paid, &paid["accessToken"]).await.code(), 5018);
}

#[tokio::test]
async fn verification_refusals_each_have_their_code() {
    let shop = shop().await;
    let sql = |q: &'static str| sqlx::query(q);
    // Reserved for one user, verified by another.
    let seq = shop.reserve("alice", "GG", "gem_100").await;
    let gem = shop.google_gem().await;
    let verify = |user: &str, seq: &str, product: &str, token: &str| json!({"userId": user, "storeCode": "GG", "paymentSeq": seq, "productId": product, "purchaseToken": token});
    let other_user = shop.sdk("/v1/sdk/verify", verify("bob", &seq, "gem_100", &gem.purchase_token)).await;
    // Reserved gem_100, the store sold gem_500.
    let gem_500 = shop
        .fakes
        .google
        .add_product(google::NewProduct { package: demo::PACKAGE, product_id: "gem_500", ..Default::default() })
        .await;
    let mismatch = shop.sdk("/v1/sdk/verify", verify("alice", &seq, "gem_500", &gem_500.purchase_token)).await;
    // The mismatch failed the reservation; the right purchase still completes it, and a second
    // purchase sent for it then (the user paid twice) becomes a payment of its own.
    let failed_then_ok = shop.sdk("/v1/sdk/verify", verify("alice", &seq, "gem_100", &gem.purchase_token)).await;
    let another = shop.google_gem().await;
    let paid_twice = shop.sdk("/v1/sdk/verify", verify("alice", &seq, "gem_100", &another.purchase_token)).await;
    // Pending and cancelled at the store.
    let pending = shop
        .fakes
        .google
        .add_product(google::NewProduct {
            package: demo::PACKAGE,
            product_id: "gem_100",
            pending: true,
            ..Default::default()
        })
        .await;
    let deferred = shop
        .sdk("/v1/sdk/verify", json!({"userId": "carol", "storeCode": "GG", "productId": "gem_100", "purchaseToken": pending.purchase_token}))
        .await;
    let voided = shop.google_gem().await;
    shop.fakes.google.void(&voided.purchase_token, 0, 1).await;
    let cancelled = shop
        .sdk("/v1/sdk/verify", json!({"userId": "carol", "storeCode": "GG", "productId": "gem_100", "purchaseToken": voided.purchase_token}))
        .await;
    // Another app's bundle, and a sandbox purchase on a production-only app.
    let apple =
        shop.fakes.apple.add_purchase(server::fakes::apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let foreign = shop
        .fakes
        .apple
        .defective_transaction(&apple.transaction_id, server::fakes::apple::Defect::WrongBundle)
        .unwrap();
    let wrong_app =
        shop.sdk("/v1/sdk/verify", json!({"userId": "dan", "storeCode": "AS", "signedTransaction": foreign})).await;
    sql("UPDATE store_apps SET environment_policy = 'PRODUCTION_ONLY' WHERE store = 'AS'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let sandbox = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "dan", "storeCode": "AS", "signedTransaction": apple.signed_transaction}),
        )
        .await;
    // A store without an app in the project, and a disabled AppKey.
    sql("UPDATE store_apps SET enabled = 0 WHERE store = 'ONESTORE'").execute(shop.app.db.pool()).await.unwrap();
    let no_app = shop.sdk("/v1/sdk/products", json!({"storeCode": "ONESTORE"})).await;
    sql("UPDATE projects SET key_status = 'DISABLED'").execute(shop.app.db.pool()).await.unwrap();
    let disabled = shop.sdk("/v1/sdk/products", json!({"storeCode": "GG"})).await;

    assert_eq!(other_user.code(), 4008);
    assert_eq!(mismatch.code(), 4025);
    assert_eq!(failed_then_ok.code(), 0, "a FAILURE reservation can still be completed by the right purchase");
    assert_ne!(paid_twice.ok()["paymentSeq"], seq.as_str());
    assert_eq!(paid_twice.ok()["paymentId"], another.order_id.as_str());
    assert_eq!(failed_then_ok.ok()["paymentId"], gem.order_id.as_str(), "the first purchase is kept");
    assert_eq!(deferred.code(), 4026);
    assert_eq!(cancelled.code(), 4027);
    assert_eq!(wrong_app.code(), 4023);
    assert_eq!(sandbox.code(), 4024);
    assert_eq!(no_app.code(), 4012);
    assert_eq!(disabled.code(), 4002);
}

#[tokio::test]
async fn missing_store_credentials_keep_the_purchase_pending_with_its_own_code() {
    let shop = shop().await;
    server::store_apps::connect(
        &shop.app.db,
        &shop.app.state.cipher,
        model::Store::Apple,
        demo::PACKAGE,
        &json!({}),
        &json!({}),
    )
    .await
    .unwrap();
    let apple =
        shop.fakes.apple.add_purchase(server::fakes::apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;

    let answer = shop
        .sdk("/v1/sdk/verify", json!({"userId": "erin", "storeCode": "AS", "transactionId": apple.transaction_id}))
        .await;

    assert_eq!(answer.code(), 4013);
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE pending_reason = 'STORE_CONFIGURATION' AND receipt IS NOT NULL",
    )
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!(kept, 1, "the proof is kept for when the credentials are fixed");
}

#[tokio::test]
async fn the_app_server_cancels_and_revokes_google_subscriptions() {
    let shop = shop().await;
    let first = shop.google_subscription("premium_monthly", 30).await;
    let second = shop.google_subscription("premium_monthly", 30).await;
    let verify = |token: &str| json!({"userId": "frank", "storeCode": "GG", "productId": "premium_monthly", "purchaseToken": token});
    let a = shop.sdk("/v1/sdk/verify", verify(&first.purchase_token)).await.ok().clone();
    let b = shop.sdk("/v1/sdk/verify", verify(&second.purchase_token)).await.ok().clone();
    let call = |p: &Value| json!({"paymentSeq": p["paymentSeq"], "accessToken": p["accessToken"]});

    let cancelled = shop.server("/v1/service/subscriptions/cancel", call(&a)).await;
    let revoked = shop.server("/v1/service/subscriptions/revoke", call(&b)).await;
    let apple = shop
        .fakes
        .apple
        .add_purchase(server::fakes::apple::NewPurchase::subscription(demo::PACKAGE, "premium_monthly"))
        .await;
    let c = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "frank", "storeCode": "AS", "signedTransaction": apple.signed_transaction}),
        )
        .await
        .ok()
        .clone();
    let not_google = shop.server("/v1/service/subscriptions/cancel", call(&c)).await;
    let gem = shop.google_gem().await;
    let consumable = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "frank", "storeCode": "GG", "productId": "gem_100", "purchaseToken": gem.purchase_token}),
        )
        .await
        .ok()
        .clone();
    let not_subscription = shop.server("/v1/service/subscriptions/revoke", call(&consumable)).await;

    assert_eq!(cancelled.ok()["subscriptionState"], "CANCELED");
    assert_eq!(cancelled.ok()["referenceStatus"], "CANCELED_SUBSCRIPTION");
    assert_eq!(cancelled.ok()["status"], "SUCCESS");
    assert_eq!(revoked.ok()["status"], "REFUND");
    assert_eq!(revoked.ok()["referenceStatus"], "REVOKED");
    assert_eq!(not_google.code(), 4030);
    assert_eq!(not_subscription.code(), 4031);
    let active = shop.sdk("/v1/sdk/subscriptions/active", json!({"userId": "frank"})).await;
    let stores: Vec<&str> = active.ok().as_array().unwrap().iter().map(|s| s["marketId"].as_str().unwrap()).collect();
    assert_eq!(stores.len(), 2, "the cancelled one lasts until it expires, the revoked one is gone: {stores:?}");
}

#[tokio::test]
async fn a_project_in_nhn_compatible_mode_takes_the_app_keys_alone_on_nhns_paths() {
    let shop = shop().await;
    let gem = shop.google_gem().await;
    let payment = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "nhn", "storeCode": "GG", "productId": "gem_100", "purchaseToken": gem.purchase_token}),
        )
        .await
        .ok()
        .clone();
    sqlx::query("UPDATE projects SET require_secret = 0").execute(shop.app.db.pool()).await.unwrap();
    let app_key_only = [("x-nhn-tciap-appkey", demo::APP_KEY)];

    let listed = shop
        .post(
            "/v1/service/consumable",
            &app_key_only,
            &json!({"marketId": "GG", "userChannel": "GF", "userKey": "nhn"}),
        )
        .await;
    let consumed = shop
        .post(
            "/v1/service/consume",
            &app_key_only,
            &json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;
    let wrong_secret = shop
        .post(
            "/v1/service/consume",
            &[("x-nhn-tciap-appkey", demo::APP_KEY), ("x-secret-key", "wrong")],
            &json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;

    assert_eq!(listed.ok().as_array().unwrap().len(), 1);
    assert_eq!(consumed.code(), 0);
    assert_eq!(wrong_secret.code(), 4003, "a secret, when sent, must still be right");
}

#[tokio::test]
async fn a_google_resubscription_is_linked_to_the_payment_it_replaces() {
    let shop = shop().await;
    let old = shop.google_subscription("premium_monthly", 30).await;
    let verify = |token: &str| json!({"userId": "gina", "storeCode": "GG", "productId": "premium_monthly", "purchaseToken": token});
    shop.sdk("/v1/sdk/verify", verify(&old.purchase_token)).await.ok();
    let new = shop
        .fakes
        .google
        .add_subscription(google::NewSubscription {
            linked_token: Some(&old.purchase_token),
            ..google::NewSubscription::monthly(demo::PACKAGE, "premium_monthly")
        })
        .await;

    let resubscribed = shop.sdk("/v1/sdk/verify", verify(&new.purchase_token)).await;

    assert_eq!(resubscribed.ok()["linkedPaymentId"], old.order_id.as_str());
    assert_eq!(resubscribed.ok()["originalPaymentId"], new.order_id.as_str());
}

#[tokio::test]
async fn a_google_one_time_purchase_carries_what_its_order_says_was_paid_and_during_an_order_outage_its_list_price() {
    let shop = shop().await;
    let new = |price| google::NewProduct {
        package: demo::PACKAGE,
        product_id: "gem_100",
        price_micros: Some(price),
        currency: Some("USD"),
        quantity: Some(2),
        ..Default::default()
    };
    let priced = shop.fakes.google.add_product(new(4_990_000)).await;
    let unpriced = shop.fakes.google.add_product(new(1_000_000)).await;

    let paid = shop.verify("kim", "GG", json!({"productId": "gem_100", "purchaseToken": priced.purchase_token})).await;
    shop.fakes.google.faults().inject("orders.get", FaultKind::Status(503), 1);
    let during_outage =
        shop.verify("lee", "GG", json!({"productId": "gem_100", "purchaseToken": unpriced.purchase_token})).await;

    assert_eq!((paid["price"].as_f64(), paid["currency"].as_str()), (Some(9.98), Some("USD")), "two at 4.99: {paid}");
    assert_eq!(during_outage["status"], "SUCCESS", "the purchase is proven without its order");
    assert_eq!(
        (during_outage["price"].as_f64(), during_outage["priceSource"].as_str()),
        (Some(2400.0), Some("LIST")),
        "two at the item's list price until the order is read: {during_outage}"
    );
    assert_eq!(paid["priceSource"], "STORE");
    assert_eq!((paid["quantity"].as_i64(), during_outage["quantity"].as_i64()), (Some(2), Some(2)));
    let consumed = shop
        .server("/v1/service/consume", json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}))
        .await;
    assert_eq!(consumed.ok()["quantity"], 2, "the app's server grants two");
    let kept: String = sqlx::query_scalar("SELECT store_response FROM payments WHERE payment_id = $1")
        .bind(&priced.order_id)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["order"]["tax"]["units"], "0", "the order is kept for support: {kept}");
    assert_eq!(kept["order"]["tax"]["nanos"], 907_272_000);
}

#[tokio::test]
async fn an_app_store_purchase_made_without_the_apps_account_token_is_bound_to_its_user_at_apple() {
    // An offer code redeemed in the App Store carries no appAccountToken: once its buyer verifies
    // it, Apple keeps the buyer's token on it, so renewals and refunds name the buyer too.
    let shop = shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let offline = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    shop.fakes.apple.faults().inject("appAccountToken", FaultKind::Status(503), 1);

    let failed = shop.verify("ann", "AS", json!({"signedTransaction": offline.signed_transaction})).await;
    let bound = shop.verify("ann", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    let token = server::payments::binding::apple_account_token("ann");
    assert_eq!(shop.fakes.apple.app_account_token(&bought.transaction_id), Some(token.clone()));
    let stored: Option<String> = sqlx::query_scalar("SELECT store_account_id FROM payments WHERE payment_seq = $1")
        .bind(bound["paymentSeq"].as_str().unwrap())
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, Some(token));
    assert_eq!(shop.fakes.apple.app_account_token(&offline.transaction_id), None, "Apple was down");
    assert_eq!(failed["status"], "SUCCESS", "the payment is its buyer's either way");
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event FROM payment_history WHERE event LIKE 'ACCOUNT_TOKEN%' ORDER BY id")
            .fetch_all(shop.app.db.pool())
            .await
            .unwrap();
    assert_eq!(events, ["ACCOUNT_TOKEN_FAILED", "ACCOUNT_TOKEN"]);
}

/// A Google gem bought while Google's purchase reads fail, with what the Play Billing Library
/// handed the app: the verify body carrying its signed data.
async fn gem_bought_during_a_google_outage(shop: &Shop, user: &str) -> (google::Created, Value) {
    let gem = shop.google_gem().await;
    let (data, signature) = shop.fakes.google.billing_purchase(&gem.purchase_token).unwrap();
    shop.fakes.google.faults().make_flaky("productsv2.get", 100, vec![FaultKind::Status(503)]);
    let body = json!({"userId": user, "storeCode": "GG", "productId": "gem_100",
                      "purchaseToken": gem.purchase_token, "originalJson": data, "signature": signature});
    (gem, body)
}

async fn payment_id(shop: &Shop, seq: &Value) -> i64 {
    sqlx::query_scalar("SELECT id FROM payments WHERE payment_seq = $1")
        .bind(seq.as_str().unwrap())
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn during_a_google_outage_a_purchase_its_play_billing_signature_proves_succeeds_provisionally_until_google_confirms_it(
) {
    let shop = shop().await;
    shop.google_signature_fallback().await;
    let (gem, body) = gem_bought_during_a_google_outage(&shop, "kim").await;

    let paid = shop.sdk("/v1/sdk/verify", body.clone()).await.ok().clone();
    let consumed = shop
        .server("/v1/service/consume", json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}))
        .await;
    let id = payment_id(&shop, &paid["paymentSeq"]).await;
    let still_down = server::payments::confirm::confirm(&shop.app.state, id).await.unwrap();
    shop.fakes.google.faults().calm();
    let confirmed = server::payments::confirm::confirm(&shop.app.state, id).await.unwrap();
    let again = shop.sdk("/v1/sdk/verify", body).await.ok().clone();
    let history: Vec<String> =
        sqlx::query_scalar("SELECT event FROM payment_history WHERE payment_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(shop.app.db.pool())
            .await
            .unwrap();

    assert_eq!((paid["status"].as_str(), paid["provisional"].as_bool()), (Some("SUCCESS"), Some(true)), "{paid}");
    assert_eq!(paid["paymentToken"], gem.purchase_token.as_str());
    assert_eq!(paid["priceSource"], "LIST", "the signed data carries no price: {paid}");
    assert_eq!(consumed.code(), 0, "the app's server may grant it");
    assert_eq!(still_down, server::payments::confirm::Confirmation::NotYet);
    assert_eq!(confirmed, server::payments::confirm::Confirmation::Confirmed);
    assert!(again.get("provisional").is_none(), "confirmed: {again}");
    assert_eq!((again["priceSource"].as_str(), again["price"].as_f64()), (Some("STORE"), Some(1200.0)));
    assert!(history.contains(&"CONFIRM".to_string()), "{history:?}");
}

#[tokio::test]
async fn a_provisional_purchase_google_then_reports_refunded_is_refunded_and_its_claw_back_announced() {
    let shop = shop().await;
    shop.google_signature_fallback().await;
    let (gem, body) = gem_bought_during_a_google_outage(&shop, "lee").await;
    let paid = shop.sdk("/v1/sdk/verify", body).await.ok().clone();
    shop.server("/v1/service/consume", json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}))
        .await;
    assert!(shop.fakes.google.void(&gem.purchase_token, 0, 7).await);
    shop.fakes.google.faults().calm();

    let id = payment_id(&shop, &paid["paymentSeq"]).await;
    sqlx::query("UPDATE payments SET next_confirm_at = 0").execute(shop.app.db.pool()).await.unwrap();
    server::payments::retry::run_due(&shop.app.state).await.unwrap();
    let (status, confirm_state): (String, String) =
        sqlx::query_as("SELECT status, confirm_state FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    let payload: String =
        sqlx::query_scalar("SELECT payload FROM webhook_events WHERE event_type = 'payment.refunded'")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();

    assert_eq!((status.as_str(), confirm_state.as_str()), ("REFUND", "REFUTED"));
    assert_eq!(payload["data"]["alreadyConsumed"], true, "{payload}");
    assert_eq!(payload["data"]["paymentSeq"], paid["paymentSeq"]);
}
