/* test_vfs_write_driver.c - write mode (write=1) through the static library
 * against a running ltxpaged --write-token, for sanitizer runs (ASan,
 * UBSan, LSan through tests/test_vfs_write_driver.py).
 *
 * usage: test_vfs_write_driver SERVER TOKEN DB SYNC_INTERVAL ROUNDS
 *
 * Creates DB (mode=rwc), runs ROUNDS transactions of inserts, updates and
 * deletes (a ROLLBACK every 10th, a VACUUM half way) on the VFS and on an
 * in-memory mirror, compares them, syncs, and checks that a read-only
 * connection sees the mirror at the synced TXID with integrity_check ok.
 * Exit 0 only if every check passed.
 */
#include "ltxhttp.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long g_checks, g_failures;

static void check(int cond, const char *what, const char *detail) {
    g_checks++;
    if (!cond) {
        g_failures++;
        printf("FAIL: %s: %s\n", what, detail ? detail : "");
    }
}

static int run(sqlite3 *db, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) printf("FAIL: %s: %s (%d)\n", sql, err ? err : "?", sqlite3_extended_errcode(db));
    g_failures += rc != SQLITE_OK;
    sqlite3_free(err);
    return rc;
}

/* First column of the first row of sql as text (malloc'd), or NULL. */
static char *one(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static const char *SUMMARY = "SELECT count(*) || ':' || total(n) || ':' || total(length(v)) || ':' || "
                             "(SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id)) FROM t";

static int same(sqlite3 *a, sqlite3 *b, const char *what) {
    char *x = one(a, SUMMARY), *y = one(b, SUMMARY);
    int eq = x && y && strcmp(x, y) == 0;
    check(eq, what, x ? x : "(null)");
    free(x);
    free(y);
    return eq;
}

/* Transaction i on both databases (ROLLBACK every 10th). */
static void round_on(sqlite3 *db, int i) {
    char sql[512];
    run(db, "BEGIN");
    snprintf(sql, sizeof sql,
             "INSERT INTO t(v, n) SELECT zeroblob(%d), %d FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3);"
             "UPDATE t SET n = n + 1 WHERE id %% 5 = %d; DELETE FROM t WHERE id %% 17 = %d;",
             100 + (i * 37) % 3000, i, i % 5, i % 17);
    run(db, sql);
    run(db, i % 10 == 9 ? "ROLLBACK" : "COMMIT");
}

/* Error paths: a stale snapshot (SQLITE_BUSY_SNAPSHOT, then a retry) and a
 * transaction over write_buffer (SQLITE_FULL, undone). */
static void error_paths(const char *uri, sqlite3 *w, sqlite3 *m) {
    char small[1200];
    snprintf(small, sizeof small, "%s&write_buffer=256K&sync_interval=1h", uri);
    sqlite3 *b = NULL, *f = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI; /* the URI says mode=rwc */
    check(sqlite3_open_v2(uri, &b, flags, NULL) == SQLITE_OK, "open a second writer", NULL);
    run(b, "BEGIN; SELECT count(*) FROM t;"); /* b's snapshot */
    run(w, "INSERT INTO t(v, n) VALUES (zeroblob(10), -1)");
    run(m, "INSERT INTO t(v, n) VALUES (zeroblob(10), -1)");
    int rc = sqlite3_exec(b, "INSERT INTO t(v, n) VALUES (zeroblob(10), -2); COMMIT", NULL, NULL, NULL);
    check(sqlite3_extended_errcode(b) == SQLITE_BUSY_SNAPSHOT, "stale snapshot: SQLITE_BUSY_SNAPSHOT",
          sqlite3_errmsg(b));
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(b)) sqlite3_exec(b, "ROLLBACK", NULL, NULL, NULL);
    run(b, "INSERT INTO t(v, n) VALUES (zeroblob(10), -2)"); /* the retry, on the refreshed base */
    run(m, "INSERT INTO t(v, n) VALUES (zeroblob(10), -2)");
    same(b, m, "the retry sees both commits");
    sqlite3_close(b);
    check(sqlite3_open_v2(small, &f, flags, NULL) == SQLITE_OK, "open a small-buffer writer", NULL);
    rc = sqlite3_exec(f, "INSERT INTO t(v, n) VALUES (randomblob(1000000), -3)", NULL, NULL, NULL);
    check(rc == SQLITE_FULL, "over write_buffer: SQLITE_FULL", sqlite3_errmsg(f));
    same(f, m, "after SQLITE_FULL nothing changed");
    sqlite3_close(f);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s SERVER TOKEN DB SYNC_INTERVAL ROUNDS\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[5]);
    if (ltxhttp_register() != SQLITE_OK) return 2;
    char uri[1024], ruri[1024];
    snprintf(uri, sizeof uri, "file:%s?vfs=ltxhttp&server=%s&token=%s&write=1&mode=rwc&sync_interval=%s&log=0",
             argv[3], argv[1], argv[2], argv[4]);
    snprintf(ruri, sizeof ruri, "file:%s?vfs=ltxhttp&server=%s&token=%s", argv[3], argv[1], argv[2]);
    sqlite3 *w = NULL, *m = NULL, *r = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
    check(sqlite3_open_v2(uri, &w, flags, NULL) == SQLITE_OK, "open the writer", w ? sqlite3_errmsg(w) : NULL);
    check(sqlite3_open(":memory:", &m) == SQLITE_OK, "open the mirror", NULL);
    const char *schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB, n INTEGER); CREATE INDEX t_n ON t(n);";
    if (g_failures == 0 && run(w, schema) == SQLITE_OK && run(m, schema) == SQLITE_OK) {
        for (int i = 0; i < rounds; i++) {
            round_on(w, i);
            round_on(m, i);
            if (i == rounds / 2) {
                run(w, "DELETE FROM t WHERE id % 2 = 0; VACUUM");
                run(m, "DELETE FROM t WHERE id % 2 = 0; VACUUM");
            }
        }
        same(w, m, "the writer reads its own writes");
        if (strcmp(argv[4], "0") == 0) error_paths(uri, w, m);
        char *ic = one(w, "PRAGMA integrity_check");
        check(ic && strcmp(ic, "ok") == 0, "writer integrity_check", ic);
        free(ic);
        char *txid = one(w, "PRAGMA ltxhttp_sync");
        check(txid != NULL, "PRAGMA ltxhttp_sync", sqlite3_errmsg(w));
        check(sqlite3_open_v2(ruri, &r, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK, "open a reader",
              NULL);
        char *seen = NULL;
        for (int k = 0; k < 500 && txid; k++) { /* the reader's watcher catches up within 10 s */
            free(seen);
            seen = one(r, "PRAGMA ltxhttp_txid");
            if (seen && strcmp(seen, txid) >= 0) break;
            struct timespec ts = {0, 20000000L};
            nanosleep(&ts, NULL);
        }
        check(seen && txid && strcmp(seen, txid) >= 0, "the reader reaches the synced TXID", seen);
        same(r, m, "the reader sees the mirror");
        ic = one(r, "PRAGMA integrity_check");
        check(ic && strcmp(ic, "ok") == 0, "reader integrity_check", ic);
        free(ic);
        free(seen);
        free(txid);
    }
    sqlite3_close(r);
    sqlite3_close(w);
    sqlite3_close(m);
    printf("test_vfs_write_driver %s: %ld checks, %ld failures\n", argv[3], g_checks, g_failures);
    return g_failures ? 1 : 0;
}
