/* db_internal.h - the database object shared by db*.c; not for other
 * layers (they use db.h). Lock rules are with the fields.
 *
 *   db.c         the object: lifecycle, accessors, state, errors, /changes
 *   db_index.c   index from a restore plan (parallel tail reads), install
 *   db_poll.c    L0 polling, bridging gaps from L1+, replaced histories,
 *                pruning
 *   db_hist.c    point-in-time indexes, TXID and time resolution
 *   db_page.c    page reads through the cache (single, cache-only, batch)
 *   db_status.c  JSON status, metrics, counters
 *   db_verify.c  whole-file verification before serving; files known
 *                good / bad
 *
 * Errors are db_errcode values (db.h); the HTTP edge maps them
 * (errmap.c). Functions shared between these files are prefixed by the
 * file that defines them (db_index_*, db_hist_*); the API in db.h keeps
 * its ltxdb_ prefix. */
#ifndef LTXPAGED_DB_INTERNAL_H
#define LTXPAGED_DB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "demand.h"
#include "ltx.h"
#include "timefmt.h"
#include "vindex.h"

#define TAIL_BYTES (32 * 1024)
#define NLEVELS    (LTX_MAX_LEVEL + 1)

/* A file's identity as listed: name (level, min, max) and object (size,
 * mtime or LastModified): another object under one name is another file. */
typedef struct {
    int level;
    uint64_t min, max, size;
    int64_t mtime;
} db_fid;

#define DB_BAD_MAX 64

typedef struct {
    uint64_t txid;
    vindex ix;
    int64_t used_ms; /* atomic access */
} hist_ix;

struct ltxdb {
    srv *srv;
    char *name;
    char *prefix; /* db argument to objstore ("" for --db) */
    char *url;
    objstore *store; /* not owned */
    /* Cache namespace of this database's pages (pc_key.db). Replaced when
     * the replica's history starts over (it went back): the new history
     * reuses file names (level, min, max) with other bytes, so pages cached
     * under the old namespace must never be found again. Written under the
     * write lock (by a holder of `update`); read under the read lock or by
     * the poller. */
    uint64_t uid;
    /* The files that brought the last TXIDs, as listed when they were used
     * (size included): the same name with another size later means the
     * replica's history was replaced (files are immutable within one). */
    ltx_fileinfo recent[16]; /* under lock: the last files applied (ring), newest at recent_n-1 */
    unsigned recent_n;
    ltx_fileinfo plan_last;       /* last file of the latest plan built (holder of update) */
    int force_new_uid;            /* holder of update: next install starts a new cache namespace */
    ltx_fileinfo missing_checked; /* holder of update: last applied file found missing and checked for */

    pthread_rwlock_t lock;   /* guards live, hists, state text, levels */
    pthread_mutex_t update;  /* serializes writers: poll, replan */
    pthread_mutex_t hist_mu; /* serializes historical builds */

    vindex *live; /* NULL until the first plan is indexed */
    uint64_t gen; /* bumped on every rebuild */
    hist_ix **hists;
    size_t nhists;
    /* TXIDs found not restorable recently (under hist_mu): DB_E_TXID_GONE
     * without listing the bucket again for an l1 interval */
    struct {
        uint64_t txid;
        int64_t at;
    } gone[32];
    unsigned ngone;

    int state;
    int initialized;
    char last_error[256];
    int64_t last_error_ms;
    int64_t last_logged_ms; /* when last_error was last logged (once a minute while it repeats) */
    char stall_reason[256];
    uint64_t
        stall_txid; /* the TXID a stall holds the database at: applying a file past it clears the stall */
    int64_t last_poll_ok_ms; /* wall clock */
    int64_t next_poll;       /* mono */
    int64_t next_levels;     /* mono */
    int64_t levels_listed;   /* mono: when every level was last listed (or tried) */
    int64_t next_bridge;     /* mono: while stalled, retry bridging this often */
    struct {
        uint64_t files, max_txid;
    } levels[NLEVELS];

    /* ?time= resolution (under ts_mu): the last listing of every level,
     * reused for an l1 interval for targets before it was taken, and on S3
     * the header timestamps of the files in it (CreatedAt), sorted */
    pthread_mutex_t ts_mu;
    ltx_fileinfo *tfiles;
    size_t ntfiles;
    int64_t tfiles_mono, tfiles_wall;
    struct tsent {
        uint64_t min, max;
        int level;
        int64_t ts;
    } * tscache;
    size_t ntscache;

