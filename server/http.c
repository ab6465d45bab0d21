/* http.c - HTTP routes, admin JSON, metrics, auth, long-poll waiters. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "ltx.h"
#include "wire.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define LTXPAGED_VERSION "0.1.0"

enum { R_PAGE, R_BATCH, R_FILE, R_CHANGES, R_DB, R_ADMIN, R_METRICS, R_HEALTH, R_READY, R_INDEX, R_OTHER, R__N };
static const char *route_names[R__N] = {"page", "batch", "file", "changes", "status", "admin",
                                        "metrics", "healthz", "readyz", "index", "other"};
static const int statuses[] = {200, 206, 304, 400, 401, 404, 405, 409, 410, 413, 414, 416, 500, 502, 503, 0};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

typedef struct req {
    char *raw;                 /* raw request target (before percent-decoding) */
    size_t rawlen;
    int calls;
    int route;
    int waited;                /* long-poll finished */
    int suspended;
    int was_waiter;            /* counted in http.pending_polls until completed */
    int64_t t0;                /* mono ms when the request line arrived */
    /* a request run by a loader thread (it may wait for the object store) */
    const char *url, *method;  /* as given to the handler (valid for the request) */
    int offloaded;             /* suspended while a loader runs it */
    int job_pending;           /* counted in http.pending_jobs */
    enum MHD_Result job_rc;
    struct MHD_Response *dresp; /* its answer, queued when resumed */
    int dstatus;
    struct req *jnext;
    ltxdb *wdb;
    uint64_t since;
    uint64_t hgen;             /* history generation when the long-poll started */
    int64_t deadline;
    struct MHD_Connection *conn;
    struct req *wnext, *wprev;
} req;

typedef struct {
    struct MHD_Daemon *d;
    srv *s;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    req waiters;               /* sentinel of a circular list */
    size_t nwaiters;
    size_t max_waiters;        /* long-polls beyond this are answered at once */
    unsigned max_conns;        /* MHD_OPTION_CONNECTION_LIMIT */
    atomic_int pending_polls;  /* long-polls suspended and not yet completed */
    /* loaders: requests that may read the object store run here, their
     * connection suspended, so a slow store never holds the HTTP threads
     * that answer cached pages */
    pthread_t *loaders;
    int nloaders;
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    req *jhead, *jtail;
    struct file_ctx *fhead, *ftail;
    int jstop;
    atomic_int pending_jobs;   /* offloaded and answer not yet queued */
    int waker_stop;
    pthread_t waker;
    int waker_started;
    atomic_uint_fast64_t counts[R__N][NSTATUS];
    unsigned char read_hash[32], admin_hash[32];
    int has_read, has_admin;
} http;

static const uint8_t zeros[LTX_MAX_PAGE_SIZE];
/* With a read token, immutable answers are "private": a shared cache in
 * front must not hand authenticated bytes to anyone. Set once at start. */
static int g_private_cache;

/* ---- parsing helpers --------------------------------------------------- */

int http_parse_page(const char *s, uint32_t *out)
{
    if (!s || !*s || strlen(s) > 10)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > 0xffffffffull)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int http_parse_page_list(const char *s, uint32_t max, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s)
        return -1;
    size_t cap = 16, cnt = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    const char *p = s;
    while (1) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            goto bad;
        memcpy(item, p, len);
        item[len] = 0;
        uint32_t a, b;
        char *dash = strchr(item, '-');
        if (dash) {
            *dash = 0;
            if (http_parse_page(item, &a) || http_parse_page(dash + 1, &b) || b < a)
                goto bad;
        } else {
            if (http_parse_page(item, &a))
                goto bad;
            b = a;
        }
        if ((uint64_t)cnt + (b - a) + 1 > max) {
            free(v);
            return -2;
        }
        for (uint64_t x = a; x <= b; x++) {
            if (cnt == cap) {
                cap *= 2;
                uint32_t *nv = realloc(v, cap * sizeof *nv);
                if (!nv)
                    goto bad;
                v = nv;
            }
            v[cnt++] = (uint32_t)x;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
bad:
    free(v);
    return -1;
}

static int parse_u64_dec(const char *s, uint64_t *out)
{
    if (!*s || strlen(s) > 19)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

int http_parse_range(const char *h, uint64_t total, uint64_t *start, uint64_t *end)
{
    if (!h)
        return 1;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "bytes=", 6) != 0)
        return 1;
    h += 6;
    if (strchr(h, ','))
        return 1; /* multiple ranges: serve the whole file */
    char a[32], b[32];
    const char *dash = strchr(h, '-');
    if (!dash || (size_t)(dash - h) >= sizeof a || strlen(dash + 1) >= sizeof b)
        return 1;
    memcpy(a, h, (size_t)(dash - h));
    a[dash - h] = 0;
    snprintf(b, sizeof b, "%s", dash + 1);
    uint64_t x, y;
    if (a[0] == 0) {
        if (parse_u64_dec(b, &y))
            return 1;
        if (y == 0 || total == 0)
            return -1;
        *start = y >= total ? 0 : total - y;
        *end = total - 1;
        return 0;
    }
    if (parse_u64_dec(a, &x))
        return 1;
    if (b[0] == 0) {
        y = total ? total - 1 : 0;
    } else {
        if (parse_u64_dec(b, &y) || y < x)
            return 1;
        if (y >= total)
            y = total - 1;
    }
    if (x >= total)
        return -1;
    *start = x;
    *end = y;
    return 0;
}

/* ---- responses ---------------------------------------------------------- */

static int status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return (int)i;
    return (int)NSTATUS - 1;
}

/* Set while a loader thread runs a request: its answer is kept in the
 * request and queued by the HTTP thread when the connection resumes
 * (MHD_queue_response belongs to the access handler). */
static _Thread_local req *tl_loader_req;

