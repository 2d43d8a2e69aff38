/* config.c — directive handlers, create/merge of the server configuration, and the startup
 * checks that turn every bad value into a clear message naming the directive. */
#include "config.h"
#include "cache.h"

#include "http_log.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_lib.h"
#include "log.h"

#include <sys/stat.h>
#include <unistd.h>

APLOG_USE_MODULE(secauth);

extern module AP_MODULE_DECLARE_DATA secauth_module;

secauth_server_conf_t *secauth_server_config(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &secauth_module);
}

/* ---- per directory: where the API is mounted ---- */

void *secauth_create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(secauth_dir_conf_t));
}

/* The innermost mount wins: of the <Location>s that apply to a request and say "SetHandler
 * secauth" (those of the main server and of the virtual host alike), the longest path. */
void *secauth_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    secauth_dir_conf_t *base = basev, *add = addv, *conf = apr_pcalloc(p, sizeof(*conf));

    conf->mount = !add->mount ? base->mount
                : !base->mount || strlen(add->mount) >= strlen(base->mount) ? add->mount
                : base->mount;
    return conf;
}

/* SetHandler, seen on its way to httpd's core (DECLINE_CMD passes it on): the path of the
 * <Location> that mounts the API ("" for <Location />) is that section's mount. */
static const char *note_handler(cmd_parms *cmd, void *dirv, const char *args)
{
    secauth_dir_conf_t *dir = dirv;
    const ap_directive_t *section = cmd->directive ? cmd->directive->parent : NULL;
    const char *handler = ap_getword_conf(cmd->temp_pool, &args);
    char *mount;
    apr_size_t n;

    if (dir && cmd->path && section && !strcasecmp(section->directive, "<Location")
        && !strcasecmp(handler, "secauth")) {
        mount = apr_pstrdup(cmd->pool, cmd->path);
        for (n = strlen(mount); n && mount[n - 1] == '/'; n--) {
            mount[n - 1] = '\0';
        }
        dir->mount = mount;
    }
    return DECLINE_CMD;
}

secauth_dir_conf_t *secauth_dir_config(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &secauth_module);
}

void *secauth_create_server_conf(apr_pool_t *p, server_rec *s)
{
    secauth_server_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    (void)s;
    conf->alg = SECAUTH_UNSET;
    conf->key_specs = apr_array_make(p, 2, sizeof(secauth_key_spec_t));
    conf->token_lifetime = SECAUTH_UNSET;
    conf->clock_skew = SECAUTH_UNSET;
    conf->totp_skew = SECAUTH_UNSET;
    conf->password_min_length = SECAUTH_UNSET;
    conf->hash_concurrency = SECAUTH_UNSET;
    conf->lockout_failures = SECAUTH_UNSET;
    conf->lockout_first_delay = SECAUTH_UNSET;
    conf->lockout_max_delay = SECAUTH_UNSET;
    conf->register_limit = SECAUTH_UNSET;
    conf->register_window = SECAUTH_UNSET;
    conf->max_body = SECAUTH_UNSET;
    return conf;
}

#define MERGE_INT(f) conf->f = (add->f != SECAUTH_UNSET) ? add->f : base->f
#define MERGE_PTR(f) conf->f = add->f ? add->f : base->f

void *secauth_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    secauth_server_conf_t *base = basev, *add = addv;
    secauth_server_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->used = base->used || add->used;
    MERGE_INT(alg);
    conf->key_specs = add->key_specs->nelts ? add->key_specs : base->key_specs;
    MERGE_PTR(issuer);
    MERGE_PTR(audience);
    MERGE_INT(token_lifetime);
    MERGE_INT(clock_skew);
    MERGE_PTR(encryption_key_file);
    MERGE_PTR(totp_issuer);
    MERGE_INT(totp_skew);
    conf->argon2 = add->argon2.m_cost ? add->argon2 : base->argon2;
    MERGE_INT(password_min_length);
    MERGE_INT(hash_concurrency);
    MERGE_PTR(common_passwords_file);
    MERGE_INT(lockout_failures);
    MERGE_INT(lockout_first_delay);
    MERGE_INT(lockout_max_delay);
    MERGE_INT(register_limit);
    MERGE_INT(register_window);
    MERGE_INT(max_body);
    MERGE_PTR(bootstrap_admin);
    return conf;
}

