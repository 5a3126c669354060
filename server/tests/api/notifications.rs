//! Store notifications in: each store's fake pushes to the server's callback URL, as the real
//! store would; renewals become payments, refunds are recorded, replays change nothing.
use std::time::Duration;

use serde_json::{json, Value};
use server::{
    demo,
    fakes::{apple, google, Notifies},
};

use crate::helpers::within_30s;
use crate::shop::shop;

#[tokio::test]
async fn a_google_renewal_notification_becomes_a_new_payment_to_consume() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let subscription = shop.google_subscription("gem_pass_weekly", 7).await;
    let first = shop
        .verify("user-r", "GG", json!({"productId": "gem_pass_weekly", "purchaseToken": subscription.purchase_token}))
        .await;

    shop.fakes.google.change_subscription(&subscription.purchase_token, google::Change::Renew).await;
    shop.inbox_settled().await;

    let unconsumed = shop.unconsumed("user-r").await;
    assert_eq!(unconsumed.len(), 2, "the first period and the renewal: {unconsumed:?}");
    let renewal = unconsumed.iter().find(|p| p["paymentSeq"] != first["paymentSeq"]).unwrap();
    assert_eq!(renewal["paymentId"], format!("{}..0", subscription.order_id));
    assert_ne!(renewal["accessToken"], first["accessToken"]);
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 2, "purchase and renewal stored");
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM store_notifications WHERE status IN ('PROCESSED', 'IGNORED')").await,
        2,
        "both worked off"
    );
}

#[tokio::test]
async fn a_refund_after_consume_arrives_by_notification_and_flags_the_claw_back() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let payment = shop.verify("user-c", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    shop.server(
        "/v1/service/consume",
        json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
    )
    .await
    .ok();

    assert!(shop.fakes.apple.refund(&bought.transaction_id).await);
    shop.inbox_settled().await;

    let lookup = shop.server("/v1/service/payment", json!({"accessToken": payment["accessToken"]})).await;
    assert_eq!(lookup.ok()["status"], "REFUND");
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE was_consumed = 1 AND source = 'NOTIFICATION'").await, 1);
    let again = shop
        .server(
            "/v1/service/consume",
            json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;
    assert_eq!(again.code(), 4007);
}

#[tokio::test]
async fn a_refund_by_notification_ends_a_pending_re_verification_as_a_refund_by_hand_does() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let payment = shop.verify("user-rv", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    // A re-verification is due later (a store answer the server wants to ask again about).
    sqlx::query("UPDATE payments SET next_verify_at = $1 WHERE payment_seq = $2")
        .bind(server::now_ms() + 3_600_000)
        .bind(payment["paymentSeq"].as_str().unwrap())
        .execute(shop.app.db.pool())
        .await
        .unwrap();

    assert!(shop.fakes.apple.refund(&bought.transaction_id).await);
    shop.inbox_settled().await;

    let seq = payment["paymentSeq"].as_str().unwrap();
    let waiting = format!("SELECT COUNT(*) FROM payments WHERE payment_seq = '{seq}' AND next_verify_at IS NOT NULL");
    assert_eq!(status_of(&shop, &payment).await, "REFUND");
    assert_eq!(shop.count(&waiting).await, 0, "a refunded payment is not asked about again");
}

#[tokio::test]
async fn a_replayed_notification_changes_nothing() {
    let shop = shop().await;
    let url = shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    shop.verify("user-p", "AS", json!({"transactionId": bought.transaction_id})).await;
    // Catch the REFUND notification, then deliver it three times.
    let (sender, mut caught) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let catcher = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| async move {
            sender.send(body).unwrap();
        }),
    );
    shop.fakes.apple.set_notify_url(Some(server::fakes::serve(catcher, 0).await.unwrap()));
    shop.fakes.apple.refund(&bought.transaction_id).await;
    let notification = within_30s("the store's notification", caught.recv()).await.unwrap();

    for _ in 0..3 {
        let response = shop.http.post(&url).json(&notification).send().await.unwrap();
        assert_eq!(response.status(), 200);
        shop.inbox_settled().await;
    }

    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE to_status = 'REFUND'").await, 1);
}

