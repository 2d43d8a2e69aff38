/* password.c — password storage and policy: argon2id hashing (libargon2), verification of
 * argon2id PHC strings and of the legacy Werkzeug pbkdf2/scrypt strings migrated from the
 * Flask service, rehash decisions, and the rules of API.md §2 (length in code points, no
 * username inside, not a common password). */
#include "password.h"
#include "crypto.h"
#include "metrics.h"

#include <string.h>
#include <sys/mman.h>

#include <apr_file_io.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_strings.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define ARGON2_SALT_LEN 16
#define ARGON2_HASH_LEN 32
#define ARGON2ID_PREFIX "$argon2id$"
/* A stored hash longer than this is not one this module or a usual tool wrote. */
#define ARGON2_MAX_STORED_HASH_LEN 1024

/* Not a secret: only its cost matters (see secauth_password_dummy_hash). */
#define DUMMY_PASSWORD "secauth dummy password for unknown users"

/* Bounds on the costs a stored legacy string may ask for, so that one corrupt row cannot tie a
 * child up for minutes. Werkzeug's own defaults (pbkdf2 1,000,000 rounds in 3.1; scrypt
 * N=32768, r=8, p=1, about 32 MiB) are far inside them. */
#define PBKDF2_MAX_ITERATIONS 10000000UL
#define SCRYPT_MAX_MEMORY     (1024UL * 1024 * 1024)
#define SCRYPT_KEY_LEN        64

/* The common list is a small text file; anything much larger is not the file we meant. */
#define COMMON_LIST_MAX_SIZE  (64 * 1024 * 1024)

/* ---- the hashing gate and its memory ---- */

/* argon2id is memory-hard: each hash streams through m KiB. Run by every worker thread at once,
 * hashes evict each other from the caches and each one takes many times longer, so a process
 * lets only a few run at a time (as many as the cores by default) and the others wait their
 * turn. Each place in the gate owns one block of hash memory, mapped on its first hash and
 * reused by every later one: left to malloc, the 19 MiB blocks land in whichever thread's arena
 * ran the hash and stay there, so a child's memory grew with the number of threads that had
 * ever hashed; and a fresh mapping per hash would pay the first-touch page faults every time
 * (about three times the hash itself on a virtual machine). Without a gate (unit tests, tools)
 * every call runs at once on memory from malloc. */
typedef struct hash_memory {
    uint8_t *block;
    size_t size;
    struct hash_memory *next;
} hash_memory_t;

static apr_thread_mutex_t *gate_mutex;
static apr_thread_cond_t *gate_cond;
static hash_memory_t *gate_free;   /* the places not in use, each with its block */
static size_t gate_keep_bytes;     /* larger blocks (an old hash's m) are unmapped after use */

/* argon2's allocation callbacks take no argument: the block of the calling thread's place. */
static __thread hash_memory_t *thread_hash_memory;

/* The costs a stored hash may ask for: at most what SecAuthPasswordHash accepts, and once a
 * gate is set up no more than 256 MiB and 10 passes beyond the configured costs, so that one
 * corrupt or planted row cannot hold a place of the gate (and every login of the child queued
 * behind it) for minutes. */
#define STORED_MIN_M_CAP (256UL * 1024)
#define STORED_MIN_T_CAP 10UL
static unsigned long stored_max_m = SECAUTH_ARGON2_MAX_M;
static unsigned long stored_max_t = SECAUTH_ARGON2_MAX_T;

int secauth_password_gate_init(apr_pool_t *p, int concurrent,
                               const secauth_argon2_params_t *largest, int map_now)
{
    unsigned int keep_kib = largest ? largest->m_cost : 0;
    int i;

    if (concurrent < 1
        || apr_thread_mutex_create(&gate_mutex, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_cond_create(&gate_cond, p) != APR_SUCCESS) {
        gate_mutex = NULL;
        return -1;
    }
    gate_free = NULL;
    gate_keep_bytes = (size_t)keep_kib * 1024;
    stored_max_m = keep_kib > STORED_MIN_M_CAP ? keep_kib : STORED_MIN_M_CAP;
    stored_max_t = largest && largest->t_cost > STORED_MIN_T_CAP ? largest->t_cost
                                                                 : STORED_MIN_T_CAP;
    for (i = 0; i < concurrent; i++) {
        hash_memory_t *place = apr_pcalloc(p, sizeof(*place));
        void *block;
        if (map_now && gate_keep_bytes
            && (block = mmap(NULL, gate_keep_bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)) != MAP_FAILED) {
            place->block = block;
            place->size = gate_keep_bytes;
        }
        place->next = gate_free;
        gate_free = place;
    }
    return 0;
}

/* Waits for a free place; NULL when there is no gate. */
static hash_memory_t *gate_enter(void)
{
    hash_memory_t *place;

    if (!gate_mutex) return NULL;
    apr_thread_mutex_lock(gate_mutex);
    while (!gate_free) {
        apr_thread_cond_wait(gate_cond, gate_mutex);
    }
    place = gate_free;
    gate_free = place->next;
    apr_thread_mutex_unlock(gate_mutex);
    secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, 1);
    return place;
}

