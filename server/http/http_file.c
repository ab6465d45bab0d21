/* http_file.c - GET|HEAD /{db}/file: the database as a virtual file.
 *
 * The answer is streamed by a content reader in windows of up to 64
 * pages (about 1 MiB) looked up at once, so the misses of a window cost
 * one ranged read per run of nearby frames. A window that is not all in
 * memory is read by a loader thread while the connection is suspended
 * (from the content reader, as libmicrohttpd allows), so a slow store
 * does not hold the HTTP thread that streams the answer. The whole
 * request runs on a loader (it resolves the TXID and reads the first
 * window before answering, so a gone TXID is a 410, not a cut-off 200). */
#include "http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define HTTP_FILE_WINDOW_MAX 64

struct http_file_ctx {
    struct http_file_ctx *jnext; /* loader queue */
    ltxdb *d;
    db_snap s;
    int journal;         /* journal=delete: page 1 bytes 18-19 = 1 */
    uint64_t start, end; /* bytes, inclusive */
    uint32_t win_first;  /* first page of the window; 0 = empty */
    uint32_t win_n;
    pc_entry *win[HTTP_FILE_WINDOW_MAX];
    struct http *h;
    struct MHD_Connection *conn; /* suspended while a loader reads */
    uint32_t want;               /* first page of the window to load */
    int lfail;                   /* the loader's read failed (msg in lerr) */
    db_err lerr;
};

struct http_file_ctx **http_file_next(struct http_file_ctx *f) { return &f->jnext; }

static void http_file_window_drop(struct http_file_ctx *f)
{
    for (uint32_t i = 0; i < f->win_n; i++)
        pcache_release(f->win[i]);
    f->win_first = 0;
    f->win_n = 0;
}

/* Make pgno available: load the window starting at it. 0 ok, -1 error;
 * with nowait, 1 when that would read the object store (nothing held). */
