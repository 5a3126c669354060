//! Verification: what the app presents is checked with the store, and the store's answer becomes a
//! successful payment with its access token — once per store transaction, whoever asks again.
//!
//! Nothing the user paid for is lost: when the store cannot answer (outage, our credentials), the
//! proof is kept on a pending payment and the re-verification job tries again until it can.

use super::{
    append_histories, append_history,
    binding::{self, Binding, UserBinding},
    by_seq, new_access_token, HistoryEntry, Payment, Product, Source, Status, COLUMNS,
};
use crate::{
    crypto::{self, Cipher},
    db::Db,
    now_ms,
    projects::Policy,
    store_apps::StoreAppRecord,
    stores::{
        client::{Proof, StoreClient},
        google::signed::{self, SignedPurchase},
        PurchaseState, StoreError, StorePurchase,
    },
    webhooks::EventType,
    Error,
};

pub struct Request<'a> {
    pub project_id: i64,
    pub app: &'a StoreAppRecord,
    pub user_id: &'a str,
    /// The reservation this purchase completes; `None` for purchases that start in the store
    /// (promotions, promo codes) and for restores.
    pub payment_seq: Option<&'a str>,
    pub proof: &'a Proof,
    pub source: Source,
    pub policy: Policy,
    /// Whether the caller proved that it acts for `user_id` (a user token from the app's server):
    /// only then does presenting another user's purchase flag the presenter for abuse.
    pub user_authenticated: bool,
    /// What the device's store library signed, for a Google app whose outage fallback reads it.
    pub signed: Option<&'a SignedPurchase>,
}

impl Request<'_> {
    /// Whether the caller holds what only the buyer's device holds: a purchase token, a signed
    /// transaction or a receipt. An Apple transaction id is a guessable number, so alone it proves
    /// nothing; with a user token it is the user's own claim. Only such a caller is handed the
    /// payment's access token.
    pub fn proves_possession(&self) -> bool {
        self.user_authenticated || !matches!(self.proof, Proof::AppleTransactionId(_))
    }
}

/// Why a verification did not end in a successful payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    PaymentNotFound,
    UserMismatch,
    ProductNotFound(String),
    ProductStopped,
    ProductMismatch {
        reserved: String,
        bought: String,
    },
    StoreRejected {
        code: String,
        message: String,
    },
    AppMismatch(String),
    SandboxNotAllowed,
    Cancelled,
    UsedByOtherUser,
    /// The store app's verification mode does not take this kind of proof.
    ProofNotAccepted(String),
    /// The purchase's account value names another user.
    OtherUsersPurchase,
    /// The purchase carries no account value and the project requires one.
    AccountValueMissing,
}

/// Why a payment waits, kept in `pending_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// The store could not be reached or failed: retried in the background.
    StoreUnavailable,
    /// Our credentials for the store are missing or refused: retried until an admin fixes them.
    StoreConfiguration,
    /// Paid by a deferred method that has not cleared at the store.
    StorePending,
}

