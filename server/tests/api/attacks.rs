//! Attacks on the purchase API by someone who holds only what ships inside every app: the public
//! AppKey, guessable user ids, free sandbox purchases, and the patience to retry and race
//! (SECURITY.md lists each with its test). Each is played over HTTP against the running server and
//! the store fakes, and shown to fail without changing any payment.
use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{apple, faults::FaultKind, google},
    payments::binding::{self, UserBinding},
};

use crate::shop::{shop, shop_with, Shop};

/// Every payment as one line: what an attack must leave as it was.
async fn ledger(shop: &Shop) -> Vec<String> {
    let rows: Vec<(i64, String, String, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, user_id, status, consumed, store_txn_key, access_token_hash FROM payments ORDER BY id",
    )
    .fetch_all(shop.app.db.pool())
    .await
    .unwrap();
    rows.into_iter().map(|r| format!("{r:?}")).collect()
}

/// A Google gem bought in the app by `user`, carrying the user's account value.
async fn google_gem_of(shop: &Shop, user: &str) -> google::Created {
    let account = binding::google_account_id(user);
    let new = google::NewProduct {
        package: demo::PACKAGE,
        product_id: "gem_100",
        account_id: Some(&account),
        ..Default::default()
    };
    shop.fakes.google.add_product(new).await
}

/// An App Store gem bought in the app by `user`, carrying the user's account value.
async fn apple_gem_of(shop: &Shop, user: &str) -> apple::Created {
    let token = binding::apple_account_token(user);
    let new = apple::NewPurchase {
        app_account_token: Some(&token),
        ..apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")
    };
    shop.fakes.apple.add_purchase(new).await
}

/// The victim's verified, unconsumed Google gem, as their own app verified it, and its purchase
/// token (which only the victim's device holds).
async fn victims_payment(shop: &Shop) -> (Value, String) {
    let gem = google_gem_of(shop, "victim").await;
    let payment =
        shop.verify("victim", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    (payment, gem.purchase_token)
}

/// Sends every body to `/v1/sdk/verify` at once and returns the envelopes.
async fn verify_at_once(shop: &Shop, bodies: Vec<Value>) -> Vec<Value> {
    let mut calls = tokio::task::JoinSet::new();
    for body in bodies {
        let (http, url) = (shop.http.clone(), format!("{}/v1/sdk/verify", shop.app.base));
        calls.spawn(async move {
            let response = http.post(url).header("x-nhn-tciap-appkey", demo::APP_KEY).json(&body).send().await.unwrap();
            response.json::<Value>().await.unwrap()
        });
    }
    calls.join_all().await
}

/// The shop with the secure defaults of a new project: purchases must carry their buyer.
async fn secure_shop() -> Shop {
    let shop = shop().await;
    shop.set_policy(UserBinding::Required, false).await;
    shop
}

#[tokio::test]
async fn a_receipt_bought_in_another_app_is_refused_and_changes_no_payment() {
    let shop = secure_shop().await;
    victims_payment(&shop).await;
    shop.fakes.apple.add_app("com.attacker.freebies", None, None);
    let token = binding::apple_account_token("mallory");
    let foreign = apple::NewPurchase {
        app_account_token: Some(&token),
        ..apple::NewPurchase::consumable("com.attacker.freebies", "gem_100")
    };
    let bought = shop.fakes.apple.add_purchase(foreign).await;
    let before = ledger(&shop).await;

    let verify =
        shop.sdk("/v1/sdk/verify", json!({"userId": "mallory", "storeCode": "AS", "receipt": bought.receipt})).await;
    let restore = shop
        .sdk(
            "/v1/sdk/restore",
            json!({"userId": "mallory", "storeCode": "AS", "purchases": [{"receipt": bought.receipt}]}),
        )
        .await;
    sqlx::query("UPDATE store_apps SET settings = REPLACE(settings, '\"V2_AND_V1\"', '\"V2\"') WHERE store = 'AS'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let own = apple_gem_of(&shop, "mallory").await;
    let receipts_off =
        shop.sdk("/v1/sdk/verify", json!({"userId": "mallory", "storeCode": "AS", "receipt": own.receipt})).await;

    assert_eq!((verify.status, verify.code()), (StatusCode::UNPROCESSABLE_ENTITY, 4023), "{}", verify.body);
    assert_eq!(restore.ok()["failList"][0]["resultCode"], 4023);
    assert_eq!(receipts_off.code(), 4032, "a V2 app takes no StoreKit 1 receipt: {}", receipts_off.body);
    assert_eq!(ledger(&shop).await, before);
}

#[tokio::test]
async fn another_users_purchase_is_refused_for_google_and_the_app_store() {
    let shop = secure_shop().await;
    let google = google_gem_of(&shop, "victim").await;
    let apple = apple_gem_of(&shop, "victim").await;
    let seq = shop.reserve("mallory", "GG", "gem_100").await;
    let unbound = shop.google_gem().await;
    let before = ledger(&shop).await;

    let google_stolen = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "mallory", "storeCode": "GG", "productId": "gem_100", "purchaseToken": google.purchase_token}),
        )
        .await;
    let apple_stolen = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "mallory", "storeCode": "AS", "signedTransaction": apple.signed_transaction}),
        )
        .await;
    let without_value = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "mallory", "storeCode": "GG", "productId": "gem_100", "purchaseToken": unbound.purchase_token}),
        )
        .await;
    let after = ledger(&shop).await;
    let own =
        shop.verify("victim", "GG", json!({"productId": "gem_100", "purchaseToken": google.purchase_token})).await;

    assert_eq!((google_stolen.status, google_stolen.code()), (StatusCode::FORBIDDEN, 4033));
    assert_eq!(apple_stolen.code(), 4033);
    assert_eq!(without_value.code(), 4034, "the project requires the account value");
    assert_eq!(after, before, "the reservation {seq} and every payment are as they were");
    assert_eq!(own["userId"], "victim", "the buyer still gets the purchase");
}

