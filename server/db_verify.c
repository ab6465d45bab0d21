/* db_verify.c - no byte of a file is served before the whole file was
 * checked: a streaming read (bounded chunks) through the LTX verifier
 * (every frame decoded, index and trailer checked, whole-file CRC-64),
 * pages of a verified file put into the shared cache, and the files known
 * good (not read again on a re-plan) and known bad (left out of every
 * listing before planning). */
#include "db_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define VERIFY_CHUNK    ((size_t)1 << 20) /* bytes per range read */
#define VERIFY_WARM_MAX ((size_t)2 << 20) /* decoded bytes kept per file for the cache */
#define VERIFY_GOOD_MAX 65536             /* files remembered as verified per database */

/* ---- the sets --------------------------------------------------------- */

static int fid_cmp(const db_fid *a, const db_fid *b)
{
    if (a->level != b->level)
        return a->level < b->level ? -1 : 1;
    if (a->min != b->min)
        return a->min < b->min ? -1 : 1;
    return a->max < b->max ? -1 : a->max > b->max;
}

static void fid_of(db_fid *id, const ltx_fileinfo *f)
{
    id->level = f->level;
    id->min = f->min_txid;
    id->max = f->max_txid;
    id->size = f->size;
    id->mtime = f->created_ms;
}

static int fid_same_object(const db_fid *a, const db_fid *b)
{
    return a->size == b->size && a->mtime == b->mtime;
}

