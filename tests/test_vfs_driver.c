/* test_vfs_driver.c - drives the ltxhttp VFS (static library) against a
 * running ltxpaged, for leak/sanitizer runs and result checks.
 *
 * usage: test_vfs_driver SERVER DB ROUNDS THREADS TXID=STATE.db [TXID=STATE.db ...]
 *        test_vfs_driver live SERVER DB TIMEOUT_S 1 TXID=STATE.db ...
 *
 * Each round, each thread opens its own connection through vfs=ltxhttp and,
 * for every TXID=STATE pair (from manifest.json, passed by
 * tests/test_vfs_driver.py), time-travels with PRAGMA ltxhttp_txid, runs
 * PRAGMA integrity_check and compares every table's full contents with the
 * state database opened locally (with a 256 KiB shared cache, so pages are
 * evicted and refetched all the time). It also checks that writes are refused, that
 * a bad TXID gives an error, and that the latest TXID equals the last pair's.
 * Exit status 0 only if every check passed; each failure is printed.
 */
#include "ltxhttp.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const char *txid;
  const char *state;
} pair_t;

static const char *g_server, *g_db;
static int g_rounds, g_npairs;
static pair_t *g_pairs;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_checks, g_failures;

static void check(int cond, const char *fmt, const char *a, const char *b) {
  pthread_mutex_lock(&g_mu);
  g_checks++;
  if (!cond) {
    g_failures++;
    fprintf(stderr, "FAIL: ");
    fprintf(stderr, fmt, a ? a : "(null)", b ? b : "(null)");
    fprintf(stderr, "\n");
  }
  pthread_mutex_unlock(&g_mu);
}

