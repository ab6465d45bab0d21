/* vindex.c - versioned page index: one 16-byte entry per page for the
 * newest version, a file table the entries name by id, and the older
 * versions kept in the records that replaced them (see vindex.h). */
#include "vindex.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(ventry) == 16, "a page entry is 16 bytes");

#define VINDEX_OFF_MAX ((1ULL << 48) - 1)
#define VINDEX_FID_MAX 0xfffffff0u

void vindex_init(vindex *x) { memset(x, 0, sizeof *x); }

vfile *vfile_new(const ltx_fileinfo *f)
{
    vfile *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->refs = 1;
    v->level = f->level;
    v->min_txid = f->min_txid;
    v->max_txid = f->max_txid;
    v->size = f->size;
    v->created_ms = f->created_ms;
    return v;
}

void vfile_info(const vfile *v, ltx_fileinfo *out)
{
    memset(out, 0, sizeof *out);
    out->level = v->level;
    out->min_txid = v->min_txid;
    out->max_txid = v->max_txid;
    out->size = v->size;
    out->created_ms = v->created_ms;
}

void vfile_unref(vfile *f)
{
    if (f && --f->refs == 0)
        free(f);
}

void vindex_free(vindex *x)
{
    if (!x)
        return;
    for (uint32_t i = 1; i < x->nfiles; i++)
        vfile_unref(x->files[i].file); /* NULL for free ids and zeros */
    free(x->files);
    free(x->slots);
    for (size_t i = 0; i < x->nrecs; i++) {
        free(x->recs[i].pages);
        free(x->recs[i].prev);
    }
    free(x->recs);
    memset(x, 0, sizeof *x);
}

/* ---- file table --------------------------------------------------------- */

/* A new file table id for file (NULL: zeros) at txid, with no uses yet;
 * 0 when memory runs out. The table takes a reference on file. */
static uint32_t vindex_fid_new(vindex *x, vfile *file, uint64_t txid)
{
    uint32_t id = x->free_fid;
    if (id) {
        x->free_fid = x->files[id].next_free;
    } else {
        if (x->nfiles == 0)
            x->nfiles = 1; /* id 0 means "no version" */
        if (x->nfiles >= x->capfiles) {
            uint32_t nc = x->capfiles ? x->capfiles * 2 : 16;
            if (nc > VINDEX_FID_MAX || nc < x->capfiles)
                return 0;
            vftab *f = realloc(x->files, (size_t)nc * sizeof *f);
            if (!f)
                return 0;
            x->files = f;
            x->capfiles = nc;
        }
        id = x->nfiles++;
    }
    x->files[id] = (vftab){ file, txid, 0, 0 };
    if (file)
        file->refs++;
    return id;
}

/* Give an id back once nothing names it. */
static void vindex_fid_release(vindex *x, uint32_t id)
{
    vftab *t = &x->files[id];
    vfile_unref(t->file);
    t->file = NULL;
    t->uses = 0;
    t->next_free = x->free_fid;
    x->free_fid = id;
}

static void vindex_fid_unuse(vindex *x, uint32_t id)
{
    if (id && --x->files[id].uses == 0)
        vindex_fid_release(x, id);
}

static uint64_t vindex_entry_txid(const vindex *x, const ventry *e)
{
    return e->fid ? x->files[e->fid].txid : 0;
}

static void vindex_entry_out(const vindex *x, const ventry *e, vpage *out)
{
    memset(out, 0, sizeof *out);
    if (!e->fid)
        return;
    out->file = x->files[e->fid].file;
    out->txid = x->files[e->fid].txid;
    out->off = (uint64_t)e->off_hi << 32 | e->off_lo;
    out->size = e->size;
}

static ventry vindex_entry_make(uint32_t fid, uint64_t off, uint32_t size)
{
    return (ventry){ fid, size, (uint32_t)off, (uint16_t)(off >> 32), 0 };
}

/* ---- page entries ------------------------------------------------------- */

/* Room for page pgno. want: the size the database is known to have (the
 * commit) so a built index is allocated once at its exact size. */
