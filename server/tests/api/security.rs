//! Every console server function against every caller who must be refused: anonymous, each role
//! below the one it needs, and a request without its session's CSRF token. Refused calls change
//! nothing. The table below must name every registered server function, so a new one cannot be
//! added without deciding who may call it.
use std::collections::BTreeSet;

use app::{model::Role, AppError};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

/// Path, the least role allowed (None: anyone), and a well-formed call.
const FUNCTIONS: &[(&str, Option<Role>, &[(&str, &str)])] = &[
    ("/api/session", None, &[]),
    ("/api/login", None, &[("username", "demo"), ("password", "wrong"), ("next", "")]),
    ("/api/logout", None, &[]),
    ("/api/projects", Some(Role::Viewer), &[]),
    ("/api/projects/create", Some(Role::Admin), &[("name", "Sneaky")]),
    ("/api/project", Some(Role::Viewer), &[("id", "1")]),
    ("/api/project/rotate", Some(Role::Admin), &[("project", "1"), ("grace_hours", "0")]),
    ("/api/project/key", Some(Role::Admin), &[("project", "1"), ("enabled", "false")]),
    (
        "/api/project/policy",
        Some(Role::Admin),
        &[("project", "1"), ("user_binding", "WHEN_PRESENT"), ("client_consume", "true")],
    ),
    (
        "/api/project/app",
        Some(Role::Admin),
        &[
            ("app[project]", "1"),
            ("app[store]", "GG"),
            ("app[name]", "Sneaky"),
            ("app[store_app_id]", "com.example.sneaky"),
            ("app[environment_policy]", "PRODUCTION_AND_SANDBOX"),
            ("app[enabled]", "true"),
        ],
    ),
    ("/api/project/app/check", Some(Role::Admin), &[("id", "1")]),
    (
        "/api/project/item",
        Some(Role::Admin),
        &[("store_app", "1"), ("store_product_id", "sneaky"), ("name", "Sneaky"), ("product_type", "CONSUMABLE")],
    ),
    ("/api/project/item/name", Some(Role::Admin), &[("product_seq", "1"), ("name", "Sneaky")]),
    ("/api/project/item/status", Some(Role::Admin), &[("product_seq", "1"), ("status", "STOP")]),
    ("/api/project/item/prices", Some(Role::Admin), &[("product_seq", "1"), ("prices", "0.01 USD")]),
    ("/api/users", Some(Role::Admin), &[]),
    (
        "/api/users/create",
        Some(Role::Admin),
        &[("username", "mallory"), ("password", "a long enough password"), ("role", "ADMIN")],
    ),
    ("/api/users/role", Some(Role::Admin), &[("id", "1"), ("role", "VIEWER")]),
    ("/api/users/disabled", Some(Role::Admin), &[("id", "1"), ("disabled", "true")]),
    ("/api/users/password", Some(Role::Admin), &[("id", "1"), ("password", "a new long password")]),
    ("/api/transactions", Some(Role::Viewer), &[]),
    ("/api/statistics", Some(Role::Viewer), &[]),
    ("/api/audit", Some(Role::Admin), &[]),
    ("/api/payment", Some(Role::Viewer), &[("payment_seq", "2026112500000001")]),
    ("/api/payment/reverify", Some(Role::Support), &[("payment_seq", "2026112500000001")]),
    (
        "/api/payment/status",
        Some(Role::Support),
        &[("payment_seq", "2026112500000001"), ("to", "REFUND"), ("reason", "sneaky")],
    ),
    (
        "/api/payment/refund-request",
        Some(Role::Support),
        &[("payment_seq", "2026112500000001"), ("request", "1"), ("preference", "APPROVE")],
    ),
    ("/api/project/refunds", Some(Role::Admin), &[("project", "1"), ("refund_policy", "OFF")]),
    ("/api/refunds", Some(Role::Viewer), &[]),
    ("/api/abuse/clear", Some(Role::Support), &[("id", "1")]),
    ("/api/notifications", Some(Role::Viewer), &[]),
    ("/api/notification/reprocess", Some(Role::Support), &[("id", "1")]),
    ("/api/webhooks/create", Some(Role::Admin), &[("project", "1"), ("url", "https://example.com/hook")]),
    ("/api/webhooks/rotate", Some(Role::Admin), &[("endpoint", "1"), ("grace_hours", "0")]),
    ("/api/webhooks/enabled", Some(Role::Admin), &[("endpoint", "1"), ("enabled", "false")]),
    ("/api/webhooks/replay", Some(Role::Support), &[("replay[project]", "1"), ("replay[user_id]", "someone")]),
];

