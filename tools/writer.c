/* writer.c - the LTX writer behind `ltxctl snapshot` and `ltxctl replicate`:
 * a small, correct LTX writer for demos and tests (Litestream is the
 * production writer). All replica I/O goes through the shared object-store
 * backends, so file and S3 replicas behave the same.
 *
 * Reading the database: one read transaction per tick, inside which
 * sqlite3_serialize() copies every page through SQLite's own pager (so the
 * WAL is applied and a torn state is never seen). Pages that differ from the
 * previous tick's image (kept in memory) go into the next L0 file. After a
 * restart the previous image is rebuilt by restoring the replica.
 */
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "writer.h"
#include "writer_store.h"

volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Sleep up to ms, waking early when a stop signal arrives. */
void nap(int64_t ms)
{
    while (ms > 0 && !g_stop) {
        int64_t step = ms > 100 ? 100 : ms;
        struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* ---- the database side -------------------------------------------------- */

/* Return freed memory to the system between ticks: glibc keeps a freed
 * database-sized block in the heap otherwise (RSS stays one database). */
static void give_back(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

static int db_open(writer *w)
{
    int rc = sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK && access(w->path, F_OK) == 0) {
        /* no write permission: a read-only connection still reads consistently */
        sqlite3_close(w->db);
        w->db = NULL;
        rc = sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "ltxctl: cannot open database %s: %s\n", w->path,
                w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        sqlite3_close(w->db);
        w->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(w->db, 5000);
    return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "ltxctl: %s: %s\n", sql, err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Inside one read transaction: data_version, then (unless skip_if_dv says
 * nothing changed) a full copy of the database (sqlite3_serialize; free it
 * with sqlite3_free). *img NULL with *len 0 means "unchanged" or "empty".
 * Returns -1 on error. */
static int db_read(writer *w, int skip_if_dv, uint8_t **img, size_t *len, sqlite3_int64 *dv)
{
    *img = NULL;
    *len = 0;
    if (exec(w->db, "BEGIN"))
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->db, "PRAGMA data_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fprintf(stderr, "ltxctl: reading %s: %s\n", w->path, sqlite3_errmsg(w->db));
        sqlite3_finalize(st);
        exec(w->db, "ROLLBACK");
        return -1;
    }
    *dv = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (skip_if_dv && w->have_dv && *dv == w->last_dv) {
        exec(w->db, "COMMIT");
        return 0;
    }
    sqlite3_int64 sz = -1;
    unsigned char *p = sqlite3_serialize(w->db, "main", &sz, 0);
    int ok = 1;
    if (!p && sz > 0) {
        fprintf(stderr, "ltxctl: cannot copy %s (%lld bytes): out of memory\n", w->path, (long long)sz);
        ok = 0;
    } else if (sz > (sqlite3_int64)WR_MAX_DB_BYTES) {
        fprintf(stderr, "ltxctl: %s is %lld bytes, over the writer's limit of %zu\n", w->path, (long long)sz,
                (size_t)WR_MAX_DB_BYTES);
        ok = 0;
    }
    if (exec(w->db, "COMMIT"))
        ok = 0;
    if (!ok) {
        sqlite3_free(p);
        return -1;
    }
    if (p && sz > 0) {
        *img = p;
        *len = (size_t)sz;
    } else {
        sqlite3_free(p);
    }
    return 0;
}

/* Find where the replica stands. With need_state the latest state is
 * rebuilt (restore) so the next file can hold only changed pages and the
 * pre-apply checksum is known. */
int resume(writer *w, int need_state)
{
    free(w->prev_sums);
    w->prev_sums = NULL;
    w->prev_commit = 0;
    w->have_state = 0;
    w->prev_post = 0;
    w->have_dv = 0; /* compare the database with the rebuilt state at the next tick */
    if (need_state) {
        ltx_pagemap pm;
        ltx_pagemap_init(&pm, 0);
        uint64_t txid = 0;
        int r = wr_restore_latest(w->st, &pm, &txid, NULL, NULL);
        if (r == 0 && txid > 0) {
            uint64_t *sums = NULL;
            ltx_error le;
            memset(&le, 0, sizeof le);
            if (ltx_pagemap_sums(&pm, &sums, &le) != LTX_OK) {
                fprintf(stderr, "ltxctl: %s\n", le.msg);
                r = -1;
            } else {
                w->prev_sums = sums;
                w->prev_commit = pm.commit;
                w->page_size = pm.page_size;
                w->prev_post = wr_sums_checksum(sums, pm.commit);
                w->have_state = 1;
                w->next_txid = txid + 1;
            }
        } else if (r == 0) {
            w->next_txid = 1;
            w->have_state = 1; /* empty replica: the first file is a snapshot */
        }
        ltx_pagemap_free(&pm);
        give_back(); /* the rebuilt state was one malloc per page; only sums stay */
        if (r == 0)
            return 0;
        if (w->track) {
            fprintf(stderr, "ltxctl: cannot rebuild the replica's state, so the pre-apply checksum of the "
                            "next file is unknown; use --no-checksum to write a full file instead\n");
            return -1;
        }
        fprintf(stderr, "ltxctl: cannot rebuild the replica's state; the next file will hold every page\n");
    }
    uint64_t max = 0;
    if (wr_replica_max_txid(w->st, &max))
        return -1;
    w->next_txid = max + 1;
    w->have_state = (max == 0);
    return 0;
}

/* One tick: read the database, write the next L0 file if anything changed.
 * The previous state is kept as page checksums only, so a tick holds one
 * copy of the database (sqlite3_serialize's) plus the file it writes.
 * Returns 1 when a file was written, 0 when nothing changed, -1 on error. */
int tick(writer *w, int full, int use_dv)
{
    uint8_t *img = NULL;
    size_t len = 0;
    sqlite3_int64 dv = 0;
    if (db_read(w, use_dv && !full && w->have_state, &img, &len, &dv))
        return -1;
    if (!img) { /* unchanged (data_version) or empty: nothing to do */
        w->last_dv = dv;
        w->have_dv = 1;
        return 0;
    }
    int ret = -1;
    uint64_t *sums = NULL;
    ltx_error le;
    memset(&le, 0, sizeof le);
    uint32_t ps = wr_sqlite_page_size(img, len);
    if (!ps || len % ps) {
        fprintf(stderr, "ltxctl: %s does not look like a SQLite database (%zu bytes)\n", w->path, len);
        goto done;
    }
    uint32_t commit = (uint32_t)(len / ps);
    if (w->prev_sums && w->page_size != ps) {
        fprintf(stderr,
                "ltxctl: the page size of %s changed from %u to %u; replicate it into a new replica\n",
                w->path, w->page_size, ps);
        goto done;
    }
    if (wr_image_sums(img, commit, ps, &sums, &le) != LTX_OK) {
        fprintf(stderr, "ltxctl: %s\n", le.msg);
        goto done;
    }
    if (!full && w->have_state && w->prev_sums && commit == w->prev_commit &&
        !memcmp(sums, w->prev_sums, (size_t)commit * sizeof *sums)) {
        w->last_dv = dv;
        w->have_dv = 1;
        ret = 0;
        goto done;
    }
    /* Another writer? Refuse to overwrite or fork the replica. */
    ltx_fileinfo *later = NULL;
    size_t nlater = 0;
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    obj_status s = objstore_list_level(w->st, WR_DB, 0, w->next_txid, &later, &nlater, &oe);
    if (s != OBJ_OK && s != OBJ_NOT_FOUND) {
        fprintf(stderr, "ltxctl: listing L0: %s\n", oe.msg[0] ? oe.msg : obj_status_str(s));
        goto done;
    }
    int conflict = 0;
    for (size_t i = 0; i < nlater; i++)
        if (later[i].max_txid >= w->next_txid)
            conflict = 1;
    free(later);
    if (conflict) {
        fprintf(stderr,
                "ltxctl: the replica already holds TXID %016llx: another writer is active; "
                "rebuilding state from the replica\n",
                (unsigned long long)w->next_txid);
        w->have_state = 0;
        goto done;
    }
    ltx_header h;
    memset(&h, 0, sizeof h);
    h.flags = w->track ? 0 : LTX_FLAG_NO_CHECKSUM;
    h.page_size = ps;
    h.commit = commit;
    h.min_txid = h.max_txid = w->next_txid;
    h.timestamp_ms = wr_now_ms();
    h.pre_apply_checksum = (w->track && w->next_txid > 1) ? w->prev_post : 0;
    uint8_t *out = NULL;
    size_t out_len = 0, npages = 0;
    uint64_t post = 0;
    int is_full = full || !w->have_state || !w->prev_sums;
    ltx_err rc = wr_build_l0_sums(&h, is_full ? NULL : w->prev_sums, is_full ? 0 : w->prev_commit, img, sums,
                                  commit, is_full, &out, &out_len, &npages, &post, &le);
    /* the image is no longer needed: free it before the upload */
    sqlite3_free(img);
    img = NULL;
    if (rc != LTX_OK) {
        fprintf(stderr, "ltxctl: building TXID %016llx: %s%s%s\n", (unsigned long long)w->next_txid,
                ltx_strerror(rc), le.msg[0] ? ": " : "", le.msg);
        goto done;
    }
    int r = wr_put_file(w->st, 0, &h, out, out_len, npages);
    free(out);
    if (r)
        goto done;
    free(w->prev_sums);
    w->prev_sums = sums;
    sums = NULL;
    w->prev_commit = commit;
    w->page_size = ps;
    w->prev_post = w->track ? post : wr_sums_checksum(w->prev_sums, commit);
    w->have_state = 1;
    w->next_txid++;
    w->last_dv = dv;
    w->have_dv = 1;
    ret = 1;
done:
    free(sums);
    sqlite3_free(img);
    give_back(); /* the database copy of this tick */
    return ret;
}

void writer_close(writer *w)
{
    free(w->prev_sums);
    w->prev_sums = NULL;
    if (w->db)
        sqlite3_close(w->db);
    w->db = NULL;
    if (w->st)
        objstore_close(w->st);
    w->st = NULL;
}

int writer_start(writer *w, const char *db_path, const char *replica, int track)
{
    memset(w, 0, sizeof *w);
    w->path = db_path;
    w->track = track;
    if (db_open(w))
        return -1;
    if (!(w->st = wr_store_open(replica)))
        return -1;
    return 0;
}