static enum MHD_Result queue(http *h, req *r, struct MHD_Connection *c, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    atomic_fetch_add_explicit(&h->counts[r->route][status_index(status)], 1, memory_order_relaxed);
    if (log_enabled(LOG_DEBUG)) {
        char q[600];
        logf_(LOG_DEBUG, "request", "route=%s status=%d ms=%lld path=%s", route_names[r->route], status,
              (long long)(mono_ms() - r->t0), log_q(q, sizeof q, r->raw ? r->raw : ""));
    }
    if (tl_loader_req == r) {
        if (r->dresp)
            MHD_destroy_response(r->dresp);
        r->dresp = resp;
        r->dstatus = status;
        return MHD_YES;
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(http *h, req *r, struct MHD_Connection *c, int status, json_t *j,
                                 const char *cache_control)
{
    char *body = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    body = realloc(body, len + 2) ?: body;
    body[len++] = '\n';
    body[len] = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", cache_control ? cache_control : "no-cache");
    return queue(h, r, c, status, resp);
}

static enum MHD_Result send_error(http *h, req *r, struct MHD_Connection *c, int status, const char *code,
                                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_error(http *h, req *r, struct MHD_Connection *c, int status, const char *code,
                                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char q1[600], q2[600];
    logf_(status >= 500 ? LOG_ERROR : LOG_INFO, "request_error", "status=%d code=%s path=%s error=%s", status,
          code, log_q(q1, sizeof q1, r->raw ? r->raw : ""), log_q(q2, sizeof q2, msg));
    json_t *j = json_object();
    json_object_set_new(j, "error", json_string(msg));
    json_object_set_new(j, "code", json_string(code));
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"ltxpaged\"");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    return queue(h, r, c, status, resp);
}

static enum MHD_Result send_dberr(http *h, req *r, struct MHD_Connection *c, const db_err *e)
{
    return send_error(h, r, c, e->status ? e->status : 500, e->code ? e->code : LTXW_E_INTERNAL, "%s", e->msg);
}

static void add_snap_headers(struct MHD_Response *resp, const db_snap *s, int pinned, const char *etag)
{
    char b[64];
    ltx_format_txid(b, s->txid);
    MHD_add_response_header(resp, LTXW_HDR_TXID, b);
    snprintf(b, sizeof b, "%u", s->commit);
    MHD_add_response_header(resp, LTXW_HDR_COMMIT, b);
    snprintf(b, sizeof b, "%u", s->page_size);
    MHD_add_response_header(resp, LTXW_HDR_PAGE_SIZE, b);
    fmt_time_ms(b, sizeof b, s->ts_ms);
    MHD_add_response_header(resp, LTXW_HDR_TIMESTAMP, b);
    MHD_add_response_header(resp, "Cache-Control",
                            !pinned            ? "no-cache"
                            : g_private_cache ? "private, max-age=31536000, immutable"
                                              : "public, max-age=31536000, immutable");
    if (etag)
        MHD_add_response_header(resp, "ETag", etag);
}

/* 304 when If-None-Match names our ETag. */
static int not_modified(struct MHD_Connection *c, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    return strstr(inm, etag) != NULL;
}

static enum MHD_Result send_304(http *h, req *r, struct MHD_Connection *c, const db_snap *s, int pinned,
                                const char *etag)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_snap_headers(resp, s, pinned, etag);
    return queue(h, r, c, 304, resp);
}

/* ---- auth ---------------------------------------------------------------- */

static void sha256_str(const char *s, unsigned char out[32]) { SHA256((const unsigned char *)s, strlen(s), out); }

static int authorized(struct MHD_Connection *c, const unsigned char want[32])
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return 0;
    a += 7;
    while (*a == ' ')
        a++;
    unsigned char got[32];
    sha256_str(a, got);
    return CRYPTO_memcmp(got, want, 32) == 0;
}

/* ---- page routes --------------------------------------------------------- */

static void release_entry(void *cls) { pcache_release(cls); }

/* ?txid=: 1 when given (*txid set), 0 when absent (*txid = 0, latest),
 * -1 when malformed (answer with send_bad_txid). */
static int get_txid_param(struct MHD_Connection *c, uint64_t *txid)
{
    *txid = 0;
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_TXID);
    if (!t)
        return 0;
    if (ltx_parse_txid(t, txid, 0) != 0) {
        *txid = 0;
        return -1;
    }
    return 1;
}

static enum MHD_Result send_bad_txid(http *h, req *r, struct MHD_Connection *c)
{
    return send_error(h, r, c, 400, LTXW_E_BAD_TXID, "txid must be 1-16 hex digits, not zero");
}

static enum MHD_Result dispatch(http *h, req *r, struct MHD_Connection *c, const char *url, const char *method);
typedef struct file_ctx file_ctx;

/* Run this request on a loader thread: suspend the connection; the loader
 * dispatches it again (answers are kept, see queue()) and resumes it. When
 * loaders are stopping, run it here. */
static enum MHD_Result offload(http *h, req *r, struct MHD_Connection *c)
{
    pthread_mutex_lock(&h->jmu);
    if (h->jstop || h->nloaders == 0) {
        pthread_mutex_unlock(&h->jmu);
        req *prev = tl_loader_req;
        tl_loader_req = r;
        enum MHD_Result rc = dispatch(h, r, c, r->url, r->method);
        tl_loader_req = prev;
        struct MHD_Response *resp = r->dresp;
        r->dresp = NULL;
        if (rc != MHD_YES || !resp) {
            if (resp)
                MHD_destroy_response(resp);
            return MHD_NO;
        }
        rc = MHD_queue_response(c, (unsigned)r->dstatus, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    r->offloaded = 1;
    r->job_pending = 1;
    atomic_fetch_add(&h->pending_jobs, 1);
    MHD_suspend_connection(c);
    r->jnext = NULL;
    if (h->jtail)
        h->jtail->jnext = r;
    else
        h->jhead = r;
    h->jtail = r;
    pthread_cond_signal(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    return MHD_YES;
}

static enum MHD_Result route_page(http *h, req *r, struct MHD_Connection *c, ltxdb *d, const char *pgs)
{
    uint32_t pgno;
    if (http_parse_page(pgs, &pgno))
        return send_error(h, r, c, 400, LTXW_E_BAD_PAGE, "page must be a number from 1, got \"%.40s\"", pgs);
    uint64_t txid;
    int pinned = get_txid_param(c, &txid);
    if (pinned < 0)
        return send_bad_txid(h, r, c);
    db_snap s;
    db_err e = {0};
    char etag[64];
    pc_entry *pe = NULL;
    if (ltxdb_try_page(d, txid, pgno, &s, &pe)) {
        /* cached (or zeros): answered here, no waiting */
        snprintf(etag, sizeof etag, "\"%016" PRIx64 "-p%u\"", s.txid, pgno);
        if (not_modified(c, etag)) {
            pcache_release(pe);
            return send_304(h, r, c, &s, pinned, etag);
        }
    } else {
        if (tl_loader_req != r)
            return offload(h, r, c);
        if (ltxdb_resolve(d, txid, &s, &e))
            return send_dberr(h, r, c, &e);
        snprintf(etag, sizeof etag, "\"%016" PRIx64 "-p%u\"", s.txid, pgno);
        if (pgno > s.commit)
            return send_error(h, r, c, 404, LTXW_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)",
                              pgno, s.commit);
        if (not_modified(c, etag))
            return send_304(h, r, c, &s, pinned, etag);
        if (ltxdb_page(d, &s, pgno, &pe, &e))
            return send_dberr(h, r, c, &e);
    }
    struct MHD_Response *resp;
    if (pe)
        resp = MHD_create_response_from_buffer_with_free_callback_cls(pcache_size(pe), (void *)pcache_data(pe),
                                                                      release_entry, pe);
    else
        resp = MHD_create_response_from_buffer(s.page_size, (void *)zeros, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        pcache_release(pe);
        return MHD_NO;
    }
    ltxdb_count_served(d, 1);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    add_snap_headers(resp, &s, pinned, etag);
    return queue(h, r, c, 200, resp);
}

typedef struct {
    size_t n;
    pc_entry *ents[];
} batch_body;

static void batch_free(void *cls)
{
    batch_body *b = cls;
    for (size_t i = 0; i < b->n; i++)
        pcache_release(b->ents[i]);
    free(b);
}

static enum MHD_Result route_batch(http *h, req *r, struct MHD_Connection *c, ltxdb *d)
{
    const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_PAGES);
    if (!ns)
        return send_error(h, r, c, 400, LTXW_E_BAD_PAGE, "missing n=<pages>, e.g. n=1,4,9-12");
    uint32_t *pages = NULL;
    size_t n = 0;
    int pr = http_parse_page_list(ns, LTXW_MAX_BATCH_PAGES, &pages, &n);
    if (pr == -2)
        return send_error(h, r, c, 413, LTXW_E_BATCH_TOO_LARGE, "at most %d pages per batch",
                          LTXW_MAX_BATCH_PAGES);
    if (pr)
        return send_error(h, r, c, 400, LTXW_E_BAD_PAGE, "n must be page numbers from 1 or ranges a-b, comma separated");
    uint64_t txid;
    int pinned = get_txid_param(c, &txid);
    if (pinned < 0) {
        free(pages);
        return send_bad_txid(h, r, c);
    }
    db_snap s;
    db_err e = {0};
    batch_body *bb = malloc(sizeof *bb + n * sizeof bb->ents[0]);
    if (!bb) {
        free(pages);
        return send_error(h, r, c, 500, LTXW_E_INTERNAL, "out of memory");
    }
    bb->n = n;
    /* every page in memory: answered here; else on a loader thread */
    int have = ltxdb_try_pages(d, txid, pages, n, &s, bb->ents);
    if (!have && tl_loader_req != r) {
        free(bb);
        free(pages);
        return offload(h, r, c);
    }
    if (!have && ltxdb_resolve(d, txid, &s, &e)) {
        free(bb);
        free(pages);
        return send_dberr(h, r, c, &e);
    }
    for (size_t i = 0; i < n; i++)
        if (pages[i] > s.commit) {
            uint32_t p = pages[i];
            free(pages);
            batch_free(bb);
            return send_error(h, r, c, 404, LTXW_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)",
                              p, s.commit);
        }
    /* ETag: hash of the page list */
    unsigned char dg[32];
    SHA256((const unsigned char *)pages, n * sizeof *pages, dg);
    char etag[80];
    snprintf(etag, sizeof etag, "\"%016" PRIx64 "-b%02x%02x%02x%02x%02x%02x%02x%02x\"", s.txid, dg[0], dg[1], dg[2],
             dg[3], dg[4], dg[5], dg[6], dg[7]);
    if (not_modified(c, etag)) {
        free(pages);
        batch_free(bb);
        return send_304(h, r, c, &s, pinned, etag);
    }
    /* The answer points at the cache entries (held until it is sent; zeros
     * for pages that read as zeros): no copy of the pages, no buffer of
     * n pages per request. */
    struct MHD_IoVec *iov = malloc(n * sizeof *iov);
    if (!iov) {
        free(pages);
        batch_free(bb);
        return send_error(h, r, c, 500, LTXW_E_INTERNAL, "out of memory");
    }
    if (!have && ltxdb_pages(d, &s, pages, n, bb->ents, &e)) {
        free(bb);
        free(iov);
        free(pages);
        return send_dberr(h, r, c, &e);
    }
    free(pages);
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = bb->ents[i] ? (const void *)pcache_data(bb->ents[i]) : (const void *)zeros;
        iov[i].iov_len = s.page_size;
    }
    struct MHD_Response *resp = MHD_create_response_from_iovec(iov, (unsigned)n, batch_free, bb);
    free(iov); /* libmicrohttpd keeps its own copy */
    if (!resp) {
        batch_free(bb);
        return MHD_NO;
    }
    ltxdb_count_served(d, n);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    add_snap_headers(resp, &s, pinned, etag);
    return queue(h, r, c, 200, resp);
}

