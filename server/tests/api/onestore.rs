//! The ONE store client against the ONE store fake.
use std::time::Duration;

use server::{
    fakes::{
        self,
        faults::FaultKind,
        onestore::{FakeOneStore, NewPurchase},
        Notifies,
    },
    stores::{
        onestore::{Credentials, Market, OneStoreClient},
        PurchaseState, StoreError,
    },
};

use crate::helpers::within_30s;

const PACKAGE: &str = "com.example.iapdemo";

/// A client of `base` for the demo package, with a timeout short enough for fault tests.
fn client_of(base: &str, client_secret: &str, market: Market, timeout_secs: u64) -> OneStoreClient {
    OneStoreClient::new(
        crate::helpers::fake_http(Duration::from_secs(timeout_secs)),
        base,
        Credentials { client_id: PACKAGE.into(), client_secret: client_secret.into(), market },
    )
}

async fn fake_and_client(market: Market) -> (FakeOneStore, OneStoreClient) {
    let fake = FakeOneStore::new();
    fake.add_client(PACKAGE, "client-secret");
    let base = fakes::serve(fake.router(), 0).await.unwrap();
    (fake, client_of(&base, "client-secret", market, 2))
}

fn gem(fake: &FakeOneStore, market: Market, sandbox: bool) -> String {
    fake.add_purchase(NewPurchase {
        market,
        package: PACKAGE,
        product: "gem_100",
        sandbox,
        developer_payload: Some("order-7"),
    })
}

#[tokio::test]
async fn a_valid_purchase_is_verified_with_its_store_fields() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);

    let purchase = client.purchase("gem_100", &token).await.unwrap();

    assert_eq!(purchase.state, PurchaseState::Purchased);
    assert_eq!(purchase.product_id, "gem_100");
    assert_eq!(purchase.purchase_token.as_deref(), Some(token.as_str()));
    assert_eq!(purchase.consumed, Some(false));
    assert_eq!(purchase.acknowledged, Some(false));
    assert_eq!(purchase.developer_payload.as_deref(), Some("order-7"));
    assert!(!purchase.sandbox);
    assert!(!purchase.transaction_id.is_empty());
}

#[tokio::test]
async fn a_sandbox_token_is_flagged_as_sandbox() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, true);

    let purchase = client.purchase("gem_100", &token).await.unwrap();

    assert!(purchase.sandbox);
}

#[tokio::test]
async fn a_global_purchase_asked_for_as_korean_is_no_such_data() {
    let (fake, korean_client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Global, false);

    let err = korean_client.purchase("gem_100", &token).await.unwrap_err();

    assert!(matches!(err, StoreError::Rejected { ref code, .. } if code == "NoSuchData"), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_token_for_another_product_is_rejected() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);

    let err = client.purchase("premium_monthly", &token).await.unwrap_err();

    assert!(matches!(err, StoreError::Rejected { ref code, .. } if code == "NoSuchData"));
}

#[tokio::test]
async fn consume_and_acknowledge_change_what_the_store_reports_and_a_second_consume_is_refused() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);

    client.acknowledge("gem_100", &token, "").await.unwrap();
    client.consume("gem_100", &token, "").await.unwrap();
    let after = client.purchase("gem_100", &token).await.unwrap();
    let again = client.consume("gem_100", &token, "").await.unwrap_err();

    assert_eq!(after.consumed, Some(true));
    assert_eq!(after.acknowledged, Some(true));
    assert!(matches!(again, StoreError::Rejected { ref code, .. } if code == "InvalidPurchaseState"));
}

#[tokio::test]
async fn a_refunded_purchase_reads_as_cancelled() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);

    assert!(fake.refund(&token));
    let purchase = client.purchase("gem_100", &token).await.unwrap();

    assert_eq!(purchase.state, PurchaseState::Cancelled);
}

