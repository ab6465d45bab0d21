/* db.c - per-database tracker: plan, poll, versioned index, PITR, reads. */
#include "db.h"

#include <stdarg.h>

/* Messages are deliberately truncated to their buffers. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ltx.h"
#include "vindex.h"
#include "wire.h"

#define TAIL_BYTES (32 * 1024)
#define NLEVELS (LTX_MAX_LEVEL + 1)

typedef struct {
    uint64_t txid;
    vindex ix;
    int64_t used_ms;           /* atomic access */
} hist_ix;

struct ltxdb {
    srv *srv;
    char *name;
    char *prefix;              /* db argument to objstore ("" for --db) */
    char *url;
    objstore *store;           /* not owned */
    /* Cache namespace of this database's pages (pc_key.db). Replaced when
     * the replica's history starts over (it went back): the new history
     * reuses file names (level, min, max) with other bytes, so pages cached
     * under the old namespace must never be found again. Written under the
     * write lock (by a holder of `update`); read under the read lock or by
     * the poller. */
    uint64_t uid;
    /* The files that brought the last TXIDs, as listed when they were used
     * (size included): the same name with another size later means the
     * replica's history was replaced (files are immutable within one). */
    ltx_fileinfo recent[16];   /* under lock: the last files applied (ring), newest at recent_n-1 */
    unsigned recent_n;
    ltx_fileinfo plan_last;    /* last file of the latest plan built (holder of update) */
    int force_new_uid;         /* holder of update: next install starts a new cache namespace */

    pthread_rwlock_t lock;     /* guards live, hists, state text, levels */
    pthread_mutex_t update;    /* serializes writers: poll, replan */
    pthread_mutex_t hist_mu;   /* serializes historical builds */

    vindex *live;              /* NULL until the first plan is indexed */
    uint64_t gen;              /* bumped on every rebuild */
    hist_ix **hists;
    size_t nhists;
    /* TXIDs found not restorable recently (under hist_mu): answered 410
     * without listing the bucket again for an l1 interval */
    struct {
        uint64_t txid;
        int64_t at;
    } gone[32];
    unsigned ngone;

    int state;
    int initialized;
    char last_error[256];
    int64_t last_error_ms;
    char stall_reason[256];
    int64_t last_poll_ok_ms;   /* wall clock */
    int64_t next_poll;         /* mono */
    int64_t next_levels;       /* mono */
    int64_t next_bridge;       /* mono: while stalled, retry bridging this often */
    struct {
        uint64_t files, max_txid;
    } levels[NLEVELS];

    /* ?time= resolution (under ts_mu): the last listing of every level,
     * reused for an l1 interval for targets before it was taken, and on S3
     * the header timestamps of the files in it (CreatedAt), sorted */
    pthread_mutex_t ts_mu;
    ltx_fileinfo *tfiles;
    size_t ntfiles;
    int64_t tfiles_mono, tfiles_wall;
    struct tsent {
        uint64_t min, max;
        int level;
        int64_t ts;
    } *tscache;
    size_t ntscache;

    atomic_uint_fast64_t cur_txid;
    atomic_uint_fast64_t history_gen;
    atomic_uint_fast64_t pages_served, polls, poll_errors, files_applied, replans, hist_builds;
};

const char *db_state_name(int st)
{
    switch (st) {
    case DB_WAITING: return "waiting";
    case DB_OK: return "ok";
    case DB_STALLED: return "stalled";
    default: return "error";
    }
}

static void set_err(db_err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(db_err *e, int status, const char *code, const char *fmt, ...)
{
    if (!e)
        return;
    e->status = status;
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
    d->state = DB_WAITING;
    d->last_poll_ok_ms = -1;
    return d;
}

static void hist_free(hist_ix *h)
{
    if (!h)
        return;
    vindex_free(&h->ix);
    free(h);
}

/* Free a historical index that was counted in srv.hist_total. */
static void hist_drop(ltxdb *d, hist_ix *h)
{
    if (!h)
        return;
    atomic_fetch_sub(&d->srv->hist_total, 1);
    hist_free(h);
}

static void live_free(vindex *x)
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
    live_free(d->live);
    for (size_t i = 0; i < d->nhists; i++)
        hist_drop(d, d->hists[i]);
    free(d->hists);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->update);
    pthread_mutex_destroy(&d->hist_mu);
    pthread_mutex_destroy(&d->ts_mu);
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

int ltxdb_state(const ltxdb *d)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&d->lock);
    int v = d->state;
    pthread_rwlock_unlock((pthread_rwlock_t *)&d->lock);
    return v;
}

static void record_error(ltxdb *d, const char *event, const char *msg)
{
    char q[600];
    /* the same error on every poll is logged once a minute */
    pthread_rwlock_rdlock(&d->lock);
    int repeat = strcmp(d->last_error, msg) == 0 && now_ms() - d->last_error_ms < 60000;
    pthread_rwlock_unlock(&d->lock);
    if (repeat) {
        logf_(LOG_DEBUG, event, "db=%s repeated=1 error=%s", d->name, log_q(q, sizeof q, msg));
        return;
    }
    logf_(LOG_ERROR, event, "db=%s error=%s", d->name, log_q(q, sizeof q, msg));
    pthread_rwlock_wrlock(&d->lock);
    snprintf(d->last_error, sizeof d->last_error, "%s", msg);
    d->last_error_ms = now_ms();
    pthread_rwlock_unlock(&d->lock);
}

static void set_state(ltxdb *d, int st, const char *reason)
{
    pthread_rwlock_wrlock(&d->lock);
    int old = d->state;
    d->state = st;
    if (st == DB_STALLED && reason)
        snprintf(d->stall_reason, sizeof d->stall_reason, "%s", reason);
    else if (st != DB_STALLED)
        d->stall_reason[0] = 0;
    pthread_rwlock_unlock(&d->lock);
    if (old != st) {
        char q[600];
        logf_(st == DB_STALLED ? LOG_WARN : LOG_INFO, "db_state", "db=%s state=%s from=%s reason=%s",
              d->name, db_state_name(st), db_state_name(old), log_q(q, sizeof q, reason ? reason : ""));
    }
}

static void update_levels(ltxdb *d, const ltx_fileinfo *f, size_t n)
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

/* ---- indexing one file from its tail --------------------------------- */

enum { IX_OK = 0, IX_GONE = 1, IX_STORE = 2, IX_CORRUPT = 3, IX_NOMEM = 4 };

typedef struct {
    ltx_header hdr;
    ltx_index_entry *ents;
    size_t n;
} file_ix;

/* Page index from the trailer (one tail read, a second range read only if
 * the index is longer) and the header (in the tail for small files, else
 * one 100-byte read). */
