/* http_metrics.c - GET /metrics (Prometheus text format 0.0.4) from
 * tables of metric definitions, and the request counters and latency
 * histograms behind ltxpaged_http_requests_total and
 * ltxpaged_http_request_duration_seconds.
 *
 * Every metric has HELP and TYPE, names carry their unit (_seconds,
 * _bytes, _total); `promtool check metrics` accepts the output
 * (tests/test_server_metrics.py). Per-database metrics are read under
 * the database list lock into a snapshot first, so no database lock is
 * held while text is formatted; --metrics-per-db=false leaves them out.
 * Counters are relaxed atomics (one per route and status), histograms
 * atomic bucket counters (server/metrics.h): nothing on the request path
 * takes a lock or allocates. */
#include "http_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void http_metrics_count(struct http *h, const struct http_req *r, int status)
{
    atomic_fetch_add_explicit(&h->counts[r->route][HTTP_STATUS_SLOT(status)], 1, memory_order_relaxed);
    if (r->t0_ns)
        metrics_observe_since(&h->req_seconds[r->route], r->t0_ns);
}

/* ---- a growable text buffer (capped at 64 MiB) ---- */

struct http_metrics_buf {
    char *p;
    size_t n, cap;
    int oom;
};

static void http_metrics_printf(struct http_metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void http_metrics_printf(struct http_metrics_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (m < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)m < b->cap - b->n) {
            b->n += (size_t)m;
            return;
        }
        size_t nc = b->cap * 2 + (size_t)m + 1;
        if (nc > (64u << 20)) {
            b->oom = 1;
            return;
        }
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

/* Prometheus label value escaping. */
static const char *http_metrics_label(char *out, size_t len, const char *v)
{
    size_t o = 0;
    for (; *v && o + 3 < len; v++) {
        if (*v == '"' || *v == '\\') {
            out[o++] = '\\';
            out[o++] = *v;
        } else if (*v == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *v;
        }
    }
    out[o] = 0;
    return out;
}

/* "# HELP name help\n# TYPE name type\n" */
static void http_metrics_head(struct http_metrics_buf *b, const char *name, const char *type,
                              const char *help)
{
    http_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series (v as read once); label is `key="value"` or "". */
static void http_metrics_hist_put(struct http_metrics_buf *b, const char *name, const char *label,
                                  const metrics_hist_read_t *vp)
{
    const metrics_hist_read_t v = *vp;
    const char *sep = label[0] ? "," : "";
    for (size_t i = 0; i < METRICS_NBOUNDS; i++)
        http_metrics_printf(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, label, sep, metrics_bounds[i],
                            v.cum[i]);
    http_metrics_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label, sep,
                        v.cum[METRICS_NBOUNDS]);
    if (label[0]) {
        http_metrics_printf(b, "%s_sum{%s} %.9g\n", name, label, v.sum_seconds);
        http_metrics_printf(b, "%s_count{%s} %" PRIu64 "\n", name, label, v.cum[METRICS_NBOUNDS]);
    } else {
        http_metrics_printf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, v.sum_seconds, name,
                            v.cum[METRICS_NBOUNDS]);
    }
}

static void http_metrics_hist(struct http_metrics_buf *b, const char *name, const char *label,
                              metrics_hist *hh)
{
    metrics_hist_read_t v;
    metrics_hist_read(hh, &v);
    http_metrics_hist_put(b, name, label, &v);
}

/* ---- the metric tables ---- */

enum http_metric_fmt { HTTP_MF_U64, HTTP_MF_U32, HTTP_MF_SECONDS, HTTP_MF_STATE };

/* Per database: ltxpaged_db_*{db="..."}, from db_metrics. */
static const struct {
    const char *name, *type, *help;
    enum http_metric_fmt fmt;
    size_t off; /* in db_metrics */
} http_metrics_db[] = {
    { "ltxpaged_db_txid", "gauge", "Newest TXID indexed.", HTTP_MF_U64, offsetof(db_metrics, txid) },
    { "ltxpaged_db_commit_pages", "gauge", "Database size in pages at the newest TXID.", HTTP_MF_U32,
      offsetof(db_metrics, commit) },
    { "ltxpaged_db_lag_seconds", "gauge", "Seconds since the last successful poll (-1: none yet).",
      HTTP_MF_SECONDS, offsetof(db_metrics, lag_seconds) },
    { "ltxpaged_db_age_seconds", "gauge", "Seconds since the newest TXID's timestamp.", HTTP_MF_SECONDS,
      offsetof(db_metrics, age_seconds) },
    { "ltxpaged_db_pages_served_total", "counter", "Pages served.", HTTP_MF_U64,
      offsetof(db_metrics, pages_served) },
    { "ltxpaged_db_polls_total", "counter", "Polls.", HTTP_MF_U64, offsetof(db_metrics, polls) },
    { "ltxpaged_db_poll_errors_total", "counter", "Polls that failed.", HTTP_MF_U64,
      offsetof(db_metrics, poll_errors) },
    { "ltxpaged_db_files_applied_total", "counter", "LTX files applied to the live index.", HTTP_MF_U64,
      offsetof(db_metrics, files_applied) },
    { "ltxpaged_db_replans_total", "counter", "Index rebuilds from a fresh restore plan.", HTTP_MF_U64,
      offsetof(db_metrics, replans) },
    { "ltxpaged_db_historical_builds_total", "counter", "Historical (point-in-time) indexes built.",
      HTTP_MF_U64, offsetof(db_metrics, hist_builds) },
    { "ltxpaged_db_page_versions", "gauge", "Page versions in the live index.", HTTP_MF_U64,
      offsetof(db_metrics, versions) },
    { "ltxpaged_db_historical_indexes", "gauge", "Historical indexes held.", HTTP_MF_U64,
      offsetof(db_metrics, hist_count) },
    { "ltxpaged_db_state", "gauge", "1 for the database's current state.", HTTP_MF_STATE,
      offsetof(db_metrics, state) },
};

