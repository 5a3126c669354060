//! All background work of an instance, in one place: what runs, how often, and what keeps it to
//! one instance at a time. Every instance runs every job; none holds state in the process.
//!
//! | job | every | one instance at a time by |
//! | --- | --- | --- |
//! | re-verification of kept proofs, acknowledgement retries | `jobs.interval_secs` | a claim on each row (`Db::claim_due`) |
//! | webhook delivery | `jobs.interval_secs` | a claim on each delivery |
//! | answers to the stores' refund requests (retries, the SUPPORT fallback) | `jobs.interval_secs` | a claim on each request |
//! | store notification inbox | woken by each stored notification, else every second | a claim on each row |
//! | reconciliation sweeps | each minute (an app is due after `sweeps.interval_secs` or its own `sweepIntervalSecs`) | a lease per app in `job_leases` |
//! | reservation expiry (`jobs.reservation_ttl_hours`) | ten minutes | a conditional update per reservation |
//! | retention of growing tables | ten minutes | nothing needed: each delete is idempotent |
//! | expired console sessions | five minutes | nothing needed |
//!
//! A pass that fails, or panics, is logged and the job runs again at its next tick: one bad row
//! or one outage never stops a job for good.
use std::{future::Future, time::Duration};

use crate::{services::Services, Error};

const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
const SESSIONS_EVERY: Duration = Duration::from_secs(300);

/// Starts every job on the runtime; they run until the process ends.
pub fn start(services: &Services) {
    let every = Duration::from_secs(services.settings.jobs.interval_secs.max(1));
    repeat("payment retries", every, services, |services| async move {
        crate::payments::retry::run_due(&services).await.map(drop)
    });
    repeat("webhook delivery", every, services, |services| async move {
        crate::webhooks::delivery::run_due(&services).await.map(drop)
    });
    repeat("refund request answers", every, services, |services| async move {
        crate::payments::refund_requests::run_due(&services).await.map(drop)
    });
    if let Some(every) = crate::sweeps::interval(services) {
        repeat("sweeps", every, services, |services| async move { crate::sweeps::run_and_report(&services).await });
    }
    repeat("reservation expiry", HOUSEKEEPING_EVERY, services, |services| async move {
        let ttl = services.settings.jobs.reservation_ttl_hours;
        crate::payments::close::expire_reservations(&services.db, ttl).await.map(drop)
    });
    repeat("retention", HOUSEKEEPING_EVERY, services, |services| async move {
        crate::retention::prune(&services.db, &services.settings).await.map(drop)
    });
    repeat("expired sessions", SESSIONS_EVERY, services, |services| async move {
        services.db.sessions().delete_expired().await
    });
    tokio::spawn(crate::store_notifications::worker::run(services.clone()));
}

/// Runs `pass` at every tick of `every` (a slow pass delays the next tick rather than bunching
/// them). Each pass is a task of its own, so a panic ends that pass, not the job.
fn repeat<S, F, Fut>(job: &'static str, every: Duration, services: &S, pass: F)
where
    S: Clone + Send + 'static,
    F: Fn(S) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let services = services.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match tokio::spawn(pass(services.clone())).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(job, error = %err, "a background pass failed"),
                Err(panic) => tracing::error!(job, error = %panic, "a background pass panicked"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use super::*;

    #[tokio::test]
    async fn a_job_runs_on_after_a_pass_that_fails_and_one_that_panics() {
        let passes = Arc::new(AtomicUsize::new(0));
        repeat("test", Duration::from_millis(10), &passes, |passes| async move {
            match passes.fetch_add(1, Ordering::SeqCst) {
                0 => Err(Error::Other("the database went away".into())),
                1 => panic!("a bug in one pass"),
                _ => Ok(()),
            }
        });
        let started = std::time::Instant::now();
        while passes.load(Ordering::SeqCst) < 4 {
            assert!(started.elapsed() < Duration::from_secs(10), "the job stopped after {passes:?} passes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
