/* disk.h - the local disk tier (--cache-dir, --cache-dir-size).
 *
 * Verified LTX files kept on local disk: once a page of a file was read
 * from the object store, the whole file is fetched in the background
 * (one GET), verified (ltx_file_decode: every frame, index, checksums,
 * and its header's TXIDs against its name) and written under
 * DIR/<db>/<level>-<min>-<max>-<size>-<created>.ltx (tmp + rename). Later
 * page reads of that file that miss the memory cache are a pread instead
 * of a ranged GET. A file is named by everything the listing says of it,
 * so a replaced history (same name, other bytes) never matches an old
 * copy. At start the folder is scanned (a restart is warm): each file is
 * verified again in the background before it is used; a file that fails
 * is deleted. The bytes kept stay under --cache-dir-size: the least
 * recently read files go first; files larger than a quarter of it are not
 * kept. Locking: one mutex for the table, never held during I/O; the
 * cached page path (server/cache.c) does not come here. */
#ifndef LTXPAGED_DISK_H
#define LTXPAGED_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "objstore.h"

typedef struct disk_tier disk_tier;

typedef struct {
    uint64_t hits, misses, fetches, fetch_errors, rejected, evictions, files, bytes, unverified;
} disk_stats;

/* Open (create) dir and scan it; NULL with msg on failure. */
disk_tier *disk_open(const char *dir, size_t cap_bytes, char *msg, size_t msglen);
/* Stop the background thread and free (files stay on disk). */
void disk_close(disk_tier *t);
void disk_get_stats(disk_tier *t, disk_stats *out);
/* The stats as a JSON object for /admin/status (new reference; null
 * without a tier). */
json_t *disk_status_json(disk_tier *t);

/* objstore_read_range for the pages of d: from the disk tier when it holds
 * f, else from the store (then f is queued for the tier). Same results. */
obj_status disk_read_range(ltxdb *d, const ltx_fileinfo *f, uint64_t off, size_t len, uint8_t *buf,
                           obj_error *e);

#endif
