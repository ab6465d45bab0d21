/* write_state.c - database states read from the bucket, for fork,
 * rollback and level-9 snapshots. A state is a page map (proto/compact.h)
 * built by applying the files of a restore plan, each read whole and
 * verified. Files may vanish under us (L0 retention by our own compactor
 * or another holder): the plan is listed again, a few times. */
#include "write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_write.h"
#include "dbname.h"
#include "log.h"
#include "timefmt.h"

/* Largest single file read while building a state, and the state. */
#define WRITE_STATE_MAX_FILE  ((size_t)1 << 30)
#define WRITE_STATE_MAX_BYTES ((size_t)1 << 31)

/* One attempt: 0 ok, 1 a file vanished (list again), -1 error. */
static int write_state_try(objstore *st, const char *db, uint64_t txid, ltx_pagemap *pm, uint64_t *reached,
                           ltx_header *last, char *msg, size_t msglen)
{
    ltx_fileinfo *files = NULL, *plan = NULL;
    size_t n = 0, pn = 0;
    obj_error oe = { 0 };
    obj_status s = objstore_list_all(st, db, &files, &n, &oe);
    if (s != OBJ_OK) {
        snprintf(msg, msglen, "list: %s", oe.msg[0] ? oe.msg : obj_status_str(s));
        return -1;
    }
    ltx_error le = { 0 };
    ltx_err r = ltx_restore_plan(files, n, txid, 0, &plan, &pn, reached, &le);
    free(files);
    if (r != LTX_OK) {
        snprintf(msg, msglen, "TXID %016" PRIx64 " cannot be restored: %s", txid,
                 le.msg[0] ? le.msg : ltx_strerror(r));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < pn && rc == 0; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        obj_error fe = { 0 };
        s = objstore_read_file(st, db, &plan[i], WRITE_STATE_MAX_FILE, &buf, &len, &fe);
        if (s == OBJ_NOT_FOUND || s == OBJ_CHANGED) {
            rc = 1;
            break;
        }
        char fname[64];
        ltx_fileinfo_format(fname, sizeof fname, &plan[i]);
        if (s != OBJ_OK) {
            snprintf(msg, msglen, "%s: %s", fname, fe.msg[0] ? fe.msg : obj_status_str(s));
            rc = -1;
            break;
        }
        r = ltx_pagemap_apply(pm, buf, len, 1, last, NULL, &le);
        free(buf);
        if (r != LTX_OK) {
            snprintf(msg, msglen, "%s: %s", fname, le.msg[0] ? le.msg : ltx_strerror(r));
            rc = -1;
        }
    }
    free(plan);
    return rc;
}

int write_state_build(objstore *st, const char *db, uint64_t txid, ltx_pagemap *pm, uint64_t *reached,
                      ltx_header *last, char *msg, size_t msglen)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        ltx_pagemap_init(pm, WRITE_STATE_MAX_BYTES);
        int rc = write_state_try(st, db, txid, pm, reached, last, msg, msglen);
        if (rc == 0)
            return 0;
        ltx_pagemap_free(pm);
        if (rc < 0)
            return -1;
    }
    snprintf(msg, msglen, "files kept vanishing while reading TXID %016" PRIx64, txid);
    return -1;
}

int write_state_snapshot(ltx_pagemap *pm, uint64_t min_txid, uint64_t max_txid, int64_t ts_ms, uint8_t **out,
                         size_t *len, char *msg, size_t msglen)
{
    ltx_error le = { 0 };
    uint32_t lock = ltx_lock_pgno(pm->page_size);
    uint8_t *zero = calloc(1, pm->page_size ? pm->page_size : 1);
    if (!zero)
        return -1;
    for (uint32_t p = 1; p <= pm->commit; p++)
        if (p != lock && (p > pm->cap || !pm->pg[p - 1]) && ltx_pagemap_set(pm, p, zero, &le) != LTX_OK) {
            free(zero);
            snprintf(msg, msglen, "page %u: %s", p, le.msg);
            return -1;
        }
    free(zero);
    ltx_header h;
    memset(&h, 0, sizeof h);
    h.page_size = pm->page_size;
    h.commit = pm->commit;
    h.min_txid = min_txid;
    h.max_txid = max_txid;
    h.timestamp_ms = ts_ms;
    h.flags = LTX_FLAG_NO_CHECKSUM; /* as Litestream writes every file */
    ltx_err r = ltx_pagemap_encode(&h, pm, 0, out, len, NULL, &le);
    if (r != LTX_OK) {
        snprintf(msg, msglen, "encode: %s", le.msg[0] ? le.msg : ltx_strerror(r));
        return -1;
    }
    return 0;
}

/* State txid of database d, or an error in err. */
static int write_state_of(ltxdb *d, uint64_t txid, ltx_pagemap *pm, uint64_t *reached, write_err *err)
{
    ltx_header last;
    char msg[256] = "";
    if (write_state_build(ltxdb_store(d), ltxdb_prefix(d), txid, pm, reached, &last, msg, sizeof msg) != 0) {
        err->code = strstr(msg, "cannot be restored") ? WE_BAD_REQUEST : WE_STORE;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
        return -1;
    }
    if (txid && *reached != txid) {
        ltx_pagemap_free(pm);
        err->code = WE_BAD_REQUEST;
        snprintf(err->msg, sizeof err->msg, "TXID %016" PRIx64 " cannot be restored exactly", txid);
        return -1;
    }
    return 0;
}

