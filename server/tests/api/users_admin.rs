//! Console users managed by admins.
use app::{
    model::{ConsoleUserRow, LoginResult, ProjectSummary, Role},
    AppError,
};

use crate::helpers::{spawn_app, TestApp};

async fn id_of(admin: &TestApp, username: &str) -> String {
    let users: Vec<ConsoleUserRow> = admin.get_fn("/api/users").await.unwrap();
    users.into_iter().find(|u| u.username == username).unwrap().id.to_string()
}

#[tokio::test]
async fn an_admin_creates_a_support_user_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Role::Admin).await;

    admin
        .submit::<i64>(
            "/api/users/create",
            &[("username", "Support.Kim"), ("password", "kims password!"), ("role", "SUPPORT")],
        )
        .await
        .unwrap();
    let taken = admin
        .submit::<i64>(
            "/api/users/create",
            &[("username", "support.kim"), ("password", "another pw 123"), ("role", "ADMIN")],
        )
        .await;
    let kim = app.another_browser();

    assert!(matches!(taken, Err(AppError::Invalid(_))));
    assert_eq!(kim.login("support.kim", "kims password!").await, LoginResult::SignedIn);
    let users: Vec<ConsoleUserRow> = admin.get_fn("/api/users").await.unwrap();
    let listed = users.iter().find(|u| u.username == "support.kim").unwrap();
    assert_eq!(listed.role, Role::Support);
    assert!(listed.last_login_at.is_some());
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'user.create'").await, 1);
}

#[tokio::test]
async fn only_admins_see_or_change_users() {
    let app = spawn_app().await;
    let support = app.signed_in_as(Role::Support).await;

    let list = support.get_fn::<Vec<ConsoleUserRow>>("/api/users").await;
    let create = support
        .submit::<i64>(
            "/api/users/create",
            &[("username", "sneaky"), ("password", "long password 1"), ("role", "ADMIN")],
        )
        .await;

    assert_eq!(list, Err(AppError::Forbidden));
    assert_eq!(create, Err(AppError::Forbidden));
    assert_eq!(app.count("SELECT COUNT(*) FROM console_users WHERE username = 'sneaky'").await, 0);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_the_next_request_and_cannot_sign_in() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Role::Admin).await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let id = id_of(&admin, "viewer-user").await;

    admin.submit::<()>("/api/users/disabled", &[("id", &id), ("disabled", "true")]).await.unwrap();
    let next_request = viewer.get_fn::<Vec<ProjectSummary>>("/api/projects").await;
    let again = app.another_browser().login("viewer-user", "a long enough password").await;

    assert_eq!(next_request, Err(AppError::Unauthenticated));
    assert_eq!(again, LoginResult::BadCredentials);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'user.disable'").await, 1);
}

#[tokio::test]
async fn a_role_change_ends_the_users_session_and_the_last_admin_cannot_demote_themselves() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let support = app.signed_in_as(Role::Support).await;
    let support_id = id_of(&app, "support-user").await;
    let demo_id = id_of(&app, server::demo::ADMIN_USERNAME).await;

    app.submit::<()>("/api/users/role", &[("id", &support_id), ("role", "ADMIN")]).await.unwrap();
    let old_session = support.get_fn::<Vec<ConsoleUserRow>>("/api/users").await;
    assert_eq!(support.login("support-user", "a long enough password").await, model::LoginResult::SignedIn);
    let promoted = support.get_fn::<Vec<ConsoleUserRow>>("/api/users").await;
    app.submit::<()>("/api/users/role", &[("id", &support_id), ("role", "VIEWER")]).await.unwrap();
    let last_admin = app.submit::<()>("/api/users/role", &[("id", &demo_id), ("role", "VIEWER")]).await;
    let last_admin_disabled = app.submit::<()>("/api/users/disabled", &[("id", &demo_id), ("disabled", "true")]).await;

    assert!(matches!(old_session, Err(AppError::Unauthenticated)), "{old_session:?}");
    assert!(promoted.is_ok());
    assert!(matches!(last_admin, Err(AppError::Invalid(m)) if m.contains("last")));
    assert!(matches!(last_admin_disabled, Err(AppError::Invalid(_))));
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'user.role' ORDER BY id LIMIT 1")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(detail, "role SUPPORT → ADMIN");
}

#[tokio::test]
async fn a_reset_password_replaces_the_old_one() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Role::Admin).await;
    app.signed_in_as(Role::Viewer).await;
    let id = id_of(&admin, "viewer-user").await;

    let short = admin.submit::<()>("/api/users/password", &[("id", &id), ("password", "short")]).await;
    admin.submit::<()>("/api/users/password", &[("id", &id), ("password", "a brand new password")]).await.unwrap();

    assert!(matches!(short, Err(AppError::Invalid(_))));
    assert_eq!(app.another_browser().login("viewer-user", "a long enough password").await, LoginResult::BadCredentials);
    assert_eq!(app.another_browser().login("viewer-user", "a brand new password").await, LoginResult::SignedIn);
}