#[tokio::test]
async fn a_cheap_items_purchase_sent_for_a_dear_items_reservation_is_refused_and_changes_no_payment() {
    let shop = secure_shop().await;
    let google = google_gem_of(&shop, "mallory").await;
    let apple = apple_gem_of(&shop, "mallory").await;
    let google_seq = shop.reserve("mallory", "GG", "gem_500").await;
    let apple_seq = shop.reserve("mallory", "AS", "gem_500").await;
    let before = ledger(&shop).await;

    // Google's productsv2 is read by token alone: the product is ours to check.
    let google_swapped = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "mallory", "storeCode": "GG", "paymentSeq": google_seq, "productId": "gem_500", "purchaseToken": google.purchase_token}),
        )
        .await;
    let apple_swapped = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "mallory", "storeCode": "AS", "paymentSeq": apple_seq, "productId": "gem_500", "signedTransaction": apple.signed_transaction}),
        )
        .await;
    let after = ledger(&shop).await;

    assert_eq!(google_swapped.code(), 4020, "{}", google_swapped.body);
    assert_eq!(apple_swapped.code(), 4025, "{}", apple_swapped.body);
    assert_eq!(before.len(), after.len(), "no payment is made");
    // The attacker's own reservations fail; none is granted or gets an access token.
    assert_eq!(shop.status_of(&google_seq).await, "FAILURE");
    assert_eq!(shop.status_of(&apple_seq).await, "FAILURE");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE access_token_hash IS NOT NULL").await, 0);
}

