//! The App Store client, its signed-data verification and verifyReceipt against the App Store fake.
use std::time::Duration;

use app_store_server_library::models::{consumption_request::ConsumptionRequest, delivery_status::DeliveryStatus};
use axum::{routing::post, Json, Router};
use server::{
    fakes::{
        self,
        apple::{Change, Created, Defect, Environment, FakeApple, IssuedKey, NewPurchase},
        faults::FaultKind,
        Notifies,
    },
    stores::{
        apple::{receipts::ReceiptClient, ApiKey, AppleClient, AppleSettings},
        EnvironmentPolicy, PurchaseState, StoreError, SubscriptionState,
    },
};
use tokio::sync::mpsc;

use crate::helpers::within_30s;

const BUNDLE: &str = "com.example.iapdemo";
const APP_APPLE_ID: i64 = 1_234_567_890;
const SHARED_SECRET: &str = "0123456789abcdef0123456789abcdef";

struct Store {
    fake: FakeApple,
    base: String,
    client: AppleClient,
}

fn settings(fake: &FakeApple, base: &str, key: Option<IssuedKey>) -> AppleSettings {
    AppleSettings {
        bundle_id: BUNDLE.into(),
        app_apple_id: Some(APP_APPLE_ID),
        api_key: key.map(|k| ApiKey { issuer_id: k.issuer_id, key_id: k.key_id, private_key_pem: k.private_key_pem }),
        production_url: format!("{base}/production"),
        sandbox_url: format!("{base}/sandbox"),
        root_certificates: vec![fake.root_der()],
        environments: EnvironmentPolicy::ProductionAndSandbox,
    }
}

async fn store() -> Store {
    let fake = FakeApple::new();
    fake.add_app(BUNDLE, Some(APP_APPLE_ID), Some(SHARED_SECRET));
    let base = fakes::serve(fake.router(), 0).await.unwrap();
    let key = fake.issue_key(BUNDLE);
    let client =
        AppleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &settings(&fake, &base, Some(key)))
            .unwrap();
    Store { fake, base, client }
}

async fn gem(fake: &FakeApple) -> Created {
    fake.add_purchase(NewPurchase {
        app_account_token: Some("7e3fb20b-4cdb-47cc-936d-99d65f608138"),
        ..NewPurchase::consumable(BUNDLE, "gem_100")
    })
    .await
}

async fn monthly(fake: &FakeApple) -> Created {
    fake.add_purchase(NewPurchase::subscription(BUNDLE, "premium_monthly")).await
}

fn rejected(err: &StoreError, expected: &str) -> bool {
    matches!(err, StoreError::Rejected { code, .. } if code == expected)
}

#[tokio::test]
async fn a_signed_transaction_from_the_device_is_verified_against_the_configured_root() {
    let Store { fake, client, .. } = store().await;
    let created = gem(&fake).await;

    let purchase = client.verify_signed_transaction(&created.signed_transaction).unwrap();

    assert_eq!(purchase.transaction_id, created.transaction_id);
    assert_eq!(purchase.product_id, "gem_100");
    assert_eq!(purchase.state, PurchaseState::Purchased);
    assert_eq!(purchase.price_micros, Some(1_990_000));
    assert_eq!(purchase.currency.as_deref(), Some("USD"));
    assert_eq!(purchase.account_id.as_deref(), Some("7e3fb20b-4cdb-47cc-936d-99d65f608138"));
    assert!(purchase.sandbox);
}

#[tokio::test]
async fn production_payloads_need_the_apps_apple_id() {
    let Store { fake, base, client } = store().await;
    let created = fake
        .add_purchase(NewPurchase {
            environment: Environment::Production,
            ..NewPurchase::consumable(BUNDLE, "gem_100")
        })
        .await;
    let mut without_id = settings(&fake, &base, None);
    without_id.app_apple_id = None;
    let unconfigured = AppleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &without_id).unwrap();

    let verified = client.verify_signed_transaction(&created.signed_transaction).unwrap();
    let refused = unconfigured.verify_signed_transaction(&created.signed_transaction).unwrap_err();

    assert!(!verified.sandbox);
    assert!(matches!(refused, StoreError::Config(_)), "{refused:?}");
}

