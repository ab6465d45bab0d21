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

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct objstore objstore;

typedef enum {
    OBJ_OK = 0,
    OBJ_NOT_FOUND,     /* object or folder does not exist (e.g. removed by retention) */
    OBJ_ERR_IO,        /* transient failure after retries: network, 5xx, timeout, disk */
    OBJ_ERR_AUTH,      /* 401/403 */
    OBJ_ERR_INVALID,   /* bad URL/argument, malformed listing, short read */
    OBJ_ERR_TOO_LARGE, /* object larger than the caller's cap */
    OBJ_ERR_NOMEM,
    /* added for issues 10/11 (appended: earlier values keep their numbers) */
    OBJ_CHANGED,     /* the object is not the version asked for: S3 412 on If-Match,
                         * a file replaced since it was listed; not retried */
    OBJ_EXISTS,      /* create-only write of a name that exists (S3 412 on If-None-Match) */
    OBJ_ERR_TIMEOUT, /* the call's overall deadline passed (transient, like OBJ_ERR_IO) */
    OBJ_ERR_ABORTED, /* stopped by objstore_abort() or opts.stop */
} obj_status;

typedef struct {
    obj_status code;
    long http_status; /* 0 when not HTTP */
    char msg[256];    /* one sentence naming the object; never contains secrets */
} obj_error;

typedef struct {
    const char *s3_endpoint; /* NULL: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS */
    const char *ca_file;     /* PEM CA bundle for https:// endpoints; NULL: $AWS_CA_BUNDLE,
                               * $SSL_CERT_FILE, else the system store */
    const char *s3_region;   /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1 */
    int s3_path_style;       /* 1 path style, 0 virtual host, -1 auto (path when endpoint set) */
    long timeout_ms;         /* per attempt: no progress (connect, first byte, body) for
                               * this long aborts the attempt (retried); 0 = 3000 */
    int max_retries;         /* on 5xx / timeouts / connection errors; <0 = default 4 */
    /* Added for issue 10 (zero = default, so older initialisers keep working): */
    long deadline_ms;        /* one overall deadline per call across all its attempts and
                               * backoffs; 0 = 10000. Transfers of more than 1 MiB get 1 s
                               * more per MiB expected. Past it: OBJ_ERR_TIMEOUT. */
    const _Atomic int *stop; /* optional: when *stop != 0 every call in flight ends within
                               * about a second (libcurl's progress callback; backoff
                               * sleeps within 50 ms) with OBJ_ERR_ABORTED, and new calls
                               * fail at once (objstore_abort does the same without a flag) */
} objstore_opts;

/* What a LIST request was for (objstore_stats.lists_by_kind): the call
 * that made it. */
typedef enum {
    OBJSTORE_LIST_OTHER, /* none of the below */
    OBJSTORE_LIST_DBS,   /* objstore_list_dbs: the root listing (a page per 1000 folders on S3) */
    OBJSTORE_LIST_PROBE, /* objstore_list_dbs: checking one folder for level folders (S3) */
    OBJSTORE_LIST_LEVEL, /* objstore_list_level: one level (an L0 poll) */
    OBJSTORE_LIST_ALL,   /* objstore_list_all: every level of a database */
    OBJSTORE_LIST__N
} objstore_list_kind;
extern const char *const objstore_list_kind_names[OBJSTORE_LIST__N]; /* "other", "dbs", ... */

typedef struct {
    uint64_t gets;  /* whole or ranged object reads */
    uint64_t lists; /* LIST / readdir calls */
    uint64_t puts;
    uint64_t deletes;
    uint64_t heads;
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t errors; /* calls that returned an error other than NOT_FOUND */
    uint64_t retries;
    uint64_t connects; /* new network connections opened (S3); low = keep-alive works */
    uint64_t lists_by_kind[OBJSTORE_LIST__N]; /* lists, by objstore_list_kind */
} objstore_stats;

/* Request latency hook: after every store call that makes a request
 * (LIST, GET, ranged GET, PUT, HEAD, DELETE; retries included) fn gets
 * the operation, its duration in ns and the outcome. Process-wide, set
 * once before stores are used (ltxpaged feeds its histograms); NULL (the
 * default) is no hook. fn must be thread-safe and must not block. */
typedef enum {
    OBJSTORE_OP_LIST,
    OBJSTORE_OP_GET,   /* a whole object */
    OBJSTORE_OP_RANGE, /* a byte range (also a file's tail) */
    OBJSTORE_OP_PUT,
    OBJSTORE_OP_HEAD,
    OBJSTORE_OP_DELETE,
    OBJSTORE_OP__N
} objstore_op;
extern const char *const objstore_op_names[OBJSTORE_OP__N]; /* "list", "get", ... */
typedef void (*objstore_observe_fn)(objstore_op op, int64_t ns, obj_status st);
void objstore_set_observer(objstore_observe_fn fn);

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
/* 1 for statuses worth trying again later (OBJ_ERR_IO, OBJ_ERR_TIMEOUT). */
int obj_status_transient(obj_status st);
/* Stop every call in flight on s (each returns OBJ_ERR_ABORTED within about
 * a second: 0.8 s measured for a stalled S3 read) and fail new ones at once.
 * One atomic store: safe from a signal handler and any thread. Not undone;
 * objstore_close is still needed. */
void objstore_abort(objstore *s);

/* Names of the databases directly under the root: child folders that hold
 * a replica (file: <name>/ltx/ exists; s3: <name>/<%04x>/ keys exist).
 * Sorted. *names is malloc'd; free with objstore_free_names. */
obj_status objstore_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e);
/* The same, where a child folder for which known(ctx, name) returns 1 is
 * taken as a replica without checking it (on S3 that check is one LIST per
 * folder: a rescan of a root with many databases the caller already serves
 * need not list each of them again). known may be NULL (check every one). */
