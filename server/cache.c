/* cache.c - sharded LRU page cache with single-flight loads. */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

enum { ST_LOADING = 0, ST_READY = 1, ST_FAILED = 2 };

struct pc_entry {
    pc_key key;
    uint64_t hash;
    atomic_int refs;
    int state; /* under shard lock */
    int err;
    int in_table;
    uint32_t size;
    struct pc_entry *hnext;
    struct pc_entry *lprev, *lnext; /* LRU list (READY entries only) */
    uint8_t data[];
};

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when a load finishes */
    pc_entry **buckets;
    size_t nbuckets;
    size_t count;
    size_t bytes;
    size_t max_bytes;
    pc_entry lru; /* sentinel: lru.lnext = most recent */
} shard;

struct pcache {
    unsigned nshards;
    size_t max_bytes;
    shard *shards;
    atomic_uint_fast64_t hits, misses, coalesced, evictions, inserts, load_errors;
};

size_t pcache_entry_cost(uint32_t size) { return (size_t)size + sizeof(pc_entry) + 16; }

static uint64_t key_hash(const pc_key *k)
{
    uint64_t h = hash_mix64(k->db + 0x9e3779b97f4a7c15ull);
    h = hash_mix64(h ^ k->min_txid);
    h = hash_mix64(h ^ k->max_txid);
    h = hash_mix64(h ^ (((uint64_t)k->level << 32) | k->pgno));
    return h;
}

static int key_eq(const pc_key *a, const pc_key *b)
{
    return a->db == b->db && a->min_txid == b->min_txid && a->max_txid == b->max_txid &&
           a->level == b->level && a->pgno == b->pgno;
}

pcache *pcache_new(size_t max_bytes, unsigned nshards)
{
    if (nshards == 0)
        nshards = 16;
    pcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nshards = nshards;
    c->max_bytes = max_bytes;
    c->shards = calloc(nshards, sizeof(shard));
    if (!c->shards) {
        free(c);
        return NULL;
    }
    for (unsigned i = 0; i < nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        s->max_bytes = max_bytes / nshards;
        s->lru.lnext = s->lru.lprev = &s->lru;
        s->nbuckets = 64;
        s->buckets = calloc(s->nbuckets, sizeof(pc_entry *));
        if (!s->buckets) {
            c->nshards = i + 1;
            pcache_free(c);
            return NULL;
        }
    }
    return c;
}

static void entry_unref(pc_entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

void pcache_release(pc_entry *e)
{
    if (e)
        entry_unref(e);
}

void pcache_retain(pc_entry *e) { atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); }

const uint8_t *pcache_data(const pc_entry *e) { return e->data; }
uint32_t pcache_size(const pc_entry *e) { return e->size; }

