/* accounts.c — the account routes of API.md §2 and §3: registration with a sealed, pending
 * TOTP secret; the QR code of that secret behind the enrolment token; verify-2fa with
 * recovery codes; login in one step (password, then a code used at most once, or a recovery
 * code) with the lockout kept in the database; the password change of the caller, checked and
 * counted like a login; logout by revoking the token id; /me. Every
 * login outcome, lockout, replay and enrolment is logged at notice, never with a secret. */
#include "accounts.h"
#include "account_input.h"
#include "access.h"
#include "cache.h"
#include "crypto.h"
#include "metrics.h"
#include "password.h"
#include "qr.h"
#include "token.h"
#include "totp.h"

#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "log.h"

#include <openssl/crypto.h>

APLOG_USE_MODULE(secauth);

#define DEFAULT_ROLE "editor"

/* Ten codes of ten characters from 32 symbols: 50 bits each. Crockford's alphabet (no i, l,
 * o, u) so that a code read off paper is typed back right; input maps i/l to 1 and o to 0. */
#define RECOVERY_CODES 10
#define RECOVERY_LEN 10
static const char recovery_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* Lockout rows of names without an account are forgotten after a day without failures. */
#define THROTTLE_IDLE 86400

/* login_throttle keys keep 20 bits of their HMAC: a flood of made-up names (or of client
 * addresses) fills at most 2^20 rows of each kind instead of growing the table without limit.
 * Two unknown names that share a row share its lock, as rarely as one in a million. */
#define THROTTLE_KEY_HEX 5

/* One failed attempt, in a single statement so that parallel failures on different children
 * and nodes all count: at the SecAuthLockout-th consecutive failure the account locks for the
 * first delay, and every further failure locks it again for twice the previous delay, capped.
 * locked_until is assigned before failed_count because MySQL evaluates SET left to right with
 * the new values (SQLite uses the old ones throughout); the shift is guarded before it could
 * overflow. Parameters: failures, failures, first, failures, longest, now + longest, now,
 * first, failures. */
#define LOCK_SET \
    "locked_until = CASE WHEN failed_count + 1 < %d THEN locked_until " \
    "WHEN failed_count + 1 - %d >= 20 OR (%lld << (failed_count + 1 - %d)) >= %lld THEN %lld " \
    "ELSE %lld + (%lld << (failed_count + 1 - %d)) END, failed_count = failed_count + 1"
#define LOCK_NARGS 9

#define USER_COLUMNS "id, username, password, twofa_secret, role, disabled, twofa_confirmed, " \
                     "failed_count, locked_until, token_generation, tokens_not_before, " \
                     "tokens_keep_jti"
enum { U_ID, U_NAME, U_PASSWORD, U_SECRET, U_ROLE, U_DISABLED, U_CONFIRMED, U_FAILED,
       U_LOCKED, U_GENERATION, U_NOT_BEFORE, U_KEEP_JTI };

const secauth_stmt_t secauth_account_statements[] = {
    {"secauth_acct_insert",
     "INSERT INTO users (username, password, role, twofa_confirmed, created_at, updated_at) "
     "VALUES (%s, %s, %s, 0, %s, %s)", NULL},
    {"secauth_acct_set_secret", "UPDATE users SET twofa_secret = %s WHERE id = %d", NULL},
    {"secauth_acct_by_name", "SELECT " USER_COLUMNS " FROM users WHERE username = %s", NULL},
    {"secauth_acct_me", "SELECT id, username, role, created_at FROM users WHERE id = %d", NULL},
    {"secauth_acct_claim",
     "UPDATE users SET " LOCK_SET " WHERE id = %d AND locked_until <= %lld", NULL},
    {"secauth_acct_lock_state", "SELECT failed_count, locked_until FROM users WHERE id = %d",
     NULL},
    /* the replay guard: a step is accepted only when it is later than every accepted one */
    {"secauth_acct_accept_step",
     "UPDATE users SET last_totp_step = %lld, failed_count = 0, locked_until = 0 "
     "WHERE id = %d AND (last_totp_step IS NULL OR last_totp_step < %lld)", NULL},
    {"secauth_acct_confirm",
     "UPDATE users SET twofa_confirmed = 1, last_totp_step = %lld, failed_count = 0, "
     "locked_until = 0, updated_at = %s WHERE id = %d AND twofa_confirmed = 0 "
     "AND (last_totp_step IS NULL OR last_totp_step < %lld) "
     /* still the enrolment the token was checked against: a 2FA reset committed since (a
      * new secret, a new generation) makes the confirmation miss */
     "AND token_generation = %lld AND twofa_secret = %s", NULL},
    {"secauth_acct_reset_failures",
     "UPDATE users SET failed_count = 0, locked_until = 0 WHERE id = %d", NULL},
    /* only when the hash is still the one verified: a concurrent password change wins */
    {"secauth_acct_rehash",
     "UPDATE users SET password = %s, updated_at = %s WHERE id = %d AND password = %s", NULL},
    /* only replaces the plain secret that was read: a concurrent login may have sealed it */
    {"secauth_acct_reseal",
     "UPDATE users SET twofa_secret = %s WHERE id = %d AND twofa_secret = %s", NULL},
    {"secauth_acct_password_user",
     "SELECT username, password, twofa_secret, twofa_confirmed, locked_until, token_generation, "
     "disabled, tokens_not_before, tokens_keep_jti FROM users WHERE id = %d", NULL},
    /* Changes the password and revokes every token but the caller's, only while the password
     * is still the one just verified: of two concurrent changes, one wins. */
    {"secauth_acct_password_set",
     "UPDATE users SET password = %s, token_generation = token_generation + 1, "
     "tokens_keep_jti = %s, updated_at = %s WHERE id = %d AND password = %s "
     /* ...and while no disable or 2FA reset has revoked the caller's token meanwhile: keeping
      * its jti then would bring the revoked session back */
     "AND token_generation = %lld AND disabled = 0", NULL},
    {"secauth_acct_codes_clear", "DELETE FROM recovery_codes WHERE user_id = %d", NULL},
    {"secauth_acct_codes_count", "SELECT COUNT(*) FROM recovery_codes WHERE user_id = %d", NULL},
    {"secauth_acct_code_add", "INSERT INTO recovery_codes (user_id, code_hash) VALUES (%d, %s)",
     NULL},
    {"secauth_acct_code_use",
     "UPDATE recovery_codes SET used_at = %lld "
     "WHERE user_id = %d AND code_hash = %s AND used_at IS NULL", NULL},
    {"secauth_acct_revoke",
     "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (%s, %d, %lld)", NULL},
    {"secauth_acct_revoked_purge", "DELETE FROM revoked_tokens WHERE expires_at < %lld", NULL},
    {"secauth_acct_throttle_get",
     "SELECT failed_count, locked_until FROM login_throttle WHERE name_hash = %s", NULL},
    {"secauth_acct_throttle_add",
     "INSERT INTO login_throttle (name_hash, failed_count, locked_until, last_failed) "
     "VALUES (%s, 0, 0, %lld)", NULL},
    {"secauth_acct_throttle_claim",
     "UPDATE login_throttle SET " LOCK_SET ", last_failed = %lld WHERE name_hash = %s "
     "AND locked_until <= %lld", NULL},
    {"secauth_acct_throttle_purge", "DELETE FROM login_throttle WHERE last_failed < %lld", NULL},
    /* One registration of a client address admitted, when its window has room: a new window
     * starts once the last one is over. MySQL assigns left to right, so failed_count is set
     * while locked_until still holds the old window's end, as SQLite reads it throughout.
     * Parameters: now, now, now + window, now, key, now, limit. */
    {"secauth_acct_register_claim",
     "UPDATE login_throttle SET "
     "failed_count = CASE WHEN locked_until <= %lld THEN 1 ELSE failed_count + 1 END, "
     "locked_until = CASE WHEN locked_until <= %lld THEN %lld ELSE locked_until END, "
     "last_failed = %lld WHERE name_hash = %s AND (locked_until <= %lld OR failed_count < %d)",
     NULL},
    {NULL, NULL, NULL}
};

