/* http_int.h - what the files of server/http/ share (not for main.c).
 *
 * A request goes: libmicrohttpd (http.c) -> http_route_dispatch
 * (http_route.c: prelude checks, the route table, auth, database lookup)
 * -> one handler of a route family (http_pages.c, http_file.c,
 * http_changes.c, http_status.c, http_metrics.c). Handlers read the plain
 * request (struct http_request: method, path segments, query parameters,
 * headers) and answer through http_resp.c, which queues the answer on the
 * connection or, for requests run by a loader thread (http_loader.c) or
 * without a connection (unit tests), keeps it in the request.
 * Around that: http_conn.c follows connections (the header deadline) and
 * checks the raw request before routing; http_cors.c adds CORS headers
 * to every answer queued through http_resp.c and answers preflights. */
#ifndef LTXPAGED_HTTP_INT_H
#define LTXPAGED_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http.h"
#include "ltx.h"
#include "metrics.h"
#include "srv.h"
#include "strbuf.h"
#include "wire.h"

/* Routes as counted in ltxpaged_http_requests_total{route=...}. Requests
 * refused before a route is known (414, 405, bad path) count as
 * "invalid"; known paths without a route, and requests refused as soon as their
 * headers are in (a NUL, no Host, a method with a body: http.c), as
 * "other". */
enum http_route_id {
    HTTP_R_PAGE,
    HTTP_R_BATCH,
    HTTP_R_FILE,
    HTTP_R_CHANGES,
    HTTP_R_DB,
    HTTP_R_ADMIN,
    HTTP_R_METRICS,
    HTTP_R_HEALTH,
    HTTP_R_READY,
    HTTP_R_INDEX,
    HTTP_R_OTHER,
    HTTP_R_INVALID,
    HTTP_R_WRITE,
    HTTP_R__N
};
extern const char *const http_route_names[HTTP_R__N];

/* Statuses counted: 100..599, one counter each (HTTP_STATUS_SLOT). */
#define HTTP_NSTATUS         500
#define HTTP_STATUS_SLOT(st) ((st) >= 100 && (st) < 600 ? (st)-100 : 500 - 100)

#define HTTP_MAX_SEGS 5 /* path segments; 5 or more is 404 */

/* A request as the handlers see it: no connection, no libmicrohttpd
 * lookups. Filled by http_request_fill (http.c) or by a test. */
struct http_request {
    const char *method;
    const char *url;             /* path, percent-decoded */
    const char *raw;             /* request target as received (may be NULL) */
    size_t rawlen;               /* its full length (raw keeps LTXW_MAX_URL) */
    char path[LTXW_MAX_URL + 1]; /* url without its leading '/', split */
    char *seg[HTTP_MAX_SEGS];    /* into path */
    int nseg;
    struct { /* query parameters (NULL: absent) */
        const char *txid, *pages, *journal, *since, *wait, *time, *pin, *base, *to, *btree;
    } q;
    struct { /* request headers (NULL: absent) */
        const char *authorization, *if_none_match, *range, *if_range, *if_match, *origin, *acr_method;
    } hdr;
    const char *accept; /* Accept header: GET / answers HTML or JSON (http_page.c) */
    ltxdb *db;          /* the database of a database route */
    uint64_t txid;      /* txid= of a route that takes one (0: absent, latest) */
    int pinned;         /* 1 when txid= was given */
};

/* One request's state across the calls libmicrohttpd makes for it. */
struct http_req {
    struct http_request in;
    char *raw; /* owned copy of the request target */
    int calls;
    int filled; /* in is filled from the connection */
    enum http_route_id route;
    int waited; /* long-poll finished */
    int suspended;
    int was_waiter;              /* counted in http.pending_polls until completed */
    int64_t t0;                  /* mono ms when the request line arrived */
    int64_t t0_ns;               /* the same in ns (metrics_now_ns); 0 in tests */
    struct MHD_Connection *conn; /* NULL without a connection (tests) */
    /* run by a loader thread (it may wait for the object store) */
    int offloaded;   /* suspended while a loader runs it */
    int job_pending; /* counted in http.pending_jobs */
    enum MHD_Result job_rc;
    struct MHD_Response *dresp; /* its answer, queued when resumed */
    int dstatus;
    const char *err_code; /* wire.h code of the last error answered */
    struct http_req *jnext;
    /* a waiting /changes long-poll */
    ltxdb *wdb;
    uint64_t since;
    uint64_t hgen; /* history generation when the long-poll started */
    int64_t deadline;
    struct http_req *wnext, *wprev;
    /* an uploaded body (POST /{db}/ltx; http_write.c) */
    uint8_t *body;
    size_t body_len, body_cap;
    int body_status; /* 0, or 411/413: refused (the rest is discarded) */
};

