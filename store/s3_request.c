/* s3_request.c - one signed S3 request with retries.
 *
 * s3_request builds the target once (encoded path, query, URL, payload
 * hash), then per attempt: signs fresh headers, sets up a pooled easy
 * handle, performs, and classifies the outcome. Retries: connection errors,
 * timeouts, 5xx and 429, with exponential backoff and jitter; never on other
 * 4xx. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rng.h"
#include "s3_internal.h"
#include "strparse.h"
#include "timefmt.h"

/* ---- easy-handle pool --------------------------------------------------- */

CURL *s3_handle_get(s3ctx *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_reset(h); /* keeps its connections */
    else
        h = curl_easy_init();
    return h;
}

void s3_handle_put(s3ctx *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- libcurl callbacks and retry policy --------------------------------- */

/* Copies header value v (vl bytes) into dst (cap bytes), cut to fit. */
static void copy_value(char *dst, size_t cap, const char *v, size_t vl)
{
    if (vl >= cap)
        vl = cap - 1;
    memcpy(dst, v, vl);
    dst[vl] = 0;
}

static size_t on_header(char *data, size_t sz, size_t n, void *u)
{
    s3_resp *r = u;
    size_t len = sz * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* new response (redirect/100) */
        r->content_range[0] = 0;
        r->meta_ts[0] = 0;
        r->bucket_region[0] = 0;
        r->last_modified[0] = 0;
        r->etag[0] = 0;
        r->content_length = -1;
        r->last_ms = s3_mono_ms();
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (nl == 13 && strncasecmp(data, "content-range", 13) == 0) {
        copy_value(r->content_range, sizeof r->content_range, v, vl);
    } else if (nl == 31 && strncasecmp(data, "x-amz-meta-litestream-timestamp", 31) == 0) {
        copy_value(r->meta_ts, sizeof r->meta_ts, v, vl);
    } else if (nl == 19 && strncasecmp(data, "x-amz-bucket-region", 19) == 0) {
        size_t k = 0;
        for (size_t i = 0; i < vl && k + 1 < sizeof r->bucket_region; i++)
            if (isalnum((unsigned char)v[i]) || v[i] == '-')
                r->bucket_region[k++] = v[i];
        r->bucket_region[k] = 0;
    } else if (nl == 4 && strncasecmp(data, "etag", 4) == 0) {
        s3_etag_unquote(v, vl, r->etag);
    } else if (nl == 13 && strncasecmp(data, "last-modified", 13) == 0) {
        copy_value(r->last_modified, sizeof r->last_modified, v, vl);
    } else if (nl == 14 && strncasecmp(data, "content-length", 14) == 0) {
        char tmp[32];
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = 0;
            uint64_t cl;
            if (strparse_u64(tmp, 10, &cl) == 0 && cl <= (uint64_t)LLONG_MAX)
                r->content_length = (long long)cl;
        }
    }
    return len;
}

static size_t on_body(char *data, size_t sz, size_t n, void *u)
{
    s3_resp *r = u;
    size_t len = sz * n;
    if (!r->routed) {
        long code = 0;
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
        r->to_err = code < 200 || code >= 300;
        r->routed = 1;
        if (!r->to_err && r->content_length > 0 && (unsigned long long)r->content_length > r->max) {
            r->overflow = 1;
            return 0; /* abort: larger than the caller's cap */
        }
    }
    if (r->to_err) {
        size_t room = ERRBODY_CAP - r->errlen;
        size_t take = len < room ? len : room;
        if (take) {
            uint8_t *g = realloc(r->err, r->errlen + take + 1);
            if (!g)
                return 0;
            r->err = g;
            memcpy(r->err + r->errlen, data, take);
            r->errlen += take;
            r->err[r->errlen] = 0;
        }
        return len;
    }
    if (len > r->max - r->len) {
        r->overflow = 1;
        return 0;
    }
    if (r->dst) {
        memcpy(r->dst + r->len, data, len);
    } else {
        if (r->len + len > r->cap) {
            size_t nc = r->cap ? r->cap : 16384;
            while (nc < r->len + len)
                nc *= 2;
            if (nc > r->max)
                nc = r->max;
            uint8_t *g = realloc(r->grow, nc ? nc : 1);
            if (!g)
                return 0;
            r->grow = g;
            r->cap = nc;
        }
        memcpy(r->grow + r->len, data, len);
    }
    r->len += len;
    return len;
}

