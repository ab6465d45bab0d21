/* db.c - the database object: lifecycle, state, errors, snapshots of the
 * live index, the /changes list. */
#include "db_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *db_state_name(int st)
{
    switch (st) {
    case DB_WAITING: return "waiting";
    case DB_OK: return "ok";
    case DB_STALLED: return "stalled";
    case DB_DEGRADED: return "degraded";
    default: return "error";
    }
}

const char *db_errcode_name(db_errcode c)
{
    switch (c) {
    case DB_E_NONE: return "none";
    case DB_E_NOT_READY: return "not_ready";
    case DB_E_TXID_AHEAD: return "txid_ahead";
    case DB_E_TXID_GONE: return "txid_gone";
    case DB_E_PAGE_RANGE: return "page_range";
    case DB_E_STORE: return "store";
    case DB_E_STORE_TIMEOUT: return "store_timeout";
    case DB_E_NOMEM: return "nomem";
    case DB_E_INTERNAL: return "internal";
    default: return "unknown";
    }
}

db_errcode db_store_errcode(obj_status st) { return st == OBJ_ERR_TIMEOUT ? DB_E_STORE_TIMEOUT : DB_E_STORE; }

void db_page_msg(char *out, size_t outlen, uint32_t pgno, const char *msg)
{
    char pre[24];
    int n = snprintf(pre, sizeof pre, "page %u:", pgno);
    if (strncmp(msg, pre, (size_t)n) == 0)
        db_msgf(out, outlen, "%s", msg);
    else
        db_msgf(out, outlen, "page %u: %s", pgno, msg);
}

void db_msgf(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
}

obj_status db_list_all(ltxdb *d, ltx_fileinfo **files, size_t *nf, char *msg, size_t msglen)
{
    *files = NULL;
    *nf = 0;
    obj_error oe = { 0 };
    obj_status st = objstore_list_all(d->store, d->prefix, files, nf, &oe);
    if (st != OBJ_OK)
        db_msgf(msg, msglen, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
    return st;
}

void db_set_err(db_err *e, db_errcode code, const char *fmt, ...)
{
    if (!e)
        return;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

ltxdb *ltxdb_new(srv *s, const char *name, objstore *store, const char *prefix, const char *url)
{
    ltxdb *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->srv = s;
    d->name = strdup(name);
    d->prefix = strdup(prefix);
    d->url = strdup(url);
    if (!d->name || !d->prefix || !d->url) {
        free(d->name);
        free(d->prefix);
        free(d->url);
        free(d);
        return NULL;
    }
    d->store = store;
    d->uid = atomic_fetch_add(&s->next_uid, 1) + 1;
    pthread_rwlock_init(&d->lock, NULL);
    pthread_mutex_init(&d->update, NULL);
    pthread_mutex_init(&d->hist_mu, NULL);
    pthread_mutex_init(&d->ts_mu, NULL);
    pthread_mutex_init(&d->vset_mu, NULL);
    d->state = DB_WAITING;
    d->last_poll_ok_ms = -1;
    d->last_store_ok_ms = -1;
    d->last_build_ms = -1;
    /* bench only: the unverified trailer-only start of before, to measure
     * what verification costs. Never for serving: logged as an error and
     * shown in the status. */
    const char *to = getenv("LTXPAGED_TRAILER_ONLY");
    d->trailer_only = to && strcmp(to, "unverified-bench") == 0;
    if (d->trailer_only)
        logf_(LOG_ERROR, "verification_disabled",
              "db=%s reason=\"LTXPAGED_TRAILER_ONLY=unverified-bench: plan files "
              "are served without their checksum checked (benchmarks only)\"",
              name);
    const char *wm = getenv("LTXPAGED_WARM"); /* tests only: 0 = verification leaves the cache cold */
    d->no_warm = wm && strcmp(wm, "0") == 0;
    return d;
}

void db_live_free(vindex *x)
{
    if (x) {
        vindex_free(x);
        free(x);
    }
}

void ltxdb_free(ltxdb *d)
{
    if (!d)
        return;
    db_live_free(d->live);
    for (size_t i = 0; i < d->nhists; i++)
        db_hist_drop(d, d->hists[i]);
    free(d->hists);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->update);
    pthread_mutex_destroy(&d->hist_mu);
    pthread_mutex_destroy(&d->ts_mu);
    pthread_mutex_destroy(&d->vset_mu);
    free(d->good);
    free(d->bad);
    free(d->tscache);
    free(d->tfiles);
    free(d->name);
    free(d->prefix);
    free(d->url);
    free(d);
}

const char *ltxdb_name(const ltxdb *d) { return d->name; }
int64_t ltxdb_next_poll(const ltxdb *d) { return d->next_poll; }
uint64_t ltxdb_current_txid(const ltxdb *d) { return atomic_load(&((ltxdb *)d)->cur_txid); }
uint64_t ltxdb_history_gen(const ltxdb *d) { return atomic_load(&((ltxdb *)d)->history_gen); }

int ltxdb_initialized(const ltxdb *d)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&d->lock);
    int v = d->initialized;
    pthread_rwlock_unlock((pthread_rwlock_t *)&d->lock);
    return v;
}