/* OWASP's argon2id costs: SecAuthPasswordHash's default, and that of a parameter it leaves out. */
static const secauth_argon2_params_t default_argon2 = {19456, 2, 1};

static secauth_server_conf_t *cmd_conf(cmd_parms *cmd)
{
    secauth_server_conf_t *conf = secauth_server_config(cmd->server);
    conf->used = 1;
    return conf;
}

/* Parses a decimal integer in [min, max]; NULL on success, else the message. */
static const char *parse_int_range(cmd_parms *cmd, const char *arg, int min, int max, int *out)
{
    char *end;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be an integer from %d to %d",
                            cmd->cmd->name, arg, min, max);
    }
    *out = (int)v;
    return NULL;
}

static const char *set_algorithm(cmd_parms *cmd, void *dummy, const char *arg)
{
    secauth_alg_e alg;
    (void)dummy;
    if (secauth_alg_parse(arg, &alg) != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not one of HS256, RS256, ES256",
                            cmd->cmd->name, arg);
    }
    cmd_conf(cmd)->alg = alg;
    return NULL;
}

static int valid_kid(const char *kid)
{
    const char *c;
    if (!*kid || strlen(kid) > 64) {
        return 0;
    }
    for (c = kid; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.') {
            return 0;
        }
    }
    return 1;
}

static const char *set_key(cmd_parms *cmd, void *dummy, const char *path, const char *kid)
{
    secauth_server_conf_t *conf = cmd_conf(cmd);
    secauth_key_spec_t *spec;
    int i;
    (void)dummy;

    if (!kid) {
        kid = apr_psprintf(cmd->pool, "k%d", conf->key_specs->nelts + 1);
    }
    if (!valid_kid(kid)) {
        return apr_psprintf(cmd->pool, "%s: key id '%s' must be 1-64 characters of "
                            "[A-Za-z0-9._-]", cmd->cmd->name, kid);
    }
    for (i = 0; i < conf->key_specs->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(conf->key_specs, i, secauth_key_spec_t).kid, kid)) {
            return apr_psprintf(cmd->pool, "%s: key id '%s' is used twice", cmd->cmd->name, kid);
        }
    }
    spec = apr_array_push(conf->key_specs);
    spec->path = ap_server_root_relative(cmd->pool, path);
    spec->kid = kid;
    return NULL;
}

/* A string directive: cmd->info is the offset of its field (as mod_dbd's directives). */
static const char *set_string(cmd_parms *cmd, void *dummy, const char *arg)
{
    (void)dummy;
    if (!*arg) {
        return apr_psprintf(cmd->pool, "%s must not be empty", cmd->cmd->name);
    }
    *(const char **)((char *)cmd_conf(cmd) + (apr_size_t)cmd->info) = arg;
    return NULL;
}