typedef int (*objstore_known_fn)(void *ctx, const char *name);
obj_status objstore_list_dbs_known(objstore *s, objstore_known_fn known, void *ctx, char ***names, size_t *n,
                                   obj_error *e);
void objstore_free_names(char **names, size_t n);

/* LTX files of one level, sorted by (min, max), foreign names ignored.
 * Only files with min_txid >= min_from are returned (0 = all); on S3 this
 * is one ListObjectsV2 request with StartAfter (paged if > 1000 keys).
 * created_ms: file mtime, or S3 LastModified. A missing level folder is an
 * empty list, not an error. *out is malloc'd (caller frees), may be NULL
 * when *n == 0. */
obj_status objstore_list_level(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out,
                               size_t *n, obj_error *e);
/* All levels 0..9 in one array (for a restore plan). */
obj_status objstore_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e);
/* Sort files by (level, min, max): the order of the listings above. */
void objstore_sort_files(ltx_fileinfo *f, size_t n);

/* Reads below: when f->etag is set (from a listing) the read is tied to that
 * version: S3 sends If-Match (412 -> OBJ_CHANGED), the file backend compares
 * inode, mtime and size after open; a replaced object is OBJ_CHANGED, never
 * a mix of bytes. Short or over-long answers are retried within the deadline;
 * a read never returns short data as success. */
/* Read exactly len bytes at off of the file f (level/min/max name it).
 * Fewer bytes available = OBJ_ERR_INVALID ("truncated"). One request. */
obj_status objstore_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len,
                               uint8_t *buf, obj_error *e);
/* Read the last min(len, size) bytes of f; f->size must be set (from the
 * listing). *got is the count read. One request. */
obj_status objstore_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                              size_t *got, obj_error *e);
/* Read a whole file; larger than max_bytes = OBJ_ERR_TOO_LARGE. *buf is
 * malloc'd (caller frees). One request. */
obj_status objstore_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                              uint8_t **buf, size_t *len, obj_error *e);

/* Write a file atomically (file: write <name>.tmp, fsync, rename, fsync the
 * folder, set mtime to timestamp_ms; S3: PutObject with
 * x-amz-meta-litestream-timestamp in RFC3339Nano). */
obj_status objstore_write_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                               const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e);
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

/* ---- conditional writes and small objects (issue 11) ---------------------
 *
 * A version ("etag") is a string of < LTX_ETAG_MAX bytes: the S3 ETag
 * without quotes, or for the file backend "<inode hex>-<mtime ns hex>".
 * Every etag out-parameter is a char[LTX_ETAG_MAX] (may be NULL).
 *
 * Small objects live next to a database's level folders, named by `name`:
 * one path component of [A-Za-z0-9._-], not starting with '.', at most 64
 * bytes (e.g. "lock.json"):
 *   file: <root>/<db>/<name>     s3: <prefix>/<db>/<name>
 * File backend: every write of an object (and publish) holds an flock on
 * its folder, writes a temporary file (".<name>.<random>.tmp"), fsyncs it and
 * installs it with link() (create-only) or rename() (after comparing the
 * version), then fsyncs the folder; so they are atomic and exclusive between
 * processes on one host. S3: the condition is sent as If-None-Match: * /
 * If-Match: "<etag>" (signed); 412 -> OBJ_EXISTS / OBJ_CHANGED. A retried
 * attempt whose condition then fails (the first may have succeeded with its
 * answer lost) reads the object back: same bytes -> OBJ_OK with its etag. */

/* Read a small object and its version. OBJ_NOT_FOUND when missing;
 * larger than max_bytes -> OBJ_ERR_TOO_LARGE. *buf malloc'd (caller frees). */
obj_status objstore_get_object(objstore *s, const char *db, const char *name, size_t max_bytes, uint8_t **buf,
                               size_t *len, char *etag, obj_error *e);
/* Create name only if it does not exist: OBJ_EXISTS when it does. Of two
 * concurrent calls exactly one gets OBJ_OK. *etag = the new version. */
obj_status objstore_put_if_absent(objstore *s, const char *db, const char *name, const uint8_t *buf,
                                  size_t len, char *etag, obj_error *e);
/* Replace name only if its version is still if_match: OBJ_CHANGED when it
 * is another version, OBJ_NOT_FOUND when it is missing. *etag = new version. */
obj_status objstore_put_if_match(objstore *s, const char *db, const char *name, const uint8_t *buf,
                                 size_t len, const char *if_match, char *etag, obj_error *e);
/* Unconditional write (an operator breaking a lease). */
obj_status objstore_put_object(objstore *s, const char *db, const char *name, const uint8_t *buf, size_t len,
                               char *etag, obj_error *e);
/* Delete name. if_match NULL: unconditional and idempotent (missing = OBJ_OK).
 * if_match set: only that version (OBJ_CHANGED otherwise; missing =
 * OBJ_NOT_FOUND). */
obj_status objstore_delete_object(objstore *s, const char *db, const char *name, const char *if_match,
                                  obj_error *e);

/* Publish an LTX file at its layout name (level, min, max), create-only:
 * OBJ_EXISTS when a file of that name is there (no two writers ever publish
 * one name). Same durability and timestamp as objstore_write_file. When out
 * is not NULL it receives the file's listing entry (size, created_ms, etag). */
obj_status objstore_publish_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                                 const uint8_t *buf, size_t len, int64_t timestamp_ms, ltx_fileinfo *out,
                                 obj_error *e);
/* Delete f only if it is still the version f->etag (f->etag "" = plain
 * delete): OBJ_CHANGED when replaced; missing = OBJ_NOT_FOUND. */
obj_status objstore_delete_file_if_match(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e);

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
