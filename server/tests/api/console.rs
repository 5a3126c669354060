use app::{
    model::{NewProjectKeys, ProjectSummary, Role},
    AppError,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn server_functions_refuse_an_anonymous_caller() {
    let app = spawn_app().await;
    let csrf = app.csrf().await;

    let list = app.get_fn::<Vec<ProjectSummary>>("/api/projects").await;
    let create = app.post_fn::<NewProjectKeys>("/api/projects/create", &[("_csrf", &csrf), ("name", "Sneaky")]).await;

    assert_eq!(list, Err(AppError::Unauthenticated));
    assert_eq!(create, Err(AppError::Unauthenticated));
    assert_eq!(app.count("SELECT COUNT(*) FROM projects").await, 1);
}

#[tokio::test]
async fn a_viewer_reads_projects_but_cannot_create_one() {
    let app = spawn_app().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let csrf = viewer.csrf().await;

    let list = viewer.get_fn::<Vec<ProjectSummary>>("/api/projects").await.unwrap();
    let create =
        viewer.post_fn::<NewProjectKeys>("/api/projects/create", &[("_csrf", &csrf), ("name", "Viewer's")]).await;

    assert_eq!(list.len(), 1);
    assert_eq!(create, Err(AppError::Forbidden));
    assert_eq!(app.count("SELECT COUNT(*) FROM projects").await, 1);
}

#[tokio::test]
async fn an_admin_creates_a_project_and_sees_its_secret_once() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let csrf = app.csrf().await;

    let keys: NewProjectKeys =
        app.post_fn("/api/projects/create", &[("_csrf", &csrf), ("name", "  Space Game ")]).await.unwrap();
    let list: Vec<ProjectSummary> = app.get_fn("/api/projects").await.unwrap();

    assert_eq!(keys.name, "Space Game");
    assert_eq!(keys.app_key.len(), 20);
    assert!(keys.secret_key.len() >= 40);
    assert!(list.iter().any(|p| p.name == "Space Game" && p.app_key == keys.app_key));
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM projects WHERE app_key = $1")
        .bind(&keys.app_key)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_ne!(stored, keys.secret_key, "only a hash of the secret is stored");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'project.create'").await, 1);
}

#[tokio::test]
async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;

    let missing = app.post_fn::<NewProjectKeys>("/api/projects/create", &[("name", "No token")]).await;
    let wrong = app.post_fn::<NewProjectKeys>("/api/projects/create", &[("_csrf", "forged"), ("name", "Forged")]).await;

    assert_eq!(missing, Err(AppError::Csrf));
    assert_eq!(wrong, Err(AppError::Csrf));
    assert_eq!(app.count("SELECT COUNT(*) FROM projects").await, 1);
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_the_token() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let csrf = app.csrf().await;
    let body = format!("_csrf={csrf}&name=Cross");

    let response = app
        .client
        .post(app.url("/api/projects/create"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM projects").await, 1);
}

#[tokio::test]
async fn the_login_form_itself_needs_the_csrf_token() {
    let app = spawn_app().await;

    let result = app
        .post_fn::<model::LoginResult>(
            "/api/login",
            &[("username", "demo"), ("password", "demo-password"), ("next", "")],
        )
        .await;

    assert_eq!(result, Err(AppError::Csrf));
}

#[tokio::test]
async fn console_pages_send_an_anonymous_browser_to_sign_in() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/projects?x=1")).send().await.unwrap();

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?next=/projects%3Fx%3D1");
}

#[tokio::test]
async fn the_projects_page_renders_on_the_server_for_a_signed_in_user() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;

    let response = app.client.get(app.url("/projects")).send().await.unwrap();
    let status = response.status();
    let html = response.text().await.unwrap();

    assert_eq!(status, 200);
    assert!(html.contains("Demo Game"), "{html}");
    assert!(html.contains("DEMOAPPKEY0000000001"));
    assert!(html.contains("name=\"_csrf\""));
}

#[tokio::test]
async fn the_login_page_is_served_to_anyone_with_a_csrf_field() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/login")).send().await.unwrap();
    let status = response.status();
    let html = response.text().await.unwrap();

    assert_eq!(status, 200);
    assert!(html.contains("name=\"_csrf\""), "{html}");
    assert!(html.contains("name=\"password\""));
}

#[tokio::test]
async fn admins_read_the_audit_log_and_other_roles_cannot() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let csrf = app.csrf().await;
    app.post_fn::<NewProjectKeys>("/api/projects/create", &[("_csrf", &csrf), ("name", "Audited")]).await.unwrap();
    let support = app.signed_in_as(model::Role::Support).await;

    let all: model::AuditPage = app.get_fn("/api/audit").await.unwrap();
    let created: model::AuditPage = app.get_fn("/api/audit?query[action]=project.create").await.unwrap();
    let refused = support.get_fn::<model::AuditPage>("/api/audit").await.unwrap_err();
    let html = app.client.get(app.url("/audit?actor=demo")).send().await.unwrap().text().await.unwrap();

    assert!(all.rows.iter().any(|r| r.action == "login" && r.actor == "demo"));
    assert_eq!(created.rows.len(), 1);
    assert_eq!(created.rows[0].actor, "demo");
    assert!(created.rows[0].target.as_deref().is_some_and(|t| t.starts_with("project ")));
    assert_eq!(refused, app::AppError::Forbidden);
    assert!(html.contains("project.create"), "{html}");
}

#[tokio::test]
async fn the_chosen_time_zone_is_remembered_and_the_pages_show_times_in_it() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let utc: model::AuditPage = app.get_fn("/api/audit").await.unwrap();
    let login_at = utc.rows.last().unwrap().at;

    let chosen = app.client.get(app.url("/preferences/time-zone?offset=540&next=/audit")).send().await.unwrap();
    let foreign =
        app.client.get(app.url("/preferences/time-zone?offset=0&next=https://evil.example")).send().await.unwrap();
    let session: model::SessionInfo = app.get_fn("/api/session").await.unwrap();
    let html = app.client.get(app.url("/audit")).send().await.unwrap().text().await.unwrap();

    assert_eq!(chosen.status(), 303);
    assert_eq!(chosen.headers()["location"], "/audit");
    assert_eq!(foreign.headers()["location"], "/projects", "only pages of the console are gone back to");
    assert_eq!(session.utc_offset_minutes, 0, "the second choice, UTC, replaced the first");
    let reset = app.client.get(app.url("/preferences/time-zone?offset=540&next=/audit")).send().await.unwrap();
    assert_eq!(reset.status(), 303);
    let html_in_tokyo = app.client.get(app.url("/audit")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&model::format::utc(login_at)), "UTC after choosing UTC");
    assert!(html_in_tokyo.contains(&model::format::utc(login_at + 9 * 3_600_000)), "nine hours ahead in UTC+09:00");
    assert!(html_in_tokyo.contains("<option value=\"540\" selected"));
}
