/* test_common.c - unit tests of common/: timefmt, strparse, dbname, be, hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "be.h"
#include "dbname.h"
#include "hash.h"
#include "rng.h"
#include "strbuf.h"
#include "strparse.h"
#include "timefmt.h"
#include "wire.h"

_Static_assert(DBNAME_MAX == LTXW_MAX_DB_NAME, "dbname.h and wire.h disagree on the name limit");

static void test_time_format(void **state) {
    (void)state;
    static const struct {
        void (*fmt)(char *, size_t, int64_t);
        int64_t v;
        const char *want;
    } cases[] = {
        {timefmt_format_ms, 1735689600000, "2025-01-01T00:00:00.000Z"},
        {timefmt_format_ms, -1, "1969-12-31T23:59:59.999Z"},
        {timefmt_format_ms, 951782400123, "2000-02-29T00:00:00.123Z"},
        {timefmt_format_nano, 1735689600000, "2025-01-01T00:00:00Z"},
        {timefmt_format_nano, 1735689600500, "2025-01-01T00:00:00.5Z"},
        {timefmt_format_nano, 1735689600120, "2025-01-01T00:00:00.12Z"},
        {timefmt_format_nano, 1735689600007, "2025-01-01T00:00:00.007Z"},
        {timefmt_format_nano, -500, "1969-12-31T23:59:59.5Z"},
        {timefmt_format_basic, 1440938160, "20150830T123600Z"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].fmt(buf, sizeof buf, cases[i].v);
        assert_string_equal(buf, cases[i].want);
    }
    timefmt_format_ms(buf, sizeof buf, 0);
    assert_int_equal(strlen(buf), TIMEFMT_MS_LEN);
    char small[8];
    timefmt_format_ms(small, sizeof small, 0);
    assert_string_equal(small, "1970-01");
    timefmt_format_ms(buf, 0, 0); /* no write, no crash */
    timefmt_format_ms(NULL, 10, 0);
}

static void test_time_parse(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int64_t want;
    } good[] = {
        {"2025-01-01T00:00:00Z", 1735689600000},           {"2025-01-01T00:00:00.123456789Z", 1735689600123},
        {"2025-01-01T02:00:00.5+02:00", 1735689600500}, {"2024-12-31t19:00:00-05:00", 1735689600000},
        {"2025-01-01T00:00:00z", 1735689600000},
    };
    int64_t ms = 0;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (timefmt_parse_rfc3339(good[i].s, &ms) != 0) fail_msg("refused '%s'", good[i].s);
        assert_int_equal(ms, good[i].want);
    }
    assert_int_equal(timefmt_parse_rfc3339("2025-01-01T00:00:00Z", NULL), 0);
    static const char *bad[] = {"", "2025-01-01", "2025-01-01T00:00:00", "2025-02-29T00:00:00Z",
                                "2025-01-01T24:00:00Z", "2025-01-01T00:00:60Z", "2025-01-01T00:00:00.Z",
                                "2025-01-01T00:00:00.1234567890Z", "2025-01-01T00:00:00+0200",
                                "2025-01-01T00:00:00Zjunk", "2025-01-01 00:00:00Z", "2025-13-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = 42;
        if (timefmt_parse_rfc3339(bad[i], &ms) == 0) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(ms, 42);
    }
    assert_int_not_equal(timefmt_parse_rfc3339(NULL, &ms), 0);
    /* round trip in both formats */
    static const int64_t vals[] = {0, 1, -1, 999, 1735689600000, 1735689600123, 253402300799999};
    char buf[64];
    void (*const fmts[])(char *, size_t, int64_t) = {timefmt_format_ms, timefmt_format_nano};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        for (size_t f = 0; f < 2; f++) {
            fmts[f](buf, sizeof buf, vals[i]);
            assert_int_equal(timefmt_parse_rfc3339(buf, &ms), 0);
            assert_int_equal(ms, vals[i]);
        }
    assert_true(timefmt_now_ms() > 1735689600000);
}

