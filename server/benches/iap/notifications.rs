//! Store notifications in a burst: Google pushes at the callback of the server process, half
//! genuine (Pub/Sub pushes signed as the Google fake signs them, about purchases the server has
//! recorded, ten per purchase) and half forged (no token). The callback only checks and stores, so
//! the figures are its latency under the burst, how fast the background worker then works the
//! genuine ones off, and how many Play look-ups they cost per purchase.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use server::{
    demo,
    fakes::{
        google::{FakeGoogle, NewProduct},
        Fakes,
    },
};

use crate::{Engine, Report};
use testing::{load, process::ServerProcess, Scratch};

/// One push of the burst: its body, and whether it carries Google's token.
struct Push {
    body: Value,
    genuine: bool,
}

pub async fn run(report: &mut Report, engine: Engine, quick: bool) {
    let section = format!("notifications burst ({})", engine.label());
    let (total, purchases, concurrency) = if quick { (2_000, 100, 64) } else { (10_000, 500, 64) };
    let fakes = Fakes::new();
    let stores = server::fakes::serve(fakes.router(), 0).await.expect("the fakes listen");
    let scratch = Scratch::new("bench_notifications", engine.postgres_url());
    let services = scratch.services().await;
    demo::seed(&services.db, &services.cipher).await.expect("demo");
    demo::connect_fakes(&services, &fakes, &stores).await.expect("store apps point at the fakes");
    let keys = demo::push_keys_url(&stores);
    let server = ServerProcess::start_with(&scratch, &[("IAP_STORES__GOOGLE_PUSH_KEYS_URL", &keys)]);

    let mut tokens = Vec::new();
    for _ in 0..purchases {
        let new = NewProduct { package: demo::PACKAGE, product_id: "gem_100", ..NewProduct::default() };
        tokens.push(fakes.google.add_product(new).await.purchase_token);
    }
    let http = reqwest::Client::new();
    let verify_url = format!("{}/v1/sdk/verify", server.base);
    let verified = load::closed_loop(16, tokens.clone(), {
        let http = http.clone();
        move |token: Arc<String>| {
            let request = http.post(&verify_url).header("x-nhn-tciap-appkey", demo::APP_KEY).json(&json!({
                "userId": format!("bench-{}", &token[..12]),
                "storeCode": "GG",
                "productId": "gem_100",
                "purchaseToken": *token,
            }));
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        }
    })
    .await;
    assert_eq!(verified.failed, 0, "every purchase verifies");

    let pushes: Vec<Push> = (0..total)
        .map(|i| {
            let token = &tokens[(i / 2) % purchases];
            let notification = json!({"oneTimeProductNotification": {
                "version": "1.0", "notificationType": 1, "purchaseToken": token, "sku": "gem_100"}});
            Push {
                body: FakeGoogle::push_body(demo::PACKAGE, &format!("bench-{i}"), &notification),
                genuine: i % 2 == 0,
            }
        })
        .collect();
    let bearer = format!("Bearer {}", FakeGoogle::push_token(demo::PUSH_AUDIENCE));
    let callback = format!("{}/callback/subscription/{}/GG", server.base, demo::PACKAGE);
    let look_ups_before = fakes.google.faults().requests("products.get");
    let started = Instant::now();
    let burst = load::closed_loop(concurrency, pushes, move |push: Arc<Push>| {
        let mut request = http.post(&callback).json(&push.body);
        if push.genuine {
            request = request.header("authorization", &bearer);
        }
        let expected = if push.genuine { 200 } else { 401 };
        async move { request.send().await.is_ok_and(|r| r.status().as_u16() == expected) }
    })
    .await;
    assert_eq!(burst.failed, 0, "genuine pushes are stored, forged ones refused");

    let waiting = "SELECT COUNT(*) FROM store_notifications WHERE status = 'RECEIVED'";
    while sqlx::query_scalar::<_, i64>(waiting).fetch_one(services.db.pool()).await.expect("a count") > 0 {
        assert!(started.elapsed() < Duration::from_secs(600), "the inbox drains within ten minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM store_notifications")
        .fetch_one(services.db.pool())
        .await
        .expect("a count");
    assert_eq!(stored, (total / 2) as i64, "every genuine push stored once, no forged one");
    let look_ups = fakes.google.faults().requests("products.get") - look_ups_before;

    report.add(
        &section,
        &format!("callback, c={concurrency}, {total} pushes half forged"),
        burst.per_second(),
        "req/s",
        None,
    );
    report.add(&section, &format!("callback p50, c={concurrency}"), burst.quantile_ms(0.5), "ms", None);
    report.add(&section, &format!("callback p99, c={concurrency}"), burst.quantile_ms(0.99), "ms", None);
    report.add(
        &section,
        "genuine notifications worked off, burst start to empty inbox",
        stored as f64 / drained.as_secs_f64(),
        "per s",
        None,
    );
    report.add(&section, "Play look-ups per purchase (10 pushes each)", look_ups as f64 / purchases as f64, "", None);
}
