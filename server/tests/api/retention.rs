use server::now_ms;

use crate::shop::{shop, Shop};

const DAY: i64 = 86_400_000;

async fn exec(shop: &Shop, sql: &str, binds: &[i64]) {
    let mut query = sqlx::query(sql);
    for value in binds {
        query = query.bind(*value);
    }
    query.execute(shop.app.db.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn keys(shop: &Shop, sql: &str) -> Vec<String> {
    let mut keys: Vec<String> = sqlx::query_scalar(sql).fetch_all(shop.app.db.pool()).await.unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn old_sign_in_counts_are_forgotten_and_counts_that_still_matter_are_kept() {
    let shop = shop().await;
    let now = now_ms();
    for (key, started, locked_until) in [
        ("user:window-passed", now - DAY, None),
        ("user:still-locked", now - DAY, Some(now + 60_000)),
        ("ip:10.0.0.1", now - 60_000, None),
        ("known:10.0.0.1:old", now - 40 * DAY, None),
        ("known:10.0.0.1:recent", now - DAY, None),
    ] {
        sqlx::query("INSERT INTO login_throttle (throttle_key, failures, window_started_at, locked_until) VALUES ($1, 3, $2, $3)")
            .bind(key)
            .bind(started)
            .bind(locked_until)
            .execute(shop.app.db.pool())
            .await
            .unwrap();
    }

    // The app's own retention job may take some of them first: what is left is what counts.
    server::retention::prune(&shop.app.db, &shop.app.state.settings).await.unwrap();

    assert_eq!(
        keys(&shop, "SELECT throttle_key FROM login_throttle").await,
        ["ip:10.0.0.1", "known:10.0.0.1:recent", "user:still-locked"],
        "a lock in force, a window still open and a recent sign-in stay"
    );
}

#[tokio::test]
async fn old_webhook_attempts_and_receipt_conflicts_are_pruned_and_what_they_led_to_stays() {
    let shop = shop().await;
    let seq = shop.reserve("user-r", "GG", "gem_100").await;
    let now = now_ms();
    let (project, payment): (i64, i64) = sqlx::query_as("SELECT project_id, id FROM payments WHERE payment_seq = $1")
        .bind(&seq)
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    exec(
        &shop,
        "INSERT INTO webhook_endpoints (id, project_id, url, secret_enc, enabled, created_at, updated_at) \
         VALUES (900, $1, 'https://example.com/hook', 'sealed', 0, $2, $2)",
        &[project, now],
    )
    .await;
    exec(
        &shop,
        "INSERT INTO webhook_events (id, event_id, project_id, event_type, payload, created_at) \
         VALUES (900, 'evt_retention', $1, 'payment.verified', '{}', $2)",
        &[project, now - 100 * DAY],
    )
    .await;
    exec(
        &shop,
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, created_at) \
         VALUES (900, 900, 900, 'DEAD', 2, $1)",
        &[now - 100 * DAY],
    )
    .await;
    for at in [now - 100 * DAY, now - 91 * DAY, now - DAY] {
        exec(&shop, "INSERT INTO webhook_attempts (delivery_id, at, duration_ms) VALUES (900, $1, 5)", &[at]).await;
    }
    for (user, at) in [("user-old", now - 400 * DAY), ("user-recent", now - 10 * DAY)] {
        sqlx::query(
            "INSERT INTO receipt_conflicts (project_id, payment_id, claimed_by_user, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(project)
        .bind(payment)
        .bind(user)
        .bind(at)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    }

    // The app's own retention job may take some of them first: what is left is what counts.
    server::retention::prune(&shop.app.db, &shop.app.state.settings).await.unwrap();

    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = 900").await, 1);
    assert_eq!(shop.count("SELECT COUNT(*) FROM webhook_deliveries WHERE id = 900").await, 1, "the delivery stays");
    assert_eq!(keys(&shop, "SELECT claimed_by_user FROM receipt_conflicts").await, ["user-recent"]);
    let again = server::retention::prune(&shop.app.db, &shop.app.state.settings).await.unwrap();
    assert_eq!((again.webhook_attempts, again.receipt_conflicts), (0, 0), "a second pass finds nothing");
}

async fn session_expiries(shop: &Shop) -> Vec<i64> {
    match shop.app.db.engine() {
        // The SQLite store keeps the time as RFC 3339 text.
        server::db::Engine::Sqlite => {
            sqlx::query_scalar("SELECT CAST(strftime('%s', expiry_date) AS BIGINT) FROM tower_sessions")
                .fetch_all(shop.app.db.pool())
                .await
                .unwrap()
        }
        server::db::Engine::Postgres => {
            sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM expiry_date) AS BIGINT) FROM tower_sessions.session")
                .fetch_all(shop.app.db.pool())
                .await
                .unwrap()
        }
    }
}

#[tokio::test]
async fn a_page_load_without_sign_in_leaves_a_session_that_ends_within_half_an_hour_and_sign_in_extends_it() {
    let shop = shop().await;
    let before = now_ms();
    let response = shop.app.client.get(format!("{}/login", shop.app.base)).send().await.unwrap();
    assert!(response.status().is_success());

    let anonymous = session_expiries(&shop).await;
    shop.app.login_as_demo_admin().await;
    let signed_in = session_expiries(&shop).await;

    assert_eq!(anonymous.len(), 1, "the sign-in page keeps one session for its CSRF token");
    let lasts_min = (anonymous[0] * 1000 - before) / 60_000;
    assert!(lasts_min <= 30, "an anonymous session lasts {lasts_min} minutes");
    assert_eq!(signed_in.len(), 1, "sign-in keeps one session, under a new id");
    let lasts_min = (signed_in[0] * 1000 - before) / 60_000;
    assert!((470..=480).contains(&lasts_min), "a signed-in session lasts session.idle_minutes, not {lasts_min}");
}
