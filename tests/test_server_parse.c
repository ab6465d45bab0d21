/* Unit tests of ltxpaged's request parsing and configuration values:
 * page numbers, batch lists, Range headers, durations, sizes, flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"

static void test_page(void **st)
{
    (void)st;
    uint32_t p;
    assert_int_equal(http_parse_page("1", &p), 0);
    assert_int_equal(p, 1);
    assert_int_equal(http_parse_page("4294967295", &p), 0);
    assert_int_equal(p, 4294967295u);
    const char *bad[] = {"", "0", "-1", "+1", "1e3", "0x10", "4294967296", "99999999999", "1 ", " 1", "abc", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_not_equal(http_parse_page(bad[i], &p), 0);
}

static void test_page_list(void **st)
{
    (void)st;
    uint32_t *v;
    size_t n;
    assert_int_equal(http_parse_page_list("1,4,9-12", 1024, &v, &n), 0);
    uint32_t want[] = {1, 4, 9, 10, 11, 12};
    assert_int_equal(n, 6);
    assert_memory_equal(v, want, sizeof want);
    free(v);
    assert_int_equal(http_parse_page_list("3,1,3", 1024, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 1);
    free(v);
    assert_int_equal(http_parse_page_list("1-1024", 1024, &v, &n), 0);
    assert_int_equal(n, 1024);
    free(v);
    assert_int_equal(http_parse_page_list("1-1025", 1024, &v, &n), -2);
    assert_int_equal(http_parse_page_list("1-4294967295", 1024, &v, &n), -2);
    assert_int_equal(http_parse_page_list("1-600,1-600", 1024, &v, &n), -2);
    const char *bad[] = {"", ",", "1,", ",1", "1,,2", "0", "5-3", "a", "1-", "-1", "1-2-3", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(http_parse_page_list(bad[i], 1024, &v, &n), -1);
        assert_null(v);
    }
}

static void test_range(void **st)
{
    (void)st;
    uint64_t a, b;
    assert_int_equal(http_parse_range("bytes=0-99", 1000, &a, &b), 0);
    assert_true(a == 0 && b == 99);
    assert_int_equal(http_parse_range("bytes=900-", 1000, &a, &b), 0);
    assert_true(a == 900 && b == 999);
    assert_int_equal(http_parse_range("bytes=900-5000", 1000, &a, &b), 0);
    assert_true(a == 900 && b == 999);
    assert_int_equal(http_parse_range("bytes=-10", 1000, &a, &b), 0);
    assert_true(a == 990 && b == 999);
    assert_int_equal(http_parse_range("bytes=-5000", 1000, &a, &b), 0);
    assert_true(a == 0 && b == 999);
    assert_int_equal(http_parse_range("bytes=1000-", 1000, &a, &b), -1);
    assert_int_equal(http_parse_range("bytes=-0", 1000, &a, &b), -1);
    assert_int_equal(http_parse_range("bytes=5-1", 1000, &a, &b), 1);
    assert_int_equal(http_parse_range("bytes=0-1,5-6", 1000, &a, &b), 1);
    assert_int_equal(http_parse_range("items=0-1", 1000, &a, &b), 1);
    assert_int_equal(http_parse_range("bytes=x-1", 1000, &a, &b), 1);
    assert_int_equal(http_parse_range(NULL, 1000, &a, &b), 1);
}

static void test_duration_size(void **st)
{
    (void)st;
    assert_int_equal(config_parse_duration_ms("1s"), 1000);
    assert_int_equal(config_parse_duration_ms("250ms"), 250);
    assert_int_equal(config_parse_duration_ms("2"), 2000);
    assert_int_equal(config_parse_duration_ms("1.5s"), 1500);
    assert_int_equal(config_parse_duration_ms("2m"), 120000);
    assert_int_equal(config_parse_duration_ms("1h"), 3600000);
    assert_int_equal(config_parse_duration_ms("soon"), -1);
    assert_int_equal(config_parse_duration_ms("5x"), -1);
    assert_int_equal(config_parse_duration_ms("-1s"), -1);
    assert_int_equal(config_parse_size("256M"), 256ull << 20);
    assert_int_equal(config_parse_size("1G"), 1ull << 30);
    assert_int_equal(config_parse_size("512K"), 512ull << 10);
    assert_int_equal(config_parse_size("256MiB"), 256ull << 20);
    assert_int_equal(config_parse_size("1gb"), 1ull << 30);
    assert_int_equal(config_parse_size("4096"), 4096);
    assert_int_equal(config_parse_size("lots"), 0);
    assert_int_equal(config_parse_size("0"), 0);
    assert_int_equal(config_parse_size("5Q"), 0);
}

static void test_flags(void **st)
{
    (void)st;
    srv_config c;
    char *argv[] = {"ltxpaged", "--db", "a.db=/tmp/x", "--listen=0.0.0.0:8080", "--cache-size", "1G",
                    "--poll-interval", "250ms", "--threads", "3", "--s3-path-style", "--read-token", "t", NULL};
    unsetenv("LTXPAGED_DB");
    unsetenv("LTXPAGED_REPLICA");
    assert_int_equal(config_load(&c, 13, argv, stderr), 0);
    assert_int_equal(c.ndbs, 1);
    assert_string_equal(c.dbs[0], "a.db=/tmp/x");
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.cache_size, 1ull << 30);
    assert_int_equal(c.poll_ms, 250);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.s3_path_style, 1);
    assert_string_equal(c.read_token, "t");
    assert_int_equal(c.version_window_ms, 60000);
    config_free(&c);
    setenv("LTXPAGED_REPLICA", "file:///a, file:///b", 1);
    setenv("LTXPAGED_VERSION_WINDOW", "2m", 1);
    char *argv2[] = {"ltxpaged", NULL};
    assert_int_equal(config_load(&c, 1, argv2, stderr), 0);
    assert_int_equal(c.nreplicas, 2);
    assert_string_equal(c.replicas[1], "file:///b");
    assert_int_equal(c.version_window_ms, 120000);
    config_free(&c);
    unsetenv("LTXPAGED_REPLICA");
    unsetenv("LTXPAGED_VERSION_WINDOW");
    char *argv3[] = {"ltxpaged", "--db", "x=/y", "--threads", "0", NULL};
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(config_load(&c, 5, argv3, null), -1);
    config_free(&c);
    char *argv4[] = {"ltxpaged", "--listen", "nowhere", "--db", "x=/y", NULL};
    assert_int_equal(config_load(&c, 5, argv4, null), -1);
    config_free(&c);
    fclose(null);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_page_list),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_duration_size),
        cmocka_unit_test(test_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
