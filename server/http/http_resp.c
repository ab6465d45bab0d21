/* http_resp.c - answers: queueing (and counting, logging), JSON bodies,
 * JSON errors, snapshot headers, conditional requests.
 *
 * An answer is queued on the connection, except for a request run by a
 * loader thread or one without a connection (unit tests): then it is
 * kept in the request (dresp, dstatus) and queued when the connection
 * resumes. MHD_queue_response belongs to the access handler. */
#include "http_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmap.h"
#include "log.h"
#include "timefmt.h"

enum MHD_Result http_resp_queue(struct http *h, struct http_req *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    http_cors_headers(h, &r->in, resp);
    http_metrics_count(h, r, status);
    if (log_enabled(LOG_DEBUG)) {
        char q[600];
        logf_(LOG_DEBUG, "request", "route=%s status=%d ms=%lld path=%s", http_route_names[r->route], status,
              (long long)(mono_ms() - r->t0), log_q(q, sizeof q, r->raw ? r->raw : ""));
    }
    if (!r->conn || http_loader_running(r)) {
        if (r->dresp)
            MHD_destroy_response(r->dresp);
        r->dresp = resp;
        r->dstatus = status;
        return MHD_YES;
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* j (taken) as a JSON response; NULL without memory. */
static struct MHD_Response *http_resp_json_new(json_t *j, const char *cache_control)
{
    char *body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!body)
        return NULL;
    size_t len = strlen(body);
    body = realloc(body, len + 2) ?: body;
    body[len++] = '\n';
    body[len] = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", cache_control ? cache_control : "no-cache");
    return resp;
}

enum MHD_Result http_resp_json(struct http *h, struct http_req *r, int status, json_t *j,
                               const char *cache_control)
{
    struct MHD_Response *resp = http_resp_json_new(j, cache_control);
    return resp ? http_resp_queue(h, r, status, resp) : MHD_NO;
}

enum MHD_Result http_resp_json_dberr(struct http *h, struct http_req *r, json_t *j, const db_err *e)
{
    const errmap_http *m = errmap_db(e->code);
    r->err_code = m->code;
    char q1[600], q2[600];
    logf_(m->status >= 500 ? LOG_ERROR : LOG_INFO, "request_error", "status=%d code=%s path=%s error=%s",
          m->status, m->code, log_q(q1, sizeof q1, r->raw ? r->raw : ""), log_q(q2, sizeof q2, e->msg));
    if (j) {
        json_object_set_new(j, "error", json_string(e->msg));
        json_object_set_new(j, "code", json_string(m->code));
    }
    struct MHD_Response *resp = http_resp_json_new(j, "no-store");
    if (!resp)
        return MHD_NO;
    if (m->retry_after)
        MHD_add_response_header(resp, "Retry-After", m->retry_after);
    return http_resp_queue(h, r, m->status, resp);
}

/* The JSON error answer (logged, not queued); NULL without memory. */
static struct MHD_Response *http_resp_error_new(struct http_req *r, int status, const char *code,
                                                const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    r->err_code = code;
    char q1[600], q2[600];
    logf_(status >= 500 ? LOG_ERROR : LOG_INFO, "request_error", "status=%d code=%s path=%s error=%s", status,
          code, log_q(q1, sizeof q1, r->raw ? r->raw : ""), log_q(q2, sizeof q2, msg));
    json_t *j = json_object();
    json_object_set_new(j, "error", json_string(msg));
    json_object_set_new(j, "code", json_string(code));
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"ltxpaged\"");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    return resp;
}

enum MHD_Result http_resp_error(struct http *h, struct http_req *r, int status, const char *code,
                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = http_resp_error_new(r, status, code, fmt, ap);
    va_end(ap);
    return resp ? http_resp_queue(h, r, status, resp) : MHD_NO;
}

static struct MHD_Response *http_resp_error_mk(struct http_req *r, int status, const char *code,
                                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct MHD_Response *http_resp_error_mk(struct http_req *r, int status, const char *code,
                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = http_resp_error_new(r, status, code, fmt, ap);
    va_end(ap);
    return resp;
}

enum MHD_Result http_resp_dberr(struct http *h, struct http_req *r, const db_err *e)
{
    const errmap_http *m = errmap_db(e->code);
    struct MHD_Response *resp = http_resp_error_mk(r, m->status, m->code, "%s", e->msg);
    if (!resp)
        return MHD_NO;
    if (m->retry_after)
        MHD_add_response_header(resp, "Retry-After", m->retry_after);
    return http_resp_queue(h, r, m->status, resp);
}

enum MHD_Result http_resp_bad_txid(struct http *h, struct http_req *r)
{
    return http_resp_error(h, r, 400, LTXW_E_BAD_TXID, "txid must be 1-16 hex digits, not zero");
}

enum MHD_Result http_resp_text(struct http *h, struct http_req *r, int status, const char *t)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(t), (void *)t, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_resp_queue(h, r, status, resp);
}

