//! The console against a stolen session, a curious insider and a crafted link, played over HTTP:
//! sign-in races, sessions that must end, redirects, browser protections, exports, manual
//! changes and the data at rest.
use futures_util::future::join_all;
use model::{LoginResult, Role};
use serde_json::json;
use server::{demo, fakes::apple::NewPurchase};

use crate::{
    helpers::{spawn_app, spawn_app_with, TestApp},
    shop::shop,
};

const PASSWORD: &str = "a long enough password";

async fn user_id(app: &TestApp, username: &str) -> String {
    let id: i64 = sqlx::query_scalar("SELECT id FROM console_users WHERE username = $1")
        .bind(username)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    id.to_string()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.count(sql).await
}

#[tokio::test]
async fn a_hundred_parallel_wrong_passwords_get_no_more_password_checks_than_the_limit() {
    let app = spawn_app().await;
    let browsers: Vec<TestApp> = (0..100).map(|_| app.another_browser()).collect();

    let results = join_all(browsers.iter().map(|b| b.login(demo::ADMIN_USERNAME, "guess number one"))).await;
    let right_password = app.login(demo::ADMIN_USERNAME, demo::ADMIN_PASSWORD).await;

    // Each checked password that failed is audited as `login.failed`; a throttled attempt is not checked.
    let checked = count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed'").await;
    assert!(checked <= 5, "{checked} password checks for a limit of 5");
    assert!(results.iter().filter(|r| matches!(r, LoginResult::Throttled { .. })).count() >= 95);
    assert!(matches!(right_password, LoginResult::Throttled { .. }), "the username is locked");
}

#[tokio::test]
async fn an_attack_from_a_shared_address_does_not_lock_out_the_users_who_sign_in_from_it() {
    let app = spawn_app_with(|s| s.login.max_ip_failures = 5).await;
    server::users::upsert(&app.db, "alice", PASSWORD.into(), Role::Support, false).await.unwrap();
    server::users::upsert(&app.db, "bob", PASSWORD.into(), Role::Support, false).await.unwrap();
    assert_eq!(app.another_browser().login("alice", PASSWORD).await, LoginResult::SignedIn);

    // Everyone here comes from 127.0.0.1, as everyone behind one proxy would.
    for name in ["root", "admin", "test", "guest", "oracle", "ubuntu"] {
        app.another_browser().login(name, "password123").await;
    }
    let alice = app.another_browser().login("alice", PASSWORD).await;
    let bob = app.another_browser().login("bob", PASSWORD).await;

    assert_eq!(alice, LoginResult::SignedIn, "a user known from this address keeps signing in");
    assert!(matches!(bob, LoginResult::Throttled { .. }), "the address is locked for names not known from it");
}

async fn audited_ip(app: &TestApp) -> Option<String> {
    sqlx::query_scalar("SELECT ip FROM audit_log WHERE action = 'login' ORDER BY id DESC LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn login_forwarded(app: &TestApp, forwarded_for: &str) {
    let csrf = app.csrf().await;
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("_csrf", csrf.as_str()),
            ("username", demo::ADMIN_USERNAME),
            ("password", demo::ADMIN_PASSWORD),
            ("next", ""),
        ])
        .finish();
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    let direct = spawn_app().await;
    let proxied = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".into()]).await;

    login_forwarded(&direct, "198.51.100.7").await;
    login_forwarded(&proxied, "6.6.6.6, 198.51.100.7").await;

    assert_eq!(audited_ip(&direct).await.as_deref(), Some("127.0.0.1"), "an untrusted peer's header is ignored");
    assert_eq!(audited_ip(&proxied).await.as_deref(), Some("198.51.100.7"), "what the proxy appended");
}

/// A second browser signed in as a new SUPPORT user; the session works before the change.
async fn signed_in_support(app: &TestApp) -> (TestApp, String) {
    let support = app.signed_in_as(Role::Support).await;
    let id = user_id(app, "support-user").await;
    assert!(support.get_fn::<Vec<model::ProjectSummary>>("/api/projects").await.is_ok());
    (support, id)
}

async fn still_signed_in(browser: &TestApp) -> bool {
    let session: model::SessionInfo = browser.get_fn("/api/session").await.unwrap();
    session.user.is_some()
}

