/* config.c - ltxpaged's flags and LTXPAGED_* environment, from one table.
 *
 * config_opts[] has one row per option: flag, environment name, kind,
 * field of srv_config, bounds, default and help. The same rows fill the
 * configuration (defaults, then the environment, then argv), print
 * --help, and print the options table of docs/server.md
 * (--help-markdown). Adding an option is adding a row and its field.
 *
 * Defaults are written as the text a user would give and go through the
 * option's own parser, so a default cannot disagree with what the flag
 * accepts. The few defaults that depend on the machine (thread counts)
 * come from a function instead.
 *
 * Not thread-safe: called once from main() before any thread starts. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "strparse.h"

#ifndef LTXPAGED_VERSION
#error "LTXPAGED_VERSION must be defined (server/CMakeLists.txt passes PROJECT_VERSION)"
#endif

/* ---- value parsers -------------------------------------------------------- */

int64_t config_parse_duration_ms(const char *s)
{
    int64_t ms;
    if (strparse_duration_ms(s, &ms) != 0)
        return -1;
    return ms;
}

uint64_t config_parse_size(const char *s)
{
    uint64_t b;
    if (strparse_size(s, &b) != 0)
        return 0;
    return b; /* 0 ("0", "0.5") is refused as before */
}

/* 1 true (also "" and no value: a bare --flag), 0 false, -1 neither. */
static int config_parse_bool(const char *v)
{
    int b;
    if (!v || !*v)
        return 1;
    return strparse_bool(v, &b) == 0 ? b : -1;
}

/* ---- the option table ----------------------------------------------------- */

static int config_default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)(cores > 0 ? 2 * cores : 4);
}

static int config_default_poll_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 1 ? (cores < 4 ? (int)cores : 4) : 1;
}

static int config_default_auto(void) { return -1; }

#define F(field) offsetof(srv_config, field)

enum { SEC_SOURCES, SEC_SERVER, SEC_HTTP, SEC_S3 };
static const char *const config_sections[] = {
    [SEC_SOURCES] = "Sources (at least one; each flag may repeat):",
    [SEC_SERVER] = "Server:",
    [SEC_HTTP] = "HTTP clients:",
    [SEC_S3] = "S3:",
};

/* Order: environment variables are read in this order (the first bad one
 * is reported); --help prints the rows of each section in this order;
 * --help-markdown prints them all in this order. */
