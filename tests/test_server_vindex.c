/* Unit tests of the versioned page index: plan merge with shrinks, live
 * applies, pinned lookups, shrink tombstones, /changes, pruning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vindex.h"

static vfile *mkfile(int level, uint64_t min, uint64_t max)
{
    ltx_fileinfo fi = {.level = level, .min_txid = min, .max_txid = max, .size = 1000, .created_ms = 0};
    return vfile_new(&fi);
}

/* Merge f with entries for pages 1..commit, offset = pgno*10 + f's max
 * TXID (to tell files apart). */
static int merge_pages(vindex *x, vfile *f, uint32_t commit)
{
    ltx_index_entry *e = calloc(commit, sizeof *e);
    for (uint32_t p = 1; p <= commit; p++)
        e[p - 1] = (ltx_index_entry){p, p * 10 + f->max_txid, 50};
    int rc = vindex_merge_file(x, f, e, commit, commit);
    free(e);
    return rc;
}

static void drop(vfile *f) { /* the index took its references */ if (--f->refs == 0) free(f); }

static void test_merge_plan_shrink(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    /* TX1: 10 pages; TX2: shrink to 6 carrying page 1 only; TX3: grows to 8
     * writing 1 and 8 only -> page 7 reads as zeros, pages 2..6 from TX1 */
    vfile *f1 = mkfile(0, 1, 1), *f2 = mkfile(0, 2, 2), *f3 = mkfile(0, 3, 3);
    assert_int_equal(merge_pages(&x, f1, 10), VX_OK);
    ltx_index_entry e2[] = {{1, 12, 50}};
    assert_int_equal(vindex_merge_file(&x, f2, e2, 1, 6), VX_OK);
    ltx_index_entry e3[] = {{1, 13, 50}, {8, 83, 50}};
    assert_int_equal(vindex_merge_file(&x, f3, e3, 2, 8), VX_OK);
    assert_int_equal(vindex_seal(&x, 3, 8, 4096, 1000, 0), VX_OK);
    vpage p;
    assert_int_equal(vindex_lookup(&x, 3, 1, &p), VX_OK);
    assert_ptr_equal(p.file, f3);
    assert_int_equal(p.off, 13);
    assert_int_equal(vindex_lookup(&x, 3, 5, &p), VX_OK);
    assert_ptr_equal(p.file, f1);
    assert_int_equal(vindex_lookup(&x, 3, 7, &p), VX_OK);
    assert_null(p.file); /* dropped by the shrink to 6, never rewritten */
    assert_int_equal(vindex_lookup(&x, 3, 8, &p), VX_OK);
    assert_ptr_equal(p.file, f3);
    assert_int_equal(vindex_lookup(&x, 3, 9, &p), VX_RANGE);
    assert_int_equal(vindex_lookup(&x, 3, 0, &p), VX_RANGE);
    assert_int_equal(vindex_lookup(&x, 2, 1, &p), VX_NOT_LIVE);
    drop(f1);
    drop(f2);
    drop(f3);
    vindex_free(&x);
}

static void test_merge_keeps_higher_max(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *l0 = mkfile(0, 9, 9), *l1 = mkfile(1, 6, 8);
    ltx_index_entry a[] = {{2, 29, 50}};
    ltx_index_entry b[] = {{2, 28, 50}, {3, 38, 50}};
    vindex_merge_file(&x, l0, a, 1, 5);
    vindex_merge_file(&x, l1, b, 2, 5); /* older file merged later: loses page 2 */
    vindex_seal(&x, 9, 5, 4096, 0, 0);
    vpage p;
    vindex_lookup(&x, 9, 2, &p);
    assert_ptr_equal(p.file, l0);
    vindex_lookup(&x, 9, 3, &p);
    assert_ptr_equal(p.file, l1);
    drop(l0);
    drop(l1);
    vindex_free(&x);
}

