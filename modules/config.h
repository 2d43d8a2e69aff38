/* config.h — the module's server configuration: the directives of API.md §8, their defaults
 * (applied in one place, at post_config: config.c's apply_defaults) and startup validation. */
#ifndef SECAUTH_CONFIG_H
#define SECAUTH_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include <apr_hash.h>

#include "password.h"
#include "token.h"

#define SECAUTH_UNSET -1

typedef struct {
    int used;                         /* some SecAuth directive applies to this server */
    int own_database;                 /* a virtual host with a database of its own (set at
                                       * post_config): the per-node cache, which follows the
                                       * main server's database, is not used for it */

    /* tokens */
    int alg;                          /* secauth_alg_e, or SECAUTH_UNSET */
    apr_array_header_t *key_specs;    /* of secauth_key_spec_t, as written */
    secauth_token_config_t token;     /* resolved at post_config */
    const char *issuer;
    const char *audience;
    int token_lifetime;
    int clock_skew;

    /* secrets at rest */
    const char *encryption_key_file;
    const unsigned char *encryption_key; /* 32 bytes, read at post_config */

    /* TOTP */
    const char *totp_issuer;
    int totp_skew;

    /* passwords */
    secauth_argon2_params_t argon2;   /* m_cost 0 = unset */
    int password_min_length;
    int hash_concurrency;             /* argon2id hashes at once per process */
    const char *common_passwords_file;
    apr_hash_t *common_passwords;
    const char *dummy_hash;

    /* throttling */
    int lockout_failures;
    int lockout_first_delay;
    int lockout_max_delay;
    int register_limit;               /* registrations per client address per window; 0 off */
    int register_window;              /* seconds */

    apr_off_t max_body;

    /* administration */
    const char *bootstrap_admin;

    /* database */
    const char *db_driver;            /* "mysql" or "sqlite3", from DBDriver */
    int db_retry_after;               /* Retry-After seconds sent with 503 */
} secauth_server_conf_t;

typedef struct {
    const char *path;
    const char *kid;
} secauth_key_spec_t;

#define SECAUTH_PASSWORD_MAX_LENGTH 128

void *secauth_create_server_conf(apr_pool_t *p, server_rec *s);
void *secauth_merge_server_conf(apr_pool_t *p, void *base, void *add);

/* Defaults, key files, common-password list, derived values; logs and returns an error status
 * naming the directive when something is wrong. */
int secauth_config_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* The directive table (referenced by the module record). */
extern const command_rec secauth_directives[];

/* Per directory: where the API is mounted, from the <Location> that says "SetHandler secauth". */
typedef struct {
    const char *mount;                /* "" for <Location />, "/api"...; NULL: not under one */
} secauth_dir_conf_t;

void *secauth_create_dir_conf(apr_pool_t *p, char *dir);
void *secauth_merge_dir_conf(apr_pool_t *p, void *base, void *add);
secauth_dir_conf_t *secauth_dir_config(const request_rec *r);

secauth_server_conf_t *secauth_server_config(const server_rec *s);

/* Whether the module's statements are prepared for server s itself: the main server, and a
 * <VirtualHost> with SecAuth directives and a database (DBDriver/DBDParams) of its own. Other
 * virtual hosts share the main server's connections and statements, or have a database the
 * module does not use (mod_dbd would drop every connection on which a statement fails). */
int secauth_config_prepares_here(const server_rec *main_server, const server_rec *s);

#endif