/* ---- small pieces ---- */

/* A name as typed by a client, safe for one log line. */
static const char *log_name(request_rec *r, const char *name)
{
    return ap_escape_logitem(r->pool, apr_pstrndup(r->pool, name, 64));
}

static int invalid_credentials(request_rec *r)
{
    /* one body for every failure kind: nothing tells them apart */
    return secauth_problem(r, HTTP_UNAUTHORIZED, "invalid credentials", NULL);
}

static int server_error(request_rec *r, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(609) "mod_secauth: %s", what);
    return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
}

/* The request's field-error list, for the validators of account_input.c to fill. */
static json_t *field_errors(secauth_req_t *req)
{
    if (!req->errors) {
        req->errors = secauth_json_pool(req->r->pool, json_array());
    }
    return req->errors;
}

/* 1 when the validators found errors; otherwise the list is dropped, as if never made. */
static int has_field_errors(secauth_req_t *req)
{
    if (req->errors && !json_array_size(req->errors)) {
        req->errors = NULL;
    }
    return req->errors != NULL;
}

static int lookup_user(secauth_req_t *req, ap_dbd_t *dbd, const char *name,
                       const char ***row)
{
    secauth_rows_t rows;
    const void *args[1];
    int rc;

    args[0] = name;
    rc = secauth_db_select(req->r, dbd, "secauth_acct_by_name", args, &rows);
    *row = (rc == SECAUTH_DB_OK && rows.nrows == 1) ? rows.rows[0] : NULL;
    return rc;
}

static const char *issue_token(secauth_req_t *req, secauth_token_kind_e kind,
                               const char *const *row)
{
    secauth_metrics_token_issued(kind == SECAUTH_TOKEN_ENROLL);
    /* the generation read with the account: a "revoke all" committed since makes it old */
    return secauth_token_issue(req->r->pool, &req->conf->token, kind, row[U_ID], row[U_NAME],
                               row[U_ROLE], row[U_GENERATION] ? apr_atoi64(row[U_GENERATION]) : 0,
                               apr_time_now(), NULL);
}

/* ---- TOTP secrets at rest ---- */

const char *secauth_account_secret_aad(apr_pool_t *p, int user_id, const char *username)
{
    return apr_psprintf(p, "totp:%d:%s", user_id, username);
}

const char *secauth_account_seal_secret(apr_pool_t *p, const secauth_server_conf_t *conf,
                                        int user_id, const char *username,
                                        const unsigned char *secret, apr_size_t len)
{
    return secauth_seal(p, conf->encryption_key, secret, len,
                        secauth_account_secret_aad(p, user_id, username));
}

int secauth_account_open_secret(apr_pool_t *p, const secauth_server_conf_t *conf, int user_id,
                                const char *username, const char *stored,
                                unsigned char **secret, apr_size_t *len, int *legacy)
{
    *legacy = 0;
    if (!stored || !*stored) {
        return -1;
    }
    if (!strncmp(stored, "v1.", 3)) {
        return secauth_unseal(p, conf->encryption_key, stored,
                              secauth_account_secret_aad(p, user_id, username), secret, len);
    }
    /* the Flask app stored the Base32 text itself */
    if (secauth_base32_decode(p, stored, secret, len) != 0 || *len < 10) {
        return -1;
    }
    *legacy = 1;
    return 0;
}

/* ---- recovery codes ---- */

static const char *recovery_hash(apr_pool_t *p, const secauth_server_conf_t *conf,
                                 const char *normalized)
{
    /* the label keeps this HMAC apart from every other use of the encryption key */
    const char *data = apr_pstrcat(p, "recovery-code:", normalized, NULL);
    return secauth_hmac_sha256_hex(p, conf->encryption_key, SECAUTH_SEAL_KEY_LEN, data,
                                   strlen(data));
}