static const struct config_opt config_opts[] = {
    { "replica", "LTXPAGED_REPLICA", "URL", CONFIG_LIST, F(replicas), F(nreplicas), 0, 0, 0, NULL, NULL, "",
      SEC_SOURCES,
      "serve every database under a root: file:///path or s3://bucket/prefix (re-scanned periodically)",
      "serve every database under a root: `file:///path` (databases are `<root>/<name>/ltx/…`) or "
      "`s3://bucket/prefix` (`<prefix>/<name>/<%04x level>/…`). Re-scanned every `--rescan-interval`, so a "
      "new "
      "database appears without a restart. A URL that is itself one database's replica (no databases under "
      "it, "
      "but LTX files) is served under its last path segment" },
    { "db", "LTXPAGED_DB", "NAME=URL", CONFIG_LIST, F(dbs), F(ndbs), 0, 0, 0, NULL, NULL, "", SEC_SOURCES,
      "serve one database: a directory holding ltx/, or s3://bucket/prefix holding 0000/ 0001/ ...",
      "serve one database: URL is that database's replica — a directory holding `ltx/`, or "
      "`s3://bucket/prefix` holding `0000/`, `0001/`, …" },
    { "listen", "LTXPAGED_LISTEN", "HOST:PORT", CONFIG_LISTEN, F(listen_host), F(listen_port), 0, 0, 0, NULL,
      "127.0.0.1:7070", NULL, SEC_SERVER, "listen address",
      "listen address (`[::1]:7070` for IPv6, `0.0.0.0:7070` for all)" },
    { "threads", "LTXPAGED_THREADS", "N", CONFIG_INT, F(threads), 0, 1, 1024, 0, config_default_threads, NULL,
      "2 x cores", SEC_SERVER, "HTTP worker threads", "HTTP worker threads (libmicrohttpd thread pool)" },
    { "io-threads", "LTXPAGED_IO_THREADS", "N", CONFIG_INT, F(io_threads), 0, 1, 1024, 0, NULL, "32", NULL,
      SEC_SERVER,
      "threads for requests that read the object store (page misses, batches, /file, ?time=); cached pages "
      "are "
      "answered by the HTTP threads",
      "threads for requests that have to read the object store (page misses, batches with misses, `/file`, "
      "`?time=`/`?txid=` status); their connection is suspended meanwhile, so the HTTP threads keep "
      "answering "
      "cached pages however slow the store is" },
    { "max-connections", "LTXPAGED_MAX_CONNECTIONS", "N", CONFIG_INT, F(max_connections), 0, 8, 1000000, 0,
      NULL, NULL, "open-file limit - 128, at most 65536", SEC_SERVER,
      "HTTP connections at once, long-polls included; at most 3/4 of them wait in /changes long-polls",
      "HTTP connections at once, long-polls included. At start the soft open-file limit is raised to the "
      "hard "
      "one. At most 3/4 of the connections wait in `/changes` long-polls; beyond that a long-poll is "
      "answered at "
      "once (no changes) so page reads always find a connection" },
    { "cache-size", "LTXPAGED_CACHE_SIZE", "SIZE", CONFIG_SIZE, F(cache_size), 0, 0, 0, 0, NULL, "256M", NULL,
      SEC_SERVER, "shared page cache bound, e.g. 256M, 1G",
      "byte bound of the shared cache of decompressed pages (`512K`, `256M`, `1G`, `256MiB`, plain bytes)" },
    { "poll-interval", "LTXPAGED_POLL_INTERVAL", "DUR", CONFIG_DURATION, F(poll_ms), 0, 10, 0, 0, NULL, "1s",
      NULL, SEC_SERVER, "L0 poll interval, e.g. 1s, 250ms",
      "L0 poll interval (`250ms`, `1s`, `2m`, plain seconds)" },
    { "l1-interval", "LTXPAGED_L1_INTERVAL", "DUR", CONFIG_DURATION, F(l1_interval_ms), 0, 10, 0, 0, NULL,
      "10s", NULL, SEC_SERVER, "level stats / L1+ catch-up interval",
      "how often all levels are listed: level statistics, catching up from L1+/snapshots when L0 is gone, "
      "noticing a replica that went back" },
    { "version-window", "LTXPAGED_VERSION_WINDOW", "DUR", CONFIG_DURATION, F(version_window_ms), 0, 0, 0, 0,
      NULL, "60s", NULL, SEC_SERVER, "keep superseded page versions this long",
      "superseded page versions stay in the live index this long after being superseded, and as long as "
      "requests "
      "keep pinning their TXID" },
    { "rescan-interval", "LTXPAGED_RESCAN_INTERVAL", "DUR", CONFIG_DURATION, F(rescan_ms), 0, 100, 0, 0, NULL,
      "30s", NULL, SEC_SERVER, "look for new databases under --replica roots",
      "look for new databases under `--replica` roots" },
    { "max-historical", "LTXPAGED_MAX_HISTORICAL", "N", CONFIG_INT, F(max_historical), 0, 1, 1024, 0, NULL,
      "4", NULL, SEC_SERVER, "point-in-time indexes kept per database",
      "point-in-time indexes kept per database (least recently used goes first)" },
    { "max-historical-total", "LTXPAGED_MAX_HISTORICAL_TOTAL", "N", CONFIG_INT, F(max_historical_total), 0, 1,
      1024, 0, NULL, "16", NULL, SEC_SERVER,
      "point-in-time indexes kept server-wide; the least recently used of any database goes first",
      "point-in-time indexes kept server-wide, over all databases (the least recently used of any database "
      "goes "
      "first); an index takes about 48 bytes per page of its database" },
    { "historical-idle", "LTXPAGED_HISTORICAL_IDLE", "DUR", CONFIG_DURATION, F(historical_idle_ms), 0, 0, 0,
      0, NULL, "5m", NULL, SEC_SERVER, "drop an unused point-in-time index after",
      "an unused point-in-time index is dropped after this" },
    { "max-l0-size", "LTXPAGED_MAX_L0_SIZE", "SIZE", CONFIG_SIZE, F(max_l0_bytes), 0, 0, 0, 0, NULL, "64M",
      NULL, SEC_SERVER, "fetch L0 files whole up to this size",
      "new L0 files up to this size are fetched whole and verified; larger ones are indexed from their "
      "trailer" },
    { "poll-threads", "LTXPAGED_POLL_THREADS", "N", CONFIG_INT, F(poll_threads), 0, 1, 1024, 64,
      config_default_poll_threads, NULL, "min(cores, 4)", SEC_SERVER,
      "poller threads; databases are split between them (at most 64 are used)",
      "poller threads; each database is polled by one of them (by name hash), so a slow replica does not "
      "delay "
      "the others; at most 64 are used" },
    { "index-fetch-concurrency", "LTXPAGED_INDEX_FETCH_CONCURRENCY", "N", CONFIG_INT,
      F(index_fetch_concurrency), 0, 1, 1024, 256, NULL, "16", NULL, SEC_SERVER,
      "page-index reads in flight while building a database's index from its restore plan (at most 256 are "
      "used)",
      "page-index reads in flight while building an index from a restore plan (start, re-plan, "
      "point-in-time); "
      "at most 256 are used" },
    { "read-token", "LTXPAGED_READ_TOKEN", "TOKEN", CONFIG_STRING, F(read_token), 0, 0, 0, 0, NULL, NULL,
      "none", SEC_SERVER, "bearer token for database routes", "bearer token required on database routes" },
    { "admin-token", "LTXPAGED_ADMIN_TOKEN", "TOKEN", CONFIG_STRING, F(admin_token), 0, 0, 0, 0, NULL, NULL,
      "none", SEC_SERVER, "bearer token for /admin/* and /metrics",
      "bearer token required on `/admin/*` and `/metrics`" },
    { "write-token", "LTXPAGED_WRITE_TOKEN", "TOKEN", CONFIG_STRING, F(write_token), 0, 0, 0, 0, NULL, NULL,
      "none", SEC_SERVER, "bearer token that enables writes (POST /{db}/ltx); it also reads",
      "bearer token that enables writes (`POST /{db}/ltx`, fork, rollback; see \"Writes\"); it is accepted "
      "wherever the read token is" },
    { "write-max-body", "LTXPAGED_WRITE_MAX_BODY", "SIZE", CONFIG_SIZE, F(write_max_body), 0, 0, 0, 0, NULL,
      "64M", NULL, SEC_SERVER, "largest LTX file one write may upload", NULL },
    { "compaction-intervals", "LTXPAGED_COMPACTION_INTERVALS", "DUR,DUR,DUR", CONFIG_STRING,
      F(compaction_intervals), 0, 0, 0, 0, NULL, "30s,5m,1h", NULL, SEC_SERVER,
      "L1, L2, L3 compaction windows of the databases whose lease this server holds",
      "L1, L2, L3 compaction windows (Litestream's ladder) of the databases whose lease this server holds; "
      "1 to 8 comma-separated durations, one per level" },
    { "snapshot-interval", "LTXPAGED_SNAPSHOT_INTERVAL", "DUR", CONFIG_DURATION, F(snapshot_interval_ms), 0,
      1000, 0, 0, NULL, "24h", NULL, SEC_SERVER,
      "level-9 snapshot interval of the databases whose lease this server holds", NULL },
    { "l0-retention", "LTXPAGED_L0_RETENTION", "DUR", CONFIG_DURATION, F(l0_retention_ms), 0, 0, 0, 0, NULL,
      "5m", NULL, SEC_SERVER, "delete L0 files covered by L1 once older than this (lease holder only)",
      NULL },
    { "retention", "LTXPAGED_RETENTION", "DUR", CONFIG_DURATION, F(retention_ms), 0, 1000, 0, 0, NULL, "24h",
      NULL, SEC_SERVER, "keep snapshots and L1+ files this long (lease holder only)",
      "how long the lease holder keeps level-9 snapshots and the L1, L2, L3 files they cover (Litestream's "
      "`retention`): older snapshots go, except the newest and the newest one created at or before now minus "
      "this, and with them the L1+ files at or below that snapshot's TXID (not those the next level has yet "
      "to compact); nothing while no snapshot is that old; see docs/storage.md \"Retention\"" },
    { "write-idle", "LTXPAGED_WRITE_IDLE", "DUR", CONFIG_DURATION, F(write_idle_ms), 0, 1000, 0, 0, NULL,
      "60s", NULL, SEC_SERVER,
      "release a database's lease after this long without writes (L0 compacted into L1 first)", NULL },
    { "s3-endpoint", "LTXPAGED_S3_ENDPOINT", "URL", CONFIG_STRING, F(s3_endpoint), 0, 0, 0, 0, NULL, NULL,
      "`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS", SEC_S3, "S3-compatible endpoint",
      "S3-compatible endpoint (MinIO, R2, moto …)" },
    { "s3-region", "LTXPAGED_S3_REGION", "REGION", CONFIG_STRING, F(s3_region), 0, 0, 0, 0, NULL, NULL,
      "`AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`", SEC_S3, "signing region", NULL },
    { "s3-path-style", "LTXPAGED_S3_PATH_STYLE", "BOOL", CONFIG_BOOL, F(s3_path_style), 0, 0, 0, 0,
      config_default_auto, NULL, "on when an endpoint is set", SEC_S3, "path-style bucket addressing", NULL },
    { "header-timeout", "LTXPAGED_HEADER_TIMEOUT", "DUR", CONFIG_DURATION, F(header_timeout_ms), 0, 100, 0, 0,
      NULL, "10s", NULL, SEC_HTTP,
      "a request's line and headers must arrive within this (also the keep-alive idle limit)",
      "a request line and its headers must arrive within this, counted from the connection opening or the "
      "previous "
      "answer; a slower client is disconnected (so slow-header clients cannot hold connections), also "
      "between "
      "keep-alive requests" },
    { "max-client-connections", "LTXPAGED_MAX_CLIENT_CONNECTIONS", "N", CONFIG_INT, F(max_client_connections),
      0, 1, 1000000, 0, config_default_auto, NULL, "`--max-connections` - max(2, 1/16 of it)", SEC_HTTP,
      "connections at once from one client address",
      "connections at once from one client address; beyond it a new connection is closed at once, so one "
      "address cannot take the connections that the others need" },
    { "cors-origin", "LTXPAGED_CORS_ORIGIN", "ORIGIN", CONFIG_LIST, F(cors_origins), F(ncors_origins), 0, 0,
      0, NULL, NULL, "", SEC_HTTP,
      "allow browser pages from this origin (https://app.example, or * for any) to read; repeatable",
      "allow browser pages from this origin (`https://app.example`, or `*` for any) to read database routes: "
      "`Access-Control-Allow-Origin` on answers, `OPTIONS` preflights answered (see CORS below)" },
    { "tls-cert", "LTXPAGED_TLS_CERT", "FILE", CONFIG_STRING, F(tls_cert), 0, 0, 0, 0, NULL, NULL, "none",
      SEC_HTTP, "PEM certificate (chain): serve HTTPS (with --tls-key)",
      "PEM certificate (chain, leaf first): serve HTTPS instead of HTTP (needs `--tls-key`)" },
    { "tls-key", "LTXPAGED_TLS_KEY", "FILE", CONFIG_STRING, F(tls_key), 0, 0, 0, 0, NULL, NULL, "none",
      SEC_HTTP, "PEM private key of --tls-cert", "PEM private key of `--tls-cert` (unencrypted)" },
    /* demand polling and the disk tier (server/demand.c, server/disk.c) */
    { "poll-idle-after", "LTXPAGED_POLL_IDLE_AFTER", "DUR", CONFIG_DURATION, F(poll_idle_after_ms), 0, 10, 0,
      0, NULL, "30s", NULL, SEC_SERVER, "a database unread this long is polled less and less often",
      "a database nobody read for this long backs off: its poll interval doubles after each poll up to "
      "`--poll-idle-max`; the next read polls it at once and waits for that poll (at most 400 ms) before "
      "answering the latest TXID" },
    { "poll-idle-max", "LTXPAGED_POLL_IDLE_MAX", "DUR", CONFIG_DURATION, F(poll_idle_max_ms), 0, 10, 0, 0,
      NULL, "60s", NULL, SEC_SERVER, "longest poll interval of a database nobody reads",
      "longest poll interval of a database nobody reads (never below `--poll-interval`)" },
    { "cache-dir", "LTXPAGED_CACHE_DIR", "DIR", CONFIG_STRING, F(cache_dir), 0, 0, 0, 0, NULL, NULL, "none",
      SEC_SERVER, "keep verified LTX files read from the store on local disk here (a restart is warm)",
      "local disk tier: once a page of an LTX file was read from the store, the whole file is fetched in the "
      "background, verified and kept here, so later misses of the memory cache read the local copy instead "
      "of "
      "the store; kept across restarts (re-verified before use)" },
    { "cache-dir-size", "LTXPAGED_CACHE_DIR_SIZE", "SIZE", CONFIG_SIZE, F(cache_dir_size), 0, 0, 0, 0, NULL,
      "1G", NULL, SEC_SERVER, "byte bound of --cache-dir",
      "byte bound of `--cache-dir`: the least recently read files are deleted first; files larger than a "
      "quarter of it are not kept" },
    { "log-level", "LTXPAGED_LOG_LEVEL", "LEVEL", CONFIG_LOG_LEVEL, F(log_level), 0, 0, 0, 0, NULL, "info",
      NULL, SEC_SERVER, "debug, info, warn, error", "`debug`, `info`, `warn`, `error`" },
    /* ---- metrics (http_metrics.c) ---- */
    { "metrics-per-db", "LTXPAGED_METRICS_PER_DB", "BOOL", CONFIG_BOOL, F(metrics_per_db), 0, 0, 0, 0, NULL,
      "true", NULL, SEC_SERVER,
      "per-database series in /metrics (false for servers with thousands of databases)",
      "per-database series (`ltxpaged_db_*{db=…}`, about 20 per database) in `/metrics`; `=false` leaves "
      "only "
      "server-wide series (`ltxpaged_databases{state=…}` still counts databases by state), for servers with "
      "thousands of databases" },
};