/* First column of the first row as a malloc'd string, or NULL (+ *err). */
static char *one(sqlite3 *db, const char *sql, char **err) {
  sqlite3_stmt *st = NULL;
  char *out = NULL;
  *err = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    out = strdup(t ? (const char *)t : "");
  } else if (rc != SQLITE_DONE) {
    *err = strdup(sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return out;
}

/* Append every row of every table (in schema name order) to a growing text. */
typedef struct {
  char *p;
  size_t n, cap;
} sbuf;

static int sb_add(sbuf *b, const void *d, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 65536;
    while (nc < b->n + n + 1) nc *= 2;
    if (nc > (size_t)512 * 1024 * 1024) return -1;
    char *np = realloc(b->p, nc);
    if (!np) return -1;
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

static int dump(sqlite3 *db, sbuf *b, char **err) {
  sqlite3_stmt *t = NULL;
  *err = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_schema WHERE type='table' ORDER BY name", -1, &t, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(t)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(t, 0);
    const char *sql = (const char *)sqlite3_column_text(t, 1);
    sb_add(b, name, strlen(name));
    sb_add(b, "\n", 1);
    if (sql) sb_add(b, sql, strlen(sql));
    char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", name);
    sqlite3_stmt *s = NULL;
    int r2 = sqlite3_prepare_v2(db, q, -1, &s, NULL);
    sqlite3_free(q);
    while (r2 == SQLITE_OK || r2 == SQLITE_ROW) {
      if ((r2 = sqlite3_step(s)) != SQLITE_ROW) break;
      int nc = sqlite3_column_count(s);
      for (int i = 0; i < nc; i++) {
        char ty = (char)('0' + sqlite3_column_type(s, i));
        sb_add(b, &ty, 1);
        const void *v = sqlite3_column_blob(s, i);
        int n = sqlite3_column_bytes(s, i);
        if (v && n > 0) sb_add(b, v, (size_t)n);
        sb_add(b, "|", 1);
      }
      sb_add(b, "\n", 1);
    }
    if (r2 != SQLITE_DONE) {
      *err = strdup(sqlite3_errmsg(db));
      sqlite3_finalize(s);
      sqlite3_finalize(t);
      return -1;
    }
    sqlite3_finalize(s);
    rc = SQLITE_OK;
  }
  if (rc != SQLITE_DONE) *err = strdup(sqlite3_errmsg(db));
  sqlite3_finalize(t);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void check_pair(sqlite3 *db, const pair_t *p) {
  char *err = NULL;
  char sql[128];
  snprintf(sql, sizeof sql, "PRAGMA ltxhttp_txid='%s'", p->txid);
  char *got = one(db, sql, &err);
  check(got && err == NULL, "pragma ltxhttp_txid=%s failed: %s", p->txid, err);
  free(got);
  free(err);
  got = one(db, "PRAGMA ltxhttp_txid", &err);
  check(got && strcmp(got, p->txid) == 0, "pinned TXID %s, want %s", got, p->txid);
  free(got);
  free(err);
  got = one(db, "PRAGMA integrity_check", &err);
  check(got && strcmp(got, "ok") == 0, "integrity_check at %s: %s", p->txid, got ? got : err);
  free(got);
  free(err);

  sqlite3 *local = NULL;
  char *uri = sqlite3_mprintf("file:%s?mode=ro&immutable=1", p->state);
  int rc = sqlite3_open_v2(uri, &local, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  sqlite3_free(uri);
  check(rc == SQLITE_OK, "open local state %s: %s", p->state, local ? sqlite3_errmsg(local) : "?");
  sbuf a = {0}, b = {0};
  char *ea = NULL, *eb = NULL;
  int ra = dump(db, &a, &ea);
  int rb = rc == SQLITE_OK ? dump(local, &b, &eb) : -1;
  check(ra == 0, "dump remote at %s: %s", p->txid, ea);
  check(rb == 0, "dump local %s: %s", p->state, eb);
  check(ra == 0 && rb == 0 && a.n == b.n && a.n > 0 && memcmp(a.p, b.p, a.n) == 0,
        "contents at TXID %s differ from %s", p->txid, p->state);
  free(ea);
  free(eb);
  free(a.p);
  free(b.p);
  sqlite3_close(local);
}

static void *worker(void *arg) {
  long id = (long)arg;
  for (int r = 0; r < g_rounds; r++) {
    sqlite3 *db = NULL;
    char *uri = sqlite3_mprintf("file:%s?vfs=ltxhttp&server=%s&cache_size=256K&readahead=%d", g_db, g_server, (int)((id + r) % 3) * 16);
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    sqlite3_free(uri);
    check(rc == SQLITE_OK, "open %s: %s", g_db, db ? sqlite3_errmsg(db) : "?");
    if (rc != SQLITE_OK) {
      sqlite3_close(db);
      return NULL;
    }
    /* Latest first: it must be the last pair's TXID. */
    char *err = NULL;
    char *latest = one(db, "PRAGMA ltxhttp_txid", &err);
    check(latest && strcmp(latest, g_pairs[g_npairs - 1].txid) == 0, "latest TXID %s, want %s", latest,
          g_pairs[g_npairs - 1].txid);
    free(latest);
    free(err);
    /* Every pair, in a rotating order per thread/round. */
    for (int i = 0; i < g_npairs; i++) check_pair(db, &g_pairs[(i + r + id) % g_npairs]);
    /* Writes are refused cleanly. */
    rc = sqlite3_exec(db, "CREATE TABLE driver_nope(x)", NULL, NULL, NULL);
    check(rc == SQLITE_READONLY, "CREATE answered %s (%s), want SQLITE_READONLY", sqlite3_errstr(rc),
          sqlite3_errmsg(db));
    /* A TXID the server never had is an error, and the connection still works. */
    char *bad = one(db, "PRAGMA ltxhttp_txid='7fffffffffffffff'", &err);
    check(bad == NULL && err && strstr(err, "ltxhttp"), "bad TXID answered %s / %s", bad, err);
    free(bad);
    free(err);
    char *back = one(db, "PRAGMA ltxhttp_txid='latest'", &err);
    check(back && strcmp(back, g_pairs[g_npairs - 1].txid) == 0, "back to latest gave %s, want %s", back,
          g_pairs[g_npairs - 1].txid);
    free(back);
    free(err);
    char *stats = one(db, "PRAGMA ltxhttp_stats", &err);
    check(stats && strstr(stats, "\"hits\":"), "stats: %s %s", stats, err);
    if (r == g_rounds - 1 && id == 0) printf("stats thread 0 last round: %s\n", stats ? stats : "-");
    free(stats);
    free(err);
    rc = sqlite3_close(db);
    check(rc == SQLITE_OK, "close: %s%s", sqlite3_errstr(rc), "");
  }
  return NULL;
}

/* Local state dump for pair i. */
static int state_dump(int i, sbuf *out) {
  sqlite3 *local = NULL;
  char *err = NULL;
  char *uri = sqlite3_mprintf("file:%s?mode=ro&immutable=1", g_pairs[i].state);
  int rc = sqlite3_open_v2(uri, &local, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  sqlite3_free(uri);
  if (rc == SQLITE_OK) rc = dump(local, out, &err);
  free(err);
  sqlite3_close(local);
  return rc;
}

static int find_pair(const char *txid) {
  for (int i = 0; txid && i < g_npairs; i++)
    if (strcmp(g_pairs[i].txid, txid) == 0) return i;
  return -1;
}

static int same_as_state(sqlite3 *db, int i) {
  sbuf a = {0}, b = {0};
  char *err = NULL;
  int ok = dump(db, &a, &err) == 0 && state_dump(i, &b) == 0 && a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
  if (err) fprintf(stderr, "dump: %s\n", err);
  free(err);
  free(a.p);
  free(b.p);
  return ok;
}

/* live SERVER DB TIMEOUT_S pairs...: the test adds TXIDs while we watch. A
 * reader must see each TXID it observes with exactly that state's contents;
 * a transaction opened at the start keeps its snapshot throughout. */
static int live_main(int timeout_s) {
  sqlite3 *rd = NULL, *lt = NULL;
  char *uri = sqlite3_mprintf("file:%s?vfs=ltxhttp&server=%s", g_db, g_server);
  int rc = sqlite3_open_v2(uri, &rd, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_open_v2(uri, &lt, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  sqlite3_free(uri);
  check(rc == SQLITE_OK, "live open: %s%s", sqlite3_errstr(rc), "");
  char *err = NULL;
  check(sqlite3_exec(lt, "BEGIN", NULL, NULL, NULL) == SQLITE_OK, "BEGIN%s%s", "", "");
  char *snap_txid = one(lt, "PRAGMA ltxhttp_txid", &err);
  free(err);
  err = NULL;
  sbuf snap = {0};
  int drc = dump(lt, &snap, &err);
  check(drc == 0, "long txn dump: %s%s", err, "");
  free(err);
  int si = find_pair(snap_txid);
  check(si >= 0 && same_as_state(lt, si), "long txn start TXID %s is a known state with its contents%s", snap_txid, "");
  int seen = 0, last = -1;
  time_t end = time(NULL) + timeout_s;
  while (time(NULL) < end && last != g_npairs - 1) {
    char *t = one(rd, "SELECT count(*) FROM sqlite_schema", &err);
    free(t);
    free(err);
    t = one(rd, "PRAGMA ltxhttp_txid", &err);
    free(err);
    int i = find_pair(t);
    if (i != last) {
      check(i > last, "TXID went from index %s to %s", last >= 0 ? g_pairs[last].txid : "-", t);
      check(i >= 0 && same_as_state(rd, i), "live contents at %s equal %s", t, i >= 0 ? g_pairs[i].state : "?");
      char *lt_t = one(lt, "PRAGMA ltxhttp_txid", &err);
      free(err);
      check(lt_t && snap_txid && strcmp(lt_t, snap_txid) == 0, "long txn TXID %s, want %s", lt_t, snap_txid);
      free(lt_t);
      sbuf now = {0};
      int d = dump(lt, &now, &err);
      free(err);
      check(d == 0 && now.n == snap.n && memcmp(now.p, snap.p, snap.n) == 0, "long txn keeps its answer at %s%s", t, "");
      free(now.p);
      last = i;
      seen++;
    }
    free(t);
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  check(last == g_npairs - 1, "reader reached the last TXID %s (last seen index %s)", g_pairs[g_npairs - 1].txid,
        last >= 0 ? g_pairs[last].txid : "-");
  check(sqlite3_exec(lt, "COMMIT", NULL, NULL, NULL) == SQLITE_OK, "COMMIT%s%s", "", "");
  char *after = one(lt, "PRAGMA ltxhttp_txid", &err);
  free(err);
  check(after && strcmp(after, g_pairs[g_npairs - 1].txid) == 0, "after COMMIT TXID %s, want %s", after,
        g_pairs[g_npairs - 1].txid);
  free(after);
  printf("live: saw %d TXIDs\n", seen);
  free(snap.p);
  free(snap_txid);
  sqlite3_close(rd);
  sqlite3_close(lt);
  return 0;
}

int main(int argc, char **argv) {
  int live = argc > 1 && strcmp(argv[1], "live") == 0;
  if (live) {
    argv++;
    argc--;
  }
  if (argc < 6) {
    fprintf(stderr, "usage: %s SERVER DB ROUNDS THREADS TXID=STATE.db...\n", argv[0]);
    return 2;
  }
  g_server = argv[1];
  g_db = argv[2];
  g_rounds = atoi(argv[3]);
  int threads = atoi(argv[4]);
  if (g_rounds < 1 || threads < 1 || threads > 16) {
    fprintf(stderr, "bad ROUNDS/THREADS\n");
    return 2;
  }
  g_npairs = argc - 5;
  g_pairs = calloc((size_t)g_npairs, sizeof *g_pairs);
  if (!g_pairs) return 2;
  for (int i = 0; i < g_npairs; i++) {
    char *eq = strchr(argv[5 + i], '=');
    if (!eq) {
      fprintf(stderr, "bad pair %s\n", argv[5 + i]);
      return 2;
    }
    *eq = 0;
    g_pairs[i].txid = argv[5 + i];
    g_pairs[i].state = eq + 1;
  }
  int rc = ltxhttp_register();
  if (rc != SQLITE_OK) {
    fprintf(stderr, "ltxhttp_register: %d\n", rc);
    return 1;
  }
  check(ltxhttp_register() == SQLITE_OK, "second register %s%s", "", "");
  check(sqlite3_vfs_find("ltxhttp") != NULL, "vfs %s not found%s", "ltxhttp", "");

  /* Unknown database: CANTOPEN, quickly, with a clear message. */
  sqlite3 *db = NULL;
  char *uri = sqlite3_mprintf("file:no-such-db.db?vfs=ltxhttp&server=%s&log=0", g_server);
  rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  sqlite3_free(uri);
  check(rc == SQLITE_CANTOPEN, "open unknown db answered %s (%s)", sqlite3_errstr(rc), db ? sqlite3_errmsg(db) : "");
  sqlite3_close(db);

  if (live) {
    live_main(g_rounds);
    free(g_pairs);
    printf("test_vfs_driver: %ld checks, %ld failures\n", g_checks, g_failures);
    return g_failures || g_checks == 0 ? 1 : 0;
  }
  pthread_t th[16];
  for (long i = 0; i < threads; i++) pthread_create(&th[i], NULL, worker, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  free(g_pairs);
  printf("test_vfs_driver: %ld checks, %ld failures\n", g_checks, g_failures);
  return g_failures || g_checks == 0 ? 1 : 0;
}