static void gate_leave(hash_memory_t *place)
{
    if (!place) return;
    secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, -1);
    apr_thread_mutex_lock(gate_mutex);
    place->next = gate_free;
    gate_free = place;
    apr_thread_cond_signal(gate_cond);
    apr_thread_mutex_unlock(gate_mutex);
}

static void unmap_block(hash_memory_t *place)
{
    if (place->block) {
        munmap(place->block, place->size);
        place->block = NULL;
        place->size = 0;
    }
}

static int allocate_hash_memory(uint8_t **memory, size_t bytes)
{
    hash_memory_t *place = thread_hash_memory;
    void *block;

    if (place->size < bytes) {
        unmap_block(place);
        block = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (block == MAP_FAILED) {
            *memory = NULL;   /* what libargon2 checks: it ignores the return value */
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        }
        place->block = block;
        place->size = bytes;
    }
    *memory = place->block;
    return ARGON2_OK;
}

/* argon2 has already cleared the block (FLAG_clear_internal_memory); it stays mapped. */
static void release_hash_memory(uint8_t *memory, size_t bytes)
{
    hash_memory_t *place = thread_hash_memory;
    (void)memory;
    (void)bytes;

    if (place->size > gate_keep_bytes) {
        unmap_block(place);
    }
}

/* argon2id of password with the given costs, salt and version into out (out_len bytes), on the
 * memory of a gate place. The library's *_hash_encoded and *_verify calls take no allocation
 * callbacks, which is why the PHC string is written and read here. */
static int argon2id_raw(const secauth_argon2_params_t *params, uint32_t version,
                        const char *password, const uint8_t *salt, size_t salt_len,
                        uint8_t *out, size_t out_len)
{
    argon2_context context;
    hash_memory_t *place;
    int rc;

    memset(&context, 0, sizeof(context));
    context.out = out;
    context.outlen = (uint32_t)out_len;
    context.pwd = (uint8_t *)password;
    context.pwdlen = (uint32_t)strlen(password);
    context.salt = (uint8_t *)salt;
    context.saltlen = (uint32_t)salt_len;
    context.t_cost = params->t_cost;
    context.m_cost = params->m_cost;
    context.lanes = params->parallelism;
    context.threads = params->parallelism;
    context.version = version;
    context.flags = ARGON2_DEFAULT_FLAGS;

    place = gate_enter();
    if (place) {
        thread_hash_memory = place;
        context.allocate_cbk = allocate_hash_memory;
        context.free_cbk = release_hash_memory;
    }
    rc = argon2id_ctx(&context);
    thread_hash_memory = NULL;
    gate_leave(place);
    return rc;
}

const char *secauth_password_hash(apr_pool_t *p, const secauth_argon2_params_t *params,
                                  const char *password)
{
    unsigned char salt[ARGON2_SALT_LEN], hash[ARGON2_HASH_LEN];
    const char *encoded = NULL;

    if (!params || !password || secauth_random_bytes(salt, sizeof(salt)) != 0) {
        return NULL;
    }
    if (argon2id_raw(params, ARGON2_VERSION_13, password, salt, sizeof(salt),
                     hash, sizeof(hash)) == ARGON2_OK) {
        encoded = apr_psprintf(p, ARGON2ID_PREFIX "v=%d$m=%u,t=%u,p=%u$%s$%s",
                               ARGON2_VERSION_13, params->m_cost, params->t_cost,
                               params->parallelism,
                               secauth_b64_encode_unpadded(p, salt, sizeof(salt)),
                               secauth_b64_encode_unpadded(p, hash, sizeof(hash)));
    }
    OPENSSL_cleanse(salt, sizeof(salt));
    OPENSSL_cleanse(hash, sizeof(hash));
    return encoded;
}