static int vindex_ensure_slots(vindex *x, uint32_t pgno, uint32_t want)
{
    if (pgno < x->nslots)
        return 0;
    uint64_t n = (uint64_t)(want > pgno ? want : pgno) + 1;
    uint64_t grow = (uint64_t)x->nslots + x->nslots / 16 + 64;
    if (n < grow && pgno >= want)
        n = grow;
    if (n > 0xffffffffu)
        n = 0xffffffffu;
    ventry *s = realloc(x->slots, (size_t)n * sizeof *s);
    if (!s)
        return -1;
    memset(s + x->nslots, 0, (size_t)(n - x->nslots) * sizeof *s);
    x->slots = s;
    x->nslots = (uint32_t)n;
    return 0;
}

/* Set page pg's newest version, dropping the one it had (merge: no history). */
static void vindex_slot_replace(vindex *x, uint32_t pg, ventry e)
{
    ventry *s = &x->slots[pg];
    if (e.fid) {
        x->files[e.fid].uses++;
        x->nversions++;
    }
    if (s->fid)
        x->nversions--;
    vindex_fid_unuse(x, s->fid);
    *s = e;
}

int vindex_merge_file(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit)
{
    uint32_t fid = vindex_fid_new(x, f, f->max_txid);
    if (!fid)
        return VX_NOMEM;
    x->files[fid].uses++; /* held until the end */
    int rc = VX_OK;
    for (size_t i = 0; i < n; i++) {
        uint32_t pg = e[i].pgno;
        if (pg == 0 || (commit && pg > commit))
            continue;
        if (e[i].offset > VINDEX_OFF_MAX) {
            rc = VX_TOOBIG;
            break;
        }
        if (vindex_ensure_slots(x, pg, commit)) {
            rc = VX_NOMEM;
            break;
        }
        /* Keep the entry whose file max TXID is higher. */
        if (vindex_entry_txid(x, &x->slots[pg]) > f->max_txid)
            continue;
        vindex_slot_replace(x, pg, vindex_entry_make(fid, e[i].offset, e[i].size));
    }
    /* A shrink drops every page above the new size. */
    for (uint32_t pg = commit + 1; rc == VX_OK && commit && pg < x->nslots; pg++)
        if (x->slots[pg].fid)
            vindex_slot_replace(x, pg, (ventry){ 0, 0, 0, 0, 0 });
    vindex_fid_unuse(x, fid);
    return rc;
}

static int vindex_push_rec(vindex *x, const vrec *r)
{
    if (x->nrecs == x->caprecs) {
        size_t nc = x->caprecs ? x->caprecs * 2 : 16;
        vrec *v = realloc(x->recs, nc * sizeof *v);
        if (!v)
            return -1;
        x->recs = v;
        x->caprecs = nc;
    }
    x->recs[x->nrecs++] = *r;
    return 0;
}

int vindex_seal(vindex *x, uint64_t txid, uint32_t commit, uint32_t page_size, int64_t ts_ms,
                int64_t mono_now)
{
    vrec r = { txid, commit, page_size, ts_ms, mono_now, mono_now, NULL, NULL, 0 };
    return vindex_push_rec(x, &r) ? VX_NOMEM : VX_OK;
}

const vrec *vindex_current(const vindex *x) { return x->nrecs ? &x->recs[x->nrecs - 1] : NULL; }
const vrec *vindex_oldest(const vindex *x) { return x->nrecs ? &x->recs[0] : NULL; }

