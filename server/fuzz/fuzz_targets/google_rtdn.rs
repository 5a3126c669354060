//! A Pub/Sub push as Google posts it to the RTDN callback, and the notification inside it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::stores::google::rtdn;

fuzz_target!(|data: &[u8]| {
    let _ = rtdn::parse_push(data);
    let _ = rtdn::parse_notification(data);
});
