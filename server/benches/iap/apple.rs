//! Apple signed-transaction verification: ours, Apple's Node library (both ways it runs offline)
//! and one bare ECDSA-P256 verify, on the same JWS signed by the App Store fake's chain.
use std::time::{Duration, Instant};

use base64::{engine::general_purpose, Engine as _};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use server::{
    fakes::apple::{FakeApple, NewPurchase},
    stores::apple::{AppleClient, AppleSettings},
};

use crate::Report;

const BUNDLE: &str = "com.example.bench";
const APP_APPLE_ID: i64 = 1_234_567_890;
const SECTION: &str = "Apple JWS verification (one core)";

pub async fn run(report: &mut Report, quick: bool) {
    let seconds = if quick { 1.0 } else { 3.0 };
    let fake = FakeApple::new();
    fake.add_app(BUNDLE, Some(APP_APPLE_ID), None);
    let mut signed = Vec::new();
    for i in 0..300 {
        let product = if i % 3 == 0 { "gem_500" } else { "gem_100" };
        signed.push(fake.add_purchase(NewPurchase::consumable(BUNDLE, product)).await.signed_transaction);
    }
    let mut settings = AppleSettings::new(BUNDLE, Some(APP_APPLE_ID), None);
    settings.root_certificates = vec![fake.root_der()];
    settings.environments = server::stores::EnvironmentPolicy::ProductionAndSandbox;
    // Only signatures are checked here: the client calls nowhere.
    let http = server::outbound::Http::new(&Default::default(), std::time::Duration::from_secs(1));
    let client = AppleClient::new(http, &settings).expect("an Apple client");

    let jws = signed.clone();
    let ours = rate(seconds, move |i| {
        client.verify_signed_transaction(&jws[i % jws.len()]).expect("a valid transaction");
    });
    let bare = bare_verify_rate(&signed, seconds);
    report.add(SECTION, "ours (chain cached)", ours, "verif/s", None);
    report.add(SECTION, "bare P-256 verify (ring)", bare, "verif/s", None);
    report.add(SECTION, "ours / bare", ours / bare, "×", Some((">= 0.8", ours / bare >= 0.8)));
    match node_library(&fake, &signed, seconds) {
        Ok((every_call, cached)) => {
            report.add(SECTION, "Node library, chain every call", every_call, "verif/s", None);
            report.add(SECTION, "Node library, chain cached", cached, "verif/s", None);
            report.add(SECTION, "ours / Node cached", ours / cached, "×", None);
        }
        Err(why) => report.note(SECTION, &format!("Node library not measured: {why}")),
    }
}

/// Calls `f(i)` for i = 0, 1, … on this thread for `seconds`; calls per second.
fn rate(seconds: f64, mut f: impl FnMut(usize)) -> f64 {
    let until = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < until {
        for _ in 0..64 {
            f(calls);
            calls += 1;
        }
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// One signature check per JWS with the leaf's key already parsed: the floor of any verifier.
fn bare_verify_rate(signed: &[String], seconds: f64) -> f64 {
    let parts: Vec<(String, Vec<u8>)> = signed
        .iter()
        .map(|jws| {
            let (input, signature) = jws.rsplit_once('.').expect("a compact JWS");
            (input.to_string(), general_purpose::URL_SAFE_NO_PAD.decode(signature).expect("a signature"))
        })
        .collect();
    let header = signed[0].split('.').next().expect("a header");
    let header: serde_json::Value =
        serde_json::from_slice(&general_purpose::URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("JSON");
    let leaf = general_purpose::STANDARD.decode(header["x5c"][0].as_str().expect("x5c")).expect("DER");
    let (_, certificate) = x509_parser::parse_x509_certificate(&leaf).expect("a certificate");
    let point = certificate.public_key().subject_public_key.data.to_vec();
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
    rate(seconds, |i| {
        let (input, signature) = &parts[i % parts.len()];
        key.verify(input.as_bytes(), signature).expect("a valid signature");
    })
}

/// Runs `benches/node/apple_verify.mjs` on the same JWS: (chain every call, chain cached) per second.
fn node_library(fake: &FakeApple, signed: &[String], seconds: f64) -> Result<(f64, f64), String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node");
    if !dir.join("node_modules/@apple/app-store-server-library").exists() {
        return Err(format!("run `npm ci --prefix {}` first", dir.display()));
    }
    let input = std::env::temp_dir().join(format!("iap-apple-bench-{}.json", std::process::id()));
    let body = serde_json::json!({
        "root_der_base64": general_purpose::STANDARD.encode(fake.root_der()),
        "bundle_id": BUNDLE,
        "app_apple_id": APP_APPLE_ID,
        "environment": "Sandbox",
        "jws": signed,
    });
    std::fs::write(&input, body.to_string()).map_err(|e| e.to_string())?;
    let output = std::process::Command::new("node")
        .arg(dir.join("apple_verify.mjs"))
        .arg(&input)
        .arg(format!("{seconds}"))
        .output()
        .map_err(|e| format!("node: {e}"))?;
    let _ = std::fs::remove_file(&input);
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let figure = |name: &str| line[name].as_f64().ok_or_else(|| format!("no {name} in {line}"));
    Ok((figure("chain_every_call_per_s")?, figure("chain_cached_per_s")?))
}