static size_t vindex_rec_pos(const vindex *x, uint64_t txid)
{
    size_t lo = 0, hi = x->nrecs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->recs[mid].txid < txid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

vrec *vindex_find(vindex *x, uint64_t txid)
{
    size_t lo = vindex_rec_pos(x, txid);
    return lo < x->nrecs && x->recs[lo].txid == txid ? &x->recs[lo] : NULL;
}

/* Undo the first np changes of an apply that failed (newest first). */
static void vindex_apply_undo(vindex *x, const uint32_t *pages, const ventry *prev, size_t np)
{
    for (size_t k = np; k-- > 0;) {
        ventry *s = &x->slots[pages[k]];
        vindex_fid_unuse(x, s->fid);
        *s = prev[k];
        x->nversions--;
    }
}

int vindex_apply(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit, uint32_t page_size,
                 int64_t ts_ms, int64_t mono_now)
{
    const vrec *cur = vindex_current(x);
    uint64_t txid = f->max_txid;
    if (cur && txid <= cur->txid)
        return VX_STALE;
    uint32_t prev_commit = cur ? cur->commit : 0;
    size_t cap = n + (prev_commit > commit ? prev_commit - commit : 0);
    uint32_t *pages = cap ? malloc(cap * sizeof *pages) : NULL;
    ventry *prev = cap ? malloc(cap * sizeof *prev) : NULL;
    uint32_t fid = vindex_fid_new(x, f, txid), zfid = 0;
    if ((cap && (!pages || !prev)) || !fid)
        goto nomem;
    x->files[fid].uses++; /* held until the end */
    size_t np = 0;
    int rc = VX_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t pg = e[i].pgno;
        if (pg == 0 || pg > commit)
            continue;
        if (e[i].offset > VINDEX_OFF_MAX) {
            rc = VX_TOOBIG;
            goto undo;
        }
        if (vindex_ensure_slots(x, pg, commit))
            goto undo;
        ventry *s = &x->slots[pg];
        if (vindex_entry_txid(x, s) >= txid)
            continue;
        pages[np] = pg;
        prev[np++] = *s; /* its use moves to the side table */
        *s = vindex_entry_make(fid, e[i].offset, e[i].size);
        x->files[fid].uses++;
        x->nversions++;
    }
    /* Shrink: pages beyond the new commit read as zeros from now on (if the
     * database grows again without rewriting them, a restore has zeros). */
    for (uint32_t pg = commit + 1; pg <= prev_commit && pg < x->nslots; pg++) {
        ventry *s = &x->slots[pg];
        if (s->fid == 0 || x->files[s->fid].file == NULL)
            continue;
        if (!zfid && !(zfid = vindex_fid_new(x, NULL, txid)))
            goto undo;
        pages[np] = pg;
        prev[np++] = *s;
        *s = vindex_entry_make(zfid, 0, 0);
        x->files[zfid].uses++;
        x->nversions++;
    }
    /* entries are sorted by pgno and shrink pages are above commit: sorted */
    vrec r = { txid, commit, page_size, ts_ms, mono_now, mono_now, np ? pages : NULL, np ? prev : NULL, np };
    if (vindex_push_rec(x, &r))
        goto undo;
    if (!np) {
        free(pages);
        free(prev);
    }
    vindex_fid_unuse(x, fid);
    return VX_OK;
undo:
    vindex_apply_undo(x, pages, prev, np); /* releases zfid with its last use */
    vindex_fid_unuse(x, fid);
    free(pages);
    free(prev);
    return rc;
nomem:
    if (fid)
        vindex_fid_release(x, fid);
    free(pages);
    free(prev);
    return VX_NOMEM;
}

/* Position of pgno in a record's sorted pages, or -1. */
static long vindex_rec_has(const vrec *r, uint32_t pgno)
{
    size_t lo = 0, hi = r->npages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->pages[mid] < pgno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->npages && r->pages[lo] == pgno ? (long)lo : -1;
}

int vindex_lookup(const vindex *x, uint64_t txid, uint32_t pgno, vpage *out)
{
    size_t ri = vindex_rec_pos(x, txid);
    if (ri >= x->nrecs || x->recs[ri].txid != txid)
        return VX_NOT_LIVE;
    if (pgno == 0 || pgno > x->recs[ri].commit)
        return VX_RANGE;
    memset(out, 0, sizeof *out);
    if (pgno >= x->nslots)
        return VX_OK; /* never written: zeros */
    const ventry *s = &x->slots[pgno];
    if (vindex_entry_txid(x, s) <= txid) {
        vindex_entry_out(x, s, out);
        return VX_OK;
    }
    /* Changed after txid: the first later record that changed it holds
     * the version it replaced, which is the one as of txid. */
    for (size_t i = ri + 1; i < x->nrecs; i++) {
        const vrec *r = &x->recs[i];
        long j = r->prev ? vindex_rec_has(r, pgno) : -1;
        if (j >= 0) {
            vindex_entry_out(x, &r->prev[j], out);
            return VX_OK;
        }
    }
    return VX_OK;
}