/* A file directive: the path relative to ServerRoot, at the offset cmd->info. */
static const char *set_path(cmd_parms *cmd, void *dummy, const char *arg)
{
    (void)dummy;
    if (!*arg) {
        return apr_psprintf(cmd->pool, "%s must not be empty", cmd->cmd->name);
    }
    *(const char **)((char *)cmd_conf(cmd) + (apr_size_t)cmd->info)
        = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_totp_issuer(cmd_parms *cmd, void *dummy, const char *arg)
{
    if (strchr(arg, ':')) {
        return apr_psprintf(cmd->pool, "%s must not contain ':'", cmd->cmd->name);
    }
    return set_string(cmd, dummy, arg);
}

static const char *set_bootstrap_admin(cmd_parms *cmd, void *dummy, const char *arg)
{
    char *name = apr_pstrdup(cmd->pool, arg);

    ap_str_tolower(name);
    return set_string(cmd, dummy, name);
}

/* An integer directive: cmd->info is its slot, the field's offset and the accepted range. */
typedef struct {
    apr_size_t offset;
    int min;
    int max;
} int_slot_t;

#define SLOT(field) APR_OFFSETOF(secauth_server_conf_t, field)
static const int_slot_t token_lifetime_slot = {SLOT(token_lifetime), 30, 86400};
static const int_slot_t clock_skew_slot = {SLOT(clock_skew), 0, 300};
static const int_slot_t totp_skew_slot = {SLOT(totp_skew), 0, 10};
static const int_slot_t password_min_length_slot = {SLOT(password_min_length), 8,
                                                    SECAUTH_PASSWORD_MAX_LENGTH};
static const int_slot_t hash_concurrency_slot = {SLOT(hash_concurrency), 1, 1024};

static const char *set_int(cmd_parms *cmd, void *dummy, const char *arg)
{
    const int_slot_t *slot = cmd->info;
    (void)dummy;

    return parse_int_range(cmd, arg, slot->min, slot->max,
                           (int *)((char *)cmd_conf(cmd) + slot->offset));
}

static const char *set_max_body(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err;
    int v;
    (void)dummy;

    if (!(err = parse_int_range(cmd, arg, 1024, 16 * 1024 * 1024, &v))) {
        cmd_conf(cmd)->max_body = v;
    }
    return err;
}

static const char *set_password_hash(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    secauth_server_conf_t *conf = cmd_conf(cmd);
    secauth_argon2_params_t params = default_argon2;
    int i, v;
    const char *err;
    (void)dummy;

    if (argc < 1 || strcmp(argv[0], "argon2id")) {
        return apr_psprintf(cmd->pool, "%s: the only scheme is argon2id, e.g. "
                            "'argon2id m=19456 t=2 p=1'", cmd->cmd->name);
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "m=", 2)) {
            if ((err = parse_int_range(cmd, a + 2, 8, (int)SECAUTH_ARGON2_MAX_M, &v))) return err;
            params.m_cost = v;
        }
        else if (!strncmp(a, "t=", 2)) {
            if ((err = parse_int_range(cmd, a + 2, 1, (int)SECAUTH_ARGON2_MAX_T, &v))) return err;
            params.t_cost = v;
        }
        else if (!strncmp(a, "p=", 2)) {
            if ((err = parse_int_range(cmd, a + 2, 1, (int)SECAUTH_ARGON2_MAX_P, &v))) return err;
            params.parallelism = v;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: unknown parameter '%s' (use m=, t=, p=)",
                                cmd->cmd->name, a);
        }
    }
    if (params.m_cost < 8 * params.parallelism) {
        return apr_psprintf(cmd->pool, "%s: m must be at least 8 * p", cmd->cmd->name);
    }
    conf->argon2 = params;
    return NULL;
}

static const char *set_lockout(cmd_parms *cmd, void *dummy, const char *failures,
                               const char *first, const char *longest)
{
    secauth_server_conf_t *conf = cmd_conf(cmd);
    const char *err;
    (void)dummy;

    if ((err = parse_int_range(cmd, failures, 1, 1000, &conf->lockout_failures))
        || (err = parse_int_range(cmd, first, 1, 86400, &conf->lockout_first_delay))
        || (err = parse_int_range(cmd, longest, 1, 7 * 86400, &conf->lockout_max_delay))) {
        return err;
    }
    if (conf->lockout_max_delay < conf->lockout_first_delay) {
        return apr_psprintf(cmd->pool, "%s: the longest delay (%s) is shorter than the first (%s)",
                            cmd->cmd->name, longest, first);
    }
    return NULL;
}

static const char *set_register_limit(cmd_parms *cmd, void *dummy, const char *count,
                                      const char *seconds)
{
    secauth_server_conf_t *conf = cmd_conf(cmd);
    const char *err;
    (void)dummy;

    if (!strcasecmp(count, "off") && !seconds) {
        conf->register_limit = 0;
        conf->register_window = 0;
        return NULL;
    }
    if (!seconds) {
        return apr_psprintf(cmd->pool, "%s takes COUNT SECONDS (e.g. 20 3600) or off",
                            cmd->cmd->name);
    }
    if ((err = parse_int_range(cmd, count, 1, 1000000, &conf->register_limit))
        || (err = parse_int_range(cmd, seconds, 1, 86400, &conf->register_window))) {
        return err;
    }
    return NULL;
}

