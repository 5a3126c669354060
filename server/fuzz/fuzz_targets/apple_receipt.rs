//! A legacy `verifyReceipt` answer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = server::stores::apple::receipts::parse(text);
});
