//! Consume throughput and latency through the real endpoint, against the ceiling: the same
//! conditional update and history insert issued straight through sqlx, at the same concurrency,
//! on the same database, in the same run.
use std::sync::Arc;

use serde_json::{json, Value};
use server::{
    demo,
    seed::{self, Consumable, Plan},
};

use crate::{Engine, Report};
use testing::{
    load::{self, RssSampler, Stats},
    process::ServerProcess,
    Scratch,
};

pub async fn run(report: &mut Report, engine: Engine, quick: bool) {
    let section = format!("consume ({})", engine.label());
    let levels: &[usize] = if quick { &[1, 8, 32] } else { &[1, 4, 16, 64] };
    let per_level = if quick { 1_000 } else { 4_000 };
    let paced_secs = if quick { 3.0 } else { 8.0 };
    let scratch = Scratch::new("bench_consume", engine.postgres_url());
    let services = scratch.services().await;
    // Enough unconsumed payments for every run: each request consumes a different one.
    let needed = levels.len() * per_level * 3 + 60_000;
    let plan = Plan { payments: 0, unconsumed: needed as u64, ..Plan::default() };
    let mut payments = seed::payments(&services, &plan).await.expect("seeded").consumable.into_iter();
    let mut server = ServerProcess::start(&scratch);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    report.add(&section, "server RSS, idle", server.rss_kib() as f64 / 1024.0, "MiB", None);
    let http = reqwest::Client::builder().pool_max_idle_per_host(512).build().expect("an HTTP client");
    let sampler = RssSampler::start(server.pid());

    let mut peak: f64 = 0.0;
    let mut best_within_10ms: f64 = 0.0;
    for &concurrency in levels {
        let batch: Vec<Consumable> = payments.by_ref().take(per_level).collect();
        let api = consume_api(&http, &server.base);
        let endpoint = load::closed_loop(concurrency, batch, api).await;
        let batch: Vec<Consumable> = payments.by_ref().take(per_level).collect();
        let minimal = ceiling(&services, concurrency, batch, false).await;
        let batch: Vec<Consumable> = payments.by_ref().take(per_level).collect();
        let with_outbox = ceiling(&services, concurrency, batch, true).await;
        let ratio = endpoint.per_second() / minimal.per_second();
        peak = peak.max(endpoint.per_second());
        if endpoint.quantile_ms(0.99) <= 10.0 {
            best_within_10ms = best_within_10ms.max(endpoint.per_second());
        }
        let name = |what: &str| format!("c={concurrency:<3} {what}");
        assert_eq!(endpoint.failed, 0, "every consume succeeds");
        report.add(&section, &name("endpoint"), endpoint.per_second(), "req/s", None);
        report.add(&section, &name("endpoint p50"), endpoint.quantile_ms(0.5), "ms", None);
        report.add(&section, &name("endpoint p99"), endpoint.quantile_ms(0.99), "ms", None);
        report.add(&section, &name("ceiling (sqlx)"), minimal.per_second(), "tx/s", None);
        report.add(&section, &name("ratio to ceiling"), ratio, "×", Some((">= 0.7", ratio >= 0.7)));
        report.add(&section, &name("ceiling + outbox (sqlx)"), with_outbox.per_second(), "tx/s", None);
        report.add(
            &section,
            &name("ratio to ceiling + outbox"),
            endpoint.per_second() / with_outbox.per_second(),
            "×",
            None,
        );
    }
    report.add(&section, "closed loop: best rate with p99 <= 10 ms", best_within_10ms, "req/s", None);
    report.add(
        &section,
        "  … as a share of the peak",
        best_within_10ms / peak,
        "×",
        Some((">= 0.8", best_within_10ms >= 0.8 * peak)),
    );
    let rate = peak * 0.8;
    let count = ((rate * paced_secs) as usize).min(payments.len());
    let batch: Vec<Consumable> = payments.by_ref().take(count).collect();
    let paced: Stats = load::paced(rate, batch, consume_api(&http, &server.base)).await;
    let p99 = paced.quantile_ms(0.99);
    report.add(&section, "at 80 % of peak: rate", paced.per_second(), "req/s", None);
    report.add(&section, "at 80 % of peak: p50", paced.quantile_ms(0.5), "ms", None);
    report.add(&section, "at 80 % of peak: p99", p99, "ms", Some(("<= 10 ms", p99 <= 10.0)));
    report.add(&section, "server RSS, peak under load", sampler.peak_kib() as f64 / 1024.0, "MiB", None);
    server.kill9();
}

/// POSTs `/v1/service/consume` as the app's server does; true when the envelope says success.
pub fn consume_api(
    http: &reqwest::Client,
    base: &str,
) -> impl Fn(Arc<Consumable>) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync + 'static
{
    let (http, url) = (http.clone(), format!("{base}/v1/service/consume"));
    move |payment: Arc<Consumable>| {
        let request = http
            .post(&url)
            .header("x-nhn-tciap-appkey", demo::APP_KEY)
            .header("x-secret-key", demo::SECRET_KEY)
            .json(&json!({"paymentSeq": payment.payment_seq, "accessToken": payment.access_token}));
        Box::pin(async move {
            match request.send().await {
                Ok(response) => response.json::<Value>().await.is_ok_and(|v| v["header"]["isSuccessful"] == true),
                Err(_) => false,
            }
        })
    }
}

/// The write a consume cannot do without, in a closed loop: the conditional update and the
/// history row, committed together; with `outbox`, also what a consume writes for webhooks (the
/// user's event number and the event), for comparison.
async fn ceiling(
    services: &server::services::Services,
    concurrency: usize,
    batch: Vec<Consumable>,
    outbox: bool,
) -> Stats {
    let db = services.db.clone();
    load::closed_loop(concurrency, batch, move |payment: Arc<Consumable>| {
        let db = db.clone();
        async move {
            let now = chrono::Utc::now().timestamp_millis();
            let mut tx = db.begin_write().await.expect("a transaction");
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE payments SET consumed = 1, consumed_at = $1, consume_source = 'SERVER', updated_at = $1 \
                 WHERE payment_seq = $2 AND consumed = 0 AND status = 'SUCCESS' RETURNING id",
            )
            .bind(now)
            .bind(&payment.payment_seq)
            .fetch_optional(&mut *tx)
            .await
            .expect("the update");
            let Some(id) = id else { return false };
            sqlx::query(
                "INSERT INTO payment_history (payment_id, from_status, to_status, event, source, created_at) \
                 VALUES ($1, 'SUCCESS', 'SUCCESS', 'CONSUME', 'SERVER', $2)",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("the history row");
            if outbox {
                let seq: i64 = sqlx::query_scalar(
                    "INSERT INTO user_event_sequences (project_id, user_id, last_seq) VALUES (1, $1, 1) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET last_seq = user_event_sequences.last_seq + 1 \
                     RETURNING last_seq",
                )
                .bind(&payment.payment_seq)
                .fetch_one(&mut *tx)
                .await
                .expect("the user's event number");
                sqlx::query(
                    "INSERT INTO webhook_events (event_id, project_id, event_type, user_id, user_seq, payment_id, \
                     payload, created_at) VALUES ($1, 1, 'payment.consumed', $1, $2, $3, '{}', $4)",
                )
                .bind(format!("evt_{}", payment.payment_seq))
                .bind(seq)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .expect("the event");
            }
            tx.commit().await.is_ok()
        }
    })
    .await
}
