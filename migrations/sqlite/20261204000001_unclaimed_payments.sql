-- A purchase the store reported before any verify (a notification about a purchase this server had
-- not recorded) is kept as a payment with no user yet: `claim_state` is 'UNCLAIMED' (empty user id,
-- no access token) until its buyer's verify claims it ('CLAIMED'); NULL for every other payment.
ALTER TABLE payments ADD COLUMN claim_state TEXT;
CREATE INDEX payments_unclaimed ON payments (store_app_id, created_at) WHERE claim_state = 'UNCLAIMED';
