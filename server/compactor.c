/* compactor.c - the lease holder's thread (one per server): for every
 * database whose lease this server holds it renews the lease at TTL/2,
 * runs Litestream's ladder with proto's compactor (level k takes the
 * files of level k-1 above level k's newest TXID and writes them as one
 * file when its window, aligned to the wall clock, comes round), writes a
 * level-9 snapshot every --snapshot-interval, deletes L0 files covered by
 * L1 once older than --l0-retention (always keeping the newest L0),
 * applies --retention to snapshots and L1+ files (proto's
 * ltx_retention_select: nothing goes unless the rest still restores the
 * window), and
 * after writes stayed idle for a while compacts what is left into
 * L1 and releases the lease (--write-idle). File names come from the
 * store's layout. */
#include "write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_write.h"
#include "log.h"
#include "strparse.h"
#include "timefmt.h"

#define COMPACT_MAX_INPUT ((size_t)1 << 30) /* bytes of one input file */
#define COMPACT_MAX_FILES 4096              /* inputs of one compaction */
#define COMPACT_TICK_MS   100

int compactor_parse_intervals(const char *s, int64_t *iv, int *n)
{
    char buf[256];
    if (!s || strlen(s) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t ms = 0;
        while (*t == ' ')
            t++;
        if (*n >= WRITE_MAX_LEVELS || strparse_duration_ms(t, &ms) != 0 || ms < 100 ||
            (*n && ms < iv[*n - 1]))
            return -1;
        iv[(*n)++] = ms;
    }
    return *n > 0 ? 0 : -1;
}

static int64_t compactor_next(int64_t now, int64_t iv) { return (now / iv + 1) * iv; }

void compactor_arm(write_srv *w, write_db *wd, int64_t now)
{
    /* counts as a write: idle is measured from here, not from the last
     * write of an earlier lease (or none) */
    atomic_store(&wd->last_write_ms, now);
    atomic_store(&wd->arm_ms, now);
    pthread_mutex_lock(&w->mu);
    wd->active = 1;
    pthread_mutex_unlock(&w->mu);
}

/* The compactor's side of compactor_arm (caller holds wd->cmu). */
static void compactor_schedule(write_srv *w, write_db *wd)
{
    int64_t now = atomic_exchange(&wd->arm_ms, 0);
    if (!now)
        return;
    for (int k = 0; k < w->nlevels; k++)
        wd->next_level[k + 1] = compactor_next(now, w->intervals[k]);
    wd->next_snapshot = now + w->s->cfg.snapshot_interval_ms;
    wd->next_retention = now + w->intervals[0];
}

static void compactor_log_err(write_db *wd, const char *what, const char *msg)
{
    char q[400];
    logf_(LOG_WARN, "compaction_error", "db=%s step=%s error=%s", wd->name, what, log_q(q, sizeof q, msg));
}

static void compactor_free_bufs(uint8_t **bufs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
}

/* Read the contiguous run of files[0..n) (sorted) starting right after
 * after (0 = anywhere): *nin inputs read. -1 on a store error. */
static int compactor_read_run(write_db *wd, const ltx_fileinfo *files, size_t n, uint64_t after,
                              uint8_t ***bufs, size_t **lens, size_t *nin, uint64_t *min, uint64_t *max)
{
    objstore *st = ltxdb_store(wd->d);
    *nin = 0;
    *bufs = calloc(n ? n : 1, sizeof **bufs);
    *lens = calloc(n ? n : 1, sizeof **lens);
    if (!*bufs || !*lens)
        return -1;
    uint64_t next = after ? after + 1 : 0;
    for (size_t i = 0; i < n && *nin < COMPACT_MAX_FILES; i++) {
        const ltx_fileinfo *f = &files[i];
        if (next && f->min_txid != next)
            break; /* a gap (or an overlap): stop at what is contiguous */
        obj_error oe = { 0 };
        obj_status s = objstore_read_file(st, ltxdb_prefix(wd->d), f, COMPACT_MAX_INPUT, &(*bufs)[*nin],
                                          &(*lens)[*nin], &oe);
        if (s != OBJ_OK) {
            char m[300];
            snprintf(m, sizeof m, "read L%d %016" PRIx64 ": %s", f->level, f->min_txid,
                     oe.msg[0] ? oe.msg : obj_status_str(s));
            compactor_log_err(wd, "read", m);
            return -1;
        }
        if (*nin == 0)
            *min = f->min_txid;
        *max = f->max_txid;
        next = f->max_txid + 1;
        (*nin)++;
    }
    return 0;
}

/* The newest TXID of a level (0 = empty). */
static int compactor_level_max(write_db *wd, int level, uint64_t *max)
{
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    obj_error oe = { 0 };
    if (objstore_list_level(ltxdb_store(wd->d), ltxdb_prefix(wd->d), level, 0, &f, &n, &oe) != OBJ_OK) {
        compactor_log_err(wd, "list", oe.msg);
        return -1;
    }
    *max = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].max_txid > *max)
            *max = f[i].max_txid;
    free(f);
    return 0;
}

