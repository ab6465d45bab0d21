/* http_route.c - the route table and dispatch.
 *
 * Every request first passes the prelude (target length, method, raw
 * path checks, splitting into at most 3 segments), then the first row
 * of http_routes[] whose pattern matches its path decides: the route it
 * is counted under, the methods it takes, the token it needs, whether it
 * names a database (checked against THE name rule, then looked up), and
 * the handler. The order of the checks is the order clients have always
 * seen: a bad database name is 400 before a missing token is 401, and a
 * missing token is 401 before an unknown database is 404 (no existence
 * leak). Rows are tried top to bottom; the last rows catch everything.
 *
 * Thread-safety: the table is constant; dispatch runs on the HTTP
 * threads and on loader threads (a request re-dispatched there). */
#include "http_int.h"

#include <string.h>

#include "dbname.h"

enum http_auth {
    HTTP_AUTH_NONE,  /* open, even with tokens set */
    HTTP_AUTH_READ,  /* --read-token, when set */
    HTTP_AUTH_ADMIN, /* --admin-token, when set */
    HTTP_AUTH_WRITE, /* --write-token, always (403 without one) */
};

enum { HTTP_M_GET = 1, HTTP_M_HEAD = 2, HTTP_M_POST = 4 };

enum {
    HTTP_ROUTE_NAME = 1, /* the first segment is a database name: THE rule (400) */
    HTTP_ROUTE_DB = 2,   /* ... of a database being served (404), in in->db */
    HTTP_ROUTE_TXID = 4, /* takes txid= (400 bad_txid), in in->txid and in->pinned */
};

/* Patterns: segments separated by '/'. A literal (alternatives separated
 * by '|'; "" is the empty segment of "/"), "{db}" any first segment that
 * is not reserved, "{reserved}" a reserved one (admin, metrics, ...),
 * "*" any one segment, "**" whatever follows (also nothing). */
struct http_route {
    const char *pattern;
    enum http_route_id id;
    unsigned methods;
    enum http_auth auth;
    unsigned flags;
    http_handler_fn handler;
};

static enum MHD_Result http_route_reserved(struct http *h, struct http_req *r);
static enum MHD_Result http_route_no_admin(struct http *h, struct http_req *r);
static enum MHD_Result http_route_not_found(struct http *h, struct http_req *r);

#define GH  (HTTP_M_GET | HTTP_M_HEAD)
#define DBR (HTTP_ROUTE_NAME | HTTP_ROUTE_DB)
#define DBT (DBR | HTTP_ROUTE_TXID)
#define P   HTTP_M_POST

static const struct http_route http_routes[] = {
    /* pattern                          route           methods auth             flags            handler */
    { "", HTTP_R_INDEX, GH, HTTP_AUTH_READ, 0, http_status_index },
    { "healthz", HTTP_R_HEALTH, GH, HTTP_AUTH_NONE, 0, http_status_healthz },
    { "readyz", HTTP_R_READY, GH, HTTP_AUTH_NONE, 0, http_status_readyz },
    { "metrics", HTTP_R_METRICS, GH, HTTP_AUTH_ADMIN, 0, http_metrics_get },
    { "{reserved}/pages|file|changes/**", HTTP_R_OTHER, GH, HTTP_AUTH_NONE, 0, http_route_reserved },
    { "admin/status|dbs", HTTP_R_ADMIN, GH, HTTP_AUTH_ADMIN, 0, http_status_admin },
    { "admin/dbs/{db}/fork", HTTP_R_WRITE, P, HTTP_AUTH_ADMIN, 0, http_write_fork },
    { "admin/dbs/{db}/rollback", HTTP_R_WRITE, P, HTTP_AUTH_ADMIN, 0, http_write_rollback },
    { "admin/**", HTTP_R_ADMIN, GH, HTTP_AUTH_ADMIN, 0, http_route_no_admin },
    { "{reserved}/**", HTTP_R_OTHER, GH, HTTP_AUTH_NONE, 0, http_route_not_found },
    { "{db}", HTTP_R_DB, GH, HTTP_AUTH_READ, DBT, http_status_db },
    { "{db}/pages", HTTP_R_BATCH, GH, HTTP_AUTH_READ, DBT, http_pages_batch },
    { "{db}/pages/*", HTTP_R_PAGE, GH, HTTP_AUTH_READ, DBT, http_pages_page },
    { "{db}/file", HTTP_R_FILE, GH, HTTP_AUTH_READ, DBT, http_file_get },
    { "{db}/changes", HTTP_R_CHANGES, GH, HTTP_AUTH_READ, DBR, http_changes_get },
    { "{db}/ltx", HTTP_R_WRITE, P, HTTP_AUTH_WRITE, HTTP_ROUTE_NAME, http_write_post },
    { "{db}/**", HTTP_R_OTHER, GH, HTTP_AUTH_READ, HTTP_ROUTE_NAME, http_route_not_found },
};

