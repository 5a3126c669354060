//! What a stolen admin session can make the server call: store URLs, webhooks and connection
//! tests, played over HTTP. A recorder stands in for the attacker's host (on 127.0.0.1, which the
//! tests' configuration names) and for an internal host (on 127.0.0.2, which it does not).
use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use model::{ConnectionCheck, ProjectDetail, Role, WebhookSecret};
use serde_json::json;
use server::{demo, store_apps, webhooks::EventType};

use crate::{
    helpers::{spawn_app_with, TestApp},
    shop::{shop, shop_with},
};

/// One request as the recorder saw it, headers and body as text.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    text: String,
}

#[derive(Clone)]
struct Recorder {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Listens on `ip`; answers 200 `{}`, or a redirect to `redirect_to` when one is given.
    async fn on(ip: &str, redirect_to: Option<String>) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = (seen.clone(), redirect_to);
        let router = Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Recorder { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type Shared = (Arc<Mutex<Vec<Seen>>>, Option<String>);

async fn record(
    State((seen, redirect)): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut text = format!("{method} {uri}\n");
    for (name, value) in &headers {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or_default()));
    }
    text.push_str(&String::from_utf8_lossy(&body));
    seen.lock().unwrap().push(Seen { path: uri.path().to_string(), text });
    match redirect {
        Some(to) => (StatusCode::TEMPORARY_REDIRECT, [("location", format!("{to}{}", uri.path()))]).into_response(),
        None => (StatusCode::OK, [("content-type", "application/json")], "{}").into_response(),
    }
}

async fn demo_apps(admin: &TestApp) -> ProjectDetail {
    let project = server::projects::find_id_by_name(&admin.db, demo::PROJECT_NAME).await.unwrap().unwrap();
    admin.get_fn(&format!("/api/project?id={project}")).await.unwrap()
}

/// Saves the demo app of `store` with the given fields, as the console's form does.
async fn save_app(admin: &TestApp, store: &str, fields: &[(&str, &str)]) -> Result<i64, app::AppError> {
    let detail = demo_apps(admin).await;
    let found = detail.apps.iter().find(|a| a.store == store).unwrap();
    let (project, id) = (detail.id.to_string(), found.id.to_string());
    let keys: Vec<String> = fields.iter().map(|(k, _)| format!("app[fields][{k}]")).collect();
    let mut form = vec![
        ("app[project]", project.as_str()),
        ("app[id]", id.as_str()),
        ("app[store]", store),
        ("app[name]", found.name.as_str()),
        ("app[store_app_id]", found.store_app_id.as_str()),
        ("app[environment_policy]", found.environment_policy.as_str()),
        ("app[enabled]", "true"),
    ];
    form.extend(keys.iter().map(String::as_str).zip(fields.iter().map(|(_, v)| *v)));
    admin.submit("/api/project/app", &form).await
}

async fn check_app(admin: &TestApp, store: &str) -> ConnectionCheck {
    let detail = demo_apps(admin).await;
    let id = detail.apps.iter().find(|a| a.store == store).unwrap().id.to_string();
    admin.submit("/api/project/app/check", &[("id", &id)]).await.unwrap()
}

/// Every string in the stored credentials of the demo app of `store`.
async fn stored_secrets(app: &TestApp, store: model::Store) -> Vec<String> {
    let sealed: Option<String> =
        sqlx::query_scalar("SELECT credentials_enc FROM store_apps WHERE store = $1 AND store_app_id = $2")
            .bind(store.code())
            .bind(demo::PACKAGE)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let Some(sealed) = sealed else { return Vec::new() };
    let id: i64 = sqlx::query_scalar("SELECT id FROM store_apps WHERE store = $1 AND store_app_id = $2")
        .bind(store.code())
        .bind(demo::PACKAGE)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let plain =
        app.state.cipher.decrypt(server::crypto::Column::StoreAppCredentials, &id.to_string(), &sealed).unwrap();
    let credentials: serde_json::Value = serde_json::from_str(&plain).unwrap();
    credentials.as_object().unwrap().values().filter_map(|v| v.as_str().map(String::from)).collect()
}

