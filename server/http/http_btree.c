/* http_btree.c - the b-tree pages that `btree=BYTES` adds to a batch
 * answer (GET /{db}/pages?n=1&btree=262144): the whole sqlite_schema
 * b-tree, the root page of every table and index it names, then their
 * interior pages level by level (breadth first), within the budget.
 *
 * With them in its cache, a new reader prepares a statement and walks a
 * b-tree down to the leaf without asking again: a rowid lookup needs one
 * more request (the leaf). Leaf pages below the roots are never added:
 * before reading a level, the first child of each interior page is read
 * alone, and the children of a page whose first child is a leaf are left
 * out (every leaf of an SQLite b-tree is at the same depth).
 *
 * Pages are read through the shared cache: memory only on an HTTP thread
 * (a miss sends the request to a loader thread), or with store reads on a
 * loader. Everything read from a page is bounds-checked: a page that is
 * not what it should be (a corrupt or non-SQLite database) ends the walk
 * of its tree, never the answer. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

#define BT_INT_INDEX  0x02
#define BT_INT_TABLE  0x05
#define BT_LEAF_INDEX 0x0a
#define BT_LEAF_TABLE 0x0d

struct bt_walk {
    ltxdb *d;
    const db_snap *s;
    int loader;
    uint32_t usable;      /* page size minus the reserved bytes of page 1 */
    const uint32_t *skip; /* pages the answer has already */
    size_t nskip, max;    /* max: pages to add at most */
    uint32_t *pg;         /* added pages ... */
    pc_entry **ent;       /* ... and their cache entries (held) */
    size_t n;             /* added so far */
    db_err *e;
};

static uint32_t bt_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t bt_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const uint8_t *bt_data(const pc_entry *e) { return e ? pcache_data(e) : http_pages_zeros; }

/* An SQLite varint at p (at most end - p bytes): its length, 0 if cut. */
static int bt_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 9; i++) {
        if (p + i >= end)
            return 0;
        if (i == 8) {
            *v = (x << 8) | p[i];
            return 9;
        }
        x = (x << 7) | (p[i] & 0x7f);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* The page's b-tree type byte, or 0 if it is no b-tree page. */
static int bt_type(const uint8_t *p, uint32_t pgno)
{
    int t = p[pgno == 1 ? 100 : 0];
    return t == BT_INT_INDEX || t == BT_INT_TABLE || t == BT_LEAF_INDEX || t == BT_LEAF_TABLE ? t : 0;
}

static int bt_interior(int t) { return t == BT_INT_INDEX || t == BT_INT_TABLE; }

/* The children of an interior page (left pointers, then the right-most),
 * up to cap of them, each within 2..commit. Returns how many. */
static size_t bt_children(const struct bt_walk *w, const uint8_t *p, uint32_t pgno, uint32_t *out, size_t cap)
{
    uint32_t h = pgno == 1 ? 100 : 0, nc = bt_be16(p + h + 3), n = 0;
    if (h + 12 + 2 * nc > w->usable)
        return 0;
    for (uint32_t i = 0; i <= nc && n < cap; i++) {
        uint32_t c;
        if (i < nc) {
            uint32_t off = bt_be16(p + h + 12 + 2 * i);
            if (off < h + 12 || off + 4 > w->usable)
                continue;
            c = bt_be32(p + off);
        } else {
            c = bt_be32(p + h + 8);
        }
        if (c >= 2 && c <= w->s->commit)
            out[n++] = c;
    }
    return n;
}

/* Bytes of a record value of serial type st. */
static uint64_t bt_serial_len(uint64_t st)
{
    static const uint8_t fixed[12] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0 };
    return st < 12 ? fixed[st] : (st - 12) / 2;
}

/* The rootpage column of the schema row in one table-leaf cell at c
 * (type, name, tbl_name, rootpage, sql), read from its local part; 0 if
 * it is not there. */