static int vindex_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int vindex_changes(const vindex *x, uint64_t since, uint32_t **pages, size_t *n)
{
    *pages = NULL;
    *n = 0;
    if (!x->nrecs || since < x->recs[0].txid)
        return VX_NOT_LIVE;
    const vrec *cur = &x->recs[x->nrecs - 1];
    size_t total = 0;
    size_t first = x->nrecs;
    for (size_t i = x->nrecs; i-- > 0;) {
        if (x->recs[i].txid <= since)
            break;
        first = i;
        total += x->recs[i].npages;
    }
    if (total == 0)
        return VX_OK;
    uint32_t *p = malloc(total * sizeof *p);
    if (!p)
        return VX_NOMEM;
    size_t k = 0;
    for (size_t i = first; i < x->nrecs; i++)
        for (size_t j = 0; j < x->recs[i].npages; j++)
            if (x->recs[i].pages[j] <= cur->commit)
                p[k++] = x->recs[i].pages[j];
    qsort(p, k, sizeof *p, vindex_cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || p[u - 1] != p[i])
            p[u++] = p[i];
    if (u == 0) {
        free(p);
        return VX_OK;
    }
    *pages = p;
    *n = u;
    return VX_OK;
}

/* r became the oldest record: the versions it replaced are unreachable. */
static void vindex_drop_prev(vindex *x, vrec *r)
{
    for (size_t j = 0; r->prev && j < r->npages; j++) {
        if (r->prev[j].fid)
            x->nversions--;
        vindex_fid_unuse(x, r->prev[j].fid);
        /* a zeros version that is now the oldest needs no entry */
        uint32_t pg = r->pages[j];
        ventry *s = pg < x->nslots ? &x->slots[pg] : NULL;
        if (s && s->fid && !x->files[s->fid].file && x->files[s->fid].txid <= r->txid) {
            vindex_fid_unuse(x, s->fid);
            *s = (ventry){ 0, 0, 0, 0, 0 };
            x->nversions--;
        }
    }
    free(r->prev);
    r->prev = NULL;
}

size_t vindex_prune(vindex *x, int64_t mono_now, int64_t window_ms)
{
    size_t dropped = 0;
    while (x->nrecs >= 2) {
        vrec *r0 = &x->recs[0], *r1 = &x->recs[1];
        if (mono_now - r1->added_ms < window_ms || mono_now - r0->used_ms < window_ms)
            break;
        vindex_drop_prev(x, r0); /* NULL unless nothing was sealed before it */
        vindex_drop_prev(x, r1);
        free(r0->pages);
        memmove(x->recs, x->recs + 1, (x->nrecs - 1) * sizeof *x->recs);
        x->nrecs--;
        dropped++;
    }
    return dropped;
}

size_t vindex_page_versions(const vindex *x, uint32_t pgno)
{
    size_t n = pgno < x->nslots && x->slots[pgno].fid ? 1 : 0;
    for (size_t i = 0; i < x->nrecs; i++) {
        const vrec *r = &x->recs[i];
        long j = r->prev ? vindex_rec_has(r, pgno) : -1;
        if (j >= 0 && r->prev[j].fid)
            n++;
    }
    return n;
}

size_t vindex_bytes(const vindex *x)
{
    size_t b =
        (size_t)x->nslots * sizeof(ventry) + (size_t)x->capfiles * sizeof(vftab) + x->caprecs * sizeof(vrec);
    for (uint32_t i = 1; i < x->nfiles; i++)
        if (x->files[i].file)
            b += sizeof(vfile);
    for (size_t i = 0; i < x->nrecs; i++)
        b += x->recs[i].npages * (sizeof(uint32_t) + (x->recs[i].prev ? sizeof(ventry) : 0));
    return b;
}