    /* verification (db_verify.c), under vset_mu: files verified (sorted by
     * name, capped) and files rejected (a ring) with the reason */
    pthread_mutex_t vset_mu;
    db_fid *good;
    size_t ngood, capgood;
    struct db_bad {
        db_fid id;
        char why[200];
    } * bad; /* DB_BAD_MAX entries, allocated at the first rejection */
    unsigned nbad;
    int no_warm;      /* LTXPAGED_WARM=0: verification does not warm the cache (tests only) */
    int trailer_only; /* LTXPAGED_TRAILER_ONLY=1: the unverified start (bench only) */
    /* the cache namespace the next install starts (0 none): pages of a
     * replaced history are warmed under it, never under the old one */
    atomic_uint_fast64_t pending_uid;
    /* progress of the build in progress (or the last one) */
    atomic_uint_fast64_t vfy_files_total, vfy_files_done, vfy_bytes_total, vfy_bytes_done, vfy_bytes_read;
    atomic_int building;
    atomic_int build_nowarm;  /* the build in progress does not warm the cache */
    int64_t build_started_ms; /* wall, under lock */
    int64_t last_build_ms;    /* duration of the last finished live build, -1 none (under lock) */

    /* honest states: store health of the polls (poller only, read under lock) */
    int consec_fail;                  /* polls in a row that the store failed */
    _Atomic int64_t last_store_ok_ms; /* wall: the store last answered a poll, listing or file read */
    atomic_int removed;               /* folder gone on a rescan: 404, not listed */
    atomic_uint_fast64_t write_locks; /* +1 when a write takes update, +1 when it lets go: odd = writing */
    atomic_uint_fast64_t added_seq;   /* srv add_seq when added or re-added */
    unsigned creators;                /* under update: writes creating it (a rescan leaves it) */

    demand_db dm; /* demand.c: when to poll, readers waiting for a poll */
    atomic_uint_fast64_t cur_txid;
    atomic_uint_fast64_t history_gen;
    atomic_uint_fast64_t pages_served, polls, poll_errors, files_applied, replans, hist_builds;
};

/* ---- db.c: errors, state, snapshots ------------------------------------ */

