/* Unit tests of ltxpaged's route table (server/http/http_route.c): plain
 * requests dispatched without a socket or a daemon. Unknown routes,
 * methods, the auth rule of each route, the database-name rule, the
 * order of the checks, and a database route answering from the mapping
 * table of database errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http/http_int.h"
#include "log.h"

#define READ_TOKEN "read-secret"
#define ADMIN_TOKEN "admin-secret"

struct fixture {
    srv s;
    struct http *h;
    char dir[64];
};

static int setup(void **st, int tokens)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ltxpaged-route-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char spec[128];
    snprintf(spec, sizeof spec, "app.db=%s", f->dir);
    char *argv[] = {"ltxpaged", "--db", spec, "--read-token", READ_TOKEN, "--admin-token", ADMIN_TOKEN, NULL};
    unsetenv("LTXPAGED_DB");
    unsetenv("LTXPAGED_REPLICA");
    assert_int_equal(config_load(&f->s.cfg, tokens ? 7 : 3, argv, stderr), 0);
    log_set_level(LOG_ERROR);
    assert_int_equal(srv_init(&f->s), 0);
    f->h = http_new(&f->s);
    assert_non_null(f->h);
    *st = f;
    return 0;
}

static int setup_tokens(void **st) { return setup(st, 1); }
static int setup_open(void **st) { return setup(st, 0); }

static int teardown(void **st)
{
    struct fixture *f = *st;
    http_free(f->h);
    srv_destroy(&f->s);
    config_free(&f->s.cfg);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The answer to method target (raw, as sent) with an Authorization
 * header (NULL: none). */
struct answer {
    int status;
    const char *code;
    enum http_route_id route;
    char allow[64], www_auth[64], retry_after[16];
};

static struct answer dispatch(struct fixture *f, const char *method, const char *target, const char *auth)
{
    static struct http_req r; /* ~2.5 KiB: not on cmocka's stack */
    memset(&r, 0, sizeof r);
    r.in.method = method;
    r.in.raw = target;
    r.raw = (char *)target; /* for the log lines */
    r.in.rawlen = strlen(target);
    r.in.url = target; /* the tests use targets without escapes */
    r.in.hdr.authorization = auth;
    const char *q = strchr(target, '?');
    static char url[LTXW_MAX_URL + 64];
    if (q) {
        snprintf(url, sizeof url, "%.*s", (int)(q - target), target);
        r.in.url = url;
        if (!strncmp(q + 1, "txid=", 5))
            r.in.q.txid = q + 6;
    }
    struct answer a = {0};
    assert_int_equal(http_route_dispatch(f->h, &r), MHD_YES);
    assert_non_null(r.dresp);
    a.status = r.dstatus;
    a.code = r.err_code;
    a.route = r.route;
    const char *v = MHD_get_response_header(r.dresp, "Allow");
    snprintf(a.allow, sizeof a.allow, "%s", v ? v : "");
    v = MHD_get_response_header(r.dresp, "WWW-Authenticate");
    snprintf(a.www_auth, sizeof a.www_auth, "%s", v ? v : "");
    v = MHD_get_response_header(r.dresp, "Retry-After");
    snprintf(a.retry_after, sizeof a.retry_after, "%s", v ? v : "");
    MHD_destroy_response(r.dresp);
    return a;
}

#define READ "Bearer " READ_TOKEN
#define ADMIN "Bearer " ADMIN_TOKEN
#define ANY_ROUTE (-1)

/* One request and what must come back (code NULL, route ANY_ROUTE: not
 * checked). */
struct route_case {
    const char *method, *target, *auth;
    int status;
    const char *code;
    int route;
};

static void check_cases(struct fixture *f, const struct route_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct answer a = dispatch(f, c[i].method, c[i].target, c[i].auth);
        if (a.status != c[i].status)
            print_error("case %zu: %s %s\n", i, c[i].method, c[i].target);
        assert_int_equal(a.status, c[i].status);
        if (c[i].code)
            assert_string_equal(a.code, c[i].code);
        if (c[i].route != ANY_ROUTE)
            assert_int_equal(a.route, c[i].route);
    }
}
#define CHECK_CASES(f, cases) check_cases((f), (cases), sizeof(cases) / sizeof(cases)[0])

static void test_http_route_dispatch_unknown_route(void **st)
{
    static const struct route_case cases[] = {
        {"GET", "/a/b/c/d", READ, 404, LTXW_E_NOT_FOUND, HTTP_R_OTHER},
        {"GET", "/app.db/nope", READ, 404, LTXW_E_NOT_FOUND, ANY_ROUTE},
        {"GET", "/healthz/x", NULL, 404, NULL, ANY_ROUTE},
        {"GET", "/admin/nope", ADMIN, 404, NULL, HTTP_R_ADMIN},
        {"GET", "/nosuch.db/pages/1", READ, 404, LTXW_E_NO_SUCH_DB, HTTP_R_PAGE},
    };
    CHECK_CASES(*st, cases);
}

