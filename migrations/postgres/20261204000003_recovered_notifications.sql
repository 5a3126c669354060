-- A notification the store could not deliver and a sweep found in the store's notification history
-- (Apple's Get Notification History) is stored as if it had arrived, with when it was recovered: the
-- inbox shows it, and the count is the sweeps' report of lost deliveries.
ALTER TABLE store_notifications ADD COLUMN recovered_at BIGINT;
