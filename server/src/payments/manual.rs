//! What a support person does to one payment by hand: ask the store about it again, and change its
//! status as NHN's console allows — a charge we did not record becomes SUCCESS, anything not yet
//! refunded may become REFUND. Every change is conditional on the status the person saw, and is
//! written with its history row and its audit row in one transaction.
//!
//! Making a payment SUCCESS grants an item, so SUPPORT may do it only when the store confirms the
//! receipt (an App Store transaction of this app and item that the store reports purchased);
//! otherwise an ADMIN must, and the audit row says that no store confirmed it.
use model::{allowed_status_changes, Comparison, Reverification, Role, Store};

use serde_json::json;

use super::{
    append_history, new_access_token,
    refund::{self, RefundSource, Refunding},
    HistoryEntry, Payment, Source, Status, COLUMNS,
};
use crate::{
    audit,
    crypto::Cipher,
    db::Db,
    now_ms,
    services::Services,
    store_apps,
    stores::{client::Proof, PurchaseState, StorePurchase},
    users::ConsoleUser,
    webhooks::EventType,
    Error,
};

/// A requested status change, as the form sends it.
pub struct Change<'a> {
    pub to: &'a str,
    pub reason: &'a str,
    /// For SUCCESS: the store reference key (order or transaction id) from the user's receipt.
    pub receipt: &'a str,
    pub price: &'a str,
    pub currency: &'a str,
}

/// The payment with this paymentSeq, in any project (support searches across projects).
pub async fn by_seq_anywhere(db: &Db, payment_seq: &str) -> Result<Payment, Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE payment_seq = $1"))
        .bind(payment_seq.trim())
        .fetch_optional(db.pool())
        .await?
        .ok_or(Error::NotFound)?;
    Payment::from_row(&row)
}

/// A price written as text (typed by a person, or in ONE store's PNS), as micros: digits with at
/// most six decimals.
pub(crate) fn price_micros(text: &str) -> Result<i64, Error> {
    let invalid = || Error::Invalid("the price is a number such as 4.99, with at most six decimals".into());
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 6 || !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| invalid())?;
    Ok(whole * 1_000_000 + fraction)
}

pub(crate) fn currency(text: &str) -> Result<String, Error> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(Error::Invalid("the currency is a three-letter ISO 4217 code such as USD or KRW".into()))
    }
}

pub async fn change_status(
    services: &Services,
    payment_seq: &str,
    change: Change<'_>,
    actor: &ConsoleUser,
    ip: Option<std::net::IpAddr>,
) -> Result<(), Error> {
    let reason = change.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::Invalid("give the reason for the change (up to 500 characters)".into()));
    }
    let payment = by_seq_anywhere(&services.db, payment_seq).await?;
    if !allowed_status_changes(payment.status.as_str(), payment.store.code()).contains(&change.to) {
        return Err(Error::Invalid(format!(
            "a {} payment in {} cannot be changed to {}",
            payment.status.as_str(),
            payment.store.label(),
            change.to
        )));
    }
    let audit = audit::Entry::by(actor.id, &actor.username, "payment.status")
        .target("payment", &payment.payment_seq)
        .project(payment.project_id)
        .reason(reason)
        .detail(format!("{} → {}", payment.status.as_str(), change.to))
        .ip(ip);
    let result = match change.to {
        "SUCCESS" => {
            let confirmed = store_confirms(services, &payment, change.receipt.trim()).await;
            if !confirmed && !actor.role.allows(Role::Admin) {
                return Err(Error::Invalid(
                    "the store does not confirm this receipt for this item, so only an admin can mark the payment \
                     SUCCESS"
                        .into(),
                ));
            }
            let manual = Manual { change: &change, reason, actor, confirmed };
            to_success(&services.db, &services.cipher, &payment, manual, audit).await
        }
        _ => to_refund(services, &payment, reason, actor, audit).await,
    };
    if let Err(err) = &result {
        if err.is_unique_violation() {
            return Err(Error::Invalid(
                "another payment of this app already has this store reference key; search for it".into(),
            ));
        }
    }
    result
}

