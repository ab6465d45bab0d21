/* lh_settings.c - settings of one ltxhttp connection (see lh_settings.h).
 *
 * Every numeric setting is a row of lh_settings_rows: URI parameter,
 * environment variable, field, default and bounds. A URI parameter wins
 * over the environment; an empty value counts as absent. The database name
 * is db=NAME or the last component of the file name. Nothing here talks to
 * the network.
 */
#include "lh_settings.h"

#include "lh_sqlite.h"

#include "../proto/wire.h"
#include "hash.h"
#include "strparse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LH_SETTINGS_MAX_SIZE (1L << 40)

enum lh_settings_kind {
    LH_SETTINGS_LONG, /* long field, integer within [lo, hi] */
    LH_SETTINGS_INT,  /* int field, integer within [lo, hi] */
    LH_SETTINGS_BOOL, /* int field, 0 or 1 (strparse_bool words too) */
    LH_SETTINGS_SIZE, /* long field, bytes with an optional K/M/G suffix */
    LH_SETTINGS_MS,   /* long field, duration ("250ms", "1s", plain seconds) in ms within [lo, hi] */
};

struct lh_settings_row {
    const char *uri; /* URI parameter */
    const char *env; /* environment variable */
    enum lh_settings_kind kind;
    size_t off;       /* offsetof(lh_settings, field) */
    long def, lo, hi; /* default and bounds */
};

#define LH_ROW(uri, env, kind, field, def, lo, hi)                \
    {                                                             \
        uri, env, kind, offsetof(lh_settings, field), def, lo, hi \
    }

/* Every setting but server, db, token and cafile, parsed in this order (docs/vfs.md
 * lists them). max_stale_ms: never silently stale; once the watcher has
 * heard nothing for that long, new read transactions fail instead of
 * pinning the last TXID known. */
static const struct lh_settings_row lh_settings_rows[] = {
    LH_ROW("timeout_ms", "LTXHTTP_TIMEOUT_MS", LH_SETTINGS_LONG, timeout_ms, 10000, 100, 3600000),
    LH_ROW("connect_timeout_ms", "LTXHTTP_CONNECT_TIMEOUT_MS", LH_SETTINGS_LONG, connect_timeout_ms, 2000, 10,
           600000),
    LH_ROW("retry_ms", "LTXHTTP_RETRY_MS", LH_SETTINGS_LONG, retry_ms, 3000, 0, 3600000),
    LH_ROW("open_timeout_ms", "LTXHTTP_OPEN_TIMEOUT_MS", LH_SETTINGS_LONG, open_timeout_ms, 10000, 0,
           3600000),
    LH_ROW("readahead", "LTXHTTP_READAHEAD", LH_SETTINGS_INT, readahead, 64, 0, LTXW_MAX_BATCH_PAGES - 1),
    LH_ROW("open_btree", "LTXHTTP_OPEN_BTREE", LH_SETTINGS_SIZE, open_btree, 256L * 1024, 0,
           LTXW_MAX_BTREE_BYTES),
    LH_ROW("wait", "LTXHTTP_WAIT", LH_SETTINGS_INT, wait_s, 25, 1, LTXW_MAX_WAIT_SECONDS),
    LH_ROW("max_stale_ms", "LTXHTTP_MAX_STALE_MS", LH_SETTINGS_LONG, max_stale_ms, 30000, 0, 86400000L),
    LH_ROW("log", "LTXHTTP_LOG", LH_SETTINGS_BOOL, log, 1, 0, 1),
    LH_ROW("cache_size", "LTXHTTP_CACHE_SIZE", LH_SETTINGS_SIZE, cache_bytes, 32L * 1024 * 1024, 0,
           LH_SETTINGS_MAX_SIZE),
    /* Write mode (lh_write.c). */
    LH_ROW("write", "LTXHTTP_WRITE", LH_SETTINGS_BOOL, write, 0, 0, 1),
    LH_ROW("sync_interval", "LTXHTTP_SYNC_INTERVAL", LH_SETTINGS_MS, sync_interval_ms, 1000, 0, 3600000),
    LH_ROW("write_buffer", "LTXHTTP_WRITE_BUFFER", LH_SETTINGS_SIZE, write_buffer, 32L * 1024 * 1024, 0,
           LH_SETTINGS_MAX_SIZE),
};

