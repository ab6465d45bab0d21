/* db_poll.c - following the replica: L0 polling, bridging gaps from L1+,
 * noticing a replaced history, pruning old versions. */
#include "db_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* ---- live polling -------------------------------------------------------- */

static void notify(ltxdb *d)
{
    if (d->srv->on_new_txid)
        d->srv->on_new_txid(d->srv, d);
}

static int apply_entries(ltxdb *d, const ltx_fileinfo *f, const ltx_header *h, const ltx_index_entry *e,
                         size_t n)
{
    vfile *vf = vfile_new(f);
    if (!vf)
        return VX_NOMEM;
    int unstalled = -1;
    pthread_rwlock_wrlock(&d->lock);
    int r = vindex_apply(d->live, vf, e, n, h->commit, h->page_size, h->timestamp_ms, mono_ms());
    if (r == VX_OK) {
        atomic_store(&d->cur_txid, f->max_txid);
        d->recent[d->recent_n++ % 16] = *f;
        db_store_answered(d); /* a long catch-up is not a silent store */
        if (d->state == DB_STALLED && f->max_txid > d->stall_txid)
            unstalled = db_set_state_locked(d, DB_OK, NULL); /* past what held it: not stalled */
    }
    pthread_rwlock_unlock(&d->lock);
    vfile_unref(vf);
    if (unstalled >= 0)
        db_log_state(d, unstalled, DB_OK, "a file moved the TXID past the stall");
    if (r == VX_OK) {
        atomic_fetch_add(&d->files_applied, 1);
        char fname[64];
        ltx_fileinfo_format(fname, sizeof fname, f);
        logf_(LOG_INFO, "new_txid", "db=%s txid=%016" PRIx64 " commit=%u pages=%zu file=%s", d->name,
              f->max_txid, h->commit, n, fname);
    }
    return r;
}

/* The pages of a decoded file into the shared cache (best effort). */
void db_warm_file(ltxdb *d, const ltx_fileinfo *f, const uint8_t *buf, size_t len, const ltx_file_info *info)
{
    uint32_t ps = info->header.page_size;
    uint8_t *page = malloc(ps);
    if (!page)
        return;
    for (size_t i = 0; i < info->page_count; i++) {
        const ltx_index_entry *ie = &info->index[i];
        if (ie->offset + ie->size > len)
            break;
        if (ltx_frame_decode(buf + ie->offset, ie->size, ps, ie->pgno, page, NULL) != LTX_OK)
            continue;
        pc_key k = { d->uid, f->min_txid, f->max_txid, (uint32_t)f->level, ie->pgno };
        pcache_put(d->srv->cache, &k, page, ps);
    }
    free(page);
}

