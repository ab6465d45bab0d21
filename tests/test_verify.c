/* test_verify.c - the streaming verifier (proto/verify.c) against the
 * whole-buffer decoder: every vector file fed in chunks of 1, 7, 4096 bytes
 * and whole gives the decoder's result (code, message, offset, pages,
 * index, trailer); corrupted and truncated files are refused with the same
 * error; ltx_crc64_combine equals the direct CRC over random splits;
 * ltx_tail_parse agrees with the index decoder. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ltx.h"
#include "testlib.h"

#define MAX_FILES 512

static char *files[MAX_FILES];
static size_t nfiles;

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        fail_msg("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int collect(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    size_t l = strlen(path);
    if (type == FTW_F && l > 4 && strcmp(path + l - 4, ".ltx") == 0 && nfiles < MAX_FILES)
        files[nfiles++] = strdup(path);
    return 0;
}

/* What a decode produced: result, error, pages seen, info. */
typedef struct {
    ltx_err rc;
    ltx_error err;
    size_t pages;
    uint64_t page_crc;        /* CRC over pgno + page of every callback */
    ltx_file_info info;
} outcome;

static int page_cb(void *ctx, uint32_t pgno, const uint8_t *page) {
    outcome *o = ctx;
    uint8_t b[4] = {(uint8_t)(pgno >> 24), (uint8_t)(pgno >> 16), (uint8_t)(pgno >> 8),
                    (uint8_t)pgno};
    uint32_t ps = o->info.header.page_size; /* set by the caller before decoding */
    o->page_crc = ltx_crc64(o->page_crc, b, 4);
    o->page_crc = ltx_crc64(o->page_crc, page, ps);
    o->pages++;
    return 0;
}

static uint32_t guess_ps(const uint8_t *buf, size_t len) {
    if (len < 12)
        return 0;
    uint32_t ps = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    return ltx_page_size_valid(ps) ? ps : 0;
}

static void decode_whole(const uint8_t *buf, size_t len, outcome *o) {
    memset(o, 0, sizeof *o);
    uint32_t ps = guess_ps(buf, len);
    outcome tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.info.header.page_size = ps;
    ltx_file_info info;
    o->rc = ltx_file_decode(buf, len, ps ? page_cb : NULL, &tmp, &info, &o->err);
    o->pages = tmp.pages;
    o->page_crc = tmp.page_crc;
    o->info = info;
}

/* Feed in chunks of `chunk` bytes (0 = one call), keep feeding after an
 * error, then finish. */
static void decode_stream(const uint8_t *buf, size_t len, size_t chunk, outcome *o) {
    memset(o, 0, sizeof *o);
    uint32_t ps = guess_ps(buf, len);
    outcome tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.info.header.page_size = ps;
    ltx_verifier *v = ltx_verifier_new();
    assert_non_null(v);
    if (ps)
        ltx_verifier_on_page(v, page_cb, &tmp);
    ltx_err first = LTX_OK;
    size_t off = 0;
    if (chunk == 0)
        chunk = len ? len : 1;
    while (off < len) {
        size_t k = len - off < chunk ? len - off : chunk;
        ltx_err r = ltx_verifier_feed(v, buf + off, k, NULL);
        if (first == LTX_OK)
            first = r;
        else
            assert_int_equal(r, first); /* sticky */
        off += k;
    }
    assert_int_equal(ltx_verifier_bytes(v), len);
    ltx_file_info info;
    o->rc = ltx_verifier_finish(v, &info, &o->err);
    /* an error seen while feeding is the one finish reports (or its legacy sentence) */
    if (first != LTX_OK)
        assert_true(o->rc == first || o->rc == LTX_ERR_VERSION);
    o->pages = tmp.pages;
    o->page_crc = tmp.page_crc;
    o->info = info;
    ltx_verifier_free(v);
}

static void same_outcome(const char *what, const outcome *a, const outcome *b) {
    if (a->rc != b->rc || a->err.code != b->err.code || strcmp(a->err.msg, b->err.msg) != 0 ||
        a->err.offset != b->err.offset)
        fail_msg("%s: decoder %s at %llu \"%s\", verifier %s at %llu \"%s\"", what,
                 ltx_err_code(a->rc), (unsigned long long)a->err.offset, a->err.msg,
                 ltx_err_code(b->rc), (unsigned long long)b->err.offset, b->err.msg);
    assert_int_equal(a->pages, b->pages);
    assert_int_equal(a->page_crc, b->page_crc);
    if (a->rc != LTX_OK)
        return;
    assert_memory_equal(&a->info.header, &b->info.header, sizeof a->info.header);
    assert_int_equal(a->info.trailer.post_apply_checksum, b->info.trailer.post_apply_checksum);
    assert_int_equal(a->info.trailer.file_checksum, b->info.trailer.file_checksum);
    assert_int_equal(a->info.page_count, b->info.page_count);
    assert_int_equal(a->info.frame_layout, b->info.frame_layout);
    assert_int_equal(a->info.computed_post_apply, b->info.computed_post_apply);
    for (size_t i = 0; i < a->info.page_count; i++) {
        assert_int_equal(a->info.index[i].pgno, b->info.index[i].pgno);
        assert_int_equal(a->info.index[i].offset, b->info.index[i].offset);
        assert_int_equal(a->info.index[i].size, b->info.index[i].size);
    }
}