#undef F

#define CONFIG_NOPTS (sizeof config_opts / sizeof config_opts[0])

const struct config_opt *config_options(size_t *n)
{
    *n = CONFIG_NOPTS;
    return config_opts;
}

static const struct config_opt *config_find(const char *flag)
{
    for (size_t i = 0; i < CONFIG_NOPTS; i++)
        if (!strcmp(config_opts[i].flag, flag))
            return &config_opts[i];
    return NULL;
}

/* ---- setting values ------------------------------------------------------- */

static int config_push(char ***arr, size_t *n, const char *v)
{
    if (*n >= 4096)
        return -1;
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return -1;
    *arr = a;
    a[*n] = strdup(v);
    if (!a[*n])
        return -1;
    (*n)++;
    return 0;
}

/* Several values separated by commas or white space (environment). */
static int config_push_list(char ***arr, size_t *n, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ", \t\n", &save); t && rc == 0; t = strtok_r(NULL, ", \t\n", &save))
        rc = config_push(arr, n, t);
    free(copy);
    return rc;
}

/* Owned copies of string values (tokens, endpoints), freed by config_free. */
static struct {
    char *strs[16];
    int n;
} config_owned;

static const char *config_keep(const char *v)
{
    if (config_owned.n >= 16)
        return v;
    char *c = strdup(v);
    if (!c)
        return v;
    config_owned.strs[config_owned.n++] = c;
    return c;
}