#define FILE_WINDOW_MAX 64

struct file_ctx {
    ltxdb *d;
    db_snap s;
    int journal;
    uint64_t start, end;       /* inclusive */
    /* a window of pages read together (one range read per run of frames) */
    uint32_t win_first;        /* 0 = empty */
    uint32_t win_n;
    pc_entry *win[FILE_WINDOW_MAX];
    /* a window that needs the object store is read by a loader thread
     * while the connection is suspended */
    http *h;
    struct MHD_Connection *conn;
    uint32_t want;             /* first page of the window to load */
    int lfail;                 /* the loader's read failed (msg in lerr) */
    db_err lerr;
    struct file_ctx *jnext;
};

static void window_drop(file_ctx *f)
{
    for (uint32_t i = 0; i < f->win_n; i++)
        pcache_release(f->win[i]);
    f->win_first = 0;
    f->win_n = 0;
}

/* Make pgno available: load the window starting at it. 0 ok, -1 error;
 * with nowait, 1 when that would read the object store (nothing held). */
static int window_load(file_ctx *f, uint32_t pgno, db_err *e, int nowait)
{
    window_drop(f);
    uint32_t last = (uint32_t)(f->end / f->s.page_size) + 1;
    uint32_t per = (uint32_t)((1u << 20) / f->s.page_size); /* ~1 MiB of pages */
    if (per < 1)
        per = 1;
    if (per > FILE_WINDOW_MAX)
        per = FILE_WINDOW_MAX;
    uint32_t n = last - pgno + 1 < per ? last - pgno + 1 : per;
    uint32_t pg[FILE_WINDOW_MAX];
    for (uint32_t i = 0; i < n; i++)
        pg[i] = pgno + i;
    db_snap same;
    if (nowait) {
        if (!ltxdb_try_pages(f->d, f->s.txid, pg, n, &same, f->win))
            return 1;
    } else if (ltxdb_pages(f->d, &f->s, pg, n, f->win, e)) {
        return -1;
    }
    f->win_first = pgno;
    f->win_n = n;
    ltxdb_count_served(f->d, n);
    return 0;
}

/* Queue the window at pgno for a loader and suspend the connection (from
 * the content reader, as libmicrohttpd allows). 0 when loaders are
 * stopping: the caller reads it in place. */
