//! The real server binary as a child process, so load, memory and crashes are measured on what
//! users run, apart from the process generating the load.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::Scratch;

pub struct ServerProcess {
    child: Child,
    pub base: String,
    database_url: String,
    data_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl ServerProcess {
    /// Starts `server serve` on a free port and waits until it listens.
    pub fn start(scratch: &Scratch) -> ServerProcess {
        Self::start_with(scratch, &[])
    }

    /// With settings given as `IAP_…` environment variables.
    pub fn start_with(scratch: &Scratch, env: &[(&str, &str)]) -> ServerProcess {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_on(&scratch.url, &scratch.data_dir, "127.0.0.1:0", env)
    }

    fn start_on(database_url: &str, data_dir: &Path, addr: &str, env: Vec<(String, String)>) -> ServerProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("a log file");
        let mut child = Command::new(server_binary())
            .args(["--database-url", database_url, "--addr", addr, "serve"])
            .env("IAP_DATA_DIR", data_dir)
            .env("IAP_ENCRYPTION_KEY_FILE", data_dir.join("encryption.key"))
            .env("IAP_SWEEPS__INTERVAL_SECS", "0")
            // The store fakes listen on 127.0.0.1, which the server calls only when told to.
            .env("IAP_OUTBOUND__ALLOW_HOSTS", "127.0.0.1")
            .env("IAP_OUTBOUND__STORE_URL_OVERRIDES", "true")
            .env("IAP_LOG__FILTER", "warn")
            .env("LEPTOS_OUTPUT_NAME", "iap")
            // The load comes from one address: the rate limits are off, so the server is measured.
            .env("IAP_API__APP_PER_SECOND", "0")
            .env("IAP_API__APP_PER_ADDRESS_PER_SECOND", "0")
            .env("IAP_API__SERVER_PER_SECOND", "0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                panic!("the server stopped before listening:\n{log}");
            };
            if let Some(rest) = line.strip_prefix("IAP console: ") {
                break rest.trim_end_matches('/').to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, base, database_url: database_url.into(), data_dir: data_dir.into(), env }
    }

    /// Everything the server has logged (every start on this scratch database).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// SIGKILL: no shutdown, no flush, as a power cut or an OOM kill.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same database and port.
    pub fn restart(&mut self) {
        self.kill9();
        let addr = self.base.trim_start_matches("http://").to_string();
        let mut again = None;
        // The port can take a moment to be free again.
        for _ in 0..50 {
            let started = std::panic::catch_unwind(|| {
                Self::start_on(&self.database_url, &self.data_dir, &addr, self.env.clone())
            });
            if let Ok(process) = started {
                again = Some(process);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        *self = again.expect("the server restarts on its port");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .unwrap_or(0)
}

/// The `server` binary Cargo built beside the test or bench running now: they live in
/// `target/<profile>/deps/`, it in `target/<profile>/`.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the running test's path");
    let profile = exe.parent().and_then(Path::parent).expect("a test runs from target/<profile>/deps");
    profile.join(format!("server{}", std::env::consts::EXE_SUFFIX))
}
