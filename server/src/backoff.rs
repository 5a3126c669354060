//! The wait between attempts at work that failed against a store (re-verification, acknowledgement,
//! a store notification the store could not confirm): quick at first, then never more often than
//! hourly, so an outage is not made worse by our retries.
use std::time::Duration;

const FIRST_RETRY_DELAY: Duration = Duration::from_secs(30);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The wait before attempt `attempts + 1`: doubling from 30 s, at most an hour.
pub fn retry_delay(attempts: i64) -> Duration {
    let factor = 2u32.saturating_pow(attempts.clamp(0, 16) as u32);
    FIRST_RETRY_DELAY.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_to_an_hour() {
        assert_eq!(retry_delay(0), Duration::from_secs(30));
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(6), Duration::from_secs(1920));
        assert_eq!(retry_delay(7), Duration::from_secs(3600));
        assert_eq!(retry_delay(1000), Duration::from_secs(3600));
    }
}
