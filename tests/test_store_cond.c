/* test_store_cond.c - object versions and conditional writes (issues 10,
 * 11) on either backend, plus deadlines, abort and fault retries on S3.
 *
 *   test_store_cond                 file backend in a private temp folder
 *   test_store_cond s3://bucket/p   S3 (run by tests/test_store_cond.py with
 *                                   moto in AWS_*, and STORE_FAULT_ENDPOINT =
 *                                   its fault proxy: mode = bucket name)
 *
 * The same cases run on both: create-only puts (two or eight racers:
 * exactly one wins), compare-and-swap, get with version, conditional and
 * plain deletes, create-only publish of LTX names, reads tied to the listed
 * version (an object replaced between list and read -> OBJ_CHANGED, never
 * mixed bytes), hostile object names, objstore_abort. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore.h"

static char url[PATH_MAX];
static char tmproot[PATH_MAX - 16];
static const char *fault; /* S3 only */
static int is_s3;
static int round_no;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static objstore *open_store(void) {
    obj_error e;
    objstore *s = objstore_open(url, NULL, &e);
    if (!s) fail_msg("open %s: %s", url, e.msg);
    return s;
}

/* A database name unique to this run and call (moto keeps state). */
static void fresh_db(char *out, size_t n, const char *what) {
    snprintf(out, n, "%s-%d-%d.db", what, (int)getpid(), round_no++);
}

static void fill(uint8_t *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 31u + seed * 7u + 1u);
}

/* ---- small objects: create-only, compare-and-swap, delete ---- */

static void test_put_get_cas(void **state) {
    (void)state;
    objstore *s = open_store();
    char db[64], et1[LTX_ETAG_MAX], et2[LTX_ETAG_MAX], et3[LTX_ETAG_MAX], got_et[LTX_ETAG_MAX];
    fresh_db(db, sizeof db, "cas");
    obj_error e;
    uint8_t *buf;
    size_t len;
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4096, &buf, &len, got_et, &e), OBJ_NOT_FOUND);
    const char *v1 = "{\"owner\":\"a\",\"generation\":1}";
    assert_int_equal(objstore_put_if_absent(s, db, "lock.json", (const uint8_t *)v1, strlen(v1), et1, &e), OBJ_OK);
    assert_true(et1[0] != 0);
    /* a second create-only put loses, whatever its bytes */
    const char *v2 = "{\"owner\":\"b\",\"generation\":1}";
    assert_int_equal(objstore_put_if_absent(s, db, "lock.json", (const uint8_t *)v2, strlen(v2), et2, &e),
                     OBJ_EXISTS);
    assert_int_equal(e.code, OBJ_EXISTS);
    assert_int_equal(et2[0], 0);
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4096, &buf, &len, got_et, &e), OBJ_OK);
    assert_int_equal(len, strlen(v1));
    assert_memory_equal(buf, v1, len);
    assert_string_equal(got_et, et1);
    free(buf);
    /* cap */
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4, &buf, &len, got_et, &e), OBJ_ERR_TOO_LARGE);
    /* compare-and-swap: the current version wins, an old one loses */
    const char *v3 = "{\"owner\":\"a\",\"generation\":2}";
    assert_int_equal(objstore_put_if_match(s, db, "lock.json", (const uint8_t *)v3, strlen(v3), et1, et2, &e),
                     OBJ_OK);
    assert_true(et2[0] != 0);
    assert_string_not_equal(et2, et1);
    assert_int_equal(objstore_put_if_match(s, db, "lock.json", (const uint8_t *)v2, strlen(v2), et1, et3, &e),
                     OBJ_CHANGED);
    /* the same bytes again still make a new version on the file backend
     * (S3's ETag is the MD5 of the bytes: the same) */
    assert_int_equal(objstore_put_if_match(s, db, "lock.json", (const uint8_t *)v3, strlen(v3), et2, et3, &e),
                     OBJ_OK);
    if (!is_s3) assert_string_not_equal(et3, et2);
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4096, &buf, &len, got_et, &e), OBJ_OK);
    assert_memory_equal(buf, v3, strlen(v3));
    assert_string_equal(got_et, et3);
    free(buf);
    /* if-match on a missing name */
    assert_int_equal(objstore_put_if_match(s, db, "other.json", (const uint8_t *)"x", 1, et3, NULL, &e),
                     OBJ_NOT_FOUND);
    /* unconditional put (breaking a lease) */
    assert_int_equal(objstore_put_object(s, db, "lock.json", (const uint8_t *)"{}", 2, et1, &e), OBJ_OK);
    assert_string_not_equal(et1, et3);
    /* deletes: stale version refused, current accepted, then missing */
    assert_int_equal(objstore_delete_object(s, db, "lock.json", et3, &e), OBJ_CHANGED);
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4096, &buf, &len, NULL, &e), OBJ_OK);
    free(buf);
    assert_int_equal(objstore_delete_object(s, db, "lock.json", et1, &e), OBJ_OK);
    assert_int_equal(objstore_get_object(s, db, "lock.json", 4096, &buf, &len, NULL, &e), OBJ_NOT_FOUND);
    assert_int_equal(objstore_delete_object(s, db, "lock.json", et1, &e), OBJ_NOT_FOUND);
    assert_int_equal(objstore_delete_object(s, db, "lock.json", NULL, &e), OBJ_OK); /* idempotent */
    /* and the name can be created again */
    assert_int_equal(objstore_put_if_absent(s, db, "lock.json", (const uint8_t *)v1, strlen(v1), et1, &e), OBJ_OK);
    assert_int_equal(objstore_delete_object(s, db, "lock.json", NULL, &e), OBJ_OK);
    /* objects are not databases and not LTX files: listings ignore them
     * (not against a signature-checking moto: it refuses signed listings
     * whose prefix holds '/', see docs/storage.md) */
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_put_object(s, db, "lock.json", (const uint8_t *)"{}", 2, NULL, &e), OBJ_OK);
    if (!getenv("STORE_COND_AUTH_ONLY")) {
        assert_int_equal(objstore_list_all(s, db, &fi, &n, &e), OBJ_OK);
        assert_int_equal(n, 0);
        free(fi);
    }
    objstore_close(s);
}

