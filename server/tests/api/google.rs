//! The Google Play client against the Google Play fake.
use std::time::Duration;

use axum::{routing::post, Router};
use server::{
    fakes::{
        self,
        faults::FaultKind,
        google::{Change, Created, FakeGoogle, NewProduct, NewSubscription},
        Notifies,
    },
    stores::{
        google::{
            client::{GoogleClient, Refund, VoidedQuery},
            rtdn::{self, NotificationKind, SubscriptionNotification},
        },
        PurchaseState, StoreError, SubscriptionState,
    },
};
use tokio::sync::mpsc;

use crate::helpers::within_30s;

const PACKAGE: &str = "com.example.iapdemo";

struct Play {
    fake: FakeGoogle,
    client: GoogleClient,
    base: String,
}

async fn play() -> Play {
    play_with_timeout(2).await
}

async fn play_with_timeout(timeout_secs: u64) -> Play {
    let fake = FakeGoogle::new();
    let base = fakes::serve(fake.router(), 0).await.unwrap();
    let key = fake.service_account("iap@fake.iam.gserviceaccount.com", &format!("{base}/token"));
    let client =
        GoogleClient::new(crate::helpers::fake_http(Duration::from_secs(timeout_secs)), &base, PACKAGE, &key).unwrap();
    Play { fake, client, base }
}

async fn gem(fake: &FakeGoogle, customise: impl FnOnce(&mut NewProduct<'_>)) -> Created {
    let mut new = NewProduct { package: PACKAGE, product_id: "gem_100", ..Default::default() };
    customise(&mut new);
    fake.add_product(new).await
}

async fn monthly(fake: &FakeGoogle) -> Created {
    fake.add_subscription(NewSubscription {
        account_id: Some("user-42"),
        ..NewSubscription::monthly(PACKAGE, "premium_monthly")
    })
    .await
}

fn rejected(err: &StoreError, expected: &str) -> bool {
    matches!(err, StoreError::Rejected { code, .. } if code == expected)
}

#[tokio::test]
async fn a_valid_one_time_purchase_is_read_through_productsv2_with_its_order_account_and_price() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |p| {
        p.account_id = Some("user-42");
        p.quantity = Some(3);
    })
    .await;

    let purchase = client.product("gem_100", &created.purchase_token).await.unwrap();

    assert_eq!(purchase.transaction_id, created.order_id);
    assert_eq!(purchase.state, PurchaseState::Purchased);
    assert_eq!((purchase.consumed, purchase.acknowledged), (Some(false), Some(false)));
    assert_eq!(purchase.account_id.as_deref(), Some("user-42"));
    assert_eq!(purchase.quantity, 3);
    assert_eq!((purchase.price_micros, purchase.currency.as_deref()), (Some(3_600_000_000), Some("KRW")));
    assert_eq!(purchase.raw["kind"], "androidpublisher#productPurchaseV2");
    assert_eq!(purchase.expiry_time_ms, None);
    assert!(!purchase.sandbox && !purchase.store_initiated);
    assert_eq!(fake.faults().requests("products.get"), 0);
}

#[tokio::test]
async fn where_google_does_not_serve_productsv2_the_v1_read_answers_with_its_payload() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |p| p.developer_payload = Some("order-7")).await;
    fake.faults().inject("productsv2.get", FaultKind::Status(404), 1);

    let purchase = client.product("gem_100", &created.purchase_token).await.unwrap();

    assert_eq!(purchase.transaction_id, created.order_id);
    assert_eq!(purchase.developer_payload.as_deref(), Some("order-7"));
    assert_eq!(purchase.raw["kind"], "androidpublisher#productPurchase");
    assert_eq!(fake.faults().requests("products.get"), 1);
}

#[tokio::test]
async fn a_productsv2_token_of_another_product_is_refused_and_an_unknown_token_is_not_read_twice() {
    let Play { fake, client, .. } = play().await;
    let cheap = gem(&fake, |p| p.product_id = "gem_1").await;

    let other_product = client.product("gem_100", &cheap.purchase_token).await.unwrap_err();
    let unknown = client.product("gem_100", "no-such-token").await.unwrap_err();

    assert!(rejected(&other_product, "purchaseTokenDoesNotMatchProductId"), "{other_product:?}");
    assert!(rejected(&unknown, "purchaseTokenNotFound"), "{unknown:?}");
    assert_eq!(fake.faults().requests("products.get"), 0);
}