/* The shared page cache: ltxpaged_cache_*, from pcache_stats. */
static const struct {
    const char *name, *type, *help;
    size_t off;
} http_metrics_cache[] = {
    { "ltxpaged_cache_hits_total", "counter", "Page lookups answered from the shared cache.",
      offsetof(pcache_stats, hits) },
    { "ltxpaged_cache_misses_total", "counter", "Page lookups that had to read the object store.",
      offsetof(pcache_stats, misses) },
    { "ltxpaged_cache_coalesced_total", "counter", "Misses that waited for a read already in flight.",
      offsetof(pcache_stats, coalesced) },
    { "ltxpaged_cache_evictions_total", "counter", "Pages evicted to stay under --cache-size.",
      offsetof(pcache_stats, evictions) },
    { "ltxpaged_cache_inserts_total", "counter", "Pages put into the cache.",
      offsetof(pcache_stats, inserts) },
    { "ltxpaged_cache_bytes", "gauge", "Bytes of pages in the cache.", offsetof(pcache_stats, bytes) },
    { "ltxpaged_cache_max_bytes", "gauge", "The cache's bound (--cache-size).",
      offsetof(pcache_stats, max_bytes) },
    { "ltxpaged_cache_entries", "gauge", "Pages in the cache.", offsetof(pcache_stats, entries) },
};

/* Per object store: ltxpaged_objstore_<name>{store="..."}. */
static const struct {
    const char *name, *help;
    size_t off;
} http_metrics_store[] = {
    { "ltxpaged_objstore_gets_total", "Object reads (whole or ranged).", offsetof(objstore_stats, gets) },
    { "ltxpaged_objstore_lists_total", "Listings.", offsetof(objstore_stats, lists) },
    { "ltxpaged_objstore_heads_total", "Metadata reads (HEAD).", offsetof(objstore_stats, heads) },
    { "ltxpaged_objstore_errors_total", "Calls that failed (not counting not-found).",
      offsetof(objstore_stats, errors) },
    { "ltxpaged_objstore_retries_total", "Requests retried.", offsetof(objstore_stats, retries) },
    { "ltxpaged_objstore_read_bytes_total", "Bytes read from the store.",
      offsetof(objstore_stats, bytes_read) },
    { "ltxpaged_objstore_puts_total", "Objects written.", offsetof(objstore_stats, puts) },
    { "ltxpaged_objstore_deletes_total", "Objects deleted.", offsetof(objstore_stats, deletes) },
    { "ltxpaged_objstore_written_bytes_total", "Bytes written to the store.",
      offsetof(objstore_stats, bytes_written) },
};

#define HTTP_METRICS_N(t)             (sizeof t / sizeof t[0])
#define HTTP_METRICS_FIELD(T, p, off) (*(const T *)(const void *)((const char *)(p) + (off)))

static void http_metrics_db_line(struct http_metrics_buf *b, size_t m, const char *l, const db_metrics *x)
{
    const char *name = http_metrics_db[m].name;
    size_t off = http_metrics_db[m].off;
    switch (http_metrics_db[m].fmt) {
    case HTTP_MF_U64:
        http_metrics_printf(b, "%s{db=\"%s\"} %" PRIu64 "\n", name, l, HTTP_METRICS_FIELD(uint64_t, x, off));
        break;
    case HTTP_MF_U32:
        http_metrics_printf(b, "%s{db=\"%s\"} %u\n", name, l, HTTP_METRICS_FIELD(uint32_t, x, off));
        break;
    case HTTP_MF_SECONDS:
        http_metrics_printf(b, "%s{db=\"%s\"} %.3f\n", name, l, HTTP_METRICS_FIELD(double, x, off));
        break;
    case HTTP_MF_STATE:
        for (int st = DB_WAITING; st < DB_STATE_COUNT; st++)
            http_metrics_printf(b, "%s{db=\"%s\",state=\"%s\"} %d\n", name, l, db_state_name(st),
                                HTTP_METRICS_FIELD(int, x, off) == st);
        break;
    }
}

