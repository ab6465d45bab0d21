/* objstore.c - object-store front end: URL dispatch, argument checks,
 * counters, and helpers shared by the file and S3 backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

const char *obj_status_str(obj_status st) {
    switch (st) {
    case OBJ_OK: return "ok";
    case OBJ_NOT_FOUND: return "not_found";
    case OBJ_ERR_IO: return "io_error";
    case OBJ_ERR_AUTH: return "auth_error";
    case OBJ_ERR_INVALID: return "invalid";
    case OBJ_ERR_TOO_LARGE: return "too_large";
    case OBJ_ERR_NOMEM: return "out_of_memory";
    }
    return "unknown";
}

void obj_ok(obj_error *e) {
    if (e) {
        e->code = OBJ_OK;
        e->http_status = 0;
        e->msg[0] = 0;
    }
}

obj_status obj_fail(objstore *s, obj_error *e, obj_status code, long http_status, const char *fmt, ...) {
    if (s && code != OBJ_OK && code != OBJ_NOT_FOUND) OBJ_COUNT(s, errors, 1);
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

int obj_db_name_valid(const char *db, int allow_empty) {
    if (!db) return -1;
    size_t n = strlen(db);
    if (n == 0) return allow_empty ? 0 : -1;
    if (n > OBJ_MAX_DB_NAME) return -1;
    if (db[0] == '.') return -1; /* ".", "..", hidden folders */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)db[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return -1;
    }
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case is not what Litestream writes: foreign */
}

int obj_parse_ltx_name(const char *name, size_t len, uint64_t *min_txid, uint64_t *max_txid) {
    if (len != 37 || name[16] != '-' || memcmp(name + 33, ".ltx", 4) != 0) return -1;
    uint64_t v[2] = {0, 0};
    for (int part = 0; part < 2; part++) {
        const char *p = name + part * 17;
        for (int i = 0; i < 16; i++) {
            int h = hexval(p[i]);
            if (h < 0) return -1;
            v[part] = (v[part] << 4) | (uint64_t)h;
        }
    }
    if (v[0] == 0 || v[1] == 0 || v[0] > v[1]) return -1;
    if (min_txid) *min_txid = v[0];
    if (max_txid) *max_txid = v[1];
    return 0;
}

void obj_format_ltx_name(char out[38], uint64_t min_txid, uint64_t max_txid) {
    snprintf(out, 38, "%016llx-%016llx.ltx", (unsigned long long)min_txid, (unsigned long long)max_txid);
}

static int cmp_file(const void *a, const void *b) {
    const ltx_fileinfo *x = a, *y = b;
    if (x->level != y->level) return x->level < y->level ? -1 : 1;
    if (x->min_txid != y->min_txid) return x->min_txid < y->min_txid ? -1 : 1;
    if (x->max_txid != y->max_txid) return x->max_txid < y->max_txid ? -1 : 1;
    return 0;
}

void obj_sort_files(ltx_fileinfo *f, size_t n) {
    if (n > 1) qsort(f, n, sizeof *f, cmp_file);
}

void *obj_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first) {
    if (n < *cap) return v;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc <= n || nc > SIZE_MAX / elem) return NULL;
    void *g = realloc(v, nc * elem);
    if (g) *cap = nc;
    return g;
}

int obj_cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

obj_status obj_check_file_arg(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e) {
    if (!s || !f) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store or file argument");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (f->level < 0 || f->level > LTX_MAX_LEVEL)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid level %d", f->level);
    if (f->min_txid == 0 || f->max_txid == 0 || f->min_txid > f->max_txid)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid TXID range %llx-%llx",
                        (unsigned long long)f->min_txid, (unsigned long long)f->max_txid);
    return OBJ_OK;
}

/* ---- public API --------------------------------------------------------- */

