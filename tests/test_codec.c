/* test_codec.c - LTX codec against the reference vectors (manifest.json),
 * the encoder, and corruption handling. Expected values come from
 * $LTX_VECTORS/manifest.json, never from the code under test. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ltx.h"
#include "testlib.h"

static const char *vec_dir;
static json_t *manifest;

/* ---- helpers ------------------------------------------------------------ */

static uint8_t *read_path(const char *rel, size_t *len) { return tl_read_rel(vec_dir, rel, len); }

static uint64_t hex64(json_t *j) {
    const char *s = json_string_value(j);
    if (!s)
        fail_msg("expected a hex string in the manifest");
    return strtoull(s, NULL, 16);
}

static uint64_t jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("manifest: %s is not an integer", k);
    return (uint64_t)json_integer_value(v);
}

static json_t *chain_by_name(const char *name) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(manifest, "chains"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
            return c;
    }
    fail_msg("chain %s not in manifest", name);
    return NULL;
}

static json_t *file_by_suffix(json_t *chain, const char *suffix) {
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(chain, "files"), i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        size_t lp = strlen(p), ls = strlen(suffix);
        if (lp >= ls && strcmp(p + lp - ls, suffix) == 0)
            return f;
    }
    fail_msg("file *%s not in manifest", suffix);
    return NULL;
}

static uint8_t *read_file_entry(json_t *f, size_t *len) {
    return read_path(json_string_value(json_object_get(f, "path")), len);
}

/* The bytes of chain `chain`'s file whose path ends in suffix; *f (when
 * not NULL) = its manifest entry. */
static uint8_t *vector_file(const char *chain, const char *suffix, json_t **f, size_t *len) {
    json_t *e = file_by_suffix(chain_by_name(chain), suffix);
    if (f)
        *f = e;
    return read_file_entry(e, len);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static void put_be64(uint8_t *p, uint64_t v) {
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}
static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- CRC ---------------------------------------------------------------- */

static void test_crc64_check_value(void **state) {
    (void)state;
    uint64_t want = hex64(json_object_get(manifest, "crc64_iso_check_value_for_ascii_123456789"));
    assert_int_equal(ltx_crc64(0, "123456789", 9), want);
    /* update semantics: split anywhere gives the same value */
    for (size_t k = 0; k <= 9; k++) {
        uint64_t c = ltx_crc64(0, "123456789", k);
        assert_int_equal(ltx_crc64(c, "123456789" + k, 9 - k), want);
    }
    /* slicing-by-8 path vs byte path on a long buffer split at odd points */
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint64_t whole = ltx_crc64(0, buf, sizeof buf);
    uint64_t c = 0;
    for (size_t o = 0; o < sizeof buf;) {
        size_t n = (o % 13) + 1;
        if (o + n > sizeof buf)
            n = sizeof buf - o;
        c = ltx_crc64(c, buf + o, n);
        o += n;
    }
    assert_int_equal(c, whole);
}

static void test_page_and_db_checksums(void **state) {
    (void)state;
    json_t *c = chain_by_name("main-4096");
    json_t *s0 = json_array_get(json_object_get(c, "states"), 0);
    char rel[256];
    snprintf(rel, sizeof rel, "states/%s", json_string_value(json_object_get(s0, "source")));
    size_t len;
    uint8_t *db = read_path(rel, &len);
    uint32_t ps = (uint32_t)jint(c, "page_size");
    uint32_t commit = (uint32_t)jint(s0, "commit");
    assert_int_equal(len, (size_t)commit * ps);
    json_t *pcs = json_object_get(s0, "page_checksums");
    assert_int_equal(json_array_size(pcs), commit);
    uint64_t inc = 0;
    for (uint32_t p = 1; p <= commit; p++) {
        const uint8_t *pg = db + (size_t)(p - 1) * ps;
        assert_int_equal(ltx_page_checksum(p, pg, ps), hex64(json_array_get(pcs, p - 1)));
        inc = ltx_db_checksum_update(inc, p, NULL, pg, ps);
    }
    uint64_t want = hex64(json_object_get(s0, "db_checksum"));
    assert_int_equal(ltx_db_checksum(db, ps, commit), want);
    assert_int_equal(inc, want);
    free(db);
    assert_int_equal(ltx_lock_pgno(4096), 262145);
    assert_int_equal(ltx_lock_pgno(512), 2097153);
    assert_int_equal(ltx_lock_pgno(65536), 16385);
    for (uint32_t ps2 = 0; ps2 < 140000; ps2++) {
        int want_valid = ps2 == 512 || ps2 == 1024 || ps2 == 2048 || ps2 == 4096 ||
                         ps2 == 8192 || ps2 == 16384 || ps2 == 32768 || ps2 == 65536;
        assert_int_equal(ltx_page_size_valid(ps2), want_valid);
    }
}

/* ---- every vector file -------------------------------------------------- */

typedef struct {
    json_t *frames;
    size_t i;
    uint32_t ps;
    int bad;
} frame_ctx;

static int check_page_cb(void *vctx, uint32_t pgno, const uint8_t *page) {
    frame_ctx *fc = vctx;
    json_t *fr = json_array_get(fc->frames, fc->i);
    if (!fr || jint(fr, "pgno") != pgno) {
        fc->bad++;
        return 0;
    }
    char hex[65];
    tl_sha256_hex(page, fc->ps, hex);
    if (strcmp(hex, json_string_value(json_object_get(fr, "data_sha256"))) != 0)
        fc->bad++;
    fc->i++;
    return 0;
}

static void check_header(const ltx_header *h, json_t *jh) {
    assert_int_equal(h->flags, jint(jh, "flags"));
    assert_int_equal(h->page_size, jint(jh, "page_size"));
    assert_int_equal(h->commit, jint(jh, "commit"));
    assert_int_equal(h->min_txid, hex64(json_object_get(jh, "min_txid")));
    assert_int_equal(h->max_txid, hex64(json_object_get(jh, "max_txid")));
    assert_int_equal(h->timestamp_ms, (int64_t)jint(jh, "timestamp_ms"));
    assert_int_equal(h->pre_apply_checksum, hex64(json_object_get(jh, "pre_apply_checksum")));
    assert_int_equal(h->wal_offset, (int64_t)jint(jh, "wal_offset"));
    assert_int_equal(h->wal_size, (int64_t)jint(jh, "wal_size"));
    assert_int_equal(h->wal_salt1, jint(jh, "wal_salt1"));
    assert_int_equal(h->wal_salt2, jint(jh, "wal_salt2"));
    assert_int_equal(h->node_id, jint(jh, "node_id"));
    assert_int_equal(ltx_header_is_snapshot(h),
                     json_is_true(json_object_get(jh, "is_snapshot")) ? 1 : 0);
}

static void check_one_file(json_t *chain, json_t *f) {
    size_t len;
    uint8_t *buf = read_file_entry(f, &len);
    const char *path = json_string_value(json_object_get(f, "path"));
    char hex[65];
    tl_sha256_hex(buf, len, hex);
    assert_string_equal(hex, json_string_value(json_object_get(f, "sha256")));
    assert_int_equal(len, jint(f, "size"));

    json_t *frames = json_object_get(f, "frames");
    uint32_t ps = (uint32_t)jint(chain, "page_size");
    frame_ctx fc = {frames, 0, ps, 0};
    ltx_file_info info;
    ltx_error err;
    ltx_err r = ltx_file_decode(buf, len, check_page_cb, &fc, &info, &err);
    if (r != LTX_OK)
        fail_msg("%s: %s: %s", path, ltx_err_code(r), err.msg);
    assert_int_equal(fc.bad, 0);
    assert_int_equal(fc.i, json_array_size(frames));

    /* header: decoded header and the standalone header decoder */
    check_header(&info.header, json_object_get(f, "header"));
    ltx_header h2;
    assert_int_equal(ltx_header_decode(buf, LTX_HEADER_SIZE, &h2, NULL), LTX_OK);
    check_header(&h2, json_object_get(f, "header"));
    uint8_t hb[LTX_HEADER_SIZE];
    ltx_header_encode(&h2, hb); /* reserved bytes are zero in the vectors */
    assert_memory_equal(hb, buf, LTX_HEADER_SIZE);
    ltx_header_encode(&info.header, hb);
    assert_memory_equal(hb, buf, LTX_HEADER_SIZE);

    json_t *jt = json_object_get(f, "trailer");
    assert_int_equal(info.trailer.post_apply_checksum,
                     hex64(json_object_get(jt, "post_apply_checksum")));
    assert_int_equal(info.trailer.file_checksum, hex64(json_object_get(jt, "file_checksum")));
    ltx_trailer t2;
    assert_int_equal(ltx_trailer_decode(buf + len - 16, 16, &t2, NULL), LTX_OK);
    assert_int_equal(t2.file_checksum, info.trailer.file_checksum);

    /* index entries = manifest frames */
    assert_int_equal(info.page_count, json_array_size(frames));
    int want_layout = 0;
    for (size_t i = 0; i < info.page_count; i++) {
        json_t *fr = json_array_get(frames, i);
        assert_int_equal(info.index[i].pgno, jint(fr, "pgno"));
        assert_int_equal(info.index[i].offset, jint(fr, "offset"));
        assert_int_equal(info.index[i].size, jint(fr, "size"));
        want_layout |= jint(fr, "flags") == 1 ? 2 : 1;
        if (jint(fr, "flags") == 1)
            assert_int_equal(get_be32(buf + info.index[i].offset + 6), jint(fr, "compressed_size"));
        else
            assert_int_equal(info.index[i].size - 6, jint(fr, "compressed_size"));
    }
    assert_int_equal(info.frame_layout, want_layout);

    /* page index located from the tail alone (last min(S, 32 KiB)) */
    size_t tail_len = len < 32768 ? len : 32768;
    const uint8_t *tail = buf + len - tail_len;
    uint64_t idx_off, idx_len;
    r = ltx_index_locate(tail, tail_len, len, &idx_off, &idx_len, &err);
    assert_int_equal(r, LTX_OK);
    json_t *pi = json_object_get(f, "page_index");
    assert_int_equal(idx_off, jint(pi, "offset"));
    assert_int_equal(idx_len, jint(pi, "varint_bytes"));
    /* also from a minimal 24-byte tail */
    uint64_t o2, l2;
    assert_int_equal(ltx_index_locate(buf + len - 24, 24, len, &o2, &l2, NULL), LTX_OK);
    assert_int_equal(o2, idx_off);
    ltx_index_entry *ents = NULL;
    size_t n = 0;
    r = ltx_index_decode(buf + idx_off, (size_t)idx_len, idx_off, ps, info.header.commit, &ents,
                         &n, &err);
    if (r != LTX_OK)
        fail_msg("%s: index: %s", path, err.msg);
    assert_int_equal(n, info.page_count);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ents[i].pgno, info.index[i].pgno);
        assert_int_equal(ents[i].offset, info.index[i].offset);
        assert_int_equal(ents[i].size, info.index[i].size);
    }
    free(ents);

    /* each frame alone by (offset, size) */
    uint8_t *page = malloc(ps);
    for (size_t i = 0; i < info.page_count; i++) {
        json_t *fr = json_array_get(frames, i);
        r = ltx_frame_decode(buf + info.index[i].offset, info.index[i].size, ps,
                             info.index[i].pgno, page, &err);
        if (r != LTX_OK)
            fail_msg("%s: frame %zu: %s", path, i, err.msg);
        tl_sha256_hex(page, ps, hex);
        assert_string_equal(hex, json_string_value(json_object_get(fr, "data_sha256")));
        /* without the expected pgno as well */
        assert_int_equal(ltx_frame_decode(buf + info.index[i].offset, info.index[i].size, ps, 0,
                                          page, NULL),
                         LTX_OK);
    }
    free(page);
    ltx_file_info_free(&info);
    free(buf);
}

