/* lh_write.c - write mode: the buffer, its undo log and the SQLite methods
 * of a writing connection (see lh_write.h, lh_write_int.h).
 *
 * Transactions: xLock(RESERVED) starts one; the first write of a page in
 * it moves the previous entry to the undo log; SQLITE_FCNTL_COMMIT_PHASETWO
 * (after SQLite's commit point) drops the log, and with sync_interval=0
 * first sends the buffer and waits for the server; an unlock below
 * RESERVED without that commit undoes the transaction here. So a failed
 * write (buffer full, server error) never leaves half a transaction in the
 * buffer, whether or not SQLite played its journal back.
 *
 * Page 1: the writer sees bytes 18-19 = 1, its own change counter (bytes
 * 24-27 and 92-95) and its size (28-31). The counter is what SQLite last
 * wrote, or one more whenever the content changes under it (a refresh, an
 * undo), so SQLite keeps its cache across its own commits and syncs and
 * drops it exactly when someone else's data arrives.
 */
#include "lh_write_int.h"

#include "ltxhttp.h"

#include "../proto/wire.h"
#include "be.h"
#include "ltx.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LH_WRITE_MIN_CAP (256u * 1024)

void lh_write_log(const lh_write *w, int rc, const char *msg)
{
    sqlite3_log(rc, "ltxhttp: %s", msg);
    if (w->cfg.log)
        fprintf(stderr, "ltxhttp: %s\n", msg);
}

void lh_write_set_err(lh_write *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

/* Keep the message, log it, return rc. */
static int lh_write_fail(lh_write *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lh_write_fail(lh_write *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    lh_write_log(w, rc, w->err);
    return rc;
}

int lh_write_has_changes(const lh_write *w)
{
    return w->npages > 0 || (w->ps && w->commit != w->base_commit);
}

/* ------------------------------------------------------------- the hash */

static unsigned lh_write_bucket(uint32_t pgno) { return (pgno * 2654435761u) % LH_WRITE_NBUCKETS; }

/* The entry of pgno, dead or alive. */
static lh_write_page *lh_write_find_any(lh_write *w, uint32_t pgno)
{
    for (lh_write_page *p = w->buckets[lh_write_bucket(pgno)]; p; p = p->next)
        if (p->pgno == pgno)
            return p;
    return NULL;
}

lh_write_page *lh_write_find(lh_write *w, uint32_t pgno)
{
    lh_write_page *p = lh_write_find_any(w, pgno);
    return p && !p->dead ? p : NULL;
}

static void lh_write_insert(lh_write *w, lh_write_page *p)
{
    unsigned b = lh_write_bucket(p->pgno);
    p->next = w->buckets[b];
    w->buckets[b] = p;
    w->npages++;
}

static void lh_write_unlink(lh_write *w, lh_write_page *p)
{
    lh_write_page **pp = &w->buckets[lh_write_bucket(p->pgno)];
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = p->next;
        w->npages--;
    }
    p->next = NULL;
}

void lh_write_remove(lh_write *w, lh_write_page *p)
{
    lh_write_unlink(w, p);
    free(p);
}

/* --------------------------------------------------------- the undo log */

/* Drop the log: the transaction committed. Entries cut off by it go too. */
static void lh_write_undo_commit(lh_write *w)
{
    while (w->undo) {
        lh_write_undo *u = w->undo;
        w->undo = u->next;
        if (u->old) {
            free(u->old);
            w->nundo--;
        }
        free(u);
    }
    for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++) {
        lh_write_page **pp = &w->buckets[b];
        while (*pp) {
            lh_write_page *p = *pp;
            if (p->dead) {
                *pp = p->next;
                w->npages--;
                free(p);
            } else {
                pp = &p->next;
            }
        }
    }
}

/* Put back what the transaction changed. Returns 1 if anything was. */
static int lh_write_undo_apply(lh_write *w)
{
    int any = w->undo != NULL || w->commit != w->txn_commit;
    while (w->undo) {
        lh_write_undo *u = w->undo;
        w->undo = u->next;
        lh_write_page *cur = lh_write_find_any(w, u->pgno);
        if (cur)
            lh_write_remove(w, cur);
        if (u->old) {
            lh_write_insert(w, u->old);
            w->nundo--;
        }
        free(u);
    }
    w->commit = w->txn_commit;
    if (any)
        w->counter++;
    return any;
}

