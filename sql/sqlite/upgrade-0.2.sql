-- upgrade-0.2.sql — brings a SQLite database made by mod_secauth 0.1's schema.sql up to 0.2 in
-- place (run once, with httpd stopped, after a copy of the file):
--     sqlite3 /path/to/secauth.db < upgrade-0.2.sql
-- The change feed (auth_events and its triggers) lets every node cache the access check (§12).
-- token_generation makes "revoke every token of a user" exact (API.md §4). SQLite compares
-- text byte by byte (BINARY): it never pads, so usernames need no change.
-- A second run stops at "duplicate column name": the database is already upgraded.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

-- The change feed (API.md §12), as in sql/mysql/schema.sql: rows written by triggers, polled
-- by each httpd node to invalidate its cache, pruned after an hour.
CREATE TABLE IF NOT EXISTS auth_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    user_id    INTEGER NULL,
    jti        TEXT NULL,
    product_id INTEGER NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_events_created ON auth_events (created_at);

CREATE TRIGGER IF NOT EXISTS users_feed_update AFTER UPDATE ON users FOR EACH ROW
    WHEN OLD.username IS NOT NEW.username OR OLD.password IS NOT NEW.password
         OR OLD.role IS NOT NEW.role OR OLD.disabled IS NOT NEW.disabled
         OR OLD.twofa_confirmed IS NOT NEW.twofa_confirmed
         OR OLD.token_generation IS NOT NEW.token_generation
         OR OLD.tokens_not_before IS NOT NEW.tokens_not_before
         OR OLD.tokens_keep_jti IS NOT NEW.tokens_keep_jti
BEGIN
    INSERT INTO auth_events (kind, user_id, created_at) VALUES ('user', NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS users_feed_delete AFTER DELETE ON users FOR EACH ROW
BEGIN
    INSERT INTO auth_events (kind, user_id, created_at) VALUES ('user', OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS revoked_tokens_feed AFTER INSERT ON revoked_tokens FOR EACH ROW
BEGIN
    INSERT INTO auth_events (kind, user_id, jti, created_at)
    VALUES ('token', NEW.user_id, NEW.jti, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS products_feed_insert AFTER INSERT ON products FOR EACH ROW
BEGIN
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS products_feed_update AFTER UPDATE ON products FOR EACH ROW
BEGIN
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS products_feed_delete AFTER DELETE ON products FOR EACH ROW
BEGIN
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

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
