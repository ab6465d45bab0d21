/* objstore.h - object-store backends: a local directory ("file://") and
 * S3-compatible stores ("s3://bucket/prefix") over libcurl with SigV4.
 *
 * One implementation used by ltxpaged and ltxctl. A store is opened on a
 * root URL; every call names a database relative to that root ("" = the
 * root is itself one database's replica). Layout (LTX-FORMAT.md §2.1):
 *   file: <root>/<db>/ltx/<level decimal>/<min>-<max>.ltx
 *   s3:   <prefix>/<db>/<level %04x>/<min>-<max>.ltx
 * All functions are thread-safe and may be called from many threads at once
 * (S3 connections are reused across calls and threads).
 */
#ifndef OBJSTORE_H
#define OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct objstore objstore;

typedef enum {
    OBJ_OK = 0,
    OBJ_NOT_FOUND,      /* object or folder does not exist (e.g. removed by retention) */
    OBJ_ERR_IO,         /* transient failure after retries: network, 5xx, timeout, disk */
    OBJ_ERR_AUTH,       /* 401/403 */
    OBJ_ERR_INVALID,    /* bad URL/argument, malformed listing, short read */
    OBJ_ERR_TOO_LARGE,  /* object larger than the caller's cap */
    OBJ_ERR_NOMEM,
} obj_status;

typedef struct {
    obj_status code;
    long http_status;   /* 0 when not HTTP */
    char msg[256];      /* one sentence naming the object; never contains secrets */
} obj_error;

typedef struct {
    const char *s3_endpoint;  /* NULL: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS */
    const char *s3_region;    /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1 */
    int s3_path_style;        /* 1 path style, 0 virtual host, -1 auto (path when endpoint set) */
    long timeout_ms;          /* per request; 0 = 10000 */
    int max_retries;          /* on 5xx / timeouts / connection errors; <0 = default 4 */
} objstore_opts;

typedef struct {
    uint64_t gets;            /* whole or ranged object reads */
    uint64_t lists;           /* LIST / readdir calls */
    uint64_t puts;
    uint64_t deletes;
    uint64_t heads;
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t errors;          /* calls that returned an error other than NOT_FOUND */
    uint64_t retries;
    uint64_t connects;        /* new network connections opened (S3); low = keep-alive works */
} objstore_stats;

/* url: "file:///abs/path", a plain path, or "s3://bucket[/prefix]".
 * opts may be NULL. Credentials come from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. Returns NULL and fills e on error. */
objstore *objstore_open(const char *url, const objstore_opts *opts, obj_error *e);
void objstore_close(objstore *s);
/* The URL as given (no secrets), for logs. */
const char *objstore_url(const objstore *s);
int objstore_is_s3(const objstore *s);
void objstore_get_stats(const objstore *s, objstore_stats *out);
const char *obj_status_str(obj_status st);

/* Names of the databases directly under the root: child folders that hold
 * a replica (file: <name>/ltx/ exists; s3: <name>/<%04x>/ keys exist).
 * Sorted. *names is malloc'd; free with objstore_free_names. */
obj_status objstore_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e);
void objstore_free_names(char **names, size_t n);

/* LTX files of one level, sorted by (min, max), foreign names ignored.
 * Only files with min_txid >= min_from are returned (0 = all); on S3 this
 * is one ListObjectsV2 request with StartAfter (paged if > 1000 keys).
 * created_ms: file mtime, or S3 LastModified. A missing level folder is an
 * empty list, not an error. *out is malloc'd (caller frees), may be NULL
 * when *n == 0. */
obj_status objstore_list_level(objstore *s, const char *db, int level, uint64_t min_from,
                               ltx_fileinfo **out, size_t *n, obj_error *e);
/* All levels 0..9 in one array (for a restore plan). */
obj_status objstore_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n,
                             obj_error *e);

/* Read exactly len bytes at off of the file f (level/min/max name it).
 * Fewer bytes available = OBJ_ERR_INVALID ("truncated"). One request. */
obj_status objstore_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off,
                               size_t len, uint8_t *buf, obj_error *e);
/* Read the last min(len, size) bytes of f; f->size must be set (from the
 * listing). *got is the count read. One request. */
obj_status objstore_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len,
                              uint8_t *buf, size_t *got, obj_error *e);
/* Read a whole file; larger than max_bytes = OBJ_ERR_TOO_LARGE. *buf is
 * malloc'd (caller frees). One request. */
obj_status objstore_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                              uint8_t **buf, size_t *len, obj_error *e);

/* Write a file atomically (file: write <name>.tmp, fsync, rename, fsync the
 * folder, set mtime to timestamp_ms; S3: PutObject with
 * x-amz-meta-litestream-timestamp in RFC3339Nano). */
obj_status objstore_write_file(objstore *s, const char *db, int level, uint64_t min_txid,
                               uint64_t max_txid, const uint8_t *buf, size_t len,
                               int64_t timestamp_ms, obj_error *e);
/* Delete f. Idempotent on both backends: a file that is not there (deleted
 * already, e.g. by a concurrent retention pass) is OBJ_OK, as S3's DELETE
 * answers 204 for a missing key. */
obj_status objstore_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e);

/* The creation time the writer recorded for f, in ms since the epoch: the
 * file's mtime, or on S3 the x-amz-meta-litestream-timestamp metadata (one
 * HEAD request; Last-Modified when the metadata is absent). This is what
 * Litestream's timestamp-based restore uses; listings give LastModified. */
obj_status objstore_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                   obj_error *e);

/* Why a listing of db can come back empty, for error messages: a missing
 * folder lists as empty (a writer may create it later), so a typo in a
 * file path would otherwise read as "no ltx files". File store:
 * OBJ_NOT_FOUND with a message naming the first folder of root, root/db,
 * root/db/ltx that does not exist; OBJ_OK when all exist. S3 has no folders:
 * always OBJ_OK, no request. */
obj_status objstore_check_folder(objstore *s, const char *db, obj_error *e);

#ifdef __cplusplus
}
#endif
#endif /* OBJSTORE_H */