/* Level dst from the files of level dst-1 above dst's newest TXID. */
static void compactor_level(write_db *wd, int dst)
{
    uint64_t top = 0;
    if (compactor_level_max(wd, dst, &top) != 0)
        return;
    ltx_fileinfo *files = NULL;
    size_t n = 0;
    obj_error oe = { 0 };
    if (objstore_list_level(ltxdb_store(wd->d), ltxdb_prefix(wd->d), dst - 1, top + 1, &files, &n, &oe) !=
        OBJ_OK) {
        compactor_log_err(wd, "list", oe.msg);
        return;
    }
    uint8_t **bufs = NULL;
    size_t *lens = NULL, nin = 0, len = 0, npages = 0;
    uint64_t min = 0, max = 0;
    if (n == 0 || compactor_read_run(wd, files, n, top, &bufs, &lens, &nin, &min, &max) != 0 || nin == 0)
        goto out;
    uint8_t *buf = NULL;
    ltx_header oh;
    ltx_error le = { 0 };
    ltx_err r = ltx_compact((const uint8_t *const *)bufs, lens, nin, &buf, &len, &oh, &npages, &le);
    if (r != LTX_OK) {
        compactor_log_err(wd, "compact", le.msg[0] ? le.msg : ltx_strerror(r));
        goto out;
    }
    obj_status s = objstore_publish_file(ltxdb_store(wd->d), ltxdb_prefix(wd->d), dst, min, max, buf, len,
                                         oh.timestamp_ms, NULL, &oe);
    free(buf);
    if (s == OBJ_OK)
        logf_(LOG_INFO, "compacted",
              "db=%s level=%d min=%016" PRIx64 " max=%016" PRIx64 " inputs=%zu pages=%zu "
              "bytes=%zu",
              wd->name, dst, min, max, nin, npages, len);
    else if (s != OBJ_EXISTS)
        compactor_log_err(wd, "publish", oe.msg[0] ? oe.msg : obj_status_str(s));
out:
    if (bufs)
        compactor_free_bufs(bufs, nin);
    free(lens);
    free(files);
}

/* A level-9 snapshot of the latest state, unless one is there already. */
static void compactor_snapshot(write_db *wd)
{
    ltx_pagemap pm;
    uint64_t reached = 0;
    ltx_header last;
    char msg[256] = "";
    objstore *st = ltxdb_store(wd->d);
    if (write_state_build(st, ltxdb_prefix(wd->d), 0, &pm, &reached, &last, msg, sizeof msg) != 0) {
        compactor_log_err(wd, "snapshot", msg);
        return;
    }
    uint64_t top = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (compactor_level_max(wd, LTX_SNAPSHOT_LEVEL, &top) == 0 && top < reached &&
        write_state_snapshot(&pm, 1, reached, last.timestamp_ms, &buf, &len, msg, sizeof msg) == 0) {
        obj_error oe = { 0 };
        obj_status s = objstore_publish_file(st, ltxdb_prefix(wd->d), LTX_SNAPSHOT_LEVEL, 1, reached, buf,
                                             len, last.timestamp_ms, NULL, &oe);
        if (s == OBJ_OK)
            logf_(LOG_INFO, "snapshot", "db=%s txid=%016" PRIx64 " commit=%u bytes=%zu", wd->name, reached,
                  pm.commit, len);
        else if (s != OBJ_EXISTS)
            compactor_log_err(wd, "snapshot", oe.msg[0] ? oe.msg : obj_status_str(s));
    } else if (msg[0]) {
        compactor_log_err(wd, "snapshot", msg);
    }
    free(buf);
    ltx_pagemap_free(&pm);
}

/* Delete L0 files covered by L1 and older than retention; the newest L0
 * file stays. */
static void compactor_retain_l0(write_db *wd, int64_t retention_ms, int64_t now)
{
    uint64_t l1 = 0;
    if (compactor_level_max(wd, 1, &l1) != 0 || l1 == 0)
        return;
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    obj_error oe = { 0 };
    objstore *st = ltxdb_store(wd->d);
    if (objstore_list_level(st, ltxdb_prefix(wd->d), 0, 0, &f, &n, &oe) != OBJ_OK) {
        compactor_log_err(wd, "list", oe.msg);
        return;
    }
    size_t deleted = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (f[i].max_txid > l1 || f[i].created_ms > now - retention_ms)
            break;
        obj_error de = { 0 };
        obj_status s = objstore_delete_file(st, ltxdb_prefix(wd->d), &f[i], &de);
        if (s != OBJ_OK) {
            compactor_log_err(wd, "retention", de.msg[0] ? de.msg : obj_status_str(s));
            break;
        }
        deleted++;
    }
    if (deleted)
        logf_(LOG_INFO, "l0_retention", "db=%s deleted=%zu below=%016" PRIx64, wd->name, deleted, l1 + 1);
    free(f);
}