impl Pending {
    fn as_str(self) -> &'static str {
        match self {
            Pending::StoreUnavailable => "STORE_UNAVAILABLE",
            Pending::StoreConfiguration => "STORE_CONFIGURATION",
            Pending::StorePending => "STORE_PENDING",
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// `new` is false when the store transaction had been recorded before (a retried verify).
    Verified {
        payment: Payment,
        access_token: String,
        new: bool,
    },
    Pending {
        payment: Payment,
        reason: Pending,
        detail: String,
    },
    Refused(Refusal),
}

/// Verifies `request.proof` with the store and records the outcome.
pub async fn verify(db: &Db, cipher: &Cipher, client: &StoreClient, request: &Request<'_>) -> Result<Outcome, Error> {
    let reserved = match request.payment_seq {
        None => None,
        Some(seq) => match by_seq(db, request.project_id, seq).await? {
            None => return Ok(Outcome::Refused(Refusal::PaymentNotFound)),
            Some(p) if p.user_id != request.user_id => return Ok(Outcome::Refused(Refusal::UserMismatch)),
            Some(p) if p.store_app_id != request.app.id => return Ok(Outcome::Refused(Refusal::PaymentNotFound)),
            Some(p) => Some(p),
        },
    };
    // A completed reservation takes no second purchase: another one sent for it (the user paid
    // twice) becomes a payment of its own below, and the same one is answered as recorded.
    let reserved = reserved.filter(|p| open(p.status));
    // A retried verify of a purchase already recorded is answered without asking the store again.
    if let Some(existing) = recorded(db, request.app.id, request.proof).await? {
        return answer_existing(db, cipher, existing, request, reserved.as_ref()).await;
    }
    let mut provisional = false;
    let purchase = match client.verify(request.proof).await {
        // Without a reservation the app never started this purchase: it started in the store (an
        // App Store promoted purchase, a promo code, a purchase made on another device), whatever
        // the store's own answer says of it.
        Ok(purchase) if request.payment_seq.is_none() => StorePurchase { store_initiated: true, ..purchase },
        Ok(purchase) => purchase,
        Err(StoreError::Unavailable(detail)) => match signature_fallback(request) {
            Some(Ok(purchase)) => {
                provisional = true;
                StorePurchase { store_initiated: request.payment_seq.is_none(), ..purchase }
            }
            Some(Err(refused)) => {
                tracing::info!(store_app = request.app.id, %refused, "signature fallback not taken; the proof is kept");
                return keep_pending(db, request, reserved, Pending::StoreUnavailable, detail).await;
            }
            None => return keep_pending(db, request, reserved, Pending::StoreUnavailable, detail).await,
        },
        Err(throttled @ StoreError::Throttled { .. }) => {
            return keep_pending(db, request, reserved, Pending::StoreUnavailable, throttled.to_string()).await;
        }
        Err(StoreError::Config(detail)) => {
            tracing::warn!(store_app = request.app.id, %detail, "store credentials refused; the receipt is kept");
            return keep_pending(db, request, reserved, Pending::StoreConfiguration, detail).await;
        }
        Err(StoreError::Rejected { code, message }) => {
            // The store's own words go into the payment's history and the app's answer: scrubbed.
            let message = crate::stores::scrub(&message);
            let refusal = match code.as_str() {
                "INVALID_APP_IDENTIFIER" | "purchaseTokenDoesNotMatchPackageName" => Refusal::AppMismatch(message),
                "INVALID_ENVIRONMENT" => Refusal::SandboxNotAllowed,
                "PROOF_NOT_ACCEPTED" => Refusal::ProofNotAccepted(message),
                _ => Refusal::StoreRejected { code, message },
            };
            return refuse(db, reserved.as_ref(), refusal, request.source).await;
        }
    };
    match binding::check(purchase.store, request.user_id, purchase.account_id.as_deref()) {
        Binding::Matches => {}
        Binding::OtherUser => return refuse(db, reserved.as_ref(), Refusal::OtherUsersPurchase, request.source).await,
        Binding::Missing if request.policy.user_binding == UserBinding::Required => {
            return refuse(db, reserved.as_ref(), Refusal::AccountValueMissing, request.source).await;
        }
        Binding::Missing => {}
    }
    if !request.app.environments.allows(purchase.sandbox) {
        return refuse(db, reserved.as_ref(), Refusal::SandboxNotAllowed, request.source).await;
    }
    match purchase.state {
        PurchaseState::Purchased => {}
        PurchaseState::Pending => {
            let detail = "the store is waiting for the payment".to_string();
            return keep_pending(db, request, reserved, Pending::StorePending, detail).await;
        }
        PurchaseState::Cancelled | PurchaseState::Refunded => {
            return refuse(db, reserved.as_ref(), Refusal::Cancelled, request.source).await;
        }
    }
    let Some(product) = super::product(db, request.app.id, &purchase.product_id).await? else {
        return refuse(db, reserved.as_ref(), Refusal::ProductNotFound(purchase.product_id.clone()), request.source)
            .await;
    };
    // A pending payment made for a purchase that started in the store has no product of its own.
    if let Some(p) = reserved.as_ref().filter(|p| !p.store_initiated) {
        if p.store_product_id != purchase.product_id {
            let refusal =
                Refusal::ProductMismatch { reserved: p.store_product_id.clone(), bought: purchase.product_id };
            return refuse(db, reserved.as_ref(), refusal, request.source).await;
        }
    }
    let outcome = record(db, cipher, request, reserved.as_ref(), &product, &purchase, provisional).await?;
    if let Outcome::Verified { payment, new: true, .. } = &outcome {
        if ack_state(&purchase) == "PENDING" {
            super::acknowledge::acknowledge(db, client, payment).await?;
        }
        if purchase.account_id.is_none() {
            super::account_token::bind_at_store(db, client, payment).await?;
        }
    }
    Ok(outcome)
}

/// The purchase the device's signed purchase data describes, when Google could not be reached
/// and the app chose this fallback (`outageFallback: SIGNATURE`) for a one-time product; `None`
/// when the fallback does not apply, an error when it applies and the signed data does not hold.
/// A throttled call never falls back: anyone can spend our quota with made-up tokens.
fn signature_fallback(request: &Request<'_>) -> Option<Result<StorePurchase, String>> {
    let setting = |key| request.app.settings.get(key).and_then(|v| v.as_str());
    let Proof::Google { product_id, purchase_token, subscription: false } = request.proof else { return None };
    if setting("outageFallback") != Some("SIGNATURE") {
        return None;
    }
    let signed = request.signed?;
    let license_key = setting("licenseKey").unwrap_or_default();
    Some(signed::verify(signed, license_key, &request.app.store_app_id, product_id, purchase_token))
}

/// Whether a payment still waits for its purchase: a verify may complete it. A closed
/// reservation does too: the user may have paid after all (a deferred payment, a closed app).
fn open(status: Status) -> bool {
    matches!(status, Status::Reserved | Status::Failure | Status::UserClose)
}

/// The payment already recorded for what the proof names, when it names it without the store's
/// help: a purchase token (Google, ONE store) or an Apple transaction id. Only the token itself
/// matches a token proof (an order id is printed on the buyer's receipt e-mail, so it proves
/// nothing). A renewed Google subscription keeps its token: its newest period answers.
async fn recorded(db: &Db, store_app_id: i64, proof: &Proof) -> Result<Option<Payment>, Error> {
    let (column, value) = match proof {
        Proof::Google { purchase_token, .. } | Proof::OneStore { purchase_token, .. } => {
            ("purchase_token", purchase_token.as_str())
        }
        Proof::AppleTransactionId(id) => ("store_txn_key", id.as_str()),
        Proof::AppleSignedTransaction(_) | Proof::AppleReceipt { .. } => return Ok(None),
    };
    in_app(db, store_app_id, column, value, "status IN ('SUCCESS', 'REFUND')").await
}

/// The payment of one store transaction (unique per store app).
pub(super) async fn by_store_transaction(
    db: &Db,
    store_app_id: i64,
    transaction_id: &str,
) -> Result<Option<Payment>, Error> {
    in_app(db, store_app_id, "store_txn_key", transaction_id, "TRUE").await
}

/// The store app's newest payment whose `column` holds `value` and that meets `condition`.
async fn in_app(
    db: &Db,
    store_app_id: i64,
    column: &str,
    value: &str,
    condition: &str,
) -> Result<Option<Payment>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE store_app_id = $1 AND {column} = $2 AND {condition} \
         ORDER BY purchase_time DESC, id DESC LIMIT 1"
    ))
    .bind(store_app_id)
    .bind(value)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(Payment::from_row).transpose()
}

