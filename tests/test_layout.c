/* test_layout.c - LTX file names, TXID/time text, level folders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ltx.h"

static void test_filename_roundtrip(void **state) {
    (void)state;
    char buf[LTX_FILENAME_LEN + 1];
    uint64_t a = 0, b = 0;
    ltx_format_filename(buf, 1, 8);
    assert_string_equal(buf, "0000000000000001-0000000000000008.ltx");
    assert_int_equal(strlen(buf), LTX_FILENAME_LEN);
    assert_int_equal(ltx_parse_filename(buf, &a, &b), 0);
    assert_true(a == 1 && b == 8);
    ltx_format_filename(buf, 0xfedcba9876543210ull, UINT64_MAX);
    assert_string_equal(buf, "fedcba9876543210-ffffffffffffffff.ltx");
    assert_int_equal(ltx_parse_filename(buf, &a, &b), 0);
    assert_true(a == 0xfedcba9876543210ull && b == UINT64_MAX);
    /* NULL outputs are allowed */
    assert_int_equal(ltx_parse_filename("00000000000000aa-00000000000000bb.ltx", NULL, NULL), 0);
}

static void test_filename_foreign(void **state) {
    (void)state;
    static const char *bad[] = {
        "",
        "0000000000000001-0000000000000001.ltx.tmp",
        "0000000000000001-0000000000000001.LTX",
        "000000000000000A-0000000000000001.ltx", /* upper case */
        "000000000000001-0000000000000001.ltx",  /* 15 digits */
        "00000000000000001-000000000000001.ltx", /* split wrong */
        "0000000000000001_0000000000000001.ltx",
        "0000000000000001-0000000000000001.lt",
        "0000000000000001-0000000000000001xltx",
        "0000000000000001-000000000000000g.ltx",
        "00000001.snapshot.lz4",
        "lock.json",
        " 0000000000000001-0000000000000001.ltx",
        "0000000000000001-0000000000000001.ltx ",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        uint64_t a = 77, b = 77;
        if (ltx_parse_filename(bad[i], &a, &b) == 0) fail_msg("accepted foreign name '%s'", bad[i]);
        assert_true(a == 77 && b == 77); /* outputs untouched on failure */
    }
    assert_int_not_equal(ltx_parse_filename(NULL, NULL, NULL), 0);
}

static void test_txid_text(void **state) {
    (void)state;
    char buf[17];
    uint64_t t = 0;
    ltx_format_txid(buf, 9);
    assert_string_equal(buf, "0000000000000009");
    ltx_format_txid(buf, 0xabcdef0123456789ull);
    assert_string_equal(buf, "abcdef0123456789");
    assert_int_equal(ltx_parse_txid("0000000000000009", &t, 0), 0);
    assert_true(t == 9);
    assert_int_equal(ltx_parse_txid("1f", &t, 0), 0);
    assert_true(t == 0x1f);
    assert_int_equal(ltx_parse_txid("ABCDEF0123456789", &t, 0), 0);
    assert_true(t == 0xabcdef0123456789ull);
    assert_int_equal(ltx_parse_txid("ffffffffffffffff", &t, 0), 0);
    assert_true(t == UINT64_MAX);
    /* zero */
    assert_int_not_equal(ltx_parse_txid("0", &t, 0), 0);
    assert_int_not_equal(ltx_parse_txid("0000000000000000", &t, 0), 0);
    assert_int_equal(ltx_parse_txid("0", &t, 1), 0);
    assert_true(t == 0);
    /* malformed */
    static const char *bad[] = {"", "10000000000000000", "0x10", "12 ", "-1", "g", "1.0", NULL};
    for (size_t i = 0; bad[i]; i++)
        if (ltx_parse_txid(bad[i], &t, 1) == 0) fail_msg("accepted TXID '%s'", bad[i]);
    assert_int_not_equal(ltx_parse_txid(NULL, &t, 1), 0);
}

static void test_time_format(void **state) {
    (void)state;
    char buf[32];
    ltx_format_time(buf, sizeof buf, 1735689600000); /* 2025-01-01 */
    assert_string_equal(buf, "2025-01-01T00:00:00.000Z");
    ltx_format_time(buf, sizeof buf, 1735689600000 + 6 * 60000 + 30000);
    assert_string_equal(buf, "2025-01-01T00:06:30.000Z");
    ltx_format_time(buf, sizeof buf, 0);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    ltx_format_time(buf, sizeof buf, -1);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    ltx_format_time(buf, sizeof buf, 951782400123); /* leap day 2000 */
    assert_string_equal(buf, "2000-02-29T00:00:00.123Z");
    ltx_format_time(buf, sizeof buf, 253402300799999);
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
    /* 25 bytes is enough; smaller buffers truncate safely */
    char small[25];
    ltx_format_time(small, sizeof small, 1735689600000);
    assert_string_equal(small, "2025-01-01T00:00:00.000Z");
    char tiny[5];
    ltx_format_time(tiny, sizeof tiny, 1735689600000);
    assert_string_equal(tiny, "2025");
}

