-- The purchase API against a holder of the public AppKey (SECURITY.md).

-- Whether a purchase must carry the buyer's account value (Google obfuscatedAccountId, Apple
-- appAccountToken): REQUIRED refuses one without it; WHEN_PRESENT (weaker, for apps that cannot set
-- it yet) refuses only a value naming someone else. Projects made before this keep working as
-- WHEN_PRESENT; new projects are created REQUIRED.
ALTER TABLE projects ADD COLUMN user_binding TEXT NOT NULL DEFAULT 'WHEN_PRESENT'
    CHECK (user_binding IN ('REQUIRED', 'WHEN_PRESENT'));
-- The build-in model (the app consumes by itself): off unless a project turns it on.
ALTER TABLE projects ADD COLUMN client_consume INTEGER NOT NULL DEFAULT 0;
-- The key user tokens are signed with, derived from the SecretKey when it is made (the SecretKey
-- itself is kept only as a hash), encrypted; and the one of the previous SecretKey while it is valid.
ALTER TABLE projects ADD COLUMN user_token_key_enc TEXT;
ALTER TABLE projects ADD COLUMN previous_user_token_key_enc TEXT;

-- A proof kept for re-verification is kept once per store app: its SHA-256.
ALTER TABLE payments ADD COLUMN proof_digest TEXT;
CREATE UNIQUE INDEX payments_pending_proof ON payments (store_app_id, proof_digest)
    WHERE status = 'RESERVED' AND proof_digest IS NOT NULL;
-- A reserve retried with the same Idempotency-Key returns the first reservation.
ALTER TABLE payments ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX payments_idempotency_key ON payments (project_id, user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- A receipt presented for another user is recorded once per (payment, claimed user).
DELETE FROM receipt_conflicts WHERE id NOT IN
    (SELECT MIN(id) FROM receipt_conflicts GROUP BY payment_id, claimed_by_user);
CREATE UNIQUE INDEX receipt_conflicts_once ON receipt_conflicts (payment_id, claimed_by_user);