/* The ten characters of a typed code, or NULL when it cannot be one. */
static const char *recovery_normalize(apr_pool_t *p, const char *typed)
{
    char *out = apr_palloc(p, RECOVERY_LEN + 1);
    int n = 0;

    for (; *typed; typed++) {
        char c = (char)apr_tolower(*typed);
        if (c == '-' || c == ' ') {
            continue;
        }
        if (c == 'i' || c == 'l') c = '1';
        if (c == 'o') c = '0';
        if (n == RECOVERY_LEN || !strchr(recovery_alphabet, c) || !c) {
            return NULL;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n == RECOVERY_LEN ? out : NULL;
}

/* Makes the codes to show (xxxx-xxxx-xx) and their hashes to store. */
static int recovery_make(apr_pool_t *p, const secauth_server_conf_t *conf, const char **shown,
                         const char **hashes)
{
    int i, j;

    for (i = 0; i < RECOVERY_CODES; i++) {
        unsigned char bytes[RECOVERY_LEN];
        char plain[RECOVERY_LEN + 1];

        if (secauth_random_bytes(bytes, sizeof(bytes)) != 0) {
            return -1;
        }
        for (j = 0; j < RECOVERY_LEN; j++) {
            /* 256 is a multiple of 32: every symbol is equally likely */
            plain[j] = recovery_alphabet[bytes[j] & 31];
        }
        plain[RECOVERY_LEN] = '\0';
        OPENSSL_cleanse(bytes, sizeof(bytes));
        hashes[i] = recovery_hash(p, conf, plain);
        for (j = 0; j < i; j++) {
            if (!strcmp(hashes[j], hashes[i])) {
                break;
            }
        }
        if (j < i) {
            i--;   /* a repeat within one set (one chance in 2^50): draw again */
        }
        else {
            shown[i] = apr_psprintf(p, "%.4s-%.4s-%.2s", plain, plain + 4, plain + 8);
        }
        OPENSSL_cleanse(plain, sizeof(plain));
    }
    return 0;
}

/* Spends a recovery code: 1 when it was an unused code of the account, 0 when not. */
static int recovery_use(secauth_req_t *req, ap_dbd_t *dbd, int user_id, const char *typed)
{
    const char *normalized = recovery_normalize(req->r->pool, typed);
    apr_int64_t now = secauth_now_sec();
    const void *args[3];
    int affected = 0;

    if (!normalized) {
        return 0;
    }
    args[0] = &now;
    args[1] = &user_id;
    args[2] = recovery_hash(req->r->pool, req->conf, normalized);
    if (secauth_db_exec(req->r, dbd, "secauth_acct_code_use", args, &affected)
        != SECAUTH_DB_OK) {
        return SECAUTH_DB_ERROR;
    }
    if (affected != 1) {
        return 0;
    }
    return secauth_account_clear_failures(req, dbd, user_id) == SECAUTH_DB_OK
           ? 1 : SECAUTH_DB_ERROR;
}

/* ---- lockout ---- */

int secauth_account_throttled(secauth_req_t *req, const char *username,
                              apr_int64_t locked_until)
{
    request_rec *r = req->r;
    apr_int64_t left = locked_until - secauth_now_sec();

    if (left <= 0) {
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(605)
                  "mod_secauth: attempt for %s from %s refused: locked for %" APR_INT64_T_FMT
                  " more seconds", log_name(r, username), secauth_client_ip(r), left);
    apr_table_setn(r->headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, left));
    return secauth_problem(r, HTTP_TOO_MANY_REQUESTS, "too many failed attempts: try again later",
                           NULL);
}

/* The parameters of LOCK_SET, followed by room for the statement's own. */
static void lock_args(const secauth_server_conf_t *conf, apr_int64_t *now, apr_int64_t *vals,
                      const void **args)
{
    vals[0] = conf->lockout_first_delay;
    vals[1] = conf->lockout_max_delay;
    vals[2] = *now + conf->lockout_max_delay;
    args[0] = &conf->lockout_failures;
    args[1] = &conf->lockout_failures;
    args[2] = &vals[0];
    args[3] = &conf->lockout_failures;
    args[4] = &vals[1];
    args[5] = &vals[2];
    args[6] = now;
    args[7] = &vals[0];
    args[8] = &conf->lockout_failures;
}

/* Logs a failure and, when it locked the account, the lockout. */
static void log_failure(request_rec *r, const char *username, const char *what,
                        const secauth_rows_t *state, apr_int64_t now)
{
    int count = 0;
    apr_int64_t locked = 0;

    if (state->nrows == 1) {
        count = state->rows[0][0] ? atoi(state->rows[0][0]) : 0;
        locked = state->rows[0][1] ? apr_atoi64(state->rows[0][1]) : 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(603)
                  "mod_secauth: failed attempt for %s from %s: %s (%d consecutive)",
                  log_name(r, username), secauth_client_ip(r), what, count);
    if (locked > now) {
        secauth_metrics_inc(SECAUTH_M_LOCKOUTS);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(604)
                      "mod_secauth: %s locked for %" APR_INT64_T_FMT " seconds after %d "
                      "consecutive failures (last from %s)", log_name(r, username),
                      locked - now, count, secauth_client_ip(r));
    }
}

/* After a claim found the account locked: 429 with the time left. When the lock ended or the
 * row went away between the claim and this read, the answer is still 429, for a second. */
static int refuse_locked(secauth_req_t *req, const char *username, const secauth_rows_t *state)
{
    apr_int64_t locked = state->nrows == 1 && state->rows[0][1]
                         ? apr_atoi64(state->rows[0][1]) : 0;
    return secauth_account_throttled(req, username,
                                     locked > secauth_now_sec() ? locked : secauth_now_sec() + 1);
}

int secauth_account_claim_attempt(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                  const char *username, apr_int64_t locked_until)
{
    apr_int64_t now = secauth_now_sec(), vals[3];
    const void *args[LOCK_NARGS + 2];
    secauth_rows_t state;
    int rc, affected = 0;

    /* locked as read with the account: no write needed to refuse */
    if ((rc = secauth_account_throttled(req, username, locked_until)) != OK) {
        return rc;
    }
    lock_args(req->conf, &now, vals, args);
    args[LOCK_NARGS] = &user_id;
    args[LOCK_NARGS + 1] = &now;
    if (secauth_db_exec(req->r, dbd, "secauth_acct_claim", args, &affected) != SECAUTH_DB_OK) {
        return secauth_unavailable(req->r);
    }
    if (affected == 1) {
        return OK;
    }
    args[0] = &user_id;
    if (secauth_db_select(req->r, dbd, "secauth_acct_lock_state", args, &state)
        != SECAUTH_DB_OK) {
        return secauth_unavailable(req->r);
    }
    return refuse_locked(req, username, &state);
}

void secauth_account_log_failure(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                 const char *username, const char *what)
{
    const void *args[1];
    secauth_rows_t state;

    args[0] = &user_id;
    if (secauth_db_select(req->r, dbd, "secauth_acct_lock_state", args, &state)
        != SECAUTH_DB_OK) {
        state.nrows = 0;
    }
    log_failure(req->r, username, what, &state, secauth_now_sec());
}

int secauth_account_drop_recovery(secauth_req_t *req, ap_dbd_t *dbd, int user_id)
{
    const void *args[1];

    args[0] = &user_id;
    return secauth_db_exec(req->r, dbd, "secauth_acct_codes_clear", args, NULL);
}

int secauth_account_clear_failures(secauth_req_t *req, ap_dbd_t *dbd, int user_id)
{
    const void *args[1];

    args[0] = &user_id;
    return secauth_db_exec(req->r, dbd, "secauth_acct_reset_failures", args, NULL);
}

/* The login_throttle key of a label ("login-name:alice", "register-from:192.0.2.1"): a kind
 * letter and THROTTLE_KEY_HEX digits of its HMAC, so that nothing typed is stored. */
static const char *throttle_key(secauth_req_t *req, char kind, const char *label)
{
    const char *hex = secauth_hmac_sha256_hex(req->r->pool, req->conf->encryption_key,
                                              SECAUTH_SEAL_KEY_LEN, label, strlen(label));
    return hex ? apr_psprintf(req->r->pool, "%c%.*s", kind, THROTTLE_KEY_HEX, hex) : NULL;
}

/* The client's address as the registration limit counts it: an IPv6 client by its /64, the
 * block one host can pick addresses from. */
static const char *client_block(request_rec *r)
{
    const apr_sockaddr_t *sa = r->useragent_addr;

    if (sa && sa->family == APR_INET6 && !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)sa->ipaddr_ptr)) {
        const unsigned char *b = sa->ipaddr_ptr;
        return apr_psprintf(r->pool, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", b[0], b[1],
                            b[2], b[3], b[4], b[5], b[6], b[7]);
    }
    return secauth_client_ip(r);
}

/* SecAuthRegisterLimit: OK when this client may register now, else 429 or 503 (recorded).
 * Counted before the password hash, so refused attempts cost no hashing either. */
