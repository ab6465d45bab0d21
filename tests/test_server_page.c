/* Unit tests of the observability parts of ltxpaged without a socket:
 * the Accept rule of GET / (server/http/http_page.c), the lock-free
 * latency histograms (server/metrics.c: bucket edges, cumulative
 * reading, threads), and process_* read from /proc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"
#include "metrics.h"

static void test_page_accept(void **st)
{
    (void)st;
    /* browsers: HTML */
    assert_true(http_page_wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                                     "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"));
    assert_true(http_page_wants_html("text/html"));
    assert_true(http_page_wants_html("TEXT/HTML ; q=1"));
    assert_true(http_page_wants_html("application/json;q=0.5, text/html"));
    assert_true(http_page_wants_html("text/*"));
    /* everything else keeps the JSON answer */
    assert_false(http_page_wants_html(NULL));
    assert_false(http_page_wants_html(""));
    assert_false(http_page_wants_html("*/*"));
    assert_false(http_page_wants_html("application/json"));
    assert_false(http_page_wants_html("application/json, text/html"));   /* a tie: JSON */
    assert_false(http_page_wants_html("text/html;q=0.5, application/json")); /* JSON preferred */
    assert_false(http_page_wants_html("text/html;q=0"));                  /* refused */
    assert_false(http_page_wants_html("text/*;q=0.2, */*"));
    assert_false(http_page_wants_html("text/htmlx"));
    assert_false(http_page_wants_html(",,;;/,q=,text/"));
}

static void test_hist_buckets(void **st)
{
    (void)st;
    static metrics_hist h;
    memset(&h, 0, sizeof h);
    metrics_observe_ns(&h, 0);              /* <= 100 us */
    metrics_observe_ns(&h, 100000);         /* exactly on the first bound: in it */
    metrics_observe_ns(&h, 100001);         /* the next one (250 us) */
    metrics_observe_ns(&h, 3000000);        /* 5 ms */
    metrics_observe_ns(&h, 61000000000LL);  /* +Inf */
    metrics_observe_ns(&h, -5);             /* clock oddities count as 0 */
    metrics_hist_read_t v;
    metrics_hist_read(&h, &v);
    assert_true(metrics_bounds[0] == 0.0001 && metrics_bounds[METRICS_NBOUNDS - 1] == 60);
    assert_int_equal(v.cum[0], 3);
    assert_int_equal(v.cum[1], 4);
    assert_int_equal(v.cum[4], 4); /* 2.5 ms */
    assert_int_equal(v.cum[5], 5); /* 5 ms */
    assert_int_equal(v.cum[METRICS_NBOUNDS - 1], 5);
    assert_int_equal(v.cum[METRICS_NBOUNDS], 6); /* +Inf = count */
    double want = (100000 + 100001 + 3000000 + 61000000000.0) / 1e9;
    assert_true(v.sum_seconds > want - 1e-9 && v.sum_seconds < want + 1e-9);
    for (size_t i = 1; i <= METRICS_NBOUNDS; i++)
        assert_true(v.cum[i] >= v.cum[i - 1]);
}

static metrics_hist hist_mt;

static void *hist_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        metrics_observe_ns(&hist_mt, (int64_t)(i % 7) * 1000000);
    return NULL;
}

/* Observers on several threads lose nothing (atomics, no lock). */
static void test_hist_threads(void **st)
{
    (void)st;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hist_worker, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    metrics_hist_read_t v;
    metrics_hist_read(&hist_mt, &v);
    assert_int_equal(v.cum[METRICS_NBOUNDS], 400000);
    /* 0,1 ms -> <= 1 ms bucket (index 3); 2 ms -> 2.5 ms; 3,4,5 ms -> 5 ms; 6 ms -> 10 ms */
    assert_true(v.cum[3] >= 4 * (100000 / 7) * 2);
}

