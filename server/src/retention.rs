//! Retention: what grows with traffic rather than with payments is cut back to its configured age.
//! Each table's owner says what may go; this pass runs them all (see [`crate::scheduler`]).
//! Payments, their history, refunds, audit rows and webhook events are never pruned.
use crate::{config::Settings, db::Db, Error};

/// How many rows each kind of pruning removed in one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub notification_bodies: u64,
    pub sign_in_counts: u64,
    pub webhook_attempts: u64,
    pub receipt_conflicts: u64,
}

/// Prunes every table once. One kind failing does not keep the others from running; the first
/// error is returned after all have run.
pub async fn prune(db: &Db, settings: &Settings) -> Result<Pruned, Error> {
    let bodies = crate::store_notifications::prune_bodies(db, settings.notifications.keep_bodies_days).await;
    let counts = crate::console_auth::throttle::prune(db, &settings.login).await;
    let attempts = crate::webhooks::delivery::prune_attempts(db, settings.webhooks.keep_attempts_days).await;
    let conflicts = crate::abuse::prune_receipt_conflicts(db, settings.abuse.keep_receipt_conflicts_days).await;
    let pruned = Pruned {
        notification_bodies: *bodies.as_ref().unwrap_or(&0),
        sign_in_counts: *counts.as_ref().unwrap_or(&0),
        webhook_attempts: *attempts.as_ref().unwrap_or(&0),
        receipt_conflicts: *conflicts.as_ref().unwrap_or(&0),
    };
    if pruned != Pruned::default() {
        tracing::info!(?pruned, "old rows pruned");
    }
    bodies?;
    counts?;
    attempts?;
    conflicts?;
    Ok(pruned)
}