static void compare_chunkings(const char *what, const uint8_t *buf, size_t len, int with_1) {
    static const size_t chunks[] = {1, 7, 4096, 0};
    outcome want;
    decode_whole(buf, len, &want);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        if (chunks[c] == 1 && !with_1)
            continue;
        outcome got;
        decode_stream(buf, len, chunks[c], &got);
        char label[600];
        snprintf(label, sizeof label, "%s (chunk %zu)", what, chunks[c]);
        same_outcome(label, &want, &got);
        ltx_file_info_free(&got.info);
    }
    ltx_file_info_free(&want.info);
}

static void test_vectors_every_chunking(void **state) {
    (void)state;
    size_t ok = 0, refused = 0;
    for (size_t i = 0; i < nfiles; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        compare_chunkings(files[i], buf, len, 1);
        outcome o;
        decode_whole(buf, len, &o);
        if (o.rc == LTX_OK)
            ok++;
        else
            refused++;
        ltx_file_info_free(&o.info);
        free(buf);
    }
    assert_true(ok > 50);
    print_message("%zu vector files (%zu decode, %zu refused) agree in every chunking\n", nfiles,
                  ok, refused);
}

/* Byte flips at many offsets and truncations at every length of a few files. */
static void test_corruptions_and_truncations(void **state) {
    (void)state;
    size_t tried = 0, refused = 0;
    for (size_t i = 0; i < nfiles && i < 6; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        outcome base;
        decode_whole(buf, len, &base);
        int good = base.rc == LTX_OK;
        ltx_file_info_free(&base.info);
        if (!good) {
            free(buf);
            continue;
        }
        uint8_t *copy = malloc(len);
        size_t step = len / 300 + 1;
        for (size_t off = 0; off < len; off += (off < 140 || off + 40 > len) ? 1 : step) {
            for (int bit = 0; bit < 8; bit += 3) {
                memcpy(copy, buf, len);
                copy[off] ^= (uint8_t)(1u << bit);
                char what[600];
                snprintf(what, sizeof what, "%s flip byte %zu bit %d", files[i], off, bit);
                compare_chunkings(what, copy, len, 0);
                outcome o;
                decode_whole(copy, len, &o);
                tried++;
                refused += o.rc != LTX_OK;
                ltx_file_info_free(&o.info);
            }
        }
        for (size_t cut = 0; cut < len; cut += (cut < 140 || cut + 40 > len) ? 1 : step) {
            char what[600];
            snprintf(what, sizeof what, "%s cut to %zu bytes", files[i], cut);
            compare_chunkings(what, buf, cut, 0);
            outcome o;
            decode_whole(buf, cut, &o);
            assert_int_not_equal(o.rc, LTX_OK);
            ltx_file_info_free(&o.info);
            tried++;
            refused++;
        }
        free(copy);
        free(buf);
    }
    assert_true(tried > 1000);
    print_message("%zu corrupted/truncated variants, %zu refused, same answer streamed\n", tried,
                  refused);
}

/* Callback stop and API misuse. */
static int stop_cb(void *ctx, uint32_t pgno, const uint8_t *page) {
    (void)ctx;
    (void)page;
    return pgno >= 1;
}

static int frame_cb(void *ctx, uint32_t pgno, const uint8_t *page, const uint8_t *frame,
                    size_t frame_len) {
    (void)page;
    size_t *n = ctx;
    assert_true(frame_len >= 11);
    uint32_t fp = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 |
                  frame[3];
    assert_int_equal(fp, pgno);
    (*n)++;
    return 0;
}

static void test_callbacks_and_misuse(void **state) {
    (void)state;
    size_t len = 0;
    uint8_t *buf = NULL;
    outcome o;
    for (size_t i = 0; i < nfiles; i++) { /* a file with pages */
        buf = slurp(files[i], &len);
        decode_whole(buf, len, &o);
        int fit = o.rc == LTX_OK && o.info.page_count > 0;
        ltx_file_info_free(&o.info);
        if (fit)
            break;
        free(buf);
        buf = NULL;
    }
    assert_non_null(buf);

    ltx_verifier *v = ltx_verifier_new();
    size_t frames = 0;
    ltx_verifier_on_frame(v, frame_cb, &frames);
    assert_null(ltx_verifier_header(v));
    assert_int_equal(ltx_verifier_feed(v, buf, len, NULL), LTX_OK);
    assert_non_null(ltx_verifier_header(v));
    ltx_file_info info;
    assert_int_equal(ltx_verifier_finish(v, &info, NULL), LTX_OK);
    assert_int_equal(frames, info.page_count);
    ltx_file_info_free(&info);
    ltx_error e;
    assert_int_equal(ltx_verifier_feed(v, buf, 1, &e), LTX_ERR_ARG);
    assert_int_equal(ltx_verifier_finish(v, NULL, &e), LTX_ERR_ARG);
    ltx_verifier_free(v);

    v = ltx_verifier_new();
    ltx_verifier_on_page(v, stop_cb, NULL);
    assert_int_equal(ltx_verifier_feed(v, buf, len, &e), LTX_ERR_ARG);
    assert_int_equal(ltx_verifier_finish(v, NULL, &e), LTX_ERR_ARG);
    assert_non_null(strstr(e.msg, "stopped by the page callback"));
    ltx_verifier_free(v);
    ltx_verifier_free(NULL);
    free(buf);
}