const char *secauth_password_dummy_hash(apr_pool_t *p, const secauth_argon2_params_t *params)
{
    return secauth_password_hash(p, params, DUMMY_PASSWORD);
}

/* Reads a decimal number of at most max; advances *s past it. 0 when there are no digits,
 * when it overflows, or when it has a leading zero (PHC strings never write one). */
static int parse_decimal(const char **s, unsigned long max, unsigned long *value)
{
    const char *c = *s;
    unsigned long v = 0;

    if (*c < '0' || *c > '9' || (c[0] == '0' && c[1] >= '0' && c[1] <= '9')) {
        return 0;
    }
    for (; *c >= '0' && *c <= '9'; c++) {
        unsigned long digit = (unsigned long)(*c - '0');
        if (v > (max - digit) / 10) {
            return 0;
        }
        v = v * 10 + digit;
    }
    *value = v;
    *s = c;
    return 1;
}

/* Consumes literal at *s; 0 when *s does not start with it. */
static int expect(const char **s, const char *literal)
{
    size_t n = strlen(literal);

    if (strncmp(*s, literal, n) != 0) {
        return 0;
    }
    *s += n;
    return 1;
}

int secauth_password_needs_rehash(const char *stored, const secauth_argon2_params_t *params)
{
    const char *s = stored;
    unsigned long m, t, par;

    if (!stored || !params) {
        return 1;
    }
    /* Only the current algorithm and version count; argon2i, v=16 and legacy strings do not. */
    if (!expect(&s, ARGON2ID_PREFIX "v=19$m=") || !parse_decimal(&s, 0xffffffffUL, &m)
        || !expect(&s, ",t=") || !parse_decimal(&s, 0xffffffffUL, &t)
        || !expect(&s, ",p=") || !parse_decimal(&s, 0xffffffffUL, &par)
        || *s != '$') {
        return 1;
    }
    return m != params->m_cost || t != params->t_cost || par != params->parallelism;
}

/* ---- legacy Werkzeug hashes: "method$salt$hexdigest" ---- */

typedef struct {
    const char *method; /* "pbkdf2:sha256:600000", "scrypt:32768:8:1" */
    const char *salt;   /* used as its ASCII bytes, as Werkzeug does */
    const char *hex;    /* lower-case hex of the derived key */
} werkzeug_hash_t;

static int werkzeug_split(apr_pool_t *p, const char *stored, werkzeug_hash_t *w)
{
    const char *first = strchr(stored, '$'), *second;

    if (!first || !(second = strchr(first + 1, '$')) || first == stored) {
        return 0;
    }
    w->method = apr_pstrmemdup(p, stored, (apr_size_t)(first - stored));
    w->salt = apr_pstrmemdup(p, first + 1, (apr_size_t)(second - first - 1));
    w->hex = second + 1;
    return *w->salt != '\0' && *w->hex != '\0';
}

/* 1 when the derived key, as hex, equals the stored hex digest. */
static int hex_matches(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                       const char *stored_hex)
{
    const char *hex = secauth_hex(p, key, key_len);

    return strlen(stored_hex) == 2 * key_len && secauth_ct_equal(hex, stored_hex, 2 * key_len);
}

/* The digests Werkzeug offers for pbkdf2 that anyone is likely to have stored. */
static const EVP_MD *pbkdf2_digest(const char *name)
{
    if (strcmp(name, "sha256") == 0) return EVP_sha256();
    if (strcmp(name, "sha512") == 0) return EVP_sha512();
    if (strcmp(name, "sha1") == 0) return EVP_sha1();
    return NULL;
}

/* "pbkdf2:DIGEST:ITERATIONS". Werkzeug always writes the iteration count; a string without
 * one would depend on the default of whichever Werkzeug version read it, so it is refused. */
static int werkzeug_pbkdf2_verify(apr_pool_t *p, const werkzeug_hash_t *w, const char *password)
{
    const char *colon, *s;
    const EVP_MD *md;
    unsigned long iterations;
    unsigned char key[EVP_MAX_MD_SIZE];
    int key_len, match;

    s = w->method + strlen("pbkdf2:");
    colon = strchr(s, ':');
    if (!colon || !(md = pbkdf2_digest(apr_pstrmemdup(p, s, (apr_size_t)(colon - s))))) {
        return 0;
    }
    s = colon + 1;
    if (!parse_decimal(&s, PBKDF2_MAX_ITERATIONS, &iterations) || *s != '\0' || iterations == 0) {
        return 0;
    }
    key_len = EVP_MD_get_size(md);
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
                          (const unsigned char *)w->salt, (int)strlen(w->salt),
                          (int)iterations, md, key_len, key) != 1) {
        return 0;
    }
    match = hex_matches(p, key, (apr_size_t)key_len, w->hex);
    OPENSSL_cleanse(key, sizeof(key));
    return match;
}