/// A store transaction presented again: the same payment for its owner, a refusal for anyone
/// else. The refusal is recorded once per (payment, claimed user), and flags the claimer only
/// when the claim came with the claimer's own user token: anyone can name any user id, so an
/// unauthenticated claim says nothing about the user it names. A reservation it was presented
/// for stops waiting: the purchase it waited for is recorded elsewhere.
async fn answer_existing(
    db: &Db,
    cipher: &Cipher,
    existing: Payment,
    request: &Request<'_>,
    reserved: Option<&Payment>,
) -> Result<Outcome, Error> {
    let reserved = reserved.filter(|p| p.id != existing.id);
    let existing = match existing.unclaimed {
        true => match claim(db, cipher, &existing, request, reserved).await? {
            Some(outcome) => return Ok(outcome),
            // Claimed by a concurrent verify: answered as any recorded payment.
            None => super::by_id(db, existing.id).await?,
        },
        false => existing,
    };
    if existing.user_id != request.user_id {
        let claim = crate::abuse::ReceiptClaim {
            project_id: request.project_id,
            payment_id: existing.id,
            payment_seq: &existing.payment_seq,
            owner: &existing.user_id,
            claimed_by: request.user_id,
            claimed_payment_seq: reserved.map(|p| p.payment_seq.as_str()),
            authenticated: request.user_authenticated,
        };
        crate::abuse::receipt_claimed(db, claim).await?;
        return refuse(db, reserved, Refusal::UsedByOtherUser, request.source).await;
    }
    if let Some(p) = reserved {
        close_duplicate(db, p, &existing, request.source).await?;
    }
    let access_token = existing.access_token(cipher)?.unwrap_or_default();
    Ok(Outcome::Verified { payment: existing, access_token, new: false })
}

