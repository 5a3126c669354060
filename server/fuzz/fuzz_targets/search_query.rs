//! The console's purchase search as its URL (and the CSV export's) carries it.
#![no_main]
use model::TransactionQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut fields = text.split('\u{1f}').map(|s| Some(s.to_string()));
    let mut next = || fields.next().flatten();
    let query = TransactionQuery {
        q: next(),
        store: next(),
        product: next(),
        status: next(),
        from: next(),
        to: next(),
        after: next(),
        project: next().and_then(|p| p.parse().ok()),
        consumed: next().map(|c| c.len() % 2 == 0),
        include_test: text.len() % 2 == 0,
        oldest_first: text.len() % 3 == 0,
    };
    let _ = server::payments::search::filters(&query);
});