static void test_parse_numbers(void **state) {
    (void)state;
    uint64_t u = 7;
    assert_int_equal(strparse_u64("0", 10, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(strparse_u64("18446744073709551615", 10, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(strparse_u64("0x10", 0, &u), 0);
    assert_int_equal(u, 16);
    assert_int_equal(strparse_u64("ff", 16, &u), -1); /* must start with a digit */
    assert_int_equal(strparse_u64("0ff", 16, &u), 0);
    assert_int_equal(u, 255);
    u = 7;
    static const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strparse_u64(bad[i], 10, &u) == 0) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(u, 7);
    assert_int_equal(strparse_u64(NULL, 10, &u), -1);

    long l = 0;
    assert_int_equal(strparse_long("-5", -10, 10, &l), 0);
    assert_int_equal(l, -5);
    assert_int_equal(strparse_long("11", -10, 10, &l), -1);
    assert_int_equal(strparse_long("", 0, 10, &l), -1);
    assert_int_equal(strparse_long("3k", 0, 10, &l), -1);
    assert_int_equal(strparse_long(" 3", 0, 10, &l), -1);
    assert_int_equal(l, -5);
}

static void test_parse_size(void **state) {
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"0", 0},
              {"4096", 4096},
              {"512k", 512 * 1024},
              {"512kb", 512 * 1024},
              {"64M", 64u << 20},
              {"64MB", 64u << 20},
              {"1.5GiB", 3ull << 29},
              {"2T", 2ull << 40},
              {"100B", 100},
              {"100b", 100},
              {".5K", 512}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        if (strparse_size(ok[i].s, &v) != 0) fail_msg("refused '%s'", ok[i].s);
        assert_true(v == ok[i].v);
    }
    static const char *bad[] = {"", "-1", "K", "1X", "1KX", "1KiBB", "1e3", "0x10", " 1", "1 ", "inf", "nan", "99999999T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 1;
        if (strparse_size(bad[i], &v) == 0) fail_msg("accepted '%s'", bad[i]);
        assert_true(v == 1);
    }
}

static void test_parse_duration(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {{"0", 0},          {"1", 1000},       {"1.5s", 1500},   {"250ms", 250},     {"5m", 300000},
              {"5min", 300000}, {"2h", 7200000}, {"7d", 604800000}, {".5", 500}, {"0.0004s", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -7;
        if (strparse_duration_ms(ok[i].s, &v) != 0) fail_msg("refused '%s'", ok[i].s);
        assert_int_equal(v, ok[i].v);
    }
    static const char *bad[] = {"", "-1s", "s", "1x", "1 s", "1S", "1e3", "+1", "nan", "1e400", "999999999999d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -7;
        if (strparse_duration_ms(bad[i], &v) == 0) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(v, -7);
    }
}

static void test_parse_bool(void **state) {
    (void)state;
    static const char *t[] = {"1", "true", "TRUE", "yes", "On"}, *f[] = {"0", "false", "No", "off"};
    int b;
    for (size_t i = 0; i < 5; i++) {
        b = -1;
        assert_int_equal(strparse_bool(t[i], &b), 0);
        assert_int_equal(b, 1);
    }
    for (size_t i = 0; i < 4; i++) {
        b = -1;
        assert_int_equal(strparse_bool(f[i], &b), 0);
        assert_int_equal(b, 0);
    }
    b = 5;
    assert_int_equal(strparse_bool("", &b), -1);
    assert_int_equal(strparse_bool("2", &b), -1);
    assert_int_equal(strparse_bool("truex", &b), -1);
    assert_int_equal(strparse_bool(NULL, &b), -1);
    assert_int_equal(b, 5);
}

static void test_dbname(void **state) {
    (void)state;
    static const char *good[] = {"app.db", "a", "db-1_x", "my db", "caf\xc3\xa9.db", "a..b", "x.", "admin"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!dbname_valid(good[i])) fail_msg("refused '%s'", good[i]);
    char longest[DBNAME_MAX + 2];
    memset(longest, 'x', DBNAME_MAX);
    longest[DBNAME_MAX] = 0;
    assert_true(dbname_valid(longest));
    longest[DBNAME_MAX] = 'x';
    longest[DBNAME_MAX + 1] = 0;
    assert_false(dbname_valid(longest));
    static const char *bad[] = {"",     ".",      "..",     ".hidden", "a/b",  "/",   "a\\b", "%2e%2e", "a%2fb",
                                "a?b",  "a#b",    "a\nb",   "\t",      "a\x7f", "\x1b[0m", "../etc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dbname_valid(bad[i])) fail_msg("accepted bad name %zu", i);
    assert_false(dbname_valid(NULL));
    assert_true(dbname_valid_n("app.db", 6));
    assert_false(dbname_valid_n("app\0db", 6)); /* NUL inside */
    assert_false(dbname_valid_n("app.db", 0));
    assert_true(dbname_valid_n("app.dbXXX", 6));

    static const char *reserved[] = LTXW_RESERVED_NAMES;
    int n = 0;
    for (int i = 0; reserved[i]; i++, n++) {
        assert_true(dbname_reserved(reserved[i]));
        assert_false(dbname_servable(reserved[i]));
    }
    assert_int_equal(n, 4);
    assert_false(dbname_reserved("app.db"));
    assert_false(dbname_reserved("Admin"));
    assert_false(dbname_reserved(NULL));
    assert_true(dbname_servable("app.db"));
    assert_false(dbname_servable(".."));
}

static void test_be(void **state) {
    (void)state;
    uint8_t b[8];
    be_put16(b, 0x1234);
    assert_int_equal(b[0], 0x12);
    assert_int_equal(be_get16(b), 0x1234);
    be_put32(b, 0xdeadbeef);
    assert_memory_equal(b, "\xde\xad\xbe\xef", 4);
    assert_int_equal(be_get32(b), 0xdeadbeef);
    be_put64(b, 0x0102030405060708ull);
    assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_true(be_get64(b) == 0x0102030405060708ull);
}

static void test_rng(void **state) {
    (void)state;
    uint64_t st = 1;
    assert_true(rng_xorshift64(&st) == 1082269761ull);
    assert_true(st == 1082269761ull);
    assert_true(rng_xorshift64(&st) == 1152992998833853505ull);
    for (int i = 0; i < 1000; i++) assert_true(rng_xorshift64(&st) != 0); /* never reaches 0 */
}

static void test_strbuf(void **state) {
    (void)state;
    strbuf b = STRBUF_INIT(16);
    assert_int_equal(strbuf_append(&b, "", 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(strbuf_puts(&b, "abc"), 0);
    assert_int_equal(strbuf_putc(&b, '-'), 0);
    assert_int_equal(strbuf_printf(&b, "%d:%s", 42, "x"), 0);
    assert_string_equal(b.p, "abc-42:x");
    assert_int_equal(b.len, 8);
    assert_int_equal(strbuf_puts(&b, "1234567"), 0); /* 15 bytes + NUL = the cap */
    assert_int_equal(b.len, 15);
    assert_false(b.err);
    assert_int_equal(strbuf_putc(&b, 'z'), -1); /* would pass the cap */
    assert_true(b.err);
    assert_int_equal(strbuf_puts(&b, ""), -1); /* sticky */
    assert_string_equal(b.p, "abc-42:x1234567");
    strbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.max, 16);
    assert_int_equal(strbuf_printf(&b, "%s", "0123456789abcdefg"), -1);
    assert_true(b.err);
    strbuf_free(&b);
    /* growth across many appends */
    strbuf big = STRBUF_INIT(1u << 20);
    for (int i = 0; i < 10000; i++) assert_int_equal(strbuf_printf(&big, "%04d", i % 10000), 0);
    assert_int_equal(big.len, 40000);
    assert_memory_equal(big.p + 39996, "9999", 4);
    assert_true(big.cap <= 1u << 20);
    strbuf_free(&big);
}

static void test_hash(void **state) {
    (void)state;
    /* published FNV-1a test values */
    assert_int_equal(hash_fnv1a32_str(""), 0x811c9dc5u);
    assert_int_equal(hash_fnv1a32_str("a"), 0xe40c292cu);
    assert_int_equal(hash_fnv1a32_str("foobar"), 0xbf9cf968u);
    assert_true(hash_fnv1a64_str("") == 0xcbf29ce484222325ull);
    assert_true(hash_fnv1a64_str("a") == 0xaf63dc4c8601ec8cull);
    assert_true(hash_fnv1a64_str("foobar") == 0x85944171f73967e8ull);
    /* incremental = one shot */
    uint64_t h = hash_fnv1a64(HASH_FNV64_INIT, "foo", 3);
    assert_true(hash_fnv1a64(h, "bar", 3) == hash_fnv1a64_str("foobar"));
    assert_int_equal(hash_fnv1a32(hash_fnv1a32(HASH_FNV32_INIT, "foo", 3), "bar", 3), 0xbf9cf968u);
    assert_true(hash_mix64(0) == 0);
    assert_true(hash_mix64(1) != hash_mix64(2));
    assert_true(hash_mix64(1) == 0x5692161d100b05e5ull); /* splitmix64 finaliser of 1 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format), cmocka_unit_test(test_time_parse),   cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_size),  cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_dbname),      cmocka_unit_test(test_be), cmocka_unit_test(test_rng), cmocka_unit_test(test_strbuf),           cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
