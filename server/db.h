/* db.h - one tracked database: restore plan, L0 polling, versioned index,
 * historical (point-in-time) indexes, page reads through the shared cache. */
#ifndef LTXPAGED_DB_H
#define LTXPAGED_DB_H

#include <jansson.h>
#include <stdint.h>

#include "cache.h"
#include "srv.h"

/* States (docs/server.md, "Database states"): waiting (nothing indexed
 * yet), ok (current with the store), stalled (held at the last good TXID
 * by a gap or a rejected file), error (the first plan failed), degraded
 * (the store keeps failing; computed when read). */
enum { DB_WAITING = 0, DB_OK = 1, DB_STALLED = 2, DB_ERROR = 3, DB_DEGRADED = 4, DB_STATE_COUNT };
const char *db_state_name(int st);

typedef struct {
    uint64_t txid;
    uint32_t commit;
    uint32_t page_size;
    int64_t ts_ms;
} db_snap;

/* What went wrong, in the database's own terms. The HTTP edge turns a
 * code into a status and a wire error code (server/errmap.h); nothing in
 * the database layer knows about HTTP. */
typedef enum {
    DB_E_NONE = 0,      /* no error recorded (answered as DB_E_INTERNAL) */
    DB_E_NOT_READY,     /* nothing indexed yet: waiting, or the first plan failed */
    DB_E_TXID_AHEAD,    /* the TXID asked for is newer than the latest indexed */
    DB_E_TXID_GONE,     /* the TXID or point in time can no longer be restored */
    DB_E_PAGE_RANGE,    /* the page is beyond the snapshot's database size */
    DB_E_STORE,         /* the object store failed (list, read, or a bad file) */
    DB_E_STORE_TIMEOUT, /* a store call's overall deadline passed (OBJ_ERR_TIMEOUT) */
    DB_E_NOMEM,         /* out of memory */
    DB_E_INTERNAL,      /* an index the database relied on was not there */
    DB_E_COUNT
} db_errcode;

typedef struct {
    db_errcode code;
    char msg[256];
} db_err;

/* Short stable name of a code ("txid_ahead"), for logs. */
const char *db_errcode_name(db_errcode c);

ltxdb *ltxdb_new(srv *s, const char *name, objstore *store, const char *prefix, const char *url);
void ltxdb_free(ltxdb *d);
const char *ltxdb_name(const ltxdb *d);

/* Poller step: initial plan, L0 poll, bridging, pruning. */
void ltxdb_poll(ltxdb *d, int64_t mono_now);
int64_t ltxdb_next_poll(const ltxdb *d);
int ltxdb_initialized(const ltxdb *d); /* first index attempt finished */
uint64_t ltxdb_current_txid(const ltxdb *d);
/* Bumped whenever the replica's history was replaced (went back, or a file
 * used before is listed with other bytes): a /changes long-poll started
 * under another generation answers reset. */
uint64_t ltxdb_history_gen(const ltxdb *d);
int ltxdb_state(const ltxdb *d);
/* 1 when the database has an index to answer from; else 0 with err =
 * DB_E_NOT_READY saying why (first index building, with progress). Every
 * read path answers not-ready until then, never an empty database. */
int ltxdb_ready(ltxdb *d, db_err *err);
/* Removed from the replica root (folder gone on a rescan): answered as
 * unknown and left out of listings; re-added when the folder comes back. */
int ltxdb_removed(const ltxdb *d);
/* Back from removed (its folder is listed again, or a write creates it). */
void ltxdb_readd(ltxdb *d);
/* One LIST of every level; when it answered with no file at all, no
 * write held the update lock at any time since the LIST began (a write's
 * file may not be listed yet) and the database was not (re-)added after
 * seq0 (srv's add_seq when the rescan's root listing began) and no write
 * creating it holds it (a create adds it before its first file exists), it
 * is marked removed and its indexes dropped: 1. Else 0. */
int ltxdb_remove_if_empty(ltxdb *d, uint64_t seq0);
/* A write creating the database holds it from before its first file exists
 * until that write ends: ltxdb_remove_if_empty leaves a held database. Hold
 * answers whether it was already marked removed (the caller re-adds it;
 * the hold keeps it from being removed again). */
int ltxdb_creator_hold(ltxdb *d);
void ltxdb_creator_release(ltxdb *d);
objstore *ltxdb_store(const ltxdb *d);
const char *ltxdb_prefix(const ltxdb *d);
/* srv's add_seq when the database was added or re-added (srv.c). */
uint64_t ltxdb_added_seq(const ltxdb *d);
void ltxdb_set_added_seq(ltxdb *d, uint64_t seq);

/* Resolve a TXID (0 = latest) to a snapshot: DB_E_NOT_READY no index yet,
 * DB_E_TXID_AHEAD, DB_E_TXID_GONE not restorable. */
int ltxdb_resolve(ltxdb *d, uint64_t txid, db_snap *out, db_err *err);
/* The snapshot a restore at time_ms (CreatedAt < time) would reach;
 * DB_E_TXID_GONE if none, and for any time_ms <= 0 (at or before the Unix
 * epoch: never the plan's "no bound"). A future time reaches the latest. */
int ltxdb_resolve_time(ltxdb *d, int64_t time_ms, db_snap *out, db_err *err);
/* Page pgno of a resolved snapshot: *e = the cache entry (caller releases)
 * or NULL for a page of zeros. DB_E_PAGE_RANGE beyond commit, DB_E_STORE
 * store failure. */
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
 * pages malloc'd. DB_E_TXID_AHEAD when since is ahead, DB_E_NOT_READY when
 * not indexed. */
int ltxdb_changes(ltxdb *d, uint64_t since, db_snap *snap, int *reset, uint32_t **pages, size_t *npages,
                  db_err *err);

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
