/* test_plan.c - restore-plan algorithm (LTX-FORMAT.md §3.1): every
 * restore_plans entry of the vectors' manifest, hand-made cases (gaps,
 * overlaps, ties, filters, empty input), a large synthetic replica, and
 * random replicas against a naive reference written from the spec. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "ltx.h"
#include "testlib.h"

#define F(l, a, b, t) ((ltx_fileinfo){.level = (l), .min_txid = (a), .max_txid = (b), .size = 100, .created_ms = (t)})

/* Run a plan and render it as "L0:..-.. L1:..-.." for easy comparison. */
static ltx_err run(const ltx_fileinfo *files, size_t n, uint64_t txid, int64_t t, char *out,
                   size_t outlen, uint64_t *restored, ltx_error *err) {
    ltx_fileinfo *plan = (ltx_fileinfo *)0x1;
    size_t pn = 99;
    ltx_error e;
    uint64_t r = 12345;
    ltx_err rc = ltx_restore_plan(files, n, txid, t, &plan, &pn, &r, &e);
    out[0] = '\0';
    if (rc == LTX_OK) {
        size_t used = 0;
        for (size_t i = 0; i < pn; i++) {
            char one[48];
            ltx_fileinfo_format(one, sizeof one, &plan[i]);
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? " " : "", one);
            assert_true(used < outlen);
        }
        assert_true(pn > 0);
        assert_true(r == plan[pn - 1].max_txid);
        free(plan);
    } else {
        assert_null(plan);
        assert_int_equal(pn, 0);
        assert_true(r == 0);
        assert_int_equal(e.code, rc);
        assert_true(strlen(e.msg) > 0);
    }
    if (restored) *restored = r;
    if (err) *err = e;
    return rc;
}

static void expect_plan(const ltx_fileinfo *files, size_t n, uint64_t txid, int64_t t, const char *want,
                        uint64_t want_txid) {
    char got[4096];
    uint64_t r = 0;
    ltx_error e;
    ltx_err rc = run(files, n, txid, t, got, sizeof got, &r, &e);
    if (rc != LTX_OK) fail_msg("plan failed: %s (%s); want %s", ltx_err_code(rc), e.msg, want);
    if (strcmp(got, want) != 0) fail_msg("plan\n got: %s\nwant: %s", got, want);
    assert_true(r == want_txid);
}

static void expect_error(const ltx_fileinfo *files, size_t n, uint64_t txid, int64_t t, ltx_err want,
                         const char *msg_part) {
    char got[4096];
    ltx_error e;
    ltx_err rc = run(files, n, txid, t, got, sizeof got, NULL, &e);
    if (rc != want) fail_msg("want %s, got %s (plan '%s')", ltx_err_code(want), ltx_err_code(rc), got);
    if (msg_part && !strstr(e.msg, msg_part)) fail_msg("message '%s' lacks '%s'", e.msg, msg_part);
}

/* ---- manifest restore_plans ------------------------------------------- */

static const char *vectors(void) {
    const char *v = getenv("LTX_VECTORS");
    return v && *v ? v : "../shared/ltx-vectors";
}

/* CreatedAt of a replica file = header timestamp as recorded in the
 * manifest's files[] of the chain that lives in the same folder (the pruned
 * replica holds the same bytes as the full one). */
static int64_t manifest_created(json_t *m, const char *replica_root, int level, uint64_t a, uint64_t b) {
    size_t ci;
    json_t *chain;
    json_array_foreach(json_object_get(m, "chains"), ci, chain) {
        const char *root = json_string_value(json_object_get(chain, "root"));
        const char *slash = root ? strrchr(root, '/') : NULL;
        if (!slash || strncmp(root, replica_root, (size_t)(slash - root + 1)) != 0) continue;
        size_t fi;
        json_t *f;
        json_array_foreach(json_object_get(chain, "files"), fi, f) {
            uint64_t fa = 0, fb = 0;
            if (json_integer_value(json_object_get(f, "level")) != level) continue;
            if (ltx_parse_txid(json_string_value(json_object_get(f, "min_txid")), &fa, 0) ||
                ltx_parse_txid(json_string_value(json_object_get(f, "max_txid")), &fb, 0))
                continue;
            if (fa == a && fb == b)
                return (int64_t)json_integer_value(json_object_get(json_object_get(f, "header"), "timestamp_ms"));
        }
    }
    fail_msg("no manifest timestamp for %s L%d %llx-%llx", replica_root, level, (unsigned long long)a,
             (unsigned long long)b);
    return 0;
}

