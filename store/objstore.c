/* objstore.c - object-store front end: URL dispatch, argument checks,
 * counters, and helpers shared by the file and S3 backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbname.h"
#include "store_internal.h"

const char *obj_status_str(obj_status st)
{
    switch (st) {
    case OBJ_OK: return "ok";
    case OBJ_NOT_FOUND: return "not_found";
    case OBJ_ERR_IO: return "io_error";
    case OBJ_ERR_AUTH: return "auth_error";
    case OBJ_ERR_INVALID: return "invalid";
    case OBJ_ERR_TOO_LARGE: return "too_large";
    case OBJ_ERR_NOMEM: return "out_of_memory";
    case OBJ_CHANGED: return "changed";
    case OBJ_EXISTS: return "exists";
    case OBJ_ERR_TIMEOUT: return "timeout";
    case OBJ_ERR_ABORTED: return "aborted";
    }
    return "unknown";
}

/* ---- request latency hook (objstore_set_observer) ---- */

const char *const objstore_op_names[OBJSTORE_OP__N] = { "list", "get", "range", "put", "head", "delete" };
static _Atomic(objstore_observe_fn) obj_observer;

const char *const objstore_list_kind_names[OBJSTORE_LIST__N] = { "other", "dbs", "probe", "level", "all" };
_Thread_local int obj_list_kind;

/* Sets this thread's LIST kind unless an outer call set one; returns the
 * value to restore. */
static int list_kind_enter(int kind)
{
    int prev = obj_list_kind;
    if (prev == OBJSTORE_LIST_OTHER)
        obj_list_kind = kind;
    return prev;
}

static obj_status list_kind_leave(int prev, obj_status st)
{
    obj_list_kind = prev;
    return st;
}

void objstore_set_observer(objstore_observe_fn fn) { atomic_store(&obj_observer, fn); }

static int64_t obj_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* st, after telling the hook that op started at t0 (obj_clock_ns) ended. */
static obj_status obj_timed(objstore_op op, int64_t t0, obj_status st)
{
    objstore_observe_fn fn = atomic_load_explicit(&obj_observer, memory_order_relaxed);
    if (fn)
        fn(op, obj_clock_ns() - t0, st);
    return st;
}

int obj_stopped(objstore *s)
{
    if (atomic_load_explicit(&s->aborted, memory_order_relaxed))
        return 1;
    return s->stop && atomic_load_explicit(s->stop, memory_order_relaxed) != 0;
}

int obj_name_valid(const char *name)
{
    if (!name || !name[0] || name[0] == '.')
        return -1;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if (!ok || n >= OBJ_NAME_MAX)
            return -1;
    }
    return 0;
}

int obj_status_transient(obj_status st) { return st == OBJ_ERR_IO || st == OBJ_ERR_TIMEOUT; }

void obj_set_etag(char *etag, const char *v, size_t vl)
{
    if (!etag)
        return;
    if (!v || vl >= LTX_ETAG_MAX)
        vl = 0;
    if (vl)
        memcpy(etag, v, vl);
    etag[vl] = 0;
}

void objstore_abort(objstore *s)
{
    if (s)
        atomic_store_explicit(&s->aborted, 1, memory_order_relaxed);
}

void obj_ok(obj_error *e)
{
    if (e) {
        e->code = OBJ_OK;
        e->http_status = 0;
        e->msg[0] = 0;
    }
}

obj_status obj_fail(objstore *s, obj_error *e, obj_status code, long http_status, const char *fmt, ...)
{
    if (s && code != OBJ_OK && code != OBJ_NOT_FOUND)
        OBJ_COUNT(s, errors, 1);
    if (e) {
        e->code = code;
        e->http_status = http_status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int obj_db_name_valid(const char *db, int allow_empty)
{
    if (db && !db[0])
        return allow_empty ? 0 : -1;
    return dbname_valid(db) ? 0 : -1;
}

int obj_parse_ltx_name(const char *name, size_t len, uint64_t *min_txid, uint64_t *max_txid)
{
    char buf[LTX_FILENAME_LEN + 1];
    if (len != LTX_FILENAME_LEN)
        return -1;
    memcpy(buf, name, len);
    buf[len] = 0;
    uint64_t mn, mx;
    if (ltx_parse_filename(buf, &mn, &mx) != 0 || mn == 0 || mx == 0 || mn > mx)
        return -1;
    if (min_txid)
        *min_txid = mn;
    if (max_txid)
        *max_txid = mx;
    return 0;
}

static int cmp_file(const void *a, const void *b)
{
    const ltx_fileinfo *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->min_txid != y->min_txid)
        return x->min_txid < y->min_txid ? -1 : 1;
    if (x->max_txid != y->max_txid)
        return x->max_txid < y->max_txid ? -1 : 1;
    return 0;
}

void objstore_sort_files(ltx_fileinfo *f, size_t n)
{
    if (n > 1)
        qsort(f, n, sizeof *f, cmp_file);
}

void *obj_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc <= n || nc > SIZE_MAX / elem)
        return NULL;
    void *g = realloc(v, nc * elem);
    if (g)
        *cap = nc;
    return g;
}

