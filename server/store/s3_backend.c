/* s3_backend.c - placeholder until the S3 backend lands. */
#include "store_internal.h"

obj_status s3_open(objstore *s, const char *url, const objstore_opts *opts, obj_error *e) {
    (void)s; (void)opts;
    return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 backend not built yet: %.180s", url);
}
void s3_close(objstore *s) { (void)s; }
#define NA(...) { (void)s; return OBJ_ERR_INVALID; }
obj_status s3_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e) { (void)names; (void)n; (void)e; NA() }
obj_status s3_list_level(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out, size_t *n, obj_error *e) { (void)db; (void)level; (void)min_from; (void)out; (void)n; (void)e; NA() }
obj_status s3_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len, uint8_t *buf, obj_error *e) { (void)db; (void)f; (void)off; (void)len; (void)buf; (void)e; NA() }
obj_status s3_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf, size_t *got, obj_error *e) { (void)db; (void)f; (void)len; (void)buf; (void)got; (void)e; NA() }
obj_status s3_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes, uint8_t **buf, size_t *len, obj_error *e) { (void)db; (void)f; (void)max_bytes; (void)buf; (void)len; (void)e; NA() }
obj_status s3_write_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid, const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e) { (void)db; (void)level; (void)min_txid; (void)max_txid; (void)buf; (void)len; (void)timestamp_ms; (void)e; NA() }
obj_status s3_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e) { (void)db; (void)f; (void)e; NA() }