#[tokio::test]
async fn every_defective_signed_transaction_is_refused_with_its_reason() {
    let Store { fake, base, client } = store().await;
    let created = gem(&fake).await;
    let mut sandbox_only = settings(&fake, &base, None);
    sandbox_only.environments = EnvironmentPolicy::SandboxOnly;
    let sandbox_only = AppleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &sandbox_only).unwrap();

    for (defect, code) in [
        (Defect::Forged, "INVALID_SIGNATURE"),
        (Defect::WrongRoot, "INVALID_CERTIFICATE"),
        (Defect::MissingOid, "INVALID_CERTIFICATE"),
        (Defect::ExpiredCertificate, "INVALID_CERTIFICATE"),
        (Defect::WrongBundle, "INVALID_APP_IDENTIFIER"),
        (Defect::WrongEnvironment, "INVALID_ENVIRONMENT"),
    ] {
        let jws = fake.defective_transaction(&created.transaction_id, defect).unwrap();
        let err = sandbox_only.verify_signed_transaction(&jws).unwrap_err();
        assert!(rejected(&err, code), "{defect:?}: {err:?}");
    }
    assert!(sandbox_only.verify_signed_transaction(&created.signed_transaction).is_ok());
    for garbage in ["", "a.b", "not.a.jws", "e30.e30.e30"] {
        let err = client.verify_signed_transaction(garbage).unwrap_err();
        assert!(matches!(err, StoreError::Rejected { .. }), "{garbage}: {err:?}");
    }
}

#[tokio::test]
async fn a_sandbox_purchase_is_refused_by_a_production_only_app() {
    let Store { fake, base, .. } = store().await;
    let created = gem(&fake).await;
    let mut production_only = settings(&fake, &base, None);
    production_only.environments = EnvironmentPolicy::ProductionOnly;
    let production_only =
        AppleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &production_only).unwrap();

    let err = production_only.verify_signed_transaction(&created.signed_transaction).unwrap_err();

    assert!(rejected(&err, "INVALID_ENVIRONMENT"), "{err:?}");
}

#[tokio::test]
async fn a_transaction_is_looked_up_in_production_then_in_the_sandbox() {
    let Store { fake, client, .. } = store().await;
    let sandbox = gem(&fake).await;
    let production = fake
        .add_purchase(NewPurchase {
            environment: Environment::Production,
            ..NewPurchase::consumable(BUNDLE, "gem_500")
        })
        .await;

    let from_sandbox = client.transaction(&sandbox.transaction_id).await.unwrap();
    let from_production = client.transaction(&production.transaction_id).await.unwrap();
    let unknown = client.transaction("9999999999").await.unwrap_err();
    let invalid = client.transaction("not-a-number").await.unwrap_err();

    assert!(from_sandbox.sandbox);
    assert!(!from_production.sandbox);
    assert_eq!(from_production.product_id, "gem_500");
    assert!(rejected(&unknown, "4040010"), "{unknown:?}");
    assert!(rejected(&invalid, "4000006"), "{invalid:?}");
}

#[tokio::test]
async fn a_subscription_is_read_in_every_state_apple_reports() {
    let Store { fake, client, .. } = store().await;
    let created = monthly(&fake).await;
    let original = &created.original_transaction_id;

    let active = client.transaction(original).await.unwrap();
    assert_eq!(active.subscription_state, Some(SubscriptionState::Active));
    assert_eq!(active.auto_renewing, Some(true));
    assert!(active.expiry_time_ms.unwrap() > active.purchase_time_ms);

    let renewed_id = fake.change_subscription(original, Change::Renew).await.unwrap();
    let renewed = client.transaction(original).await.unwrap();
    assert_eq!(renewed.transaction_id, renewed_id);
    assert_ne!(renewed_id, created.transaction_id);
    assert_eq!(renewed.original_transaction_id.as_deref(), Some(original.as_str()));
    assert!(renewed.expiry_time_ms > active.expiry_time_ms);

    for (change, expected) in [
        (Change::Cancel, SubscriptionState::Cancelled),
        (Change::BillingRetry { grace: true }, SubscriptionState::InGrace),
        (Change::BillingRetry { grace: false }, SubscriptionState::OnHold),
        (Change::Expire, SubscriptionState::Expired),
        (Change::Refund, SubscriptionState::Revoked),
    ] {
        fake.change_subscription(original, change).await.unwrap();
        let read = client.transaction(original).await.unwrap();
        assert_eq!(read.subscription_state, Some(expected), "after {change:?}");
    }
    let refunded = client.transaction(original).await.unwrap();
    assert_eq!(refunded.state, PurchaseState::Refunded);
}