int obj_cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

obj_status obj_check_file_arg(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    if (!s || !f)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store or file argument");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (f->level < 0 || f->level > LTX_MAX_LEVEL)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid level %d", f->level);
    if (f->min_txid == 0 || f->max_txid == 0 || f->min_txid > f->max_txid)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid TXID range %llx-%llx",
                        (unsigned long long)f->min_txid, (unsigned long long)f->max_txid);
    if (obj_stopped(s))
        return obj_fail(s, e, OBJ_ERR_ABORTED, 0, "store calls aborted (shutting down)");
    return OBJ_OK;
}

/* ---- public API --------------------------------------------------------- */

objstore *objstore_open(const char *url, const objstore_opts *opts, obj_error *e)
{
    obj_ok(e);
    if (!url || !*url) {
        obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "empty store URL");
        return NULL;
    }
    objstore *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory opening store");
        return NULL;
    }
    if (opts)
        s->stop = opts->stop;
    obj_status st;
    if (strncmp(url, "s3://", 5) == 0) {
        s->is_s3 = 1;
        s->be = &obj_s3_backend;
        st = s3_open(s, url, opts, e);
    } else if (strncmp(url, "file://", 7) == 0) {
        const char *p = url + 7;
        if (strncmp(p, "localhost/", 10) == 0)
            p += 9;
        if (p[0] != '/') {
            st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "file URL must be file:///absolute/path: %.180s", url);
        } else {
            s->be = &obj_file_backend;
            st = file_open(s, p, e);
        }
    } else if (strstr(url, "://") != NULL) {
        st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                      "unsupported store URL scheme (want file:// or s3://): %.160s", url);
    } else {
        s->be = &obj_file_backend;
        st = file_open(s, url, e);
    }
    if (st != OBJ_OK) {
        objstore_close(s);
        return NULL;
    }
    return s;
}

void objstore_close(objstore *s)
{
    if (!s)
        return;
    if (s->be && s->be->close)
        s->be->close(s);
    free(s->root);
    free(s->url);
    free(s);
}

const char *objstore_url(const objstore *s) { return s ? s->url : ""; }
int objstore_is_s3(const objstore *s) { return s ? s->is_s3 : 0; }

void objstore_get_stats(const objstore *s, objstore_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    objstore *m = (objstore *)s; /* atomic loads need a non-const object */
    out->gets = atomic_load_explicit(&m->gets, memory_order_relaxed);
    out->lists = atomic_load_explicit(&m->lists, memory_order_relaxed);
    out->puts = atomic_load_explicit(&m->puts, memory_order_relaxed);
    out->deletes = atomic_load_explicit(&m->deletes, memory_order_relaxed);
    out->heads = atomic_load_explicit(&m->heads, memory_order_relaxed);
    out->bytes_read = atomic_load_explicit(&m->bytes_read, memory_order_relaxed);
    out->bytes_written = atomic_load_explicit(&m->bytes_written, memory_order_relaxed);
    out->errors = atomic_load_explicit(&m->errors, memory_order_relaxed);
    out->retries = atomic_load_explicit(&m->retries, memory_order_relaxed);
    out->connects = atomic_load_explicit(&m->connects, memory_order_relaxed);
    for (int k = 0; k < OBJSTORE_LIST__N; k++)
        out->lists_by_kind[k] = atomic_load_explicit(&m->lists_by_kind[k], memory_order_relaxed);
}

void objstore_free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

obj_status objstore_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e)
{
    return objstore_list_dbs_known(s, NULL, NULL, names, n, e);
}

obj_status objstore_list_dbs_known(objstore *s, objstore_known_fn known, void *ctx, char ***names, size_t *n,
                                   obj_error *e)
{
    obj_ok(e);
    if (!names || !n)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    *names = NULL;
    *n = 0;
    if (!s)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_stopped(s))
        return obj_fail(s, e, OBJ_ERR_ABORTED, 0, "store calls aborted (shutting down)");
    int64_t t0 = obj_clock_ns();
    int k = list_kind_enter(OBJSTORE_LIST_DBS);
    return list_kind_leave(k, obj_timed(OBJSTORE_OP_LIST, t0, s->be->list_dbs(s, known, ctx, names, n, e)));
}

