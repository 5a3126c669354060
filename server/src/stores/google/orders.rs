//! The Orders API (`orders.get`): what the buyer paid for an order, tax included, in the buyer's
//! currency. `purchases.products` carries no price at all and `subscriptionsv2` only the plan's
//! list price, so this is where every Google payment's amount comes from.
use serde_json::Value;

use crate::stores::StoreError;

/// The amounts of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAmounts {
    /// The total paid, in micros of `currency` (tax included where the order says so).
    pub total_micros: i64,
    pub tax_micros: Option<i64>,
    pub currency: String,
}

/// Google's `Money` (`units` a string of whole units, `nanos` the rest) in micros.
fn micros(money: &Value) -> Option<i64> {
    let units: i64 = match &money["units"] {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        Value::Null => 0,
        _ => return None,
    };
    let nanos = money["nanos"].as_i64().unwrap_or(0);
    units.checked_mul(1_000_000)?.checked_add(nanos / 1000)
}

/// Reads an `Order`'s total, tax and currency.
pub fn amounts(order: &Value) -> Result<OrderAmounts, StoreError> {
    let unreadable = || StoreError::Config("Google's order carries no readable total".into());
    let total = &order["total"];
    Ok(OrderAmounts {
        total_micros: micros(total).ok_or_else(unreadable)?,
        tax_micros: micros(&order["tax"]).filter(|_| order["tax"].is_object()),
        currency: total["currencyCode"].as_str().ok_or_else(unreadable)?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_orders_total_and_tax_are_read_in_micros_of_its_currency() {
        let order = json!({
            "orderId": "GPA.1",
            "total": {"currencyCode": "KRW", "units": "1200", "nanos": 0},
            "tax": {"currencyCode": "KRW", "units": "109", "nanos": 90_000_000},
        });

        let read = amounts(&order).unwrap();

        assert_eq!(
            read,
            OrderAmounts { total_micros: 1_200_000_000, tax_micros: Some(109_090_000), currency: "KRW".into() }
        );
    }

    #[test]
    fn an_order_without_a_total_is_unreadable_and_one_without_tax_has_none() {
        let cents = json!({"total": {"currencyCode": "USD", "nanos": 990_000_000}});

        assert_eq!(amounts(&cents).unwrap().total_micros, 990_000);
        assert_eq!(amounts(&cents).unwrap().tax_micros, None);
        assert!(amounts(&json!({"orderId": "GPA.1"})).is_err());
    }
}