static int config_set_listen(srv_config *c, const char *v, FILE *err)
{
    const char *colon = strrchr(v, ':');
    if (!colon || !colon[1]) {
        fprintf(err, "ltxpaged: --listen wants HOST:PORT, got \"%s\"\n", v);
        return -1;
    }
    long port;
    if (strparse_long(colon + 1, 0, 65535, &port) != 0) {
        fprintf(err, "ltxpaged: bad port in --listen \"%s\"\n", v);
        return -1;
    }
    size_t hl = (size_t)(colon - v);
    if (hl >= sizeof c->listen_host) {
        fprintf(err, "ltxpaged: --listen host too long\n");
        return -1;
    }
    const char *host = v;
    if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
        host = v + 1;
        hl -= 2;
    }
    memcpy(c->listen_host, host, hl);
    c->listen_host[hl] = 0;
    c->listen_port = (int)port;
    return 0;
}

/* Set option o from v (NULL: flag given without a value). from_env: list
 * values hold several items. 0 ok, -1 with a message on err. */
static int config_set(srv_config *c, const struct config_opt *o, const char *v, int from_env, FILE *err)
{
    char *base = (char *)c;
    if (!v && o->kind != CONFIG_BOOL) {
        fprintf(err, "ltxpaged: --%s needs a value\n", o->flag);
        return -1;
    }
    switch (o->kind) {
    case CONFIG_LIST: {
        char ***arr = (char ***)(void *)(base + o->off);
        size_t *n = (size_t *)(void *)(base + o->off2);
        return (from_env ? config_push_list(arr, n, v) : config_push(arr, n, v)) ? -1 : 0;
    }
    case CONFIG_LISTEN: return config_set_listen(c, v, err);
    case CONFIG_INT: {
        long n;
        if (strparse_long(v, o->min, o->max, &n) != 0) {
            fprintf(err, "ltxpaged: --%s wants a number from %ld to %ld, got \"%s\"\n", o->flag, o->min,
                    o->max, v);
            return -1;
        }
        if (o->cap && n > o->cap)
            n = o->cap;
        *(int *)(void *)(base + o->off) = (int)n;
        return 0;
    }
    case CONFIG_SIZE: {
        uint64_t b = config_parse_size(v);
        if (!b) {
            fprintf(err, "ltxpaged: --%s wants a size like 256M or 1G, got \"%s\"\n", o->flag, v);
            return -1;
        }
        *(size_t *)(void *)(base + o->off) = (size_t)b;
        return 0;
    }
    case CONFIG_DURATION: {
        int64_t ms = config_parse_duration_ms(v);
        if (ms < o->min) {
            fprintf(err, "ltxpaged: --%s wants a duration like 1s or 250ms (at least %ldms), got \"%s\"\n",
                    o->flag, o->min, v);
            return -1;
        }
        *(int64_t *)(void *)(base + o->off) = ms;
        return 0;
    }
    case CONFIG_STRING: *(const char **)(void *)(base + o->off) = config_keep(v); return 0;
    case CONFIG_BOOL:
    case CONFIG_LOG_LEVEL: { /* an int from a word */
        int is_bool = o->kind == CONFIG_BOOL;
        int x = is_bool ? config_parse_bool(v) : log_parse_level(v);
        if (x < 0) {
            fprintf(err, "ltxpaged: --%s wants %s\n", o->flag,
                    is_bool ? "true or false" : "debug, info, warn or error");
            return -1;
        }
        *(int *)(void *)(base + o->off) = x;
        return 0;
    }
    }
    return -1;
}