static int file_offload(file_ctx *f, uint32_t pgno)
{
    http *h = f->h;
    if (!h || !f->conn)
        return 0;
    pthread_mutex_lock(&h->jmu);
    if (h->jstop || h->nloaders == 0) {
        pthread_mutex_unlock(&h->jmu);
        return 0;
    }
    f->want = pgno;
    f->jnext = NULL;
    if (h->ftail)
        h->ftail->jnext = f;
    else
        h->fhead = f;
    h->ftail = f;
    MHD_suspend_connection(f->conn);
    pthread_cond_signal(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    return 1;
}

static ssize_t file_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    file_ctx *f = cls;
    uint64_t abs = f->start + pos;
    if (abs > f->end)
        return MHD_CONTENT_READER_END_OF_STREAM;
    uint32_t ps = f->s.page_size;
    size_t done = 0;
    /* fill the buffer across page boundaries */
    while (done < max && abs <= f->end) {
        uint32_t pgno = (uint32_t)(abs / ps) + 1;
        uint32_t in = (uint32_t)(abs % ps);
        if (!f->win_first || pgno < f->win_first || pgno >= f->win_first + f->win_n) {
            if (done)
                return (ssize_t)done; /* send what we have; the next call loads */
            db_err e = {0};
            int wr = f->lfail ? -1 : window_load(f, pgno, &e, 1);
            if (wr == 1 && file_offload(f, pgno))
                return 0; /* suspended until a loader has read the window */
            if (wr == 1)
                wr = window_load(f, pgno, &e, 0);
            if (wr != 0) {
                char q[400];
                logf_(LOG_ERROR, "request_error", "db=%s route=file page=%u error=%s", ltxdb_name(f->d), pgno,
                      log_q(q, sizeof q, f->lfail ? f->lerr.msg : e.msg));
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        pc_entry *cur = f->win[pgno - f->win_first];
        const uint8_t *src = cur ? pcache_data(cur) : zeros;
        size_t n = ps - in;
        if (n > max - done)
            n = max - done;
        if (n > f->end - abs + 1)
            n = (size_t)(f->end - abs + 1);
        memcpy(buf + done, src + in, n);
        if (f->journal && pgno == 1) {
            for (uint32_t b = 18; b <= 19; b++)
                if (b >= in && b < in + n)
                    buf[done + b - in] = 1;
        }
        done += n;
        abs += n;
    }
    return (ssize_t)done;
}

static void file_free(void *cls)
{
    file_ctx *f = cls;
    window_drop(f);
    free(f);
}

static enum MHD_Result route_file(http *h, req *r, struct MHD_Connection *c, ltxdb *d)
{
    uint64_t txid;
    int pinned = get_txid_param(c, &txid);
    if (pinned < 0)
        return send_bad_txid(h, r, c);
    const char *j = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_JOURNAL);
    int journal = 0;
    if (j) {
        if (strcmp(j, "delete") == 0)
            journal = 1;
        else if (strcmp(j, "wal") != 0)
            return send_error(h, r, c, 400, LTXW_E_BAD_REQUEST, "journal must be delete or wal");
    }
    db_snap s;
    db_err e = {0};
    if (ltxdb_resolve(d, txid, &s, &e))
        return send_dberr(h, r, c, &e);
    uint64_t total = (uint64_t)s.commit * s.page_size;
    char etag[64];
    snprintf(etag, sizeof etag, "\"%016" PRIx64 "-f%s\"", s.txid, journal ? "d" : "w");
    if (not_modified(c, etag))
        return send_304(h, r, c, &s, pinned, etag);
    uint64_t start = 0, end = total ? total - 1 : 0;
    int status = 200;
    const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    const char *ifr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Range");
    if (rh && (!ifr || strcmp(ifr, etag) == 0)) {
        int pr = http_parse_range(rh, total, &start, &end);
        if (pr < 0) {
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, total);
            char *body = strdup("{\"error\":\"range not satisfiable\",\"code\":\"" LTXW_E_RANGE "\"}");
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(body ? strlen(body) : 0, body, MHD_RESPMEM_MUST_FREE);
            if (!resp) {
                free(body);
                return MHD_NO;
            }
            MHD_add_response_header(resp, "Content-Range", cr);
            MHD_add_response_header(resp, "Content-Type", "application/json");
            return queue(h, r, c, 416, resp);
        }
        if (pr == 0)
            status = 206;
        else
            start = 0, end = total ? total - 1 : 0;
    }
    file_ctx *f = calloc(1, sizeof *f);
    if (!f)
        return MHD_NO;
    f->d = d;
    f->s = s;
    f->h = h;
    f->conn = c;
    f->journal = journal;
    f->start = start;
    f->end = end;
    uint64_t len = total ? end - start + 1 : 0;
    if (len) {
        /* Read the first page before answering: a TXID that turns out to be
         * gone (files deleted) gets its 410 instead of a cut-off 200. */
        uint32_t first = (uint32_t)(start / s.page_size) + 1;
        if (window_load(f, first, &e, 0)) {
            free(f);
            return send_dberr(h, r, c, &e);
        }
    }
    struct MHD_Response *resp;
    if (len == 0) {
        free(f);
        f = NULL;
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_callback(len, 256 * 1024, file_reader, f, file_free);
    }
    if (!resp) {
        if (f)
            file_free(f);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, total);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    char cd[300];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", ltxdb_name(d));
    if (!strchr(ltxdb_name(d), '"'))
        MHD_add_response_header(resp, "Content-Disposition", cd);
    add_snap_headers(resp, &s, pinned, etag);
    return queue(h, r, c, status, resp);
}

static void *loader_main(void *arg)
{
    http *h = arg;
    pthread_mutex_lock(&h->jmu);
    for (;;) {
        while (!h->jhead && !h->fhead && !h->jstop)
            pthread_cond_wait(&h->jcv, &h->jmu);
        file_ctx *f = h->fhead;
        if (f) {
            h->fhead = f->jnext;
            if (!h->fhead)
                h->ftail = NULL;
            pthread_mutex_unlock(&h->jmu);
            db_err e = {0};
            if (window_load(f, f->want, &e, 0)) {
                f->lfail = 1;
                f->lerr = e;
            }
            struct MHD_Connection *fc = f->conn;
            MHD_resume_connection(fc); /* f may be freed from here on */
            pthread_mutex_lock(&h->jmu);
            continue;
        }
        req *r = h->jhead;
        if (!r)
            break; /* stopping and nothing queued */
        h->jhead = r->jnext;
        if (!h->jhead)
            h->jtail = NULL;
        pthread_mutex_unlock(&h->jmu);
        struct MHD_Connection *c = r->conn;
        tl_loader_req = r;
        r->job_rc = dispatch(h, r, c, r->url, r->method);
        tl_loader_req = NULL;
        MHD_resume_connection(c);
        pthread_mutex_lock(&h->jmu);
    }
    pthread_mutex_unlock(&h->jmu);
    return NULL;
}

/* ---- changes + waiters --------------------------------------------------- */

static void waiter_add(http *h, req *r)
{
    r->wnext = &h->waiters;
    r->wprev = h->waiters.wprev;
    h->waiters.wprev->wnext = r;
    h->waiters.wprev = r;
    h->nwaiters++;
}

static void waiter_del(http *h, req *r)
{
    r->wprev->wnext = r->wnext;
    r->wnext->wprev = r->wprev;
    r->wnext = r->wprev = NULL;
    h->nwaiters--;
}

/* A suspended connection is not polled by libmicrohttpd, so a client that
 * closed it is only noticed when the poll is resumed: look (without
 * reading) whether the peer closed or reset it. */
static int peer_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void *waker_main(void *arg)
{
    http *h = arg;
    pthread_mutex_lock(&h->wmu);
    int64_t next_reap = 0;
    while (!h->waker_stop || h->nwaiters) {
        int64_t now = mono_ms(), next = now + 1000;
        /* look for abandoned polls once a second, not at every wake-up */
        int reap = now >= next_reap;
        if (reap)
            next_reap = now + 1000;
        for (req *r = h->waiters.wnext; r != &h->waiters;) {
            req *n = r->wnext;
            if (h->waker_stop || now >= r->deadline || ltxdb_current_txid(r->wdb) > r->since ||
                ltxdb_history_gen(r->wdb) != r->hgen ||
                (reap && peer_gone(r->conn))) {
                waiter_del(h, r);
                r->waited = 1;
                MHD_resume_connection(r->conn);
            } else if (r->deadline < next) {
                next = r->deadline;
            }
            r = n;
        }
        if (h->waker_stop && !h->nwaiters)
            break;
        int64_t wait = next - mono_ms();
        if (wait < 1)
            wait = 1;
        struct timespec ts;
        deadline_in_ms(&ts, wait);
        pthread_cond_timedwait(&h->wcv, &h->wmu, &ts);
    }
    pthread_mutex_unlock(&h->wmu);
    return NULL;
}

static void on_new_txid(srv *s, ltxdb *d)
{
    (void)d;
    http *h = s->http;
    if (!h)
        return;
    pthread_mutex_lock(&h->wmu);
    pthread_cond_broadcast(&h->wcv);
    pthread_mutex_unlock(&h->wmu);
}

