-- upgrade-0.2.sql — brings a MySQL/MariaDB database made by mod_secauth 0.1's schema.sql up to
-- 0.2 in place (run once, as a user that may ALTER, after a backup):
--     mariadb security_db < upgrade-0.2.sql
-- * usernames compare with a NO PAD collation, so 'alice ' can never match 'alice'
--   (MySQL 8: replace utf8mb4_nopad_bin with utf8mb4_0900_bin);
-- * token_generation makes "revoke every token of a user" exact (API.md §4).
-- A second run stops at "Duplicate column name": the database is already upgraded.
ALTER TABLE users
    MODIFY username VARCHAR(50) NOT NULL COLLATE utf8mb4_nopad_bin,
    ADD COLUMN token_generation INT NOT NULL DEFAULT 0 AFTER locked_until;

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