/* Messages are cut to the caller's buffer on purpose. */
static void lh_settings_err(char *err, size_t errn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errn, fmt, ap);
    va_end(ap);
}

/* URI parameter uri of zName, else environment variable env; NULL if unset
 * or empty. */
static const char *lh_settings_param(const char *zName, const char *uri, const char *env)
{
    const char *v = zName ? sqlite3_uri_parameter(zName, uri) : NULL;
    if (!v || !*v)
        v = getenv(env);
    return v && *v ? v : NULL;
}

int lh_settings_parse_size(const char *s, long *out)
{
    uint64_t v;
    if (strparse_size(s, &v) != 0 || v > (uint64_t)LH_SETTINGS_MAX_SIZE)
        return -1;
    *out = (long)v;
    return 0;
}

/* Parse v for row r into c. Returns 0, or -1 with a message in err. */
static int lh_settings_apply(lh_settings *c, const struct lh_settings_row *r, const char *v, char *err,
                             size_t errn)
{
    char *field = (char *)c + r->off;
    long x;
    int b;
    switch (r->kind) {
    case LH_SETTINGS_SIZE:
        if (lh_settings_parse_size(v, &x) != 0) {
            lh_settings_err(err, errn, "bad %s '%s' (bytes, optional K/M/G suffix)", r->uri, v);
            return -1;
        }
        *(long *)field = x;
        return 0;
    case LH_SETTINGS_MS: {
        int64_t ms;
        if (strparse_duration_ms(v, &ms) != 0 || ms < r->lo || ms > r->hi) {
            lh_settings_err(err, errn, "bad %s '%s' (a duration such as 0, 250ms, 1s, 2m)", r->uri, v);
            return -1;
        }
        *(long *)field = (long)ms;
        return 0;
    }
    case LH_SETTINGS_BOOL:
        if (strparse_bool(v, &b) != 0) {
            lh_settings_err(err, errn, "bad %s '%s' (want 0 or 1)", r->uri, v);
            return -1;
        }
        *(int *)field = b;
        return 0;
    case LH_SETTINGS_LONG:
    case LH_SETTINGS_INT:
        if (strparse_long(v, r->lo, r->hi, &x) != 0) {
            lh_settings_err(err, errn, "bad %s '%s' (want an integer %ld..%ld)", r->uri, v, r->lo, r->hi);
            return -1;
        }
        if (r->kind == LH_SETTINGS_INT)
            *(int *)field = (int)x;
        else
            *(long *)field = x;
        return 0;
    }
    return -1;
}

/* Rendezvous score of server URL u for database db: FNV-1a over
 * "u\ndb", then the splitmix64 finaliser. The offset basis is one digit
 * short of FNV's; it stays so that every database keeps its server. */
static uint64_t lh_settings_score(const char *u, const char *db)
{
    uint64_t h = hash_fnv1a64(1469598103934665603ULL, u, strlen(u));
    h = hash_fnv1a64(h, "\n", 1);
    h = hash_fnv1a64(h, db, strlen(db));
    return hash_mix64(h);
}

/* Insert URL u (owned from now on) into c->servers, sorted by descending
 * score, ties by URL. */
static void lh_settings_insert(lh_settings *c, uint64_t *score, char *u)
{
    uint64_t sc = lh_settings_score(u, c->db);
    int i = c->nservers;
    while (i > 0 && (score[i - 1] < sc || (score[i - 1] == sc && strcmp(c->servers[i - 1], u) > 0))) {
        c->servers[i] = c->servers[i - 1];
        score[i] = score[i - 1];
        i--;
    }
    c->servers[i] = u;
    score[i] = sc;
    c->nservers++;
}

