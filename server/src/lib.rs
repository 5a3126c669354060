//! The IAP server: the payment store, the console's backend and the HTTP surface.
pub mod abuse;
pub mod api;
pub mod audit;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod console;
pub mod console_auth;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod fakes;
pub mod http;
pub mod items;
pub mod outbound;
pub mod payments;
pub mod projects;
pub mod reference_client;
pub mod retention;
pub mod rotation;
pub mod scheduler;
pub mod seed;
pub mod services;
pub mod state;
pub mod store_apps;
pub mod store_notifications;
pub mod stores;
pub mod sweeps;
pub mod telemetry;
pub mod users;
pub mod webhooks;

mod error;
#[cfg(test)]
mod noise;
pub mod startup;

pub use error::Error;
pub use startup::Application;

/// Milliseconds since the Unix epoch: the one time format of the database and the API.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
