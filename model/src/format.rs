//! How times and money are written, by the console and by what the server writes (CSV, audit).

/// The offsets a viewer may choose for the times the console shows, in minutes east of UTC.
pub const UTC_OFFSETS: [i32; 38] = [
    -720, -660, -600, -570, -540, -480, -420, -360, -300, -240, -210, -180, -120, -60, 0, 60, 120, 180, 210, 240, 270,
    300, 330, 345, 360, 390, 420, 480, 525, 540, 570, 600, 630, 660, 720, 765, 780, 840,
];

/// `UTC`, `UTC+09:00`, `UTC-03:30`.
pub fn offset_label(minutes: i32) -> String {
    if minutes == 0 {
        return "UTC".into();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("UTC{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), for what the server writes: CSV, audit, days.
pub fn utc(ms: i64) -> String {
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

/// A price with its currency, or nothing when the store gave none.
pub fn price(amount: Option<f64>, currency: Option<&str>) -> String {
    match (amount, currency) {
        (Some(amount), Some(currency)) => format!("{amount:.2} {currency}"),
        (Some(amount), None) => format!("{amount:.2}"),
        _ => String::new(),
    }
}

/// Where an amount comes from: `store` (what the store says was paid), `list` (the item's
/// registered price, the store having given none) or empty when there is no amount.
pub fn price_source(priced: bool, list: bool) -> &'static str {
    match (priced, list) {
        (false, _) => "",
        (true, false) => "store",
        (true, true) => "list",
    }
}

/// A share in thousandths of a percent, as both stores send it (`45200` is 45.2%).
pub fn share(milli: i64) -> String {
    let (whole, rest) = (milli / 1000, milli % 1000);
    if rest == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{}%", format!("{rest:03}").trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_in_thousandths_of_a_percent_read_as_percentages() {
        assert_eq!(share(100_000), "100%");
        assert_eq!(share(45_200), "45.2%");
        assert_eq!(share(1), "0.001%");
    }

    #[test]
    fn times_are_written_as_utc_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_570_726_476), "2026-11-25 01:38:46");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn offsets_are_labelled_with_sign_hours_and_minutes() {
        assert_eq!(offset_label(0), "UTC");
        assert_eq!(offset_label(540), "UTC+09:00");
        assert_eq!(offset_label(-210), "UTC-03:30");
        assert!(UTC_OFFSETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn prices_show_two_decimals_and_the_currency() {
        assert_eq!(price(Some(1.99), Some("USD")), "1.99 USD");
        assert_eq!(price(None, Some("USD")), "");
    }
}