static void test_vectors_decode(void **state) {
    (void)state;
    size_t i, j, nfiles = 0;
    json_t *c, *f;
    json_array_foreach(json_object_get(manifest, "chains"), i, c) {
        json_array_foreach(json_object_get(c, "files"), j, f) {
            check_one_file(c, f);
            nfiles++;
        }
    }
    assert_true(nfiles > 50);
    print_message("decoded and checked %zu vector files\n", nfiles);
}

/* The S3 copies hold the same bytes. */
static void test_vectors_s3_copies(void **state) {
    (void)state;
    json_t *c = chain_by_name("main-4096");
    size_t j, n = 0;
    json_t *f;
    json_array_foreach(json_object_get(c, "files"), j, f) {
        json_t *s3 = json_object_get(f, "s3_copy_path");
        if (!s3)
            continue;
        size_t l1, l2;
        uint8_t *a = read_file_entry(f, &l1);
        uint8_t *b = read_path(json_string_value(s3), &l2);
        assert_int_equal(l1, l2);
        ltx_file_info info;
        assert_int_equal(ltx_file_decode(b, l2, NULL, NULL, &info, NULL), LTX_OK);
        assert_int_equal(info.trailer.file_checksum,
                         hex64(json_object_get(json_object_get(f, "trailer"), "file_checksum")));
        ltx_file_info_free(&info);
        free(a);
        free(b);
        n++;
    }
    assert_true(n > 0);
}

/* ---- applying chains ---------------------------------------------------- */

typedef struct {
    uint8_t *db;
    size_t cap_pages;
    uint32_t ps;
} apply_ctx;

static int apply_cb(void *vctx, uint32_t pgno, const uint8_t *page) {
    apply_ctx *a = vctx;
    if (pgno > a->cap_pages) {
        uint8_t *nd = realloc(a->db, (size_t)pgno * a->ps);
        if (!nd)
            return 1;
        memset(nd + a->cap_pages * a->ps, 0, (pgno - a->cap_pages) * (size_t)a->ps);
        a->db = nd;
        a->cap_pages = pgno;
    }
    memcpy(a->db + (size_t)(pgno - 1) * a->ps, page, a->ps);
    return 0;
}

static int cmp_l0(const void *x, const void *y) {
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    uint64_t ma = hex64(json_object_get(a, "min_txid")), mb = hex64(json_object_get(b, "min_txid"));
    return ma < mb ? -1 : ma > mb;
}

