/* testlib.h - helpers shared by the C unit tests (header only: each test is
 * one executable, so no library to link). Include after <cmocka.h>; the
 * jansson and store parts are compiled when jansson.h / objstore.h were
 * included before this file. */
#ifndef LTXHTTP_TESTLIB_H
#define LTXHTTP_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* xorshift64: a repeatable pseudo-random sequence from the seed in *s. */
static inline uint64_t tl_xorshift64(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* For setup code that runs outside a cmocka test. */
static inline void tl_die(const char *msg) {
    fprintf(stderr, "setup: %s\n", msg);
    exit(1);
}

/* Whole file, malloc'd (caller frees); NULL when it cannot be read. */
static inline uint8_t *tl_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    uint8_t *b = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *len = (size_t)n;
    return b;
}

/* dir/rel read whole inside a test: a missing file fails the test. */
static inline uint8_t *tl_read_rel(const char *dir, const char *rel, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    uint8_t *b = tl_read_file(path, len);
    if (!b)
        fail_msg("cannot read %s", path);
    return b;
}

#ifdef JANSSON_H
/* vectors/manifest.json (caller json_decref's it); NULL, said on stderr,
 * when it cannot be loaded. */
static inline json_t *tl_load_manifest(const char *vectors) {
    char p[4096];
    snprintf(p, sizeof p, "%s/manifest.json", vectors);
    json_error_t je;
    json_t *m = json_load_file(p, 0, &je);
    if (!m)
        fprintf(stderr, "cannot load %s: %s\n", p, je.text);
    return m;
}

/* vectors/manifest.json into *manifest (caller json_decref's it) and its
 * chain named `name`; dies when either is missing. */
static inline json_t *tl_load_chain(const char *vectors, const char *name, json_t **manifest) {
    *manifest = tl_load_manifest(vectors);
    if (!*manifest)
        tl_die("manifest.json");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(*manifest, "chains"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && !strcmp(n, name))
            return c;
    }
    tl_die("chain missing from manifest.json");
    return NULL;
}
#endif

/* Lower-case hex SHA-256 of n bytes. */
static inline void tl_sha256_hex(const void *p, size_t n, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#ifdef OBJSTORE_H
#include <pthread.h>

/* Several threads sharing one store: each lists level i%3 of db and reads
 * the newest file's header (must start "LTX1") `iters` times. */
struct tl_reader {
    objstore *s;
    const char *db;
    int iters, failures;
};

static inline void *tl_reader_main(void *arg) {
    struct tl_reader *t = arg;
    obj_error e;
    for (int i = 0; i < t->iters; i++) {
        ltx_fileinfo *fi;
        size_t n;
        if (objstore_list_level(t->s, t->db, i % 3, 0, &fi, &n, &e) != OBJ_OK || n == 0) {
            t->failures++;
            continue;
        }
        uint8_t hdr[100];
        if (objstore_read_range(t->s, t->db, &fi[n - 1], 0, 100, hdr, &e) != OBJ_OK ||
            memcmp(hdr, "LTX1", 4) != 0)
            t->failures++;
        free(fi);
    }
    return NULL;
}

/* db's level holds one file, of exactly the bytes want (wlen): listed with
 * that size and read back whole. Returns the listing (the caller frees it). */
static inline ltx_fileinfo *tl_check_only_file(objstore *s, const char *db, int level, const uint8_t *want,
                                               size_t wlen) {
    obj_error e;
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, db, level, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(fi[0].size, wlen);
    uint8_t *buf;
    size_t len;
    assert_int_equal(objstore_read_file(s, db, &fi[0], wlen, &buf, &len, &e), OBJ_OK);
    assert_int_equal(len, wlen);
    assert_memory_equal(buf, want, wlen);
    free(buf);
    return fi;
}

/* The reads of one stored file f against its bytes v (vlen): whole file
 * (its SHA-256 is want_sha256), a cap one byte short, the header,
 * the page index located by the manifest, past the end (truncated), tails
 * shorter and longer than the file, and a listing size that disagrees. */
static inline void tl_check_reads(objstore *s, const char *db, const ltx_fileinfo *fi, const char *want_sha256,
                                  uint64_t index_off, size_t index_len, const uint8_t *v, size_t vlen) {
    obj_error e;
    uint8_t *buf;
    size_t len;
    assert_int_equal(objstore_read_file(s, db, fi, 1 << 20, &buf, &len, &e), OBJ_OK);
    assert_int_equal(len, fi->size);
    assert_int_equal(len, vlen);
    char hex[65];
    tl_sha256_hex(buf, len, hex);
    assert_string_equal(hex, want_sha256);
    free(buf);
    assert_int_equal(objstore_read_file(s, db, fi, (size_t)fi->size - 1, &buf, &len, &e), OBJ_ERR_TOO_LARGE);
    assert_null(buf);
    uint8_t hdr[100];
    assert_int_equal(objstore_read_range(s, db, fi, 0, 100, hdr, &e), OBJ_OK);
    assert_memory_equal(hdr, v, 100);
    uint8_t *idx = malloc(index_len);
    assert_non_null(idx);
    assert_int_equal(objstore_read_range(s, db, fi, index_off, index_len, idx, &e), OBJ_OK);
    assert_memory_equal(idx, v + index_off, index_len);
    free(idx);
    uint8_t t[64];
    assert_int_equal(objstore_read_range(s, db, fi, fi->size - 10, 64, t, &e), OBJ_ERR_INVALID);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_int_equal(objstore_read_range(s, db, fi, fi->size + 10, 64, t, &e), OBJ_ERR_INVALID);
    size_t got;
    assert_int_equal(objstore_read_tail(s, db, fi, 64, t, &got, &e), OBJ_OK);
    assert_int_equal(got, 64);
    assert_memory_equal(t, v + vlen - 64, 64);
    uint8_t *whole = malloc(vlen + 500);
    assert_non_null(whole);
    assert_int_equal(objstore_read_tail(s, db, fi, vlen + 500, whole, &got, &e), OBJ_OK);
    assert_int_equal(got, vlen);
    assert_memory_equal(whole, v, vlen);
    free(whole);
    ltx_fileinfo wrong = *fi;
    wrong.size++;
    assert_int_equal(objstore_read_tail(s, db, &wrong, 64, t, &got, &e), OBJ_ERR_INVALID);
}

/* Run 4 such threads; every call must succeed. */
static inline void tl_store_readers(objstore *s, const char *db, int iters) {
    pthread_t th[4];
    struct tl_reader t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct tl_reader){s, db, iters, 0};
        assert_int_equal(pthread_create(&th[i], NULL, tl_reader_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].failures, 0);
    }
}
#endif

#endif
