/* db_write.h - the database layer's part of writes (issue 11): the update
 * lock a write holds while it checks its base and publishes, and applying
 * a file this server just published (verified, in memory) at once, as the
 * poller applies an L0 file it fetched. */
#ifndef LTXPAGED_DB_WRITE_H
#define LTXPAGED_DB_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ltx.h"
#include "objstore.h"

/* The database's update lock (the poller's): nothing else advances it
 * while held. */
void ltxdb_write_lock(ltxdb *d);
void ltxdb_write_unlock(ltxdb *d);

/* Under the write lock. 1: indexed, *snap = the latest snapshot; 0: no
 * index (a new or empty database, or one whose first index failed). */
int ltxdb_write_head(ltxdb *d, db_snap *snap);

/* Under the write lock: apply the L0 file f (just published; buf/info =
 * its verified bytes and decode) so readers here see it now. A database
 * without an index is indexed from the bucket instead. 0 ok, -1 (logged;
 * the poller catches up later). Wakes /changes long-polls. */
int ltxdb_write_apply(ltxdb *d, const ltx_fileinfo *f, const uint8_t *buf, size_t len,
                      const ltx_file_info *info);

/* Where the database lives. */
objstore *ltxdb_store(const ltxdb *d);
const char *ltxdb_prefix(const ltxdb *d);

#endif