static void test_chains_apply(void **state) {
    (void)state;
    size_t ci, j;
    json_t *c, *f;
    json_array_foreach(json_object_get(manifest, "chains"), ci, c) {
        json_t *l0[64];
        size_t nl0 = 0;
        const char *root = json_string_value(json_object_get(c, "root"));
        json_array_foreach(json_object_get(c, "files"), j, f) {
            const char *p = json_string_value(json_object_get(f, "path"));
            if (jint(f, "level") == 0 && strncmp(p, root, strlen(root)) == 0 &&
                p[strlen(root)] == '/' && nl0 < 64)
                l0[nl0++] = f;
        }
        qsort(l0, nl0, sizeof l0[0], cmp_l0);
        json_t *states = json_object_get(c, "states");
        assert_int_equal(nl0, json_array_size(states));
        apply_ctx a = {NULL, 0, (uint32_t)jint(c, "page_size")};
        uint64_t rolling = 0;
        int tracked = jint(c, "flags") == 0;
        for (size_t i = 0; i < nl0; i++) {
            size_t len;
            uint8_t *buf = read_file_entry(l0[i], &len);
            ltx_file_info info;
            ltx_error err;
            /* incremental db checksum: XOR out old versions of the pages */
            ltx_err r = ltx_file_decode(buf, len, NULL, NULL, &info, &err);
            assert_int_equal(r, LTX_OK);
            for (size_t k = 0; k < info.page_count; k++) {
                uint32_t pg = info.index[k].pgno;
                uint8_t *np = malloc(a.ps);
                assert_int_equal(ltx_frame_decode(buf + info.index[k].offset, info.index[k].size,
                                                  a.ps, pg, np, NULL),
                                 LTX_OK);
                const uint8_t *old = pg <= a.cap_pages ? a.db + (size_t)(pg - 1) * a.ps : NULL;
                rolling = ltx_db_checksum_update(rolling, pg, old, np, a.ps);
                free(np);
            }
            r = ltx_file_decode(buf, len, apply_cb, &a, NULL, &err);
            assert_int_equal(r, LTX_OK);
            uint32_t commit = info.header.commit;
            for (uint32_t pg = commit + 1; pg <= a.cap_pages; pg++) /* truncate */
                rolling = ltx_db_checksum_update(rolling, pg, a.db + (size_t)(pg - 1) * a.ps,
                                                 NULL, a.ps);
            if (a.cap_pages > commit)
                a.cap_pages = commit;
            json_t *st = json_array_get(states, i);
            assert_int_equal(commit, jint(st, "commit"));
            assert_int_equal(info.header.max_txid, hex64(json_object_get(st, "txid")));
            char hex[65];
            tl_sha256_hex(a.db, (size_t)commit * a.ps, hex);
            assert_string_equal(hex, json_string_value(json_object_get(st, "sha256")));
            uint64_t want_ck = hex64(json_object_get(st, "db_checksum"));
            assert_int_equal(ltx_db_checksum(a.db, a.ps, commit), want_ck);
            assert_int_equal(rolling, want_ck);
            if (tracked) {
                assert_int_equal(info.trailer.post_apply_checksum, want_ck);
                if (i > 0)
                    assert_int_equal(
                        info.header.pre_apply_checksum,
                        hex64(json_object_get(json_array_get(states, i - 1), "db_checksum")));
                if (ltx_header_is_snapshot(&info.header))
                    assert_int_equal(info.computed_post_apply, want_ck);
            }
            ltx_file_info_free(&info);
            free(buf);
        }
        free(a.db);
    }
}

/* Checksum-tracking chain: compacted files carry pre of the first input and
 * post of the last; snapshots' db checksum is recomputed by the decoder. */
static void test_checksummed_compactions(void **state) {
    (void)state;
    json_t *c = chain_by_name("main-4096-checksummed");
    json_t *states = json_object_get(c, "states");
    size_t j, nsnap = 0;
    json_t *f;
    json_array_foreach(json_object_get(c, "files"), j, f) {
        uint64_t mn = hex64(json_object_get(f, "min_txid"));
        uint64_t mx = hex64(json_object_get(f, "max_txid"));
        size_t len;
        uint8_t *buf = read_file_entry(f, &len);
        ltx_file_info info;
        assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, &info, NULL), LTX_OK);
        uint64_t post = hex64(json_object_get(json_array_get(states, mx - 1), "db_checksum"));
        uint64_t pre =
            mn == 1 ? 0 : hex64(json_object_get(json_array_get(states, mn - 2), "db_checksum"));
        assert_int_equal(info.trailer.post_apply_checksum, post);
        assert_int_equal(info.header.pre_apply_checksum, pre);
        if (mn == 1) {
            assert_int_equal(info.computed_post_apply, post);
            nsnap++;
        }
        ltx_file_info_free(&info);
        free(buf);
    }
    assert_true(nsnap >= 2);
}

static void test_legacy_v1(void **state) {
    (void)state;
    json_t *lg = json_array_get(json_object_get(manifest, "legacy"), 0);
    size_t len;
    uint8_t *buf = read_path(json_string_value(json_object_get(lg, "path")), &len);
    ltx_error err;
    ltx_err r = ltx_file_decode(buf, len, NULL, NULL, NULL, &err);
    assert_int_equal(r, LTX_ERR_VERSION);
    assert_int_equal(err.code, LTX_ERR_VERSION);
    assert_non_null(strstr(err.msg, "v1"));
    /* header alone is readable and matches the manifest */
    ltx_header h;
    assert_int_equal(ltx_header_decode(buf, len, &h, NULL), LTX_OK);
    json_t *jh = json_object_get(lg, "header");
    assert_int_equal(h.commit, jint(jh, "commit"));
    assert_int_equal(h.pre_apply_checksum, hex64(json_object_get(jh, "pre_apply_checksum")));
    /* v1 compressed flag */
    buf[7] = 1;
    assert_int_equal(ltx_header_decode(buf, len, &h, &err), LTX_ERR_VERSION);
    free(buf);
}

/* ---- encoder ------------------------------------------------------------ */

typedef struct {
    ltx_encoder *enc;
    const uint8_t *file;
    const ltx_index_entry *idx;
    size_t i;
    int copy_blocks; /* 0: recompress, 1: copy block + page, 2: copy block only */
    ltx_err r;
} reenc_ctx;

static int reenc_cb(void *vctx, uint32_t pgno, const uint8_t *page) {
    reenc_ctx *rc = vctx;
    if (rc->copy_blocks) {
        const uint8_t *fr = rc->file + rc->idx[rc->i].offset;
        rc->r = ltx_encoder_add_block(rc->enc, pgno, rc->copy_blocks == 1 ? page : NULL, fr + 10,
                                      get_be32(fr + 6), NULL);
    } else {
        rc->r = ltx_encoder_add_page(rc->enc, pgno, page, NULL);
    }
    rc->i++;
    return rc->r != LTX_OK;
}

