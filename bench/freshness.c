/* freshness.c - time from an L0 file appearing in a replica to a client
 * transaction (through the ltxhttp VFS) seeing its data.
 *
 *   freshness --uri URI --prepared DIR --replica REPLICA [--from K] [--count N]
 *             [--gap-ms MIN:MAX] [--sql SQL] [--timeout-s S] [--label TEXT]
 *             [--server URL --db NAME]
 *
 * DIR holds a prepared chain written by `ltxgen updates` with
 * --sql 'UPDATE t SET v=?1 WHERE id=1': its k-th file (1-based, sorted by
 * name) sets v = k. A writer thread places files K..K+N-1 one at a time
 * into REPLICA/ltx/0/ (copy to a ".tmp" name, then rename: the file appears
 * atomically), waiting a random gap between MIN and MAX ms before each, and
 * records the time of each rename. The main thread runs SQL (default
 * 'SELECT v FROM t WHERE id=1') in a new read transaction every millisecond;
 * when it first sees v >= k, the latency of file k is now - placed[k].
 * With --server/--db, a third thread long-polls GET /NAME/changes on the
 * server (as the VFS watcher does) and records when the server first reports
 * each file's TXID: that splits the latency into "server has it" and the
 * rest (watcher notify + next transaction).
 * Prints one JSON line: count, seen, p50/p90/p99/max/mean in ms (and
 * server_p50/p99 and client_p50/p99 with --server).
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

#include <curl/curl.h>
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
static uint64_t *g_txid;      /* TXID of prepared file k */
static double *g_srv_seen;    /* when the server first reported file k's TXID */
static const char *g_server, *g_dbname;
static _Atomic int g_stop;

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

typedef struct {
    char *p;
    size_t n, cap;
} membuf;

static size_t on_body(char *ptr, size_t sz, size_t nm, void *ud) {
    membuf *m = ud;
    size_t add = sz * nm;
    if (m->n + add + 1 > m->cap) {
        size_t nc = (m->n + add + 1) * 2;
        if (nc > (1u << 24)) return 0; /* cap: 16 MiB */
        char *np = realloc(m->p, nc);
        if (!np) return 0;
        m->p = np;
        m->cap = nc;
    }
    memcpy(m->p + m->n, ptr, add);
    m->n += add;
    m->p[m->n] = 0;
    return add;
}

/* "txid":"<hex>" from a JSON body; 0 if absent. */
static uint64_t json_txid(const char *body) {
    const char *p = body ? strstr(body, "\"txid\"") : NULL;
    if (!p) return 0;
    p = strchr(p + 6, '"');
    if (!p) return 0;
    return strtoull(p + 1, NULL, 16);
}

static void *server_watch(void *arg) {
    (void)arg;
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    membuf m = {0};
    char url[2048];
    uint64_t since = 0;
    snprintf(url, sizeof url, "%s/%s", g_server, g_dbname);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(h) == CURLE_OK) since = json_txid(m.p);
    uint64_t last = g_txid[g_from + g_count - 1];
    while (!atomic_load(&g_stop) && since < last) {
        m.n = 0;
        snprintf(url, sizeof url, "%s/%s/changes?since=%016llx&wait=2", g_server, g_dbname, (unsigned long long)since);
        curl_easy_setopt(h, CURLOPT_URL, url);
        if (curl_easy_perform(h) != CURLE_OK || !m.p) {
            usleep(10000);
            continue;
        }
        uint64_t t = json_txid(m.p);
        double now = now_s();
        if (t > since) {
            long placed = atomic_load(&g_last_placed);
            for (long k = g_from; k <= placed; k++)
                if (g_txid[k] > since && g_txid[k] <= t && g_srv_seen[k] == 0) g_srv_seen[k] = now;
            since = t;
        }
    }
    free(m.p);
    curl_easy_cleanup(h);
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
        else if (!strcmp(a, "--server")) g_server = v;
        else if (!strcmp(a, "--db")) g_dbname = v;
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
    g_srv_seen = calloc((size_t)(g_from + g_count + 1), sizeof *g_srv_seen);
    g_txid = calloc((size_t)(g_from + g_count + 1), sizeof *g_txid);
    double *lat = calloc((size_t)g_count, sizeof *lat);
    double *seen_at = calloc((size_t)(g_from + g_count + 1), sizeof *seen_at);
    if (!g_placed || !g_srv_seen || !g_txid || !lat || !seen_at) return 1;
    for (long k = g_from; k < g_from + g_count; k++) g_txid[k] = strtoull(g_names[k - 1], NULL, 16);
    curl_global_init(CURL_GLOBAL_DEFAULT);
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
    pthread_t th, sw;
    int have_sw = 0;
    if (g_server && g_dbname) have_sw = pthread_create(&sw, NULL, server_watch, NULL) == 0;
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
                    if (k >= g_from && k <= placed && g_placed[k] > 0) {
                        lat[nlat++] = t - g_placed[k];
                        seen_at[k] = t;
                    }
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
    atomic_store(&g_stop, 1);
    if (have_sw) pthread_join(sw, NULL);
    /* split: placed -> server reports it -> client transaction sees it */
    double *sl = calloc((size_t)g_count, sizeof *sl), *cl = calloc((size_t)g_count, sizeof *cl);
    size_t ns = 0, nc = 0;
    for (long k = g_from; sl && cl && k < g_from + g_count; k++) {
        if (g_srv_seen[k] > 0 && g_placed[k] > 0) sl[ns++] = g_srv_seen[k] - g_placed[k];
        if (g_srv_seen[k] > 0 && seen_at[k] > 0) cl[nc++] = seen_at[k] - g_srv_seen[k];
    }
    if (sl) qsort(sl, ns, sizeof *sl, cmp_d);
    if (cl) qsort(cl, nc, sizeof *cl, cmp_d);
    qsort(lat, nlat, sizeof *lat, cmp_d);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++) sum += lat[i];
    printf("{\"label\":\"%s\",\"count\":%ld,\"seen\":%zu,\"last_value\":%ld,\"queries\":%ld,\"errors\":%ld,"
           "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"min_ms\":%.1f,\"mean_ms\":%.1f,"
           "\"server_n\":%zu,\"server_p50_ms\":%.1f,\"server_p99_ms\":%.1f,\"client_n\":%zu,\"client_p50_ms\":%.1f,"
           "\"client_p99_ms\":%.1f}\n",
           label, g_count, nlat, seen, queries, errors, pct(lat, nlat, 50) * 1e3, pct(lat, nlat, 90) * 1e3,
           pct(lat, nlat, 99) * 1e3, nlat ? lat[nlat - 1] * 1e3 : 0, nlat ? lat[0] * 1e3 : 0,
           nlat ? sum / (double)nlat * 1e3 : 0, ns, pct(sl, ns, 50) * 1e3, pct(sl, ns, 99) * 1e3, nc,
           pct(cl, nc, 50) * 1e3, pct(cl, nc, 99) * 1e3);
    free(sl);
    free(cl);
    free(seen_at);
    free(g_srv_seen);
    free(g_txid);
    curl_global_cleanup();
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t i = 0; i < g_nnames; i++) free(g_names[i]);
    free(g_names);
    free(g_placed);
    free(lat);
    return nlat == (size_t)g_count ? 0 : 1;
}
