//! What the Play Developer API answers: purchases, subscriptions, voided pages and errors.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::stores::google::{error, products, subscriptions, voided};

fuzz_target!(|text: &str| {
    let _ = error::classify(reqwest::StatusCode::BAD_REQUEST, text);
    let _ = voided::parse_page(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = products::from_product_purchase("p", "t", value.clone());
        let _ = subscriptions::from_subscription_v2("p", "t", value);
    }
});