#[tokio::test]
async fn the_access_token_is_fetched_once_and_reused() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);

    for _ in 0..5 {
        client.purchase("gem_100", &token).await.unwrap();
    }

    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_renewed_once_not_per_request() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);
    // Tokens that outlive the client's renewal margin, then lapse at the store.
    fake.set_token_lifetime(Duration::from_secs(302));
    client.purchase("gem_100", &token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;

    for _ in 0..3 {
        client.purchase("gem_100", &token).await.unwrap();
    }

    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn a_token_the_store_no_longer_accepts_is_renewed_and_the_call_repeated() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);
    client.purchase("gem_100", &token).await.unwrap();

    fake.expire_tokens();
    let purchase = client.purchase("gem_100", &token).await;
    client.purchase("gem_100", &token).await.unwrap();

    assert!(purchase.is_ok(), "{purchase:?}");
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn wrong_client_credentials_are_a_configuration_error() {
    let fake = FakeOneStore::new();
    fake.add_client(PACKAGE, "the-real-secret");
    let base = fakes::serve(fake.router(), 0).await.unwrap();
    let client = client_of(&base, "wrong", Market::Korea, 2);

    let err = client.purchase("gem_100", "SANDBOX3000000000001").await.unwrap_err();

    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn server_errors_timeouts_and_an_unreachable_store_are_retryable() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);
    fake.faults().inject("purchase", FaultKind::Status(503), 1);
    fake.faults().inject("purchase", FaultKind::Delay(Duration::from_secs(5)), 1);

    let unavailable = client.purchase("gem_100", &token).await.unwrap_err();
    let timed_out = client.purchase("gem_100", &token).await.unwrap_err();
    let recovered = client.purchase("gem_100", &token).await;
    let nowhere = client_of("http://127.0.0.1:9", "x", Market::Korea, 1).purchase("gem_100", &token).await.unwrap_err();

    assert!(unavailable.is_retryable(), "{unavailable:?}");
    assert!(timed_out.is_retryable(), "{timed_out:?}");
    assert!(recovered.is_ok());
    assert!(nowhere.is_retryable(), "{nowhere:?}");
}

#[tokio::test]
async fn a_cut_off_answer_is_a_retryable_error_not_a_panic() {
    let (fake, client) = fake_and_client(Market::Korea).await;
    let token = gem(&fake, Market::Korea, false);
    fake.faults().inject("purchase", FaultKind::MalformedBody, 1);

    let err = client.purchase("gem_100", &token).await.unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn the_fake_is_driven_over_http_under_its_prefix_as_a_standalone_user_would() {
    let fakes = server::fakes::Fakes::new();
    let base = fakes::serve(fakes.router(), 0).await.unwrap();
    let control = crate::helpers::plain_client();
    let post =
        |path: &str, body: serde_json::Value| control.post(format!("{base}/onestore/fake{path}")).json(&body).send();
    post("/clients", serde_json::json!({"clientId": PACKAGE, "clientSecret": "s3cret"}))
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let created: serde_json::Value =
        post("/purchases", serde_json::json!({"market": "MKT_GLB", "packageName": PACKAGE, "productId": "gem_100"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let token = created["purchaseToken"].as_str().unwrap().to_string();
    let client = client_of(&format!("{base}/onestore"), "s3cret", Market::Global, 2);

    let verified = client.purchase("gem_100", &token).await.unwrap();
    post(&format!("/purchases/{token}/refund"), serde_json::json!({})).await.unwrap();
    let refunded = client.purchase("gem_100", &token).await.unwrap();
    let bad_fault = post("/faults", serde_json::json!({"route": "purchase"})).await.unwrap();
    post("/faults", serde_json::json!({"route": "purchase", "status": 500})).await.unwrap();
    let faulted = client.purchase("gem_100", &token).await.unwrap_err();

    assert_eq!(verified.state, PurchaseState::Purchased);
    assert_eq!(verified.developer_payload, None);
    assert_eq!(refunded.state, PurchaseState::Cancelled);
    assert_eq!(bad_fault.status(), 400);
    assert!(faulted.is_retryable());
}

#[tokio::test]
async fn payments_and_cancellations_are_notified_with_a_signature_the_license_key_verifies() {
    use server::stores::onestore::pns::{self, PnsError};

    let (fake, _client) = fake_and_client(Market::Korea).await;
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let receiver = axum::Router::new().route(
        "/pns",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            sender.send(body).unwrap();
            axum::http::StatusCode::OK
        }),
    );
    fake.set_notify_url(Some(format!("{}/pns", fakes::serve(receiver, 0).await.unwrap())));
    let license_key = fake.license_key();

    let token = gem(&fake, Market::Korea, true);
    let paid = within_30s("ONE store's PNS", received.recv()).await.unwrap();
    assert!(fake.refund(&token));
    let cancelled = within_30s("ONE store's PNS", received.recv()).await.unwrap();

    let paid = pns::verify_payment(&paid, &license_key).unwrap();
    assert_eq!((paid.purchase_token.as_str(), paid.product_id.as_str()), (token.as_str(), "gem_100"));
    assert_eq!(paid.client_id, PACKAGE);
    assert_eq!(paid.developer_payload.as_deref(), Some("order-7"));
    assert!(!paid.cancelled && paid.sandbox);
    assert_eq!(paid.currency.as_deref(), Some("KRW"));
    assert!(pns::verify_payment(&cancelled, &license_key).unwrap().cancelled);
    let tampered = String::from_utf8(cancelled.to_vec()).unwrap().replace("CANCELED", "COMPLETED");
    assert_eq!(pns::verify_payment(tampered.as_bytes(), &license_key), Err(PnsError::BadSignature));
    assert_eq!(pns::verify_payment(&cancelled, "not a key"), Err(PnsError::LicenseKey));
}