struct http_file_ctx;
struct http_conn;

#define HTTP_CONN_STRIPES 64

/* Open connections (http_conn.c), striped by descriptor. */
struct http_conn_stripe {
    pthread_mutex_t mu;
    struct http_conn *head;
};

/* The HTTP layer of one server (srv.http). */
struct http {
    struct MHD_Daemon *d;
    srv *s;
    /* /changes long-polls (http_changes.c) */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct http_req waiters; /* sentinel of a circular list */
    size_t nwaiters;
    size_t max_waiters;       /* long-polls beyond this are answered at once */
    unsigned max_conns;       /* MHD_OPTION_CONNECTION_LIMIT */
    atomic_int pending_polls; /* long-polls suspended and not yet completed */
    int waker_stop;
    pthread_t waker;
    int waker_started;
    /* loaders (http_loader.c): requests that may read the object store
     * run there, their connection suspended, so a slow store never holds
     * the HTTP threads that answer cached pages */
    pthread_t *loaders;
    int nloaders;
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    struct http_req *jhead, *jtail;
    struct http_file_ctx *fhead, *ftail;
    int jstop;
    atomic_int pending_jobs; /* offloaded and answer not yet queued */
    /* ltxpaged_http_requests_total and ..._duration_seconds (http_metrics.c) */
    atomic_uint_fast64_t counts[HTTP_R__N][HTTP_NSTATUS];
    metrics_hist req_seconds[HTTP_R__N];
    /* bearer tokens (http_auth.c) */
    unsigned char read_hash[32], admin_hash[32];
    int has_read, has_admin;
    unsigned char write_hash[32]; /* --write-token: writes, and reads too */
    int has_write;
    /* With a read token, immutable answers are "private": a shared cache
     * in front must not hand authenticated bytes to anyone. */
    int private_cache;
    /* connections and their header deadline (http_conn.c) */
    int64_t header_timeout_ms;
    struct http_conn_stripe conns[HTTP_CONN_STRIPES];
    pthread_t cwatch;
    int cwatch_started, cwstop;
    pthread_mutex_t cwmu;
    pthread_cond_t cwcv;
    unsigned max_per_client; /* MHD_OPTION_PER_IP_CONNECTION_LIMIT */
    /* CORS (http_cors.c): --cors-origin values (the configuration's) */
    char *const *cors;
    size_t ncors;
    int cors_any; /* "*" among them */
    /* TLS (PEM text, owned) */
    char *tls_cert, *tls_key;
};

/* ---- http.c: glue ---- */
/* The HTTP state of s with its locks and tokens, no threads, no daemon
 * (http_start adds them; tests dispatch without). NULL without memory. */
struct http *http_new(srv *s);
void http_free(struct http *h);
/* Fill r->in from the connection's request line, query and headers. */
void http_request_fill(struct http_req *r, struct MHD_Connection *c, const char *url, const char *method);

/* ---- http_conn.c: connections ---- */
/* MHD_OPTION_NOTIFY_CONNECTION: a connection opened or closed. */
void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The request's headers are complete / its answer is done (next deadline). */
void http_conn_headers_done(struct MHD_Connection *c);
void http_conn_request_done(struct http *h, struct MHD_Connection *c);
int http_conn_start(struct http *h); /* the watchdog thread */
void http_conn_stop(struct http *h);
/* NULL when the request line and headers are sound, else why not (400):
 * a NUL byte sent by the client, folding, a missing or repeated Host. */
const char *http_conn_check(const struct http_req *r, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version);

/* ---- http_route.c ---- */
/* Route r->in and run its handler: MHD_YES when an answer was queued (or
 * kept, see http_resp_queue) or the request was suspended. */
