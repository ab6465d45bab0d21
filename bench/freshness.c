/* freshness.c - time from an L0 file appearing in a replica to a client
 * transaction (through the ltxhttp VFS) seeing its data.
 *
 *   freshness --uri URI --prepared DIR --replica REPLICA [--from K] [--count N]
 *             [--gap-ms MIN:MAX] [--sql SQL] [--timeout-s S] [--label TEXT]
 *
 * DIR holds a prepared chain written by `ltxgen updates` with
 * --sql 'UPDATE t SET v=?1 WHERE id=1': its k-th file (1-based, sorted by
 * name) sets v = k. A writer thread places files K..K+N-1 one at a time
 * into REPLICA/ltx/0/ (copy to a ".tmp" name, then rename: the file appears
 * atomically), waiting a random gap between MIN and MAX ms before each, and
 * records the time of each rename. The main thread runs SQL (default
 * 'SELECT v FROM t WHERE id=1') in a new read transaction every millisecond;
 * when it first sees v >= k, the latency of file k is now - placed[k].
 * Prints one JSON line: count, seen, p50/p90/p99/max/mean in ms.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

int ltxhttp_register(void);

#define MAX_FILES 100000

static char **g_names;
static size_t g_nnames;
static const char *g_prepared, *g_replica;
static long g_from = 1, g_count = 100, g_gap_min = 500, g_gap_max = 1500;
static double *g_placed; /* monotonic seconds, index k (1-based) */
static _Atomic long g_last_placed;
static _Atomic int g_writer_failed;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY);
    if (in < 0) return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)r) != r) {
            rc = -1;
            break;
        }
    }
    if (r < 0) rc = -1;
    struct stat st;
    if (fstat(in, &st) == 0) { /* keep the header timestamp as mtime */
        struct timespec t[2] = {st.st_mtim, st.st_mtim};
        futimens(out, t);
    }
    close(in);
    close(out);
    return rc;
}

static void *writer(void *arg) {
    (void)arg;
    char dir[4096], src[4400], tmp[4400], dst[4400];
    snprintf(dir, sizeof dir, "%s/ltx/0", g_replica);
    mkdir(dir, 0755);
    unsigned seed = (unsigned)time(NULL);
    for (long k = g_from; k < g_from + g_count; k++) {
        long gap = g_gap_min + (g_gap_max > g_gap_min ? rand_r(&seed) % (g_gap_max - g_gap_min + 1) : 0);
        usleep((useconds_t)gap * 1000);
        const char *name = g_names[k - 1];
        snprintf(src, sizeof src, "%s/%s", g_prepared, name);
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        if (copy_file(src, tmp) != 0) {
            fprintf(stderr, "freshness: copy %s: %s\n", src, strerror(errno));
            atomic_store(&g_writer_failed, 1);
            return NULL;
        }
        g_placed[k] = now_s();
        if (rename(tmp, dst) != 0) {
            fprintf(stderr, "freshness: rename %s: %s\n", dst, strerror(errno));
            atomic_store(&g_writer_failed, 1);
            return NULL;
        }
        atomic_store(&g_last_placed, k);
    }
    return NULL;
}

static double pct(const double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return v[i - 1];
}

