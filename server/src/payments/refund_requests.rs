//! Refund requests: a store asking, before it decides a refund, what our ledger knows about the
//! purchase. Apple sends `CONSUMPTION_REQUEST` and takes Send Consumption Information within 12
//! hours; Google sends a chargeback review (`pendingRefundReviewNotification`) and takes
//! `orders.reviewrefund` within 24 hours, recording only the first answer. Unanswered, both decide
//! without the fact that the item was delivered — and since August 2026 a lost Google chargeback
//! costs the developer the price and the bank's fee.
//!
//! The facts come from the ledger (whether the app's server consumed the payment, when, how much of
//! a subscription period had passed); the project's [`RefundPolicy`] says what preference goes with
//! them. Every request and answer is a row here and a line in the payment's history, and nothing is
//! sent for an unauthenticated notification: the notification inbox records a request only from a
//! signed App Store notification or an authenticated Google push.
use model::{ProductType, RefundRequestRow, Store};
use serde_json::{json, Value};

use super::{append_note, by_id, Payment};
use crate::{
    audit,
    backoff::retry_delay,
    db::Db,
    now_ms,
    services::Services,
    store_apps,
    stores::{client::StoreClient, google::client::ReviewRefund, scrub, StoreError},
    Error,
};

/// Apple's window for consumption information.
const APPLE_WINDOW_MS: i64 = 12 * 3_600_000;
/// Google's window for a chargeback review.
const GOOGLE_WINDOW_MS: i64 = 24 * 3_600_000;
/// Under the SUPPORT policy, what is left of the window when the ledger answers for a person who
/// did not decide: enough for the retries of a store outage.
const SUPPORT_FALLBACK_MS: i64 = 2 * 3_600_000;
/// How long an answer being sent is left to its sender before another instance may take it.
const CLAIM: std::time::Duration = std::time::Duration::from_secs(120);
const BATCH: i64 = 20;
/// The whole: consumption shares are in thousandths of a percent, as both stores take them.
const ALL: i64 = 100_000;

/// What a project answers when a store asks about a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPolicy {
    /// Nothing: the store decides alone. Requests are still recorded and shown.
    Off,
    /// The ledger's facts, with no preference: the default.
    Ledger,
    /// The facts and a preference from them: refund what was not delivered, decline what was.
    Defend,
    /// A support person chooses the preference; the facts go alone if nobody has when the window
    /// is nearly over.
    Support,
}

impl RefundPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundPolicy::Off => "OFF",
            RefundPolicy::Ledger => "LEDGER",
            RefundPolicy::Defend => "DEFEND",
            RefundPolicy::Support => "SUPPORT",
        }
    }

    pub fn parse(s: &str) -> Option<RefundPolicy> {
        Some(match s {
            "OFF" => RefundPolicy::Off,
            "LEDGER" => RefundPolicy::Ledger,
            "DEFEND" => RefundPolicy::Defend,
            "SUPPORT" => RefundPolicy::Support,
            _ => return None,
        })
    }
}

/// The preference sent with the facts, in one vocabulary for both stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    Approve,
    Decline,
    /// Refund what is left of a subscription period.
    Prorated,
    Neutral,
}

impl Preference {
    pub fn as_str(self) -> &'static str {
        match self {
            Preference::Approve => "APPROVE",
            Preference::Decline => "DECLINE",
            Preference::Prorated => "PRORATED",
            Preference::Neutral => "NEUTRAL",
        }
    }

    pub fn parse(s: &str) -> Option<Preference> {
        Some(match s {
            "APPROVE" => Preference::Approve,
            "DECLINE" => Preference::Decline,
            "PRORATED" => Preference::Prorated,
            "NEUTRAL" => Preference::Neutral,
            _ => return None,
        })
    }
}

/// What the ledger knows about a purchase when its refund is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The app's server took the item (consumed it), or the subscription's entitlement was given.
    pub delivered: bool,
    /// When, as the ledger recorded it.
    pub delivered_at: Option<i64>,
    /// How much of it was used, in thousandths of a percent.
    pub consumed_share: i64,
}