static int claim_registration(secauth_req_t *req, ap_dbd_t *dbd)
{
    request_rec *r = req->r;
    const char *key = throttle_key(req, 'r', apr_pstrcat(r->pool, "register-from:",
                                                         client_block(r), NULL));
    apr_int64_t now = secauth_now_sec(), end = now + req->conf->register_window;
    const void *args[7];
    secauth_rows_t state;
    int claimed = 0;

    if (!req->conf->register_limit) {
        return OK;
    }
    args[0] = key;
    args[1] = &now;
    if (!key || secauth_db_exec(r, dbd, "secauth_acct_throttle_add", args, NULL)
                == SECAUTH_DB_ERROR) {
        return secauth_unavailable(r);
    }
    args[0] = &now;
    args[1] = &now;
    args[2] = &end;
    args[3] = &now;
    args[4] = key;
    args[5] = &now;
    args[6] = &req->conf->register_limit;
    if (secauth_db_exec(r, dbd, "secauth_acct_register_claim", args, &claimed)
        != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (claimed == 1) {
        return OK;
    }
    args[0] = key;
    if (secauth_db_select(r, dbd, "secauth_acct_throttle_get", args, &state) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    end = state.nrows == 1 && state.rows[0][1] ? apr_atoi64(state.rows[0][1]) : now + 1;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(614)
                  "mod_secauth: registration from %s refused: %d registrations per %d seconds "
                  "reached", client_block(r), req->conf->register_limit,
                  req->conf->register_window);
    apr_table_setn(r->headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, end > now ? end - now : 1));
    return secauth_problem(r, HTTP_TOO_MANY_REQUESTS, "too many registrations from this "
                           "address: try again later", NULL);
}

/* Login for a name without an account: the same lock check, the same one password hash, the
 * same counting and the same answers as for a real account, so that neither the 401 nor the
 * 429 tells whether the account exists. */