/// Gives the unclaimed payment `existing` to the verifying user, when the verify holds what only
/// the buyer's device holds and the account value the store keeps does not name someone else.
/// The subscription's earlier unclaimed periods go with it. `None` when a concurrent verify claimed
/// it first.
async fn claim(
    db: &Db,
    cipher: &Cipher,
    existing: &Payment,
    request: &Request<'_>,
    reserved: Option<&Payment>,
) -> Result<Option<Outcome>, Error> {
    let refusal = if existing.status != Status::Success {
        Some(Refusal::Cancelled)
    } else if !request.proves_possession() {
        let why = "a purchase the store reported is claimed with its purchase token, signed transaction or receipt";
        Some(Refusal::ProofNotAccepted(why.into()))
    } else {
        match binding::check(existing.store, request.user_id, existing.store_account_id.as_deref()) {
            binding::Binding::Matches => None,
            binding::Binding::OtherUser => Some(Refusal::OtherUsersPurchase),
            binding::Binding::Missing if request.policy.user_binding == binding::UserBinding::Required => {
                Some(Refusal::AccountValueMissing)
            }
            binding::Binding::Missing => None,
        }
    };
    if let Some(refusal) = refusal {
        return refuse(db, reserved, refusal, request.source).await.map(Some);
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let periods: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM payments WHERE store_app_id = $1 AND claim_state = 'UNCLAIMED' AND status = 'SUCCESS' \
         AND (id = $2 OR original_payment_id = $3) ORDER BY id",
    )
    .bind(existing.store_app_id)
    .bind(existing.id)
    .bind(&existing.original_payment_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut access_token = None;
    let mut entries = Vec::new();
    for id in periods {
        let token = new_access_token();
        let sealed = super::sealed_access_token(cipher, &token);
        let claimed = sqlx::query(
            "UPDATE payments SET user_id = $1, claim_state = 'CLAIMED', access_token_hash = $2, access_token_enc = $3, \
             next_ack_at = CASE WHEN ack_state = 'PENDING' THEN $4 ELSE next_ack_at END, updated_at = $4 \
             WHERE id = $5 AND claim_state = 'UNCLAIMED'",
        )
        .bind(request.user_id)
        .bind(&sealed.0)
        .bind(&sealed.1)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return Ok(None);
        }
        if id == existing.id {
            access_token = Some(token);
        }
        entries.push(HistoryEntry {
            payment_id: id,
            from: Some(Status::Success),
            to: Status::Success,
            event: "CLAIM",
            source: request.source,
            actor: None,
            reason: Some("claimed by its buyer's verify"),
            detail: Some(format!("user {}", request.user_id)),
        });
    }
    let Some(access_token) = access_token else {
        tx.rollback().await?;
        return Ok(None);
    };
    append_histories(&mut tx, entries).await?;
    let extra = serde_json::json!({"storeInitiated": existing.store_initiated, "claimed": true});
    super::events::emit(&mut tx, EventType::PaymentSucceeded, existing.id, extra).await?;
    tx.commit().await?;
    if let Some(waiting) = reserved {
        close_duplicate(db, waiting, existing, request.source).await?;
    }
    let payment = super::by_id(db, existing.id).await?;
    Ok(Some(Outcome::Verified { payment, access_token, new: true }))
}

/// Marks the reservation FAILURE (when there is one that still waits) and returns the refusal.
pub(super) async fn refuse(
    db: &Db,
    reserved: Option<&Payment>,
    refusal: Refusal,
    source: Source,
) -> Result<Outcome, Error> {
    if let Some(p) = reserved {
        fail_waiting(db, p, &format!("{refusal:?}"), "VERIFY", source).await?;
    }
    Ok(Outcome::Refused(refusal))
}

/// Ends a waiting payment whose purchase turned out to be recorded as `existing`: it stops being
/// verified again.
pub(super) async fn close_duplicate(
    db: &Db,
    waiting: &Payment,
    existing: &Payment,
    source: Source,
) -> Result<(), Error> {
    let reason = format!("the purchase is recorded as payment {}", existing.payment_seq);
    fail_waiting(db, waiting, &reason, "VERIFY_DUPLICATE", source).await
}

