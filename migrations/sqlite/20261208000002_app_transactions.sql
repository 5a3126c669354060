-- Apple's appTransactionId: the customer's app transaction, the same for one Apple Account and app
-- across devices, reinstalls and refunds; support finds a customer's payments by it, and a
-- RESCIND_CONSENT (which names only it) finds its user.
ALTER TABLE payments ADD COLUMN app_transaction_id TEXT;
CREATE INDEX payments_app_transaction ON payments (app_transaction_id) WHERE app_transaction_id IS NOT NULL;