int main(int argc, char **argv) {
    const char *uri = NULL, *sql = "SELECT v FROM t WHERE id=1", *label = "";
    double timeout_s = 15;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--uri")) uri = v;
        else if (!strcmp(a, "--prepared")) g_prepared = v;
        else if (!strcmp(a, "--replica")) g_replica = v;
        else if (!strcmp(a, "--from")) g_from = atol(v);
        else if (!strcmp(a, "--count")) g_count = atol(v);
        else if (!strcmp(a, "--gap-ms")) {
            if (sscanf(v, "%ld:%ld", &g_gap_min, &g_gap_max) != 2) g_gap_max = g_gap_min = atol(v);
        } else if (!strcmp(a, "--sql")) sql = v;
        else if (!strcmp(a, "--timeout-s")) timeout_s = atof(v);
        else if (!strcmp(a, "--label")) label = v;
        else {
            fprintf(stderr, "freshness: unknown option %s\n", a);
            return 2;
        }
    }
    if (!uri || !g_prepared || !g_replica || g_from < 1 || g_count < 1 || g_gap_min < 0 || g_gap_max < g_gap_min) {
        fprintf(stderr, "usage: freshness --uri URI --prepared DIR --replica REPLICA [--from K] [--count N] "
                        "[--gap-ms MIN:MAX] [--sql SQL] [--timeout-s S] [--label T]\n");
        return 2;
    }
    DIR *d = opendir(g_prepared);
    if (!d) {
        fprintf(stderr, "freshness: %s: %s\n", g_prepared, strerror(errno));
        return 1;
    }
    g_names = calloc(MAX_FILES, sizeof *g_names);
    struct dirent *de;
    while (g_names && (de = readdir(d)) && g_nnames < MAX_FILES) {
        size_t n = strlen(de->d_name);
        if (n > 4 && !strcmp(de->d_name + n - 4, ".ltx")) g_names[g_nnames++] = strdup(de->d_name);
    }
    closedir(d);
    if (!g_names) return 1;
    qsort(g_names, g_nnames, sizeof *g_names, cmp_str);
    if ((size_t)(g_from + g_count - 1) > g_nnames) {
        fprintf(stderr, "freshness: only %zu prepared files, need %ld\n", g_nnames, g_from + g_count - 1);
        return 1;
    }
    g_placed = calloc((size_t)(g_from + g_count + 1), sizeof *g_placed);
    double *lat = calloc((size_t)g_count, sizeof *lat);
    if (!g_placed || !lat) return 1;
    if (ltxhttp_register() != 0) {
        fprintf(stderr, "freshness: ltxhttp_register failed\n");
        return 1;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        fprintf(stderr, "freshness: open %s: %s\n", uri, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return 1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "freshness: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    long seen = 0, errors = 0, queries = 0;
    /* the value before we start */
    if (sqlite3_step(st) == SQLITE_ROW) seen = (long)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (seen != g_from - 1)
        fprintf(stderr, "freshness: note: initial value %ld, expected %ld\n", seen, g_from - 1);
    size_t nlat = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, writer, NULL) != 0) return 1;
    double last_progress = now_s();
    long target = g_from + g_count - 1;
    while (seen < target && !atomic_load(&g_writer_failed)) {
        int rc = sqlite3_step(st);
        queries++;
        if (rc == SQLITE_ROW) {
            long v = (long)sqlite3_column_int64(st, 0);
            double t = now_s();
            long placed = atomic_load(&g_last_placed);
            if (v > seen) {
                for (long k = seen + 1; k <= v; k++)
                    if (k >= g_from && k <= placed && g_placed[k] > 0) lat[nlat++] = t - g_placed[k];
                seen = v;
                last_progress = t;
            }
        } else if (rc != SQLITE_DONE) {
            if (errors++ < 5) fprintf(stderr, "freshness: %s\n", sqlite3_errmsg(db));
        }
        sqlite3_reset(st);
        if (atomic_load(&g_last_placed) >= target && now_s() - last_progress > timeout_s) break;
        usleep(1000);
    }
    pthread_join(th, NULL);
    qsort(lat, nlat, sizeof *lat, cmp_d);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++) sum += lat[i];
    printf("{\"label\":\"%s\",\"count\":%ld,\"seen\":%zu,\"last_value\":%ld,\"queries\":%ld,\"errors\":%ld,"
           "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"min_ms\":%.1f,\"mean_ms\":%.1f}\n",
           label, g_count, nlat, seen, queries, errors, pct(lat, nlat, 50) * 1e3, pct(lat, nlat, 90) * 1e3,
           pct(lat, nlat, 99) * 1e3, nlat ? lat[nlat - 1] * 1e3 : 0, nlat ? lat[0] * 1e3 : 0,
           nlat ? sum / (double)nlat * 1e3 : 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t i = 0; i < g_nnames; i++) free(g_names[i]);
    free(g_names);
    free(g_placed);
    free(lat);
    return nlat == (size_t)g_count ? 0 : 1;
}
