/* lh_http.c - requests to ltxpaged (see lh_http.h), each sent by the
 * transport of its URL: lh_http_plain.c for http://, libcurl (loaded on
 * first use, lh_http_curl.c) for https:// (see lh_http_int.h).
 *
 * A request goes to the server in use; transient failures (connection
 * refused or reset, HTTP 500/502/503/504, a page answer that does not name
 * the TXID asked for, and 409 when the caller allows) are retried with
 * doubling backoff up to 1 s (at least Retry-After) within the retry
 * budget, then the next server in rendezvous order is tried. With several
 * servers, one that cannot be reached, times out, is not ready (503) or
 * gives a refused answer is left after one attempt and skipped for
 * LH_HTTP_DOWN_MS, so a dead server
 * costs a transaction at most one connect timeout. Bodies are capped
 * (lh_http_buf.max); the Ltx-Txid, Ltx-Commit, Ltx-Page-Size and
 * Retry-After headers are parsed as they arrive (Ltx-Pages too). No retry
 * here ever outlives cfg->retry_ms.
 */
#include "lh_http_int.h"

#include "../proto/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Static_assert(LH_SETTINGS_MAX_SERVERS <= 32, "lh_http_get keeps the down servers in a 32-bit mask");

static lh_http_fault_fn lh_http_fault;
static void *lh_http_fault_ud;

void lh_http_set_fault(lh_http_fault_fn fn, void *ud)
{
    lh_http_fault = fn;
    lh_http_fault_ud = ud;
}

static atomic_uint lh_http_nforks;
static pthread_once_t lh_http_fork_once = PTHREAD_ONCE_INIT;

static void lh_http_fork_child(void) { atomic_fetch_add(&lh_http_nforks, 1); }

static void lh_http_fork_register(void) { pthread_atfork(NULL, NULL, lh_http_fork_child); }

unsigned lh_http_forks(void)
{
    pthread_once(&lh_http_fork_once, lh_http_fork_register);
    return atomic_load(&lh_http_nforks);
}

int64_t lh_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lh_http_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------ responses */

void lh_http_resp_init(lh_http_resp *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->body.max = max;
    r->commit = -1;
    r->page_size = -1;
    r->retry_after_ms = -1;
}

void lh_http_resp_free(lh_http_resp *r)
{
    free(r->body.p);
    r->body.p = NULL;
    r->body.n = r->body.cap = 0;
}

void lh_http_resp_reset(lh_http_resp *r)
{
    r->status = 0;
    r->retry_after_ms = -1;
    r->bad_txid = 0;
    r->connected = 0;
    r->cc = CURLE_OK;
    r->has_txid = 0;
    r->txid = 0;
    r->commit = -1;
    r->page_size = -1;
    r->body.n = 0;
    r->body.overflow = 0;
    r->cerr[0] = 0;
    r->pages[0] = 0;
}

int lh_http_resp_append(lh_http_resp *r, const void *p, size_t len)
{
    lh_http_buf *b = &r->body;
    if (len > b->max - b->n) {
        b->overflow = 1;
        return -1;
    }
    if (b->n + len > b->cap) {
        size_t nc = b->cap ? b->cap : 16384;
        while (nc < b->n + len)
            nc *= 2;
        if (nc > b->max)
            nc = b->max;
        unsigned char *np = realloc(b->p, nc);
        if (!np)
            return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, len);
    b->n += len;
    return 0;
}

int lh_http_parse_hex64(const char *s, size_t len, uint64_t *out)
{
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len == 0 || len > 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return -1;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* 1 if the header name (nlen bytes at p) is want, in any case. */
static int lh_http_header_is(const char *p, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(p, want, nlen) == 0;
}

/* A non-negative decimal header value into *out; anything else leaves it. */
static void lh_http_header_num(const char *v, size_t vlen, int64_t *out)
{
    char num[32];
    if (vlen == 0 || vlen >= sizeof num)
        return;
    memcpy(num, v, vlen);
    num[vlen] = 0;
    char *e;
    errno = 0;
    long long x = strtoll(num, &e, 10);
    if (*e || errno || x < 0)
        return;
    *out = x;
}

void lh_http_header_line(lh_http_resp *r, const char *ptr, size_t len)
{
    const char *colon = memchr(ptr, ':', len);
    if (!colon)
        return;
    size_t nlen = (size_t)(colon - ptr);
    const char *v = colon + 1;
    const char *end = ptr + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v);
    if (lh_http_header_is(ptr, nlen, LTXW_HDR_TXID)) {
        if (lh_http_parse_hex64(v, vlen, &r->txid) == 0)
            r->has_txid = 1;
    } else if (lh_http_header_is(ptr, nlen, LTXW_HDR_COMMIT)) {
        lh_http_header_num(v, vlen, &r->commit);
    } else if (lh_http_header_is(ptr, nlen, LTXW_HDR_PAGE_SIZE)) {
        lh_http_header_num(v, vlen, &r->page_size);
    } else if (lh_http_header_is(ptr, nlen, LTXW_HDR_PAGES)) {
        if (vlen < sizeof r->pages) {
            memcpy(r->pages, v, vlen);
            r->pages[vlen] = 0;
        }
    } else if (lh_http_header_is(ptr, nlen, "Retry-After")) {
        int64_t sec = -1;
        lh_http_header_num(v, vlen, &sec); /* delay-seconds; an HTTP date is ignored */
        if (sec >= 0)
            r->retry_after_ms = sec > 3600 ? 3600000L : (long)sec * 1000L;
    }
}