static int unknown_login(secauth_req_t *req, ap_dbd_t *dbd, const char *name,
                         const char *password)
{
    request_rec *r = req->r;
    const char *key = throttle_key(req, 'u', apr_pstrcat(r->pool, "login-name:", name, NULL));
    apr_int64_t now = secauth_now_sec(), idle = now - THROTTLE_IDLE, vals[3];
    const void *args[LOCK_NARGS + 3];
    secauth_rows_t state;
    int rc, claimed = 0;

    args[0] = key;
    if (secauth_db_select(r, dbd, "secauth_acct_throttle_get", args, &state) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (state.nrows == 1
        && (rc = secauth_account_throttled(req, name, apr_atoi64(state.rows[0][1]))) != OK) {
        return rc;
    }
    /* counted before the hash, as for an account (secauth_account_claim_attempt) */
    args[1] = &now;
    rc = secauth_db_exec(r, dbd, "secauth_acct_throttle_add", args, NULL);
    if (rc == SECAUTH_DB_ERROR) {
        return secauth_unavailable(r);
    }
    lock_args(req->conf, &now, vals, args);
    args[LOCK_NARGS] = &now;
    args[LOCK_NARGS + 1] = key;
    args[LOCK_NARGS + 2] = &now;
    if (secauth_db_exec(r, dbd, "secauth_acct_throttle_claim", args, &claimed) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (claimed != 1) {
        args[0] = key;
        if (secauth_db_select(r, dbd, "secauth_acct_throttle_get", args, &state)
            != SECAUTH_DB_OK) {
            return secauth_unavailable(r);
        }
        return refuse_locked(req, name, &state);
    }
    (void)secauth_password_verify(r->pool, req->conf->dummy_hash, password);

    args[0] = &idle;
    (void)secauth_db_exec(r, dbd, "secauth_acct_throttle_purge", args, NULL);
    args[0] = key;
    if (secauth_db_select(r, dbd, "secauth_acct_throttle_get", args, &state) != SECAUTH_DB_OK) {
        state.nrows = 0;
    }
    log_failure(r, name, "no such account", &state, now);
    return invalid_credentials(r);
}

/* ---- codes ---- */

int secauth_account_accept_code(secauth_req_t *req, ap_dbd_t *dbd, int user_id,
                                const unsigned char *secret, apr_size_t len, const char *code,
                                int *replayed)
{
    long long matched;
    apr_int64_t step;
    const void *args[3];
    int affected = 0;

    *replayed = 0;
    if (!secauth_totp_verify(secret, len, code, apr_time_now(), req->conf->totp_skew,
                             &matched)) {
        return 0;
    }
    step = (apr_int64_t)matched;
    args[0] = &step;
    args[1] = &user_id;
    args[2] = &step;
    if (secauth_db_exec(req->r, dbd, "secauth_acct_accept_step", args, &affected)
        != SECAUTH_DB_OK) {
        return SECAUTH_DB_ERROR;
    }
    if (affected != 1) {
        *replayed = 1;
        return 0;
    }
    return 1;
}

/* ---- POST /register ---- */

/* Inserts the account and its sealed secret in one transaction (the seal binds the id, known
 * only after the insert). Returns SECAUTH_DB_OK with *id, SECAUTH_DB_DUPLICATE or an error. */
static int insert_account(secauth_req_t *req, ap_dbd_t *dbd, const char *username,
                          const char *hash, const unsigned char *secret, int *id)
{
    request_rec *r = req->r;
    const char *now = secauth_db_time(r->pool, apr_time_now()), *sealed;
    apr_dbd_transaction_t *txn = NULL;
    const void *args[5];
    int rc;

    if ((rc = secauth_db_begin(r, dbd, &txn)) != SECAUTH_DB_OK) {
        return rc;
    }
    args[0] = username;
    args[1] = hash;
    args[2] = DEFAULT_ROLE;
    args[3] = now;
    args[4] = now;
    rc = secauth_db_exec(r, dbd, "secauth_acct_insert", args, NULL);
    if (rc == SECAUTH_DB_OK) {
        rc = secauth_db_last_id(r, dbd, id);
    }
    if (rc == SECAUTH_DB_OK) {
        sealed = secauth_account_seal_secret(r->pool, req->conf, *id, username, secret,
                                             SECAUTH_TOTP_SECRET_LEN);
        args[0] = sealed;
        args[1] = id;
        rc = sealed ? secauth_db_exec(r, dbd, "secauth_acct_set_secret", args, NULL)
                    : SECAUTH_DB_ERROR;
    }
    if (secauth_db_end(r, dbd, txn, rc == SECAUTH_DB_OK) != SECAUTH_DB_OK
        && rc == SECAUTH_DB_OK) {
        rc = SECAUTH_DB_ERROR;
    }
    return rc;
}

int secauth_register(secauth_req_t *req)
{
    static const char *const allowed[] = {"username", "password", NULL};
    request_rec *r = req->r;
    unsigned char secret[SECAUTH_TOTP_SECRET_LEN];
    const char *username, *password, *hash, *uri, *token;
    secauth_account_input_t in;
    ap_dbd_t *dbd;
    json_t *body;
    int rc, attempt, id = 0;

    if ((rc = secauth_read_object(req, allowed, &body)) != OK) {
        return rc;
    }
    secauth_register_validate(r->pool, body, req->conf->password_min_length,
                              SECAUTH_PASSWORD_MAX_LENGTH, req->conf->common_passwords, &in,
                              field_errors(req));
    if (has_field_errors(req)) {
        return secauth_send_field_errors(req);
    }
    username = in.username;
    password = in.password;

    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if ((rc = claim_registration(req, dbd)) != OK) {
        return rc;
    }
    if (!(hash = secauth_password_hash(r->pool, &req->conf->argon2, password))) {
        return server_error(r, "password hashing failed");
    }
    if (secauth_random_bytes(secret, sizeof(secret)) != 0) {
        return server_error(r, "no random bytes for a TOTP secret");
    }
    /* a name registered at the same time on another cluster node: the loser's commit fails
     * certification, and the next run of the transaction meets the winner's row (409) */
    for (attempt = 0; (rc = insert_account(req, dbd, username, hash, secret, &id)) != SECAUTH_DB_OK
         && secauth_db_retry(r, rc, attempt, "registration"); attempt++);
    if (rc == SECAUTH_DB_DUPLICATE) {
        return secauth_problem(r, HTTP_CONFLICT, "this username is taken", NULL);
    }
    if (rc != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }

    uri = secauth_otpauth_uri(r->pool, req->conf->totp_issuer, username,
                              secauth_base32_encode(r->pool, secret, sizeof(secret)));
    token = secauth_token_issue(r->pool, &req->conf->token, SECAUTH_TOKEN_ENROLL,
                                apr_itoa(r->pool, id), username, NULL, 0, apr_time_now(),
                                NULL);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (!token) {
        return server_error(r, "could not sign an enrolment token");
    }
    secauth_metrics_token_issued(1);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(600)
                  "mod_secauth: registered %s (id %d) from %s; enrolment pending",
                  username, id, secauth_client_ip(r));
    return secauth_send_json(r, HTTP_CREATED,
                             json_pack("{s:i, s:s, s:s, s:s, s:s, s:i}", "id", id,
                                       "username", username, "role", DEFAULT_ROLE,
                                       "otpauth_uri", uri, "enrollment_token", token,
                                       "enrollment_expires_in", req->conf->token_lifetime));
}

/* ---- enrolment: GET /generate-qr/{username}, POST /verify-2fa ---- */

/* The account an enrolment token may act on: the named one (a normalized username), when the
 * token is its own, not revoked, and enrolment is still pending. Returns OK with *row, or
 * the status the handler returns: 403/409/503 recorded, or 401 for httpd to send. */
static int pending_account(secauth_req_t *req, ap_dbd_t *dbd, const secauth_claims_t *claims,
                           const char *name, const char ***row_out)
{
    request_rec *r = req->r;
    const char **row;

    *row_out = NULL;
    if (lookup_user(req, dbd, name, &row) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (!row || atoi(row[U_ID]) != secauth_parse_id(claims->sub) || atoi(row[U_DISABLED])) {
        return secauth_problem(r, HTTP_FORBIDDEN, "the enrolment token is not this account's",
                               NULL);
    }
    /* an admin's 2FA reset ends the enrolment tokens issued before it, as it does sessions */
    if (secauth_token_revoked(claims, secauth_column_int(row[U_GENERATION]),
                              secauth_column_int(row[U_NOT_BEFORE]), row[U_KEEP_JTI])) {
        return secauth_refuse_token(r, "token revoked");
    }
    if (atoi(row[U_CONFIRMED])) {
        return secauth_problem(r, HTTP_CONFLICT, "two-factor enrolment is already confirmed",
                               NULL);
    }
    *row_out = row;
    return OK;
}

static const char *query_format(request_rec *r)
{
    const char *args = r->args, *at;

    for (at = args; at && *at; at = strchr(at, '&') ? strchr(at, '&') + 1 : NULL) {
        if (!strncmp(at, "format=", 7)) {
            const char *end = strchr(at + 7, '&');
            return end ? apr_pstrmemdup(r->pool, at + 7, end - at - 7) : at + 7;
        }
    }
    return NULL;
}

int secauth_generate_qr(secauth_req_t *req)
{
    request_rec *r = req->r;
    secauth_claims_t claims;
    const char *format, **row, *uri, *name;
    unsigned char *secret;
    apr_size_t len;
    ap_dbd_t *dbd;
    int rc, legacy;

    if ((rc = secauth_require_enrollment(r, &claims)) != OK) {
        return rc;
    }
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    format = query_format(r);
    if (!format) {
        format = secauth_accepts(r, "image/svg+xml") ? "svg"
               : secauth_accepts(r, "application/json") ? "json" : "png";
    }
    if (strcmp(format, "png") && strcmp(format, "svg") && strcmp(format, "json")) {
        secauth_field_error(req, "format", "must be png, svg or json");
        return secauth_send_field_errors(req);
    }
    if (!(name = secauth_username_normalize(r->pool, req->param))) {
        secauth_field_error(req, "username", secauth_username_problem(req->param));
        return secauth_send_field_errors(req);
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if ((rc = pending_account(req, dbd, &claims, name, &row)) != OK || !row) {
        return rc;
    }
    if (secauth_account_open_secret(r->pool, req->conf, atoi(row[U_ID]), row[U_NAME],
                                    row[U_SECRET], &secret, &len, &legacy) != 0) {
        return server_error(r, apr_psprintf(r->pool, "the TOTP secret of %s does not open "
                                            "(wrong SecAuthEncryptionKeyFile?)", row[U_NAME]));
    }
    uri = secauth_otpauth_uri(r->pool, req->conf->totp_issuer, row[U_NAME],
                              secauth_base32_encode(r->pool, secret, len));
    OPENSSL_cleanse(secret, len);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(612)
                  "mod_secauth: enrolment QR code (%s) of %s fetched from %s", format,
                  row[U_NAME], secauth_client_ip(r));
    if (!strcmp(format, "json")) {
        return secauth_send_json(r, HTTP_OK, json_pack("{s:s}", "otpauth_uri", uri));
    }
    if (!strcmp(format, "svg")) {
        const char *svg = secauth_qr_svg(r->pool, uri);
        return svg ? secauth_send_bytes(r, HTTP_OK, "image/svg+xml", svg, strlen(svg))
                   : server_error(r, "QR rendering failed");
    }
    {
        const unsigned char *png;
        apr_size_t png_len;
        if (secauth_qr_png(r->pool, uri, &png, &png_len) != 0) {
            return server_error(r, "QR rendering failed");
        }
        return secauth_send_bytes(r, HTTP_OK, "image/png", png, png_len);
    }
}

/* Confirms enrolment at step and replaces the recovery codes, all or nothing, while the row is
 * as read (same generation and secret). Returns 1 when confirmed, 0 when the row no longer
 * qualified (confirmed or reset meanwhile, or step used). */
static int confirm_enrolment(secauth_req_t *req, ap_dbd_t *dbd, const char *const *row,
                             apr_int64_t step, const char *const *hashes)
{
    request_rec *r = req->r;
    const char *now = secauth_db_time(r->pool, apr_time_now());
    apr_int64_t generation = row[U_GENERATION] ? apr_atoi64(row[U_GENERATION]) : 0;
    apr_dbd_transaction_t *txn = NULL;
    const void *args[6];
    int rc, affected = 0, i, user_id = atoi(row[U_ID]);

    if (secauth_db_begin(r, dbd, &txn) != SECAUTH_DB_OK) {
        return SECAUTH_DB_ERROR;
    }
    args[0] = &step;
    args[1] = now;
    args[2] = &user_id;
    args[3] = &step;
    args[4] = &generation;
    args[5] = row[U_SECRET];
    rc = secauth_db_exec(r, dbd, "secauth_acct_confirm", args, &affected);
    if (rc == SECAUTH_DB_OK && affected == 1) {
        secauth_rows_t left;
        args[0] = &user_id;
        /* A DELETE that matches nothing still takes InnoDB gap locks, and two enrolments
         * inserting their codes next to each other's locked gaps deadlock: delete only what
         * is there (codes left over from an earlier enrolment) */
        rc = secauth_db_select(r, dbd, "secauth_acct_codes_count", args, &left);
        if (rc == SECAUTH_DB_OK && left.nrows == 1 && left.rows[0][0] && atoi(left.rows[0][0]) > 0) {
            rc = secauth_db_exec(r, dbd, "secauth_acct_codes_clear", args, NULL);
        }
        for (i = 0; i < RECOVERY_CODES && rc == SECAUTH_DB_OK; i++) {
            args[1] = hashes[i];
            rc = secauth_db_exec(r, dbd, "secauth_acct_code_add", args, NULL);
        }
    }
    if (secauth_db_end(r, dbd, txn, rc == SECAUTH_DB_OK && affected == 1) != SECAUTH_DB_OK) {
        rc = SECAUTH_DB_ERROR;
    }
    return rc != SECAUTH_DB_OK ? SECAUTH_DB_ERROR : affected == 1;
}

int secauth_verify_2fa(secauth_req_t *req)
{
    static const char *const allowed[] = {"username", "code", NULL};
    request_rec *r = req->r;
    const char *username, *code, **row, *shown[RECOVERY_CODES], *hashes[RECOVERY_CODES];
    secauth_claims_t claims;
    unsigned char *secret;
    long long matched;
    apr_size_t len;
    secauth_account_input_t in;
    ap_dbd_t *dbd;
    json_t *body, *list;
    int rc, legacy, user_id, i;

    if ((rc = secauth_require_enrollment(r, &claims)) != OK) {
        return rc;
    }
    if ((rc = secauth_read_object(req, allowed, &body)) != OK) {
        return rc;
    }
    secauth_verify_validate(r->pool, body, &in, field_errors(req));
    if (has_field_errors(req)) {
        return secauth_send_field_errors(req);
    }
    username = in.username;
    code = in.code;
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if ((rc = pending_account(req, dbd, &claims, username, &row)) != OK || !row) {
        return rc;
    }
    user_id = atoi(row[U_ID]);
    if ((rc = secauth_account_claim_attempt(req, dbd, user_id, row[U_NAME],
                                            apr_atoi64(row[U_LOCKED]))) != OK) {
        return rc;
    }
    if (secauth_account_open_secret(r->pool, req->conf, user_id, row[U_NAME], row[U_SECRET],
                                    &secret, &len, &legacy) != 0) {
        return server_error(r, apr_psprintf(r->pool, "the TOTP secret of %s does not open "
                                            "(wrong SecAuthEncryptionKeyFile?)", row[U_NAME]));
    }
    rc = secauth_totp_verify(secret, len, code, apr_time_now(), req->conf->totp_skew, &matched);
    OPENSSL_cleanse(secret, len);
    if (rc) {
        if (recovery_make(r->pool, req->conf, shown, hashes) != 0) {
            return server_error(r, "no random bytes for recovery codes");
        }
        rc = confirm_enrolment(req, dbd, row, (apr_int64_t)matched, hashes);
        if (rc == SECAUTH_DB_ERROR) {
            return secauth_unavailable(r);
        }
        if (!rc) {
            /* lost a race: confirmed by a parallel request, reset by an admin (then the token
             * is revoked), or the step was used */
            if ((rc = pending_account(req, dbd, &claims, username, &row)) != OK || !row) {
                return rc;
            }
        }
    }
    secauth_metrics_enrolment_code(rc);
    if (!rc) {
        secauth_account_log_failure(req, dbd, user_id, row[U_NAME], "wrong enrolment code");
        return secauth_problem(r, HTTP_UNAUTHORIZED, "invalid code", NULL);
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(601)
                  "mod_secauth: two-factor enrolment of %s confirmed from %s; %d recovery codes "
                  "issued", row[U_NAME], secauth_client_ip(r), RECOVERY_CODES);
    list = json_array();
    for (i = 0; i < RECOVERY_CODES; i++) {
        json_array_append_new(list, json_string(shown[i]));
    }
    return secauth_send_json(r, HTTP_OK, json_pack("{s:b, s:o}", "verified", 1,
                                                   "recovery_codes", list));
}

/* ---- the second factor of login and password change ---- */

/* What an attempt offers as its second factor, for the account as read. */
typedef struct {
    int user_id;
    const char *username;
    const char *stored;       /* users.twofa_secret */
    const char *code;         /* a TOTP code, or NULL */
    const char *recovery;     /* a recovery code (login only), or NULL */
    int login;                /* counted in the login metrics, a replay logged */
} second_factor_t;

/* A plain secret from the Flask app is sealed once it has served; failing to store it only
 * postpones that to the next use. */
static void seal_legacy_secret(secauth_req_t *req, ap_dbd_t *dbd, const second_factor_t *f,
                               const unsigned char *secret, apr_size_t len)
{
    request_rec *r = req->r;
    const void *args[3];

    args[0] = secauth_account_seal_secret(r->pool, req->conf, f->user_id, f->username, secret,
                                          len);
    args[1] = &f->user_id;
    args[2] = f->stored;
    if (args[0] && secauth_db_exec(r, dbd, "secauth_acct_reseal", args, NULL) == SECAUTH_DB_OK) {
        return;
    }
    if (f->login) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SECAUTH_LOGNO(611)
                      "mod_secauth: could not seal the plain TOTP secret of %s", f->username);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SECAUTH_LOGNO(706)
                      "mod_secauth: could not seal the plain TOTP secret of %s", f->username);
    }
}

