//! A per-project limit on purchase API requests, counted by each server instance for itself (a
//! shared count would put the database on every request's path).
use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

pub struct RateLimiter {
    /// Requests allowed per project per second; 0 lets everything through.
    per_second: u32,
    /// Project id → (the second being counted, requests in it).
    windows: Mutex<HashMap<i64, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter { per_second, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a request of `project_id` and says whether it is within the limit.
    pub fn allow(&self, project_id: i64) -> bool {
        self.allow_at(project_id, crate::now_ms() / 1000)
    }

    fn allow_at(&self, project_id: i64, second: i64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(project_id).or_insert((second, 0));
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 += 1;
        window.1 <= self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_project_gets_its_own_allowance_each_second() {
        let limiter = RateLimiter::new(2);

        let first_second: Vec<bool> = (0..3).map(|_| limiter.allow_at(1, 100)).collect();
        let other_project = limiter.allow_at(2, 100);
        let next_second = limiter.allow_at(1, 101);

        assert_eq!(first_second, [true, true, false]);
        assert!(other_project);
        assert!(next_second);
        assert!((0..10_000).all(|_| RateLimiter::new(0).allow_at(1, 1)));
    }
}
