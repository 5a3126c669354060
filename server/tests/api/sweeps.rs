//! Reconciliation sweeps against the store fakes: what no notification reported is found, applied
//! once, reported, and told to the app's server.
use model::{RefundReport, Role, Store};
use serde_json::json;
use server::{
    demo,
    fakes::{
        apple::{self, Environment},
        faults::FaultKind,
        google::Change,
        Notifies,
    },
    store_apps,
    sweeps::{self, Found},
};

use crate::shop::{shop, Shop};

async fn app_id(shop: &Shop, store: Store) -> i64 {
    store_apps::find(&shop.app.db, &shop.app.state.cipher, store, demo::PACKAGE).await.unwrap().unwrap().id
}

async fn events(shop: &Shop, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_google_void_no_notification_reported_is_found_reported_and_announced_once() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let gem = shop.google_gem().await;
    let paid = shop.verify("ivy", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    shop.server("/v1/service/consume", json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}))
        .await
        .ok();
    assert!(shop.fakes.google.void(&gem.purchase_token, 0, 7).await);
    let google = app_id(&shop, Store::Google).await;

    let first = sweeps::sweep_app(&shop.app.state, google).await.unwrap();
    let again = sweeps::sweep_app(&shop.app.state, google).await.unwrap();
    let report: RefundReport = viewer.get_fn("/api/refunds?query[missed_only]=true").await.unwrap();

    assert_eq!(first.missed_refunds, 1);
    assert_eq!(again.missed_refunds, 0, "a second pass changes nothing");
    assert_eq!(report.refunds.len(), 1);
    let refund = &report.refunds[0];
    assert_eq!((refund.source.as_str(), refund.kind.as_str()), ("SWEEP", "VOID"));
    assert!(refund.missed_notification && refund.was_consumed);
    assert_eq!(events(&shop, "payment.refunded").await, 1);
    let payload: String =
        sqlx::query_scalar("SELECT payload FROM webhook_events WHERE event_type = 'payment.refunded'")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["data"]["alreadyConsumed"], true);
    assert_eq!(payload["data"]["refundSource"], "SWEEP");
}

