/* metrics.h - latency histograms the server fills, and the process's own
 * numbers (process_* of the Prometheus conventions) read from /proc.
 *
 * A histogram is a fixed array of atomic bucket counters and an atomic
 * sum: observing is a few relaxed atomic adds, no lock and no
 * allocation, so it may sit on the cached-page path. The histograms of
 * the server's background work (polls, index builds, object-store
 * requests) are process-wide (one server per process); the request
 * histograms belong to the HTTP layer (struct http). GET /metrics
 * (server/http/http_metrics.c) renders them. */
#ifndef LTXPAGED_METRICS_H
#define LTXPAGED_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "objstore.h"

/* Upper bounds of the buckets in seconds (100 µs .. 60 s), +Inf implied. */
#define METRICS_NBOUNDS 18
extern const double metrics_bounds[METRICS_NBOUNDS];

typedef struct {
    atomic_uint_fast64_t n[METRICS_NBOUNDS + 1]; /* per bucket, not cumulative; last = +Inf */
    atomic_uint_fast64_t sum_ns;
} metrics_hist;

/* A histogram as read once: cumulative bucket counts (cum[METRICS_NBOUNDS]
 * is the count, equal to the +Inf bucket), the sum in seconds. */
typedef struct {
    uint64_t cum[METRICS_NBOUNDS + 1];
    double sum_seconds;
} metrics_hist_read_t;

/* The monotonic clock in ns (what durations are measured with). */
int64_t metrics_now_ns(void);
void metrics_observe_ns(metrics_hist *h, int64_t ns);
/* Observe the time since t0 (metrics_now_ns). */
void metrics_observe_since(metrics_hist *h, int64_t t0);
void metrics_hist_read(metrics_hist *h, metrics_hist_read_t *out);

/* Process-wide histograms. */
enum { METRICS_INDEX_LIVE, METRICS_INDEX_HISTORICAL, METRICS_INDEX__N };
extern const char *const metrics_index_kinds[METRICS_INDEX__N];    /* "live", "historical" */
extern metrics_hist metrics_poll_seconds;                          /* one poll of one database */
extern metrics_hist metrics_index_build_seconds[METRICS_INDEX__N]; /* an index from a restore plan */
extern metrics_hist metrics_store_seconds[OBJSTORE_OP__N];         /* one object-store call */

/* Feed metrics_store_seconds from every object store (objstore_set_observer).
 * Call once before stores are opened. */
void metrics_init(void);

/* process_* as the Prometheus client libraries export them; a field
 * that could not be read is -1. */
typedef struct {
    double cpu_seconds; /* user + system */
    double resident_bytes;
    double virtual_bytes;
    double start_time_seconds; /* since the epoch */
    double open_fds;
    double max_fds; /* soft RLIMIT_NOFILE */
    double threads;
} metrics_process;
void metrics_process_read(metrics_process *p);

#endif