static void test_bad_names(void **state) {
    (void)state;
    objstore *s = open_store();
    obj_error e;
    const char *bad[] = {"", ".lock", "../x", "a/b", "a\\b", "x y", "lock.json\n", "%2e", NULL};
    uint8_t *buf;
    size_t len;
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(objstore_put_object(s, "x.db", bad[i], (const uint8_t *)"1", 1, NULL, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_get_object(s, "x.db", bad[i], 10, &buf, &len, NULL, &e), OBJ_ERR_INVALID);
        assert_int_equal(objstore_delete_object(s, "x.db", bad[i], NULL, &e), OBJ_ERR_INVALID);
    }
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(objstore_put_object(s, "x.db", longname, (const uint8_t *)"1", 1, NULL, &e), OBJ_ERR_INVALID);
    assert_int_equal(objstore_put_object(s, "../x", "lock.json", (const uint8_t *)"1", 1, NULL, &e), OBJ_ERR_INVALID);
    /* a version that could not be sent back */
    assert_int_equal(objstore_put_if_match(s, "x.db", "lock.json", (const uint8_t *)"1", 1, "a\"b", NULL, &e),
                     OBJ_ERR_INVALID);
    assert_int_equal(objstore_put_if_match(s, "x.db", "lock.json", (const uint8_t *)"1", 1, "", NULL, &e),
                     OBJ_ERR_INVALID);
    objstore_close(s);
}

/* ---- racers ---- */

#define RACERS 8

typedef struct {
    objstore *s;
    const char *db;
    int id;
    int mode; /* 0 put_if_absent, 1 publish, 2 put_if_match */
    const char *base;
    pthread_barrier_t *bar;
    obj_status st;
} racer;

static void *race_main(void *u) {
    racer *r = u;
    uint8_t body[300];
    fill(body, sizeof body, (unsigned)r->id);
    obj_error e;
    pthread_barrier_wait(r->bar);
    if (r->mode == 0)
        r->st = objstore_put_if_absent(r->s, r->db, "lock.json", body, sizeof body, NULL, &e);
    else if (r->mode == 1)
        r->st = objstore_publish_file(r->s, r->db, 0, 5, 5, body, sizeof body, 1735689600000, NULL, &e);
    else
        r->st = objstore_put_if_match(r->s, r->db, "lock.json", body, sizeof body, r->base, NULL, &e);
    return NULL;
}

