use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use rand::seq::SliceRandom;
use serde_json::json;
use server::{
    demo,
    seed::{self, Consumable, Plan},
};

use testing::{load, process::ServerProcess, Scratch};

use crate::{figures, outcome, postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_consumes_of_the_same_payments_succeed_exactly_once_each() {
    let (payments, tries) = if crate::full() { (1_000, 10) } else { (200, 10) };
    let scratch = Scratch::new("test_once", postgres());
    let services = scratch.services().await;
    let seeded =
        seed::payments(&services, &Plan { payments: 0, unconsumed: payments, ..Plan::default() }).await.unwrap();
    assert_eq!(seeded.consumable.len() as u64, payments);
    // Two instances share PostgreSQL; a SQLite file has one server.
    let instances: Vec<ServerProcess> =
        (0..if postgres().is_some() { 2 } else { 1 }).map(|_| ServerProcess::start(&scratch)).collect();
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let mut requests: Vec<(String, Consumable)> = seeded
        .consumable
        .iter()
        .flat_map(|p| (0..tries).map(move |n| (n, p.clone())))
        .map(|(n, p)| (bases[n % bases.len()].clone(), p))
        .collect();
    requests.shuffle(&mut rand::thread_rng());

    let codes = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let http = reqwest::Client::new();
    let counted = codes.clone();
    let started = Instant::now();
    load::closed_loop(64, requests, move |request: Arc<(String, Consumable)>| {
        let (base, payment) = &*request;
        let call = http
            .post(format!("{base}/v1/service/consume"))
            .header("x-nhn-tciap-appkey", demo::APP_KEY)
            .header("x-secret-key", demo::SECRET_KEY)
            .json(&json!({"paymentSeq": payment.payment_seq, "accessToken": payment.access_token}))
            .send();
        let counted = counted.clone();
        async move {
            let code = match outcome(call.await).await {
                Some((code, _, _)) => code.to_string(),
                None => "no envelope".into(),
            };
            *counted.lock().unwrap().entry(code).or_default() += 1;
            true
        }
    })
    .await;
    let elapsed = started.elapsed();
    let codes = codes.lock().unwrap().clone();
    let total = payments * tries as u64;
    figures(
        "exactly once",
        &format!(
            "{} instance(s), {total} concurrent consumes over {payments} payments in {:.1} s: answers by code {codes:?}",
            instances.len(),
            elapsed.as_secs_f64()
        ),
    );
    assert_eq!(codes.get("0").copied(), Some(payments), "one success per payment: {codes:?}");
    assert_eq!(codes.get("5018").copied(), Some(total - payments), "every other try is 5018: {codes:?}");
    assert_eq!(codes.len(), 2, "no other answer: {codes:?}");
    let consumed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE consumed = 1")
        .fetch_one(services.db.pool())
        .await
        .unwrap();
    let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_history WHERE event = 'CONSUME'")
        .fetch_one(services.db.pool())
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE event_type = 'payment.consumed'")
        .fetch_one(services.db.pool())
        .await
        .unwrap();
    assert_eq!((consumed, history, events), (payments as i64, payments as i64, payments as i64));
    // Each user's events are numbered 1, 2, 3… with no gap and no repeat, however the consumes
    // were grouped into transactions.
    let misnumbered: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT user_id, COUNT(*) AS n, COUNT(DISTINCT user_seq) AS d, MIN(user_seq) AS lo, \
         MAX(user_seq) AS hi FROM webhook_events GROUP BY user_id) s WHERE lo <> 1 OR hi <> n OR d <> n",
    )
    .fetch_one(services.db.pool())
    .await
    .unwrap();
    assert_eq!(misnumbered, 0, "every user's events are numbered without gaps");
}