static void test_http_route_dispatch_method(void **st)
{
    struct fixture *f = *st;
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "get"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct answer a = dispatch(f, methods[i], "/app.db/pages/1", READ);
        assert_int_equal(a.status, 405);
        assert_string_equal(a.code, LTXW_E_METHOD);
        assert_string_equal(a.allow, "GET, HEAD");
    }
    /* a method no route takes is refused before a route is known: counted
     * as "invalid", not "page" */
    assert_int_equal(dispatch(f, "PROPFIND", "/app.db/pages/1", READ).route, HTTP_R_INVALID);
    /* before anything else: no token, unknown route */
    assert_int_equal(dispatch(f, "POST", "/nosuch/x/y/z", NULL).status, 405);
    assert_int_equal(dispatch(f, "HEAD", "/healthz", NULL).status, 200);
}

static void test_http_route_dispatch_auth(void **st)
{
    struct fixture *f = *st;
    static const struct route_case cases[] = {
        /* open routes */
        {"GET", "/healthz", NULL, 200, NULL, ANY_ROUTE},
        {"GET", "/readyz", NULL, 503, NULL, ANY_ROUTE }, /* no poller: not indexed */
        /* read routes */
        {"GET", "/app.db/pages/1", NULL, 401, LTXW_E_UNAUTHORIZED, ANY_ROUTE},
        {"GET", "/app.db/pages/1", "Bearer wrong", 401, NULL, ANY_ROUTE},
        {"GET", "/app.db/pages/1", ADMIN, 401, NULL, ANY_ROUTE},
        {"GET", "/", NULL, 401, NULL, ANY_ROUTE},
        {"GET", "/", READ, 200, NULL, ANY_ROUTE},
        /* no existence leak: an unknown database is 401 without the token */
        {"GET", "/nosuch.db", NULL, 401, NULL, ANY_ROUTE},
        {"GET", "/app.db/nope", NULL, 401, NULL, ANY_ROUTE},
        /* admin routes */
        {"GET", "/metrics", NULL, 401, NULL, ANY_ROUTE},
        {"GET", "/metrics", READ, 401, NULL, ANY_ROUTE},
        {"GET", "/metrics", ADMIN, 200, NULL, ANY_ROUTE},
        {"GET", "/admin/status", READ, 401, NULL, ANY_ROUTE},
        {"GET", "/admin/status", ADMIN, 200, NULL, ANY_ROUTE},
        {"GET", "/admin/dbs", ADMIN, 200, NULL, ANY_ROUTE},
        {"GET", "/admin/nope", NULL, 401, NULL, ANY_ROUTE},
        {"GET", "/admin", NULL, 401, NULL, ANY_ROUTE},
    };
    CHECK_CASES(f, cases);
    assert_string_equal(dispatch(f, "GET", "/app.db/pages/1", NULL).www_auth, "Bearer realm=\"ltxpaged\"");
}

static void test_http_route_dispatch_open(void **st)
{
    static const struct route_case cases[] = {
        {"GET", "/metrics", NULL, 200, NULL, ANY_ROUTE},
        {"GET", "/admin/status", NULL, 200, NULL, ANY_ROUTE},
        {"GET", "/", NULL, 200, NULL, ANY_ROUTE},
        {"GET", "/nosuch.db", NULL, 404, NULL, ANY_ROUTE},
    };
    CHECK_CASES(*st, cases);
}