void lh_write_forget_attempt(lh_write *w)
{
    free(w->amb_body);
    w->amb_body = NULL;
    w->amb_len = 0;
}

void lh_write_drop_all(lh_write *w)
{
    lh_write_forget_attempt(w);
    lh_write_undo_commit(w);
    for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++)
        while (w->buckets[b])
            lh_write_remove(w, w->buckets[b]);
}

/* ------------------------------------------------------------------ reads */

/* Page 1 as the writer sees it. */
static void lh_write_patch_page1(const lh_write *w, unsigned char *p)
{
    p[18] = 1;
    p[19] = 1;
    be_put32(p + 24, w->counter);
    be_put32(p + 28, w->commit);
    be_put32(p + 92, w->counter);
}

/* Page pgno (<= commit) of the writer's view into out. Called with mu
 * held; releases it while reading from the server. */
static int lh_write_page_view(lh_file *f, uint32_t pgno, unsigned char *out)
{
    lh_write *w = f->wr;
    lh_write_page *p = lh_write_find(w, pgno);
    if (p) {
        memcpy(out, p->data, w->ps);
    } else if (pgno > w->base_commit) {
        memset(out, 0, w->ps);
    } else {
        uint64_t txid = w->base;
        uint32_t bc = w->base_commit, ps = w->ps;
        pthread_mutex_unlock(&w->mu);
        int lock = f->lock;
        f->pin_txid = txid;
        f->pin_commit = bc;
        if (f->lock < SQLITE_LOCK_SHARED)
            f->lock = SQLITE_LOCK_SHARED;
        int rc = lh_file_read_remote(f, out, (int)ps, (sqlite3_int64)(pgno - 1) * ps);
        f->lock = lock;
        pthread_mutex_lock(&w->mu);
        if (rc != SQLITE_OK)
            return rc == SQLITE_IOERR_SHORT_READ ? LTXHTTP_IOERR_SERVER : rc;
    }
    if (pgno == 1)
        lh_write_patch_page1(w, out);
    return SQLITE_OK;
}

