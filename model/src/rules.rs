//! What the console offers and the server enforces alike: the status changes support may make, a
//! store app's settings form, the environment policies and the user-binding rules.
use crate::Store;

/// The status changes a support person may make, as NHN's console allows them: a charge the
/// store made but we did not record becomes SUCCESS (not for Google Play reservations, which the
/// store can always be asked about), and anything not yet refunded may be marked REFUND, which is
/// final.
pub fn allowed_status_changes(status: &str, store: &str) -> &'static [&'static str] {
    match status {
        "RESERVED" | "USER_CLOSE" if store == Store::Google.code() => &["REFUND"],
        "RESERVED" | "FAILURE" | "USER_CLOSE" => &["SUCCESS", "REFUND"],
        "SUCCESS" => &["REFUND"],
        _ => &[],
    }
}

/// One field of a store app's settings form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The key in the app's settings or credentials JSON.
    pub key: &'static str,
    pub label: &'static str,
    /// Write-only: stored encrypted, never shown again.
    pub secret: bool,
    pub multiline: bool,
    /// Stored as a JSON number.
    pub numeric: bool,
    /// The allowed values, when there is a fixed set.
    pub choices: &'static [&'static str],
}

const fn field(key: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec { key, label, secret: false, multiline: false, numeric: false, choices: &[] }
}

const fn secret(key: &'static str, label: &'static str, multiline: bool) -> FieldSpec {
    FieldSpec { key, label, secret: true, multiline, numeric: false, choices: &[] }
}

/// Every store app may be reconciled on its own schedule.
const SWEEP_INTERVAL: FieldSpec = FieldSpec {
    numeric: true,
    ..field("sweepIntervalSecs", "Reconcile with the store every (seconds; empty: the server's setting, 0: never)")
};

const GOOGLE_FIELDS: &[FieldSpec] = &[
    secret("serviceAccountJson", "Service account key (JSON file contents)", true),
    FieldSpec { multiline: true, ..field("licenseKey", "In-app billing license key (Base64 RSA public key)") },
    FieldSpec {
        choices: &["OFF", "SIGNATURE"],
        ..field(
            "outageFallback",
            "While Google cannot be reached: OFF = purchases wait until it can (the default), SIGNATURE = a one-time \
             purchase whose Play Billing signature the license key verifies succeeds provisionally and is confirmed \
             with Google later (weaker: a refunded or license-test purchase succeeds until then)",
        )
    },
    field(
        "pushServiceAccount",
        "Pub/Sub push service account email (pushes without its OIDC token are refused; empty: pushes are only hints)",
    ),
    field("pushAudience", "Pub/Sub push audience (empty: this callback's URL)"),
    field("apiRoot", "Android Publisher API root (empty: Google's)"),
    SWEEP_INTERVAL,
];

const APPLE_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        choices: &["V2", "V2_AND_V1", "V1"],
        ..field(
            "verificationMode",
            "Proofs accepted: V2 = StoreKit 2 (signed transaction, transaction id; the default), V2_AND_V1 = also \
             StoreKit 1 receipts (weaker: needs the shared secret), V1 = receipts only",
        )
    },
    FieldSpec { numeric: true, ..field("appAppleId", "App Apple ID (needed for production)") },
    field("issuerId", "Issuer ID"),
    field("keyId", "Key ID"),
    secret("privateKey", "In-App Purchase key (.p8 contents)", true),
    secret("sharedSecret", "App-specific shared secret (V1)", false),
    field("productionUrl", "App Store Server API production URL (empty: Apple's)"),
    field("sandboxUrl", "App Store Server API sandbox URL (empty: Apple's)"),
    field("verifyReceiptProductionUrl", "verifyReceipt production URL (empty: Apple's)"),
    field("verifyReceiptSandboxUrl", "verifyReceipt sandbox URL (empty: Apple's)"),
    SWEEP_INTERVAL,
];

const ONESTORE_FIELDS: &[FieldSpec] = &[
    FieldSpec { choices: &["V7"], ..field("apiVersion", "ONE store API version") },
    FieldSpec { choices: &["MKT_ONE", "MKT_GLB"], ..field("marketCode", "Market (MKT_ONE Korea, MKT_GLB global)") },
    secret("clientSecret", "Client secret", false),
    FieldSpec { multiline: true, ..field("licenseKey", "License key (Base64 RSA public key, for PNS)") },
    field("productionUrl", "API URL (empty: ONE store's)"),
    field("sandboxUrl", "Sandbox API URL (empty: ONE store's)"),
    SWEEP_INTERVAL,
];

/// The settings form of a store app in `store`; its Store App ID (package name, bundle id, or
/// ONE store client id) is a column of its own.
pub fn store_fields(store: Store) -> &'static [FieldSpec] {
    match store {
        Store::Google => GOOGLE_FIELDS,
        Store::Apple => APPLE_FIELDS,
        Store::OneStore => ONESTORE_FIELDS,
    }
}

/// The first is a new store app's: sandbox purchases (free for any tester) are refused until an
/// admin accepts them.
pub const ENVIRONMENT_POLICIES: [&str; 3] = ["PRODUCTION_ONLY", "PRODUCTION_AND_SANDBOX", "SANDBOX_ONLY"];

/// The user-binding rules a project can have, strongest first.
pub const USER_BINDINGS: [&str; 2] = ["REQUIRED", "WHEN_PRESENT"];

/// What a project can answer when a store asks about a refund, with what each means.
pub const REFUND_POLICIES: [(&str, &str); 4] = [
    ("LEDGER", "the ledger's facts (delivered or not, when, the share used), no preference"),
    ("DEFEND", "the facts and a preference: refund what was not delivered, decline what was used"),
    ("SUPPORT", "a support person chooses; the facts go alone 2 hours before the window closes"),
    ("OFF", "nothing: the store decides without the ledger"),
];

/// The preferences a support person can send with the facts.
pub const REFUND_PREFERENCES: [&str; 3] = ["DECLINE", "APPROVE", "NEUTRAL"];