/* RACERS threads do mode at once; exactly one must win and its bytes stay. */
static void race_once(objstore *s, int mode, int rounds) {
    for (int k = 0; k < rounds; k++) {
        char db[64], base[LTX_ETAG_MAX] = "";
        fresh_db(db, sizeof db, "race");
        obj_error e;
        if (mode == 2)
            assert_int_equal(objstore_put_if_absent(s, db, "lock.json", (const uint8_t *)"{}", 2, base, &e), OBJ_OK);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, RACERS);
        racer r[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            r[i] = (racer){.s = s, .db = db, .id = i + 1, .mode = mode, .base = base, .bar = &bar};
            assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
        }
        int wins = 0, winner = -1;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            if (r[i].st == OBJ_OK) wins++, winner = r[i].id;
            else assert_int_equal(r[i].st, mode == 1 ? OBJ_EXISTS : mode == 0 ? OBJ_EXISTS : OBJ_CHANGED);
        }
        pthread_barrier_destroy(&bar);
        assert_int_equal(wins, 1);
        uint8_t want[300], *got = NULL;
        size_t len = 0;
        fill(want, sizeof want, (unsigned)winner);
        if (mode == 1) {
            ltx_fileinfo f = {.level = 0, .min_txid = 5, .max_txid = 5};
            assert_int_equal(objstore_read_file(s, db, &f, 1000, &got, &len, &e), OBJ_OK);
        } else {
            assert_int_equal(objstore_get_object(s, db, "lock.json", 1000, &got, &len, NULL, &e), OBJ_OK);
        }
        assert_int_equal(len, sizeof want);
        assert_memory_equal(got, want, sizeof want);
        free(got);
    }
}

static void test_races(void **state) {
    (void)state;
    objstore *s = open_store();
    race_once(s, 0, 10); /* create-only put */
    race_once(s, 1, 10); /* publish */
    race_once(s, 2, 10); /* compare-and-swap from one base */
    objstore_close(s);
}

/* ---- publish and reads tied to the listed version ---- */

