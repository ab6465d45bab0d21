/* db_hist.c - historical (point-in-time) indexes, TXID and time lookups. */
#include "db_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void db_hist_free(hist_ix *h)
{
    if (!h)
        return;
    vindex_free(&h->ix);
    free(h);
}

/* Free a historical index that was counted in srv.hist_total. */
void db_hist_drop(ltxdb *d, hist_ix *h)
{
    if (!h)
        return;
    atomic_fetch_sub(&d->srv->hist_total, 1);
    db_hist_free(h);
}

/* ---- historical indexes ----------------------------------------------- */

hist_ix *db_hist_find_locked(ltxdb *d, uint64_t txid)
{
    for (size_t i = 0; i < d->nhists; i++)
        if (d->hists[i]->txid == txid) {
            __atomic_store_n(&d->hists[i]->used_ms, mono_ms(), __ATOMIC_RELAXED);
            return d->hists[i];
        }
    return NULL;
}

/* Drop the least recently used point-in-time index of any database.
 * Lock order: dbs_lock, then one database's lock at a time; the caller
 * holds no database lock. Returns 1 when one was dropped. */
static int hist_evict_global(srv *s)
{
    ltxdb *victim = NULL;
    uint64_t vtxid = 0;
    int64_t vused = 0;
    pthread_rwlock_rdlock(&s->dbs_lock);
    for (size_t i = 0; i < s->ndbs; i++) {
        ltxdb *o = s->dbs[i];
        pthread_rwlock_rdlock(&o->lock);
        for (size_t k = 0; k < o->nhists; k++) {
            int64_t u = __atomic_load_n(&o->hists[k]->used_ms, __ATOMIC_RELAXED);
            if (!victim || u < vused) {
                victim = o;
                vtxid = o->hists[k]->txid;
                vused = u;
            }
        }
        pthread_rwlock_unlock(&o->lock);
    }
    pthread_rwlock_unlock(&s->dbs_lock);
    if (!victim)
        return 0;
    hist_ix *h = NULL;
    pthread_rwlock_wrlock(&victim->lock);
    for (size_t k = 0; k < victim->nhists; k++)
        if (victim->hists[k]->txid == vtxid) {
            h = victim->hists[k];
            victim->hists[k] = victim->hists[--victim->nhists];
            break;
        }
    pthread_rwlock_unlock(&victim->lock);
    if (!h)
        return 1; /* dropped meanwhile by someone else: room was made */
    char q[20];
    ltx_format_txid(q, vtxid);
    logf_(LOG_DEBUG, "historical_evicted", "db=%s txid=%s reason=max_historical_total", victim->name, q);
    db_hist_drop(victim, h);
    return 1;
}

