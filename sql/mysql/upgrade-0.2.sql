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
