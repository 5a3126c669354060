//! Settings: built-in defaults, then an optional TOML file, then `IAP_`-prefixed environment
//! variables (`__` separates nested keys: `IAP_LOGIN__LOCKOUT_SECS=60`), then the conventional
//! `DATABASE_URL` / `LEPTOS_SITE_ADDR`, then command-line flags.
use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. Defaults to `<data_dir>/iap.db`.
    pub database_url: Option<String>,
    pub site_addr: SocketAddr,
    /// Where the SQLite file lives.
    pub data_dir: PathBuf,
    /// The URL browsers use; an `https` URL makes the session cookie `Secure`.
    pub public_url: String,
    /// Base64 of 32 bytes. Every instance on one database must have the same key; one started
    /// with another refuses to start.
    pub encryption_key: Option<Secret>,
    /// Where the key is read from (and generated into on first run) when `encryption_key` is not
    /// set: by default `$XDG_CONFIG_HOME/iap-server/encryption.key` (`~/.config/…`), away from
    /// the data folder so that a backup of the database does not carry its key.
    pub encryption_key_file: Option<PathBuf>,
    pub log: LogSettings,
    pub session: SessionSettings,
    pub login: LoginSettings,
    pub stores: StoreSettings,
    pub jobs: JobSettings,
    pub api: ApiSettings,
    pub webhooks: WebhookSettings,
    pub sweeps: SweepSettings,
    pub abuse: AbuseSettings,
    pub notifications: NotificationSettings,
    /// Where the server's own calls (stores, webhooks) may go.
    pub outbound: crate::outbound::OutboundSettings,
    /// Addresses of the reverse proxies in front of the server. A request from one of them is
    /// taken to come from the address it reports in `X-Forwarded-For`; any other request from the
    /// connecting socket's address, whatever its headers say.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
}