/* Position of the name of id in the sorted good set (or where it goes). */
static size_t good_pos(const ltxdb *d, const db_fid *id, int *found)
{
    size_t lo = 0, hi = d->ngood;
    *found = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = fid_cmp(&d->good[mid], id);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int db_verify_known_good(ltxdb *d, const ltx_fileinfo *f)
{
    db_fid id;
    fid_of(&id, f);
    int found;
    pthread_mutex_lock(&d->vset_mu);
    size_t p = good_pos(d, &id, &found);
    int ok = found && fid_same_object(&d->good[p], &id);
    pthread_mutex_unlock(&d->vset_mu);
    return ok;
}

static void mark_good(ltxdb *d, const ltx_fileinfo *f)
{
    db_fid id;
    fid_of(&id, f);
    int found;
    pthread_mutex_lock(&d->vset_mu);
    size_t p = good_pos(d, &id, &found);
    if (found) {
        d->good[p] = id;
    } else {
        if (d->ngood == d->capgood) {
            size_t nc = d->capgood ? d->capgood * 2 : 256;
            db_fid *n = nc <= VERIFY_GOOD_MAX ? realloc(d->good, nc * sizeof *n) : NULL;
            if (n) {
                d->good = n;
                d->capgood = nc;
            } else {
                d->ngood = 0; /* full: forget (costs a re-read, never a wrong byte) */
                p = 0;
            }
        }
        if (d->ngood < d->capgood) {
            memmove(d->good + p + 1, d->good + p, (d->ngood - p) * sizeof *d->good);
            d->good[p] = id;
            d->ngood++;
        }
    }
    pthread_mutex_unlock(&d->vset_mu);
}

void db_verify_mark_bad(ltxdb *d, const ltx_fileinfo *f, const char *why)
{
    db_fid id;
    fid_of(&id, f);
    pthread_mutex_lock(&d->vset_mu);
    if (!d->bad && !(d->bad = calloc(DB_BAD_MAX, sizeof *d->bad))) {
        pthread_mutex_unlock(&d->vset_mu);
        return; /* out of memory: it fails again when read again, never served */
    }
    unsigned n = d->nbad < DB_BAD_MAX ? d->nbad : DB_BAD_MAX;
    unsigned slot = DB_BAD_MAX;
    for (unsigned i = 0; i < n && slot == DB_BAD_MAX; i++)
        if (fid_cmp(&d->bad[i].id, &id) == 0)
            slot = i; /* the same name again: keep the newest object and reason */
    if (slot == DB_BAD_MAX) {
        slot = d->nbad % DB_BAD_MAX; /* full: the oldest entry goes */
        d->nbad = d->nbad + 1 < 2 * DB_BAD_MAX ? d->nbad + 1 : DB_BAD_MAX;
    }
    d->bad[slot].id = id;
    db_msgf(d->bad[slot].why, sizeof d->bad[slot].why, "%s", why);
    /* a name known good with other bytes is no longer */
    int found;
    size_t p = good_pos(d, &id, &found);
    if (found) {
        memmove(d->good + p, d->good + p + 1, (d->ngood - p - 1) * sizeof *d->good);
        d->ngood--;
    }
    pthread_mutex_unlock(&d->vset_mu);
}

/* Caller holds vset_mu. Index of the bad entry for f (same object), or -1. */
static int bad_find_locked(const ltxdb *d, const ltx_fileinfo *f)
{
    db_fid id;
    fid_of(&id, f);
    unsigned n = d->nbad < DB_BAD_MAX ? d->nbad : DB_BAD_MAX;
    for (unsigned i = 0; i < n; i++)
        if (fid_cmp(&d->bad[i].id, &id) == 0 && fid_same_object(&d->bad[i].id, &id))
            return (int)i;
    return -1;
}

size_t db_verify_filter(ltxdb *d, ltx_fileinfo *files, size_t *nf, char *first, size_t firstlen)
{
    size_t k = 0, dropped = 0;
    pthread_mutex_lock(&d->vset_mu);
    for (size_t i = 0; i < *nf; i++) {
        int b = d->nbad ? bad_find_locked(d, &files[i]) : -1;
        if (b < 0) {
            files[k++] = files[i];
            continue;
        }
        if (!dropped && first && firstlen)
            db_msgf(first, firstlen, "%s", d->bad[b].why);
        dropped++;
    }
    pthread_mutex_unlock(&d->vset_mu);
    *nf = k;
    return dropped;
}

int db_verify_bad_covering(ltxdb *d, uint64_t txid, char *out, size_t outlen)
{
    int hit = 0;
    pthread_mutex_lock(&d->vset_mu);
    unsigned n = d->nbad < DB_BAD_MAX ? d->nbad : DB_BAD_MAX;
    for (unsigned i = 0; i < n && !hit; i++)
        if (d->bad[i].id.min <= txid && txid <= d->bad[i].id.max) {
            db_msgf(out, outlen, "%s", d->bad[i].why);
            hit = 1;
        }
    pthread_mutex_unlock(&d->vset_mu);
    return hit;
}

int db_verify_bad_listed_covering(ltxdb *d, const ltx_fileinfo *files, size_t nf, uint64_t txid, char *out,
                                  size_t outlen)
{
    int hit = 0;
    pthread_mutex_lock(&d->vset_mu);
    for (size_t i = 0; i < nf && !hit && d->nbad; i++) {
        if (files[i].min_txid > txid || txid > files[i].max_txid)
            continue;
        int b = bad_find_locked(d, &files[i]);
        if (b >= 0) {
            db_msgf(out, outlen, "%s", d->bad[b].why);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&d->vset_mu);
    return hit;
}

void db_verify_forget_all(ltxdb *d)
{
    pthread_mutex_lock(&d->vset_mu);
    d->ngood = 0;
    d->nbad = 0;
    pthread_mutex_unlock(&d->vset_mu);
}

json_t *db_verify_bad_json(ltxdb *d)
{
    json_t *a = json_array();
    pthread_mutex_lock(&d->vset_mu);
    unsigned n = d->nbad < DB_BAD_MAX ? d->nbad : DB_BAD_MAX;
    for (unsigned i = 0; i < n; i++) {
        ltx_fileinfo f = { 0 };
        f.level = d->bad[i].id.level;
        f.min_txid = d->bad[i].id.min;
        f.max_txid = d->bad[i].id.max;
        char fname[64];
        ltx_fileinfo_format(fname, sizeof fname, &f);
        json_t *e = json_object();
        json_object_set_new(e, "file", json_string(fname));
        json_object_set_new(e, "size", json_integer((json_int_t)d->bad[i].id.size));
        json_object_set_new(e, "reason", json_string(d->bad[i].why));
        json_array_append_new(a, e);
    }
    pthread_mutex_unlock(&d->vset_mu);
    return a;
}

/* ---- streaming verification -------------------------------------------- */

typedef struct {
    ltx_verifier *v;
    uint8_t *warm; /* pgno (4 bytes) + page, back to back; NULL when not warming */
    size_t wlen, wcap;
} vctx;

static int keep_page(void *p, uint32_t pgno, const uint8_t *page)
{
    vctx *c = p;
    const ltx_header *h = ltx_verifier_header(c->v);
    if (!c->warm || !h)
        return 0;
    size_t need = 4 + (size_t)h->page_size;
    if (c->wlen + need > c->wcap)
        return 0; /* budget spent: the rest is read from the store on demand */
    memcpy(c->warm + c->wlen, &pgno, 4);
    memcpy(c->warm + c->wlen + 4, page, h->page_size);
    c->wlen += need;
    return 0;
}

/* Pages of a file that verified go into the cache (never before: a file
 * that fails its checksum at the end must leave no page behind). */
static void warm_cache(ltxdb *d, const ltx_fileinfo *f, const vctx *c, uint32_t ps)
{
    uint64_t uid = atomic_load(&d->pending_uid);
    if (!uid) {
        pthread_rwlock_rdlock(&d->lock);
        uid = d->uid;
        pthread_rwlock_unlock(&d->lock);
    }
    for (size_t o = 0; o + 4 + ps <= c->wlen; o += 4 + (size_t)ps) {
        uint32_t pgno;
        memcpy(&pgno, c->warm + o, 4);
        pc_key k = { uid, f->min_txid, f->max_txid, (uint32_t)f->level, pgno };
        if (pcache_put(d->srv->cache, &k, c->warm + o + 4, ps) != 0)
            break;
    }
}

/* ---- read-ahead: bounded parallel range reads of one big file ----------
 * The verifier takes bytes in order; for a file of more than
 * VERIFY_AHEAD_MIN bytes up to VERIFY_AHEAD chunks are read at once by
 * helper threads into a ring of buffers (VERIFY_AHEAD MiB per reader)
 * while the caller feeds them in order, so a multi-GB snapshot is not
 * bound by one request's latency at a time. */
#define VERIFY_AHEAD     4
#define VERIFY_AHEAD_MIN ((uint64_t)8 << 20)

typedef struct {
    ltxdb *d;
    const ltx_fileinfo *f;
    uint64_t nchunks;
    uint8_t *buf[VERIFY_AHEAD];
    struct {
        uint64_t idx; /* chunk held, valid when done */
        int done;
        obj_status st;
        char msg[200];
    } slot[VERIFY_AHEAD];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next, consumed;
    int stop;
} rahead;

static size_t chunk_len(const ltx_fileinfo *f, uint64_t i)
{
    uint64_t off = i * VERIFY_CHUNK;
    return f->size - off < VERIFY_CHUNK ? (size_t)(f->size - off) : VERIFY_CHUNK;
}

static void *rahead_worker(void *arg)
{
    rahead *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->next < r->nchunks && r->next >= r->consumed + VERIFY_AHEAD)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop || r->next >= r->nchunks) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        uint64_t i = r->next++;
        pthread_mutex_unlock(&r->mu);
        unsigned k = (unsigned)(i % VERIFY_AHEAD);
        obj_error oe = { 0 };
        obj_status st = objstore_read_range(r->d->store, r->d->prefix, r->f, i * VERIFY_CHUNK,
                                            chunk_len(r->f, i), r->buf[k], &oe);
        pthread_mutex_lock(&r->mu);
        r->slot[k].idx = i;
        r->slot[k].st = st;
        db_msgf(r->slot[k].msg, sizeof r->slot[k].msg, "%s", oe.msg[0] ? oe.msg : obj_status_str(st));
        r->slot[k].done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

/* Feed f to the verifier through the read-ahead ring. IX_OK, or IX_GONE /
 * IX_STORE (msg set) / IX_CORRUPT (le set); -1 when it could not start
 * (the caller reads serially). */
static int feed_ahead(ltxdb *d, const ltx_fileinfo *f, ltx_verifier *v, ltx_error *le, char *msg,
                      size_t msglen)
{
    rahead r;
    memset(&r, 0, sizeof r);
    r.d = d;
    r.f = f;
    r.nchunks = (f->size + VERIFY_CHUNK - 1) / VERIFY_CHUNK;
    pthread_t th[VERIFY_AHEAD];
    size_t started = 0;
    int ok = pthread_mutex_init(&r.mu, NULL) == 0;
    if (ok && pthread_cond_init(&r.cv, NULL) != 0) {
        pthread_mutex_destroy(&r.mu);
        ok = 0;
    }
    int inited = ok;
    for (int k = 0; ok && k < VERIFY_AHEAD; k++)
        ok = (r.buf[k] = malloc(VERIFY_CHUNK)) != NULL;
    for (; ok && started < VERIFY_AHEAD; started++)
        if (pthread_create(&th[started], NULL, rahead_worker, &r) != 0)
            break;
    int rc = started ? IX_OK : -1;
    for (uint64_t i = 0; rc == IX_OK && i < r.nchunks; i++) {
        unsigned k = (unsigned)(i % VERIFY_AHEAD);
        pthread_mutex_lock(&r.mu);
        while (!(r.slot[k].done && r.slot[k].idx == i))
            pthread_cond_wait(&r.cv, &r.mu);
        pthread_mutex_unlock(&r.mu);
        if (r.slot[k].st != OBJ_OK) {
            char fname[64];
            ltx_fileinfo_format(fname, sizeof fname, f);
            db_msgf(msg, msglen, "%s: %s", fname, r.slot[k].msg);
            rc = r.slot[k].st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
        } else {
            size_t len = chunk_len(f, i);
            atomic_fetch_add(&d->vfy_bytes_done, len);
            atomic_fetch_add(&d->vfy_bytes_read, len);
            if (ltx_verifier_feed(v, r.buf[k], len, le) != LTX_OK)
                rc = IX_CORRUPT;
        }
        pthread_mutex_lock(&r.mu);
        r.slot[k].done = 0;
        r.consumed = i + 1;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
    }
    if (started) {
        pthread_mutex_lock(&r.mu);
        r.stop = 1;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
        for (size_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
    }
    for (int k = 0; k < VERIFY_AHEAD; k++)
        free(r.buf[k]);
    if (inited) {
        pthread_cond_destroy(&r.cv);
        pthread_mutex_destroy(&r.mu);
    }
    return rc;
}

/* Read f whole in VERIFY_CHUNK range reads through the verifier. */
static int verify_stream(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen)
{
    char fname[64];
    ltx_fileinfo_format(fname, sizeof fname, f);
    vctx c = { 0 };
    c.v = ltx_verifier_new();
    uint8_t *buf = malloc(VERIFY_CHUNK);
    if (!c.v || !buf) {
        ltx_verifier_free(c.v);
        free(buf);
        db_msgf(msg, msglen, "out of memory");
        return IX_NOMEM;
    }
    pcache_stats cs;
    pcache_get_stats(d->srv->cache, &cs);
    c.wcap = cs.max_bytes / 8 < VERIFY_WARM_MAX ? (size_t)cs.max_bytes / 8 : VERIFY_WARM_MAX;
    if (d->no_warm || atomic_load(&d->build_nowarm))
        c.wcap = 0;
    c.warm = c.wcap ? malloc(c.wcap) : NULL;
    ltx_verifier_on_page(c.v, keep_page, &c);
    ltx_error le = { 0 };
    int rc = f->size >= VERIFY_AHEAD_MIN ? feed_ahead(d, f, c.v, &le, msg, msglen) : -1;
    if (rc >= 0) {
        free(buf); /* read ahead: the loop below has nothing to do */
        buf = NULL;
    } else {
        rc = IX_OK;
    }
    for (uint64_t off = 0; rc == IX_OK && buf && off < f->size;) {
        size_t len = f->size - off < VERIFY_CHUNK ? (size_t)(f->size - off) : VERIFY_CHUNK;
        obj_error oe = { 0 };
        obj_status st = objstore_read_range(d->store, d->prefix, f, off, len, buf, &oe);
        if (st != OBJ_OK) {
            db_msgf(msg, msglen, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
            rc = st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
            break;
        }
        off += len;
        atomic_fetch_add(&d->vfy_bytes_done, len);
        atomic_fetch_add(&d->vfy_bytes_read, len);
        if (ltx_verifier_feed(c.v, buf, len, &le) != LTX_OK)
            rc = IX_CORRUPT;
    }
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    if (rc == IX_OK && ltx_verifier_finish(c.v, &info, &le) != LTX_OK)
        rc = IX_CORRUPT;
    if (rc == IX_OK && (info.header.min_txid != f->min_txid || info.header.max_txid != f->max_txid)) {
        snprintf(le.msg, sizeof le.msg, "header TXIDs do not match the file name");
        rc = IX_CORRUPT;
    }
    if (rc == IX_CORRUPT)
        db_msgf(msg, msglen, "%s: rejected: %s", fname, le.msg[0] ? le.msg : ltx_strerror(le.code));
    if (rc == IX_OK) {
        out->hdr = info.header;
        out->ents = info.index;
        out->n = info.page_count;
        info.index = NULL;
        warm_cache(d, f, &c, info.header.page_size);
    }
    ltx_file_info_free(&info);
    ltx_verifier_free(c.v);
    free(c.warm);
    free(buf);
    return rc;
}

int db_verify_file(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (d->trailer_only || db_verify_known_good(d, f)) {
        int rc = db_index_tail(d, f, out, msg, msglen);
        atomic_fetch_add(&d->vfy_bytes_done, f->size);
        return rc;
    }
    int rc = verify_stream(d, f, out, msg, msglen);
    if (rc == IX_OK) {
        mark_good(d, f);
    } else if (rc == IX_CORRUPT) {
        db_verify_mark_bad(d, f, msg);
        db_record_error(d, "file_rejected", msg);
    }
    return rc;
}

void db_verify_l0_result(ltxdb *d, const ltx_fileinfo *f, int ok, const char *why)
{
    if (ok)
        mark_good(d, f);
    else
        db_verify_mark_bad(d, f, why);
}