#[tokio::test]
async fn a_rental_ends_when_the_rental_period_of_its_catalog_option_has_passed() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |p| {
        p.product_id = "movie_hd";
        p.rental = Some(("rent-48h", "PT48H"));
    })
    .await;

    let purchase = client.product("movie_hd", &created.purchase_token).await.unwrap();

    assert_eq!(purchase.state, PurchaseState::Purchased);
    assert_eq!(purchase.expiry_time_ms, Some(purchase.purchase_time_ms + 48 * 3_600_000));
    assert_eq!(fake.faults().requests("onetimeproducts.get"), 1);
    // Without the catalog the rental's end is unknown: an outage, retried, never a rental without end.
    fake.faults().inject("onetimeproducts.get", FaultKind::Status(503), 1);
    let outage = client.product("movie_hd", &created.purchase_token).await.unwrap_err();
    assert!(matches!(outage, StoreError::Unavailable(_)), "{outage:?}");
}

#[tokio::test]
async fn a_pre_order_is_pending_until_it_is_released() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |p| {
        p.product_id = "season_pass";
        p.preorder_release_ms = Some(server::now_ms() + 7 * 86_400_000);
    })
    .await;

    let before = client.product("season_pass", &created.purchase_token).await.unwrap();
    assert!(fake.release(&created.purchase_token).await);
    let after = client.product("season_pass", &created.purchase_token).await.unwrap();

    assert_eq!(before.state, PurchaseState::Pending);
    assert_eq!(after.state, PurchaseState::Purchased);
    assert!(after.raw["productLineItem"][0]["productOfferDetails"]["preorderOfferDetails"].is_object());
}

#[tokio::test]
async fn test_promo_and_pending_purchases_are_told_apart() {
    let Play { fake, client, .. } = play().await;
    let test = gem(&fake, |p| p.test = true).await;
    let promo = gem(&fake, |p| p.promo = true).await;
    let pending = gem(&fake, |p| p.pending = true).await;

    let test = client.product("gem_100", &test.purchase_token).await.unwrap();
    let promo = client.product("gem_100", &promo.purchase_token).await.unwrap();
    let pending = client.product("gem_100", &pending.purchase_token).await.unwrap();

    assert!(test.sandbox);
    assert!(promo.store_initiated);
    assert_eq!(pending.state, PurchaseState::Pending);
}

#[tokio::test]
async fn a_second_acknowledge_is_an_invalid_purchase_state_and_consume_is_recorded() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |_| {}).await;
    let token = &created.purchase_token;

    client.acknowledge_product("gem_100", token, Some("order-7")).await.unwrap();
    let again = client.acknowledge_product("gem_100", token, None).await.unwrap_err();
    client.consume_product("gem_100", token).await.unwrap();
    let after = client.product("gem_100", token).await.unwrap();

    assert!(rejected(&again, "invalidPurchaseState"), "{again:?}");
    assert_eq!((after.consumed, after.acknowledged), (Some(true), Some(true)));
}

#[tokio::test]
async fn unknown_tokens_other_products_and_other_packages_are_rejected() {
    let Play { fake, client, base } = play().await;
    let created = gem(&fake, |_| {}).await;
    let key = fake.service_account("other@fake.iam.gserviceaccount.com", &format!("{base}/token"));
    let other_app =
        GoogleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &base, "com.example.other", &key).unwrap();

    let unknown = client.product("gem_100", "no-such-token").await.unwrap_err();
    let wrong_product = client.product("gem_500", &created.purchase_token).await.unwrap_err();
    let wrong_package = other_app.product("gem_100", &created.purchase_token).await.unwrap_err();

    assert!(rejected(&unknown, "purchaseTokenNotFound"), "{unknown:?}");
    assert!(rejected(&wrong_product, "purchaseTokenDoesNotMatchProductId"), "{wrong_product:?}");
    assert!(rejected(&wrong_package, "purchaseTokenDoesNotMatchPackageName"), "{wrong_package:?}");
    assert!(!unknown.is_retryable());
}

#[tokio::test]
async fn a_subscription_is_read_in_every_state_google_reports() {
    let Play { fake, client, .. } = play().await;
    let created = monthly(&fake).await;
    let token = &created.purchase_token;
    let state = |p: &server::stores::StorePurchase| (p.state, p.subscription_state);

    let active = client.subscription("premium_monthly", token).await.unwrap();
    assert_eq!(state(&active), (PurchaseState::Purchased, Some(SubscriptionState::Active)));
    assert_eq!(active.transaction_id, created.order_id);
    assert_eq!(active.price_micros, Some(9_990_000));
    assert_eq!(active.currency.as_deref(), Some("USD"));
    assert_eq!(active.auto_renewing, Some(true));
    assert!(active.expiry_time_ms.unwrap() > active.purchase_time_ms);

    fake.change_subscription(token, Change::Renew).await;
    let renewed = client.subscription("premium_monthly", token).await.unwrap();
    assert_eq!(renewed.transaction_id, format!("{}..0", created.order_id));
    assert!(renewed.expiry_time_ms > active.expiry_time_ms);

    for (change, expected) in [
        (Change::Cancel, SubscriptionState::Cancelled),
        (Change::GracePeriod, SubscriptionState::InGrace),
        (Change::OnHold, SubscriptionState::OnHold),
        (Change::Pause, SubscriptionState::Paused),
        (Change::Recover, SubscriptionState::Active),
        (Change::Expire { days_ago: 1 }, SubscriptionState::Expired),
    ] {
        fake.change_subscription(token, change).await;
        let read = client.subscription("premium_monthly", token).await.unwrap();
        assert_eq!(read.subscription_state, Some(expected), "after {change:?}");
    }
}