/* Every row's default: its text through the row's parser, or its
 * function. 0 ok, -1 when a default does not parse (a table bug). */
static int config_defaults(srv_config *c, FILE *err)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const struct config_opt *o = &config_opts[i];
        if (o->def && config_set(c, o, o->def, 0, err))
            return -1;
        if (o->def_fn)
            *(int *)(void *)((char *)c + o->off) = o->def_fn();
    }
    return 0;
}

/* ---- --help and --help-markdown ------------------------------------------ */

/* Text without markdown backticks. */
static void config_put_plain(FILE *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '`')
            fputc(s[i], o);
}

/* Words of text wrapped at 79 columns, continuation lines indented. The
 * first line starts at column col. */
static void config_put_wrapped(FILE *o, const char *text, size_t col, size_t indent)
{
    const char *p = text;
    while (*p) {
        size_t wl = strcspn(p, " ");
        size_t vis = wl;
        for (size_t i = 0; i < wl; i++)
            vis -= p[i] == '`';
        if (col > indent && col + 1 + vis > 79) {
            fprintf(o, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', o);
            col++;
        }
        config_put_plain(o, p, wl);
        col += vis;
        p += wl;
        while (*p == ' ')
            p++;
    }
    fputc('\n', o);
}

#define CONFIG_HELP_COL 25 /* where help text starts */

static void config_usage_row(FILE *out, const struct config_opt *o)
{
    char head[64];
    if (o->kind == CONFIG_BOOL)
        snprintf(head, sizeof head, "--%s[=%s]", o->flag, o->metavar);
    else
        snprintf(head, sizeof head, "--%s %s", o->flag, o->metavar);
    char text[512];
    const char *def = o->def ? o->def : o->def_text;
    if (def && *def && strcmp(def, "none") != 0)
        snprintf(text, sizeof text, "%s (default %s)", o->help, def);
    else
        snprintf(text, sizeof text, "%s", o->help);
    size_t hl = strlen(head);
    if (hl + 2 + 1 > CONFIG_HELP_COL) {
        fprintf(out, "  %s\n%*s", head, CONFIG_HELP_COL, "");
    } else {
        fprintf(out, "  %-*s", CONFIG_HELP_COL - 2, head);
    }
    config_put_wrapped(out, text, CONFIG_HELP_COL, CONFIG_HELP_COL);
}

void config_usage(FILE *o)
{
    fputs("usage: ltxpaged [flags]\n"
          "\n"
          "Serve SQLite pages from Litestream (v0.5+) LTX replicas over HTTP.\n",
          o);
    for (size_t s = 0; s < sizeof config_sections / sizeof config_sections[0]; s++) {
        fprintf(o, "\n%s\n", config_sections[s]);
        for (size_t i = 0; i < CONFIG_NOPTS; i++)
            if (config_opts[i].section == (int)s)
                config_usage_row(o, &config_opts[i]);
    }
    fputs("  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
          "\n"
          "Every flag can also be given as LTXPAGED_<FLAG> in the environment, e.g.\n"
          "LTXPAGED_CACHE_SIZE=1G, LTXPAGED_READ_TOKEN=...; LTXPAGED_REPLICA and LTXPAGED_DB\n"
          "take several values separated by commas or spaces. Flags override the environment.\n"
          "  --help, --version, --help-markdown (the options table of docs/server.md)\n",
          o);
}

void config_print_markdown(FILE *o)
{
    fputs("| flag | env | default | meaning |\n| --- | --- | --- | --- |\n", o);
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const struct config_opt *r = &config_opts[i];
        if (r->kind == CONFIG_BOOL)
            fprintf(o, "| `--%s[=%s]` ", r->flag, r->metavar);
        else
            fprintf(o, "| `--%s %s`%s ", r->flag, r->metavar, r->kind == CONFIG_LIST ? " (repeatable)" : "");
        fprintf(o, "| `%s` | ", r->env);
        if (r->def)
            fprintf(o, "`%s`", r->def);
        else
            fputs(r->def_text && *r->def_text ? r->def_text : "—", o);
        fprintf(o, " | %s |\n", r->doc ? r->doc : r->help);
    }
    fputs("| `--help`, `--version`, `--help-markdown` | | | usage; `ltxpaged <version>`; this table |\n", o);
}

