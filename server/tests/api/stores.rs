//! One interface over every store: clients built from store-app records as the database holds
//! them, verifying against all three fakes served together as `server stores serve` serves them.
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use model::Store;
use serde_json::{json, Value};
use server::{
    fakes::{self, apple, google, onestore, Fakes},
    stores::{
        client::{Proof, StoreApp, StoreClient},
        onestore::Market,
        EnvironmentPolicy, PurchaseState, StoreError,
    },
};

const PACKAGE: &str = "com.example.iapdemo";

fn client(store: Store, settings: Value, credentials: Value) -> Result<StoreClient, StoreError> {
    let app = StoreApp {
        store,
        store_app_id: PACKAGE,
        settings: &settings,
        credentials: &credentials,
        environments: EnvironmentPolicy::ProductionAndSandbox,
    };
    StoreClient::for_app(&crate::helpers::fake_http(Duration::from_secs(2)), &app)
}

async fn served() -> (Fakes, String) {
    let fakes = Fakes::new();
    let base = fakes::serve(fakes.router(), 0).await.unwrap();
    (fakes, base)
}

#[tokio::test]
async fn all_three_stores_verify_through_one_interface_from_their_records() {
    let (fakes, base) = served().await;
    let key = fakes.google.service_account("iap@fake.iam.gserviceaccount.com", &format!("{base}/google/token"));
    let google =
        client(Store::Google, json!({"apiRoot": format!("{base}/google")}), json!({"serviceAccountJson": key}))
            .unwrap();
    fakes.apple.add_app(PACKAGE, Some(1_234_567_890), Some("shared"));
    let apple_key = fakes.apple.issue_key(PACKAGE);
    let apple = client(
        Store::Apple,
        json!({
            "verificationMode": "V2_AND_V1",
            "appAppleId": 1_234_567_890, "productionUrl": format!("{base}/apple/production"),
            "sandboxUrl": format!("{base}/apple/sandbox"),
            "verifyReceiptProductionUrl": format!("{base}/apple/production/verifyReceipt"),
            "verifyReceiptSandboxUrl": format!("{base}/apple/sandbox/verifyReceipt"),
            "rootCertificates": [STANDARD.encode(fakes.apple.root_der())],
        }),
        json!({"issuerId": apple_key.issuer_id, "keyId": apple_key.key_id, "privateKey": apple_key.private_key_pem, "sharedSecret": "shared"}),
    )
    .unwrap();
    fakes.onestore.add_client(PACKAGE, "onestore-secret");
    let one = client(
        Store::OneStore,
        json!({"marketCode": "MKT_GLB", "productionUrl": format!("{base}/onestore"), "sandboxUrl": format!("{base}/onestore")}),
        json!({"clientSecret": "onestore-secret"}),
    )
    .unwrap();

    let gg = fakes
        .google
        .add_product(google::NewProduct { package: PACKAGE, product_id: "gem_100", ..Default::default() })
        .await;
    let gg_sub = fakes
        .google
        .add_subscription(google::NewSubscription {
            test: true,
            price_micros: 4_990_000,
            currency: "KRW",
            ..google::NewSubscription::monthly(PACKAGE, "premium_monthly")
        })
        .await;
    let apple_purchase = fakes.apple.add_purchase(apple::NewPurchase::consumable(PACKAGE, "gem_100")).await;
    let one_token = fakes.onestore.add_purchase(onestore::NewPurchase {
        market: Market::Global,
        package: PACKAGE,
        product: "gem_100",
        sandbox: true,
        developer_payload: None,
    });

    let proofs = [
        (
            &google,
            Proof::Google {
                product_id: "gem_100".into(),
                purchase_token: gg.purchase_token.clone(),
                subscription: false,
            },
        ),
        (
            &google,
            Proof::Google {
                product_id: "premium_monthly".into(),
                purchase_token: gg_sub.purchase_token.clone(),
                subscription: true,
            },
        ),
        (&apple, Proof::AppleTransactionId(apple_purchase.transaction_id.clone())),
        (&apple, Proof::AppleSignedTransaction(apple_purchase.signed_transaction.clone())),
        (
            &apple,
            Proof::AppleReceipt {
                receipt_data: apple_purchase.receipt.clone(),
                transaction_id: None,
                product_id: Some("gem_100".into()),
            },
        ),
        (&one, Proof::OneStore { product_id: "gem_100".into(), purchase_token: one_token.clone() }),
    ];
    for (client, proof) in proofs {
        let purchase = client.verify(&proof).await.unwrap_or_else(|e| panic!("{proof:?}: {e}"));
        assert_eq!(purchase.store, proof.store());
        assert_eq!(purchase.state, PurchaseState::Purchased, "{proof:?}");
        assert!(!purchase.transaction_id.is_empty());
    }
    let wrong_store = google.verify(&Proof::AppleTransactionId("1".into())).await.unwrap_err();
    assert!(matches!(wrong_store, StoreError::Rejected { ref code, .. } if code == "WRONG_STORE"), "{wrong_store:?}");
}