#[tokio::test]
async fn google_payments_verified_while_the_orders_api_was_down_get_their_price_in_batches() {
    let shop = shop().await;
    shop.fakes.google.faults().inject("orders.get", FaultKind::Status(503), 3);
    let mut seqs = Vec::new();
    for user in ["ann", "ben", "cid"] {
        let gem = shop.google_gem().await;
        let paid = shop.verify(user, "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
        seqs.push(paid["paymentSeq"].as_str().unwrap().to_string());
    }
    let unpriced = "SELECT COUNT(*) FROM payments WHERE store = 'GG' AND (price_micros IS NULL OR price_is_list = 1)";
    assert_eq!(shop.count(unpriced).await, 3, "verified at the list price: the purchase is proven, its price is not");
    let google = app_id(&shop, Store::Google).await;

    let first = sweeps::sweep_app(&shop.app.state, google).await.unwrap();

    assert_eq!(first.prices_found, 3);
    assert_eq!(shop.count(unpriced).await, 0);
    assert_eq!(shop.fakes.google.faults().requests("orders.batchget"), 1, "one call for the batch");
    let priced: (i64, String) = sqlx::query_as("SELECT price_micros, currency FROM payments WHERE payment_seq = $1")
        .bind(&seqs[0])
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(priced, (1_200_000_000, "KRW".to_string()));
    // Google refuses a whole batch for one order it does not know: the batch is read one by one.
    sqlx::query("UPDATE payments SET price_micros = NULL WHERE store = 'GG'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    shop.fakes.google.faults().inject("orders.batchget", FaultKind::Status(404), 1);
    let again = sweeps::sweep_app(&shop.app.state, google).await.unwrap();
    assert_eq!(again.prices_found, 3);
    assert_eq!(shop.count(unpriced).await, 0);
}

#[tokio::test]
async fn a_sweep_cut_short_resumes_where_it_stopped_and_repeats_nothing() {
    let shop = shop().await;
    for i in 0..150 {
        let gem = shop.google_gem().await;
        shop.verify(&format!("u{i}"), "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
        assert!(shop.fakes.google.void(&gem.purchase_token, 0, 1).await);
    }
    let google = app_id(&shop, Store::Google).await;
    // The first page is read, then the store fails the request for the second.
    shop.fakes.google.faults().inject_after("voided", FaultKind::Status(500), 1, 1);

    let cut = sweeps::sweep_app(&shop.app.state, google).await;
    let after_cut = shop.count("SELECT COUNT(*) FROM refunds").await;
    let resumed = sweeps::sweep_app(&shop.app.state, google).await.unwrap();

    assert!(cut.is_err());
    assert_eq!(after_cut, 100, "the first page was applied before the store failed");
    assert_eq!(resumed.missed_refunds, 50, "the second pass starts at the second page");
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds").await, 150);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'REFUND'").await, 150);
    assert_eq!(events(&shop, "payment.refunded").await, 150);
    assert_eq!(shop.count("SELECT COUNT(*) FROM sweep_cursors WHERE cursor IS NOT NULL").await, 0);
}

#[tokio::test]
async fn an_apple_refund_no_notification_reported_is_found_in_the_refund_history() {
    let shop = shop().await;
    let new = apple::NewPurchase {
        environment: Environment::Production,
        ..apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")
    };
    let bought = shop.fakes.apple.add_purchase(new).await;
    shop.verify("jon", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    assert!(shop.fakes.apple.refund(&bought.transaction_id).await);
    let apple = app_id(&shop, Store::Apple).await;

    let found = sweeps::sweep_app(&shop.app.state, apple).await.unwrap();

    assert_eq!(found.missed_refunds, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE source = 'SWEEP' AND missed_notification = 1").await, 1);
}

#[tokio::test]
async fn the_apple_refund_sweep_asks_once_per_customer_keeps_apples_revision_and_waits_when_throttled() {
    let shop = shop().await;
    let mut bought = Vec::new();
    for (customer, user) in [("customer-a", "ann"), ("customer-a", "ann"), ("customer-a", "ann"), ("customer-b", "bob")]
    {
        let new = apple::NewPurchase {
            environment: Environment::Production,
            customer,
            ..apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")
        };
        let purchase = shop.fakes.apple.add_purchase(new).await;
        shop.verify(user, "AS", json!({"signedTransaction": purchase.signed_transaction})).await;
        bought.push(purchase);
    }
    let apple = app_id(&shop, Store::Apple).await;
    let asked = || shop.fakes.apple.faults().requests("refunds");
    assert!(shop.fakes.apple.refund(&bought[0].transaction_id).await);

    let first = sweeps::sweep_app(&shop.app.state, apple).await.unwrap();
    let calls_first = asked();
    assert!(shop.fakes.apple.refund(&bought[1].transaction_id).await);
    shop.fakes.apple.faults().inject("refunds", FaultKind::Status(429), 1);
    let second = sweeps::sweep_app(&shop.app.state, apple).await.unwrap();

    assert_eq!((first.missed_refunds, first.checked), (1, 1));
    assert_eq!(calls_first, 2, "one call per customer, not one per purchase");
    assert_eq!(second.missed_refunds, 1, "found after Apple's throttled answer was waited out");
    assert_eq!(second.checked, 1, "the kept revision gives only the refund made since");
    assert_eq!(asked() - calls_first, 3, "the throttled call, then one per customer");
    assert_eq!(shop.count("SELECT COUNT(*) FROM apple_refund_customers WHERE revision IS NOT NULL").await, 2);
}

#[tokio::test]
async fn a_renewal_no_notification_reported_is_recorded_by_the_expiry_check() {
    let shop = shop().await;
    let sub = shop.google_subscription("premium_monthly", 1).await;
    shop.verify("kai", "GG", json!({"productId": "premium_monthly", "purchaseToken": sub.purchase_token})).await;
    shop.fakes.google.change_subscription(&sub.purchase_token, Change::Renew).await;
    let google = app_id(&shop, Store::Google).await;

    let found = sweeps::sweep_app(&shop.app.state, google).await.unwrap();
    let again = sweeps::sweep_app(&shop.app.state, google).await.unwrap();

    assert_eq!(found.subscription_changes, 1);
    assert_eq!(again, Found { checked: again.checked, ..Found::default() });
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE user_id = 'kai' AND status = 'SUCCESS'").await, 2);
    assert_eq!(events(&shop, "subscription.renewed").await, 1);
}

#[tokio::test]
async fn an_app_another_instance_is_sweeping_is_left_to_it() {
    let shop = shop().await;
    let gem = shop.google_gem().await;
    shop.verify("lou", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    shop.fakes.google.void(&gem.purchase_token, 0, 1).await;
    let google = app_id(&shop, Store::Google).await;
    sqlx::query("INSERT INTO job_leases (job, holder, leased_until) VALUES ($1, 'another-instance', $2)")
        .bind(format!("sweep:{google}"))
        .bind(server::now_ms() + 60_000)
        .execute(shop.app.db.pool())
        .await
        .unwrap();

    let while_held = sweeps::sweep_app(&shop.app.state, google).await.unwrap();
    sqlx::query("UPDATE job_leases SET leased_until = 0").execute(shop.app.db.pool()).await.unwrap();
    let after_expiry = sweeps::sweep_app(&shop.app.state, google).await.unwrap();

    assert_eq!(while_held, Found::default());
    assert_eq!(after_expiry.missed_refunds, 1, "an expired lease is taken over");
}

#[tokio::test]
async fn a_cancellation_no_notification_reported_is_recorded_and_announced() {
    let shop = shop().await;
    let sub = shop.google_subscription("premium_monthly", 1).await;
    shop.verify("mia", "GG", json!({"productId": "premium_monthly", "purchaseToken": sub.purchase_token})).await;
    shop.fakes.google.change_subscription(&sub.purchase_token, Change::Cancel).await;
    let google = app_id(&shop, Store::Google).await;

    let found = sweeps::sweep_app(&shop.app.state, google).await.unwrap();

    assert_eq!(found.subscription_changes, 1, "{found:?}");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE subscription_state = 'CANCELED'").await, 1);
    assert_eq!(events(&shop, "subscription.cancelled").await, 1);
}

/// Sets the Google app's own sweep interval, as its settings form does.
async fn set_google_interval(shop: &Shop, secs: i64) {
    let google = app_id(shop, Store::Google).await;
    let settings: String = sqlx::query_scalar("SELECT settings FROM store_apps WHERE id = $1")
        .bind(google)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let mut settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    settings["sweepIntervalSecs"] = json!(secs);
    sqlx::query("UPDATE store_apps SET settings = $1 WHERE id = $2")
        .bind(settings.to_string())
        .bind(google)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
}

async fn voided_gem(shop: &Shop) {
    let gem = shop.google_gem().await;
    shop.verify("nat", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    assert!(shop.fakes.google.void(&gem.purchase_token, 0, 1).await);
}

#[tokio::test]
async fn each_app_is_swept_on_its_own_schedule() {
    let shop = shop().await;
    let state = &shop.app.state;

    set_google_interval(&shop, 0).await;
    voided_gem(&shop).await;
    sweeps::run_once(state).await.unwrap();
    let while_off = shop.count("SELECT COUNT(*) FROM refunds").await;
    set_google_interval(&shop, 3600).await;
    sweeps::run_once(state).await.unwrap();
    let when_due = shop.count("SELECT COUNT(*) FROM refunds").await;
    voided_gem(&shop).await;
    sweeps::run_once(state).await.unwrap();
    let before_the_next_hour = shop.count("SELECT COUNT(*) FROM refunds").await;

    assert_eq!((while_off, when_due, before_the_next_hour), (0, 1, 1));
}

#[tokio::test]
async fn an_app_store_notification_apple_could_not_deliver_is_recovered_from_its_history_and_applied_once() {
    let shop = shop().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let paid = shop.verify("lea", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    // Apple sends the refund while our server cannot be reached.
    shop.fakes.apple.set_notify_url(Some("http://127.0.0.1:9/unreachable".into()));
    assert!(shop.fakes.apple.refund(&bought.transaction_id).await);
    let apple = app_id(&shop, Store::Apple).await;

    let found = sweeps::sweep_app(&shop.app.state, apple).await.unwrap();
    shop.inbox_settled().await;
    let again = sweeps::sweep_app(&shop.app.state, apple).await.unwrap();

    assert_eq!(found.recovered_notifications, 1);
    assert_eq!(again.recovered_notifications, 0, "stored once, however often the history lists it");
    let processed =
        "SELECT COUNT(*) FROM store_notifications WHERE notification_type = 'REFUND' AND status = 'PROCESSED'";
    assert_eq!(shop.count(processed).await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM store_notifications WHERE recovered_at IS NOT NULL").await, 1);
    let lookup = shop.server("/v1/service/payment", json!({"accessToken": paid["accessToken"]})).await;
    assert_eq!(lookup.ok()["status"], "REFUND");
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds").await, 1);
}

#[tokio::test]
async fn a_one_store_refund_no_notification_reported_is_found_by_asking_about_recent_purchases() {
    let shop = shop().await;
    let token = shop.onestore_gem();
    shop.verify("kim", "ONESTORE", json!({"productId": "gem_100", "purchaseToken": token})).await;
    assert!(shop.fakes.onestore.refund(&token));
    let onestore = app_id(&shop, Store::OneStore).await;

    let found = sweeps::sweep_app(&shop.app.state, onestore).await.unwrap();
    let again = sweeps::sweep_app(&shop.app.state, onestore).await.unwrap();

    assert_eq!((found.missed_refunds, found.checked), (1, 1));
    assert_eq!(again.missed_refunds, 0, "a refund is found once");
    assert_eq!(shop.count("SELECT COUNT(*) FROM refunds WHERE source = 'SWEEP' AND missed_notification = 1").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'REFUND'").await, 1);
}
