use server::db::Db;

use crate::helpers::{fresh_database_url, temp_dir};

const TABLES: &[&str] = &[
    "console_users",
    "projects",
    "store_apps",
    "products",
    "payments",
    "payment_history",
    "refunds",
    "store_notifications",
    "audit_log",
    "webhook_events",
    "webhook_deliveries",
];

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_without_change() {
    let dir = temp_dir();
    let url = fresh_database_url(&dir.0);

    let first = Db::connect(&url).await.unwrap();
    first.migrate().await.unwrap();
    first.migrate().await.unwrap();
    let second = Db::connect(&url).await.unwrap();
    second.migrate().await.unwrap();

    for table in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(second.pool())
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(rows, 0, "{table} starts empty");
    }
}

#[tokio::test]
async fn one_store_transaction_cannot_become_two_payments() {
    let dir = temp_dir();
    let db = Db::connect(&fresh_database_url(&dir.0)).await.unwrap();
    db.migrate().await.unwrap();
    server::demo::seed(&db, &server::crypto::Cipher::new(&[7; 32])).await.unwrap();
    let insert = |seq: &'static str| {
        sqlx::query(
            "INSERT INTO payments (payment_seq, project_id, store_app_id, store, store_product_id, \
             product_type, user_id, status, store_txn_key, created_at, updated_at) \
             SELECT $1, project_id, id, store, 'gem_100', 'CONSUMABLE', 'u1', 'SUCCESS', 'GPA.1', 0, 0 \
             FROM store_apps WHERE store = 'GG'",
        )
        .bind(seq)
    };

    insert("2026112200000001").execute(db.pool()).await.unwrap();
    let duplicate = insert("2026112200000002").execute(db.pool()).await;

    let err = server::Error::from(duplicate.unwrap_err());
    assert!(err.is_unique_violation(), "{err}");
}

#[tokio::test]
async fn the_demo_seed_is_idempotent() {
    let dir = temp_dir();
    let db = Db::connect(&fresh_database_url(&dir.0)).await.unwrap();
    db.migrate().await.unwrap();

    server::demo::seed(&db, &server::crypto::Cipher::new(&[7; 32])).await.unwrap();
    server::demo::seed(&db, &server::crypto::Cipher::new(&[7; 32])).await.unwrap();

    let count = |sql: &'static str| async { sqlx::query_scalar::<_, i64>(sql).fetch_one(db.pool()).await.unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM projects").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM store_apps").await, 3);
    assert_eq!(count("SELECT COUNT(*) FROM products").await, 11);
    assert_eq!(count("SELECT COUNT(*) FROM console_users").await, 1);
    assert_eq!(count("SELECT MIN(product_seq) FROM products").await, 1_000_001);
}
