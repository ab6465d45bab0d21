/* test_store_xml.c - the ListObjectsV2 answer parser (store/s3_xml.c)
 * with well-formed and hostile input. Under ASan the truncation/mutation
 * loops also prove it never reads outside the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3_xml.h"

typedef struct {
    char keys[16][128];
    uint64_t sizes[16];
    int64_t mtimes[16];
    char etags[16][LTX_ETAG_MAX];
    int nkeys;
    char prefixes[16][128];
    int nprefixes;
    int stop_after;
} seen;

static int on_key(void *u, const char *key, uint64_t size, int64_t mt, const char *etag) {
    seen *s = u;
    if (s->stop_after && s->nkeys == s->stop_after) return -1;
    if (s->nkeys < 16) {
        snprintf(s->keys[s->nkeys], 128, "%s", key);
        s->sizes[s->nkeys] = size;
        s->mtimes[s->nkeys] = mt;
        snprintf(s->etags[s->nkeys], LTX_ETAG_MAX, "%s", etag);
    }
    s->nkeys++;
    return 0;
}

static int on_prefix(void *u, const char *p) {
    seen *s = u;
    if (s->nprefixes < 16) snprintf(s->prefixes[s->nprefixes], 128, "%s", p);
    s->nprefixes++;
    return 0;
}

static int parse(const char *xml, seen *s, int *trunc, char **tok) {
    memset(s, 0, sizeof *s);
    char why[128];
    return s3_parse_list(xml, strlen(xml), on_key, on_prefix, s, trunc, tok, why, sizeof why);
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define LM "<LastModified>2025-01-01T00:00:00.000Z</LastModified>"
/* 2025-01-01T00:00:00Z is 1735689600 s: the manifest's main-4096 TXID 1
 * timestamp_ms (1735689600000), whose header says 2025-01-01T00:00:00.000Z. */
#define EPOCH_2025 1735689600000LL

static const char *good =
    HEAD "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;en/=+</NextContinuationToken>"
    "<Contents><Key>p/a&amp;b/0000/x.ltx</Key>" LM "<ETag>&quot;abc&quot;</ETag><Size>17298</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>p/&lt;&gt;&apos;&#65;&#x42;&#xe9;&#x1F600;</Key>"
    "<LastModified>2025-01-01T00:00:01.5Z</LastModified><Size>0</Size></Contents>"
    "<Contents><Key></Key><LastModified>2025-01-01T00:00:02Z</LastModified><Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>p/x&amp;y/</Prefix></CommonPrefixes>"
    "<CommonPrefixes><Prefix>p/z/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

static void test_good_page(void **state) {
    (void)state;
    seen s;
    int trunc;
    char *tok;
    assert_int_equal(parse(good, &s, &trunc, &tok), 0);
    assert_int_equal(s.nkeys, 3);
    assert_string_equal(s.keys[0], "p/a&b/0000/x.ltx");
    assert_int_equal(s.sizes[0], 17298);
    assert_int_equal(s.mtimes[0], EPOCH_2025);
    assert_string_equal(s.etags[0], "abc"); /* quotes (as &quot;) dropped */
    assert_string_equal(s.etags[1], "");    /* no ETag: unknown */
    assert_string_equal(s.keys[1], "p/<>'AB\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(s.sizes[1], 0);
    assert_int_equal(s.mtimes[1], EPOCH_2025 + 1500);
    assert_string_equal(s.keys[2], "");
    assert_int_equal(s.sizes[2], UINT64_MAX);
    assert_int_equal(s.mtimes[2], EPOCH_2025 + 2000);
    assert_int_equal(s.nprefixes, 2);
    assert_string_equal(s.prefixes[0], "p/x&y/");
    assert_string_equal(s.prefixes[1], "p/z/");
    assert_int_equal(trunc, 1);
    assert_non_null(tok);
    assert_string_equal(tok, "tok&en/=+");
    free(tok);
}

static void test_empty_and_last_page(void **state) {
    (void)state;
    seen s;
    int trunc;
    char *tok;
    assert_int_equal(parse(HEAD "<IsTruncated>false</IsTruncated></ListBucketResult>", &s, &trunc, &tok), 0);
    assert_int_equal(s.nkeys + s.nprefixes, 0);
    assert_int_equal(trunc, 0);
    assert_null(tok);
    assert_int_equal(parse(HEAD "</ListBucketResult>", &s, &trunc, &tok), 0); /* no IsTruncated: last */
    assert_int_equal(trunc, 0);
}

static void test_malformed(void **state) {
    (void)state;
    const char *bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "",
        HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>",                       /* no token */
        HEAD "<IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>",
        HEAD "<IsTruncated>maybe</IsTruncated>",
        HEAD "<IsTruncated>true",
        HEAD "<Contents><Key>a</Key>" LM "<Size>1</Size>",                              /* unterminated */
        HEAD "<Contents><Key>a</Key>" LM "</Contents>",                                 /* no Size */
        HEAD "<Contents>" LM "<Size>1</Size></Contents>",                               /* no Key */
        HEAD "<Contents><Key>a</Key><Size>1</Size></Contents>",                         /* no LastModified */
        HEAD "<Contents><Key>a</Key>" LM "<Size>-1</Size></Contents>",
        HEAD "<Contents><Key>a</Key>" LM "<Size> 5</Size></Contents>",
        HEAD "<Contents><Key>a</Key>" LM "<Size>+5</Size></Contents>",
        HEAD "<Contents><Key>a</Key>" LM "<Size></Size></Contents>",
        HEAD "<Contents><Key>a</Key>" LM "<Size>18446744073709551616</Size></Contents>", /* 2^64 */
        HEAD "<Contents><Key>a</Key>" LM "<Size>99999999999999999999999</Size></Contents>",
        HEAD "<Contents><Key>a</Key><LastModified>yesterday</LastModified><Size>1</Size></Contents>",
        HEAD "<Contents><Key>a</Key><LastModified>2025-13-01T00:00:00Z</LastModified><Size>1</Size></Contents>",
        HEAD "<Contents><Key>a</Key><LastModified>2025-01-01T00:00:00</LastModified><Size>1</Size></Contents>",
        HEAD "<Contents><Key>a</Key><LastModified>2025-01-01T00:00:00.Z</LastModified><Size>1</Size></Contents>",
        HEAD "<Contents><Key>a</Key><LastModified>+025-01-01T00:00:00Z</LastModified><Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&foo;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&amp</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#0;b</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#xD800;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#x110000;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#x;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#12a;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<Contents><Key>a&#99999999999999999999;</Key>" LM "<Size>1</Size></Contents>",
        HEAD "<CommonPrefixes><Prefix>a/</Prefix>",
        HEAD "<CommonPrefixes></CommonPrefixes>",
        HEAD "<CommonPrefixes><Prefix>a&bogus;/</Prefix></CommonPrefixes>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        seen s;
        int trunc;
        char *tok = NULL;
        int rc = parse(bad[i], &s, &trunc, &tok);
        if (rc != -1) fail_msg("case %zu accepted (rc %d): %s", i, rc, bad[i]);
        assert_null(tok);
    }
}

