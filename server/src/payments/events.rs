//! The webhook events about a payment: the payment as it is after the change, written to the
//! outbox in the change's own transaction.
use serde_json::{json, Value};
use sqlx::{Any, Transaction};

use super::{Payment, COLUMNS};
use crate::{
    webhooks::{self, EventType, NewEvent},
    Error,
};

/// Writes an event about one payment to the outbox, in `tx`: the payment as it is after the change
/// (read inside the transaction), with `extra` fields added to its data.
pub async fn emit(
    tx: &mut Transaction<'static, Any>,
    event: EventType,
    payment_id: i64,
    extra: Value,
) -> Result<(), Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(payment_id)
        .fetch_one(&mut **tx)
        .await?;
    let payment = Payment::from_row(&row)?;
    webhooks::emit_all(tx, vec![event_about(event, &payment, extra)]).await
}

/// The event about `payment`, as it is after the change, with `extra` fields added to its data.
pub fn event_about(event: EventType, payment: &Payment, extra: Value) -> NewEvent<'_> {
    let mut data = data(payment);
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    NewEvent {
        project_id: payment.project_id,
        event,
        user_id: Some(&payment.user_id),
        payment_id: Some(payment.id),
        data,
    }
}

fn data(p: &Payment) -> Value {
    json!({
        "paymentSeq": p.payment_seq,
        "storeCode": p.store.code(),
        "productId": p.store_product_id,
        "productSeq": p.product_seq,
        "productType": p.product_type.as_str(),
        "status": p.status.as_str(),
        "price": p.price_micros.map(|m| m as f64 / 1e6),
        "currency": p.currency,
        "priceSource": p.price_source(),
        "quantity": p.quantity,
        "paymentId": p.payment_id,
        "originalPaymentId": p.original_payment_id,
        "purchaseTime": p.purchase_time,
        "expiryTime": p.expiry_time,
        "subscriptionState": p.subscription_state,
        "consumed": p.consumed,
        "isTestPurchase": p.sandbox,
        "provisional": p.provisional,
    })
}
