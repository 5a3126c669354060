//! A StoreKit 2 signed transaction as the app sends it, and an App Store Server Notification V2
//! body as Apple posts it: refused before any signature is trusted, never a panic.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use server::stores::apple::{AppleClient, AppleSettings};

fn client() -> &'static AppleClient {
    static CLIENT: OnceLock<AppleClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        AppleClient::new(
            server::outbound::Http::new(&Default::default(), std::time::Duration::from_secs(1)),
            &AppleSettings::new("com.example", Some(1), None),
        )
        .expect("a client")
    })
}

fuzz_target!(|text: &str| {
    assert!(client().verify_signed_transaction(text).is_err(), "nothing unsigned verifies");
    assert!(client().verify_notification(text).is_err(), "nothing unsigned verifies");
});
