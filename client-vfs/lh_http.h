/* lh_http.h - the VFS's only door to the network: GET requests to ltxpaged
 * with retries, failover between servers and the Ltx-* response headers
 * parsed; http:// over plain sockets (a keep-alive pool shared by the
 * process), https:// over libcurl loaded at its first use.
 *
 * Everything else in client-vfs/ calls lh_http_get (connections' page,
 * status and time requests), lh_http_poll (the watcher's cancellable
 * long poll) or lh_http_post (write mode), so lh_http_set_fault is the one place where a test can stand
 * in for the server or inject failures.
 *
 * Thread-safety: an lh_http_conn is used by one thread at a time, except
 * lh_http_wakeup, which any thread may call.
 */
#ifndef LH_HTTP_H
#define LH_HTTP_H

#include "lh_settings.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LH_HTTP_ERRLEN      256  /* transport error text (libcurl's CURL_ERROR_SIZE) */
#define LH_HTTP_PAGES_LEN   4096 /* Ltx-Pages header value kept, at most */
#define LH_HTTP_RETRY_409   1    /* flag: a lagging server (409 txid_ahead) may catch up, retry */
#define LH_HTTP_NO_WAIT_503 2    /* flag: return a 503 at once (the caller waits for readiness itself) */
#define LH_HTTP_FAILBACK_MS 2000 /* the watcher probes the preferred server this long after a failover */
#define LH_HTTP_DOWN_MS     5000 /* a server unreachable, timing out or not ready is skipped */

typedef struct lh_http_buf {
    unsigned char *p;
    size_t n, cap;
    size_t max; /* bytes: a larger body fails the request */
    int overflow;
} lh_http_buf;

/* One answer. cc is the transport's result as a CURLcode number (both
 * transports use them): 0 (CURLE_OK) when an HTTP answer arrived,
 * whatever its status. */
typedef struct lh_http_resp {
    long status;   /* HTTP status when cc == 0 */
    int cc;        /* CURLcode of the transfer */
    uint64_t txid; /* Ltx-Txid, if has_txid */
    int has_txid;
    int64_t commit;      /* Ltx-Commit pages, -1 if absent */
    int64_t page_size;   /* Ltx-Page-Size bytes, -1 if absent */
    long retry_after_ms; /* Retry-After (seconds) in ms, -1 if absent */
    uint64_t
        want_txid; /* set by the caller (kept across attempts): a 200 must carry this Ltx-Txid; 0: no check */
    int bad_txid;  /* refused (a failed attempt): 1 a 200 without want_txid as Ltx-Txid, 2 a 404
                            page_out_of_range (pages are asked for within want_txid's size) */
    int need_txid; /* set by the caller (kept): a 200 without any Ltx-Txid is refused (bad_txid 1) */
    int connected; /* the attempt got a TCP connection */
    char
        pages[LH_HTTP_PAGES_LEN]; /* Ltx-Pages (the pages of a btree= batch body), "" if absent or too long */
    lh_http_buf body;
    char cerr[LH_HTTP_ERRLEN]; /* transport error text, may be empty */
} lh_http_resp;

typedef struct lh_http_conn lh_http_conn;

/* Test seam: when set, fn answers every attempt instead of the network.
 * It returns 1 after filling r (status with cc 0, or cc nonzero for a
 * transport error; body with lh_http_resp_append), or 0 to let the request
 * go to the network. Set it before opening connections; NULL restores. */
typedef int (*lh_http_fault_fn)(void *ud, const char *url, lh_http_resp *r);
void lh_http_set_fault(lh_http_fault_fn fn, void *ud);

/* r with an empty body capped at max bytes; lh_http_resp_free releases it. */
void lh_http_resp_init(lh_http_resp *r, size_t max);
void lh_http_resp_free(lh_http_resp *r);
/* Append n bytes to r's body; 0, or -1 past the cap / out of memory. */
int lh_http_resp_append(lh_http_resp *r, const void *p, size_t n);

/* A connection with c's timeouts and token; poller adds what lh_http_poll
 * and lh_http_wakeup need. NULL on failure. lh_http_close accepts NULL. */