int lh_write_read(lh_file *f, void *buf, int amt, sqlite3_int64 off)
{
    lh_write *w = f->wr;
    unsigned char *out = buf;
    if (amt < 0 || off < 0)
        return SQLITE_IOERR_READ;
    pthread_mutex_lock(&w->mu);
    sqlite3_int64 pos = off, end = off + amt;
    while (pos < end) {
        uint32_t ps = w->ps;
        if (ps == 0 || (uint64_t)(pos / ps) + 1 > w->commit) {
            pthread_mutex_unlock(&w->mu);
            memset(out + (pos - off), 0, (size_t)(end - pos));
            return SQLITE_IOERR_SHORT_READ;
        }
        uint32_t pg = (uint32_t)(pos / ps) + 1;
        size_t in = (size_t)(pos % ps), take = ps - in;
        if ((sqlite3_int64)take > end - pos)
            take = (size_t)(end - pos);
        int rc = lh_write_page_view(f, pg, w->scratch);
        if (rc != SQLITE_OK) {
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        memcpy(out + (pos - off), w->scratch + in, take);
        pos += (sqlite3_int64)take;
    }
    pthread_mutex_unlock(&w->mu);
    return SQLITE_OK;
}

sqlite3_int64 lh_write_size(lh_file *f)
{
    lh_write *w = f->wr;
    pthread_mutex_lock(&w->mu);
    sqlite3_int64 n = (sqlite3_int64)w->commit * w->ps;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ----------------------------------------------------------------- writes */

/* Store one whole page written in the current transaction. mu held. */
static int lh_write_put(lh_write *w, uint32_t pgno, const unsigned char *data)
{
    lh_write_page *p = lh_write_find_any(w, pgno);
    if (p && p->txn == w->txn) {
        memcpy(p->data, data, w->ps);
        p->dead = 0;
    } else {
        if ((w->npages + w->nundo + 1) * (size_t)w->ps > w->cap)
            return lh_write_fail(
                w, SQLITE_FULL,
                "write buffer of %s is full: %zu pages of %u bytes buffered, write_buffer=%zu bytes; "
                "the transaction is undone (raise write_buffer, sync more often, or split it)",
                w->cfg.db, w->npages + w->nundo, w->ps, w->cap);
        lh_write_undo *u = malloc(sizeof *u);
        lh_write_page *np = malloc(sizeof *np + w->ps);
        if (!u || !np) {
            free(u);
            free(np);
            return SQLITE_NOMEM;
        }
        if (p) {
            lh_write_unlink(w, p);
            w->nundo++;
        }
        u->pgno = pgno;
        u->old = p;
        u->next = w->undo;
        w->undo = u;
        np->pgno = pgno;
        np->dead = 0;
        np->txn = w->txn;
        memcpy(np->data, data, w->ps);
        lh_write_insert(w, np);
        p = np;
    }
    p->gen = ++w->gen;
    if (pgno > w->commit)
        w->commit = pgno;
    if (pgno == 1)
        w->counter = be_get32(data + 24);
    return SQLITE_OK;
}

/* The page size of a new database from its first write (page 1). */
static int lh_write_learn_ps(lh_write *w, const unsigned char *b, int amt, sqlite3_int64 off)
{
    if (off != 0 || amt < 100 || amt > LTX_MAX_PAGE_SIZE || !ltx_page_size_valid((uint32_t)amt))
        return lh_write_fail(w, SQLITE_IOERR_WRITE,
                             "first write to new database %s is not a whole page 1 (%d at %lld)", w->cfg.db,
                             amt, (long long)off);
    uint32_t hps = be_get16(b + 16) == 1 ? 65536 : be_get16(b + 16);
    if (hps != (uint32_t)amt)
        return lh_write_fail(w, SQLITE_IOERR_WRITE, "new database %s: header page size %u, page written %d",
                             w->cfg.db, hps, amt);
    w->ps = (uint32_t)amt;
    return SQLITE_OK;
}

int lh_write_write(lh_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    lh_write *w = f->wr;
    const unsigned char *in = buf;
    if (amt < 0 || off < 0)
        return SQLITE_IOERR_WRITE;
    pthread_mutex_lock(&w->mu);
    int rc = SQLITE_OK;
    if (w->report) { /* a background sync failed: tell the next write */
        w->report = 0;
        rc = w->report_rc;
        lh_write_log(w, rc, w->err);
        goto out;
    }
    if (w->ps == 0 && (rc = lh_write_learn_ps(w, in, amt, off)) != SQLITE_OK)
        goto out;
    if (off < 20 && off + amt >= 20 && (in[18 - off] != 1 || in[19 - off] != 1)) {
        rc = lh_write_fail(w, SQLITE_READONLY,
                           "write mode keeps %s in rollback-journal mode; WAL is not supported", w->cfg.db);
        goto out;
    }
    uint32_t ps = w->ps, lockpg = ltx_lock_pgno(ps);
    sqlite3_int64 pos = off, end = off + amt;
    while (pos < end && rc == SQLITE_OK) {
        uint32_t pg = (uint32_t)(pos / ps) + 1;
        size_t at = (size_t)(pos % ps), take = ps - at;
        if ((sqlite3_int64)take > end - pos)
            take = (size_t)(end - pos);
        if (pg == lockpg) {
            rc = lh_write_fail(w, SQLITE_IOERR_WRITE, "write to the lock page %u of %s", pg, w->cfg.db);
            break;
        }
        if (take == ps) {
            rc = lh_write_put(w, pg, in + (pos - off));
        } else { /* partial page: read, patch, store */
            unsigned char *pg_buf = w->scratch + LTX_MAX_PAGE_SIZE;
            if (pg <= w->commit)
                rc = lh_write_page_view(f, pg, pg_buf);
            else
                memset(pg_buf, 0, ps);
            if (rc == SQLITE_OK) {
                memcpy(pg_buf + at, in + (pos - off), take);
                rc = lh_write_put(w, pg, pg_buf);
            }
        }
        pos += (sqlite3_int64)take;
    }
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int lh_write_truncate(lh_file *f, sqlite3_int64 size)
{
    lh_write *w = f->wr;
    pthread_mutex_lock(&w->mu);
    if (w->ps == 0 || size < 0) {
        pthread_mutex_unlock(&w->mu);
        return size == 0 ? SQLITE_OK : SQLITE_IOERR_TRUNCATE;
    }
    uint32_t nc = (uint32_t)((size + w->ps - 1) / w->ps);
    for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++) {
        lh_write_page *p = w->buckets[b];
        while (p) {
            lh_write_page *next = p->next;
            if (p->pgno > nc && !p->dead) {
                if (p->txn == w->txn) {
                    p->dead = 1;
                } else {
                    lh_write_undo *u = malloc(sizeof *u);
                    if (!u) {
                        pthread_mutex_unlock(&w->mu);
                        return SQLITE_NOMEM;
                    }
                    lh_write_unlink(w, p);
                    w->nundo++;
                    *u = (lh_write_undo){ .next = w->undo, .pgno = p->pgno, .old = p };
                    w->undo = u;
                }
            }
            p = next;
        }
    }
    if (nc < w->commit)
        w->commit = nc;
    pthread_mutex_unlock(&w->mu);
    return SQLITE_OK;
}

/* ------------------------------------------------------------------ locks */

/* Start of a read transaction: drop a doomed buffer, adopt the server's
 * newest TXID when asked to or when someone else wrote. mu held. */
static void lh_write_begin_read(lh_file *f)
{
    lh_write *w = f->wr;
    if (w->doomed) {
        lh_write_drop_all(w);
        w->doomed = 0;
        w->refresh = 1;
        w->counter++;
    }
    if (w->refresh && w->npages == 0) {
        uint64_t txid;
        uint32_t commit, ps;
        pthread_mutex_unlock(&w->mu);
        int ok = lh_write_status(w, f->conn, &f->cfg, &f->resp, &txid, &commit, &ps) == 0;
        pthread_mutex_lock(&w->mu);
        if (ok && w->npages == 0) {
            if (txid != w->base || commit != w->commit)
                w->counter++;
            w->base = txid;
            w->base_commit = w->commit = commit;
            if (!w->ps)
                w->ps = ps;
            w->refresh = 0;
        }
        return;
    }
    if (w->npages == 0 && !lh_write_has_changes(w)) {
        pthread_mutex_lock(&f->sh->mu);
        uint64_t known = f->sh->known;
        uint32_t commit = f->sh->commit;
        int psk = f->sh->ps_known;
        pthread_mutex_unlock(&f->sh->mu);
        if (known > w->base && psk) { /* another writer published */
            w->base = known;
            w->base_commit = w->commit = commit;
            w->counter++;
        }
    }
}

int lh_write_lock(lh_file *f, int level)
{
    lh_write *w = f->wr;
    if (f->forks != lh_http_forks())
        return lh_write_fail(w, SQLITE_IOERR_LOCK,
                             "connection to %s opened in process %ld used in process %ld after fork()",
                             w->cfg.db, (long)f->pid, (long)getpid());
    int rc = SQLITE_OK;
    pthread_mutex_lock(&w->mu);
    if (level >= SQLITE_LOCK_SHARED && f->lock < SQLITE_LOCK_SHARED)
        lh_write_begin_read(f);
    if (level >= SQLITE_LOCK_RESERVED && f->lock < SQLITE_LOCK_RESERVED) {
        while (w->want && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->doomed) {
            rc = lh_write_fail(w, SQLITE_BUSY_SNAPSHOT,
                               "%s changed on the server under this transaction (txid_conflict); retry it",
                               w->cfg.db);
            goto out;
        }
        if ((w->npages + w->nundo) * (size_t)(w->ps ? w->ps : 4096) >= w->cap) {
            rc = lh_write_fail(
                w, SQLITE_FULL,
                "write buffer of %s is full (%zu pages, write_buffer=%zu bytes) and not synced yet: %s",
                w->cfg.db, w->npages, w->cap, w->err[0] ? w->err : "sync pending");
            goto out;
        }
        w->in_txn = 1;
        w->txn++;
        w->committed = 0;
        w->txn_commit = w->commit;
    }
    if (level > f->lock)
        f->lock = level;
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int lh_write_unlock(lh_file *f, int level)
{
    lh_write *w = f->wr;
    if (f->lock >= SQLITE_LOCK_RESERVED && level < SQLITE_LOCK_RESERVED) {
        pthread_mutex_lock(&w->mu);
        if (!w->committed && lh_write_undo_apply(w))
            sqlite3_log(SQLITE_NOTICE, "ltxhttp: %s: transaction undone in the write buffer", w->cfg.db);
        lh_write_undo_commit(w);
        w->in_txn = 0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    if (level < f->lock)
        f->lock = level;
    return SQLITE_OK;
}

/* After SQLite's commit point. sync_interval=0: send the buffer now and
 * fail the COMMIT (undone here) unless the server took it. */
static int lh_write_commit(lh_file *f)
{
    lh_write *w = f->wr;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&w->mu);
    if (f->cfg.sync_interval_ms == 0 && lh_write_has_changes(w)) {
        rc = lh_write_flush(w);
        if (rc != SQLITE_OK) {
            lh_write_undo_apply(w);
            w->refresh = 1;
            lh_write_log(w, rc, w->err);
        }
    }
    lh_write_undo_commit(w);
    w->committed = 1;
    if (f->cfg.sync_interval_ms > 0 && lh_write_has_changes(w)) {
        int64_t now = lh_http_now_ms();
        if (!w->due_ms)
            w->due_ms = now + f->cfg.sync_interval_ms;
        if ((w->npages + w->nundo) * (size_t)w->ps >= w->cap / 2)
            w->due_ms = now; /* half full: sync early */
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---------------------------------------------------------------- pragmas */

static char *lh_write_stats(lh_write *w)
{
    pthread_mutex_lock(&w->mu);
    char *s = sqlite3_mprintf("{\"base_txid\":\"%016llx\",\"commit\":%u,\"page_size\":%u,\"buffered_pages\":%"
                              "llu,\"buffer_bytes\":%llu,"
                              "\"write_buffer\":%llu,\"sync_interval_ms\":%ld,\"syncs\":%llu,\"sync_errors\":"
                              "%llu,\"synced_pages\":%llu,"
                              "\"synced_bytes\":%llu,\"last_sync_ms\":%lld,\"failing\":%d,\"error\":\"%w\"}",
                              (unsigned long long)w->base, w->commit, w->ps, (unsigned long long)w->npages,
                              (unsigned long long)((w->npages + w->nundo) * w->ps),
                              (unsigned long long)w->cap, w->cfg.sync_interval_ms,
                              (unsigned long long)w->syncs, (unsigned long long)w->sync_errors,
                              (unsigned long long)w->sync_pages, (unsigned long long)w->sync_bytes,
                              (long long)w->last_sync_ms, w->failing || w->doomed, w->err);
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* PRAGMA ltxhttp_sync: send the buffer now; answers the TXID. */
static int lh_write_pragma_sync(lh_file *f, char **az)
{
    lh_write *w = f->wr;
    pthread_mutex_lock(&w->mu);
    int rc = SQLITE_OK;
    if (w->in_txn)
        rc = SQLITE_ERROR, lh_write_set_err(w, "ltxhttp_sync inside a write transaction: COMMIT first");
    else if (w->doomed)
        rc = SQLITE_BUSY_SNAPSHOT;
    else
        rc = lh_write_flush(w);
    if (rc == SQLITE_OK) {
        w->due_ms = lh_write_has_changes(w) ? w->due_ms : 0;
        az[0] = sqlite3_mprintf("%016llx", (unsigned long long)w->base);
    } else {
        az[0] = sqlite3_mprintf("ltxhttp: %s", w->err);
    }
    pthread_mutex_unlock(&w->mu);
    return rc == SQLITE_OK ? SQLITE_OK : SQLITE_ERROR;
}

static int lh_write_pragma(lh_file *f, char **az)
{
    lh_write *w = f->wr;
    const char *name = az[1], *val = az[2];
    if (strcasecmp(name, "journal_mode") == 0 && val && strcasecmp(val, "wal") == 0) {
        az[0] = sqlite3_mprintf(
            "ltxhttp: write mode keeps a rollback journal; journal_mode=WAL is not supported");
        return SQLITE_ERROR;
    }
    if (strcasecmp(name, "locking_mode") == 0 && val && strcasecmp(val, "exclusive") == 0) {
        az[0] = sqlite3_mprintf("ltxhttp: locking_mode=EXCLUSIVE is not supported in write mode");
        return SQLITE_ERROR;
    }
    if ((strcasecmp(name, "ltxhttp_txid") == 0 || strcasecmp(name, "ltxhttp_time") == 0) && val) {
        az[0] = sqlite3_mprintf("ltxhttp: time travel needs a read-only connection (without write=1)");
        return SQLITE_ERROR;
    }
    if (strcasecmp(name, "ltxhttp_txid") == 0) {
        pthread_mutex_lock(&w->mu);
        az[0] = sqlite3_mprintf("%016llx", (unsigned long long)w->base);
        pthread_mutex_unlock(&w->mu);
        return SQLITE_OK;
    }
    if (strcasecmp(name, "ltxhttp_sync") == 0)
        return lh_write_pragma_sync(f, az);
    if (strcasecmp(name, "ltxhttp_write") == 0) {
        az[0] = lh_write_stats(w);
        return SQLITE_OK;
    }
    if (strcasecmp(name, "ltxhttp_error") == 0) {
        pthread_mutex_lock(&w->mu);
        char *s = w->err[0] ? sqlite3_mprintf("%s", w->err) : NULL;
        pthread_mutex_unlock(&w->mu);
        if (!s)
            return SQLITE_NOTFOUND;
        az[0] = s;
        return SQLITE_OK;
    }
    return SQLITE_NOTFOUND;
}

int lh_write_fcntl(lh_file *f, int op, void *arg)
{
    switch (op) {
    case SQLITE_FCNTL_COMMIT_PHASETWO: return lh_write_commit(f);
    case SQLITE_FCNTL_PRAGMA: return lh_write_pragma(f, (char **)arg);
    default: return SQLITE_NOTFOUND;
    }
}

/* ------------------------------------------------------------ open/close */

int lh_write_open(lh_file *f, uint64_t txid, uint32_t commit, uint32_t ps)
{
    lh_write *w = calloc(1, sizeof *w);
    if (!w)
        return SQLITE_NOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    f->wr = w;
    w->sh = f->sh;
    lh_http_resp_init(&w->resp, LH_WRITE_MAX_BODY);
    if (lh_settings_copy(&w->cfg, &f->cfg) != 0 || !(w->scratch = malloc(2 * (size_t)LTX_MAX_PAGE_SIZE)) ||
        !(w->conn = lh_http_open(&w->cfg, 0)) || !(w->edb = lh_http_escape(w->conn, w->cfg.db)))
        return lh_write_fail(w, SQLITE_NOMEM, "opening %s for writing: out of memory", f->cfg.db);
    w->cap = (size_t)f->cfg.write_buffer < LH_WRITE_MIN_CAP ? LH_WRITE_MIN_CAP : (size_t)f->cfg.write_buffer;
    w->ps = txid ? ps : 0;
    w->base = txid;
    w->base_commit = w->commit = txid ? commit : 0;
    w->counter = (uint32_t)txid;
    w->backoff_ms = f->cfg.sync_interval_ms;
    if (f->cfg.sync_interval_ms > 0 && lh_write_start_thread(w) != 0)
        return lh_write_fail(w, SQLITE_CANTOPEN, "opening %s for writing: cannot start the sync thread",
                             f->cfg.db);
    return SQLITE_OK;
}

void lh_write_close(lh_file *f)
{
    lh_write *w = f->wr;
    if (!w)
        return;
    f->wr = NULL;
    if (f->pid && f->forks != lh_http_forks())
        return; /* a fork()ed child: the buffer and its thread are the parent's */
    lh_write_stop_thread(w);
    pthread_mutex_lock(&w->mu);
    if (w->in_txn && !w->committed)
        lh_write_undo_apply(w);
    lh_write_undo_commit(w);
    w->in_txn = 0;
    if (w->doomed) {
        lh_write_log(w, SQLITE_BUSY_SNAPSHOT, w->err);
    } else if (w->conn && lh_write_has_changes(w)) {
        size_t n = w->npages;
        if (lh_write_flush(w) != SQLITE_OK) {
            char msg[LH_WRITE_ERRLEN + 128];
            snprintf(msg, sizeof msg, "closing %s: %zu buffered page(s) not sent, lost: %s", w->cfg.db, n,
                     w->err);
            lh_write_log(w, LTXHTTP_IOERR_SYNC, msg);
        }
    } else if (w->report) {
        lh_write_log(w, w->report_rc, w->err);
    }
    lh_write_drop_all(w);
    pthread_mutex_unlock(&w->mu);
    lh_http_free_escaped(w->edb);
    lh_http_close(w->conn);
    lh_http_resp_free(&w->resp);
    lh_settings_free(&w->cfg);
    free(w->scratch);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