/* Re-encode every vector file from its decoded pages and header. */
static void test_encoder_reencode_vectors(void **state) {
    (void)state;
    size_t ci, j, nblock = 0, nframe = 0, identical = 0;
    json_t *c, *f;
    json_array_foreach(json_object_get(manifest, "chains"), ci, c) {
        int block = strcmp(json_string_value(json_object_get(c, "dir")), "block") == 0;
        json_array_foreach(json_object_get(c, "files"), j, f) {
            size_t len;
            uint8_t *buf = read_file_entry(f, &len);
            ltx_header h;
            assert_int_equal(ltx_header_decode(buf, len, &h, NULL), LTX_OK);
            ltx_file_info info;
            assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, &info, NULL), LTX_OK);
            uint64_t want_fc =
                hex64(json_object_get(json_object_get(f, "trailer"), "file_checksum"));
            for (int mode = 0; mode < (block ? 3 : 1); mode++) {
                reenc_ctx rc = {ltx_encoder_new(&h, 0), buf, info.index, 0, mode, LTX_OK};
                assert_non_null(rc.enc);
                assert_int_equal(ltx_file_decode(buf, len, reenc_cb, &rc, NULL, NULL), LTX_OK);
                uint8_t *out;
                size_t out_len;
                ltx_error err;
                ltx_err r = ltx_encoder_finish(rc.enc, info.trailer.post_apply_checksum, &out,
                                               &out_len, &err);
                if (r != LTX_OK)
                    fail_msg("finish: %s", err.msg);
                ltx_encoder_free(rc.enc);
                assert_memory_equal(out, buf, LTX_HEADER_SIZE);
                if (mode) {
                    /* same blocks: the reference file, byte for byte */
                    assert_int_equal(out_len, len);
                    assert_memory_equal(out, buf, len);
                } else {
                    /* recompressed: same pages and semantics; the file checksum
                     * is our own (it hashes the index, whose sizes depend on the
                     * LZ4 encoder) and the decoder verifies it */
                    ltx_file_info i2;
                    ltx_error e2;
                    if (ltx_file_decode(out, out_len, NULL, NULL, &i2, &e2) != LTX_OK)
                        fail_msg("re-encoded %s: %s",
                                 json_string_value(json_object_get(f, "path")), e2.msg);
                    assert_int_equal(i2.page_count, info.page_count);
                    assert_int_equal(i2.frame_layout, info.page_count ? 2 : 0);
                    uint8_t *p1 = malloc(h.page_size), *p2 = malloc(h.page_size);
                    for (size_t k = 0; k < i2.page_count; k++) {
                        assert_int_equal(i2.index[k].pgno, info.index[k].pgno);
                        assert_int_equal(ltx_frame_decode(out + i2.index[k].offset,
                                                          i2.index[k].size, h.page_size,
                                                          i2.index[k].pgno, p1, NULL),
                                         LTX_OK);
                        assert_int_equal(ltx_frame_decode(buf + info.index[k].offset,
                                                          info.index[k].size, h.page_size,
                                                          info.index[k].pgno, p2, NULL),
                                         LTX_OK);
                        assert_memory_equal(p1, p2, h.page_size);
                    }
                    free(p1);
                    free(p2);
                    assert_int_equal(i2.trailer.post_apply_checksum,
                                     info.trailer.post_apply_checksum);
                    if (block && out_len == len && memcmp(out, buf, len) == 0) {
                        assert_int_equal(i2.trailer.file_checksum, want_fc);
                        identical++;
                    }
                    ltx_file_info_free(&i2);
                }
                free(out);
            }
            block ? nblock++ : nframe++;
            ltx_file_info_free(&info);
            free(buf);
        }
    }
    assert_true(nblock > 30 && nframe > 10);
    print_message("re-encoded %zu block files (byte-identical with copied blocks; %zu also when "
                  "recompressed with liblz4) and %zu frame files\n",
                  nblock, identical, nframe);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return tl_xorshift64(&rng_state); }

static void fill_page(uint8_t *p, uint32_t ps, int kind, uint32_t pgno) {
    switch (kind % 3) {
    case 0: /* random: incompressible */
        for (uint32_t i = 0; i < ps; i++)
            p[i] = (uint8_t)rnd();
        break;
    case 1: /* zeros */
        memset(p, 0, ps);
        break;
    default: /* text-like */
        for (uint32_t i = 0; i < ps; i++)
            p[i] = (uint8_t)("abcdefgh"[(i / 7 + pgno) % 8] + (rnd() % 5 == 0));
    }
}

typedef struct {
    uint8_t *pages;
    uint32_t ps, n;
    uint32_t seen;
    int bad;
} rt_ctx;

static int rt_cb(void *vctx, uint32_t pgno, const uint8_t *page) {
    rt_ctx *c = vctx;
    if (pgno != c->seen + 1 || memcmp(page, c->pages + (size_t)(pgno - 1) * c->ps, c->ps) != 0)
        c->bad++;
    c->seen = pgno;
    return 0;
}

static void test_encoder_roundtrip_sizes(void **state) {
    (void)state;
    for (uint32_t ps = 512; ps <= 65536; ps *= 2) {
        for (int tracked = 0; tracked < 2; tracked++) {
            uint32_t n = 7;
            ltx_header h = {0};
            h.flags = tracked ? 0 : LTX_FLAG_NO_CHECKSUM;
            h.page_size = ps;
            h.commit = n;
            h.min_txid = 1;
            h.max_txid = 3;
            h.timestamp_ms = 1735689600000;
            uint8_t *pages = malloc((size_t)n * ps);
            for (uint32_t p = 1; p <= n; p++)
                fill_page(pages + (size_t)(p - 1) * ps, ps, (int)p, p);
            ltx_encoder *enc = ltx_encoder_new(&h, 0);
            assert_non_null(enc);
            for (uint32_t p = 1; p <= n; p++)
                assert_int_equal(
                    ltx_encoder_add_page(enc, p, pages + (size_t)(p - 1) * ps, NULL), LTX_OK);
            uint64_t post = tracked ? ltx_db_checksum(pages, ps, n) : 0;
            uint8_t *out;
            size_t out_len;
            ltx_error err;
            ltx_err r = ltx_encoder_finish(enc, post, &out, &out_len, &err);
            if (r != LTX_OK)
                fail_msg("ps %u: %s", ps, err.msg);
            ltx_encoder_free(enc);
            rt_ctx rc = {pages, ps, n, 0, 0};
            ltx_file_info info;
            r = ltx_file_decode(out, out_len, rt_cb, &rc, &info, &err);
            if (r != LTX_OK)
                fail_msg("ps %u: decode: %s", ps, err.msg);
            assert_int_equal(rc.bad, 0);
            assert_int_equal(rc.seen, n);
            assert_int_equal(info.page_count, n);
            assert_int_equal(info.trailer.post_apply_checksum, post);
            if (tracked)
                assert_int_equal(info.computed_post_apply, post);
            /* random page: block may exceed page size and still round-trips */
            assert_true(info.index[2].size > ps); /* page 3 is random */
            assert_true(info.index[2].size <= LTX_MAX_FRAME_SIZE(ps));
            assert_true(info.index[0].size < ps / 10); /* page 1 is zeros */
            uint8_t *pg = malloc(ps);
            for (size_t k = 0; k < n; k++) {
                assert_int_equal(ltx_frame_decode(out + info.index[k].offset, info.index[k].size,
                                                  ps, info.index[k].pgno, pg, NULL),
                                 LTX_OK);
                assert_memory_equal(pg, pages + (size_t)k * ps, ps);
            }
            free(pg);
            ltx_file_info_free(&info);
            free(out);
            free(pages);
        }
    }
}

