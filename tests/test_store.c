/* test_store.c - file backend of objstore against the reference vectors
 * (expected values come from $LTX_VECTORS/manifest.json). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore.h"
#include "testlib.h"

static const char *vectors;
static json_t *manifest;
static json_t *chain; /* main-4096 */
/* The store root sits one level inside a private folder, so "<root>/../x"
 * (where a traversal would land) is private too, whatever /tmp holds. */
static char tmpbase[240], tmproot[256];

static void spit(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n) tl_die(path);
    fclose(f);
}

static void mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

static void rm_rf(const char *path) {
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

static uint64_t hex64(const char *s) { return strtoull(s, NULL, 16); }

/* Copy the chain's file replica to <tmproot>/app.db/ltx/<level>/..., with
 * mtimes set from the manifest's header timestamps. */
static void copy_chain(const char *dbdir) {
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(chain, "files"), i, f) {
        const char *rel = json_string_value(json_object_get(f, "path"));
        int level = (int)json_integer_value(json_object_get(f, "level"));
        const char *name = strrchr(rel, '/') + 1;
        char src[PATH_MAX], dir[PATH_MAX], dst[2 * PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", vectors, rel);
        snprintf(dir, sizeof dir, "%.3000s/ltx/%d", dbdir, level);
        mkdir_p(dir);
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        size_t n;
        uint8_t *b = tl_read_file(src, &n);
        if (!b) tl_die(src);
        spit(dst, b, n);
        free(b);
        int64_t ms = json_integer_value(json_object_get(json_object_get(f, "header"), "timestamp_ms"));
        struct timespec ts[2] = {{ms / 1000, (ms % 1000) * 1000000L}, {ms / 1000, (ms % 1000) * 1000000L}};
        if (utimensat(AT_FDCWD, dst, ts, 0) != 0) tl_die("utimensat");
    }
}

static int setup_all(void **state) {
    (void)state;
    vectors = getenv("LTX_VECTORS");
    if (!vectors) tl_die("LTX_VECTORS not set");
    char p[PATH_MAX];
    chain = tl_load_chain(vectors, "main-4096", &manifest);
    if (!chain) tl_die("main-4096 chain missing from manifest");
    snprintf(tmpbase, sizeof tmpbase, "/tmp/ltxstore-test-XXXXXX");
    if (!mkdtemp(tmpbase)) tl_die("mkdtemp");
    snprintf(tmproot, sizeof tmproot, "%s/root", tmpbase);
    if (mkdir(tmproot, 0755) != 0) tl_die("mkdir root");
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/app.db", tmproot);
    copy_chain(db);
    /* things that are not databases */
    snprintf(p, sizeof p, "%s/other", tmproot);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/.hidden/ltx/0", tmproot);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/plain.txt", tmproot);
    spit(p, (const uint8_t *)"x", 1);
    snprintf(p, sizeof p, "%s/ltxfile/ltx", tmproot); /* "ltx" is a file, not a folder */
    mkdir_p(p);
    rmdir(p);
    spit(p, (const uint8_t *)"x", 1);
    /* foreign names inside a level folder */
    const char *junk[] = {"junk.txt", "0000000000000001-0000000000000001.ltx.tmp",
                          "000000000000000A-000000000000000A.ltx", "0000000000000001-0000000000000001.LTX",
                          "0000000000000000-0000000000000001.ltx", "0000000000000003-0000000000000002.ltx",
                          "000000000000001-0000000000000001.ltx"};
    for (size_t k = 0; k < sizeof junk / sizeof *junk; k++) {
        snprintf(p, sizeof p, "%s/app.db/ltx/0/%s", tmproot, junk[k]);
        spit(p, (const uint8_t *)"junk", 4);
    }
    snprintf(p, sizeof p, "%s/app.db/ltx/0/00000000000000ff-00000000000000ff.ltx", tmproot);
    mkdir_p(p); /* a folder with an LTX name is ignored */
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    rm_rf(tmpbase);
    json_decref(manifest);
    return 0;
}

static objstore *open_root(void) {
    obj_error e;
    objstore *s = objstore_open(tmproot, NULL, &e);
    if (!s) fail_msg("open %s: %s", tmproot, e.msg);
    return s;
}