/// The facts of `payment`, consumed at `consumed_at`, as they stand at `at`: a consumable was
/// delivered whole when it was consumed; a subscription period was delivered when it was paid,
/// and used in proportion to the time that had passed of it.
pub fn facts(payment: &Payment, consumed_at: Option<i64>, at: i64) -> Facts {
    let period_used = || match (payment.purchase_time, payment.expiry_time) {
        (Some(start), Some(end)) if end > start => ((at - start).clamp(0, end - start) * ALL) / (end - start),
        _ => ALL,
    };
    match payment.product_type {
        ProductType::Consumable => Facts {
            delivered: payment.consumed,
            delivered_at: consumed_at,
            consumed_share: if payment.consumed { ALL } else { 0 },
        },
        ProductType::AutoRenewable => {
            let paid = payment.purchase_time.is_some();
            Facts {
                delivered: paid,
                delivered_at: payment.purchase_time,
                consumed_share: if paid { period_used() } else { 0 },
            }
        }
        ProductType::ConsumableAutoRenewable => Facts {
            delivered: payment.consumed,
            delivered_at: consumed_at,
            consumed_share: if payment.consumed { period_used() } else { 0 },
        },
    }
}

/// The preference `policy` puts with `facts`; `None` sends the facts alone. Under SUPPORT, the
/// person's `chosen` preference, if they chose one.
pub fn preference(policy: RefundPolicy, facts: &Facts, chosen: Option<Preference>) -> Option<Preference> {
    match policy {
        RefundPolicy::Off | RefundPolicy::Ledger => None,
        RefundPolicy::Support => chosen,
        RefundPolicy::Defend if !facts.delivered => Some(Preference::Approve),
        RefundPolicy::Defend if facts.consumed_share >= ALL => Some(Preference::Decline),
        RefundPolicy::Defend => Some(Preference::Prorated),
    }
}

/// Send Consumption Information (v2) as Apple takes it: the customer consented (the caller checked),
/// the delivery, the share used and Apple's names of the preference.
pub fn apple_answer(facts: &Facts, preference: Option<Preference>) -> Value {
    let mut body = json!({
        "customerConsented": true,
        "deliveryStatus": if facts.delivered { "DELIVERED" } else { "UNDELIVERED_OTHER" },
        "consumptionPercentage": facts.consumed_share,
        "sampleContentProvided": false,
    });
    let apple = match preference {
        Some(Preference::Approve) => Some("GRANT_FULL"),
        Some(Preference::Decline) => Some("DECLINE"),
        Some(Preference::Prorated) => Some("GRANT_PRORATED"),
        Some(Preference::Neutral) | None => None,
    };
    if let Some(apple) = apple {
        body["refundPreference"] = json!(apple);
    }
    body
}

/// `orders.reviewrefund` as Google takes it: Google requires a preference (NEUTRAL when there is
/// none, or for a prorated refund, which it does not know), and one usage event says when the app
/// took the item, under the account value Google already keeps on the purchase.
pub fn google_answer(
    facts: &Facts,
    preference: Option<Preference>,
    pending_token: &str,
    account: Option<&str>,
) -> ReviewRefund {
    let preference = match preference {
        Some(Preference::Approve) => "APPROVE",
        Some(Preference::Decline) => "DECLINE",
        Some(Preference::Prorated | Preference::Neutral) | None => "NEUTRAL",
    };
    let events = match (facts.delivered, facts.delivered_at) {
        (true, Some(at)) => {
            let mut event = json!({
                "consumptionTime": chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "consumptionItemDescription": "delivered: the app's server took the item",
            });
            if let Some(account) = account {
                event["obfuscatedAccountId"] = json!(account);
            }
            vec![event]
        }
        _ => Vec::new(),
    };
    ReviewRefund {
        pending_refund_token: pending_token.to_string(),
        refund_preference: preference.to_string(),
        sample_content_provided: false,
        consumption_percentage_milliunits: facts.consumed_share,
        consumption_usage_events: events,
    }
}

