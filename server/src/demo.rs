//! The demo project: one app in each store with a few items, and a console administrator, so a
//! fresh install has something to look at. Every step is idempotent.
//!
//! Its keys and the administrator's password are published (README), so the examples can be
//! pasted; never run `demo` against a production database.
use model::{ProductType, Role, Store};

use serde_json::json;

use crate::payments::binding::UserBinding;

use crate::{crypto::Cipher, db::Db, fakes::Fakes, now_ms, projects, services::Services, store_apps, users, Error};

pub const ADMIN_USERNAME: &str = "demo";
pub const ADMIN_PASSWORD: &str = "demo-password";
pub const PROJECT_NAME: &str = "Demo Game";
pub const APP_KEY: &str = "DEMOAPPKEY0000000001";
pub const SECRET_KEY: &str = "demo-secret-key-0000000000000000000000001";
pub const PACKAGE: &str = "com.example.iapdemo";
pub const APP_APPLE_ID: i64 = 1_234_567_890;

struct DemoApp {
    store: Store,
    name: &'static str,
    settings: &'static str,
    products: &'static [(&'static str, &'static str, ProductType, &'static str)],
}

/// The demo items' list prices (KRW first: the fakes sell in Korea by default), what a payment is
/// recorded at when its store gives no amount.
fn list_prices(product_id: &str) -> &'static [(&'static str, i64)] {
    match product_id {
        "gem_500" => &[("KRW", 5_900_000_000), ("USD", 4_990_000)],
        "premium_monthly" => &[("KRW", 11_000_000_000), ("USD", 9_990_000)],
        "gem_pass_weekly" => &[("KRW", 3_300_000_000), ("USD", 2_990_000)],
        _ => &[("KRW", 1_200_000_000), ("USD", 990_000)],
    }
}

const APPS: &[DemoApp] = &[
    DemoApp {
        store: Store::Google,
        name: "Demo Game (Google Play)",
        settings: r#"{"authType":"SERVICE_ACCOUNT"}"#,
        products: &[
            ("gem_100", "100 Gems", ProductType::Consumable, "USE"),
            ("gem_500", "500 Gems", ProductType::Consumable, "USE"),
            ("premium_monthly", "Premium (monthly)", ProductType::AutoRenewable, "USE"),
            ("gem_pass_weekly", "Gem pass (weekly)", ProductType::ConsumableAutoRenewable, "USE"),
            ("starter_pack_2025", "Starter pack 2025", ProductType::Consumable, "STOP"),
        ],
    },
    DemoApp {
        store: Store::Apple,
        name: "Demo Game (App Store)",
        settings: r#"{"verificationMode":"V2_AND_V1","appAppleId":1234567890}"#,
        products: &[
            ("gem_100", "100 Gems", ProductType::Consumable, "USE"),
            ("gem_500", "500 Gems", ProductType::Consumable, "USE"),
            ("premium_monthly", "Premium (monthly)", ProductType::AutoRenewable, "USE"),
            ("gem_pass_weekly", "Gem pass (weekly)", ProductType::ConsumableAutoRenewable, "USE"),
        ],
    },
    DemoApp {
        store: Store::OneStore,
        name: "Demo Game (ONE store)",
        settings: r#"{"apiVersion":"V7","marketCode":"MKT_ONE"}"#,
        products: &[("gem_100", "100 Gems", ProductType::Consumable, "USE")],
    },
];

/// Creates whatever part of the demo is missing.
///
/// The demo's store apps take sandbox purchases (the fakes sell in the sandbox), its Apple app
/// also StoreKit 1 receipts, and its project accepts purchases without an account value so that
/// the README's store-fake examples work as pasted: the console marks all three as weaker than a
/// new project's defaults.
pub async fn seed(db: &Db, cipher: &Cipher) -> Result<(), Error> {
    if users::find_by_username(db, ADMIN_USERNAME).await?.is_none() {
        users::upsert(db, ADMIN_USERNAME, ADMIN_PASSWORD.into(), Role::Admin, false).await?;
    }
    let project_id = match projects::find_id_by_name(db, PROJECT_NAME).await? {
        Some(id) => id,
        None => {
            let id = projects::create(db, cipher, PROJECT_NAME, Some((APP_KEY, SECRET_KEY))).await?.id;
            let policy = projects::Policy { user_binding: UserBinding::WhenPresent, client_consume: false };
            projects::set_policy(db, id, policy).await?;
            id
        }
    };
    let now = now_ms();
    for app in APPS {
        sqlx::query(
            "INSERT INTO store_apps (project_id, store, name, store_app_id, settings, environment_policy, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, 'PRODUCTION_AND_SANDBOX', $6, $6) \
             ON CONFLICT (store, store_app_id) DO NOTHING",
        )
        .bind(project_id)
        .bind(app.store.code())
        .bind(app.name)
        .bind(PACKAGE)
        .bind(app.settings)
        .bind(now)
        .execute(db.writer())
        .await?;
        let app_id: i64 = sqlx::query_scalar("SELECT id FROM store_apps WHERE store = $1 AND store_app_id = $2")
            .bind(app.store.code())
            .bind(PACKAGE)
            .fetch_one(db.pool())
            .await?;
        for (product_id, name, product_type, status) in app.products {
            sqlx::query(
                "INSERT INTO products (store_app_id, store_product_id, name, product_type, status, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (store_app_id, store_product_id) DO NOTHING",
            )
            .bind(app_id)
            .bind(*product_id)
            .bind(*name)
            .bind(product_type.as_str())
            .bind(*status)
            .bind(now)
            .execute(db.writer())
            .await?;
            for (position, (currency, micros)) in list_prices(product_id).iter().enumerate() {
                sqlx::query(
                    "INSERT INTO product_prices (product_seq, currency, price_micros, position) \
                     SELECT product_seq, $1, $2, $3 FROM products WHERE store_app_id = $4 AND store_product_id = $5 \
                     ON CONFLICT (product_seq, currency) DO NOTHING",
                )
                .bind(*currency)
                .bind(*micros)
                .bind(position as i64)
                .bind(app_id)
                .bind(*product_id)
                .execute(db.writer())
                .await?;
            }
        }
    }
    Ok(())
}

