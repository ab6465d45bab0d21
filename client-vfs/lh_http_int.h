/* lh_http_int.h - inside lh_http: the two transports behind lh_http.c's
 * one seam. http:// goes through a small HTTP/1.1 client over plain
 * sockets (lh_http_plain.c); https:// through libcurl, loaded with dlopen
 * at the first https URL (lh_http_curl.c), so a process that only reads
 * http:// servers never loads libcurl and its TLS libraries.
 *
 * Transport results are libcurl's CURLcode numbers in both (curl/curl.h
 * is included for its constants only; nothing here links libcurl).
 */
#ifndef LH_HTTP_INT_H
#define LH_HTTP_INT_H

#include "lh_http.h"

#include <curl/curl.h>

struct lh_curl; /* lh_http_curl.c */

struct lh_http_conn {
    long timeout_ms, connect_timeout_ms;
    char *auth;   /* "Bearer TOKEN", or NULL */
    char *cafile; /* CA file for https://, or NULL */
    int poller;   /* lh_http_poll and lh_http_wakeup are used */
    int wake[2];  /* poller: a pipe that wakes a plain long poll, else -1 */
    struct lh_curl *curl;
};

/* One request. */
typedef struct lh_http_req {
    const char *method; /* "GET" or "POST" */
    const char *url;    /* full URL */
    const void *body;   /* POST body (application/octet-stream), blen bytes */
    size_t blen;
    long timeout_ms;                      /* the whole transfer */
    int (*tick)(void *ud, int connected); /* poll mode: about once a second; nonzero abandons */
    void *ud;
} lh_http_req;

/* Empty r for the next answer (body buffer, want_txid, need_txid kept). */
void lh_http_resp_reset(lh_http_resp *r);

/* One response header line (name: value) into r: the Ltx-* headers and
 * Retry-After. */
void lh_http_header_line(lh_http_resp *r, const char *line, size_t len);

/* One attempt over plain HTTP/1.1 (http:// only): r->cc, r->status,
 * r->connected, headers and body filled. Returns -1 if tick abandoned it,
 * else 0. */
int lh_http_plain(lh_http_conn *h, const lh_http_req *q, lh_http_resp *r);

/* The same through libcurl (loaded on first use). */
int lh_http_curl(lh_http_conn *h, const lh_http_req *q, lh_http_resp *r);
void lh_http_curl_wakeup(lh_http_conn *h);
void lh_http_curl_close(lh_http_conn *h);
/* CURLcode text (without libcurl loaded: a short text of our own). */
const char *lh_http_strerror(int cc);

#endif /* LH_HTTP_INT_H */
