/* s3_internal.h - shared by the S3 backend's files (not public):
 *   s3_config.c   s3:// URL and endpoint parsing, credentials, s3_open/close
 *   s3_request.c  one signed HTTP request with retries (s3_request)
 *   s3_backend.c  keys, listings and the backend operations
 *   s3_xml.c      the ListObjectsV2 parser;  sigv4.c  the signature */
#ifndef S3_INTERNAL_H
#define S3_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "s3_xml.h"
#include "sigv4.h"
#include "store_internal.h"

#define POOL_MAX        16
#define ERRBODY_CAP     (64u * 1024u) /* error documents we keep for the Code */
#define LIST_PAGE_CAP   (16u * 1024u * 1024u)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS  5000

struct s3ctx {
    char *bucket;
    char *prefix;      /* without leading '/'; trailing '/' trimmed */
    char *scheme_host; /* "https://s3.us-east-1.amazonaws.com" or endpoint (no trailing '/') */
    char *host;        /* Host header value (with :port when not default) */
    char *base_path;   /* "/bucket" (path style) or "" (virtual host); plus endpoint path */
    char *region;
    char *access_key, *secret_key, *session_token; /* NULL = unsigned requests */
    struct curl_slist *connect_to;                 /* $LTXHTTP_S3_CONNECT_TO (like curl --connect-to) */
    char *ca_file;                                 /* CURLOPT_CAINFO, or NULL for the system store */
    long timeout_ms;                               /* per attempt (no progress / small request) */
    long deadline_ms;                              /* per call, across attempts */
    int max_retries;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    int npool;
};

typedef struct s3_resp s3_resp;
typedef struct s3_req s3_req;

/* After a 2xx: 0 = accept, 1 = a transient mismatch (retried within the
 * deadline), -1 = refuse (OBJ_ERR_INVALID); why says what was wrong. */
typedef int (*s3_check_fn)(const s3_req *rq, const s3_resp *r, char *why, size_t whylen);

struct s3_req {
    const char *method;
    const char *key;   /* object key (raw), or NULL for a bucket request */
    const char *label; /* what to call it in messages when key is NULL (a listing's prefix) */
    const sigv4_pair *query;
    size_t nquery;
    const char *range;   /* "bytes=a-b" / "bytes=-n" or NULL */
    const uint8_t *body; /* PUT body */
    size_t body_len;
    const char *meta_ts;   /* x-amz-meta-litestream-timestamp */
    uint8_t *dst;          /* fixed destination (ranges), or NULL to grow */
    size_t max_body;       /* cap for dst or the grown buffer */
    uint64_t expect_bytes; /* body size expected either way (for the time budget) */
    const char *if_match;  /* If-Match: "<etag>" (GET, PUT, DELETE): 412 -> OBJ_CHANGED */
    int if_none_match;     /* If-None-Match: * (PUT): 412 -> OBJ_EXISTS */
    int retry_overflow;    /* a body longer than max_body is a transient fault (ranged reads) */
    s3_check_fn check;     /* optional validation of a 2xx answer */
    const void *check_ctx;
};

struct s3_resp {
    CURL *h;
    objstore *s; /* for the stop flag */
    long status;
    int routed; /* write callback decided where the body goes */
    int to_err;
    uint8_t *dst;  /* fixed */
    uint8_t *grow; /* or growing */
    size_t len, cap, max;
    int overflow;
    uint8_t *err;
    size_t errlen;
    char content_range[128];
    char meta_ts[64];       /* x-amz-meta-litestream-timestamp */
    char bucket_region[40]; /* x-amz-bucket-region (wrong-region answers) */
    char last_modified[64];
    long long content_length; /* -1 unknown */
    char etag[LTX_ETAG_MAX];  /* ETag without quotes, "" if none */
    const uint8_t *up;
    size_t up_len, up_off;
    int64_t last_ms; /* monotonic ms of the last progress */
    curl_off_t seen; /* bytes moved either way at last_ms */
    long stall_ms;   /* no progress for this long ends the attempt */
    int abort_why;   /* S3_ABORT_STOP / S3_ABORT_STALL */
    int attempts;    /* set when s3_request returns: > 1 means an earlier attempt may
                                 * have taken effect with its answer lost */
};

enum { S3_ABORT_NONE, S3_ABORT_STOP, S3_ABORT_STALL };

/* Performs one request with retries. On OBJ_OK the body is in r (r->grow or
 * the caller's dst). On any error e is filled (naming bucket/key and status).
 * Body overflow gives OBJ_ERR_TOO_LARGE; the caller may re-map it. The
 * caller frees r with s3_resp_free whatever the outcome. */
obj_status s3_request(objstore *s, const s3_req *rq, s3_resp *r, obj_error *e);
void s3_resp_free(s3_resp *r);
/* CLOCK_MONOTONIC in ms. */
int64_t s3_mono_ms(void);

/* What to call an object in messages: "bucket/key". */
void s3_obj_name(const s3ctx *c, const char *key, char *out, size_t outlen);

/* Easy handles reused across requests (a pool of POOL_MAX). */
CURL *s3_handle_get(s3ctx *c);
void s3_handle_put(s3ctx *c, CURL *h);

void s3_close(objstore *s);

/* Keys (s3_backend.c): <prefix>/<db> and the LTX file's key; 0 or -1. */
int s3_db_path(const s3ctx *c, const char *db, char *out, size_t outlen);
int s3_file_key(const s3ctx *c, const char *db, const ltx_fileinfo *f, char *out, size_t outlen);
/* GET a whole object (tied to f's size and version when f is not NULL);
 * *buf malloc'd; etag (may be NULL) = the answer's ETag. */
obj_status s3_get_key(objstore *s, const char *key, const ltx_fileinfo *f, size_t max_bytes, uint8_t **buf,
                      size_t *len, char *etag, obj_error *e);

/* s3_objects.c: small objects, conditional writes, publish */
obj_get_object_fn s3_get_object;
obj_put_object_fn s3_put_object;
obj_delete_object_fn s3_delete_object;
obj_publish_file_fn s3_publish_file;
/* PUT an LTX file under its key with its timestamp in the metadata; cond
 * OBJ_PUT_ANY or OBJ_PUT_ABSENT; out (may be NULL) = the file as written,
 * its ETag included. */
obj_status s3_put_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                       const uint8_t *buf, size_t len, int64_t timestamp_ms, int cond, ltx_fileinfo *out,
                       obj_error *e);
obj_delete_file_if_match_fn s3_delete_file_if_match;

#endif