static void test_encoder_empty_and_sparse(void **state) {
    (void)state;
    /* zero pages, non-snapshot: legal */
    ltx_header h = {0};
    h.flags = LTX_FLAG_NO_CHECKSUM;
    h.page_size = 4096;
    h.commit = 10;
    h.min_txid = h.max_txid = 5;
    ltx_encoder *enc = ltx_encoder_new(&h, 0);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(ltx_encoder_finish(enc, 0, &out, &out_len, NULL), LTX_OK);
    ltx_encoder_free(enc);
    assert_int_equal(out_len, 100 + 6 + 1 + 8 + 16);
    ltx_file_info info;
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, &info, NULL), LTX_OK);
    assert_int_equal(info.page_count, 0);
    assert_int_equal(info.frame_layout, 0);
    ltx_file_info_free(&info);
    free(out);

    /* pages around the lock page with 64 KiB pages (lock = 16385) */
    h.page_size = 65536;
    h.commit = 16390;
    enc = ltx_encoder_new(&h, 0);
    uint8_t *pg = calloc(1, 65536);
    assert_int_equal(ltx_encoder_add_page(enc, 16384, pg, NULL), LTX_OK);
    ltx_error err;
    assert_int_equal(ltx_encoder_add_page(enc, 16385, pg, &err), LTX_ERR_LOCK_PAGE);
    assert_int_equal(ltx_encoder_add_page(enc, 16386, pg, NULL), LTX_OK);
    assert_int_equal(ltx_encoder_finish(enc, 0, &out, &out_len, NULL), LTX_OK);
    ltx_encoder_free(enc);
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, &info, NULL), LTX_OK);
    assert_int_equal(info.page_count, 2);
    assert_int_equal(info.index[1].pgno, 16386);
    ltx_file_info_free(&info);
    /* rewrite the second frame's pgno to the lock page: decoder refuses */
    uint32_t off2 = (uint32_t)(100 + (get_be32(out + 106) + 10));
    assert_int_equal(get_be32(out + off2), 16386);
    put_be32(out + off2, 16385);
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, NULL, &err), LTX_ERR_LOCK_PAGE);
    put_be32(out + off2, 16384); /* duplicate */
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, NULL, &err), LTX_ERR_PAGE_ORDER);
    put_be32(out + off2, 3); /* unsorted */
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, NULL, &err), LTX_ERR_PAGE_ORDER);
    put_be32(out + off2, 16391); /* beyond commit */
    assert_int_equal(ltx_file_decode(out, out_len, NULL, NULL, NULL, &err),
                     LTX_ERR_PAGE_BEYOND_COMMIT);
    free(out);
    free(pg);
}

static void test_encoder_errors(void **state) {
    (void)state;
    uint8_t pg[512] = {1};
    ltx_header h = {0};
    h.flags = LTX_FLAG_NO_CHECKSUM;
    h.page_size = 512;
    h.commit = 4;
    h.min_txid = 1;
    h.max_txid = 1;
    ltx_error err;
    uint8_t *out;
    size_t out_len;
    /* snapshot must start at 1 and be complete */
    ltx_encoder *enc = ltx_encoder_new(&h, 0);
    assert_int_equal(ltx_encoder_add_page(enc, 2, pg, &err), LTX_ERR_SNAPSHOT_INCOMPLETE);
    assert_int_equal(ltx_encoder_add_page(enc, 1, pg, NULL), LTX_OK);
    assert_int_equal(ltx_encoder_add_page(enc, 1, pg, &err), LTX_ERR_PAGE_ORDER);
    assert_int_equal(ltx_encoder_add_page(enc, 5, pg, &err), LTX_ERR_PAGE_BEYOND_COMMIT);
    assert_int_equal(ltx_encoder_add_page(enc, 2, pg, NULL), LTX_OK);
    assert_int_equal(ltx_encoder_finish(enc, 0, &out, &out_len, &err),
                     LTX_ERR_SNAPSHOT_INCOMPLETE);
    assert_non_null(strstr(err.msg, "commit"));
    ltx_encoder_free(enc);
    /* NoChecksum with a post-apply checksum */
    h.min_txid = h.max_txid = 2;
    enc = ltx_encoder_new(&h, 0);
    assert_int_equal(ltx_encoder_finish(enc, LTX_CHECKSUM_FLAG | 5, &out, &out_len, &err),
                     LTX_ERR_CHECKSUM);
    ltx_encoder_free(enc);
    /* tracked, non-snapshot, pre_apply missing: header invalid at finish */
    h.flags = 0;
    enc = ltx_encoder_new(&h, 0);
    assert_int_equal(ltx_encoder_finish(enc, LTX_CHECKSUM_FLAG | 5, &out, &out_len, &err),
                     LTX_ERR_HEADER);
    ltx_encoder_free(enc);
    /* output cap */
    h.flags = LTX_FLAG_NO_CHECKSUM;
    h.commit = 100;
    enc = ltx_encoder_new(&h, 1000);
    int hit = 0;
    for (uint32_t p = 1; p <= 100 && !hit; p++) {
        for (int i = 0; i < 512; i++)
            pg[i] = (uint8_t)rnd();
        ltx_err r = ltx_encoder_add_page(enc, p, pg, &err);
        if (r != LTX_OK) {
            assert_int_equal(r, LTX_ERR_NOMEM);
            assert_non_null(strstr(err.msg, "cap"));
            hit = 1;
        }
    }
    assert_true(hit);
    ltx_encoder_free(enc);
    /* invalid page size */
    h.page_size = 1000;
    enc = ltx_encoder_new(&h, 0);
    assert_int_equal(ltx_encoder_add_page(enc, 1, pg, &err), LTX_ERR_HEADER);
    ltx_encoder_free(enc);
    ltx_encoder_free(NULL);
}

/* ---- corruption --------------------------------------------------------- */

static ltx_err decode_mut(const uint8_t *orig, size_t len, size_t off, uint8_t val,
                          ltx_error *err) {
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    b[off] = val;
    ltx_err r = ltx_file_decode(b, len, NULL, NULL, NULL, err);
    free(b);
    return r;
}

typedef void (*mut_fn)(uint8_t *b, size_t len);
static ltx_err decode_with(const uint8_t *orig, size_t len, mut_fn fn, ltx_error *err) {
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    fn(b, len);
    ltx_err r = ltx_file_decode(b, len, NULL, NULL, NULL, err);
    free(b);
    return r;
}