#[tokio::test]
async fn transaction_and_refund_history_are_read_page_by_page() {
    let Store { fake, client, .. } = store().await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(gem(&fake).await.transaction_id);
    }
    assert!(fake.refund(&ids[3]).await);

    let first = client.history(&ids[0], None).await.unwrap();
    let second = client.history(&ids[0], first.revision.as_deref()).await.unwrap();
    let refunds = client.refund_history(true, &ids[0], None).await.unwrap();

    assert_eq!((first.purchases.len(), first.has_more), (20, true));
    assert_eq!((second.purchases.len(), second.has_more), (5, false));
    let seen: Vec<_> = first.purchases.iter().chain(&second.purchases).map(|p| p.transaction_id.clone()).collect();
    assert_eq!(seen, ids);
    assert_eq!(refunds.purchases.len(), 1);
    assert_eq!(refunds.purchases[0].transaction_id, ids[3]);
    assert_eq!(refunds.purchases[0].state, PurchaseState::Refunded);
}

#[tokio::test]
async fn an_order_id_from_a_receipt_email_finds_its_transactions() {
    let Store { fake, client, .. } = store().await;
    let created = gem(&fake).await;

    let found = client.look_up_order(&created.order_id).await.unwrap();
    let unknown = client.look_up_order("MKNOSUCHORD").await.unwrap_err();

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].transaction_id, created.transaction_id);
    assert!(rejected(&unknown, "ORDER_NOT_FOUND"), "{unknown:?}");
}

#[tokio::test]
async fn consumption_information_v2_is_taken_for_any_product_type_and_only_with_the_customers_consent() {
    let Store { fake, client, .. } = store().await;
    let consumable = gem(&fake).await;
    let subscription = monthly(&fake).await;
    let request = ConsumptionRequest {
        customer_consented: true,
        consumption_percentage: Some(100_000),
        delivery_status: DeliveryStatus::Delivered,
        refund_preference: None,
        sample_content_provided: false,
    };
    let without_consent = ConsumptionRequest { customer_consented: false, ..request.clone() };

    client.send_consumption(&consumable.transaction_id, &request).await.unwrap();
    client.send_consumption(&subscription.transaction_id, &request).await.unwrap();
    let refused = client.send_consumption(&consumable.transaction_id, &without_consent).await.unwrap_err();

    assert_eq!(fake.consumption_requests(&consumable.transaction_id).len(), 1);
    assert_eq!(fake.consumption_requests(&consumable.transaction_id)[0]["deliveryStatus"], "DELIVERED");
    assert_eq!(fake.consumption_requests(&subscription.transaction_id).len(), 1);
    assert!(rejected(&refused, "4000035"), "{refused:?}");
}

#[tokio::test]
async fn a_key_for_another_app_or_no_key_at_all_is_a_configuration_error() {
    let Store { fake, base, .. } = store().await;
    let created = gem(&fake).await;
    let other_app_key = fake.issue_key("com.example.other");
    let wrong_key = AppleClient::new(
        crate::helpers::fake_http(Duration::from_secs(2)),
        &settings(&fake, &base, Some(other_app_key)),
    )
    .unwrap();
    let no_key =
        AppleClient::new(crate::helpers::fake_http(Duration::from_secs(2)), &settings(&fake, &base, None)).unwrap();

    let refused = wrong_key.transaction(&created.transaction_id).await.unwrap_err();
    let missing = no_key.transaction(&created.transaction_id).await.unwrap_err();

    assert!(matches!(refused, StoreError::Config(_)), "{refused:?}");
    assert!(matches!(missing, StoreError::Config(_)), "{missing:?}");
}

#[tokio::test]
async fn outages_rate_limits_timeouts_and_an_unreachable_store_are_retryable() {
    let Store { fake, client, .. } = store().await;
    let created = gem(&fake).await;
    let id = &created.transaction_id;
    fake.faults().inject("transactions", FaultKind::Status(500), 1);
    fake.faults().inject("transactions", FaultKind::Status(429), 1);
    fake.faults().inject("transactions", FaultKind::Delay(Duration::from_secs(5)), 1);
    fake.faults().inject("transactions", FaultKind::MalformedBody, 1);

    let outage = client.transaction(id).await.unwrap_err();
    let rate_limited = client.transaction(id).await.unwrap_err();
    let timed_out = client.transaction(id).await.unwrap_err();
    let malformed = client.transaction(id).await.unwrap_err();
    let recovered = client.transaction(id).await;
    let mut nowhere = settings(&fake, "http://127.0.0.1:9", Some(fake.issue_key(BUNDLE)));
    nowhere.production_url = "http://127.0.0.1:9".into();
    let unreachable = AppleClient::new(crate::helpers::fake_http(Duration::from_secs(1)), &nowhere)
        .unwrap()
        .transaction(id)
        .await
        .unwrap_err();

    assert!(outage.is_retryable(), "{outage:?}");
    assert!(rate_limited.is_retryable(), "{rate_limited:?}");
    assert!(
        matches!(rate_limited, StoreError::Throttled { retry_after: Some(wait) } if wait <= Duration::from_secs(1)),
        "Apple's Retry-After, a time in ms, is the wait: {rate_limited:?}"
    );
    assert!(timed_out.is_retryable(), "{timed_out:?}");
    assert!(malformed.is_retryable(), "a cut-off answer is an outage: {malformed:?}");
    assert!(recovered.is_ok(), "{recovered:?}");
    assert!(unreachable.is_retryable(), "{unreachable:?}");
}

