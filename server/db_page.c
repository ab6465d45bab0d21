/* db_page.c - page reads through the shared cache: one page, cache-only
 * lookups, batches read as runs of nearby frames. */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "log.h"

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

/* msg never names the page: ltxdb_page adds "page N: " once (db_page_msg) */
enum { LOAD_GONE = 1, LOAD_STORE = 2, LOAD_CORRUPT = 3, LOAD_NOMEM = 4, LOAD_TIMEOUT = 5 };

static int load_page(void *p, uint8_t *out, uint32_t page_size)
{
    load_ctx *c = p;
    if (c->size == 0 || c->size > LTX_MAX_FRAME_SIZE(page_size) + 16) {
        snprintf(c->msg, sizeof c->msg, "implausible frame size %u", c->size);
        return LOAD_CORRUPT;
    }
    uint8_t *frame = malloc(c->size);
    if (!frame)
        return LOAD_NOMEM;
    obj_error oe = { 0 };
    c->st = disk_read_range(c->d, &c->f, c->off, c->size, frame, &oe);
    if (c->st != OBJ_OK) {
        free(frame);
        snprintf(c->msg, sizeof c->msg, "%s", oe.msg[0] ? oe.msg : obj_status_str(c->st));
        return c->st == OBJ_NOT_FOUND ? LOAD_GONE : c->st == OBJ_ERR_TIMEOUT ? LOAD_TIMEOUT : LOAD_STORE;
    }
    ltx_error le = { 0 };
    ltx_err r = ltx_frame_decode(frame, c->size, page_size, c->pgno, out, &le);
    free(frame);
    if (r != LTX_OK) {
        db_msgf(c->msg, sizeof c->msg, "%s", le.msg[0] ? le.msg : ltx_strerror(r));
        return LOAD_CORRUPT;
    }
    return 0;
}

/* Replan after a referenced file vanished, unless someone already did. */
static void replan_after_gone(ltxdb *d, uint64_t gen)
{
    pthread_mutex_lock(&d->update);
    pthread_rwlock_rdlock(&d->lock);
    int same = d->gen == gen;
    pthread_rwlock_unlock(&d->lock);
    if (same)
        db_index_rebuild_live(d, "referenced file not found");
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
            hist_ix *h = db_hist_find_locked(d, snap->txid);
            if (h)
                r = vindex_lookup(&h->ix, snap->txid, pgno, &vp);
        }
        uint64_t gen = d->gen, uid = d->uid;
        load_ctx c;
        memset(&c, 0, sizeof c);
        if (r == VX_OK && vp.file) {
            c.d = d;
            vfile_info(vp.file, &c.f);
            c.off = vp.off;
            c.size = vp.size;
            c.pgno = pgno;
        }
        pthread_rwlock_unlock(&d->lock);
        if (r == VX_RANGE) {
            db_set_err(err, DB_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)", pgno,
                       snap->commit);
            return -1;
        }
        if (r == VX_NOT_LIVE) {
            /* pruned meanwhile, or an index rebuilt: get a historical one */
            if (db_hist_get(d, snap->txid, err) != 0)
                return -1;
            continue;
        }
        if (!c.d)
            return 0; /* zeros */
        pc_key k = { uid, c.f.min_txid, c.f.max_txid, (uint32_t)c.f.level, pgno };
        int lerr = 0;
        pc_entry *pe = pcache_get(d->srv->cache, &k, snap->page_size, load_page, &c, &lerr);
        if (pe) {
            *e = pe;
            return 0;
        }
        if (lerr == LOAD_GONE) {
            char q[300];
            logf_(LOG_WARN, "file_gone", "db=%s page=%u error=%s", d->name, pgno, log_q(q, sizeof q, c.msg));
            replan_after_gone(d, gen);
            continue;
        }
        char msg[300];
        db_page_msg(msg, sizeof msg, pgno, c.msg[0] ? c.msg : "object store read failed");
        if (c.msg[0])
            db_record_error(d, "page_error", msg);
        db_set_err(err, lerr == LOAD_TIMEOUT ? DB_E_STORE_TIMEOUT : DB_E_STORE, "%s", msg);
        return -1;
    }
    db_set_err(err, DB_E_STORE, "page %u: files kept disappearing", pgno);
    return -1;
}

