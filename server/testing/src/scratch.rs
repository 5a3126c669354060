//! A database and a data folder that one test or bench owns, removed when it is dropped.
use std::{path::PathBuf, process::Command};

use server::{
    config::{Overrides, Settings},
    services::Services,
};

/// A database and data folder (for the encryption key) that a bench or test owns.
pub struct Scratch {
    pub url: String,
    pub data_dir: PathBuf,
    /// (server URL, database name) of a PostgreSQL database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl Scratch {
    /// A new SQLite file, or a new PostgreSQL database when `postgres` is a server URL.
    pub fn new(label: &str, postgres: Option<&str>) -> Scratch {
        // Tests label theirs test_*: the test runner drops iap_test_* databases a killed run left
        // behind, which must not take a benchmark's database running beside it.
        let name = format!("iap_{label}_{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros());
        let data_dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&data_dir).expect("a scratch folder");
        let url = match postgres {
            Some(base) => format!("{}/{name}", base.trim_end_matches('/')),
            None => format!("sqlite://{}", data_dir.join("iap.db").display()),
        };
        let postgres = postgres.map(|base| (base.trim_end_matches('/').to_string(), name));
        Scratch { url, data_dir, postgres }
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::load(&Overrides { database_url: Some(self.url.clone()), ..Overrides::default() })
            .expect("settings");
        settings.data_dir = self.data_dir.clone();
        settings.encryption_key_file = Some(self.data_dir.join("encryption.key"));
        settings.outbound.allow_hosts = vec!["127.0.0.1".into()];
        settings.outbound.store_url_overrides = true;
        settings
    }

    /// The same database and key as the server will use, opened in this process.
    pub async fn services(&self) -> Services {
        server::services::prepare(self.settings()).await.expect("database ready")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((base, name)) = &self.postgres {
            let _ = Command::new("psql")
                .args([&format!("{base}/postgres"), "-qc", &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")])
                .status();
        }
    }
}

/// A folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "iap_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    )
}

/// A database URL for one test: a new PostgreSQL database or a new SQLite file in `dir`.
pub fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("IAP_TEST_DATABASE") {
        Ok(base) if base.starts_with("postgres") => {
            format!("{}/{}", base.trim_end_matches('/'), unique_name())
        }
        _ => format!("sqlite://{}", dir.join("iap.db").display()),
    }
}

pub fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}