/* ---- loading -------------------------------------------------------------- */

/* 1 when argv gives --flag (alone or as --flag=...). */
static int config_on_cli(const char *flag, int argc, char **argv)
{
    size_t fl = strlen(flag);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, flag, fl) &&
            (argv[i][2 + fl] == 0 || argv[i][2 + fl] == '='))
            return 1;
    return 0;
}

static int config_load_env(srv_config *c, int argc, char **argv, FILE *err)
{
    /* sources given on the command line replace those from the
     * environment; any other list replaces its own variable */
    int cli_sources = config_on_cli("replica", argc, argv) || config_on_cli("db", argc, argv);
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const struct config_opt *o = &config_opts[i];
        const char *v = getenv(o->env);
        if (!v || !*v)
            continue;
        int source = o->off == offsetof(srv_config, replicas) || o->off == offsetof(srv_config, dbs);
        if (o->kind == CONFIG_LIST && (source ? cli_sources : config_on_cli(o->flag, argc, argv)))
            continue;
        if (config_set(c, o, v, 1, err)) {
            fprintf(err, "ltxpaged: (from %s)\n", o->env);
            return -1;
        }
    }
    return 0;
}

/* 0 ok, 1 help/version printed, -1 usage error. */
static int config_load_args(srv_config *c, int argc, char **argv, FILE *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--help-markdown")) {
            config_print_markdown(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            puts("ltxpaged " LTXPAGED_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "ltxpaged: unexpected argument \"%s\" (see --help)\n", a);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) {
            fprintf(err, "ltxpaged: unknown flag %s\n", a);
            return -1;
        }
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        const char *v = eq ? eq + 1 : NULL;
        const struct config_opt *o = config_find(name);
        if (!o) {
            fprintf(err, "ltxpaged: unknown flag --%s (see --help)\n", name);
            return -1;
        }
        if (!v && o->kind != CONFIG_BOOL) {
            if (i + 1 >= argc) {
                fprintf(err, "ltxpaged: --%s needs a value\n", name);
                return -1;
            }
            v = argv[++i];
        }
        if (config_set(c, o, v, 0, err))
            return -1;
    }
    return 0;
}

int config_load(srv_config *c, int argc, char **argv, FILE *err)
{
    if (config_defaults(c, err))
        return -1;
    if (config_load_env(c, argc, argv, err))
        return -1;
    int rc = config_load_args(c, argc, argv, err);
    if (rc != 0)
        return rc;
    if (c->nreplicas == 0 && c->ndbs == 0) {
        fprintf(err, "ltxpaged: nothing to serve: give --replica URL or --db NAME=URL (see --help)\n");
        return -1;
    }
    return 0;
}

void config_free(srv_config *c)
{
    for (size_t i = 0; i < c->nreplicas; i++)
        free(c->replicas[i]);
    free(c->replicas);
    for (size_t i = 0; i < c->ndbs; i++)
        free(c->dbs[i]);
    free(c->dbs);
    for (size_t i = 0; i < c->ncors_origins; i++)
        free(c->cors_origins[i]);
    free(c->cors_origins);
    c->replicas = c->dbs = c->cors_origins = NULL;
    c->nreplicas = c->ndbs = c->ncors_origins = 0;
    for (int i = 0; i < config_owned.n; i++)
        free(config_owned.strs[i]);
    config_owned.n = 0;
}