static uint32_t bt_schema_root(const struct bt_walk *w, const uint8_t *c, const uint8_t *pend)
{
    uint64_t plen, rowid, hlen, st[4];
    int k = bt_varint(c, pend, &plen);
    if (!k)
        return 0;
    c += k;
    if (!(k = bt_varint(c, pend, &rowid)))
        return 0;
    c += k;
    uint64_t u = w->usable, local = plen;
    if (plen > u - 35) { /* the payload spills: local part as SQLite computes it */
        uint64_t m = ((u - 12) * 32 / 255) - 23, kk = m + ((plen - m) % (u - 4));
        local = kk <= u - 35 ? kk : m;
    }
    const uint8_t *end = c + local < pend ? c + local : pend;
    const uint8_t *hp = c;
    if (!(k = bt_varint(hp, end, &hlen)) || hlen > (uint64_t)(end - c))
        return 0;
    hp += k;
    for (int i = 0; i < 4; i++) {
        if (hp >= c + hlen || !(k = bt_varint(hp, c + hlen, &st[i])))
            return 0;
        hp += k;
    }
    const uint8_t *v = c + hlen;
    for (int i = 0; i < 3; i++)
        v += bt_serial_len(st[i]);
    if (st[3] < 1 || st[3] > 6 || v + bt_serial_len(st[3]) > end)
        return 0;
    uint64_t x = 0;
    for (uint64_t i = 0; i < bt_serial_len(st[3]); i++)
        x = (x << 8) | v[i];
    return x >= 2 && x <= w->s->commit ? (uint32_t)x : 0;
}

/* Root pages named by the cells of a schema leaf page, appended to roots. */
static void bt_schema_roots(const struct bt_walk *w, const uint8_t *p, uint32_t pgno, uint32_t *roots,
                            size_t *nroots, size_t cap)
{
    uint32_t h = pgno == 1 ? 100 : 0, nc = bt_be16(p + h + 3);
    if (h + 8 + 2 * nc > w->usable)
        return;
    for (uint32_t i = 0; i < nc && *nroots < cap; i++) {
        uint32_t off = bt_be16(p + h + 8 + 2 * i);
        if (off < h + 8 || off >= w->usable)
            continue;
        uint32_t r = bt_schema_root(w, p + off, p + w->usable);
        if (r)
            roots[(*nroots)++] = r;
    }
}

static int bt_has(const uint32_t *a, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] == x)
            return 1;
    return 0;
}

/* Read n pages into ents: 0, -1 not all in memory (HTTP thread), -2 error. */
static int bt_read(struct bt_walk *w, const uint32_t *pg, size_t n, pc_entry **ents)
{
    if (n == 0)
        return 0;
    if (w->loader)
        return ltxdb_pages(w->d, w->s, pg, n, ents, w->e) ? -2 : 0;
    db_snap s2;
    return ltxdb_try_pages(w->d, w->s->txid, pg, n, &s2, ents) ? 0 : -1;
}

/* Keep page pg (entry e) in the answer if it is new and fits; else release
 * e. Returns 1 if kept. */
static int bt_keep(struct bt_walk *w, uint32_t pg, pc_entry *e)
{
    if (w->n >= w->max || bt_has(w->skip, w->nskip, pg) || bt_has(w->pg, w->n, pg)) {
        pcache_release(e);
        return 0;
    }
    w->pg[w->n] = pg;
    w->ent[w->n++] = e;
    return 1;
}

