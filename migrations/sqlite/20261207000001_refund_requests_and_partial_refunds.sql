-- What a project answers when a store asks about a refund (Apple's CONSUMPTION_REQUEST, Google's
-- chargeback review): OFF answers nothing, LEDGER sends the ledger's facts with no preference,
-- DEFEND adds a preference from them, SUPPORT waits for a person and sends the facts before the
-- window closes if nobody decided.
ALTER TABLE projects ADD COLUMN refund_policy TEXT NOT NULL DEFAULT 'LEDGER'
    CHECK (refund_policy IN ('OFF', 'LEDGER', 'DEFEND', 'SUPPORT'));
-- Apple takes consumption data only with the customer's consent; the app's terms obtain it or not.
ALTER TABLE projects ADD COLUMN consumption_consent INTEGER NOT NULL DEFAULT 0;

-- One row per refund request a store notification carried, with the answer sent.
CREATE TABLE refund_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    notification_id BIGINT NOT NULL UNIQUE REFERENCES store_notifications (id),
    kind TEXT NOT NULL CHECK (kind IN ('CONSUMPTION_REQUEST', 'CHARGEBACK_REVIEW')),
    -- The store's reason, as it names it.
    reason TEXT,
    -- Google's pendingRefundToken: the answer must carry it.
    pending_token TEXT,
    received_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('OPEN', 'ANSWERED', 'WITHHELD', 'FAILED', 'EXPIRED')),
    -- A person's choice under the SUPPORT policy, before it is sent.
    chosen_preference TEXT,
    decided_by TEXT,
    -- The body sent to the store, as JSON.
    answer TEXT,
    answered_at BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error TEXT
);
CREATE INDEX refund_requests_payment ON refund_requests (payment_id);
CREATE INDEX refund_requests_due ON refund_requests (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- A store may refund part of a payment (Apple's prorated refunds): the share refunded, in
-- thousandths of a percent; NULL is the whole. The amount is that share of the price.
ALTER TABLE refunds ADD COLUMN share_milli INTEGER;