void http_resp_snap_headers(const struct http *h, struct MHD_Response *resp, const db_snap *s, int pinned,
                            const char *etag)
{
    char b[64];
    ltx_format_txid(b, s->txid);
    MHD_add_response_header(resp, LTXW_HDR_TXID, b);
    snprintf(b, sizeof b, "%u", s->commit);
    MHD_add_response_header(resp, LTXW_HDR_COMMIT, b);
    snprintf(b, sizeof b, "%u", s->page_size);
    MHD_add_response_header(resp, LTXW_HDR_PAGE_SIZE, b);
    timefmt_format_ms(b, sizeof b, s->ts_ms);
    MHD_add_response_header(resp, LTXW_HDR_TIMESTAMP, b);
    MHD_add_response_header(resp, "Cache-Control",
                            !pinned            ? "no-cache"
                            : h->private_cache ? "private, max-age=31536000, immutable"
                                               : "public, max-age=31536000, immutable");
    if (etag)
        MHD_add_response_header(resp, "ETag", etag);
}

/* The next entity-tag of a list at *p ("a", W/"b", *): [*tag, *tag+*len)
 * with its quotes, *weak set; 0 at the end or on a malformed list. */
static int http_resp_next_tag(const char **p, const char **tag, size_t *len, int *weak)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return 0;
    *weak = 0;
    if (s[0] == 'W' && s[1] == '/') {
        *weak = 1;
        s += 2;
    }
    const char *e;
    if (*s == '*') {
        e = s + 1;
    } else if (*s == '"') {
        e = strchr(s + 1, '"');
        if (!e)
            return 0;
        e++;
    } else {
        return 0;
    }
    *tag = s;
    *len = (size_t)(e - s);
    *p = e;
    return 1;
}

int http_resp_etag_listed(const char *list, const char *etag, int strong)
{
    const char *p = list, *t;
    size_t len, el = strlen(etag);
    int weak;
    while (http_resp_next_tag(&p, &t, &len, &weak)) {
        if (len == 1 && *t == '*')
            return 1;
        if (strong && weak)
            continue;
        if (len == el && memcmp(t, etag, el) == 0)
            return 1;
    }
    return 0;
}

int http_resp_not_modified(const struct http_request *in, const char *etag)
{
    return in->hdr.if_none_match && http_resp_etag_listed(in->hdr.if_none_match, etag, 0);
}

int http_resp_precondition_failed(const struct http_request *in, const char *etag)
{
    return in->hdr.if_match && !http_resp_etag_listed(in->hdr.if_match, etag, 1);
}

int http_resp_if_range_ok(const struct http_request *in, const char *etag)
{
    /* a date never matches: these answers have no Last-Modified */
    const char *ir = in->hdr.if_range;
    return !ir || (strncmp(ir, "W/", 2) != 0 && strcmp(ir, etag) == 0);
}

static ssize_t http_resp_no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR; /* never called: a 304 has no body */
}

enum MHD_Result http_resp_304(struct http *h, struct http_req *r, const db_snap *s, int pinned,
                              const char *etag, uint64_t len)
{
    /* libmicrohttpd 0.9.75 sends Content-Length on a 304 from the
     * answer's size: give it the size of the 200 (RFC 9110 8.6 allows
     * only that value), not a wrong 0 */
    struct MHD_Response *resp =
        len ? MHD_create_response_from_callback(len, 4096, http_resp_no_body, NULL, NULL)
            : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    http_resp_snap_headers(h, resp, s, pinned, etag);
    return http_resp_queue(h, r, 304, resp);
}

enum MHD_Result http_resp_412(struct http *h, struct http_req *r, const db_snap *s, int pinned,
                              const char *etag)
{
    struct MHD_Response *resp = http_resp_error_mk(
        r, 412, LTXW_E_PRECONDITION, "If-Match names another version; the current one is %s", etag);
    if (!resp)
        return MHD_NO;
    http_resp_snap_headers(h, resp, s, pinned, etag);
    return http_resp_queue(h, r, 412, resp);
}

int http_resp_conditional(struct http *h, struct http_req *r, const db_snap *s, int pinned, const char *etag,
                          uint64_t len, enum MHD_Result *rc)
{
    if (http_resp_precondition_failed(&r->in, etag))
        *rc = http_resp_412(h, r, s, pinned, etag);
    else if (http_resp_not_modified(&r->in, etag))
        *rc = http_resp_304(h, r, s, pinned, etag, len);
    else
        return 0;
    return 1;
}

int http_resp_db_path(char *out, size_t len, const char *name, const char *rest)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (len < 2)
        return -1;
    out[o++] = '/';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~!$&'()*+,;=:@", *p);
        if (o + 4 >= len)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    int n = snprintf(out + o, len - o, "/%s", rest);
    return n < 0 || (size_t)n >= len - o ? -1 : 0;
}
