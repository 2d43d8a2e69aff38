-- schema.sql — mod_secauth's tables for MySQL/MariaDB. Idempotent: safe to load again.
-- A superset of the original Flask schema (users, products) so existing data can be migrated.
-- Times the module compares (locked_until, expires_at) are unix seconds; times it shows are DATETIME in UTC.

CREATE TABLE IF NOT EXISTS users (
    id              INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username        VARCHAR(50) NOT NULL COLLATE utf8mb4_nopad_bin, -- NO PAD: 'alice ' is not 'alice'
    password        VARCHAR(256) NOT NULL,
    twofa_secret    VARCHAR(256) NULL,          -- sealed (AES-256-GCM), never plain Base32
    role            VARCHAR(16) NOT NULL DEFAULT 'editor',
    disabled        TINYINT NOT NULL DEFAULT 0,
    twofa_confirmed TINYINT NOT NULL DEFAULT 0,
    last_totp_step  BIGINT NULL,                -- last accepted TOTP time step (replay guard)
    failed_count    INT NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0,  -- unix seconds
    token_generation INT NOT NULL DEFAULT 0,    -- "revoke every token": tokens carry the value they were
                                                -- issued under (claim gen); a smaller one is revoked...
    tokens_keep_jti VARCHAR(64) NULL,           -- ...except this one (the session that changed the password)
    tokens_not_before BIGINT NOT NULL DEFAULT 0,-- for operators: tokens issued before this unix second are revoked
    created_at      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS products (
    id          INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    description VARCHAR(255) NULL,
    price       DECIMAL(10,2) NOT NULL,
    quantity    INT NOT NULL DEFAULT 0,
    version     INT NOT NULL DEFAULT 1,         -- bumped on every write; the ETag
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS recovery_codes (
    id        INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id   INT NOT NULL,
    code_hash CHAR(64) NOT NULL,                -- HMAC-SHA256 under the encryption key
    used_at   BIGINT NULL,
    UNIQUE KEY recovery_codes_user_hash (user_id, code_hash),
    CONSTRAINT recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    INT NOT NULL,
    expires_at BIGINT NOT NULL,                 -- unix seconds; rows past it are purged
    KEY revoked_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

-- Lockout state of login names that have no account, so that an unknown name is throttled
-- exactly like a real one (API.md §3). Keyed by an HMAC of the lower-cased name under the
-- encryption key: what people type as a username (sometimes a password) is never stored.
CREATE TABLE IF NOT EXISTS login_throttle (
    name_hash    CHAR(64) NOT NULL PRIMARY KEY,
    failed_count INT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,     -- unix seconds
    last_failed  BIGINT NOT NULL DEFAULT 0,     -- unix seconds; idle rows are purged
    KEY login_throttle_last_failed (last_failed)
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

-- The change feed (API.md §12): triggers write one row whenever what the access check or a
-- product read answers changes, in the same transaction as the change (direct SQL included);
-- each httpd node polls it to invalidate its cache, and prunes rows older than an hour.
-- kind: 'user' (user_id), 'token' (a revoked jti of user_id), 'product' (product_id).
CREATE TABLE IF NOT EXISTS auth_events (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind       VARCHAR(8) NOT NULL,
    user_id    INT NULL,
    jti        VARCHAR(64) NULL,
    product_id INT NULL,
    created_at BIGINT NOT NULL,                 -- unix seconds
    KEY auth_events_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

DROP TRIGGER IF EXISTS users_feed_update;
CREATE TRIGGER users_feed_update AFTER UPDATE ON users FOR EACH ROW
    INSERT INTO auth_events (kind, user_id, created_at)
    SELECT 'user', NEW.id, UNIX_TIMESTAMP() FROM DUAL
    WHERE NOT (OLD.username <=> NEW.username AND OLD.password <=> NEW.password
               AND OLD.role <=> NEW.role AND OLD.disabled <=> NEW.disabled
               AND OLD.twofa_confirmed <=> NEW.twofa_confirmed
               AND OLD.token_generation <=> NEW.token_generation
               AND OLD.tokens_not_before <=> NEW.tokens_not_before
               AND OLD.tokens_keep_jti <=> NEW.tokens_keep_jti);
DROP TRIGGER IF EXISTS users_feed_delete;
CREATE TRIGGER users_feed_delete AFTER DELETE ON users FOR EACH ROW
    INSERT INTO auth_events (kind, user_id, created_at) VALUES ('user', OLD.id, UNIX_TIMESTAMP());
DROP TRIGGER IF EXISTS revoked_tokens_feed;
CREATE TRIGGER revoked_tokens_feed AFTER INSERT ON revoked_tokens FOR EACH ROW
    INSERT INTO auth_events (kind, user_id, jti, created_at)
    VALUES ('token', NEW.user_id, NEW.jti, UNIX_TIMESTAMP());
DROP TRIGGER IF EXISTS products_feed_insert;
CREATE TRIGGER products_feed_insert AFTER INSERT ON products FOR EACH ROW
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', NEW.id, UNIX_TIMESTAMP());
DROP TRIGGER IF EXISTS products_feed_update;
CREATE TRIGGER products_feed_update AFTER UPDATE ON products FOR EACH ROW
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', NEW.id, UNIX_TIMESTAMP());
DROP TRIGGER IF EXISTS products_feed_delete;
CREATE TRIGGER products_feed_delete AFTER DELETE ON products FOR EACH ROW
    INSERT INTO auth_events (kind, product_id, created_at) VALUES ('product', OLD.id, UNIX_TIMESTAMP());

-- Idempotency-Key (API.md §5): the answer to a create, stored in the transaction that made the
-- row, so a repeat of the request gets that answer instead of a second row. Keys are the
-- caller's own; rows past expires_at (a day) are purged.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id     INT NOT NULL,
    idem_key    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    fingerprint CHAR(64) CHARACTER SET ascii NOT NULL, -- SHA-256 of the route and the request's meaning
    status      INT NOT NULL,
    location    VARCHAR(255) NULL,
    etag        VARCHAR(64) NULL,
    body        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,                -- unix seconds
    PRIMARY KEY (user_id, idem_key),
    KEY idempotency_keys_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