#[tokio::test]
async fn a_guessed_transaction_id_claims_no_purchase_and_earns_no_access_token() {
    let shop = secure_shop().await;
    let bought = apple_gem_of(&shop, "victim").await;
    let before = ledger(&shop).await;

    let as_mallory = shop
        .sdk("/v1/sdk/verify", json!({"userId": "mallory", "storeCode": "AS", "transactionId": bought.transaction_id}))
        .await;
    let after_mallory = ledger(&shop).await;
    let as_victim = shop
        .sdk("/v1/sdk/verify", json!({"userId": "victim", "storeCode": "AS", "transactionId": bought.transaction_id}))
        .await;
    let payment = as_victim.ok().clone();
    let consume = shop
        .sdk("/v1/sdk/consume", json!({"paymentSeq": payment["paymentSeq"], "accessToken": "guessed", "transactionId": bought.transaction_id}))
        .await;
    let victims_own = shop
        .sdk_as(
            "victim",
            "/v1/sdk/verify",
            json!({"userId": "victim", "storeCode": "AS", "transactionId": bought.transaction_id}),
        )
        .await;

    assert_eq!(as_mallory.code(), 4033, "Apple's answer names the buyer");
    assert_eq!(after_mallory, before);
    assert_eq!(payment["userId"], "victim", "claiming to be the buyer only records the buyer's purchase");
    assert!(payment["accessToken"].is_null(), "a bare transaction id earns no access token: {payment}");
    assert_eq!(consume.code(), 4036);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE consumed = 1").await, 0);
    assert!(victims_own.ok()["accessToken"].is_string(), "the user's own session (user token) gets it");
}

#[tokio::test]
async fn the_app_key_alone_reads_no_secret_of_a_victims_payments_and_consumes_none() {
    let shop = secure_shop().await;
    let (payment, _) = victims_payment(&shop).await;
    let subscription = shop
        .fakes
        .google
        .add_subscription(google::NewSubscription {
            account_id: Some(&binding::google_account_id("victim")),
            ..google::NewSubscription::monthly(demo::PACKAGE, "premium_monthly")
        })
        .await;
    shop.verify("victim", "GG", json!({"productId": "premium_monthly", "purchaseToken": subscription.purchase_token}))
        .await;
    let before = ledger(&shop).await;

    let listed = shop.sdk("/v1/sdk/consumable", json!({"userId": "victim"})).await;
    let active = shop.sdk("/v1/sdk/subscriptions/active", json!({"userId": "victim"})).await;
    let forged = shop
        .post(
            "/v1/sdk/consumable",
            &[
                ("x-nhn-tciap-appkey", demo::APP_KEY),
                ("x-user-token", "4102444800.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ],
            &json!({"userId": "victim"}),
        )
        .await;
    let mallorys_token = shop
        .post(
            "/v1/sdk/consumable",
            &[("x-nhn-tciap-appkey", demo::APP_KEY), ("x-user-token", &shop.user_token("mallory"))],
            &json!({"userId": "victim"}),
        )
        .await;
    // The order id is printed on the buyer's receipt e-mail: presented as the token, it matches nothing.
    let by_order_id = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "victim", "storeCode": "GG", "productId": "gem_100", "purchaseToken": payment["paymentId"]}),
        )
        .await;
    let consume_off =
        shop.sdk("/v1/sdk/consume", json!({"paymentSeq": payment["paymentSeq"], "accessToken": "x"})).await;
    let after = ledger(&shop).await;
    let own_list = shop.sdk_as("victim", "/v1/sdk/consumable", json!({"userId": "victim"})).await;
    let servers_consume = shop
        .server(
            "/v1/service/consume",
            json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;

    let entry = &listed.ok()[0];
    assert_eq!(entry["paymentSeq"], payment["paymentSeq"]);
    for secret in ["accessToken", "paymentId", "payload"] {
        assert!(entry[secret].is_null(), "{secret} leaked: {entry}");
    }
    let sub = &active.ok()[0];
    for secret in ["accessToken", "paymentId", "paymentToken", "originalPaymentId"] {
        assert!(sub[secret].is_null(), "{secret} leaked: {sub}");
    }
    assert_eq!((forged.status, forged.code()), (StatusCode::UNAUTHORIZED, 4035));
    assert_eq!(mallorys_token.code(), 4035, "a user token is for its own user only");
    assert_eq!(by_order_id.code(), 4020, "{}", by_order_id.body);
    assert_eq!(consume_off.code(), 4036);
    assert_eq!(after, before);
    assert_eq!(own_list.ok()[0]["accessToken"], payment["accessToken"], "the user's own token shows them");
    assert_eq!(servers_consume.code(), 0, "the victim's app server still consumes: {}", servers_consume.body);
}

