/* http_write.c - the write routes (issue 11; /work/coord/write-api.md):
 * POST /{db}/ltx?base=T (write token) with one LTX file as the body,
 * POST /admin/dbs/{db}/fork?txid=T&to=NAME and
 * POST /admin/dbs/{db}/rollback?txid=T (admin token). The work is the
 * write layer's (server/write.c); this file takes the body (bounded by
 * --write-max-body), parses the query and maps write_errcode values to
 * statuses and wire codes. Handlers run on a loader thread: they wait for
 * the object store. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timefmt.h"
#include "write.h"

void http_write_begin(struct http *h, struct http_req *r, struct MHD_Connection *c)
{
    const char *url = r->raw ? r->raw : "";
    size_t plen = strcspn(url, "?");
    if (!h->has_write || plen < 4 || strncmp(url + plen - 4, "/" LTXW_SEG_LTX, 4) != 0)
        return; /* only the write route keeps a body */
    if (!http_auth_check(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"), h->write_hash))
        return; /* no memory for a body that will be refused (401 at dispatch) */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    uint64_t n = 0;
    size_t max = h->s->cfg.write_max_body ? h->s->cfg.write_max_body : (size_t)64 << 20;
    if (!cl || http_parse_u64(cl, &n) != 0)
        r->body_status = 411;
    else if (n > max)
        r->body_status = 413;
    else {
        r->body_cap = (size_t)n;
        r->body = malloc(r->body_cap ? r->body_cap : 1);
        if (!r->body)
            r->body_status = 413;
    }
}

void http_write_upload(struct http_req *r, const char *data, size_t n)
{
    if (r->body_status || !r->body)
        return;
    if (n > r->body_cap - r->body_len) {
        r->body_status = 413; /* more than Content-Length said */
        return;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

/* A write error with its extra fields. */
static enum MHD_Result http_write_err(struct http *h, struct http_req *r, const write_err *e)
{
    static const struct {
        int status;
        const char *code;
    } map[] = {
        [WE_NONE] = { 500, LTXW_E_INTERNAL },         [WE_BAD_REQUEST] = { 400, LTXW_E_BAD_REQUEST },
        [WE_BAD_LTX] = { 400, LTXW_E_BAD_LTX },       [WE_BAD_TXID] = { 400, LTXW_E_BAD_TXID },
        [WE_NO_DB] = { 404, LTXW_E_NO_SUCH_DB },      [WE_CONFLICT] = { 409, LTXW_E_TXID_CONFLICT },
        [WE_LEASE] = { 409, LTXW_E_LEASE_HELD },      [WE_EXISTS] = { 409, LTXW_E_DB_EXISTS },
        [WE_NOT_READY] = { 503, LTXW_E_UNAVAILABLE }, [WE_STORE] = { 502, LTXW_E_UPSTREAM },
        [WE_NOMEM] = { 500, LTXW_E_INTERNAL },        [WE_DISABLED] = { 403, LTXW_E_WRITES_DISABLED },
    };
    int status = map[e->code].status;
    const char *code = map[e->code].code;
    r->err_code = code;
    char q1[600], q2[600];
    logf_(status >= 500 ? LOG_ERROR : LOG_INFO, "request_error", "status=%d code=%s path=%s error=%s", status,
          code, log_q(q1, sizeof q1, r->raw ? r->raw : ""), log_q(q2, sizeof q2, e->msg));
    json_t *j = json_pack("{s:s,s:s}", LTXW_J_ERROR, e->msg, LTXW_J_CODE, code);
    if (!j)
        return MHD_NO;
    if (e->code == WE_CONFLICT) {
        char t[LTX_TXID_HEX + 1];
        ltx_format_txid(t, e->txid);
        json_object_set_new(j, LTXW_J_TXID, json_string(t));
    } else if (e->code == WE_LEASE) {
        char t[40];
        timefmt_format_ms(t, sizeof t, e->holder.expires_ms);
        json_object_set_new(j, LTXW_J_HOLDER, json_string(e->holder.owner));
        json_object_set_new(j, LTXW_J_EXPIRES, json_string(t));
    }
    return http_resp_json(h, r, status, j, "no-store");
}

static enum MHD_Result http_write_ok(struct http *h, struct http_req *r, const char *db, const db_snap *s)
{
    char t[LTX_TXID_HEX + 1], ts[40];
    ltx_format_txid(t, s->txid);
    timefmt_format_ms(ts, sizeof ts, s->ts_ms);
    json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:s}", "db", db, LTXW_J_TXID, t, LTXW_J_COMMIT, (int)s->commit,
                          LTXW_J_PAGE_SIZE, (int)s->page_size, "timestamp", ts);
    if (!j)
        return MHD_NO;
    return http_resp_json(h, r, 200, j, "no-store");
}

/* ?name= as a TXID (hex, 0 allowed when zero_ok). */
static int http_write_txid(const char *v, int zero_ok, uint64_t *out)
{
    return v && ltx_parse_txid(v, out, zero_ok) == 0 ? 0 : -1;
}

enum MHD_Result http_write_post(struct http *h, struct http_req *r)
{
    if (r->body_status == 411)
        return http_resp_error(h, r, 411, LTXW_E_LENGTH_REQUIRED, "a Content-Length is required");
    if (r->body_status == 413)
        return http_resp_error(h, r, 413, LTXW_E_BODY_TOO_LARGE,
                               "the body is larger than --write-max-body (%zu bytes)",
                               h->s->cfg.write_max_body);
    uint64_t base = 0;
    if (http_write_txid(r->in.q.base, 1, &base) != 0)
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST,
                               "base=<TXID> is required (0 creates the database)");
    if (!r->body || r->body_len != r->body_cap || r->body_len < LTX_HEADER_SIZE)
        return http_resp_error(h, r, 400, LTXW_E_BAD_LTX, "the body is not an LTX file");
    if (!http_loader_running(r))
        return http_loader_offload(h, r);
    db_snap s;
    write_err e;
    memset(&e, 0, sizeof e);
    if (write_publish(h->s, r->in.seg[0], base, r->body, r->body_len, &s, &e) != 0)
        return http_write_err(h, r, &e);
    return http_write_ok(h, r, r->in.seg[0], &s);
}

