/* db.h - one tracked database: restore plan, L0 polling, versioned index,
 * historical (point-in-time) indexes, page reads through the shared cache. */
#ifndef LTXPAGED_DB_H
#define LTXPAGED_DB_H

#include <jansson.h>
#include <stdint.h>

#include "cache.h"
#include "srv.h"

enum { DB_WAITING = 0, DB_OK = 1, DB_STALLED = 2, DB_ERROR = 3 };
const char *db_state_name(int st);

typedef struct {
    uint64_t txid;
    uint32_t commit;
    uint32_t page_size;
    int64_t ts_ms;
} db_snap;

typedef struct {
    int status;               /* HTTP status */
    const char *code;         /* wire.h error code */
    char msg[256];
} db_err;

ltxdb *ltxdb_new(srv *s, const char *name, objstore *store, const char *prefix, const char *url);
void ltxdb_free(ltxdb *d);
const char *ltxdb_name(const ltxdb *d);

/* Poller step: initial plan, L0 poll, bridging, pruning. */
void ltxdb_poll(ltxdb *d, int64_t mono_now);
int64_t ltxdb_next_poll(const ltxdb *d);
int ltxdb_initialized(const ltxdb *d);  /* first index attempt finished */
uint64_t ltxdb_current_txid(const ltxdb *d);
/* Bumped whenever the replica's history was replaced (went back, or a file
 * used before is listed with other bytes): a /changes long-poll started
 * under another generation answers reset. */
uint64_t ltxdb_history_gen(const ltxdb *d);
int ltxdb_state(const ltxdb *d);

/* Resolve a TXID (0 = latest) to a snapshot: 503 no index yet, 409 ahead,
 * 410 not restorable. */
int ltxdb_resolve(ltxdb *d, uint64_t txid, db_snap *out, db_err *err);
/* The snapshot a restore at time_ms (CreatedAt < time) would reach; 410 if none. */
int ltxdb_resolve_time(ltxdb *d, int64_t time_ms, db_snap *out, db_err *err);
/* Page pgno of a resolved snapshot: *e = the cache entry (caller releases)
 * or NULL for a page of zeros. 404 beyond commit, 502 store failure. */
int ltxdb_page(ltxdb *d, const db_snap *snap, uint32_t pgno, pc_entry **e, db_err *err);

/* Without any I/O or waiting: 1 when page pgno at txid (0 = latest) is
 * answerable from memory (the TXID is indexed, pgno is within it and the
 * page is cached or reads as zeros): *snap filled, *e = the cache entry
 * (caller releases) or NULL for zeros. 0 otherwise (ask ltxdb_resolve and
 * ltxdb_page, which may read the object store). */
int ltxdb_try_page(ltxdb *d, uint64_t txid, uint32_t pgno, db_snap *snap, pc_entry **e);
/* The same for several pages of one snapshot: 1 when every page is in
 * memory (out[i] = entry or NULL for zeros; caller releases), else 0 with
 * nothing held. */
int ltxdb_try_pages(ltxdb *d, uint64_t txid, const uint32_t *pgnos, size_t n, db_snap *snap, pc_entry **out);

/* Several pages of one snapshot at once (batch, /file windows): cache hits
 * first, then the misses grouped by file into runs of nearby frames, one
 * object-store range read per run. out[i] = entry (caller releases) or
 * NULL for zeros. On error every out[i] is NULL. */
int ltxdb_pages(ltxdb *d, const db_snap *snap, const uint32_t *pgnos, size_t n, pc_entry **out, db_err *err);

/* /changes: 0 ok (*reset set when since is older than the live window);
 * pages malloc'd. 409 when since is ahead, 503 when not indexed. */
int ltxdb_changes(ltxdb *d, uint64_t since, db_snap *snap, int *reset, uint32_t **pages,
                  size_t *npages, db_err *err);

/* JSON status object (new reference). snap_override: report this snapshot
 * instead of the latest (for ?time=). */
json_t *ltxdb_status_json(ltxdb *d, const db_snap *snap_override);

/* Prometheus lines for this database appended to a buffer by the caller. */
typedef struct {
    uint64_t txid;
    uint32_t commit;
    int state;
    double lag_seconds;
    double age_seconds;
    uint64_t pages_served, polls, poll_errors, files_applied, replans, hist_builds, versions;
    uint64_t hist_count;
} db_metrics;
void ltxdb_metrics(ltxdb *d, db_metrics *m);
void ltxdb_count_served(ltxdb *d, uint64_t pages);

#endif