#[tokio::test]
async fn a_forged_app_store_notification_is_refused_and_not_stored() {
    let shop = shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let forged = shop.fakes.apple.defective_transaction(&bought.transaction_id, apple::Defect::Forged).unwrap();

    let response = shop
        .http
        .post(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE)))
        .json(&json!({"signedPayload": forged}))
        .send()
        .await
        .unwrap();
    let garbage = shop
        .http
        .post(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE)))
        .bearer_auth(google::FakeGoogle::push_token(demo::PUSH_AUDIENCE))
        .body("not json")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(garbage.status(), 400);
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications").await, 0);
}

#[tokio::test]
async fn a_google_voided_purchase_and_a_one_store_cancellation_refund_their_payments() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    shop.fakes
        .onestore
        .set_notify_url(Some(shop.callback(&format!("/markets/ONESTORE/notification/{}/receive", demo::PACKAGE))));
    let gem = shop.google_gem().await;
    shop.verify("user-v", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    let one_token = shop.onestore_gem();
    shop.verify("user-v", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": one_token})).await;

    shop.fakes.google.void(&gem.purchase_token, 0, 1).await;
    shop.fakes.onestore.refund(&one_token);

    // ONE store delivers in the background, like the real PNS.
    for _ in 0..100 {
        if shop.count("SELECT COUNT(*) FROM refunds").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shop.inbox_settled().await;
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE kind = 'VOID'").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE kind = 'REFUND'").await, 1);
    assert!(shop.unconsumed("user-v").await.is_empty());
}

