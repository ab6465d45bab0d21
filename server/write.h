/* write.h - writes through the page server (issue 11): publishing an
 * uploaded LTX file as the next L0 of a database under its lease, the
 * compaction ladder run by the lease holder, fork and rollback.
 *
 *   write.c        the per-database write state, publish, lease status
 *   write_state.c  a database state from the bucket (fork, rollback,
 *                  snapshots)
 *   compactor.c    the lease holder's thread: renewals, L1/L2/L3 windows,
 *                  level-9 snapshots, L0 retention, idle release
 *
 * Nothing here knows HTTP: errors are write_errcode values that
 * http/http_write.c maps to statuses. Thread-safe. */
#ifndef LTXPAGED_WRITE_H
#define LTXPAGED_WRITE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "compact.h"
#include "db.h"
#include "lease.h"
#include "srv.h"

typedef enum {
    WE_NONE = 0,
    WE_BAD_REQUEST, /* a bad argument (name, TXID) */
    WE_BAD_LTX,     /* the body is not a valid LTX file, or the wrong page size */
    WE_BAD_TXID,    /* the file's TXIDs are not base+1 */
    WE_NO_DB,       /* unknown database (and none can be created) */
    WE_CONFLICT,    /* base is not the current TXID, or base+1 exists: txid = the current one */
    WE_LEASE,       /* another process holds the lease: holder */
    WE_EXISTS,      /* fork target exists */
    WE_NOT_READY,   /* no index yet, or the server is stopping */
    WE_STORE,       /* the object store failed */
    WE_NOMEM,
    WE_DISABLED, /* no --write-token */
} write_errcode;

typedef struct {
    write_errcode code;
    char msg[300];
    uint64_t txid;     /* WE_CONFLICT: the current TXID as known here */
    lease_info holder; /* WE_LEASE */
} write_err;

/* Start the write layer when --write-token is set (else nothing): checks
 * --compaction-intervals, starts the compactor. 0 ok, -1 (logged). */
int write_start(srv *s);
/* Refuse new writes, wait for those in flight, stop the compactor and
 * release every lease held. Idempotent. */
void write_stop(srv *s);
/* Free the state (after the HTTP layer stopped). */
void write_free(srv *s);

/* Publish buf (one LTX file, TXID base+1) on database name; base 0 creates
 * it under the first --replica root. 0 ok (*out = the new snapshot), -1
 * with err filled. */
int write_publish(srv *s, const char *name, uint64_t base, const uint8_t *buf, size_t len, db_snap *out,
                  write_err *err);
/* POST /admin/dbs/{db}/fork: new database `to` holding state txid of
 * `from` (one L0 snapshot file, TXID 1). */
int write_fork(srv *s, const char *from, uint64_t txid, const char *to, db_snap *out, write_err *err);
/* POST /admin/dbs/{db}/rollback: a new TXID (current+1) whose content is
 * state txid. */
int write_rollback(srv *s, const char *name, uint64_t txid, db_snap *out, write_err *err);

/* {"holder","expires","ours","generation"} of the database's lease as last
 * seen by this server, or NULL when it never looked (new reference). */
json_t *write_lease_json(srv *s, const char *name);

/* ---- shared by write*.c and compactor.c ---- */

#define WRITE_MAX_LEVELS 8

typedef struct write_db {
    struct write_db *next;
    char *name;
    ltxdb *d;
    lease *ls;
    pthread_mutex_t cmu;                      /* one compaction / fork / rollback build at a time */
    _Atomic int64_t last_write_ms;            /* wall clock of the last publish */
    _Atomic int64_t arm_ms;                   /* set when the lease was just taken: schedule the ladder */
    int64_t next_level[WRITE_MAX_LEVELS + 1]; /* wall ms: next L1..Ln compaction */
    int64_t next_snapshot;
    int64_t next_retention;
    int active; /* the compactor looks after it (lease held) */
} write_db;

typedef struct write_srv {
    srv *s;
    pthread_mutex_t mu; /* dbs list, active, stop */
    pthread_cond_t cv;
    write_db *dbs;
    size_t ndbs;
    int64_t intervals[WRITE_MAX_LEVELS]; /* L1.. windows */
    int nlevels;
    int stopping;
    int inflight; /* publishes running */
    pthread_t thr;
    int thr_started;
} write_srv;

/* The write state of name (created on first use); NULL without memory or
 * when the table is full. */
write_db *write_db_get(write_srv *w, ltxdb *d);

/* write_state.c: the pages of state txid (0 = latest) of a database,
 * read from its bucket. 0 ok (*reached, *last = header of the last file
 * applied), -1 (msg). */
int write_state_build(objstore *st, const char *db, uint64_t txid, ltx_pagemap *pm, uint64_t *reached,
                      ltx_header *last, char *msg, size_t msglen);
/* A snapshot LTX (TXIDs min..max) of every page of pm (pages it lacks
 * are added as zeros): 0 ok (*out malloc'd). */
int write_state_snapshot(ltx_pagemap *pm, uint64_t min_txid, uint64_t max_txid, int64_t ts_ms, uint8_t **out,
                         size_t *len, char *msg, size_t msglen);

/* compactor.c */
int compactor_start(write_srv *w);
void compactor_stop(write_srv *w);
/* Parse "30s,5m,1h" into intervals. 0 ok, -1. */
int compactor_parse_intervals(const char *s, int64_t *iv, int *n);
/* Called by a publish that just took the lease: the compactor schedules
 * the ladder from now on. */
void compactor_arm(write_srv *w, write_db *wd, int64_t now);

#endif
