-- migrate-from-flask.sql — turns the Flask app's database (its users and products tables) into
-- mod_secauth's schema in place, keeping every row and every id. Run it once, as a user that may
-- ALTER the tables, on the database the Flask app used, after a backup:
--     mariadb security_db < migrate-from-flask.sql
-- docs/administration.md ("Moving from the Flask app") explains what it does to the data.
--
-- A second run stops at the first ALTER TABLE with "Duplicate column name": by then the tables
-- are migrated, and the statements that must happen once (marking the carried-over accounts as
-- enrolled) are not repeated. MySQL and MariaDB do not roll DDL back, so each ALTER TABLE does
-- all its changes to one table in one atomic statement.

-- ---- users ----

-- Values the new schema refuses. The original DDL allowed NULL in every column but id.
UPDATE users SET username = CONCAT('user', id) WHERE username IS NULL OR username = '';
UPDATE users SET password = '' WHERE password IS NULL;   -- such an account cannot log in
UPDATE users SET twofa_secret = NULL WHERE twofa_secret = '';

-- Existing rows get twofa_confirmed = 1 from the column default in the same atomic statement
-- (they scanned their QR code in the Flask app); the default then becomes 0 for new accounts.
ALTER TABLE users
    ENGINE = InnoDB,
    CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    MODIFY username        VARCHAR(50) NOT NULL COLLATE utf8mb4_nopad_bin,
    MODIFY password        VARCHAR(256) NOT NULL,
    MODIFY twofa_secret    VARCHAR(256) NULL,
    ADD COLUMN role            VARCHAR(16) NOT NULL DEFAULT 'editor',
    ADD COLUMN disabled        TINYINT NOT NULL DEFAULT 0,
    ADD COLUMN twofa_confirmed TINYINT NOT NULL DEFAULT 1,
    ADD COLUMN last_totp_step  BIGINT NULL,
    ADD COLUMN failed_count    INT NOT NULL DEFAULT 0,
    ADD COLUMN locked_until    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN token_generation INT NOT NULL DEFAULT 0,
    ADD COLUMN tokens_keep_jti VARCHAR(64) NULL,
    ADD COLUMN tokens_not_before BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN created_at      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN updated_at      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE users ALTER COLUMN twofa_confirmed SET DEFAULT 0;

-- Without a secret there is nothing to log in with: such an account waits, pending, until an
-- admin resets its enrolment (DELETE /users/{id}/2fa gives it a new secret).
UPDATE users SET twofa_confirmed = 0 WHERE twofa_secret IS NULL;

-- The module writes its times in UTC; the Flask tables had none, so they start now.
UPDATE users SET created_at = UTC_TIMESTAMP(), updated_at = UTC_TIMESTAMP();

-- Usernames are compared lower-cased (API.md §2). A name is lower-cased when it is plain ASCII
-- (what the module lower-cases too) and no other account lower-cases to the same name; the
-- others are listed at the end for the admin to rename.
UPDATE users u
    JOIN (SELECT LOWER(username) AS lowered FROM users
          GROUP BY LOWER(username) HAVING COUNT(*) = 1) single
      ON single.lowered = LOWER(u.username)
    SET u.username = LOWER(u.username)
    WHERE u.username <> LOWER(u.username) AND u.username REGEXP '^[ -~]+$';

-- ---- products ----

UPDATE products SET name = CONCAT('product ', id) WHERE name IS NULL;
UPDATE products SET price = 0 WHERE price IS NULL;
UPDATE products SET quantity = 0 WHERE quantity IS NULL;

ALTER TABLE products
    ENGINE = InnoDB,
    CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    MODIFY name        VARCHAR(100) NOT NULL,
    MODIFY description VARCHAR(255) NULL,
    MODIFY price       DECIMAL(10,2) NOT NULL,
    MODIFY quantity    INT NOT NULL DEFAULT 0,
    ADD COLUMN version    INT NOT NULL DEFAULT 1,
    ADD COLUMN created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP;
UPDATE products SET created_at = UTC_TIMESTAMP(), updated_at = UTC_TIMESTAMP();

-- ---- the tables the Flask app did not have (as in schema.sql) ----

CREATE TABLE IF NOT EXISTS recovery_codes (
    id        INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id   INT NOT NULL,
    code_hash CHAR(64) NOT NULL,
    used_at   BIGINT NULL,
    UNIQUE KEY recovery_codes_user_hash (user_id, code_hash),
    CONSTRAINT recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    INT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY revoked_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii;

CREATE TABLE IF NOT EXISTS login_throttle (
    name_hash    CHAR(64) NOT NULL PRIMARY KEY,
    failed_count INT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_failed  BIGINT NOT NULL DEFAULT 0,
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

-- ---- what needs a look ----

SELECT id, username, 'another account has the same name in lower case: rename one'
    FROM users WHERE username <> LOWER(username) AND username REGEXP '^[A-Za-z0-9._@+-]{3,50}$'
UNION ALL
-- every route applies the username rule (API.md §2): such a name can no longer log in
SELECT id, username, 'outside the username rule (3-50 of A-Z a-z 0-9 . _ @ + -): rename it, e.g. UPDATE users SET username = ... WHERE id = ...'
    FROM users WHERE NOT (username REGEXP '^[A-Za-z0-9._@+-]{3,50}$')
UNION ALL
SELECT id, username, 'no TOTP secret: reset its enrolment (DELETE /users/{id}/2fa)'
    FROM users WHERE twofa_secret IS NULL;