#[tokio::test]
async fn notifications_v2_are_verified_with_the_purchase_they_are_about() {
    let Store { fake, client, .. } = store().await;
    let (sender, mut received) = mpsc::unbounded_channel::<serde_json::Value>();
    let receiver = Router::new().route(
        "/apple",
        post(move |Json(body): Json<serde_json::Value>| async move {
            sender.send(body).unwrap();
            axum::http::StatusCode::OK
        }),
    );
    fake.set_notify_url(Some(format!("{}/apple", fakes::serve(receiver, 0).await.unwrap())));

    let created = monthly(&fake).await;
    fake.change_subscription(&created.original_transaction_id, Change::Renew).await;
    let consumable = gem(&fake).await;
    fake.refund(&consumable.transaction_id).await;

    let mut notifications = Vec::new();
    for _ in 0..4 {
        let body = within_30s("the fake's notification", received.recv()).await.unwrap();
        notifications.push(client.verify_notification(body["signedPayload"].as_str().unwrap()).unwrap());
    }
    let kinds: Vec<_> = notifications.iter().map(|n| (n.notification_type.as_str(), n.subtype.as_deref())).collect();
    assert_eq!(
        kinds,
        [("SUBSCRIBED", Some("INITIAL_BUY")), ("DID_RENEW", None), ("ONE_TIME_CHARGE", None), ("REFUND", None)]
    );
    let subscribed = notifications[0].purchase.as_ref().unwrap();
    assert_eq!(subscribed.transaction_id, created.transaction_id);
    assert_eq!(subscribed.subscription_state, Some(SubscriptionState::Active));
    let refunded = notifications[3].purchase.as_ref().unwrap();
    assert_eq!(refunded.state, PurchaseState::Refunded);
    assert!(notifications.iter().all(|n| !n.uuid.is_empty()));
    let tampered = fake.defective_transaction(&consumable.transaction_id, Defect::Forged).unwrap();
    assert!(client.verify_notification(&tampered).is_err());
}

#[tokio::test]
async fn a_legacy_receipt_goes_to_production_then_to_the_sandbox_on_21007() {
    let Store { fake, base, .. } = store().await;
    let created = monthly(&fake).await;
    gem(&fake).await;
    let receipts = |secret: &str| {
        ReceiptClient::new(
            crate::helpers::fake_http(Duration::from_secs(2)),
            &format!("{base}/production/verifyReceipt"),
            &format!("{base}/sandbox/verifyReceipt"),
            Some(secret.into()),
        )
    };

    let verified = receipts(SHARED_SECRET).verify(&created.receipt).await.unwrap();
    let garbage = receipts(SHARED_SECRET).verify("bm90IGEgcmVjZWlwdA==").await.unwrap_err();
    let wrong_secret = receipts("wrong").verify(&created.receipt).await.unwrap_err();
    fake.faults().inject("verifyReceipt", FaultKind::Status(503), 1);
    let outage = receipts(SHARED_SECRET).verify(&created.receipt).await.unwrap_err();

    assert!(verified.sandbox);
    assert_eq!(verified.bundle_id, BUNDLE);
    assert_eq!(verified.purchases.len(), 2);
    let subscription = verified.purchases.iter().find(|p| p.transaction_id == created.transaction_id).unwrap();
    assert_eq!(subscription.subscription_state, Some(SubscriptionState::Active));
    assert_eq!(subscription.auto_renewing, Some(true));
    assert!(rejected(&garbage, "21002"), "{garbage:?}");
    assert!(matches!(wrong_secret, StoreError::Config(_)), "{wrong_secret:?}");
    assert!(outage.is_retryable(), "{outage:?}");
}