int ltxdb_try_page(ltxdb *d, uint64_t txid, uint32_t pgno, db_snap *snap, pc_entry **e)
{
    return ltxdb_try_pages(d, txid, &pgno, 1, snap, e);
}

int ltxdb_try_pages(ltxdb *d, uint64_t txid, const uint32_t *pgnos, size_t n, db_snap *snap, pc_entry **out)
{
    memset(out, 0, n * sizeof *out);
    if (!demand_latest_ok(d, txid))
        return 0; /* backed off: the slow path polls first (demand.h) */
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
            hist_ix *h = db_hist_find_locked(d, txid);
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
            pc_key k = { d->uid, vp.file->min_txid, vp.file->max_txid, (uint32_t)vp.file->level, pgnos[i] };
            out[i] = pcache_lookup(d->srv->cache, &k);
            ok = out[i] != NULL;
        }
    }
    if (ok)
        db_snap_of(rec, snap);
    pthread_rwlock_unlock(&d->lock);
    if (!ok)
        for (size_t i = 0; i < n; i++) {
            pcache_release(out[i]);
            out[i] = NULL;
        }
    return ok;
}

/* ---- batched page reads -------------------------------------------------- */

#define RUN_MAX_GAP  (64 * 1024)
#define RUN_MAX_SPAN (8u << 20)

