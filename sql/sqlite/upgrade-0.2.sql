-- upgrade-0.2.sql — brings a SQLite database made by mod_secauth 0.1's schema.sql up to 0.2 in
-- place (run once, with httpd stopped, after a copy of the file):
--     sqlite3 /path/to/secauth.db < upgrade-0.2.sql
-- token_generation makes "revoke every token of a user" exact (API.md §4). SQLite compares
-- text byte by byte (BINARY): it never pads, so usernames need no change.
-- A second run stops at "duplicate column name": the database is already upgraded.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

-- Idempotency-Key (API.md §5): the answer to a create, stored with the row it made.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id     INTEGER NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    location    TEXT NULL,
    etag        TEXT NULL,
    body        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at);
