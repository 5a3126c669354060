//! Purchase search for support, through the console's server function and page.
use model::TransactionPage;
use serde_json::json;
use server::fakes::{apple, Notifies};

use crate::shop::{shop, Shop};

async fn search(shop: &Shop, query: &str) -> Result<TransactionPage, app::AppError> {
    shop.app.get_fn(&format!("/api/transactions?{query}")).await
}

async fn buy_gem(shop: &Shop, user: &str) -> serde_json::Value {
    let gem = shop.google_gem().await;
    shop.verify(user, "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await
}

#[tokio::test]
async fn an_apple_customers_app_transaction_finds_their_payments_under_every_user_id_they_played_as() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    let mut payments = Vec::new();
    for (customer, user) in [("ann", "ann-phone"), ("ann", "ann-tablet"), ("bob", "bob")] {
        let new = apple::NewPurchase { customer, ..apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100") };
        let bought = shop.fakes.apple.add_purchase(new).await;
        payments.push(shop.verify(user, "AS", json!({"signedTransaction": bought.signed_transaction})).await);
    }
    let ann = apple::app_transaction_id(server::demo::PACKAGE, "ann");

    let found = search(&shop, &format!("query[q]={ann}&query[include_test]=true")).await.unwrap();

    let mut users: Vec<&str> = found.rows.iter().map(|r| r.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["ann-phone", "ann-tablet"]);
    assert!(found.rows.iter().all(|r| r.matched.as_deref() == Some("Apple app transaction")));
    let seq = payments[0]["paymentSeq"].as_str().unwrap();
    let detail: model::PaymentDetail = shop.app.get_fn(&format!("/api/payment?payment_seq={seq}")).await.unwrap();
    assert_eq!(detail.app_transaction_id.as_deref(), Some(ann.as_str()));
}

#[tokio::test]
async fn any_identifier_finds_its_payment_and_says_what_it_matched() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    let payment = buy_gem(&shop, "sam").await;
    buy_gem(&shop, "sam").await;
    buy_gem(&shop, "tess").await;
    let token = payment["accessToken"].as_str().unwrap();
    let order = payment["paymentId"].as_str().unwrap();
    let seq = payment["paymentSeq"].as_str().unwrap();

    let by_user = search(&shop, "query[q]=sam").await.unwrap();
    let by_order = search(&shop, &format!("query[q]={order}")).await.unwrap();
    let by_token = search(&shop, &format!("query[q]={token}")).await.unwrap();
    let by_seq = search(&shop, &format!("query[q]={seq}")).await.unwrap();

    assert_eq!(by_user.rows.len(), 2);
    assert!(by_user.rows.iter().all(|r| r.matched.as_deref() == Some("user id")));
    assert_eq!(by_order.rows.len(), 1);
    assert_eq!(by_order.rows[0].matched.as_deref(), Some("store reference key"));
    assert_eq!(by_token.rows[0].payment_seq, seq);
    assert_eq!(by_token.rows[0].matched.as_deref(), Some("access token"));
    assert_eq!(by_seq.rows[0].matched.as_deref(), Some("paymentSeq"));
}

#[tokio::test]
async fn an_apple_order_id_from_a_receipt_email_finds_its_payment_through_the_store() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100")).await;
    let payment = shop.verify("yan", "AS", json!({"signedTransaction": bought.signed_transaction})).await;

    let found = search(&shop, &format!("query[q]={}&query[include_test]=true", bought.order_id)).await.unwrap();
    let unknown = search(&shop, "query[q]=MKNOSUCHORD&query[include_test]=true").await.unwrap();
    let other_store =
        search(&shop, &format!("query[q]={}&query[store]=GG&query[include_test]=true", bought.order_id)).await.unwrap();

    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].payment_seq, payment["paymentSeq"].as_str().unwrap());
    assert_eq!(found.rows[0].matched.as_deref(), Some("Apple order id"));
    assert!(unknown.rows.is_empty() && other_store.rows.is_empty());
}