/* Build (or find) the historical index for txid. 0 ok, else fills err. */
int db_hist_get(ltxdb *d, uint64_t txid, db_err *err)
{
    pthread_mutex_lock(&d->hist_mu);
    pthread_rwlock_rdlock(&d->lock);
    hist_ix *h = db_hist_find_locked(d, txid);
    pthread_rwlock_unlock(&d->lock);
    if (h) {
        pthread_mutex_unlock(&d->hist_mu);
        return 0;
    }
    int64_t mono = mono_ms();
    for (unsigned i = 0; i < d->ngone && i < 32; i++)
        if (d->gone[i].txid == txid && mono - d->gone[i].at < d->srv->cfg.l1_interval_ms) {
            pthread_mutex_unlock(&d->hist_mu);
            db_set_err(err, DB_E_TXID_GONE, "TXID %016" PRIx64 " can no longer be restored", txid);
            return -1;
        }
    char stall[256], msg[256];
    vindex *x = NULL;
    uint64_t hgen = atomic_load(&d->history_gen);
    int r = db_index_plan(d, txid, &x, stall, sizeof stall, msg, sizeof msg, NULL);
    if (r == PLAN_OK && atomic_load(&d->history_gen) != hgen) {
        /* the history was replaced while this was built: it may hold
         * files of either; never keep it */
        db_live_free(x);
        pthread_mutex_unlock(&d->hist_mu);
        db_set_err(err, DB_E_NOT_READY, "database %s: its history was replaced; ask again", d->name);
        return -1;
    }
    if (r != PLAN_OK) {
        if (r == PLAN_NOT_AVAILABLE || r == PLAN_WAIT) {
            d->gone[d->ngone % 32].txid = txid;
            d->gone[d->ngone % 32].at = mono;
            d->ngone++;
            if (d->ngone >= 64)
                d->ngone = 32; /* keep it bounded, all 32 slots in use */
        }
        pthread_mutex_unlock(&d->hist_mu);
        if (r == PLAN_NOT_AVAILABLE || r == PLAN_WAIT)
            db_set_err(err, DB_E_TXID_GONE, "TXID %016" PRIx64 " can no longer be restored", txid);
        else
            db_set_err(err, r == PLAN_TIMEOUT ? DB_E_STORE_TIMEOUT : DB_E_STORE, "%s", msg);
        return -1;
    }
    atomic_fetch_add(&d->hist_builds, 1);
    h = calloc(1, sizeof *h);
    if (!h) {
        db_live_free(x);
        pthread_mutex_unlock(&d->hist_mu);
        db_set_err(err, DB_E_NOMEM, "out of memory");
        return -1;
    }
    h->txid = txid;
    h->ix = *x;
    free(x);
    h->used_ms = mono_ms();
    /* server-wide bound: make room (holding no database lock here) */
    int total_max = d->srv->cfg.max_historical_total > 0 ? d->srv->cfg.max_historical_total : 1;
    for (int i = 0; i < 64 && atomic_load(&d->srv->hist_total) >= total_max; i++)
        if (!hist_evict_global(d->srv))
            break;
    pthread_rwlock_wrlock(&d->lock);
    if (atomic_load(&d->history_gen) != hgen || !d->live) {
        pthread_rwlock_unlock(&d->lock);
        db_hist_free(h);
        pthread_mutex_unlock(&d->hist_mu);
        db_set_err(err, DB_E_NOT_READY, "database %s: its history was replaced; ask again", d->name);
        return -1;
    }
    int max = d->srv->cfg.max_historical > 0 ? d->srv->cfg.max_historical : 1;
    if ((int)d->nhists >= max) {
        /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < d->nhists; i++)
            if (d->hists[i]->used_ms < d->hists[lru]->used_ms)
                lru = i;
        db_hist_drop(d, d->hists[lru]);
        d->hists[lru] = d->hists[--d->nhists];
    }
    hist_ix **nh = realloc(d->hists, (d->nhists + 1) * sizeof *nh);
    if (nh) {
        d->hists = nh;
        d->hists[d->nhists++] = h;
        atomic_fetch_add(&d->srv->hist_total, 1);
    } else {
        db_hist_free(h);
    }
    pthread_rwlock_unlock(&d->lock);
    pthread_mutex_unlock(&d->hist_mu);
    logf_(LOG_INFO, "historical_index", "db=%s txid=%016" PRIx64, d->name, txid);
    return nh ? 0 : -1;
}