#[tokio::test]
async fn consuming_from_the_app_needs_the_store_proof_of_that_very_payment() {
    let shop = secure_shop().await;
    shop.set_policy(UserBinding::Required, true).await;
    let (payment, victims_token) = victims_payment(&shop).await;
    let mallorys = google_gem_of(&shop, "mallory").await;
    let call = |token: &str| {
        json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"], "productId": "gem_100",
               "purchaseToken": token})
    };
    let before = ledger(&shop).await;

    let with_other_proof = shop.sdk("/v1/sdk/consume", call(&mallorys.purchase_token)).await;
    let after = ledger(&shop).await;
    let with_own_proof = shop.sdk("/v1/sdk/consume", call(&victims_token)).await;

    assert_eq!((with_other_proof.status, with_other_proof.code()), (StatusCode::FORBIDDEN, 4037));
    assert_eq!(after, before);
    assert_eq!(with_own_proof.ok()["productId"], "gem_100", "the buyer's own app consumes with its proof");
}

#[tokio::test]
async fn nobody_is_framed_by_a_purchase_presented_under_their_user_id() {
    let shop = secure_shop().await;
    let mallorys = google_gem_of(&shop, "mallory").await;
    let body = |user: &str| json!({"userId": user, "storeCode": "GG", "productId": "gem_100", "purchaseToken": mallorys.purchase_token});
    shop.sdk("/v1/sdk/verify", body("mallory")).await.ok();
    let before = ledger(&shop).await;

    let mut codes = HashSet::new();
    for _ in 0..5 {
        codes.insert(shop.sdk("/v1/sdk/verify", body("victim")).await.code());
    }
    let after = ledger(&shop).await;
    let flags_without_token = shop.count("SELECT COUNT(*) FROM abuse_flags").await;
    let conflicts = shop.count("SELECT COUNT(*) FROM receipt_conflicts").await;
    // The same claim from the claimed user's own session is worth a flag.
    shop.sdk_as("borrower", "/v1/sdk/verify", body("borrower")).await;
    shop.sdk_as("borrower", "/v1/sdk/verify", body("borrower")).await;

    assert_eq!(codes, HashSet::from([4022]));
    assert_eq!(after, before);
    assert_eq!(flags_without_token, 0, "anyone can type a user id: that flags nobody");
    assert_eq!(conflicts, 1, "recorded once per (payment, claimed user)");
    assert_eq!(shop.count("SELECT COUNT(*) FROM abuse_flags WHERE user_id = 'borrower'").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM receipt_conflicts").await, 2);
}

#[tokio::test]
async fn fifty_concurrent_verifies_of_one_reservation_make_one_payment_one_event_and_one_token() {
    let shop = secure_shop().await;
    let seq = shop.reserve("player", "GG", "gem_100").await;
    let gem = google_gem_of(&shop, "player").await;
    let body = json!({"userId": "player", "storeCode": "GG", "paymentSeq": seq, "productId": "gem_100",
                      "purchaseToken": gem.purchase_token});

    let answers = verify_at_once(&shop, vec![body; 50]).await;

    let tokens: HashSet<&str> = answers.iter().map(|a| a["result"]["accessToken"].as_str().unwrap()).collect();
    let seqs: HashSet<&str> = answers.iter().map(|a| a["result"]["paymentSeq"].as_str().unwrap()).collect();
    assert_eq!(tokens.len(), 1, "every caller holds the one token");
    assert_eq!(seqs, HashSet::from([seq.as_str()]));
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'VERIFY'").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_events WHERE event_type = 'payment.succeeded'").await, 1);
}

