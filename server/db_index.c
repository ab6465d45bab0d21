/* db_index.c - building a database's index from a restore plan (page
 * indexes read from file tails, in parallel) and installing it as live. */
#include "db_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* ---- indexing one file from its tail --------------------------------- */

int db_index_tail(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    uint8_t *tail = malloc(TAIL_BYTES);
    if (!tail)
        return IX_NOMEM;
    obj_error oe = { 0 };
    size_t got = 0;
    char fname[64];
    ltx_fileinfo_format(fname, sizeof fname, f);
    obj_status st = objstore_read_tail(d->store, d->prefix, f, TAIL_BYTES, tail, &got, &oe);
    if (st != OBJ_OK) {
        free(tail);
        snprintf(msg, msglen, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
        return st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
    }
    ltx_error le = { 0 };
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
    if (ltx_index_decode(ip, idx_len, idx_off, out->hdr.page_size, out->hdr.commit, &out->ents, &out->n,
                         &le) != LTX_OK) {
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
        int rc = db_verify_file(p->d, &p->plan[i], &s->fx, s->msg, sizeof s->msg);
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
static int build_from_plan(ltxdb *d, const ltx_fileinfo *plan, size_t n, vindex *x, size_t *bad, char *msg,
                           size_t msglen)
{
    vindex_init(x);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += plan[i].size;
    atomic_store(&d->vfy_files_total, n);
    atomic_store(&d->vfy_bytes_total, bytes);
    atomic_store(&d->vfy_files_done, 0);
    atomic_store(&d->vfy_bytes_done, 0);
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
            frc = db_verify_file(d, &plan[i], &fx, msg, msglen);
        }
        if (frc != IX_OK) {
            *bad = i;
            rc = frc;
            break;
        }
        atomic_fetch_add(&d->vfy_files_done, 1);
        db_store_answered(d); /* a long re-plan is not a silent store */
        if (page_size && fx.hdr.page_size != page_size) {
            snprintf(msg, msglen, "page size changes from %u to %u in the plan", page_size, fx.hdr.page_size);
        }
        page_size = fx.hdr.page_size;
        commit = fx.hdr.commit;
        ts = fx.hdr.timestamp_ms;
        vfile *vf = vfile_new(&plan[i]);
        int r = vf ? vindex_merge_file(x, vf, fx.ents, fx.n, fx.hdr.commit) : VX_NOMEM;
        vfile_unref(vf);
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

int db_index_read_header(ltxdb *d, const ltx_fileinfo *f, ltx_header *h)
{
    uint8_t hb[LTX_HEADER_SIZE];
    obj_error oe = { 0 };
    if (objstore_read_range(d->store, d->prefix, f, 0, sizeof hb, hb, &oe) != OBJ_OK ||
        ltx_header_decode(hb, sizeof hb, h, NULL) != LTX_OK)
        return -1;
    return 0;
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
        ltx_header h;
        if (db_index_read_header(d, &files[i], &h) == 0) {
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

static int plan_reaches(const ltx_fileinfo *files, size_t nf, uint64_t t)
{
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t restored = 0;
    ltx_err r = ltx_restore_plan(files, nf, t, 0, &plan, &pn, &restored, NULL);
    free(plan);
    return r == LTX_OK && restored == t;
}

/* Candidates c (descending) from the first a plan reaches exactly, found
 * by bisection (those above a gap fail, those below it mostly reach): a
 * gap under hundreds of newer files costs log n plans, not n. */
static size_t first_reachable(const ltx_fileinfo *files, size_t nf, const uint64_t *c, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (plan_reaches(files, nf, c[mid]))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One listing, one plan. PLAN_RELIST: a planned file vanished between the
 * LIST and its read (retention): the listing is stale, list again. Files
 * known bad are left out before planning, and a file that fails its
 * verification while building is left out and the plan made again, so
 * the plan routes around damage through other levels where they cover
 * it. For the latest, stall says why the plan stops short of the newest
 * TXID listed (a gap, or a rejected file named with its reason). */
static int plan_once(ltxdb *d, uint64_t target, vindex **out, char *stall, size_t stalllen, char *msg,
                     size_t msglen, int *broken)
{
    *out = NULL;
    if (broken)
        *broken = 0;
    stall[0] = 0;
    msg[0] = 0;
    ltx_fileinfo *files;
    size_t nf;
    obj_status st = db_list_all(d, &files, &nf, msg, msglen);
    if (st != OBJ_OK)
        return st == OBJ_ERR_TIMEOUT ? PLAN_TIMEOUT : PLAN_FAIL;
    if (target == 0)
        db_update_levels(d, files, nf);
    if (nf == 0) {
        free(files);
        return PLAN_WAIT;
    }
    uint64_t maxall = 0;
    for (size_t i = 0; i < nf; i++)
        if (files[i].max_txid > maxall)
            maxall = files[i].max_txid;
    /* the listing as listed: the stall names the known-bad file that holds
     * the first TXID the plan cannot reach, not whichever bad file is
     * listed first (one long covered by a good file explains nothing) */
    ltx_fileinfo *listed = target == 0 ? malloc(nf * sizeof *listed) : NULL;
    size_t nlisted = listed ? nf : 0;
    if (listed)
        memcpy(listed, files, nf * sizeof *listed);
    char rejected[200] = "", gap[200] = "";
    db_verify_filter(d, files, &nf, rejected, sizeof rejected);
    int result = PLAN_FAIL;
    uint64_t *cands = NULL;
    size_t ncand = 0, ci = 0;
    uint64_t want = target;
    for (int attempt = 0; attempt < 64; attempt++) {
        ltx_fileinfo *plan = NULL;
        size_t pn = 0;
        uint64_t restored = 0;
        ltx_error le = { 0 };
        ltx_err r =
            nf ? ltx_restore_plan(files, nf, want, 0, &plan, &pn, &restored, &le) : LTX_ERR_TX_NOT_AVAILABLE;
        if (r == LTX_OK && target && restored != target) {
            free(plan);
            plan = NULL;
            r = LTX_ERR_TX_NOT_AVAILABLE;
        }
        if (r == LTX_OK) {
            vindex *x = malloc(sizeof *x);
            size_t bad = 0;
            int br = x ? build_from_plan(d, plan, pn, x, &bad, msg, msglen) : IX_NOMEM;
            if (br == IX_OK) {
                fix_snapshot_time(d, x, plan, pn, files, nf);
                if (target == 0) {
                    d->plan_last = plan[pn - 1];
                    char bad[200];
                    if (restored >= maxall)
                        stall[0] = 0;
                    else if (db_verify_bad_listed_covering(d, listed, nlisted, restored + 1, bad, sizeof bad))
                        db_msgf(stall, stalllen, "%s", bad);
                    else if (db_gap_msg(stall, stalllen, restored, files, nf))
                        ; /* the wording a poll's bridge uses: the reason stays put */
                    else if (gap[0])
                        db_msgf(stall, stalllen, "%s", gap);
                    else
                        db_msgf(stall, stalllen,
                                "TXIDs up to %016" PRIx64 " are listed but cannot be reached", maxall);
                }
                free(plan);
                *out = x;
                result = PLAN_OK;
                break;
            }
            free(x);
            free(plan);
            if (br == IX_CORRUPT && db_verify_filter(d, files, &nf, rejected[0] ? NULL : rejected,
                                                     rejected[0] ? 0 : sizeof rejected) > 0) {
                /* the file is known bad now: plan again without it */
                want = target;
                free(cands);
                cands = NULL;
                ci = ncand = 0;
                stall[0] = gap[0] = 0;
                if (broken)
                    *broken = 1;
                continue;
            }
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
        if (!gap[0])
            db_msgf(gap, sizeof gap, "%s", le.msg[0] ? le.msg : ltx_strerror(r));
        if (!stall[0] && rejected[0])
            db_msgf(stall, stalllen, "%s", rejected);
        else if (!stall[0])
            db_msgf(stall, stalllen, "%s", gap);
        if (!cands) {
            cands = malloc((nf ? nf : 1) * sizeof *cands);
            if (!cands)
                break;
            for (size_t i = 0; i < nf; i++)
                cands[i] = files[i].max_txid;
            qsort(cands, nf, sizeof *cands, cmp_u64_desc);
            ncand = nf;
            ci = first_reachable(files, nf, cands, ncand);
            if (ci < ncand)
                want = cands[ci] + 1; /* the loop below takes cands[ci] */
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
    free(listed);
    free(files);
    return result;
}

#define PLAN_MAX_LISTINGS 4

int db_index_plan(ltxdb *d, uint64_t target, vindex **out, char *stall, size_t stalllen, char *msg,
                  size_t msglen, int *broken)
{
    int r = PLAN_RELIST;
    int64_t t0 = metrics_now_ns();
    for (int i = 0; i < PLAN_MAX_LISTINGS && r == PLAN_RELIST; i++)
        r = plan_once(d, target, out, stall, stalllen, msg, msglen, broken);
    metrics_observe_since(
        &metrics_index_build_seconds[target ? METRICS_INDEX_HISTORICAL : METRICS_INDEX_LIVE], t0);
    return r == PLAN_RELIST ? PLAN_FAIL : r; /* msg names the file that kept vanishing */
}

/* ---- installing an index ------------------------------------------------ */

/* Install x as the live index, with the state it leaves (st, reason) set
 * in the same critical section as its TXID. */
static void install_live(ltxdb *d, vindex *x, int st, const char *reason)
{
    pthread_rwlock_wrlock(&d->lock);
    vindex *old = d->live;
    const vrec *oc = old ? vindex_current(old) : NULL;
    int new_history = (oc && vindex_current(x)->txid < oc->txid) || d->force_new_uid;
    uint64_t pending = atomic_exchange(&d->pending_uid, 0);
    if (new_history) {
        /* a new history; pages warmed while building it are under pending */
        d->uid = pending ? pending : atomic_fetch_add(&d->srv->next_uid, 1) + 1;
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
    int old_st = db_set_state_locked(d, st, reason);
    pthread_rwlock_unlock(&d->lock);
    db_log_state(d, old_st, st, reason);
    db_live_free(old);
    for (size_t i = 0; i < nh; i++)
        db_hist_drop(d, hs[i]);
    free(hs);
    if (new_history)
        db_forget_history_caches(d);
    if (new_history && d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d); /* wake long-polls: they answer reset */
}

/* Fresh plan for the latest TXID; keeps the old index when it fails. */
int db_index_rebuild_live(ltxdb *d, const char *why)
{
    char stall[256], msg[256];
    vindex *x = NULL;
    int broken = 0;
    if (d->force_new_uid)
        atomic_store(&d->pending_uid, atomic_fetch_add(&d->srv->next_uid, 1) + 1);
    /* A re-plan of a live database that is not known to start a new
     * history warms nothing: if the history was replaced unnoticed, pages
     * of its files must not land under the namespace the old index reads */
    atomic_store(&d->build_nowarm, d->live && !d->force_new_uid);
    int64_t t0 = mono_ms();
    pthread_rwlock_wrlock(&d->lock);
    d->build_started_ms = timefmt_now_ms();
    pthread_rwlock_unlock(&d->lock);
    atomic_store(&d->building, 1);
    int r = db_index_plan(d, 0, &x, stall, sizeof stall, msg, sizeof msg, &broken);
    atomic_store(&d->building, 0);
    atomic_store(&d->build_nowarm, 0);
    pthread_rwlock_wrlock(&d->lock);
    d->last_build_ms = mono_ms() - t0;
    pthread_rwlock_unlock(&d->lock);
    atomic_fetch_add(&d->replans, 1);
    if (r == PLAN_OK) {
        uint64_t old = atomic_load(&d->cur_txid);
        /* stalled: held at the last good TXID by a gap or a rejected file, named */
        install_live(d, x, stall[0] ? DB_STALLED : DB_OK, stall[0] ? stall : NULL);
        const vrec *c = vindex_current(x);
        char q[300];
        logf_(LOG_INFO, "index_built",
              "db=%s txid=%016" PRIx64 " commit=%u page_size=%u why=%s prev_txid=%016" PRIx64, d->name,
              c->txid, c->commit, c->page_size, log_q(q, sizeof q, why), old);
        if (stall[0])
            db_record_error(d, "plan_error", stall);
        if (d->srv->on_new_txid && c->txid != old)
            d->srv->on_new_txid(d->srv, d);
        return 0;
    }
    atomic_store(&d->pending_uid, 0);
    if (r == PLAN_WAIT) {
        if (d->live) {
            db_drop_history(d, "the replica lists no LTX files any more");
        } else {
            db_set_state(d, DB_WAITING, "no LTX files yet");
            if (!d->initialized)
                logf_(LOG_INFO, "db_waiting", "db=%s reason=\"no LTX files yet\"", d->name);
        }
        return -1;
    }
    db_record_error(d, "plan_error", msg[0] ? msg : stall);
    if (!d->live)
        db_set_state(d, r == PLAN_NOT_AVAILABLE ? DB_STALLED : DB_ERROR, msg[0] ? msg : stall);
    return -1;
}
