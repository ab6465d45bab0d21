/* db_write.c - writes in the database layer: the update lock and applying
 * a just-published L0 file at once (see db_write.h). What it does with the
 * file is what db_poll.c does with an L0 file it fetched: warm the cache
 * with its pages, then one vindex_apply under the write lock. */
#include "db_write.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "log.h"

void ltxdb_write_lock(ltxdb *d)
{
    pthread_mutex_lock(&d->update);
    atomic_fetch_add(&d->write_locks, 1);
}

void ltxdb_write_unlock(ltxdb *d)
{
    atomic_fetch_add(&d->write_locks, 1);
    pthread_mutex_unlock(&d->update);
}

int ltxdb_write_head(ltxdb *d, db_snap *snap)
{
    int have = 0;
    pthread_rwlock_rdlock(&d->lock);
    const vrec *c = d->live ? vindex_current(d->live) : NULL;
    if (c) {
        db_snap_of(c, snap);
        have = 1;
    }
    pthread_rwlock_unlock(&d->lock);
    return have;
}

int ltxdb_write_apply(ltxdb *d, const ltx_fileinfo *f, const uint8_t *buf, size_t len,
                      const ltx_file_info *info)
{
    if (!d->live) {
        /* a new database: its index comes from the bucket (one file) */
        int rc = db_index_rebuild_live(d, "first write");
        pthread_rwlock_wrlock(&d->lock);
        d->initialized = 1;
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    db_warm_file(d, f, buf, len, info);
    vfile *vf = vfile_new(f);
    if (!vf)
        return -1;
    const ltx_header *h = &info->header;
    pthread_rwlock_wrlock(&d->lock);
    int r = vindex_apply(d->live, vf, info->index, info->page_count, h->commit, h->page_size, h->timestamp_ms,
                         mono_ms());
    if (r == VX_OK) {
        atomic_store(&d->cur_txid, f->max_txid);
        d->recent[d->recent_n++ % 16] = *f;
        d->last_poll_ok_ms = timefmt_now_ms();
    }
    int old_st = r == VX_OK ? db_set_state_locked(d, DB_OK, NULL) : DB_OK; /* with its TXID */
    pthread_rwlock_unlock(&d->lock);
    vfile_unref(vf);
    db_log_state(d, old_st, DB_OK, "a write was applied");
    if (r != VX_OK) {
        logf_(LOG_WARN, "write_apply_error", "db=%s txid=%016" PRIx64 " vx=%d", d->name, f->max_txid, r);
        return -1;
    }
    atomic_fetch_add(&d->files_applied, 1);
    logf_(LOG_INFO, "new_txid", "db=%s txid=%016" PRIx64 " commit=%u pages=%zu file=L0 source=write", d->name,
          f->max_txid, h->commit, info->page_count);
    if (d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d);
    return 0;
}