#[tokio::test]
async fn filters_narrow_the_search_and_test_purchases_are_hidden_unless_asked_for() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    buy_gem(&shop, "uma").await;
    let sandbox = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100")).await;
    shop.verify("uma", "AS", json!({"signedTransaction": sandbox.signed_transaction})).await;

    let default = search(&shop, "query[q]=uma").await.unwrap();
    let with_test = search(&shop, "query[q]=uma&query[include_test]=true").await.unwrap();
    let apple_only = search(&shop, "query[store]=AS&query[include_test]=true").await.unwrap();
    let refunds = search(&shop, "query[status]=REFUND&query[include_test]=true").await.unwrap();
    let bad = search(&shop, "query[from]=yesterday").await.unwrap_err();

    assert_eq!(default.rows.len(), 1, "the sandbox purchase is a test purchase");
    assert_eq!(with_test.rows.len(), 2);
    assert_eq!(apple_only.rows.len(), 1);
    assert!(apple_only.rows[0].test);
    assert!(refunds.rows.is_empty());
    assert!(matches!(bad, app::AppError::Invalid(_)), "{bad:?}");
}

#[tokio::test]
async fn keyset_pages_cover_every_payment_once() {
    let shop = shop().await;
    shop.app.login_as_demo_admin().await;
    for n in 0..55 {
        buy_gem(&shop, &format!("p{n}")).await;
    }

    let first = search(&shop, "query[oldest_first]=false").await.unwrap();
    let second = search(&shop, &format!("query[after]={}", first.next.clone().unwrap())).await.unwrap();

    assert_eq!(first.rows.len(), 50);
    assert_eq!(second.rows.len(), 5);
    assert!(second.next.is_none());
    let mut seqs: Vec<_> = first.rows.iter().chain(&second.rows).map(|r| r.payment_seq.clone()).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 55);
}

#[tokio::test]
async fn the_search_needs_a_signed_in_user_and_the_page_renders_on_the_server() {
    let shop = shop().await;
    let payment = buy_gem(&shop, "vic").await;

    let anonymous = search(&shop, "query[q]=vic").await.unwrap_err();
    shop.app.login_as_demo_admin().await;
    let html = shop.app.client.get(shop.app.url("/transactions?q=vic")).send().await.unwrap().text().await.unwrap();

    assert_eq!(anonymous, app::AppError::Unauthenticated);
    assert!(html.contains(payment["paymentSeq"].as_str().unwrap()), "{html}");
    assert!(html.contains("matched user id"));
}

#[tokio::test]
async fn the_detail_shows_history_the_stores_answer_other_periods_and_the_users_other_payments() {
    let shop = shop().await;
    shop.fakes
        .google
        .set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", server::demo::PACKAGE))));
    let seq = shop.reserve("wes", "GG", "gem_pass_weekly").await;
    let pass = shop.google_subscription("gem_pass_weekly", 7).await;
    shop.verify(
        "wes",
        "GG",
        json!({"paymentSeq": seq, "productId": "gem_pass_weekly", "purchaseToken": pass.purchase_token}),
    )
    .await;
    shop.fakes.google.change_subscription(&pass.purchase_token, server::fakes::google::Change::Renew).await;
    let other = buy_gem(&shop, "wes").await;
    shop.server("/v1/service/consume", json!({"paymentSeq": other["paymentSeq"], "accessToken": other["accessToken"]}))
        .await
        .ok();
    shop.inbox_settled().await;
    shop.app.login_as_demo_admin().await;

    let detail: model::PaymentDetail = shop.app.get_fn(&format!("/api/payment?payment_seq={seq}")).await.unwrap();
    let missing = shop.app.get_fn::<model::PaymentDetail>("/api/payment?payment_seq=0").await.unwrap_err();
    let html =
        shop.app.client.get(shop.app.url(&format!("/payments/{seq}"))).send().await.unwrap().text().await.unwrap();

    // The purchase's own notification may be looked up after the verify and before the renewal,
    // which adds the store's word on the first period (`STORE_STATE`), or after the renewal, which
    // does not: both orders happen.
    let events: Vec<&str> =
        detail.history.iter().map(|h| h.event.as_str()).filter(|event| *event != "STORE_STATE").collect();
    assert_eq!(events, ["RESERVE", "VERIFY", "ACKNOWLEDGE"], "Google's acknowledgement follows the verify");
    assert_eq!(detail.history[1].source, "CLIENT");
    assert_eq!(detail.original_payment_id.as_deref(), Some(pass.order_id.as_str()));
    assert_eq!(detail.related.len(), 1, "the renewal");
    assert_eq!(detail.user_payments.len(), 2, "the renewal and the gem");
    assert!(detail.store_response.unwrap().contains("subscriptionState"));
    assert_eq!(missing, app::AppError::NotFound);
    assert!(html.contains(&seq) && html.contains("VERIFY"), "{html}");
}

