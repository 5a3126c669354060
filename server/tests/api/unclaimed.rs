//! Purchases the store reports before any verify: recorded from the store's own answer as
//! unclaimed payments (no user, no access token), shown and announced, and claimed by their buyer
//! with a normal verify. A notification that comes just before the app's own verify waits for it.
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{apple, Notifies},
};

use crate::shop::{shop, shop_with, Shop};

/// The shop with notifications about unknown purchases recorded at once.
async fn impatient_shop() -> Shop {
    let shop = shop_with(|settings| settings.notifications.unknown_purchase_wait_secs = 0).await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    shop.fakes
        .onestore
        .set_notify_url(Some(shop.callback(&format!("/markets/ONESTORE/notification/{}/receive", demo::PACKAGE))));
    shop
}

/// The payment recorded for store transaction `txn`: (paymentSeq, user id, claim state, has an
/// access token, status).
async fn recorded(shop: &Shop, txn: &str) -> (String, String, Option<String>, bool, String) {
    let row: (String, String, Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT payment_seq, user_id, claim_state, access_token_hash, status FROM payments WHERE store_txn_key = $1",
    )
    .bind(txn)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    (row.0, row.1, row.2, row.3.is_some(), row.4)
}

async fn events(shop: &Shop, event_type: &str) -> i64 {
    shop.count(&format!("SELECT COUNT(*) FROM webhook_events WHERE event_type = '{event_type}'")).await
}

/// Waits until the ONE store fake's background PNS delivery has been worked off.
async fn one_store_settled(shop: &Shop) {
    for _ in 0..200 {
        if shop.count("SELECT COUNT(*) FROM store_notifications WHERE store = 'ONESTORE'").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    shop.inbox_settled().await;
}

#[tokio::test]
async fn an_app_store_purchase_reported_only_by_its_notification_becomes_an_unclaimed_payment_its_buyer_claims() {
    let shop = impatient_shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    shop.inbox_settled().await;

    let (seq, user, claim, has_token, status) = recorded(&shop, &bought.transaction_id).await;
    assert_eq!(
        (user.as_str(), claim.as_deref(), has_token, status.as_str()),
        ("", Some("UNCLAIMED"), false, "SUCCESS")
    );
    assert_eq!(events(&shop, "payment.unclaimed").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'STORE_REPORTED'").await, 1);

    let claimed = shop.verify("user-late", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    assert_eq!(claimed["paymentSeq"], seq.as_str(), "the reported payment, not a second one");
    let token = claimed["accessToken"].as_str().unwrap();
    let consumed = shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": token})).await;
    consumed.ok();
    let (_, user, claim, ..) = recorded(&shop, &bought.transaction_id).await;
    assert_eq!((user.as_str(), claim.as_deref()), ("user-late", Some("CLAIMED")));
    assert_eq!(events(&shop, "payment.succeeded").await, 1);

    let other = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "someone-else", "storeCode": "AS", "signedTransaction": bought.signed_transaction}),
        )
        .await;
    assert_eq!(other.code(), 4022, "claimed once, by its buyer: {}", other.body);
}

#[tokio::test]
async fn an_unclaimed_purchase_is_not_claimed_with_a_guessable_transaction_id_alone() {
    let shop = impatient_shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    shop.inbox_settled().await;

    let attempt = shop
        .sdk("/v1/sdk/verify", json!({"userId": "attacker", "storeCode": "AS", "transactionId": bought.transaction_id}))
        .await;

    assert_eq!(attempt.code(), 4032, "{}", attempt.body);
    let (_, user, claim, has_token, _) = recorded(&shop, &bought.transaction_id).await;
    assert_eq!((user.as_str(), claim.as_deref(), has_token), ("", Some("UNCLAIMED"), false));
    assert!(shop.unconsumed("attacker").await.is_empty());
}

#[tokio::test]
async fn a_purchase_refunded_before_any_verify_is_recorded_as_refunded_and_its_old_proof_is_refused() {
    let shop = impatient_shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    shop.inbox_settled().await;
    assert!(shop.fakes.apple.refund(&bought.transaction_id).await);
    shop.inbox_settled().await;

    // The transaction Apple signed at purchase time still verifies as a signature.
    let late = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-r", "storeCode": "AS", "signedTransaction": bought.signed_transaction}),
        )
        .await;

    assert_eq!(late.code(), 4027, "{}", late.body);
    let (_, user, _, has_token, status) = recorded(&shop, &bought.transaction_id).await;
    assert_eq!((user.as_str(), has_token, status.as_str()), ("", false, "REFUND"));
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE source = 'NOTIFICATION'").await, 1);
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM abuse_flags").await,
        0,
        "a refund nobody claimed counts against no one"
    );
}

#[tokio::test]
async fn a_google_purchase_reported_by_its_push_waits_unacknowledged_until_its_buyer_claims_it() {
    let shop = impatient_shop().await;
    let gem = shop.google_gem().await;
    shop.inbox_settled().await;
    let ack = |shop: &Shop| {
        let pool = shop.app.db.pool().clone();
        let order = gem.order_id.clone();
        async move {
            sqlx::query_as::<_, (String, Option<i64>)>(
                "SELECT ack_state, next_ack_at FROM payments WHERE store_txn_key = $1",
            )
            .bind(order)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (state, due) = ack(&shop).await;
    assert_eq!((state.as_str(), due), ("PENDING", None), "nobody took it: Google may refund it");

    let claimed =
        shop.verify("user-g", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;

    assert_eq!(claimed["paymentId"], gem.order_id.as_str());
    assert!(claimed["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
    let (_, due) = ack(&shop).await;
    assert!(due.is_some(), "acknowledged once claimed");
    assert_eq!(shop.unconsumed("user-g").await.len(), 1);
}

#[tokio::test]
async fn a_one_store_payment_notification_about_an_unknown_purchase_is_recorded_from_one_stores_answer() {
    let shop = impatient_shop().await;
    let token = shop.onestore_gem();
    one_store_settled(&shop).await;

    let row: (String, Option<String>) =
        sqlx::query_as("SELECT user_id, claim_state FROM payments WHERE purchase_token = $1")
            .bind(&token)
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    assert_eq!((row.0.as_str(), row.1.as_deref()), ("", Some("UNCLAIMED")));

    let claimed: Value =
        shop.verify("user-o", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": token})).await;
    assert!(claimed["accessToken"].as_str().is_some());
    assert_eq!(shop.unconsumed("user-o").await.len(), 1);
}

#[tokio::test]
async fn a_notification_that_comes_before_the_apps_verify_waits_for_it_and_then_applies_to_the_buyers_payment() {
    let shop = shop().await;
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    for _ in 0..200 {
        let waiting = shop
            .count(
                "SELECT COUNT(*) FROM store_notifications WHERE status = 'RECEIVED' AND next_attempt_at > received_at",
            )
            .await;
        if waiting == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    let payment = shop.verify("user-w", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    shop.inbox_settled().await;

    let (seq, user, claim, ..) = recorded(&shop, &bought.transaction_id).await;
    assert_eq!((seq.as_str(), user.as_str(), claim), (payment["paymentSeq"].as_str().unwrap(), "user-w", None));
    let done: (String, Option<i64>) = sqlx::query_as("SELECT status, payment_id FROM store_notifications")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(done.0, "PROCESSED", "woken by the verify, not left for the wait to run out");
    assert!(done.1.is_some());
    assert_eq!(events(&shop, "payment.unclaimed").await, 0);
}