/* List <vectors>/<replica_root>/ltx/<level>/ like a file replica lister. */
static size_t list_replica(json_t *m, const char *replica_root, ltx_fileinfo *out, size_t cap) {
    size_t n = 0;
    char root[1024], dir[1100];
    snprintf(root, sizeof root, "%s/%s", vectors(), replica_root);
    for (int level = 0; level <= LTX_MAX_LEVEL; level++) {
        assert_int_equal(ltx_file_level_dir(dir, sizeof dir, root, level), 0);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            uint64_t a, b;
            if (ltx_parse_filename(de->d_name, &a, &b) != 0) continue;
            assert_true(n < cap);
            out[n] = F(level, a, b, manifest_created(m, replica_root, level, a, b));
            n++;
        }
        closedir(d);
    }
    return n;
}

static void test_manifest_plans(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", vectors());
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m) fail_msg("cannot load %s: %s", path, je.text);
    int64_t base = 0;
    assert_int_equal(ltx_parse_time("2025-01-01T00:00:00Z", &base), 0);

    size_t i, checked = 0;
    json_t *rp;
    json_array_foreach(json_object_get(m, "restore_plans"), i, rp) {
        const char *root = json_string_value(json_object_get(rp, "replica_root"));
        const char *target = json_string_value(json_object_get(rp, "target"));
        assert_non_null(root);
        assert_non_null(target);
        ltx_fileinfo files[64];
        size_t n = list_replica(m, root, files, 64);
        assert_true(n > 0);
        /* listing order must not matter: reverse it for odd entries */
        if (i % 2)
            for (size_t k = 0; k < n / 2; k++) {
                ltx_fileinfo t = files[k];
                files[k] = files[n - 1 - k];
                files[n - 1 - k] = t;
            }

        uint64_t txid = 0;
        int64_t t = 0;
        if (strncmp(target, "txid=", 5) == 0) {
            assert_int_equal(ltx_parse_txid(target + 5, &txid, 0), 0);
        } else if (strncmp(target, "ts=", 3) == 0) {
            unsigned h, mi, s;
            assert_int_equal(sscanf(target + 3, "%u:%u:%u", &h, &mi, &s), 3);
            t = base + ((int64_t)h * 3600 + mi * 60 + s) * 1000;
        } else {
            assert_string_equal(target, "latest");
        }

        char got[4096];
        uint64_t r = 0;
        ltx_error e;
        ltx_err rc = run(files, n, txid, t, got, sizeof got, &r, &e);
        json_t *err = json_object_get(rp, "error");
        if (err) {
            const char *want = json_string_value(err);
            assert_string_equal(want, "ErrTxNotAvailable");
            if (rc != LTX_ERR_TX_NOT_AVAILABLE)
                fail_msg("%s %s: want ErrTxNotAvailable, got %s '%s'", root, target, ltx_err_code(rc), got);
        } else {
            if (rc != LTX_OK) fail_msg("%s %s: %s", root, target, e.msg);
            char want[4096] = "";
            size_t used = 0, k;
            json_t *p;
            json_array_foreach(json_object_get(rp, "plan"), k, p)
                used += (size_t)snprintf(want + used, sizeof want - used, "%s%s", k ? " " : "", json_string_value(p));
            if (strcmp(got, want) != 0) fail_msg("%s %s:\n got: %s\nwant: %s", root, target, got, want);
            uint64_t wt = 0;
            assert_int_equal(ltx_parse_txid(json_string_value(json_object_get(rp, "restored_txid")), &wt, 0), 0);
            assert_true(r == wt);
        }
        checked++;
    }
    print_message("checked %zu manifest restore plans\n", checked);
    assert_true(checked >= 10);
    json_decref(m);
}

/* ---- hand-made cases ---------------------------------------------------- */

static void test_empty(void **state) {
    (void)state;
    expect_error(NULL, 0, 0, 0, LTX_ERR_TX_NOT_AVAILABLE, "no ltx files");
    expect_error(NULL, 0, 5, 0, LTX_ERR_TX_NOT_AVAILABLE, "0000000000000005");
    expect_error(NULL, 0, 0, 1000, LTX_ERR_TX_NOT_AVAILABLE, "1970-01-01T00:00:01.000Z");
}

