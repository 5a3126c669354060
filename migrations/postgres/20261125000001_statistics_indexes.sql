-- The statistics page sums payments by the day they were verified and by the day they were refunded.
CREATE INDEX payments_verified_at ON payments (verified_at);
CREATE INDEX payments_refund_time ON payments (refund_time) WHERE refund_time IS NOT NULL;