static enum MHD_Result route_changes(http *h, req *r, struct MHD_Connection *c, ltxdb *d)
{
    const char *ss = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_SINCE);
    uint64_t since;
    if (!ss || ltx_parse_txid(ss, &since, 1) != 0)
        return send_error(h, r, c, 400, LTXW_E_BAD_TXID, "since must be a TXID (1-16 hex digits)");
    const char *ws = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_WAIT);
    uint64_t wait = 0;
    if (ws && parse_u64_dec(ws, &wait))
        return send_error(h, r, c, 400, LTXW_E_BAD_REQUEST, "wait must be whole seconds");
    if (wait > LTXW_MAX_WAIT_SECONDS)
        wait = LTXW_MAX_WAIT_SECONDS;
    db_snap s;
    int reset;
    uint32_t *pages = NULL;
    size_t n = 0;
    db_err e = {0};
    if (!r->waited)
        r->hgen = ltxdb_history_gen(d);
    if (ltxdb_changes(d, since, &s, &reset, &pages, &n, &e))
        return send_dberr(h, r, c, &e);
    if (r->waited && ltxdb_history_gen(d) != r->hgen) {
        /* the history this poll started under was replaced: whatever the
         * client cached at `since` may be from the old one */
        free(pages);
        pages = NULL;
        n = 0;
        reset = 1;
    }
    if (!reset && s.txid <= since && wait > 0 && !r->waited && !atomic_load(&h->s->stopping)) {
        free(pages);
        pthread_mutex_lock(&h->wmu);
        /* a full set of long-polls answers at once rather than leave no
         * connection for page reads (clients poll again) */
        if (ltxdb_current_txid(d) <= since && ltxdb_history_gen(d) == r->hgen && !h->waker_stop &&
            h->nwaiters < h->max_waiters) {
            r->wdb = d;
            r->since = since;
            r->deadline = mono_ms() + (int64_t)wait * 1000;
            r->conn = c;
            r->suspended = 1;
            if (!r->was_waiter) {
                r->was_waiter = 1;
                atomic_fetch_add(&h->pending_polls, 1);
            }
            waiter_add(h, r);
            MHD_suspend_connection(c);
            pthread_cond_broadcast(&h->wcv);
            pthread_mutex_unlock(&h->wmu);
            return MHD_YES;
        }
        pthread_mutex_unlock(&h->wmu);
        r->waited = 1;
        return route_changes(h, r, c, d);
    }
    json_t *j = json_object();
    char b[40];
    if (reset)
        json_object_set_new(j, "reset", json_true());
    ltx_format_txid(b, s.txid);
    json_object_set_new(j, "txid", json_string(b));
    json_object_set_new(j, "commit", json_integer(s.commit));
    json_object_set_new(j, "page_size", json_integer(s.page_size));
    fmt_time_ms(b, sizeof b, s.ts_ms);
    json_object_set_new(j, "timestamp", json_string(b));
    if (!reset) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(pages[i]));
        json_object_set_new(j, "pages", a);
    }
    free(pages);
    return send_json(h, r, c, 200, j, "no-cache");
}

/* ---- status, admin, metrics --------------------------------------------- */

static enum MHD_Result route_db(http *h, req *r, struct MHD_Connection *c, ltxdb *d)
{
    const char *ts = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_TIME);
    uint64_t txid;
    int pinned = get_txid_param(c, &txid);
    if (pinned < 0)
        return send_bad_txid(h, r, c);
    if (!ts && !pinned)
        return send_json(h, r, c, 200, ltxdb_status_json(d, NULL), "no-cache");
    /* a point in time (time= wins over txid=) */
    db_snap s;
    db_err e = {0};
    int64_t ms = 0;
    if (ts && ltx_parse_time(ts, &ms) != 0)
        return send_error(h, r, c, 400, LTXW_E_BAD_REQUEST, "time must be RFC 3339, e.g. 2025-01-01T00:06:15Z");
    if (ts ? ltxdb_resolve_time(d, ms, &s, &e) : ltxdb_resolve(d, txid, &s, &e))
        return send_dberr(h, r, c, &e);
    return send_json(h, r, c, 200, ltxdb_status_json(d, &s), "no-cache");
}

static json_t *cache_json(srv *s)
{
    pcache_stats cs;
    pcache_get_stats(s->cache, &cs);
    json_t *o = json_object();
    json_object_set_new(o, "max_bytes", json_integer((json_int_t)cs.max_bytes));
    json_object_set_new(o, "bytes", json_integer((json_int_t)cs.bytes));
    json_object_set_new(o, "entries", json_integer((json_int_t)cs.entries));
    json_object_set_new(o, "hits", json_integer((json_int_t)cs.hits));
    json_object_set_new(o, "misses", json_integer((json_int_t)cs.misses));
    json_object_set_new(o, "coalesced", json_integer((json_int_t)cs.coalesced));
    json_object_set_new(o, "evictions", json_integer((json_int_t)cs.evictions));
    json_object_set_new(o, "inserts", json_integer((json_int_t)cs.inserts));
    json_object_set_new(o, "load_errors", json_integer((json_int_t)cs.load_errors));
    return o;
}