static void test_apply_versions_and_changes(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f1 = mkfile(0, 1, 1);
    merge_pages(&x, f1, 10);
    vindex_seal(&x, 1, 10, 4096, 100, 0);
    /* TX2 changes 2 and 3 */
    vfile *f2 = mkfile(0, 2, 2);
    ltx_index_entry e2[] = {{2, 22, 50}, {3, 32, 50}};
    assert_int_equal(vindex_apply(&x, f2, e2, 2, 10, 4096, 200, 10), VX_OK);
    /* TX3 shrinks to 4, changing page 1 */
    vfile *f3 = mkfile(0, 3, 3);
    ltx_index_entry e3[] = {{1, 13, 50}};
    assert_int_equal(vindex_apply(&x, f3, e3, 1, 4, 4096, 300, 20), VX_OK);
    /* TX4 grows to 6 writing page 6 only: page 5 must be zeros, not TX1's */
    vfile *f4 = mkfile(0, 4, 4);
    ltx_index_entry e4[] = {{6, 64, 50}};
    assert_int_equal(vindex_apply(&x, f4, e4, 1, 6, 4096, 400, 30), VX_OK);
    /* stale apply refused */
    assert_int_equal(vindex_apply(&x, f2, e2, 2, 10, 4096, 200, 40), VX_STALE);

    vpage p;
    /* pinned at 1: originals */
    assert_int_equal(vindex_lookup(&x, 1, 2, &p), VX_OK);
    assert_int_equal(p.off, 21);
    assert_int_equal(vindex_lookup(&x, 1, 9, &p), VX_OK);
    assert_int_equal(p.off, 91);
    /* at 2 */
    vindex_lookup(&x, 2, 2, &p);
    assert_int_equal(p.off, 22);
    vindex_lookup(&x, 2, 1, &p);
    assert_int_equal(p.off, 11);
    /* at 3: commit 4 */
    assert_int_equal(vindex_lookup(&x, 3, 5, &p), VX_RANGE);
    vindex_lookup(&x, 3, 1, &p);
    assert_int_equal(p.off, 13);
    /* at 4 */
    assert_int_equal(vindex_lookup(&x, 4, 5, &p), VX_OK);
    assert_null(p.file);
    vindex_lookup(&x, 4, 6, &p);
    assert_int_equal(p.off, 64);
    vindex_lookup(&x, 4, 3, &p);
    assert_int_equal(p.off, 32);
    assert_int_equal(vindex_current(&x)->txid, 4);
    assert_int_equal(vindex_current(&x)->commit, 6);

    uint32_t *pg;
    size_t np;
    assert_int_equal(vindex_changes(&x, 1, &pg, &np), VX_OK);
    /* changed in (1,4]: 2,3 (TX2), 1 (TX3), 5..10 zeroed by TX3 but only
     * <= current commit 6 are listed: 5,6; 6 (TX4) */
    uint32_t want[] = {1, 2, 3, 5, 6};
    assert_int_equal(np, 5);
    assert_memory_equal(pg, want, sizeof want);
    free(pg);
    assert_int_equal(vindex_changes(&x, 4, &pg, &np), VX_OK);
    assert_int_equal(np, 0);
    assert_null(pg);
    assert_int_equal(vindex_changes(&x, 0, &pg, &np), VX_NOT_LIVE);

    /* prune with a 100 ms window at t=1000: everything superseded long ago
     * and unused -> only the newest record stays, lookups at 4 unchanged */
    size_t before = x.nversions;
    assert_int_equal(vindex_prune(&x, 1000, 100), 3);
    assert_true(x.nversions < before);
    assert_int_equal(vindex_oldest(&x)->txid, 4);
    assert_int_equal(vindex_lookup(&x, 2, 2, &p), VX_NOT_LIVE);
    vindex_lookup(&x, 4, 3, &p);
    assert_int_equal(p.off, 32);
    vindex_lookup(&x, 4, 1, &p);
    assert_int_equal(p.off, 13);
    vindex_lookup(&x, 4, 5, &p);
    assert_null(p.file);
    vindex_lookup(&x, 4, 9 - 5, &p);
    assert_int_equal(p.off, 41);
    /* every page has exactly one version left (or none for zeros) */
    for (uint32_t i = 0; i < x.nslots; i++)
        assert_true(vindex_page_versions(&x, i) <= 1);
    assert_int_equal(vindex_changes(&x, 3, &pg, &np), VX_NOT_LIVE);

    drop(f1);
    drop(f2);
    drop(f3);
    drop(f4);
    vindex_free(&x);
}