/* Fetch an L0 file whole, verify it, warm the cache, apply it. */
static int fetch_l0(ltxdb *d, const ltx_fileinfo *f)
{
    char fname[64];
    ltx_fileinfo_format(fname, sizeof fname, f);
    uint8_t *buf = NULL;
    size_t len = 0;
    obj_error oe = { 0 };
    obj_status st = objstore_read_file(d->store, d->prefix, f, d->srv->cfg.max_l0_bytes, &buf, &len, &oe);
    if (st == OBJ_ERR_TOO_LARGE) {
        /* big L0 file: index it from its tail like a compacted file */
        file_ix fx;
        char msg[256];
        int rc = db_verify_file(d, f, &fx, msg, sizeof msg);
        if (rc != IX_OK) {
            if (rc == IX_STORE)
                db_record_error(d, "store_error", msg);
            return rc;
        }
        int r = apply_entries(d, f, &fx.hdr, fx.ents, fx.n);
        free(fx.ents);
        return r == VX_OK ? IX_OK : IX_NOMEM;
    }
    if (st != OBJ_OK) {
        if (st != OBJ_NOT_FOUND) {
            char m[400];
            snprintf(m, sizeof m, "%s: %s", fname, oe.msg[0] ? oe.msg : obj_status_str(st));
            db_record_error(d, "store_error", m);
        }
        return st == OBJ_NOT_FOUND ? IX_GONE : IX_STORE;
    }
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    ltx_error le = { 0 };
    ltx_err r = ltx_file_decode(buf, len, NULL, NULL, &info, &le);
    if (r == LTX_OK && (info.header.min_txid != f->min_txid || info.header.max_txid != f->max_txid)) {
        r = LTX_ERR_HEADER;
        snprintf(le.msg, sizeof le.msg, "header TXIDs do not match the file name");
    }
    if (r != LTX_OK) {
        char m[400];
        snprintf(m, sizeof m, "%s: rejected: %s", fname, le.msg[0] ? le.msg : ltx_strerror(r));
        db_record_error(d, "file_rejected", m);
        db_verify_l0_result(d, f, 0, m);
        ltx_file_info_free(&info);
        free(buf);
        return IX_CORRUPT;
    }
    db_verify_l0_result(d, f, 1, NULL);
    db_warm_file(d, f, buf, len, &info);
    int ar = apply_entries(d, f, &info.header, info.index, info.page_count);
    ltx_file_info_free(&info);
    free(buf);
    return ar == VX_OK ? IX_OK : ar == VX_STALE ? IX_OK : IX_NOMEM;
}

/* Find a file on L1+ that covers pos+1 and reaches furthest; apply it.
 * Files known bad are left out; one that fails its verification now is
 * left out and the next best tried. 1 advanced, 0 nothing bridges (*why
 * set: the gap, or the rejected file that holds pos+1), -1 error. */
static int bridge(ltxdb *d, uint64_t pos, char *why, size_t whylen)
{
    ltx_fileinfo *files;
    size_t nf;
    if (db_list_all(d, &files, &nf, why, whylen) != OBJ_OK)
        return -1;
    db_store_answered(d);
    db_update_levels(d, files, nf);
    for (int attempt = 0; attempt < 8; attempt++) {
        db_verify_filter(d, files, &nf, NULL, 0);
        const ltx_fileinfo *best = NULL;
        for (size_t i = 0; i < nf; i++) {
            const ltx_fileinfo *f = &files[i];
            if (f->max_txid <= pos || f->min_txid > pos + 1)
                continue; /* behind us, or past a gap (db_gap_msg names it) */
            if (f->level == 0 && f->min_txid != pos + 1)
                continue;
            if (!best || f->max_txid > best->max_txid ||
                (f->max_txid == best->max_txid && f->level > best->level))
                best = f;
        }
        if (!best) {
            char bad[200];
            if (db_verify_bad_covering(d, pos + 1, bad, sizeof bad))
                db_msgf(why, whylen, "%s; no other file holds TXID %016" PRIx64, bad, pos + 1);
            else if (!db_gap_msg(why, whylen, pos, files, nf))
                why[0] = 0;
            free(files);
            return 0;
        }
        ltx_fileinfo f = *best;
        int rc;
        if (f.level == 0) {
            rc = fetch_l0(d, &f);
        } else {
            file_ix fx;
            char msg[256];
            rc = db_verify_file(d, &f, &fx, msg, sizeof msg);
            if (rc == IX_OK) {
                int r = apply_entries(d, &f, &fx.hdr, fx.ents, fx.n);
                free(fx.ents);
                rc = r == VX_OK ? IX_OK : IX_NOMEM;
            }
        }
        if (rc == IX_OK) {
            free(files);
            return 1;
        }
        if (rc != IX_CORRUPT)
            break; /* store trouble: try again on a later poll */
    }
    free(files);
    snprintf(why, whylen, "bridging file could not be read");
    return -1;
}

/* Every l1 interval: refresh level stats, catch up from L1+ when L0 has
 * nothing (e.g. all L0 retained away), notice a replica that went back. */