int lh_settings_parse_servers(lh_settings *c, char *err, size_t errn)
{
    size_t cnt = 1;
    uint64_t score[LH_SETTINGS_MAX_SERVERS];
    for (const char *p = c->server_list; *p; p++)
        cnt += *p == ',';
    if (cnt > LH_SETTINGS_MAX_SERVERS) {
        lh_settings_err(err, errn, "too many servers (at most %d)", LH_SETTINGS_MAX_SERVERS);
        return -1;
    }
    c->servers = calloc(cnt, sizeof *c->servers);
    if (!c->servers)
        goto nomem;
    for (const char *p = c->server_list; p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '/'))
            len--;
        if (len) {
            char *u = strndup(p, len);
            if (!u)
                goto nomem;
            if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
                lh_settings_err(err, errn, "server '%s' must start with http:// or https://", u);
                free(u);
                return -1;
            }
            lh_settings_insert(c, score, u);
            if (len > c->max_server_len)
                c->max_server_len = len;
        }
        p = comma ? comma + 1 : NULL;
    }
    if (c->nservers == 0) {
        lh_settings_err(err, errn, "no server URL in '%s'", c->server_list);
        return -1;
    }
    c->cur = 0;
    c->server = c->servers[0];
    return 0;
nomem:
    lh_settings_err(err, errn, "out of memory");
    return -1;
}

/* The database name: db=NAME, else the file name's last component. */
static const char *lh_settings_db_name(const char *zName)
{
    const char *v = zName ? sqlite3_uri_parameter(zName, "db") : NULL;
    if (!v || !*v) {
        const char *slash = zName ? strrchr(zName, '/') : NULL;
        v = slash ? slash + 1 : zName;
    }
    return v;
}

int lh_settings_load(lh_settings *c, const char *zName, char *err, size_t errn)
{
    const size_t nrows = sizeof lh_settings_rows / sizeof lh_settings_rows[0];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < nrows; i++) {
        const struct lh_settings_row *r = &lh_settings_rows[i];
        if (r->kind == LH_SETTINGS_INT || r->kind == LH_SETTINGS_BOOL)
            *(int *)((char *)c + r->off) = (int)r->def;
        else
            *(long *)((char *)c + r->off) = r->def;
    }
    const char *v = lh_settings_param(zName, "server", "LTXHTTP_SERVER");
    if (!v) {
        lh_settings_err(err, errn, "no server: add server=http://HOST:PORT to the URI or set LTXHTTP_SERVER");
        return -1;
    }
    if (!(c->server_list = strdup(v)))
        goto nomem;
    v = lh_settings_db_name(zName);
    if (!v || !*v || strlen(v) > LTXW_MAX_DB_NAME) {
        lh_settings_err(err, errn, "no database name (use the file name or db=NAME, at most %d bytes)",
                        LTXW_MAX_DB_NAME);
        return -1;
    }
    if (!(c->db = strdup(v)))
        goto nomem;
    if (lh_settings_parse_servers(c, err, errn) != 0)
        return -1;
    v = lh_settings_param(zName, "token", "LTXHTTP_TOKEN");
    if (v && !(c->token = strdup(v)))
        goto nomem;
    v = lh_settings_param(zName, "cafile", "LTXHTTP_CAFILE");
    if (v && !(c->cafile = strdup(v)))
        goto nomem;
    for (size_t i = 0; i < nrows; i++) {
        const struct lh_settings_row *r = &lh_settings_rows[i];
        if ((v = lh_settings_param(zName, r->uri, r->env)) != NULL &&
            lh_settings_apply(c, r, v, err, errn) != 0)
            return -1;
    }
    return 0;
nomem:
    lh_settings_err(err, errn, "out of memory");
    return -1;
}

int lh_settings_copy(lh_settings *d, const lh_settings *c)
{
    *d = *c;
    d->servers = NULL;
    d->nservers = 0;
    d->server_list = strdup(c->server_list);
    d->db = strdup(c->db);
    d->token = c->token ? strdup(c->token) : NULL;
    d->cafile = c->cafile ? strdup(c->cafile) : NULL;
    d->servers = calloc((size_t)c->nservers, sizeof *d->servers);
    if (!d->server_list || !d->db || (c->token && !d->token) || (c->cafile && !d->cafile) || !d->servers)
        return -1;
    for (int i = 0; i < c->nservers; i++) {
        if (!(d->servers[i] = strdup(c->servers[i])))
            return -1;
        d->nservers = i + 1;
    }
    d->server = d->servers[c->cur];
    return 0;
}

void lh_settings_free(lh_settings *c)
{
    for (int i = 0; i < c->nservers; i++)
        free(c->servers[i]);
    free(c->servers);
    free(c->server_list);
    free(c->token);
    free(c->cafile);
    free(c->db);
    memset(c, 0, sizeof *c);
}
