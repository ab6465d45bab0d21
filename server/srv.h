/* srv.h - ltxpaged's shared state: configuration, databases, cache. */
#ifndef LTXPAGED_SRV_H
#define LTXPAGED_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "objstore.h"

typedef struct {
    char **replicas;          /* --replica URL (repeatable) */
    size_t nreplicas;
    char **dbs;               /* --db NAME=URL (repeatable) */
    size_t ndbs;
    char listen_host[256];
    int listen_port;
    int threads;
    int max_connections;      /* HTTP connections at once; 0 = from RLIMIT_NOFILE */
    int io_threads;           /* loader threads for requests that read the store */
    size_t cache_size;
    int64_t poll_ms;
    int64_t l1_interval_ms;   /* level stats / L1+ check */
    int64_t version_window_ms;
    int64_t rescan_ms;
    int max_historical;
    int max_historical_total; /* point-in-time indexes kept server-wide */
    int poll_threads;         /* poller threads (databases are split between them) */
    int index_fetch_concurrency; /* page-index tail reads in flight per index build */
    int64_t historical_idle_ms;
    size_t max_l0_bytes;      /* L0 files larger than this are indexed, not fetched */
    const char *read_token;
    const char *admin_token;
    const char *s3_endpoint;
    const char *s3_region;
    int s3_path_style;        /* -1 auto */
    int log_level;
} srv_config;

typedef struct ltxdb ltxdb;

/* Lock-free lookup table of the databases, published for the request path
 * and the pollers: open addressing by name hash, capacity a power of two,
 * at most half full. A slot goes from NULL to a database once and never
 * changes again, so adding a database stores into the published table;
 * only growth (doubling) publishes a new one. Replaced tables are kept
 * until srv_destroy: their sizes are a geometric series, so they hold
 * fewer slots than the current one (never a copy per database added). */
struct srv_dblist {
    struct srv_dblist *next_retired;
    size_t cap;
    ltxdb *_Atomic v[];
};

typedef struct {
    objstore *store;
    char *url;
    int is_root;              /* --replica (discover databases under it) */
    char *db_name;            /* --db NAME */
} srv_source;

typedef struct srv {
    srv_config cfg;
    pcache *cache;
    objstore_opts sopts;

    srv_source *sources;
    size_t nsources;

    pthread_rwlock_t dbs_lock;
    ltxdb **dbs;              /* sorted by name */
    size_t ndbs, capdbs;
    /* Immutable copy of dbs published for lock-free lookups on the request
     * path; replaced lists are kept until srv_destroy (one per added db). */
    struct srv_dblist *_Atomic pub;
    struct srv_dblist *retired;

    atomic_int stopping;
    atomic_int hist_total;    /* point-in-time indexes held, all databases */
    atomic_uint_fast64_t next_uid;
    int64_t started_ms;

    /* pollers: thread i polls the databases whose name hashes to i;
     * thread 0 also re-scans --replica roots */
    pthread_t pollers[64];
    struct srv_poller_arg {
        struct srv *s;
        int idx;
    } poller_args[64];
    int npollers;
    pthread_mutex_t poll_mu;
    pthread_cond_t poll_cv;

    /* called (from the poller) after a database indexed a new TXID */
    void (*on_new_txid)(struct srv *s, ltxdb *d);
    void *http;               /* http layer state */
} srv;

/* Create / destroy (config already filled). 0 ok, -1 error (logged). */
int srv_init(srv *s);
int srv_start_poller(srv *s);
void srv_stop_poller(srv *s);
void srv_destroy(srv *s);

ltxdb *srv_find_db(srv *s, const char *name);
/* 1 when every known database finished its initial index attempt. */
int srv_ready(srv *s);

#endif
