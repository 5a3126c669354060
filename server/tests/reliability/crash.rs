use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::{json, Value};
use server::{crypto, demo, fakes::google::NewProduct};
use sqlx::Row;

use testing::process::ServerProcess;

use crate::{figures, outcome, postgres};

/// What the app and its server were told, per purchase.
#[derive(Default)]
struct Told {
    /// Every purchase token sent for verification.
    sent: Vec<String>,
    /// (token, paymentSeq, accessToken) of each verification answered with success.
    verified: Vec<(String, String, String)>,
    /// paymentSeq of each consume answered with success.
    consumed: Vec<String>,
}

async fn post(http: &reqwest::Client, url: String, headers: &[(&str, &str)], body: Value) -> Option<(i64, u16, Value)> {
    let mut request = http.post(url).timeout(Duration::from_secs(10)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    outcome(request.send().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_verify_and_consume_loses_nothing_it_acknowledged() {
    let crate::Shop { fakes, scratch, services, .. } = crate::shop("test_crash").await;
    let mut server = ServerProcess::start(&scratch);
    let base = server.base.clone();

    let told = Arc::new(Mutex::new(Told::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (fakes, told, stop, http, base) =
                (fakes.clone(), told.clone(), stop.clone(), http.clone(), base.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let new = NewProduct { package: demo::PACKAGE, product_id: "gem_100", ..NewProduct::default() };
                    let token = fakes.google.add_product(new).await.purchase_token;
                    told.lock().unwrap().sent.push(token.clone());
                    let body = json!({"userId": format!("crash-{worker}-{n}"), "storeCode": "GG",
                        "productId": "gem_100", "purchaseToken": token});
                    let app = [("x-nhn-tciap-appkey", demo::APP_KEY)];
                    let Some((0, _, answer)) = post(&http, format!("{base}/v1/sdk/verify"), &app, body).await else {
                        // The server is down: try again shortly, as an app would.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let seq = answer["result"]["paymentSeq"].as_str().unwrap().to_string();
                    let access = answer["result"]["accessToken"].as_str().unwrap().to_string();
                    told.lock().unwrap().verified.push((token, seq.clone(), access.clone()));
                    let server_headers = [("x-nhn-tciap-appkey", demo::APP_KEY), ("x-secret-key", demo::SECRET_KEY)];
                    let proof = json!({"paymentSeq": seq, "accessToken": access});
                    if let Some((0, _, _)) =
                        post(&http, format!("{base}/v1/service/consume"), &server_headers, proof).await
                    {
                        told.lock().unwrap().consumed.push(seq);
                    }
                }
            })
        })
        .collect();
    let kill_after = if crate::full() { 5 } else { 2 };
    tokio::time::sleep(Duration::from_secs(kill_after)).await;
    server.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let told = std::mem::take(&mut *told.lock().unwrap());
    assert!(told.verified.len() > 20, "the load ran: {} verified", told.verified.len());
    // Every success the client was told of is in the database, as it was told.
    for (token, seq, access) in &told.verified {
        let row = sqlx::query("SELECT status, purchase_token, access_token_hash FROM payments WHERE payment_seq = $1")
            .bind(seq)
            .fetch_one(services.db.pool())
            .await
            .unwrap_or_else(|_| panic!("acknowledged payment {seq} is stored"));
        assert_eq!(row.get::<String, _>("status"), "SUCCESS");
        assert_eq!(row.get::<Option<String>, _>("purchase_token").as_deref(), Some(token.as_str()));
        assert_eq!(row.get::<Option<String>, _>("access_token_hash"), Some(crypto::sha256_hex(access)));
    }
    for seq in &told.consumed {
        let consumed: i64 = sqlx::query_scalar("SELECT consumed FROM payments WHERE payment_seq = $1")
            .bind(seq)
            .fetch_one(services.db.pool())
            .await
            .unwrap();
        assert_eq!(consumed, 1, "acknowledged consume of {seq} is stored");
    }
    // Nothing half-written: a successful payment has its token and history, a consumed one its
    // consume history, and no history row points nowhere.
    let half_written: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments p WHERE (p.status = 'SUCCESS' AND (p.access_token_hash IS NULL OR NOT EXISTS \
         (SELECT 1 FROM payment_history h WHERE h.payment_id = p.id))) OR (p.consumed = 1 AND (p.consumed_at IS NULL \
         OR NOT EXISTS (SELECT 1 FROM payment_history h WHERE h.payment_id = p.id AND h.event = 'CONSUME')))",
    )
    .fetch_one(services.db.pool())
    .await
    .unwrap();
    assert_eq!(half_written, 0, "no payment is half-written");
    // Every purchase sent, answered or cut off by the kill, verifies now, once.
    let app = [("x-nhn-tciap-appkey", demo::APP_KEY)];
    for (n, token) in told.sent.iter().enumerate() {
        let known = told.verified.iter().find(|(t, _, _)| t == token);
        let user = match known {
            Some((_, seq, _)) => sqlx::query_scalar::<_, String>("SELECT user_id FROM payments WHERE payment_seq = $1")
                .bind(seq)
                .fetch_one(services.db.pool())
                .await
                .unwrap(),
            None => stored_user(&services, token).await.unwrap_or_else(|| format!("again-{n}")),
        };
        let body = json!({"userId": user, "storeCode": "GG", "productId": "gem_100", "purchaseToken": token});
        let answer = post(&http, format!("{}/v1/sdk/verify", server.base), &app, body).await;
        let (code, _, answer) = answer.expect("an envelope");
        assert_eq!(code, 0, "purchase {token} verifies after the restart: {answer}");
        if let Some((_, seq, _)) = known {
            assert_eq!(answer["result"]["paymentSeq"].as_str(), Some(seq.as_str()), "the same payment");
        }
    }
    let payments: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payments").fetch_one(services.db.pool()).await.unwrap();
    assert_eq!(payments as usize, told.sent.len(), "one payment per purchase, none twice");
    if postgres().is_none() {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(services.db.pool()).await.unwrap();
        assert_eq!(check, "ok");
    }
    figures(
        "kill -9",
        &format!(
            "killed after {kill_after} s of 8 workers: {} purchases sent, {} verifications and {} consumes \
             acknowledged, all stored; {} unanswered (in flight at the kill or sent while it was down), all verified after the restart; 0 half-written",
            told.sent.len(),
            told.verified.len(),
            told.consumed.len(),
            told.sent.len() - told.verified.len()
        ),
    );
}

/// The user a purchase cut off by the kill was stored for, if it got that far.
async fn stored_user(services: &server::services::Services, token: &str) -> Option<String> {
    sqlx::query_scalar("SELECT user_id FROM payments WHERE purchase_token = $1")
        .bind(token)
        .fetch_optional(services.db.pool())
        .await
        .unwrap()
}
