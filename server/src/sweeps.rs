//! Reconciliation: store notifications are late, repeated or lost, so each store app is regularly
//! compared with what its store says — Google's voided purchases, Apple's refund history, ONE
//! store's view of recent purchases, and every subscription near its expiry. A difference becomes
//! the same change a notification would have made; refunds found this way are marked as missed
//! by notifications, for the report.
//!
//! One instance sweeps an app at a time (a lease in `job_leases`), and progress is saved after
//! every page (`sweep_cursors`), so a sweep cut short resumes where it stopped. Applying the same
//! answer twice changes nothing: a payment already refunded is left alone.
use std::{sync::OnceLock, time::Duration};

use model::Store;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{
    db::Db,
    now_ms,
    payments::{
        refund::{self, RefundSource},
        sync, Payment, Status, COLUMNS,
    },
    services::Services,
    store_apps::{self, StoreAppRecord},
    store_notifications::{self, Incoming},
    stores::{
        client::StoreClient,
        google::{client::VoidedQuery, orders as google_orders},
        PurchaseState, StoreError,
    },
    Error,
};

const DAY_MS: i64 = 86_400_000;
/// How long a sweep holds its app before another instance may take over; renewed every page.
const LEASE: Duration = Duration::from_secs(300);
/// Google keeps voided purchases for 30 days.
const GOOGLE_MAX_WINDOW_MS: i64 = 30 * DAY_MS;
const PAGE: i64 = 100;

/// What one pass found, per app.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Refunds no notification had reported.
    pub missed_refunds: usize,
    /// Subscriptions whose state or period changed.
    pub subscription_changes: usize,
    /// Purchases (or notifications) asked about.
    pub checked: usize,
    /// Notifications the store could not deliver, found in its history and stored in the inbox.
    pub recovered_notifications: usize,
    /// Payments recorded without a price (the store could not say at verify) given theirs.
    pub prices_found: usize,
}

impl std::ops::AddAssign for Found {
    fn add_assign(&mut self, other: Found) {
        self.missed_refunds += other.missed_refunds;
        self.subscription_changes += other.subscription_changes;
        self.checked += other.checked;
        self.recovered_notifications += other.recovered_notifications;
        self.prices_found += other.prices_found;
    }
}

/// This process, as a lease holder.
fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| format!("{}-{}", std::process::id(), crate::crypto::random_code(8)))
}

/// Takes (or extends) the lease on `job`; false when another instance holds it.
async fn lease(db: &Db, job: &str) -> Result<bool, Error> {
    let now = now_ms();
    let taken = sqlx::query(
        "INSERT INTO job_leases (job, holder, leased_until) VALUES ($1, $2, $3) ON CONFLICT (job) DO UPDATE \
         SET holder = $2, leased_until = $3 WHERE job_leases.leased_until < $4 OR job_leases.holder = $2",
    )
    .bind(job)
    .bind(holder())
    .bind(now + LEASE.as_millis() as i64)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(taken.rows_affected() == 1)
}

async fn release(db: &Db, job: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
        .bind(job)
        .bind(holder())
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Runs [`run_once`] and says in the log what it found that never reached us.
pub async fn run_and_report(services: &Services) -> Result<(), Error> {
    let found = run_once(services).await?;
    if found.missed_refunds > 0 || found.recovered_notifications > 0 {
        tracing::warn!(
            missed = found.missed_refunds,
            recovered = found.recovered_notifications,
            "sweeps found refunds or notifications that never reached us"
        );
    }
    Ok(())
}

/// Sweeps every enabled store app that is due (its own `sweepIntervalSecs` setting, or
/// `sweeps.interval_secs`) and that no other instance is sweeping.
pub async fn run_once(services: &Services) -> Result<Found, Error> {
    let apps: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT a.id, a.settings, c.window_end FROM store_apps a LEFT JOIN sweep_cursors c \
         ON c.store_app_id = a.id AND c.job = 'last_run' WHERE a.enabled = 1 ORDER BY a.id",
    )
    .fetch_all(services.db.pool())
    .await?;
    let now = now_ms();
    let mut found = Found::default();
    for (id, settings, last_run) in apps {
        let own =
            serde_json::from_str::<serde_json::Value>(&settings).ok().and_then(|s| s["sweepIntervalSecs"].as_i64());
        let every_ms = own.unwrap_or(services.settings.sweeps.interval_secs as i64) * 1000;
        if every_ms <= 0 || last_run.is_some_and(|at| now - at < every_ms) {
            continue;
        }
        match sweep_app(services, id).await {
            Ok(app_found) => found += app_found,
            Err(err) => tracing::warn!(store_app = id, error = %err, "sweep of a store app failed"),
        }
    }
    Ok(found)
}