lh_http_conn *lh_http_open(const lh_settings *c, int poller);
void lh_http_close(lh_http_conn *h);

/* s escaped for a URL, or NULL; free with lh_http_free_escaped. */
char *lh_http_escape(lh_http_conn *h, const char *s);
void lh_http_free_escaped(char *s);

/* GET path (starting with '/') from c's servers, in rendezvous order from
 * the one in use, retrying transient failures with backoff (at least the
 * answer's Retry-After) within c->retry_ms (split between servers); the
 * server that answered stays in use. With several servers, one that cannot
 * be connected to, times out, answers 503 or gives a refused answer is
 * marked down for LH_HTTP_DOWN_MS and the next one is asked at once; servers marked down are asked last. With
 * r->want_txid set, a 200 without that Ltx-Txid is a failed attempt
 * (r->bad_txid). Adds the attempts made to *nreq if given. Returns 0 when
 * an HTTP answer arrived (any status), -1 on transport error. */
int lh_http_get(lh_http_conn *h, lh_settings *c, const char *path, lh_http_resp *r, unsigned *nreq,
                int flags);

/* One attempt at the full url on a poller connection. tick(ud, connected)
 * runs about once a second and as soon as the connection is up (connected
 * 1); a nonzero return abandons the request. Returns -1 if abandoned, else
 * 0 with the answer or transport error in r. */
int lh_http_poll(lh_http_conn *h, const char *url, long timeout_ms, lh_http_resp *r,
                 int (*tick)(void *ud, int connected), void *ud);

/* POST body (len bytes, application/octet-stream) to path on the server in
 * use (no failover: a write belongs to one server). Retried within
 * c->retry_ms only while nothing can have been published (connection
 * refused, HTTP 503). Returns 0 when an HTTP answer arrived, -1 on
 * transport error. */
int lh_http_post(lh_http_conn *h, lh_settings *c, const char *path, const void *body, size_t len,
                 lh_http_resp *r, unsigned *nreq);

/* Make a running lh_http_poll call tick soon (any thread). */
void lh_http_wakeup(lh_http_conn *h);

/* Server selection: use servers[i] (noting a failover, clearing its down
 * mark), and go back to the preferred server LH_HTTP_FAILBACK_MS after a
 * failover (returns 1 when the next request probes it; the watcher does
 * this, connections follow the watcher). */
void lh_http_use_server(lh_settings *c, int i);
int lh_http_failback(lh_settings *c);

/* 1 if another server may answer r better (transient failure, timeout,
 * 404 no_such_db, or 409 with LH_HTTP_RETRY_409). */
int lh_http_should_failover(const lh_http_resp *r, int flags);

/* "HTTP 404 no_such_db: ..." or the transport error text, into out. A
 * server message that repeats its own prefix ("page 1: page 1: x") is
 * shown with the prefix once. */
void lh_http_describe(const lh_http_resp *r, char *out, size_t n);

/* 1 if r's body is a JSON error whose code is code. */
int lh_http_code_is(const lh_http_resp *r, const char *code);

/* A TXID: up to 16 hex digits, optional 0x. Returns 0, or -1 leaving *out. */
int lh_http_parse_hex64(const char *s, size_t len, uint64_t *out);

/* A status or /changes answer {"txid":..,"commit":N,"page_size":N}:
 * commit 0 and page size 0 when absent or invalid; ps may be NULL.
 * Returns 0, or -1 if j is not such an object. */
int lh_http_parse_state(json_t *j, uint64_t *txid, uint32_t *commit, uint32_t *ps);

/* Monotonic clock in ms. */
int64_t lh_http_now_ms(void);

/* How many fork()s this process is down the line from the first caller's
 * (a pthread_atfork child handler counts them): state saved with one
 * value is the parent's when the value changed. No system call, unlike
 * getpid(), so the page path can ask on every request. */
unsigned lh_http_forks(void);

/* Sleep ms milliseconds (resumed after signals). */
void lh_http_sleep_ms(long ms);

#endif /* LH_HTTP_H */
