//! The reliability suite: exactly-once consumes across instances, a server killed mid-load, a
//! flaky store. The server runs as its real binary in child processes.
//!
//! `cargo test -p server --test reliability` runs a short version (CI); with
//! `IAP_RELIABILITY=full` it runs at the sizes RELIABILITY.md reports (`make reliability`).
//! `IAP_TEST_DATABASE=postgres://…` runs it on PostgreSQL, with two server instances.
mod crash;
mod exactly_once;
mod flaky_store;
mod inbox;
mod secrets;

/// The PostgreSQL server to use, when the suite runs on PostgreSQL.
pub fn postgres() -> Option<&'static str> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| std::env::var("IAP_TEST_DATABASE").ok().filter(|u| u.starts_with("postgres"))).as_deref()
}

pub fn engine() -> &'static str {
    if postgres().is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// Whether the suite runs at full size.
pub fn full() -> bool {
    std::env::var("IAP_RELIABILITY").is_ok_and(|v| v == "full")
}

/// The demo project in a new database, its store apps pointing at store fakes served by this
/// process (so they outlive a killed server).
pub struct Shop {
    pub fakes: std::sync::Arc<server::fakes::Fakes>,
    pub stores: String,
    pub scratch: testing::Scratch,
    pub services: server::services::Services,
}

pub async fn shop(label: &str) -> Shop {
    let fakes = std::sync::Arc::new(server::fakes::Fakes::new());
    let stores = server::fakes::serve(fakes.router(), 0).await.unwrap();
    let scratch = testing::Scratch::new(label, postgres());
    let services = scratch.services().await;
    server::demo::seed(&services.db, &services.cipher).await.unwrap();
    server::demo::connect_fakes(&services, &fakes, &stores).await.unwrap();
    Shop { fakes, stores, scratch, services }
}

/// One line of figures, the form RELIABILITY.md quotes.
pub fn figures(test: &str, line: &str) {
    println!("FIGURES [{}] {test}: {line}", engine());
}

/// The envelope's result code (0 for success) and the HTTP status, or None when no envelope came.
pub async fn outcome(response: Result<reqwest::Response, reqwest::Error>) -> Option<(i64, u16, serde_json::Value)> {
    let response = response.ok()?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.ok()?;
    let code = body["header"]["resultCode"].as_i64()?;
    Some((code, status, body))
}
