//! Limits on purchase API requests per second, counted by each server instance for itself (a
//! shared count would put the database on every request's path). The app's public calls and its
//! server's authenticated calls have separate allowances, so nobody holding the public AppKey can
//! use up what the app's server needs to consume.
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use crate::config::ApiSettings;

/// Above this many counted buckets, the ones of past seconds are dropped: addresses come and go.
const PRUNE_ABOVE: usize = 10_000;

/// What a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every AppKey call of a project.
    App(i64),
    /// The AppKey calls of a project from one client address (`None`: the address is unknown).
    AppAddress(i64, Option<IpAddr>),
    /// The calls of a project's own server, counted once its SecretKey is checked.
    Server(i64),
}

pub struct RateLimiter {
    settings: ApiSettings,
    /// Bucket → (the second being counted, requests in it).
    windows: Mutex<HashMap<Bucket, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(settings: ApiSettings) -> RateLimiter {
        RateLimiter { settings, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a request against `bucket` and says whether it is within the limit.
    pub fn allow(&self, bucket: Bucket) -> bool {
        self.allow_at(bucket, crate::now_ms() / 1000)
    }

    fn limit(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::App(_) => self.settings.app_per_second,
            Bucket::AppAddress(..) => self.settings.app_per_address_per_second,
            Bucket::Server(_) => self.settings.server_per_second,
        }
    }

    fn allow_at(&self, bucket: Bucket, second: i64) -> bool {
        let limit = self.limit(bucket);
        if limit == 0 {
            return true;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (counted, _)| *counted == second);
        }
        let window = windows.entry(bucket).or_insert((second, 0));
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 = window.1.saturating_add(1);
        window.1 <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(app: u32, per_address: u32, server: u32) -> RateLimiter {
        RateLimiter::new(ApiSettings {
            app_per_second: app,
            app_per_address_per_second: per_address,
            server_per_second: server,
        })
    }

    #[test]
    fn each_bucket_gets_its_own_allowance_each_second() {
        let limiter = limiter(2, 0, 2);

        let first_second: Vec<bool> = (0..3).map(|_| limiter.allow_at(Bucket::App(1), 100)).collect();
        let other_project = limiter.allow_at(Bucket::App(2), 100);
        let servers_own = limiter.allow_at(Bucket::Server(1), 100);
        let next_second = limiter.allow_at(Bucket::App(1), 101);

        assert_eq!(first_second, [true, true, false]);
        assert!(other_project);
        assert!(servers_own, "the app's calls do not spend the server's allowance");
        assert!(next_second);
        assert!((0..10_000).all(|_| limiter.allow_at(Bucket::AppAddress(1, None), 1)), "0 is no limit");
    }

    #[test]
    fn one_address_cannot_use_up_another_addresss_allowance() {
        let limiter = limiter(0, 3, 0);
        let (flooder, player) = (Some("10.0.0.1".parse().unwrap()), Some("10.0.0.2".parse().unwrap()));

        let flood = (0..100).filter(|_| limiter.allow_at(Bucket::AppAddress(1, flooder), 7)).count();

        assert_eq!(flood, 3);
        assert!(limiter.allow_at(Bucket::AppAddress(1, player), 7));
    }

    #[test]
    fn counted_addresses_of_past_seconds_are_forgotten() {
        let limiter = limiter(0, 1, 0);
        for n in 0..=PRUNE_ABOVE as u32 {
            limiter.allow_at(Bucket::AppAddress(1, Some(IpAddr::from(n.to_be_bytes()))), 1);
        }

        limiter.allow_at(Bucket::AppAddress(1, None), 2);

        assert_eq!(limiter.windows.lock().unwrap().len(), 1);
    }
}