int db_state_locked(const ltxdb *d, int64_t now)
{
    int st = d->state;
    if (!d->live || st == DB_WAITING)
        return st;
    int64_t thr = 3 * d->srv->cfg.poll_ms;
    if (thr < DB_DEGRADED_MIN_MS)
        thr = DB_DEGRADED_MIN_MS;
    /* a silent store is one a poll waits on (since the poll began or the
     * store last answered, whichever is later, unless polls are already
     * failing), or one whose last poll failed: a
     * backed-off database nobody reads, or a poller running late, has not
     * asked the store anything and is not degraded */
    int polling = atomic_load(&d->dm.started) != atomic_load(&d->dm.done);
    int64_t since = d->last_store_ok_ms;
    int64_t began = atomic_load(&((ltxdb *)d)->dm.started_ms);
    if (polling && d->consec_fail == 0 && began > since)
        since = began; /* after a success or a quiet back-off: count from the poll's start */
    if (d->consec_fail >= DB_DEGRADED_POLLS ||
        ((polling || d->consec_fail > 0) && since >= 0 && now - since > thr))
        return DB_DEGRADED;
    return st;
}

int ltxdb_state(const ltxdb *d)
{
    int64_t now = timefmt_now_ms();
    pthread_rwlock_rdlock((pthread_rwlock_t *)&d->lock);
    int v = db_state_locked(d, now);
    pthread_rwlock_unlock((pthread_rwlock_t *)&d->lock);
    return v;
}

int db_base_state(ltxdb *d)
{
    pthread_rwlock_rdlock(&d->lock);
    int v = d->state;
    pthread_rwlock_unlock(&d->lock);
    return v;
}

int ltxdb_ready(ltxdb *d, db_err *err)
{
    pthread_rwlock_rdlock(&d->lock);
    int ok = d->live != NULL && !atomic_load(&d->removed);
    int st = d->state;
    pthread_rwlock_unlock(&d->lock);
    if (!ok) {
        uint64_t done = atomic_load(&d->vfy_files_done), total = atomic_load(&d->vfy_files_total);
        if (atomic_load(&d->building) && total)
            db_set_err(err, DB_E_NOT_READY,
                       "database %s is %s: first index building (%" PRIu64 " of %" PRIu64 " files verified)",
                       d->name, db_state_name(st), done, total);
        else
            db_set_err(err, DB_E_NOT_READY, "database %s is %s: nothing indexed yet", d->name,
                       db_state_name(st));
    }
    return ok;
}

void db_store_answered(ltxdb *d) { d->last_store_ok_ms = timefmt_now_ms(); }

void db_forget_history_caches(ltxdb *d)
{
    pthread_mutex_lock(&d->hist_mu);
    d->ngone = 0;
    pthread_mutex_unlock(&d->hist_mu);
    pthread_mutex_lock(&d->ts_mu);
    free(d->tfiles);
    d->tfiles = NULL;
    d->ntfiles = 0;
    d->tfiles_mono = 0;
    pthread_mutex_unlock(&d->ts_mu);
}