/* ---------------------------------------------------------- connections */

lh_http_conn *lh_http_open(const lh_settings *c, int poller)
{
    lh_http_conn *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->wake[0] = h->wake[1] = -1;
    h->timeout_ms = c->timeout_ms;
    h->connect_timeout_ms = c->connect_timeout_ms;
    h->poller = poller;
    if (c->token && *c->token) {
        size_t n = strlen(c->token) + 8;
        if (!(h->auth = malloc(n)))
            goto fail;
        snprintf(h->auth, n, "Bearer %s", c->token);
    }
    if (c->cafile && *c->cafile && !(h->cafile = strdup(c->cafile)))
        goto fail;
    if (poller && pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        h->wake[0] = h->wake[1] = -1;
        goto fail;
    }
    return h;
fail:
    lh_http_close(h);
    return NULL;
}

void lh_http_close(lh_http_conn *h)
{
    if (!h)
        return;
    lh_http_curl_close(h);
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    free(h->auth);
    free(h->cafile);
    free(h);
}

char *lh_http_escape(lh_http_conn *h, const char *s)
{
    (void)h;
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = 0;
    return out;
}

void lh_http_free_escaped(char *s) { free(s); }

void lh_http_wakeup(lh_http_conn *h)
{
    if (!h)
        return;
    if (h->wake[1] >= 0) {
        ssize_t w = write(h->wake[1], "w", 1);
        (void)w; /* a full pipe is already a wakeup */
    }
    lh_http_curl_wakeup(h);
}

/* One transfer of q into r (emptied first) by the URL's transport: -1 if
 * tick abandoned it, else 0. */
static int lh_http_transfer(lh_http_conn *h, const lh_http_req *q, lh_http_resp *r)
{
    lh_http_resp_reset(r);
    if (strncasecmp(q->url, "https://", 8) == 0)
        return lh_http_curl(h, q, r);
    return lh_http_plain(h, q, r);
}

/* 1 if the test seam answered this attempt. */
static int lh_http_faked(const char *url, lh_http_resp *r)
{
    if (!lh_http_fault)
        return 0;
    lh_http_resp_reset(r);
    return lh_http_fault(lh_http_fault_ud, url, r);
}

/* A 200 that does not name the TXID asked for is refused: a proxy or cache
 * in front of the server could otherwise hand one transaction pages of
 * another TXID. So is a 404 page_out_of_range: pages are only asked for
 * within the TXID's size, so it comes from another TXID too. */
static void lh_http_check_txid(lh_http_resp *r)
{
    if (r->cc == CURLE_OK && r->need_txid && r->status == 200 && !r->has_txid)
        r->bad_txid = 1;
    if (r->cc != CURLE_OK || !r->want_txid)
        return;
    if (r->status == 200 && (!r->has_txid || r->txid != r->want_txid))
        r->bad_txid = 1;
    else if (r->status == 404 && lh_http_code_is(r, LTXW_E_PAGE_RANGE))
        r->bad_txid = 2;
}

/* One attempt. */
static void lh_http_once(lh_http_conn *h, const char *url, long timeout_ms, lh_http_resp *r)
{
    if (!lh_http_faked(url, r)) {
        lh_http_req q = { "GET", url, NULL, 0, timeout_ms, NULL, NULL };
        lh_http_transfer(h, &q, r);
    }
    lh_http_check_txid(r);
}

/* 1 if the attempt never reached the server (refused, no route, connect
 * timeout, unknown host). */
static int lh_http_unreachable(const lh_http_resp *r)
{
    return r->cc == CURLE_COULDNT_CONNECT || r->cc == CURLE_COULDNT_RESOLVE_HOST ||
           (r->cc == CURLE_OPERATION_TIMEDOUT && !r->connected);
}

/* 1 if the same request may succeed soon on the same server. */
static int lh_http_transient(const lh_http_resp *r)
{
    switch (r->cc) {
    case CURLE_OK:
        if (r->bad_txid)
            return 1;
        return r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504;
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return 1;
    default: return 0;
    }
}

