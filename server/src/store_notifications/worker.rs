//! The background worker of the inbox: takes due notifications under a lease and processes them,
//! a few per store app at a time, holding an app back while its store asks us to slow down.
//!
//! Every instance runs one. A row is claimed by moving its `next_attempt_at` to the end of the
//! lease ([`crate::db::Db::claim_due`]), so two instances never take it at once, and a row whose
//! instance died is due again once the lease has run out.
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;

use crate::{now_ms, services::Services, Error};

/// Rows claimed per pass.
const BATCH: i64 = 200;
/// How often the worker looks for due rows when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);

/// Runs until the process ends: woken by each stored notification, and every second.
pub async fn run(services: Services) {
    let paused = Paused::default();
    loop {
        let worked = match work_due(&services, &paused).await {
            Ok(worked) => worked,
            Err(err) => {
                tracing::warn!(error = %err, "a notification pass failed");
                0
            }
        };
        if worked == 0 {
            let _ = tokio::time::timeout(POLL, services.inbox.notified()).await;
        }
    }
}

/// Store apps whose store asked us to slow down, until when.
#[derive(Default, Clone)]
pub struct Paused(Arc<Mutex<HashMap<i64, Instant>>>);

impl Paused {
    fn until(&self, app: i64) -> Option<Instant> {
        let paused = self.0.lock().unwrap_or_else(|p| p.into_inner());
        paused.get(&app).copied().filter(|until| *until > Instant::now())
    }

    fn pause(&self, app: i64, wait: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(app, Instant::now() + wait);
    }
}

/// Claims the due rows and processes them; returns how many were claimed.
pub async fn work_due(services: &Services, paused: &Paused) -> Result<usize, Error> {
    let lease = Duration::from_secs(services.settings.notifications.lease_secs.max(1));
    let ids = services
        .db
        .claim_due("store_notifications", "next_attempt_at", "status IN ('RECEIVED', 'FAILED')", lease, BATCH)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // Rows about one purchase are worked one after the other, so the first look-up answers the rest.
    let mut apps: BTreeMap<i64, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    for id in &ids {
        let (app, reference): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT store_app_id, purchase_ref FROM store_notifications WHERE id = $1")
                .bind(id)
                .fetch_one(services.db.pool())
                .await?;
        let group = reference.unwrap_or_else(|| format!("#{id}"));
        apps.entry(app.unwrap_or_default()).or_default().entry(group).or_default().push(*id);
    }
    let per_app = services.settings.notifications.per_app_concurrency.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for (app, groups) in apps {
        let slots = Arc::new(Semaphore::new(per_app));
        for rows in groups.into_values() {
            let (services, paused, slots) = (services.clone(), paused.clone(), slots.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                for id in rows {
                    work_one(&services, &paused, app, id).await;
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(ids.len())
}

async fn work_one(services: &Services, paused: &Paused, app: i64, id: i64) {
    if let Some(until) = paused.until(app) {
        // Not an attempt: the row waits for the end of the pause.
        let at = now_ms() + until.saturating_duration_since(Instant::now()).as_millis() as i64;
        let released = sqlx::query("UPDATE store_notifications SET next_attempt_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(services.db.writer())
            .await;
        if let Err(err) = released {
            tracing::warn!(notification = id, error = %err, "holding a notification back failed; its lease will end");
        }
        return;
    }
    match super::process(services, id).await {
        Ok(Some(wait)) => {
            tracing::warn!(store_app = app, wait_secs = wait.as_secs(), "the store asked us to slow down");
            paused.pause(app, wait);
        }
        Ok(None) => {}
        // The row stays claimed until its lease ends, then it is taken again.
        Err(err) => tracing::warn!(notification = id, error = %err, "processing a notification failed"),
    }
}
