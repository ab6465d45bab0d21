/* vindex.c - versioned page index. */
#include "vindex.h"

#include <stdlib.h>
#include <string.h>

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

static void vfile_unref(vfile *f)
{
    if (f && --f->refs == 0)
        free(f);
}

void vindex_free(vindex *x)
{
    if (!x)
        return;
    for (uint32_t i = 0; i < x->nslots; i++) {
        for (uint32_t j = 0; j < x->slots[i].n; j++)
            vfile_unref(x->slots[i].v[j].file);
        free(x->slots[i].v);
    }
    free(x->slots);
    for (size_t i = 0; i < x->nrecs; i++)
        free(x->recs[i].pages);
    free(x->recs);
    memset(x, 0, sizeof *x);
}

static int ensure_slots(vindex *x, uint32_t pgno)
{
    if (pgno < x->nslots)
        return 0;
    uint64_t n = x->nslots ? x->nslots : 64;
    while (n <= pgno)
        n *= 2;
    if (n > 0xffffffffu)
        n = (uint64_t)pgno + 1;
    vslot *s = realloc(x->slots, (size_t)n * sizeof *s);
    if (!s)
        return -1;
    memset(s + x->nslots, 0, (size_t)(n - x->nslots) * sizeof *s);
    x->slots = s;
    x->nslots = (uint32_t)n;
    return 0;
}

static int slot_push(vslot *s, const vpage *p)
{
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 1;
        vpage *v = realloc(s->v, nc * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = nc;
    }
    s->v[s->n++] = *p;
    if (p->file)
        p->file->refs++;
    return 0;
}

static void slot_clear(vindex *x, vslot *s)
{
    for (uint32_t j = 0; j < s->n; j++)
        vfile_unref(s->v[j].file);
    x->nversions -= s->n;
    s->n = 0;
}

/* Remove versions [0, k) of a slot. */
static void slot_drop_front(vindex *x, vslot *s, uint32_t k)
{
    if (k == 0)
        return;
    for (uint32_t j = 0; j < k; j++)
        vfile_unref(s->v[j].file);
    memmove(s->v, s->v + k, (s->n - k) * sizeof *s->v);
    s->n -= k;
    x->nversions -= k;
    if (s->n == 0) {
        free(s->v);
        s->v = NULL;
        s->cap = 0;
    }
}

int vindex_merge_file(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t pg = e[i].pgno;
        if (pg == 0 || (commit && pg > commit))
            continue;
        if (ensure_slots(x, pg))
            return VX_NOMEM;
        vslot *s = &x->slots[pg];
        /* Keep the entry whose file max TXID is higher. */
        if (s->n && s->v[s->n - 1].txid > f->max_txid)
            continue;
        slot_clear(x, s);
        vpage p = {f, f->max_txid, e[i].offset, e[i].size};
        if (slot_push(s, &p))
            return VX_NOMEM;
        x->nversions++;
    }
    /* A shrink drops every page above the new size. */
    for (uint32_t pg = commit + 1; commit && pg < x->nslots; pg++)
        if (x->slots[pg].n) {
            slot_clear(x, &x->slots[pg]);
            free(x->slots[pg].v);
            x->slots[pg].v = NULL;
            x->slots[pg].cap = 0;
        }
    return VX_OK;
}

static int push_rec(vindex *x, const vrec *r)
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
    vrec r = {txid, commit, page_size, ts_ms, mono_now, mono_now, NULL, 0};
    return push_rec(x, &r) ? VX_NOMEM : VX_OK;
}

const vrec *vindex_current(const vindex *x) { return x->nrecs ? &x->recs[x->nrecs - 1] : NULL; }
const vrec *vindex_oldest(const vindex *x) { return x->nrecs ? &x->recs[0] : NULL; }

vrec *vindex_find(vindex *x, uint64_t txid)
{
    size_t lo = 0, hi = x->nrecs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->recs[mid].txid < txid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->nrecs && x->recs[lo].txid == txid ? &x->recs[lo] : NULL;
}

