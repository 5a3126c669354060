//! Google Play (Android Publisher API v3).
pub mod client;
pub mod error;
pub mod orders;
pub mod products;
pub mod push;
pub mod rtdn;
pub mod signed;
pub mod subscriptions;
pub mod voided;

/// The transaction id of a purchase Google reports without an order id (license-test purchases,
/// pending subscriptions): the token, which is unique per purchase, as a fixed-length digest.
fn token_transaction_id(token: &str) -> String {
    format!("token:{}", crate::crypto::sha256_hex(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_never_panic_the_purchase_subscription_and_voided_readers() {
        let answers = [
            r#"{"purchaseTimeMillis":"1","purchaseState":0,"orderId":"GPA.1","quantity":2}"#,
            r#"{"startTime":"2026-01-01T00:00:00Z","subscriptionState":"SUBSCRIPTION_STATE_ACTIVE",
               "lineItems":[{"productId":"p","expiryTime":"2026-02-01T00:00:00Z",
               "autoRenewingPlan":{"recurringPrice":{"currencyCode":"USD","units":"9","nanos":990000000}}}]}"#,
            r#"{"voidedPurchases":[{"purchaseToken":"t","voidedTimeMillis":"1","voidedSource":0}]}"#,
        ];
        for valid in answers {
            for text in crate::noise::texts(valid, 3000) {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
                    let _ = products::from_product_purchase("p", "t", value.clone());
                    let _ = subscriptions::from_subscription_v2("p", "t", value);
                }
                let _ = voided::parse_page(&text);
                let _ = error::classify(reqwest::StatusCode::BAD_REQUEST, &text);
            }
        }
    }
}