#[tokio::test]
async fn a_record_with_missing_or_unreadable_credentials_is_a_configuration_error() {
    for (store, settings, credentials) in [
        (Store::Google, json!({}), json!({})),
        (Store::Google, json!({}), json!({"serviceAccountJson": "{\"not\":\"a key\"}"})),
        (Store::OneStore, json!({"marketCode": "MKT_XX"}), json!({"clientSecret": "s"})),
        (Store::Apple, json!({"rootCertificates": ["%%%"]}), json!({})),
    ] {
        let err = client(store, settings.clone(), credentials).err();
        assert!(matches!(err, Some(StoreError::Config(_))), "{store:?} {settings}: {err:?}");
    }
}

#[tokio::test]
async fn stores_serve_starts_every_fake_with_one_command_and_its_control_api_drives_them() {
    use std::io::BufRead;

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["stores", "serve", "--port", "0", "--onestore-client", "com.example.iapdemo:cli-secret"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut first = String::new();
    // Kept open to the end: the fakes print more lines after the first.
    let mut output = std::io::BufReader::new(child.0.stdout.take().unwrap());
    output.read_line(&mut first).unwrap();
    let first = first.trim_end();
    let base = first.trim_start_matches("store fakes on ").trim_end_matches(':').to_string();
    let http = crate::helpers::fake_http(Duration::from_secs(2));
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body).send();

    let key = post("/google/fake/service-accounts", json!({})).await.unwrap().text().await.unwrap();
    let created: Value =
        post("/google/fake/products", json!({"packageName": PACKAGE, "productId": "gem_100", "test": true}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let apple_key: Value = post("/apple/fake/keys", json!({"bundleId": PACKAGE})).await.unwrap().json().await.unwrap();
    let root: Value = http.get(format!("{base}/apple/fake/root")).send().await.unwrap().json().await.unwrap();
    let apple_purchase: Value = post("/apple/fake/purchases", json!({"bundleId": PACKAGE, "productId": "gem_100"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let one: Value =
        post("/onestore/fake/purchases", json!({"packageName": PACKAGE, "productId": "gem_100", "sandbox": true}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let refused = post("/google/fake/faults", json!({"route": "nowhere", "status": 500})).await.unwrap();

    let google =
        client(Store::Google, json!({"apiRoot": format!("{base}/google")}), json!({"serviceAccountJson": key}))
            .unwrap();
    let apple = client(
        Store::Apple,
        json!({"productionUrl": format!("{base}/apple/production"), "sandboxUrl": format!("{base}/apple/sandbox"),
               "rootCertificates": [root["rootCertificate"]]}),
        json!({"issuerId": apple_key["issuerId"], "keyId": apple_key["keyId"], "privateKey": apple_key["privateKey"]}),
    )
    .unwrap();
    let one_client = client(
        Store::OneStore,
        json!({"sandboxUrl": format!("{base}/onestore")}),
        json!({"clientSecret": "cli-secret"}),
    )
    .unwrap();
    let token = |v: &Value| v["purchaseToken"].as_str().unwrap().to_string();

    let from_google = google
        .verify(&Proof::Google { product_id: "gem_100".into(), purchase_token: token(&created), subscription: false })
        .await
        .unwrap();
    let from_apple = apple
        .verify(&Proof::AppleTransactionId(apple_purchase["transactionId"].as_str().unwrap().into()))
        .await
        .unwrap();
    let from_one = one_client
        .verify(&Proof::OneStore { product_id: "gem_100".into(), purchase_token: token(&one) })
        .await
        .unwrap();

    assert!(from_google.sandbox && from_apple.sandbox && from_one.sandbox);
    assert_eq!(from_google.transaction_id, created["orderId"].as_str().unwrap());
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn the_demo_apps_verify_against_the_fakes_the_demo_starts() {
    let app = crate::helpers::spawn_app().await;
    let fakes = Fakes::new();
    let base = fakes::serve(fakes.router(), 0).await.unwrap();
    server::demo::connect_fakes(&app.state, &fakes, &base).await.unwrap();
    let gg = fakes
        .google
        .add_product(google::NewProduct { package: PACKAGE, product_id: "gem_100", ..Default::default() })
        .await;
    let apple_purchase = fakes.apple.add_purchase(apple::NewPurchase::consumable(PACKAGE, "gem_100")).await;
    let one_token = fakes.onestore.add_purchase(onestore::NewPurchase {
        market: Market::Korea,
        package: PACKAGE,
        product: "gem_100",
        sandbox: false,
        developer_payload: None,
    });

    let proofs = [
        Proof::Google { product_id: "gem_100".into(), purchase_token: gg.purchase_token, subscription: false },
        Proof::AppleSignedTransaction(apple_purchase.signed_transaction),
        Proof::AppleReceipt { receipt_data: apple_purchase.receipt, transaction_id: None, product_id: None },
        Proof::OneStore { product_id: "gem_100".into(), purchase_token: one_token },
    ];
    for proof in proofs {
        let record =
            server::store_apps::find(&app.db, &app.state.cipher, proof.store(), PACKAGE).await.unwrap().unwrap();
        let purchase = record.client(&app.state.http).unwrap().verify(&proof).await;
        assert!(purchase.is_ok(), "{proof:?}: {purchase:?}");
    }
    let sealed: Option<String> = sqlx::query_scalar("SELECT credentials_enc FROM store_apps WHERE store = 'GG'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(!sealed.unwrap().contains("PRIVATE KEY"), "credentials are stored encrypted");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