int ltxdb_resolve(ltxdb *d, uint64_t txid, db_snap *out, db_err *err)
{
    if (txid == 0 && demand_wait_latest(d, err))
        return -1; /* a backed-off database did not finish its poll in time */
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&d->lock);
        if (!d->live) {
            int st = d->state;
            pthread_rwlock_unlock(&d->lock);
            db_set_err(err, DB_E_NOT_READY, "database %s is %s: nothing indexed yet", d->name,
                       db_state_name(st));
            return -1;
        }
        const vrec *cur = vindex_current(d->live);
        if (txid == 0) {
            db_snap_of(cur, out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        if (txid > cur->txid) {
            uint64_t c = cur->txid;
            pthread_rwlock_unlock(&d->lock);
            db_set_err(err, DB_E_TXID_AHEAD, "TXID %016" PRIx64 " is newer than %016" PRIx64, txid, c);
            return -1;
        }
        vrec *r = vindex_find(d->live, txid);
        if (r) {
            __atomic_store_n(&r->used_ms, mono_ms(), __ATOMIC_RELAXED);
            db_snap_of(r, out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        hist_ix *h = db_hist_find_locked(d, txid);
        if (h) {
            db_snap_of(vindex_current(&h->ix), out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        pthread_rwlock_unlock(&d->lock);
        if (attempt == 0 && db_hist_get(d, txid, err) != 0)
            return -1;
    }
    db_set_err(err, DB_E_INTERNAL, "historical index vanished");
    return -1;
}

/* On S3 the listing's LastModified is the upload time; Litestream's
 * CreatedAt is the litestream-timestamp metadata, which holds the header
 * timestamp. Use header timestamps, cached per file. Caller holds ts_mu.
 * The cache is rebuilt from each listing (sorted, only files still
 * listed), so it neither fills up with deleted files nor needs a linear
 * scan per file. */
static int ts_cmp(const void *a, const void *b)
{
    const struct tsent *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->min != y->min)
        return x->min < y->min ? -1 : 1;
    return x->max < y->max ? -1 : x->max > y->max;
}

static void s3_created_from_headers(ltxdb *d, ltx_fileinfo *files, size_t nf)
{
    struct tsent *nc = nf ? malloc(nf * sizeof *nc) : NULL;
    size_t nn = 0;
    for (size_t i = 0; i < nf; i++) {
        ltx_fileinfo *f = &files[i];
        struct tsent key = { f->min_txid, f->max_txid, f->level, 0 };
        const struct tsent *hit =
            d->ntscache ? bsearch(&key, d->tscache, d->ntscache, sizeof key, ts_cmp) : NULL;
        if (hit) {
            key.ts = hit->ts;
        } else {
            ltx_header h;
            if (db_index_read_header(d, f, &h) != 0)
                continue;
            key.ts = h.timestamp_ms;
        }
        f->created_ms = key.ts;
        if (nc)
            nc[nn++] = key;
    }
    if (nc || nf == 0) {
        if (nn > 1)
            qsort(nc, nn, sizeof *nc, ts_cmp);
        free(d->tscache);
        d->tscache = nc;
        d->ntscache = nn;
    }
}

int ltxdb_resolve_time(ltxdb *d, int64_t time_ms, db_snap *out, db_err *err)
{
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    if (time_ms <= 0) {
        /* nothing is older than the Unix epoch; and 0 is the restore plan's
         * "no time bound" (the latest), never a time asked for */
        char ts[40];
        timefmt_format_ms(ts, sizeof ts, time_ms);
        db_set_err(err, DB_E_TXID_GONE, "no restorable TXID before %s", ts);
        return -1;
    }
    pthread_mutex_lock(&d->ts_mu);
    /* A listing taken after the target time gives the same answer as a new
     * one (files created later have later timestamps; compactions cover
     * TXIDs that are already listed), so reuse it for an l1 interval. */
    int fresh = d->tfiles_mono && mono_ms() - d->tfiles_mono < d->srv->cfg.l1_interval_ms &&
                time_ms + 1000 < d->tfiles_wall;
    if (!fresh) {
        ltx_fileinfo *files = NULL;
        size_t nf = 0;
        obj_error oe = { 0 };
        int64_t wall = timefmt_now_ms(), mono = mono_ms();
        obj_status st = objstore_list_all(d->store, d->prefix, &files, &nf, &oe);
        if (st != OBJ_OK) {
            pthread_mutex_unlock(&d->ts_mu);
            db_set_err(err, db_store_errcode(st), "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
            return -1;
        }
        if (objstore_is_s3(d->store))
            s3_created_from_headers(d, files, nf);
        free(d->tfiles);
        d->tfiles = files;
        d->ntfiles = nf;
        d->tfiles_mono = mono;
        d->tfiles_wall = wall;
    }
    uint64_t restored = 0;
    ltx_err r = d->ntfiles ? ltx_restore_plan(d->tfiles, d->ntfiles, 0, time_ms, &plan, &pn, &restored, NULL)
                           : LTX_ERR_TX_NOT_AVAILABLE;
    pthread_mutex_unlock(&d->ts_mu);
    free(plan);
    if (r != LTX_OK) {
        char ts[40];
        timefmt_format_ms(ts, sizeof ts, time_ms);
        db_set_err(err, DB_E_TXID_GONE, "no restorable TXID before %s", ts);
        return -1;
    }
    /* never report beyond what this server has indexed */
    uint64_t cur = atomic_load(&d->cur_txid);
    if (cur && restored > cur)
        restored = cur;
    return ltxdb_resolve(d, restored, out, err);
}
