/* vfs_lookup.c - random primary-key lookups through SQLite, on a local file
 * or through the ltxhttp VFS, printing one JSON line of results.
 *
 *   vfs_lookup --db URI [--vfs ltxhttp] [--lookups N] [--per-tx K] [--max-id M]
 *              [--sql SQL] [--warm-sql SQL] [--reopen] [--duration S --rate R]
 *              [--seed S] [--label TEXT] [--mark S]
 *
 * --db is passed to sqlite3_open_v2 with SQLITE_OPEN_URI|READONLY, e.g.
 * 'file:app.db?vfs=ltxhttp&server=http://127.0.0.1:7070' or a local path.
 * Each transaction is BEGIN; K x (SQL with ?1 = random id in 1..M); COMMIT.
 * --warm-sql runs once before timing (e.g. a full scan to warm caches).
 * --reopen opens a new connection for every transaction (timed).
 * --duration/--rate: paced mode (R transactions per second for S seconds),
 * used as a simulated reader by the object-store economy benchmark; --mark S
 * also snapshots the counters S seconds in and reports "stats_since_mark".
 * Counters from PRAGMA ltxhttp_stats (when the VFS is used) are reported as
 * "stats": the difference between after and before the timed part.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#ifdef BENCH_HAVE_VFS
int ltxhttp_register(void);
#endif

#define MAX_STATS 32

typedef struct {
    char name[48];
    double v;
} stat_kv;

typedef struct {
    stat_kv kv[MAX_STATS];
    int n;
    char raw[1024];
} stats;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void stats_add(stats *s, const char *name, double v) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->kv[i].name, name)) {
            s->kv[i].v += v;
            return;
        }
    if (s->n >= MAX_STATS) return;
    snprintf(s->kv[s->n].name, sizeof s->kv[s->n].name, "%s", name);
    s->kv[s->n].v = v;
    s->n++;
}

/* Pull "name <non-alnum>* number" pairs out of free text (k=v, JSON, ...). */
static void stats_parse_text(stats *s, const char *t) {
    const char *p = t;
    while (*p) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') {
            char name[48];
            size_t n = 0;
            while (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                    (*p >= '0' && *p <= '9')) && n + 1 < sizeof name)
                name[n++] = *p++;
            name[n] = 0;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (*p >= '0' && *p <= '9'))
                p++;
            if (*p == '"') p++; /* closing quote of a JSON key */
            while (*p == ' ' || *p == '=' || *p == ':' || *p == '\t') p++;
            if (*p == '"') { /* a string value (e.g. a hex TXID): skip it */
                p++;
                while (*p && *p != '"') p++;
                if (*p) p++;
                continue;
            }
            if ((*p >= '0' && *p <= '9') || *p == '-') {
                char *end;
                double v = strtod(p, &end);
                if (end != p) {
                    stats_add(s, name, v);
                    p = end;
                }
            }
        } else {
            p++;
        }
    }
}

static void read_stats(sqlite3 *db, stats *s) {
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA ltxhttp_stats", -1, &st, NULL) != SQLITE_OK) return;
    size_t rl = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int nc = sqlite3_column_count(st);
        if (nc == 2 && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
            (sqlite3_column_type(st, 1) == SQLITE_INTEGER || sqlite3_column_type(st, 1) == SQLITE_FLOAT)) {
            stats_add(s, (const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1));
            continue;
        }
        for (int c = 0; c < nc; c++) {
            const char *cn = sqlite3_column_name(st, c);
            int ty = sqlite3_column_type(st, c);
            if (ty == SQLITE_INTEGER || ty == SQLITE_FLOAT) {
                stats_add(s, cn ? cn : "col", sqlite3_column_double(st, c));
            } else if (ty == SQLITE_TEXT) {
                const char *t = (const char *)sqlite3_column_text(st, c);
                if (t) {
                    stats_parse_text(s, t);
                    int w = snprintf(s->raw + rl, sizeof s->raw - rl, "%s%s", rl ? " " : "", t);
                    if (w > 0 && (size_t)w < sizeof s->raw - rl) rl += (size_t)w;
                }
            }
        }
    }
    sqlite3_finalize(st);
}

