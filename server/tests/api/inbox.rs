//! The console's view of the store-notification inbox: listing, filters, pages, who sees the raw
//! bodies, and reprocessing. Rows are written straight into the table, and the app runs no
//! background work, so nothing processes them behind the test's back.
use app::{
    model::{NotificationPage, ProjectDetail, Role},
    AppError,
};

use crate::helpers::{spawn_app_without_workers, TestApp};

const DAY_MS: i64 = 86_400_000;

/// A notification as the test stores it; `store_app` is one of the demo's apps, by store code,
/// or none (a notification that named no app of ours).
struct Row<'a> {
    store: &'a str,
    store_app: Option<&'a str>,
    kind: &'a str,
    status: &'a str,
    received_at: i64,
    body: &'a str,
    authenticated: bool,
    payment_id: Option<i64>,
}

impl<'a> Row<'a> {
    fn new(store: &'a str, status: &'a str, received_at: i64) -> Row<'a> {
        Row {
            store,
            store_app: Some(store),
            kind: "ONE_TIME_CHARGE",
            status,
            received_at,
            body: r#"{"signedPayload":"x"}"#,
            authenticated: true,
            payment_id: None,
        }
    }
}

async fn demo_app(app: &TestApp, store: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM store_apps WHERE store = $1").bind(store).fetch_one(app.db.pool()).await.unwrap()
}