static json_t *stores_json(srv *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nsources; i++) {
        objstore_stats st;
        objstore_get_stats(s->sources[i].store, &st);
        json_t *o = json_object();
        json_object_set_new(o, "url", json_string(s->sources[i].url));
        if (s->sources[i].db_name)
            json_object_set_new(o, "db", json_string(s->sources[i].db_name));
        json_object_set_new(o, "gets", json_integer((json_int_t)st.gets));
        json_object_set_new(o, "lists", json_integer((json_int_t)st.lists));
        json_object_set_new(o, "heads", json_integer((json_int_t)st.heads));
        json_object_set_new(o, "bytes_read", json_integer((json_int_t)st.bytes_read));
        json_object_set_new(o, "errors", json_integer((json_int_t)st.errors));
        json_object_set_new(o, "retries", json_integer((json_int_t)st.retries));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *dbs_json(srv *s)
{
    json_t *a = json_array();
    pthread_rwlock_rdlock(&s->dbs_lock);
    for (size_t i = 0; i < s->ndbs; i++)
        json_array_append_new(a, ltxdb_status_json(s->dbs[i], NULL));
    pthread_rwlock_unlock(&s->dbs_lock);
    return a;
}

static enum MHD_Result route_admin(http *h, req *r, struct MHD_Connection *c, const char *what)
{
    srv *s = h->s;
    (void)what; /* /admin/status and /admin/dbs answer the same document */
    json_t *o = json_object();
    {
        json_t *sv = json_object();
        char ts[40];
        json_object_set_new(sv, "version", json_string(LTXPAGED_VERSION));
        fmt_time_ms(ts, sizeof ts, s->started_ms);
        json_object_set_new(sv, "started", json_string(ts));
        json_object_set_new(sv, "uptime_seconds", json_real((double)(now_ms() - s->started_ms) / 1000.0));
        json_object_set_new(sv, "threads", json_integer(s->cfg.threads));
        json_object_set_new(sv, "poll_interval_ms", json_integer(s->cfg.poll_ms));
        json_object_set_new(sv, "version_window_ms", json_integer(s->cfg.version_window_ms));
        json_object_set_new(sv, "ready", json_boolean(srv_ready(s)));
        json_object_set_new(sv, "read_token_required", json_boolean(h->has_read));
        pthread_mutex_lock(&h->wmu);
        json_object_set_new(sv, "long_polls_waiting", json_integer((json_int_t)h->nwaiters));
        pthread_mutex_unlock(&h->wmu);
        json_object_set_new(o, "server", sv);
        json_object_set_new(o, "cache", cache_json(s));
        json_object_set_new(o, "object_stores", stores_json(s));
    }
    json_object_set_new(o, "databases", dbs_json(s));
    return send_json(h, r, c, 200, o, "no-store");
}

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
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
static const char *lab(char *out, size_t len, const char *v)
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

static enum MHD_Result route_metrics(http *h, req *r, struct MHD_Connection *c)
{
    srv *s = h->s;
    sbuf b = {malloc(16384), 0, 16384, 0};
    if (!b.p)
        return MHD_NO;
    b.p[0] = 0;
    sb_printf(&b, "# HELP ltxpaged_up 1 while the server runs.\n# TYPE ltxpaged_up gauge\nltxpaged_up 1\n");
    sb_printf(&b, "# TYPE ltxpaged_uptime_seconds gauge\nltxpaged_uptime_seconds %.3f\n",
              (double)(now_ms() - s->started_ms) / 1000.0);
    sb_printf(&b, "# TYPE ltxpaged_ready gauge\nltxpaged_ready %d\n", srv_ready(s));
    static const char *dbm[][3] = {
        {"ltxpaged_db_txid", "gauge", "Newest TXID indexed."},
        {"ltxpaged_db_commit_pages", "gauge", "Database size in pages at the newest TXID."},
        {"ltxpaged_db_lag_seconds", "gauge", "Seconds since the last successful poll (-1: none yet)."},
        {"ltxpaged_db_age_seconds", "gauge", "Seconds since the newest TXID's timestamp."},
        {"ltxpaged_db_pages_served_total", "counter", "Pages served."},
        {"ltxpaged_db_polls_total", "counter", "Polls."},
        {"ltxpaged_db_poll_errors_total", "counter", "Polls that failed."},
        {"ltxpaged_db_files_applied_total", "counter", "LTX files applied to the live index."},
        {"ltxpaged_db_replans_total", "counter", "Index rebuilds from a fresh restore plan."},
        {"ltxpaged_db_historical_builds_total", "counter", "Historical (point-in-time) indexes built."},
        {"ltxpaged_db_page_versions", "gauge", "Page versions in the live index."},
        {"ltxpaged_db_historical_indexes", "gauge", "Historical indexes held."},
        {"ltxpaged_db_state", "gauge", "1 for the database's current state."},
    };
    pthread_rwlock_rdlock(&s->dbs_lock);
    size_t nd = s->ndbs;
    db_metrics *ms = calloc(nd ? nd : 1, sizeof *ms);
    char **names = calloc(nd ? nd : 1, sizeof *names);
    for (size_t i = 0; ms && names && i < nd; i++) {
        ltxdb_metrics(s->dbs[i], &ms[i]);
        names[i] = strdup(ltxdb_name(s->dbs[i]));
    }
    pthread_rwlock_unlock(&s->dbs_lock);
    for (size_t m = 0; ms && names && m < sizeof dbm / sizeof dbm[0]; m++) {
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", dbm[m][0], dbm[m][2], dbm[m][0], dbm[m][1]);
        for (size_t i = 0; i < nd; i++) {
            char l[512];
            lab(l, sizeof l, names[i] ? names[i] : "");
            db_metrics *x = &ms[i];
            switch (m) {
            case 0: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->txid); break;
            case 1: sb_printf(&b, "%s{db=\"%s\"} %u\n", dbm[m][0], l, x->commit); break;
            case 2: sb_printf(&b, "%s{db=\"%s\"} %.3f\n", dbm[m][0], l, x->lag_seconds); break;
            case 3: sb_printf(&b, "%s{db=\"%s\"} %.3f\n", dbm[m][0], l, x->age_seconds); break;
            case 4: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->pages_served); break;
            case 5: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->polls); break;
            case 6: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->poll_errors); break;
            case 7: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->files_applied); break;
            case 8: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->replans); break;
            case 9: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->hist_builds); break;
            case 10: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->versions); break;
            case 11: sb_printf(&b, "%s{db=\"%s\"} %" PRIu64 "\n", dbm[m][0], l, x->hist_count); break;
            case 12:
                for (int st = DB_WAITING; st <= DB_ERROR; st++)
                    sb_printf(&b, "%s{db=\"%s\",state=\"%s\"} %d\n", dbm[m][0], l, db_state_name(st),
                              x->state == st);
                break;
            }
        }
    }
    for (size_t i = 0; names && i < nd; i++)
        free(names[i]);
    free(names);
    free(ms);
    pcache_stats cs;
    pcache_get_stats(s->cache, &cs);
    sb_printf(&b,
              "# TYPE ltxpaged_cache_hits_total counter\nltxpaged_cache_hits_total %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_misses_total counter\nltxpaged_cache_misses_total %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_coalesced_total counter\nltxpaged_cache_coalesced_total %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_evictions_total counter\nltxpaged_cache_evictions_total %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_inserts_total counter\nltxpaged_cache_inserts_total %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_bytes gauge\nltxpaged_cache_bytes %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_max_bytes gauge\nltxpaged_cache_max_bytes %" PRIu64 "\n"
              "# TYPE ltxpaged_cache_entries gauge\nltxpaged_cache_entries %" PRIu64 "\n",
              cs.hits, cs.misses, cs.coalesced, cs.evictions, cs.inserts, cs.bytes, cs.max_bytes, cs.entries);
    static const char *om[] = {"gets", "lists", "heads", "errors", "retries", "bytes_read"};
    for (size_t m = 0; m < 6; m++) {
        sb_printf(&b, "# TYPE ltxpaged_objstore_%s_total counter\n", om[m]);
        for (size_t i = 0; i < s->nsources; i++) {
            objstore_stats st;
            objstore_get_stats(s->sources[i].store, &st);
            uint64_t v = m == 0 ? st.gets : m == 1 ? st.lists : m == 2 ? st.heads : m == 3 ? st.errors
                       : m == 4 ? st.retries : st.bytes_read;
            char l[600];
            sb_printf(&b, "ltxpaged_objstore_%s_total{store=\"%s\"} %" PRIu64 "\n", om[m],
                      lab(l, sizeof l, s->sources[i].url), v);
        }
    }
    sb_printf(&b, "# HELP ltxpaged_http_requests_total HTTP requests answered, by route and status.\n"
                  "# TYPE ltxpaged_http_requests_total counter\n");
    for (int rt = 0; rt < R__N; rt++)
        for (size_t k = 0; k < NSTATUS; k++) {
            uint64_t v = atomic_load(&h->counts[rt][k]);
            if (v)
                sb_printf(&b, "ltxpaged_http_requests_total{route=\"%s\",code=\"%s%d\"} %" PRIu64 "\n",
                          route_names[rt], statuses[k] ? "" : "other", statuses[k] ? statuses[k] : 0, v);
        }
    if (b.oom) {
        free(b.p);
        return send_error(h, r, c, 500, LTXW_E_INTERNAL, "metrics too large");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.n, b.p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b.p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(h, r, c, 200, resp);
}

static enum MHD_Result send_text(http *h, req *r, struct MHD_Connection *c, int status, const char *t)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(t), (void *)t, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(h, r, c, status, resp);
}

/* ---- dispatch ------------------------------------------------------------ */

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > LTXW_MAX_DB_NAME || n[0] == '.')
        return 0;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
            return 0;
    return 1;
}

