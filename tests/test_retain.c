/* test_retain.c - proto/retain.c's ltx_retention_select: which snapshots
 * and L1+ files a retention pass deletes (none without a snapshot created
 * at or before the cutoff; the newest snapshot and the one at the window's
 * start stay; L1+ at or below its TXID go except each level's newest and
 * what the next level has not compacted yet; L0 never; nothing when the
 * rest would not restore the window). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compact.h"

#define F(l, a, b, t) \
    ((ltx_fileinfo){ .level = (l), .min_txid = (a), .max_txid = (b), .size = 100, .created_ms = (t) })

/* A replica: snapshots 1-10 @100, 1-20 @200, 1-30 @300; L1 in fives to 35;
 * L2 1-20, 21-35; L0 31..35. */
static size_t replica(ltx_fileinfo *f)
{
    size_t n = 0;
    f[n++] = F(9, 1, 10, 100);
    f[n++] = F(9, 1, 20, 200);
    f[n++] = F(9, 1, 30, 300);
    for (uint64_t a = 1; a <= 31; a += 5)
        f[n++] = F(1, a, a + 4, (int64_t)a * 10);
    f[n++] = F(2, 1, 20, 200);
    f[n++] = F(2, 21, 35, 350);
    for (uint64_t t = 31; t <= 35; t++)
        f[n++] = F(0, t, t, (int64_t)t * 10);
    return n;
}

static int deleted(const ltx_fileinfo *f, const uint8_t *del, size_t n, int level, uint64_t a, uint64_t b)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].level == level && f[i].min_txid == a && f[i].max_txid == b)
            return del[i];
    fail_msg("no file L%d %llu-%llu", level, (unsigned long long)a, (unsigned long long)b);
    return -1;
}

