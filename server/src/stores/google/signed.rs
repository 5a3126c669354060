//! What the Play Billing Library hands the app with a purchase: its data (`Purchase.getOriginalJson()`)
//! and signature (`Purchase.getSignature()`, SHA1withRSA with the app's in-app billing license key).
//!
//! The signature proves that Google sold this purchase, without asking Google; it does not prove
//! that Google has not refunded it since, nor that a license tester (who pays nothing) did not make
//! it. So it is read only when Google cannot be reached, for an app that chose this fallback, and
//! the purchase is confirmed with Google afterwards.
use base64::{engine::general_purpose::STANDARD, Engine};
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stores::{PurchaseState, StorePurchase};

/// The purchase data and its signature, as the app sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPurchase {
    pub data: String,
    pub signature: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseData {
    order_id: Option<String>,
    package_name: String,
    product_id: String,
    purchase_time: i64,
    purchase_state: i64,
    purchase_token: String,
    quantity: Option<i32>,
    #[serde(default)]
    acknowledged: bool,
    obfuscated_account_id: Option<String>,
    developer_payload: Option<String>,
}

/// The one-time purchase `signed` describes, when `license_key` verifies its signature and it is a
/// purchase of `product_id` in `package` with `purchase_token`. The error says what did not hold.
pub fn verify(
    signed: &SignedPurchase,
    license_key: &str,
    package: &str,
    product_id: &str,
    purchase_token: &str,
) -> Result<StorePurchase, String> {
    let key = crate::crypto::license_key_rsa(license_key)
        .ok_or("the app's license key is not set or not a base64 RSA public key")?;
    let signature = STANDARD.decode(signed.signature.trim()).map_err(|_| "the signature is not base64")?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, key)
        .verify(signed.data.as_bytes(), &signature)
        .map_err(|_| "the purchase data's signature does not verify with the app's license key")?;
    let data: PurchaseData =
        serde_json::from_str(&signed.data).map_err(|e| format!("the signed purchase data does not read: {e}"))?;
    if data.package_name != package {
        return Err(format!("the signed purchase is of the app {}", data.package_name));
    }
    if data.product_id != product_id || !crate::crypto::ct_eq(&data.purchase_token, purchase_token) {
        return Err("the signed purchase is not the purchase sent with it".into());
    }
    let state = match data.purchase_state {
        0 => PurchaseState::Purchased,
        // The AIDL API's pending state, and the one the Play Billing Library reads as pending.
        2 | 4 => PurchaseState::Pending,
        _ => PurchaseState::Cancelled,
    };
    let raw: Value = serde_json::from_str(&signed.data).unwrap_or_default();
    Ok(StorePurchase {
        quantity: data.quantity.unwrap_or(1),
        acknowledged: Some(data.acknowledged),
        developer_payload: data.developer_payload.filter(|d| !d.is_empty()),
        account_id: data.obfuscated_account_id,
        ..super::products::one_time(product_id, purchase_token, data.order_id, data.purchase_time, state, raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::google::sign_purchase_data;

    fn signed(data: &str) -> SignedPurchase {
        SignedPurchase { data: data.into(), signature: sign_purchase_data(data) }
    }

    const DATA: &str = r#"{"orderId":"GPA.1","packageName":"com.example","productId":"gem","purchaseTime":1767225600000,"purchaseState":0,"purchaseToken":"tok","quantity":2,"acknowledged":false,"obfuscatedAccountId":"acct"}"#;

    #[test]
    fn a_purchase_signed_with_the_license_key_reads_as_the_purchase_it_describes() {
        let key = crate::fakes::google::license_key();
        let purchase = verify(&signed(DATA), &key, "com.example", "gem", "tok").unwrap();
        assert_eq!((purchase.transaction_id.as_str(), purchase.quantity), ("GPA.1", 2));
        assert_eq!((purchase.state, purchase.account_id.as_deref()), (PurchaseState::Purchased, Some("acct")));
        assert_eq!(purchase.price_micros, None);
    }

    #[test]
    fn altered_data_another_app_product_or_token_and_a_missing_key_are_refused() {
        let key = crate::fakes::google::license_key();
        let mut altered = signed(DATA);
        altered.data = altered.data.replace("\"quantity\":2", "\"quantity\":20");
        assert!(verify(&altered, &key, "com.example", "gem", "tok").unwrap_err().contains("does not verify"));
        assert!(verify(&signed(DATA), &key, "com.other", "gem", "tok").is_err());
        assert!(verify(&signed(DATA), &key, "com.example", "gem_500", "tok").is_err());
        assert!(verify(&signed(DATA), &key, "com.example", "gem", "other").is_err());
        assert!(verify(&signed(DATA), "", "com.example", "gem", "tok").unwrap_err().contains("license key"));
    }
}
