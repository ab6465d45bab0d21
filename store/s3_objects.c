/* s3_objects.c - the S3 backend's small objects and conditional writes:
 * get with version, create-only (If-None-Match: *) and compare-and-swap
 * (If-Match) PUTs, conditional DELETEs, create-only publish of LTX files.
 *
 * A 412 is the answer of a lost condition: OBJ_EXISTS for a create-only
 * write, OBJ_CHANGED for If-Match. But an earlier send of the same PUT may
 * have taken effect with its answer lost: our own retry, or libcurl's silent
 * resend when a reused connection dies before any answer. So every 412 on a
 * PUT is checked by reading the object back (at most len bytes): the same
 * bytes mean our write is the one there (OBJ_OK). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_internal.h"
#include "timefmt.h"

/* <prefix>/<db>/<name> */
static int object_key(const s3ctx *c, const char *db, const char *name, char *out, size_t outlen)
{
    char dp[1024];
    if (s3_db_path(c, db, dp, sizeof dp) != 0)
        return -1;
    int k = snprintf(out, outlen, "%s/%s", dp, name);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

/* After a 412 that followed a failed attempt: is the object our bytes? */
static int ours_after_all(objstore *s, const char *key, const uint8_t *buf, size_t len, char *etag)
{
    uint8_t *got = NULL;
    size_t n = 0;
    obj_error e2;
    char et[LTX_ETAG_MAX];
    obj_status st = s3_get_key(s, key, NULL, len, &got, &n, et, &e2);
    if (st != OBJ_OK && st != OBJ_NOT_FOUND) /* a look, not a failed call: the caller's status counts */
        atomic_fetch_sub_explicit(&s->errors, 1, memory_order_relaxed);
    int same = st == OBJ_OK && n == len && (len == 0 || memcmp(got, buf, len) == 0);
    free(got);
    if (same)
        obj_set_etag(etag, et, strlen(et));
    return same;
}

/* One PUT of key with the condition cond; *etag = the new version. */
static obj_status put_key(objstore *s, const char *key, const uint8_t *buf, size_t len, int cond,
                          const char *if_match, const char *meta_ts, char *etag, obj_error *e)
{
    static const uint8_t empty[1] = { 0 };
    s3_req rq = { .method = "PUT",
                  .key = key,
                  .body = buf ? buf : empty,
                  .body_len = len,
                  .meta_ts = meta_ts,
                  .max_body = 1 << 20,
                  .if_none_match = cond == OBJ_PUT_ABSENT,
                  .if_match = cond == OBJ_PUT_MATCH ? if_match : NULL };
    s3_resp r = { 0 };
    OBJ_COUNT(s, puts, 1);
    obj_status st = s3_request(s, &rq, &r, e);
    if (st == OBJ_OK) {
        obj_set_etag(etag, r.etag, strlen(r.etag));
    } else if ((st == OBJ_EXISTS || st == OBJ_CHANGED) && ours_after_all(s, key, rq.body, len, etag)) {
        st = OBJ_OK; /* the 412 was counted as a failure: it was not one */
        atomic_fetch_sub_explicit(&s->errors, 1, memory_order_relaxed);
        obj_ok(e);
    }
    if (st == OBJ_OK)
        OBJ_COUNT(s, bytes_written, len);
    s3_resp_free(&r);
    return st;
}

/* One DELETE of key, conditional when if_match is set. */
static obj_status delete_key(objstore *s, const char *key, const char *if_match, obj_error *e)
{
    s3_req rq = { .method = "DELETE", .key = key, .max_body = 1 << 20, .if_match = if_match };
    s3_resp r = { 0 };
    OBJ_COUNT(s, deletes, 1);
    obj_status st = s3_request(s, &rq, &r, e);
    if (st == OBJ_NOT_FOUND && r.attempts > 1) { /* an earlier attempt deleted it */
        st = OBJ_OK;
        obj_ok(e);
    }
    s3_resp_free(&r);
    return st;
}

obj_status s3_get_object(objstore *s, const char *db, const char *name, size_t max_bytes, uint8_t **buf,
                         size_t *len, char *etag, obj_error *e)
{
    char key[1200];
    if (object_key(s->s3, db, name, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    return s3_get_key(s, key, NULL, max_bytes, buf, len, etag, e);
}

obj_status s3_put_object(objstore *s, const char *db, const char *name, const uint8_t *buf, size_t len,
                         int cond, const char *if_match, char *etag, obj_error *e)
{
    char key[1200];
    if (object_key(s->s3, db, name, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    return put_key(s, key, buf, len, cond, if_match, NULL, etag, e);
}

obj_status s3_delete_object(objstore *s, const char *db, const char *name, const char *if_match, obj_error *e)
{
    char key[1200];
    if (object_key(s->s3, db, name, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    return delete_key(s, key, if_match, e);
}

obj_status s3_put_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                       const uint8_t *buf, size_t len, int64_t timestamp_ms, int cond, ltx_fileinfo *out,
                       obj_error *e)
{
    ltx_fileinfo f = {
        .level = level, .min_txid = min_txid, .max_txid = max_txid, .size = len, .created_ms = timestamp_ms
    };
    char key[1200], ts[64];
    if (s3_file_key(s->s3, db, &f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    timefmt_format_nano(ts, sizeof ts, timestamp_ms);
    obj_status st = put_key(s, key, buf, len, cond, NULL, ts, f.etag, e);
    if (st == OBJ_OK && out)
        *out = f;
    return st;
}

obj_status s3_publish_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                           const uint8_t *buf, size_t len, int64_t timestamp_ms, ltx_fileinfo *out,
                           obj_error *e)
{
    return s3_put_file(s, db, level, min_txid, max_txid, buf, len, timestamp_ms, OBJ_PUT_ABSENT, out, e);
}

obj_status s3_delete_file_if_match(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    char key[1200];
    if (s3_file_key(s->s3, db, f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    return delete_key(s, key, f->etag, e);
}
