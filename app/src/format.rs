//! How the console writes times and money: the pure formats of [`model::format`], and times in the
//! viewer's chosen offset.
pub use model::format::*;

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS` in the viewer's chosen offset (from the session
/// in context, so the server's render and the browser's hydration agree), UTC without one.
pub fn time(ms: i64) -> String {
    let offset = leptos::prelude::use_context::<model::SessionInfo>().map_or(0, |s| s.utc_offset_minutes);
    utc(ms + i64::from(offset) * 60_000)
}

pub fn optional_time(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_session_in_context_times_are_utc() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
    }
}
