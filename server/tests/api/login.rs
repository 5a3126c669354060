use model::LoginResult;
use server::demo::{ADMIN_PASSWORD, ADMIN_USERNAME};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_demo_admin_signs_in_and_the_session_knows_the_user() {
    let app = spawn_app().await;

    let result = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let session: model::SessionInfo = app.get_fn("/api/session").await.unwrap();

    assert_eq!(result, LoginResult::SignedIn);
    let user = session.user.expect("signed in");
    assert_eq!(user.username, ADMIN_USERNAME);
    assert_eq!(user.role, model::Role::Admin);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login'").await, 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_leaves_the_session_anonymous() {
    let app = spawn_app().await;

    let result = app.login(ADMIN_USERNAME, "not the password").await;
    let session: model::SessionInfo = app.get_fn("/api/session").await.unwrap();

    assert_eq!(result, LoginResult::BadCredentials);
    assert!(session.user.is_none());
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed'").await, 1);
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;

    assert_eq!(app.login("nobody", "whatever it is").await, LoginResult::BadCredentials);
}

#[tokio::test]
async fn repeated_failures_lock_the_username_even_against_the_right_password() {
    let app = spawn_app().await;

    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(app.login(ADMIN_USERNAME, "guess").await);
    }
    let with_right_password = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;

    assert!(results[..4].iter().all(|r| *r == LoginResult::BadCredentials), "{results:?}");
    assert!(matches!(results[4], LoginResult::Throttled { retry_after_secs } if retry_after_secs > 0));
    assert!(matches!(with_right_password, LoginResult::Throttled { .. }));
    let session: model::SessionInfo = app.get_fn("/api/session").await.unwrap();
    assert!(session.user.is_none());
}

#[tokio::test]
async fn a_successful_sign_in_after_failures_resets_the_count() {
    let app = spawn_app().await;

    for _ in 0..4 {
        app.login(ADMIN_USERNAME, "guess").await;
    }
    app.login_as_demo_admin().await;
    let after = app.login(ADMIN_USERNAME, "guess").await;

    assert_eq!(after, LoginResult::BadCredentials);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let csrf = app.csrf().await;

    let response = app.post_form("/api/logout", &[("_csrf", &csrf)]).await;
    let projects = app.get_fn::<Vec<model::ProjectSummary>>("/api/projects").await;

    assert!(response.status().is_success() || response.status().is_redirection());
    assert_eq!(projects, Err(app::AppError::Unauthenticated));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'logout'").await, 1);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/api/session")).send().await.unwrap();

    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("iap_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    // Served over plain http here; `public_url = https://…` adds Secure.
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = spawn_app().await;
    let before = app.client.get(app.url("/api/session")).send().await.unwrap();
    let id_before = session_cookie(&before).unwrap();
    let csrf = app.csrf().await;

    let response = app
        .post_form(
            "/api/login",
            &[("_csrf", &csrf), ("username", ADMIN_USERNAME), ("password", ADMIN_PASSWORD), ("next", "")],
        )
        .await;

    let id_after = session_cookie(&response).expect("a new cookie at sign-in");
    assert_ne!(id_before, id_after);
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("iap_session=").map(|rest| rest.split(';').next().unwrap().to_string()))
}
