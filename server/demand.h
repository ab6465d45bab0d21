/* demand.h - polling that follows demand.
 *
 * A database read in the last --poll-idle-after is polled every
 * --poll-interval; one nobody reads backs off (the interval doubles after
 * each poll, up to --poll-idle-max). A read of a backed-off database asks
 * its poller for a poll at once and waits for it (at most DEMAND_WAIT_MS)
 * before answering "latest": a reader never gets a latest older than the
 * replica was when it asked (on a timeout it gets DB_E_NOT_READY, which
 * the edge answers 503 with Retry-After).
 *
 * Request path: demand_latest_ok() (no lock, no waiting: an atomic load
 * and at most one atomic store per DEMAND_NOTE_MS) and demand_wait_latest()
 * (may block up to DEMAND_WAIT_MS, on a backed-off database only).
 * Pollers (srv.c): demand_due() and demand_poll(). */
#ifndef LTXPAGED_DEMAND_H
#define LTXPAGED_DEMAND_H

#include <stdatomic.h>
#include <stdint.h>

#include "db.h"

#define DEMAND_WAIT_MS 400 /* how long a read of a backed-off database waits for its poll */
#define DEMAND_NOTE_MS 100 /* a read is noted at most this often (one shared store) */

/* Per-database state (a field of struct ltxdb; zero is the start state). */
typedef struct {
    atomic_int_fast64_t last_read_ms; /* mono ms of the last noted read */
    atomic_int_fast64_t interval_ms;  /* current poll interval; 0 before the first poll */
    atomic_int_fast64_t started_ms;   /* wall ms when the last poll started (degraded: how long it waits) */
    atomic_uint_fast64_t started;     /* polls started */
    atomic_uint_fast64_t done;        /* the last poll finished (its number) */
    atomic_int urgent;                /* a reader waits for a poll */
    int64_t next_ms;                  /* poller only: mono time of the next poll */
} demand_db;

/* Note a read of d (pinned or latest). Cheap; no lock. */
void demand_note_read(ltxdb *d);
/* Request fast path before answering from memory: notes the read; 1 when
 * txid is pinned (nonzero) or d's latest is kept fresh (polled every
 * interval), 0 when the caller must take the path that may wait
 * (ltxdb_resolve, which calls demand_wait_latest). */
int demand_latest_ok(ltxdb *d, uint64_t txid);
/* Before answering latest: notes the read; when d is backed off, asks for
 * a poll at once and waits for it. 0 ok; -1 with *err set (DB_E_NOT_READY)
 * when the poll did not finish within DEMAND_WAIT_MS. */
int demand_wait_latest(ltxdb *d, db_err *err);

/* Pollers: when d is due (mono ms; 0 = at once, e.g. a reader waits). */
int64_t demand_due(ltxdb *d);
/* 1 when a reader waits for a poll of d. */
int demand_urgent(ltxdb *d);
/* Poll d now (ltxdb_poll), then schedule the next poll by its demand and
 * wake readers waiting for it. */
void demand_poll(srv *s, ltxdb *d, int64_t mono_now);
/* The interval a database gets after a poll: poll_ms when read within
 * idle_after_ms, else the previous interval doubled (at least 2 x poll_ms),
 * at most idle_max_ms (never below poll_ms). Pure; for tests. */
int64_t demand_next_interval(int64_t prev_ms, int64_t since_read_ms, int64_t poll_ms, int64_t idle_after_ms,
                             int64_t idle_max_ms);

#endif
