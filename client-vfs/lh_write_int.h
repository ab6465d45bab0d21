/* lh_write_int.h - what lh_write.c (buffer, undo log, SQLite methods) and
 * lh_write_sync.c (LTX, POST, sync thread) share. Not for other files.
 *
 * The buffer is a hash of pages (pgno -> bytes), each tagged with the
 * write generation that produced it and the transaction that last wrote
 * it. A sync sends every live page; on success the pages it sent and that
 * were not written again since (gen <= sent gen) leave the buffer, and base
 * becomes the server's new TXID. The first write of a page in a transaction
 * moves the previous entry (or "absent") to the undo log, so a transaction
 * that ends without COMMIT_PHASETWO is undone here, whatever SQLite's
 * journal did. Every field below mu is guarded by it.
 */
#ifndef LH_WRITE_INT_H
#define LH_WRITE_INT_H

#include "lh_file.h"
#include "lh_http.h"
#include "lh_write.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define LH_WRITE_NBUCKETS 4096
#define LH_WRITE_MAX_BODY (1u << 20) /* bytes of a JSON answer */

typedef struct lh_write_page {
    struct lh_write_page *next; /* hash chain, or undo log */
    uint32_t pgno;
    int dead;             /* cut off by a truncate in the current transaction */
    uint64_t txn;         /* transaction that last wrote it */
    uint64_t gen;         /* write generation */
    unsigned char data[]; /* page_size bytes */
} lh_write_page;

/* An undo record: pgno had entry old (NULL: absent) before the transaction. */
typedef struct lh_write_undo {
    struct lh_write_undo *next;
    uint32_t pgno;
    lh_write_page *old;
} lh_write_undo;

struct lh_write {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int th_ok;
    lh_settings cfg;    /* the sync's copy (server in use, token) */
    lh_http_conn *conn; /* the sync's connection */
    char *edb;          /* URL-escaped database name */
    lh_http_resp resp;  /* the sync's answers */
    lh_watch *sh;       /* the connection's shared state (not owned) */
    lh_write_page *buckets[LH_WRITE_NBUCKETS];
    size_t npages; /* entries in buckets */
    size_t nundo;  /* undo records holding a page */
    size_t cap;    /* bytes: write_buffer */
    uint32_t ps;   /* page size, 0 until known (new database) */
    uint64_t base; /* TXID the buffer is built on (0: new database) */
    uint32_t base_commit;
    uint32_t commit;  /* database size in pages as the writer sees it */
    uint32_t counter; /* change counter presented in page 1 */
    uint64_t gen;     /* last write generation */
    uint64_t txn;     /* current (or last) write transaction */
    int in_txn;       /* lock >= RESERVED */
    int committed;    /* COMMIT_PHASETWO seen in this transaction */
    uint32_t txn_commit;
    lh_write_undo *undo;
    int doomed;        /* txid_conflict: drop the buffer at the next read transaction */
    int refresh;       /* adopt the server's newest TXID at the next read transaction */
    int report;        /* a background failure not yet returned to a write */
    int report_rc;     /* its SQLite code */
    int failing;       /* last sync failed (kept, retried) */
    int want;          /* the sync thread waits for a gap between transactions */
    int flushing;      /* a POST is in flight (one at a time) */
    uint8_t *amb_body; /* the last attempt whose answer was lost (it may have landed), or NULL */
    size_t amb_len;
    uint64_t amb_base, amb_gen; /* its base and the write generation it carried */
    uint32_t amb_commit;
    int stop;
    int64_t due_ms; /* next background sync (monotonic ms), 0: nothing due */
    long backoff_ms;
    uint64_t syncs, sync_errors, sync_pages, sync_bytes;
    int64_t last_sync_ms; /* duration of the last successful sync */
    char err[LH_WRITE_ERRLEN];
    unsigned char *scratch; /* one page */
};

/* lh_write.c */
lh_write_page *lh_write_find(lh_write *w, uint32_t pgno);
void lh_write_remove(lh_write *w, lh_write_page *p); /* unlink and free */
void lh_write_drop_all(lh_write *w);
void lh_write_forget_attempt(lh_write *w);
void lh_write_log(const lh_write *w, int rc, const char *msg);
void lh_write_set_err(lh_write *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lh_write_has_changes(const lh_write *w);

/* lh_write_sync.c. Called with mu held; releases it during the POST.
 * Returns SQLITE_OK, or the error (message in w->err). */
int lh_write_flush(lh_write *w);
/* The server's state now (GET /{db}) on conn. 0, or -1 with w->err. */
int lh_write_status(lh_write *w, lh_http_conn *conn, lh_settings *cfg, lh_http_resp *r, uint64_t *txid,
                    uint32_t *commit, uint32_t *ps);
int lh_write_start_thread(lh_write *w);
void lh_write_stop_thread(lh_write *w);

#endif /* LH_WRITE_INT_H */
