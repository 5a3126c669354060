-- A store can take a refund back (Apple REFUND_REVERSED): the refund stays, with when and why it was
-- reversed, and counts no more in reports and abuse rules; a later refund of the same kind is in force
-- again.
ALTER TABLE refunds ADD COLUMN reversed_at BIGINT;
ALTER TABLE refunds ADD COLUMN reversed_reason TEXT;