static void stats_diff_into(stats *acc, const stats *after, const stats *before) {
    for (int i = 0; i < after->n; i++) {
        double b = 0;
        for (int j = 0; j < before->n; j++)
            if (!strcmp(before->kv[j].name, after->kv[i].name)) b = before->kv[j].v;
        stats_add(acc, after->kv[i].name, after->kv[i].v - b);
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return v[i - 1];
}

static void json_str(const char *s) {
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static sqlite3 *open_db(const char *uri, const char *vfs) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, vfs);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "vfs_lookup: open %s: %s\n", uri, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void usage(void) {
    fprintf(stderr, "usage: vfs_lookup --db URI [--vfs NAME] [--lookups N] [--per-tx K] [--max-id M] [--sql SQL]\n"
                    "                  [--warm-sql SQL] [--reopen] [--duration S --rate R] [--seed S] [--label T]\n");
}

/* "name":{"k":v,...} for one set of counters. */
static void print_stats(const char *name, const stats *s) {
    printf(",");
    json_str(name);
    printf(":{");
    for (int i = 0; i < s->n; i++) {
        if (i) putchar(',');
        json_str(s->kv[i].name);
        printf(":%.0f", s->kv[i].v);
    }
    printf("}");
}

/* 0 on success, else usage was printed. */
static int parse_args(int argc, char **argv, const char **uri, const char **vfs, const char **sql,
                      const char **warm, const char **label, long *lookups, long *per_tx, long *max_id,
                      long *reopen, double *duration, double *rate, double *mark_at, unsigned long long *seed) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--reopen")) { *reopen = 1; continue; }
        if (!v) { usage(); return 2; }
        i++;
        if (!strcmp(a, "--db")) *uri = v;
        else if (!strcmp(a, "--vfs")) *vfs = v;
        else if (!strcmp(a, "--lookups")) *lookups = atol(v);
        else if (!strcmp(a, "--per-tx")) *per_tx = atol(v);
        else if (!strcmp(a, "--max-id")) *max_id = atol(v);
        else if (!strcmp(a, "--sql")) *sql = v;
        else if (!strcmp(a, "--warm-sql")) *warm = v;
        else if (!strcmp(a, "--duration")) *duration = atof(v);
        else if (!strcmp(a, "--rate")) *rate = atof(v);
        else if (!strcmp(a, "--seed")) *seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--label")) *label = v;
        else if (!strcmp(a, "--mark")) *mark_at = atof(v);
        else { usage(); return 2; }
    }
    if (!*uri || *lookups <= 0 || *per_tx <= 0 || (*duration > 0) != (*rate > 0)) { usage(); return 2; }
    return 0;
}

/* max(id) of t when *max_id is not given, then the warm-up SQL (timed in
 * *t_warm); 0 or 1 with a message printed. */