static int http_file_window_load(struct http_file_ctx *f, uint32_t pgno, db_err *e, int nowait)
{
    http_file_window_drop(f);
    uint32_t last = (uint32_t)(f->end / f->s.page_size) + 1;
    uint32_t per = (uint32_t)((1u << 20) / f->s.page_size); /* ~1 MiB of pages */
    if (per < 1)
        per = 1;
    if (per > HTTP_FILE_WINDOW_MAX)
        per = HTTP_FILE_WINDOW_MAX;
    uint32_t n = last - pgno + 1 < per ? last - pgno + 1 : per;
    uint32_t pg[HTTP_FILE_WINDOW_MAX];
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

void http_file_load_pending(struct http_file_ctx *f)
{
    db_err e = { 0 };
    if (http_file_window_load(f, f->want, &e, 0)) {
        f->lfail = 1;
        f->lerr = e;
    }
    MHD_resume_connection(f->conn); /* f may be freed from here on */
}

/* The window holding pgno, loaded here or (returns 1) by a loader while
 * the connection waits. 0 ready, 1 suspended, -1 failed (logged). */
static int http_file_window_at(struct http_file_ctx *f, uint32_t pgno)
{
    db_err e = { 0 };
    int wr = f->lfail ? -1 : http_file_window_load(f, pgno, &e, 1);
    if (wr == 1 && f->h && f->conn) {
        f->want = pgno;
        if (http_loader_offload_file(f->h, f, f->conn))
            return 1; /* suspended until a loader has read the window */
    }
    if (wr == 1)
        wr = http_file_window_load(f, pgno, &e, 0);
    if (wr != 0) {
        char q[400];
        logf_(LOG_ERROR, "request_error", "db=%s route=file page=%u error=%s", ltxdb_name(f->d), pgno,
              log_q(q, sizeof q, f->lfail ? f->lerr.msg : e.msg));
        return -1;
    }
    return 0;
}

static ssize_t http_file_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_file_ctx *f = cls;
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
            int wr = http_file_window_at(f, pgno);
            if (wr > 0)
                return 0;
            if (wr < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        pc_entry *cur = f->win[pgno - f->win_first];
        const uint8_t *src = cur ? pcache_data(cur) : http_pages_zeros;
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

static void http_file_free(void *cls)
{
    struct http_file_ctx *f = cls;
    http_file_window_drop(f);
    free(f);
}

/* 416 with Content-Range: bytes * / total. */
static enum MHD_Result http_file_416(struct http *h, struct http_req *r, uint64_t total)
{
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
    return http_resp_queue(h, r, 416, resp);
}

/* The streamed answer of f (consumed) with its headers. */
static enum MHD_Result http_file_send(struct http *h, struct http_req *r, struct http_file_ctx *f, int status,
                                      uint64_t total, int pinned, const char *etag)
{
    uint64_t start = f->start, end = f->end;
    db_snap s = f->s;
    ltxdb *d = f->d;
    uint64_t len = total ? end - start + 1 : 0;
    struct MHD_Response *resp;
    if (len == 0) {
        http_file_free(f);
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_callback(len, 256 * 1024, http_file_reader, f, http_file_free);
        if (!resp)
            http_file_free(f);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, total);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    const char *name = ltxdb_name(d);
    char cd[LTXW_MAX_DB_NAME + 40];
    int cl = snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", name);
    if (cl > 0 && (size_t)cl < sizeof cd && !strchr(name, '"'))
        MHD_add_response_header(resp, "Content-Disposition", cd);
    http_resp_snap_headers(h, resp, &s, pinned, etag);
    return http_resp_queue(h, r, status, resp);
}

/* ?journal=: 0 wal (default), 1 delete, -1 anything else. */
static int http_file_journal(const char *j)
{
    if (!j || strcmp(j, "wal") == 0)
        return 0;
    return strcmp(j, "delete") == 0 ? 1 : -1;
}

/* ?pin=1: 307 to the URL of the same file at the TXID resolved now, so a
 * range reader that follows it once reads one TXID however often it asks. */
static enum MHD_Result http_file_pin(struct http *h, struct http_req *r, const db_snap *s, int journal)
{
    char rest[96], loc[LTXW_MAX_URL + 1];
    snprintf(rest, sizeof rest, "file?txid=%016" PRIx64 "%s", s->txid, journal ? "&journal=delete" : "");
    if (http_resp_db_path(loc, sizeof loc, ltxdb_name(r->in.db), rest))
        return http_resp_error(h, r, 414, LTXW_E_URI_TOO_LONG, "pinned URL too long");
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Location", loc);
    http_resp_snap_headers(h, resp, s, 0, NULL);
    MHD_del_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_resp_queue(h, r, 307, resp);
}

enum MHD_Result http_file_get(struct http *h, struct http_req *r)
{
    if (!http_loader_running(r))
        return http_loader_offload(h, r);
    ltxdb *d = r->in.db;
    uint64_t txid = r->in.txid;
    int pinned = r->in.pinned;
    int journal = http_file_journal(r->in.q.journal);
    if (journal < 0)
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST, "journal must be delete or wal");
    db_snap s;
    db_err e = { 0 };
    int again = 0; /* latest: a TXID that became unrestorable meanwhile is resolved anew, never a 410 */
resolve:
    if (ltxdb_resolve(d, txid, &s, &e))
        return http_resp_dberr(h, r, &e);
    if (r->in.q.pin && strcmp(r->in.q.pin, "0") != 0)
        return http_file_pin(h, r, &s, journal);
    uint64_t total = (uint64_t)s.commit * s.page_size;
    char etag[64];
    snprintf(etag, sizeof etag, "\"%016" PRIx64 "-f%s\"", s.txid, journal ? "d" : "w");
    enum MHD_Result rc;
    if (http_resp_conditional(h, r, &s, pinned, etag, total, &rc))
        return rc;
    uint64_t start = 0, end = total ? total - 1 : 0;
    int status = 200;
    const char *rh = r->in.hdr.range;
    /* If-Range with another ETag: the whole current file (200), so a
     * range reader never joins bytes of two TXIDs */
    if (rh && http_resp_if_range_ok(&r->in, etag)) {
        int pr = http_parse_range(rh, total, &start, &end);
        if (pr < 0)
            return http_file_416(h, r, total);
        if (pr == 0)
            status = 206;
        else
            start = 0, end = total ? total - 1 : 0;
    }
    struct http_file_ctx *f = calloc(1, sizeof *f);
    if (!f)
        return MHD_NO;
    f->d = d;
    f->s = s;
    f->h = h;
    f->conn = r->conn;
    f->journal = journal;
    f->start = start;
    f->end = end;
    /* Read the first page before answering: a TXID that turns out to be
     * gone (files deleted) gets its 410 instead of a cut-off 200. */
    if (total && http_file_window_load(f, (uint32_t)(start / s.page_size) + 1, &e, 0)) {
        http_file_free(f);
        if (!pinned && e.code == DB_E_TXID_GONE && again++ < 3)
            goto resolve;
        return http_resp_dberr(h, r, &e);
    }
    return http_file_send(h, r, f, status, total, pinned, etag);
}