const command_rec secauth_directives[] = {
    AP_INIT_TAKE1("SecAuthJWTAlgorithm", set_algorithm, NULL, RSRC_CONF,
                  "HS256 (default), RS256 or ES256"),
    AP_INIT_TAKE12("SecAuthJWTKey", set_key, NULL, RSRC_CONF,
                   "key file and key id; repeat for rotation, the first one signs"),
    AP_INIT_TAKE1("SecAuthIssuer", set_string, (void *)SLOT(issuer), RSRC_CONF, "the tokens' iss"),
    AP_INIT_TAKE1("SecAuthAudience", set_string, (void *)SLOT(audience),
                  RSRC_CONF, "the tokens' aud"),
    AP_INIT_TAKE1("SecAuthTokenLifetime", set_int, (void *)&token_lifetime_slot, RSRC_CONF,
                  "token lifetime in seconds (default 600)"),
    AP_INIT_TAKE1("SecAuthClockSkew", set_int, (void *)&clock_skew_slot, RSRC_CONF,
                  "leeway in seconds for exp/nbf/iat (default 30, at most 300)"),
    AP_INIT_TAKE1("SecAuthEncryptionKeyFile", set_path, (void *)SLOT(encryption_key_file),
                  RSRC_CONF,
                  "file of exactly 32 random bytes that seals TOTP secrets"),
    AP_INIT_TAKE1("SecAuthTOTPIssuer", set_totp_issuer, (void *)SLOT(totp_issuer), RSRC_CONF,
                  "issuer label shown by authenticator apps (default SecAuth)"),
    AP_INIT_TAKE1("SecAuthTOTPSkew", set_int, (void *)&totp_skew_slot, RSRC_CONF,
                  "accepted TOTP steps either side of now (default 1)"),
    AP_INIT_TAKE_ARGV("SecAuthPasswordHash", set_password_hash, NULL, RSRC_CONF,
                      "argon2id m=KiB t=iterations p=lanes (default m=19456 t=2 p=1)"),
    AP_INIT_TAKE1("SecAuthHashConcurrency", set_int, (void *)&hash_concurrency_slot, RSRC_CONF,
                  "argon2id hashes run at once per process (default: the number of CPUs)"),
    AP_INIT_TAKE1("SecAuthPasswordMinLength", set_int, (void *)&password_min_length_slot,
                  RSRC_CONF,
                  "minimum password length in characters (default 12)"),
    AP_INIT_TAKE1("SecAuthCommonPasswords", set_path, (void *)SLOT(common_passwords_file),
                  RSRC_CONF,
                  "file of common passwords to refuse, one a line"),
    AP_INIT_TAKE3("SecAuthLockout", set_lockout, NULL, RSRC_CONF,
                  "failures before lockout, first delay (s), longest delay (s); default 5 60 900"),
    AP_INIT_TAKE12("SecAuthRegisterLimit", set_register_limit, NULL, RSRC_CONF,
                   "registrations per client address per SECONDS, or off; default 20 3600"),
    AP_INIT_TAKE1("SecAuthMaxBody", set_max_body, NULL, RSRC_CONF,
                  "largest accepted request body in bytes (default 65536)"),
    AP_INIT_TAKE1("SecAuthBootstrapAdmin", set_bootstrap_admin, (void *)SLOT(bootstrap_admin),
                  RSRC_CONF,
                  "an existing account promoted to admin at startup"),
    AP_INIT_RAW_ARGS("SetHandler", note_handler, NULL, OR_FILEINFO,
                     "seen by mod_secauth for the mount point of the API, then handled by httpd"),
    SECAUTH_CACHE_DIRECTIVES,
    {NULL}
};

/* Reads a whole small file; warns when others may read it. NULL and *err on failure. */
static unsigned char *read_secret_file(apr_pool_t *p, server_rec *s, const char *directive,
                                       const char *path, apr_size_t *len, const char **err)
{
    apr_file_t *f;
    apr_finfo_t finfo;
    unsigned char *buf;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        char msg[120];
        *err = apr_psprintf(p, "%s: cannot read %s: %s", directive, path,
                            apr_strerror(rv, msg, sizeof(msg)));
        return NULL;
    }
    apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_PROT, f);
    if (finfo.size > 64 * 1024) {
        apr_file_close(f);
        *err = apr_psprintf(p, "%s: %s is larger than 64 KiB", directive, path);
        return NULL;
    }
    buf = apr_palloc(p, (apr_size_t)finfo.size + 1);
    *len = 0;
    rv = apr_file_read_full(f, buf, (apr_size_t)finfo.size, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "%s: cannot read %s", directive, path);
        return NULL;
    }
    buf[*len] = '\0';
    if (finfo.protection & APR_WREAD) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(501)
                     "%s: %s is readable by every user of this machine; "
                     "chmod 600 it (or 640 with the server's group)", directive, path);
    }
    return buf;
}