/* --retention: snapshots older than the one kept at the window's start and
 * the L1+ files they make redundant; nothing without a snapshot, nothing
 * unless restore plans over the rest still reach the window (proto). A
 * reader whose index uses a deleted file re-plans; one pinned below the
 * floor gets 410. */
static void compactor_retain_levels(write_db *wd, int64_t retention_ms, int64_t now)
{
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    obj_error oe = { 0 };
    objstore *st = ltxdb_store(wd->d);
    if (objstore_list_all(st, ltxdb_prefix(wd->d), &f, &n, &oe) != OBJ_OK) {
        compactor_log_err(wd, "list", oe.msg);
        return;
    }
    uint8_t *del = calloc(n ? n : 1, 1);
    uint64_t floor = 0;
    int k = del ? ltx_retention_select(f, n, now - retention_ms, del, &floor) : 0;
    if (k < 0)
        compactor_log_err(wd, "retention", "the files left would not restore the window; nothing deleted");
    size_t deleted = 0;
    /* level files first, snapshots last: every step leaves a superset */
    for (int pass = 0; pass < 2 && k > 0; pass++)
        for (size_t i = 0; i < n; i++) {
            if (!del[i] || (f[i].level == LTX_SNAPSHOT_LEVEL) != pass)
                continue;
            obj_error de = { 0 };
            obj_status s = objstore_delete_file(st, ltxdb_prefix(wd->d), &f[i], &de);
            if (s != OBJ_OK && s != OBJ_NOT_FOUND) {
                compactor_log_err(wd, "retention", de.msg[0] ? de.msg : obj_status_str(s));
                pass = 2;
                break;
            }
            deleted++;
        }
    if (deleted)
        logf_(LOG_INFO, "retention", "db=%s deleted=%zu floor=%016" PRIx64, wd->name, deleted, floor);
    free(del);
    free(f);
}

static int compactor_stopping(write_srv *w)
{
    pthread_mutex_lock(&w->mu);
    int st = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* One database's due work. */
static void compactor_step(write_srv *w, write_db *wd, int64_t now)
{
    obj_error oe = { 0 };
    if (lease_renew_due(wd->ls, &oe) == LEASE_HELD) {
        pthread_mutex_lock(&w->mu);
        wd->active = 0;
        pthread_mutex_unlock(&w->mu);
        return;
    }
    lease_info li;
    if (!lease_peek(wd->ls, &li) || li.expires_ms - now < 2000)
        return; /* not ours for long enough to start anything */
    pthread_mutex_lock(&wd->cmu);
    compactor_schedule(w, wd);
    int64_t idle_ms = w->s->cfg.write_idle_ms > 0 ? w->s->cfg.write_idle_ms : 2 * LEASE_TTL_MS;
    int idle = now - atomic_load(&wd->last_write_ms) > idle_ms;
    for (int k = 1; k <= w->nlevels && !compactor_stopping(w); k++)
        if (now >= wd->next_level[k] || (idle && k == 1)) {
            compactor_level(wd, k);
            wd->next_level[k] = compactor_next(now, w->intervals[k - 1]);
        }
    if (now >= wd->next_snapshot && !compactor_stopping(w)) {
        compactor_snapshot(wd);
        wd->next_snapshot = now + w->s->cfg.snapshot_interval_ms;
    }
    if (now >= wd->next_retention && !compactor_stopping(w)) {
        compactor_retain_l0(wd, w->s->cfg.l0_retention_ms, now);
        compactor_retain_levels(wd, w->s->cfg.retention_ms, now);
        wd->next_retention = now + w->intervals[0];
    }
    pthread_mutex_unlock(&wd->cmu);
    if (idle && !compactor_stopping(w)) {
        lease_release(wd->ls);
        pthread_mutex_lock(&w->mu);
        wd->active = 0;
        pthread_mutex_unlock(&w->mu);
    }
}

static void *compactor_main(void *arg)
{
    write_srv *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += COMPACT_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        /* the list only grows while running and entries stay until
         * write_free: walk it without the lock */
        write_db *head = w->dbs;
        pthread_mutex_unlock(&w->mu);
        for (write_db *wd = head; wd; wd = wd->next) {
            pthread_mutex_lock(&w->mu);
            int go = wd->active && !w->stopping;
            pthread_mutex_unlock(&w->mu);
            if (go)
                compactor_step(w, wd, timefmt_now_ms());
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int compactor_start(write_srv *w)
{
    if (pthread_create(&w->thr, NULL, compactor_main, w) != 0)
        return -1;
    w->thr_started = 1;
    return 0;
}

void compactor_stop(write_srv *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->thr_started) {
        pthread_join(w->thr, NULL);
        w->thr_started = 0;
    }
}