/* Raw path checks that percent-decoding would hide. */
static int raw_path_bad(const char *raw)
{
    size_t plen = strcspn(raw, "?");
    for (size_t i = 0; i < plen; i++) {
        if (raw[i] == '\\')
            return 1;
        if (raw[i] == '%' && i + 2 < plen) {
            char a = raw[i + 1], b = raw[i + 2];
            if ((a == '2' && (b == 'f' || b == 'F')) || (a == '5' && (b == 'c' || b == 'C')) ||
                (a == '0' && b == '0'))
                return 1;
        }
    }
    /* "." or ".." segments (raw or encoded dots) */
    const char *p = raw;
    while (p < raw + plen) {
        const char *seg = p;
        const char *e = memchr(p, '/', (size_t)(raw + plen - p));
        size_t sl = e ? (size_t)(e - seg) : (size_t)(raw + plen - seg);
        char dec[8];
        size_t dl = 0;
        int only_dots = sl > 0 && sl <= 9;
        for (size_t i = 0; only_dots && i < sl && dl < sizeof dec; i++) {
            if (seg[i] == '.')
                dec[dl++] = '.';
            else if (seg[i] == '%' && i + 2 < sl && seg[i + 1] == '2' && (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
                dec[dl++] = '.';
                i += 2;
            } else
                only_dots = 0;
        }
        if (only_dots && (dl == 1 || dl == 2))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static enum MHD_Result dispatch(http *h, req *r, struct MHD_Connection *c, const char *url, const char *method)
{
    srv *s = h->s;
    if (r->rawlen > LTXW_MAX_URL)
        return send_error(h, r, c, 414, LTXW_E_URI_TOO_LONG, "request target longer than %d bytes", LTXW_MAX_URL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(h, r, c, 405, LTXW_E_METHOD, "method %.20s not allowed; use GET or HEAD", method);
    if (r->raw && raw_path_bad(r->raw))
        return send_error(h, r, c, 400, LTXW_E_BAD_NAME, "path contains an encoded slash, NUL or a dot segment");
    if (url[0] != '/')
        return send_error(h, r, c, 400, LTXW_E_BAD_REQUEST, "bad request target");
    /* split into at most 4 segments */
    char path[LTXW_MAX_URL + 1];
    if (strlen(url) > LTXW_MAX_URL)
        return send_error(h, r, c, 414, LTXW_E_URI_TOO_LONG, "request target too long");
    snprintf(path, sizeof path, "%s", url + 1);
    char *seg[4] = {0};
    int nseg = 0;
    char *p = path;
    while (nseg < 4) {
        seg[nseg++] = p;
        char *sl = strchr(p, '/');
        if (!sl)
            break;
        *sl = 0;
        p = sl + 1;
    }
    if (nseg == 4 || (nseg > 0 && strchr(seg[nseg - 1], '/'))) {
        r->route = R_OTHER;
        return send_error(h, r, c, 404, LTXW_E_NOT_FOUND, "no such route");
    }
    if (nseg == 1 && seg[0][0] == 0) {
        r->route = R_INDEX;
        if (h->has_read && !authorized(c, h->read_hash))
            return send_error(h, r, c, 401, LTXW_E_UNAUTHORIZED, "a bearer token is required");
        json_t *o = json_object();
        json_object_set_new(o, "server", json_string("ltxpaged " LTXPAGED_VERSION));
        json_t *a = json_array();
        pthread_rwlock_rdlock(&s->dbs_lock);
        for (size_t i = 0; i < s->ndbs; i++)
            json_array_append_new(a, json_string(ltxdb_name(s->dbs[i])));
        pthread_rwlock_unlock(&s->dbs_lock);
        json_object_set_new(o, "databases", a);
        return send_json(h, r, c, 200, o, "no-cache");
    }
    if (strcmp(seg[0], "healthz") == 0 && nseg == 1) {
        r->route = R_HEALTH;
        return send_text(h, r, c, 200, "ok\n");
    }
    if (strcmp(seg[0], "readyz") == 0 && nseg == 1) {
        r->route = R_READY;
        return srv_ready(s) ? send_text(h, r, c, 200, "ready\n") : send_text(h, r, c, 503, "not ready\n");
    }
    if (strcmp(seg[0], "metrics") == 0 && nseg == 1) {
        r->route = R_METRICS;
        if (h->has_admin && !authorized(c, h->admin_hash))
            return send_error(h, r, c, 401, LTXW_E_UNAUTHORIZED, "the admin bearer token is required");
        return route_metrics(h, r, c);
    }
    {
        /* a reserved name used as a database name */
        static const char *rsv[] = LTXW_RESERVED_NAMES;
        for (int i = 0; rsv[i]; i++)
            if (strcmp(seg[0], rsv[i]) == 0 && nseg >= 2 &&
                (!strcmp(seg[1], "pages") || !strcmp(seg[1], "file") || !strcmp(seg[1], "changes"))) {
                r->route = R_OTHER;
                return send_error(h, r, c, 400, LTXW_E_BAD_NAME, "\"%s\" is reserved, not a database name", rsv[i]);
            }
    }
    if (strcmp(seg[0], "admin") == 0) {
        r->route = R_ADMIN;
        if (h->has_admin && !authorized(c, h->admin_hash))
            return send_error(h, r, c, 401, LTXW_E_UNAUTHORIZED, "the admin bearer token is required");
        if (nseg == 2 && (strcmp(seg[1], "status") == 0 || strcmp(seg[1], "dbs") == 0))
            return route_admin(h, r, c, seg[1]);
        return send_error(h, r, c, 404, LTXW_E_NOT_FOUND, "no such admin route");
    }
    static const char *reserved[] = LTXW_RESERVED_NAMES;
    for (int i = 0; reserved[i]; i++)
        if (strcmp(seg[0], reserved[i]) == 0) {
            r->route = R_OTHER;
            return send_error(h, r, c, 404, LTXW_E_NOT_FOUND, "no such route");
        }
    /* database routes */
    if (nseg == 1)
        r->route = R_DB;
    else if (strcmp(seg[1], "pages") == 0)
        r->route = nseg == 2 ? R_BATCH : R_PAGE;
    else if (strcmp(seg[1], "file") == 0 && nseg == 2)
        r->route = R_FILE;
    else if (strcmp(seg[1], "changes") == 0 && nseg == 2)
        r->route = R_CHANGES;
    else
        r->route = R_OTHER;
    if (!name_ok(seg[0]))
        return send_error(h, r, c, 400, LTXW_E_BAD_NAME, "invalid database name");
    if (h->has_read && !authorized(c, h->read_hash))
        return send_error(h, r, c, 401, LTXW_E_UNAUTHORIZED, "a bearer token is required");
    if (r->route == R_OTHER)
        return send_error(h, r, c, 404, LTXW_E_NOT_FOUND, "no such route");
    ltxdb *d = srv_find_db(s, seg[0]);
    if (!d)
        return send_error(h, r, c, 404, LTXW_E_NO_SUCH_DB, "no database named \"%.200s\"", seg[0]);
    /* routes that may wait for the object store run on a loader thread
     * (pages and batches: only misses, see route_page, route_batch) */
    if (tl_loader_req != r &&
        (r->route == R_FILE ||
         (r->route == R_DB && (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_TIME) ||
                               MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, LTXW_Q_TXID)))))
        return offload(h, r, c);
    switch (r->route) {
    case R_DB: return route_db(h, r, c, d);
    case R_BATCH: return route_batch(h, r, c, d);
    case R_PAGE: return route_page(h, r, c, d, seg[2]);
    case R_FILE: return route_file(h, r, c, d);
    default: return route_changes(h, r, c, d);
    }
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    http *h = cls;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
    }
    if (*upload_size) {
        *upload_size = 0; /* bodies are ignored */
        return MHD_YES;
    }
    /* libmicrohttpd 0.9.75 closes keep-alive connections whose response is
     * queued on the first call: answer on the second. */
    if (r->calls++ == 0)
        return MHD_YES;
    if (r->offloaded) {
        /* resumed after a loader ran it: queue its answer */
        r->offloaded = 0;
        struct MHD_Response *resp = r->dresp;
        r->dresp = NULL;
        if (r->job_pending) {
            r->job_pending = 0;
            atomic_fetch_sub(&h->pending_jobs, 1);
        }
        if (r->job_rc != MHD_YES || !resp) {
            if (resp)
                MHD_destroy_response(resp);
            return MHD_NO;
        }
        enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->dstatus, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    r->url = url;
    r->method = method;
    r->conn = c;
    if (r->suspended) {
        r->suspended = 0;
        return dispatch(h, r, c, url, method);
    }
    return dispatch(h, r, c, url, method);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t len = strlen(uri);
    r->rawlen = len;
    r->t0 = mono_ms();
    size_t keep = len > LTXW_MAX_URL ? LTXW_MAX_URL : len;
    r->raw = malloc(keep + 1);
    if (r->raw) {
        memcpy(r->raw, uri, keep);
        r->raw[keep] = 0;
    }
    return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    http *h = cls;
    req *r = *con_cls;
    if (!r)
        return;
    if (r->wnext) {
        pthread_mutex_lock(&h->wmu);
        if (r->wnext)
            waiter_del(h, r);
        pthread_mutex_unlock(&h->wmu);
    }
    if (r->was_waiter)
        atomic_fetch_sub(&h->pending_polls, 1);
    if (r->dresp)
        MHD_destroy_response(r->dresp);
    if (r->job_pending)
        atomic_fetch_sub(&h->pending_jobs, 1);
    free(r->raw);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
        msg[--l] = 0;
    char q[600];
    logf_(LOG_WARN, "http_error", "error=%s", log_q(q, sizeof q, msg));
}

/* Connections at once: --max-connections, else what the open-file limit
 * allows (raised to its hard limit) minus room for the object store,
 * logs and the listening socket. libmicrohttpd's own default (~1020) is
 * too few when every client holds a long-poll. */
static unsigned connection_limit(int configured)
{
    struct rlimit rl;
    rlim_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
            struct rlimit nr = {want, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
                rl.rlim_cur = want;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
    }
    unsigned fit = nofile > 128 + 16 ? (unsigned)(nofile - 128 > 65536 ? 65536 : nofile - 128) : 16;
    if (configured <= 0)
        return fit;
    if ((unsigned)configured > fit)
        logf_(LOG_WARN, "connection_limit", "max_connections=%d open_file_limit=%llu msg=\"more connections than "
              "open files allow; raise the limit (ulimit -n, LimitNOFILE=)\"", configured,
              (unsigned long long)nofile);
    return (unsigned)configured;
}

int http_start(srv *s)
{
    http *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->s = s;
    pthread_mutex_init(&h->wmu, NULL);
    pthread_cond_init(&h->wcv, NULL);
    pthread_mutex_init(&h->jmu, NULL);
    pthread_cond_init(&h->jcv, NULL);
    h->waiters.wnext = h->waiters.wprev = &h->waiters;
    if (s->cfg.read_token && *s->cfg.read_token) {
        h->has_read = 1;
        g_private_cache = 1;
        sha256_str(s->cfg.read_token, h->read_hash);
    }
    if (s->cfg.admin_token && *s->cfg.admin_token) {
        h->has_admin = 1;
        sha256_str(s->cfg.admin_token, h->admin_hash);
    }
    if (!h->has_read)
        logf_(LOG_WARN, "auth_open", "msg=\"no --read-token: database routes are open to anyone who can connect\"");
    if (!h->has_admin)
        logf_(LOG_WARN, "auth_open", "msg=\"no --admin-token: /admin and /metrics are open to anyone who can connect\"");

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.listen_port);
    int gr = getaddrinfo(s->cfg.listen_host[0] ? s->cfg.listen_host : NULL, port, &hints, &ai);
    if (gr != 0 || !ai) {
        logf_(LOG_ERROR, "startup_error", "listen=\"%s:%d\" error=\"%s\"", s->cfg.listen_host, s->cfg.listen_port,
              gai_strerror(gr));
        pthread_mutex_destroy(&h->wmu);
        pthread_cond_destroy(&h->wcv);
        pthread_mutex_destroy(&h->jmu);
        pthread_cond_destroy(&h->jcv);
        free(h);
        return -1;
    }
    h->max_conns = connection_limit(s->cfg.max_connections);
    h->max_waiters = (size_t)h->max_conns * 3 / 4;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->http = h;
    s->on_new_txid = on_new_txid;
    if (pthread_create(&h->waker, NULL, waker_main, h) == 0)
        h->waker_started = 1;
    int nl = s->cfg.io_threads > 0 ? s->cfg.io_threads : 32;
    h->loaders = calloc((size_t)nl, sizeof *h->loaders);
    for (int i = 0; h->loaders && i < nl; i++) {
        if (pthread_create(&h->loaders[i], NULL, loader_main, h) != 0)
            break;
        h->nloaders++;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)s->cfg.listen_port, NULL, NULL, handler, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
                            MHD_OPTION_URI_LOG_CALLBACK, uri_log, h,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, h->max_conns,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        logf_(LOG_ERROR, "startup_error", "listen=\"%s:%d\" error=\"cannot listen (address in use?)\"",
              s->cfg.listen_host, s->cfg.listen_port);
        http_stop(s);
        return -1;
    }
    logf_(LOG_INFO, "listening", "addr=\"%s:%d\" threads=%d io_threads=%d max_connections=%u max_long_polls=%zu",
          s->cfg.listen_host, s->cfg.listen_port, s->cfg.threads, h->nloaders, h->max_conns, h->max_waiters);
    return 0;
}

