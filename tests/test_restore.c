/* test_restore.c - the restore engine (tools/restore.c) on replicas built
 * with the encoder: lock page stays a zero hole, truncation per file (a
 * shrink followed by growth gives zero pages, not stale ones), whole vs
 * streamed loading give the same bytes, damaged files are refused,
 * cancellation and overwrite refusal leave no files behind. */
#include <dirent.h>
#include <fcntl.h>
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

#include "ltx.h"
#include "objstore.h"
#include "restore.h"

static char g_dir[256];

static void fill_page(uint8_t *p, uint32_t ps, uint32_t pgno, uint32_t txid) {
    for (uint32_t i = 0; i < ps; i++) p[i] = (uint8_t)(pgno * 31 + txid * 7 + i / 13);
}

/* Write one file with pages pgnos[] (content from fill_page) to level 0. */
static void put_file(objstore *s, int level, uint64_t mn, uint64_t mx, uint32_t ps, uint32_t commit,
                     const uint32_t *pgnos, size_t n) {
    ltx_header h = {.flags = LTX_FLAG_NO_CHECKSUM, .page_size = ps, .commit = commit, .min_txid = mn,
                    .max_txid = mx, .timestamp_ms = 1735689600000 + (int64_t)mx * 60000};
    ltx_encoder *enc = ltx_encoder_new(&h, 0);
    assert_non_null(enc);
    uint8_t *page = malloc(ps);
    assert_non_null(page);
    ltx_error e;
    for (size_t i = 0; i < n; i++) {
        fill_page(page, ps, pgnos[i], (uint32_t)mx);
        if (ltx_encoder_add_page(enc, pgnos[i], page, &e) != LTX_OK) fail_msg("add page %u: %s", pgnos[i], e.msg);
    }
    uint8_t *out = NULL;
    size_t len = 0;
    if (ltx_encoder_finish(enc, 0, &out, &len, &e) != LTX_OK) fail_msg("finish: %s", e.msg);
    obj_error oe;
    if (objstore_write_file(s, "", level, mn, mx, out, len, h.timestamp_ms, &oe) != OBJ_OK)
        fail_msg("write: %s", oe.msg);
    free(out);
    free(page);
    ltx_encoder_free(enc);
}

static objstore *fresh_store(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    obj_error oe;
    objstore *s = objstore_open(path, NULL, &oe);
    if (!s) fail_msg("open store: %s", oe.msg);
    return s;
}

static void read_page(const char *db, uint32_t ps, uint32_t pgno, uint8_t *out) {
    int fd = open(db, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, out, ps, (off_t)(pgno - 1) * ps), (ssize_t)ps);
    close(fd);
}

static void expect_page(const char *db, uint32_t ps, uint32_t pgno, uint32_t txid) {
    uint8_t *got = malloc(ps), *want = malloc(ps);
    assert_true(got && want);
    read_page(db, ps, pgno, got);
    if (txid) fill_page(want, ps, pgno, txid);
    else memset(want, 0, ps);
    if (memcmp(got, want, ps) != 0) fail_msg("%s page %u: not the version of TXID %u", db, pgno, txid);
    free(got);
    free(want);
}

static off_t file_size(const char *p) {
    struct stat sb;
    if (stat(p, &sb) != 0) return -1;
    return sb.st_size;
}

static int leftovers(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, "ltxctl-tmp")) n++;
    if (d) closedir(d);
    return n;
}

static void test_lock_page(void **state) {
    (void)state;
    const uint32_t ps = 65536, lock = ltx_lock_pgno(ps); /* 16385: the DB passes 1 GiB */
    assert_int_equal(lock, 16385);
    objstore *s = fresh_store("lock");
    uint32_t p1[] = {1, 2};
    put_file(s, 0, 1, 1, ps, 2, p1, 2);
    uint32_t p2[] = {1, lock - 1, lock + 1};
    put_file(s, 0, 2, 2, ps, lock + 1, p2, 3);
    for (int streamed = 0; streamed < 2; streamed++) {
        char out[512];
        snprintf(out, sizeof out, "%s/lock-%d.db", g_dir, streamed);
        restore_opts o = {.buffer_limit = streamed ? 1 : 0};
        restore_result r;
        char err[512];
        if (restore_to_path(s, "", out, 0, &o, &r, err, sizeof err) != 0) fail_msg("restore: %s", err);
        assert_true(r.txid == 2 && r.commit == lock + 1 && r.files == 2 && r.page_size == ps);
        assert_true(file_size(out) == (off_t)(lock + 1) * ps);
        expect_page(out, ps, 1, 2);
        expect_page(out, ps, 2, 1);          /* survives from the snapshot */
        expect_page(out, ps, 3, 0);          /* never written: zero */
        expect_page(out, ps, lock - 1, 2);
        expect_page(out, ps, lock, 0);       /* the lock page is zeros */
        expect_page(out, ps, lock + 1, 2);
        unlink(out);
    }
    objstore_close(s);
}

