//! What a support agent's browser downloads: the console's wasm and JS, gzipped as served.
use std::{path::Path, process::Command};

use crate::Report;

const SECTION: &str = "console page weight";

pub fn run(report: &mut Report) {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site/pkg");
    let mut total = 0.0;
    for file in ["iap_bg.wasm", "iap.wasm", "iap.js", "iap.css"] {
        let path = pkg.join(file);
        if !path.exists() {
            continue;
        }
        let raw = std::fs::metadata(&path).expect("a file").len() as f64 / 1024.0;
        let output = Command::new("gzip").args(["-9", "-c"]).arg(&path).output().expect("gzip");
        let gzipped = output.stdout.len() as f64 / 1024.0;
        total += gzipped;
        report.add(SECTION, &format!("{file} (raw)"), raw, "KiB", None);
        report.add(SECTION, &format!("{file} (gzip -9)"), gzipped, "KiB", None);
    }
    if total == 0.0 {
        report.note(SECTION, &format!("no console build in {}: run `cargo leptos build --release`", pkg.display()));
    } else {
        report.add(SECTION, "total gzipped", total, "KiB", None);
    }
}
