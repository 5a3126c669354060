//! The store's consume after ours, for the apps that ask for it: Google's and ONE store's consume,
//! Apple's Finish Transaction, made in the background, retried, and written in the history.
use model::{ProjectDetail, Role};
use serde_json::json;
use server::{
    demo,
    fakes::{apple, faults::FaultKind},
    stores::client::Consumed,
};

use crate::shop::Shop;

/// Verifies `proof` for `user` and consumes the payment from the app's server; its paymentSeq.
async fn buy_and_consume(shop: &Shop, user: &str, store: &str, proof: serde_json::Value) -> String {
    let payment = shop.verify(user, store, proof).await;
    let (seq, token) = (payment["paymentSeq"].as_str().unwrap(), payment["accessToken"].as_str().unwrap());
    shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": token})).await.ok();
    seq.to_string()
}

/// Makes every store consume due and waits until `attempts` have been written in the histories.
async fn store_consume_attempts(shop: &Shop, attempts: i64) {
    sqlx::query("UPDATE payments SET next_store_consume_at = 0 WHERE next_store_consume_at IS NOT NULL")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    // This pass or the app's own background one (whichever claims the row first) makes the call.
    server::payments::retry::run_due(&shop.app.state).await.unwrap();
    let written = "SELECT COUNT(*) FROM payment_history WHERE event LIKE 'STORE_CONSUME%'";
    let started = std::time::Instant::now();
    while shop.count(written).await < attempts {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the store consume was never attempted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn consume_at_store(shop: &Shop, store: &str) {
    sqlx::query("UPDATE store_apps SET consume_at_store = 1 WHERE store = $1")
        .bind(store)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
}

async fn history_details(shop: &Shop, seq: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT h.event, h.detail FROM payment_history h JOIN payments p ON p.id = h.payment_id \
         WHERE p.payment_seq = $1 AND h.event LIKE 'STORE_CONSUME%' ORDER BY h.id",
    )
    .bind(seq)
    .fetch_all(shop.app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_google_purchase_is_consumed_at_google_after_ours_once_an_admin_turns_it_on_so_it_can_be_bought_again() {
    let shop = crate::shop::shop().await;
    let before = shop.google_gem().await;
    let proof = |token: &str| json!({"productId": "gem_100", "purchaseToken": token});
    buy_and_consume(&shop, "user-1", "GG", proof(&before.purchase_token)).await;
    server::payments::retry::run_due(&shop.app.state).await.unwrap();
    assert_eq!(shop.fakes.google.is_consumed(&before.purchase_token), Some(false), "off by default");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE next_store_consume_at IS NOT NULL").await, 0);

    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = server::projects::find_id_by_name(&shop.app.db, demo::PROJECT_NAME).await.unwrap().unwrap();
    let page: ProjectDetail = admin.get_fn(&format!("/api/project?id={project}")).await.unwrap();
    let google = page.apps.iter().find(|a| a.store == "GG").unwrap();
    let (project, id) = (project.to_string(), google.id.to_string());
    let form = [
        ("app[project]", project.as_str()),
        ("app[id]", id.as_str()),
        ("app[store]", "GG"),
        ("app[name]", google.name.as_str()),
        ("app[store_app_id]", google.store_app_id.as_str()),
        ("app[environment_policy]", google.environment_policy.as_str()),
        ("app[enabled]", "true"),
        ("app[consume_at_store]", "true"),
    ];
    admin.submit::<i64>("/api/project/app", &form).await.unwrap();
    let after = shop.google_gem().await;
    let seq = buy_and_consume(&shop, "user-1", "GG", proof(&after.purchase_token)).await;
    store_consume_attempts(&shop, 1).await;

    assert_eq!(shop.fakes.google.is_consumed(&after.purchase_token), Some(true));
    assert_eq!(history_details(&shop, &seq).await, [("STORE_CONSUME".into(), Some("consumed at Google Play".into()))]);
    let page: ProjectDetail = admin.get_fn(&format!("/api/project?id={project}")).await.unwrap();
    assert!(page.apps.iter().find(|a| a.store == "GG").unwrap().consume_at_store);
    let audit: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'store_app.update'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert!(audit.contains("consumeAtStore"), "{audit}");
}

#[tokio::test]
async fn a_purchase_the_device_consumed_first_is_done_when_google_refuses_the_second_consume() {
    let shop = crate::shop::shop().await;
    consume_at_store(&shop, "GG").await;
    let bought = shop.google_gem().await;
    let seq =
        buy_and_consume(&shop, "user-1", "GG", json!({"productId": "gem_100", "purchaseToken": bought.purchase_token}))
            .await;
    let app = server::store_apps::find(&shop.app.db, &shop.app.state.cipher, model::Store::Google, demo::PACKAGE)
        .await
        .unwrap()
        .unwrap();
    let device = Consumed { product_id: "gem_100", token: &bought.purchase_token, transaction_id: "", sandbox: false };
    shop.app.state.store_client(&app).unwrap().consume_at_store(&device).await.unwrap();

    store_consume_attempts(&shop, 1).await;

    assert_eq!(history_details(&shop, &seq).await[0].0, "STORE_CONSUME");
    let done = "SELECT COUNT(*) FROM payments WHERE store_consumed_at IS NOT NULL AND next_store_consume_at IS NULL";
    assert_eq!(shop.count(done).await, 1);
}

#[tokio::test]
async fn a_one_store_consume_that_fails_is_retried_shown_in_the_history_and_never_taken_for_done() {
    let shop = crate::shop::shop().await;
    consume_at_store(&shop, "ONESTORE").await;
    let token = shop.onestore_gem();
    shop.fakes.onestore.faults().inject("consume", FaultKind::Status(503), 1);
    let seq =
        buy_and_consume(&shop, "user-1", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": token})).await;

    store_consume_attempts(&shop, 1).await;
    assert_eq!(shop.fakes.onestore.is_consumed(&token), Some(false));
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE store_consumed_at IS NOT NULL").await, 0);
    store_consume_attempts(&shop, 2).await;

    assert_eq!(shop.fakes.onestore.is_consumed(&token), Some(true));
    let history = history_details(&shop, &seq).await;
    let events: Vec<&str> = history.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(events, ["STORE_CONSUME_FAILED", "STORE_CONSUME"]);
    let failed = history[0].1.as_deref().unwrap();
    assert!(failed.contains("attempt 1, failed, retried later"), "{failed}");
    let attempts = "SELECT CAST(store_consume_attempts AS BIGINT) FROM payments WHERE store_consumed_at IS NOT NULL";
    assert_eq!(shop.count(attempts).await, 1);
}

#[tokio::test]
async fn an_app_store_consumable_is_finished_at_apple_after_ours() {
    let shop = crate::shop::shop().await;
    consume_at_store(&shop, "AS").await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let seq = buy_and_consume(&shop, "user-1", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    store_consume_attempts(&shop, 1).await;

    assert!(shop.fakes.apple.finished_at(&bought.transaction_id).is_some());
    assert_eq!(
        history_details(&shop, &seq).await,
        [("STORE_CONSUME".into(), Some("finished at the App Store".into()))]
    );
}