#undef GH
#undef DBR
#undef P

#define HTTP_NROUTES (sizeof http_routes / sizeof http_routes[0])

const char *const http_route_names[HTTP_R__N] = { "page",  "batch",   "file",    "changes", "status",
                                                  "admin", "metrics", "healthz", "readyz",  "index",
                                                  "other", "invalid", "write" };

static unsigned http_route_method(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return HTTP_M_GET;
    if (strcmp(m, "HEAD") == 0)
        return HTTP_M_HEAD;
    if (strcmp(m, "POST") == 0)
        return HTTP_M_POST;
    return 0;
}

/* One pattern segment p[0..len) against a path segment. */
static int http_route_seg_match(const char *p, size_t len, const char *seg)
{
    if (len == 4 && !strncmp(p, "{db}", 4))
        return !dbname_reserved(seg);
    if (len == 10 && !strncmp(p, "{reserved}", 10))
        return dbname_reserved(seg);
    if (len == 1 && p[0] == '*')
        return 1;
    size_t sl = strlen(seg);
    for (const char *alt = p, *end = p + len; alt <= end;) {
        const char *bar = memchr(alt, '|', (size_t)(end - alt));
        size_t al = bar ? (size_t)(bar - alt) : (size_t)(end - alt);
        if (al == sl && !strncmp(alt, seg, sl))
            return 1;
        if (!bar)
            break;
        alt = bar + 1;
    }
    return 0;
}

static int http_route_match(const char *pattern, const struct http_request *in)
{
    const char *p = pattern;
    for (int i = 0;; i++) {
        size_t len = strcspn(p, "/");
        if (len == 2 && !strncmp(p, "**", 2))
            return 1;
        if (i >= in->nseg || !http_route_seg_match(p, len, in->seg[i]))
            return 0;
        p += len;
        if (!*p)
            return i + 1 == in->nseg;
        p++;
    }
}

/* Raw path checks that percent-decoding would hide: encoded '/', '\' or
 * NUL, a raw '\', and "." or ".." segments (raw or encoded dots). */