static void test_l0_chain(void **state) {
    (void)state;
    ltx_fileinfo f[] = {F(0, 3, 3, 30), F(0, 1, 1, 10), F(0, 2, 2, 20)};
    expect_plan(f, 3, 0, 0, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002 "
                            "L0:0000000000000003-0000000000000003", 3);
    expect_plan(f, 3, 2, 0, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002", 2);
    expect_plan(f, 3, 0, 21, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002", 2);
    /* CreatedAt must be strictly before the target */
    expect_plan(f, 3, 0, 20, "L0:0000000000000001-0000000000000001", 1);
    expect_error(f, 3, 0, 10, LTX_ERR_TX_NOT_AVAILABLE, NULL);
    expect_error(f, 3, 4, 0, LTX_ERR_TX_NOT_AVAILABLE, "reach only 0000000000000003");
}

static void test_gap(void **state) {
    (void)state;
    ltx_fileinfo f[] = {F(0, 1, 1, 1), F(0, 2, 2, 2), F(0, 4, 4, 4), F(0, 5, 5, 5)};
    /* latest: a gap nothing bridges */
    expect_error(f, 4, 0, 0, LTX_ERR_NONCONTIGUOUS, "have up to 0000000000000002 but next file is L0:0000000000000004");
    /* by TXID: short of the target */
    expect_error(f, 4, 4, 0, LTX_ERR_TX_NOT_AVAILABLE, NULL);
    expect_plan(f, 4, 2, 0, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002", 2);
    /* by time: no contiguity check, the chain simply stops */
    expect_plan(f, 4, 0, 100, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002", 2);
    /* a higher level bridges the gap */
    ltx_fileinfo g[] = {F(0, 1, 1, 1), F(0, 2, 2, 2), F(0, 4, 4, 4), F(0, 5, 5, 5), F(1, 1, 4, 4)};
    expect_plan(g, 5, 0, 0, "L1:0000000000000001-0000000000000004 L0:0000000000000005-0000000000000005", 5);
    /* a gap in a higher level is also fatal for latest */
    ltx_fileinfo h[] = {F(0, 1, 1, 1), F(0, 2, 2, 2), F(1, 1, 1, 1), F(1, 4, 6, 6)};
    expect_error(h, 4, 0, 0, LTX_ERR_NONCONTIGUOUS, "L1:0000000000000004-0000000000000006");
    /* nothing starts at TXID 1 (all pruned, no snapshot) */
    ltx_fileinfo p[] = {F(0, 7, 7, 7), F(0, 8, 8, 8)};
    expect_error(p, 2, 0, 0, LTX_ERR_TX_NOT_AVAILABLE, "no file chain starts at TXID 1");
}

static void test_overlap_and_ties(void **state) {
    (void)state;
    /* snapshot 1-7, then L2 1-8 (overlapping) rather than L0 8 */
    ltx_fileinfo f[] = {F(9, 1, 7, 65), F(2, 1, 8, 70), F(0, 8, 8, 70), F(0, 9, 9, 80), F(1, 6, 8, 70)};
    expect_plan(f, 5, 0, 0, "L9:0000000000000001-0000000000000007 L2:0000000000000001-0000000000000008 "
                            "L0:0000000000000009-0000000000000009", 9);
    /* equal reach: smaller min wins over higher level */
    ltx_fileinfo g[] = {F(0, 1, 1, 1), F(1, 2, 6, 6), F(2, 3, 6, 6)};
    expect_plan(g, 3, 0, 0, "L0:0000000000000001-0000000000000001 L1:0000000000000002-0000000000000006", 6);
    /* equal reach and min: higher level wins */
    ltx_fileinfo h[] = {F(0, 1, 1, 1), F(1, 2, 6, 6), F(3, 2, 6, 6), F(2, 2, 6, 6)};
    expect_plan(h, 4, 0, 0, "L0:0000000000000001-0000000000000001 L3:0000000000000002-0000000000000006", 6);
    /* identical range on one level: older CreatedAt wins */
    ltx_fileinfo k[] = {F(1, 1, 4, 50), F(1, 1, 4, 40), F(1, 1, 4, 45)};
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t r = 0;
    assert_int_equal(ltx_restore_plan(k, 3, 0, 0, &plan, &pn, &r, NULL), LTX_OK);
    assert_int_equal(pn, 1);
    assert_true(plan[0].created_ms == 40);
    free(plan);
    /* furthest reach beats many small steps */
    ltx_fileinfo m[] = {F(0, 1, 1, 1), F(0, 2, 2, 2), F(0, 3, 3, 3), F(1, 2, 3, 3), F(0, 4, 4, 4)};
    expect_plan(m, 5, 0, 0, "L0:0000000000000001-0000000000000001 L1:0000000000000002-0000000000000003 "
                            "L0:0000000000000004-0000000000000004", 4);
}

static void test_snapshots(void **state) {
    (void)state;
    ltx_fileinfo f[] = {F(9, 1, 5, 500), F(9, 1, 10, 1000), F(0, 1, 1, 100), F(0, 2, 2, 200),
                        F(0, 3, 3, 300), F(0, 4, 4, 400), F(0, 5, 5, 450), F(0, 6, 6, 600),
                        F(0, 7, 7, 700), F(0, 8, 8, 800), F(0, 9, 9, 900), F(0, 10, 10, 950),
                        F(0, 11, 11, 1100)};
    size_t n = sizeof f / sizeof f[0];
    expect_plan(f, n, 0, 0, "L9:0000000000000001-000000000000000a L0:000000000000000b-000000000000000b", 11);
    /* newest snapshot with max <= target, then L0 */
    expect_plan(f, n, 7, 0, "L9:0000000000000001-0000000000000005 L0:0000000000000006-0000000000000006 "
                            "L0:0000000000000007-0000000000000007", 7);
    /* target equal to a snapshot max: the snapshot alone */
    expect_plan(f, n, 10, 0, "L9:0000000000000001-000000000000000a", 10);
    expect_plan(f, n, 5, 0, "L9:0000000000000001-0000000000000005", 5);
    /* time: snapshot 1-10 created at 1000 counts only for T > 1000 */
    expect_plan(f, n, 0, 1000, "L9:0000000000000001-0000000000000005 L0:0000000000000006-0000000000000006 "
                               "L0:0000000000000007-0000000000000007 L0:0000000000000008-0000000000000008 "
                               "L0:0000000000000009-0000000000000009 L0:000000000000000a-000000000000000a", 10);
    expect_plan(f, n, 0, 1001, "L9:0000000000000001-000000000000000a", 10);
    expect_plan(f, n, 0, 501, "L9:0000000000000001-0000000000000005", 5);
    /* before any snapshot: L0 only */
    expect_plan(f, n, 0, 301, "L0:0000000000000001-0000000000000001 L0:0000000000000002-0000000000000002 "
                              "L0:0000000000000003-0000000000000003", 3);
    /* a level-9 file that does not start at 1 is never a base */
    ltx_fileinfo g[] = {F(9, 3, 9, 10), F(0, 1, 1, 1)};
    expect_plan(g, 2, 0, 0, "L0:0000000000000001-0000000000000001", 1);
}

static void test_bad_args(void **state) {
    (void)state;
    ltx_fileinfo f[] = {F(0, 1, 1, 1)};
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    ltx_error e;
    assert_int_equal(ltx_restore_plan(f, 1, 3, 5, &plan, &pn, NULL, &e), LTX_ERR_ARG);
    assert_non_null(strstr(e.msg, "not both"));
    assert_int_equal(ltx_restore_plan(f, 1, 0, 0, NULL, &pn, NULL, &e), LTX_ERR_ARG);
    assert_int_equal(ltx_restore_plan(NULL, 1, 0, 0, &plan, &pn, NULL, &e), LTX_ERR_ARG);
    ltx_fileinfo bad[][1] = {{F(10, 1, 1, 1)}, {F(-1, 1, 1, 1)}, {F(0, 0, 1, 1)}, {F(0, 5, 4, 1)}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ltx_restore_plan(bad[i], 1, 0, 0, &plan, &pn, NULL, &e), LTX_ERR_ARG);
        assert_non_null(strstr(e.msg, "invalid file entry"));
        assert_null(plan);
    }
    /* NULL error pointer and NULL restored_txid are fine */
    assert_int_equal(ltx_restore_plan(f, 1, 0, 0, &plan, &pn, NULL, NULL), LTX_OK);
    assert_int_equal(pn, 1);
    free(plan);
    assert_int_equal(ltx_restore_plan(f, 1, 9, 0, &plan, &pn, NULL, NULL), LTX_ERR_TX_NOT_AVAILABLE);
    /* huge TXIDs do not overflow cur+1 */
    ltx_fileinfo h[] = {F(0, 1, UINT64_MAX - 1, 1), F(0, UINT64_MAX, UINT64_MAX, 2)};
    expect_plan(h, 2, 0, 0, "L0:0000000000000001-fffffffffffffffe L0:ffffffffffffffff-ffffffffffffffff", UINT64_MAX);
}

/* ---- naive reference, written straight from the spec ------------------- */

static int ref_better(const ltx_fileinfo *c, const ltx_fileinfo *x) {
    if (x->max_txid != c->max_txid) return x->max_txid > c->max_txid;
    if (x->min_txid != c->min_txid) return x->min_txid < c->min_txid;
    if (x->level != c->level) return x->level > c->level;
    return x->created_ms < c->created_ms;
}

static int ref_pass(const ltx_fileinfo *f, uint64_t txid, int64_t t) {
    return (!txid || f->max_txid <= txid) && (!t || f->created_ms < t);
}

static ltx_err ref_plan(const ltx_fileinfo *f, size_t n, uint64_t txid, int64_t t, const ltx_fileinfo **plan,
                        size_t *pn) {
    *pn = 0;
    const ltx_fileinfo *snap = NULL;
    for (size_t i = 0; i < n; i++)
        if (f[i].level == 9 && f[i].min_txid == 1 && ref_pass(&f[i], txid, t) &&
            (!snap || f[i].max_txid > snap->max_txid ||
             (f[i].max_txid == snap->max_txid && f[i].created_ms < snap->created_ms)))
            snap = &f[i];
    uint64_t cur = 0;
    if (snap) {
        plan[(*pn)++] = snap;
        cur = snap->max_txid;
    }
    while (!(txid && cur >= txid)) {
        const ltx_fileinfo *best = NULL;
        for (size_t i = 0; i < n; i++)
            if (f[i].level < 9 && f[i].min_txid <= cur + 1 && f[i].max_txid > cur && ref_pass(&f[i], txid, t) &&
                (!best || ref_better(best, &f[i])))
                best = &f[i];
        if (!best) break;
        plan[(*pn)++] = best;
        cur = best->max_txid;
    }
    if (*pn && !txid && !t)
        for (size_t i = 0; i < n; i++)
            if (f[i].level < 9 && f[i].min_txid > cur + 1) return LTX_ERR_NONCONTIGUOUS;
    if (*pn == 0 || (txid && cur < txid)) return LTX_ERR_TX_NOT_AVAILABLE;
    return LTX_OK;
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void) { return tl_xorshift64(&rnd_state); }

static void test_random_vs_reference(void **state) {
    (void)state;
    enum { MAXN = 40 };
    ltx_fileinfo f[MAXN];
    const ltx_fileinfo *want[MAXN + 1];
    size_t ok = 0, errs = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % MAXN;
        for (size_t i = 0; i < n; i++) {
            int level = (int)(rnd() % 5);
            if (level == 3) level = 9;
            if (level == 4) level = (int)(rnd() % 9);
            uint64_t a = level == 9 ? 1 : 1 + rnd() % 20;
            uint64_t b = a + (level == 0 ? 0 : rnd() % 8);
            f[i] = F(level, a, b, (int64_t)(b * 10 + rnd() % 25));
        }
        uint64_t txid = 0;
        int64_t t = 0;
        switch (rnd() % 3) {
        case 1: txid = 1 + rnd() % 25; break;
        case 2: t = (int64_t)(1 + rnd() % 300); break;
        default: break;
        }
        size_t wn = 0;
        ltx_err wrc = ref_plan(f, n, txid, t, want, &wn);
        ltx_fileinfo *plan = NULL;
        size_t pn = 0;
        uint64_t r = 0;
        ltx_err rc = ltx_restore_plan(f, n, txid, t, &plan, &pn, &r, NULL);
        if (rc != wrc) fail_msg("iter %d: rc %s, reference %s", iter, ltx_err_code(rc), ltx_err_code(wrc));
        if (rc == LTX_OK) {
            assert_int_equal(pn, wn);
            for (size_t i = 0; i < pn; i++) {
                if (plan[i].level != want[i]->level || plan[i].min_txid != want[i]->min_txid ||
                    plan[i].max_txid != want[i]->max_txid || plan[i].created_ms != want[i]->created_ms)
                    fail_msg("iter %d: step %zu differs", iter, i);
            }
            assert_true(r == plan[pn - 1].max_txid);
            ok++;
        } else {
            errs++;
        }
        free(plan);
    }
    print_message("random: %zu plans, %zu errors, all equal to the reference\n", ok, errs);
    assert_true(ok > 1000 && errs > 1000);
}

/* ---- large synthetic replica -------------------------------------------- */

static void test_large(void **state) {
    (void)state;
    enum { TX = 200000 };
    size_t cap = TX + TX / 100 + TX / 1000 + 4, n = 0;
    ltx_fileinfo *f = malloc(cap * sizeof *f);
    assert_non_null(f);
    /* L0 for every TXID, L1 per 100 up to 199900, L2 per 1000 up to 190000,
     * a snapshot at 150000; listed in a scrambled order. */
    for (uint64_t t = 1; t <= TX; t++) f[n++] = F(0, t, t, (int64_t)t * 1000);
    for (uint64_t t = 1; t + 99 <= 199900; t += 100) f[n++] = F(1, t, t + 99, (int64_t)(t + 99) * 1000);
    for (uint64_t t = 1; t + 999 <= 190000; t += 1000) f[n++] = F(2, t, t + 999, (int64_t)(t + 999) * 1000);
    f[n++] = F(9, 1, 150000, 150000 * 1000 + 500);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rnd() % (i + 1);
        ltx_fileinfo tmp = f[i];
        f[i] = f[j];
        f[j] = tmp;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t r = 0;
    assert_int_equal(ltx_restore_plan(f, n, 0, 0, &plan, &pn, &r, NULL), LTX_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* L9 1-150000, L2 x40 to 190000, L1 x99 to 199900, L0 x100 */
    assert_int_equal(pn, 1 + 40 + 99 + 100);
    assert_true(r == TX);
    assert_int_equal(plan[0].level, 9);
    assert_int_equal(plan[1].level, 2);
    assert_true(plan[1].min_txid == 150001 && plan[1].max_txid == 151000);
    assert_int_equal(plan[41].level, 1);
    assert_true(plan[41].min_txid == 190001);
    assert_int_equal(plan[140].level, 0);
    assert_true(plan[140].min_txid == 199901);
    for (size_t i = 1; i < pn; i++) assert_true(plan[i].min_txid == plan[i - 1].max_txid + 1);
    free(plan);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("large: %zu files -> %zu-file plan in %.1f ms\n", n, pn, ms);

    /* by TXID in the middle of an L1 range: L9, L2 up to 160000, L1 to 160100, L0 */
    assert_int_equal(ltx_restore_plan(f, n, 160150, 0, &plan, &pn, &r, NULL), LTX_OK);
    assert_true(r == 160150);
    assert_int_equal(pn, 1 + 10 + 1 + 50);
    free(plan);
    /* by time before the snapshot */
    assert_int_equal(ltx_restore_plan(f, n, 0, 150000 * 1000 + 1, &plan, &pn, &r, NULL), LTX_OK);
    assert_true(r == 150000);
    assert_int_equal(plan[0].level, 2); /* L2 from 1, no snapshot yet (created at +500) */
    assert_int_equal(pn, 150);
    free(plan);
    /* drop an L0 file past the last L1: gap */
    for (size_t i = 0; i < n; i++)
        if (f[i].level == 0 && f[i].min_txid == 199950) f[i] = f[--n];
    assert_int_equal(ltx_restore_plan(f, n, 0, 0, &plan, &pn, &r, NULL), LTX_ERR_NONCONTIGUOUS);
    assert_null(plan);
    free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_plans), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_l0_chain),       cmocka_unit_test(test_gap),
        cmocka_unit_test(test_overlap_and_ties), cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