/* The TOTP code of f, accepted at most once: 1, 0 with *why, or SECAUTH_DB_ERROR. */
static int totp_factor(secauth_req_t *req, ap_dbd_t *dbd, const second_factor_t *f,
                       const char **why)
{
    request_rec *r = req->r;
    unsigned char *secret = NULL;
    apr_size_t len = 0;
    int rc, legacy = 0, replayed = 0;

    if (secauth_account_open_secret(r->pool, req->conf, f->user_id, f->username, f->stored,
                                    &secret, &len, &legacy) != 0) {
        if (f->login) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(613) "mod_secauth: the "
                          "TOTP secret of %s does not open (wrong SecAuthEncryptionKeyFile?)",
                          f->username);
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(707) "mod_secauth: the "
                          "TOTP secret of %s does not open (wrong SecAuthEncryptionKeyFile?)",
                          f->username);
        }
        *why = "unusable TOTP secret";
        return 0;
    }
    rc = secauth_account_accept_code(req, dbd, f->user_id, secret, len, f->code, &replayed);
    if (rc == 1 && legacy) {
        seal_legacy_secret(req, dbd, f, secret, len);
    }
    OPENSSL_cleanse(secret, len);
    if (f->login) {
        secauth_metrics_totp(rc, replayed);
        if (replayed) {
            ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(606)
                          "mod_secauth: replayed TOTP code for %s from %s", f->username,
                          secauth_client_ip(r));
        }
    }
    *why = replayed ? "replayed code" : "wrong code";
    return rc;
}