/// A refund request as a notification carries it.
pub struct Asked<'a> {
    pub payment: &'a Payment,
    pub notification_id: i64,
    pub reason: Option<String>,
    /// Google's token, which the answer must carry.
    pub pending_token: Option<String>,
    /// When the store's window opened.
    pub asked_at: i64,
}

/// Records a refund request and answers it now if its policy lets it; a store outage leaves it to
/// the background job, which retries until the window closes. Recording the same notification again
/// changes nothing.
pub async fn received(services: &Services, asked: Asked<'_>) -> Result<(), Error> {
    let Some(id) = record(&services.db, &asked).await? else { return Ok(()) };
    answer(services, id).await
}

async fn record(db: &Db, asked: &Asked<'_>) -> Result<Option<i64>, Error> {
    let (kind, window) = match asked.payment.store {
        Store::Apple => ("CONSUMPTION_REQUEST", APPLE_WINDOW_MS),
        _ => ("CHARGEBACK_REVIEW", GOOGLE_WINDOW_MS),
    };
    let now = now_ms();
    let deadline = asked.asked_at.min(now) + window;
    let mut tx = db.begin_write().await?;
    // Claimed for this instance while it answers; the job takes it when the claim runs out.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO refund_requests (payment_id, notification_id, kind, reason, pending_token, received_at, \
         deadline_at, status, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'OPEN', $8) \
         ON CONFLICT (notification_id) DO NOTHING RETURNING id",
    )
    .bind(asked.payment.id)
    .bind(asked.notification_id)
    .bind(kind)
    .bind(&asked.reason)
    .bind(&asked.pending_token)
    .bind(now)
    .bind(deadline)
    .bind(now + CLAIM.as_millis() as i64)
    .fetch_optional(&mut *tx)
    .await?;
    if id.is_some() {
        let reason = asked.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        let detail = format!("{kind}{reason}: the store asks what the ledger knows before it decides a refund");
        append_note(&mut tx, asked.payment, "REFUND_REQUEST", Some(detail)).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// A refund request as answering reads it.
#[derive(sqlx::FromRow)]
struct Open {
    payment_id: i64,
    pending_token: Option<String>,
    received_at: i64,
    deadline_at: i64,
    status: String,
    chosen_preference: Option<String>,
    decided_by: Option<String>,
    attempts: i64,
}

/// Where answering request `id` got to.
enum Outcome {
    Answered {
        answer: Value,
        decided_by: String,
    },
    /// Not sent, and why (policy OFF, no consent): final.
    Withheld(String),
    /// The store refused it: final.
    Failed(String),
    Expired,
    /// Not yet: try again at this time (an outage, or a person still to decide).
    Later {
        at: i64,
        error: Option<String>,
    },
}

/// Answers request `id` if it is open and its time has come.
async fn answer(services: &Services, id: i64) -> Result<(), Error> {
    let open: Open = sqlx::query_as(
        "SELECT payment_id, pending_token, received_at, deadline_at, status, chosen_preference, decided_by, attempts \
         FROM refund_requests WHERE id = $1",
    )
    .bind(id)
    .fetch_one(services.db.pool())
    .await?;
    if open.status != "OPEN" {
        return Ok(());
    }
    let payment = by_id(&services.db, open.payment_id).await?;
    let outcome = match decide_and_send(services, &payment, &open).await {
        Ok(outcome) => outcome,
        Err(err) => Outcome::Later {
            at: now_ms() + retry_delay(open.attempts).as_millis() as i64,
            error: Some(err.to_string()),
        },
    };
    settle(services, id, &payment, &open, outcome).await
}

async fn decide_and_send(services: &Services, payment: &Payment, open: &Open) -> Result<Outcome, Error> {
    let now = now_ms();
    if now >= open.deadline_at {
        return Ok(Outcome::Expired);
    }
    let (policy, consent) = project_settings(&services.db, payment.project_id).await?;
    if policy == RefundPolicy::Off {
        return Ok(Outcome::Withheld("the project's refund policy is OFF".into()));
    }
    if payment.store == Store::Apple && !consent {
        return Ok(Outcome::Withheld(
            "Apple takes consumption data only with the customer's consent, and the project does not say its \
             customers gave it"
                .into(),
        ));
    }
    let chosen = open.chosen_preference.as_deref().and_then(Preference::parse);
    let fallback_at = open.deadline_at - SUPPORT_FALLBACK_MS;
    if policy == RefundPolicy::Support && chosen.is_none() && now < fallback_at {
        return Ok(Outcome::Later { at: fallback_at, error: None });
    }
    let consumed_at: Option<i64> = sqlx::query_scalar("SELECT consumed_at FROM payments WHERE id = $1")
        .bind(payment.id)
        .fetch_one(services.db.pool())
        .await?;
    let facts = facts(payment, consumed_at, open.received_at);
    let preference = preference(policy, &facts, chosen);
    let decided_by = match (&open.decided_by, chosen) {
        (Some(person), Some(_)) => person.clone(),
        _ => format!("policy {}", policy.as_str()),
    };
    let app = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await?.ok_or(Error::NotFound)?;
    let client = services.store_client(&app)?;
    let reference = payment.payment_id.as_deref().unwrap_or_default();
    let sent = match (client.as_ref(), payment.store) {
        (StoreClient::Apple { client, .. }, Store::Apple) => {
            let answer = apple_answer(&facts, preference);
            let request = serde_json::from_value(answer.clone()).map_err(|e| Error::Other(e.to_string()))?;
            client.send_consumption(reference, &request).await.map(|()| answer)
        }
        (StoreClient::Google(google), Store::Google) => {
            let pending = open.pending_token.as_deref().unwrap_or_default();
            let review = google_answer(&facts, preference, pending, payment.store_account_id.as_deref());
            let answer = serde_json::to_value(&review).map_err(|e| Error::Other(e.to_string()))?;
            google.review_refund(reference, &review).await.map(|()| answer)
        }
        _ => return Ok(Outcome::Failed("this store takes no answer to refund requests".into())),
    };
    Ok(match sent {
        Ok(answer) => Outcome::Answered { answer, decided_by },
        Err(StoreError::Rejected { code, message }) => Outcome::Failed(scrub(&format!("{code}: {message}"))),
        Err(StoreError::Config(why)) => Outcome::Failed(scrub(&why)),
        Err(err @ StoreError::Throttled { retry_after }) => {
            let wait = retry_after.unwrap_or_else(|| retry_delay(open.attempts)).max(retry_delay(open.attempts));
            Outcome::Later { at: now + wait.as_millis() as i64, error: Some(err.to_string()) }
        }
        Err(err) => {
            Outcome::Later { at: now + retry_delay(open.attempts).as_millis() as i64, error: Some(err.to_string()) }
        }
    })
}

/// Writes where answering got to; a request whose retry would come after its window expires then.
async fn settle(services: &Services, id: i64, payment: &Payment, open: &Open, outcome: Outcome) -> Result<(), Error> {
    let now = now_ms();
    let (status, answer, decided_by, error, next, event) = match outcome {
        Outcome::Answered { answer, decided_by } => {
            ("ANSWERED", Some(answer), Some(decided_by), None, None, Some("REFUND_REQUEST_ANSWERED"))
        }
        Outcome::Withheld(why) => ("WITHHELD", None, None, Some(why), None, Some("REFUND_REQUEST_WITHHELD")),
        Outcome::Failed(why) => ("FAILED", None, None, Some(why), None, Some("REFUND_REQUEST_FAILED")),
        Outcome::Expired => {
            ("EXPIRED", None, None, Some("the store's window closed".into()), None, Some("REFUND_REQUEST_EXPIRED"))
        }
        Outcome::Later { at, error } => ("OPEN", None, None, error, Some(at.min(open.deadline_at)), None),
    };
    let detail = match (&answer, &error) {
        (Some(answer), _) => Some(format!("{} sent {answer}", decided_by.as_deref().unwrap_or_default())),
        (None, Some(why)) => Some(why.clone()),
        _ => None,
    };
    let mut tx = services.db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE refund_requests SET status = $1, answer = COALESCE($2, answer), decided_by = COALESCE($3, decided_by), \
         answered_at = $4, attempts = attempts + $5, next_attempt_at = $6, last_error = $7 \
         WHERE id = $8 AND status = 'OPEN'",
    )
    .bind(status)
    .bind(answer.as_ref().map(Value::to_string))
    .bind(&decided_by)
    .bind(answer.as_ref().map(|_| now))
    .bind(i64::from(error.is_some() || answer.is_some()))
    .bind(next)
    .bind(&error)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        if let Some(event) = event {
            append_note(&mut tx, payment, event, detail).await?;
        }
    }
    tx.commit().await?;
    if status == "FAILED" || status == "EXPIRED" {
        tracing::error!(payment = %payment.payment_seq, status, "a refund request went unanswered");
    }
    Ok(())
}