async fn demo_project(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT id FROM projects WHERE name = $1")
        .bind(server::demo::PROJECT_NAME)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn insert(app: &TestApp, row: Row<'_>) -> i64 {
    let store_app = match row.store_app {
        Some(store) => Some(demo_app(app, store).await),
        None => None,
    };
    let waiting = matches!(row.status, "RECEIVED" | "FAILED");
    sqlx::query_scalar(
        "INSERT INTO store_notifications (store, store_app_id, notification_key, notification_type, body, status, \
         attempts, next_attempt_at, last_error, payment_id, received_at, processed_at, purchase_ref, authenticated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(row.store)
    .bind(store_app)
    .bind(server::crypto::random_token(12))
    .bind(row.kind)
    .bind(row.body)
    .bind(row.status)
    .bind(if row.status == "RECEIVED" { 0_i64 } else { 1 })
    .bind(waiting.then_some(row.received_at + 60_000))
    .bind((row.status == "FAILED").then_some("asking the store: unavailable"))
    .bind(row.payment_id)
    .bind(row.received_at)
    .bind((!waiting).then_some(row.received_at + 1_000))
    .bind("purchase-token-1")
    .bind(i64::from(row.authenticated))
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

fn ids(page: &NotificationPage) -> Vec<i64> {
    page.rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn the_inbox_lists_the_newest_first_and_filters_by_store_status_project_and_day() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let now = server::now_ms();
    let old_google = insert(&app, Row::new("GG", "PROCESSED", now - 10 * DAY_MS)).await;
    let failed_apple = insert(&app, Row::new("AS", "FAILED", now - DAY_MS)).await;
    let orphan = insert(&app, Row { store_app: None, ..Row::new("AS", "IGNORED", now) }).await;
    let waiting_google = insert(&app, Row::new("GG", "RECEIVED", now)).await;
    let project = demo_project(&app).await;
    let since = model::format::utc(now - 2 * DAY_MS)[..10].to_string();

    // Act
    let get = |query: String| {
        let viewer = &viewer;
        async move { viewer.get_fn::<NotificationPage>(&format!("/api/notifications?{query}")).await }
    };
    let all = get(String::new()).await.unwrap();
    let apple = get("query[store]=AS".into()).await.unwrap();
    let failed = get("query[status]=FAILED".into()).await.unwrap();
    let in_project = get(format!("query[project]={project}")).await.unwrap();
    let recent = get(format!("query[since]={since}")).await.unwrap();
    let recent_google = get(format!("query[store]=GG&query[since]={since}")).await.unwrap();
    let unknown_status = get("query[status]=LOST".into()).await;

    // Assert
    assert_eq!(ids(&all), vec![waiting_google, orphan, failed_apple, old_google]);
    assert_eq!(all.next, None);
    assert_eq!(ids(&apple), vec![orphan, failed_apple]);
    assert_eq!(ids(&failed), vec![failed_apple]);
    assert_eq!(failed.rows[0].last_error.as_deref(), Some("asking the store: unavailable"));
    assert_eq!(ids(&in_project), vec![waiting_google, failed_apple, old_google], "the orphan belongs to no project");
    assert_eq!(ids(&recent), vec![waiting_google, orphan, failed_apple]);
    assert_eq!(ids(&recent_google), vec![waiting_google]);
    assert!(matches!(unknown_status, Err(AppError::Invalid(_))), "{unknown_status:?}");
    let row = &all.rows[0];
    assert_eq!(row.project.as_deref(), Some(server::demo::PROJECT_NAME));
    assert_eq!(row.notification_type.as_deref(), Some("ONE_TIME_CHARGE"));
    assert_eq!(row.purchase_ref.as_deref(), Some("purchase-token-1"));
    assert_eq!(all.rows[1].project, None);
}

#[tokio::test]
async fn the_inbox_pages_by_keyset_without_repeating_or_skipping_a_notification() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let now = server::now_ms();
    let mut stored = Vec::new();
    for n in 0..120 {
        stored.push(insert(&app, Row::new("GG", "PROCESSED", now - n * 1_000)).await);
    }
    stored.reverse();

    // Act
    let (mut pages, mut listed) = (Vec::new(), Vec::new());
    let mut path = "/api/notifications".to_string();
    loop {
        let page: NotificationPage = viewer.get_fn(&path).await.unwrap();
        pages.push(page.rows.len());
        listed.extend(ids(&page));
        match page.next {
            Some(after) => path = format!("/api/notifications?query[after]={after}"),
            None => break,
        }
    }
    let unreadable = viewer.get_fn::<NotificationPage>("/api/notifications?query[after]=yesterday").await;

    // Assert
    assert_eq!(pages, vec![50, 50, 20]);
    assert_eq!(listed, stored, "every notification once, newest first");
    assert!(matches!(unreadable, Err(AppError::Invalid(_))), "{unreadable:?}");
}

#[tokio::test]
async fn a_viewer_reads_the_inbox_without_the_raw_bodies_and_support_reads_them() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let support = app.signed_in_as(Role::Support).await;
    let now = server::now_ms();
    let project = demo_project(&app).await;
    let google = demo_app(&app, "GG").await;
    let payment: i64 = sqlx::query_scalar(
        "INSERT INTO payments (payment_seq, project_id, store_app_id, store, store_product_id, product_type, user_id, \
         status, created_at, updated_at) VALUES ('2026120300000001', $1, $2, 'GG', 'gem_100', 'CONSUMABLE', 'u1', \
         'REFUND', $3, $3) RETURNING id",
    )
    .bind(project)
    .bind(google)
    .bind(now)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let body = r#"{"message":{"data":"eyJ2b2lkZWQiOnRydWV9"}}"#;
    let pruned = insert(&app, Row { body: "", ..Row::new("AS", "PROCESSED", now - DAY_MS) }).await;
    let hint = insert(
        &app,
        Row {
            kind: "VOIDED_PURCHASE",
            body,
            authenticated: false,
            payment_id: Some(payment),
            ..Row::new("GG", "PROCESSED", now)
        },
    )
    .await;
    sqlx::query("UPDATE store_notifications SET body_pruned_at = $1 WHERE id = $2")
        .bind(now)
        .bind(pruned)
        .execute(app.db.pool())
        .await
        .unwrap();

    // Act
    let seen_by_viewer: NotificationPage = viewer.get_fn("/api/notifications").await.unwrap();
    let seen_by_support: NotificationPage = support.get_fn("/api/notifications").await.unwrap();

    // Assert
    assert_eq!(ids(&seen_by_viewer), vec![hint, pruned]);
    assert!(seen_by_viewer.rows.iter().all(|r| r.body.is_none()), "a viewer gets no body");
    let (hinted, emptied) = (&seen_by_support.rows[0], &seen_by_support.rows[1]);
    assert_eq!(hinted.body.as_deref(), Some(body));
    assert!(!hinted.authenticated, "an unauthenticated push is marked");
    assert_eq!(hinted.payment_seq.as_deref(), Some("2026120300000001"));
    assert_eq!(seen_by_viewer.rows[0].payment_seq.as_deref(), Some("2026120300000001"));
    assert_eq!(emptied.body, None, "a pruned body is not sent as an empty one");
    assert_eq!(emptied.body_pruned_at, Some(now));
    assert!(emptied.authenticated);
}

#[tokio::test]
async fn a_viewer_cannot_reprocess_a_notification() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let id = insert(&app, Row::new("AS", "PROCESSED", server::now_ms() - DAY_MS)).await;

    // Act
    let refused = viewer.submit::<i64>("/api/notification/reprocess", &[("id", &id.to_string())]).await;

    // Assert
    assert_eq!(refused, Err(AppError::Forbidden));
    let (status, next): (String, Option<i64>) =
        sqlx::query_as("SELECT status, next_attempt_at FROM store_notifications WHERE id = $1")
            .bind(id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), next), ("PROCESSED", None));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'notification.reprocess'").await, 0);
}

