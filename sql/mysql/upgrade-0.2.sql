-- upgrade-0.2.sql — brings a MySQL/MariaDB database made by mod_secauth 0.1's schema.sql up to
-- 0.2 in place (run once, as a user that may ALTER, after a backup):
--     mariadb security_db < upgrade-0.2.sql
-- * usernames compare with a NO PAD collation, so 'alice ' can never match 'alice'
--   (MySQL 8: replace utf8mb4_nopad_bin with utf8mb4_0900_bin);
-- * token_generation makes "revoke every token of a user" exact (API.md §4).
-- * the change feed (auth_events and its triggers) lets every node cache the access check (§12);
--   creating triggers needs the TRIGGER privilege (and, with binary logging, SUPER or
--   log_bin_trust_function_creators = 1).
-- A second run stops at "Duplicate column name": the database is already upgraded.
ALTER TABLE users
    MODIFY username VARCHAR(50) NOT NULL COLLATE utf8mb4_nopad_bin,
    ADD COLUMN token_generation INT NOT NULL DEFAULT 0 AFTER locked_until;

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
