-- schema.sql — mod_secauth's tables for SQLite (the embedded default). Idempotent.
-- Same columns as sql/mysql/schema.sql; see there for what each one holds.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL UNIQUE,
    password        TEXT NOT NULL,
    twofa_secret    TEXT NULL,
    role            TEXT NOT NULL DEFAULT 'editor',
    disabled        INTEGER NOT NULL DEFAULT 0,
    twofa_confirmed INTEGER NOT NULL DEFAULT 0,
    last_totp_step  INTEGER NULL,
    failed_count    INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    token_generation INTEGER NOT NULL DEFAULT 0,
    tokens_keep_jti TEXT NULL,
    tokens_not_before INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now'))
);

CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NULL,
    price       TEXT NOT NULL,                  -- exact decimal text, e.g. '19.99'
    quantity    INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now'))
);

CREATE TABLE IF NOT EXISTS recovery_codes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   INTEGER NULL,
    UNIQUE (user_id, code_hash)
);

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE IF NOT EXISTS login_throttle (
    name_hash    TEXT NOT NULL PRIMARY KEY,
    failed_count INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    last_failed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS login_throttle_last_failed ON login_throttle (last_failed);

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
