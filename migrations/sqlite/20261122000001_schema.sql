-- The whole product's schema. Times are epoch milliseconds (BIGINT) on both engines so that
-- every query reads the same on SQLite and PostgreSQL and matches the API's *Millis fields.
-- Flags are INTEGER 0/1: sqlx's Any driver cannot carry SQLite booleans, and one type for both engines
-- keeps every query the same.
-- Money is kept in micros (BIGINT): Google reports micros, sums stay exact.
-- Migrations are append-only: never edit this file once it has been applied somewhere.

-- Console users. Usernames are stored lower-cased; the hash is argon2id in PHC format.
CREATE TABLE console_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'SUPPORT', 'VIEWER')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

-- Failed sign-ins per key ("user:<name>" or "ip:<addr>"), shared by every server instance.
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until BIGINT
);

-- A project owns one AppKey (public, sent by the SDK) and one server SecretKey (shown once, kept as a
-- SHA-256 hash: it is 256 random bits, so a slow hash adds nothing). During a rotation the previous
-- secret keeps working until previous_secret_expires_at.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    app_key TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    secret_hint TEXT NOT NULL,
    previous_secret_hash TEXT,
    previous_secret_expires_at BIGINT,
    key_status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (key_status IN ('ACTIVE', 'DISABLED')),
    -- NHN-compatible mode: server-to-server calls accepted with the AppKey alone.
    require_secret INTEGER NOT NULL DEFAULT 1,
    secret_rotated_at BIGINT,
    key_last_used_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One app in one store. Secrets live only in credentials_enc (AES-256-GCM with the configured key);
-- settings holds the non-secret, store-specific fields as JSON.
CREATE TABLE store_apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    store TEXT NOT NULL CHECK (store IN ('GG', 'AS', 'ONESTORE')),
    name TEXT NOT NULL,
    store_app_id TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    credentials_enc TEXT,
    environment_policy TEXT NOT NULL DEFAULT 'PRODUCTION_AND_SANDBOX'
        CHECK (environment_policy IN ('PRODUCTION_ONLY', 'PRODUCTION_AND_SANDBOX', 'SANDBOX_ONLY')),
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Store notifications carry only the package name / bundle id, so it must identify one app.
    UNIQUE (store, store_app_id)
);
CREATE INDEX store_apps_project ON store_apps (project_id);

-- Items. product_seq is the number the API and SDK use; there is no delete, only status STOP.
CREATE TABLE products (
    product_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    store_app_id BIGINT NOT NULL REFERENCES store_apps (id),
    store_product_id TEXT NOT NULL,
    name TEXT NOT NULL,
    product_type TEXT NOT NULL CHECK (product_type IN ('CONSUMABLE', 'AUTO_RENEWABLE', 'CONSUMABLE_AUTO_RENEWABLE')),
    status TEXT NOT NULL DEFAULT 'USE' CHECK (status IN ('USE', 'STOP')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (store_app_id, store_product_id)
);

-- Every payment, from reservation to refund.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_seq TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    store_app_id BIGINT NOT NULL REFERENCES store_apps (id),
    store TEXT NOT NULL CHECK (store IN ('GG', 'AS', 'ONESTORE')),
    -- NULL when the store sold an item that is not registered here (kept, shown to support).
    product_seq BIGINT REFERENCES products (product_seq),
    store_product_id TEXT NOT NULL,
    product_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_channel TEXT NOT NULL DEFAULT 'GF',
    status TEXT NOT NULL CHECK (status IN ('RESERVED', 'VERIFIED', 'SUCCESS', 'FAILURE', 'REFUND', 'USER_CLOSE')),
    -- Why a payment waits: STORE_PENDING (deferred payment at the store) or STORE_UNAVAILABLE (retrying).
    pending_reason TEXT,
    consumed INTEGER NOT NULL DEFAULT 0,
    consumed_at BIGINT,
    consume_source TEXT,
    price_micros BIGINT,
    currency TEXT,
    country_code TEXT,
    quantity INTEGER NOT NULL DEFAULT 1,
    -- The one key per store transaction (Google order id or token digest, Apple transactionId,
    -- ONE store purchaseId). Unique per app, so one store transaction can never become two payments.
    store_txn_key TEXT,
    -- "Store Reference Key" in the console: the store's transaction / order id.
    payment_id TEXT,
    original_payment_id TEXT,
    linked_payment_id TEXT,
    purchase_token TEXT,
    -- What the app sent for verification (JWS, legacy receipt, token JSON), kept for re-verification.
    receipt TEXT,
    -- The Payment Access Token: its SHA-256 for lookup and constant-time checks, and the token itself
    -- encrypted, because the unconsumed list must hand it back to the app server.
    access_token_hash TEXT UNIQUE,
    access_token_enc TEXT,
    reserved_at BIGINT,
    verified_at BIGINT,
    purchase_time BIGINT,
    expiry_time BIGINT,
    renew_time BIGINT,
    cancel_time BIGINT,
    refund_time BIGINT,
    subscription_state TEXT,
    auto_renewing INTEGER,
    reference_status TEXT,
    environment TEXT NOT NULL DEFAULT 'PRODUCTION' CHECK (environment IN ('PRODUCTION', 'SANDBOX')),
    is_test INTEGER NOT NULL DEFAULT 0,
    purchase_type TEXT,
    store_initiated INTEGER NOT NULL DEFAULT 0,
    developer_payload TEXT,
    store_account_id TEXT,
    store_response TEXT,
    failure_code INTEGER,
    failure_reason TEXT,
    verify_attempts INTEGER NOT NULL DEFAULT 0,
    next_verify_at BIGINT,
    ack_state TEXT NOT NULL DEFAULT 'NOT_REQUIRED' CHECK (ack_state IN ('NOT_REQUIRED', 'PENDING', 'DONE')),
    ack_attempts INTEGER NOT NULL DEFAULT 0,
    next_ack_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX payments_store_txn ON payments (store_app_id, store_txn_key);
-- Keyset pagination for support search: every listing orders by (created_at, id).
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX payments_project_created ON payments (project_id, created_at, id);
CREATE INDEX payments_store_created ON payments (store, created_at, id);
CREATE INDEX payments_status_created ON payments (status, created_at, id);
CREATE INDEX payments_product_created ON payments (product_seq, created_at, id);
CREATE INDEX payments_user ON payments (user_id, created_at, id);
CREATE INDEX payments_payment_id ON payments (payment_id);
CREATE INDEX payments_original_payment_id ON payments (original_payment_id);
CREATE INDEX payments_purchase_token ON payments (purchase_token);
CREATE INDEX payments_unconsumed ON payments (project_id, user_id) WHERE status = 'SUCCESS' AND consumed = 0;
CREATE INDEX payments_verify_due ON payments (next_verify_at) WHERE next_verify_at IS NOT NULL;
CREATE INDEX payments_ack_due ON payments (next_ack_at) WHERE next_ack_at IS NOT NULL;

-- One row per state change, never updated.
CREATE TABLE payment_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('CLIENT', 'SERVER', 'STORE', 'CONSOLE', 'SWEEP')),
    actor TEXT,
    reason TEXT,
    detail TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id, id);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    project_id BIGINT NOT NULL REFERENCES projects (id),
    user_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('NOTIFICATION', 'SWEEP', 'MANUAL', 'STORE_API')),
    kind TEXT NOT NULL CHECK (kind IN ('REFUND', 'VOID', 'REVOKE')),
    refunded_at BIGINT NOT NULL,
    reason TEXT,
    was_consumed INTEGER NOT NULL,
    amount_micros BIGINT,
    currency TEXT,
    -- Set by sweeps when no notification had reported this refund.
    missed_notification INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (payment_id, kind)
);
CREATE INDEX refunds_refunded_at ON refunds (refunded_at, id);
CREATE INDEX refunds_user ON refunds (project_id, user_id, refunded_at);

