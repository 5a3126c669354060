use std::time::{Duration, Instant};

use serde_json::json;
use server::{
    demo,
    fakes::{faults::FaultKind, Notifies},
};

use testing::process::ServerProcess;

use crate::{figures, outcome};

/// A status and attempt count of the one notification in the inbox, if it is there.
async fn inbox_row(services: &server::services::Services) -> Option<(String, i64)> {
    sqlx::query_as("SELECT status, attempts FROM store_notifications ORDER BY id LIMIT 1")
        .fetch_optional(services.db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_stored_before_a_kill_9_is_processed_after_the_restart() {
    let crate::Shop { fakes, scratch, services, stores } = crate::shop("test_inbox_crash").await;
    let keys = demo::push_keys_url(&stores);
    let mut server = ServerProcess::start_with(
        &scratch,
        &[("IAP_STORES__GOOGLE_PUSH_KEYS_URL", keys.as_str()), ("IAP_NOTIFICATIONS__LEASE_SECS", "2")],
    );
    let gem = fakes.google.add_product(server::fakes::google::NewProduct {
        package: demo::PACKAGE,
        product_id: "gem_100",
        ..Default::default()
    });
    let gem = gem.await;
    let body = json!({"userId": "crash-victim", "storeCode": "GG", "productId": "gem_100", "purchaseToken": gem.purchase_token});
    let request = reqwest::Client::new()
        .post(format!("{}/v1/sdk/verify", server.base))
        .header("x-nhn-tciap-appkey", demo::APP_KEY)
        .json(&body)
        .send()
        .await;
    assert_eq!(outcome(request).await.map(|(code, _, _)| code), Some(0), "the gem is verified");
    fakes.google.set_notify_url(Some(format!("{}/callback/subscription/{}/GG", server.base, demo::PACKAGE)));
    // The worker's look-up at Google hangs: the process dies between storing and finishing.
    fakes.google.faults().inject("voided", FaultKind::Delay(Duration::from_secs(30)), 1);

    assert!(fakes.google.void(&gem.purchase_token, 0, 1).await, "Google voids the gem and pushes the RTDN");
    let started = Instant::now();
    while fakes.google.faults().requests("voided") == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the worker asks Google");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(inbox_row(&services).await, Some(("RECEIVED".into(), 0)), "stored and answered, not finished");
    server.kill9();
    let killed_at = Instant::now();
    server.restart();

    let row = loop {
        let row = inbox_row(&services).await;
        if row.as_ref().is_some_and(|(status, _)| status != "RECEIVED") {
            break row.unwrap();
        }
        assert!(killed_at.elapsed() < Duration::from_secs(30), "the row is taken again after its lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let recovered = killed_at.elapsed();

    assert_eq!(row, ("PROCESSED".into(), 1));
    let refunds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE kind = 'VOID'")
        .fetch_one(services.db.pool())
        .await
        .unwrap();
    assert_eq!(refunds, 1, "the void was applied once");
    figures(
        "kill -9 in the inbox",
        &format!("a void stored and answered, killed while asking Google; processed {recovered:.1?} after the kill (lease 2 s)"),
    );
}