#[tokio::test]
async fn a_one_store_payment_is_recorded_at_its_items_list_price_until_its_notification_gives_the_amount_paid() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(app::model::Role::Admin).await;
    let item = shop
        .count(
            "SELECT p.product_seq FROM products p JOIN store_apps a ON a.id = p.store_app_id \
             WHERE a.store = 'ONESTORE' AND p.store_product_id = 'gem_100'",
        )
        .await
        .to_string();
    admin
        .submit::<()>("/api/project/item/prices", &[("product_seq", &item), ("prices", "1200 KRW, 0.99 USD")])
        .await
        .unwrap();
    let bad_prices =
        admin.submit::<()>("/api/project/item/prices", &[("product_seq", &item), ("prices", "12 dollars")]).await;
    let unannounced = shop.onestore_gem();
    let listed = shop.verify("user-o", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": unannounced})).await;

    shop.fakes
        .onestore
        .set_notify_url(Some(shop.callback(&format!("/markets/ONESTORE/notification/{}/receive", demo::PACKAGE))));
    let token = shop.onestore_gem();
    let payment = shop.verify("user-o", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": token})).await;
    within_30s("the PNS is processed", async {
        while shop.count("SELECT COUNT(*) FROM payments WHERE store = 'ONESTORE' AND price_micros = 1100000000").await
            == 0
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let consumed = shop
        .server(
            "/v1/service/consume",
            json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;

    assert!(matches!(&bad_prices, Err(app::AppError::Invalid(m)) if m.contains("three-letter")), "{bad_prices:?}");
    assert_eq!((listed["price"].as_f64(), listed["currency"].as_str()), (Some(1200.0), Some("KRW")));
    assert_eq!(listed["priceSource"], "LIST");
    assert_eq!((consumed.ok()["price"].as_f64(), consumed.ok()["currency"].as_str()), (Some(1100.0), Some("KRW")));
    assert_eq!(consumed.ok()["priceSource"], "STORE");
}

#[tokio::test]
async fn an_app_store_renewal_notification_adds_the_new_period_to_the_active_subscription() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought =
        shop.fakes.apple.add_purchase(apple::NewPurchase::subscription(demo::PACKAGE, "premium_monthly")).await;
    let first = shop.verify("user-a", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    let renewal =
        shop.fakes.apple.change_subscription(&bought.original_transaction_id, apple::Change::Renew).await.unwrap();
    shop.inbox_settled().await;

    let active =
        shop.sdk_as("user-a", "/v1/sdk/subscriptions/active", json!({"userId": "user-a", "storeCode": "AS"})).await;
    let listed = active.ok().as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "one subscription: its latest period");
    assert_eq!(listed[0]["paymentId"], renewal.as_str());
    assert_eq!(listed[0]["originalPaymentId"], bought.original_transaction_id.as_str());
    assert!(listed[0]["expiryTimeMillis"].as_i64() > first["expiryTimeMillis"].as_i64());
    assert!(shop.unconsumed("user-a").await.is_empty(), "AUTO_RENEWABLE periods are not consumed");
}

#[tokio::test]
async fn a_google_subscription_and_an_app_store_consumable_subscription_renew_too() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let monthly = shop.google_subscription("premium_monthly", 30).await;
    shop.verify("user-m", "GG", json!({"productId": "premium_monthly", "purchaseToken": monthly.purchase_token})).await;
    let pass = shop.fakes.apple.add_purchase(apple::NewPurchase::subscription(demo::PACKAGE, "gem_pass_weekly")).await;
    shop.verify("user-m", "AS", json!({"transactionId": pass.transaction_id})).await;

    shop.fakes.google.change_subscription(&monthly.purchase_token, google::Change::Renew).await;
    shop.fakes.apple.change_subscription(&pass.original_transaction_id, apple::Change::Renew).await;
    shop.inbox_settled().await;

    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'RENEW'").await, 2);
    let unconsumed = shop.unconsumed("user-m").await;
    assert_eq!(unconsumed.len(), 2, "both weekly passes, none of the monthly periods: {unconsumed:?}");
    assert!(unconsumed.iter().all(|p| p["marketId"] == "AS"));
    let active = shop.sdk("/v1/sdk/subscriptions/active", json!({"userId": "user-m"})).await;
    assert_eq!(active.ok().as_array().unwrap().len(), 2, "one entry per subscription: its latest period");
}

#[tokio::test]
async fn a_redelivery_of_a_notification_whose_processing_failed_processes_it_at_once() {
    let shop = shop().await;
    let gem = shop.google_gem().await;
    shop.verify("user-d", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    let (sender, mut caught) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
    let catcher = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| async move {
            sender.send((headers["authorization"].to_str().unwrap().to_string(), body)).unwrap();
        }),
    );
    shop.fakes.google.set_notify_url(Some(server::fakes::serve(catcher, 0).await.unwrap()));
    shop.fakes.google.void(&gem.purchase_token, 0, 1).await;
    let (bearer, push) = within_30s("the store's notification", caught.recv()).await.unwrap();
    let url = shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE));
    let deliver = || shop.http.post(&url).header("authorization", &bearer).json(&push).send();
    // Google is down when the first delivery is processed: the next attempt is due later.
    shop.fakes.google.faults().inject("voided", server::fakes::faults::FaultKind::Status(503), 1);
    deliver().await.unwrap();
    for _ in 0..200 {
        if shop.count("SELECT COUNT(*) FROM store_notifications WHERE status = 'FAILED'").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let next: i64 = sqlx::query_scalar("SELECT next_attempt_at FROM store_notifications")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert!(next > server::now_ms() + 10_000, "the retry waits");

    deliver().await.unwrap();
    for _ in 0..200 {
        if shop.count("SELECT COUNT(*) FROM store_notifications WHERE status = 'PROCESSED'").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE kind = 'VOID'").await, 1);
    assert_eq!(shop.count("SELECT attempts FROM store_notifications").await, 2);
}

/// The shop with the App Store fake notifying it, and a consumable `user` bought, verified and
/// consumed: (the fake's purchase, the payment as verified).
async fn consumed_apple_gem(user: &str) -> (crate::shop::Shop, apple::Created, Value) {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let payment = shop.verify(user, "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    shop.server(
        "/v1/service/consume",
        json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
    )
    .await
    .ok();
    (shop, bought, payment)
}

async fn status_of(shop: &crate::shop::Shop, payment: &Value) -> String {
    let lookup = shop.server("/v1/service/payment", json!({"accessToken": payment["accessToken"]})).await;
    lookup.ok()["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_app_store_refund_reversal_makes_the_payment_successful_again_and_tells_the_app_server() {
    let (shop, bought, payment) = consumed_apple_gem("user-rr").await;
    shop.fakes.apple.refund(&bought.transaction_id).await;
    shop.inbox_settled().await;
    assert_eq!(status_of(&shop, &payment).await, "REFUND");

    assert!(shop.fakes.apple.reverse_refund(&bought.transaction_id).await);
    shop.inbox_settled().await;

    assert_eq!(status_of(&shop, &payment).await, "SUCCESS");
    let reversed: (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT reversed_at, reversed_reason FROM refunds").fetch_one(shop.app.db.pool()).await.unwrap();
    assert!(reversed.0.is_some());
    assert_eq!(reversed.1.as_deref(), Some("Apple reversed the refund"));
    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_events WHERE event_type = 'payment.refund_reversed'").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'REFUND_REVERSED'").await, 1);
    shop.app.login_as_demo_admin().await;
    let report: model::RefundReport = shop.app.get_fn("/api/refunds").await.unwrap();
    assert!(report.refunds.is_empty(), "a reversed refund is no refund: {:?}", report.refunds);
}

#[tokio::test]
async fn a_family_sharing_revocation_is_recorded_as_a_revoke_with_its_reason() {
    let (shop, bought, payment) = consumed_apple_gem("user-fs").await;

    assert!(shop.fakes.apple.revoke_family_sharing(&bought.transaction_id).await);
    shop.inbox_settled().await;

    assert_eq!(status_of(&shop, &payment).await, "REFUND");
    let refund: (String, Option<String>, i64) =
        sqlx::query_as("SELECT kind, reason, was_consumed FROM refunds").fetch_one(shop.app.db.pool()).await.unwrap();
    assert_eq!(refund.0, "REVOKE");
    assert!(refund.1.unwrap().contains("Family Sharing"));
    assert_eq!(refund.2, 1, "consumed: a claw-back");
}

#[tokio::test]
async fn a_withdrawn_parental_consent_reaches_the_app_server_as_an_event_about_the_minors_user() {
    let shop = shop().await;
    let minor = apple::NewPurchase { customer: "minor", ..apple::NewPurchase::consumable(demo::PACKAGE, "gem_100") };
    let bought = shop.fakes.apple.add_purchase(minor).await;
    shop.verify("kid-7", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let app_transaction = apple::app_transaction_id(demo::PACKAGE, "minor");

    shop.fakes.apple.rescind_consent(demo::PACKAGE, &app_transaction).await;
    shop.inbox_settled().await;

    let (user, payload): (Option<String>, String) =
        sqlx::query_as("SELECT user_id, payload FROM webhook_events WHERE event_type = 'consent.rescinded'")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    let event: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(event["data"]["appTransactionId"], app_transaction.as_str(), "{event}");
    assert_eq!(event["data"]["userIds"], json!(["kid-7"]));
    assert_eq!((user.as_deref(), event["userId"].as_str()), (Some("kid-7"), Some("kid-7")));
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications WHERE status = 'PROCESSED'").await, 1);
}

#[tokio::test]
async fn a_test_notification_and_a_price_increase_are_kept_and_the_payment_page_lists_its_notifications() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought =
        shop.fakes.apple.add_purchase(apple::NewPurchase::subscription(demo::PACKAGE, "premium_monthly")).await;
    let payment = shop.verify("user-pi", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    shop.fakes.apple.test_notification(demo::PACKAGE).await;
    assert!(shop.fakes.apple.send_notification(&bought.transaction_id, "PRICE_INCREASE", Some("ACCEPTED")).await);
    shop.inbox_settled().await;

    let test: (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM store_notifications WHERE notification_type = 'TEST'")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    assert_eq!(test.0, "IGNORED");
    assert!(test.1.unwrap().contains("callback URL works"));
    shop.app.login_as_demo_admin().await;
    let seq = payment["paymentSeq"].as_str().unwrap();
    let detail: model::PaymentDetail = shop.app.get_fn(&format!("/api/payment?payment_seq={seq}")).await.unwrap();
    let kinds: Vec<String> = detail
        .notifications
        .iter()
        .map(|n| {
            format!("{} {}", n.notification_type.clone().unwrap_or_default(), n.subtype.clone().unwrap_or_default())
        })
        .collect();
    assert_eq!(kinds, ["SUBSCRIBED INITIAL_BUY", "PRICE_INCREASE ACCEPTED"], "{kinds:?}");
    assert!(detail.notifications.iter().all(|n| n.status == "PROCESSED" && n.body.is_none()));
}

#[tokio::test]
async fn a_google_price_step_up_consent_is_looked_up_kept_and_listed_on_the_payment() {
    let shop = shop().await;
    let monthly = shop.google_subscription("premium_monthly", 30).await;
    let payment = shop
        .verify("user-su", "GG", json!({"productId": "premium_monthly", "purchaseToken": monthly.purchase_token}))
        .await;
    let notification = json!({"subscriptionNotification": {
        "version": "1.0", "notificationType": 22, "purchaseToken": monthly.purchase_token}});
    let body = google::FakeGoogle::push_body(demo::PACKAGE, "step-up-1", &notification);

    let pushed = shop
        .http
        .post(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE)))
        .bearer_auth(google::FakeGoogle::push_token(demo::PUSH_AUDIENCE))
        .json(&body)
        .send()
        .await
        .unwrap();
    shop.inbox_settled().await;

    assert_eq!(pushed.status(), 200);
    shop.app.login_as_demo_admin().await;
    let seq = payment["paymentSeq"].as_str().unwrap();
    let detail: model::PaymentDetail = shop.app.get_fn(&format!("/api/payment?payment_seq={seq}")).await.unwrap();
    let listed: Vec<(Option<String>, String)> =
        detail.notifications.iter().map(|n| (n.notification_type.clone(), n.status.clone())).collect();
    assert_eq!(listed, [(Some("PriceStepUpConsentUpdated".to_string()), "PROCESSED".to_string())]);
}

#[tokio::test]
async fn an_apple_prorated_refund_is_recorded_as_the_share_refunded_with_its_amount_not_as_a_whole_one() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought =
        shop.fakes.apple.add_purchase(apple::NewPurchase::subscription(demo::PACKAGE, "premium_monthly")).await;
    let payment = shop.verify("user-pr", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    assert!(shop.fakes.apple.refund_share(&bought.transaction_id, 40_000).await);
    shop.inbox_settled().await;

    let (share, amount, price): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT r.share_milli, r.amount_micros, p.price_micros FROM refunds r JOIN payments p ON p.id = r.payment_id",
    )
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!(share, Some(40_000));
    assert_eq!(amount, price.map(|p| p * 2 / 5), "40% of the price");
    assert_eq!(shop.status_of(payment["paymentSeq"].as_str().unwrap()).await, "REFUND", "the entitlement ends");
    let event: String = sqlx::query_scalar("SELECT payload FROM webhook_events WHERE event_type = 'payment.refunded'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&event).unwrap()["data"]["refundedShare"], 40_000);
    shop.app.login_as_demo_admin().await;
    let report: model::RefundReport = shop.app.get_fn("/api/refunds").await.unwrap();
    assert_eq!(report.refunds[0].refunded_share, Some(40_000));
}

/// The details of a payment's history entries, oldest first.
async fn history_details(shop: &crate::shop::Shop, seq: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT COALESCE(h.detail, '') FROM payment_history h JOIN payments p ON p.id = h.payment_id \
         WHERE p.payment_seq = $1 ORDER BY h.id",
    )
    .bind(seq)
    .fetch_all(shop.app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_google_subscriptions_step_up_consent_declined_renewal_and_offer_phase_are_written_in_its_history() {
    let shop = shop().await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let monthly = shop.google_subscription("premium_monthly", 30).await;
    let payment = shop
        .verify("user-st", "GG", json!({"productId": "premium_monthly", "purchaseToken": monthly.purchase_token}))
        .await;

    shop.fakes.google.change_subscription(&monthly.purchase_token, google::Change::PriceStepUp).await;
    shop.fakes.google.change_subscription(&monthly.purchase_token, google::Change::GracePeriod).await;
    shop.inbox_settled().await;

    let details = history_details(&shop, payment["paymentSeq"].as_str().unwrap()).await;
    let all = details.join("\n");
    assert!(details[0].contains("offer phase: basePrice"), "{all}");
    assert!(all.contains("price step-up to USD 11.98: consent PENDING, deadline 20"), "{all}");
    let pending_order = format!("grace period: the renewal was declined, order {}..0 pending", monthly.order_id);
    assert!(details.last().unwrap().contains(&pending_order), "{all}");
}

#[tokio::test]
async fn a_play_store_re_subscription_after_expiry_is_its_users_and_is_bound_to_them_as_it_is_acknowledged() {
    // No verify of the app's will come for a purchase made in the Play Store: no waiting for one.
    let shop = crate::shop::shop_with(|s| s.notifications.unknown_purchase_wait_secs = 0).await;
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let expired = shop.google_subscription("premium_monthly", 30).await;
    shop.verify("user-rs", "GG", json!({"productId": "premium_monthly", "purchaseToken": expired.purchase_token}))
        .await;
    shop.fakes.google.change_subscription(&expired.purchase_token, google::Change::Expire { days_ago: 3 }).await;
    shop.inbox_settled().await;

    let again = shop.fakes.google.resubscribe_in_play_store(&expired.purchase_token).await.unwrap();
    shop.inbox_settled().await;

    let (user, claim, initiated, linked): (String, Option<String>, i64, Option<String>) = sqlx::query_as(
        "SELECT user_id, claim_state, CAST(store_initiated AS BIGINT), linked_payment_id FROM payments \
         WHERE purchase_token = $1",
    )
    .bind(&again.purchase_token)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!((user.as_str(), claim, initiated), ("user-rs", None, 1), "the expired subscription's user's, no claim");
    assert_eq!(linked.as_deref(), Some(expired.order_id.as_str()));
    let active = shop.sdk_as("user-rs", "/v1/sdk/subscriptions/active", json!({"userId": "user-rs"})).await;
    assert!(active.ok().as_array().unwrap().iter().any(|s| s["paymentId"] == again.order_id.as_str()));
    // Acknowledged with the user's account value: Google's answers name the user from now on.
    within_30s("the re-subscription is acknowledged", async {
        let done = format!(
            "SELECT COUNT(*) FROM payments WHERE purchase_token = '{}' AND ack_state = 'DONE'",
            again.purchase_token
        );
        while shop.count(&done).await == 0 {
            sqlx::query("UPDATE payments SET next_ack_at = 0 WHERE ack_state = 'PENDING'")
                .execute(shop.app.db.pool())
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let bound: Option<String> = sqlx::query_scalar("SELECT store_account_id FROM payments WHERE purchase_token = $1")
        .bind(&again.purchase_token)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(bound, Some(server::payments::binding::google_account_id("user-rs")));
    let read = shop.app.state.store_client(&google_app(&shop).await).unwrap();
    let proof = server::stores::client::Proof::Google {
        product_id: "premium_monthly".into(),
        purchase_token: again.purchase_token.clone(),
        subscription: true,
    };
    let at_google = read.verify(&proof).await.unwrap();
    assert_eq!(at_google.account_id, bound, "Google keeps the value it was given");
}

async fn google_app(shop: &crate::shop::Shop) -> server::store_apps::StoreAppRecord {
    server::store_apps::find(&shop.app.db, &shop.app.state.cipher, model::Store::Google, demo::PACKAGE)
        .await
        .unwrap()
        .unwrap()
}