/* "scrypt:N:r:p", derived with a 64-byte key as Werkzeug does. */
static int werkzeug_scrypt_verify(apr_pool_t *p, const werkzeug_hash_t *w, const char *password)
{
    const char *s = w->method + strlen("scrypt:");
    unsigned long n, r, par;
    unsigned long long memory;
    unsigned char key[SCRYPT_KEY_LEN];
    int match;

    if (!parse_decimal(&s, 1UL << 24, &n) || !expect(&s, ":")
        || !parse_decimal(&s, 1024, &r) || !expect(&s, ":")
        || !parse_decimal(&s, 1024, &par) || *s != '\0'
        || n < 2 || r == 0 || par == 0) {
        return 0;
    }
    /* Werkzeug's own allowance; OpenSSL needs about 128*N*r plus 128*r*p. */
    memory = 132ULL * n * r * par;
    if (memory > SCRYPT_MAX_MEMORY) {
        return 0;
    }
    if (EVP_PBE_scrypt(password, strlen(password),
                       (const unsigned char *)w->salt, strlen(w->salt),
                       n, r, par, memory, key, sizeof(key)) != 1) {
        return 0;
    }
    match = hex_matches(p, key, sizeof(key), w->hex);
    OPENSSL_cleanse(key, sizeof(key));
    return match;
}

/* Checks password against "$argon2id$[v=N$]m=M,t=T,p=P$salt$hash", the string carrying its
 * own costs and salt; costs beyond stored_max_m and stored_max_t are refused. */
static int argon2id_verify_phc(apr_pool_t *p, const char *stored, const char *password)
{
    const char *s = stored + strlen(ARGON2ID_PREFIX), *salt_end;
    unsigned long version = ARGON2_VERSION_10, m, t, lanes;
    secauth_argon2_params_t params;
    unsigned char *salt, *expected, *actual;
    apr_size_t salt_len, expected_len;
    int match;

    if (expect(&s, "v=") && (!parse_decimal(&s, 0xffUL, &version) || !expect(&s, "$"))) {
        return 0;
    }
    if ((version != ARGON2_VERSION_10 && version != ARGON2_VERSION_13)
        || !expect(&s, "m=") || !parse_decimal(&s, stored_max_m, &m)
        || !expect(&s, ",t=") || !parse_decimal(&s, stored_max_t, &t)
        || !expect(&s, ",p=") || !parse_decimal(&s, SECAUTH_ARGON2_MAX_P, &lanes)
        || !expect(&s, "$") || !(salt_end = strchr(s, '$'))
        || secauth_b64_decode_unpadded(p, s, (size_t)(salt_end - s), &salt, &salt_len) != 0
        || secauth_b64_decode_unpadded(p, salt_end + 1, strlen(salt_end + 1), &expected,
                                       &expected_len) != 0
        || salt_len < ARGON2_MIN_SALT_LENGTH
        || expected_len < ARGON2_MIN_OUTLEN || expected_len > ARGON2_MAX_STORED_HASH_LEN) {
        return 0;
    }
    params.m_cost = (unsigned int)m;
    params.t_cost = (unsigned int)t;
    params.parallelism = (unsigned int)lanes;
    actual = apr_palloc(p, expected_len);
    match = argon2id_raw(&params, (uint32_t)version, password, salt, salt_len,
                         actual, expected_len) == ARGON2_OK
            && secauth_ct_equal(actual, expected, expected_len);
    OPENSSL_cleanse(actual, expected_len);
    return match;
}

static int werkzeug_verify(apr_pool_t *p, const char *stored, const char *password)
{
    werkzeug_hash_t w;

    if (!werkzeug_split(p, stored, &w)) {
        return 0;
    }
    if (strncmp(w.method, "pbkdf2:", strlen("pbkdf2:")) == 0) {
        return werkzeug_pbkdf2_verify(p, &w, password);
    }
    if (strncmp(w.method, "scrypt:", strlen("scrypt:")) == 0) {
        return werkzeug_scrypt_verify(p, &w, password);
    }
    return 0;
}