static void test_publish(void **state) {
    (void)state;
    objstore *s = open_store();
    char db[64];
    fresh_db(db, sizeof db, "pub");
    obj_error e;
    uint8_t a[4000], b[4000], buf[4000];
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    ltx_fileinfo out;
    int64_t ts = 1735689600123;
    assert_int_equal(objstore_publish_file(s, db, 0, 1, 1, a, sizeof a, ts, &out, &e), OBJ_OK);
    assert_int_equal(out.level, 0);
    assert_int_equal(out.min_txid, 1);
    assert_int_equal(out.size, sizeof a);
    assert_true(out.etag[0] != 0);
    assert_int_equal(objstore_publish_file(s, db, 0, 1, 1, b, sizeof b, ts, NULL, &e), OBJ_EXISTS);
    assert_int_equal(objstore_publish_file(s, db, 0, 1, 2, b, sizeof b, ts, NULL, &e), OBJ_OK); /* another name */
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, db, 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(fi[0].etag, out.etag);
    if (!is_s3) assert_int_equal(fi[0].created_ms, ts);
    assert_int_equal(objstore_read_range(s, db, &fi[0], 100, 200, buf, &e), OBJ_OK);
    assert_memory_equal(buf, a + 100, 200);
    /* replaced between list and read (same size, other bytes): every read
     * with the old listing is OBJ_CHANGED, never b's bytes */
    assert_int_equal(objstore_write_file(s, db, 0, 1, 1, b, sizeof b, ts, &e), OBJ_OK);
    memset(buf, 0, sizeof buf);
    assert_int_equal(objstore_read_range(s, db, &fi[0], 100, 200, buf, &e), OBJ_CHANGED);
    assert_int_equal(e.code, OBJ_CHANGED);
    size_t got;
    assert_int_equal(objstore_read_tail(s, db, &fi[0], 64, buf, &got, &e), OBJ_CHANGED);
    uint8_t *whole;
    assert_int_equal(objstore_read_file(s, db, &fi[0], sizeof buf, &whole, &got, &e), OBJ_CHANGED);
    int64_t tms;
    assert_int_equal(objstore_file_timestamp(s, db, &fi[0], &tms, &e), OBJ_CHANGED);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0); /* nothing of b leaked */
    /* a conditional delete with the old version is refused */
    assert_int_equal(objstore_delete_file_if_match(s, db, &fi[0], &e), OBJ_CHANGED);
    free(fi);
    /* listed again: the new version reads */
    assert_int_equal(objstore_list_level(s, db, 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(objstore_read_range(s, db, &fi[0], 100, 200, buf, &e), OBJ_OK);
    assert_memory_equal(buf, b + 100, 200);
    assert_int_equal(objstore_delete_file_if_match(s, db, &fi[0], &e), OBJ_OK);
    assert_int_equal(objstore_delete_file_if_match(s, db, &fi[0], &e), OBJ_NOT_FOUND);
    /* deleted between list and read */
    assert_int_equal(objstore_read_range(s, db, &fi[1], 0, 10, buf, &e), OBJ_OK);
    assert_int_equal(objstore_delete_file(s, db, &fi[1], &e), OBJ_OK);
    assert_int_equal(objstore_read_range(s, db, &fi[1], 0, 10, buf, &e), OBJ_NOT_FOUND);
    free(fi);
    objstore_close(s);
}

/* ---- abort ---- */

static void test_abort(void **state) {
    (void)state;
    _Atomic int stop = 0;
    objstore_opts o = {.s3_path_style = -1, .max_retries = -1, .stop = &stop};
    obj_error e;
    objstore *s = objstore_open(url, &o, &e);
    assert_non_null(s);
    uint8_t *buf;
    size_t len;
    ltx_fileinfo f = {.level = 0, .min_txid = 1, .max_txid = 1};
    assert_int_equal(objstore_get_object(s, "a.db", "lock.json", 10, &buf, &len, NULL, &e), OBJ_NOT_FOUND);
    stop = 1;
    assert_int_equal(objstore_get_object(s, "a.db", "lock.json", 10, &buf, &len, NULL, &e), OBJ_ERR_ABORTED);
    assert_int_equal(objstore_read_file(s, "a.db", &f, 10, &buf, &len, &e), OBJ_ERR_ABORTED);
    ltx_fileinfo *fi;
    assert_int_equal(objstore_list_level(s, "a.db", 0, 0, &fi, &len, &e), OBJ_ERR_ABORTED);
    assert_string_equal(obj_status_str(OBJ_ERR_ABORTED), "aborted");
    objstore_close(s);
    s = open_store();
    objstore_abort(s);
    assert_int_equal(objstore_put_object(s, "a.db", "x.json", (const uint8_t *)"1", 1, NULL, &e), OBJ_ERR_ABORTED);
    objstore_close(s);
    assert_true(obj_status_transient(OBJ_ERR_TIMEOUT) && obj_status_transient(OBJ_ERR_IO));
    assert_false(obj_status_transient(OBJ_CHANGED) || obj_status_transient(OBJ_EXISTS));
}

/* ---- S3 through the fault proxy (bucket name = behaviour) ---- */

#define FAULT_LEN 65536
static uint8_t fault_data[FAULT_LEN];

static objstore *open_fault(const char *mode, long timeout_ms, long deadline_ms, int retries) {
    char u[300];
    snprintf(u, sizeof u, "s3://%s/replicas", mode);
    objstore_opts o = {.s3_endpoint = fault, .s3_path_style = 1, .timeout_ms = timeout_ms,
                       .deadline_ms = deadline_ms, .max_retries = retries};
    obj_error e;
    objstore *s = objstore_open(u, &o, &e);
    if (!s) fail_msg("open %s: %s", u, e.msg);
    return s;
}

/* faults.db/0000/1-1 holds fault_data; *f its listing (with the ETag). */
static void fault_fixture(ltx_fileinfo *f) {
    objstore *s = open_store();
    obj_error e;
    fill(fault_data, sizeof fault_data, 9);
    assert_int_equal(objstore_write_file(s, "faults.db", 0, 1, 1, fault_data, sizeof fault_data, 0, &e), OBJ_OK);
    ltx_fileinfo *fi;
    size_t n;
    assert_int_equal(objstore_list_level(s, "faults.db", 0, 0, &fi, &n, &e), OBJ_OK);
    assert_int_equal(n, 1);
    assert_true(fi[0].etag[0] != 0);
    *f = fi[0];
    free(fi);
    objstore_close(s);
}

static void test_deadline(void **state) {
    (void)state;
    ltx_fileinfo f;
    fault_fixture(&f);
    uint8_t buf[100];
    obj_error e;
    objstore *s = open_fault("stall", 500, 2000, -1); /* the proxy never answers */
    double t0 = now_s();
    assert_int_equal(objstore_read_range(s, "faults.db", &f, 0, 100, buf, &e), OBJ_ERR_TIMEOUT);
    double dt = now_s() - t0;
    printf("stalled store, timeout 500 ms / deadline 2000 ms: %s after %.2f s\n", e.msg, dt);
    assert_non_null(strstr(e.msg, "deadline"));
    assert_true(dt >= 1.4 && dt < 2.8);
    objstore_close(s);
    s = open_fault("stall", 0, 0, -1); /* defaults: 3 s per attempt, 10 s per call */
    t0 = now_s();
    assert_int_equal(objstore_read_range(s, "faults.db", &f, 0, 100, buf, &e), OBJ_ERR_TIMEOUT);
    dt = now_s() - t0;
    printf("stalled store, default options: error after %.2f s (%s)\n", dt, e.msg);
    assert_true(dt >= 8.0 && dt < 11.5);
    objstore_close(s);
}

typedef struct {
    objstore *s;
    const ltx_fileinfo *f;
    obj_status st;
    double done;
} stalled_read;

static void *stalled_main(void *u) {
    stalled_read *r = u;
    uint8_t buf[100];
    obj_error e;
    r->st = objstore_read_range(r->s, "faults.db", r->f, 0, 100, buf, &e);
    r->done = now_s();
    return NULL;
}

static void test_abort_stalled(void **state) {
    (void)state;
    ltx_fileinfo f;
    fault_fixture(&f);
    for (int k = 0; k < 2; k++) {
        _Atomic int stop = 0;
        objstore_opts o = {.s3_endpoint = fault, .s3_path_style = 1, .max_retries = -1,
                           .deadline_ms = 60000, .timeout_ms = 30000, .stop = k ? &stop : NULL};
        obj_error e;
        objstore *s = objstore_open("s3://stall/replicas", &o, &e);
        assert_non_null(s);
        stalled_read r = {.s = s, .f = &f};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, stalled_main, &r), 0);
        struct timespec d = {0, 400000000L};
        nanosleep(&d, NULL);
        double t0 = now_s();
        if (k) stop = 1;
        else objstore_abort(s);
        pthread_join(th, NULL);
        printf("abort (%s) of a stalled read: returned after %.2f s\n", k ? "opts.stop" : "objstore_abort",
               r.done - t0);
        assert_int_equal(r.st, OBJ_ERR_ABORTED);
        assert_true(r.done - t0 < 1.6);
        objstore_close(s);
    }
}