/// Makes a payment that still waits FAILURE, with its history row. The update is conditional on
/// the states that wait, so a refusal racing a success never undoes it.
async fn fail_waiting(db: &Db, p: &Payment, reason: &str, event: &str, source: Source) -> Result<(), Error> {
    if !open(p.status) {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE payments SET status = 'FAILURE', failure_reason = $1, pending_reason = NULL, next_verify_at = NULL, \
         proof_digest = NULL, updated_at = $2 WHERE id = $3 AND status IN ('RESERVED', 'FAILURE', 'USER_CLOSE')",
    )
    .bind(reason)
    .bind(now_ms())
    .bind(p.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 1 {
        let entry = HistoryEntry {
            payment_id: p.id,
            from: Some(p.status),
            to: Status::Failure,
            event,
            source,
            actor: None,
            reason: Some(reason),
            detail: None,
        };
        append_history(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Keeps the proof on the reservation, or on a new pending payment for a purchase that started in
/// the store, and schedules re-verification. A proof is kept once per store app (by its digest):
/// a retried verify or restore during an outage finds it kept and adds nothing.
async fn keep_pending(
    db: &Db,
    request: &Request<'_>,
    reserved: Option<Payment>,
    reason: Pending,
    detail: String,
) -> Result<Outcome, Error> {
    let proof = serde_json::to_string(request.proof).map_err(|e| Error::Other(format!("proof as JSON: {e}")))?;
    let digest = crypto::sha256_hex(&proof);
    let mut reserved = reserved;
    for _ in 0..3 {
        // Kept already by another call: that payment waits for it. (The one that keeps it is
        // rescheduled below, with its backoff.)
        if let Some(kept) = kept_proof(db, request.app.id, &digest).await? {
            if reserved.as_ref().is_none_or(|p| p.id != kept.id) {
                return Ok(Outcome::Pending { payment: kept, reason, detail });
            }
        }
        let now = now_ms();
        let attempts = reserved.as_ref().map_or(0, |p| p.verify_attempts);
        let next = now + crate::backoff::retry_delay(attempts).as_millis() as i64;
        let mut tx = db.begin_write().await?;
        let written = match &reserved {
            Some(p) => sqlx::query(
                "UPDATE payments SET status = 'RESERVED', receipt = $1, proof_digest = $2, pending_reason = $3, \
                 next_verify_at = $4, verify_attempts = verify_attempts + 1, updated_at = $5 \
                 WHERE id = $6 AND status IN ('RESERVED', 'FAILURE', 'USER_CLOSE')",
            )
            .bind(&proof)
            .bind(&digest)
            .bind(reason.as_str())
            .bind(next)
            .bind(now)
            .bind(p.id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)
            .map(|done| (done.rows_affected() == 1).then_some(p.id)),
            None => {
                // Until the store answers, the product is the one the app named (if any).
                let product_id = request.proof.product_id().unwrap_or_default();
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO payments (payment_seq, project_id, store_app_id, store, store_product_id, \
                     product_type, user_id, status, pending_reason, receipt, proof_digest, verify_attempts, \
                     next_verify_at, store_initiated, reserved_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'CONSUMABLE', $6, 'RESERVED', $7, $8, $9, 1, $10, 1, $11, $11, $11) \
                     RETURNING id",
                )
                .bind(super::seq::draw())
                .bind(request.project_id)
                .bind(request.app.id)
                .bind(request.app.store.code())
                .bind(product_id)
                .bind(request.user_id)
                .bind(reason.as_str())
                .bind(&proof)
                .bind(&digest)
                .bind(next)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map(Some)
                .map_err(Error::from)
            }
        };
        let id = match written {
            Ok(Some(id)) => id,
            // The reservation was completed meanwhile by another purchase: this proof waits on
            // a payment of its own.
            Ok(None) => {
                tx.rollback().await?;
                reserved = None;
                continue;
            }
            // The same proof was kept by a concurrent call (found next round), or the paymentSeq
            // draw collided (drawn again).
            Err(err) if err.is_unique_violation() => {
                tx.rollback().await?;
                continue;
            }
            Err(err) => return Err(err),
        };
        let entry = HistoryEntry {
            payment_id: id,
            from: reserved.as_ref().map(|p| p.status),
            to: Status::Reserved,
            event: "VERIFY_PENDING",
            source: request.source,
            actor: None,
            reason: Some(reason.as_str()),
            detail: Some(detail.clone()),
        };
        append_history(&mut tx, entry).await?;
        tx.commit().await?;
        let payment = super::by_id(db, id).await?;
        return Ok(Outcome::Pending { payment, reason, detail });
    }
    Err(Error::Other("the proof could not be kept for re-verification".into()))
}

/// The waiting payment that keeps `proof` (a deferred payment, a pre-order, an outage), if any.
pub async fn waiting_for(db: &Db, store_app_id: i64, proof: &Proof) -> Result<Option<Payment>, Error> {
    let proof = serde_json::to_string(proof).map_err(|e| Error::Other(format!("proof as JSON: {e}")))?;
    kept_proof(db, store_app_id, &crypto::sha256_hex(&proof)).await
}

/// Whether a waiting payment keeps a proof holding `purchase_token`: the notification about that
/// purchase is for it, not for a verify still to come. Waiting proofs are few, so they are searched
/// as text; a false match only means the notification is looked at now.
pub async fn keeps_token(db: &Db, store_app_id: i64, purchase_token: &str) -> Result<bool, Error> {
    let needle = serde_json::to_string(purchase_token).map_err(|e| Error::Other(e.to_string()))?;
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM payments WHERE store_app_id = $1 AND status = 'RESERVED' AND proof_digest IS NOT NULL \
         AND receipt LIKE $2 LIMIT 1",
    )
    .bind(store_app_id)
    .bind(format!("%\"purchaseToken\":{needle}%"))
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// The waiting payment that keeps the proof with `digest`.
async fn kept_proof(db: &Db, store_app_id: i64, digest: &str) -> Result<Option<Payment>, Error> {
    in_app(db, store_app_id, "proof_digest", digest, "status = 'RESERVED'").await
}

/// Writes the verified purchase: the reservation (or a new payment) becomes SUCCESS with a new
/// access token, unless the store transaction was recorded meanwhile. Every write is conditional:
/// of concurrent verifies of one reservation, one completes it and the others find it completed.
async fn record(
    db: &Db,
    cipher: &Cipher,
    request: &Request<'_>,
    reserved: Option<&Payment>,
    product: &Product,
    purchase: &StorePurchase,
    provisional: bool,
) -> Result<Outcome, Error> {
    let mut reserved = reserved;
    // Each round either records, answers with what is recorded, or learns something that makes
    // the next round decide: the reservation was completed, or a paymentSeq draw collided.
    for _ in 0..5 {
        if let Some(existing) = by_store_transaction(db, request.app.id, &purchase.transaction_id).await? {
            return answer_existing(db, cipher, existing, request, reserved).await;
        }
        let token = new_access_token();
        let now = now_ms();
        let mut tx = db.begin_write().await?;
        let raw = purchase.raw.to_string();
        let linked = linked_payment_id(&mut tx, request.app.id, purchase).await?;
        let ack_state = ack_state(purchase);
        let fields = Fields {
            product,
            purchase,
            linked,
            token: Some(super::sealed_access_token(cipher, &token)),
            raw: &raw,
            ack_state,
            acknowledge_at: (ack_state == "PENDING").then_some(now),
            claim_state: None,
            now,
        };
        let written = match reserved {
            Some(p) => update_reserved(&mut tx, p.id, &fields).await.map(|done| done.then_some(p.id)),
            None => insert_verified(&mut tx, request.project_id, request.app, request.user_id, &fields).await.map(Some),
        };
        let id = match written {
            Ok(Some(id)) => id,
            // Completed meanwhile by a concurrent verify: with this same purchase (answered as
            // recorded next round) or with another one, which makes this one a payment of its own.
            Ok(None) => {
                tx.rollback().await?;
                reserved = None;
                continue;
            }
            // The store transaction was recorded by a concurrent verify (answered next round), or
            // the new paymentSeq was taken (drawn again next round).
            Err(err) if err.is_unique_violation() => {
                tx.rollback().await?;
                continue;
            }
            Err(err) => return Err(err),
        };
        let mut detail = format!("store transaction {}", purchase.transaction_id);
        if provisional {
            super::confirm::mark_provisional(&mut tx, id, now).await?;
            detail.push_str(
                "; verified by its Play Billing signature alone while Google could not be reached: provisional \
                 until Google confirms it",
            );
        }
        let entry = HistoryEntry {
            payment_id: id,
            from: reserved.map(|p| p.status),
            to: Status::Success,
            event: "VERIFY",
            source: request.source,
            actor: None,
            reason: None,
            detail: super::sync::with_facts(Some(detail), purchase),
        };
        append_history(&mut tx, entry).await?;
        let extra = serde_json::json!({"storeInitiated": purchase.store_initiated});
        super::events::emit(&mut tx, EventType::PaymentSucceeded, id, extra).await?;
        tx.commit().await?;
        return Ok(Outcome::Verified { payment: super::by_id(db, id).await?, access_token: token, new: true });
    }
    Err(Error::Other(format!("store transaction {} could not be recorded", purchase.transaction_id)))
}

/// A Google purchase must be acknowledged within three days; the other stores need nothing.
pub(super) fn ack_state(purchase: &StorePurchase) -> &'static str {
    match super::acknowledge::needs_acknowledging(purchase.store) && purchase.acknowledged == Some(false) {
        true => "PENDING",
        false => "NOT_REQUIRED",
    }
}

/// What a verified (or store-reported) purchase writes on its payment.
pub(super) struct Fields<'a> {
    pub product: &'a Product,
    pub purchase: &'a StorePurchase,
    /// The store payment id of the purchase this one replaces (a Google re-subscription).
    pub linked: Option<String>,
    /// The access token's hash and ciphertext; none for a payment nobody has claimed.
    pub token: Option<(String, String)>,
    pub raw: &'a str,
    pub ack_state: &'a str,
    /// When the acknowledgement job takes it (none: not until it is claimed).
    pub acknowledge_at: Option<i64>,
    pub claim_state: Option<&'a str>,
    pub now: i64,
}

/// Completes a payment that still waits; `false` when it no longer does.
async fn update_reserved(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    f: &Fields<'_>,
) -> Result<bool, Error> {
    let p = f.purchase;
    let listed = match p.price_micros {
        Some(_) => None,
        None => crate::items::list_price(tx, f.product.product_seq, p.currency.as_deref()).await?,
    };
    let (price, currency) = match &listed {
        Some(list) => (Some(list.price_micros * i64::from(p.quantity.max(1))), Some(list.currency.clone())),
        None => (p.price_micros, p.currency.clone()),
    };
    let done = sqlx::query(
        "UPDATE payments SET status = 'SUCCESS', pending_reason = NULL, next_verify_at = NULL, failure_reason = NULL, \
         proof_digest = NULL, product_seq = $1, store_product_id = $2, product_type = $3, price_micros = $4, \
         currency = $5, quantity = $6, store_txn_key = $7, payment_id = $7, original_payment_id = $8, \
         linked_payment_id = $9, purchase_token = $10, access_token_hash = $11, access_token_enc = $12, \
         verified_at = $13, purchase_time = $14, expiry_time = $15, subscription_state = $16, auto_renewing = $17, \
         environment = $18, is_test = $19, store_initiated = $20, store_account_id = $21, store_response = $22, \
         ack_state = $23, next_ack_at = $24, developer_payload = COALESCE(developer_payload, $25), claim_state = $26, \
         app_transaction_id = $28, price_is_list = $29, updated_at = $13 \
         WHERE id = $27 AND status IN ('RESERVED', 'FAILURE', 'USER_CLOSE')",
    )
    .bind(f.product.product_seq)
    .bind(&f.product.store_product_id)
    .bind(f.product.product_type.as_str())
    .bind(price)
    .bind(currency)
    .bind(p.quantity)
    .bind(&p.transaction_id)
    .bind(p.original_transaction_id.as_deref().or(Some(p.transaction_id.as_str())))
    .bind(&f.linked)
    .bind(&p.purchase_token)
    .bind(f.token.as_ref().map(|(hash, _)| hash))
    .bind(f.token.as_ref().map(|(_, enc)| enc))
    .bind(f.now)
    .bind(p.purchase_time_ms)
    .bind(p.expiry_time_ms)
    .bind(p.subscription_state.map(subscription_state_name))
    .bind(p.auto_renewing.map(i64::from))
    .bind(if p.sandbox { "SANDBOX" } else { "PRODUCTION" })
    .bind(i64::from(p.sandbox))
    .bind(i64::from(p.store_initiated))
    .bind(&p.account_id)
    .bind(f.raw)
    .bind(f.ack_state)
    .bind(f.acknowledge_at)
    .bind(&p.developer_payload)
    .bind(f.claim_state)
    .bind(id)
    .bind(p.app_transaction_id())
    .bind(i64::from(listed.is_some()))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new payment of `user_id` with `f` written on it.
pub(super) async fn insert_verified(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    project_id: i64,
    app: &StoreAppRecord,
    user_id: &str,
    f: &Fields<'_>,
) -> Result<i64, Error> {
    let seq = super::seq::draw();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO payments (payment_seq, project_id, store_app_id, store, store_product_id, product_type, user_id, \
         status, reserved_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'RESERVED', $8, $8, $8) \
         RETURNING id",
    )
    .bind(&seq)
    .bind(project_id)
    .bind(app.id)
    .bind(app.store.code())
    .bind(&f.product.store_product_id)
    .bind(f.product.product_type.as_str())
    .bind(user_id)
    .bind(f.now)
    .fetch_one(&mut **tx)
    .await?;
    update_reserved(tx, id, f).await?;
    Ok(id)
}

/// Google names the purchase a re-subscription or plan change replaces by its token; the payment
/// shows that purchase's store payment id, as NHN's `linkedPaymentId`.
pub(super) async fn linked_payment_id(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    store_app_id: i64,
    purchase: &StorePurchase,
) -> Result<Option<String>, Error> {
    let Some(token) = &purchase.linked_transaction_id else { return Ok(None) };
    let known: Option<Option<String>> = sqlx::query_scalar(
        "SELECT payment_id FROM payments WHERE store_app_id = $1 AND purchase_token = $2 ORDER BY id LIMIT 1",
    )
    .bind(store_app_id)
    .bind(token)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(known.flatten())
}

pub fn subscription_state_name(state: crate::stores::SubscriptionState) -> &'static str {
    use crate::stores::SubscriptionState::*;
    match state {
        Active => "ACTIVE",
        Cancelled => "CANCELED",
        InGrace => "IN_GRACE_PERIOD",
        OnHold => "ON_HOLD",
        Paused => "PAUSED",
        Expired => "EXPIRED",
        Revoked => "REVOKED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::seq::clash;

    fn google_proof(token: &str) -> Proof {
        Proof::Google { product_id: "gem_100".into(), purchase_token: token.into(), subscription: false }
    }

    fn request<'a>(app: &'a StoreAppRecord, proof: &'a Proof) -> Request<'a> {
        Request {
            project_id: app.project_id,
            app,
            user_id: "bob",
            payment_seq: None,
            proof,
            source: Source::Client,
            policy: Policy { user_binding: UserBinding::WhenPresent, client_consume: false },
            user_authenticated: false,
            signed: None,
        }
    }

    #[tokio::test]
    async fn a_purchase_verified_without_a_reservation_draws_again_when_its_payment_seq_clashes() {
        let (services, app, _dir) = clash::services().await;
        let other = clash::reservation(&services, &app, "alice").await;
        let product = super::super::product(&services.db, app.id, "gem_100").await.unwrap().unwrap();
        let purchase = clash::google_purchase("gem_100", "GPA.0001");
        let proof = google_proof("token-GPA.0001");
        clash::force_next(&other.payment_seq);

        let outcome = record(&services.db, &services.cipher, &request(&app, &proof), None, &product, &purchase, false)
            .await
            .unwrap();

        assert!(clash::all_drawn());
        let Outcome::Verified { payment, new: true, .. } = outcome else { panic!("a new payment, not {outcome:?}") };
        assert_ne!(payment.payment_seq, other.payment_seq);
        assert_eq!((payment.payment_id.as_deref(), payment.user_id.as_str()), (Some("GPA.0001"), "bob"));
    }

    #[tokio::test]
    async fn a_proof_kept_for_re_verification_draws_again_when_its_payment_seq_clashes() {
        let (services, app, _dir) = clash::services().await;
        let other = clash::reservation(&services, &app, "alice").await;
        let proof = google_proof("token-kept");
        clash::force_next(&other.payment_seq);

        let outcome =
            keep_pending(&services.db, &request(&app, &proof), None, Pending::StoreUnavailable, "store down".into())
                .await
                .unwrap();

        assert!(clash::all_drawn());
        let Outcome::Pending { payment, .. } = outcome else { panic!("a kept proof, not {outcome:?}") };
        assert_ne!(payment.payment_seq, other.payment_seq);
        assert_eq!((payment.status, payment.user_id.as_str()), (Status::Reserved, "bob"));
    }
}