static void test_process(void **st)
{
    (void)st;
    metrics_process p;
    metrics_process_read(&p);
    assert_true(p.resident_bytes > 1e5);
    assert_true(p.virtual_bytes >= p.resident_bytes);
    assert_true(p.cpu_seconds >= 0);
    assert_true(p.open_fds >= 3);
    FILE *f = fopen("/dev/null", "r");
    metrics_process q;
    metrics_process_read(&q);
    assert_true(q.open_fds == p.open_fds + 1);
    fclose(f);
    assert_true(p.max_fds >= p.open_fds);
    assert_true(p.threads >= 1);
    double now = (double)time(NULL);
    assert_true(p.start_time_seconds > now - 3600 && p.start_time_seconds <= now + 1);
}

/* The page from a document with the fields other parts add (verification
 * progress, a lease, the degraded state), fields of unexpected types, and
 * hostile strings: everything escaped, nothing crashes. */
static void test_page_render(void **st)
{
    (void)st;
    json_error_t je;
    json_t *doc = json_loads(
        "{\"server\":{\"version\":\"9.9<b>\",\"uptime_seconds\":125.5,\"ready\":true,\"long_polls_waiting\":2},"
        "\"cache\":{\"hits\":3,\"misses\":1,\"bytes\":2048,\"max_bytes\":1048576,\"entries\":1,\"evictions\":0},"
        "\"object_stores\":[{\"url\":\"s3://b/<p>\",\"gets\":10,\"lists\":5,\"heads\":0,\"bytes_read\":4096,"
        "\"errors\":1,\"retries\":2}],"
        "\"databases\":["
        "{\"name\":\"a<script>x</script>\\\"'&.db\",\"state\":\"ok\",\"txid\":\"0000000000000009\",\"commit\":77,"
        "\"size\":315392,\"lag_seconds\":0.25,\"age_seconds\":4000,"
        "\"verification\":{\"building\":true,\"files_verified\":3,\"files_total\":10,\"bytes_verified\":40,"
        "\"bytes_total\":100},\"lease\":{\"holder\":\"host<1>\",\"ours\":true,\"expires\":\"2026-01-01T00:00:00Z\"}},"
        "{\"name\":\"d.db\",\"state\":\"degraded\",\"txid\":null,\"lag_seconds\":-1,\"degraded_reason\":\"store down\","
        "\"last_error\":\"store down\",\"verification\":42,\"lease\":[1]},"
        "{\"name\":\"v.db\",\"state\":\"st\\\"ate<x>\",\"verification\":{\"building\":false,\"files_verified\":5}},"
        "{\"state\":7}]}",
        0, &je);
    assert_non_null(doc);
    strbuf b = STRBUF_INIT(1 << 20);
    http_page_render(doc, &b);
    json_decref(doc);
    assert_false(b.err);
    const char *p = b.p;
    assert_null(strstr(p, "<script"));
    assert_null(strstr(p, "<b>"));
    assert_null(strstr(p, "<p>"));
    assert_null(strstr(p, "<x>"));
    assert_non_null(strstr(p, ">a&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;.db</td>"));
    assert_non_null(strstr(p, "data-name=\"a&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;.db\""));
    assert_non_null(strstr(p, "verifying 3/10 files (40%)"));
    assert_non_null(strstr(p, "held by host&lt;1&gt; (this server) until 2026-01-01T00:00:00Z"));
    assert_non_null(strstr(p, "class=\"state state-degraded\">degraded<"));
    assert_non_null(strstr(p, "store down</td>")); /* the same reason once */
    assert_null(strstr(p, "store down<br>store down"));
    assert_non_null(strstr(p, "verified 5 files"));
    assert_non_null(strstr(p, "class=\"state state-statex\">st&quot;ate&lt;x&gt;<"));
    assert_non_null(strstr(p, "75.0%"));        /* cache hit rate */
    assert_non_null(strstr(p, "s3://b/&lt;p&gt;"));
    assert_non_null(strstr(p, "2m 05s"));       /* uptime */
    assert_non_null(strstr(p, "308.0 KiB"));
    assert_non_null(strstr(p, ">never<"));      /* lag -1 */
    assert_non_null(strstr(p, "Databases (4)"));
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_accept),
        cmocka_unit_test(test_page_render),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_threads),
        cmocka_unit_test(test_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