/// Sweeps one app, if its lease can be had.
pub async fn sweep_app(services: &Services, store_app_id: i64) -> Result<Found, Error> {
    let job = format!("sweep:{store_app_id}");
    if !lease(&services.db, &job).await? {
        return Ok(Found::default());
    }
    let result = sweep_leased(services, store_app_id, &job).await;
    release(&services.db, &job).await?;
    result
}

async fn sweep_leased(services: &Services, store_app_id: i64, job: &str) -> Result<Found, Error> {
    let Some(app) = store_apps::by_id(&services.db, &services.cipher, store_app_id).await? else {
        return Ok(Found::default());
    };
    let client = match services.store_client(&app) {
        Ok(client) => client,
        // An app not yet configured has nothing to compare.
        Err(StoreError::Config(_)) => return Ok(Found::default()),
        Err(err) => return Err(Error::Other(err.to_string())),
    };
    let sweep = Sweep { services, app: &app, client: &client, job };
    let mut found = match (&*client, app.store) {
        (StoreClient::Google(_), _) => {
            let mut found = sweep.google_voided().await?;
            found += sweep.google_prices().await?;
            found
        }
        (StoreClient::Apple { client, .. }, _) if client.has_api_key() => {
            let mut found = sweep.apple_notification_history().await?;
            found += sweep.apple_refunds().await?;
            found
        }
        (_, Store::OneStore) => sweep.recent_purchases().await?,
        _ => Found::default(),
    };
    found += sweep.subscriptions_near_expiry().await?;
    sweep.save("last_run", None, Some(now_ms())).await?;
    Ok(found)
}

struct Sweep<'a> {
    services: &'a Services,
    app: &'a StoreAppRecord,
    client: &'a StoreClient,
    job: &'a str,
}

/// Progress of one kind of sweep of one app, saved after every page.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The window being read (Google: void times, epoch ms).
    start: Option<i64>,
    end: Option<i64>,
    /// Where in it: a store page token, or the last row handled.
    page: Option<String>,
    after: Option<String>,
}

impl Cursor {
    /// The window a windowed sweep reads: the one it was cut short in, or from where the last pass
    /// ended (an hour earlier: the store records some things a little after they happen) to now,
    /// reaching back no further than the store keeps, `keep_ms`.
    fn window(saved: Option<Cursor>, last_end: Option<i64>, now: i64, keep_ms: i64) -> Cursor {
        match saved {
            Some(c) if c.start.is_some() && c.end.is_some() => c,
            _ => {
                let start = last_end.map_or(now - keep_ms, |end| end - 3_600_000).max(now - keep_ms + 60_000);
                Cursor { start: Some(start), end: Some(now), ..Cursor::default() }
            }
        }
    }
}