/* The second factor of an attempt whose password was right: a TOTP code used at most once (a
 * plain secret sealed on success) or a recovery code. 1 accepted, 0 refused with *why for the
 * failure log, SECAUTH_DB_ERROR. */
static int second_factor(secauth_req_t *req, ap_dbd_t *dbd, const second_factor_t *f,
                         const char **why)
{
    int rc;

    if (f->code) {
        return totp_factor(req, dbd, f, why);
    }
    if (!f->recovery) {
        *why = "no code given";
        return 0;
    }
    rc = recovery_use(req, dbd, f->user_id, f->recovery);
    secauth_metrics_recovery(rc);
    *why = "wrong or used recovery code";
    return rc;
}

/* ---- POST /login ---- */

static int login_failed(secauth_req_t *req, ap_dbd_t *dbd, const char *const *row,
                        const char *what)
{
    secauth_account_log_failure(req, dbd, atoi(row[U_ID]), row[U_NAME], what);
    return invalid_credentials(req->r);
}

/* After a successful login: the password re-hashed with the current parameters. Failing does
 * not spoil the login. */
static void rehash_password(secauth_req_t *req, ap_dbd_t *dbd, const char *const *row,
                            const char *password)
{
    request_rec *r = req->r;
    int user_id = atoi(row[U_ID]);
    const void *args[4];
    const char *hash;

    if (!secauth_password_needs_rehash(row[U_PASSWORD], &req->conf->argon2)) {
        return;
    }
    hash = secauth_password_hash(r->pool, &req->conf->argon2, password);
    args[0] = hash;
    args[1] = secauth_db_time(r->pool, apr_time_now());
    args[2] = &user_id;
    args[3] = row[U_PASSWORD];
    if (!hash || secauth_db_exec(r, dbd, "secauth_acct_rehash", args, NULL) != SECAUTH_DB_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SECAUTH_LOGNO(610)
                      "mod_secauth: could not re-hash the password of %s", row[U_NAME]);
    }
}

/* The right password of an account whose enrolment is pending, and nothing else looked at: 403
 * with a new enrolment token so that the owner can finish. */