static void test_callback_stops(void **state) {
    (void)state;
    seen s;
    memset(&s, 0, sizeof s);
    s.stop_after = 1;
    int trunc;
    char *tok = NULL;
    char why[64];
    assert_int_equal(s3_parse_list(good, strlen(good), on_key, on_prefix, &s, &trunc, &tok, why, sizeof why), -2);
    assert_int_equal(s.nkeys, 1);
    assert_null(tok);
}

static void test_text_and_time(void **state) {
    (void)state;
    const char *t = "x&amp;y&#47;z";
    char *d = s3_xml_text(t, t + strlen(t));
    assert_string_equal(d, "x&y/z");
    free(d);
    int64_t ms;
    assert_int_equal(s3_parse_iso_ms("2025-01-01T00:00:00.123456789Z", &ms), 0);
    assert_int_equal(ms, EPOCH_2025 + 123);
    assert_int_equal(s3_parse_iso_ms("2025-01-01T00:00:00.1Z", &ms), 0);
    assert_int_equal(ms, EPOCH_2025 + 100);
    assert_int_equal(s3_parse_iso_ms("2025-01-01", &ms), -1);
    assert_int_equal(s3_parse_iso_ms("", &ms), -1);
}

/* One parse of len bytes of a damaged page (no NUL: the parser must
 * respect len): 0 or -1, a truncated listing with its token. */
static int parse_damaged(const char *buf, size_t len) {
    seen s;
    memset(&s, 0, sizeof s);
    int trunc;
    char *tok = NULL;
    char why[64];
    int rc = s3_parse_list(buf, len, on_key, on_prefix, &s, &trunc, &tok, why, sizeof why);
    assert_true(rc == 0 || rc == -1);
    if (rc == 0 && trunc) assert_non_null(tok);
    free(tok);
    return rc;
}

/* Every truncation and many random mutations of a valid page: the parser
 * answers 0 or -1, never crashes or over-reads (ASan), never leaks (LSan). */
static void test_truncations_and_mutations(void **state) {
    (void)state;
    size_t n = strlen(good);
    char *buf = malloc(n);
    int ok = 0, bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        memcpy(buf, good, cut); /* exactly cut bytes, no NUL: the parser must respect len */
        parse_damaged(buf, cut) == 0 ? ok++ : bad++;
    }
    assert_true(bad > 0);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    static const char alphabet[] = "<>/&;#x0aZ.-:T \"";
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, good, n);
        int muts = 1 + iter % 4;
        for (int m = 0; m < muts; m++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[x % n] = alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        parse_damaged(buf, n);
    }
    free(buf);
    (void)ok;
}

/* ETag values as they come: quoted, multipart, weak, too long to send back. */
static void test_etags(void **state) {
    (void)state;
    char out[LTX_ETAG_MAX];
    struct { const char *in, *want; } c[] = {
        {"\"9b2cf535f27731c974343645a3985328\"", "9b2cf535f27731c974343645a3985328"},
        {"\"9b2cf535f27731c974343645a3985328-10000\"", "9b2cf535f27731c974343645a3985328-10000"},
        {"W/\"abc\"", "abc"},
        {"abc", "abc"},
        {"\"\"", ""},
        {"\"0123456789012345678901234567890123456789\"", ""}, /* 40 bytes: does not fit */
        {"\"a b\"", ""},
        {"\"a\"b\"", ""},
        {"\"a\x01\"", ""},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        s3_etag_unquote(c[i].in, strlen(c[i].in), out);
        assert_string_equal(out, c[i].want);
    }
    seen s;
    int trunc;
    char *tok;
    const char *bad = HEAD "<Contents><Key>k</Key>" LM "<ETag>&bogus;</ETag><Size>1</Size></Contents></ListBucketResult>";
    assert_int_equal(parse(bad, &s, &trunc, &tok), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_page), cmocka_unit_test(test_etags),       cmocka_unit_test(test_empty_and_last_page),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_text_and_time),   cmocka_unit_test(test_truncations_and_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