int secauth_password_verify(apr_pool_t *p, const char *stored, const char *password)
{
    if (!stored || !password) {
        return 0;
    }
    if (strncmp(stored, ARGON2ID_PREFIX, strlen(ARGON2ID_PREFIX)) == 0) {
        return argon2id_verify_phc(p, stored, password);
    }
    return werkzeug_verify(p, stored, password);
}

/* ---- policy ---- */

/* Byte tests spelled out in ASCII so that no locale can widen them. */
static int ascii_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Printable ASCII that is neither a letter, a digit nor a space: C's ispunct in the C locale. */
static int ascii_punct(unsigned char c)
{
    return c > ' ' && c < 0x7f && !ascii_digit(c) && !ascii_upper(c) && !(c >= 'a' && c <= 'z');
}

static char *ascii_lower(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s), *c;

    for (c = out; *c; c++) {
        if (ascii_upper((unsigned char)*c)) {
            *c = (char)(*c - 'A' + 'a');
        }
    }
    return out;
}

char *secauth_password_normalize(apr_pool_t *p, const char *password)
{
    char *out = ascii_lower(p, password);
    size_t n = strlen(out);

    /* "Password1!" and "password" are the same guess for anyone running a cracker. */
    while (n > 0 && (ascii_digit((unsigned char)out[n - 1]) || ascii_punct((unsigned char)out[n - 1]))) {
        n--;
    }
    out[n] = '\0';
    return out;
}

apr_size_t secauth_utf8_length(const char *s)
{
    apr_size_t n = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

const char *secauth_password_policy(apr_pool_t *p, const char *password, const char *username,
                                    int min_length, int max_length, apr_hash_t *common)
{
    apr_size_t length;
    const char *normalized;

    if (!password) {
        password = "";
    }
    length = secauth_utf8_length(password);

    if (length < (apr_size_t)(min_length > 0 ? min_length : 0)) {
        return apr_psprintf(p, "must be at least %d characters", min_length);
    }
    if (max_length > 0 && length > (apr_size_t)max_length) {
        return apr_psprintf(p, "must be at most %d characters", max_length);
    }
    if (username && *username && strstr(ascii_lower(p, password), username)) {
        return "must not contain the username";
    }
    normalized = secauth_password_normalize(p, password);
    if (*normalized == '\0' || (common && apr_hash_get(common, normalized, APR_HASH_KEY_STRING))) {
        return "is too common";
    }
    return NULL;
}

/* ---- common-password list ---- */

static apr_status_t read_whole_file(apr_pool_t *p, const char *path, char **text,
                                    const char **err)
{
    apr_file_t *file;
    apr_finfo_t info;
    apr_size_t got;
    apr_status_t rv;
    char buf[120];

    rv = apr_file_open(&file, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open %s: %s", path, apr_strerror(rv, buf, sizeof(buf)));
        return rv;
    }
    rv = apr_file_info_get(&info, APR_FINFO_SIZE, file);
    if (rv == APR_SUCCESS && info.size > COMMON_LIST_MAX_SIZE) {
        *err = apr_psprintf(p, "%s is larger than %d bytes", path, COMMON_LIST_MAX_SIZE);
        apr_file_close(file);
        return APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        *text = apr_palloc(p, (apr_size_t)info.size + 1);
        rv = apr_file_read_full(file, *text, (apr_size_t)info.size, &got);
        if (rv == APR_EOF && got == 0 && info.size == 0) {
            rv = APR_SUCCESS;
        }
    }
    apr_file_close(file);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read %s: %s", path, apr_strerror(rv, buf, sizeof(buf)));
        return rv;
    }
    (*text)[got] = '\0';
    return APR_SUCCESS;
}

apr_hash_t *secauth_common_passwords_load(apr_pool_t *p, const char *path, const char **err)
{
    apr_hash_t *set;
    char *text, *line, *next;

    if (read_whole_file(p, path, &text, err) != APR_SUCCESS) {
        return NULL;
    }
    set = apr_hash_make(p);
    for (line = text; line && *line; line = next) {
        size_t len;
        const char *entry;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[--len] = '\0';
        }
        /* '#' also covers the "#!comment:" header of John the Ripper's password.lst. */
        if (len == 0 || line[0] == '#') {
            continue;
        }
        /* Normalized here too, so the raw upstream list works as well as the derived file. */
        entry = secauth_password_normalize(p, line);
        if (*entry) {
            apr_hash_set(set, entry, APR_HASH_KEY_STRING, entry);
        }
    }
    return set;
}
