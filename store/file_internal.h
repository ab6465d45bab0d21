/* file_internal.h - shared by the file backend's files (not public):
 *   file_backend.c  paths, listings, reads, plain writes and deletes
 *   file_objects.c  small objects, conditional writes, create-only publish */
#ifndef FILE_INTERNAL_H
#define FILE_INTERNAL_H

#include <sys/stat.h>

#include "store_internal.h"

/* <root>[/<db>]/ltx[/<level>[/<name>]] (level < 0: the ltx folder); 0 or -1. */
int file_db_path(const objstore *s, char *out, size_t outlen, const char *db, int level, const char *name);
/* The path of the LTX file f; 0 or -1. */
int file_path(const objstore *s, char *out, size_t outlen, const char *db, const ltx_fileinfo *f);
obj_status file_path_too_long(objstore *s, obj_error *e, const char *db);
/* errno -> status (ENOENT -> OBJ_NOT_FOUND); _io: never OBJ_NOT_FOUND. */
obj_status file_errno_status(int err);
obj_status file_errno_status_io(int err);
/* A file's version: "<inode hex>-<mtime ns hex>" into etag (LTX_ETAG_MAX). */
void file_etag(const struct stat *sb, char *etag);
int file_fsync_dir(const char *dir);
/* write() all of buf (again after EINTR); 0 or -1 (errno). */
int file_write_all(int fd, const uint8_t *buf, size_t len);
/* mkdir -p, each new folder made durable; 0 or -1 (errno). */
int file_mkdirs(char *path);

obj_get_object_fn file_get_object;
obj_put_object_fn file_put_object;
obj_delete_object_fn file_delete_object;
obj_publish_file_fn file_publish_file;
obj_delete_file_if_match_fn file_delete_file_if_match;

#endif