/// Whether the store reports `receipt` as a purchase of this payment's item in its app. Only the
/// App Store can be asked by a receipt number (its transaction id); Google's order ids and ONE
/// store's purchase ids are not looked up without the purchase token.
async fn store_confirms(services: &Services, payment: &Payment, receipt: &str) -> bool {
    if payment.store != Store::Apple || receipt.is_empty() || !receipt.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(Some(app)) = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await else {
        return false;
    };
    let Ok(client) = services.store_client(&app) else { return false };
    match client.verify(&Proof::AppleTransactionId(receipt.to_string())).await {
        Ok(purchase) => {
            purchase.transaction_id == receipt
                && purchase.product_id == payment.store_product_id
                && purchase.state == PurchaseState::Purchased
        }
        Err(err) => {
            tracing::info!(payment = %payment.payment_seq, error = %err, "the store did not confirm a manual SUCCESS");
            false
        }
    }
}

fn changed_meanwhile() -> Error {
    Error::Invalid("the payment changed while you were looking at it; reload the page and check it again".into())
}

/// A SUCCESS asked for by hand: by whom, why, and whether the store confirmed the receipt.
struct Manual<'a> {
    change: &'a Change<'a>,
    reason: &'a str,
    actor: &'a ConsoleUser,
    confirmed: bool,
}

async fn to_success(
    db: &Db,
    cipher: &Cipher,
    payment: &Payment,
    manual: Manual<'_>,
    audit: audit::Entry,
) -> Result<(), Error> {
    let Manual { change, reason, actor, confirmed } = manual;
    let receipt = change.receipt.trim();
    if receipt.is_empty() || receipt.len() > 200 {
        return Err(Error::Invalid("give the receipt number (the store's order or transaction id)".into()));
    }
    let price = price_micros(change.price)?;
    let currency = currency(change.currency)?;
    let token = new_access_token();
    let sealed = super::sealed_access_token(cipher, &token);
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE payments SET status = 'SUCCESS', pending_reason = NULL, next_verify_at = NULL, failure_reason = NULL, \
         failure_code = NULL, store_txn_key = $1, payment_id = $1, original_payment_id = COALESCE(original_payment_id, \
         $1), price_micros = $2, currency = $3, price_is_list = 0, access_token_hash = $4, access_token_enc = $5, \
         verified_at = $6, purchase_time = COALESCE(purchase_time, $6), updated_at = $6 WHERE id = $7 AND status = $8",
    )
    .bind(receipt)
    .bind(price)
    .bind(&currency)
    .bind(&sealed.0)
    .bind(&sealed.1)
    .bind(now)
    .bind(payment.id)
    .bind(payment.status.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(changed_meanwhile());
    }
    let checked = if confirmed { "confirmed by the store" } else { "not confirmed by the store (admin)" };
    let detail = format!("{checked}, receipt {receipt}, price {} {currency}", price as f64 / 1e6);
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: Status::Success,
        event: "MANUAL_SUCCESS",
        source: Source::Console,
        actor: Some(&actor.username),
        reason: Some(reason),
        detail: Some(detail.clone()),
    };
    append_history(&mut tx, entry).await?;
    super::events::emit(&mut tx, EventType::PaymentSucceeded, payment.id, json!({"manual": true})).await?;
    audit::record_in(&mut tx, audit.detail(format!("{} → SUCCESS, {detail}", payment.status.as_str()))).await?;
    tx.commit().await?;
    Ok(())
}