fn registered() -> BTreeSet<(String, Method)> {
    leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (path.to_string(), method)).collect()
}

/// Calls `path` as the browser does: GET with a query, or a POST form carrying `csrf`.
async fn call(
    client: &TestApp,
    path: &str,
    method: &Method,
    form: &[(&str, &str)],
    csrf: Option<&str>,
) -> Result<Value, AppError> {
    if *method == Method::GET {
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        return client.get_fn(&format!("{path}?{query}")).await;
    }
    let mut with_token: Vec<(&str, &str)> = csrf.map(|c| ("_csrf", c)).into_iter().collect();
    with_token.extend_from_slice(form);
    client.post_fn(path, &with_token).await
}

/// Everything a refused call could have changed.
async fn state_of(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["projects", "store_apps", "products", "console_users", "audit_log", "webhook_endpoints", "payments"] {
        counts.push(app.count(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts.push(app.count("SELECT COUNT(*) FROM console_users WHERE disabled = 1 OR role <> 'ADMIN'").await);
    counts.push(app.count("SELECT COUNT(*) FROM products WHERE status = 'STOP' OR name = 'Sneaky'").await);
    counts.push(app.count("SELECT COUNT(*) FROM projects WHERE key_status = 'DISABLED'").await);
    counts
}

#[tokio::test]
async fn every_registered_server_function_has_an_entry_in_the_permission_table() {
    let registered: BTreeSet<String> = registered().into_iter().map(|(path, _)| path).collect();
    let table: BTreeSet<String> = FUNCTIONS.iter().map(|(path, _, _)| path.to_string()).collect();

    assert_eq!(registered, table, "the table names exactly the registered server functions");
}

#[tokio::test]
async fn every_server_function_refuses_an_anonymous_caller_and_each_role_below_its_own() {
    let app = spawn_app().await;
    let methods = registered();
    let viewer = app.signed_in_as(Role::Viewer).await;
    let support = app.signed_in_as(Role::Support).await;
    let before = state_of(&app).await;
    let mut checked = 0;
    for (path, needed, form) in FUNCTIONS {
        let Some(needed) = needed else { continue };
        let method = &methods.iter().find(|(p, _)| p == path).expect("registered").1;
        let anonymous = app.another_browser();
        let csrf = anonymous.csrf().await;
        let refused = call(&anonymous, path, method, form, Some(&csrf)).await;
        assert_eq!(refused.err(), Some(AppError::Unauthenticated), "{path} for an anonymous caller");
        for (role, client) in [(Role::Viewer, &viewer), (Role::Support, &support)] {
            if role < *needed {
                let csrf = client.csrf().await;
                let refused = call(client, path, method, form, Some(&csrf)).await;
                assert_eq!(refused.err(), Some(AppError::Forbidden), "{path} for a {role:?}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, FUNCTIONS.len() - 3);
    assert_eq!(state_of(&app).await, before, "refused calls changed nothing");
}

#[tokio::test]
async fn every_form_function_refuses_a_missing_or_forged_csrf_token_even_from_an_admin() {
    let app = spawn_app().await;
    app.login_as_demo_admin().await;
    let methods = registered();
    let before = state_of(&app).await;
    for (path, _, form) in FUNCTIONS {
        let method = &methods.iter().find(|(p, _)| p == path).expect("registered").1;
        if *method == Method::GET {
            continue;
        }
        for token in [None, Some("forged")] {
            let refused = call(&app, path, method, form, token).await;
            assert_eq!(refused.err(), Some(AppError::Csrf), "{path} with token {token:?}");
        }
    }
    assert_eq!(state_of(&app).await, before, "refused calls changed nothing");
    assert!(app.get_fn::<model::SessionInfo>("/api/session").await.unwrap().user.is_some(), "still signed in");
}
