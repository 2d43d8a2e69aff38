/* accounts.h — the account routes of API.md §2 and §3: registration, QR enrolment,
 * verify-2fa, login with lockout, the password change, logout, /me; and the pieces of them
 * that other parts checking a user's credentials or replacing a TOTP secret must share
 * (sealing, lockout, one-time acceptance of a code). */
#ifndef SECAUTH_ACCOUNTS_H
#define SECAUTH_ACCOUNTS_H

#include "http.h"
#include "db.h"

extern const secauth_stmt_t secauth_account_statements[];

int secauth_register(secauth_req_t *req);
int secauth_generate_qr(secauth_req_t *req);
int secauth_verify_2fa(secauth_req_t *req);
int secauth_login(secauth_req_t *req);
int secauth_logout(secauth_req_t *req);
int secauth_me(secauth_req_t *req);
int secauth_password_change(secauth_req_t *req);

/* ---- TOTP secrets at rest ----
 * users.twofa_secret holds secauth_seal() output under SecAuthEncryptionKeyFile, with the
 * additional data "totp:<user id>:<username>": a sealed secret copied into another account's
 * row does not open. Rows carried over from the Flask app hold plain Base32 until their first
 * successful use seals them. */

/* The additional data that binds a sealed secret to its account. */
const char *secauth_account_secret_aad(apr_pool_t *p, int user_id, const char *username);

/* Seals a secret for the account; NULL on failure. */
const char *secauth_account_seal_secret(apr_pool_t *p, const secauth_server_conf_t *conf,
                                        int user_id, const char *username,
                                        const unsigned char *secret, apr_size_t len);

/* Opens users.twofa_secret. Returns 0 with the raw secret, and *legacy set to 1 when the
 * stored value was plain Base32 (to be sealed by the caller); -1 when it opens neither way. */
int secauth_account_open_secret(apr_pool_t *p, const secauth_server_conf_t *conf, int user_id,
                                const char *username, const char *stored,
                                unsigned char **secret, apr_size_t *len, int *legacy);

/* ---- lockout (API.md §3), per account, in the database ---- */

/* When locked_until (unix seconds) is still ahead, records 429 with Retry-After, logs the
 * refusal, and returns 429; else returns OK. */
int secauth_account_throttled(secauth_req_t *req, const char *username,
                              apr_int64_t locked_until);

/* The lock check of an attempt (login, verify-2fa, password change), which also counts the
 * attempt as a failure before anything is verified: one statement that only an unlocked
 * account passes adds the failure and locks the account once SecAuthLockout's count is reached
 * (first delay, doubled at every further failure, capped). Attempts arriving all at once
 * therefore cannot all pass the check before their failures count: at most that many run per
 * lockout. A success clears the count (secauth_account_accept_code, recovery codes,
 * secauth_account_clear_failures). locked_until is the value read with the account, refused
 * without a write. Returns OK when the attempt goes on, else the status of the answer recorded for
 * the handler to return: 429 with Retry-After when the account is locked, 503. */
int secauth_account_claim_attempt(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                  const char *username, apr_int64_t locked_until);

/* Logs a failed attempt, already counted by the claim, and the lockout it caused; what names
 * it ("wrong password", "wrong code"...). */
void secauth_account_log_failure(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                 const char *username, const char *what);

/* Deletes the account's recovery codes (a 2FA reset). */
int secauth_account_drop_recovery(secauth_req_t *req, ap_dbd_t *dbd, int user_id);

/* Clears the failure count and the lock: the attempt was not a failure (and an admin's
 * unlock). */
int secauth_account_clear_failures(secauth_req_t *req, ap_dbd_t *dbd, int user_id);

/* Accepts a TOTP code at most once: it must match a step of the SecAuthTOTPSkew window and
 * that step must be later than the last accepted one, which one atomic UPDATE moves forward
 * (clearing the failure count too). Returns 1 accepted, 0 wrong (*replayed 0) or already used
 * (*replayed 1), SECAUTH_DB_ERROR when the database failed. */
int secauth_account_accept_code(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                const unsigned char *secret, apr_size_t len, const char *code,
                                int *replayed);

#endif
