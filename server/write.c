/* write.c - the write layer: per-database write state, publishing an
 * uploaded LTX file as the next L0 under the database's lease, the lease
 * in status answers. See write.h. */
#include "write.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_write.h"
#include "dbname.h"
#include "log.h"
#include "timefmt.h"

#define WRITE_MAX_DBS         65536
/* A write needs the lease for at least this long after its checks. */
#define WRITE_LEASE_MARGIN_MS 5000

static void write_seterr(write_err *e, write_errcode c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void write_seterr(write_err *e, write_errcode c, const char *fmt, ...)
{
    e->code = c;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

int write_start(srv *s)
{
    if (!s->cfg.write_token || !*s->cfg.write_token)
        return 0;
    write_srv *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->s = s;
    const char *iv = s->cfg.compaction_intervals ? s->cfg.compaction_intervals : "30s,5m,1h";
    if (compactor_parse_intervals(iv, w->intervals, &w->nlevels) != 0) {
        logf_(LOG_ERROR, "startup_error",
              "error=\"--compaction-intervals wants 1 to %d increasing durations, "
              "e.g. 30s,5m,1h\"",
              WRITE_MAX_LEVELS);
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    s->write = w;
    if (compactor_start(w) != 0) {
        write_free(s);
        return -1;
    }
    logf_(LOG_INFO, "writes_enabled", "levels=%d snapshot_interval_ms=%lld l0_retention_ms=%lld max_body=%zu",
          w->nlevels, (long long)s->cfg.snapshot_interval_ms, (long long)s->cfg.l0_retention_ms,
          s->cfg.write_max_body);
    return 0;
}

void write_stop(srv *s)
{
    write_srv *w = s->write;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    /* publishes in flight finish (their store calls are bounded) */
    for (int i = 0; i < 1000 && w->inflight > 0; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    compactor_stop(w);
    for (write_db *wd = w->dbs; wd; wd = wd->next)
        lease_release(wd->ls);
}

void write_free(srv *s)
{
    write_srv *w = s->write;
    if (!w)
        return;
    write_stop(s);
    while (w->dbs) {
        write_db *wd = w->dbs;
        w->dbs = wd->next;
        lease_free(wd->ls);
        pthread_mutex_destroy(&wd->cmu);
        free(wd->name);
        free(wd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    s->write = NULL;
}

write_db *write_db_get(write_srv *w, ltxdb *d)
{
    const char *name = ltxdb_name(d);
    pthread_mutex_lock(&w->mu);
    write_db *wd = w->dbs;
    while (wd && strcmp(wd->name, name) != 0)
        wd = wd->next;
    if (!wd && w->ndbs < WRITE_MAX_DBS) {
        wd = calloc(1, sizeof *wd);
        if (wd) {
            wd->name = strdup(name);
            wd->ls = lease_new(ltxdb_store(d), ltxdb_prefix(d), LEASE_TTL_MS);
            if (!wd->name || !wd->ls) {
                lease_free(wd->ls);
                free(wd->name);
                free(wd);
                wd = NULL;
            } else {
                wd->d = d;
                pthread_mutex_init(&wd->cmu, NULL);
                wd->next = w->dbs;
                w->dbs = wd;
                w->ndbs++;
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return wd;
}

static write_db *write_db_find(write_srv *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    write_db *wd = w->dbs;
    while (wd && strcmp(wd->name, name) != 0)
        wd = wd->next;
    pthread_mutex_unlock(&w->mu);
    return wd;
}

/* Count a publish in flight; 0 when stopping. */
static int write_enter(write_srv *w)
{
    pthread_mutex_lock(&w->mu);
    int ok = !w->stopping;
    if (ok)
        w->inflight++;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void write_leave(write_srv *w)
{
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The newest TXID in the bucket (every level); 0 when empty. */
static int write_bucket_max(ltxdb *d, uint64_t *max, write_err *err)
{
    ltx_fileinfo *files = NULL;
    size_t n = 0;
    obj_error oe = { 0 };
    obj_status st = objstore_list_all(ltxdb_store(d), ltxdb_prefix(d), &files, &n, &oe);
    if (st != OBJ_OK) {
        write_seterr(err, WE_STORE, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        return -1;
    }
    *max = 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].max_txid > *max)
            *max = files[i].max_txid;
    free(files);
    return 0;
}

/* Hold the lease for the write. 0 ok (a lease just taken: the bucket
 * holds nothing newer than base), -1 err. */
static int write_hold_lease(write_srv *w, write_db *wd, uint64_t base, write_err *err)
{
    obj_error oe = { 0 };
    lease_info other;
    memset(&other, 0, sizeof other);
    int lr = lease_ensure(wd->ls, WRITE_LEASE_MARGIN_MS, &other, &oe);
    if (lr == LEASE_HELD) {
        char t[40];
        timefmt_format_ms(t, sizeof t, other.expires_ms);
        err->holder = other;
        write_seterr(err, WE_LEASE, "database \"%s\" is locked by %s until %s", wd->name, other.owner, t);
        return -1;
    }
    if (lr == LEASE_ERR) {
        write_seterr(err, WE_STORE, "lease: %s", oe.msg[0] ? oe.msg : "object store error");
        return -1;
    }
    if (lr == LEASE_ACQUIRED) {
        /* renewed, compacted and released when idle from now on, whatever
         * happens to this write */
        compactor_arm(w, wd, timefmt_now_ms());
        /* another writer may have gone further before we took it */
        uint64_t max = 0;
        if (write_bucket_max(wd->d, &max, err) != 0)
            return -1;
        if (max > base) {
            err->txid = max;
            write_seterr(err, WE_CONFLICT, "the bucket is at TXID %016" PRIx64 ", not %016" PRIx64, max,
                         base);
            return -1;
        }
    }
    return 0;
}

/* The checks on the body: valid LTX, TXIDs base+1, page size. */
static int write_check_body(const uint8_t *buf, size_t len, uint64_t base, const db_snap *head, int have,
                            ltx_file_info *info, write_err *err)
{
    ltx_error le = { 0 };
    ltx_err r = ltx_file_decode(buf, len, NULL, NULL, info, &le);
    if (r != LTX_OK) {
        write_seterr(err, WE_BAD_LTX, "not a valid LTX file: %s", le.msg[0] ? le.msg : ltx_strerror(r));
        return -1;
    }
    const ltx_header *h = &info->header;
    if (h->min_txid != base + 1 || h->max_txid != base + 1) {
        write_seterr(err, WE_BAD_TXID,
                     "the file holds TXIDs %016" PRIx64 "-%016" PRIx64 "; a write on base %016" PRIx64
                     " must hold exactly %016" PRIx64,
                     h->min_txid, h->max_txid, base, base + 1);
        return -1;
    }
    if (have && h->page_size != head->page_size) {
        write_seterr(err, WE_BAD_LTX, "page size %u differs from the database's %u", h->page_size,
                     head->page_size);
        return -1;
    }
    return 0;
}

/* Under the database's update lock: base check, lease, publish, apply. */
static int write_publish_locked(write_srv *w, write_db *wd, uint64_t base, const uint8_t *buf, size_t len,
                                db_snap *out, write_err *err)
{
    ltxdb *d = wd->d;
    db_snap head;
    memset(&head, 0, sizeof head);
    int have = ltxdb_write_head(d, &head);
    if (!have && base > 0) {
        write_seterr(err, WE_NOT_READY, "database \"%s\" is not indexed yet", wd->name);
        return -1;
    }
    uint64_t cur = have ? head.txid : 0;
    if (base != cur) {
        err->txid = cur;
        write_seterr(err, WE_CONFLICT, "base %016" PRIx64 " is not the current TXID %016" PRIx64, base, cur);
        return -1;
    }
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    if (write_check_body(buf, len, base, &head, have, &info, err) != 0) {
        ltx_file_info_free(&info);
        return -1;
    }
    int rc = -1;
    if (base == 0) {
        /* a new database: nothing at all may be in the bucket */
        uint64_t max = 0;
        if (write_bucket_max(d, &max, err) != 0)
            goto out;
        if (max > 0) {
            err->txid = max;
            write_seterr(err, WE_CONFLICT, "database \"%s\" exists (TXID %016" PRIx64 ")", wd->name, max);
            goto out;
        }
    }
    if (write_hold_lease(w, wd, base, err) != 0)
        goto out;
    ltx_fileinfo fi;
    memset(&fi, 0, sizeof fi);
    obj_error oe = { 0 };
    obj_status st = objstore_publish_file(ltxdb_store(d), ltxdb_prefix(d), 0, base + 1, base + 1, buf, len,
                                          info.header.timestamp_ms, &fi, &oe);
    if (st == OBJ_EXISTS) {
        err->txid = base + 1;
        write_seterr(err, WE_CONFLICT, "TXID %016" PRIx64 " was published by another writer", base + 1);
        goto out;
    }
    if (st != OBJ_OK) {
        write_seterr(err, WE_STORE, "publish: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        goto out;
    }
    fi.level = 0;
    fi.min_txid = fi.max_txid = base + 1;
    if (!fi.size)
        fi.size = len;
    ltxdb_write_apply(d, &fi, buf, len, &info);
    atomic_store(&wd->last_write_ms, timefmt_now_ms());
    out->txid = base + 1;
    out->commit = info.header.commit;
    out->page_size = info.header.page_size;
    out->ts_ms = info.header.timestamp_ms;
    rc = 0;
out:
    ltx_file_info_free(&info);
    return rc;
}

int write_publish(srv *s, const char *name, uint64_t base, const uint8_t *buf, size_t len, db_snap *out,
                  write_err *err)
{
    write_srv *w = s->write;
    if (!w) {
        write_seterr(err, WE_DISABLED, "writes are disabled (no --write-token)");
        return -1;
    }
    if (!dbname_servable(name)) {
        write_seterr(err, WE_BAD_REQUEST, "invalid database name");
        return -1;
    }
    if (!write_enter(w)) {
        write_seterr(err, WE_NOT_READY, "the server is stopping");
        return -1;
    }
    int rc = -1;
    ltxdb *held = NULL;
    ltx_header hh;
    if (base == 0 &&
        (ltx_header_decode(buf, len, &hh, NULL) != LTX_OK || hh.min_txid != 1 || hh.max_txid != 1)) {
        /* before a database is added for it */
        write_seterr(err, WE_BAD_LTX, "the first file of a database must be a valid LTX file holding TXID 1");
        goto out;
    }
    write_db *wd = NULL;
    /* a create holds the database until its write ends: a rescan that finds
     * its folder still empty leaves it */
    ltxdb *d = base == 0 ? srv_create_db(s, name) : srv_find_db(s, name);
    held = base == 0 ? d : NULL;
    if (!d && base != 0 && !atomic_load(&s->discovered)) {
        /* the first scan of the roots runs after listening: the database
         * may well be there (reads answer 503 the same way) */
        write_seterr(err, WE_NOT_READY, "still looking for databases under the replica roots");
        goto out;
    }
    if (!d) {
        write_seterr(err, WE_NO_DB,
                     base == 0 ? "no --replica root to create \"%s\" in" : "no database named \"%s\"", name);
        goto out;
    }
    if (!(wd = write_db_get(w, d))) {
        write_seterr(err, WE_NOMEM, "out of memory");
        goto out;
    }
    ltxdb_write_lock(d);
    if (ltxdb_removed(d)) {
        /* its folder went away on a rescan (not a create: that holds it) */
        ltxdb_write_unlock(d);
        write_seterr(err, WE_NO_DB, "no database named \"%s\"", name);
        goto out;
    }
    rc = write_publish_locked(w, wd, base, buf, len, out, err);
    ltxdb_write_unlock(d);
    if (rc == 0) {
        pthread_mutex_lock(&w->mu);
        wd->active = 1;
        pthread_mutex_unlock(&w->mu);
    }
out:
    if (held)
        ltxdb_creator_release(held);
    write_leave(w);
    return rc;
}

json_t *write_lease_json(srv *s, const char *name)
{
    write_srv *w = s->write;
    write_db *wd = w ? write_db_find(w, name) : NULL;
    if (!wd)
        return NULL;
    lease_info li;
    int ours = lease_peek(wd->ls, &li);
    if (!li.owner[0])
        return NULL;
    char t[40];
    timefmt_format_ms(t, sizeof t, li.expires_ms);
    return json_pack("{s:s,s:s,s:b,s:I}", "holder", li.owner, "expires", t, "ours", ours, "generation",
                     (json_int_t)li.generation);
}