static void test_time_parse(void **state) {
    (void)state;
    int64_t ms = 0;
    assert_int_equal(ltx_parse_time("2025-01-01T00:06:30.000Z", &ms), 0);
    assert_true(ms == 1735689600000 + 390000);
    assert_int_equal(ltx_parse_time("2025-01-01T00:06:30Z", &ms), 0);
    assert_true(ms == 1735689990000);
    /* nanoseconds truncate to ms (not rounded) */
    assert_int_equal(ltx_parse_time("2025-01-01T00:06:30.123999999Z", &ms), 0);
    assert_true(ms == 1735689990123);
    assert_int_equal(ltx_parse_time("2025-01-01T00:06:30.5Z", &ms), 0);
    assert_true(ms == 1735689990500);
    /* offsets */
    assert_int_equal(ltx_parse_time("2025-01-01T02:06:30+02:00", &ms), 0);
    assert_true(ms == 1735689990000);
    assert_int_equal(ltx_parse_time("2024-12-31T19:06:30.000-05:00", &ms), 0);
    assert_true(ms == 1735689990000);
    assert_int_equal(ltx_parse_time("2025-01-01t00:06:30z", &ms), 0);
    assert_true(ms == 1735689990000);
    assert_int_equal(ltx_parse_time("1969-12-31T23:59:59.999Z", &ms), 0);
    assert_true(ms == -1);
    assert_int_equal(ltx_parse_time("2000-02-29T00:00:00Z", &ms), 0);
    /* round trip over a range of values */
    for (int64_t v = -86400000LL * 800; v < 86400000LL * 30000; v += 86400000LL * 37 + 12345) {
        char buf[32];
        int64_t back = 0;
        ltx_format_time(buf, sizeof buf, v);
        assert_int_equal(ltx_parse_time(buf, &back), 0);
        if (back != v) fail_msg("round trip %lld -> %s -> %lld", (long long)v, buf, (long long)back);
    }
    static const char *bad[] = {
        "", "2025-01-01", "2025-01-01T00:06:30", "2025-01-01 00:06:30Z", "2025-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z", "2025-01-32T00:00:00Z", "2025-01-01T24:00:00Z",
        "2025-01-01T00:60:00Z", "2025-01-01T00:00:60Z", "2025-01-01T00:00:00.Z",
        "2025-01-01T00:00:00.1234567890Z", "2025-01-01T00:00:00+0200", "2025-01-01T00:00:00Zjunk",
        "25-01-01T00:00:00Z", "2025-1-01T00:00:00Z", "2025-01-01T00:00:00+24:00", "5 minutes ago",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++)
        if (ltx_parse_time(bad[i], &ms) == 0) fail_msg("accepted time '%s'", bad[i]);
    assert_int_not_equal(ltx_parse_time(NULL, &ms), 0);
}

static void test_level_dirs(void **state) {
    (void)state;
    char buf[64];
    assert_int_equal(ltx_file_level_dir(buf, sizeof buf, "/data/app.db", 0), 0);
    assert_string_equal(buf, "/data/app.db/ltx/0");
    assert_int_equal(ltx_file_level_dir(buf, sizeof buf, "/data/app.db/", 9), 0);
    assert_string_equal(buf, "/data/app.db/ltx/9");
    assert_int_equal(ltx_s3_level_prefix(buf, sizeof buf, "db", 0), 0);
    assert_string_equal(buf, "db/0000");
    assert_int_equal(ltx_s3_level_prefix(buf, sizeof buf, "a/b", 9), 0);
    assert_string_equal(buf, "a/b/0009");
    assert_int_equal(ltx_s3_level_prefix(buf, sizeof buf, "", 2), 0);
    assert_string_equal(buf, "/0002"); /* literal, as Litestream builds keys */
    /* too small / bad level */
    assert_int_equal(ltx_file_level_dir(buf, 8, "/data/app.db", 0), -1);
    assert_int_equal(ltx_s3_level_prefix(buf, 7, "db", 0), -1);
    assert_int_equal(ltx_s3_level_prefix(buf, 8, "db", 0), 0);
    assert_int_equal(ltx_file_level_dir(buf, sizeof buf, "/x", 10), -1);
    assert_int_equal(ltx_file_level_dir(buf, sizeof buf, "/x", -1), -1);
    assert_int_equal(ltx_s3_level_prefix(buf, sizeof buf, "x", 10), -1);

    for (int l = 0; l <= 9; l++) {
        char name[8];
        snprintf(name, sizeof name, "%d", l);
        assert_int_equal(ltx_parse_file_level(name), l);
        snprintf(name, sizeof name, "%04x", l);
        assert_int_equal(ltx_parse_s3_level(name), l);
    }
    static const char *badf[] = {"", "10", "00", "a", "-1", " 1", "0000", NULL};
    for (size_t i = 0; badf[i]; i++)
        if (ltx_parse_file_level(badf[i]) != -1) fail_msg("file level '%s' accepted", badf[i]);
    static const char *bads[] = {"", "0", "000a", "0010", "000A", "00001", "ltx", "0", "-001", NULL};
    for (size_t i = 0; bads[i]; i++)
        if (ltx_parse_s3_level(bads[i]) != -1) fail_msg("s3 level '%s' accepted", bads[i]);
    assert_int_equal(ltx_parse_file_level(NULL), -1);
    assert_int_equal(ltx_parse_s3_level(NULL), -1);
}

static void test_fileinfo_format(void **state) {
    (void)state;
    char buf[48];
    ltx_fileinfo f = {.level = 2, .min_txid = 1, .max_txid = 8};
    ltx_fileinfo_format(buf, sizeof buf, &f);
    assert_string_equal(buf, "L2:0000000000000001-0000000000000008");
    assert_int_equal(strlen(buf), 36);
    f.level = 9;
    f.max_txid = 0xffffffffffffffffull;
    ltx_fileinfo_format(buf, 41, &f);
    assert_string_equal(buf, "L9:0000000000000001-ffffffffffffffff");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filename_roundtrip), cmocka_unit_test(test_filename_foreign),
        cmocka_unit_test(test_txid_text),          cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),         cmocka_unit_test(test_level_dirs),
        cmocka_unit_test(test_fileinfo_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
