/* restore.h - restore engine shared by ltxctl commands: plan a restore from
 * a replica (object store), apply LTX files to a database file, and small
 * helpers for naming replica files in messages.
 *
 * This is the one restore engine of ltxctl: `restore`, `verify`, and the
 * writer's rebuild of a replica's state (snapshot, replicate) all load files
 * through restore_load; only the sink differs (a file, a page map, none).
 *
 * Apply semantics (LTX-FORMAT.md §1.9): for each file in plan order, verify
 * the whole file (the streaming verifier: frames, index, file checksum), write
 * each page at (pgno-1)*page_size, then truncate to commit pages. Pages are
 * written to the output as they are decoded; only one LTX file is held in
 * memory at a time. The lock page is never stored, so it stays a zero hole.
 */
#ifndef LTXCTL_RESTORE_H
#define LTXCTL_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include <limits.h>

#include "compact.h"
#include "ltx.h"
#include "objstore.h"

/* Where CreatedAt comes from for time targets. */
typedef enum {
    RESTORE_TIME_AUTO = 0, /* file replicas: listing (mtime); S3: LTX header timestamp */
    RESTORE_TIME_LISTING,  /* mtime / S3 LastModified as listed */
    RESTORE_TIME_HEADER,   /* header timestamp, read with one 100-byte range per file */
} restore_time_source;

typedef struct {
    uint64_t target_txid;   /* 0 = no TXID bound */
    int64_t target_time_ms; /* 0 = no time bound */
    restore_time_source time_source;
    size_t buffer_limit;  /* files up to this size are read whole into memory;
                                  larger ones are streamed by ranged reads
                                  (0 = default 64 MiB, SIZE_MAX = never stream) */
    int progress;         /* 1: progress line on stderr (caller checks isatty) */
    volatile int *cancel; /* optional: non-zero stops the restore */
    int empty_ok;         /* restore_make_plan: an empty replica is an empty
                                  plan at TXID 0, not an error */
} restore_opts;

typedef struct {
    uint64_t txid; /* TXID reached */
    uint32_t page_size;
    uint32_t commit;      /* database size in pages */
    int64_t timestamp_ms; /* header timestamp of the last applied file */
    size_t files;         /* files applied */
    uint64_t bytes_read;  /* LTX bytes read */
    uint64_t pages_written;
    ltx_header last_header; /* header and trailer of the last applied file */
    ltx_trailer last_trailer;
} restore_result;

#define RESTORE_DEFAULT_BUFFER_LIMIT ((size_t)64 << 20)
#define RESTORE_STREAM_CHUNK         ((size_t)4 << 20)

/* What loading one LTX file found. */
typedef struct {
    ltx_header header;
    ltx_trailer trailer;
    size_t pages;
    int frame_layout; /* as ltx_file_info.frame_layout */
    int streamed;     /* 1: read by ranges, 0: read whole */
    uint64_t bytes;   /* bytes read */
    ltx_err code;     /* LTX_OK, or the codec error when damaged */
} restore_file_stats;

/* Where verified pages go. Callbacks return 0, or -1 with a sentence in
 * err. The engine sets disp (the file, for messages) while a file loads,
 * page_size_now once its header is in, and checks page_size (0 = any). */
typedef struct restore_sink restore_sink;
struct restore_sink {
    int (*begin)(restore_sink *k, const ltx_header *h); /* before the file's first page */
    int (*page)(restore_sink *k, uint32_t pgno, const uint8_t *page, const uint8_t *frame, size_t frame_len);
    int (*end)(restore_sink *k, const ltx_header *h); /* after the file verified */
    void *ctx;
    int fd;
    uint32_t page_size;     /* page size every file must have (0 = any) */
    uint32_t page_size_now; /* the loading file's */
    const char *disp;
    char err[PATH_MAX + 256];
};

/* Pages written at (pgno-1)*page_size to fd; with truncate the file is cut
 * to commit pages after each LTX file. */
void restore_sink_fd(restore_sink *k, int fd, int truncate);
/* Pages kept in a page map (with its keep_blocks, v3b blocks too),
 * truncated to commit after each file. */
void restore_sink_pagemap(restore_sink *k, ltx_pagemap *pm);

/* Read one LTX file of the replica, verify all of it with the streaming
 * verifier (proto/verify.c) and hand each page to sink (NULL: verify only):
 * header, every frame, page index, file checksum (and the database checksum
 * of a checksum-tracking snapshot), header TXIDs equal to the name. Files
 * above buffer_limit are read in RESTORE_STREAM_CHUNK ranges from the start,
 * so memory stays bounded whatever the file size. Returns 0, or -1 with err
 * naming the file (st->code tells damaged files from I/O errors: LTX_OK
 * means I/O, a sink or a cancel). */
int restore_load(objstore *s, const char *db, const ltx_fileinfo *f, restore_sink *sink, size_t buffer_limit,
                 volatile int *cancel, restore_file_stats *st, char *err, size_t errlen);

/* Read one LTX file of the replica and verify all of it: header, every
 * frame (decoded to exactly one page), page index, file checksum (and the
 * database checksum of a checksum-tracking snapshot), header TXIDs equal to
 * the name. With fd >= 0 each page is written at (pgno-1)*page_size as it
 * is decoded (no truncation: the caller truncates to commit). Files above
 * buffer_limit are streamed in RESTORE_STREAM_CHUNK ranges, so memory stays
 * bounded whatever the file size. Returns 0, or -1 with err naming the file
 * (st->code tells damaged files from I/O errors: LTX_OK means I/O). */
int restore_load_file(objstore *s, const char *db, const ltx_fileinfo *f, int fd, size_t buffer_limit,
                      volatile int *cancel, restore_file_stats *st, char *err, size_t errlen);

/* "<root>/ltx/<L>/<name>" or "s3://bucket/prefix/<%04x>/<name>" for messages. */
void restore_file_display(char *out, size_t outlen, objstore *s, const char *db, const ltx_fileinfo *f);

/* List every level of the replica and run the restore plan. On success
 * *plan (malloc'd) and *plan_n are set. *all and *all_n (optional, malloc'd)
 * receive the listing. Returns 0, or -1 with a sentence in err. */
int restore_make_plan(objstore *s, const char *db, const restore_opts *o, ltx_fileinfo **plan, size_t *plan_n,
                      uint64_t *txid, ltx_fileinfo **all, size_t *all_n, char *err, size_t errlen);

/* The restore engine: load plan files in order into sink, checking that
 * they chain (the first starts at TXID 1, each continues the last) and keep
 * one page size. Returns 0 or -1 with err. */
int restore_apply_sink(objstore *s, const char *db, const ltx_fileinfo *plan, size_t plan_n,
                       restore_sink *sink, const restore_opts *o, restore_result *r, char *err,
                       size_t errlen);

/* Apply plan files (in order) to fd, which should be an empty regular file.
 * The first file must be a snapshot (min TXID 1). Returns 0 or -1 with err. */
int restore_apply(objstore *s, const char *db, const ltx_fileinfo *plan, size_t plan_n, int fd,
                  const restore_opts *o, restore_result *r, char *err, size_t errlen);

/* Plan and apply into out_path through a temporary file in the same folder
 * (fsync, rename, fsync folder). Refuses an existing out_path unless force;
 * with force, stale "<out>-wal"/"<out>-shm" files are removed too. */
int restore_to_path(objstore *s, const char *db, const char *out_path, int force, const restore_opts *o,
                    restore_result *r, char *err, size_t errlen);

#endif