static const char *load_keys(apr_pool_t *p, server_rec *s, secauth_server_conf_t *conf)
{
    int i;
    const char *err;

    conf->token.alg = conf->alg;
    conf->token.keys = apr_array_make(p, conf->key_specs->nelts, sizeof(secauth_key_t));
    for (i = 0; i < conf->key_specs->nelts; i++) {
        secauth_key_spec_t *spec = &APR_ARRAY_IDX(conf->key_specs, i, secauth_key_spec_t);
        secauth_key_t *key = apr_array_push(conf->token.keys);
        const unsigned char *data;
        apr_size_t len;

        if (!(data = read_secret_file(p, s, "SecAuthJWTKey", spec->path, &len, &err))) {
            return err;
        }
        if ((err = secauth_key_parse(p, conf->alg, spec->path, spec->kid, data, len, key))) {
            return apr_psprintf(p, "SecAuthJWTKey %s (%s): %s", spec->path, spec->kid, err);
        }
        if (i == 0 && !key->can_sign) {
            return apr_psprintf(p, "SecAuthJWTKey %s: the first key signs tokens, so it must "
                                "be a private key", spec->path);
        }
    }
    return NULL;
}

static const char *load_encryption_key(apr_pool_t *p, server_rec *s, secauth_server_conf_t *conf)
{
    apr_size_t len;
    const char *err;
    const unsigned char *key;

    if (!conf->encryption_key_file) {
        return "SecAuthEncryptionKeyFile is required: a file of 32 random bytes "
               "(head -c 32 /dev/urandom > totp.key)";
    }
    key = read_secret_file(p, s, "SecAuthEncryptionKeyFile", conf->encryption_key_file,
                           &len, &err);
    if (!key) {
        return err;
    }
    if (len != 32) {
        return apr_psprintf(p, "SecAuthEncryptionKeyFile: %s holds %" APR_SIZE_T_FMT
                            " bytes; it must hold exactly 32", conf->encryption_key_file, len);
    }
    conf->encryption_key = key;
    return NULL;
}

/* The one place where defaults are applied: create leaves every field unset (SECAUTH_UNSET or
 * NULL), merge keeps what the virtual host sets over what it inherits, and this fills the rest
 * at post_config. */
static void apply_defaults(secauth_server_conf_t *conf)
{
    if (conf->alg == SECAUTH_UNSET) conf->alg = SECAUTH_ALG_HS256;
    if (!conf->issuer) conf->issuer = "secauth";
    if (!conf->audience) conf->audience = "secauth-api";
    if (conf->token_lifetime == SECAUTH_UNSET) conf->token_lifetime = 600;
    if (conf->clock_skew == SECAUTH_UNSET) conf->clock_skew = 30;
    if (!conf->totp_issuer) conf->totp_issuer = "SecAuth";
    if (conf->totp_skew == SECAUTH_UNSET) conf->totp_skew = 1;
    if (!conf->argon2.m_cost) conf->argon2 = default_argon2;
    if (conf->password_min_length == SECAUTH_UNSET) conf->password_min_length = 12;
    if (conf->hash_concurrency == SECAUTH_UNSET) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        conf->hash_concurrency = cpus > 0 ? (int)cpus : 1;
    }
    if (!conf->common_passwords_file) conf->common_passwords_file = SECAUTH_DATADIR "/common-passwords.txt";
    if (conf->lockout_failures == SECAUTH_UNSET) {
        conf->lockout_failures = 5;
        conf->lockout_first_delay = 60;
        conf->lockout_max_delay = 900;
    }
    if (conf->register_limit == SECAUTH_UNSET) {
        conf->register_limit = 20;
        conf->register_window = 3600;
    }
    if (conf->max_body == SECAUTH_UNSET) conf->max_body = 65536;
    conf->db_retry_after = 5;
    conf->token.issuer = conf->issuer;
    conf->token.audience = conf->audience;
    conf->token.lifetime = conf->token_lifetime;
    conf->token.clock_skew = conf->clock_skew;
}