int64_t s3_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called by libcurl at least about once a second: ends the attempt when the
 * store is stopped or nothing moved for stall_ms. */
static int on_progress(void *u, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    s3_resp *r = u;
    if (obj_stopped(r->s)) {
        r->abort_why = S3_ABORT_STOP;
        return 1;
    }
    int64_t now = s3_mono_ms();
    if (dlnow + ulnow != r->seen) {
        r->seen = dlnow + ulnow;
        r->last_ms = now;
    } else if (now - r->last_ms > r->stall_ms) {
        r->abort_why = S3_ABORT_STALL;
        return 1;
    }
    return 0;
}

static size_t on_upload(char *buf, size_t sz, size_t n, void *u)
{
    s3_resp *r = u;
    size_t room = sz * n, left = r->up_len - r->up_off;
    size_t take = left < room ? left : room;
    if (take)
        memcpy(buf, r->up + r->up_off, take);
    r->up_off += take;
    return take;
}

/* libcurl rewinds the body when it resends a PUT on a new connection (a
 * reused keep-alive connection that turned out dead); without this the
 * attempt failed with "necessary data rewind wasn't possible". */
static int on_seek(void *u, curl_off_t offset, int origin)
{
    s3_resp *r = u;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->up_len)
        return CURL_SEEKFUNC_FAIL;
    r->up_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int retryable_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SEND_FAIL_REWIND: return 1;
    default: return 0;
    }
}

/* The wait before retry number attempt+1: [d/2, d], d = min(100 ms * 2^n, 5 s). */
static long backoff_ms(int attempt)
{
    static _Thread_local uint64_t seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&seed ^ (uint64_t)ts.tv_sec;
        if (!seed)
            seed = 88172645463325252ull;
    }
    long ms = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    return ms / 2 + (long)(rng_xorshift64(&seed) % (uint64_t)(ms / 2 + 1)); /* [ms/2, ms] */
}