int vindex_apply(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit,
                 uint32_t page_size, int64_t ts_ms, int64_t mono_now)
{
    const vrec *cur = vindex_current(x);
    uint64_t txid = f->max_txid;
    if (cur && txid <= cur->txid)
        return VX_STALE;
    uint32_t prev_commit = cur ? cur->commit : 0;
    size_t cap = n + (prev_commit > commit ? prev_commit - commit : 0);
    uint32_t *pages = cap ? malloc(cap * sizeof *pages) : NULL;
    if (cap && !pages)
        return VX_NOMEM;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t pg = e[i].pgno;
        if (pg == 0 || pg > commit)
            continue;
        if (ensure_slots(x, pg))
            goto nomem;
        vslot *s = &x->slots[pg];
        if (s->n && s->v[s->n - 1].txid >= txid)
            continue;
        vpage p = {f, txid, e[i].offset, e[i].size};
        if (slot_push(s, &p))
            goto nomem;
        x->nversions++;
        pages[np++] = pg;
    }
    /* Shrink: pages beyond the new commit read as zeros from now on (if the
     * database grows again without rewriting them, a restore has zeros). */
    for (uint32_t pg = commit + 1; pg <= prev_commit && pg < x->nslots; pg++) {
        vslot *s = &x->slots[pg];
        if (s->n == 0 || s->v[s->n - 1].file == NULL)
            continue;
        vpage p = {NULL, txid, 0, 0};
        if (slot_push(s, &p))
            goto nomem;
        x->nversions++;
        pages[np++] = pg;
    }
    /* entries are sorted by pgno and shrink pages are above commit: sorted */
    vrec r = {txid, commit, page_size, ts_ms, mono_now, mono_now, pages, np};
    if (push_rec(x, &r))
        goto nomem;
    return VX_OK;
nomem:
    free(pages);
    return VX_NOMEM;
}

int vindex_lookup(const vindex *x, uint64_t txid, uint32_t pgno, vpage *out)
{
    const vrec *r = vindex_find((vindex *)x, txid);
    if (!r)
        return VX_NOT_LIVE;
    if (pgno == 0 || pgno > r->commit)
        return VX_RANGE;
    memset(out, 0, sizeof *out);
    if (pgno >= x->nslots)
        return VX_OK; /* never written: zeros */
    const vslot *s = &x->slots[pgno];
    for (uint32_t j = s->n; j-- > 0;)
        if (s->v[j].txid <= txid) {
            *out = s->v[j];
            return VX_OK;
        }
    return VX_OK;
}

static int cmp_u32(const void *a, const void *b)
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
    qsort(p, k, sizeof *p, cmp_u32);
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

size_t vindex_prune(vindex *x, int64_t mono_now, int64_t window_ms)
{
    size_t dropped = 0;
    while (x->nrecs >= 2) {
        vrec *r0 = &x->recs[0], *r1 = &x->recs[1];
        if (mono_now - r1->added_ms < window_ms || mono_now - r0->used_ms < window_ms)
            break;
        /* r1 becomes the oldest: for the pages it changed, versions older
         * than its own are no longer reachable. */
        for (size_t j = 0; j < r1->npages; j++) {
            uint32_t pg = r1->pages[j];
            if (pg >= x->nslots)
                continue;
            vslot *s = &x->slots[pg];
            uint32_t k = 0;
            /* index of newest version <= r1->txid */
            for (uint32_t v = s->n; v-- > 0;)
                if (s->v[v].txid <= r1->txid) {
                    k = v;
                    break;
                }
            slot_drop_front(x, s, k);
            /* a zeros version that is now the oldest needs no slot entry */
            if (s->n == 1 && s->v[0].file == NULL && s->v[0].txid <= r1->txid)
                slot_drop_front(x, s, 1);
        }
        free(r0->pages);

        memmove(x->recs, x->recs + 1, (x->nrecs - 1) * sizeof *x->recs);
        x->nrecs--;
        dropped++;
    }
    return dropped;
}