void http_stop(srv *s)
{
    http *h = s->http;
    if (!h)
        return;
    s->on_new_txid = NULL;
    if (h->d)
        MHD_quiesce_daemon(h->d);
    /* answer every long-poll now */
    pthread_mutex_lock(&h->wmu);
    h->waker_stop = 1;
    pthread_cond_broadcast(&h->wcv);
    pthread_mutex_unlock(&h->wmu);
    if (h->waker_started)
        pthread_join(h->waker, NULL);
    /* loaders finish what is queued (later requests run in place) */
    pthread_mutex_lock(&h->jmu);
    h->jstop = 1;
    pthread_cond_broadcast(&h->jcv);
    pthread_mutex_unlock(&h->jmu);
    for (int i = 0; i < h->nloaders; i++)
        pthread_join(h->loaders[i], NULL);
    free(h->loaders);
    h->loaders = NULL;
    h->nloaders = 0;
    /* let the resumed long-polls and loaded requests send their answers
     * before the daemon closes the connections (at most 2 s) */
    for (int i = 0; i < 400 && (atomic_load(&h->pending_polls) > 0 || atomic_load(&h->pending_jobs) > 0); i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    pthread_mutex_destroy(&h->wmu);
    pthread_cond_destroy(&h->wcv);
    pthread_mutex_destroy(&h->jmu);
    pthread_cond_destroy(&h->jcv);
    free(h);
    s->http = NULL;
}
