//! The reference client, in-process and as `server client`, against the server and the fakes.
use server::{
    demo,
    reference_client::{fill_history, Client, ConsumeBy, Target},
};

use crate::shop::{shop, Shop};

fn target(shop: &Shop, stores: &str) -> Target {
    Target {
        api: shop.app.base.clone(),
        stores: stores.to_string(),
        app_key: demo::APP_KEY.into(),
        secret_key: demo::SECRET_KEY.into(),
        package: demo::PACKAGE.into(),
        verbose: false,
    }
}

#[tokio::test]
async fn the_client_buys_in_every_store_and_fills_a_realistic_history() {
    let shop = shop().await;
    let stores = server::fakes::serve(shop.fakes.router(), 0).await.unwrap();
    demo::notify_server(&shop.fakes, &shop.app.base);
    let client = Client::new(target(&shop, &stores));

    for store in ["GG", "AS", "ONESTORE"] {
        let payment = client.buy("player", store, "gem_100", ConsumeBy::Server).await.unwrap();
        assert_eq!(payment["status"], "SUCCESS", "{store}");
    }
    let subscription = client.buy("player", "AS", "gem_pass_weekly", ConsumeBy::None).await.unwrap();
    let made = fill_history(&client, 60).await.unwrap();
    shop.inbox_settled().await;

    assert_eq!(subscription["productType"], "CONSUMABLE_AUTO_RENEWABLE");
    assert_eq!(made, 60);
    assert!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS' AND consumed = 1").await > 30);
    assert!(shop.count("SELECT COUNT(*) FROM refunds").await >= 3, "refunds reach the server as notifications");
    assert!(shop.count("SELECT COUNT(*) FROM payments WHERE store_initiated = 1").await >= 1);
    assert_eq!(shop.count("SELECT COUNT(DISTINCT store) FROM payments").await, 3);
}

#[tokio::test]
async fn server_client_prints_each_request_and_the_payment() {
    let shop = shop().await;
    let stores = server::fakes::serve(shop.fakes.router(), 0).await.unwrap();
    let api = shop.app.base.clone();
    shop.set_policy(server::payments::binding::UserBinding::Required, true).await;

    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["client", "--api", &api, "--stores", &stores, "buy", "--user", "cli-user", "--store", "GG"])
            .args(["--product", "gem_100", "--consume", "app"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for step in [
        "POST /v1/sdk/products",
        "POST /v1/sdk/reserve",
        "POST /google/fake/products",
        "POST /v1/sdk/verify",
        "POST /v1/sdk/consume",
    ] {
        assert!(stdout.contains(step), "{step} missing from:\n{stdout}");
    }
    assert!(shop.unconsumed("cli-user").await.is_empty(), "bought and consumed");
}