static int same_file_id(const ltx_fileinfo *a, const ltx_fileinfo *b)
{
    return a->level == b->level && a->min_txid == b->min_txid && a->max_txid == b->max_txid;
}

/* The last file applied (0 when none is known). */
static int last_applied(ltxdb *d, ltx_fileinfo *out)
{
    pthread_rwlock_rdlock(&d->lock);
    int ok = d->recent_n > 0;
    if (ok)
        *out = d->recent[(d->recent_n - 1) % 16];
    pthread_rwlock_unlock(&d->lock);
    return ok && out->max_txid > 0;
}

static int same_object(const ltx_fileinfo *a, const ltx_fileinfo *b)
{
    return a->size == b->size && (!a->created_ms || !b->created_ms || a->created_ms == b->created_ms);
}

/* The newest TXID any level listed at the last full listing. */
static uint64_t levels_max(ltxdb *d)
{
    uint64_t m = 0;
    pthread_rwlock_rdlock(&d->lock);
    for (int l = 0; l < NLEVELS; l++)
        if (d->levels[l].max_txid > m)
            m = d->levels[l].max_txid;
    pthread_rwlock_unlock(&d->lock);
    return m;
}

/* One L0 poll. The listing starts at the last L0 file applied, so its
 * identity is checked on every poll: the same name with another object is
 * a replaced history (re-plan at once), a missing one asks for a full
 * level check now. 0 when the store answered, -1 when it failed. */
static int poll_live(ltxdb *d)
{
    uint64_t pos = atomic_load(&d->cur_txid);
    uint64_t start = pos;
    ltx_fileinfo last;
    int have_last = last_applied(d, &last) && last.level == 0 && last.max_txid == pos;
    ltx_fileinfo *files = NULL;
    size_t nf = 0;
    obj_error oe = { 0 };
    obj_status st =
        objstore_list_level(d->store, d->prefix, 0, have_last ? last.min_txid : pos + 1, &files, &nf, &oe);
    if (st != OBJ_OK) {
        char m[300];
        snprintf(m, sizeof m, "list L0: %s", oe.msg[0] ? oe.msg : obj_status_str(st));
        db_record_error(d, "poll_error", m);
        return -1;
    }
    db_store_answered(d);
    if (have_last) {
        const ltx_fileinfo *seen = NULL;
        for (size_t i = 0; i < nf && !seen; i++)
            if (same_file_id(&files[i], &last))
                seen = &files[i];
        if (seen && !same_object(seen, &last)) {
            char m[300], fname[64];
            ltx_fileinfo_format(fname, sizeof fname, seen);
            db_msgf(m, sizeof m,
                    "%s was replaced (size %" PRIu64 " -> %" PRIu64 "): the replica's history was "
                    "replaced; re-planning",
                    fname, last.size, seen->size);
            free(files);
            db_record_error(d, "replica_reset", m);
            d->force_new_uid = 1;
            db_index_rebuild_live(d, "replica history replaced");
            d->force_new_uid = 0;
            return 0;
        }
        if (!seen && !same_file_id(&d->missing_checked, &last)) {
            /* retained away, or a removed or recreated replica: check every
             * level now (once per file: an idle replica whose newest L0
             * retention removed is not listed whole every poll) */
            d->next_levels = 0;
            d->missing_checked = last;
        }
    }
    db_verify_filter(d, files, &nf, NULL, 0);
    int stalled = 0, failed = 0;
    char why[256] = "";
    size_t i = 0;
    while (i < nf && !atomic_load(&d->srv->stopping)) {
        const ltx_fileinfo *f = &files[i];
        if (f->max_txid <= pos) {
            i++;
            continue;
        }
        int rc = IX_GONE;
        if (f->min_txid <= pos + 1) {
            rc = fetch_l0(d, f);
            if (rc == IX_OK) {
                pos = atomic_load(&d->cur_txid);
                i++;
                continue;
            }
            if (rc == IX_STORE || rc == IX_NOMEM) {
                failed = 1;
                break;
            }
        }
        /* a gap, a file removed by retention between LIST and GET, or a
         * rejected file: bridge from L1+ (listing every level), at most
         * once per l1 interval while it stays stalled */
        if (db_base_state(d) == DB_STALLED && mono_ms() < d->next_bridge) {
            stalled = 2;
            break;
        }
        int b = bridge(d, pos, why, sizeof why);
        if (b == 1) {
            pos = atomic_load(&d->cur_txid);
            continue;
        }
        d->next_bridge = mono_ms() + d->srv->cfg.l1_interval_ms;
        if (b == 0 && rc == IX_CORRUPT && !why[0])
            db_msgf(why, sizeof why, "%s", d->last_error);
        if (b == 0)
            stalled = 1;
        else
            failed = 1;
        break;
    }
    free(files);
    if (pos > start)
        notify(d);
    if (stalled == 1 && why[0]) {
        db_set_state(d, DB_STALLED, why);
    } else if (!stalled && !failed) {
        if (levels_max(d) > pos) {
            /* L0 has nothing newer but another level does (L0 retained
             * away): not current; bridge from every level now */
            if (db_base_state(d) != DB_STALLED)
                d->next_levels = 0;
        } else {
            pthread_rwlock_wrlock(&d->lock);
            d->last_poll_ok_ms = timefmt_now_ms();
            pthread_rwlock_unlock(&d->lock);
            if (db_base_state(d) != DB_OK)
                db_set_state(d, DB_OK, NULL); /* current: a stall clears */
        }
    }
    return failed ? -1 : 0;
}