#[tokio::test]
async fn a_session_ends_at_a_password_reset_a_disable_and_a_role_change_on_every_instance() {
    let app = spawn_app().await;
    let second = app.second_instance().await;
    let admin = app.signed_in_as(Role::Admin).await;

    let changes: [(&str, &[(&str, &str)]); 3] = [
        ("/api/users/password", &[("password", "another long password")]),
        ("/api/users/disabled", &[("disabled", "true")]),
        ("/api/users/role", &[("role", "VIEWER")]),
    ];
    for (path, extra) in changes {
        server::users::upsert(&app.db, "support-user", PASSWORD.into(), Role::Support, true).await.unwrap();
        let (support, id) = signed_in_support(&app).await;
        // The same browser's cookie, served by the other instance.
        let mut on_second = second.another_browser();
        on_second.client = support.client.clone();
        assert!(still_signed_in(&on_second).await);

        let mut form = vec![("id", id.as_str())];
        form.extend_from_slice(extra);
        admin.submit::<()>(path, &form).await.unwrap();

        assert!(!still_signed_in(&support).await, "{path}: the session survived");
        assert!(!still_signed_in(&on_second).await, "{path}: the session survived on the other instance");
        let page = support.client.get(support.url("/projects")).send().await.unwrap();
        assert!(page.headers()["location"].to_str().unwrap().starts_with("/login"), "{path}");
        if path == "/api/users/disabled" {
            admin.submit::<()>(path, &[("id", &id), ("disabled", "false")]).await.unwrap();
            assert!(!still_signed_in(&support).await, "enabling the user again brings no old session back");
        }
    }
}

#[tokio::test]
async fn the_csrf_token_changes_at_sign_in() {
    let app = spawn_app().await;
    let planted = app.csrf().await;

    app.login_as_demo_admin().await;
    let after = app.csrf().await;
    let with_planted =
        app.post_fn::<()>("/api/project/key", &[("_csrf", &planted), ("project", "1"), ("enabled", "false")]).await;

    assert_ne!(planted, after);
    assert!(with_planted.is_err(), "the token known before sign-in is refused");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM projects WHERE key_status <> 'ACTIVE'").await, 0);
}

#[tokio::test]
async fn a_next_that_a_browser_would_read_as_another_host_is_refused() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    for crafted in ["/%09/evil.example", "/%0d%0a/evil.example", "//evil.example", "/%5cevil.example"] {
        let url = app.url(&format!("/preferences/time-zone?offset=0&next={crafted}"));
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.headers()["location"], "/projects", "{crafted}");
    }
    let anonymous = app.another_browser();
    let csrf = anonymous.csrf().await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("username", demo::ADMIN_USERNAME),
        ("password", demo::ADMIN_PASSWORD),
        ("next", "/\t/evil.example"),
    ];
    let response = anonymous.post_form("/api/login", &form).await;
    let redirect = response.headers().get("location").or(response.headers().get("serverfnredirect"));
    assert_eq!(redirect.unwrap(), "/projects");
}

#[tokio::test]
async fn every_response_carries_the_browser_protections() {
    let app = spawn_app().await;
    let https = spawn_app_with(|s| s.public_url = "https://iap.example".into()).await;

    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let api = app.client.post(app.url("/v1/sdk/reserve")).json(&json!({})).send().await.unwrap();
    let behind_tls = https.client.get(https.url("/healthz")).send().await.unwrap();

    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("'nonce-"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let nonce = policy.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the policy's nonce");
    for response in [&api, &behind_tls] {
        let headers = response.headers();
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["x-frame-options"], "DENY");
    }
    assert!(api.headers().get("strict-transport-security").is_none(), "plain http on loopback");
    assert_eq!(behind_tls.headers()["strict-transport-security"], "max-age=31536000");
    let cookie = https.client.get(https.url("/api/session")).send().await.unwrap();
    let set_cookie = cookie.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn a_formula_in_a_user_id_or_payload_is_defused_in_the_csv_and_the_export_is_audited() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    for user in ["=HYPERLINK(\"http://evil.example\")", "@SUM(A1)", "+1", "-1"] {
        shop.reserve(user, "GG", "gem_100").await;
    }
    let payload = shop
        .sdk(
            "/v1/sdk/reserve",
            json!({"userId": "plain", "storeCode": "GG", "productId": "gem_100",
            "developerPayload": "\t=cmd|' /C calc'!A0"}),
        )
        .await;
    payload.ok();

    let csv = viewer.client.get(viewer.url("/export/transactions.csv")).send().await.unwrap().text().await.unwrap();

    for line in csv.lines().skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a live formula: {line}");
        }
    }
    assert!(csv.contains("'=HYPERLINK") && csv.contains("'@SUM(A1)") && csv.contains("'\t=cmd"), "{csv}");
    assert_eq!(count(&shop.app, "SELECT COUNT(*) FROM audit_log WHERE action = 'export.transactions'").await, 1);
}

