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
    assert_eq!(count("SELECT COUNT(*) FROM products").await, 10);
    assert_eq!(count("SELECT COUNT(*) FROM console_users").await, 1);
    assert_eq!(count("SELECT MIN(product_seq) FROM products").await, 1_000_001);
}

/// Each fact of a migrated schema, written the same way for both engines: tables, columns (with
/// nullability and default), primary keys, indexes (columns, unique, partial), foreign keys and the
/// values CHECK constraints allow.
async fn schema_facts(db: &Db) -> std::collections::BTreeSet<String> {
    let rows = |sql: String| async move {
        sqlx::query_as::<_, (String, String, String, String)>(&sql)
            .fetch_all(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let mut facts = std::collections::BTreeSet::new();
    match db.engine() {
        server::db::Engine::Sqlite => {
            let tables: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT LIKE '_sqlx%' AND name <> 'tower_sessions'",
            )
            .fetch_all(db.pool())
            .await
            .unwrap();
            for (table, sql) in tables {
                facts.insert(format!("table {table}"));
                let columns = rows(format!(
                    "SELECT name, CAST(\"notnull\" AS TEXT), COALESCE(dflt_value, ''), CAST(pk AS TEXT) \
                     FROM pragma_table_info('{table}') ORDER BY cid"
                ))
                .await;
                let mut key = Vec::new();
                for (name, not_null, default, pk) in columns {
                    facts.insert(column_fact(&table, &name, not_null == "1" || pk != "0", &default));
                    if pk != "0" {
                        key.push((pk, name));
                    }
                }
                key.sort();
                let key: Vec<String> = key.into_iter().map(|(_, name)| name).collect();
                facts.insert(format!("primary key {table} ({})", key.join(", ")));
                let indexes = rows(format!(
                    "SELECT name, CAST(\"unique\" AS TEXT), origin, CAST(partial AS TEXT) FROM pragma_index_list('{table}')"
                ))
                .await;
                for (index, unique, _origin, partial) in indexes.into_iter().filter(|i| i.2 != "pk") {
                    let columns: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT COALESCE(name, '<expression>') FROM pragma_index_info('{index}') ORDER BY seqno"
                    ))
                    .fetch_all(db.pool())
                    .await
                    .unwrap();
                    facts.insert(index_fact(&table, &columns.join(", "), unique == "1", partial == "1"));
                }
                for (from, to_table, to, _) in rows(format!(
                    "SELECT \"from\", \"table\", COALESCE(\"to\", ''), '' FROM pragma_foreign_key_list('{table}')"
                ))
                .await
                {
                    facts.insert(format!("foreign key {table}.{from} -> {to_table}.{to}"));
                }
                if let Some(check) = check_literals(&sql) {
                    facts.insert(format!("check {table} allows {check}"));
                }
            }
        }
        server::db::Engine::Postgres => {
            for (table, _, _, _) in rows(
                "SELECT table_name::text, '', '', '' FROM information_schema.tables WHERE table_schema = 'public' \
                 AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_sqlx%'"
                    .into(),
            )
            .await
            {
                facts.insert(format!("table {table}"));
            }
            for (table, column, nullable, default) in rows(
                "SELECT table_name::text, column_name::text, is_nullable::text, COALESCE(column_default, '') \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'"
                    .into(),
            )
            .await
            {
                facts.insert(column_fact(&table, &column, nullable == "NO", &default));
            }
            let index_columns = "(SELECT string_agg(COALESCE(a.attname::text, '<expression>'), ', ' ORDER BY k.ord) \
                 FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) LEFT JOIN pg_attribute a \
                 ON a.attrelid = t.oid AND a.attnum = k.attnum)";
            for (table, columns, unique, kind) in rows(format!(
                "SELECT t.relname::text, {index_columns}, CAST(ix.indisunique AS TEXT), \
                 CASE WHEN ix.indisprimary THEN 'pk' WHEN ix.indpred IS NOT NULL THEN 'partial' ELSE '' END \
                 FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
                 WHERE t.relnamespace = 'public'::regnamespace AND t.relname NOT LIKE '\\_sqlx%'"
            ))
            .await
            {
                match kind.as_str() {
                    "pk" => facts.insert(format!("primary key {table} ({columns})")),
                    partial => facts.insert(index_fact(&table, &columns, unique == "true", partial == "partial")),
                };
            }
            for (table, from, to_table, to) in rows(
                "SELECT cl.relname::text, a.attname::text, fcl.relname::text, fa.attname::text FROM pg_constraint c \
                 JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class fcl ON fcl.oid = c.confrelid \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                 JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] \
                 WHERE c.contype = 'f' AND cl.relnamespace = 'public'::regnamespace"
                    .into(),
            )
            .await
            {
                facts.insert(format!("foreign key {table}.{from} -> {to_table}.{to}"));
            }
            let mut checks: std::collections::BTreeMap<String, String> = Default::default();
            for (table, definition, _, _) in rows(
                "SELECT cl.relname::text, pg_get_constraintdef(c.oid), '', '' FROM pg_constraint c \
                 JOIN pg_class cl ON cl.oid = c.conrelid WHERE c.contype = 'c' \
                 AND cl.relnamespace = 'public'::regnamespace"
                    .into(),
            )
            .await
            {
                let entry = checks.entry(table).or_default();
                entry.push_str(&definition);
                entry.push(' ');
            }
            for (table, definitions) in checks {
                if let Some(check) = check_literals(&format!("CHECK ({definitions})")) {
                    facts.insert(format!("check {table} allows {check}"));
                }
            }
        }
    }
    facts
}

