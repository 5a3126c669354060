use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use server::{
    demo,
    fakes::{faults::FaultKind, google::NewProduct},
};

use testing::{load, process::ServerProcess};

use crate::{figures, outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_store_gets_retryable_answers_and_every_purchase_is_verified_once_it_recovers() {
    let purchases = if crate::full() { 1_000 } else { 150 };
    let crate::Shop { fakes, scratch, services, .. } = crate::shop("test_flaky").await;
    let settings = [("IAP_STORES__TIMEOUT_SECS", "1"), ("IAP_JOBS__INTERVAL_SECS", "1")];
    let server = ServerProcess::start_with(&scratch, &settings);
    let faults = fakes.google.faults();
    let kinds = vec![
        FaultKind::Status(500),
        FaultKind::Status(503),
        FaultKind::Delay(Duration::from_millis(1_500)),
        FaultKind::MalformedBody,
    ];
    for route in faults.routes() {
        faults.make_flaky(route, 30, kinds.clone());
    }
    let mut tokens = Vec::new();
    for _ in 0..purchases {
        let new = NewProduct { package: demo::PACKAGE, product_id: "gem_100", ..NewProduct::default() };
        tokens.push(fakes.google.add_product(new).await.purchase_token);
    }

    let answers = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let (http, url, counted) = (reqwest::Client::new(), format!("{}/v1/sdk/verify", server.base), answers.clone());
    let verify = move |token: Arc<String>| {
        let call = http.post(&url).header("x-nhn-tciap-appkey", demo::APP_KEY).json(&json!({
            "userId": format!("flaky-{}", &token[..16]), "storeCode": "GG", "productId": "gem_100", "purchaseToken": *token,
        }));
        let counted = counted.clone();
        async move {
            let answer = match outcome(call.send().await).await {
                Some((code, status, _)) => format!("{code} (HTTP {status})"),
                None => "no envelope".into(),
            };
            *counted.lock().unwrap().entry(answer).or_default() += 1;
            true
        }
    };
    load::closed_loop(16, tokens.clone(), verify.clone()).await;
    let during = answers.lock().unwrap().clone();
    let retryable = during.get("4021 (HTTP 503)").copied().unwrap_or(0);
    let succeeded = during.get("0 (HTTP 200)").copied().unwrap_or(0);
    assert_eq!(succeeded + retryable, purchases, "only success or the retryable 4021: {during:?}");
    assert!(retryable > 0, "the faults were felt: {during:?}");

    // The store recovers; the background job verifies what was kept. The wait before a retry
    // (30 s, doubling) is cut short so the test need not sleep through it.
    faults.calm();
    let started = Instant::now();
    loop {
        sqlx::query("UPDATE payments SET next_verify_at = 0 WHERE next_verify_at IS NOT NULL")
            .execute(services.db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE payments SET next_ack_at = 0 WHERE next_ack_at IS NOT NULL")
            .execute(services.db.pool())
            .await
            .unwrap();
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE status <> 'SUCCESS' OR ack_state = 'PENDING'")
                .fetch_one(services.db.pool())
                .await
                .unwrap();
        if waiting == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{waiting} payments still wait for the store");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let recovered = started.elapsed();
    let payments: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payments").fetch_one(services.db.pool()).await.unwrap();
    assert_eq!(payments as u64, purchases, "one payment per purchase");

    // The app retrying now gets its payment.
    answers.lock().unwrap().clear();
    load::closed_loop(16, tokens, verify).await;
    let after = answers.lock().unwrap().clone();
    assert_eq!(after.get("0 (HTTP 200)").copied(), Some(purchases), "every purchase verified: {after:?}");
    figures(
        "flaky store",
        &format!(
            "{purchases} verifications with 30 % of Google calls failing (500, 503, 1.5 s delay past a 1 s timeout, \
             malformed body): answers {during:?}; 0 lost — all {purchases} SUCCESS and acknowledged {:.1} s after \
             the store recovered",
            recovered.as_secs_f64()
        ),
    );
}