void db_drop_history(ltxdb *d, const char *why)
{
    pthread_rwlock_wrlock(&d->lock);
    vindex *old = d->live;
    hist_ix **hs = d->hists;
    size_t nh = d->nhists;
    d->live = NULL;
    d->hists = NULL;
    d->nhists = 0;
    d->uid = atomic_fetch_add(&d->srv->next_uid, 1) + 1;
    d->recent_n = 0;
    d->gen++;
    d->last_poll_ok_ms = -1;
    d->last_store_ok_ms = -1;
    d->consec_fail = 0;
    atomic_store(&d->cur_txid, 0);
    atomic_fetch_add(&d->history_gen, 1);
    pthread_rwlock_unlock(&d->lock);
    db_live_free(old);
    for (size_t i = 0; i < nh; i++)
        db_hist_drop(d, hs[i]);
    free(hs);
    db_verify_forget_all(d);
    db_forget_history_caches(d);
    db_set_state(d, DB_WAITING, why);
    db_record_error(d, "replica_removed", why);
    if (d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d); /* wake long-polls: they answer reset or not ready */
}

void db_record_error(ltxdb *d, const char *event, const char *msg)
{
    char q[600];
    /* last_error is the current error with its time; the same error on
     * every poll is logged once a minute */
    int64_t now = timefmt_now_ms();
    pthread_rwlock_wrlock(&d->lock);
    int repeat = strcmp(d->last_error, msg) == 0 && now - d->last_logged_ms < 60000;
    snprintf(d->last_error, sizeof d->last_error, "%s", msg);
    d->last_error_ms = now;
    if (!repeat)
        d->last_logged_ms = now;
    pthread_rwlock_unlock(&d->lock);
    if (repeat)
        logf_(LOG_DEBUG, event, "db=%s repeated=1 error=%s", d->name, log_q(q, sizeof q, msg));
    else
        logf_(LOG_ERROR, event, "db=%s error=%s", d->name, log_q(q, sizeof q, msg));
}

int db_gap_msg(char *why, size_t whylen, uint64_t pos, const ltx_fileinfo *f, size_t n)
{
    uint64_t next_min = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].min_txid > pos + 1 && (!next_min || f[i].min_txid < next_min))
            next_min = f[i].min_txid;
    if (!next_min)
        return 0;
    db_msgf(why, whylen, "gap: TXID %016" PRIx64 " is in no file; the next file starts at %016" PRIx64,
            pos + 1, next_min);
    return 1;
}

int db_set_state_locked(ltxdb *d, int st, const char *reason)
{
    int old = d->state;
    d->state = st;
    if (st == DB_STALLED)
        d->stall_txid = atomic_load(&d->cur_txid);
    if (st == DB_STALLED && reason)
        snprintf(d->stall_reason, sizeof d->stall_reason, "%s", reason);
    else if (st != DB_STALLED)
        d->stall_reason[0] = 0;
    return old;
}

void db_log_state(const ltxdb *d, int old, int st, const char *reason)
{
    if (old == st)
        return;
    char q[600];
    logf_(st == DB_STALLED ? LOG_WARN : LOG_INFO, "db_state", "db=%s state=%s from=%s reason=%s", d->name,
          db_state_name(st), db_state_name(old), log_q(q, sizeof q, reason ? reason : ""));
}

void db_set_state(ltxdb *d, int st, const char *reason)
{
    pthread_rwlock_wrlock(&d->lock);
    int old = db_set_state_locked(d, st, reason);
    pthread_rwlock_unlock(&d->lock);
    db_log_state(d, old, st, reason);
}

void db_update_levels(ltxdb *d, const ltx_fileinfo *f, size_t n)
{
    pthread_rwlock_wrlock(&d->lock);
    memset(d->levels, 0, sizeof d->levels);
    for (size_t i = 0; i < n; i++) {
        if (f[i].level < 0 || f[i].level >= NLEVELS)
            continue;
        d->levels[f[i].level].files++;
        if (f[i].max_txid > d->levels[f[i].level].max_txid)
            d->levels[f[i].level].max_txid = f[i].max_txid;
    }
    pthread_rwlock_unlock(&d->lock);
}

