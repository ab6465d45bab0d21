/* lh_watch.h - what all connections of the process share for one
 * (servers, db, token): the newest TXID known, the page cache, and the
 * watcher thread that long-polls GET /{db}/changes to keep both current.
 *
 * Thread-safety: every field below `mu` is guarded by mu; the registry
 * (acquire/release) has its own lock. The watcher closes the cache ranges
 * of changed pages, or drops the cache on a reset, and broadcasts cv. It
 * starts lazily: a connection that lives for one lookup right after its
 * open never pays for it (LH_WATCH_FRESH_MS).
 */
#ifndef LH_WATCH_H
#define LH_WATCH_H

#include "lh_cache.h"
#include "lh_http.h"
#include "lh_settings.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define LH_WATCH_ERRLEN 512

typedef struct lh_watch {
    struct lh_watch *next; /* registry list (registry lock) */
    int refs;              /* connections using it (registry lock) */
    char *key;             /* "servers\ndb\ntoken\ncafile" */
    lh_settings cfg;       /* the watcher's copy (server in use changes under mu) */
    lh_http_conn *conn;    /* the watcher's poller */
    char *edb;             /* URL-escaped database name */
    pthread_t th;
    int th_ok; /* th was started */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every update and on stop */
    uint64_t known;    /* newest TXID known */
    uint32_t commit;   /* its commit (pages) */
    int ps_known;      /* 0 while the database had no TXID yet (4096 assumed) */
    lh_cache cache;    /* pages; cache.page_size is the database's */
    uint64_t updates, resets;
    int stop;                   /* ask the watcher to end */
    char werr[LH_WATCH_ERRLEN]; /* last watcher error, "" while healthy */
    int werr_logged;
    int64_t fail_since_ms;  /* watcher failing since (monotonic ms; 0: healthy) */
    int pref_ok;            /* the watcher's last answer came from the preferred server (servers[0]) */
    int64_t behind_since;   /* watcher thread only: 409s from the server in use since (0: none) */
    int64_t probe_extra_ms; /* watcher thread only: added to the failback interval after costly probes */
    int64_t poll_t0;        /* when the current long poll started (watcher thread writes it) */
    int poll_connected;     /* the current long poll got its connection */
    int64_t fresh_ms;       /* when `known` came from the open answer (monotonic ms) */
    int first_done;         /* the watcher's first poll (no wait) has answered or failed */
} lh_watch;

/* A transaction that starts within this many ms of the open answer pins
 * its TXID without the watcher; the first later one starts the watcher
 * and waits for its first answer (lh_watch_start). */
#define LH_WATCH_FRESH_MS 100

/* The shared state for c's (servers, db, token), created at the given
 * state (ps 0: unknown yet) with its watcher started if new. NULL on
 * failure. Each acquire needs one lh_watch_release. */
lh_watch *lh_watch_acquire(const lh_settings *c, uint64_t txid, uint32_t commit, uint32_t ps);
void lh_watch_release(lh_watch *sh);

/* Start the watcher unless it runs; with wait, wait (bounded by the
 * settings' timeout) until its first poll has answered, so `known` is
 * current. Caller holds sh->mu. 0, or -1 if the thread could not start. */
int lh_watch_start(lh_watch *sh, int wait);

/* Before a transaction pins `known`: start the watcher and wait for its
 * first answer once the open answer is older than LH_WATCH_FRESH_MS.
 * Caller holds sh->mu. 0, or -1 if the thread could not start. */
int lh_watch_current(lh_watch *sh);

/* The pages of a batch answer at txid (body: n pages of ps bytes, in the
 * order of list, "1,4-9"; NULL or "": page 1 alone) into the cache. */
void lh_watch_put_pages(lh_watch *sh, uint64_t txid, uint32_t ps, const unsigned char *body, size_t n,
                        const char *list);

/* Apply a /changes answer j asked with since (or a status answer after a
 * reset, with "reset": true). Caller holds sh->mu. Returns 1 if anything
 * changed. */
int lh_watch_apply_changes(lh_watch *sh, uint64_t since, json_t *j);

#endif /* LH_WATCH_H */
