/* lease.h - one writer per database: Litestream's lease object.
 *
 * The lease is the small object "lock.json" beside a database's level
 * folders (file: <root>/<db>/lock.json, S3: <prefix>/<db>/lock.json), in
 * the JSON Litestream's leaser writes: {"generation":N,
 * "expires_at":"<RFC 3339 nano>","owner":"<host>:<pid>"}. It is taken with a
 * create-only write (none there) or a write conditional on the version of
 * an expired one, renewed by a write conditional on our version, and
 * released by a delete conditional on it. So ltxpaged and a Litestream
 * process never both believe they hold one database.
 *
 * Thread-safety: a lease has its own mutex; every function may be called
 * from any thread (store I/O happens under that mutex). */
#ifndef LTXPAGED_LEASE_H
#define LTXPAGED_LEASE_H

#include <pthread.h>
#include <stdint.h>

#include "objstore.h"

#define LEASE_OBJECT    "lock.json"
#define LEASE_TTL_MS    30000
#define LEASE_OWNER_MAX 128

typedef struct {
    int64_t generation;
    int64_t expires_ms; /* wall clock */
    char owner[LEASE_OWNER_MAX];
    char etag[LTX_ETAG_MAX];
} lease_info;

typedef struct {
    pthread_mutex_t mu;
    objstore *store;             /* not owned */
    char *db;                    /* store db argument, owned */
    char owner[LEASE_OWNER_MAX]; /* ours: "<host>:<pid>" */
    int64_t ttl_ms;
    int held;        /* we hold cur */
    lease_info cur;  /* ours when held; else the last one seen (owner "" = none) */
    int64_t seen_ms; /* when cur was last read or written */
    /* what lease_peek reports, copied at the end of every call above under
     * its own lock, so a status answer never waits for the store I/O that
     * mu is held for */
    pthread_mutex_t vmu;
    int view_held;
    lease_info view;
} lease;

/* Encode / decode the JSON of the lease object. decode: 0 ok, -1 not a lease. */
int lease_encode(const lease_info *li, char *out, size_t outlen);
int lease_decode(const uint8_t *buf, size_t len, lease_info *li);
/* Read the object: OBJ_OK (li filled, etag included) or OBJ_NOT_FOUND. */
obj_status lease_read(objstore *st, const char *db, lease_info *li, obj_error *e);

/* NULL without memory. */
lease *lease_new(objstore *st, const char *db, int64_t ttl_ms);
void lease_free(lease *l);

enum { LEASE_OURS = 0, LEASE_HELD = 1, LEASE_ACQUIRED = 2, LEASE_ERR = -1 };
/* Make sure we hold it until at least now + margin_ms: nothing when we do,
 * a renewal when ours expires sooner, else an acquisition. LEASE_OURS
 * (held before), LEASE_ACQUIRED (just taken: the caller must check the
 * bucket for files written before);
 * LEASE_HELD (*other = the holder's lease); LEASE_ERR (e says why). */
int lease_ensure(lease *l, int64_t margin_ms, lease_info *other, obj_error *e);
/* Renew when ours expires within ttl/2 (the compactor's beat). */
int lease_renew_due(lease *l, obj_error *e);
/* Give it up (conditional delete). 0 ok or not held. */
int lease_release(lease *l);
/* Snapshot of what we know: 1 when held by us. */
int lease_peek(lease *l, lease_info *li);

#endif
