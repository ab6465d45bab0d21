/* lh_file.h - one open remote main-database file: its snapshot pin, page
 * reads with read-ahead through the shared cache, time travel and the
 * ltxhttp_* pragmas. ltxhttp.c's SQLite methods call these.
 *
 * An lh_file belongs to one SQLite connection (SQLite serialises calls on
 * it); the shared state it points to has its own lock.
 */
#ifndef LH_FILE_H
#define LH_FILE_H

#include "lh_http.h"
#include "lh_settings.h"
#include "lh_sqlite.h"
#include "lh_watch.h"

#include <stdint.h>
#include <sys/types.h>

#define LH_FILE_ERRLEN   512
#define LH_FILE_MAX_PAGE 65536 /* bytes, SQLite's largest page */

typedef struct lh_file {
    sqlite3_file base; /* Base class. Must be first. */
    lh_watch *sh;      /* shared state and cache */
    lh_settings cfg;
    lh_http_conn *conn;
    char *edb; /* URL-escaped db name */
    char *url; /* request path scratch (grows) */
    size_t urlcap;
    lh_http_resp resp;
    int lock;          /* SQLITE_LOCK_NONE or SHARED */
    pid_t pid;         /* process that opened it (no use across fork) */
    unsigned forks;    /* lh_http_forks() then */
    uint64_t pin_txid; /* valid while lock >= SHARED */
    uint32_t pin_commit;
    int fixed; /* time travel: next transactions use fixed_txid */
    uint64_t fixed_txid;
    uint32_t fixed_commit;
    char *fixed_time; /* as given to ltxhttp_time, or NULL */
    uint32_t last_pgno;
    int run;             /* consecutive sequential page reads */
    unsigned char *page; /* one page scratch (LH_FILE_MAX_PAGE bytes) */
    uint64_t hits, misses, requests, bytes, readahead, errors;
    char err[LH_FILE_ERRLEN]; /* last error, for PRAGMA ltxhttp_error */
    int oflags;               /* xOpen flags (set before lh_file_open) */
    struct lh_write *wr;      /* write mode (lh_write.c), or NULL */
} lh_file;

/* Open the database zName (a zeroed f): settings, status request, shared
 * state, optional txid=/time= from the URI. Returns SQLITE_OK, or an SQLite
 * code after logging why (then call lh_file_close). */
int lh_file_open(lh_file *f, const char *zName);

/* Release everything f holds; fine on a half-open f. */
void lh_file_close(lh_file *f);

/* xRead: amt bytes at off of the pinned snapshot (zero-filled
 * SQLITE_IOERR_SHORT_READ past its end); in write mode lh_write_read. */
int lh_file_read(lh_file *f, void *buf, int amt, sqlite3_int64 off);
/* The same from the server alone, at f->pin_txid (write mode's misses). */
int lh_file_read_remote(lh_file *f, void *buf, int amt, sqlite3_int64 off);

/* Bytes of the snapshot this connection reads now. */
sqlite3_int64 lh_file_size(lh_file *f);

/* xLock: SHARED pins the TXID of the read transaction. */
int lh_file_lock(lh_file *f, int level);

/* SQLITE_FCNTL_PRAGMA: ltxhttp_txid, _time, _stats, _error, _server;
 * SQLITE_NOTFOUND for other names. */
int lh_file_pragma(lh_file *f, char **az);

/* Page 1 as SQLite must see it: rollback-journal mode, change counter and
 * version-valid-for from the TXID, in-header size = commit. */
void lh_file_patch_page1(unsigned char *p, uint32_t ps, uint64_t txid, uint32_t commit);

#endif /* LH_FILE_H */