static void test_shrink_then_grow(void **state) {
    (void)state;
    const uint32_t ps = 4096;
    objstore *s = fresh_store("shrink");
    uint32_t a[] = {1, 2, 3, 4, 5, 6, 7, 8};
    put_file(s, 0, 1, 1, ps, 8, a, 8);
    uint32_t b[] = {1, 4};
    put_file(s, 0, 2, 2, ps, 4, b, 2); /* shrink 8 -> 4, carrying pages 1 and 4 */
    uint32_t c[] = {1, 7};
    put_file(s, 0, 3, 3, ps, 7, c, 2); /* grow 4 -> 7: pages 5, 6 must be zero */
    char out[512];
    snprintf(out, sizeof out, "%s/shrink.db", g_dir);
    for (int streamed = 0; streamed < 2; streamed++) {
        restore_opts o = {.buffer_limit = streamed ? 1 : 0};
        restore_result r;
        char err[512];
        if (restore_to_path(s, "", out, 1, &o, &r, err, sizeof err) != 0) fail_msg("restore: %s", err);
        assert_true(file_size(out) == 7 * 4096);
        expect_page(out, ps, 1, 3);
        expect_page(out, ps, 2, 1);
        expect_page(out, ps, 3, 1);
        expect_page(out, ps, 4, 2);
        expect_page(out, ps, 5, 0);
        expect_page(out, ps, 6, 0);
        expect_page(out, ps, 7, 3);
        /* by TXID: the shrunk state */
        o.target_txid = 2;
        if (restore_to_path(s, "", out, 1, &o, &r, err, sizeof err) != 0) fail_msg("restore: %s", err);
        assert_true(file_size(out) == 4 * 4096 && r.txid == 2);
        expect_page(out, ps, 2, 1);
        expect_page(out, ps, 4, 2);
    }
    unlink(out);
    objstore_close(s);
}

static void corrupt(const char *path, long off) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    if (off < 0) off += (long)file_size(path);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void test_damaged(void **state) {
    (void)state;
    const uint32_t ps = 4096;
    objstore *s = fresh_store("damaged");
    uint32_t a[] = {1, 2, 3};
    put_file(s, 0, 1, 1, ps, 3, a, 3);
    uint32_t b[] = {2};
    put_file(s, 0, 2, 2, ps, 3, b, 1);
    char f2[512], out[512], err[512];
    snprintf(f2, sizeof f2, "%s/damaged/ltx/0/0000000000000002-0000000000000002.ltx", g_dir);
    snprintf(out, sizeof out, "%s/damaged.db", g_dir);
    /* places: inside the frame, the index, the trailer checksum, the header */
    long offs[] = {120, -30, -3, 20};
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        corrupt(f2, offs[k]);
        for (int streamed = 0; streamed < 2; streamed++) {
            restore_opts o = {.buffer_limit = streamed ? 1 : 0};
            restore_result r;
            if (restore_to_path(s, "", out, 0, &o, &r, err, sizeof err) == 0)
                fail_msg("damage at %ld (streamed %d) not detected", offs[k], streamed);
            if (!strstr(err, "0000000000000002-0000000000000002.ltx"))
                fail_msg("error does not name the file: %s", err);
            assert_true(file_size(out) < 0);
            assert_int_equal(leftovers(), 0);
            /* verify-only loading reports a codec error too */
            ltx_fileinfo fi = {.level = 0, .min_txid = 2, .max_txid = 2, .size = (uint64_t)file_size(f2)};
            restore_file_stats st;
            assert_int_equal(restore_load_file(s, "", &fi, -1, streamed ? 1 : 0, NULL, &st, err, sizeof err), -1);
            if (st.code == LTX_OK) fail_msg("damage at %ld (streamed %d): no codec error: %s", offs[k], streamed, err);
        }
        corrupt(f2, offs[k]); /* undo */
        restore_opts o = {0};
        restore_result r;
        if (restore_to_path(s, "", out, 0, &o, &r, err, sizeof err) != 0) fail_msg("undo failed: %s", err);
        unlink(out);
    }
    /* truncated file */
    assert_int_equal(truncate(f2, file_size(f2) - 1), 0);
    for (int streamed = 0; streamed < 2; streamed++) {
        restore_opts o = {.buffer_limit = streamed ? 1 : 0};
        restore_result r;
        assert_int_equal(restore_to_path(s, "", out, 0, &o, &r, err, sizeof err), -1);
        assert_non_null(strstr(err, "0000000000000002-0000000000000002.ltx"));
    }
    objstore_close(s);
}

static void test_refusals(void **state) {
    (void)state;
    const uint32_t ps = 4096;
    objstore *s = fresh_store("refuse");
    uint32_t a[] = {1};
    put_file(s, 0, 1, 1, ps, 1, a, 1);
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/refuse.db", g_dir);
    FILE *f = fopen(out, "w");
    fputs("keep", f);
    fclose(f);
    restore_opts o = {0};
    restore_result r;
    assert_int_equal(restore_to_path(s, "", out, 0, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "already exists"));
    assert_true(file_size(out) == 4);
    /* cancelled before the first file: nothing replaced, no temp file */
    volatile int cancel = 1;
    o.cancel = &cancel;
    assert_int_equal(restore_to_path(s, "", out, 1, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "interrupted"));
    assert_true(file_size(out) == 4);
    assert_int_equal(leftovers(), 0);
    /* a plan that does not start with a snapshot is refused */
    ltx_fileinfo bad = {.level = 0, .min_txid = 2, .max_txid = 2, .size = 100};
    int fd = open(out, O_RDWR);
    restore_opts o2 = {0};
    assert_int_equal(restore_apply(s, "", &bad, 1, fd, &o2, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "must start at TXID 1"));
    assert_int_equal(restore_apply(s, "", &bad, 0, fd, &o2, &r, err, sizeof err), -1);
    close(fd);
    unlink(out);
    objstore_close(s);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_restore-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_page),
        cmocka_unit_test(test_shrink_then_grow),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