async fn change_status(user: &TestApp, seq: &str, receipt: &str) -> Result<(), app::AppError> {
    let form = [
        ("payment_seq", seq),
        ("to", "SUCCESS"),
        ("reason", "the user sent a receipt"),
        ("receipt", receipt),
        ("price", "0.99"),
        ("currency", "USD"),
    ];
    user.submit("/api/payment/status", &form).await
}

#[tokio::test]
async fn support_cannot_mark_a_payment_success_that_the_store_does_not_confirm() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    // A Google purchase that failed verification: its receipt number is anyone's to type.
    let google = shop.reserve("insider", "GG", "gem_100").await;
    sqlx::query("UPDATE payments SET status = 'FAILURE' WHERE payment_seq = $1")
        .bind(&google)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    let made_up = shop.reserve("insider", "AS", "gem_100").await;
    let other_item = shop.reserve("insider", "AS", "gem_500").await;
    let bought = shop.fakes.apple.add_purchase(NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;

    let by_support = [
        change_status(&support, &google, "GPA.1234-5678-9012-34567").await,
        change_status(&support, &made_up, "2000000999999999").await,
        change_status(&support, &other_item, &bought.transaction_id).await,
    ];
    let by_admin = change_status(&admin, &google, "GPA.1234-5678-9012-34567").await;

    for refused in &by_support {
        assert!(format!("{refused:?}").contains("only an admin"), "{refused:?}");
    }
    by_admin.unwrap();
    let success = count(&shop.app, "SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS'").await;
    assert_eq!(success, 1, "only the admin's change");
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'payment.status'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert!(detail.contains("not confirmed by the store (admin)"), "{detail}");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let apps: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, store FROM store_apps ORDER BY id").fetch_all(shop.app.db.pool()).await.unwrap();
    let (google, apple) = (apps.iter().find(|a| a.1 == "GG").unwrap().0, apps.iter().find(|a| a.1 == "AS").unwrap().0);

    // An insider with write access to the database copies the Google key into the Apple app.
    sqlx::query(
        "UPDATE store_apps SET credentials_enc = (SELECT credentials_enc FROM store_apps WHERE id = $1) WHERE id = $2",
    )
    .bind(google)
    .bind(apple)
    .execute(shop.app.db.pool())
    .await
    .unwrap();
    let check = admin.submit::<model::ConnectionCheck>("/api/project/app/check", &[("id", &apple.to_string())]).await;

    assert!(check.is_err(), "the moved credentials opened: {check:?}");
    let cipher = &shop.app.state.cipher;
    let sealed: String = sqlx::query_scalar("SELECT credentials_enc FROM store_apps WHERE id = $1")
        .bind(apple)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    let column = server::crypto::Column::StoreAppCredentials;
    assert!(cipher.decrypt(column, &apple.to_string(), &sealed).is_err());
    assert!(cipher.decrypt(column, &google.to_string(), &sealed).is_ok(), "it opens only where it was sealed");
}

#[tokio::test]
async fn an_instance_with_another_encryption_key_refuses_to_start() {
    let app = spawn_app().await;
    let mut settings = (*app.state.settings).clone();
    settings.site_addr = "127.0.0.1:0".parse().unwrap();
    settings.encryption_key =
        Some(serde_json::from_value(json!("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=")).unwrap());

    let started =
        server::Application::build(settings, leptos::config::LeptosOptions::builder().output_name("iap").build()).await;

    let refused = started.err().expect("the instance started with another key").to_string();
    assert!(refused.contains("encryption key is not the one this database was written with"), "{refused}");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_an_admin() {
    let app = spawn_app().await;
    let other = app.signed_in_as(Role::Admin).await;
    app.login_as_demo_admin().await;
    let (demo_id, other_id) = (user_id(&app, demo::ADMIN_USERNAME).await, user_id(&app, "admin-user").await);

    let (demote_other, demote_demo) =
        ([("id", &*other_id), ("role", "VIEWER")], [("id", &*demo_id), ("role", "VIEWER")]);
    let (first, second) = tokio::join!(
        app.submit::<()>("/api/users/role", &demote_other),
        other.submit::<()>("/api/users/role", &demote_demo),
    );

    assert_eq!(count(&app, "SELECT COUNT(*) FROM console_users WHERE role = 'ADMIN' AND disabled = 0").await, 1);
    assert!(first.is_ok() != second.is_ok(), "one demotion is refused: {first:?} {second:?}");
}