-- The same store transaction presented for a second user: refused, and kept here for abuse review.
CREATE TABLE receipt_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    claimed_by_user TEXT NOT NULL,
    claimed_payment_seq TEXT,
    created_at BIGINT NOT NULL
);

-- Inbound store notifications, stored raw before they are answered and processed from here.
CREATE TABLE store_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL CHECK (store IN ('GG', 'AS', 'ONESTORE')),
    store_app_id BIGINT REFERENCES store_apps (id),
    notification_key TEXT NOT NULL,
    notification_type TEXT,
    subtype TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'RECEIVED' CHECK (status IN ('RECEIVED', 'PROCESSED', 'IGNORED', 'FAILED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error TEXT,
    payment_id BIGINT REFERENCES payments (id),
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    -- A redelivered notification maps to the same row, so replays change nothing.
    UNIQUE (store, notification_key)
);
CREATE INDEX store_notifications_due ON store_notifications (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor_user_id BIGINT REFERENCES console_users (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    project_id BIGINT REFERENCES projects (id),
    reason TEXT,
    detail TEXT,
    ip TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

-- Outbound webhooks: endpoints, a durable outbox written with the state change, and deliveries.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    url TEXT NOT NULL,
    event_types TEXT NOT NULL DEFAULT '*',
    enabled INTEGER NOT NULL DEFAULT 1,
    secret_enc TEXT NOT NULL,
    previous_secret_enc TEXT,
    previous_secret_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Per-user event counter, so each user's events carry a gap-free sequence number.
CREATE TABLE user_event_sequences (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    user_id TEXT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    event_type TEXT NOT NULL,
    user_id TEXT,
    user_seq BIGINT,
    payment_id BIGINT REFERENCES payments (id),
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_events_project_created ON webhook_events (project_id, created_at);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES webhook_events (id),
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'DEAD')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    locked_until BIGINT,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    at BIGINT NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Background jobs: a lease per job so that one instance runs it at a time, and cursors that
-- survive restarts (e.g. Google voidedpurchases paging).
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    leased_until BIGINT NOT NULL
);

CREATE TABLE sweep_cursors (
    store_app_id BIGINT NOT NULL REFERENCES store_apps (id),
    job TEXT NOT NULL,
    cursor TEXT,
    window_end BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store_app_id, job)
);

CREATE TABLE abuse_flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    user_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT,
    created_at BIGINT NOT NULL,
    cleared_at BIGINT
);
CREATE INDEX abuse_flags_user ON abuse_flags (project_id, user_id);

-- Item numbers start where PostgreSQL's identity does.
INSERT INTO sqlite_sequence (name, seq) VALUES ('products', 1000000);