/* The proxy answers the first two ranged GETs of each object wrongly
 * (mode long: a 206 with more bytes than asked; shift: a Content-Range that
 * starts one byte later; cut: the connection closes before Content-Length
 * bytes); the third attempt must give exactly the right bytes. */
static void test_wrong_answers_retried(void **state) {
    (void)state;
    ltx_fileinfo f;
    fault_fixture(&f);
    const char *modes[] = {"long", "shift", "cut"};
    for (int m = 0; m < 3; m++) {
        objstore *s = open_fault(modes[m], 2000, 10000, 4);
        uint8_t buf[1000];
        obj_error e;
        assert_int_equal(objstore_read_range(s, "faults.db", &f, 5000, sizeof buf, buf, &e), OBJ_OK);
        assert_memory_equal(buf, fault_data + 5000, sizeof buf);
        objstore_stats st;
        objstore_get_stats(s, &st);
        printf("%s: %llu retries\n", modes[m], (unsigned long long)st.retries);
        assert_int_equal(st.retries, 2);
        assert_int_equal(st.errors, 0);
        objstore_close(s);
    }
}

/* 30 % of ranged GETs fail in one of seven ways (500, 503 SlowDown, reset,
 * longer body, shifted Content-Range, cut body, a stall past the attempt
 * timeout). No wrong byte is ever returned; with 4 retries almost every
 * read succeeds (0.3^5 = 0.24 % expected failures). */