objstore *objstore_open(const char *url, const objstore_opts *opts, obj_error *e) {
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
    obj_status st;
    if (strncmp(url, "s3://", 5) == 0) {
        s->is_s3 = 1;
        s->be = &obj_s3_backend;
        st = s3_open(s, url, opts, e);
    } else if (strncmp(url, "file://", 7) == 0) {
        const char *p = url + 7;
        if (strncmp(p, "localhost/", 10) == 0) p += 9;
        if (p[0] != '/') {
            st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                          "file URL must be file:///absolute/path: %.180s", url);
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

void objstore_close(objstore *s) {
    if (!s) return;
    if (s->be && s->be->close) s->be->close(s);
    free(s->root);
    free(s->url);
    free(s);
}

const char *objstore_url(const objstore *s) { return s ? s->url : ""; }
int objstore_is_s3(const objstore *s) { return s ? s->is_s3 : 0; }

void objstore_get_stats(const objstore *s, objstore_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s) return;
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
}

void objstore_free_names(char **names, size_t n) {
    if (!names) return;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

obj_status objstore_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e) {
    obj_ok(e);
    if (!names || !n) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    *names = NULL;
    *n = 0;
    if (!s) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    return s->be->list_dbs(s, names, n, e);
}

obj_status objstore_list_level(objstore *s, const char *db, int level, uint64_t min_from,
                               ltx_fileinfo **out, size_t *n, obj_error *e) {
    obj_ok(e);
    if (!out || !n) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    *out = NULL;
    *n = 0;
    if (!s) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (level < 0 || level > LTX_MAX_LEVEL)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid level %d", level);
    return s->be->list_level(s, db, level, min_from, out, n, e);
}

obj_status objstore_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n,
                             obj_error *e) {
    obj_ok(e);
    if (!out || !n) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    *out = NULL;
    *n = 0;
    if (!s) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    if (s->be->list_all) return s->be->list_all(s, db, out, n, e);
    ltx_fileinfo *all = NULL;
    size_t total = 0;
    for (int level = 0; level <= LTX_MAX_LEVEL; level++) {
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

obj_status objstore_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off,
                               size_t len, uint8_t *buf, obj_error *e) {
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK) return st;
    if (len == 0) return OBJ_OK;
    if (!buf) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    if (off > UINT64_MAX - len) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "range overflows");
    return s->be->read_range(s, db, f, off, len, buf, e);
}

obj_status objstore_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len,
                              uint8_t *buf, size_t *got, obj_error *e) {
    obj_ok(e);
    if (got) *got = 0;
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK) return st;
    if (!got || (!buf && len)) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    if (len == 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "tail length is zero");
    return s->be->read_tail(s, db, f, len, buf, got, e);
}

obj_status objstore_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                              uint8_t **buf, size_t *len, obj_error *e) {
    obj_ok(e);
    if (buf) *buf = NULL;
    if (len) *len = 0;
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK) return st;
    if (!buf || !len) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    return s->be->read_file(s, db, f, max_bytes, buf, len, e);
}

obj_status objstore_write_file(objstore *s, const char *db, int level, uint64_t min_txid,
                               uint64_t max_txid, const uint8_t *buf, size_t len,
                               int64_t timestamp_ms, obj_error *e) {
    obj_ok(e);
    ltx_fileinfo f = {.level = level, .min_txid = min_txid, .max_txid = max_txid};
    obj_status st = obj_check_file_arg(s, db, &f, e);
    if (st != OBJ_OK) return st;
    if (!buf && len) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing buffer");
    return s->be->write_file(s, db, level, min_txid, max_txid, buf, len, timestamp_ms, e);
}

obj_status objstore_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e) {
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK) return st;
    return s->be->delete_file(s, db, f, e);
}

obj_status objstore_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                   obj_error *e) {
    obj_ok(e);
    obj_status st = obj_check_file_arg(s, db, f, e);
    if (st != OBJ_OK) return st;
    if (!ms) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing output argument");
    return s->be->file_timestamp(s, db, f, ms, e);
}

obj_status objstore_check_folder(objstore *s, const char *db, obj_error *e) {
    obj_ok(e);
    if (!s) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "missing store");
    if (obj_db_name_valid(db, 1) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "invalid database name");
    return s->be->check_folder ? s->be->check_folder(s, db, e) : OBJ_OK;
}