static void test_http_route_dispatch_names(void **st)
{
    struct fixture *f = *st;
    const char *bad[] = {"/.hidden/pages/1", "/../etc/passwd", "/a%2fb/pages/1", "/a%00/file", "/app.db/./file",
                         "/a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct answer a = dispatch(f, "GET", bad[i], NULL); /* 400 before 401 */
        assert_int_equal(a.status, 400);
        assert_string_equal(a.code, LTXW_E_BAD_NAME);
    }
    /* THE name rule (common/dbname.c) after percent-decoding */
    assert_int_equal(dispatch(f, "GET", "/a%b.db", NULL).status, 400);
    assert_int_equal(dispatch(f, "GET", "/a#b/file", NULL).status, 400);
    char longname[260] = "/";
    memset(longname + 1, 'x', 201);
    assert_int_equal(dispatch(f, "GET", longname, NULL).status, 400);
    longname[201] = 0; /* 200 bytes: a valid name, unknown */
    assert_int_equal(dispatch(f, "GET", longname, READ).status, 404);
    /* reserved names are never databases */
    struct answer a = dispatch(f, "GET", "/admin/pages/1", ADMIN);
    assert_int_equal(a.status, 400);
    assert_string_equal(a.code, LTXW_E_BAD_NAME);
    assert_int_equal(dispatch(f, "GET", "/metrics/file", NULL).status, 400);
    assert_int_equal(dispatch(f, "GET", "/readyz/changes", NULL).status, 400);
    /* too long */
    static char target[LTXW_MAX_URL + 16];
    memset(target, 'a', sizeof target - 1);
    target[0] = '/';
    target[sizeof target - 1] = 0;
    a = dispatch(f, "GET", target, NULL);
    assert_int_equal(a.status, 414);
    assert_string_equal(a.code, LTXW_E_URI_TOO_LONG);
    assert_int_equal(a.route, HTTP_R_INVALID);
    assert_true(atomic_load(&f->h->counts[HTTP_R_INVALID][HTTP_STATUS_SLOT(414)]) >= 1);
    assert_true(atomic_load(&f->h->counts[HTTP_R_PAGE][HTTP_STATUS_SLOT(414)]) == 0);
}

/* A database route reaches the database layer; its error goes through
 * the mapping table (the database has no LTX files yet: 503). */
static void test_http_route_dispatch_database(void **st)
{
    struct fixture *f = *st;
    struct answer a = dispatch(f, "GET", "/app.db/pages/1", READ);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.code, LTXW_E_UNAVAILABLE);
    assert_string_equal(a.retry_after, "1");
    assert_int_equal(a.route, HTTP_R_PAGE);
    a = dispatch(f, "GET", "/app.db/pages/x", READ);
    assert_string_equal(a.retry_after, "");
    assert_int_equal(a.status, 400);
    assert_string_equal(a.code, LTXW_E_BAD_PAGE);
    a = dispatch(f, "GET", "/app.db/file?txid=zz", READ);
    assert_int_equal(a.status, 400);
    assert_string_equal(a.code, LTXW_E_BAD_TXID);
    assert_int_equal(a.route, HTTP_R_FILE);
    /* txid= is parsed once, at the edge, for every route that takes it:
     * after the name, token and database checks, before the handler */
    static const struct route_case txid_cases[] = {
        { "GET", "/app.db?txid=zz", READ, 400, LTXW_E_BAD_TXID, HTTP_R_DB },
        { "GET", "/app.db/pages?txid=-1", READ, 400, LTXW_E_BAD_TXID, HTTP_R_BATCH },
        { "GET", "/app.db/pages/1?txid=1x", READ, 400, LTXW_E_BAD_TXID, HTTP_R_PAGE },
        { "HEAD", "/app.db/file?txid=", READ, 400, LTXW_E_BAD_TXID, HTTP_R_FILE },
        { "GET", "/app.db/pages/1?txid=zz", NULL, 401, LTXW_E_UNAUTHORIZED, HTTP_R_PAGE },
        { "GET", "/no.db/pages/1?txid=zz", READ, 404, LTXW_E_NO_SUCH_DB, HTTP_R_PAGE },
        { "GET", "/app.db/pages/1?txid=0000000000000003", READ, 503, LTXW_E_UNAVAILABLE, HTTP_R_PAGE },
    };
    CHECK_CASES(f, txid_cases);
    /* the plain status of a database with nothing indexed is not a 200
     * (a reader would take commit null for an empty database: issue 10
     * case 2): 503 unavailable with Retry-After, the status fields kept */
    a = dispatch(f, "GET", "/app.db", READ);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.code, LTXW_E_UNAVAILABLE);
    assert_string_equal(a.retry_after, "1");
    assert_int_equal(a.route, HTTP_R_DB);
    /* answers are counted by route and status */
    assert_true(atomic_load(&f->h->counts[HTTP_R_PAGE][HTTP_STATUS_SLOT(200)]) == 0);
    assert_true(atomic_load(&f->h->counts[HTTP_R_DB][HTTP_STATUS_SLOT(200)]) == 0);
    assert_true(atomic_load(&f->h->counts[HTTP_R_DB][HTTP_STATUS_SLOT(503)]) == 1);
}

/* Which requests may go on to read a body (the rest get 405 as soon as
 * their headers are in): only a method a route row takes for that path. */
