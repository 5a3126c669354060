//! Sales statistics: per month and per day, per store and currency, test purchases apart.
use model::{Role, Statistics};
use serde_json::json;
use server::fakes::apple::{self, Environment};

use crate::shop::shop;

#[tokio::test]
async fn sales_and_refunds_add_up_per_store_and_currency_and_test_purchases_stay_out_by_default() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let mut seqs = Vec::new();
    for user in ["a", "b", "c"] {
        let new = apple::NewPurchase {
            environment: Environment::Production,
            ..apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100")
        };
        let bought = shop.fakes.apple.add_purchase(new).await;
        let paid = shop.verify(user, "AS", json!({"signedTransaction": bought.signed_transaction})).await;
        seqs.push(paid["paymentSeq"].as_str().unwrap().to_string());
    }
    let gem = shop.google_gem().await;
    shop.verify("g", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    let sandbox = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100")).await;
    shop.verify("d", "AS", json!({"signedTransaction": sandbox.signed_transaction})).await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let csrf = support.csrf().await;
    support
        .post_fn::<()>(
            "/api/payment/status",
            &[("_csrf", &csrf), ("payment_seq", &seqs[0]), ("to", "REFUND"), ("reason", "r")],
        )
        .await
        .unwrap();

    let stats: Statistics = viewer.get_fn("/api/statistics").await.unwrap();
    let with_test: Statistics = viewer.get_fn("/api/statistics?query[include_test]=true").await.unwrap();
    let other_month: Statistics = viewer.get_fn("/api/statistics?query[month]=2020-01").await.unwrap();
    let bad = viewer.get_fn::<Statistics>("/api/statistics?query[month]=soon").await;

    let apple: Vec<_> = stats.months.iter().filter(|m| m.store == "AS").collect();
    assert_eq!(apple.len(), 1, "{:?}", stats.months);
    assert_eq!((apple[0].currency.as_str(), apple[0].payments, apple[0].refunds), ("USD", 3, 1));
    assert!((apple[0].amount - 5.97).abs() < 1e-6, "{}", apple[0].amount);
    assert!((apple[0].refunded_amount - 1.99).abs() < 1e-6);
    let with_sandbox = with_test.months.iter().find(|m| m.store == "AS").unwrap();
    assert_eq!(with_sandbox.payments, 4, "the sandbox purchase counts only when test purchases are asked for");
    assert!(stats.months.iter().any(|m| m.store == "GG" && m.payments == 1), "Google gives no price, still counted");
    assert_eq!(stats.days.iter().map(|d| d.payments).sum::<i64>(), 4);
    assert!(stats.days[0].period.starts_with(&stats.month));
    assert!(other_month.days.is_empty());
    assert!(matches!(bad, Err(app::AppError::Invalid(_))));
}

#[tokio::test]
async fn the_statistics_page_draws_a_bar_per_day_on_the_server() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    let gem = shop.google_gem().await;
    shop.verify("e", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;

    let html = shop.app.client.get(shop.app.url("/statistics")).send().await.unwrap().text().await.unwrap();

    assert!(html.contains("class=\"bars\""), "{html}");
    assert!(html.contains("class=\"sales\""));
    assert!(html.contains("Google Play"));
}