static void m_flags4(uint8_t *b, size_t l) { (void)l; put_be32(b + 4, 6); }
static void m_ps1000(uint8_t *b, size_t l) { (void)l; put_be32(b + 8, 1000); }
static void m_ps8192(uint8_t *b, size_t l) { (void)l; put_be32(b + 8, 8192); }
static void m_min0(uint8_t *b, size_t l) { (void)l; put_be64(b + 16, 0); }
static void m_max0(uint8_t *b, size_t l) { (void)l; put_be64(b + 24, 0); }
static void m_minmax(uint8_t *b, size_t l) { (void)l; put_be64(b + 16, 3); put_be64(b + 24, 2); }
static void m_pre(uint8_t *b, size_t l) { (void)l; put_be64(b + 40, LTX_CHECKSUM_FLAG | 1); }
static void m_walneg(uint8_t *b, size_t l) { (void)l; put_be64(b + 48, (uint64_t)-32); }
static void m_walsize(uint8_t *b, size_t l) { (void)l; put_be64(b + 56, (uint64_t)-1); }
static void m_wal0(uint8_t *b, size_t l) { (void)l; put_be64(b + 48, 0); }
static void m_commit7(uint8_t *b, size_t l) { (void)l; put_be32(b + 12, 7); }
static void m_ts(uint8_t *b, size_t l) { (void)l; b[39] ^= 1; }
static void m_reserved(uint8_t *b, size_t l) { (void)l; b[90] = 0x55; }
static void m_pgflags2(uint8_t *b, size_t l) { (void)l; b[105] = 2; }
static void m_pgflags0(uint8_t *b, size_t l) { (void)l; b[105] = 0; }
static void m_pgno9(uint8_t *b, size_t l) { (void)l; put_be32(b + 100, 9); }
static void m_pgno0(uint8_t *b, size_t l) { (void)l; put_be32(b + 100, 0); }
static void m_blk_huge(uint8_t *b, size_t l) { (void)l; put_be32(b + 106, 0x7fffffff); }
static void m_blk_zero(uint8_t *b, size_t l) { (void)l; put_be32(b + 106, 0); }
/* main-4096 L0 #2: terminator 720..725, index 726..730 "08 64 ec04 00",
 * u64 at 731, trailer at 739 -- positions are taken from the manifest in
 * the test below and these only touch relative spots. */
static size_t g_idx_off, g_term_off;
static void m_term_flag(uint8_t *b, size_t l) { (void)l; b[g_term_off + 5] = 1; }
static void m_term_pgno(uint8_t *b, size_t l) { (void)l; b[g_term_off + 3] = 8; }
static void m_idx_pgno(uint8_t *b, size_t l) { (void)l; b[g_idx_off] = 7; }
static void m_idx_off(uint8_t *b, size_t l) { (void)l; b[g_idx_off + 1] = 0x65; }
static void m_idx_size(uint8_t *b, size_t l) { (void)l; b[g_idx_off + 2] ^= 1; }
static void m_idx_end(uint8_t *b, size_t l) { b[l - 25] = 1; }
static void m_idx_len(uint8_t *b, size_t l) { b[l - 17] += 1; }
static void m_idx_len_huge(uint8_t *b, size_t l) { b[l - 24] = 0x80; }
static void m_post(uint8_t *b, size_t l) { b[l - 9] ^= 1; }
static void m_filesum(uint8_t *b, size_t l) { b[l - 1] ^= 1; }
static void m_filesum_bit(uint8_t *b, size_t l) { b[l - 8] &= 0x7f; }
static void m_magic(uint8_t *b, size_t l) { (void)l; b[0] = 'X'; }

static void test_corrupt_fields(void **state) {
    (void)state;
    json_t *f;
    size_t len;
    uint8_t *buf = vector_file("main-4096", "/0/0000000000000002-0000000000000002.ltx", &f, &len);
    json_t *fr0 = json_array_get(json_object_get(f, "frames"), 0);
    assert_int_equal(json_array_size(json_object_get(f, "frames")), 1);
    assert_int_equal(jint(fr0, "pgno"), 8); /* mutations below assume page 8 */
    g_idx_off = jint(json_object_get(f, "page_index"), "offset");
    g_term_off = g_idx_off - 6;
    ltx_error err;
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err), LTX_OK);

    struct {
        const char *what;
        mut_fn fn;
        ltx_err want;
    } cases[] = {
        {"magic", m_magic, LTX_ERR_MAGIC},
        {"header flags", m_flags4, LTX_ERR_FLAGS},
        {"page size 1000", m_ps1000, LTX_ERR_HEADER},
        {"page size 8192", m_ps8192, LTX_ERR_PAGE_SIZE},
        {"min_txid 0", m_min0, LTX_ERR_HEADER},
        {"max_txid 0", m_max0, LTX_ERR_HEADER},
        {"min > max", m_minmax, LTX_ERR_HEADER},
        {"pre_apply with NoChecksum", m_pre, LTX_ERR_HEADER},
        {"negative wal_offset", m_walneg, LTX_ERR_HEADER},
        {"negative wal_size", m_walsize, LTX_ERR_HEADER},
        {"salts without wal_offset", m_wal0, LTX_ERR_HEADER},
        {"commit below page", m_commit7, LTX_ERR_PAGE_BEYOND_COMMIT},
        {"timestamp", m_ts, LTX_ERR_CHECKSUM},
        {"reserved", m_reserved, LTX_ERR_CHECKSUM},
        {"page flags 2", m_pgflags2, LTX_ERR_FLAGS},
        {"page flags 0 on a block", m_pgflags0, LTX_ERR_DECOMPRESS},
        {"page number changed", m_pgno9, LTX_ERR_INDEX},
        {"page number 0", m_pgno0, LTX_ERR_FLAGS},
        {"huge block size", m_blk_huge, LTX_ERR_DECOMPRESS},
        {"zero block size", m_blk_zero, LTX_ERR_DECOMPRESS},
        {"terminator flags", m_term_flag, LTX_ERR_FLAGS},
        {"terminator pgno", m_term_pgno, LTX_ERR_PAGE_ORDER},
        {"index pgno", m_idx_pgno, LTX_ERR_INDEX},
        {"index offset", m_idx_off, LTX_ERR_INDEX},
        {"index size", m_idx_size, LTX_ERR_INDEX},
        {"index end marker", m_idx_end, LTX_ERR_INDEX},
        {"index length", m_idx_len, LTX_ERR_INDEX},
        {"index length huge", m_idx_len_huge, LTX_ERR_INDEX},
        {"post_apply", m_post, LTX_ERR_CHECKSUM},
        {"file checksum", m_filesum, LTX_ERR_CHECKSUM},
        {"file checksum bit 63", m_filesum_bit, LTX_ERR_CHECKSUM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        ltx_err r = decode_with(buf, len, cases[i].fn, &err);
        if (r != cases[i].want)
            fail_msg("%s: got %s (%s), want %s", cases[i].what, ltx_err_code(r), err.msg,
                     ltx_err_code(cases[i].want));
        assert_int_equal(err.code, r);
        assert_true(strlen(err.msg) > 10);
    }
    /* every payload byte: an LZ4 error, a size error or a checksum mismatch;
     * or OK when the changed block still decodes to the same page (e.g. a
     * match offset now pointing at equal bytes: LZ4 encodings are not
     * unique, and the file checksum covers decoded data only) */
    uint64_t fo = jint(fr0, "offset"), fs = jint(fr0, "size");
    size_t same = 0;
    for (uint64_t o = fo + 10; o < fo + fs; o++) {
        ltx_err r = decode_mut(buf, len, o, buf[o] ^ 0x21, &err);
        if (r == LTX_OK) {
            uint8_t *b = malloc(len), p1[4096], p2[4096];
            memcpy(b, buf, len);
            b[o] ^= 0x21;
            assert_int_equal(ltx_frame_decode(buf + fo, fs, 4096, 8, p1, NULL), LTX_OK);
            assert_int_equal(ltx_frame_decode(b + fo, fs, 4096, 8, p2, NULL), LTX_OK);
            assert_memory_equal(p1, p2, 4096);
            free(b);
            same++;
            continue;
        }
        if (!(r == LTX_ERR_DECOMPRESS || r == LTX_ERR_PAGE_SIZE || r == LTX_ERR_CHECKSUM))
            fail_msg("payload flip at %" PRIu64 ": %s (%s)", o, ltx_err_code(r), err.msg);
    }
    /* every byte of the file flipped: never OK, never a crash */
    for (size_t o = 0; o < len; o++) {
        ltx_err r = decode_mut(buf, len, o, buf[o] ^ 0x80, &err);
        if (r == LTX_OK && !(o >= fo + 10 && o < fo + fs))
            fail_msg("flip at %zu went undetected", o);
        same += r == LTX_OK;
    }
    print_message("payload flips that still decode to the same page: %zu\n", same);
    free(buf);
}

