//! Voided purchases (`purchases.voidedpurchases.list`): refunds, chargebacks and revocations that
//! Google recorded, one page at a time.
use serde::Deserialize;

use crate::stores::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct VoidedPage {
    pub purchases: Vec<VoidedPurchase>,
    /// Present while more pages follow; pass it back as `token`.
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoidedPurchase {
    pub purchase_token: String,
    pub order_id: Option<String>,
    pub purchase_time_ms: Option<i64>,
    pub voided_time_ms: i64,
    pub source: &'static str,
    pub reason: &'static str,
    pub quantity: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    token_pagination: Option<TokenPagination>,
    #[serde(default)]
    voided_purchases: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPagination {
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    purchase_token: String,
    order_id: Option<String>,
    purchase_time_millis: Option<String>,
    voided_time_millis: String,
    voided_source: Option<i64>,
    voided_reason: Option<i64>,
    voided_quantity: Option<i64>,
}

pub fn parse_page(body: &str) -> Result<VoidedPage, StoreError> {
    let response: ListResponse =
        serde_json::from_str(body).map_err(|e| StoreError::unreadable("voided purchases page", e))?;
    let purchases = response
        .voided_purchases
        .into_iter()
        .map(|e| {
            Ok(VoidedPurchase {
                voided_time_ms: e
                    .voided_time_millis
                    .parse()
                    .map_err(|_| StoreError::Config("voidedTimeMillis is not a number".into()))?,
                purchase_time_ms: e.purchase_time_millis.and_then(|t| t.parse().ok()),
                purchase_token: e.purchase_token,
                order_id: e.order_id,
                source: source_name(e.voided_source.unwrap_or(-1)),
                reason: reason_name(e.voided_reason.unwrap_or(-1)),
                quantity: e.voided_quantity,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(VoidedPage {
        purchases,
        next_page_token: response.token_pagination.and_then(|p| p.next_page_token).filter(|t| !t.is_empty()),
    })
}

/// Who voided it: the user (refund request), the developer (Play Console / orders.refund), or Google.
pub fn source_name(code: i64) -> &'static str {
    match code {
        0 => "USER",
        1 => "DEVELOPER",
        2 => "GOOGLE",
        _ => "UNKNOWN",
    }
}

pub fn reason_name(code: i64) -> &'static str {
    match code {
        0 => "OTHER",
        1 => "REMORSE",
        2 => "NOT_RECEIVED",
        3 => "DEFECTIVE",
        4 => "ACCIDENTAL_PURCHASE",
        5 => "FRAUD",
        6 => "FRIENDLY_FRAUD",
        7 => "CHARGEBACK",
        8 => "UNACKNOWLEDGED_PURCHASE",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_read_with_its_next_token() {
        let body = r#"{ "tokenPagination": { "nextPageToken": "next" },
          "voidedPurchases": [ { "kind": "androidpublisher#voidedPurchase", "purchaseToken": "tok-123",
              "purchaseTimeMillis": "1767225600000", "voidedTimeMillis": "1767312000000",
              "orderId": "GPA.3312-3456-7890-12345", "voidedSource": 0, "voidedReason": 1 } ] }"#;

        let page = parse_page(body).unwrap();

        assert_eq!(page.next_page_token.as_deref(), Some("next"));
        assert_eq!(
            page.purchases,
            vec![VoidedPurchase {
                purchase_token: "tok-123".into(),
                order_id: Some("GPA.3312-3456-7890-12345".into()),
                purchase_time_ms: Some(1_767_225_600_000),
                voided_time_ms: 1_767_312_000_000,
                source: "USER",
                reason: "REMORSE",
                quantity: None,
            }]
        );
    }

    #[test]
    fn the_last_page_has_no_next_token_and_an_empty_page_is_fine() {
        let page = parse_page("{}").unwrap();

        assert!(page.purchases.is_empty());
        assert_eq!(page.next_page_token, None);
        assert_eq!(parse_page(r#"{"tokenPagination":{"nextPageToken":""}}"#).unwrap().next_page_token, None);
    }

    #[test]
    fn every_documented_reason_and_source_has_a_name() {
        assert!((0..=8).all(|c| reason_name(c) != "UNKNOWN"));
        assert!((0..=2).all(|c| source_name(c) != "UNKNOWN"));
        assert_eq!(reason_name(42), "UNKNOWN");
    }

    #[test]
    fn broken_pages_are_errors() {
        assert!(parse_page("[").is_err());
        assert!(parse_page(r#"{"voidedPurchases":[{"purchaseToken":"t","voidedTimeMillis":"soon"}]}"#).is_err());
        assert!(parse_page(r#"{"voidedPurchases":[{"voidedTimeMillis":"1"}]}"#).is_err());
    }
}