#[tokio::test]
async fn a_store_url_changed_without_its_secrets_sends_no_secret_to_the_new_host() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let attacker = Recorder::on("127.0.0.1", None).await;
    let mut secrets = Vec::new();
    for store in [model::Store::Google, model::Store::Apple, model::Store::OneStore] {
        secrets.extend(stored_secrets(&shop.app, store).await);
    }
    assert!(secrets.len() >= 5, "the shop's apps hold their secrets");

    save_app(&admin, "GG", &[("apiRoot", &attacker.base)]).await.unwrap();
    let apple_url = format!("{}/apple", attacker.base);
    save_app(&admin, "AS", &[("productionUrl", &apple_url), ("verifyReceiptSandboxUrl", &apple_url)]).await.unwrap();
    save_app(&admin, "ONESTORE", &[("productionUrl", &attacker.base), ("sandboxUrl", &attacker.base)]).await.unwrap();
    let checks = [check_app(&admin, "GG").await, check_app(&admin, "AS").await, check_app(&admin, "ONESTORE").await];
    // The app asks for purchases too: nothing it sends carries the old secrets either.
    let gem = shop.google_gem().await;
    shop.sdk(
        "/v1/sdk/verify",
        json!({"paymentSeq": shop.reserve("mallory", "GG", "gem_100").await,
        "storeCode": "GG", "purchase": {"productId": "gem_100", "purchaseToken": gem.purchase_token}}),
    )
    .await;

    for check in &checks {
        assert!(!check.ok, "{}", check.message);
    }
    for seen in attacker.seen() {
        assert!(!seen.text.to_lowercase().contains("authorization:"), "credentials sent to {}", seen.path);
        for secret in &secrets {
            assert!(!seen.text.contains(secret.as_str()), "a stored secret reached {}", seen.path);
        }
    }
    for store in [model::Store::Google, model::Store::Apple, model::Store::OneStore] {
        assert!(stored_secrets(&shop.app, store).await.is_empty(), "{store:?} kept its secrets after a URL change");
    }
    let details: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'store_app.update' ORDER BY id")
            .fetch_all(shop.app.db.pool())
            .await
            .unwrap();
    assert!(details[0].contains("serviceAccountJson cleared"), "{}", details[0]);
    assert!(details[1].contains("privateKey cleared") && details[1].contains("sharedSecret cleared"));
    assert!(details[2].contains("clientSecret cleared"), "{}", details[2]);
}

#[tokio::test]
async fn a_url_change_that_enters_the_secret_again_is_taken() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let proxy = Recorder::on("127.0.0.1", None).await;

    save_app(&admin, "ONESTORE", &[("productionUrl", &proxy.base), ("clientSecret", "entered-again")]).await.unwrap();
    check_app(&admin, "ONESTORE").await;

    assert_eq!(stored_secrets(&shop.app, model::Store::OneStore).await, ["entered-again"]);
    assert!(proxy.seen().iter().any(|s| s.text.contains("entered-again")), "the admin chose this destination");
}

#[tokio::test]
async fn store_urls_are_refused_when_the_configuration_does_not_allow_overrides() {
    let shop = shop_with(|s| s.outbound.store_url_overrides = false).await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let attacker = Recorder::on("127.0.0.1", None).await;

    let saved = save_app(&admin, "ONESTORE", &[("productionUrl", &attacker.base)]).await;
    // The shop's apps were pointed at the fakes behind the console's back: the client refuses them.
    let check = check_app(&admin, "GG").await;
    let verify = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"paymentSeq": shop.reserve("u1", "ONESTORE", "gem_100").await, "storeCode": "ONESTORE",
            "purchase": {"productId": "gem_100", "purchaseToken": shop.onestore_gem()}}),
        )
        .await;

    let refused = format!("{:?}", saved.unwrap_err());
    assert!(refused.contains("store URL overrides are off"), "{refused}");
    assert!(!check.ok);
    assert!(
        check.message.contains("apiRoot is set") && check.message.contains("store_url_overrides"),
        "{}",
        check.message
    );
    assert_ne!(verify.code(), 0, "no purchase verifies against a host the configuration does not allow");
    assert!(attacker.seen().is_empty());
}

/// The server with the production default of `outbound.allow_hosts` (nothing named), store URL
/// overrides on so that the console takes a URL at all.
async fn strict_app() -> TestApp {
    spawn_app_with(|s| {
        s.outbound.allow_hosts = Vec::new();
        s.outbound.store_url_overrides = true;
    })
    .await
}

/// One event for the demo project's endpoints.
async fn announce(app: &TestApp) {
    let project = server::projects::find_id_by_name(&app.db, demo::PROJECT_NAME).await.unwrap().unwrap();
    let mut tx = app.db.begin_write().await.unwrap();
    server::webhooks::emit(&mut tx, project, EventType::AbuseFlagged, Some("u1"), None, json!({})).await.unwrap();
    tx.commit().await.unwrap();
}

async fn create_webhook(admin: &TestApp, url: &str) -> Result<WebhookSecret, app::AppError> {
    let project = server::projects::find_id_by_name(&admin.db, demo::PROJECT_NAME).await.unwrap().unwrap();
    admin.submit("/api/webhooks/create", &[("project", &project.to_string()), ("url", url), ("event_types", "*")]).await
}

