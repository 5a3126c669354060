use serde_json::{json, Value};
use server::demo;

use testing::process::ServerProcess;

use crate::figures;

/// Signs in, creates and rotates a project's keys, buys, lists and consumes, fails a consume, with
/// the server logging at debug level: no password, key or token may reach the log, and no page or
/// answer but the one that hands a secret out may carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_key_or_token_reaches_the_log_even_at_debug_level() {
    let crate::Shop { stores, scratch, .. } = crate::shop("test_secrets").await;
    let server = ServerProcess::start_with(&scratch, &[("IAP_LOG__FILTER", "debug")]);
    let base = server.base.clone();
    let mut secrets = vec![demo::ADMIN_PASSWORD.to_string(), demo::SECRET_KEY.to_string()];

    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    // Each session has its own CSRF token, taken from the session like the console does.
    let csrf = || async {
        let session: Value = browser.get(format!("{base}/api/session")).send().await.unwrap().json().await.unwrap();
        session["csrf"].as_str().unwrap().to_string()
    };
    let post = |path: &str, csrf: &str, pairs: &[(&str, &str)]| {
        let mut all = vec![("_csrf", csrf)];
        all.extend_from_slice(pairs);
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
        browser
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
    };
    let anonymous = csrf().await;
    let wrong = [("username", "demo"), ("password", "not-the-password-1"), ("next", "")];
    assert!(post("/api/login", &anonymous, &wrong).await.unwrap().status().is_success());
    let right = [("username", demo::ADMIN_USERNAME), ("password", demo::ADMIN_PASSWORD), ("next", "")];
    assert!(post("/api/login", &anonymous, &right).await.unwrap().status().is_success());
    let signed_in = csrf().await;
    secrets.extend([anonymous, signed_in.clone(), "not-the-password-1".into()]);
    let created: Value =
        post("/api/projects/create", &signed_in, &[("name", "Secret keeper")]).await.unwrap().json().await.unwrap();
    let new_secret = created["secret_key"].as_str().expect("the new project's SecretKey, shown once").to_string();
    let project = created["project_id"].to_string();
    let rotated: Value = post("/api/project/rotate", &signed_in, &[("project", &project), ("grace_hours", "1")])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated_secret = rotated["secret_key"].as_str().expect("the rotated SecretKey, shown once").to_string();
    secrets.extend([new_secret.clone(), rotated_secret.clone()]);

    let target = server::reference_client::Target {
        api: base.clone(),
        stores: stores.clone(),
        app_key: demo::APP_KEY.into(),
        secret_key: demo::SECRET_KEY.into(),
        package: demo::PACKAGE.into(),
        verbose: false,
    };
    let client = server::reference_client::Client::new(target);
    for store in ["GG", "AS", "ONESTORE"] {
        let kept = client.buy("keeper", store, "gem_100", server::reference_client::ConsumeBy::None).await.unwrap();
        let consumed =
            client.buy("keeper", store, "gem_100", server::reference_client::ConsumeBy::Server).await.unwrap();
        secrets.extend([&kept, &consumed].map(|p| p["accessToken"].as_str().unwrap().to_string()));
    }
    client.unconsumed("keeper").await.unwrap();
    let http = reqwest::Client::new();
    let refused: Value = http
        .post(format!("{base}/v1/service/consume"))
        .header("x-nhn-tciap-appkey", demo::APP_KEY)
        .header("x-secret-key", "a-wrong-secret-key-0000000000000000000000")
        .json(&json!({"paymentSeq": "2026112500000001", "accessToken": "a-guessed-token"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["header"]["isSuccessful"], false);
    secrets.extend(["a-wrong-secret-key-0000000000000000000000".into(), "a-guessed-token".into()]);

    // Pages and answers that must not carry the keys they know of.
    let detail = browser.get(format!("{base}/api/project?id={project}")).send().await.unwrap().text().await.unwrap();
    let page = browser.get(format!("{base}/projects/{project}")).send().await.unwrap().text().await.unwrap();
    for (what, text) in [("project detail", &detail), ("project page", &page)] {
        assert!(!text.contains(&new_secret) && !text.contains(&rotated_secret), "the {what} shows no SecretKey");
    }

    let log = server.log();
    let lines = log.lines().count();
    assert!(lines > 50 && log.contains("/v1/service/consume"), "the server logged at debug level ({lines} lines)");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret: {}…", &secret[..6.min(secret.len())]);
    }
    figures(
        "secrets",
        &format!(
            "{} secrets (passwords, SecretKeys, CSRF and access tokens) absent from {lines} debug log lines",
            secrets.len()
        ),
    );
}