static void test_corrupt_snapshot(void **state) {
    (void)state;
    json_t *f;
    size_t len;
    uint8_t *buf = vector_file("main-4096", "/0/0000000000000001-0000000000000001.ltx", &f, &len);
    ltx_error err;
    /* commit one higher: snapshot misses its last page */
    uint32_t commit = (uint32_t)jint(json_object_get(f, "header"), "commit");
    buf[15] = (uint8_t)(commit + 1);
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err),
                     LTX_ERR_SNAPSHOT_INCOMPLETE);
    buf[15] = (uint8_t)commit;
    /* second frame claims page 3: page 2 is missing */
    json_t *fr1 = json_array_get(json_object_get(f, "frames"), 1);
    size_t o = jint(fr1, "offset");
    put_be32(buf + o, 3);
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err),
                     LTX_ERR_SNAPSHOT_INCOMPLETE);
    free(buf);
}

static void test_corrupt_checksummed(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = vector_file("main-4096-checksummed", "/0/0000000000000003-0000000000000003.ltx", NULL, &len);
    ltx_error err;
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err), LTX_OK);
    put_be64(buf + 40, 0); /* tracked, not a snapshot: pre_apply required */
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err), LTX_ERR_HEADER);
    put_be64(buf + 40, 5); /* lacks bit 63 */
    assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, NULL, &err), LTX_ERR_HEADER);
    free(buf);
}

static void test_truncation(void **state) {
    (void)state;
    const char *names[] = {"main-4096", "main-4096-frame", "random-4096-frame", "ps512"};
    const char *suffix[] = {"/0/0000000000000002-0000000000000002.ltx",
                            "/0/0000000000000003-0000000000000003.ltx",
                            "/0/0000000000000002-0000000000000002.ltx",
                            "/0/0000000000000003-0000000000000003.ltx"};
    size_t total = 0;
    for (size_t k = 0; k < 4; k++) {
        size_t len;
        uint8_t *buf = vector_file(names[k], suffix[k], NULL, &len);
        size_t step = len > 4000 ? 7 : 1;
        for (size_t n = 0; n < len; n += step) {
            uint8_t *b = malloc(n ? n : 1); /* exact size so ASan sees overreads */
            memcpy(b, buf, n);
            ltx_error err;
            ltx_err r = ltx_file_decode(b, n, NULL, NULL, NULL, &err);
            if (r == LTX_OK)
                fail_msg("%s cut at %zu decoded OK", names[k], n);
            if (n >= 24) {
                uint64_t io, il;
                (void)ltx_index_locate(b + n - 24, 24, n, &io, &il, NULL);
            }
            free(b);
            total++;
        }
        /* each frame cut short and with a spare byte */
        ltx_file_info info;
        assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, &info, NULL), LTX_OK);
        uint32_t ps = info.header.page_size;
        uint8_t *pg = malloc(ps);
        for (size_t i = 0; i < info.page_count; i++) {
            const uint8_t *fp = buf + info.index[i].offset;
            size_t fl = info.index[i].size;
            for (size_t cut = 0; cut < fl; cut += (fl > 200 ? 13 : 1)) {
                uint8_t *b = malloc(cut ? cut : 1);
                memcpy(b, fp, cut);
                ltx_err r = ltx_frame_decode(b, cut, ps, 0, pg, NULL);
                assert_true(r == LTX_ERR_TRUNCATED || r == LTX_ERR_DECOMPRESS ||
                            r == LTX_ERR_PAGE_SIZE);
                free(b);
            }
            uint8_t *b = malloc(fl + 1);
            memcpy(b, fp, fl);
            b[fl] = 0;
            ltx_error err;
            assert_int_equal(ltx_frame_decode(b, fl + 1, ps, 0, pg, &err), LTX_ERR_INDEX);
            assert_int_equal(ltx_frame_decode(b, fl, ps, info.index[i].pgno + 1, pg, &err),
                             LTX_ERR_INDEX);
            assert_int_equal(ltx_frame_decode(b, fl, 1000, 0, pg, &err), LTX_ERR_ARG);
            free(b);
        }
        free(pg);
        ltx_file_info_free(&info);
        free(buf);
    }
    print_message("decoded %zu truncated files, all refused\n", total);
}

/* A page decoded into a too-large page size is a size mismatch, for both
 * layouts (needs a bigger output buffer). */
static void test_frame_page_size_mismatch(void **state) {
    (void)state;
    const char *names[] = {"main-4096", "main-4096-frame"};
    for (int k = 0; k < 2; k++) {
        json_t *f;
        size_t len;
        uint8_t *buf = vector_file(names[k], "/0/0000000000000002-0000000000000002.ltx", &f, &len);
        json_t *fr = json_array_get(json_object_get(f, "frames"), 0);
        uint8_t *pg = malloc(8192);
        ltx_error err;
        assert_int_equal(ltx_frame_decode(buf + jint(fr, "offset"), jint(fr, "size"), 8192, 0, pg,
                                          &err),
                         LTX_ERR_PAGE_SIZE);
        assert_non_null(strstr(err.msg, "4096"));
        /* and into a smaller one: output would overflow */
        assert_int_equal(ltx_frame_decode(buf + jint(fr, "offset"), jint(fr, "size"), 2048, 0, pg,
                                          &err),
                         LTX_ERR_PAGE_SIZE);
        free(pg);
        free(buf);
    }
}

