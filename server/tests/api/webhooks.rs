//! Signed outbound webhooks: the outbox, retries, dead letters, replays, several instances.
use std::time::Duration;

use model::{ProjectDetail, Role, WebhookSecret, Webhooks};
use serde_json::json;
use server::{demo, webhooks::signing};

use crate::{
    helpers::TestApp,
    receiver::{receiver, Received},
    shop::{shop_with, Shop},
};

async fn project_id(app: &TestApp) -> i64 {
    server::projects::find_id_by_name(&app.db, demo::PROJECT_NAME).await.unwrap().unwrap()
}

/// An endpoint for every event type, added by an admin; returns its signing secret.
async fn endpoint(shop: &Shop, url: &str) -> String {
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = project_id(&shop.app).await.to_string();
    let created: WebhookSecret = admin
        .submit("/api/webhooks/create", &[("project", &project), ("url", url), ("event_types", "*")])
        .await
        .unwrap();
    created.secret
}

async fn buy_gem(shop: &Shop, user: &str) -> serde_json::Value {
    let gem = shop.google_gem().await;
    shop.verify(user, "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await
}

/// Runs delivery passes until `done` holds (or fails the test after a few seconds).
async fn deliver_until(app: &TestApp, done: impl Fn() -> bool) {
    for _ in 0..100 {
        server::webhooks::delivery::run_due(&app.state).await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries did not reach the expected state");
}

async fn delivery_state(shop: &Shop) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, attempts FROM webhook_deliveries ORDER BY id")
        .fetch_all(shop.app.db.pool())
        .await
        .unwrap()
}

fn fast_retries(delays: usize) -> impl FnOnce(&mut server::config::Settings) {
    move |s| s.webhooks.retry_delays_ms = vec![0; delays]
}

#[tokio::test]
async fn a_verified_purchase_reaches_the_app_server_as_a_signed_event_and_so_does_its_consume() {
    let shop = shop_with(|_| {}).await;
    let hooks = receiver().await;
    let secret = endpoint(&shop, &hooks.url).await;

    let paid = buy_gem(&shop, "wen").await;
    shop.server("/v1/service/consume", json!({"paymentSeq": paid["paymentSeq"], "accessToken": paid["accessToken"]}))
        .await
        .ok();
    deliver_until(&shop.app, || hooks.received().len() == 2).await;

    // Deliveries run concurrently, so they arrive in any order: `userSeq` orders a user's events.
    let mut received = hooks.received();
    received.sort_by_key(|r| r.json()["userSeq"].as_i64());
    let now = server::now_ms() / 1000;
    for event in &received {
        let (id, timestamp, signature) =
            (event.header("webhook-id"), event.header("webhook-timestamp"), event.header("webhook-signature"));
        assert!(signing::verify(&secret, id, timestamp, &event.body, signature, now), "signature of {id}");
        assert!(!signing::verify("whsec_d3Jvbmcgc2VjcmV0IGtleQ==", id, timestamp, &event.body, signature, now));
        assert_eq!(event.json()["id"], id);
    }
    let (first, second) = (received[0].json(), received[1].json());
    assert_eq!(
        (first["type"].as_str(), second["type"].as_str()),
        (Some("payment.succeeded"), Some("payment.consumed"))
    );
    assert_eq!((first["userSeq"].as_i64(), second["userSeq"].as_i64()), (Some(1), Some(2)));
    assert_eq!(first["version"], 1);
    assert_eq!(first["userId"], "wen");
    assert_eq!(first["data"]["paymentSeq"], paid["paymentSeq"]);
    assert_eq!(second["data"]["consumed"], true);
    assert_eq!(delivery_state(&shop).await, [("DELIVERED".to_string(), 1), ("DELIVERED".to_string(), 1)]);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_until_it_answers_2xx() {
    let shop = shop_with(fast_retries(3)).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    hooks.answer_with(&[500, 503]);

    buy_gem(&shop, "xia").await;
    deliver_until(&shop.app, || hooks.received().len() == 3).await;

    assert_eq!(delivery_state(&shop).await, [("DELIVERED".to_string(), 3)]);
    let codes: Vec<Option<i64>> = sqlx::query_scalar("SELECT status_code FROM webhook_attempts ORDER BY id")
        .fetch_all(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(codes, [Some(500), Some(503), Some(200)]);
    let ids: Vec<String> = hooks.received().iter().map(|r| r.header("webhook-id").to_string()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "every attempt carries the same webhook-id");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_2xx_gets_a_dead_letter_that_can_be_replayed() {
    let shop = shop_with(fast_retries(2)).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    hooks.answer_with(&[500, 500, 500]);
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let project = project_id(&shop.app).await;

    buy_gem(&shop, "yan").await;
    deliver_until(&shop.app, || hooks.received().len() == 3).await;
    let after_retries = delivery_state(&shop).await;
    let page: Webhooks = viewer.get_fn::<ProjectDetail>(&format!("/api/project?id={project}")).await.unwrap().webhooks;
    let event_id = page.dead_letters[0].event_id.clone();
    let replayed = shop.server("/v1/service/webhooks/replay", json!({"eventId": event_id})).await;
    deliver_until(&shop.app, || hooks.received().len() == 4).await;

    assert_eq!(after_retries, [("DEAD".to_string(), 3)]);
    assert_eq!(page.endpoints[0].dead, 1);
    assert_eq!(page.dead_letters[0].status, "DEAD");
    assert_eq!(page.dead_letters[0].next_attempt_at, None, "a dead letter waits for no further attempt");
    assert_eq!(page.dead_letters[0].attempts, 3);
    assert_eq!(replayed.ok()["scheduled"], 1);
    assert_eq!(delivery_state(&shop).await, [("DELIVERED".to_string(), 1)]);
    assert_eq!(hooks.received()[3].header("webhook-id"), event_id);
}

#[tokio::test]
async fn replays_by_user_and_by_time_range_send_the_same_events_again() {
    let shop = shop_with(|_| {}).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let project = project_id(&shop.app).await.to_string();
    buy_gem(&shop, "zed").await;
    buy_gem(&shop, "amy").await;
    deliver_until(&shop.app, || hooks.received().len() == 2).await;

    let by_user: usize = support
        .submit("/api/webhooks/replay", &[("replay[project]", &project), ("replay[user_id]", "zed")])
        .await
        .unwrap();
    deliver_until(&shop.app, || hooks.received().len() == 3).await;
    let today = model::format::utc(server::now_ms())[..10].to_string();
    let by_range: usize = support
        .submit(
            "/api/webhooks/replay",
            &[("replay[project]", &project), ("replay[from]", &today), ("replay[to]", &today)],
        )
        .await
        .unwrap();
    deliver_until(&shop.app, || hooks.received().len() == 5).await;
    let by_viewer = viewer
        .submit::<usize>("/api/webhooks/replay", &[("replay[project]", &project), ("replay[user_id]", "zed")])
        .await;

    assert_eq!((by_user, by_range), (1, 2));
    let received = hooks.received();
    let zed_first = received[..2].iter().find(|r| r.json()["userId"] == "zed").unwrap();
    assert_eq!(received[2].json()["userId"], "zed");
    assert_eq!(received[2].header("webhook-id"), zed_first.header("webhook-id"));
    assert_eq!(by_viewer, Err(app::AppError::Forbidden));
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action = 'webhook.replay'").await, 2);
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let shop = shop_with(|_| {}).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    let other = shop.app.second_instance().await;
    for i in 0..20 {
        buy_gem(&shop, &format!("pair-{i}")).await;
    }

    tokio::join!(
        async {
            for _ in 0..20 {
                server::webhooks::delivery::run_due(&shop.app.state).await.unwrap();
            }
        },
        async {
            for _ in 0..20 {
                server::webhooks::delivery::run_due(&other.state).await.unwrap();
            }
        },
    );
    deliver_until(&shop.app, || hooks.received().len() >= 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut ids: Vec<String> = hooks.received().iter().map(|r| r.header("webhook-id").to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(hooks.received().len(), 20, "each event delivered once");
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn a_refund_tells_whether_the_item_was_consumed_and_too_many_refunds_flag_the_user() {
    let shop = shop_with(|s| s.abuse.max_refunds = 1).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let first = buy_gem(&shop, "bob").await;
    let second = buy_gem(&shop, "bob").await;
    shop.server("/v1/service/consume", json!({"paymentSeq": first["paymentSeq"], "accessToken": first["accessToken"]}))
        .await
        .ok();

    for paid in [&first, &second] {
        let seq = paid["paymentSeq"].as_str().unwrap();
        support
            .submit::<()>("/api/payment/status", &[("payment_seq", seq), ("to", "REFUND"), ("reason", "r")])
            .await
            .unwrap();
    }
    deliver_until(&shop.app, || hooks.received().len() == 6).await;

    let events: Vec<serde_json::Value> = hooks.received().iter().map(Received::json).collect();
    let refund_of = |paid: &serde_json::Value| {
        events
            .iter()
            .find(|e| e["type"] == "payment.refunded" && e["data"]["paymentSeq"] == paid["paymentSeq"])
            .unwrap()
    };
    assert_eq!(events.iter().filter(|e| e["type"] == "payment.refunded").count(), 2);
    assert_eq!(refund_of(&first)["data"]["alreadyConsumed"], true);
    assert_eq!(refund_of(&second)["data"]["alreadyConsumed"], false);
    assert_eq!(refund_of(&first)["data"]["refundSource"], "MANUAL");
    let flagged: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "abuse.flagged").collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["data"]["rule"], "REFUND_COUNT");
    let report: model::RefundReport = support.get_fn("/api/refunds").await.unwrap();
    assert_eq!(report.flags.len(), 1);
    assert_eq!(report.flags[0].user_id, "bob");
}

#[tokio::test]
async fn a_receipt_presented_by_a_second_user_flags_that_user() {
    let shop = shop_with(|_| {}).await;
    let hooks = receiver().await;
    endpoint(&shop, &hooks.url).await;
    let gem = shop.google_gem().await;
    let body = |user: &str| json!({"userId": user, "storeCode": "GG", "productId": "gem_100", "purchaseToken": gem.purchase_token});

    shop.sdk("/v1/sdk/verify", body("owner")).await.ok();
    // The borrower's own session: the app's server vouches that this is the borrower.
    let second = shop.sdk_as("borrower", "/v1/sdk/verify", body("borrower")).await;
    deliver_until(&shop.app, || hooks.received().len() == 2).await;

    assert_ne!(second.code(), 0);
    let flagged = hooks.received().into_iter().map(|r| r.json()).find(|e| e["type"] == "abuse.flagged").unwrap();
    assert_eq!(flagged["userId"], "borrower");
    assert_eq!(flagged["data"]["rule"], "SHARED_RECEIPT");
}

#[tokio::test]
async fn during_a_secret_rotation_deliveries_are_signed_with_both_secrets() {
    let shop = shop_with(|_| {}).await;
    let hooks = receiver().await;
    let old = endpoint(&shop, &hooks.url).await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let endpoint_id: i64 =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(shop.app.db.pool()).await.unwrap();
    let rotated: WebhookSecret = admin
        .submit("/api/webhooks/rotate", &[("endpoint", &endpoint_id.to_string()), ("grace_hours", "24")])
        .await
        .unwrap();

    buy_gem(&shop, "cy").await;
    deliver_until(&shop.app, || hooks.received().len() == 1).await;

    let event = &hooks.received()[0];
    let (id, ts, signature) =
        (event.header("webhook-id"), event.header("webhook-timestamp"), event.header("webhook-signature"));
    let now = server::now_ms() / 1000;
    assert_eq!(signature.split(' ').count(), 2);
    assert!(signing::verify(&rotated.secret, id, ts, &event.body, signature, now));
    assert!(signing::verify(&old, id, ts, &event.body, signature, now));
}