/* ltxpaged_databases{state} always; ltxpaged_db_*{db} with per_db. */
static void http_metrics_dbs(struct http_metrics_buf *b, srv *s, int per_db)
{
    pthread_rwlock_rdlock(&s->dbs_lock);
    size_t nd = s->ndbs;
    db_metrics *ms = calloc(nd ? nd : 1, sizeof *ms);
    char **names = per_db ? calloc(nd ? nd : 1, sizeof *names) : NULL;
    for (size_t i = 0; ms && i < nd; i++) {
        ltxdb_metrics(s->dbs[i], &ms[i]);
        if (names)
            names[i] = strdup(ltxdb_name(s->dbs[i]));
    }
    pthread_rwlock_unlock(&s->dbs_lock);
    if (!ms || (per_db && !names)) {
        b->oom = 1;
        nd = 0;
    }
    uint64_t by_state[DB_STATE_COUNT] = { 0 };
    for (size_t i = 0; i < nd; i++)
        if (ms[i].state >= DB_WAITING && ms[i].state < DB_STATE_COUNT)
            by_state[ms[i].state]++;
    http_metrics_head(b, "ltxpaged_databases", "gauge", "Databases served, by state.");
    for (int st = DB_WAITING; st < DB_STATE_COUNT; st++)
        http_metrics_printf(b, "ltxpaged_databases{state=\"%s\"} %" PRIu64 "\n", db_state_name(st),
                            by_state[st]);
    for (size_t m = 0; per_db && names && m < HTTP_METRICS_N(http_metrics_db); m++) {
        http_metrics_head(b, http_metrics_db[m].name, http_metrics_db[m].type, http_metrics_db[m].help);
        for (size_t i = 0; i < nd; i++) {
            char l[512];
            http_metrics_label(l, sizeof l, names[i] ? names[i] : "");
            http_metrics_db_line(b, m, l, &ms[i]);
        }
    }
    for (size_t i = 0; names && i < nd; i++)
        free(names[i]);
    free(names);
    free(ms);
}

static void http_metrics_stores(struct http_metrics_buf *b, srv *s)
{
    pcache_stats cs;
    pcache_get_stats(s->cache, &cs);
    for (size_t m = 0; m < HTTP_METRICS_N(http_metrics_cache); m++) {
        http_metrics_head(b, http_metrics_cache[m].name, http_metrics_cache[m].type,
                          http_metrics_cache[m].help);
        http_metrics_printf(b, "%s %" PRIu64 "\n", http_metrics_cache[m].name,
                            HTTP_METRICS_FIELD(uint64_t, &cs, http_metrics_cache[m].off));
    }
    for (size_t m = 0; m < HTTP_METRICS_N(http_metrics_store); m++) {
        http_metrics_head(b, http_metrics_store[m].name, "counter", http_metrics_store[m].help);
        for (size_t i = 0; i < s->nsources; i++) {
            objstore_stats st;
            objstore_get_stats(s->sources[i].store, &st);
            char l[600];
            http_metrics_printf(b, "%s{store=\"%s\"} %" PRIu64 "\n", http_metrics_store[m].name,
                                http_metrics_label(l, sizeof l, s->sources[i].url),
                                HTTP_METRICS_FIELD(uint64_t, &st, http_metrics_store[m].off));
        }
    }
    http_metrics_head(b, "ltxpaged_objstore_list_requests_total", "counter",
                      "Listings by what made them: dbs (root listing), probe (a folder checked for level "
                      "folders), level (one level: L0 polls), all (every level of a database), other.");
    for (size_t i = 0; i < s->nsources; i++) {
        objstore_stats st;
        objstore_get_stats(s->sources[i].store, &st);
        char l[600];
        http_metrics_label(l, sizeof l, s->sources[i].url);
        for (int k = 0; k < OBJSTORE_LIST__N; k++)
            http_metrics_printf(
                b, "ltxpaged_objstore_list_requests_total{store=\"%s\",kind=\"%s\"} %" PRIu64 "\n", l,
                objstore_list_kind_names[k], st.lists_by_kind[k]);
    }
    http_metrics_head(
        b, "ltxpaged_objstore_request_duration_seconds", "histogram",
        "Object-store calls by operation (list, get, range, put, head, delete), retries included.");
    for (int op = 0; op < OBJSTORE_OP__N; op++) {
        char l[32];
        snprintf(l, sizeof l, "op=\"%s\"", objstore_op_names[op]);
        http_metrics_hist(b, "ltxpaged_objstore_request_duration_seconds", l, &metrics_store_seconds[op]);
    }
}