enum MHD_Result http_write_fork(struct http *h, struct http_req *r)
{
    uint64_t txid = 0;
    if (http_write_txid(r->in.q.txid, 0, &txid) != 0)
        return http_resp_bad_txid(h, r);
    if (!r->in.q.to || !r->in.q.to[0])
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST, "to=<new database name> is required");
    if (!h->s->write)
        return http_resp_error(h, r, 403, LTXW_E_WRITES_DISABLED, "writes are disabled (no --write-token)");
    if (!http_loader_running(r))
        return http_loader_offload(h, r);
    db_snap s;
    write_err e;
    memset(&e, 0, sizeof e);
    if (write_fork(h->s, r->in.seg[2], txid, r->in.q.to, &s, &e) != 0)
        return http_write_err(h, r, &e);
    return http_write_ok(h, r, r->in.q.to, &s);
}

enum MHD_Result http_write_rollback(struct http *h, struct http_req *r)
{
    uint64_t txid = 0;
    if (http_write_txid(r->in.q.txid, 0, &txid) != 0)
        return http_resp_bad_txid(h, r);
    if (!h->s->write) {
        write_err e = { .code = WE_DISABLED };
        snprintf(e.msg, sizeof e.msg, "writes are disabled (no --write-token)");
        return http_write_err(h, r, &e);
    }
    if (!http_loader_running(r))
        return http_loader_offload(h, r);
    db_snap s;
    write_err e;
    memset(&e, 0, sizeof e);
    if (write_rollback(h->s, r->in.seg[2], txid, &s, &e) != 0)
        return http_write_err(h, r, &e);
    return http_write_ok(h, r, r->in.seg[2], &s);
}
