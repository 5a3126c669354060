//! Integration tests: each spawns the real server on port 0 against a fresh database.
//! `IAP_TEST_DATABASE=postgres://…` runs the same suite on PostgreSQL (one new database per test);
//! without it, each test gets a fresh SQLite file.
mod apple;
mod attacks;
mod client;
mod console;
mod docs;
mod google;
mod health;
mod helpers;
mod inbox;
mod login;
mod migrations;
mod notification_attacks;
mod notifications;
mod onestore;
mod payment_actions;
mod project_admin;
mod purchases;
mod receiver;
mod security;
mod shop;
mod statistics;
mod stores;
mod sweeps;
mod transactions;
mod users_admin;
mod webhooks;