#[tokio::test]
async fn a_subscription_expired_over_sixty_days_ago_is_gone_for_good() {
    let Play { fake, client, .. } = play().await;
    let created = monthly(&fake).await;
    fake.change_subscription(&created.purchase_token, Change::Expire { days_ago: 61 }).await;

    let err = client.subscription("premium_monthly", &created.purchase_token).await.unwrap_err();

    assert!(rejected(&err, "subscriptionPurchaseNoLongerAvailable"), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn acknowledge_cancel_and_revoke_go_through_the_api() {
    let Play { fake, client, .. } = play().await;
    let created = monthly(&fake).await;
    let token = &created.purchase_token;

    client.acknowledge_subscription("premium_monthly", token, None).await.unwrap();
    let again = client.acknowledge_subscription("premium_monthly", token, None).await.unwrap_err();
    client.cancel_subscription(token).await.unwrap();
    let cancelled = client.subscription("premium_monthly", token).await.unwrap();
    client.revoke_subscription(token, Refund::Full).await.unwrap();
    let revoked = client.subscription("premium_monthly", token).await.unwrap();
    let voided = client.voided(&VoidedQuery { include_subscriptions: true, ..Default::default() }).await.unwrap();

    assert!(rejected(&again, "invalidPurchaseState"), "{again:?}");
    assert_eq!(cancelled.acknowledged, Some(true));
    assert_eq!(cancelled.subscription_state, Some(SubscriptionState::Cancelled));
    assert_eq!(cancelled.auto_renewing, Some(false));
    assert_eq!(revoked.subscription_state, Some(SubscriptionState::Expired));
    assert_eq!(voided.purchases.len(), 1);
    assert_eq!(voided.purchases[0].purchase_token, *token);
    assert_eq!(voided.purchases[0].source, "DEVELOPER");
}

#[tokio::test]
async fn voided_purchases_are_read_page_by_page() {
    let Play { fake, client, .. } = play().await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let created = gem(&fake, |_| {}).await;
        assert!(fake.void(&created.purchase_token, 0, 1).await);
        tokens.push(created.purchase_token);
    }
    let subscription = monthly(&fake).await;
    fake.change_subscription(&subscription.purchase_token, Change::Revoke).await;

    let mut seen = Vec::new();
    let mut query = VoidedQuery { max_results: Some(2), ..Default::default() };
    let mut pages = 0;
    loop {
        let page = client.voided(&query).await.unwrap();
        pages += 1;
        seen.extend(page.purchases.into_iter().map(|p| p.purchase_token));
        match page.next_page_token {
            Some(next) => query.page_token = Some(next),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(seen, tokens, "one-time products only, in order, none twice");
    let product = client.product("gem_100", &tokens[0]).await.unwrap();
    assert_eq!(product.state, PurchaseState::Cancelled);
}

#[tokio::test]
async fn an_order_refunded_with_revoke_shows_in_the_voided_list() {
    let Play { fake, client, .. } = play().await;
    let kept = gem(&fake, |_| {}).await;
    let revoked = gem(&fake, |_| {}).await;

    client.refund_order(&kept.order_id, false).await.unwrap();
    client.refund_order(&revoked.order_id, true).await.unwrap();
    let unknown = client.refund_order("GPA.0000-0000-0000-00000", true).await.unwrap_err();
    let voided = client.voided(&VoidedQuery::default()).await.unwrap();

    assert_eq!(voided.purchases.len(), 1);
    assert_eq!(voided.purchases[0].order_id.as_deref(), Some(revoked.order_id.as_str()));
    assert!(rejected(&unknown, "orderNotFound"), "{unknown:?}");
}

#[tokio::test]
async fn the_access_token_is_fetched_once_then_renewed_once_when_it_lapses() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |_| {}).await;
    for _ in 0..3 {
        client.product("gem_100", &created.purchase_token).await.unwrap();
    }
    assert_eq!(fake.token_requests(), 1);

    // A token that outlives gcp_auth's 20-second margin by one second, then lapses.
    fake.expire_tokens();
    fake.set_token_lifetime(Duration::from_secs(22));
    client.product("gem_100", &created.purchase_token).await.unwrap();
    assert_eq!(fake.token_requests(), 2, "a token refused early is renewed once");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        client.product("gem_100", &created.purchase_token).await.unwrap();
    }

    assert_eq!(fake.token_requests(), 3, "a token near its expiry is renewed once, not per request");
}