/* Pages of the schema b-tree (all of them), and the roots it names. */
static int bt_schema(struct bt_walk *w, uint32_t *roots, size_t *nroots, size_t rcap)
{
    uint32_t lv[LTXW_MAX_BTREE_PAGES], nx[LTXW_MAX_BTREE_PAGES];
    pc_entry *ents[LTXW_MAX_BTREE_PAGES];
    size_t n = 1, seen = 0;
    lv[0] = 1;
    while (n > 0 && seen < LTXW_MAX_BTREE_PAGES) {
        int rc = bt_read(w, lv, n, ents);
        if (rc)
            return rc;
        size_t nn = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = bt_data(ents[i]);
            if (lv[i] == 1 && w->usable == w->s->page_size) {
                uint32_t res = p[20];
                w->usable = res < w->s->page_size - 480 ? w->s->page_size - res : w->s->page_size;
            }
            int t = bt_type(p, lv[i]);
            if (bt_interior(t))
                nn += bt_children(w, p, lv[i], nx + nn, LTXW_MAX_BTREE_PAGES - nn);
            else if (t == BT_LEAF_TABLE)
                bt_schema_roots(w, p, lv[i], roots, nroots, rcap);
            bt_keep(w, lv[i], ents[i]);
        }
        seen += n;
        memcpy(lv, nx, nn * sizeof *nx);
        n = nn;
    }
    return 0;
}

/* The tables' and indexes' trees from their roots down, level by level,
 * interior pages only below the roots. */
static int bt_trees(struct bt_walk *w, uint32_t *lv, size_t n, uint32_t *kids, size_t kcap)
{
    pc_entry **ents = malloc(kcap * sizeof *ents);
    uint32_t *par = malloc(kcap * sizeof *par);
    if (!ents || !par) {
        free(ents);
        free(par);
        return 0;
    }
    int rc = 0;
    for (int level = 0; n > 0 && w->n < w->max && rc == 0; level++) {
        if ((rc = bt_read(w, lv, n, ents)) != 0)
            break;
        size_t npar = 0; /* the interior pages kept at this level, by index into w->pg */
        for (size_t i = 0; i < n; i++) {
            int t = bt_type(bt_data(ents[i]), lv[i]);
            if ((level == 0 && t) || bt_interior(t)) {
                if (bt_keep(w, lv[i], ents[i]) && bt_interior(t))
                    par[npar++] = (uint32_t)(w->n - 1);
            } else {
                pcache_release(ents[i]);
            }
        }
        /* probe the first child of each parent: leaves end that branch */
        size_t np = 0;
        for (size_t i = 0; i < npar; i++) {
            uint32_t pg = w->pg[par[i]];
            if (bt_children(w, bt_data(w->ent[par[i]]), pg, &kids[np], 1) == 1)
                par[np++] = par[i];
        }
        if ((rc = bt_read(w, kids, np, ents)) != 0)
            break;
        size_t nn = 0, room = w->max - w->n;
        for (size_t i = 0; i < np; i++) {
            int interior = bt_interior(bt_type(bt_data(ents[i]), kids[i]));
            pcache_release(ents[i]);
            if (interior && nn < room && nn < kcap) {
                uint32_t pg = w->pg[par[i]];
                nn += bt_children(w, bt_data(w->ent[par[i]]), pg, lv + nn, (room < kcap ? room : kcap) - nn);
            }
        }
        n = nn;
    }
    free(ents);
    free(par);
    return rc;
}

int http_btree_walk(ltxdb *d, const db_snap *s, int loader, const uint32_t *skip, size_t nskip, size_t max,
                    uint32_t *pg, pc_entry **ent, size_t *nadded, db_err *e)
{
    struct bt_walk w = { d, s, loader, s->page_size, skip, nskip, max, pg, ent, 0, e };
    size_t cap = LTXW_MAX_BTREE_PAGES * 4;
    uint32_t *roots = malloc(cap * sizeof *roots), *kids = malloc(cap * sizeof *kids);
    size_t nroots = 0;
    int rc = 0;
    if (roots && kids && s->commit >= 1 && s->page_size >= 512) {
        rc = bt_schema(&w, roots, &nroots, cap);
        if (rc == 0)
            rc = bt_trees(&w, roots, nroots, kids, cap);
    }
    free(roots);
    free(kids);
    if (rc) {
        for (size_t i = 0; i < w.n; i++)
            pcache_release(w.ent[i]);
        w.n = 0;
    }
    *nadded = w.n;
    return rc;
}