static void test_no_snapshot(void **state)
{
    (void)state;
    ltx_fileinfo f[3] = { F(1, 1, 5, 10), F(1, 6, 10, 20), F(0, 11, 11, 30) };
    uint8_t del[3];
    uint64_t floor = 1;
    assert_int_equal(ltx_retention_select(f, 3, 1000000, del, &floor), 0);
    assert_int_equal(floor, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(del[i], 0);
}

static void test_window_start(void **state)
{
    (void)state;
    ltx_fileinfo f[32];
    uint8_t del[32];
    uint64_t floor = 0;
    size_t n = replica(f);
    /* cutoff 250: the snapshot at 200 is the window's start */
    assert_int_equal(ltx_retention_select(f, n, 250, del, &floor), 6);
    assert_int_equal(floor, 20);
    assert_true(deleted(f, del, n, 9, 1, 10));
    assert_false(deleted(f, del, n, 9, 1, 20));
    assert_false(deleted(f, del, n, 9, 1, 30));
    assert_true(deleted(f, del, n, 1, 1, 5));
    assert_true(deleted(f, del, n, 1, 16, 20));
    assert_false(deleted(f, del, n, 1, 21, 25));
    assert_true(deleted(f, del, n, 2, 1, 20));
    assert_false(deleted(f, del, n, 0, 31, 31));
    /* cutoff before every snapshot: the whole replica is in the window,
     * L1 6-10 (created at 60, after the cutoff) is its only way to TXID 6 */
    assert_int_equal(ltx_retention_select(f, n, 50, del, &floor), 0);
    assert_int_equal(floor, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(del[i], 0);
    /* cutoff after all: only the newest snapshot; each level's newest file stays */
    assert_int_equal(ltx_retention_select(f, n, 100000, del, &floor), 9);
    assert_int_equal(floor, 30);
    assert_false(deleted(f, del, n, 9, 1, 30));
    assert_true(deleted(f, del, n, 1, 26, 30));
    assert_false(deleted(f, del, n, 1, 31, 35));
    assert_false(deleted(f, del, n, 2, 21, 35));
}

static void test_newest_of_level_stays(void **state)
{
    (void)state;
    ltx_fileinfo f[4] = { F(9, 1, 10, 100), F(9, 1, 20, 200), F(1, 1, 10, 100), F(1, 11, 20, 200) };
    uint8_t del[4];
    uint64_t floor = 0;
    assert_int_equal(ltx_retention_select(f, 4, 100000, del, &floor), 2);
    assert_int_equal(floor, 20);
    assert_true(del[0] && !del[1] && del[2] && !del[3]);
}

static void test_window_before_first_snapshot(void **state)
{
    (void)state;
    /* a day of L1 files, one snapshot at its end, retention a day: every
     * TXID of the day is in the window and needs its L1 files */
    ltx_fileinfo f[6] = { F(1, 1, 10, 1000), F(1, 11, 20, 2000), F(1, 21, 30, 3000), F(1, 31, 40, 4000),
                          F(9, 1, 30, 3000), F(0, 41, 41, 4100) };
    uint8_t del[6];
    uint64_t floor = 1;
    assert_int_equal(ltx_retention_select(f, 6, 500, del, &floor), 0);
    assert_int_equal(floor, 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(del[i], 0);
    /* TXID 20 (created at 2000, after the cutoff) restores from what stays */
    ltx_fileinfo rest[6], *plan = NULL;
    size_t m = 0, pn = 0;
    for (int i = 0; i < 6; i++)
        if (!del[i])
            rest[m++] = f[i];
    uint64_t got = 0;
    assert_int_equal(ltx_restore_plan(rest, m, 20, 0, &plan, &pn, &got, NULL), LTX_OK);
    assert_int_equal(got, 20);
    free(plan);
}

static void test_next_level_input_stays(void **state)
{
    (void)state;
    /* L2 lags at TXID 5 (its ladder paused): L2's next compaction takes
     * the L1 files from TXID 6 on, so they stay although the snapshot at
     * 20 covers them; L1 1-5 (already in L2) and the old snapshot go */
    ltx_fileinfo f[8] = { F(9, 1, 10, 100),  F(9, 1, 20, 200),  F(1, 1, 5, 50),   F(1, 6, 10, 100),
                          F(1, 11, 15, 150), F(1, 16, 20, 200), F(1, 21, 25, 250), F(2, 1, 5, 60) };
    uint8_t del[8];
    uint64_t floor = 0;
    assert_int_equal(ltx_retention_select(f, 8, 100000, del, &floor), 2);
    assert_int_equal(floor, 20);
    assert_true(deleted(f, del, 8, 9, 1, 10));
    assert_false(deleted(f, del, 8, 9, 1, 20));
    assert_true(deleted(f, del, 8, 1, 1, 5));
    assert_false(deleted(f, del, 8, 1, 6, 10));
    assert_false(deleted(f, del, 8, 1, 11, 15));
    assert_false(deleted(f, del, 8, 1, 16, 20));
    assert_false(deleted(f, del, 8, 1, 21, 25));
    assert_false(deleted(f, del, 8, 2, 1, 5));
    /* the first L1 file after L2's newest TXID still starts right after it */
    int next = 0;
    for (size_t i = 0; i < 8; i++)
        next |= f[i].level == 1 && !del[i] && f[i].min_txid == 6;
    assert_true(next);
}

static void test_level9_non_snapshot_ignored(void **state)
{
    (void)state;
    /* a level-9 file that does not start at TXID 1 is no snapshot: it is
     * not the floor and it is not deleted */
    ltx_fileinfo f[5] = { F(9, 1, 10, 100), F(9, 1, 20, 200), F(9, 5, 30, 250), F(1, 1, 20, 200),
                          F(1, 21, 30, 300) };
    uint8_t del[5];
    uint64_t floor = 0;
    assert_int_equal(ltx_retention_select(f, 5, 100000, del, &floor), 2);
    assert_int_equal(floor, 20);
    assert_true(del[0] && !del[1] && !del[2] && del[3] && !del[4]);
}

static void test_refuses_unrestorable(void **state)
{
    (void)state;
    /* a gap 21-30 nothing bridges: the latest does not restore, nothing goes */
    ltx_fileinfo f[5] = { F(9, 1, 10, 100), F(9, 1, 20, 200), F(1, 1, 10, 100), F(1, 11, 20, 200),
                          F(1, 31, 40, 400) };
    uint8_t del[5];
    uint64_t floor = 0;
    assert_int_equal(ltx_retention_select(f, 5, 100000, del, &floor), -1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(del[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_snapshot),
        cmocka_unit_test(test_window_start),
        cmocka_unit_test(test_newest_of_level_stays),
        cmocka_unit_test(test_window_before_first_snapshot),
        cmocka_unit_test(test_next_level_input_stays),
        cmocka_unit_test(test_level9_non_snapshot_ignored),
        cmocka_unit_test(test_refuses_unrestorable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