int lh_http_post(lh_http_conn *h, lh_settings *c, const char *path, const void *body, size_t len,
                 lh_http_resp *r, unsigned *nreq)
{
    size_t ulen = strlen(c->server) + strlen(path) + 1;
    char *url = malloc(ulen);
    if (!url) {
        lh_http_resp_reset(r);
        r->cc = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    snprintf(url, ulen, "%s%s", c->server, path);
    long timeout = c->timeout_ms + (long)(len >> 20) * 1000; /* + 1 s per MiB */
    int64_t start = lh_http_now_ms();
    long backoff = 50;
    for (;;) {
        if (!lh_http_faked(url, r)) {
            lh_http_req q = { "POST", url, body ? body : "", len, timeout, NULL, NULL };
            lh_http_transfer(h, &q, r);
        }
        if (nreq)
            (*nreq)++;
        int again = r->cc == CURLE_COULDNT_CONNECT || (r->cc == CURLE_OK && r->status == 503);
        if (!again || lh_http_now_ms() - start + backoff > c->retry_ms)
            break;
        lh_http_sleep_ms(backoff);
        backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
    }
    free(url);
    return r->cc == CURLE_OK ? 0 : -1;
}

void lh_http_use_server(lh_settings *c, int i)
{
    if (i != c->cur && i != 0)
        c->failover_ms = lh_http_now_ms();
    c->down_until[i] = 0;
    c->cur = i;
    c->server = c->servers[i];
}

int lh_http_failback(lh_settings *c)
{
    if (c->nservers > 1 && c->cur != 0 && lh_http_now_ms() - c->failover_ms > LH_HTTP_FAILBACK_MS) {
        lh_http_use_server(c, 0);
        return 1;
    }
    return 0;
}

int lh_http_should_failover(const lh_http_resp *r, int flags)
{
    if (lh_http_transient(r))
        return 1;
    if (r->cc != CURLE_OK)
        return r->cc == CURLE_OPERATION_TIMEDOUT || r->cc == CURLE_COULDNT_RESOLVE_HOST;
    if ((flags & LH_HTTP_RETRY_409) && r->status == 409)
        return 1;
    return r->status == 404 && lh_http_code_is(r, LTXW_E_NO_SUCH_DB);
}

/* Attempts at servers[idx] until an answer that retrying will not change,
 * or the budget (ms) is spent. With several servers, a server that is
 * unreachable, times out, is not ready (503) or gave a refused answer is
 * marked down and left at once. */
static void lh_http_retry(lh_http_conn *h, lh_settings *c, int idx, const char *url, long budget,
                          lh_http_resp *r, unsigned *nreq, int flags)
{
    int64_t start = lh_http_now_ms();
    long backoff = 50;
    for (;;) {
        lh_http_once(h, url, c->timeout_ms, r);
        if (nreq)
            (*nreq)++;
        int not_ready = r->cc == CURLE_OK && r->status == 503;
        int stalled = r->cc == CURLE_OPERATION_TIMEDOUT;
        if (c->nservers > 1 && (lh_http_unreachable(r) || stalled || not_ready || r->bad_txid)) {
            c->down_until[idx] = lh_http_now_ms() + LH_HTTP_DOWN_MS;
            break;
        }
        if (not_ready && (flags & LH_HTTP_NO_WAIT_503))
            break;
        int again =
            lh_http_transient(r) || ((flags & LH_HTTP_RETRY_409) && r->cc == CURLE_OK && r->status == 409);
        if (!again)
            break;
        long wait = r->retry_after_ms > backoff ? r->retry_after_ms : backoff;
        if (lh_http_now_ms() - start + wait > budget)
            break;
        lh_http_sleep_ms(wait);
        backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
    }
}

int lh_http_get(lh_http_conn *h, lh_settings *c, const char *path, lh_http_resp *r, unsigned *nreq, int flags)
{
    long budget = c->nservers > 1 ? c->retry_ms / c->nservers : c->retry_ms;
    size_t cap = c->max_server_len + strlen(path) + 1;
    char *url = malloc(cap);
    if (!url) {
        lh_http_resp_reset(r);
        r->cc = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    int64_t now = lh_http_now_ms();
    uint32_t was_down = 0; /* bit i: servers[i] was marked down before this request */
    for (int i = 0; i < c->nservers; i++)
        if (c->down_until[i] > now)
            was_down |= 1u << i;
    int start_idx = c->cur, last = c->cur, done = 0;
    /* Pass 0: servers not marked down, from the one in use; pass 1: those
     * marked down, when no other answered. */
    for (int pass = 0; pass < 2 && !done; pass++) {
        for (int k = 0; k < c->nservers && !done; k++) {
            int idx = (start_idx + k) % c->nservers;
            if (c->nservers > 1 && (int)((was_down >> idx) & 1u) != pass)
                continue;
            snprintf(url, cap, "%s%s", c->servers[idx], path);
            lh_http_retry(h, c, idx, url, budget, r, nreq, flags);
            last = idx;
            done = !lh_http_should_failover(r, flags);
        }
        if (c->nservers == 1)
            break;
    }
    /* the server that answered, else the last one asked (named in errors) */
    int64_t down = c->down_until[last];
    lh_http_use_server(c, last);
    if (!done)
        c->down_until[last] = down;
    free(url);
    return r->cc == CURLE_OK ? 0 : -1;
}

int lh_http_poll(lh_http_conn *h, const char *url, long timeout_ms, lh_http_resp *r,
                 int (*tick)(void *ud, int connected), void *ud)
{
    if (lh_http_faked(url, r))
        return 0;
    lh_http_req q = { "GET", url, NULL, 0, timeout_ms, tick, ud };
    return lh_http_transfer(h, &q, r);
}

/* msg without leading repeats of its first "prefix: " ("page 1: page 1: x"
 * -> "page 1: x"): messages prefixed at several layers of a server. */
static const char *lh_http_unrepeat(const char *msg)
{
    const char *sep = strstr(msg, ": ");
    if (!sep)
        return msg;
    size_t plen = (size_t)(sep - msg) + 2;
    while (strncmp(msg + plen, msg, plen) == 0)
        msg += plen;
    return msg;
}

void lh_http_describe(const lh_http_resp *r, char *out, size_t n)
{
    if (r->cc == CURLE_OK && r->bad_txid == 2) {
        snprintf(out, n,
                 "answer that a page is beyond the database size, which it is not at TXID %016" PRIx64
                 " (HTTP 404); refused",
                 r->want_txid);
        return;
    }
    if (r->cc == CURLE_OK && r->bad_txid) {
        if (r->has_txid)
            snprintf(out, n, "answer for TXID %016" PRIx64 " instead of %016" PRIx64 " (HTTP %ld); refused",
                     r->txid, r->want_txid, r->status);
        else if (!r->want_txid)
            snprintf(out, n, "answer without an %s header; refused", LTXW_HDR_TXID);
        else
            snprintf(out, n, "answer without an %s header (asked for TXID %016" PRIx64 "); refused",
                     LTXW_HDR_TXID, r->want_txid);
        return;
    }
    if (r->cc != CURLE_OK) {
        if (r->body.overflow)
            snprintf(out, n, "response too large");
        else
            snprintf(out, n, "%s", r->cerr[0] ? r->cerr : lh_http_strerror(r->cc));
        return;
    }
    const char *code = NULL, *msg = NULL;
    json_t *j = NULL;
    if (r->body.n > 0 && r->body.n < 65536)
        j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
    if (j && json_is_object(j)) {
        code = json_string_value(json_object_get(j, LTXW_J_CODE));
        msg = json_string_value(json_object_get(j, LTXW_J_ERROR));
    }
    if (msg)
        msg = lh_http_unrepeat(msg);
    snprintf(out, n, "HTTP %ld%s%s%s%s", r->status, code ? " " : "", code ? code : "", msg ? ": " : "",
             msg ? msg : "");
    json_decref(j);
}

int lh_http_code_is(const lh_http_resp *r, const char *code)
{
    if (r->body.n == 0 || r->body.n >= 65536)
        return 0;
    json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
    const char *c = j ? json_string_value(json_object_get(j, LTXW_J_CODE)) : NULL;
    int eq = c && strcmp(c, code) == 0;
    json_decref(j);
    return eq;
}

int lh_http_parse_state(json_t *j, uint64_t *txid, uint32_t *commit, uint32_t *ps)
{
    if (!json_is_object(j))
        return -1;
    json_t *jt = json_object_get(j, LTXW_J_TXID);
    json_t *cm = json_object_get(j, LTXW_J_COMMIT);
    json_t *p = json_object_get(j, LTXW_J_PAGE_SIZE);
    const char *t = json_string_value(jt);
    *txid = 0;
    if (t && lh_http_parse_hex64(t, strlen(t), txid) != 0)
        return -1;
    if (!t && json_is_integer(jt))
        *txid = (uint64_t)json_integer_value(jt);
    *commit = json_is_integer(cm) && json_integer_value(cm) >= 0 && json_integer_value(cm) <= UINT32_MAX
                  ? (uint32_t)json_integer_value(cm)
                  : 0;
    if (ps) {
        *ps = 0;
        if (json_is_integer(p)) {
            json_int_t v = json_integer_value(p);
            if (v >= 512 && v <= 65536 && (v & (v - 1)) == 0)
                *ps = (uint32_t)v;
        }
    }
    return 0;
}