static int check_levels(ltxdb *d)
{
    ltx_fileinfo *files;
    size_t nf;
    char m[300];
    if (db_list_all(d, &files, &nf, m, sizeof m) != OBJ_OK) {
        db_record_error(d, "poll_error", m);
        return -1;
    }
    db_store_answered(d);
    if (nf == 0) {
        /* the folder is gone or emptied: nothing of the old history may be
         * served again */
        free(files);
        db_drop_history(d, "the replica lists no LTX files any more");
        return 0;
    }
    db_update_levels(d, files, nf);
    uint64_t pos = atomic_load(&d->cur_txid), maxall = 0;
    pthread_rwlock_rdlock(&d->lock);
    ltx_fileinfo rec[16];
    unsigned nrec = d->recent_n < 16 ? d->recent_n : 16;
    memcpy(rec, d->recent, sizeof rec);
    pthread_rwlock_unlock(&d->lock);
    const ltx_fileinfo *changed = NULL;
    ltx_fileinfo lf = { 0 };
    for (size_t i = 0; i < nf; i++) {
        if (files[i].max_txid > maxall)
            maxall = files[i].max_txid;
        for (unsigned k = 0; k < nrec && !changed; k++)
            if (rec[k].max_txid && same_file_id(&files[i], &rec[k]) && !same_object(&files[i], &rec[k])) {
                changed = &files[i];
                lf = rec[k];
            }
    }
    if (changed || maxall < pos) {
        /* same name, other bytes, or fewer TXIDs: a new history (e.g. the
         * database was recreated); never mix it with ours */
        char m[300], fname[64];
        ltx_fileinfo_format(fname, sizeof fname, changed ? changed : &lf);
        if (changed)
            db_msgf(m, sizeof m,
                    "%s was replaced (size %" PRIu64 " -> %" PRIu64 "): the replica's history was "
                    "replaced; re-planning",
                    fname, lf.size, changed->size);
        else
            db_msgf(m, sizeof m, "replica went back from %016" PRIx64 " to %016" PRIx64 "; re-planning", pos,
                    maxall);
        free(files);
        db_record_error(d, "replica_reset", m);
        d->force_new_uid = 1;
        db_index_rebuild_live(d, changed ? "replica history replaced" : "replica went back");
        d->force_new_uid = 0;
        return 0;
    }
    free(files);
    if (maxall > pos) {
        char why[256] = "";
        int b;
        while ((b = bridge(d, atomic_load(&d->cur_txid), why, sizeof why)) == 1)
            ;
        uint64_t now_pos = atomic_load(&d->cur_txid);
        if (now_pos > pos)
            notify(d);
        if (b < 0)
            return -1;
        if (now_pos < maxall) {
            if (!why[0])
                db_msgf(why, sizeof why, "TXIDs up to %016" PRIx64 " are listed but cannot be reached",
                        maxall);
            db_set_state(d, DB_STALLED, why);
            return 0;
        }
    }
    /* current with every level */
    pthread_rwlock_wrlock(&d->lock);
    d->last_poll_ok_ms = timefmt_now_ms();
    pthread_rwlock_unlock(&d->lock);
    if (db_base_state(d) != DB_OK)
        db_set_state(d, DB_OK, NULL);
    return 0;
}