/* The argument of the last directive name below node, not looking inside <VirtualHost>
 * blocks: what applies to the server the block belongs to (the last one wins, as in mod_dbd). */
static const char *find_directive_arg(const ap_directive_t *node, const char *name)
{
    const char *last = NULL;

    for (; node; node = node->next) {
        const char *found;
        if (!strcasecmp(node->directive, name)) {
            last = node->args;
        }
        else if (node->first_child && strcasecmp(node->directive, "<VirtualHost")
                 && (found = find_directive_arg(node->first_child, name))) {
            last = found;
        }
    }
    return last;
}

/* The <VirtualHost> block that defined s (its file and line), or NULL. */
static const ap_directive_t *vhost_block(const ap_directive_t *node, const server_rec *s)
{
    for (; node; node = node->next) {
        const ap_directive_t *found;
        if (!strcasecmp(node->directive, "<VirtualHost")
            && (unsigned)node->line_num == s->defn_line_number
            && node->filename && s->defn_name && !strcmp(node->filename, s->defn_name)) {
            return node;
        }
        if (node->first_child && (found = vhost_block(node->first_child, s))) {
            return found;
        }
    }
    return NULL;
}

/* The DBDriver of server s, "mysql" or "sqlite3": the SQL the module prepares differs a little
 * between drivers, and mod_dbd keeps its configuration private, so it is read from the
 * configuration tree: the server's own <VirtualHost> block, else the main server's. */
static const char *server_driver(const server_rec *s)
{
    const ap_directive_t *block = s->is_virtual ? vhost_block(ap_conftree, s) : NULL;
    const char *driver = block ? find_directive_arg(block->first_child, "DBDriver") : NULL;

    if (!driver) {
        driver = find_directive_arg(ap_conftree, "DBDriver");
    }
    return (driver && !strncasecmp(driver, "sqlite", 6)) ? "sqlite3" : "mysql";
}

int secauth_config_prepares_here(const server_rec *main_server, const server_rec *s)
{
    const ap_directive_t *block;

    if (!s->is_virtual) {
        return 1;
    }
    /* httpd gives a virtual host a configuration of its own only when one of the module's
     * directives appears in it; otherwise it uses the main server's very object */
    if (secauth_server_config(s) == secauth_server_config(main_server)) {
        return 0;
    }
    block = vhost_block(ap_conftree, s);
    return block && (find_directive_arg(block->first_child, "DBDriver")
                     || find_directive_arg(block->first_child, "DBDParams"));
}

int secauth_config_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;
    (void)ptemp;

    for (vs = s; vs; vs = vs->next) {
        secauth_server_conf_t *conf = secauth_server_config(vs);
        const char *err = NULL;

        if (vs != s && conf == secauth_server_config(s)) {
            continue; /* no SecAuth directive of its own: httpd lends it the main server's */
        }
        apply_defaults(conf);
        conf->db_driver = server_driver(vs);
        if (!conf->used) {
            continue; /* loaded but not configured here: stays inert */
        }
        if (!conf->key_specs->nelts) {
            err = "SecAuthJWTKey is required: at least one signing key file";
        }
        if (!err) err = load_keys(pconf, vs, conf);
        if (!err) err = load_encryption_key(pconf, vs, conf);
        if (!err && !(conf->common_passwords = secauth_common_passwords_load(
                          pconf, conf->common_passwords_file, &err))) {
            err = apr_psprintf(pconf, "SecAuthCommonPasswords: %s", err);
        }
        if (!err && !(conf->dummy_hash = secauth_password_dummy_hash(pconf, &conf->argon2))) {
            err = "SecAuthPasswordHash: hashing failed with these parameters (not enough memory?)";
        }
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, vs, SECAUTH_LOGNO(502)
                         "mod_secauth: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
