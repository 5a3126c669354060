-- A console user's sessions carry the epoch they were signed in under; resetting the password,
-- disabling the user or changing the role moves it on, which ends every session of the user on
-- every instance at its next request.
ALTER TABLE console_users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- One value sealed with the encryption key the database was first written with: an instance started
-- with another key finds that it does not open and refuses to start.
CREATE TABLE encryption_key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
