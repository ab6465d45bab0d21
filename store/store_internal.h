/* store_internal.h - shared by the object-store backends (not public). */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "objstore.h"

/* Caps: every growable thing has one. */
#define OBJ_MAX_LIST_ENTRIES (10u * 1000u * 1000u) /* files per level listing */
#define OBJ_MAX_DBS          100000u               /* databases under a root */

typedef struct s3ctx s3ctx;
typedef struct obj_backend obj_backend;

struct objstore {
    char *url; /* as given, for logs */
    int is_s3;
    const obj_backend *be;   /* file or S3 */
    char *root;              /* file backend: root folder (no trailing '/') */
    s3ctx *s3;               /* S3 backend state */
    _Atomic int aborted;     /* objstore_abort */
    const _Atomic int *stop; /* opts.stop, or NULL */
    _Atomic uint64_t gets, lists, puts, deletes, heads, bytes_read, bytes_written, errors, retries, connects;
    _Atomic uint64_t lists_by_kind[OBJSTORE_LIST__N];
};

#define OBJ_COUNT(s, field, n) atomic_fetch_add_explicit(&(s)->field, (uint64_t)(n), memory_order_relaxed)

/* The kind of the LISTs this thread makes now (objstore_list_kind): set by
 * the objstore_list_* calls (the outermost one wins), by the S3 probes. */
extern _Thread_local int obj_list_kind;
/* One LIST request (or readdir), counted in lists and under its kind. */
#define OBJ_COUNT_LIST(s)                                                                               \
    do {                                                                                                \
        OBJ_COUNT(s, lists, 1);                                                                         \
        OBJ_COUNT(s, lists_by_kind[(unsigned)obj_list_kind < OBJSTORE_LIST__N ? obj_list_kind : 0], 1); \
    } while (0)

/* Fill e (may be NULL) and return code. Counts an error unless NOT_FOUND/OK. */
obj_status obj_fail(objstore *s, obj_error *e, obj_status code, long http_status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void obj_ok(obj_error *e);

/* "" (the root itself, when allow_empty) or a name that follows the one
 * database-name rule (common/dbname.h). 0 = valid. */
int obj_db_name_valid(const char *db, int allow_empty);
/* Strict "^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$" (ltx_parse_filename on len bytes
 * that need not end in NUL) with 0 < min <= max; 0 = match. */
int obj_parse_ltx_name(const char *name, size_t len, uint64_t *min_txid, uint64_t *max_txid);
int obj_cmp_names(const void *a, const void *b);
/* Room for element n of an array v with *cap slots of elem bytes: v itself
 * when n < *cap, else v grown (first slots, then doubling) with *cap
 * updated; NULL when out of memory (v is then unchanged and still owned by
 * the caller). */
void *obj_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first);
/* 1 once objstore_abort was called or *opts.stop is set. */
int obj_stopped(objstore *s);
/* Object names (objstore_get_object...): one component of [A-Za-z0-9._-],
 * no leading '.', 1..OBJ_NAME_MAX bytes. 0 = valid. */
#define OBJ_NAME_MAX 64
int obj_name_valid(const char *name);
/* Put conditions for the backends' put_object. */
enum { OBJ_PUT_ANY, OBJ_PUT_ABSENT, OBJ_PUT_MATCH };
/* Copies a version into etag (LTX_ETAG_MAX bytes; NULL = ignore); one that
 * does not fit becomes "" (unknown). */
void obj_set_etag(char *etag, const char *v, size_t vl);
/* Common argument checks for a file reference. */
obj_status obj_check_file_arg(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e);

/* The small-object and publish calls of a backend (declared once: the
 * backends declare their functions with these types). */
typedef obj_status obj_get_object_fn(objstore *s, const char *db, const char *name, size_t max_bytes,
                                     uint8_t **buf, size_t *len, char *etag, obj_error *e);
/* cond: OBJ_PUT_ANY / OBJ_PUT_ABSENT / OBJ_PUT_MATCH (if_match set) */
typedef obj_status obj_put_object_fn(objstore *s, const char *db, const char *name, const uint8_t *buf,
                                     size_t len, int cond, const char *if_match, char *etag, obj_error *e);
typedef obj_status obj_delete_object_fn(objstore *s, const char *db, const char *name, const char *if_match,
                                        obj_error *e);
typedef obj_status obj_publish_file_fn(objstore *s, const char *db, int level, uint64_t min_txid,
                                       uint64_t max_txid, const uint8_t *buf, size_t len,
                                       int64_t timestamp_ms, ltx_fileinfo *out, obj_error *e);
typedef obj_status obj_delete_file_if_match_fn(objstore *s, const char *db, const ltx_fileinfo *f,
                                               obj_error *e);

/* A backend: objstore.c checks the arguments, then calls these. */
struct obj_backend {
    /* known (may be NULL): see objstore_list_dbs_known */
    obj_status (*list_dbs)(objstore *s, objstore_known_fn known, void *ctx, char ***names, size_t *n,
                           obj_error *e);
    obj_status (*list_level)(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out,
                             size_t *n, obj_error *e);
    /* NULL: objstore_list_all lists level by level */
    obj_status (*list_all)(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e);
    /* For that level-by-level listing (NULL: every level is listed): bit l
     * of *mask set when level l may hold files (its folder exists) */
    obj_status (*levels_present)(objstore *s, const char *db, unsigned *mask, obj_error *e);
    obj_status (*read_range)(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len,
                             uint8_t *buf, obj_error *e);
    obj_status (*read_tail)(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                            size_t *got, obj_error *e);
    obj_status (*read_file)(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                            uint8_t **buf, size_t *len, obj_error *e);
    obj_status (*write_file)(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                             const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e);
    obj_status (*delete_file)(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e);
    obj_status (*file_timestamp)(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                 obj_error *e);
    obj_get_object_fn *get_object;
    obj_put_object_fn *put_object;
    obj_delete_object_fn *delete_object;
    obj_publish_file_fn *publish_file;
    obj_delete_file_if_match_fn *delete_file_if_match;
    /* NULL: OBJ_OK (no folders) */
    obj_status (*check_folder)(objstore *s, const char *db, obj_error *e);
    /* NULL: nothing to free */
    void (*close)(objstore *s);
};

/* file backend: root folder path (not a URL) */
obj_status file_open(objstore *s, const char *path, obj_error *e);
extern const obj_backend obj_file_backend;

/* S3 backend */
obj_status s3_open(objstore *s, const char *url, const objstore_opts *opts, obj_error *e);
extern const obj_backend obj_s3_backend;

#endif