#[tokio::test]
async fn store_webhook_and_connection_test_calls_to_internal_addresses_are_refused_without_configuration() {
    let app = strict_app().await;
    let admin = app.signed_in_as(Role::Admin).await;
    let internal = Recorder::on("127.0.0.1", None).await;
    let port = internal.base.rsplit(':').next().unwrap().to_string();

    for url in [
        internal.base.clone(),
        format!("https://127.0.0.1:{port}"),
        "https://10.0.0.1/hooks".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        format!("https://[::1]:{port}/"),
    ] {
        let webhook = create_webhook(&admin, &url).await;
        let store = save_app(&admin, "ONESTORE", &[("productionUrl", &url)]).await;
        assert!(format!("{webhook:?}").contains("not called"), "webhook to {url}: {webhook:?}");
        assert!(format!("{store:?}").contains("not called"), "store URL {url}: {store:?}");
    }
    // A name is resolved when the call is made, and a name that resolves to loopback is refused
    // then, whatever it resolved to when it was saved.
    let by_name = format!("https://localhost:{port}");
    create_webhook(&admin, &format!("{by_name}/hooks")).await.unwrap();
    save_app(&admin, "ONESTORE", &[("productionUrl", &by_name), ("clientSecret", "s")]).await.unwrap();
    let check = check_app(&admin, "ONESTORE").await;
    announce(&app).await;
    server::webhooks::delivery::run_due(&app.state).await.unwrap();

    assert!(!check.ok);
    assert!(check.message.contains("localhost resolves to no public address"), "{}", check.message);
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT error FROM webhook_attempts").fetch_all(app.db.pool()).await.unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| e.as_deref() == Some("refused: localhost resolves to no public address")),
        "{errors:?}"
    );
    assert!(internal.seen().is_empty(), "the internal host was reached");
}

#[tokio::test]
async fn a_stored_internal_store_url_is_refused_when_called_not_only_when_saved() {
    let app = strict_app().await;
    let admin = app.signed_in_as(Role::Admin).await;
    let internal = Recorder::on("127.0.0.1", None).await;

    // Written behind the console's back (an old row, a restored backup): the call itself refuses it.
    for url in [internal.base.replace("http:", "https:"), "https://169.254.169.254".into(), "https://10.0.0.1".into()] {
        let settings = json!({"productionUrl": url, "sandboxUrl": url});
        let (store, package) = (model::Store::OneStore, demo::PACKAGE);
        store_apps::connect(&app.db, &app.state.cipher, store, package, &settings, &json!({"clientSecret": "s"}))
            .await
            .unwrap();
        let check = check_app(&admin, "ONESTORE").await;
        assert!(check.message.contains("is not a public address"), "{url}: {}", check.message);
    }
    assert!(internal.seen().is_empty());
}

#[tokio::test]
async fn a_redirect_to_an_internal_host_is_not_followed() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let internal = Recorder::on("127.0.0.2", None).await;
    let redirecting = Recorder::on("127.0.0.1", Some(internal.base.clone())).await;

    save_app(&admin, "ONESTORE", &[("productionUrl", &redirecting.base), ("clientSecret", "s")]).await.unwrap();
    let check = check_app(&admin, "ONESTORE").await;
    create_webhook(&admin, &format!("{}/hooks", redirecting.base)).await.unwrap();
    announce(&shop.app).await;
    server::webhooks::delivery::run_due(&shop.app.state).await.unwrap();
    // Another loopback address than the named one stands for an internal host: never called.
    let direct = create_webhook(&admin, &format!("{}/hooks", internal.base)).await;

    assert!(check.message.contains("redirect not followed (HTTP 307)"), "{}", check.message);
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT error FROM webhook_attempts").fetch_all(shop.app.db.pool()).await.unwrap();
    assert_eq!(errors, [Some("redirect not followed (HTTP 307)".to_string())]);
    assert!(!redirecting.seen().is_empty());
    assert!(format!("{direct:?}").contains("127.0.0.2 is not a public address"), "{direct:?}");
    assert!(internal.seen().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn what_the_console_shows_of_a_failed_store_call_is_short_and_holds_no_remote_body() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    save_app(&admin, "ONESTORE", &[("productionUrl", &format!("http://127.0.0.1:{closed}")), ("clientSecret", "s")])
        .await
        .unwrap();
    let check = check_app(&admin, "ONESTORE").await;

    assert!(!check.ok);
    assert!(!check.message.contains(&closed.to_string()), "{}", check.message);
    assert!(check.message.len() < 120, "{}", check.message);
}
