//! Console search at scale: generated history of 100k, 1M (and on PostgreSQL 10M) payments,
//! p50/p95 per identifier kind, a filtered date-range page, the first page and deep keyset pages;
//! and, on the largest SQLite database, the server-rendered search page.
use std::time::Instant;

use model::TransactionQuery;
use rand::{rngs::StdRng, Rng, SeedableRng};
use server::{
    demo,
    payments::search,
    seed::{self, Plan},
    services::Services,
};
use sqlx::Row;

use crate::{Engine, Report};
use testing::{load::quantile_ms, process::ServerProcess, Scratch};

const RUNS: usize = 40;

pub async fn run(report: &mut Report, engine: Engine, sizes: &[u64]) {
    let scratch = Scratch::new("bench_search", engine.postgres_url());
    let services = scratch.services().await;
    let mut rng = StdRng::seed_from_u64(7);
    let mut have = 0;
    for &size in sizes {
        let section = format!("search ({}, {})", engine.label(), human(size));
        let started = Instant::now();
        let plan = Plan { payments: size - have, seed: size, ..Plan::default() };
        let added = seed::payments(&services, &plan).await.expect("seeded").inserted;
        have = size;
        report.add(&section, "seeding rate", added as f64 / started.elapsed().as_secs_f64(), "rows/s", None);
        analyze(&services).await;
        measure(report, &section, &services, &mut rng).await;
        if engine == Engine::Sqlite && size == *sizes.last().expect("a size") {
            ssr(report, &section, &scratch, &services, &mut rng).await;
        }
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Fresh planner statistics, as autovacuum or `ANALYZE` would leave them in production.
async fn analyze(services: &Services) {
    sqlx::query("ANALYZE").execute(services.db.pool()).await.expect("ANALYZE");
}

/// Times `search` over `queries`; (p50, p95) in ms.
async fn time(services: &Services, queries: &[TransactionQuery]) -> (f64, f64) {
    let mut latencies = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let page = search::search(&services.db, query).await.expect("a search");
        latencies.push(started.elapsed().as_micros() as u64);
        std::hint::black_box(page);
    }
    (quantile_ms(&latencies, 0.5), quantile_ms(&latencies, 0.95))
}

async fn measure(report: &mut Report, section: &str, services: &Services, rng: &mut StdRng) {
    let max_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM payments").fetch_one(services.db.pool()).await.unwrap();
    let mut kinds: Vec<(&str, Vec<String>)> =
        ["paymentSeq", "user id", "store reference key", "original transaction", "purchase token", "access token"]
            .into_iter()
            .map(|k| (k, Vec::new()))
            .collect();
    let mut cursors = Vec::new();
    while kinds.iter().any(|(_, v)| v.len() < RUNS) {
        let id = rng.gen_range(1..=max_id);
        let Some(row) = sqlx::query(
            "SELECT payment_seq, user_id, payment_id, original_payment_id, purchase_token, access_token_hash, \
             access_token_enc, created_at FROM payments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(services.db.pool())
        .await
        .unwrap() else {
            continue;
        };
        let text = |name: &str| row.try_get::<Option<String>, _>(name).unwrap();
        let token = text("access_token_enc").map(|sealed| {
            let hash = text("access_token_hash").expect("a sealed token has its hash");
            services.cipher.decrypt(server::crypto::Column::PaymentAccessToken, &hash, &sealed).expect("a sealed token")
        });
        let values = [
            Some(row.try_get::<String, _>("payment_seq").unwrap()),
            Some(row.try_get::<String, _>("user_id").unwrap()),
            text("payment_id"),
            text("original_payment_id"),
            text("purchase_token"),
            token,
        ];
        for ((_, samples), value) in kinds.iter_mut().zip(values) {
            if let Some(value) = value.filter(|_| samples.len() < RUNS) {
                samples.push(value);
            }
        }
        if cursors.len() < RUNS {
            cursors.push(format!("{}.{id}", row.try_get::<i64, _>("created_at").unwrap()));
        }
    }
    for (kind, samples) in &kinds {
        let queries: Vec<TransactionQuery> = samples
            .iter()
            .map(|q| TransactionQuery { q: Some(q.clone()), include_test: true, ..Default::default() })
            .collect();
        let (p50, p95) = time(services, &queries).await;
        report.add(section, &format!("by {kind}: p50"), p50, "ms", None);
        report.add(section, &format!("by {kind}: p95"), p95, "ms", Some(("<= 50 ms", p95 <= 50.0)));
    }
    let project = crate::demo_project(services).await;
    // A 30-day window ending `end`, of one project, store and status; from `after` when given.
    let ranged = |end: chrono::NaiveDate, after: Option<String>| TransactionQuery {
        project: Some(project),
        store: Some("GG".into()),
        status: Some("SUCCESS".into()),
        from: Some((end - chrono::Days::new(29)).to_string()),
        to: Some(end.to_string()),
        after,
        ..Default::default()
    };
    let today = chrono::Utc::now().date_naive();
    let day_of = |cursor: &str| {
        let at = cursor.split('.').next().and_then(|v| v.parse().ok()).expect("a cursor");
        chrono::DateTime::from_timestamp_millis(at).expect("a time").date_naive()
    };
    let pages: [(&str, Vec<TransactionQuery>); 4] = [
        ("first page, no filter", (0..RUNS).map(|_| TransactionQuery::default()).collect()),
        (
            "deep keyset page, no filter",
            cursors.iter().map(|c| TransactionQuery { after: Some(c.clone()), ..Default::default() }).collect(),
        ),
        (
            "30-day range + project/store/status, first page",
            (0..RUNS).map(|_| ranged(today - chrono::Days::new(rng.gen_range(0..330)), None)).collect(),
        ),
        (
            // The page starts at a random row inside its window.
            "30-day range + project/store/status, deep page",
            cursors.iter().map(|c| ranged(day_of(c), Some(c.clone()))).collect(),
        ),
    ];
    for (name, queries) in pages {
        let (p50, p95) = time(services, &queries).await;
        report.add(section, &format!("{name}: p50"), p50, "ms", None);
        report.add(section, &format!("{name}: p95"), p95, "ms", Some(("<= 50 ms", p95 <= 50.0)));
    }
}

/// The server-rendered search page, signed in, through the server process.
async fn ssr(report: &mut Report, section: &str, scratch: &Scratch, services: &Services, rng: &mut StdRng) {
    let server = ServerProcess::start(scratch);
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let session: serde_json::Value =
        browser.get(format!("{}/api/session", server.base)).send().await.unwrap().json().await.unwrap();
    let csrf = session["csrf"].as_str().expect("a CSRF token").to_string();
    let login = browser
        .post(format!("{}/api/login", server.base))
        .header("accept", "application/json")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("username", demo::ADMIN_USERNAME),
            ("password", demo::ADMIN_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "signed in");
    let max_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM payments").fetch_one(services.db.pool()).await.unwrap();
    let mut users = Vec::new();
    while users.len() < RUNS {
        let user: Option<String> = sqlx::query_scalar("SELECT user_id FROM payments WHERE id = $1")
            .bind(rng.gen_range(1..=max_id))
            .fetch_optional(services.db.pool())
            .await
            .unwrap();
        users.extend(user);
    }
    for (name, paths) in [
        ("SSR /transactions (newest)", vec!["/transactions".to_string(); RUNS]),
        ("SSR /transactions?q=<user id>", users.iter().map(|u| format!("/transactions?q={u}")).collect()),
    ] {
        let mut latencies = Vec::new();
        for path in paths {
            let started = Instant::now();
            let response = browser.get(format!("{}{path}", server.base)).send().await.unwrap();
            assert!(response.status().is_success(), "{path} renders");
            let html = response.text().await.unwrap();
            latencies.push(started.elapsed().as_micros() as u64);
            assert!(html.contains("<table"), "{path} renders the results table");
        }
        report.add(section, &format!("{name}: p50"), quantile_ms(&latencies, 0.5), "ms", None);
    }
}