static int enrolment_pending(secauth_req_t *req, ap_dbd_t *dbd, const char *const *row)
{
    request_rec *r = req->r;
    const char *token;

    if (secauth_account_clear_failures(req, dbd, atoi(row[U_ID])) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (!(token = issue_token(req, SECAUTH_TOKEN_ENROLL, row))) {
        return server_error(r, "could not sign an enrolment token");
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(607)
                  "mod_secauth: login of %s from %s: enrolment not confirmed, new "
                  "enrolment token issued", row[U_NAME], secauth_client_ip(r));
    return secauth_problem(r, HTTP_FORBIDDEN, "two-factor enrolment is not confirmed",
                           json_pack("{s:s, s:i}", "enrollment_token", token,
                                     "enrollment_expires_in", req->conf->token_lifetime));
}

int secauth_login(secauth_req_t *req)
{
    static const char *const allowed[] = {"username", "password", "code", "recovery_code",
                                          NULL};
    request_rec *r = req->r;
    const char **row, *token, *why = NULL;
    secauth_account_input_t in;
    second_factor_t factor;
    ap_dbd_t *dbd;
    json_t *body;
    int rc;

    if ((rc = secauth_read_object(req, allowed, &body)) != OK) {
        return rc;
    }
    secauth_login_validate(r->pool, body, &in, field_errors(req));
    if (has_field_errors(req)) {
        return secauth_send_field_errors(req);
    }
    if (!(dbd = secauth_db_acquire(r)) || lookup_user(req, dbd, in.username, &row) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (!row) {
        return unknown_login(req, dbd, in.username, in.password);
    }
    if ((rc = secauth_account_claim_attempt(req, dbd, atoi(row[U_ID]), row[U_NAME],
                                            apr_atoi64(row[U_LOCKED]))) != OK) {
        return rc;
    }
    if (!secauth_password_verify(r->pool, row[U_PASSWORD], in.password)) {
        return login_failed(req, dbd, row, "wrong password");
    }
    if (atoi(row[U_DISABLED])) {
        return login_failed(req, dbd, row, "account disabled");
    }
    if (!atoi(row[U_CONFIRMED])) {
        return enrolment_pending(req, dbd, row);
    }
    factor = (second_factor_t){atoi(row[U_ID]), row[U_NAME], row[U_SECRET], in.code,
                               in.recovery_code, 1};
    if ((rc = second_factor(req, dbd, &factor, &why)) != 1) {
        return rc == SECAUTH_DB_ERROR ? secauth_unavailable(r) : login_failed(req, dbd, row, why);
    }
    rehash_password(req, dbd, row, in.password);
    if (!(token = issue_token(req, SECAUTH_TOKEN_ACCESS, row))) {
        return server_error(r, "could not sign an access token");
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(602)
                  "mod_secauth: login of %s from %s with %s", row[U_NAME], secauth_client_ip(r),
                  in.code ? "a TOTP code" : "a recovery code");
    return secauth_send_json(r, HTTP_OK,
                             json_pack("{s:s, s:s, s:i}", "token", token, "token_type", "Bearer",
                                       "expires_in", req->conf->token_lifetime));
}

/* ---- POST /password ---- */

/* The columns of secauth_acct_password_user. */
enum { P_NAME, P_PASSWORD, P_SECRET, P_CONFIRMED, P_LOCKED, P_GENERATION, P_DISABLED,
       P_NOT_BEFORE, P_KEEP_JTI };

/* Logs the failure (counted like a failed login's, API.md §3) and answers 401. */
static int change_failed(secauth_req_t *req, ap_dbd_t *dbd, const char *what)
{
    secauth_account_log_failure(req, dbd, req->caller->user_id, req->caller->username,
                                apr_pstrcat(req->r->pool, "password change: ", what, NULL));
    return invalid_credentials(req->r);
}

/* The caller's token against its account as read now (columns of secauth_acct_password_user):
 * a disable or 2FA reset committed since the access check has revoked it, and the change must
 * not keep it alive. */
static int caller_revoked(const secauth_caller_t *caller, const char *const *row)
{
    secauth_claims_t claims;

    memset(&claims, 0, sizeof(claims));
    claims.jti = caller->jti;
    claims.iat = caller->iat;
    claims.gen = caller->gen;
    return atoi(row[P_DISABLED]) != 0
        || secauth_token_revoked(&claims, secauth_column_int(row[P_GENERATION]),
                                 secauth_column_int(row[P_NOT_BEFORE]), row[P_KEEP_JTI]);
}

/* The account of the caller, read now: OK with *row, else the status of the answer. */
static int password_account(secauth_req_t *req, ap_dbd_t *dbd, const char ***row)
{
    secauth_rows_t rows;
    const void *args[1];

    args[0] = &req->caller->user_id;
    if (secauth_db_select(req->r, dbd, "secauth_acct_password_user", args, &rows)
        != SECAUTH_DB_OK) {
        return secauth_unavailable(req->r);
    }
    if (rows.nrows != 1) {
        return invalid_credentials(req->r);
    }
    *row = rows.rows[0];
    return caller_revoked(req->caller, *row) ? secauth_refuse_token(req->r, "token revoked") : OK;
}

/* Everything that can be judged from the body alone, before anything is consumed: OK with
 * *in (password: the current one), else 400 recorded. */
static int password_input(secauth_req_t *req, secauth_account_input_t *in)
{
    static const char *const fields[] = {"current_password", "new_password", "code", NULL};
    json_t *body;
    int rc;

    if ((rc = secauth_read_object(req, fields, &body)) != OK) {
        return rc;
    }
    secauth_password_change_validate(req->r->pool, body, req->caller->username,
                                     req->conf->password_min_length,
                                     SECAUTH_PASSWORD_MAX_LENGTH, req->conf->common_passwords, in,
                                     field_errors(req));
    return has_field_errors(req) ? secauth_send_field_errors(req) : OK;
}

/* Every token issued so far dies (a new generation), but the caller's own session; only while
 * the row is as read. 204, or the answer when another change, a disable or a 2FA reset came
 * between: 401 "token revoked" when the caller's token died meanwhile, else counted like a
 * failure (another password change won). */
static int store_password(secauth_req_t *req, ap_dbd_t *dbd, const char *const *row,
                          const char *hash)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller = req->caller;
    apr_int64_t generation = secauth_column_int(row[P_GENERATION]);
    const void *args[6];
    const char **now_row;
    int affected = 0, rc;

    args[0] = hash;
    args[1] = caller->jti;
    args[2] = secauth_db_time(r->pool, apr_time_now());
    args[3] = &caller->user_id;
    args[4] = row[P_PASSWORD];
    args[5] = &generation;
    if (secauth_db_exec(r, dbd, "secauth_acct_password_set", args, &affected) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (affected != 1) {
        /* the account went away or the caller's token died meanwhile: "token revoked" */
        rc = password_account(req, dbd, &now_row);
        return rc == OK ? change_failed(req, dbd, "password changed meanwhile")
             : rc == HTTP_UNAUTHORIZED ? secauth_refuse_token(r, "token revoked") : rc;
    }
    secauth_cache_changed_id(SECAUTH_CACHE_USER, caller->user_id);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(704)
                  "mod_secauth: %s (id %d) from %s changed the password; every other token "
                  "revoked", caller->username, caller->user_id, secauth_client_ip(r));
    return secauth_send_bytes(r, HTTP_NO_CONTENT, NULL, NULL, 0);
}

int secauth_password_change(secauth_req_t *req)
{
    request_rec *r = req->r;
    const char *hash, **row, *why = NULL;
    secauth_account_input_t in;
    second_factor_t factor;
    ap_dbd_t *dbd;
    int rc;

    if ((rc = secauth_require_caller(r, &req->caller)) != OK
        || (rc = password_input(req, &in)) != OK) {
        return rc;
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if ((rc = password_account(req, dbd, &row)) != OK) {
        return rc;
    }
    /* locked: 429 with Retry-After, even with the right credentials */
    if ((rc = secauth_account_claim_attempt(req, dbd, req->caller->user_id, row[P_NAME],
                                            secauth_column_int(row[P_LOCKED]))) != OK) {
        return rc;
    }
    /* the same order as login: the password, then the code, which a success consumes */
    if (!secauth_password_verify(r->pool, row[P_PASSWORD], in.password)) {
        return change_failed(req, dbd, "wrong password");
    }
    if (atoi(row[P_CONFIRMED]) == 0) {
        /* the password was right: not a failure */
        if (secauth_account_clear_failures(req, dbd, req->caller->user_id) != SECAUTH_DB_OK) {
            return secauth_unavailable(r);
        }
        return secauth_problem(r, HTTP_FORBIDDEN, "two-factor enrolment is not confirmed", NULL);
    }
    /* hashed before the code is consumed, so that a failure here leaves the code usable */
    if (!(hash = secauth_password_hash(r->pool, &req->conf->argon2, in.new_password))) {
        return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR, "password hashing failed", NULL);
    }
    factor = (second_factor_t){req->caller->user_id, row[P_NAME], row[P_SECRET], in.code, NULL,
                               0};
    if ((rc = second_factor(req, dbd, &factor, &why)) != 1) {
        return rc == SECAUTH_DB_ERROR ? secauth_unavailable(r) : change_failed(req, dbd, why);
    }
    return store_password(req, dbd, row, hash);
}

/* ---- POST /logout, GET /me ---- */

/* The routes of a signed-in caller: OK with the caller and the request's connection, else the
 * status of the answer. */
static int signed_in(secauth_req_t *req, const secauth_caller_t **caller, ap_dbd_t **dbd)
{
    int rc = secauth_require_caller(req->r, caller);

    if (rc != OK) {
        return rc;
    }
    return (*dbd = secauth_db_acquire(req->r)) ? OK : secauth_unavailable(req->r);
}

int secauth_logout(secauth_req_t *req)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    apr_int64_t until, now = secauth_now_sec();
    const void *args[3];
    ap_dbd_t *dbd;
    int rc;

    if ((rc = signed_in(req, &caller, &dbd)) != OK) {
        return rc;
    }
    /* kept while the token could still pass verification, clock skew included */
    until = caller->exp + req->conf->clock_skew;
    args[0] = caller->jti;
    args[1] = &caller->user_id;
    args[2] = &until;
    rc = secauth_db_exec(r, dbd, "secauth_acct_revoke", args, NULL);
    if (rc == SECAUTH_DB_ERROR) {
        return secauth_unavailable(r);
    }
    secauth_cache_changed(SECAUTH_CACHE_TOKEN, caller->jti);
    args[0] = &now;
    (void)secauth_db_exec(r, dbd, "secauth_acct_revoked_purge", args, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(608)
                  "mod_secauth: logout of %s from %s", caller->username, secauth_client_ip(r));
    return secauth_send_bytes(r, HTTP_NO_CONTENT, NULL, NULL, 0);
}

int secauth_me(secauth_req_t *req)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    secauth_rows_t rows;
    const void *args[1];
    ap_dbd_t *dbd;
    int rc;

    if ((rc = signed_in(req, &caller, &dbd)) != OK) {
        return rc;
    }
    args[0] = &caller->user_id;
    if (secauth_db_select(r, dbd, "secauth_acct_me", args, &rows) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    if (rows.nrows != 1) {
        return secauth_problem(r, HTTP_NOT_FOUND, "the account no longer exists", NULL);
    }
    return secauth_send_json(r, HTTP_OK,
                             json_pack("{s:i, s:s, s:s, s:s}", "id", atoi(rows.rows[0][0]),
                                       "username", rows.rows[0][1], "role", rows.rows[0][2],
                                       "created_at",
                                       secauth_db_iso_time(r->pool, rows.rows[0][3])));
}
