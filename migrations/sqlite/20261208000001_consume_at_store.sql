-- Whether our consume is followed by the store's: Google's and ONE store's consume, Apple's Finish
-- Transaction. Off by default: the app (or NHN's SDK) usually consumes on the device.
ALTER TABLE store_apps ADD COLUMN consume_at_store INTEGER NOT NULL DEFAULT 0;

-- The store consume a consumed payment waits for: due while next_store_consume_at is set, done
-- when store_consumed_at is.
ALTER TABLE payments ADD COLUMN next_store_consume_at BIGINT;
ALTER TABLE payments ADD COLUMN store_consume_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN store_consumed_at BIGINT;
CREATE INDEX payments_store_consume_due ON payments (next_store_consume_at) WHERE next_store_consume_at IS NOT NULL;
