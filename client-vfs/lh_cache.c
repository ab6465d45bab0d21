/* lh_cache.c - TXID-ranged page cache (see lh_cache.h).
 *
 * A chained hash table on the page number (Knuth's multiplicative hash:
 * page numbers are small dense integers, which it spreads well in one
 * multiply) plus a doubly linked LRU list through the same entries.
 */
#include "lh_cache.h"

#include <stdlib.h>
#include <string.h>

static unsigned lh_cache_bucket(uint32_t pgno) { return (pgno * 2654435761u) % LH_CACHE_NBUCKETS; }

static void lh_cache_unlink(lh_cache_entry *e)
{
    e->lprev->lnext = e->lnext;
    e->lnext->lprev = e->lprev;
}

static void lh_cache_front(lh_cache *c, lh_cache_entry *e)
{
    e->lnext = c->lru.lnext;
    e->lprev = &c->lru;
    c->lru.lnext->lprev = e;
    c->lru.lnext = e;
}

static void lh_cache_remove(lh_cache *c, lh_cache_entry *e)
{
    lh_cache_entry **pp = &c->buckets[lh_cache_bucket(e->pgno)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lh_cache_unlink(e);
    c->npages--;
    free(e);
}

void lh_cache_resize(lh_cache *c, uint32_t page_size, long cache_bytes)
{
    c->page_size = page_size;
    c->maxpages = (size_t)cache_bytes / page_size;
    if (c->maxpages < LH_CACHE_MIN_PAGES)
        c->maxpages = LH_CACHE_MIN_PAGES;
}

void lh_cache_init(lh_cache *c, uint32_t page_size, long cache_bytes)
{
    memset(c, 0, sizeof *c);
    c->lru.lnext = c->lru.lprev = &c->lru;
    lh_cache_resize(c, page_size, cache_bytes);
}

void lh_cache_clear(lh_cache *c)
{
    while (c->lru.lnext != &c->lru)
        lh_cache_remove(c, c->lru.lnext);
}

lh_cache_entry *lh_cache_find(lh_cache *c, uint32_t pgno, uint64_t txid, uint64_t known)
{
    for (lh_cache_entry *e = c->buckets[lh_cache_bucket(pgno)]; e; e = e->hnext) {
        if (e->pgno != pgno || txid < e->lo)
            continue;
        if (txid <= (e->open ? known : e->hi))
            return e;
    }
    return NULL;
}

void lh_cache_touch(lh_cache *c, lh_cache_entry *e)
{
    lh_cache_unlink(e);
    lh_cache_front(c, e);
}

void lh_cache_put(lh_cache *c, uint32_t pgno, uint64_t txid, uint64_t known, const unsigned char *data)
{
    if (lh_cache_find(c, pgno, txid, known))
        return;
    while (c->npages >= c->maxpages && c->lru.lprev != &c->lru) {
        lh_cache_remove(c, c->lru.lprev);
        c->evictions++;
    }
    lh_cache_entry *e = malloc(sizeof *e + c->page_size);
    if (!e)
        return;
    e->pgno = pgno;
    e->lo = e->hi = txid;
    e->open = (txid == known);
    memcpy(e->data, data, c->page_size);
    unsigned b = lh_cache_bucket(pgno);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lh_cache_front(c, e);
    c->npages++;
}

void lh_cache_close(lh_cache *c, uint32_t pgno, uint64_t upto)
{
    for (lh_cache_entry *e = c->buckets[lh_cache_bucket(pgno)]; e; e = e->hnext)
        if (e->pgno == pgno && e->open) {
            e->open = 0;
            e->hi = upto;
        }
}

void lh_cache_truncate(lh_cache *c, uint32_t commit, uint64_t upto)
{
    for (lh_cache_entry *e = c->lru.lnext; e != &c->lru; e = e->lnext)
        if (e->open && e->pgno > commit) {
            e->open = 0;
            e->hi = upto;
        }
}
