use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// Human-readable logs by default, JSON lines with `--log-json`. `RUST_LOG` overrides the filter.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (several apps in one test process) is harmless; ignore it.
    let _ = if settings.json { builder.json().with_current_span(true).try_init() } else { builder.try_init() };
}