/// Points the demo's store apps at `fakes` served at `base`, with credentials the fakes issue now,
/// so the demo verifies purchases end to end without any store account. Done at every start: the
/// App Store fake's signing chain is new each time.
pub async fn connect_fakes(services: &Services, fakes: &Fakes, base: &str) -> Result<(), Error> {
    let (db, cipher) = (&services.db, &services.cipher);
    let key = fakes.google.service_account("demo@iap-demo.iam.gserviceaccount.com", &format!("{base}/google/token"));
    // Pushes are authenticated as a real app's should be; the server checks their tokens against
    // the fake's keys when `stores.google_push_keys_url` points there (see `push_keys_url`).
    fakes.google.set_push_audience(Some(PUSH_AUDIENCE));
    let settings = json!({
        "apiRoot": format!("{base}/google"),
        "pushServiceAccount": crate::fakes::google::PUSH_SERVICE_ACCOUNT,
        "pushAudience": PUSH_AUDIENCE,
    });
    store_apps::connect(db, cipher, Store::Google, PACKAGE, &settings, &json!({"serviceAccountJson": key})).await?;

    let shared_secret = crate::crypto::random_token(16);
    fakes.apple.add_app(PACKAGE, Some(APP_APPLE_ID), Some(&shared_secret));
    let key = fakes.apple.issue_key(PACKAGE);
    let root = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, fakes.apple.root_der());
    let settings = json!({
        "appAppleId": APP_APPLE_ID,
        "productionUrl": format!("{base}/apple/production"),
        "sandboxUrl": format!("{base}/apple/sandbox"),
        "verifyReceiptProductionUrl": format!("{base}/apple/production/verifyReceipt"),
        "verifyReceiptSandboxUrl": format!("{base}/apple/sandbox/verifyReceipt"),
        "rootCertificates": [root],
    });
    let credentials = json!({
        "issuerId": key.issuer_id, "keyId": key.key_id, "privateKey": key.private_key_pem, "sharedSecret": shared_secret,
    });
    store_apps::connect(db, cipher, Store::Apple, PACKAGE, &settings, &credentials).await?;

    let client_secret = crate::crypto::random_token(16);
    fakes.onestore.add_client(PACKAGE, &client_secret);
    let url = format!("{base}/onestore");
    let settings = json!({"productionUrl": url, "sandboxUrl": url, "licenseKey": fakes.onestore.license_key()});
    store_apps::connect(db, cipher, Store::OneStore, PACKAGE, &settings, &json!({"clientSecret": client_secret})).await
}

/// Lets the server call the demo's store fakes, which listen on plain http on 127.0.0.1: outside
/// the demo, the server calls only the stores' own https addresses.
pub fn allow_the_fakes(settings: &mut crate::config::Settings) {
    settings.outbound.store_url_overrides = true;
    if !settings.outbound.allow_hosts.iter().any(|h| h == "127.0.0.1") {
        settings.outbound.allow_hosts.push("127.0.0.1".into());
    }
    tracing::warn!("demo: store URL overrides are on and the server may call 127.0.0.1 (the store fakes)");
}

/// The audience of the demo Google app's Pub/Sub push tokens.
pub const PUSH_AUDIENCE: &str = "https://iap.example/demo/rtdn";

/// Where the fakes served at `base` publish the keys of their push tokens: the server's
/// `stores.google_push_keys_url` for the demo and the tests.
pub fn push_keys_url(base: &str) -> String {
    format!("{base}/google/oauth2/v3/certs")
}

/// Sends the fakes' notifications to the server at `server_base`, as each store would once its
/// console is told the server's callback URL.
pub fn notify_server(fakes: &Fakes, server_base: &str) {
    use crate::fakes::Notifies;
    fakes.google.set_notify_url(Some(format!("{server_base}/callback/subscription/{PACKAGE}/GG")));
    fakes.apple.set_notify_url(Some(format!("{server_base}/callback/subscription/{PACKAGE}/AS/v2")));
    fakes.onestore.set_notify_url(Some(format!("{server_base}/markets/ONESTORE/notification/{PACKAGE}/receive")));
}

pub fn print_login() {
    println!("demo project \"{PROJECT_NAME}\": AppKey {APP_KEY}, SecretKey {SECRET_KEY}");
    println!("demo console login: {ADMIN_USERNAME} / {ADMIN_PASSWORD}");
}
