/* config.c - flags and environment for ltxpaged. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

int64_t config_parse_duration_ms(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mult = 1000;
    if (*end == 0 || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double ms = v * mult;
    if (ms > 1e15)
        return -1;
    return (int64_t)(ms + 0.5);
}

uint64_t config_parse_size(const char *s)
{
    if (!s || !*s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return 0;
    double mult = 1;
    char u = (char)toupper((unsigned char)*end);
    if (*end) {
        if (u == 'K')
            mult = 1024.0;
        else if (u == 'M')
            mult = 1024.0 * 1024;
        else if (u == 'G')
            mult = 1024.0 * 1024 * 1024;
        else if (u == 'T')
            mult = 1024.0 * 1024 * 1024 * 1024;
        else if (u == 'B' && end[1] == 0)
            mult = 1;
        else
            return 0;
        const char *rest = end + 1;
        if (u != 'B' && *rest && strcasecmp(rest, "B") != 0 && strcasecmp(rest, "iB") != 0)
            return 0;
    }
    double b = v * mult;
    if (b >= 1.8e19)
        return 0;
    return (uint64_t)b;
}

void config_usage(FILE *o)
{
    fputs("usage: ltxpaged [flags]\n"
          "\n"
          "Serve SQLite pages from Litestream (v0.5+) LTX replicas over HTTP.\n"
          "\n"
          "Sources (at least one; each flag may repeat):\n"
          "  --replica URL          serve every database under a root: file:///path or\n"
          "                         s3://bucket/prefix (re-scanned periodically)\n"
          "  --db NAME=URL          serve one database: a directory holding ltx/, or\n"
          "                         s3://bucket/prefix holding 0000/ 0001/ ... levels\n"
          "\n"
          "Server:\n"
          "  --listen HOST:PORT     listen address (default 127.0.0.1:7070)\n"
          "  --threads N            HTTP worker threads (default 2 x cores)\n"
          "  --io-threads N         threads for requests that read the object store\n"
          "                         (page misses, batches, /file, ?time=); cached pages\n"
          "                         are answered by the HTTP threads (default 32)\n"
          "  --max-connections N    HTTP connections at once, long-polls included; at\n"
          "                         most 3/4 of them wait in /changes long-polls\n"
          "                         (default: open-file limit - 128, at most 65536)\n"
          "  --cache-size SIZE      shared page cache bound, e.g. 256M, 1G (default 256M)\n"
          "  --poll-interval DUR    L0 poll interval, e.g. 1s, 250ms (default 1s)\n"
          "  --l1-interval DUR      level stats / L1+ catch-up interval (default 10s)\n"
          "  --version-window DUR   keep superseded page versions this long (default 60s)\n"
          "  --rescan-interval DUR  look for new databases under --replica roots (default 30s)\n"
          "  --max-historical N     point-in-time indexes kept per database (default 4)\n"
          "  --max-historical-total N\n"
          "                         point-in-time indexes kept server-wide; the least\n"
          "                         recently used of any database goes first (default 16)\n"
          "  --historical-idle DUR  drop an unused point-in-time index after (default 5m)\n"
          "  --max-l0-size SIZE     fetch L0 files whole up to this size (default 64M)\n"
          "  --poll-threads N       poller threads; databases are split between them\n"
          "                         (default min(cores, 4), at most 64)\n"
          "  --index-fetch-concurrency N\n"
          "                         page-index reads in flight while building a\n"
          "                         database's index from its restore plan\n"
          "                         (default 16, at most 256)\n"
          "  --read-token TOKEN     bearer token for database routes\n"
          "  --admin-token TOKEN    bearer token for /admin/* and /metrics\n"
          "  --log-level LEVEL      debug, info, warn, error (default info)\n"
          "\n"
          "S3:\n"
          "  --s3-endpoint URL      S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3,\n"
          "                         AWS_ENDPOINT_URL, else AWS)\n"
          "  --s3-region REGION     (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)\n"
          "  --s3-path-style[=BOOL] path-style addressing (default: on when an endpoint is set)\n"
          "  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
          "\n"
          "Every flag can also be given as LTXPAGED_<FLAG> in the environment, e.g.\n"
          "LTXPAGED_CACHE_SIZE=1G, LTXPAGED_READ_TOKEN=...; LTXPAGED_REPLICA and LTXPAGED_DB\n"
          "take several values separated by commas or spaces. Flags override the environment.\n"
          "  --help, --version\n",
          o);
}

static int push(char ***arr, size_t *n, const char *v)
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

static int push_list(char ***arr, size_t *n, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -1;
    char *save = NULL;
    for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
        if (push(arr, n, t)) {
            free(copy);
            return -1;
        }
    free(copy);
    return 0;
}

static int parse_bool(const char *v)
{
    if (!v || !*v || !strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return 1;
    if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        return 0;
    return -1;
}

/* Owned strings for tokens etc. */
typedef struct {
    char *strs[16];
    int n;
} owned;
static owned g_owned;

