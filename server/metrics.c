/* metrics.c - lock-free latency histograms and process_* from /proc
 * (see metrics.h). */
#include "metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const double metrics_bounds[METRICS_NBOUNDS] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                 1,      2.5,     5,      10,    30,     60 };

/* The same bounds in ns, so observing compares integers. */
static const int64_t metrics_bounds_ns[METRICS_NBOUNDS] = {
    100000,    250000,    500000,    1000000,    2500000,    5000000,    10000000,    25000000,    50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000, 30000000000, 60000000000
};

const char *const metrics_index_kinds[METRICS_INDEX__N] = { "live", "historical" };
metrics_hist metrics_poll_seconds;
metrics_hist metrics_index_build_seconds[METRICS_INDEX__N];
metrics_hist metrics_store_seconds[OBJSTORE_OP__N];

int64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void metrics_observe_ns(metrics_hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    size_t i = 0;
    while (i < METRICS_NBOUNDS && ns > metrics_bounds_ns[i])
        i++;
    atomic_fetch_add_explicit(&h->n[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint_fast64_t)ns, memory_order_relaxed);
}

void metrics_observe_since(metrics_hist *h, int64_t t0) { metrics_observe_ns(h, metrics_now_ns() - t0); }

void metrics_hist_read(metrics_hist *h, metrics_hist_read_t *out)
{
    uint64_t c = 0;
    for (size_t i = 0; i <= METRICS_NBOUNDS; i++) {
        c += atomic_load_explicit(&h->n[i], memory_order_relaxed);
        out->cum[i] = c;
    }
    out->sum_seconds = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
}

static void metrics_store_observe(objstore_op op, int64_t ns, obj_status st)
{
    (void)st;
    if ((unsigned)op < OBJSTORE_OP__N)
        metrics_observe_ns(&metrics_store_seconds[op], ns);
}

void metrics_init(void) { objstore_set_observer(metrics_store_observe); }

/* ---- process_* ---------------------------------------------------------- */

/* "btime" of /proc/stat: boot time in seconds since the epoch, -1. */
static double metrics_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

static double metrics_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor of d itself */
}

/* Fields of /proc/self/stat after the command name (which may hold
 * spaces and parentheses: the last ')' ends it). */
static void metrics_read_stat(metrics_process *p)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    if (!s)
        return;
    /* field 3 (state) is the first after ')'; we want 14 utime, 15 stime,
     * 20 num_threads, 22 starttime, 23 vsize, 24 rss */
    unsigned long long v[25] = { 0 };
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(s + 1, " ", &save); tok && field <= 24;
         tok = strtok_r(NULL, " ", &save), field++)
        v[field] = field == 3 ? 0 : strtoull(tok, NULL, 10);
    if (field <= 24)
        return;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tck <= 0 || page <= 0)
        return;
    p->cpu_seconds = (double)(v[14] + v[15]) / (double)tck;
    p->threads = (double)v[20];
    p->virtual_bytes = (double)v[23];
    p->resident_bytes = (double)v[24] * (double)page;
    double bt = metrics_boot_time();
    if (bt >= 0)
        p->start_time_seconds = bt + (double)v[22] / (double)tck;
}

void metrics_process_read(metrics_process *p)
{
    p->cpu_seconds = p->resident_bytes = p->virtual_bytes = p->start_time_seconds = -1;
    p->threads = -1;
    metrics_read_stat(p);
    p->open_fds = metrics_count_fds();
    struct rlimit rl;
    p->max_fds =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : -1;
}