/* Polls and index builds: the server's background work. */
static void http_metrics_background(struct http_metrics_buf *b)
{
    http_metrics_head(b, "ltxpaged_poll_duration_seconds", "histogram", "One poll of one database.");
    http_metrics_hist(b, "ltxpaged_poll_duration_seconds", "", &metrics_poll_seconds);
    http_metrics_head(
        b, "ltxpaged_index_build_duration_seconds", "histogram",
        "Building an index from a restore plan (live: start and re-plans; historical: point in time).");
    for (int k = 0; k < METRICS_INDEX__N; k++) {
        char l[32];
        snprintf(l, sizeof l, "kind=\"%s\"", metrics_index_kinds[k]);
        http_metrics_hist(b, "ltxpaged_index_build_duration_seconds", l, &metrics_index_build_seconds[k]);
    }
}

static void http_metrics_requests(struct http_metrics_buf *b, struct http *h)
{
    http_metrics_head(b, "ltxpaged_http_requests_total", "counter",
                      "HTTP requests answered, by route and status.");
    for (int rt = 0; rt < HTTP_R__N; rt++)
        for (int st = 100; st < 100 + HTTP_NSTATUS; st++) {
            uint64_t v = atomic_load_explicit(&h->counts[rt][HTTP_STATUS_SLOT(st)], memory_order_relaxed);
            if (v)
                http_metrics_printf(b, "ltxpaged_http_requests_total{route=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                                    http_route_names[rt], st, v);
        }
    http_metrics_head(
        b, "ltxpaged_http_request_duration_seconds", "histogram",
        "Time from the request line to the answer being queued, by route (routes seen so far).");
    for (int rt = 0; rt < HTTP_R__N; rt++) {
        metrics_hist_read_t v;
        metrics_hist_read(&h->req_seconds[rt], &v);
        if (!v.cum[METRICS_NBOUNDS])
            continue;
        char l[32];
        snprintf(l, sizeof l, "route=\"%s\"", http_route_names[rt]);
        http_metrics_hist_put(b, "ltxpaged_http_request_duration_seconds", l, &v);
    }
}

/* ltxpaged_up, _build_info, _uptime_seconds, _ready and process_*. */
static void http_metrics_server(struct http_metrics_buf *b, srv *s)
{
    http_metrics_head(b, "ltxpaged_up", "gauge", "1 while the server runs.");
    http_metrics_printf(b, "ltxpaged_up 1\n");
    http_metrics_head(b, "ltxpaged_build_info", "gauge", "Always 1; the version is a label.");
    http_metrics_printf(b, "ltxpaged_build_info{version=\"%s\"} 1\n", LTXPAGED_VERSION);
    http_metrics_head(b, "ltxpaged_uptime_seconds", "gauge", "Seconds since the server started.");
    http_metrics_printf(b, "ltxpaged_uptime_seconds %.3f\n", (double)(now_ms() - s->started_ms) / 1000.0);
    http_metrics_head(b, "ltxpaged_ready", "gauge",
                      "1 once every database finished its first index attempt.");
    http_metrics_printf(b, "ltxpaged_ready %d\n", srv_ready(s));
    metrics_process p;
    metrics_process_read(&p);
    const struct {
        const char *name, *type, *help;
        double v;
    } rows[] = {
        { "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
          p.cpu_seconds },
        { "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes },
        { "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes },
        { "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
          p.start_time_seconds },
        { "process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds },
        { "process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds },
        { "process_threads", "gauge", "Number of OS threads in the process.", p.threads },
    };
    for (size_t i = 0; i < HTTP_METRICS_N(rows); i++) {
        if (rows[i].v < 0)
            continue; /* not readable here (no /proc) */
        http_metrics_head(b, rows[i].name, rows[i].type, rows[i].help);
        http_metrics_printf(b, "%s %.15g\n", rows[i].name, rows[i].v);
    }
}

enum MHD_Result http_metrics_get(struct http *h, struct http_req *r)
{
    srv *s = h->s;
    struct http_metrics_buf b = { malloc(65536), 0, 65536, 0 };
    if (!b.p)
        return MHD_NO;
    b.p[0] = 0;
    http_metrics_server(&b, s);
    http_metrics_dbs(&b, s, s->cfg.metrics_per_db);
    http_metrics_stores(&b, s);
    http_metrics_background(&b);
    http_metrics_requests(&b, h);
    if (b.oom) {
        free(b.p);
        return http_resp_error(h, r, 500, LTXW_E_INTERNAL, "metrics too large");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.n, b.p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b.p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_resp_queue(h, r, 200, resp);
}