/* Sleeps ms in slices of 50 ms; -1 as soon as the store is stopped. */
static int pause_ms(objstore *s, long ms)
{
    while (ms > 0) {
        if (obj_stopped(s))
            return -1;
        long step = ms < 50 ? ms : 50;
        struct timespec d = { 0, step * 1000000L };
        while (nanosleep(&d, &d) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
    return obj_stopped(s) ? -1 : 0;
}

/* Pulls <Code>…</Code> out of an S3 error document (for messages). */
static void error_code(const uint8_t *body, size_t len, char *out, size_t outlen)
{
    out[0] = 0;
    if (!body || !len)
        return;
    const char *b = (const char *)body;
    const char *s = strstr(b, "<Code>");
    if (!s)
        return;
    s += 6;
    const char *en = strstr(s, "</Code>");
    if (!en)
        return;
    size_t n = (size_t)(en - s);
    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = isalnum((unsigned char)s[i]) ? s[i] : '_';
    out[n] = 0;
}

void s3_obj_name(const s3ctx *c, const char *key, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", c->bucket, key ? key : "");
}

void s3_resp_free(s3_resp *r)
{
    free(r->grow);
    free(r->err);
    r->grow = NULL;
    r->err = NULL;
}

/* ---- the target: path, URL and payload hash, fixed across attempts ------ */

typedef struct {
    char *raw; /* base_path + "/" + key, not encoded (what SigV4 signs) */
    char *url; /* scheme_host + encoded path + "?" + encoded query */
    char payload_hash[65];
    char what[300]; /* "bucket/key" for messages */
} s3_target;

static void target_free(s3_target *t)
{
    free(t->raw);
    free(t->url);
    t->raw = t->url = NULL;
}

/* The query string in the canonical encoding (malloc'd), or NULL. */
static char *encode_query(const s3_req *rq)
{
    size_t qcap = 1;
    for (size_t i = 0; i < rq->nquery; i++)
        qcap += 3 * (strlen(rq->query[i].name) + (rq->query[i].value ? strlen(rq->query[i].value) : 0)) + 2;
    char *qs = malloc(qcap);
    if (!qs)
        return NULL;
    size_t qo = 0;
    qs[0] = 0;
    for (size_t i = 0; i < rq->nquery; i++) {
        if (i)
            qs[qo++] = '&';
        int k = sigv4_uri_encode(rq->query[i].name, 0, qs + qo, qcap - qo);
        qo += (size_t)(k > 0 ? k : 0);
        qs[qo++] = '=';
        k = sigv4_uri_encode(rq->query[i].value ? rq->query[i].value : "", 0, qs + qo, qcap - qo);
        qo += (size_t)(k > 0 ? k : 0);
        qs[qo] = 0;
    }
    return qs;
}

static obj_status target_build(objstore *s, const s3_req *rq, s3_target *t, obj_error *e)
{
    s3ctx *c = s->s3;
    s3_obj_name(c, rq->key ? rq->key : rq->label, t->what, sizeof t->what);
    size_t raw_len = strlen(c->base_path) + (rq->key ? strlen(rq->key) : 0) + 2;
    t->raw = malloc(raw_len);
    char *enc = malloc(raw_len * 3 + 1);
    char *qs = encode_query(rq);
    if (t->raw && enc && qs) {
        snprintf(t->raw, raw_len, "%s/%s", c->base_path, rq->key ? rq->key : "");
        sigv4_uri_encode(t->raw, 1, enc, raw_len * 3 + 1);
        size_t url_cap = strlen(c->scheme_host) + strlen(enc) + strlen(qs) + 2;
        if ((t->url = malloc(url_cap)))
            snprintf(t->url, url_cap, "%s%s%s%s", c->scheme_host, enc, qs[0] ? "?" : "", qs);
    }
    free(enc);
    free(qs);
    if (!t->url) {
        target_free(t);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory for %.200s", t->what);
    }
    sigv4_sha256_hex(rq->body ? (const void *)rq->body : "", rq->body ? rq->body_len : 0, t->payload_hash);
    return OBJ_OK;
}

/* ---- one attempt -------------------------------------------------------- */

/* Appends "name: value" to *hl through line (LINE_CAP bytes); 0 or -1. */
static int add_header(struct curl_slist **hl, char *line, size_t cap, const char *name, const char *value)
{
    int k = snprintf(line, cap, "%s: %s", name, value);
    struct curl_slist *t;
    if (k < 0 || (size_t)k >= cap || !(t = curl_slist_append(*hl, line)))
        return -1;
    *hl = t;
    return 0;
}

/* The request headers, signed when the store has keys; NULL on failure. */
static struct curl_slist *signed_headers(const s3ctx *c, const s3_req *rq, const s3_target *t)
{
    char amz_date[17];
    timefmt_format_basic(amz_date, sizeof amz_date, (int64_t)time(NULL));
    sigv4_pair hd[10];
    size_t nh = 0;
    char if_match[LTX_ETAG_MAX + 2];
    snprintf(if_match, sizeof if_match, "\"%s\"", rq->if_match ? rq->if_match : "");
    hd[nh++] = (sigv4_pair){ "host", c->host };
    hd[nh++] = (sigv4_pair){ "x-amz-content-sha256", t->payload_hash };
    hd[nh++] = (sigv4_pair){ "x-amz-date", amz_date };
    if (rq->range)
        hd[nh++] = (sigv4_pair){ "range", rq->range };
    if (rq->meta_ts)
        hd[nh++] = (sigv4_pair){ "x-amz-meta-litestream-timestamp", rq->meta_ts };
    if (c->session_token)
        hd[nh++] = (sigv4_pair){ "x-amz-security-token", c->session_token };
    /* conditions are signed, as the AWS SDKs do, so they cannot be dropped on the way */
    if (rq->if_match)
        hd[nh++] = (sigv4_pair){ "if-match", if_match };
    if (rq->if_none_match)
        hd[nh++] = (sigv4_pair){ "if-none-match", "*" };

    struct curl_slist *hl = NULL, *tail;
    enum { LINE_CAP = 16384 }; /* STS session tokens can be a few KiB */
    char *line = malloc(LINE_CAP);
    int ok = line != NULL;
    for (size_t i = 0; i < nh && ok; i++)
        ok = add_header(&hl, line, LINE_CAP, hd[i].name, hd[i].value) == 0;
    if (ok && c->access_key) {
        sigv4_input in = { .method = rq->method,
                           .path = t->raw,
                           .query = rq->query,
                           .nquery = rq->nquery,
                           .headers = hd,
                           .nheaders = nh,
                           .payload_hash = t->payload_hash,
                           .amz_date = amz_date,
                           .region = c->region,
                           .service = "s3",
                           .access_key = c->access_key,
                           .secret_key = c->secret_key };
        char sig[65], auth[1024];
        ok = sigv4_sign(&in, sig, auth, sizeof auth) == 0 &&
             add_header(&hl, line, LINE_CAP, "Authorization", auth) == 0;
    }
    if (line) {
        OPENSSL_cleanse(line, LINE_CAP); /* held the session token */
        free(line);
    }
    if (!ok) {
        curl_slist_free_all(hl);
        return NULL;
    }
    if ((tail = curl_slist_append(hl, "Expect:")))
        hl = tail;
    if (rq->body && (tail = curl_slist_append(hl, "Content-Type: application/octet-stream")))
        hl = tail;
    return hl;
}

/* Fresh response state for an attempt (drops the previous attempt's body). */
static void resp_reset(objstore *s, s3_resp *r, CURL *h, const s3_req *rq)
{
    s3_resp_free(r);
    memset(r, 0, sizeof *r);
    r->h = h;
    r->s = s;
    r->stall_ms = s->s3->timeout_ms;
    r->last_ms = s3_mono_ms();
    r->dst = rq->dst;
    r->max = rq->max_body;
    r->content_length = -1;
    r->up = rq->body;
    r->up_len = rq->body_len;
}

/* 1 s more per MiB a transfer is expected to move (large snapshots). */
static long transfer_extra_ms(const s3_req *rq)
{
    uint64_t xfer = rq->expect_bytes > rq->body_len ? rq->expect_bytes : rq->body_len;
    uint64_t extra = (xfer >> 20) * 1000u;
    return (long)(extra < 86400000u ? extra : 86400000u);
}

/* attempt_ms: this attempt's whole time (what is left of the deadline, at
 * most timeout_ms plus the transfer allowance); the progress callback ends
 * it earlier when nothing moves for timeout_ms or the store is stopped. */
static void setup_handle(CURL *h, const s3ctx *c, const s3_req *rq, const char *url, struct curl_slist *hl,
                         long attempt_ms, char *errbuf, s3_resp *r)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    /* The shared connection cache keeps only a few idle connections by
     * default; with more reads in flight (parallel index builds, many
     * cold pages) it closed them and every read paid a new TCP/TLS
     * handshake. Keep enough for the fan-out. */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 64L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, attempt_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < attempt_ms ? c->timeout_ms : attempt_ms);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (!strcmp(rq->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (!strcmp(rq->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }
}

/* How an attempt ended: final (with *result set and e filled) or retryable
 * (last_err holds what went wrong, "" for an HTTP 5xx/429). */
enum { ATTEMPT_FINAL, ATTEMPT_RETRY };

/* A transport error: overflow, stop, stall or a curl error. */
static int transport_outcome(objstore *s, const s3_req *rq, const s3_target *t, const s3_resp *r, CURLcode cc,
                             const char *errbuf, char *last_err, size_t last_errlen, obj_status *result,
                             obj_error *e)
{
    long status = r->status;
    /* longer than asked: a 206 that says more than the range is a fault on
     * the way (retried); a 200 is a store that ignores Range (refused) */
    if (r->overflow && !(rq->retry_overflow && status == 206)) {
        *result = obj_fail(s, e, OBJ_ERR_TOO_LARGE, status, "%.200s is larger than %zu bytes", t->what,
                           rq->max_body);
        return ATTEMPT_FINAL;
    }
    if (r->abort_why == S3_ABORT_STOP) {
        *result =
            obj_fail(s, e, OBJ_ERR_ABORTED, 0, "%s %.200s: aborted (shutting down)", rq->method, t->what);
        return ATTEMPT_FINAL;
    }
    if (r->overflow)
        snprintf(last_err, last_errlen, "answer longer than the %zu bytes asked", rq->max_body);
    else if (r->abort_why == S3_ABORT_STALL)
        snprintf(last_err, last_errlen, "no progress for %ld ms", r->stall_ms);
    else
        snprintf(last_err, last_errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    if (r->overflow || r->abort_why == S3_ABORT_STALL || retryable_curl(cc))
        return ATTEMPT_RETRY;
    *result = obj_fail(s, e, OBJ_ERR_IO, status, "%s %.200s: %s", rq->method, t->what, last_err);
    return ATTEMPT_FINAL;
}

static int attempt_outcome(objstore *s, const s3_req *rq, const s3_target *t, const s3_resp *r, CURLcode cc,
                           const char *errbuf, char *last_err, size_t last_errlen, obj_status *result,
                           obj_error *e)
{
    s3ctx *c = s->s3;
    long status = r->status;
    if (cc != CURLE_OK)
        return transport_outcome(s, rq, t, r, cc, errbuf, last_err, last_errlen, result, e);
    char code[64];
    error_code(r->err, r->errlen, code, sizeof code);
    if (status >= 200 && status < 300) {
        char why[200] = "";
        int k = rq->check ? rq->check(rq, r, why, sizeof why) : 0;
        if (k > 0) {
            snprintf(last_err, last_errlen, "%s", why);
            return ATTEMPT_RETRY;
        }
        *result = k < 0 ? obj_fail(s, e, OBJ_ERR_INVALID, status, "%s", why) : OBJ_OK;
        return ATTEMPT_FINAL;
    }
    if (status >= 500 || status == 429 || (status == 409 && !strcmp(code, "ConditionalRequestConflict"))) {
        last_err[0] = 0;
        return ATTEMPT_RETRY;
    }
    obj_status st = status == 404                      ? OBJ_NOT_FOUND
                    : (status == 401 || status == 403) ? OBJ_ERR_AUTH
                    : status == 412                    ? (rq->if_none_match ? OBJ_EXISTS : OBJ_CHANGED)
                                                       : OBJ_ERR_INVALID;
    char hint[96] = "";
    if (r->bucket_region[0] && strcmp(r->bucket_region, c->region) != 0)
        snprintf(hint, sizeof hint, " (the bucket is in region %s, not %s: set AWS_REGION)", r->bucket_region,
                 c->region);
    else if (status == 412)
        snprintf(hint, sizeof hint,
                 rq->if_none_match ? " (it exists already)" : " (it changed since it was read)");
    *result = obj_fail(s, e, st, status, "%s %.200s: HTTP %ld%s%s%s", rq->method, t->what, status,
                       code[0] ? " " : "", code, hint);
    return ATTEMPT_FINAL;
}

/* The error once retries or time are exhausted. */
static obj_status out_of_retries(objstore *s, const s3_req *rq, const s3_target *t, const s3_resp *r,
                                 const char *last_err, int attempts, long deadline_ms, obj_error *e)
{
    obj_status st = deadline_ms ? OBJ_ERR_TIMEOUT : OBJ_ERR_IO;
    char when[80];
    if (deadline_ms)
        snprintf(when, sizeof when, "deadline of %ld ms passed after %d attempt%s", deadline_ms, attempts,
                 attempts == 1 ? "" : "s");
    else
        snprintf(when, sizeof when, "after %d attempts", attempts);
    if (last_err[0])
        return obj_fail(s, e, st, r->status, "%s %.200s: %s (%s)", rq->method, t->what, last_err, when);
    char code[64];
    error_code(r->err, r->errlen, code, sizeof code);
    return obj_fail(s, e, st, r->status, "%s %.200s: HTTP %ld%s%s (%s)", rq->method, t->what, r->status,
                    code[0] ? " " : "", code, when);
}

/* ---- the request -------------------------------------------------------- */

obj_status s3_request(objstore *s, const s3_req *rq, s3_resp *r, obj_error *e)
{
    s3ctx *c = s->s3;
    s3_target t = { 0 };
    obj_status result = target_build(s, rq, &t, e);
    if (result != OBJ_OK)
        return result;
    CURL *h = s3_handle_get(c);
    if (!h) {
        result = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "curl_easy_init failed for %.200s", t.what);
        target_free(&t);
        return result;
    }
    long extra = transfer_extra_ms(rq), deadline = c->deadline_ms + extra;
    int64_t end = s3_mono_ms() + deadline;
    char last_err[CURL_ERROR_SIZE] = "";
    int attempt = 0;
    for (;; attempt++) {
        long left = (long)(end - s3_mono_ms());
        if (obj_stopped(s)) {
            result =
                obj_fail(s, e, OBJ_ERR_ABORTED, 0, "%s %.200s: aborted (shutting down)", rq->method, t.what);
            break;
        }
        if (left <= 0) { /* r still holds the last attempt's answer */
            result = out_of_retries(s, rq, &t, r, last_err, attempt, deadline, e);
            break;
        }
        resp_reset(s, r, h, rq);
        struct curl_slist *hl = signed_headers(c, rq, &t);
        if (!hl) {
            result = obj_fail(s, e, OBJ_ERR_INVALID, 0, "cannot sign request for %.200s", t.what);
            break;
        }
        char errbuf[CURL_ERROR_SIZE];
        errbuf[0] = 0;
        long cap = c->timeout_ms + extra;
        setup_handle(h, c, rq, t.url, hl, left < cap ? left : cap, errbuf, r);
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hl);
        long nconn = 0;
        if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
            OBJ_COUNT(s, connects, nconn);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        if (attempt_outcome(s, rq, &t, r, cc, errbuf, last_err, sizeof last_err, &result, e) == ATTEMPT_FINAL)
            break;
        if (attempt >= c->max_retries) {
            result = out_of_retries(s, rq, &t, r, last_err, attempt + 1, 0, e);
            break;
        }
        long wait = backoff_ms(attempt);
        if (s3_mono_ms() + wait >= end) {
            result = out_of_retries(s, rq, &t, r, last_err, attempt + 1, deadline, e);
            break;
        }
        OBJ_COUNT(s, retries, 1);
        if (pause_ms(s, wait) != 0) {
            result =
                obj_fail(s, e, OBJ_ERR_ABORTED, 0, "%s %.200s: aborted (shutting down)", rq->method, t.what);
            break;
        }
    }
    r->attempts = attempt + 1;
    s3_handle_put(c, h);
    target_free(&t);
    return result;
}