async fn to_refund(
    services: &Services,
    payment: &Payment,
    reason: &str,
    actor: &ConsoleUser,
    audit: audit::Entry,
) -> Result<(), Error> {
    let mut tx = services.db.begin_write().await?;
    let refunding = Refunding {
        source: RefundSource::Manual,
        kind: "REFUND",
        reason: Some(reason),
        actor: Some(&actor.username),
        share: None,
    };
    if !refund::transition(&mut tx, &services.settings.abuse, payment, refunding).await? {
        return Err(changed_meanwhile());
    }
    audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

/// Asks the store about the payment now and lays its answer beside our record. Changes nothing
/// but the audit log: the person decides what to do with the answer.
pub async fn reverify(
    services: &Services,
    payment_seq: &str,
    actor: &ConsoleUser,
    ip: Option<std::net::IpAddr>,
) -> Result<Reverification, Error> {
    let payment = by_seq_anywhere(&services.db, payment_seq).await?;
    let checked_at = now_ms();
    let answer = match payment.proof() {
        None => Err("the app never sent a proof for this payment, so there is nothing to ask the store".to_string()),
        Some(proof) => match store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await? {
            None => Err("the payment's store app no longer exists".into()),
            Some(app) => match services.store_client(&app) {
                Err(err) => Err(err.to_string()),
                Ok(client) => client.verify(&proof).await.map_err(|err| err.to_string()),
            },
        },
    };
    let outcome = match &answer {
        Ok(purchase) => format!("store answered: {:?}", purchase.state),
        Err(err) => format!("no answer: {err}"),
    };
    audit::record(
        &services.db,
        audit::Entry::by(actor.id, &actor.username, "payment.reverify")
            .target("payment", &payment.payment_seq)
            .project(payment.project_id)
            .detail(outcome)
            .ip(ip),
    )
    .await?;
    Ok(match answer {
        Ok(purchase) => Reverification {
            checked_at,
            comparisons: compare(&payment, &purchase),
            error: None,
            raw: serde_json::to_string_pretty(&purchase.raw).ok(),
        },
        Err(error) => Reverification { checked_at, comparisons: Vec::new(), error: Some(error), raw: None },
    })
}

fn compare(ours: &Payment, store: &StorePurchase) -> Vec<Comparison> {
    let text = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let time = |v: Option<i64>| text(v.map(|t| format!("{} UTC", model::format::utc(t))));
    let money = |micros: Option<i64>, currency: &Option<String>| {
        text(micros.map(|m| model::format::price(Some(m as f64 / 1e6), currency.as_deref())))
    };
    let store_status = match store.state {
        PurchaseState::Purchased => "SUCCESS",
        PurchaseState::Pending => "RESERVED",
        PurchaseState::Cancelled | PurchaseState::Refunded => "REFUND",
    };
    let row = |field: &str, ours: String, store: String| Comparison { field: field.into(), ours, store };
    let mut rows = vec![
        row("Status", ours.status.as_str().into(), store_status.into()),
        row("Product", ours.store_product_id.clone(), store.product_id.clone()),
        row("Store reference key", text(ours.payment_id.clone()), store.transaction_id.clone()),
        row("Price", money(ours.price_micros, &ours.currency), money(store.price_micros, &store.currency)),
        row("Purchased", time(ours.purchase_time), time(Some(store.purchase_time_ms))),
        row("Test purchase", ours.sandbox.to_string(), store.sandbox.to_string()),
    ];
    if let Some(consumed) = store.consumed {
        rows.push(row("Consumed", ours.consumed.to_string(), consumed.to_string()));
    }
    if ours.is_subscription() || store.subscription_state.is_some() {
        let state = store.subscription_state.map(|s| super::verify::subscription_state_name(s).to_string());
        rows.push(row("Subscription", text(ours.subscription_state.clone()), text(state)));
        rows.push(row("Expires", time(ours.expiry_time), time(store.expiry_time_ms)));
        rows.push(row(
            "Auto-renew",
            text(ours.auto_renewing.map(|a| a.to_string())),
            text(store.auto_renewing.map(|a| a.to_string())),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_typed_by_people_become_micros() {
        assert_eq!(price_micros("4.99").unwrap(), 4_990_000);
        assert_eq!(price_micros("1100").unwrap(), 1_100_000_000);
        assert_eq!(price_micros(" 0.000001 ").unwrap(), 1);
        for bad in ["", "-1", "1.2.3", "1,99", "abc", "1.1234567", ".5", "9999999999999"] {
            assert!(price_micros(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_are_three_letters_in_capitals() {
        assert_eq!(currency(" usd ").unwrap(), "USD");
        assert!(currency("US").is_err());
        assert!(currency("U$D").is_err());
    }
}