/* What a listing of one database checks before it asks the backend: the
 * outputs (set empty), the store, the name, with one_level the level
 * (0..LTX_MAX_LEVEL), not shutting down. OBJ_OK: go on. */
static obj_status list_checks(objstore *s, const char *db, int one_level, int level, ltx_fileinfo **out,
                              size_t *n, obj_error *e)
{
    obj_ok(e);
    if (!out || !n)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    *out = NULL;
    *n = 0;
    if (!s)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (one_level && (level < 0 || level > LTX_MAX_LEVEL))
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid level %d", level);
    if (obj_stopped(s))
        return obj_fail(s, e, OBJ_ERR_ABORTED, 0, "store calls aborted (shutting down)");
    return OBJ_OK;
}

obj_status objstore_list_level(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out,
                               size_t *n, obj_error *e)
{
    obj_status st = list_checks(s, db, 1, level, out, n, e);
    if (st != OBJ_OK)
        return st;
    int64_t t0 = obj_clock_ns();
    int k = list_kind_enter(OBJSTORE_LIST_LEVEL);
    return list_kind_leave(
        k, obj_timed(OBJSTORE_OP_LIST, t0, s->be->list_level(s, db, level, min_from, out, n, e)));
}

static obj_status list_all_levels(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e)
{
    obj_status st = list_checks(s, db, 0, 0, out, n, e);
    if (st != OBJ_OK)
        return st;
    int64_t t0 = obj_clock_ns();
    if (s->be->list_all)
        return obj_timed(OBJSTORE_OP_LIST, t0, s->be->list_all(s, db, out, n, e));
    unsigned mask = ~0u;
    if (s->be->levels_present) {
        st = s->be->levels_present(s, db, &mask, e);
        if (st != OBJ_OK)
            return obj_timed(OBJSTORE_OP_LIST, t0, st);
    }
    ltx_fileinfo *all = NULL;
    size_t total = 0;
    for (int level = 0; level <= LTX_MAX_LEVEL; level++) {
        if (!(mask & (1u << level)))
            continue; /* no folder: an empty level */
        ltx_fileinfo *part = NULL;
        size_t pn = 0;
        obj_status st = objstore_list_level(s, db, level, 0, &part, &pn, e);
        if (st != OBJ_OK) {
            free(all);
            return st;
        }
        if (pn) {
            if (total + pn > OBJ_MAX_LIST_ENTRIES) {
                free(part);
                free(all);
                return obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "more than %u files in replica",
                                OBJ_MAX_LIST_ENTRIES);
            }
            ltx_fileinfo *grown = realloc(all, (total + pn) * sizeof *all);
            if (!grown) {
                free(part);
                free(all);
                return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing replica");
            }
            all = grown;
            memcpy(all + total, part, pn * sizeof *part);
            total += pn;
        }
        free(part);
    }
    *out = all;
    *n = total;
    return OBJ_OK;
}

obj_status objstore_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e)
{
    int k = list_kind_enter(OBJSTORE_LIST_ALL);
    return list_kind_leave(k, list_all_levels(s, db, out, n, e));
}

obj_status objstore_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len,
                               uint8_t *buf, obj_error *e)
{
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    if (len == 0)
        return OBJ_OK;
    if (!buf)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    if (off > UINT64_MAX - len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "range overflows");
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_RANGE, t0, s->be->read_range(s, db, f, off, len, buf, e));
}

obj_status objstore_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                              size_t *got, obj_error *e)
{
    obj_ok(e);
    if (got)
        *got = 0;
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    if (!got || (!buf && len))
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    if (len == 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "tail length is zero");
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_RANGE, t0, s->be->read_tail(s, db, f, len, buf, got, e));
}

obj_status objstore_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                              uint8_t **buf, size_t *len, obj_error *e)
{
    obj_ok(e);
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    if (!buf || !len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_GET, t0, s->be->read_file(s, db, f, max_bytes, buf, len, e));
}

obj_status objstore_write_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                               const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e)
{
    obj_ok(e);
    ltx_fileinfo f = { .level = level, .min_txid = min_txid, .max_txid = max_txid };
    obj_status st = obj_check_file_arg(s, db, &f, e);
    if (st != OBJ_OK)
        return st;
    if (!buf && len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_PUT, t0,
                     s->be->write_file(s, db, level, min_txid, max_txid, buf, len, timestamp_ms, e));
}

