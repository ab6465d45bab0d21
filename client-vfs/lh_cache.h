/* lh_cache.h - the process-wide page cache of one (servers, db, token):
 * pages keyed by number, each valid for a range of TXIDs, bounded, LRU.
 *
 * An entry read at the newest TXID known is "open": valid from its TXID up
 * to whatever is newest (the caller passes `known`); when the watcher hears
 * that a page changed after TXID t, lh_cache_close ends the range at t.
 * Entries read in the past are valid for their TXID only. Several versions
 * of a page coexist.
 *
 * Not thread-safe: the owner (lh_watch) holds its mutex around every call.
 * Lookups never allocate; lh_cache_put allocates one entry.
 */
#ifndef LH_CACHE_H
#define LH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define LH_CACHE_NBUCKETS  4096
#define LH_CACHE_MIN_PAGES 16

typedef struct lh_cache_entry {
    struct lh_cache_entry *hnext, *lprev, *lnext;
    uint32_t pgno;
    int open;             /* valid from lo up to the newest TXID known */
    uint64_t lo, hi;      /* TXID range (hi unused while open) */
    unsigned char data[]; /* page_size bytes */
} lh_cache_entry;

typedef struct lh_cache {
    lh_cache_entry *buckets[LH_CACHE_NBUCKETS];
    lh_cache_entry lru; /* sentinel: lnext = most recent */
    uint32_t page_size; /* bytes of every entry */
    size_t npages, maxpages;
    uint64_t evictions;
} lh_cache;

/* An empty cache of cache_bytes for pages of page_size bytes (at least
 * LH_CACHE_MIN_PAGES pages). */
void lh_cache_init(lh_cache *c, uint32_t page_size, long cache_bytes);

/* Change the page size of an empty cache (bound recomputed). */
void lh_cache_resize(lh_cache *c, uint32_t page_size, long cache_bytes);

/* Drop every entry. */
void lh_cache_clear(lh_cache *c);

/* The entry of pgno valid at txid, or NULL; known is the newest TXID.
 * Valid until the next call that changes the cache. */
lh_cache_entry *lh_cache_find(lh_cache *c, uint32_t pgno, uint64_t txid, uint64_t known);

/* Mark e most recently used. */
void lh_cache_touch(lh_cache *c, lh_cache_entry *e);

/* Add page pgno as read at txid (page_size bytes at data), evicting the
 * least recently used entries past the bound. No-op if already valid or
 * out of memory. */
void lh_cache_put(lh_cache *c, uint32_t pgno, uint64_t txid, uint64_t known, const unsigned char *data);

/* pgno changed after TXID upto: its open entry now ends there. */
void lh_cache_close(lh_cache *c, uint32_t pgno, uint64_t upto);

/* The database shrank to commit pages after TXID upto: open entries
 * beyond it end there. */
void lh_cache_truncate(lh_cache *c, uint32_t commit, uint64_t upto);

#endif /* LH_CACHE_H */