/* ---- crc64_combine ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) { return tl_xorshift64(&rng); }

static void test_crc64_combine(void **state) {
    (void)state;
    const size_t n = 70000;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)next_rand();
    for (int t = 0; t < 300; t++) {
        size_t len = t < 20 ? (size_t)t : (size_t)(next_rand() % n);
        size_t cut = len ? (size_t)(next_rand() % (len + 1)) : 0;
        uint64_t whole = ltx_crc64(0, b, len);
        uint64_t c1 = ltx_crc64(0, b, cut), c2 = ltx_crc64(0, b + cut, len - cut);
        assert_int_equal(ltx_crc64_combine(c1, c2, len - cut), whole);
        /* three ranges, combined left to right as parallel reads would be */
        size_t cut2 = cut + (len - cut ? (size_t)(next_rand() % (len - cut + 1)) : 0);
        uint64_t a = ltx_crc64(0, b, cut), m = ltx_crc64(0, b + cut, cut2 - cut),
                 z = ltx_crc64(0, b + cut2, len - cut2);
        assert_int_equal(ltx_crc64_combine(ltx_crc64_combine(a, m, cut2 - cut), z, len - cut2),
                         whole);
    }
    /* the check value split in two */
    const char *s = "123456789";
    assert_int_equal(ltx_crc64_combine(ltx_crc64(0, s, 4), ltx_crc64(0, s + 4, 5), 5),
                     ltx_crc64(0, s, 9));
    free(b);
}

/* ---- tail parse ---------------------------------------------------------- */

static void test_tail_parse(void **state) {
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < nfiles; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        outcome o;
        decode_whole(buf, len, &o);
        if (o.rc != LTX_OK) {
            ltx_file_info_free(&o.info);
            free(buf);
            continue;
        }
        ltx_header h;
        ltx_index_entry *idx = NULL;
        size_t n = 0, need = 0;
        uint64_t idx_off = 0;
        /* a 24-byte tail is too short unless the index is empty */
        assert_int_equal(ltx_tail_parse(buf, 100, buf + len - 24, 24, len, &h, &idx, &n, &idx_off,
                                         &need, NULL),
                         LTX_OK);
        if (o.info.page_count > 0) {
            assert_true(need > 24);
            assert_null(idx);
            assert_int_equal(ltx_tail_parse(buf, 100, buf + len - need, need, len, &h, &idx, &n,
                                             &idx_off, &need, NULL),
                             LTX_OK);
        }
        assert_int_equal(need, 0);
        assert_int_equal(n, o.info.page_count);
        assert_memory_equal(&h, &o.info.header, sizeof h);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(idx[k].pgno, o.info.index[k].pgno);
            assert_int_equal(idx[k].offset, o.info.index[k].offset);
            assert_int_equal(idx[k].size, o.info.index[k].size);
        }
        free(idx);
        /* a damaged header is refused */
        buf[0] = 'X';
        assert_int_equal(ltx_tail_parse(buf, 100, buf, len, len, &h, &idx, &n, &idx_off, &need,
                                         NULL),
                         LTX_ERR_MAGIC);
        ltx_file_info_free(&o.info);
        free(buf);
        checked++;
    }
    assert_true(checked > 50);
}

int main(void) {
    const char *dir = getenv("LTX_VECTORS");
    if (!dir) {
        fprintf(stderr, "LTX_VECTORS not set\n");
        return 1;
    }
    nftw(dir, collect, 16, FTW_PHYS);
    /* stable order */
    for (size_t i = 1; i < nfiles; i++)
        for (size_t j = i; j > 0 && strcmp(files[j - 1], files[j]) > 0; j--) {
            char *t = files[j];
            files[j] = files[j - 1];
            files[j - 1] = t;
        }
    if (nfiles < 50) {
        fprintf(stderr, "only %zu vector files under %s\n", nfiles, dir);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_every_chunking),
        cmocka_unit_test(test_corruptions_and_truncations),
        cmocka_unit_test(test_callbacks_and_misuse),
        cmocka_unit_test(test_crc64_combine),
        cmocka_unit_test(test_tail_parse),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    return r;
}