void db_set_err(db_err *e, db_errcode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf for messages that are deliberately cut to their buffer (a store
 * or decoder message inside a fixed-size one). */
void db_msgf(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The domain code of a failed store call: DB_E_STORE_TIMEOUT when its
 * deadline passed (504), else DB_E_STORE (502). */
db_errcode db_store_errcode(obj_status st);
/* List every file of d's replica (objstore_list_all); on failure msg says
 * "list: <why>" and *files is NULL. */
obj_status db_list_all(ltxdb *d, ltx_fileinfo **files, size_t *nf, char *msg, size_t msglen);
/* "page N: msg", naming the page once: a decoder message that starts with
 * "page N:" already is kept as it is. */
void db_page_msg(char *out, size_t outlen, uint32_t pgno, const char *msg);
/* Log an error once a minute while it repeats; keep it as last_error. */
void db_record_error(ltxdb *d, const char *event, const char *msg);
/* Set the state (reason kept while stalled), logged on a change. A stall
 * holds at the current TXID; the file that moves past it clears it in the
 * same critical section as the new TXID, so status never shows the new
 * TXID with the old stall. */
void db_set_state(ltxdb *d, int st, const char *reason);
/* The same with d->lock held for writing (so a new TXID and its state are
 * seen together); returns the old state for db_log_state after unlocking. */
int db_set_state_locked(ltxdb *d, int st, const char *reason);
/* A stall's reason when TXID pos+1 is in none of the n files f (the one
 * wording for the first index and for a poll): 1 written, 0 when no file
 * starts after it */
int db_gap_msg(char *why, size_t whylen, uint64_t pos, const ltx_fileinfo *f, size_t n);
void db_log_state(const ltxdb *d, int old, int st, const char *reason);
/* Degraded: this many polls in a row failed, or the store answered no
 * poll, listing or file read for 3 poll intervals (at least
 * DB_DEGRADED_MIN_MS) while a poll waits on it (counted from the poll's
 * start after a success or a quiet back-off) or after a failed poll. */
#define DB_DEGRADED_POLLS  3
#define DB_DEGRADED_MIN_MS 2000
/* The store answered (a listing, a file read): store health is fine now. */
void db_store_answered(ltxdb *d);
/* The state readers see (degraded computed from store health). Caller
 * holds d->lock. */
int db_state_locked(const ltxdb *d, int64_t now);
/* The state the poller set (waiting, ok, stalled, error). */
int db_base_state(ltxdb *d);
/* Level statistics from a full listing. */
void db_update_levels(ltxdb *d, const ltx_fileinfo *f, size_t n);
void db_live_free(vindex *x);
void db_snap_of(const vrec *r, db_snap *s);
/* The replica is gone (nothing listed): drop the live and every
 * point-in-time index, start a new cache namespace and history
 * generation, wake long-polls; state waiting. Caller holds d->update. */
void db_drop_history(ltxdb *d, const char *why);
/* A new history: forget the TXIDs found not restorable and the listing kept
 * for ?time= (both of the old one). Takes hist_mu and ts_mu; caller holds
 * neither (nor d->lock). */
void db_forget_history_caches(ltxdb *d);

/* ---- db_index.c: index building ---------------------------------------- */

/* Results of indexing one file. */
enum { IX_OK = 0, IX_GONE = 1, IX_STORE = 2, IX_CORRUPT = 3, IX_NOMEM = 4 };

typedef struct {
    ltx_header hdr;
    ltx_index_entry *ents; /* malloc'd, caller frees */
    size_t n;
} file_ix;

/* Page index from the trailer (one tail read, a second range read only if
 * the index is longer) and the header (in the tail for small files, else
 * one 100-byte read), no checksum: only for files verified before.
 * IX_*; msg says why on failure. */
int db_index_tail(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen);

/* The header of f (one 100-byte read): 0 ok, -1 unreadable or invalid. */
int db_index_read_header(ltxdb *d, const ltx_fileinfo *f, ltx_header *h);

/* Results of db_index_plan (PLAN_RELIST stays inside it). */
/* PLAN_TIMEOUT: like PLAN_FAIL, the listing's store deadline passed. */
enum { PLAN_OK = 0, PLAN_WAIT, PLAN_NOT_AVAILABLE, PLAN_FAIL, PLAN_RELIST, PLAN_TIMEOUT };

/* Plan (latest when target == 0) and index: PLAN_OK with *out set (caller
 * owns it); else msg (and stall, for the latest) say why. *broken: the
 * newest file was rejected and the TXID before it was indexed. */
int db_index_plan(ltxdb *d, uint64_t target, vindex **out, char *stall, size_t stalllen, char *msg,
                  size_t msglen, int *broken);
/* Fresh plan for the latest TXID, installed as live; keeps the old index
 * when it fails (0 ok, -1 not). Caller holds d->update. */
int db_index_rebuild_live(ltxdb *d, const char *why);

/* ---- db_verify.c: verified before served ------------------------------ */

/* Page index of f for serving: verified whole (streamed, checksum, every
 * frame decoded; pages warm the cache) unless verified before, then from
 * its tail. IX_CORRUPT marks the file bad (and records the error). */
int db_verify_file(ltxdb *d, const ltx_fileinfo *f, file_ix *out, char *msg, size_t msglen);
int db_verify_known_good(ltxdb *d, const ltx_fileinfo *f);
void db_verify_mark_bad(ltxdb *d, const ltx_fileinfo *f, const char *why);
/* An L0 file fetched whole and decoded elsewhere: remember the verdict. */
void db_verify_l0_result(ltxdb *d, const ltx_fileinfo *f, int ok, const char *why);
/* Drop the files known bad from a listing (in place); the count dropped,
 * first = the reason of the first one. */
size_t db_verify_filter(ltxdb *d, ltx_fileinfo *files, size_t *nf, char *first, size_t firstlen);
/* 1 and the reason when a file known bad holds txid. */
int db_verify_bad_covering(ltxdb *d, uint64_t txid, char *out, size_t outlen);
/* Like db_verify_bad_covering, among the files listed (the objects listed,
 * known bad): what stops a plan at txid - 1. 1 when found, out set. */
int db_verify_bad_listed_covering(ltxdb *d, const ltx_fileinfo *files, size_t nf, uint64_t txid, char *out,
                                  size_t outlen);
void db_verify_forget_all(ltxdb *d);
json_t *db_verify_bad_json(ltxdb *d);

/* ---- db_poll.c: L0 polling -------------------------------------------- */

/* The pages of a decoded file (buf, len) into the shared cache (best
 * effort); also for a written file (db_write.c). */
void db_warm_file(ltxdb *d, const ltx_fileinfo *f, const uint8_t *buf, size_t len, const ltx_file_info *info);

/* ---- db_hist.c: historical indexes ------------------------------------- */

/* Free a historical index that was counted in srv.hist_total. */
void db_hist_drop(ltxdb *d, hist_ix *h);
/* The historical index of txid (marked used), or NULL. Caller holds d->lock. */
hist_ix *db_hist_find_locked(ltxdb *d, uint64_t txid);
/* Build (or find) the historical index for txid. 0 ok, else fills err. */
int db_hist_get(ltxdb *d, uint64_t txid, db_err *err);

#endif
