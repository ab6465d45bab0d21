/* cache.h - one shared, byte-bounded cache of decompressed pages.
 *
 * Sharded (per-shard mutex + LRU list + hash table); no global lock on the
 * page path. Entries are reference counted: a caller that got an entry keeps
 * its bytes valid until pcache_release(), even if the entry is evicted
 * meanwhile (that is how a page is handed to the HTTP layer without a copy).
 * Concurrent misses for one key make one load (single-flight).
 */
#ifndef LTXPAGED_CACHE_H
#define LTXPAGED_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* Key: (database uid, file identity (level, min, max), pgno). A file name is
 * immutable in a replica, so the key stays right across re-plans. */
typedef struct {
    uint64_t db;
    uint64_t min_txid;
    uint64_t max_txid;
    uint32_t level;
    uint32_t pgno;
} pc_key;

typedef struct pcache pcache;
typedef struct pc_entry pc_entry;

typedef struct {
    uint64_t hits;
    uint64_t misses;    /* loads started */
    uint64_t coalesced; /* misses that waited for another thread's load */
    uint64_t evictions;
    uint64_t inserts; /* pcache_put */
    uint64_t load_errors;
    uint64_t bytes; /* currently accounted */
    uint64_t entries;
    uint64_t max_bytes;
} pcache_stats;

/* Loader: fill out[0..size) for the key; return 0 on success or a non-zero
 * error code that pcache_get passes back through *err. */
typedef int (*pc_load_fn)(void *ctx, uint8_t *out, uint32_t size);

/* nshards 0 = default (16). Returns NULL on allocation failure. */
pcache *pcache_new(size_t max_bytes, unsigned nshards);
void pcache_free(pcache *c);

/* Hit: the entry (referenced). Miss: exactly one caller runs load() while
 * others asking for the same key wait for it. Returns NULL and sets *err to
 * the loader's code when the load fails (failed loads are not cached). */
pc_entry *pcache_get(pcache *c, const pc_key *k, uint32_t size, pc_load_fn load, void *ctx, int *err);
/* Hit only (no load); NULL on miss. */
pc_entry *pcache_lookup(pcache *c, const pc_key *k);
/* Insert a copy of data unless the key is present. 0 ok, -1 nomem. */
int pcache_put(pcache *c, const pc_key *k, const uint8_t *data, uint32_t size);
/* Drop one reference (thread-safe, callable from any thread). NULL ok. */
void pcache_release(pc_entry *e);
/* Take one more reference on an entry the caller already holds. */
void pcache_retain(pc_entry *e);

const uint8_t *pcache_data(const pc_entry *e);
uint32_t pcache_size(const pc_entry *e);

void pcache_get_stats(pcache *c, pcache_stats *out);

/* Accounted bytes of one entry of `size` page bytes (size + overhead). */
size_t pcache_entry_cost(uint32_t size);

#endif