obj_status objstore_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_DELETE, t0, s->be->delete_file(s, db, f, e));
}

obj_status objstore_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                   obj_error *e)
{
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    if (!ms)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    int64_t t0 = obj_clock_ns();
    return obj_timed(OBJSTORE_OP_HEAD, t0, s->be->file_timestamp(s, db, f, ms, e));
}

/* ---- versions, small objects, conditional writes ------------------------ */

/* The checks every object call shares; then the stop flag. */
static obj_status check_object_arg(objstore *s, const char *db, const char *name, obj_error *e)
{
    if (!s)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (obj_name_valid(name) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid object name");
    if (obj_stopped(s))
        return obj_fail(s, e, OBJ_ERR_ABORTED, 0, "store calls aborted (shutting down)");
    return OBJ_OK;
}

static obj_status check_etag_arg(objstore *s, const char *etag, obj_error *e)
{
    if (!etag || !etag[0] || strlen(etag) >= LTX_ETAG_MAX || strpbrk(etag, "\"\r\n"))
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid version (etag)");
    return OBJ_OK;
}

obj_status objstore_get_object(objstore *s, const char *db, const char *name, size_t max_bytes, uint8_t **buf,
                               size_t *len, char *etag, obj_error *e)
{
    obj_ok(e);
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    obj_set_etag(etag, NULL, 0);
    obj_status st = check_object_arg(s, db, name, e);
    if (st != OBJ_OK)
        return st;
    if (!buf || !len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    return s->be->get_object(s, db, name, max_bytes, buf, len, etag, e);
}

static obj_status put_object(objstore *s, const char *db, const char *name, const uint8_t *buf, size_t len,
                             int cond, const char *if_match, char *etag, obj_error *e)
{
    obj_ok(e);
    obj_set_etag(etag, NULL, 0);
    obj_status st = check_object_arg(s, db, name, e);
    if (st == OBJ_OK && cond == OBJ_PUT_MATCH)
        st = check_etag_arg(s, if_match, e);
    if (st != OBJ_OK)
        return st;
    if (!buf && len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    return s->be->put_object(s, db, name, buf, len, cond, if_match, etag, e);
}

obj_status objstore_put_if_absent(objstore *s, const char *db, const char *name, const uint8_t *buf,
                                  size_t len, char *etag, obj_error *e)
{
    return put_object(s, db, name, buf, len, OBJ_PUT_ABSENT, NULL, etag, e);
}

obj_status objstore_put_if_match(objstore *s, const char *db, const char *name, const uint8_t *buf,
                                 size_t len, const char *if_match, char *etag, obj_error *e)
{
    return put_object(s, db, name, buf, len, OBJ_PUT_MATCH, if_match, etag, e);
}

obj_status objstore_put_object(objstore *s, const char *db, const char *name, const uint8_t *buf, size_t len,
                               char *etag, obj_error *e)
{
    return put_object(s, db, name, buf, len, OBJ_PUT_ANY, NULL, etag, e);
}

obj_status objstore_delete_object(objstore *s, const char *db, const char *name, const char *if_match,
                                  obj_error *e)
{
    obj_ok(e);
    obj_status st = check_object_arg(s, db, name, e);
    if (st == OBJ_OK && if_match)
        st = check_etag_arg(s, if_match, e);
    if (st != OBJ_OK)
        return st;
    return s->be->delete_object(s, db, name, if_match, e);
}

obj_status objstore_publish_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                                 const uint8_t *buf, size_t len, int64_t timestamp_ms, ltx_fileinfo *out,
                                 obj_error *e)
{
    obj_ok(e);
    ltx_fileinfo f = { .level = level, .min_txid = min_txid, .max_txid = max_txid };
    if (out)
        *out = f;
    obj_status st = obj_check_file_arg(s, db, &f, e);
    if (st != OBJ_OK)
        return st;
    if (!buf && len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    return s->be->publish_file(s, db, level, min_txid, max_txid, buf, len, timestamp_ms, out, e);
}

obj_status objstore_delete_file_if_match(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK)
        return st;
    if (!f->etag[0])
        return s->be->delete_file(s, db, f, e);
    if ((st = check_etag_arg(s, f->etag, e)) != OBJ_OK)
        return st;
    return s->be->delete_file_if_match(s, db, f, e);
}

obj_status objstore_check_folder(objstore *s, const char *db, obj_error *e)
{
    obj_ok(e);
    if (!s)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    return s->be->check_folder ? s->be->check_folder(s, db, e) : OBJ_OK;
}
