/* Unit tests of the shared page cache: hits, misses, byte bound, LRU order,
 * single-flight, load errors, references that outlive eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"

static pc_key key(uint32_t pgno) { return (pc_key){7, 1, 1, 0, pgno}; }

typedef struct {
    atomic_int calls;
    int fail;
    int sleep_ms;
    uint8_t fill;
} loader;

static int load(void *ctx, uint8_t *out, uint32_t size)
{
    loader *l = ctx;
    atomic_fetch_add(&l->calls, 1);
    if (l->sleep_ms)
        usleep((useconds_t)l->sleep_ms * 1000);
    if (l->fail)
        return l->fail;
    memset(out, l->fill, size);
    return 0;
}

static void test_hit_miss(void **st)
{
    (void)st;
    pcache *c = pcache_new(1 << 20, 4);
    loader l = {.fill = 0xab};
    pc_key k = key(1);
    int err = 0;
    pc_entry *e = pcache_get(c, &k, 4096, load, &l, &err);
    assert_non_null(e);
    assert_int_equal(pcache_size(e), 4096);
    assert_int_equal(pcache_data(e)[4095], 0xab);
    pcache_release(e);
    e = pcache_get(c, &k, 4096, load, &l, &err);
    assert_non_null(e);
    pcache_release(e);
    assert_int_equal(atomic_load(&l.calls), 1);
    pcache_stats s;
    pcache_get_stats(c, &s);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, pcache_entry_cost(4096));
    /* a different file identity is a different key */
    pc_key k2 = k;
    k2.max_txid = 2;
    assert_null(pcache_lookup(c, &k2));
    pcache_free(c);
}

static void test_byte_bound_and_lru(void **st)
{
    (void)st;
    size_t cost = pcache_entry_cost(1024);
    /* one shard, room for exactly 4 entries */
    pcache *c = pcache_new(cost * 4, 1);
    loader l = {.fill = 1};
    int err;
    for (uint32_t p = 1; p <= 4; p++) {
        pc_key k = key(p);
        pcache_release(pcache_get(c, &k, 1024, load, &l, &err));
    }
    /* touch page 1 so page 2 is the least recently used */
    pc_key k1 = key(1);
    pc_entry *e1 = pcache_lookup(c, &k1);
    assert_non_null(e1);
    pcache_release(e1);
    pc_key k5 = key(5);
    pc_entry *e5 = pcache_get(c, &k5, 1024, load, &l, &err);
    assert_non_null(e5);
    pcache_stats s;
    pcache_get_stats(c, &s);
    assert_true(s.bytes <= cost * 4);
    assert_int_equal(s.evictions, 1);
    pc_key k2 = key(2);
    assert_null(pcache_lookup(c, &k2));
    pc_entry *e = pcache_lookup(c, &k1);
    assert_non_null(e);
    pcache_release(e);
    /* many more inserts never exceed the bound; a held entry stays readable */
    for (uint32_t p = 10; p < 200; p++) {
        pc_key k = key(p);
        uint8_t buf[1024];
        memset(buf, (int)p, sizeof buf);
        assert_int_equal(pcache_put(c, &k, buf, sizeof buf), 0);
        pcache_get_stats(c, &s);
        assert_true(s.bytes <= cost * 4);
    }
    assert_int_equal(pcache_data(e5)[0], 1); /* evicted long ago, still valid */
    pcache_release(e5);
    pcache_get_stats(c, &s);
    assert_true(s.evictions >= 190);
    pcache_free(c);
}

static void test_load_error_not_cached(void **st)
{
    (void)st;
    pcache *c = pcache_new(1 << 20, 2);
    loader l = {.fail = 42};
    pc_key k = key(3);
    int err = 0;
    assert_null(pcache_get(c, &k, 512, load, &l, &err));
    assert_int_equal(err, 42);
    l.fail = 0;
    pc_entry *e = pcache_get(c, &k, 512, load, &l, &err);
    assert_non_null(e);
    assert_int_equal(err, 0);
    pcache_release(e);
    assert_int_equal(atomic_load(&l.calls), 2);
    pcache_free(c);
}

typedef struct {
    pcache *c;
    loader *l;
    pc_entry *got;
    int err;
    uint32_t pgno;
} thr_arg;

static void *thr(void *p)
{
    thr_arg *a = p;
    pc_key k = key(a->pgno);
    a->got = pcache_get(a->c, &k, 4096, load, a->l, &a->err);
    return NULL;
}

enum { N = 8 };

/* N threads get page pgno through loader l at the same time. */
static void get_concurrently(pcache *c, loader *l, uint32_t pgno, thr_arg a[N])
{
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (thr_arg){c, l, NULL, 0, pgno};
        assert_int_equal(pthread_create(&t[i], NULL, thr, &a[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
}

static void test_single_flight(void **st)
{
    (void)st;
    pcache *c = pcache_new(1 << 20, 8);
    loader l = {.fill = 0x5a, .sleep_ms = 150};
    thr_arg a[N];
    get_concurrently(c, &l, 9, a);
    assert_int_equal(atomic_load(&l.calls), 1);
    for (int i = 0; i < N; i++) {
        assert_non_null(a[i].got);
        assert_ptr_equal(a[i].got, a[0].got);
        assert_int_equal(pcache_data(a[i].got)[100], 0x5a);
        pcache_release(a[i].got);
    }
    pcache_stats s;
    pcache_get_stats(c, &s);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.coalesced + s.hits, N - 1);
    /* single-flight of a failing load: every waiter sees the error */
    loader lf = {.fail = 7, .sleep_ms = 300};
    get_concurrently(c, &lf, 10, a);
    assert_int_equal(atomic_load(&lf.calls), 1);
    for (int i = 0; i < N; i++) {
        assert_null(a[i].got);
        assert_int_equal(a[i].err, 7);
    }
    pcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss),
        cmocka_unit_test(test_byte_bound_and_lru),
        cmocka_unit_test(test_load_error_not_cached),
        cmocka_unit_test(test_single_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