int write_fork(srv *s, const char *from, uint64_t txid, const char *to, db_snap *out, write_err *err)
{
    ltxdb *d = srv_find_db(s, from);
    if (!d) {
        err->code = WE_NO_DB;
        snprintf(err->msg, sizeof err->msg, "no database named \"%.200s\"", from);
        return -1;
    }
    if (!dbname_servable(to)) {
        err->code = WE_BAD_REQUEST;
        snprintf(err->msg, sizeof err->msg, "invalid target name");
        return -1;
    }
    if (srv_find_db(s, to)) {
        err->code = WE_EXISTS;
        snprintf(err->msg, sizeof err->msg, "database \"%.200s\" exists", to);
        return -1;
    }
    ltx_pagemap pm;
    uint64_t reached = 0;
    if (write_state_of(d, txid, &pm, &reached, err) != 0)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0;
    char msg[256];
    int rc = write_state_snapshot(&pm, 1, 1, timefmt_now_ms(), &buf, &len, msg, sizeof msg);
    ltx_pagemap_free(&pm);
    if (rc != 0) {
        err->code = WE_NOMEM;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
        return -1;
    }
    rc = write_publish(s, to, 0, buf, len, out, err);
    free(buf);
    if (rc == 0)
        logf_(LOG_INFO, "fork", "db=%s txid=%016" PRIx64 " to=%s", from, reached, to);
    else if (err->code == WE_CONFLICT)
        err->code = WE_EXISTS;
    return rc;
}

/* The pages of `want` that differ from `have`, as one LTX file on top of
 * base. */
static int write_rollback_file(ltx_pagemap *want, ltx_pagemap *have, uint64_t base, uint8_t **out,
                               size_t *len, write_err *err)
{
    ltx_pagemap diff;
    ltx_pagemap_init(&diff, WRITE_STATE_MAX_BYTES);
    ltx_error le = { 0 };
    diff.page_size = want->page_size;
    uint32_t ps = want->page_size;
    int rc = 0;
    for (uint32_t p = 1; p <= want->commit && rc == 0; p++) {
        const uint8_t *w = p <= want->cap ? want->pg[p - 1] : NULL;
        const uint8_t *h = p <= have->cap && p <= have->commit ? have->pg[p - 1] : NULL;
        if (!w)
            continue; /* never written: zeros in both (a page beyond have's commit reads as zeros too) */
        if (h && memcmp(w, h, ps) == 0)
            continue;
        if (ltx_pagemap_set(&diff, p, w, &le) != LTX_OK)
            rc = -1;
    }
    diff.commit = want->commit;
    if (rc == 0) {
        ltx_header h;
        memset(&h, 0, sizeof h);
        h.page_size = ps;
        h.commit = want->commit;
        h.min_txid = h.max_txid = base + 1;
        h.timestamp_ms = timefmt_now_ms();
        h.flags = LTX_FLAG_NO_CHECKSUM;
        if (ltx_pagemap_encode(&h, &diff, 0, out, len, NULL, &le) != LTX_OK)
            rc = -1;
    }
    if (rc != 0) {
        err->code = WE_NOMEM;
        snprintf(err->msg, sizeof err->msg, "rollback file: %s", le.msg[0] ? le.msg : "failed");
    }
    ltx_pagemap_free(&diff);
    return rc;
}

int write_rollback(srv *s, const char *name, uint64_t txid, db_snap *out, write_err *err)
{
    ltxdb *d = srv_find_db(s, name);
    if (!d) {
        err->code = WE_NO_DB;
        snprintf(err->msg, sizeof err->msg, "no database named \"%.200s\"", name);
        return -1;
    }
    /* A few tries: a writer may commit between our read of the latest
     * state and the publish (then the base moved: 409, read again). */
    for (int attempt = 0; attempt < 3; attempt++) {
        ltx_pagemap want, have;
        uint64_t rw = 0, cur = 0;
        if (write_state_of(d, txid, &want, &rw, err) != 0)
            return -1;
        if (write_state_of(d, 0, &have, &cur, err) != 0) {
            ltx_pagemap_free(&want);
            return -1;
        }
        if (txid > cur) {
            ltx_pagemap_free(&want);
            ltx_pagemap_free(&have);
            err->code = WE_BAD_REQUEST;
            snprintf(err->msg, sizeof err->msg, "TXID %016" PRIx64 " is newer than the current %016" PRIx64,
                     txid, cur);
            return -1;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = write_rollback_file(&want, &have, cur, &buf, &len, err);
        ltx_pagemap_free(&want);
        ltx_pagemap_free(&have);
        if (rc != 0)
            return -1;
        rc = write_publish(s, name, cur, buf, len, out, err);
        free(buf);
        if (rc == 0) {
            logf_(LOG_INFO, "rollback", "db=%s to_txid=%016" PRIx64 " new_txid=%016" PRIx64, name, txid,
                  out->txid);
            return 0;
        }
        if (err->code != WE_CONFLICT)
            return -1;
    }
    return -1;
}
