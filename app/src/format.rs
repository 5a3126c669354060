//! How the console writes times and money.

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), the same on the server and in the browser.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

pub fn optional_time(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_default()
}

/// A price with its currency, or nothing when the store gave none.
pub fn price(amount: Option<f64>, currency: Option<&str>) -> String {
    match (amount, currency) {
        (Some(amount), Some(currency)) => format!("{amount:.2} {currency}"),
        (Some(amount), None) => format!("{amount:.2}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_795_570_726_476), "2026-11-25 01:38:46");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn prices_show_two_decimals_and_the_currency() {
        assert_eq!(price(Some(1.99), Some("USD")), "1.99 USD");
        assert_eq!(price(None, Some("USD")), "");
    }
}