static void test_prune_respects_window_and_pins(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f1 = mkfile(0, 1, 1);
    merge_pages(&x, f1, 4);
    vindex_seal(&x, 1, 4, 4096, 0, 0);
    vfile *f2 = mkfile(0, 2, 2), *f3 = mkfile(0, 3, 3);
    ltx_index_entry e[] = {{2, 99, 50}};
    vindex_apply(&x, f2, e, 1, 4, 4096, 0, 1000);
    vindex_apply(&x, f3, e, 1, 4, 4096, 0, 5000);
    /* at t=1500 with window 1000: record 1 superseded 500 ms ago: kept */
    assert_int_equal(vindex_prune(&x, 1500, 1000), 0);
    /* pin record 1 (used at 2000): at t=2500 still kept */
    vindex_find(&x, 1)->used_ms = 2000;
    assert_int_equal(vindex_prune(&x, 2500, 1000), 0);
    /* at t=3100: record 1 goes; record 2 superseded at 5000: stays */
    assert_int_equal(vindex_prune(&x, 3100, 1000), 1);
    assert_int_equal(vindex_oldest(&x)->txid, 2);
    vpage p;
    assert_int_equal(vindex_lookup(&x, 2, 2, &p), VX_OK);
    assert_ptr_equal(p.file, f2);
    assert_int_equal(vindex_lookup(&x, 3, 2, &p), VX_OK);
    assert_ptr_equal(p.file, f3);
    drop(f1);
    drop(f2);
    drop(f3);
    vindex_free(&x);
}

/* One 16-byte entry per page: a built index of 100,000 pages holds its
 * page entries at exactly commit + 1 slots and under 17 bytes a page in
 * all (file table and records included). */
static void test_compact_bytes_per_page(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f1 = mkfile(1, 1, 5), *f2 = mkfile(0, 6, 6);
    assert_int_equal(merge_pages(&x, f1, 100000), VX_OK);
    ltx_index_entry e2[] = {{7, 1, 50}};
    assert_int_equal(vindex_merge_file(&x, f2, e2, 1, 100000), VX_OK);
    assert_int_equal(vindex_seal(&x, 6, 100000, 4096, 0, 0), VX_OK);
    assert_int_equal(sizeof(ventry), 16);
    assert_int_equal(x.nslots, 100001);
    assert_true(vindex_bytes(&x) <= (size_t)17 * 100000);
    assert_int_equal(x.nversions, 100000);
    vpage p;
    assert_int_equal(vindex_lookup(&x, 6, 7, &p), VX_OK);
    assert_ptr_equal(p.file, f2);
    assert_int_equal(p.txid, 6);
    assert_int_equal(vindex_lookup(&x, 6, 99999, &p), VX_OK);
    assert_ptr_equal(p.file, f1);
    assert_int_equal(p.off, 99999 * 10 + 5);
    assert_int_equal(p.size, 50);
    drop(f1);
    drop(f2);
    vindex_free(&x);
}

/* Frame offsets use 48 bits: above 4 GiB they come back whole; beyond
 * 2^48 the file is refused and the index is unchanged. */
static void test_offsets_48_bits(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f1 = mkfile(0, 1, 1), *f2 = mkfile(0, 2, 2);
    ltx_index_entry e1[] = {{1, (1ULL << 47) + 12345, 4100}, {2, 5ULL << 32, 70000}};
    assert_int_equal(vindex_merge_file(&x, f1, e1, 2, 2), VX_OK);
    vindex_seal(&x, 1, 2, 4096, 0, 0);
    ltx_index_entry e2[] = {{1, 7, 50}, {2, 1ULL << 48, 50}};
    assert_int_equal(vindex_apply(&x, f2, e2, 2, 2, 4096, 0, 0), VX_TOOBIG);
    assert_int_equal(vindex_current(&x)->txid, 1);
    vpage p;
    vindex_lookup(&x, 1, 1, &p);
    assert_true(p.off == (1ULL << 47) + 12345);
    assert_int_equal(p.size, 4100);
    vindex_lookup(&x, 1, 2, &p);
    assert_true(p.off == 5ULL << 32);
    assert_int_equal(p.size, 70000);
    assert_int_equal(x.nversions, 2);
    assert_int_equal(f2->refs, 1); /* the refused file is not held */
    drop(f1);
    drop(f2);
    vindex_free(&x);
}

/* A page changed by several later TXIDs: each pinned TXID reads its own
 * version out of the side table; pruning releases the files no version
 * names any more (their references go back to the caller). */