void pcache_free(pcache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
            pc_entry *e = s->buckets[b];
            while (e) {
                pc_entry *n = e->hnext;
                e->in_table = 0;
                entry_unref(e);
                e = n;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    free(c->shards);
    free(c);
}

static shard *shard_of(pcache *c, uint64_t h) { return &c->shards[(h >> 48) % c->nshards]; }

static pc_entry *table_find(shard *s, const pc_key *k, uint64_t h)
{
    for (pc_entry *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && key_eq(&e->key, k))
            return e;
    return NULL;
}

static void table_grow(shard *s)
{
    size_t nb = s->nbuckets * 2;
    pc_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < s->nbuckets; i++) {
        pc_entry *e = s->buckets[i];
        while (e) {
            pc_entry *n = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static void table_insert(shard *s, pc_entry *e)
{
    if (s->count + 1 > s->nbuckets)
        table_grow(s);
    size_t b = e->hash & (s->nbuckets - 1);
    e->hnext = s->buckets[b];
    s->buckets[b] = e;
    e->in_table = 1;
    s->count++;
}

static void table_remove(shard *s, pc_entry *e)
{
    pc_entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = e->hnext;
        s->count--;
    }
    e->in_table = 0;
}

static void lru_unlink(pc_entry *e)
{
    if (e->lnext) {
        e->lprev->lnext = e->lnext;
        e->lnext->lprev = e->lprev;
        e->lnext = e->lprev = NULL;
    }
}

static void lru_push_front(shard *s, pc_entry *e)
{
    e->lnext = s->lru.lnext;
    e->lprev = &s->lru;
    s->lru.lnext->lprev = e;
    s->lru.lnext = e;
}

/* Evict least recently used READY entries until the shard fits. */
static void shard_evict(pcache *c, shard *s)
{
    while (s->bytes > s->max_bytes && s->lru.lprev != &s->lru) {
        pc_entry *v = s->lru.lprev;
        lru_unlink(v);
        table_remove(s, v);
        s->bytes -= pcache_entry_cost(v->size);
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
        entry_unref(v); /* the table's reference */
    }
}

static pc_entry *entry_new(const pc_key *k, uint64_t h, uint32_t size, int refs)
{
    pc_entry *e = malloc(sizeof *e + size);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->key = *k;
    e->hash = h;
    e->size = size;
    atomic_init(&e->refs, refs);
    return e;
}

pc_entry *pcache_lookup(pcache *c, const pc_key *k)
{
    uint64_t h = key_hash(k);
    shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    pc_entry *e = table_find(s, k, h);
    if (e && e->state == ST_READY) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        lru_unlink(e);
        lru_push_front(s, e);
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
    } else {
        e = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

pc_entry *pcache_get(pcache *c, const pc_key *k, uint32_t size, pc_load_fn load, void *ctx, int *err)
{
    uint64_t h = key_hash(k);
    shard *s = shard_of(c, h);
    if (err)
        *err = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        pc_entry *e = table_find(s, k, h);
        if (!e)
            break;
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        if (e->state == ST_READY) {
            lru_unlink(e);
            lru_push_front(s, e);
            pthread_mutex_unlock(&s->mu);
            atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
            return e;
        }
        atomic_fetch_add_explicit(&c->coalesced, 1, memory_order_relaxed);
        while (e->state == ST_LOADING)
            pthread_cond_wait(&s->cv, &s->mu);
        if (e->state == ST_READY) {
            pthread_mutex_unlock(&s->mu);
            return e;
        }
        /* The load we waited for failed: report its error. */
        int code = e->err;
        pthread_mutex_unlock(&s->mu);
        entry_unref(e);
        if (err)
            *err = code;
        return NULL;
    }
    pc_entry *e = entry_new(k, h, size, 2); /* table + caller */
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        if (err)
            *err = -1;
        return NULL;
    }
    e->state = ST_LOADING;
    table_insert(s, e);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);

    int rc = load(ctx, e->data, size);

    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        e->state = ST_READY;
        lru_push_front(s, e);
        s->bytes += pcache_entry_cost(size);
        shard_evict(c, s);
    } else {
        e->state = ST_FAILED;
        e->err = rc;
        if (e->in_table) {
            table_remove(s, e);
            entry_unref(e); /* table ref; caller's ref keeps it alive */
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        atomic_fetch_add_explicit(&c->load_errors, 1, memory_order_relaxed);
        entry_unref(e);
        if (err)
            *err = rc;
        return NULL;
    }
    return e;
}

int pcache_put(pcache *c, const pc_key *k, const uint8_t *data, uint32_t size)
{
    uint64_t h = key_hash(k);
    shard *s = shard_of(c, h);
    pc_entry *e = entry_new(k, h, size, 1);
    if (!e)
        return -1;
    memcpy(e->data, data, size);
    e->state = ST_READY;
    pthread_mutex_lock(&s->mu);
    if (table_find(s, k, h)) {
        pthread_mutex_unlock(&s->mu);
        free(e);
        return 0;
    }
    table_insert(s, e);
    lru_push_front(s, e);
    s->bytes += pcache_entry_cost(size);
    shard_evict(c, s);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
    return 0;
}

void pcache_get_stats(pcache *c, pcache_stats *o)
{
    memset(o, 0, sizeof *o);
    o->hits = atomic_load(&c->hits);
    o->misses = atomic_load(&c->misses);
    o->coalesced = atomic_load(&c->coalesced);
    o->evictions = atomic_load(&c->evictions);
    o->inserts = atomic_load(&c->inserts);
    o->load_errors = atomic_load(&c->load_errors);
    o->max_bytes = c->max_bytes;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        o->bytes += s->bytes;
        o->entries += s->count;
        pthread_mutex_unlock(&s->mu);
    }
}