void db_snap_of(const vrec *r, db_snap *s)
{
    s->txid = r->txid;
    s->commit = r->commit;
    s->page_size = r->page_size;
    s->ts_ms = r->ts_ms;
}

/* ---- changes ------------------------------------------------------------ */

int ltxdb_changes(ltxdb *d, uint64_t since, db_snap *snap, int *reset, uint32_t **pages, size_t *npages,
                  db_err *err)
{
    *reset = 0;
    *pages = NULL;
    *npages = 0;
    if (demand_wait_latest(d, err))
        return -1; /* a backed-off database did not finish its poll in time */
    pthread_rwlock_rdlock(&d->lock);
    if (!d->live) {
        pthread_rwlock_unlock(&d->lock);
        db_set_err(err, DB_E_NOT_READY, "database %s: nothing indexed yet", d->name);
        return -1;
    }
    const vrec *cur = vindex_current(d->live);
    db_snap_of(cur, snap);
    if (since > cur->txid) {
        pthread_rwlock_unlock(&d->lock);
        db_set_err(err, DB_E_TXID_AHEAD, "since %016" PRIx64 " is newer than %016" PRIx64, since, snap->txid);
        return -1;
    }
    int r = vindex_changes(d->live, since, pages, npages);
    pthread_rwlock_unlock(&d->lock);
    if (r == VX_NOT_LIVE) {
        *reset = 1;
        return 0;
    }
    if (r != VX_OK) {
        db_set_err(err, DB_E_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

int ltxdb_removed(const ltxdb *d) { return atomic_load(&((ltxdb *)d)->removed); }

void ltxdb_readd(ltxdb *d)
{
    pthread_mutex_lock(&d->update);
    if (atomic_load(&d->removed)) {
        atomic_store(&d->removed, 0);
        d->next_poll = 0;
        logf_(LOG_INFO, "db_readded", "db=%s", d->name);
    }
    pthread_mutex_unlock(&d->update);
}

int ltxdb_creator_hold(ltxdb *d)
{
    pthread_mutex_lock(&d->update);
    d->creators++;
    int removed = atomic_load(&d->removed);
    pthread_mutex_unlock(&d->update);
    return removed;
}

void ltxdb_creator_release(ltxdb *d)
{
    pthread_mutex_lock(&d->update);
    d->creators--;
    pthread_mutex_unlock(&d->update);
}

int ltxdb_remove_if_empty(ltxdb *d, uint64_t seq0)
{
    uint64_t w0 = atomic_load(&d->write_locks);
    if (w0 & 1)
        return 0; /* a write in progress: its file may not be listed yet */
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = { 0 };
    /* under the update lock: a write creating the database (it publishes
     * TXID 1 under this lock) is either not begun or fully listed */
    pthread_mutex_lock(&d->update);
    obj_status st = objstore_list_all(d->store, d->prefix, &files, &nf, &oe);
    pthread_mutex_unlock(&d->update);
    free(files);
    if (st != OBJ_OK || nf != 0)
        return 0;
    int done = 0;
    pthread_mutex_lock(&d->update);
    if (!atomic_load(&d->removed) && !d->creators && atomic_load(&d->write_locks) == w0 &&
        atomic_load(&d->added_seq) <= seq0) {
        atomic_store(&d->removed, 1);
        if (d->live)
            db_drop_history(d, "the database folder was removed from the replica");
        logf_(LOG_INFO, "db_removed", "db=%s", d->name);
        done = 1;
    }
    pthread_mutex_unlock(&d->update);
    return done;
}

objstore *ltxdb_store(const ltxdb *d) { return d->store; }
const char *ltxdb_prefix(const ltxdb *d) { return d->prefix; }

uint64_t ltxdb_added_seq(const ltxdb *d) { return atomic_load(&((ltxdb *)d)->added_seq); }

void ltxdb_set_added_seq(ltxdb *d, uint64_t seq) { atomic_store(&d->added_seq, seq); }