static void test_side_table_and_file_release(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f[6];
    f[1] = mkfile(0, 1, 1);
    merge_pages(&x, f[1], 3);
    vindex_seal(&x, 1, 3, 4096, 0, 0);
    for (int t = 2; t <= 5; t++) {
        f[t] = mkfile(0, (uint64_t)t, (uint64_t)t);
        ltx_index_entry e[] = {{2, 20 + (uint64_t)t, 50}};
        assert_int_equal(vindex_apply(&x, f[t], e, 1, 3, 4096, 0, t * 100), VX_OK);
    }
    assert_int_equal(vindex_page_versions(&x, 2), 5);
    assert_int_equal(vindex_page_versions(&x, 3), 1);
    vpage p;
    for (uint64_t t = 1; t <= 5; t++) {
        assert_int_equal(vindex_lookup(&x, t, 2, &p), VX_OK);
        assert_ptr_equal(p.file, f[t]);
        assert_int_equal(p.txid, t);
        assert_int_equal(vindex_lookup(&x, t, 3, &p), VX_OK);
        assert_ptr_equal(p.file, f[1]);
    }
    assert_int_equal(f[3]->refs, 2);
    /* records 1..3 go (record 4 added at 400 is older than the window) */
    assert_int_equal(vindex_prune(&x, 1450, 1000), 3);
    assert_int_equal(vindex_oldest(&x)->txid, 4);
    assert_int_equal(f[2]->refs, 1);
    assert_int_equal(f[3]->refs, 1);
    assert_int_equal(f[4]->refs, 2); /* page 2 as of TXID 4 */
    assert_int_equal(f[1]->refs, 2); /* pages 1 and 3 */
    assert_int_equal(vindex_page_versions(&x, 2), 2);
    vindex_lookup(&x, 4, 2, &p);
    assert_ptr_equal(p.file, f[4]);
    assert_int_equal(x.nversions, 4);
    for (int t = 1; t <= 5; t++)
        drop(f[t]);
    vindex_free(&x);
}

/* A shrink's zeros stay visible to the TXIDs after it and the earlier
 * version to the TXIDs before; once nothing older is kept, the zeros
 * version itself goes (the page reads as zeros without an entry). */
static void test_shrink_zeros_released(void **st)
{
    (void)st;
    vindex x;
    vindex_init(&x);
    vfile *f1 = mkfile(0, 1, 1), *f2 = mkfile(0, 2, 2), *f3 = mkfile(0, 3, 3);
    merge_pages(&x, f1, 4);
    vindex_seal(&x, 1, 4, 4096, 0, 0);
    ltx_index_entry e2[] = {{1, 12, 50}};
    vindex_apply(&x, f2, e2, 1, 2, 4096, 0, 10); /* shrink to 2 */
    ltx_index_entry e3[] = {{4, 43, 50}};
    vindex_apply(&x, f3, e3, 1, 4, 4096, 0, 20); /* grow to 4, page 3 not written */
    vpage p;
    vindex_lookup(&x, 1, 3, &p);
    assert_ptr_equal(p.file, f1);
    assert_int_equal(vindex_lookup(&x, 2, 3, &p), VX_RANGE);
    assert_int_equal(vindex_lookup(&x, 3, 3, &p), VX_OK);
    assert_null(p.file);
    assert_int_equal(vindex_page_versions(&x, 3), 2);
    assert_int_equal(vindex_prune(&x, 5000, 100), 2);
    assert_int_equal(vindex_page_versions(&x, 3), 0);
    vindex_lookup(&x, 3, 3, &p);
    assert_null(p.file);
    vindex_lookup(&x, 3, 4, &p);
    assert_ptr_equal(p.file, f3);
    assert_int_equal(f1->refs, 2); /* page 2 (1 and 4 were rewritten, 3 zeroed) */
    drop(f1);
    drop(f2);
    drop(f3);
    vindex_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_plan_shrink),
        cmocka_unit_test(test_merge_keeps_higher_max),
        cmocka_unit_test(test_apply_versions_and_changes),
        cmocka_unit_test(test_prune_respects_window_and_pins),
        cmocka_unit_test(test_compact_bytes_per_page),
        cmocka_unit_test(test_offsets_48_bits),
        cmocka_unit_test(test_side_table_and_file_release),
        cmocka_unit_test(test_shrink_zeros_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
