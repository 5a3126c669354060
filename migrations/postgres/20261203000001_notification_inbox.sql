-- Store notifications: authenticated, never lost, never ignored.
--
-- * a notification's id is the store's and can be chosen by whoever posts it, so it deduplicates per
--   store app, not per store: an id squatted for one app cannot hide another app's notification;
-- * `purchase_ref` names the purchase a notification is about, so look-ups of one purchase are
--   shared: one answer of the store covers every notification about it received before it;
-- * `authenticated` is 0 for a Google push the server could not authenticate (the app has no push
--   service account set): such a push is only a hint to ask Google, as every push is;
-- * a waiting row always has `next_attempt_at`: a row stored but never finished (the process died)
--   is picked up again when its lease runs out.
ALTER TABLE store_notifications DROP CONSTRAINT store_notifications_store_notification_key_key;
ALTER TABLE store_notifications ADD CONSTRAINT store_notifications_store_app_id_notification_key_key
    UNIQUE (store_app_id, notification_key);
ALTER TABLE store_notifications ADD COLUMN purchase_ref TEXT;
ALTER TABLE store_notifications ADD COLUMN authenticated INTEGER NOT NULL DEFAULT 1;
ALTER TABLE store_notifications ADD COLUMN looked_up_at BIGINT;
ALTER TABLE store_notifications ADD COLUMN covered_by BIGINT;
ALTER TABLE store_notifications ADD COLUMN body_pruned_at BIGINT;
UPDATE store_notifications SET next_attempt_at = received_at WHERE status = 'RECEIVED' AND next_attempt_at IS NULL;
CREATE INDEX store_notifications_purchase ON store_notifications (store_app_id, purchase_ref);
CREATE INDEX store_notifications_inbox ON store_notifications (store_app_id, received_at);
CREATE INDEX store_notifications_prunable ON store_notifications (processed_at) WHERE body_pruned_at IS NULL;