static int http_route_raw_path_bad(const char *raw)
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
    const char *p = raw;
    while (p < raw + plen) {
        const char *seg = p;
        const char *e = memchr(p, '/', (size_t)(raw + plen - p));
        size_t sl = e ? (size_t)(e - seg) : (size_t)(raw + plen - seg);
        size_t dl = 0;
        int only_dots = sl > 0 && sl <= 9;
        for (size_t i = 0; only_dots && i < sl && dl < 8; i++) {
            if (seg[i] == '.')
                dl++;
            else if (seg[i] == '%' && i + 2 < sl && seg[i + 1] == '2' &&
                     (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
                dl++;
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

/* url without its '/' into in->path, split into in->seg (nseg 4: more
 * than 3 segments). */
static void http_route_split(struct http_request *in)
{
    size_t len = strlen(in->url + 1);
    memcpy(in->path, in->url + 1, len + 1);
    in->nseg = 0;
    char *p = in->path;
    while (in->nseg < HTTP_MAX_SEGS) {
        in->seg[in->nseg++] = p;
        char *sl = strchr(p, '/');
        if (!sl)
            break;
        *sl = 0;
        p = sl + 1;
    }
}

static const struct http_route *http_route_find(const struct http_request *in)
{
    for (size_t i = 0; i < HTTP_NROUTES; i++)
        if (http_route_match(http_routes[i].pattern, in))
            return &http_routes[i];
    return NULL;
}

int http_route_method_allowed(struct http_request *in)
{
    if (!in->url || in->url[0] != '/' || strlen(in->url) > LTXW_MAX_URL)
        return 0;
    http_route_split(in);
    const struct http_route *rt = in->nseg < HTTP_MAX_SEGS ? http_route_find(in) : NULL;
    return rt && (http_route_method(in->method) & rt->methods) != 0;
}

/* 414, 405, 400 before any route is looked at. 1 when answered (*rc). */
static int http_route_prelude(struct http *h, struct http_req *r, enum MHD_Result *rc)
{
    const struct http_request *in = &r->in;
    unsigned any = 0;
    for (size_t i = 0; i < HTTP_NROUTES; i++)
        any |= http_routes[i].methods;
    if (in->rawlen > LTXW_MAX_URL)
        *rc = http_resp_error(h, r, 414, LTXW_E_URI_TOO_LONG, "request target longer than %d bytes",
                              LTXW_MAX_URL);
    else if (!(http_route_method(in->method) & any) && !(h->ncors && strcmp(in->method, "OPTIONS") == 0))
        *rc = http_resp_error(h, r, 405, LTXW_E_METHOD, "method %.20s not allowed; use GET or HEAD",
                              in->method);
    else if (in->raw && http_route_raw_path_bad(in->raw))
        *rc = http_resp_error(h, r, 400, LTXW_E_BAD_NAME,
                              "path contains an encoded slash, NUL or a dot segment");
    else if (in->url[0] != '/')
        *rc = http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST, "bad request target");
    else if (strlen(in->url) > LTXW_MAX_URL)
        *rc = http_resp_error(h, r, 414, LTXW_E_URI_TOO_LONG, "request target too long");
    else
        return 0;
    return 1;
}

enum MHD_Result http_route_dispatch(struct http *h, struct http_req *r)
{
    struct http_request *in = &r->in;
    enum MHD_Result rc;
    r->route = HTTP_R_INVALID; /* until a route is known */
    if (http_route_prelude(h, r, &rc))
        return rc;
    http_route_split(in);
    const struct http_route *rt = in->nseg < HTTP_MAX_SEGS ? http_route_find(in) : NULL;
    if (!rt) {
        r->route = HTTP_R_OTHER;
        if (!(http_route_method(in->method) & (HTTP_M_GET | HTTP_M_HEAD)))
            return http_resp_error(h, r, 405, LTXW_E_METHOD, "method %.20s not allowed; use GET or HEAD",
                                   in->method);
        return http_resp_error(h, r, 404, LTXW_E_NOT_FOUND, "no such route");
    }
    r->route = rt->id;
    if (h->ncors && strcmp(in->method, "OPTIONS") == 0)
        return http_cors_preflight(h, r); /* browsers send no token with a preflight */
    if (!(http_route_method(in->method) & rt->methods))
        return http_resp_error(h, r, 405, LTXW_E_METHOD, "method %.20s not allowed; use GET or HEAD",
                               in->method);
    if ((rt->flags & HTTP_ROUTE_NAME) && !dbname_valid(in->seg[0]))
        return http_resp_error(h, r, 400, LTXW_E_BAD_NAME, "invalid database name");
    if (rt->auth == HTTP_AUTH_READ && h->has_read && !http_auth_check(in->hdr.authorization, h->read_hash) &&
        !(h->has_write && http_auth_check(in->hdr.authorization, h->write_hash)))
        return http_resp_error(h, r, 401, LTXW_E_UNAUTHORIZED, "a bearer token is required");
    if (rt->auth == HTTP_AUTH_WRITE && !h->has_write)
        return http_resp_error(h, r, 403, LTXW_E_WRITES_DISABLED, "writes are disabled (no --write-token)");
    if (rt->auth == HTTP_AUTH_WRITE && !http_auth_check(in->hdr.authorization, h->write_hash))
        return http_resp_error(h, r, 401, LTXW_E_UNAUTHORIZED, "the write bearer token is required");
    if (rt->auth == HTTP_AUTH_ADMIN && h->has_admin && !http_auth_check(in->hdr.authorization, h->admin_hash))
        return http_resp_error(h, r, 401, LTXW_E_UNAUTHORIZED, "the admin bearer token is required");
    in->db = NULL;
    if (rt->flags & HTTP_ROUTE_DB) {
        in->db = srv_find_db(h->s, in->seg[0]);
        if (!in->db &&
            !atomic_load(&h->s->discovered)) { /* the first scan of the roots runs after listening */
            db_err e = { DB_E_NOT_READY, "still looking for databases under the replica roots" };
            return http_resp_dberr(h, r, &e);
        }
        if (!in->db)
            return http_resp_error(h, r, 404, LTXW_E_NO_SUCH_DB, "no database named \"%.200s\"", in->seg[0]);
    }
    in->pinned = 0;
    in->txid = 0;
    if ((rt->flags & HTTP_ROUTE_TXID) && (in->pinned = http_parse_txid_param(in->q.txid, &in->txid)) < 0)
        return http_resp_bad_txid(h, r);
    return rt->handler(h, r);
}

static enum MHD_Result http_route_reserved(struct http *h, struct http_req *r)
{
    return http_resp_error(h, r, 400, LTXW_E_BAD_NAME, "\"%s\" is reserved, not a database name",
                           r->in.seg[0]);
}

static enum MHD_Result http_route_no_admin(struct http *h, struct http_req *r)
{
    return http_resp_error(h, r, 404, LTXW_E_NOT_FOUND, "no such admin route");
}

static enum MHD_Result http_route_not_found(struct http *h, struct http_req *r)
{
    return http_resp_error(h, r, 404, LTXW_E_NOT_FOUND, "no such route");
}
