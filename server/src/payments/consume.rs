//! Consume: the one change that must happen exactly once. A conditional update (`consumed = 0`)
//! decides the winner among concurrent calls (and among instances); it commits, with its history
//! row and its event, before the answer.
//!
//! Consumes are committed in groups: the requests that arrive while one transaction commits go
//! into the next one together, so a single commit (a single fsync) serves all of them. Under load
//! that is what lifts consume past one commit per request; alone, a request commits by itself.
use std::sync::Arc;

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{append_histories, by_seq, store_consume, HistoryEntry, Payment, Source, Status};
use crate::{
    db::{Db, Engine},
    now_ms,
    webhooks::{self, EventType},
    Error,
};

/// Most consumes committed in one transaction: bounds how long one group holds the write lock,
/// and so the wait of the requests queued behind it.
const MAX_GROUP: usize = 16;

/// Why a payment was not consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    WrongToken,
    NotConsumableType,
    Refunded,
    /// Not (yet) a successful payment.
    NotSuccessful,
    AlreadyConsumed,
}

struct Job {
    payment: Payment,
    source: Source,
    /// Whether this consume won its payment, sent once the group has committed.
    won: oneshot::Sender<Result<bool, String>>,
}

/// The queue of consumes waiting for their group, and the task that commits the groups.
pub struct Committer {
    queue: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the committing tasks for `db`; they end when the last handle is dropped. SQLite
    /// has one writer at a time, so one task; PostgreSQL commits several groups at once.
    pub fn start(db: Db) -> Committer {
        let (queue, jobs) = mpsc::unbounded_channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let tasks = match db.engine() {
            Engine::Sqlite => 1,
            Engine::Postgres => 4,
        };
        for _ in 0..tasks {
            let db = db.clone();
            tokio::spawn(commit_groups(jobs.clone(), move |group| commit_group(db.clone(), group)));
        }
        Committer { queue }
    }

    /// Consumes `payment_seq` if `access_token` is its token. `source` is the app's server, or the
    /// app itself in the build-in model.
    pub async fn consume(
        &self,
        db: &Db,
        project_id: i64,
        payment_seq: &str,
        access_token: &str,
        source: Source,
    ) -> Result<Result<Payment, Refusal>, Error> {
        let Some(payment) = by_seq(db, project_id, payment_seq).await? else { return Ok(Err(Refusal::NotFound)) };
        if let Err(refusal) = check(&payment, access_token) {
            return Ok(Err(refusal));
        }
        let (won, answer) = oneshot::channel();
        let job = Job { payment: payment.clone(), source, won };
        self.queue.send(job).map_err(|_| Error::Other("the consume committer has stopped".into()))?;
        // A dropped answer is a group whose commit panicked: whether it committed is unknown, so
        // the caller gets a server error and its retry finds the payment consumed or not.
        let won = answer.await.map_err(|_| Error::Other("the consume's group failed".into()))?;
        if won.map_err(Error::Other)? {
            return Ok(Ok(Payment { consumed: true, ..payment }));
        }
        // Another call consumed it first, or it was refunded meanwhile: read again and say which.
        let now_stored = by_seq(db, project_id, payment_seq).await?.ok_or(Error::NotFound)?;
        Ok(Err(check(&now_stored, access_token).err().unwrap_or(Refusal::AlreadyConsumed)))
    }
}

/// Commits group after group until the queue closes. Each group is committed by a task of its
/// own, so a panic while committing one fails that group's consumes (their answers are dropped)
/// and the next group is committed as usual: one bad group never stops every consume.
async fn commit_groups<J, F, Fut>(jobs: Arc<Mutex<mpsc::UnboundedReceiver<J>>>, commit: F)
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    while let Some(group) = next_group(&jobs).await {
        if let Err(panic) = tokio::spawn(commit(group)).await {
            tracing::error!(error = %panic, "committing a group of consumes panicked");
        }
    }
}

/// Waits for a consume, then takes the others already queued, up to a group's size.
async fn next_group<J>(jobs: &Mutex<mpsc::UnboundedReceiver<J>>) -> Option<Vec<J>> {
    let mut jobs = jobs.lock().await;
    let mut group = vec![jobs.recv().await?];
    while group.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    Some(group)
}