static void test_http_route_method_allowed(void **st)
{
    (void)st;
    static struct http_request in;
    const struct {
        const char *method, *url;
        int want;
    } cases[] = {
        {"GET", "/app.db/pages/1", 1}, {"HEAD", "/app.db/file", 1},   {"GET", "/healthz", 1},
        {"POST", "/app.db/pages/1", 0}, {"PUT", "/app.db/file", 0},   {"DELETE", "/app.db", 0},
        {"OPTIONS", "/app.db/file", 0}, {"POST", "/a/b/c/d", 0},      {"POST", "x", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&in, 0, sizeof in);
        in.method = cases[i].method;
        in.url = cases[i].url;
        assert_int_equal(http_route_method_allowed(&in), cases[i].want);
    }
}

/* Entity-tag lists of If-Match / If-None-Match (RFC 9110 13.1). */
static void test_http_resp_etag_listed(void **st)
{
    (void)st;
    const char *e = "\"0000000000000009-fw\"";
    assert_true(http_resp_etag_listed(e, e, 1));
    assert_true(http_resp_etag_listed("*", e, 1));
    assert_true(http_resp_etag_listed("\"a\", \"0000000000000009-fw\"", e, 1));
    assert_true(http_resp_etag_listed("\"a\",\"0000000000000009-fw\" ", e, 1));
    assert_false(http_resp_etag_listed("W/\"0000000000000009-fw\"", e, 1)); /* strong: never weak */
    assert_true(http_resp_etag_listed("W/\"0000000000000009-fw\"", e, 0));  /* weak comparison */
    assert_false(http_resp_etag_listed("\"0000000000000008-fw\"", e, 0));
    assert_false(http_resp_etag_listed("\"0000000000000009-fw", e, 0)); /* unterminated */
    assert_false(http_resp_etag_listed("0000000000000009-fw", e, 0));    /* unquoted */
    assert_false(http_resp_etag_listed("\"0000000000000009-fwx\"", e, 0));
    assert_false(http_resp_etag_listed("", e, 0));
    struct http_request in = {0};
    assert_false(http_resp_precondition_failed(&in, e)); /* no If-Match */
    assert_true(http_resp_if_range_ok(&in, e));          /* no If-Range */
    in.hdr.if_match = "\"0000000000000008-fw\"";
    assert_true(http_resp_precondition_failed(&in, e));
    in.hdr.if_range = "Fri, 04 Dec 2026 18:00:00 GMT"; /* a date never matches */
    assert_false(http_resp_if_range_ok(&in, e));
    in.hdr.if_range = e;
    assert_true(http_resp_if_range_ok(&in, e));
}

/* Write routes without --write-token (issue 11): the routes exist, take
 * POST only, check their token first and then answer 403. */
static void test_http_route_dispatch_write(void **st)
{
    static const struct route_case cases[] = {
        {"POST", "/app.db/ltx", READ, 403, LTXW_E_WRITES_DISABLED, HTTP_R_WRITE},
        {"GET", "/app.db/ltx", READ, 405, NULL, ANY_ROUTE},
        {"POST", "/admin/dbs/app.db/fork?txid=1", NULL, 401, NULL, ANY_ROUTE},
        {"POST", "/admin/dbs/app.db/fork?txid=zz", ADMIN, 400, LTXW_E_BAD_TXID, ANY_ROUTE},
        {"POST", "/admin/dbs/app.db/rollback?txid=1", ADMIN, 403, LTXW_E_WRITES_DISABLED, ANY_ROUTE},
        {"GET", "/admin/dbs/app.db/rollback", ADMIN, 405, NULL, ANY_ROUTE},
        {"POST", "/admin/dbs/app.db/nope", ADMIN, 405, NULL, ANY_ROUTE},
        {"POST", "/app.db/a/b/c/d", READ, 405, NULL, ANY_ROUTE},
        {"GET", "/app.db/a/b/c/d", READ, 404, NULL, ANY_ROUTE},
    };
    CHECK_CASES(*st, cases);
}

int main(void)
{
    const struct CMUnitTest tokens[] = {
        cmocka_unit_test(test_http_resp_etag_listed),
        cmocka_unit_test(test_http_route_method_allowed),
        cmocka_unit_test(test_http_route_dispatch_unknown_route),
        cmocka_unit_test(test_http_route_dispatch_method),
        cmocka_unit_test(test_http_route_dispatch_auth),
        cmocka_unit_test(test_http_route_dispatch_names),
        cmocka_unit_test(test_http_route_dispatch_database),
        cmocka_unit_test(test_http_route_dispatch_write),
    };
    const struct CMUnitTest open[] = {
        cmocka_unit_test(test_http_route_dispatch_open),
    };
    int rc = cmocka_run_group_tests_name("tokens", tokens, setup_tokens, teardown);
    rc += cmocka_run_group_tests_name("open", open, setup_open, teardown);
    return rc;
}
