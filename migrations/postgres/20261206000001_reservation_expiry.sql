-- The reservation expiry job looks for old reservations that no purchase came for; a partial index
-- keeps that look cheap however many payments there are.
CREATE INDEX payments_open_reservations ON payments (reserved_at) WHERE status = 'RESERVED';
