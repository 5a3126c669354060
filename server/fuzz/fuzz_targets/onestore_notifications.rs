//! ONE store's PNS payment notification (signed with the app's license key) and subscription
//! notification bodies.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use server::stores::onestore::pns;

/// The ONE store fake's license key: a real RSA key, so bodies reach the signature check.
fn license_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| server::fakes::onestore::FakeOneStore::new().license_key())
}

fuzz_target!(|data: &[u8]| {
    assert!(pns::verify_payment(data, license_key()).is_err(), "nothing unsigned verifies");
    let _ = pns::parse_subscription(data);
});