async fn project_settings(db: &Db, project_id: i64) -> Result<(RefundPolicy, bool), Error> {
    let (policy, consent): (String, i64) =
        sqlx::query_as("SELECT refund_policy, consumption_consent FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(db.pool())
            .await?;
    let policy = RefundPolicy::parse(&policy).ok_or_else(|| Error::Other(format!("stored refund policy {policy}")))?;
    Ok((policy, consent != 0))
}

/// Sets what `project_id` answers to refund requests, with the audit row `entry` of the change.
pub async fn set_policy(
    db: &Db,
    project_id: i64,
    policy: RefundPolicy,
    consent: bool,
    entry: audit::Entry,
) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let updated =
        sqlx::query("UPDATE projects SET refund_policy = $1, consumption_consent = $2, updated_at = $3 WHERE id = $4")
            .bind(policy.as_str())
            .bind(i64::from(consent))
            .bind(now_ms())
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
    audit::commit_one(tx, updated.rows_affected(), entry).await
}

/// Answers the requests whose retry or fallback time has come; returns how many it took.
pub async fn run_due(services: &Services) -> Result<usize, Error> {
    let ids = services.db.claim_due("refund_requests", "next_attempt_at", "status = 'OPEN'", CLAIM, BATCH).await?;
    for id in &ids {
        if let Err(err) = answer(services, *id).await {
            tracing::warn!(request = id, error = %err, "answering a refund request failed");
        }
    }
    Ok(ids.len())
}

