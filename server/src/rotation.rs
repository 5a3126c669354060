//! A secret replaced by a new one keeps working for a grace period, so its users can move to the
//! new one without an outage: a project's SecretKey (checked on the app server's calls) and a
//! webhook endpoint's signing secret (deliveries are signed with both).
use crate::Error;

/// The longest a replaced secret may keep working, so a forgotten rotation cannot leave an old
/// secret valid for good.
pub const MAX_GRACE_HOURS: i64 = 24 * 30;

/// Until when a secret replaced at `now` keeps working: `None` for no grace (it ends now).
pub fn previous_valid_until(grace_hours: i64, now: i64) -> Result<Option<i64>, Error> {
    if !(0..=MAX_GRACE_HOURS).contains(&grace_hours) {
        return Err(Error::Invalid(format!("the grace period is 0 to {MAX_GRACE_HOURS} hours")));
    }
    Ok((grace_hours > 0).then(|| now + grace_hours * 3_600_000))
}

/// Whether a replaced secret valid until `until` still works at `now`.
pub fn still_valid(until: Option<i64>, now: i64) -> bool {
    until.is_some_and(|t| t > now)
}

/// `until`, while the replaced secret still works at `now`: what the console shows.
pub fn valid_until(until: Option<i64>, now: i64) -> Option<i64> {
    until.filter(|_| still_valid(until, now))
}

/// Whether `given` (a hash) is the current secret's hash, or the replaced one's while it still
/// works. Both comparisons always run, in constant time, so timing does not tell which matched.
pub fn matches(given: &str, current: &str, previous: Option<&str>, previous_until: Option<i64>, now: i64) -> bool {
    let current = crate::crypto::ct_eq(given, current);
    let previous = previous.is_some_and(|previous| crate::crypto::ct_eq(given, previous));
    current | (previous & still_valid(previous_until, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_secret_works_until_its_grace_ends_and_not_after() {
        let until = previous_valid_until(2, 1_000).unwrap();
        assert_eq!(until, Some(1_000 + 7_200_000));
        assert!(matches("new", "new", Some("old"), until, 2_000));
        assert!(matches("old", "new", Some("old"), until, 2_000));
        assert!(!matches("old", "new", Some("old"), until, 1_000 + 7_200_000));
        assert!(!matches("other", "new", Some("old"), until, 2_000));
    }

    #[test]
    fn no_grace_ends_the_replaced_secret_now_and_a_grace_beyond_the_limit_is_refused() {
        assert_eq!(previous_valid_until(0, 1_000).unwrap(), None);
        assert!(!matches("old", "new", Some("old"), None, 1_000));
        assert!(previous_valid_until(MAX_GRACE_HOURS + 1, 1_000).is_err());
        assert!(previous_valid_until(-1, 1_000).is_err());
    }
}