#[tokio::test]
async fn the_search_exports_as_csv_for_signed_in_users_only() {
    let shop = shop().await;
    for user in ["xena", "xena", "yuri"] {
        buy_gem(&shop, user).await;
    }
    let url = shop.app.url("/export/transactions.csv?q=xena");

    let anonymous = shop.app.client.get(&url).send().await.unwrap();
    shop.app.login_as_demo_admin().await;
    let csv = shop.app.client.get(&url).send().await.unwrap();
    let content_type = csv.headers()["content-type"].to_str().unwrap().to_string();
    let text = csv.text().await.unwrap();

    assert!(anonymous.status().is_redirection());
    assert!(content_type.starts_with("text/csv"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("transaction_id,project,store,user_id"));
    assert!(lines[1..].iter().all(|l| l.contains(",xena,")));
}

#[tokio::test]
async fn the_refunds_report_lists_refunds_and_the_users_with_the_most() {
    let shop = shop().await;
    shop.fakes
        .apple
        .set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", server::demo::PACKAGE))));
    shop.fakes
        .google
        .set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", server::demo::PACKAGE))));
    for consume_first in [true, false] {
        let bought =
            shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(server::demo::PACKAGE, "gem_100")).await;
        let payment = shop.verify("zed", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
        if consume_first {
            shop.server(
                "/v1/service/consume",
                json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
            )
            .await
            .ok();
        }
        shop.fakes.apple.refund(&bought.transaction_id).await;
    }
    let gem = shop.google_gem().await;
    shop.verify("amy", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    shop.fakes.google.void(&gem.purchase_token, 0, 1).await;
    shop.inbox_settled().await;
    shop.app.login_as_demo_admin().await;

    // The browser sends no parameter at all for an empty query.
    let all: model::RefundReport = shop.app.get_fn("/api/refunds").await.unwrap();
    let heavy: model::RefundReport = shop.app.get_fn("/api/refunds?query[min_refunds]=2").await.unwrap();
    let google: model::RefundReport = shop.app.get_fn("/api/refunds?query[store]=GG").await.unwrap();
    let html = shop.app.client.get(shop.app.url("/refunds?min_refunds=2")).send().await.unwrap().text().await.unwrap();

    assert_eq!(all.refunds.len(), 3);
    assert_eq!(all.refunds.iter().filter(|r| r.was_consumed).count(), 1);
    assert!(all.refunds.iter().all(|r| r.source == "NOTIFICATION"));
    assert_eq!(all.users.len(), 2);
    assert_eq!(heavy.users.len(), 1);
    assert_eq!((heavy.users[0].user_id.as_str(), heavy.users[0].refunds), ("zed", 2));
    assert_eq!(heavy.users[0].amounts, "3.98 USD");
    assert_eq!(google.refunds.len(), 1);
    assert_eq!(google.refunds[0].kind, "VOID");
    assert!(html.contains("claw back") && html.contains("zed"), "{html}");
}