static const char *keep(const char *v)
{
    if (g_owned.n >= 16)
        return v;
    char *c = strdup(v);
    if (!c)
        return v;
    g_owned.strs[g_owned.n++] = c;
    return c;
}

static int set_opt(srv_config *c, const char *name, const char *v, int from_env, FILE *err)
{
#define NEED()                                                                 \
    do {                                                                       \
        if (!v) {                                                              \
            fprintf(err, "ltxpaged: --%s needs a value\n", name);              \
            return -1;                                                         \
        }                                                                      \
    } while (0)
    if (!strcmp(name, "replica")) {
        NEED();
        return (from_env ? push_list(&c->replicas, &c->nreplicas, v) : push(&c->replicas, &c->nreplicas, v)) ? -1 : 0;
    }
    if (!strcmp(name, "db")) {
        NEED();
        return (from_env ? push_list(&c->dbs, &c->ndbs, v) : push(&c->dbs, &c->ndbs, v)) ? -1 : 0;
    }
    if (!strcmp(name, "listen")) {
        NEED();
        const char *colon = strrchr(v, ':');
        if (!colon || !colon[1]) {
            fprintf(err, "ltxpaged: --listen wants HOST:PORT, got \"%s\"\n", v);
            return -1;
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535) {
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
    if (!strcmp(name, "threads") || !strcmp(name, "max-historical") || !strcmp(name, "poll-threads") ||
        !strcmp(name, "max-historical-total") || !strcmp(name, "io-threads") ||
        !strcmp(name, "index-fetch-concurrency")) {
        NEED();
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 1024) {
            fprintf(err, "ltxpaged: --%s wants a number from 1 to 1024, got \"%s\"\n", name, v);
            return -1;
        }
        if (!strcmp(name, "threads"))
            c->threads = (int)n;
        else if (!strcmp(name, "poll-threads"))
            c->poll_threads = n > 64 ? 64 : (int)n;
        else if (!strcmp(name, "max-historical-total"))
            c->max_historical_total = (int)n;
        else if (!strcmp(name, "io-threads"))
            c->io_threads = (int)n;
        else if (!strcmp(name, "index-fetch-concurrency"))
            c->index_fetch_concurrency = n > 256 ? 256 : (int)n;
        else
            c->max_historical = (int)n;
        return 0;
    }
    if (!strcmp(name, "max-connections")) {
        NEED();
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 8 || n > 1000000) {
            fprintf(err, "ltxpaged: --max-connections wants a number from 8 to 1000000, got \"%s\"\n", v);
            return -1;
        }
        c->max_connections = (int)n;
        return 0;
    }
    if (!strcmp(name, "cache-size") || !strcmp(name, "max-l0-size")) {
        NEED();
        uint64_t b = config_parse_size(v);
        if (!b) {
            fprintf(err, "ltxpaged: --%s wants a size like 256M or 1G, got \"%s\"\n", name, v);
            return -1;
        }
        if (!strcmp(name, "cache-size"))
            c->cache_size = (size_t)b;
        else
            c->max_l0_bytes = (size_t)b;
        return 0;
    }
    struct {
        const char *n;
        int64_t *p;
        int64_t min;
    } durs[] = {{"poll-interval", &c->poll_ms, 10},
                {"l1-interval", &c->l1_interval_ms, 10},
                {"version-window", &c->version_window_ms, 0},
                {"rescan-interval", &c->rescan_ms, 100},
                {"historical-idle", &c->historical_idle_ms, 0}};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++)
        if (!strcmp(name, durs[i].n)) {
            NEED();
            int64_t ms = config_parse_duration_ms(v);
            if (ms < durs[i].min) {
                fprintf(err, "ltxpaged: --%s wants a duration like 1s or 250ms (at least %lldms), got \"%s\"\n",
                        name, (long long)durs[i].min, v);
                return -1;
            }
            *durs[i].p = ms;
            return 0;
        }
    if (!strcmp(name, "read-token")) {
        NEED();
        c->read_token = keep(v);
        return 0;
    }
    if (!strcmp(name, "admin-token")) {
        NEED();
        c->admin_token = keep(v);
        return 0;
    }
    if (!strcmp(name, "s3-endpoint")) {
        NEED();
        c->s3_endpoint = keep(v);
        return 0;
    }
    if (!strcmp(name, "s3-region")) {
        NEED();
        c->s3_region = keep(v);
        return 0;
    }
    if (!strcmp(name, "s3-path-style")) {
        int b = parse_bool(v);
        if (b < 0) {
            fprintf(err, "ltxpaged: --s3-path-style wants true or false\n");
            return -1;
        }
        c->s3_path_style = b;
        return 0;
    }
    if (!strcmp(name, "log-level")) {
        NEED();
        int l = log_parse_level(v);
        if (l < 0) {
            fprintf(err, "ltxpaged: --log-level wants debug, info, warn or error\n");
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    fprintf(err, "ltxpaged: unknown flag --%s (see --help)\n", name);
    return -1;
#undef NEED
}

static const char *env_flags[] = {"replica", "db", "listen", "threads", "io-threads", "max-connections", "cache-size", "poll-interval", "l1-interval",
                                  "version-window", "rescan-interval", "max-historical", "max-historical-total", "historical-idle",
                                  "max-l0-size", "poll-threads", "index-fetch-concurrency", "read-token", "admin-token", "s3-endpoint", "s3-region",
                                  "s3-path-style", "log-level", NULL};

static int takes_value(const char *name) { return strcmp(name, "s3-path-style") != 0; }

int config_load(srv_config *c, int argc, char **argv, FILE *err)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 7070;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = (int)(cores > 0 ? 2 * cores : 4);
    c->cache_size = (size_t)256 << 20;
    c->poll_ms = 1000;
    c->l1_interval_ms = 10000;
    c->version_window_ms = 60000;
    c->rescan_ms = 30000;
    c->max_historical = 4;
    c->max_historical_total = 16;
    c->io_threads = 32;
    c->index_fetch_concurrency = 16;
    c->poll_threads = cores > 1 ? (cores < 4 ? (int)cores : 4) : 1;
    c->historical_idle_ms = 300000;
    c->max_l0_bytes = (size_t)64 << 20;
    c->s3_path_style = -1;
    c->log_level = LOG_INFO;
    /* environment first */
    int cli_sources = 0;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--replica", 9) || !strncmp(argv[i], "--db", 4))
            cli_sources = 1;
    for (int i = 0; env_flags[i]; i++) {
        char env[64] = "LTXPAGED_";
        size_t o = strlen(env);
        for (const char *p = env_flags[i]; *p && o + 1 < sizeof env; p++)
            env[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[o] = 0;
        const char *v = getenv(env);
        if (!v || !*v)
            continue;
        /* sources given on the command line replace those from the environment */
        if (cli_sources && (!strcmp(env_flags[i], "replica") || !strcmp(env_flags[i], "db")))
            continue;
        if (set_opt(c, env_flags[i], v, 1, err)) {
            fprintf(err, "ltxpaged: (from %s)\n", env);
            return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            puts("ltxpaged 0.1.0");
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
        int known = 0;
        for (int k = 0; env_flags[k]; k++)
            if (!strcmp(env_flags[k], name))
                known = 1;
        if (!known) {
            fprintf(err, "ltxpaged: unknown flag --%s (see --help)\n", name);
            return -1;
        }
        if (!v && takes_value(name)) {
            if (i + 1 >= argc) {
                fprintf(err, "ltxpaged: --%s needs a value\n", name);
                return -1;
            }
            v = argv[++i];
        }
        if (set_opt(c, name, v, 0, err))
            return -1;
    }
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
    c->replicas = c->dbs = NULL;
    c->nreplicas = c->ndbs = 0;
    for (int i = 0; i < g_owned.n; i++)
        free(g_owned.strs[i]);
    g_owned.n = 0;
}