typedef struct {
    size_t idx; /* position in the caller's list */
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
    ltx_error le = { 0 };
    if (ltx_frame_decode(c->frame, c->size, page_size, c->pgno, out, &le) != LTX_OK) {
        db_page_msg(c->msg, sizeof c->msg, c->pgno, le.msg[0] ? le.msg : "frame does not decode");
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

/* Step 1 of a batch: where every page lives, under one read lock. *nw
 * pages need a read (the rest are zeros); *gen and *uid as of then.
 * Returns VX_OK, VX_RANGE (*bad_pg beyond commit), another VX_ code, or
 * LOCATE_NO_INDEX when neither the live nor a historical index has it. */
enum { LOCATE_NO_INDEX = 1 };

static int locate(ltxdb *d, const db_snap *snap, const uint32_t *pgnos, size_t n, want_t *w, size_t *nw,
                  uint32_t *bad_pg, uint64_t *gen, uint64_t *uid)
{
    int r = VX_OK;
    *nw = 0;
    pthread_rwlock_rdlock(&d->lock);
    hist_ix *h = NULL;
    int use_hist = !d->live || !vindex_find(d->live, snap->txid);
    if (use_hist)
        h = db_hist_find_locked(d, snap->txid);
    const vindex *x = use_hist ? (h ? &h->ix : NULL) : d->live;
    for (size_t i = 0; x && i < n; i++) {
        vpage vp;
        r = vindex_lookup(x, snap->txid, pgnos[i], &vp);
        if (r != VX_OK) {
            *bad_pg = pgnos[i];
            break;
        }
        if (!vp.file)
            continue; /* zeros */
        want_t *q = &w[(*nw)++];
        q->idx = i;
        vfile_info(vp.file, &q->f);
        q->off = vp.off;
        q->size = vp.size;
        q->pgno = pgnos[i];
    }
    *gen = d->gen;
    *uid = d->uid;
    pthread_rwlock_unlock(&d->lock);
    return x ? r : LOCATE_NO_INDEX;
}

/* Step 3 of a batch: the misses w[0..nm) (sorted by file and offset) as
 * runs of nearby frames of one file, one read each; a lone page takes the
 * single-flight path. RUNS_OK, RUNS_GONE (a file vanished), RUNS_FAILED
 * or RUNS_TIMEOUT (the store's deadline passed; msg says why) or
 * RUNS_FAILED_ERR (err filled by ltxdb_page). */
enum { RUNS_OK = 0, RUNS_GONE, RUNS_FAILED, RUNS_TIMEOUT, RUNS_FAILED_ERR };

static int read_runs(ltxdb *d, const db_snap *snap, const want_t *w, size_t nm, uint64_t uid, pc_entry **out,
                     char *msg, size_t msglen, db_err *err)
{
    for (size_t a = 0; a < nm;) {
        size_t b = a + 1;
        uint64_t start = w[a].off, end = w[a].off + w[a].size;
        while (b < nm && same_file(&w[b].f, &w[a].f) && w[b].off <= end + RUN_MAX_GAP &&
               w[b].off + w[b].size - start <= RUN_MAX_SPAN) {
            if (w[b].off + w[b].size > end)
                end = w[b].off + w[b].size;
            b++;
        }
        if (b - a == 1) {
            pc_entry *e = NULL;
            db_err e1 = { 0 };
            db_snap one = *snap;
            if (ltxdb_page(d, &one, w[a].pgno, &e, &e1) != 0) {
                *err = e1;
                return RUNS_FAILED_ERR;
            }
            out[w[a].idx] = e;
            a = b;
            continue;
        }
        size_t span = (size_t)(end - start);
        uint8_t *buf = malloc(span);
        if (!buf) {
            snprintf(msg, msglen, "out of memory");
            return RUNS_FAILED;
        }
        obj_error oe = { 0 };
        obj_status st = disk_read_range(d, &w[a].f, start, span, buf, &oe);
        if (st != OBJ_OK) {
            free(buf);
            if (st == OBJ_NOT_FOUND)
                return RUNS_GONE;
            db_msgf(msg, msglen, "%s", oe.msg[0] ? oe.msg : obj_status_str(st));
            return st == OBJ_ERR_TIMEOUT ? RUNS_TIMEOUT : RUNS_FAILED;
        }
        for (size_t i = a; i < b; i++) {
            if (out[w[i].idx])
                continue; /* duplicate page in the list */
            buf_ctx c = { buf + (w[i].off - start), w[i].size, w[i].pgno, "" };
            pc_key k = { uid, w[i].f.min_txid, w[i].f.max_txid, (uint32_t)w[i].f.level, w[i].pgno };
            int lerr = 0;
            out[w[i].idx] = pcache_get(d->srv->cache, &k, snap->page_size, load_from_buf, &c, &lerr);
            if (!out[w[i].idx]) {
                db_msgf(msg, msglen, "%s", c.msg[0] ? c.msg : "page load failed");
                free(buf);
                return RUNS_FAILED;
            }
        }
        free(buf);
        a = b;
    }
    return RUNS_OK;
}

int ltxdb_pages(ltxdb *d, const db_snap *snap, const uint32_t *pgnos, size_t n, pc_entry **out, db_err *err)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return 0;
    want_t *w = malloc(n * sizeof *w);
    if (!w) {
        db_set_err(err, DB_E_NOMEM, "out of memory");
        return -1;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        /* 1. where every page lives */
        size_t nw = 0;
        uint32_t bad_pg = 0;
        uint64_t gen, uid;
        int r = locate(d, snap, pgnos, n, w, &nw, &bad_pg, &gen, &uid);
        if (r == LOCATE_NO_INDEX) {
            if (db_hist_get(d, snap->txid, err) != 0) {
                free(w);
                return -1;
            }
            continue;
        }
        if (r == VX_RANGE) {
            free(w);
            db_set_err(err, DB_E_PAGE_RANGE, "page %u is beyond the database size (%u pages)", bad_pg,
                       snap->commit);
            return -1;
        }
        if (r != VX_OK) {
            free(w);
            db_set_err(err, DB_E_INTERNAL, "index lookup failed");
            return -1;
        }
        /* 2. cache hits */
        size_t nm = 0;
        for (size_t i = 0; i < nw; i++) {
            pc_key k = { uid, w[i].f.min_txid, w[i].f.max_txid, (uint32_t)w[i].f.level, w[i].pgno };
            out[w[i].idx] = pcache_lookup(d->srv->cache, &k);
            if (!out[w[i].idx])
                w[nm++] = w[i];
        }
        /* 3. misses: runs of nearby frames of one file, one read each */
        qsort(w, nm, sizeof *w, want_cmp);
        char msg[256] = "";
        int rr = read_runs(d, snap, w, nm, uid, out, msg, sizeof msg, err);
        if (rr == RUNS_GONE) {
            release_all(out, n);
            replan_after_gone(d, gen);
            continue;
        }
        if (rr != RUNS_OK) {
            release_all(out, n);
            free(w);
            if (rr == RUNS_FAILED || rr == RUNS_TIMEOUT) {
                db_record_error(d, "page_error", msg);
                db_set_err(err, rr == RUNS_TIMEOUT ? DB_E_STORE_TIMEOUT : DB_E_STORE, "%s", msg);
            }
            return -1;
        }
        free(w);
        return 0;
    }
    release_all(out, n);
    free(w);
    db_set_err(err, DB_E_STORE, "files kept disappearing");
    return -1;
}