enum MHD_Result http_route_dispatch(struct http *h, struct http_req *r);
/* 1 when the row that in's path falls into takes in's method (such a
 * request goes on, body and all); 0 when it would be refused anyway. */
int http_route_method_allowed(struct http_request *in);

/* ---- http_auth.c ---- */
void http_auth_hash(const char *token, unsigned char out[32]);
/* 1 when the Authorization header carries the bearer token hashed in want. */
int http_auth_check(const char *authorization, const unsigned char want[32]);

/* ---- http_resp.c: answers ---- */
/* Count, log, and queue resp with status (resp is consumed). */
enum MHD_Result http_resp_queue(struct http *h, struct http_req *r, int status, struct MHD_Response *resp);
/* j (consumed) as compact JSON plus a newline. */
enum MHD_Result http_resp_json(struct http *h, struct http_req *r, int status, json_t *j,
                               const char *cache_control);
/* {"error":msg,"code":code}, logged. */
enum MHD_Result http_resp_error(struct http *h, struct http_req *r, int status, const char *code,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A database layer error, its HTTP status from the mapping table. */
enum MHD_Result http_resp_dberr(struct http *h, struct http_req *r, const db_err *e);
/* j (taken) with "error" and "code" of e added, answered as e (status,
 * Retry-After): a status body for a database that is not ready. */
enum MHD_Result http_resp_json_dberr(struct http *h, struct http_req *r, json_t *j, const db_err *e);
enum MHD_Result http_resp_bad_txid(struct http *h, struct http_req *r);
enum MHD_Result http_resp_text(struct http *h, struct http_req *r, int status, const char *persistent_text);
/* Ltx-* headers, Cache-Control (immutable when pinned) and the ETag. */
void http_resp_snap_headers(const struct http *h, struct MHD_Response *resp, const db_snap *s, int pinned,
                            const char *etag);
/* 1 when If-None-Match names etag (weak comparison) or is "*". */
int http_resp_not_modified(const struct http_request *in, const char *etag);
/* 1 when If-Match is given and names neither etag (strong) nor "*". */
int http_resp_precondition_failed(const struct http_request *in, const char *etag);
/* 1 when a Range header may be used: no If-Range, or If-Range is etag. */
int http_resp_if_range_ok(const struct http_request *in, const char *etag);
/* 1 when the entity-tag list names etag (or is "*"); strong: W/ never does. */
int http_resp_etag_listed(const char *list, const char *etag, int strong);
/* 304 (Content-Length: the length the 200 answer would have, RFC 9110
 * 8.6) and 412, both with the snapshot headers. */
enum MHD_Result http_resp_304(struct http *h, struct http_req *r, const db_snap *s, int pinned,
                              const char *etag, uint64_t len);
enum MHD_Result http_resp_412(struct http *h, struct http_req *r, const db_snap *s, int pinned,
                              const char *etag);
/* The conditional headers of a GET for etag: 0 none applies, else the
 * answer was queued (*rc): 412 for If-Match, 304 for If-None-Match. */
int http_resp_conditional(struct http *h, struct http_req *r, const db_snap *s, int pinned, const char *etag,
                          uint64_t len, enum MHD_Result *rc);

/* The path of a database route, its name percent-encoded:
 * "/<name>/<rest>" into out. 0 ok, -1 too long. */
int http_resp_db_path(char *out, size_t len, const char *name, const char *rest);

/* ---- http_cors.c ---- */
void http_cors_init(struct http *h);
/* Access-Control-Allow-Origin and friends on an answer to an allowed
 * Origin; Vary: Origin whenever the answer depends on it. */
void http_cors_headers(const struct http *h, const struct http_request *in, struct MHD_Response *resp);
/* OPTIONS with --cors-origin: 204, the preflight headers for an allowed
 * origin. */
enum MHD_Result http_cors_preflight(struct http *h, struct http_req *r);

/* ---- http_parse.c (besides the http_parse_* of http.h) ---- */
/* Decimal, at most 19 digits. 0 ok, -1 otherwise. */
int http_parse_u64(const char *s, uint64_t *out);
/* ?txid=: 1 when given (*txid set), 0 when absent (*txid = 0, latest),
 * -1 when malformed. */
int http_parse_txid_param(const char *t, uint64_t *txid);

/* ---- route families: handlers ---- */
typedef enum MHD_Result (*http_handler_fn)(struct http *h, struct http_req *r);
enum MHD_Result http_pages_page(struct http *h, struct http_req *r);
enum MHD_Result http_pages_batch(struct http *h, struct http_req *r);
extern const uint8_t http_pages_zeros[LTX_MAX_PAGE_SIZE];
enum MHD_Result http_file_get(struct http *h, struct http_req *r);
enum MHD_Result http_changes_get(struct http *h, struct http_req *r);
enum MHD_Result http_status_index(struct http *h, struct http_req *r);
enum MHD_Result http_status_healthz(struct http *h, struct http_req *r);
enum MHD_Result http_status_readyz(struct http *h, struct http_req *r);
enum MHD_Result http_status_db(struct http *h, struct http_req *r);
enum MHD_Result http_status_admin(struct http *h, struct http_req *r);
enum MHD_Result http_metrics_get(struct http *h, struct http_req *r);
/* Count an answer in ltxpaged_http_requests_total and observe the time
 * since the request line arrived (request route, status). */
void http_metrics_count(struct http *h, const struct http_req *r, int status);
/* GET / for people: 1 when Accept prefers text/html over JSON. */
int http_page_wants_html(const char *accept);
/* The / status page as HTML (doc: the /admin/status document, consumed). */
enum MHD_Result http_page_status(struct http *h, struct http_req *r, json_t *doc);
/* The page of doc appended to b. */
void http_page_render(const json_t *doc, strbuf *b);
/* j (consumed) as JSON with Vary: Accept (the / answer for non-browsers). */
enum MHD_Result http_page_json(struct http *h, struct http_req *r, json_t *j);

/* ---- http_status.c ---- */
/* The /admin/status document: server, cache, object_stores, databases. */
json_t *http_status_doc(struct http *h);

enum MHD_Result http_write_post(struct http *h, struct http_req *r);
enum MHD_Result http_write_fork(struct http *h, struct http_req *r);
enum MHD_Result http_write_rollback(struct http *h, struct http_req *r);
/* http_write.c: a POST's body. begin (first call: Content-Length checked
 * against --write-max-body), then each chunk; the route answers 411/413
 * for a refused one. */
void http_write_begin(struct http *h, struct http_req *r, struct MHD_Connection *c);
void http_write_upload(struct http_req *r, const char *data, size_t n);

/* ---- http_changes.c: long-poll waiters ---- */
int http_changes_start(struct http *h);                       /* the waker thread */
void http_changes_stop(struct http *h);                       /* answer every long-poll now */
void http_changes_forget(struct http *h, struct http_req *r); /* request completed */
size_t http_changes_waiting(struct http *h);
void http_changes_on_new_txid(srv *s, ltxdb *d);

/* ---- http_btree.c ---- */
/* The b-tree pages btree= adds to a batch of snapshot s (see the file):
 * at most max pages not in skip, into pg/ent (entries held). loader: may
 * read the store. 0 with *nadded set; -1 a page is not in memory (not
 * loader: offload the request), -2 store error in e (nothing held). */
int http_btree_walk(ltxdb *d, const db_snap *s, int loader, const uint32_t *skip, size_t nskip, size_t max,
                    uint32_t *pg, pc_entry **ent, size_t *nadded, db_err *e);

/* ---- http_file.c ---- */
/* A loader thread reads the window a suspended /file answer waits for. */
void http_file_load_pending(struct http_file_ctx *f);

/* ---- http_loader.c: the loader pool ---- */
int http_loader_start(struct http *h, int n);
void http_loader_stop(struct http *h); /* finish what is queued */
/* 1 when the calling thread is a loader running r (it may wait). */
int http_loader_running(const struct http_req *r);
/* Run r on a loader thread with its connection suspended; in place when
 * there are none. */
enum MHD_Result http_loader_offload(struct http *h, struct http_req *r);
/* Queue a /file window for a loader and suspend conn. 0 when loaders are
 * stopping (read it in place). */
int http_loader_offload_file(struct http *h, struct http_file_ctx *f, struct MHD_Connection *conn);
/* Set by a loader: the next file context in its queue. */
struct http_file_ctx **http_file_next(struct http_file_ctx *f);

#endif