#[tokio::test]
async fn support_reprocesses_a_finished_notification_and_it_waits_again_due_now_with_an_audit_row() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let support = app.signed_in_as(Role::Support).await;
    let now = server::now_ms();
    let covering = insert(&app, Row::new("AS", "PROCESSED", now - DAY_MS)).await;
    let id = insert(&app, Row::new("AS", "IGNORED", now - DAY_MS)).await;
    sqlx::query("UPDATE store_notifications SET covered_by = $1 WHERE id = $2")
        .bind(covering)
        .bind(id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let before = server::now_ms();

    // Act
    let queued = support.submit::<i64>("/api/notification/reprocess", &[("id", &id.to_string())]).await;
    let unknown = support.submit::<i64>("/api/notification/reprocess", &[("id", "999999")]).await;

    // Assert
    assert_eq!(queued, Ok(id));
    assert_eq!(unknown, Err(AppError::NotFound));
    let (status, next, covered_by): (String, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT status, next_attempt_at, covered_by FROM store_notifications WHERE id = $1")
            .bind(id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(status, "RECEIVED");
    let next = next.expect("due");
    assert!(before <= next && next <= server::now_ms(), "due now: {next}");
    assert_eq!(covered_by, None, "no longer answered by another notification's look-up");
    let (actor, target, project, detail): (String, String, Option<i64>, String) = sqlx::query_as(
        "SELECT actor, target_id, project_id, detail FROM audit_log WHERE action = 'notification.reprocess' \
         AND target_type = 'notification'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!((actor.as_str(), target), ("support-user", id.to_string()));
    assert_eq!(project, Some(demo_project(&app).await));
    assert_eq!(detail, "AS ONE_TIME_CHARGE, was IGNORED");
}

#[tokio::test]
async fn reprocessing_a_failed_notification_keeps_it_failed_and_makes_it_due_now() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let support = app.signed_in_as(Role::Support).await;
    let id = insert(&app, Row::new("GG", "FAILED", server::now_ms() - DAY_MS)).await;
    let before = server::now_ms();

    // Act
    support.submit::<i64>("/api/notification/reprocess", &[("id", &id.to_string())]).await.unwrap();

    // Assert
    let (status, next, attempts): (String, i64, i64) =
        sqlx::query_as("SELECT status, next_attempt_at, attempts FROM store_notifications WHERE id = $1")
            .bind(id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("FAILED", 1));
    assert!(before <= next && next <= server::now_ms(), "due now: {next}");
}

#[tokio::test]
async fn the_project_page_tells_when_each_store_app_last_heard_from_its_store() {
    // Arrange
    let app = spawn_app_without_workers().await;
    let viewer = app.signed_in_as(Role::Viewer).await;
    let now = server::now_ms();
    insert(&app, Row::new("GG", "PROCESSED", now - DAY_MS)).await;
    insert(&app, Row::new("GG", "PROCESSED", now - 5_000)).await;
    insert(&app, Row::new("GG", "PROCESSED", now - 2 * DAY_MS)).await;
    insert(&app, Row { store_app: None, ..Row::new("AS", "IGNORED", now) }).await;
    let project = demo_project(&app).await;

    // Act
    let detail: ProjectDetail = viewer.get_fn(&format!("/api/project?id={project}")).await.unwrap();

    // Assert
    let last = |store: &str| detail.apps.iter().find(|a| a.store == store).unwrap().last_notification_at;
    assert_eq!(last("GG"), Some(now - 5_000));
    assert_eq!(last("AS"), None, "a notification that named no app of ours counts for none");
    assert_eq!(last("ONESTORE"), None);
}