#[tokio::test]
async fn a_key_the_fake_did_not_issue_gets_no_token_and_no_purchase() {
    let Play { fake, base, .. } = play().await;
    let created = gem(&fake, |_| {}).await;
    // The right key, but an account the fake never issued.
    let mut key: serde_json::Value =
        serde_json::from_str(&fake.service_account("known@fake.iam.gserviceaccount.com", &format!("{base}/token")))
            .unwrap();
    key["client_email"] = "stranger@elsewhere.iam.gserviceaccount.com".into();
    let client =
        GoogleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &base, PACKAGE, &key.to_string()).unwrap();

    let err = client.product("gem_100", &created.purchase_token).await.unwrap_err();

    assert!(matches!(err, StoreError::Unavailable(ref m) if m.contains("token")), "{err:?}");
    assert_eq!(fake.token_requests(), 0);
    assert!(GoogleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &base, PACKAGE, "{}").is_err());
}

#[tokio::test]
async fn outages_rate_limits_timeouts_and_an_unreachable_store_are_retryable() {
    let Play { fake, client, .. } = play().await;
    let created = gem(&fake, |_| {}).await;
    let token = &created.purchase_token;
    fake.faults().inject("productsv2.get", FaultKind::Status(503), 1);
    fake.faults().inject("productsv2.get", FaultKind::Status(429), 1);
    fake.faults().inject("productsv2.get", FaultKind::Delay(Duration::from_secs(5)), 1);
    fake.faults().inject("products.consume", FaultKind::MalformedBody, 1);

    let outage = client.product("gem_100", token).await.unwrap_err();
    let rate_limited = client.product("gem_100", token).await.unwrap_err();
    let timed_out = client.product("gem_100", token).await.unwrap_err();
    let recovered = client.product("gem_100", token).await;
    let malformed = client.consume_product("gem_100", token).await.unwrap_err();
    let key = fake.service_account("x@fake.iam.gserviceaccount.com", "http://127.0.0.1:9/token");
    let nowhere =
        GoogleClient::new(crate::helpers::fake_http(Duration::from_secs(1)), "http://127.0.0.1:9", PACKAGE, &key)
            .unwrap()
            .product("gem_100", token)
            .await
            .unwrap_err();

    assert!(outage.is_retryable(), "{outage:?}");
    assert!(rate_limited.is_retryable(), "{rate_limited:?}");
    assert!(timed_out.is_retryable(), "{timed_out:?}");
    assert!(recovered.is_ok());
    assert!(malformed.is_retryable(), "a cut-off answer is an outage: {malformed:?}");
    assert!(nowhere.is_retryable(), "{nowhere:?}");
}

#[tokio::test]
async fn every_change_reaches_the_push_endpoint_as_a_pub_sub_rtdn() {
    let Play { fake, .. } = play().await;
    let (sender, mut received) = mpsc::unbounded_channel();
    let receiver = Router::new().route(
        "/rtdn",
        post(move |body: axum::body::Bytes| async move {
            sender.send(body).unwrap();
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    let receiver_base = fakes::serve(receiver, 0).await.unwrap();
    fake.set_notify_url(Some(format!("{receiver_base}/rtdn")));

    let subscription = monthly(&fake).await;
    fake.change_subscription(&subscription.purchase_token, Change::Renew).await;
    let product = gem(&fake, |_| {}).await;
    fake.void(&product.purchase_token, 0, 1).await;

    let mut kinds = Vec::new();
    for _ in 0..4 {
        let push = rtdn::parse_push(&within_30s("the fake's push", received.recv()).await.unwrap()).unwrap();
        assert_eq!(push.notification.package_name, PACKAGE);
        kinds.push(push.notification.kind);
    }
    assert!(
        matches!(&kinds[0], NotificationKind::Subscription { notification_type: SubscriptionNotification::Purchased, purchase_token, .. } if *purchase_token == subscription.purchase_token)
    );
    assert!(matches!(
        &kinds[1],
        NotificationKind::Subscription { notification_type: SubscriptionNotification::Renewed, .. }
    ));
    assert!(
        matches!(&kinds[2], NotificationKind::OneTimeProduct { notification_type: 1, sku, .. } if sku == "gem_100")
    );
    assert!(
        matches!(&kinds[3], NotificationKind::VoidedPurchase { order_id, product_type: 2, .. } if *order_id == product.order_id)
    );
}