static void test_index_decode_strict(void **state) {
    (void)state;
    ltx_index_entry *ents;
    size_t n;
    ltx_error err;
    /* pgno 8 at 100 size 620, end; idx_off = 100 + 620 + 6 */
    const uint8_t good[] = {0x08, 0x64, 0xec, 0x04, 0x00};
    assert_int_equal(ltx_index_decode(good, sizeof good, 726, 4096, 44, &ents, &n, &err), LTX_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ents[0].pgno, 8);
    assert_int_equal(ents[0].offset, 100);
    assert_int_equal(ents[0].size, 620);
    free(ents);
    /* commit below the page */
    assert_int_equal(ltx_index_decode(good, sizeof good, 726, 4096, 7, &ents, &n, &err),
                     LTX_ERR_PAGE_BEYOND_COMMIT);
    /* wrong idx_off (frame not ending at the terminator) */
    assert_int_equal(ltx_index_decode(good, sizeof good, 800, 4096, 44, &ents, &n, &err),
                     LTX_ERR_INDEX);
    /* missing end marker */
    assert_int_equal(ltx_index_decode(good, 4, 726, 4096, 44, &ents, &n, &err), LTX_ERR_INDEX);
    /* overlong varint (11 continuation bytes) */
    const uint8_t ov[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
    assert_int_equal(ltx_index_decode(ov, sizeof ov, 726, 4096, 0, &ents, &n, &err),
                     LTX_ERR_INDEX);
    /* 10-byte varint overflowing 64 bits */
    const uint8_t ov2[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0};
    assert_int_equal(ltx_index_decode(ov2, sizeof ov2, 726, 4096, 0, &ents, &n, &err),
                     LTX_ERR_INDEX);
    /* lock page, with page size 65536 */
    const uint8_t lk[] = {0x81, 0x80, 0x01, 0x64, 0x0b, 0x00}; /* 16385 at 100 size 11 */
    assert_int_equal(ltx_index_decode(lk, sizeof lk, 117, 65536, 0, &ents, &n, &err),
                     LTX_ERR_LOCK_PAGE);
    /* duplicate pages */
    const uint8_t dup[] = {0x02, 0x64, 0x0b, 0x02, 0x6f, 0x0b, 0x00};
    assert_int_equal(ltx_index_decode(dup, sizeof dup, 128, 4096, 0, &ents, &n, &err),
                     LTX_ERR_PAGE_ORDER);
    /* empty index */
    const uint8_t empty[] = {0x00};
    assert_int_equal(ltx_index_decode(empty, 1, 106, 4096, 0, &ents, &n, &err), LTX_OK);
    assert_int_equal(n, 0);
    assert_null(ents);
    assert_int_equal(ltx_index_decode(empty, 1, 107, 4096, 0, &ents, &n, &err), LTX_ERR_INDEX);
    /* locate: file too small, size field too large */
    uint8_t tail[24] = {0};
    uint64_t io, il;
    assert_int_equal(ltx_index_locate(tail, 24, 100, &io, &il, &err), LTX_ERR_TRUNCATED);
    put_be64(tail, 1000);
    assert_int_equal(ltx_index_locate(tail, 24, 200, &io, &il, &err), LTX_ERR_INDEX);
    put_be64(tail, 0);
    assert_int_equal(ltx_index_locate(tail, 24, 200, &io, &il, &err), LTX_ERR_INDEX);
    put_be64(tail, 1);
    assert_int_equal(ltx_index_locate(tail, 24, 131, &io, &il, &err), LTX_OK);
    assert_int_equal(io, 106);
}

static int stop_cb(void *vctx, uint32_t pgno, const uint8_t *page) {
    (void)page;
    int *seen = vctx;
    (*seen)++;
    return pgno >= 3;
}

static void test_callback_stop(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = vector_file("ps512", "/0/0000000000000001-0000000000000001.ltx", NULL, &len);
    int seen = 0;
    ltx_error err;
    ltx_file_info info;
    assert_int_equal(ltx_file_decode(buf, len, stop_cb, &seen, &info, &err), LTX_ERR_ARG);
    assert_int_equal(seen, 3);
    assert_null(info.index); /* nothing to free after a failure */
    assert_non_null(strstr(err.msg, "callback"));
    free(buf);
}

/* ---- concurrency: per-thread LZ4F contexts ------------------------------ */

typedef struct {
    const uint8_t *file;
    const ltx_file_info *info;
    const uint8_t *want; /* page_count pages, decoded single-threaded */
    int rounds;
    int bad;
} thr_arg;

static void *thr_decode(void *v) {
    thr_arg *a = v;
    uint32_t ps = a->info->header.page_size;
    uint8_t *pg = malloc(ps);
    for (int r = 0; r < a->rounds && pg; r++)
        for (size_t k = 0; k < a->info->page_count; k++) {
            const ltx_index_entry *x = &a->info->index[k];
            if (ltx_frame_decode(a->file + x->offset, x->size, ps, x->pgno, pg, NULL) != LTX_OK ||
                memcmp(pg, a->want + k * ps, ps) != 0)
                a->bad++;
        }
    free(pg);
    return NULL;
}

static void test_frame_decode_threads(void **state) {
    (void)state;
    const char *names[] = {"main-4096-frame", "main-4096"};
    for (int k = 0; k < 2; k++) {
        json_t *f;
        size_t len;
        uint8_t *buf = vector_file(names[k], "/1/0000000000000001-0000000000000005.ltx", &f, &len);
        ltx_file_info info;
        assert_int_equal(ltx_file_decode(buf, len, NULL, NULL, &info, NULL), LTX_OK);
        uint32_t ps = info.header.page_size;
        uint8_t *want = malloc(info.page_count * ps);
        json_t *frames = json_object_get(f, "frames");
        for (size_t i = 0; i < info.page_count; i++) {
            assert_int_equal(ltx_frame_decode(buf + info.index[i].offset, info.index[i].size, ps,
                                              info.index[i].pgno, want + i * ps, NULL),
                             LTX_OK);
            char hex[65];
            tl_sha256_hex(want + i * ps, ps, hex);
            assert_string_equal(hex, json_string_value(json_object_get(
                                         json_array_get(frames, i), "data_sha256")));
        }
        enum { NT = 4 };
        pthread_t th[NT];
        thr_arg args[NT];
        for (int t = 0; t < NT; t++) {
            args[t] = (thr_arg){buf, &info, want, 20, 0};
            assert_int_equal(pthread_create(&th[t], NULL, thr_decode, &args[t]), 0);
        }
        for (int t = 0; t < NT; t++) {
            pthread_join(th[t], NULL);
            assert_int_equal(args[t].bad, 0);
        }
        free(want);
        ltx_file_info_free(&info);
        free(buf);
    }
}

static int setup(void **state) {
    (void)state;
    vec_dir = getenv("LTX_VECTORS");
    if (!vec_dir)
        vec_dir = "../shared/ltx-vectors";
    manifest = tl_load_manifest(vec_dir);
    return manifest ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    json_decref(manifest);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_check_value),
        cmocka_unit_test(test_page_and_db_checksums),
        cmocka_unit_test(test_vectors_decode),
        cmocka_unit_test(test_vectors_s3_copies),
        cmocka_unit_test(test_chains_apply),
        cmocka_unit_test(test_checksummed_compactions),
        cmocka_unit_test(test_legacy_v1),
        cmocka_unit_test(test_encoder_reencode_vectors),
        cmocka_unit_test(test_encoder_roundtrip_sizes),
        cmocka_unit_test(test_encoder_empty_and_sparse),
        cmocka_unit_test(test_encoder_errors),
        cmocka_unit_test(test_corrupt_fields),
        cmocka_unit_test(test_corrupt_snapshot),
        cmocka_unit_test(test_corrupt_checksummed),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_frame_page_size_mismatch),
        cmocka_unit_test(test_index_decode_strict),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_frame_decode_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
