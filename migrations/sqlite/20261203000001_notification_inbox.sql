-- Store notifications: authenticated, never lost, never ignored.
--
-- The inbox is rebuilt (SQLite cannot change a table's constraints in place):
-- * a notification's id is the store's and can be chosen by whoever posts it, so it deduplicates per
--   store app, not per store: an id squatted for one app cannot hide another app's notification;
-- * `purchase_ref` names the purchase a notification is about, so look-ups of one purchase are
--   shared: one answer of the store covers every notification about it received before it;
-- * `authenticated` is 0 for a Google push the server could not authenticate (the app has no push
--   service account set): such a push is only a hint to ask Google, as every push is;
-- * a waiting row always has `next_attempt_at`: a row stored but never finished (the process died)
--   is picked up again when its lease runs out.
CREATE TABLE store_notifications_new (
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
    purchase_ref TEXT,
    authenticated INTEGER NOT NULL DEFAULT 1,
    looked_up_at BIGINT,
    covered_by BIGINT,
    body_pruned_at BIGINT,
    UNIQUE (store_app_id, notification_key)
);
INSERT INTO store_notifications_new (id, store, store_app_id, notification_key, notification_type, subtype, body,
    status, attempts, next_attempt_at, last_error, payment_id, received_at, processed_at)
SELECT id, store, store_app_id, notification_key, notification_type, subtype, body, status, attempts,
    CASE WHEN status = 'RECEIVED' THEN COALESCE(next_attempt_at, received_at) ELSE next_attempt_at END,
    last_error, payment_id, received_at, processed_at
FROM store_notifications;
DROP TABLE store_notifications;
ALTER TABLE store_notifications_new RENAME TO store_notifications;
CREATE INDEX store_notifications_due ON store_notifications (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX store_notifications_purchase ON store_notifications (store_app_id, purchase_ref);
CREATE INDEX store_notifications_inbox ON store_notifications (store_app_id, received_at);
CREATE INDEX store_notifications_prunable ON store_notifications (processed_at) WHERE body_pruned_at IS NULL;
