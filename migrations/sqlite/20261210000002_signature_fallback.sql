-- A Google purchase verified by its Play Billing signature alone, during a Google outage, for an
-- app that chose this fallback: PROVISIONAL until Google is asked again (due at next_confirm_at),
-- then CONFIRMED, or REFUTED (and refunded) when Google does not know it as a valid purchase.
ALTER TABLE payments ADD COLUMN confirm_state TEXT;
ALTER TABLE payments ADD COLUMN next_confirm_at BIGINT;
CREATE INDEX payments_confirm_due ON payments (next_confirm_at) WHERE next_confirm_at IS NOT NULL;