impl Sweep<'_> {
    async fn cursor(&self, kind: &str) -> Result<(Option<Cursor>, Option<i64>), Error> {
        let row = sqlx::query("SELECT cursor, window_end FROM sweep_cursors WHERE store_app_id = $1 AND job = $2")
            .bind(self.app.id)
            .bind(kind)
            .fetch_optional(self.services.db.pool())
            .await?;
        let Some(row) = row else { return Ok((None, None)) };
        let cursor = row.try_get::<Option<String>, _>("cursor")?.and_then(|c| serde_json::from_str(&c).ok());
        Ok((cursor, row.try_get("window_end")?))
    }

    /// Saves progress (`None` when the pass is complete, with the end it reached) and keeps the lease.
    async fn save(&self, kind: &str, cursor: Option<&Cursor>, window_end: Option<i64>) -> Result<(), Error> {
        let text = cursor.map(|c| serde_json::to_string(c).unwrap_or_default());
        sqlx::query(
            "INSERT INTO sweep_cursors (store_app_id, job, cursor, window_end, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (store_app_id, job) DO UPDATE SET cursor = $3, \
             window_end = COALESCE($4, sweep_cursors.window_end), updated_at = $5",
        )
        .bind(self.app.id)
        .bind(kind)
        .bind(text)
        .bind(window_end)
        .bind(now_ms())
        .execute(self.services.db.writer())
        .await?;
        if !lease(&self.services.db, self.job).await? {
            return Err(Error::Other("the sweep's lease was taken over".into()));
        }
        Ok(())
    }

    /// Records a refund the store reports for a payment we still count as paid.
    async fn refund(&self, payment: Option<Payment>, kind: &str, reason: &str) -> Result<usize, Error> {
        match payment {
            Some(p) if p.status != Status::Refund => {
                refund::by_store(self.services, &p, RefundSource::Sweep, kind, Some(reason)).await?;
                Ok(1)
            }
            _ => Ok(0),
        }
    }

    /// Google `voidedpurchases.list`, windowed by void time and paged; resumes inside a window.
    async fn google_voided(&self) -> Result<Found, Error> {
        let StoreClient::Google(google) = self.client else { return Ok(Found::default()) };
        let kind = "google.voided";
        let now = now_ms();
        let (cursor, last_end) = self.cursor(kind).await?;
        let mut cursor = Cursor::window(cursor, last_end, now, GOOGLE_MAX_WINDOW_MS);
        self.save(kind, Some(&cursor), None).await?;
        let mut found = Found::default();
        loop {
            let query = VoidedQuery {
                start_time_ms: cursor.start,
                end_time_ms: cursor.end,
                include_subscriptions: true,
                max_results: Some(PAGE as u32),
                page_token: cursor.page.clone(),
            };
            let page = google.voided(&query).await.map_err(|e| Error::Other(e.to_string()))?;
            for voided in &page.purchases {
                found.checked += 1;
                let mut payment = sync::by_reference(&self.services.db, self.app.id, &voided.purchase_token).await?;
                if payment.is_none() {
                    if let Some(order) = &voided.order_id {
                        payment = sync::by_reference(&self.services.db, self.app.id, order).await?;
                    }
                }
                let reason = format!("voided by Google: {} ({})", voided.reason, voided.source);
                found.missed_refunds += self.refund(payment, "VOID", &reason).await?;
            }
            cursor.page = page.next_page_token;
            if cursor.page.is_none() {
                self.save(kind, None, cursor.end).await?;
                return Ok(found);
            }
            self.save(kind, Some(&cursor), None).await?;
        }
    }

    /// Google payments recorded without a price, because the Orders API could not answer when they
    /// were verified: their orders read 100 at a time (`orders.batchGet`) and the amounts written.
    /// Google fails a whole batch for one order it does not know, so such a batch is read order by
    /// order; an order that stays unreadable is passed over until the next pass.
    async fn google_prices(&self) -> Result<Found, Error> {
        let StoreClient::Google(google) = self.client else { return Ok(Found::default()) };
        let kind = "google.prices";
        let (cursor, _) = self.cursor(kind).await?;
        let mut after: i64 = cursor.and_then(|c| c.after).and_then(|a| a.parse().ok()).unwrap_or(0);
        let mut found = Found::default();
        loop {
            let unpriced: Vec<(i64, String)> = sqlx::query_as(&format!(
                "SELECT id, payment_id FROM payments WHERE store_app_id = $1 AND id > $2 \
                 AND (price_micros IS NULL OR price_is_list = 1) AND status IN ('SUCCESS', 'REFUND') \
                 AND payment_id IS NOT NULL AND payment_id NOT LIKE 'token:%' \
                 ORDER BY id LIMIT {PAGE}"
            ))
            .bind(self.app.id)
            .bind(after)
            .fetch_all(self.services.db.pool())
            .await?;
            let Some(last) = unpriced.last().map(|(id, _)| *id) else {
                self.save(kind, None, Some(now_ms())).await?;
                return Ok(found);
            };
            let mut ids: Vec<&str> = unpriced.iter().map(|(_, order)| order.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            found.checked += ids.len();
            let orders = match google.orders(&ids).await {
                Ok(orders) => orders,
                Err(StoreError::Rejected { .. }) => {
                    let mut orders = Vec::new();
                    for id in &ids {
                        match google.order(id).await {
                            Ok(order) => orders.push(order),
                            Err(StoreError::Rejected { .. }) => {}
                            Err(err) => return Err(Error::Other(err.to_string())),
                        }
                    }
                    orders
                }
                Err(err) => return Err(Error::Other(err.to_string())),
            };
            for order in &orders {
                let (Some(order_id), Ok(amounts)) = (order["orderId"].as_str(), google_orders::amounts(order)) else {
                    continue;
                };
                let written = sqlx::query(
                    "UPDATE payments SET price_micros = $1, currency = $2, price_is_list = 0, updated_at = $3 \
                     WHERE store_app_id = $4 AND payment_id = $5 AND (price_micros IS NULL OR price_is_list = 1)",
                )
                .bind(amounts.total_micros)
                .bind(&amounts.currency)
                .bind(now_ms())
                .bind(self.app.id)
                .bind(order_id)
                .execute(self.services.db.writer())
                .await?;
                found.prices_found += written.rows_affected() as usize;
            }
            after = last;
            self.save(kind, Some(&Cursor { after: Some(after.to_string()), ..Cursor::default() }), None).await?;
        }
    }

    /// Apple's notification history, failures only, per environment the app takes: what Apple
    /// could not deliver (our outage, a refused delivery) goes into the inbox as if it had just
    /// arrived, deduplicated by its notification id, and is processed as usual.
    async fn apple_notification_history(&self) -> Result<Found, Error> {
        let StoreClient::Apple { client, .. } = self.client else { return Ok(Found::default()) };
        let mut found = Found::default();
        for sandbox in [false, true] {
            if sandbox && !self.app.environments.allows(true) {
                continue;
            }
            let (kind, keep_ms) = if sandbox {
                ("apple.notifications.sandbox", 30 * DAY_MS)
            } else {
                ("apple.notifications", 180 * DAY_MS)
            };
            let (saved, last_end) = self.cursor(kind).await?;
            let mut cursor = Cursor::window(saved, last_end, now_ms(), keep_ms);
            self.save(kind, Some(&cursor), None).await?;
            loop {
                let (start, end) = (cursor.start.unwrap_or_default(), cursor.end.unwrap_or_default());
                let (payloads, next) = client
                    .failed_notifications(sandbox, start, end, cursor.page.as_deref())
                    .await
                    .map_err(|e| Error::Other(e.to_string()))?;
                for signed in payloads {
                    found.checked += 1;
                    let body = serde_json::json!({"signedPayload": signed}).to_string();
                    match Incoming::apple(self.app.id, client, &signed, body) {
                        Ok(incoming) => {
                            let (id, new) = store_notifications::receive(&self.services.db, &incoming).await?;
                            if new {
                                store_notifications::recovered(&self.services.db, id).await?;
                                found.recovered_notifications += 1;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(store_app = self.app.id, error = %err, "a notification in Apple's history does not verify")
                        }
                    }
                }
                cursor.page = next;
                if cursor.page.is_none() {
                    self.save(kind, None, cursor.end).await?;
                    break;
                }
                self.save(kind, Some(&cursor), None).await?;
            }
        }
        if found.recovered_notifications > 0 {
            self.services.inbox.notify_one();
        }
        Ok(found)
    }

    /// Apple's Get Refund History, once per customer (their app transaction; a payment recorded
    /// before Apple named one stands for its own history), for the customers who paid within the
    /// look-back, in order, resuming after the last one handled. Apple's revision is kept per
    /// customer, so a later pass gets only the refunds added since. A customer whose newest payment
    /// is over a week old is asked at most once a day. The calls are paced under Apple's limit for
    /// the endpoint, and a throttled answer waits as long as Apple asks before the next one.
    async fn apple_refunds(&self) -> Result<Found, Error> {
        let StoreClient::Apple { client, .. } = self.client else { return Ok(Found::default()) };
        let kind = "apple.refunds";
        let now = now_ms();
        let since = now - self.services.settings.sweeps.lookback_days * DAY_MS;
        let (cursor, _) = self.cursor(kind).await?;
        let mut after = cursor.and_then(|c| c.after).unwrap_or_default();
        // Apple gives the sandbox a tenth of production's limits.
        let every = Duration::from_secs(1) / self.services.settings.sweeps.apple_calls_per_second.max(1);
        let (mut production, mut sandbox) = (Pace::new(every), Pace::new(every * 10));
        let mut found = Found::default();
        loop {
            let customers: Vec<(String, String, String, i64, Option<String>, Option<i64>)> = sqlx::query_as(&format!(
                "SELECT c.customer, c.txn, c.environment, c.newest, r.revision, r.checked_at FROM (\
                   SELECT COALESCE(app_transaction_id, original_payment_id) AS customer, MIN(store_txn_key) AS txn, \
                   MIN(environment) AS environment, MAX(verified_at) AS newest FROM payments WHERE store_app_id = $1 AND verified_at >= $2 \
                   AND status = 'SUCCESS' AND COALESCE(app_transaction_id, original_payment_id) > $3 \
                   GROUP BY COALESCE(app_transaction_id, original_payment_id)) c \
                 LEFT JOIN apple_refund_customers r ON r.store_app_id = $1 AND r.customer = c.customer \
                 ORDER BY c.customer LIMIT {PAGE}"
            ))
            .bind(self.app.id)
            .bind(since)
            .bind(&after)
            .fetch_all(self.services.db.pool())
            .await?;
            if customers.is_empty() {
                sqlx::query("DELETE FROM apple_refund_customers WHERE store_app_id = $1 AND checked_at < $2")
                    .bind(self.app.id)
                    .bind(since - DAY_MS)
                    .execute(self.services.db.writer())
                    .await?;
                self.save(kind, None, Some(now_ms())).await?;
                return Ok(found);
            }
            for (customer, transaction_id, environment, newest, saved_revision, checked_at) in &customers {
                let settled = *newest < now - 7 * DAY_MS;
                if settled && checked_at.is_some_and(|at| at > now - DAY_MS) {
                    after = customer.clone();
                    continue;
                }
                let mut revision = saved_revision.clone();
                let in_sandbox = environment == "SANDBOX";
                let pace = if in_sandbox { &mut sandbox } else { &mut production };
                let mut throttled = 0;
                loop {
                    pace.wait().await;
                    let page = match client.refund_history(in_sandbox, transaction_id, revision.as_deref()).await {
                        Ok(page) => page,
                        // Apple asks to slow down: wait as asked, and leave the rest to the next
                        // pass (from this customer) if it keeps asking.
                        Err(StoreError::Throttled { retry_after }) if throttled < 3 => {
                            throttled += 1;
                            pace.hold(retry_after);
                            continue;
                        }
                        Err(err) => return Err(Error::Other(err.to_string())),
                    };
                    for refunded in &page.purchases {
                        found.checked += 1;
                        let payment =
                            sync::by_reference(&self.services.db, self.app.id, &refunded.transaction_id).await?;
                        found.missed_refunds += self.refund(payment, "REFUND", "refunded by Apple").await?;
                    }
                    if page.revision.is_some() {
                        revision = page.revision;
                    }
                    if !page.has_more {
                        break;
                    }
                }
                sqlx::query(
                    "INSERT INTO apple_refund_customers (store_app_id, customer, revision, checked_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (store_app_id, customer) DO UPDATE SET revision = $3, \
                     checked_at = $4",
                )
                .bind(self.app.id)
                .bind(customer)
                .bind(&revision)
                .bind(now_ms())
                .execute(self.services.db.writer())
                .await?;
                after = customer.clone();
            }
            self.save(kind, Some(&Cursor { after: Some(after.clone()), ..Cursor::default() }), None).await?;
        }
    }

    /// ONE store: each recent one-time purchase asked about again (there is no voided list).
    async fn recent_purchases(&self) -> Result<Found, Error> {
        let kind = "onestore.purchases";
        let since = now_ms() - self.services.settings.sweeps.lookback_days * DAY_MS;
        let (cursor, _) = self.cursor(kind).await?;
        let mut after: i64 = cursor.and_then(|c| c.after).and_then(|a| a.parse().ok()).unwrap_or(0);
        let mut found = Found::default();
        loop {
            let payments = self
                .payments(
                    &format!(
                    "store_app_id = $1 AND status = 'SUCCESS' AND verified_at >= $2 AND id > $3 AND product_type = \
                     'CONSUMABLE' ORDER BY id LIMIT {PAGE}"
                ),
                    since,
                    after,
                )
                .await?;
            let Some(last) = payments.last().map(|p| p.id) else {
                self.save(kind, None, Some(now_ms())).await?;
                return Ok(found);
            };
            for payment in payments {
                found += self.ask_again(payment).await?;
            }
            after = last;
            self.save(kind, Some(&Cursor { after: Some(after.to_string()), ..Cursor::default() }), None).await?;
        }
    }

    async fn payments(&self, condition: &str, since: i64, after: i64) -> Result<Vec<Payment>, Error> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM payments p WHERE {condition}"))
            .bind(self.app.id)
            .bind(since)
            .bind(after)
            .fetch_all(self.services.db.pool())
            .await?;
        rows.iter().map(Payment::from_row).collect()
    }

    /// Asks the store about one payment and applies what it says.
    async fn ask_again(&self, payment: Payment) -> Result<Found, Error> {
        let Some(proof) = payment.proof() else { return Ok(Found::default()) };
        let purchase = match self.client.verify(&proof).await {
            Ok(purchase) => purchase,
            // A purchase the store no longer knows is not evidence of a refund.
            Err(StoreError::Rejected { .. }) => return Ok(Found::default()),
            Err(err) => return Err(Error::Other(err.to_string())),
        };
        let mut found = Found { checked: 1, ..Found::default() };
        let refunded = matches!(purchase.state, PurchaseState::Refunded | PurchaseState::Cancelled);
        if refunded && payment.status != Status::Refund {
            found.missed_refunds += 1;
        }
        let before = (payment.subscription_state.clone(), payment.expiry_time);
        match sync::apply(self.services, self.app.id, &purchase, RefundSource::Sweep).await? {
            sync::Applied::Renewed(_) => found.subscription_changes += 1,
            sync::Applied::Updated(_) => {
                let after = crate::payments::by_id(&self.services.db, payment.id).await?;
                if (after.subscription_state, after.expiry_time) != before {
                    found.subscription_changes += 1;
                }
            }
            _ => {}
        }
        Ok(found)
    }

    /// The latest period of each live subscription that expires soon or has expired without news.
    async fn subscriptions_near_expiry(&self) -> Result<Found, Error> {
        let now = now_ms();
        let soon = now + self.services.settings.sweeps.expiry_window_hours * 3_600_000;
        let since = now - self.services.settings.sweeps.lookback_days * DAY_MS;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments p WHERE store_app_id = $1 AND status = 'SUCCESS' \
             AND product_type <> 'CONSUMABLE' AND expiry_time < $2 AND expiry_time >= $3 \
             AND COALESCE(subscription_state, 'ACTIVE') NOT IN ('EXPIRED', 'REVOKED') \
             AND NOT EXISTS (SELECT 1 FROM payments n WHERE n.store_app_id = p.store_app_id \
               AND n.original_payment_id = p.original_payment_id AND n.purchase_time > p.purchase_time) \
             ORDER BY id LIMIT 1000"
        ))
        .bind(self.app.id)
        .bind(soon)
        .bind(since)
        .fetch_all(self.services.db.pool())
        .await?;
        let mut found = Found::default();
        for row in &rows {
            found += self.ask_again(Payment::from_row(row)?).await?;
        }
        Ok(found)
    }
}

/// Spaces calls to one store endpoint: one per `every` at most, and none before a throttled
/// answer's wait is over.
struct Pace {
    every: Duration,
    next: tokio::time::Instant,
}

/// How long to hold back after a throttled answer that does not say.
const THROTTLED_WAIT: Duration = Duration::from_secs(1);

impl Pace {
    fn new(every: Duration) -> Pace {
        Pace { every, next: tokio::time::Instant::now() }
    }

    async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = tokio::time::Instant::now() + self.every;
    }

    fn hold(&mut self, retry_after: Option<Duration>) {
        self.next = tokio::time::Instant::now() + retry_after.unwrap_or(THROTTLED_WAIT).min(LEASE / 2);
    }
}

/// How often to look for apps due a sweep: each minute, or at the configured interval when that is
/// shorter; `None` when `sweeps.interval_secs` is 0 (sweeps off).
pub fn interval(services: &Services) -> Option<Duration> {
    let secs = services.settings.sweeps.interval_secs;
    (secs > 0).then(|| Duration::from_secs(secs.min(60)))
}