static int prepare_db(sqlite3 *db, long *max_id, const char *warm, double *t_warm) {
    if (*max_id <= 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT max(id) FROM t", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            *max_id = (long)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (*max_id <= 0) {
            fprintf(stderr, "vfs_lookup: cannot find max(id) of t: %s\n", sqlite3_errmsg(db));
            return 1;
        }
    }
    *t_warm = 0;
    if (warm) {
        double t0 = now_s();
        char *err = NULL;
        if (sqlite3_exec(db, warm, NULL, NULL, &err) != SQLITE_OK) {
            fprintf(stderr, "vfs_lookup: warm: %s\n", err ? err : "?");
            sqlite3_free(err);
            return 1;
        }
        *t_warm = now_s() - t0;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *uri = NULL, *vfs = NULL, *sql = "SELECT v FROM t WHERE id=?1", *warm = NULL, *label = "";
    long lookups = 10000, per_tx = 1, max_id = 0, reopen = 0;
    double duration = 0, rate = 0, mark_at = 0;
    unsigned long long seed = 1;
    if (parse_args(argc, argv, &uri, &vfs, &sql, &warm, &label, &lookups, &per_tx, &max_id, &reopen, &duration,
                   &rate, &mark_at, &seed) != 0)
        return 2;
    rng_state ^= seed * 0x9e3779b97f4a7c15ull;
    if (!rng_state) rng_state = 1;
#ifdef BENCH_HAVE_VFS
    if (ltxhttp_register() != 0) {
        fprintf(stderr, "vfs_lookup: ltxhttp_register failed\n");
        return 1;
    }
#else
    if (strstr(uri, "vfs=ltxhttp") || (vfs && !strcmp(vfs, "ltxhttp"))) {
        fprintf(stderr, "vfs_lookup: built without the ltxhttp VFS (client-vfs missing)\n");
        return 1;
    }
#endif
    sqlite3 *db = open_db(uri, vfs);
    if (!db) return 1;
    double t_warm = 0;
    if (prepare_db(db, &max_id, warm, &t_warm) != 0) {
        sqlite3_close(db);
        return 1;
    }
    /* stats: last counters minus the first (process-wide counters);
     * stats_sum: sum over the connections of --reopen (per-connection ones). */
    stats before, after, diff, sumconn, zero, mark, since_mark;
    int marked = 0;
    memset(&mark, 0, sizeof mark);
    memset(&since_mark, 0, sizeof since_mark);
    memset(&diff, 0, sizeof diff);
    memset(&sumconn, 0, sizeof sumconn);
    memset(&zero, 0, sizeof zero);
    read_stats(db, &before);
    after = before;
    if (reopen) { /* cold: nothing of ours stays open between transactions */
        sqlite3_close(db);
        db = NULL;
    }

    long ntx = duration > 0 ? (long)(duration * rate) + 1 : (lookups + per_tx - 1) / per_tx;
    double *lat = calloc((size_t)ntx, sizeof *lat);
    if (!lat) { sqlite3_close(db); return 1; }
    long done_tx = 0, done_lookups = 0, errors = 0, rows = 0;
    sqlite3_stmt *st = NULL;
    sqlite3 *cur = db;
    double t_start = now_s();
    for (long t = 0; t < ntx; t++) {
        if (duration > 0) {
            double due = t_start + (double)t / rate;
            double now = now_s();
            if (now - t_start >= duration) break;
            if (due > now) usleep((useconds_t)((due - now) * 1e6));
            if (mark_at > 0 && !marked && !reopen && now_s() - t_start >= mark_at) {
                read_stats(db, &mark);
                marked = 1;
            }
        }
        double t0 = now_s();
        if (reopen) {
            cur = open_db(uri, vfs);
            if (!cur) { errors++; continue; }
        }
        if (sqlite3_prepare_v2(cur, sql, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "vfs_lookup: prepare: %s\n", sqlite3_errmsg(cur));
            errors++;
            if (reopen) sqlite3_close(cur);
            break;
        }
        if (per_tx > 1) sqlite3_exec(cur, "BEGIN", NULL, NULL, NULL);
        for (long k = 0; k < per_tx && done_lookups < (duration > 0 ? 1L << 62 : lookups); k++) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)(rnd() % (uint64_t)max_id) + 1);
            int rc;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) rows++;
            if (rc != SQLITE_DONE) {
                if (errors++ < 5) fprintf(stderr, "vfs_lookup: step: %s\n", sqlite3_errmsg(cur));
            }
            sqlite3_reset(st);
            done_lookups++;
        }
        if (per_tx > 1) sqlite3_exec(cur, "COMMIT", NULL, NULL, NULL);
        sqlite3_finalize(st);
        st = NULL;
        if (reopen) {
            read_stats(cur, &after);
            stats_diff_into(&sumconn, &after, &zero);
            sqlite3_close(cur);
            cur = NULL;
        }
        lat[done_tx++] = now_s() - t0;
    }
    double elapsed = now_s() - t_start;
    if (!reopen) read_stats(db, &after);
    stats_diff_into(&diff, &after, &before);
    if (marked) stats_diff_into(&since_mark, &after, &mark);
    qsort(lat, (size_t)done_tx, sizeof *lat, cmp_d);
    double sum = 0;
    for (long i = 0; i < done_tx; i++) sum += lat[i];

    printf("{\"label\":");
    json_str(label);
    printf(",\"transactions\":%ld,\"lookups\":%ld,\"per_tx\":%ld,\"rows\":%ld,\"errors\":%ld,\"seconds\":%.6f,"
           "\"lookups_per_sec\":%.1f,\"tx_mean_us\":%.1f,\"tx_p50_us\":%.1f,\"tx_p99_us\":%.1f,\"warm_seconds\":%.3f,"
           "\"reopen\":%ld",
           done_tx, done_lookups, per_tx, rows, errors, elapsed, elapsed > 0 ? (double)done_lookups / elapsed : 0,
           done_tx ? sum / (double)done_tx * 1e6 : 0, pct(lat, (size_t)done_tx, 50) * 1e6,
           pct(lat, (size_t)done_tx, 99) * 1e6, t_warm, reopen);
    print_stats("stats", &diff);
    print_stats("stats_sum", &sumconn);
    print_stats("stats_since_mark", &since_mark);
    printf(",\"stats_raw\":");
    json_str(after.raw);
    printf("}\n");
    free(lat);
    sqlite3_close(db);
    return errors ? 1 : 0;
}