/// A support person's preference for open request `id` of the payment `payment_seq`, recorded
/// with its audit row `entry` and sent now. Only one person decides: a second choice, or one for a
/// request already answered, is refused.
pub async fn choose(
    services: &Services,
    payment_seq: &str,
    id: i64,
    preference: Preference,
    person: &str,
    entry: audit::Entry,
) -> Result<(), Error> {
    let mut tx = services.db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE refund_requests SET chosen_preference = $1, decided_by = $2, next_attempt_at = $3 \
         WHERE id = $4 AND status = 'OPEN' AND chosen_preference IS NULL \
         AND payment_id = (SELECT id FROM payments WHERE payment_seq = $5)",
    )
    .bind(preference.as_str())
    .bind(person)
    .bind(now_ms() + CLAIM.as_millis() as i64)
    .bind(id)
    .bind(payment_seq)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::Invalid("this refund request is answered or decided already".into()));
    }
    audit::record_in(&mut tx, entry).await?;
    tx.commit().await?;
    answer(services, id).await
}

/// The refund requests of payment `payment_id`, oldest first, for its detail page.
pub async fn of_payment(db: &Db, payment_id: i64) -> Result<Vec<RefundRequestRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, kind, reason, status, received_at, deadline_at, chosen_preference, decided_by, answer, \
         answered_at, attempts, last_error FROM refund_requests WHERE payment_id = $1 ORDER BY id",
    )
    .bind(payment_id)
    .fetch_all(db.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(product_type: ProductType, consumed: bool, period: Option<(i64, i64)>) -> Payment {
        let mut payment = Payment::for_tests(product_type);
        payment.consumed = consumed;
        payment.purchase_time = period.map(|(start, _)| start);
        payment.expiry_time = period.map(|(_, end)| end);
        payment
    }

    #[test]
    fn a_consumed_consumable_was_delivered_whole_and_an_unconsumed_one_not_at_all() {
        let consumed = facts(&payment(ProductType::Consumable, true, Some((0, 0))), Some(5), 10);
        let waiting = facts(&payment(ProductType::Consumable, false, Some((0, 0))), None, 10);

        assert_eq!(consumed, Facts { delivered: true, delivered_at: Some(5), consumed_share: ALL });
        assert_eq!(waiting, Facts { delivered: false, delivered_at: None, consumed_share: 0 });
    }

    #[test]
    fn a_subscription_period_is_used_in_proportion_to_the_time_that_passed_of_it() {
        let monthly = payment(ProductType::AutoRenewable, false, Some((1_000, 31_000)));

        assert_eq!(facts(&monthly, None, 7_000).consumed_share, 20_000);
        assert_eq!(facts(&monthly, None, 99_000).consumed_share, ALL);
        assert_eq!(facts(&monthly, None, 7_000).delivered_at, Some(1_000));
    }

    #[test]
    fn a_consumable_subscription_counts_as_delivered_only_once_consumed() {
        let unconsumed = payment(ProductType::ConsumableAutoRenewable, false, Some((0, 100)));
        let consumed = payment(ProductType::ConsumableAutoRenewable, true, Some((0, 100)));

        assert!(!facts(&unconsumed, None, 50).delivered);
        assert_eq!(facts(&consumed, Some(10), 50).consumed_share, 50_000);
    }

    #[test]
    fn the_defend_policy_refunds_the_undelivered_declines_the_used_and_prorates_the_rest() {
        let facts = |delivered, consumed_share| Facts { delivered, delivered_at: None, consumed_share };

        assert_eq!(preference(RefundPolicy::Defend, &facts(false, 0), None), Some(Preference::Approve));
        assert_eq!(preference(RefundPolicy::Defend, &facts(true, ALL), None), Some(Preference::Decline));
        assert_eq!(preference(RefundPolicy::Defend, &facts(true, 30_000), None), Some(Preference::Prorated));
        assert_eq!(preference(RefundPolicy::Ledger, &facts(true, ALL), None), None);
        assert_eq!(
            preference(RefundPolicy::Support, &facts(true, ALL), Some(Preference::Approve)),
            Some(Preference::Approve)
        );
        assert_eq!(preference(RefundPolicy::Support, &facts(true, ALL), None), None);
    }

    #[test]
    fn each_store_gets_the_preference_in_its_own_words() {
        let used = Facts { delivered: true, delivered_at: Some(1_767_225_600_000), consumed_share: ALL };

        let apple = apple_answer(&used, Some(Preference::Prorated));
        let apple_neutral = apple_answer(&used, Some(Preference::Neutral));
        let google = google_answer(&used, Some(Preference::Prorated), "pending", Some("acct"));

        assert_eq!(apple["refundPreference"], "GRANT_PRORATED");
        assert_eq!(apple["deliveryStatus"], "DELIVERED");
        assert!(apple_neutral.get("refundPreference").is_none());
        assert_eq!(google.refund_preference, "NEUTRAL");
        assert_eq!(google.consumption_usage_events[0]["consumptionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(google.consumption_usage_events[0]["obfuscatedAccountId"], "acct");
    }
}