static int index_file(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    uint8_t *tail = malloc(TAIL_BYTES);
    if (!tail)
        return IX_NOMEM;
    obj_error oe = {0};
    size_t got = 0;
    char fname[64];
    ltx_fileinfo_format(fname, sizeof fname, f);
    obj_status st = objstore_read_tail(d->store, d->prefix, f, TAIL_BYTES, tail, &got, &oe);
    if (st != OBJ_OK) {
        free(tail);
        snprintf(msg, msglen, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
        return st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
    }
    ltx_error le = {0};
    uint64_t idx_off = 0, idx_len = 0;
    uint64_t tail_start = f->size - got;
    int rc = IX_OK;
    uint8_t *ibuf = NULL;
    if (ltx_index_locate(tail, got, f->size, &idx_off, &idx_len, &le) != LTX_OK) {
        snprintf(msg, msglen, "%s: page index: %s", fname, le.msg[0] ? le.msg : "invalid");
        rc = IX_CORRUPT;
        goto done;
    }
    const uint8_t *ip;
    if (idx_off >= tail_start) {
        ip = tail + (idx_off - tail_start);
    } else {
        if (idx_len > (uint64_t)64 << 20) {
            snprintf(msg, msglen, "%s: page index too long (%" PRIu64 " bytes)", fname, idx_len);
            rc = IX_CORRUPT;
            goto done;
        }
        ibuf = malloc(idx_len ? idx_len : 1);
        if (!ibuf) {
            rc = IX_NOMEM;
            goto done;
        }
        st = objstore_read_range(d->store, d->prefix, f, idx_off, idx_len, ibuf, &oe);
        if (st != OBJ_OK) {
            snprintf(msg, msglen, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
            rc = st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
            goto done;
        }
        ip = ibuf;
    }
    uint8_t hbuf[LTX_HEADER_SIZE];
    const uint8_t *hp;
    if (tail_start == 0 && got >= LTX_HEADER_SIZE) {
        hp = tail;
    } else {
        st = objstore_read_range(d->store, d->prefix, f, 0, LTX_HEADER_SIZE, hbuf, &oe);
        if (st != OBJ_OK) {
            snprintf(msg, msglen, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
            rc = st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
            goto done;
        }
        hp = hbuf;
    }
    if (ltx_header_decode(hp, LTX_HEADER_SIZE, &out->hdr, &le) != LTX_OK) {
        snprintf(msg, msglen, "%s: header: %s", fname, le.msg[0] ? le.msg : "invalid");
        rc = IX_CORRUPT;
        goto done;
    }
    if (out->hdr.min_txid != f->min_txid || out->hdr.max_txid != f->max_txid) {
        snprintf(msg, msglen, "%s: header TXIDs do not match the file name", fname);
        rc = IX_CORRUPT;
        goto done;
    }
    if (ltx_index_decode(ip, idx_len, idx_off, out->hdr.page_size, out->hdr.commit, &out->ents,
                         &out->n, &le) != LTX_OK) {
        snprintf(msg, msglen, "%s: page index: %s", fname, le.msg[0] ? le.msg : "invalid");
        rc = IX_CORRUPT;
        goto done;
    }
done:
    free(ibuf);
    free(tail);
    return rc;
}

/* Tail reads are latency-bound on S3, so a build reads up to
 * cfg.index_fetch_concurrency files at once. Workers claim plan positions
 * in order from a shared counter, at most IX_WINDOW(conc) ahead of the
 * merge, and leave each decoded index in a ring slot; the caller merges
 * the slots strictly in plan order, so the result, the error reported and
 * *bad are the same as reading one file after another (files after a
 * failing one may have been read; their results are dropped). */
#define IX_MSG 512

typedef struct {
    file_ix fx;
    size_t idx; /* plan position held, valid when done */
    int rc;
    int done;
    char msg[IX_MSG];
} ix_slot;

typedef struct {
    ltxdb *d;
    const ltx_fileinfo *plan;
    size_t n;
    ix_slot *slots;
    size_t window; /* ring size: positions in flight or waiting to be merged */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;   /* next plan position to claim */
    size_t merged; /* positions below this are merged and their slots free */
    int stop;
} ix_pool;

static void *ix_worker(void *arg)
{
    ix_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->n && p->next >= p->merged + p->window)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        ix_slot *s = &p->slots[i % p->window];
        s->msg[0] = 0;
        int rc = index_file(p->d, &p->plan[i], &s->fx, s->msg, sizeof s->msg);
        pthread_mutex_lock(&p->mu);
        s->idx = i;
        s->rc = rc;
        s->done = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Build a fresh index from a restore plan. On failure *bad is the plan
 * position of the file that failed. */
static int build_from_plan(ltxdb *d, const ltx_fileinfo *plan, size_t n, vindex *x, size_t *bad,
                           char *msg, size_t msglen)
{
    vindex_init(x);
    uint32_t page_size = 0, commit = 0;
    int64_t ts = 0;
    int conc = d->srv->cfg.index_fetch_concurrency;
    if (conc < 1)
        conc = 1;
    size_t nthreads = (size_t)conc < n ? (size_t)conc : n;
    ix_pool p;
    memset(&p, 0, sizeof p);
    pthread_t th[256];
    size_t started = 0;
    if (nthreads > sizeof th / sizeof th[0])
        nthreads = sizeof th / sizeof th[0];
    if (nthreads > 1) {
        p.d = d;
        p.plan = plan;
        p.n = n;
        p.window = 2 * nthreads;
        p.slots = calloc(p.window, sizeof *p.slots);
        if (p.slots && pthread_mutex_init(&p.mu, NULL) == 0) {
            if (pthread_cond_init(&p.cv, NULL) == 0) {
                for (; started < nthreads; started++)
                    if (pthread_create(&th[started], NULL, ix_worker, &p) != 0)
                        break;
                if (started == 0)
                    pthread_cond_destroy(&p.cv);
            }
            if (started == 0)
                pthread_mutex_destroy(&p.mu);
        }
        if (started == 0) {
            free(p.slots);
            p.slots = NULL;
        }
    }
    int rc = IX_OK;
    for (size_t i = 0; i < n; i++) {
        file_ix fx;
        int frc;
        if (started) {
            ix_slot *s = &p.slots[i % p.window];
            pthread_mutex_lock(&p.mu);
            while (!(s->done && s->idx == i))
                pthread_cond_wait(&p.cv, &p.mu);
            pthread_mutex_unlock(&p.mu);
            fx = s->fx;
            frc = s->rc;
            if (frc != IX_OK && s->msg[0]) /* as the serial read: IX_NOMEM leaves msg */
                snprintf(msg, msglen, "%s", s->msg);
        } else {
            frc = index_file(d, &plan[i], &fx, msg, msglen);
        }
        if (frc != IX_OK) {
            *bad = i;
            rc = frc;
            break;
        }
        if (page_size && fx.hdr.page_size != page_size) {
            snprintf(msg, msglen, "page size changes from %u to %u in the plan", page_size,
                     fx.hdr.page_size);
        }
        page_size = fx.hdr.page_size;
        commit = fx.hdr.commit;
        ts = fx.hdr.timestamp_ms;
        vfile *vf = vfile_new(&plan[i]);
        int r = vf ? vindex_merge_file(x, vf, fx.ents, fx.n, fx.hdr.commit) : VX_NOMEM;
        if (vf && --vf->refs == 0)
            free(vf);
        free(fx.ents);
        if (started) {
            pthread_mutex_lock(&p.mu);
            p.slots[i % p.window].done = 0;
            p.merged = i + 1;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
        }
        if (r != VX_OK) {
            *bad = i;
            snprintf(msg, msglen, "out of memory");
            rc = IX_NOMEM;
            break;
        }
    }
    if (started) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        for (size_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        /* results read past a failure (or the failing one itself) */
        for (size_t k = 0; k < p.window; k++)
            if (p.slots[k].done)
                free(p.slots[k].fx.ents);
        free(p.slots);
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
    }
    if (rc != IX_OK) {
        vindex_free(x);
        return rc;
    }
    if (vindex_seal(x, plan[n - 1].max_txid, commit, page_size, ts, mono_ms()) != VX_OK) {
        vindex_free(x);
        *bad = n;
        return IX_NOMEM;
    }
    return IX_OK;
}

/* A snapshot's header timestamp is when the snapshot was taken, not when
 * its last TXID committed. When the plan ends with one and another level
 * holds a file ending at the same TXID, take that file's timestamp. */
static void fix_snapshot_time(ltxdb *d, vindex *x, const ltx_fileinfo *plan, size_t pn,
                              const ltx_fileinfo *files, size_t nf)
{
    if (pn == 0 || plan[pn - 1].level != LTX_SNAPSHOT_LEVEL || x->nrecs == 0)
        return;
    for (size_t i = 0; i < nf; i++) {
        if (files[i].max_txid != plan[pn - 1].max_txid || files[i].level == LTX_SNAPSHOT_LEVEL)
            continue;
        uint8_t hb[LTX_HEADER_SIZE];
        obj_error oe = {0};
        ltx_header h;
        if (objstore_read_range(d->store, d->prefix, &files[i], 0, sizeof hb, hb, &oe) == OBJ_OK &&
            ltx_header_decode(hb, sizeof hb, &h, NULL) == LTX_OK) {
            x->recs[x->nrecs - 1].ts_ms = h.timestamp_ms;
            return;
        }
    }
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Plan (latest when target == 0) and index. Results: IX_OK with *out set;
 * else *state_out tells waiting/stalled/error and msg says why. */
enum { PLAN_OK = 0, PLAN_WAIT, PLAN_NOT_AVAILABLE, PLAN_FAIL, PLAN_RELIST };

/* One listing, one plan. PLAN_RELIST: a planned file vanished between the
 * LIST and its read (retention): the listing is stale, list again. */
static int plan_and_build_once(ltxdb *d, uint64_t target, vindex **out, char *stall, size_t stalllen,
                               char *msg, size_t msglen, int *broken)
{
    *out = NULL;
    if (broken)
        *broken = 0;
    stall[0] = 0;
    msg[0] = 0;
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = {0};
    obj_status st = objstore_list_all(d->store, d->prefix, &files, &nf, &oe);
    if (st != OBJ_OK) {
        snprintf(msg, msglen, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        return PLAN_FAIL;
    }
    if (target == 0)
        update_levels(d, files, nf);
    if (nf == 0) {
        free(files);
        return PLAN_WAIT;
    }
    int result = PLAN_FAIL;
    uint64_t *cands = NULL;
    size_t ncand = 0, ci = 0;
    uint64_t want = target;
    for (int attempt = 0; attempt < 64; attempt++) {
        ltx_fileinfo *plan = NULL;
        size_t pn = 0;
        uint64_t restored = 0;
        ltx_error le = {0};
        ltx_err r = ltx_restore_plan(files, nf, want, 0, &plan, &pn, &restored, &le);
        if (r == LTX_OK && target && restored != target) {
            free(plan);
            r = LTX_ERR_TX_NOT_AVAILABLE;
        }
        if (r == LTX_OK) {
            vindex *x = malloc(sizeof *x);
            size_t bad = 0;
            int br = x ? build_from_plan(d, plan, pn, x, &bad, msg, msglen) : IX_NOMEM;
            if (br == IX_OK) {
                fix_snapshot_time(d, x, plan, pn, files, nf);
                if (target == 0)
                    d->plan_last = plan[pn - 1];
                free(plan);
                *out = x;
                result = PLAN_OK;
                break;
            }
            free(x);
            if (br == IX_CORRUPT && target == 0 && bad < pn && plan[bad].min_txid > 1) {
                /* a broken newest file: serve what comes before it */
                if (!stall[0]) {
                    snprintf(stall, stalllen, "%s", msg);
                    if (broken)
                        *broken = 1;
                }
                want = plan[bad].min_txid - 1;
                free(plan);
                continue;
            }
            free(plan);
            result = br == IX_GONE ? PLAN_RELIST : PLAN_FAIL;
            break;
        }
        free(plan);
        if (r == LTX_ERR_TX_NOT_AVAILABLE && target) {
            snprintf(msg, msglen, "TXID %016" PRIx64 " cannot be restored from the replica", target);
            result = PLAN_NOT_AVAILABLE;
            break;
        }
        /* latest: a gap, or nothing restorable. Serve the newest TXID that a
         * contiguous chain reaches, and say why we are stuck. */
        if (!stall[0])
            snprintf(stall, stalllen, "%s", le.msg[0] ? le.msg : ltx_strerror(r));
        if (!cands) {
            cands = malloc(nf * sizeof *cands);
            if (!cands)
                break;
            for (size_t i = 0; i < nf; i++)
                cands[i] = files[i].max_txid;
            qsort(cands, nf, sizeof *cands, cmp_u64_desc);
            ncand = nf;
        }
        while (ci < ncand && (cands[ci] >= want && want != 0))
            ci++;
        if (ci >= ncand) {
            snprintf(msg, msglen, "%s", stall);
            result = PLAN_NOT_AVAILABLE;
            break;
        }
        want = cands[ci++];
    }
    free(cands);
    free(files);
    return result;
}

#define PLAN_MAX_LISTINGS 4

static int plan_and_build(ltxdb *d, uint64_t target, vindex **out, char *stall, size_t stalllen,
                          char *msg, size_t msglen, int *broken)
{
    int r = PLAN_RELIST;
    for (int i = 0; i < PLAN_MAX_LISTINGS && r == PLAN_RELIST; i++)
        r = plan_and_build_once(d, target, out, stall, stalllen, msg, msglen, broken);
    return r == PLAN_RELIST ? PLAN_FAIL : r; /* msg names the file that kept vanishing */
}

/* ---- installing an index ------------------------------------------------ */

static void install_live(ltxdb *d, vindex *x)
{
    pthread_rwlock_wrlock(&d->lock);
    vindex *old = d->live;
    const vrec *oc = old ? vindex_current(old) : NULL;
    int new_history = (oc && vindex_current(x)->txid < oc->txid) || d->force_new_uid;
    if (new_history) {
        d->uid = atomic_fetch_add(&d->srv->next_uid, 1) + 1; /* a new history */
        atomic_fetch_add(&d->history_gen, 1);
    }
    d->force_new_uid = 0;
    d->recent[0] = d->plan_last;
    d->recent_n = 1;
    d->live = x;
    d->gen++;
    hist_ix **hs = d->hists;
    size_t nh = d->nhists;
    d->hists = NULL;
    d->nhists = 0;
    const vrec *cur = vindex_current(x);
    atomic_store(&d->cur_txid, cur->txid);
    pthread_rwlock_unlock(&d->lock);
    live_free(old);
    for (size_t i = 0; i < nh; i++)
        hist_drop(d, hs[i]);
    free(hs);
    if (new_history && d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d); /* wake long-polls: they answer reset */
}

/* Fresh plan for the latest TXID; keeps the old index when it fails. */
static int rebuild_live(ltxdb *d, const char *why)
{
    char stall[256], msg[256];
    vindex *x = NULL;
    int broken = 0;
    int r = plan_and_build(d, 0, &x, stall, sizeof stall, msg, sizeof msg, &broken);
    atomic_fetch_add(&d->replans, 1);
    if (r == PLAN_OK) {
        uint64_t old = atomic_load(&d->cur_txid);
        install_live(d, x);
        const vrec *c = vindex_current(x);
        char q[300];
        logf_(LOG_INFO, "index_built", "db=%s txid=%016" PRIx64 " commit=%u page_size=%u why=%s prev_txid=%016" PRIx64,
              d->name, c->txid, c->commit, c->page_size, log_q(q, sizeof q, why), old);
        if (stall[0] && broken) {
            /* like a rejected newest L0 file while running: serve the TXID
             * before it, report it, retry on later polls */
            set_state(d, DB_OK, NULL);
            record_error(d, "file_rejected", stall);
        } else if (stall[0]) {
            set_state(d, DB_STALLED, stall);
            record_error(d, "plan_error", stall);
        } else {
            set_state(d, DB_OK, NULL);
        }
        if (d->srv->on_new_txid && c->txid != old)
            d->srv->on_new_txid(d->srv, d);
        return 0;
    }
    if (r == PLAN_WAIT) {
        if (!d->live) {
            set_state(d, DB_WAITING, "no LTX files yet");
            if (!d->initialized)
                logf_(LOG_INFO, "db_waiting", "db=%s reason=\"no LTX files yet\"", d->name);
        }
        return -1;
    }
    record_error(d, "plan_error", msg[0] ? msg : stall);
    if (!d->live)
        set_state(d, r == PLAN_NOT_AVAILABLE ? DB_STALLED : DB_ERROR, msg[0] ? msg : stall);
    return -1;
}

/* ---- live polling -------------------------------------------------------- */

static void notify(ltxdb *d)
{
    if (d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d);
}

static int apply_entries(ltxdb *d, const ltx_fileinfo *f, const ltx_header *h,
                         const ltx_index_entry *e, size_t n)
{
    vfile *vf = vfile_new(f);
    if (!vf)
        return VX_NOMEM;
    pthread_rwlock_wrlock(&d->lock);
    int r = vindex_apply(d->live, vf, e, n, h->commit, h->page_size, h->timestamp_ms, mono_ms());
    if (r == VX_OK) {
        atomic_store(&d->cur_txid, f->max_txid);
        d->recent[d->recent_n++ % 16] = *f;
    }
    pthread_rwlock_unlock(&d->lock);
    if (--vf->refs == 0)
        free(vf);
    if (r == VX_OK) {
        atomic_fetch_add(&d->files_applied, 1);
        char fname[64];
        ltx_fileinfo_format(fname, sizeof fname, f);
        logf_(LOG_INFO, "new_txid", "db=%s txid=%016" PRIx64 " commit=%u pages=%zu file=%s", d->name,
              f->max_txid, h->commit, n, fname);
    }
    return r;
}

/* Fetch an L0 file whole, verify it, warm the cache, apply it. */
static int fetch_l0(ltxdb *d, const ltx_fileinfo *f)
{
    char fname[64];
    ltx_fileinfo_format(fname, sizeof fname, f);
    uint8_t *buf = NULL;
    size_t len = 0;
    obj_error oe = {0};
    obj_status st = objstore_read_file(d->store, d->prefix, f, d->srv->cfg.max_l0_bytes, &buf, &len, &oe);
    if (st == OBJ_ERR_TOO_LARGE) {
        /* big L0 file: index it from its tail like a compacted file */
        file_ix fx;
        char msg[256];
        int rc = index_file(d, f, &fx, msg, sizeof msg);
        if (rc != IX_OK) {
            if (rc != IX_GONE)
                record_error(d, "file_rejected", msg);
            return rc;
        }
        int r = apply_entries(d, f, &fx.hdr, fx.ents, fx.n);
        free(fx.ents);
        return r == VX_OK ? IX_OK : IX_NOMEM;
    }
    if (st != OBJ_OK) {
        if (st != OBJ_NOT_FOUND) {
            char m[400];
            snprintf(m, sizeof m, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
            record_error(d, "store_error", m);
        }
        return st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
    }
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    ltx_error le = {0};
    ltx_err r = ltx_file_decode(buf, len, NULL, NULL, &info, &le);
    if (r == LTX_OK && (info.header.min_txid != f->min_txid || info.header.max_txid != f->max_txid)) {
        r = LTX_ERR_HEADER;
        snprintf(le.msg, sizeof le.msg, "header TXIDs do not match the file name");
    }
    if (r != LTX_OK) {
        char m[400];
        snprintf(m, sizeof m, "%s: rejected: %s", fname, le.msg[0] ? le.msg : ltx_strerror(r));
        record_error(d, "file_rejected", m);
        ltx_file_info_free(&info);
        free(buf);
        return IX_CORRUPT;
    }
    uint32_t ps = info.header.page_size;
    uint8_t *page = malloc(ps);
    if (page) {
        for (size_t i = 0; i < info.page_count; i++) {
            const ltx_index_entry *ie = &info.index[i];
            if (ie->offset + ie->size > len)
                break;
            if (ltx_frame_decode(buf + ie->offset, ie->size, ps, ie->pgno, page, NULL) != LTX_OK)
                continue;
            pc_key k = {d->uid, f->min_txid, f->max_txid, (uint32_t)f->level, ie->pgno};
            pcache_put(d->srv->cache, &k, page, ps);
        }
        free(page);
    }
    int ar = apply_entries(d, f, &info.header, info.index, info.page_count);
    ltx_file_info_free(&info);
    free(buf);
    return ar == VX_OK ? IX_OK : ar == VX_STALE ? IX_OK : IX_NOMEM;
}

/* Find a file on L1+ that covers pos+1 and reaches furthest; apply it.
 * 1 advanced, 0 nothing bridges (*why set), -1 error. */
static int bridge(ltxdb *d, uint64_t pos, char *why, size_t whylen)
{
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = {0};
    obj_status st = objstore_list_all(d->store, d->prefix, &files, &nf, &oe);
    if (st != OBJ_OK) {
        snprintf(why, whylen, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        return -1;
    }
    update_levels(d, files, nf);
    const ltx_fileinfo *best = NULL;
    uint64_t next_min = 0;
    for (size_t i = 0; i < nf; i++) {
        const ltx_fileinfo *f = &files[i];
        if (f->max_txid <= pos)
            continue;
        if (f->min_txid > pos + 1) {
            if (!next_min || f->min_txid < next_min)
                next_min = f->min_txid;
            continue;
        }
        if (f->level == 0 && f->min_txid != pos + 1)
            continue;
        if (!best || f->max_txid > best->max_txid ||
            (f->max_txid == best->max_txid && f->level > best->level))
            best = f;
    }
    if (!best) {
        if (next_min)
            snprintf(why, whylen,
                     "gap: TXID %016" PRIx64 " is in no file; the next file starts at %016" PRIx64,
                     pos + 1, next_min);
        else
            why[0] = 0;
        free(files);
        return 0;
    }
    ltx_fileinfo f = *best;
    free(files);
    int rc;
    if (f.level == 0) {
        rc = fetch_l0(d, &f);
    } else {
        file_ix fx;
        char msg[256];
        rc = index_file(d, &f, &fx, msg, sizeof msg);
        if (rc == IX_OK) {
            int r = apply_entries(d, &f, &fx.hdr, fx.ents, fx.n);
            free(fx.ents);
            rc = r == VX_OK ? IX_OK : IX_NOMEM;
        } else if (rc != IX_GONE) {
            record_error(d, "file_rejected", msg);
        }
    }
    if (rc == IX_OK)
        return 1;
    snprintf(why, whylen, "bridging file could not be indexed");
    return -1;
}

static void poll_live(ltxdb *d)
{
    uint64_t pos = atomic_load(&d->cur_txid);
    uint64_t start = pos;
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = {0};
    obj_status st = objstore_list_level(d->store, d->prefix, 0, pos + 1, &files, &nf, &oe);
    if (st != OBJ_OK) {
        atomic_fetch_add(&d->poll_errors, 1);
        char m[300];
        snprintf(m, sizeof m, "list L0: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        record_error(d, "poll_error", m);
        return;
    }
    int stalled = 0, failed = 0;
    char why[256] = "";
    size_t i = 0;
    while (i < nf && !atomic_load(&d->srv->stopping)) {
        const ltx_fileinfo *f = &files[i];
        if (f->max_txid <= pos) {
            i++;
            continue;
        }
        if (f->min_txid > pos + 1) {
            /* a gap: bridge from L1+ (listing every level), at most once
             * per l1 interval while it stays stalled */
            if (ltxdb_state(d) == DB_STALLED && mono_ms() < d->next_bridge) {
                stalled = 2;
                break;
            }
            int b = bridge(d, pos, why, sizeof why);
            if (b == 1) {
                pos = atomic_load(&d->cur_txid);
                continue;
            }
            d->next_bridge = mono_ms() + d->srv->cfg.l1_interval_ms;
            if (b == 0)
                stalled = 1;
            else
                failed = 1;
            break;
        }
        int rc = fetch_l0(d, f);
        if (rc == IX_GONE) {
            /* removed by retention between LIST and GET: bridge from L1+ */
            int b = bridge(d, pos, why, sizeof why);
            if (b == 1) {
                pos = atomic_load(&d->cur_txid);
                continue;
            }
            failed = 1;
            break;
        }
        if (rc != IX_OK) {
            failed = 1;
            break;
        }
        pos = atomic_load(&d->cur_txid);
        i++;
    }
    free(files);
    if (stalled == 2) {
        /* still stalled; reason unchanged */
    } else if (stalled) {
        set_state(d, DB_STALLED, why);
    } else if (!failed) {
        pthread_rwlock_wrlock(&d->lock);
        d->last_poll_ok_ms = now_ms();
        pthread_rwlock_unlock(&d->lock);
        if (pos > start || ltxdb_state(d) == DB_STALLED) {
            /* a stall clears once a poll finds no gap */
            if (ltxdb_state(d) != DB_OK && pos > start)
                set_state(d, DB_OK, NULL);
        }
    } else {
        atomic_fetch_add(&d->poll_errors, 1);
    }
    if (pos > start)
        notify(d);
}

/* Every l1 interval: refresh level stats, catch up from L1+ when L0 has
 * nothing (e.g. all L0 retained away), notice a replica that went back. */
static int same_file_id(const ltx_fileinfo *a, const ltx_fileinfo *b)
{
    return a->level == b->level && a->min_txid == b->min_txid && a->max_txid == b->max_txid;
}

static void check_levels(ltxdb *d)
{
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = {0};
    if (objstore_list_all(d->store, d->prefix, &files, &nf, &oe) != OBJ_OK)
        return;
    update_levels(d, files, nf);
    uint64_t pos = atomic_load(&d->cur_txid), maxall = 0;
    pthread_rwlock_rdlock(&d->lock);
    ltx_fileinfo rec[16];
    unsigned nrec = d->recent_n < 16 ? d->recent_n : 16;
    memcpy(rec, d->recent, sizeof rec);
    pthread_rwlock_unlock(&d->lock);
    const ltx_fileinfo *changed = NULL;
    ltx_fileinfo lf = {0};
    for (size_t i = 0; i < nf; i++) {
        if (files[i].max_txid > maxall)
            maxall = files[i].max_txid;
        for (unsigned k = 0; k < nrec && !changed; k++)
            if (rec[k].max_txid && same_file_id(&files[i], &rec[k]) && files[i].size != rec[k].size) {
                changed = &files[i];
                lf = rec[k];
            }
    }
    if (changed) {
        /* same name, other bytes: a new history (e.g. the database was
         * recreated and reached the same TXID); never mix it with ours */
        char m[300], fname[64];
        ltx_fileinfo_format(fname, sizeof fname, changed);
        snprintf(m, sizeof m, "%s changed size from %" PRIu64 " to %" PRIu64 ": the replica's history was replaced; "
                 "re-planning", fname, lf.size, changed->size);
        free(files);
        record_error(d, "replica_reset", m);
        d->force_new_uid = 1;
        rebuild_live(d, "replica history replaced");
        d->force_new_uid = 0;
        return;
    }
    free(files);
    if (nf > 0 && maxall < pos) {
        char m[200];
        snprintf(m, sizeof m, "replica went back from %016" PRIx64 " to %016" PRIx64 "; re-planning", pos,
                 maxall);
        record_error(d, "replica_reset", m);
        rebuild_live(d, "replica went back");
        return;
    }
    if (maxall > pos) {
        char why[256];
        int b;
        while ((b = bridge(d, atomic_load(&d->cur_txid), why, sizeof why)) == 1)
            ;
        if (b == 0 && atomic_load(&d->cur_txid) < maxall && why[0])
            set_state(d, DB_STALLED, why);
        if (atomic_load(&d->cur_txid) > pos) {
            if (ltxdb_state(d) == DB_STALLED && b != 0)
                set_state(d, DB_OK, NULL);
            notify(d);
        }
    }
}

static void prune(ltxdb *d, int64_t mono)
{
    pthread_rwlock_wrlock(&d->lock);
    if (d->live)
        vindex_prune(d->live, mono, d->srv->cfg.version_window_ms);
    /* idle historical indexes go */
    size_t k = 0;
    for (size_t i = 0; i < d->nhists; i++) {
        int64_t used = __atomic_load_n(&d->hists[i]->used_ms, __ATOMIC_RELAXED);
        if (mono - used > d->srv->cfg.historical_idle_ms)
            hist_drop(d, d->hists[i]);
        else
            d->hists[k++] = d->hists[i];
    }
    d->nhists = k;
    pthread_rwlock_unlock(&d->lock);
}

void ltxdb_poll(ltxdb *d, int64_t mono)
{
    pthread_mutex_lock(&d->update);
    atomic_fetch_add(&d->polls, 1);
    if (!d->live) {
        rebuild_live(d, "initial");
        pthread_rwlock_wrlock(&d->lock);
        d->initialized = 1;
        if (d->live)
            d->last_poll_ok_ms = now_ms();
        pthread_rwlock_unlock(&d->lock);
        d->next_levels = mono + d->srv->cfg.l1_interval_ms;
    } else {
        poll_live(d);
        if (mono >= d->next_levels) {
            check_levels(d);
            d->next_levels = mono + d->srv->cfg.l1_interval_ms;
        }
    }
    prune(d, mono);
    d->next_poll = mono + d->srv->cfg.poll_ms;
    pthread_mutex_unlock(&d->update);
}

/* ---- historical indexes ----------------------------------------------- */

static hist_ix *hist_find_locked(ltxdb *d, uint64_t txid)
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
    hist_drop(victim, h);
    return 1;
}

/* Build (or find) the historical index for txid. 0 ok, else fills err. */
static int hist_get(ltxdb *d, uint64_t txid, db_err *err)
{
    pthread_mutex_lock(&d->hist_mu);
    pthread_rwlock_rdlock(&d->lock);
    hist_ix *h = hist_find_locked(d, txid);
    pthread_rwlock_unlock(&d->lock);
    if (h) {
        pthread_mutex_unlock(&d->hist_mu);
        return 0;
    }
    int64_t mono = mono_ms();
    for (unsigned i = 0; i < d->ngone && i < 32; i++)
        if (d->gone[i].txid == txid && mono - d->gone[i].at < d->srv->cfg.l1_interval_ms) {
            pthread_mutex_unlock(&d->hist_mu);
            set_err(err, 410, LTXW_E_TXID_GONE, "TXID %016" PRIx64 " can no longer be restored", txid);
            return -1;
        }
    char stall[256], msg[256];
    vindex *x = NULL;
    int r = plan_and_build(d, txid, &x, stall, sizeof stall, msg, sizeof msg, NULL);
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
            set_err(err, 410, LTXW_E_TXID_GONE, "TXID %016" PRIx64 " can no longer be restored", txid);
        else
            set_err(err, 502, LTXW_E_UPSTREAM, "%s", msg);
        return -1;
    }
    atomic_fetch_add(&d->hist_builds, 1);
    h = calloc(1, sizeof *h);
    if (!h) {
        live_free(x);
        pthread_mutex_unlock(&d->hist_mu);
        set_err(err, 500, LTXW_E_INTERNAL, "out of memory");
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
    int max = d->srv->cfg.max_historical > 0 ? d->srv->cfg.max_historical : 1;
    if ((int)d->nhists >= max) {
        /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < d->nhists; i++)
            if (d->hists[i]->used_ms < d->hists[lru]->used_ms)
                lru = i;
        hist_drop(d, d->hists[lru]);
        d->hists[lru] = d->hists[--d->nhists];
    }
    hist_ix **nh = realloc(d->hists, (d->nhists + 1) * sizeof *nh);
    if (nh) {
        d->hists = nh;
        d->hists[d->nhists++] = h;
        atomic_fetch_add(&d->srv->hist_total, 1);
    } else {
        hist_free(h);
    }
    pthread_rwlock_unlock(&d->lock);
    pthread_mutex_unlock(&d->hist_mu);
    logf_(LOG_INFO, "historical_index", "db=%s txid=%016" PRIx64, d->name, txid);
    return nh ? 0 : -1;
}

static void snap_of(const vrec *r, db_snap *s)
{
    s->txid = r->txid;
    s->commit = r->commit;
    s->page_size = r->page_size;
    s->ts_ms = r->ts_ms;
}

int ltxdb_resolve(ltxdb *d, uint64_t txid, db_snap *out, db_err *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&d->lock);
        if (!d->live) {
            int st = d->state;
            pthread_rwlock_unlock(&d->lock);
            set_err(err, 503, LTXW_E_UNAVAILABLE, "database %s is %s: nothing indexed yet", d->name,
                    db_state_name(st));
            return -1;
        }
        const vrec *cur = vindex_current(d->live);
        if (txid == 0) {
            snap_of(cur, out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        if (txid > cur->txid) {
            uint64_t c = cur->txid;
            pthread_rwlock_unlock(&d->lock);
            set_err(err, 409, LTXW_E_TXID_AHEAD, "TXID %016" PRIx64 " is newer than %016" PRIx64, txid, c);
            return -1;
        }
        vrec *r = vindex_find(d->live, txid);
        if (r) {
            __atomic_store_n(&r->used_ms, mono_ms(), __ATOMIC_RELAXED);
            snap_of(r, out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        hist_ix *h = hist_find_locked(d, txid);
        if (h) {
            snap_of(vindex_current(&h->ix), out);
            pthread_rwlock_unlock(&d->lock);
            return 0;
        }
        pthread_rwlock_unlock(&d->lock);
        if (attempt == 0 && hist_get(d, txid, err) != 0)
            return -1;
    }
    set_err(err, 500, LTXW_E_INTERNAL, "historical index vanished");
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
        struct tsent key = {f->min_txid, f->max_txid, f->level, 0};
        const struct tsent *hit =
            d->ntscache ? bsearch(&key, d->tscache, d->ntscache, sizeof key, ts_cmp) : NULL;
        if (hit) {
            key.ts = hit->ts;
        } else {
            uint8_t hb[LTX_HEADER_SIZE];
            obj_error oe = {0};
            ltx_header h;
            if (objstore_read_range(d->store, d->prefix, f, 0, sizeof hb, hb, &oe) != OBJ_OK ||
                ltx_header_decode(hb, sizeof hb, &h, NULL) != LTX_OK)
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
    pthread_mutex_lock(&d->ts_mu);
    /* A listing taken after the target time gives the same answer as a new
     * one (files created later have later timestamps; compactions cover
     * TXIDs that are already listed), so reuse it for an l1 interval. */
    int fresh = d->tfiles_mono && mono_ms() - d->tfiles_mono < d->srv->cfg.l1_interval_ms &&
                time_ms + 1000 < d->tfiles_wall;
    if (!fresh) {
        ltx_fileinfo *files = NULL;
        size_t nf = 0;
        obj_error oe = {0};
        int64_t wall = now_ms(), mono = mono_ms();
        obj_status st = objstore_list_all(d->store, d->prefix, &files, &nf, &oe);
        if (st != OBJ_OK) {
            pthread_mutex_unlock(&d->ts_mu);
            set_err(err, 502, LTXW_E_UPSTREAM, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
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
        fmt_time_ms(ts, sizeof ts, time_ms);
        set_err(err, 410, LTXW_E_TXID_GONE, "no restorable TXID before %s", ts);
        return -1;
    }
    /* never report beyond what this server has indexed */
    uint64_t cur = atomic_load(&d->cur_txid);
    if (cur && restored > cur)
        restored = cur;
    return ltxdb_resolve(d, restored, out, err);
}

/* ---- page reads --------------------------------------------------------- */

typedef struct {
    ltxdb *d;
    ltx_fileinfo f;
    uint64_t off;
    uint32_t size;
    uint32_t pgno;
    obj_status st;
    char msg[256];
} load_ctx;

enum { LOAD_GONE = 1, LOAD_STORE = 2, LOAD_CORRUPT = 3, LOAD_NOMEM = 4 };

static int load_page(void *p, uint8_t *out, uint32_t page_size)
{
    load_ctx *c = p;
    if (c->size == 0 || c->size > LTX_MAX_FRAME_SIZE(page_size) + 16) {
        snprintf(c->msg, sizeof c->msg, "page %u: implausible frame size %u", c->pgno, c->size);
        return LOAD_CORRUPT;
    }
    uint8_t *frame = malloc(c->size);
    if (!frame)
        return LOAD_NOMEM;
    obj_error oe = {0};
    c->st = objstore_read_range(c->d->store, c->d->prefix, &c->f, c->off, c->size, frame, &oe);
    if (c->st != OBJ_OK) {
        free(frame);
        snprintf(c->msg, sizeof c->msg, "%s", oe.msg[0] ? oe.msg : obj_status_str(c->st));
        return c->st == OBJ_NOT_FOUND ? LOAD_GONE : LOAD_STORE;
    }
    ltx_error le = {0};
    ltx_err r = ltx_frame_decode(frame, c->size, page_size, c->pgno, out, &le);
    free(frame);
    if (r != LTX_OK) {
        snprintf(c->msg, sizeof c->msg, "page %u: %s", c->pgno, le.msg[0] ? le.msg : ltx_strerror(r));
        return LOAD_CORRUPT;
    }
    return 0;
}

/* Replan after a referenced file vanished, unless someone already did. */
static void replan_after_404(ltxdb *d, uint64_t gen)
{
    pthread_mutex_lock(&d->update);
    pthread_rwlock_rdlock(&d->lock);
    int same = d->gen == gen;
    pthread_rwlock_unlock(&d->lock);
    if (same)
        rebuild_live(d, "referenced file not found");
    pthread_mutex_unlock(&d->update);
}

int ltxdb_page(ltxdb *d, const db_snap *snap, uint32_t pgno, pc_entry **e, db_err *err)
{
    *e = NULL;
    for (int attempt = 0; attempt < 4; attempt++) {
        pthread_rwlock_rdlock(&d->lock);
        vpage vp;
        int r = d->live ? vindex_lookup(d->live, snap->txid, pgno, &vp) : VX_NOT_LIVE;
        if (r == VX_NOT_LIVE) {
            hist_ix *h = hist_find_locked(d, snap->txid);
            if (h)
                r = vindex_lookup(&h->ix, snap->txid, pgno, &vp);
        }
        uint64_t gen = d->gen, uid = d->uid;
        load_ctx c;
        memset(&c, 0, sizeof c);
        if (r == VX_OK && vp.file) {
            c.d = d;
            c.f.level = vp.file->level;
            c.f.min_txid = vp.file->min_txid;
            c.f.max_txid = vp.file->max_txid;
            c.f.size = vp.file->size;
            c.f.created_ms = vp.file->created_ms;
            c.off = vp.off;
            c.size = vp.size;
            c.pgno = pgno;
        }
        pthread_rwlock_unlock(&d->lock);
        if (r == VX_RANGE) {
            set_err(err, 404, LTXW_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)", pgno,
                    snap->commit);
            return -1;
        }
        if (r == VX_NOT_LIVE) {
            /* pruned meanwhile, or an index rebuilt: get a historical one */
            if (hist_get(d, snap->txid, err) != 0)
                return -1;
            continue;
        }
        if (!c.d)
            return 0; /* zeros */
        pc_key k = {uid, c.f.min_txid, c.f.max_txid, (uint32_t)c.f.level, pgno};
        int lerr = 0;
        pc_entry *pe = pcache_get(d->srv->cache, &k, snap->page_size, load_page, &c, &lerr);
        if (pe) {
            *e = pe;
            return 0;
        }
        if (lerr == LOAD_GONE) {
            char q[300];
            logf_(LOG_WARN, "file_gone", "db=%s page=%u error=%s", d->name, pgno, log_q(q, sizeof q, c.msg));
            replan_after_404(d, gen);
            continue;
        }
        if (c.msg[0])
            record_error(d, "page_error", c.msg);
        set_err(err, 502, LTXW_E_UPSTREAM, "page %u: %s", pgno, c.msg[0] ? c.msg : "object store read failed");
        return -1;
    }
    set_err(err, 502, LTXW_E_UPSTREAM, "page %u: files kept disappearing", pgno);
    return -1;
}

int ltxdb_try_page(ltxdb *d, uint64_t txid, uint32_t pgno, db_snap *snap, pc_entry **e)
{
    return ltxdb_try_pages(d, txid, &pgno, 1, snap, e);
}

int ltxdb_try_pages(ltxdb *d, uint64_t txid, const uint32_t *pgnos, size_t n, db_snap *snap, pc_entry **out)
{
    memset(out, 0, n * sizeof *out);
    pthread_rwlock_rdlock(&d->lock);
    const vindex *x = NULL;
    const vrec *rec = NULL;
    if (d->live) {
        if (txid == 0) {
            rec = vindex_current(d->live);
        } else {
            vrec *lr = vindex_find(d->live, txid);
            if (lr)
                __atomic_store_n(&lr->used_ms, mono_ms(), __ATOMIC_RELAXED);
            rec = lr;
        }
        x = rec ? d->live : NULL;
        if (!rec && txid) {
            hist_ix *h = hist_find_locked(d, txid);
            if (h) {
                x = &h->ix;
                rec = vindex_current(&h->ix);
            }
        }
    }
    int ok = rec != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        vpage vp;
        ok = pgnos[i] >= 1 && pgnos[i] <= rec->commit && vindex_lookup(x, rec->txid, pgnos[i], &vp) == VX_OK;
        if (ok && vp.file) {
            pc_key k = {d->uid, vp.file->min_txid, vp.file->max_txid, (uint32_t)vp.file->level, pgnos[i]};
            out[i] = pcache_lookup(d->srv->cache, &k);
            ok = out[i] != NULL;
        }
    }
    if (ok)
        snap_of(rec, snap);
    pthread_rwlock_unlock(&d->lock);
    if (!ok)
        for (size_t i = 0; i < n; i++) {
            pcache_release(out[i]);
            out[i] = NULL;
        }
    return ok;
}

/* ---- batched page reads -------------------------------------------------- */

#define RUN_MAX_GAP (64 * 1024)
#define RUN_MAX_SPAN (8u << 20)

typedef struct {
    size_t idx;                /* position in the caller's list */
    ltx_fileinfo f;
    uint64_t off;
    uint32_t size;
    uint32_t pgno;
} want_t;

static int want_cmp(const void *a, const void *b)
{
    const want_t *x = a, *y = b;
    if (x->f.level != y->f.level)
        return x->f.level < y->f.level ? -1 : 1;
    if (x->f.min_txid != y->f.min_txid)
        return x->f.min_txid < y->f.min_txid ? -1 : 1;
    if (x->f.max_txid != y->f.max_txid)
        return x->f.max_txid < y->f.max_txid ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int same_file(const ltx_fileinfo *a, const ltx_fileinfo *b)
{
    return a->level == b->level && a->min_txid == b->min_txid && a->max_txid == b->max_txid;
}

typedef struct {
    const uint8_t *frame;
    uint32_t size;
    uint32_t pgno;
    char msg[200];
} buf_ctx;

static int load_from_buf(void *p, uint8_t *out, uint32_t page_size)
{
    buf_ctx *c = p;
    ltx_error le = {0};
    if (ltx_frame_decode(c->frame, c->size, page_size, c->pgno, out, &le) != LTX_OK) {
        snprintf(c->msg, sizeof c->msg, "page %u: %s", c->pgno, le.msg[0] ? le.msg : "frame does not decode");
        return LOAD_CORRUPT;
    }
    return 0;
}

static void release_all(pc_entry **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pcache_release(out[i]);
        out[i] = NULL;
    }
}

int ltxdb_pages(ltxdb *d, const db_snap *snap, const uint32_t *pgnos, size_t n, pc_entry **out, db_err *err)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return 0;
    want_t *w = malloc(n * sizeof *w);
    if (!w) {
        set_err(err, 500, LTXW_E_INTERNAL, "out of memory");
        return -1;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        /* 1. where every page lives, under one read lock */
        size_t nw = 0;
        int r = VX_OK;
        uint32_t bad_pg = 0;
        pthread_rwlock_rdlock(&d->lock);
        hist_ix *h = NULL;
        int use_hist = !d->live || !vindex_find(d->live, snap->txid);
        if (use_hist)
            h = hist_find_locked(d, snap->txid);
        const vindex *x = use_hist ? (h ? &h->ix : NULL) : d->live;
        for (size_t i = 0; x && i < n; i++) {
            vpage vp;
            r = vindex_lookup(x, snap->txid, pgnos[i], &vp);
            if (r != VX_OK) {
                bad_pg = pgnos[i];
                break;
            }
            if (!vp.file)
                continue; /* zeros */
            want_t *q = &w[nw++];
            q->idx = i;
            memset(&q->f, 0, sizeof q->f);
            q->f.level = vp.file->level;
            q->f.min_txid = vp.file->min_txid;
            q->f.max_txid = vp.file->max_txid;
            q->f.size = vp.file->size;
            q->f.created_ms = vp.file->created_ms;
            q->off = vp.off;
            q->size = vp.size;
            q->pgno = pgnos[i];
        }
        uint64_t gen = d->gen, uid = d->uid;
        pthread_rwlock_unlock(&d->lock);
        if (!x) {
            if (hist_get(d, snap->txid, err) != 0) {
                free(w);
                return -1;
            }
            continue;
        }
        if (r == VX_RANGE) {
            free(w);
            set_err(err, 404, LTXW_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)", bad_pg,
                    snap->commit);
            return -1;
        }
        if (r != VX_OK) {
            free(w);
            set_err(err, 500, LTXW_E_INTERNAL, "index lookup failed");
            return -1;
        }
        /* 2. cache hits */
        size_t nm = 0;
        for (size_t i = 0; i < nw; i++) {
            pc_key k = {uid, w[i].f.min_txid, w[i].f.max_txid, (uint32_t)w[i].f.level, w[i].pgno};
            out[w[i].idx] = pcache_lookup(d->srv->cache, &k);
            if (!out[w[i].idx])
                w[nm++] = w[i];
        }
        /* 3. misses: runs of nearby frames of one file, one read each */
        qsort(w, nm, sizeof *w, want_cmp);
        int gone = 0, failed = 0;
        char msg[256] = "";
        for (size_t a = 0; a < nm && !gone && !failed;) {
            size_t b = a + 1;
            uint64_t start = w[a].off, end = w[a].off + w[a].size;
            while (b < nm && same_file(&w[b].f, &w[a].f) && w[b].off <= end + RUN_MAX_GAP &&
                   w[b].off + w[b].size - start <= RUN_MAX_SPAN) {
                if (w[b].off + w[b].size > end)
                    end = w[b].off + w[b].size;
                b++;
            }
            if (b - a == 1) {
                /* a lone page: the single-flight path */
                pc_entry *e = NULL;
                db_err e1 = {0};
                db_snap one = *snap;
                if (ltxdb_page(d, &one, w[a].pgno, &e, &e1) != 0) {
                    *err = e1;
                    failed = 2;
                    break;
                }
                out[w[a].idx] = e;
                a = b;
                continue;
            }
            size_t span = (size_t)(end - start);
            uint8_t *buf = malloc(span);
            if (!buf) {
                snprintf(msg, sizeof msg, "out of memory");
                failed = 1;
                break;
            }
            obj_error oe = {0};
            obj_status st = objstore_read_range(d->store, d->prefix, &w[a].f, start, span, buf, &oe);
            if (st != OBJ_OK) {
                free(buf);
                if (st == OBJ_NOT_FOUND) {
                    gone = 1;
                } else {
                    snprintf(msg, sizeof msg, "%s", oe.msg[0] ? oe.msg : obj_status_str(st));
                    failed = 1;
                }
                break;
            }
            for (size_t i = a; i < b; i++) {
                if (out[w[i].idx])
                    continue; /* duplicate page in the list */
                buf_ctx c = {buf + (w[i].off - start), w[i].size, w[i].pgno, ""};
                pc_key k = {uid, w[i].f.min_txid, w[i].f.max_txid, (uint32_t)w[i].f.level, w[i].pgno};
                int lerr = 0;
                out[w[i].idx] = pcache_get(d->srv->cache, &k, snap->page_size, load_from_buf, &c, &lerr);
                if (!out[w[i].idx]) {
                    snprintf(msg, sizeof msg, "%s", c.msg[0] ? c.msg : "page load failed");
                    failed = 1;
                    break;
                }
            }
            free(buf);
            a = b;
        }
        if (gone) {
            release_all(out, n);
            replan_after_404(d, gen);
            continue;
        }
        if (failed) {
            release_all(out, n);
            free(w);
            if (failed == 1) {
                record_error(d, "page_error", msg);
                set_err(err, 502, LTXW_E_UPSTREAM, "%s", msg);
            }
            return -1;
        }
        free(w);
        return 0;
    }
    release_all(out, n);
    free(w);
    set_err(err, 502, LTXW_E_UPSTREAM, "files kept disappearing");
    return -1;
}

void ltxdb_count_served(ltxdb *d, uint64_t pages) { atomic_fetch_add(&d->pages_served, pages); }

/* ---- changes ------------------------------------------------------------ */

int ltxdb_changes(ltxdb *d, uint64_t since, db_snap *snap, int *reset, uint32_t **pages,
                  size_t *npages, db_err *err)
{
    *reset = 0;
    *pages = NULL;
    *npages = 0;
    pthread_rwlock_rdlock(&d->lock);
    if (!d->live) {
        pthread_rwlock_unlock(&d->lock);
        set_err(err, 503, LTXW_E_UNAVAILABLE, "database %s: nothing indexed yet", d->name);
        return -1;
    }
    const vrec *cur = vindex_current(d->live);
    snap_of(cur, snap);
    if (since > cur->txid) {
        pthread_rwlock_unlock(&d->lock);
        set_err(err, 409, LTXW_E_TXID_AHEAD, "since %016" PRIx64 " is newer than %016" PRIx64, since,
                snap->txid);
        return -1;
    }
    int r = vindex_changes(d->live, since, pages, npages);
    pthread_rwlock_unlock(&d->lock);
    if (r == VX_NOT_LIVE) {
        *reset = 1;
        return 0;
    }
    if (r != VX_OK) {
        set_err(err, 500, LTXW_E_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- status ------------------------------------------------------------- */

static json_t *txid_json(uint64_t t)
{
    char b[17];
    ltx_format_txid(b, t);
    return json_string(b);
}

json_t *ltxdb_status_json(ltxdb *d, const db_snap *ov)
{
    json_t *o = json_object();
    char ts[40];
    int64_t now = now_ms();
    pthread_rwlock_rdlock(&d->lock);
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "url", json_string(d->url));
    json_object_set_new(o, "state", json_string(db_state_name(d->state)));
    const vrec *cur = d->live ? vindex_current(d->live) : NULL;
    db_snap s = {0};
    if (ov)
        s = *ov;
    else if (cur)
        snap_of(cur, &s);
    if (ov || cur) {
        json_object_set_new(o, "txid", txid_json(s.txid));
        json_object_set_new(o, "commit", json_integer(s.commit));
        json_object_set_new(o, "page_size", json_integer(s.page_size));
        json_object_set_new(o, "size", json_integer((json_int_t)s.commit * s.page_size));
        fmt_time_ms(ts, sizeof ts, s.ts_ms);
        json_object_set_new(o, "timestamp", json_string(ts));
    } else {
        json_object_set_new(o, "txid", json_null());
        json_object_set_new(o, "commit", json_null());
        json_object_set_new(o, "page_size", json_null());
        json_object_set_new(o, "timestamp", json_null());
    }
    if (cur) {
        json_object_set_new(o, "latest_txid", txid_json(cur->txid));
        json_object_set_new(o, "oldest_live_txid", txid_json(vindex_oldest(d->live)->txid));
        json_object_set_new(o, "live_txids", json_integer((json_int_t)d->live->nrecs));
        json_object_set_new(o, "page_versions", json_integer((json_int_t)d->live->nversions));
        json_object_set_new(o, "age_seconds", json_real((double)(now - cur->ts_ms) / 1000.0));
    }
    json_object_set_new(o, "lag_seconds",
                        json_real(d->last_poll_ok_ms < 0 ? -1.0 : (double)(now - d->last_poll_ok_ms) / 1000.0));
    if (d->last_poll_ok_ms >= 0) {
        fmt_time_ms(ts, sizeof ts, d->last_poll_ok_ms);
        json_object_set_new(o, "last_poll", json_string(ts));
    }
    json_t *lv = json_object();
    for (int l = 0; l < NLEVELS; l++) {
        if (!d->levels[l].files)
            continue;
        char k[4];
        snprintf(k, sizeof k, "%d", l);
        json_t *e = json_object();
        json_object_set_new(e, "files", json_integer((json_int_t)d->levels[l].files));
        json_object_set_new(e, "max_txid", txid_json(d->levels[l].max_txid));
        json_object_set_new(lv, k, e);
    }
    json_object_set_new(o, "levels", lv);
    json_object_set_new(o, "last_error", d->last_error[0] ? json_string(d->last_error) : json_null());
    if (d->last_error[0]) {
        fmt_time_ms(ts, sizeof ts, d->last_error_ms);
        json_object_set_new(o, "last_error_at", json_string(ts));
    }
    json_object_set_new(o, "stall_reason", d->stall_reason[0] ? json_string(d->stall_reason) : json_null());
    json_t *hs = json_array();
    for (size_t i = 0; i < d->nhists; i++)
        json_array_append_new(hs, txid_json(d->hists[i]->txid));
    json_object_set_new(o, "historical_txids", hs);
    pthread_rwlock_unlock(&d->lock);
    json_t *c = json_object();
    json_object_set_new(c, "pages_served", json_integer((json_int_t)atomic_load(&d->pages_served)));
    json_object_set_new(c, "polls", json_integer((json_int_t)atomic_load(&d->polls)));
    json_object_set_new(c, "poll_errors", json_integer((json_int_t)atomic_load(&d->poll_errors)));
    json_object_set_new(c, "files_applied", json_integer((json_int_t)atomic_load(&d->files_applied)));
    json_object_set_new(c, "replans", json_integer((json_int_t)atomic_load(&d->replans)));
    json_object_set_new(c, "historical_builds", json_integer((json_int_t)atomic_load(&d->hist_builds)));
    json_object_set_new(o, "counters", c);
    return o;
}

void ltxdb_metrics(ltxdb *d, db_metrics *m)
{
    memset(m, 0, sizeof *m);
    int64_t now = now_ms();
    pthread_rwlock_rdlock(&d->lock);
    const vrec *cur = d->live ? vindex_current(d->live) : NULL;
    if (cur) {
        m->txid = cur->txid;
        m->commit = cur->commit;
        m->age_seconds = (double)(now - cur->ts_ms) / 1000.0;
        m->versions = d->live->nversions;
    }
    m->state = d->state;
    m->lag_seconds = d->last_poll_ok_ms < 0 ? -1.0 : (double)(now - d->last_poll_ok_ms) / 1000.0;
    m->hist_count = d->nhists;
    pthread_rwlock_unlock(&d->lock);
    m->pages_served = atomic_load(&d->pages_served);
    m->polls = atomic_load(&d->polls);
    m->poll_errors = atomic_load(&d->poll_errors);
    m->files_applied = atomic_load(&d->files_applied);
    m->replans = atomic_load(&d->replans);
    m->hist_builds = atomic_load(&d->hist_builds);
}
