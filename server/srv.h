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
    char **replicas; /* --replica URL (repeatable) */
    size_t nreplicas;
    char **dbs; /* --db NAME=URL (repeatable) */
    size_t ndbs;
    char listen_host[256];
    int listen_port;
    int threads;
    int max_connections; /* HTTP connections at once; 0 = from RLIMIT_NOFILE */
    int io_threads;      /* loader threads for requests that read the store */
    size_t cache_size;
    int64_t poll_ms;
    int64_t l1_interval_ms; /* level stats / L1+ check */
    int64_t version_window_ms;
    int64_t rescan_ms;
    int max_historical;
    int max_historical_total;    /* point-in-time indexes kept server-wide */
    int poll_threads;            /* poller threads (databases are split between them) */
    int index_fetch_concurrency; /* page-index tail reads in flight per index build */
    int64_t historical_idle_ms;
    int metrics_per_db;  /* ltxpaged_db_*{db=...} in /metrics */
    size_t max_l0_bytes; /* L0 files larger than this are indexed, not fetched */
    const char *read_token;
    const char *admin_token;
    /* writes (issue 11; server/write.c) */
    const char *write_token;          /* enables POST /{db}/ltx; also reads */
    size_t write_max_body;            /* bytes of one uploaded LTX file */
    const char *compaction_intervals; /* "30s,5m,1h": L1, L2, L3 windows */
    int64_t snapshot_interval_ms;
    int64_t l0_retention_ms;
    int64_t retention_ms;  /* --retention: snapshots and L1..Ln files (lease holder) */
    int64_t write_idle_ms; /* release a lease after this long without writes */
    const char *s3_endpoint;
    const char *s3_region;
    int s3_path_style; /* -1 auto */
    int log_level;
    /* HTTP edge (server/http/) */
    int64_t header_timeout_ms;  /* request line + headers must arrive within */
    int max_client_connections; /* per client address; -1 = auto */
    char **cors_origins;        /* --cors-origin (repeatable; "*" allowed) */
    size_t ncors_origins;
    const char *tls_cert; /* PEM files: HTTPS when both are set */
    const char *tls_key;
    /* demand polling and the disk tier (demand.c, disk.c) */
    int64_t poll_idle_after_ms; /* unread this long: back off */
    int64_t poll_idle_max_ms;   /* longest interval of a database nobody reads */
    const char *cache_dir;      /* local disk tier of verified LTX files; NULL = none */
    size_t cache_dir_size;
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
    int is_root;   /* --replica (discover databases under it) */
    char *db_name; /* --db NAME */
} srv_source;

typedef struct srv {
    srv_config cfg;
    pcache *cache;
    struct disk_tier *disk; /* --cache-dir (disk.c); NULL without */
    objstore_opts sopts;

    srv_source *sources;
    size_t nsources;

    pthread_rwlock_t dbs_lock;
    ltxdb **dbs; /* sorted by name */
    size_t ndbs, capdbs;
    /* Immutable copy of dbs published for lock-free lookups on the request
     * path; replaced lists are kept until srv_destroy (one per added db). */
    struct srv_dblist *_Atomic pub;
    struct srv_dblist *retired;

    atomic_int stopping;
    atomic_int hist_total; /* point-in-time indexes held, all databases */
    atomic_uint_fast64_t next_uid;
    int64_t started_ms;

    /* pollers: thread i polls the databases whose name hashes to i;
     * the rescanner re-scans --replica roots (its own thread, so a stalled
     * root listing delays no poll; waits on rescan_cv under poll_mu) */
    pthread_t rescanner;
    int rescanning;
    pthread_cond_t rescan_cv;
    pthread_t pollers[64];
    struct srv_poller_arg {
        struct srv *s;
        int idx;
    } poller_args[64];
    int npollers;
    pthread_mutex_t poll_mu;
    pthread_cond_t poll_cv;
    /* poll_kicks, bumped under poll_mu, wakes the pollers: a reader of a
     * backed-off database (demand.c, then it waits on demand_cv for its
     * poll) and a database added (srv_kick_pollers); discovered: the first
     * scan of the --replica roots finished (the rescanner, after listening) */
    pthread_cond_t demand_cv;
    atomic_uint_fast64_t poll_kicks;
    atomic_int discovered;
    /* bumped (under dbs_lock) each time a database is added or re-added;
     * a rescan removes only databases added before its root listing */
    atomic_uint_fast64_t add_seq;

    /* called (from the poller) after a database indexed a new TXID */
    void (*on_new_txid)(struct srv *s, ltxdb *d);
    void *http;  /* http layer state */
    void *write; /* write layer state (server/write.c), NULL without --write-token */
} srv;

/* Create / destroy (config already filled). 0 ok, -1 error (logged). */
int srv_init(srv *s);
int srv_start_poller(srv *s);
void srv_stop_poller(srv *s);
void srv_destroy(srv *s);

ltxdb *srv_find_db(srv *s, const char *name);
void srv_kick_pollers(srv *s); /* a database was added: poll it now, not at the next due time */
/* Add a database named name under the first --replica root (a new database
 * about to get its first file): the database, held by ltxdb_creator_hold
 * (the caller releases it when its write ends), or NULL when there is no
 * root or no memory. An existing database is returned as it is, held. */
ltxdb *srv_create_db(srv *s, const char *name);
/* 1 when every known database finished its initial index attempt. */
int srv_ready(srv *s);

#endif