/* Expected files of one level from the manifest, sorted by (min, max). */
static size_t expected_level(int level, uint64_t min_from, json_t **out, size_t cap) {
    size_t n = 0, i;
    json_t *f;
    json_array_foreach(json_object_get(chain, "files"), i, f) {
        if (json_integer_value(json_object_get(f, "level")) != level) continue;
        if (hex64(json_string_value(json_object_get(f, "min_txid"))) < min_from) continue;
        assert_true(n < cap);
        out[n++] = f;
    }
    for (size_t a = 1; a < n; a++) /* insertion sort by (min, max) */
        for (size_t b = a; b > 0; b--) {
            uint64_t m0 = hex64(json_string_value(json_object_get(out[b - 1], "min_txid")));
            uint64_t m1 = hex64(json_string_value(json_object_get(out[b], "min_txid")));
            uint64_t x0 = hex64(json_string_value(json_object_get(out[b - 1], "max_txid")));
            uint64_t x1 = hex64(json_string_value(json_object_get(out[b], "max_txid")));
            if (m0 > m1 || (m0 == m1 && x0 > x1)) {
                json_t *t = out[b];
                out[b] = out[b - 1];
                out[b - 1] = t;
            }
        }
    return n;
}

static void test_open_urls(void **state) {
    (void)state;
    obj_error e;
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "file://%s", tmproot);
    objstore *s = objstore_open(url, NULL, &e);
    assert_non_null(s);
    assert_string_equal(objstore_url(s), url);
    assert_int_equal(objstore_is_s3(s), 0);
    char **names;
    size_t n;
    assert_int_equal(objstore_list_dbs(s, &names, &n, &e), OBJ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "app.db");
    objstore_free_names(names, n);
    objstore_close(s);

    assert_null(objstore_open("file://relative/path", NULL, &e));
    assert_int_equal(e.code, OBJ_ERR_INVALID);
    assert_null(objstore_open("http://example.com/x", NULL, &e));
    assert_int_equal(e.code, OBJ_ERR_INVALID);
    assert_null(objstore_open("", NULL, &e));
    assert_int_equal(e.code, OBJ_ERR_INVALID);
    snprintf(url, sizeof url, "%s/plain.txt", tmproot);
    assert_null(objstore_open(url, NULL, &e));
    assert_int_equal(e.code, OBJ_ERR_INVALID);

    /* a relative root is pinned to the current folder at open */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmproot), 0);
    s = objstore_open("app.db", NULL, &e);
    assert_int_equal(chdir("/"), 0);
    assert_non_null(s);
    ltx_fileinfo *rel;
    json_t *exp9[64];
    assert_int_equal(objstore_list_level(s, "", 9, 0, &rel, &n, &e), OBJ_OK);
    assert_int_equal(n, expected_level(9, 0, exp9, 64));
    assert_true(n > 0);
    free(rel);
    objstore_close(s);
    assert_int_equal(chdir(cwd), 0);

    /* a root that does not exist yet: empty listings, not errors */
    snprintf(url, sizeof url, "%s/not-yet", tmproot);
    s = objstore_open(url, NULL, &e);
    assert_non_null(s);
    assert_int_equal(objstore_list_dbs(s, &names, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    ltx_fileinfo *fi;
    assert_int_equal(objstore_list_level(s, "", 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    objstore_close(s);
    assert_string_equal(obj_status_str(OBJ_NOT_FOUND), "not_found");
}

static void test_list_levels(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    size_t total = 0;
    for (int level = 0; level <= 9; level++) {
        json_t *exp[64];
        size_t ne = expected_level(level, 0, exp, 64);
        ltx_fileinfo *fi;
        size_t n;
        assert_int_equal(objstore_list_level(s, "app.db", level, 0, &fi, &n, &e), OBJ_OK);
        assert_int_equal(n, ne);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(fi[i].level, level);
            assert_int_equal(fi[i].min_txid, hex64(json_string_value(json_object_get(exp[i], "min_txid"))));
            assert_int_equal(fi[i].max_txid, hex64(json_string_value(json_object_get(exp[i], "max_txid"))));
            assert_int_equal(fi[i].size, json_integer_value(json_object_get(exp[i], "size")));
            assert_int_equal(fi[i].created_ms,
                             json_integer_value(json_object_get(json_object_get(exp[i], "header"), "timestamp_ms")));
        }
        free(fi);
        total += ne;
    }
    assert_true(total > 10);
    /* min_from filter */
    json_t *exp[64];
    size_t ne = expected_level(0, 5, exp, 64);
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, "app.db", 0, 5, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, ne);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) assert_true(fi[i].min_txid >= 5);
    free(fi);
    assert_int_equal(objstore_list_level(s, "app.db", 0, UINT64_MAX, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    free(fi);
    /* all levels at once, sorted by level then min */
    assert_int_equal(objstore_list_all(s, "app.db", &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, json_array_size(json_object_get(chain, "files")));
    for (size_t i = 1; i < n; i++)
        assert_true(fi[i - 1].level < fi[i].level ||
                    (fi[i - 1].level == fi[i].level && fi[i - 1].min_txid < fi[i].min_txid));
    free(fi);
    /* unknown db: empty; bad level: invalid */
    assert_int_equal(objstore_list_level(s, "nope.db", 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(objstore_list_level(s, "app.db", 10, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    assert_int_equal(objstore_list_level(s, "app.db", -1, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    objstore_close(s);

    /* the db folder itself as the root ("" = root holds ltx/) */
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "%s/app.db/", tmproot);
    s = objstore_open(url, NULL, &e);
    assert_non_null(s);
    ne = expected_level(9, 0, exp, 64);
    assert_int_equal(objstore_list_level(s, "", 9, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, ne);
    free(fi);
    objstore_close(s);
}

static void test_reads(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(chain, "files"), i, f) {
        const char *rel = json_string_value(json_object_get(f, "path"));
        char src[PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", vectors, rel);
        size_t vlen;
        uint8_t *v = tl_read_file(src, &vlen);
        assert_non_null(v);
        ltx_fileinfo fi = {.level = (int)json_integer_value(json_object_get(f, "level")),
                           .min_txid = hex64(json_string_value(json_object_get(f, "min_txid"))),
                           .max_txid = hex64(json_string_value(json_object_get(f, "max_txid"))),
                           .size = (uint64_t)json_integer_value(json_object_get(f, "size"))};
        json_t *pi = json_object_get(f, "page_index");
        tl_check_reads(s, "app.db", &fi, json_string_value(json_object_get(f, "sha256")),
                       (uint64_t)json_integer_value(json_object_get(pi, "offset")),
                       (size_t)json_integer_value(json_object_get(pi, "varint_bytes")), v, vlen);
        free(v);
    }
    /* missing file */
    ltx_fileinfo miss = {.level = 0, .min_txid = 0x77, .max_txid = 0x77, .size = 10};
    uint8_t b[10];
    size_t got;
    uint8_t *buf;
    size_t len;
    assert_int_equal(objstore_read_range(s, "app.db", &miss, 0, 10, b, &e), OBJ_NOT_FOUND);
    assert_non_null(strstr(e.msg, "0000000000000077-0000000000000077.ltx"));
    assert_int_equal(objstore_read_tail(s, "app.db", &miss, 10, b, &got, &e), OBJ_NOT_FOUND);
    assert_int_equal(objstore_read_file(s, "app.db", &miss, 100, &buf, &len, &e), OBJ_NOT_FOUND);
    /* delete is idempotent on both backends: a missing file is OK */
    assert_int_equal(objstore_delete_file(s, "app.db", &miss, &e), OBJ_OK);
    assert_int_equal(objstore_delete_file(s, "nope.db", &miss, &e), OBJ_OK);
    assert_int_equal(objstore_delete_file(s, "ltxfile", &miss, &e), OBJ_OK); /* ltx is a file: nothing there */
    assert_int_equal(objstore_read_range(s, "nope.db", &miss, 0, 10, b, &e), OBJ_NOT_FOUND);
    /* bad file references */
    ltx_fileinfo bad = {.level = 0, .min_txid = 5, .max_txid = 4};
    assert_int_equal(objstore_read_range(s, "app.db", &bad, 0, 10, b, &e), OBJ_ERR_INVALID);
    bad = (ltx_fileinfo){.level = 12, .min_txid = 1, .max_txid = 1};
    assert_int_equal(objstore_read_range(s, "app.db", &bad, 0, 10, b, &e), OBJ_ERR_INVALID);
    objstore_close(s);
}

static void test_truncated_file(void **state) {
    (void)state;
    char dir[PATH_MAX], p[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/trunc.db/ltx/0", tmproot);
    mkdir_p(dir);
    snprintf(p, sizeof p, "%s/0000000000000001-0000000000000001.ltx", dir);
    uint8_t data[50];
    memset(data, 0xab, sizeof data);
    spit(p, data, sizeof data);
    objstore *s = open_root();
    obj_error e;
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, "trunc.db", 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(fi[0].size, 50);
    uint8_t hdr[100];
    assert_int_equal(objstore_read_range(s, "trunc.db", &fi[0], 0, 100, hdr, &e), OBJ_ERR_INVALID);
    /* shrink after listing: whole read sees the disagreement; with the
     * listed version it is a changed file, without it a size mismatch */
    if (truncate(p, 20) != 0) fail_msg("truncate");
    uint8_t *buf;
    size_t len;
    assert_int_equal(objstore_read_file(s, "trunc.db", &fi[0], 1000, &buf, &len, &e), OBJ_CHANGED);
    fi[0].etag[0] = 0;
    assert_int_equal(objstore_read_file(s, "trunc.db", &fi[0], 1000, &buf, &len, &e), OBJ_ERR_INVALID);
    free(fi);
    objstore_close(s);
    snprintf(p, sizeof p, "%s/trunc.db", tmproot);
    rm_rf(p);
}

/* A missing folder lists as empty; objstore_check_folder says which one. */
static void test_check_folder(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    assert_int_equal(objstore_check_folder(s, "app.db", &e), OBJ_OK);
    assert_int_equal(objstore_check_folder(s, "nope.db", &e), OBJ_NOT_FOUND);
    assert_non_null(strstr(e.msg, "database folder"));
    assert_non_null(strstr(e.msg, "/nope.db does not exist"));
    assert_int_equal(objstore_check_folder(s, "other", &e), OBJ_NOT_FOUND); /* no ltx/ inside */
    assert_non_null(strstr(e.msg, "/other/ltx does not exist"));
    assert_int_equal(objstore_check_folder(s, "ltxfile", &e), OBJ_ERR_INVALID); /* ltx is a file */
    assert_non_null(strstr(e.msg, "is not a folder"));
    assert_int_equal(objstore_check_folder(s, "../x", &e), OBJ_ERR_INVALID);
    /* the root holds databases, not ltx/ itself */
    assert_int_equal(objstore_check_folder(s, "", &e), OBJ_NOT_FOUND);
    objstore_close(s);
    char url[PATH_MAX + 32];
    snprintf(url, sizeof url, "file://%s/no-such-dir", tmproot);
    s = objstore_open(url, NULL, &e); /* opening still works: a writer may create it later */
    assert_non_null(s);
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_all(s, "", &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    free(fi);
    assert_int_equal(objstore_check_folder(s, "", &e), OBJ_NOT_FOUND);
    assert_non_null(strstr(e.msg, "replica folder"));
    assert_non_null(strstr(e.msg, "/no-such-dir does not exist"));
    objstore_close(s);
}

static void test_write_delete(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    uint8_t data[3000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 3);
    int64_t ts = 1735689600123LL;
    assert_int_equal(objstore_write_file(s, "new.db", 3, 0x10, 0x20, data, sizeof data, ts, &e), OBJ_OK);
    /* the file is where Litestream puts it, with mtime = timestamp, no tmp left */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/new.db/ltx/3/0000000000000010-0000000000000020.ltx", tmproot);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, sizeof data);
    assert_int_equal((int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000, ts);
    snprintf(p, sizeof p, "%s/new.db/ltx/3/0000000000000010-0000000000000020.ltx.tmp", tmproot);
    assert_int_not_equal(stat(p, &sb), 0);
    ltx_fileinfo *fi = tl_check_only_file(s, "new.db", 3, data, sizeof data);
    assert_int_equal(fi[0].created_ms, ts);
    int64_t got_ts = 0;
    assert_int_equal(objstore_file_timestamp(s, "new.db", &fi[0], &got_ts, &e), OBJ_OK);
    assert_int_equal(got_ts, ts);
    size_t n;
    uint8_t *buf;
    size_t len;
    char **names;
    assert_int_equal(objstore_list_dbs(s, &names, &n, &e), OBJ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "app.db");
    assert_string_equal(names[1], "new.db");
    objstore_free_names(names, n);
    /* overwrite replaces */
    data[0] ^= 0xff;
    assert_int_equal(objstore_write_file(s, "new.db", 3, 0x10, 0x20, data, 100, ts + 1000, &e), OBJ_OK);
    assert_int_equal(objstore_read_file(s, "new.db", &(ltx_fileinfo){.level = 3, .min_txid = 0x10, .max_txid = 0x20},
                                        1000, &buf, &len, &e), OBJ_OK);
    assert_int_equal(len, 100);
    assert_memory_equal(buf, data, 100);
    free(buf);
    assert_int_equal(objstore_delete_file(s, "new.db", &fi[0], &e), OBJ_OK);
    snprintf(p, sizeof p, "%s/new.db/ltx/3/%016llx-%016llx.ltx", tmproot, (unsigned long long)fi[0].min_txid,
             (unsigned long long)fi[0].max_txid);
    assert_int_not_equal(stat(p, &sb), 0); /* gone */
    assert_int_equal(objstore_delete_file(s, "new.db", &fi[0], &e), OBJ_OK); /* again: still OK */
    assert_int_equal(objstore_file_timestamp(s, "new.db", &fi[0], &got_ts, &e), OBJ_NOT_FOUND);
    assert_int_equal(objstore_file_timestamp(s, "..", &fi[0], &got_ts, &e), OBJ_ERR_INVALID);
    free(fi);
    assert_int_equal(objstore_list_level(s, "new.db", 3, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    /* bad TXIDs / levels refused before touching the disk */
    assert_int_equal(objstore_write_file(s, "new.db", 0, 0, 1, data, 10, ts, &e), OBJ_ERR_INVALID);
    assert_int_equal(objstore_write_file(s, "new.db", 0, 5, 4, data, 10, ts, &e), OBJ_ERR_INVALID);
    assert_int_equal(objstore_write_file(s, "new.db", 10, 1, 1, data, 10, ts, &e), OBJ_ERR_INVALID);
    objstore_close(s);
    snprintf(p, sizeof p, "%s/new.db", tmproot);
    rm_rf(p);
}

static void test_hostile_names(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    const char *bad[] = {"..", ".", "../x", "a/b", "/abs", ".hidden", "a\\b", "a\nb", "a\x01" "b"};
    uint8_t data[8] = {0};
    ltx_fileinfo f = {.level = 0, .min_txid = 1, .max_txid = 1, .size = 8};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ltx_fileinfo *fi;
        size_t n, got;
        uint8_t *buf;
        assert_int_equal(objstore_list_level(s, bad[i], 0, 0, &fi, &n, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_list_all(s, bad[i], &fi, &n, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_read_range(s, bad[i], &f, 0, 8, data, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_read_tail(s, bad[i], &f, 8, data, &got, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_read_file(s, bad[i], &f, 100, &buf, &n, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_write_file(s, bad[i], 0, 1, 1, data, 8, 0, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_delete_file(s, bad[i], &f, &e), OBJ_ERR_INVALID);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, longname, 0, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    assert_int_equal(objstore_list_level(s, NULL, 0, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    /* nothing escaped the root */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/../x", tmproot);
    struct stat sb;
    assert_int_not_equal(stat(p, &sb), 0);
    objstore_close(s);
}

/* The store applies the one database-name rule of common/dbname.h. */
static void test_one_name_rule(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    ltx_fileinfo *fi = NULL;
    size_t n;
    const char *bad[] = {"a%2eb", "a?b", "a#b", "a\x7f" "b", "%2e%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(objstore_list_level(s, bad[i], 0, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    char name[202];
    memset(name, 'n', sizeof name - 1);
    name[201] = 0; /* 201 bytes: one over the limit */
    assert_int_equal(objstore_list_level(s, name, 0, 0, &fi, &n, &e), OBJ_ERR_INVALID);
    name[200] = 0; /* 200 bytes: the longest name */
    assert_int_equal(objstore_list_level(s, name, 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 0);
    free(fi);
    /* listings skip folders whose names break the rule */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/bad%%name", tmproot);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/bad%%name/ltx", tmproot);
    assert_int_equal(mkdir(p, 0755), 0);
    char **names;
    assert_int_equal(objstore_list_dbs(s, &names, &n, &e), OBJ_OK);
    for (size_t i = 0; i < n; i++) assert_null(strchr(names[i], '%'));
    objstore_free_names(names, n);
    rmdir(p);
    snprintf(p, sizeof p, "%s/bad%%name", tmproot);
    assert_int_equal(rmdir(p), 0);
    objstore_close(s);
}

/* s3:// URLs and endpoints are parsed at open, without any network. */
static void test_s3_open_offline(void **state) {
    (void)state;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("LITESTREAM_ACCESS_KEY_ID");
    unsetenv("LITESTREAM_SECRET_ACCESS_KEY");
    obj_error e;
    const char *good_ep[] = {"http://127.0.0.1:9000", "http://localhost:9000/", "https://minio.example:443/base/",
                             "http://[::1]:9000/a/b", "https://s3.eu-west-1.amazonaws.com"};
    for (size_t i = 0; i < sizeof good_ep / sizeof *good_ep; i++) {
        objstore_opts o = {.s3_endpoint = good_ep[i], .s3_path_style = -1, .max_retries = -1};
        objstore *s = objstore_open("s3://bucket/prefix", &o, &e);
        if (!s) fail_msg("refused endpoint %s: %s", good_ep[i], e.msg);
        assert_int_equal(objstore_is_s3(s), 1);
        objstore_close(s);
    }
    const char *bad_ep[] = {"ftp://x", "http://", "https:///path", "HTTP://x", "x"};
    for (size_t i = 0; i < sizeof bad_ep / sizeof *bad_ep; i++) {
        objstore_opts o = {.s3_endpoint = bad_ep[i], .s3_path_style = -1, .max_retries = -1};
        if (objstore_open("s3://bucket/prefix", &o, &e)) fail_msg("accepted endpoint %s", bad_ep[i]);
        assert_int_equal(e.code, OBJ_ERR_INVALID);
    }
    const char *good_url[] = {"s3://b", "s3://b/p/", "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000&forcePathStyle=true",
                              "s3://bucket.localhost.test:9000/p", "s3://b.s3.eu-west-2.amazonaws.com/p",
                              "s3://b/p?region=eu-west-1&forcePathStyle=off"};
    for (size_t i = 0; i < sizeof good_url / sizeof *good_url; i++) {
        objstore *s = objstore_open(good_url[i], NULL, &e);
        if (!s) fail_msg("refused %s: %s", good_url[i], e.msg);
        objstore_close(s);
    }
    const char *bad_url[] = {"s3://", "s3:///p", "s3://bad bucket/p", "s3://127.0.0.1:9000/p", "s3://b/p?region=eu_west"};
    for (size_t i = 0; i < sizeof bad_url / sizeof *bad_url; i++) {
        if (objstore_open(bad_url[i], NULL, &e)) fail_msg("accepted %s", bad_url[i]);
        assert_int_equal(e.code, OBJ_ERR_INVALID);
    }
}

static void test_stats(void **state) {
    (void)state;
    objstore *s = open_root();
    obj_error e;
    objstore_stats st;
    objstore_get_stats(s, &st);
    assert_int_equal(st.gets + st.lists + st.puts + st.deletes + st.errors, 0);
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, "app.db", 0, 0, &fi, &n, &e), OBJ_OK);
    uint8_t hdr[100];
    assert_int_equal(objstore_read_range(s, "app.db", &fi[0], 0, 100, hdr, &e), OBJ_OK);
    assert_int_equal(objstore_write_file(s, "stats.db", 0, 1, 1, hdr, 100, 0, &e), OBJ_OK);
    assert_int_equal(objstore_delete_file(s, "stats.db", &fi[0], &e), OBJ_OK);
    assert_int_equal(objstore_delete_file(s, "stats.db", &fi[0], &e), OBJ_OK); /* already gone */
    uint8_t big[200];
    assert_int_equal(objstore_read_range(s, "app.db", &fi[0], fi[0].size - 1, 2, big, &e), OBJ_ERR_INVALID);
    free(fi);
    objstore_get_stats(s, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.gets, 2);
    assert_int_equal(st.puts, 1);
    assert_int_equal(st.deletes, 2);
    assert_int_equal(st.bytes_read, 101);
    assert_int_equal(st.bytes_written, 100);
    assert_int_equal(st.errors, 1); /* NOT_FOUND is not an error */
    objstore_close(s);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/stats.db", tmproot);
    rm_rf(p);
}

static void test_threads(void **state) {
    (void)state;
    objstore *s = open_root();
    tl_store_readers(s, "app.db", 200);
    objstore_stats st;
    objstore_get_stats(s, &st);
    assert_int_equal(st.lists, 800);
    assert_int_equal(st.gets, 800);
    objstore_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_urls),      cmocka_unit_test(test_list_levels),
        cmocka_unit_test(test_reads),          cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_write_delete),   cmocka_unit_test(test_check_folder),   cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_stats),          cmocka_unit_test(test_one_name_rule),
        cmocka_unit_test(test_s3_open_offline),          cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