static void prune(ltxdb *d, int64_t mono)
{
    pthread_rwlock_wrlock(&d->lock);
    if (d->live)
        vindex_prune(d->live, mono, d->srv->cfg.version_window_ms);
    /* idle historical indexes go */
    size_t k = 0;
    for (size_t i = 0; i < d->nhists; i++) {
        int64_t used = __atomic_load_n(&d->hists[i]->used_ms, __ATOMIC_RELAXED);
        if (mono - used > d->srv->cfg.historical_idle_ms)
            db_hist_drop(d, d->hists[i]);
        else
            d->hists[k++] = d->hists[i];
    }
    d->nhists = k;
    pthread_rwlock_unlock(&d->lock);
}

/* Store health after a poll: degraded is computed from these when read. */
static void poll_result(ltxdb *d, int ok)
{
    pthread_rwlock_wrlock(&d->lock);
    if (ok) {
        d->consec_fail = 0;
        d->last_store_ok_ms = timefmt_now_ms();
    } else if (d->consec_fail < 1000000) {
        d->consec_fail++;
    }
    pthread_rwlock_unlock(&d->lock);
}

void ltxdb_poll(ltxdb *d, int64_t mono)
{
    pthread_mutex_lock(&d->update);
    if (atomic_load(&d->removed)) {
        d->next_poll = mono + d->srv->cfg.rescan_ms;
        pthread_mutex_unlock(&d->update);
        return;
    }
    atomic_fetch_add(&d->polls, 1);
    int64_t t0 = metrics_now_ns();
    if (!d->live) {
        db_index_rebuild_live(d, "initial");
        pthread_rwlock_wrlock(&d->lock);
        d->initialized = 1;
        if (d->live) {
            d->last_poll_ok_ms = timefmt_now_ms();
            d->last_store_ok_ms = timefmt_now_ms();
            d->consec_fail = 0;
        }
        pthread_rwlock_unlock(&d->lock);
        d->levels_listed = mono;
        d->next_levels = mono + d->srv->cfg.l1_interval_ms;
    } else {
        int ok = poll_live(d) == 0;
        if (d->live && mono_ms() >= d->next_levels) {
            if (check_levels(d) != 0)
                ok = 0;
            d->levels_listed = mono_ms();
            d->next_levels = d->levels_listed + d->srv->cfg.l1_interval_ms;
        }
        /* one count per failed poll, whichever of its store requests failed:
         * a poll whose L0 listing answered but whose levels listing (or a
         * GET) timed out failed too, and was not counted */
        if (!ok)
            atomic_fetch_add(&d->poll_errors, 1);
        poll_result(d, ok);
    }
    prune(d, mono);
    d->next_poll = mono + d->srv->cfg.poll_ms;
    metrics_observe_since(&metrics_poll_seconds, t0);
    pthread_mutex_unlock(&d->update);
}
