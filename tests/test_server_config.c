/* Unit tests of ltxpaged's option table (server/config.c): defaults,
 * environment names, bounds, and that docs/server.md shows the table the
 * binary prints with --help-markdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "testlib.h"

static FILE *devnull(void)
{
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    return f;
}

static void clear_env(void)
{
    size_t n;
    const struct config_opt *t = config_options(&n);
    for (size_t i = 0; i < n; i++)
        unsetenv(t[i].env);
}

/* The defaults the hand-written parser had before the table. */
static void test_config_load_defaults(void **st)
{
    (void)st;
    clear_env();
    srv_config c;
    char *argv[] = {"ltxpaged", "--db", "x=/y", NULL};
    assert_int_equal(config_load(&c, 3, argv, stderr), 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 7070);
    assert_int_equal(c.threads, cores > 0 ? 2 * cores : 4);
    assert_int_equal(c.poll_threads, cores > 1 ? (cores < 4 ? cores : 4) : 1);
    assert_int_equal(c.io_threads, 32);
    assert_int_equal(c.max_connections, 0);
    assert_int_equal(c.cache_size, 256u << 20);
    assert_int_equal(c.poll_ms, 1000);
    assert_int_equal(c.l1_interval_ms, 10000);
    assert_int_equal(c.version_window_ms, 60000);
    assert_int_equal(c.rescan_ms, 30000);
    assert_int_equal(c.max_historical, 4);
    assert_int_equal(c.max_historical_total, 16);
    assert_int_equal(c.index_fetch_concurrency, 16);
    assert_int_equal(c.historical_idle_ms, 300000);
    assert_int_equal(c.max_l0_bytes, 64u << 20);
    assert_int_equal(c.s3_path_style, -1);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_null(c.read_token);
    assert_null(c.admin_token);
    assert_null(c.s3_endpoint);
    assert_null(c.s3_region);
    assert_int_equal(c.nreplicas, 0);
    assert_int_equal(c.ndbs, 1);
    config_free(&c);
}

/* LTXPAGED_<FLAG>, upper case, '-' -> '_'; every row has help text. */
static void test_config_options_names(void **st)
{
    (void)st;
    size_t n;
    const struct config_opt *t = config_options(&n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        char want[64] = "LTXPAGED_";
        size_t o = strlen(want);
        for (const char *p = t[i].flag; *p; p++)
            want[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        want[o] = 0;
        assert_string_equal(t[i].env, want);
        assert_non_null(t[i].help);
        assert_non_null(t[i].metavar);
        assert_true(t[i].def == NULL || t[i].def_text == NULL);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(t[k].flag, t[i].flag);
    }
}

static void test_config_load_bounds(void **st)
{
    (void)st;
    clear_env();
    FILE *null = devnull();
    srv_config c;
    char *ok[] = {"ltxpaged", "--db", "x=/y", "--poll-threads", "100", "--index-fetch-concurrency=1000",
                  "--max-connections", "8", "--threads", "1024", NULL};
    assert_int_equal(config_load(&c, 10, ok, null), 0);
    assert_int_equal(c.poll_threads, 64);
    assert_int_equal(c.index_fetch_concurrency, 256);
    assert_int_equal(c.max_connections, 8);
    assert_int_equal(c.threads, 1024);
    config_free(&c);
    const char *bad[][2] = {{"--threads", "1025"}, {"--max-connections", "7"}, {"--io-threads", "x"},
                            {"--poll-interval", "9ms"}, {"--rescan-interval", "99ms"}, {"--max-l0-size", "0"},
                            {"--log-level", "loud"}, {"--s3-path-style=maybe", NULL}, {"--listen", "h:99999"},
                            {"--bogus", "1"}, {"stray", NULL}, {"--threads", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"ltxpaged", "--db", "x=/y", (char *)bad[i][0], (char *)bad[i][1], NULL};
        assert_int_equal(config_load(&c, bad[i][1] ? 5 : 4, argv, null), -1);
        config_free(&c);
    }
    char *v0[] = {"ltxpaged", "--db", "x=/y", "--version-window", "0", "--s3-path-style=off", "--log-level",
                  "ERROR", NULL};
    assert_int_equal(config_load(&c, 8, v0, null), 0);
    assert_int_equal(c.version_window_ms, 0);
    assert_int_equal(c.s3_path_style, 0);
    assert_int_equal(c.log_level, LOG_ERROR);
    config_free(&c);
    fclose(null);
}

static void test_config_load_env(void **st)
{
    (void)st;
    clear_env();
    FILE *null = devnull();
    srv_config c;
    setenv("LTXPAGED_DB", "a=/a b=/b", 1);
    setenv("LTXPAGED_S3_PATH_STYLE", "no", 1);
    setenv("LTXPAGED_ADMIN_TOKEN", "sekrit", 1);
    setenv("LTXPAGED_LISTEN", "[::1]:9", 1);
    char *argv[] = {"ltxpaged", NULL};
    assert_int_equal(config_load(&c, 1, argv, null), 0);
    assert_int_equal(c.ndbs, 2);
    assert_string_equal(c.dbs[1], "b=/b");
    assert_int_equal(c.s3_path_style, 0);
    assert_string_equal(c.admin_token, "sekrit");
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9);
    config_free(&c);
    /* sources on the command line replace the environment's */
    char *argv2[] = {"ltxpaged", "--db", "c=/c", "--s3-path-style", NULL};
    assert_int_equal(config_load(&c, 4, argv2, null), 0);
    assert_int_equal(c.ndbs, 1);
    assert_string_equal(c.dbs[0], "c=/c");
    assert_int_equal(c.s3_path_style, 1);
    config_free(&c);
    setenv("LTXPAGED_CACHE_SIZE", "lots", 1);
    assert_int_equal(config_load(&c, 1, argv, null), -1);
    config_free(&c);
    clear_env();
    fclose(null);
}