#[tokio::test]
async fn a_refusal_racing_a_success_never_undoes_it() {
    let shop = secure_shop().await;
    let seq = shop.reserve("player", "GG", "gem_100").await;
    let gem = google_gem_of(&shop, "player").await;
    let verify = |token: &str| json!({"userId": "player", "storeCode": "GG", "paymentSeq": seq, "productId": "gem_100", "purchaseToken": token});

    let bodies = (0..40).map(|n| verify(&if n % 2 == 0 { gem.purchase_token.clone() } else { format!("forged-{n}") }));
    let answers = verify_at_once(&shop, bodies.collect()).await;
    let codes: HashSet<i64> = answers.iter().map(|a| a["header"]["resultCode"].as_i64().unwrap()).collect();
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE payment_seq = $1")
        .bind(&seq)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let after_success = shop.sdk("/v1/sdk/verify", verify("forged-late")).await;

    assert!(codes.contains(&0) && codes.contains(&4020), "{codes:?}");
    assert_eq!(status, "SUCCESS");
    assert_eq!(after_success.code(), 4020);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS'").await, 1);
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM payment_history WHERE to_status = 'FAILURE' AND from_status = 'SUCCESS'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_thousand_verifies_of_one_proof_during_an_outage_keep_one_pending_payment() {
    let shop = shop_with(|settings| settings.api.app_per_address_per_second = 0).await;
    shop.set_policy(UserBinding::Required, false).await;
    let gem = google_gem_of(&shop, "player").await;
    shop.fakes.google.faults().make_flaky("productsv2.get", 100, vec![FaultKind::Status(503)]);
    let body =
        json!({"userId": "player", "storeCode": "GG", "productId": "gem_100", "purchaseToken": gem.purchase_token});

    let mut codes = HashSet::new();
    for _ in 0..10 {
        let answers = verify_at_once(&shop, vec![body.clone(); 100]).await;
        codes.extend(answers.iter().map(|a| a["header"]["resultCode"].as_i64().unwrap()));
    }
    let pending =
        shop.count("SELECT COUNT(*) FROM payments WHERE status = 'RESERVED' AND next_verify_at IS NOT NULL").await;
    let rows = shop.count("SELECT COUNT(*) FROM payments").await;
    shop.fakes.google.faults().calm();
    sqlx::query("UPDATE payments SET next_verify_at = 0").execute(shop.app.db.pool()).await.unwrap();
    server::payments::retry::run_due(&shop.app.state).await.unwrap();
    let again = shop.verify("player", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;

    assert_eq!(codes, HashSet::from([4021]));
    assert_eq!((rows, pending), (1, 1), "one kept proof, not one per retry");
    assert_eq!(again["status"], "SUCCESS");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 1);
}

#[tokio::test]
async fn a_waiting_payment_whose_purchase_was_recorded_meanwhile_is_closed_and_not_retried() {
    let shop = shop().await;
    let bought = apple_gem_of(&shop, "player").await;
    shop.fakes.apple.faults().make_flaky("verifyReceipt", 100, vec![FaultKind::Status(503)]);
    let kept =
        shop.sdk("/v1/sdk/verify", json!({"userId": "player", "storeCode": "AS", "receipt": bought.receipt})).await;
    let recorded = shop.verify("player", "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    shop.fakes.apple.faults().calm();
    sqlx::query("UPDATE payments SET next_verify_at = 0 WHERE status = 'RESERVED'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();

    server::payments::retry::run_due(&shop.app.state).await.unwrap();

    assert_eq!(kept.code(), 4021);
    assert_eq!(recorded["status"], "SUCCESS");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS'").await, 1);
    assert_eq!(
        shop.count("SELECT COUNT(*) FROM payments WHERE next_verify_at IS NOT NULL").await,
        0,
        "nothing left to retry"
    );
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'VERIFY_DUPLICATE'").await, 1);
}

#[tokio::test]
async fn a_flood_with_the_app_key_cannot_starve_the_apps_server() {
    let shop = shop_with(|settings| settings.api.app_per_address_per_second = 5).await;
    let (payment, _) = victims_payment(&shop).await;

    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(shop.sdk("/v1/sdk/products", json!({"storeCode": "GG"})).await.code());
    }
    let consumed = shop
        .server(
            "/v1/service/consume",
            json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
        )
        .await;

    assert!(codes.contains(&4029), "{codes:?}");
    assert_eq!(consumed.code(), 0, "the server's calls have their own allowance: {}", consumed.body);
}

#[tokio::test]
async fn sandbox_purchases_are_refused_by_a_production_only_app_and_the_answer_says_test() {
    let shop = secure_shop().await;
    let account = binding::google_account_id("player");
    let new = || google::NewProduct {
        package: demo::PACKAGE,
        product_id: "gem_100",
        test: true,
        account_id: Some(&account),
        ..Default::default()
    };
    let tested = shop.fakes.google.add_product(new()).await;
    let accepted =
        shop.verify("player", "GG", json!({"productId": "gem_100", "purchaseToken": tested.purchase_token})).await;
    sqlx::query("UPDATE store_apps SET environment_policy = 'PRODUCTION_ONLY'")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let free = shop.fakes.google.add_product(new()).await;
    let before = ledger(&shop).await;

    let refused = shop
        .sdk("/v1/sdk/verify", json!({"userId": "player", "storeCode": "GG", "productId": "gem_100", "purchaseToken": free.purchase_token}))
        .await;

    assert_eq!(accepted["isTestPurchase"], true, "an app that takes sandbox purchases says which are tests");
    assert_eq!(refused.code(), 4024);
    assert_eq!(ledger(&shop).await, before);
}

#[tokio::test]
async fn a_retried_reserve_with_its_idempotency_key_returns_the_first_reservation() {
    let shop = shop().await;
    let shop = &shop;
    let reserve = |product: &str, key: &str| {
        let body = json!({"userId": "player", "storeCode": "GG", "productId": product});
        let key = key.to_string();
        async move {
            shop.post("/v1/sdk/reserve", &[("x-nhn-tciap-appkey", demo::APP_KEY), ("idempotency-key", &key)], &body)
                .await
        }
    };

    let first = reserve("gem_100", "k-1").await;
    let retried = reserve("gem_100", "k-1").await;
    let other_item = reserve("gem_500", "k-1").await;
    let new_key = reserve("gem_100", "k-2").await;

    assert_eq!(first.ok()["paymentSeq"], retried.ok()["paymentSeq"]);
    assert_eq!(first.ok()["obfuscatedAccountId"], binding::google_account_id("player").as_str());
    assert_eq!(other_item.code(), 4038);
    assert_ne!(new_key.ok()["paymentSeq"], first.ok()["paymentSeq"]);
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 2);
}

#[tokio::test]
async fn during_a_google_outage_altered_or_borrowed_play_billing_data_buys_nothing() {
    let shop = shop().await;
    let gem = google_gem_of(&shop, "player").await;
    let (data, signature) = shop.fakes.google.billing_purchase(&gem.purchase_token).unwrap();
    let other = google_gem_of(&shop, "player").await;
    shop.fakes.google.faults().make_flaky("productsv2.get", 100, vec![FaultKind::Status(503)]);
    let body = |product: &str, token: &str, data: &str| {
        json!({"userId": "player", "storeCode": "GG", "productId": product, "purchaseToken": token,
               "originalJson": data, "signature": signature})
    };
    let before = ledger(&shop).await;

    // The fallback is the app's choice: off, the valid signed data is not read.
    let fallback_off = shop.sdk("/v1/sdk/verify", body("gem_100", &gem.purchase_token, &data)).await.code();
    shop.google_signature_fallback().await;
    let more = data.replace("\"quantity\":1", "\"quantity\":50");
    let altered = shop.sdk("/v1/sdk/verify", body("gem_100", &gem.purchase_token, &more)).await.code();
    let dearer = data.replace("gem_100", "gem_500");
    let other_item = shop.sdk("/v1/sdk/verify", body("gem_500", &gem.purchase_token, &dearer)).await.code();
    let borrowed = shop.sdk("/v1/sdk/verify", body("gem_100", &other.purchase_token, &data)).await.code();

    assert_eq!((fallback_off, altered, other_item, borrowed), (4021, 4021, 4021, 4021));
    let after = ledger(&shop).await;
    assert!(before.is_empty());
    assert!(after.iter().all(|row| row.contains("\"RESERVED\"") && row.ends_with("None)")), "{after:?}");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS'").await, 0);
}