/// How store notifications are taken in and worked off.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    /// Bodies larger than this are refused (413) before anything is stored.
    pub max_body_bytes: usize,
    /// A notification being processed is left to its worker this long; after that (the process
    /// died, say) any instance takes it again.
    pub lease_secs: u64,
    /// Notifications of one store app processed at the same time, per instance.
    pub per_app_concurrency: usize,
    /// An unauthenticated hint about a purchase is looked up at the store at most once per this
    /// many seconds; hints in between are answered by the next look-up.
    pub hint_interval_secs: u64,
    /// Raw bodies of finished notifications are emptied after this many days (0: kept).
    pub keep_bodies_days: i64,
    /// A notification about a purchase no payment records waits this long for the app's own
    /// verify (which usually comes seconds after the purchase) before the purchase is recorded
    /// from the store's answer as an unclaimed payment.
    pub unknown_purchase_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// How long the app's server may take to answer one delivery.
    pub timeout_secs: u64,
    /// The wait before each retry of a failed delivery; after the last one it is a dead letter.
    /// The default retries for about 76 hours.
    pub retry_delays_ms: Vec<u64>,
    /// The attempt log of a delivery is deleted after this many days (0: kept).
    pub keep_attempts_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SweepSettings {
    /// How often each store app is reconciled with its store; 0 turns the sweeps off.
    pub interval_secs: u64,
    /// How far back refunds of Apple purchases and state of ONE store purchases are checked.
    pub lookback_days: i64,
    /// Subscriptions expiring within this many hours (or already past expiry) are asked about.
    pub expiry_window_hours: i64,
    /// Calls per second the Apple refund sweep makes to Get Refund History, under Apple's limit
    /// of 10 per app (leaving room for the app's own look-ups).
    pub apple_calls_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AbuseSettings {
    /// A user with more refunds than this within the period is flagged; 0 turns the rule off.
    pub max_refunds: i64,
    pub period_days: i64,
    /// Per currency: a user refunded more than this within the period is flagged.
    pub max_refund_amount: std::collections::BTreeMap<String, f64>,
    /// Which users presented another user's payment is forgotten after this many days (0: kept);
    /// the flags it raised stay.
    pub keep_receipt_conflicts_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    /// The app's calls (AppKey only) allowed per project per second on each instance; 0 is no limit.
    pub app_per_second: u32,
    /// The app's calls allowed from one client address per project per second on each instance.
    /// Players behind one carrier NAT share an address, so this is far above what one device sends.
    pub app_per_address_per_second: u32,
    /// The app server's calls (AppKey and SecretKey) allowed per project per second on each instance.
    pub server_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobSettings {
    /// How often due background work (re-verification, acknowledgements) is looked for.
    pub interval_secs: u64,
    /// A reservation no purchase came for is closed (USER_CLOSE) after this many hours (0: never).
    /// It still takes its purchase if one comes later.
    pub reservation_ttl_hours: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    /// How long one call to a store may take before it counts as an outage.
    pub timeout_secs: u64,
    /// Where Google publishes the keys of Pub/Sub push tokens.
    pub google_push_keys_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub json: bool,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    /// A console session ends after this long without a request.
    pub idle_minutes: i64,
    /// Whether the session cookie is `Secure`. Unset, it is, unless `public_url` is plain http on
    /// a loopback address (development); `false` is the explicit opt-out for plain http elsewhere.
    pub secure_cookie: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginSettings {
    /// Failed sign-ins for one username within the window before it is locked.
    pub max_user_failures: u32,
    /// Failed sign-ins from one address within the window before it is locked.
    pub max_ip_failures: u32,
    pub window_secs: i64,
    pub lockout_secs: i64,
    /// A username that signed in from an address within this many days is not locked out by that
    /// address's lockout (users behind one proxy share an address).
    pub known_days: i64,
}

/// 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 12 h five times: about 76 hours in all.
const DEFAULT_RETRY_DELAYS_SECS: [u64; 13] =
    [30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200, 43_200, 43_200, 43_200, 43_200];

/// A list of strings, written in TOML as a list or (as an environment variable must be) as one
/// comma-separated string: `IAP_OUTBOUND__ALLOW_HOSTS=127.0.0.1,fakes.internal`.
pub fn list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Given::deserialize(deserializer)? {
        Given::List(list) => list,
        Given::Text(text) => text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}

/// A configured secret: never printed by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub database_url: Option<String>,
    pub site_addr: Option<SocketAddr>,
    pub log_json: bool,
}

impl Settings {
    pub fn load(overrides: &Overrides) -> Result<Settings, config::ConfigError> {
        let mut builder = config::Config::builder()
            .set_default("site_addr", "127.0.0.1:3000")?
            .set_default("data_dir", "data")?
            .set_default("public_url", "http://127.0.0.1:3000")?
            .set_default("log.json", false)?
            .set_default("log.filter", "info,sqlx=warn,tower_sessions=warn")?
            .set_default("session.idle_minutes", 480)?
            .set_default("login.max_user_failures", 5)?
            .set_default("login.max_ip_failures", 50)?
            .set_default("login.window_secs", 900)?
            .set_default("login.lockout_secs", 900)?
            .set_default("login.known_days", 30)?
            .set_default("trusted_proxies", Vec::<String>::new())?
            .set_default("stores.timeout_secs", 10)?
            .set_default("stores.google_push_keys_url", crate::stores::google::push::GOOGLE_KEYS_URL)?
            .set_default("outbound.allow_hosts", Vec::<String>::new())?
            .set_default("outbound.store_url_overrides", false)?
            .set_default("notifications.max_body_bytes", 64 * 1024)?
            .set_default("notifications.lease_secs", 60)?
            .set_default("notifications.per_app_concurrency", 4)?
            .set_default("notifications.hint_interval_secs", 60)?
            .set_default("notifications.keep_bodies_days", 30)?
            .set_default("notifications.unknown_purchase_wait_secs", 300)?
            .set_default("jobs.interval_secs", 5)?
            .set_default("jobs.reservation_ttl_hours", 72)?
            .set_default("api.app_per_second", 2000)?
            .set_default("api.app_per_address_per_second", 100)?
            .set_default("api.server_per_second", 5000)?
            .set_default("webhooks.timeout_secs", 10)?
            .set_default("webhooks.retry_delays_ms", DEFAULT_RETRY_DELAYS_SECS.map(|s| s * 1000).to_vec())?
            .set_default("webhooks.keep_attempts_days", 90)?
            .set_default("sweeps.interval_secs", 3600)?
            .set_default("sweeps.lookback_days", 30)?
            .set_default("sweeps.expiry_window_hours", 24)?
            .set_default("sweeps.apple_calls_per_second", 5)?
            .set_default("abuse.max_refunds", 3)?
            .set_default("abuse.period_days", 30)?
            .set_default("abuse.keep_receipt_conflicts_days", 365)?
            .set_default("abuse.max_refund_amount", std::collections::HashMap::<String, f64>::new())?;
        builder = match &overrides.config_file {
            Some(path) => builder.add_source(config::File::from(path.as_path()).required(true)),
            None => builder.add_source(config::File::with_name("iap").required(false)),
        };
        builder = builder.add_source(config::Environment::with_prefix("IAP").prefix_separator("_").separator("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            builder = builder.set_override("database_url", url)?;
        }
        if let Ok(addr) = std::env::var("LEPTOS_SITE_ADDR") {
            builder = builder.set_override("site_addr", addr)?;
        }
        if let Some(url) = &overrides.database_url {
            builder = builder.set_override("database_url", url.as_str())?;
        }
        if let Some(addr) = overrides.site_addr {
            builder = builder.set_override("site_addr", addr.to_string())?;
        }
        if overrides.log_json {
            builder = builder.set_override("log.json", true)?;
        }
        builder.build()?.try_deserialize()
    }

    /// The database URL in effect: the configured one, or the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("iap.db").display()),
        }
    }

    /// The encryption key file in effect.
    pub fn key_file(&self) -> Result<PathBuf, crate::Error> {
        if let Some(path) = &self.encryption_key_file {
            return Ok(path.clone());
        }
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
            .ok_or_else(|| {
                crate::Error::Crypto(
                    "no encryption key configured and no home folder to keep one in: set IAP_ENCRYPTION_KEY or \
                     IAP_ENCRYPTION_KEY_FILE"
                        .into(),
                )
            })?;
        Ok(config_home.join("iap-server").join("encryption.key"))
    }

    /// Whether the session cookie is `Secure`: by default, unless the console is served over plain
    /// http on this machine; a TLS proxy in front with `public_url` left at http keeps it Secure.
    pub fn secure_cookies(&self) -> bool {
        if let Some(choice) = self.session.secure_cookie {
            return choice;
        }
        let local_http = url::Url::parse(&self.public_url).is_ok_and(|url| {
            url.scheme() == "http"
                && match url.host() {
                    Some(url::Host::Domain(name)) => name == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                }
        });
        !local_http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret(…)");
    }

    #[test]
    fn the_default_webhook_schedule_retries_for_about_76_hours_in_13_tries() {
        let settings = Settings::load(&Overrides::default()).unwrap();
        let delays = &settings.webhooks.retry_delays_ms;
        let hours = delays.iter().sum::<u64>() as f64 / 3_600_000.0;
        assert_eq!(delays.len(), 13);
        assert_eq!(delays[0], 30_000, "the first retry comes after 30 s");
        assert!((75.0..77.0).contains(&hours), "the schedule lasts {hours:.1} h");
    }

    #[test]
    fn the_default_database_is_a_sqlite_file_in_the_data_folder() {
        let settings = Settings::load(&Overrides { database_url: None, ..Overrides::default() }).unwrap();
        if std::env::var("DATABASE_URL").is_err() && std::env::var("IAP_DATABASE_URL").is_err() {
            assert_eq!(settings.database_url(), "sqlite://data/iap.db");
        }
    }

    #[test]
    fn the_session_cookie_is_secure_unless_served_over_plain_http_on_this_machine() {
        let mut settings = Settings::load(&Overrides::default()).unwrap();
        for (url, secure) in [
            ("http://127.0.0.1:3000", false),
            ("http://localhost:3000", false),
            ("https://iap.example.com", true),
            ("http://iap.example.com", true),
        ] {
            settings.public_url = url.into();
            assert_eq!(settings.secure_cookies(), secure, "{url}");
        }
        settings.session.secure_cookie = Some(false);
        assert!(!settings.secure_cookies(), "the explicit opt-out");
    }

    #[test]
    fn lists_are_read_from_one_comma_separated_variable() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(deserialize_with = "list")]
            hosts: Vec<String>,
        }
        let from_env: Holder = serde_json::from_str(r#"{"hosts": "127.0.0.1, fakes.test"}"#).unwrap();
        let from_toml: Holder = serde_json::from_str(r#"{"hosts": ["127.0.0.1"]}"#).unwrap();
        assert_eq!(from_env.hosts, ["127.0.0.1", "fakes.test"]);
        assert_eq!(from_toml.hosts, ["127.0.0.1"]);
    }

    #[test]
    fn flags_win_over_every_other_source() {
        let settings = Settings::load(&Overrides {
            database_url: Some("postgres://postgres@127.0.0.1/x".into()),
            site_addr: Some("127.0.0.1:4321".parse().unwrap()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(settings.database_url(), "postgres://postgres@127.0.0.1/x");
        assert_eq!(settings.site_addr.port(), 4321);
    }
}
