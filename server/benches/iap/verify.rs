//! Verify end to end: the app's `/v1/sdk/verify` through the server process to the Google Play
//! fake, against the rate at which the fake answers the same store call made directly.
use std::sync::Arc;

use model::Store;
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{google::NewProduct, Fakes},
    store_apps,
    stores::client::StoreClient,
};

use crate::{Engine, Report};
use testing::{load, process::ServerProcess, Scratch};

pub async fn run(report: &mut Report, engine: Engine, quick: bool) {
    let section = format!("verify end to end ({})", engine.label());
    let (concurrency, count) = if quick { (16, 600) } else { (16, 3_000) };
    let fakes = Fakes::new();
    let stores = server::fakes::serve(fakes.router(), 0).await.expect("the fakes listen");
    let scratch = Scratch::new("bench_verify", engine.postgres_url());
    let services = scratch.services().await;
    demo::seed(&services.db, &services.cipher).await.expect("demo");
    demo::connect_fakes(&services, &fakes, &stores).await.expect("store apps point at the fakes");
    let server = ServerProcess::start(&scratch);

    let mut tokens = Vec::new();
    for _ in 0..count * 2 {
        let new = NewProduct { package: demo::PACKAGE, product_id: "gem_100", ..NewProduct::default() };
        tokens.push(fakes.google.add_product(new).await.purchase_token);
    }
    let direct_tokens = tokens.split_off(count);

    let record = store_apps::find(&services.db, &services.cipher, Store::Google, demo::PACKAGE)
        .await
        .expect("a store app")
        .expect("the demo's Google app");
    let StoreClient::Google(google) = record.client(&services.http).expect("a Google client") else {
        panic!("the demo's Google app has a Google client")
    };
    let google = Arc::new(google);
    let direct = load::closed_loop(concurrency, direct_tokens, move |token: Arc<String>| {
        let google = google.clone();
        async move { google.product("gem_100", &token).await.is_ok() }
    })
    .await;

    let http = reqwest::Client::new();
    let url = format!("{}/v1/sdk/verify", server.base);
    let ours = load::closed_loop(concurrency, tokens, move |token: Arc<String>| {
        let request = http.post(&url).header("x-nhn-tciap-appkey", demo::APP_KEY).json(&json!({
            "userId": format!("bench-{}", &token[..12]),
            "storeCode": "GG",
            "productId": "gem_100",
            "purchaseToken": *token,
        }));
        async move {
            match request.send().await {
                Ok(response) => response.json::<Value>().await.is_ok_and(|v| v["header"]["isSuccessful"] == true),
                Err(_) => false,
            }
        }
    })
    .await;
    assert_eq!(ours.failed, 0, "every purchase verifies");
    let ratio = ours.per_second() / direct.per_second();
    report.add(&section, &format!("c={concurrency} /v1/sdk/verify"), ours.per_second(), "req/s", None);
    report.add(&section, &format!("c={concurrency} p50"), ours.quantile_ms(0.5), "ms", None);
    report.add(&section, &format!("c={concurrency} p99"), ours.quantile_ms(0.99), "ms", None);
    report.add(&section, "fake, same store call direct", direct.per_second(), "req/s", None);
    report.add(&section, "ratio to the fake", ratio, "×", None);
}