/* The HTTP edge options: defaults, CORS origins from the environment
 * (commas), replaced as a whole by --cors-origin on the command line even
 * when sources come from the environment; TLS paths; timeouts. */
static void test_config_http_edge(void **st)
{
    (void)st;
    clear_env();
    FILE *null = devnull();
    srv_config c;
    char *argv[] = {"ltxpaged", "--db", "x=/y", NULL};
    assert_int_equal(config_load(&c, 3, argv, null), 0);
    assert_int_equal(c.header_timeout_ms, 10000);
    assert_int_equal(c.max_client_connections, -1); /* from --max-connections at start */
    assert_int_equal(c.ncors_origins, 0);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    config_free(&c);
    setenv("LTXPAGED_CORS_ORIGIN", "https://a.example,https://b.example", 1);
    setenv("LTXPAGED_HEADER_TIMEOUT", "2500ms", 1);
    assert_int_equal(config_load(&c, 3, argv, null), 0);
    assert_int_equal(c.ncors_origins, 2);
    assert_string_equal(c.cors_origins[1], "https://b.example");
    assert_int_equal(c.header_timeout_ms, 2500);
    config_free(&c);
    setenv("LTXPAGED_DB", "e=/e", 1);
    char *argv2[] = {"ltxpaged", "--cors-origin", "*", "--max-client-connections=8", "--tls-cert", "c.pem",
                     "--tls-key=k.pem", NULL};
    assert_int_equal(config_load(&c, 7, argv2, null), 0);
    assert_int_equal(c.ndbs, 1); /* sources still from the environment */
    assert_int_equal(c.ncors_origins, 1);
    assert_string_equal(c.cors_origins[0], "*");
    assert_int_equal(c.max_client_connections, 8);
    assert_string_equal(c.tls_cert, "c.pem");
    assert_string_equal(c.tls_key, "k.pem");
    config_free(&c);
    char *bad1[] = {"ltxpaged", "--header-timeout", "50ms", NULL};
    assert_int_equal(config_load(&c, 3, bad1, null), -1); /* below 100 ms */
    config_free(&c);
    char *bad2[] = {"ltxpaged", "--max-client-connections", "0", NULL};
    assert_int_equal(config_load(&c, 3, bad2, null), -1);
    config_free(&c);
    clear_env();
    fclose(null);
}

static char *print_to_string(void (*fn)(FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f);
    fclose(f);
    return buf;
}

/* Every flag appears in --help and in the markdown table. */
static void test_config_usage_lists_every_flag(void **st)
{
    (void)st;
    char *help = print_to_string(config_usage);
    char *md = print_to_string(config_print_markdown);
    size_t n;
    const struct config_opt *t = config_options(&n);
    for (size_t i = 0; i < n; i++) {
        char want[80];
        snprintf(want, sizeof want, "--%s ", t[i].flag);
        if (t[i].kind == CONFIG_BOOL)
            snprintf(want, sizeof want, "--%s[=", t[i].flag);
        assert_non_null(strstr(help, want));
        snprintf(want, sizeof want, "`%s`", t[i].env);
        assert_non_null(strstr(md, want));
    }
    assert_null(strchr(help, '`'));
    for (const char *line = help; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        assert_true(len <= 82);
        line += len + (nl ? 1 : 0);
    }
    free(help);
    free(md);
}

/* docs/server.md holds exactly the table --help-markdown prints
 * (scripts/gen-server-options.sh regenerates it). */
static void test_config_print_markdown_matches_docs(void **st)
{
    (void)st;
    const char *src = getenv("LTXHTTP_SRC");
    if (!src)
        skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/server.md", src);
    size_t len;
    char *doc = (char *)tl_read_file(path, &len);
    assert_non_null(doc);
    char *docz = malloc(len + 1);
    assert_non_null(docz);
    memcpy(docz, doc, len);
    docz[len] = 0;
    char *md = print_to_string(config_print_markdown);
    if (!strstr(docz, md)) {
        fprintf(stderr, "docs/server.md's options table differs from `ltxpaged --help-markdown`;\n"
                        "run scripts/gen-server-options.sh\n");
        fail();
    }
    free(md);
    free(docz);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load_defaults),
        cmocka_unit_test(test_config_options_names),
        cmocka_unit_test(test_config_load_bounds),
        cmocka_unit_test(test_config_load_env),
        cmocka_unit_test(test_config_http_edge),
        cmocka_unit_test(test_config_usage_lists_every_flag),
        cmocka_unit_test(test_config_print_markdown_matches_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