static void test_fault_rate(void **state) {
    (void)state;
    ltx_fileinfo f;
    fault_fixture(&f);
    objstore *s = open_fault("faulty", 400, 10000, 4);
    enum { READS = 300 };
    int errors = 0;
    uint64_t seed = 0x1234567;
    for (int i = 0; i < READS; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t len = 1 + (size_t)(seed % 4096);
        uint64_t off = (seed >> 20) % (FAULT_LEN - len);
        uint8_t buf[4096];
        obj_error e;
        obj_status st = objstore_read_range(s, "faults.db", &f, off, len, buf, &e);
        if (st == OBJ_OK) assert_memory_equal(buf, fault_data + off, len);
        else {
            errors++;
            assert_true(obj_status_transient(st));
        }
    }
    objstore_stats st;
    objstore_get_stats(s, &st);
    printf("fault rate 30%%: %d of %d reads failed (%.1f %%), %llu retries, 0 wrong bytes\n", errors, READS,
           100.0 * errors / READS, (unsigned long long)st.retries);
    assert_true(st.retries >= READS / 10);
    assert_true(errors <= 6);
    objstore_close(s);
}

/* The proxy performs the first PUT of each key but drops the connection
 * before the answer: the retry meets 412 and the store reads back. */
static void test_lost_answer(void **state) {
    (void)state;
    objstore *s = open_fault("lostack", 2000, 10000, 4);
    char db[64];
    fresh_db(db, sizeof db, "lost");
    obj_error e;
    char et[LTX_ETAG_MAX];
    const char *v = "{\"owner\":\"me\"}";
    obj_status pst = objstore_put_if_absent(s, db, "lock.json", (const uint8_t *)v, strlen(v), et, &e);
    if (pst != OBJ_OK) fail_msg("lost answer: %s", e.msg);
    assert_true(et[0] != 0);
    uint8_t body[500];
    fill(body, sizeof body, 3);
    ltx_fileinfo out;
    pst = objstore_publish_file(s, db, 0, 1, 1, body, sizeof body, 0, &out, &e);
    if (pst != OBJ_OK) fail_msg("lost answer (publish): %s", e.msg);
    objstore_stats st;
    objstore_get_stats(s, &st);
    assert_true(st.retries >= 1); /* libcurl may resend the second itself on a fresh connection */
    /* someone else's bytes under a name: still OBJ_EXISTS after the retry */
    objstore *d = open_store();
    char db2[64];
    fresh_db(db2, sizeof db2, "lost");
    assert_int_equal(objstore_put_object(d, db2, "lock.json", (const uint8_t *)"{\"owner\":\"other\"}", 17, NULL, &e),
                     OBJ_OK);
    assert_int_equal(st.errors, 0);
    assert_int_equal(objstore_put_if_absent(s, db2, "lock.json", (const uint8_t *)v, strlen(v), et, &e), OBJ_EXISTS);
    objstore_get_stats(s, &st);
    assert_int_equal(st.errors, 1); /* the lost race, not the look at the other's (larger) object */
    objstore_close(d);
    objstore_close(s);
}

static int run_s3_fault_tests(void) {
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_deadline),   cmocka_unit_test(test_abort_stalled),
        cmocka_unit_test(test_wrong_answers_retried), cmocka_unit_test(test_fault_rate),
        cmocka_unit_test(test_lost_answer),
    };
    return cmocka_run_group_tests_name("store_cond_s3_faults", t, NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        snprintf(url, sizeof url, "%s", argv[1]);
        is_s3 = strncmp(url, "s3://", 5) == 0;
        fault = getenv("STORE_FAULT_ENDPOINT");
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(tmproot, sizeof tmproot, "%s/test_store_cond.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmproot)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(url, sizeof url, "%s/root", tmproot);
    }
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_put_get_cas), cmocka_unit_test(test_bad_names), cmocka_unit_test(test_races),
        cmocka_unit_test(test_publish),     cmocka_unit_test(test_abort),
    };
    if (getenv("STORE_COND_AUTH_ONLY")) { /* signed conditional requests */
        const struct CMUnitTest auth[] = {cmocka_unit_test(test_put_get_cas)};
        return cmocka_run_group_tests_name("store_cond_s3_signed", auth, NULL, NULL);
    }
    int rc = cmocka_run_group_tests_name(is_s3 ? "store_cond_s3" : "store_cond_file", common, NULL, NULL);
    if (is_s3 && fault) rc |= run_s3_fault_tests();
    if (!is_s3) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmproot);
    }
    return rc;
}