/// Runs `group` in one transaction and tells each job whether it won. Nothing is told before the
/// commit. A failed transaction changed nothing, so it is tried again (PostgreSQL may cancel one
/// of two transactions that wait for each other); if it keeps failing, every job is told.
async fn commit_group(db: Db, group: Vec<Job>) {
    let mut written = write_group(&db, &group).await;
    for _ in 0..3 {
        if written.is_ok() {
            break;
        }
        written = write_group(&db, &group).await;
    }
    match written {
        Ok(won) => {
            for (job, won) in group.into_iter().zip(won) {
                let _ = job.won.send(Ok(won));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, consumes = group.len(), "a group of consumes failed; none was consumed");
            for job in group {
                let _ = job.won.send(Err(err.to_string()));
            }
        }
    }
}

/// Takes row locks in one order in every group, payments by id and then users' event sequences
/// by user, so that groups committing at once on PostgreSQL never wait for each other in a circle.
/// Beyond the conditional updates, a group costs three or four statements however large it is.
async fn write_group(db: &Db, group: &[Job]) -> Result<Vec<bool>, Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let mut by_payment: Vec<usize> = (0..group.len()).collect();
    by_payment.sort_by_key(|&i| group[i].payment.id);
    let mut won = vec![false; group.len()];
    for &i in &by_payment {
        won[i] = take(&mut tx, now, &group[i]).await?;
    }
    let winners: Vec<&Job> = group.iter().zip(&won).filter(|(_, won)| **won).map(|(job, _)| job).collect();
    let history = winners.iter().map(|job| HistoryEntry {
        payment_id: job.payment.id,
        from: Some(Status::Success),
        to: Status::Success,
        event: "CONSUME",
        source: job.source,
        actor: None,
        reason: None,
        detail: None,
    });
    append_histories(&mut tx, history.collect()).await?;
    let consumed: Vec<Payment> = winners.iter().map(|job| Payment { consumed: true, ..job.payment.clone() }).collect();
    let events = consumed.iter().zip(&winners).map(|(payment, job)| {
        let extra = serde_json::json!({"consumedBy": job.source.as_str()});
        super::events::event_about(EventType::PaymentConsumed, payment, extra)
    });
    webhooks::emit_all(&mut tx, events.collect()).await?;
    tx.commit().await?;
    Ok(won)
}

/// The conditional update that decides whether this consume wins its payment; a winner of an app
/// that consumes at the store is due there too.
async fn take(tx: &mut Transaction<'static, Any>, now: i64, job: &Job) -> Result<bool, Error> {
    Ok(sqlx::query(&format!(
        "UPDATE payments SET consumed = 1, consumed_at = $1, consume_source = $2, updated_at = $1, {} \
         WHERE id = $3 AND consumed = 0 AND status = 'SUCCESS'",
        store_consume::SCHEDULE
    ))
    .bind(now)
    .bind(job.source.as_str())
    .bind(job.payment.id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

fn check(payment: &Payment, access_token: &str) -> Result<(), Refusal> {
    if !payment.token_matches(access_token) {
        return Err(Refusal::WrongToken);
    }
    if !payment.is_consumable_type() {
        return Err(Refusal::NotConsumableType);
    }
    match payment.status {
        Status::Refund => Err(Refusal::Refunded),
        Status::Success if payment.consumed => Err(Refusal::AlreadyConsumed),
        Status::Success => Ok(()),
        Status::Reserved | Status::Failure | Status::UserClose => Err(Refusal::NotSuccessful),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_whose_commit_panics_fails_its_consumes_and_the_next_group_commits() {
        let (queue, jobs) = mpsc::unbounded_channel::<(u32, oneshot::Sender<u32>)>();
        tokio::spawn(commit_groups(Arc::new(Mutex::new(jobs)), |group| async move {
            for (n, answer) in group {
                assert_ne!(n, 1, "a bug met by the first group");
                let _ = answer.send(n);
            }
        }));
        let (first, failed) = oneshot::channel();
        queue.send((1, first)).unwrap();
        assert!(failed.await.is_err(), "the waiter of the panicked group is answered, with an error");

        let (second, answered) = oneshot::channel();
        queue.send((2, second)).unwrap();
        assert_eq!(answered.await.unwrap(), 2);
    }
}