fn column_fact(table: &str, column: &str, not_null: bool, default: &str) -> String {
    // PostgreSQL writes defaults with their type ('x'::text) and negative numbers in parentheses.
    let default = default.split("::").next().unwrap_or_default().trim_matches(|c| c == '(' || c == ')');
    let null = if not_null { "not null" } else { "null" };
    format!("column {table}.{column} {null} default [{default}]")
}

fn index_fact(table: &str, columns: &str, unique: bool, partial: bool) -> String {
    let unique = if unique { "unique " } else { "" };
    let partial = if partial { " partial" } else { "" };
    format!("{unique}index {table} ({columns}){partial}")
}

/// The quoted values inside the CHECK constraints of a table's definition, sorted.
fn check_literals(sql: &str) -> Option<String> {
    let mut literals = std::collections::BTreeSet::new();
    for check in sql.split("CHECK").skip(1) {
        let mut depth = 0;
        let mut body = String::new();
        for c in check.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            body.push(c);
            if depth == 0 && body.trim_start().starts_with('(') && c == ')' {
                break;
            }
        }
        literals.extend(body.split('\'').skip(1).step_by(2).map(str::to_string));
    }
    (!literals.is_empty()).then(|| literals.into_iter().collect::<Vec<_>>().join(", "))
}

#[tokio::test]
async fn the_sqlite_and_postgresql_migrations_build_the_same_schema() {
    let Some(postgres) = std::env::var("IAP_TEST_DATABASE").ok().filter(|url| url.starts_with("postgres")) else {
        eprintln!("the schema comparison needs PostgreSQL: it runs when IAP_TEST_DATABASE names one");
        return;
    };
    let dir = temp_dir();
    let sqlite = Db::connect(&format!("sqlite://{}", dir.0.join("twin.db").display())).await.unwrap();
    sqlite.migrate().await.unwrap();
    let pg =
        Db::connect(&format!("{}/{}", postgres.trim_end_matches('/'), crate::helpers::unique_name())).await.unwrap();
    pg.migrate().await.unwrap();

    let (lite, post) = (schema_facts(&sqlite).await, schema_facts(&pg).await);

    assert!(lite.iter().any(|f| f.starts_with("check payments")), "the comparison reads CHECK constraints");
    let only_sqlite: Vec<&String> = lite.difference(&post).collect();
    let only_postgres: Vec<&String> = post.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the engines' schemas differ\nonly on SQLite:\n  {}\nonly on PostgreSQL:\n  {}",
        only_sqlite.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        only_postgres.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
    );
}
