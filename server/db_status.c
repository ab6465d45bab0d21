/* db_status.c - a database's JSON status and its metrics counters. */
#include "db_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void ltxdb_count_served(ltxdb *d, uint64_t pages) { atomic_fetch_add(&d->pages_served, pages); }

/* ---- status ------------------------------------------------------------- */

static json_t *txid_json(uint64_t t)
{
    char b[17];
    ltx_format_txid(b, t);
    return json_string(b);
}

json_t *ltxdb_status_json(ltxdb *d, const db_snap *ov)
{
    json_t *o = json_object();
    char ts[40];
    int64_t now = timefmt_now_ms();
    pthread_rwlock_rdlock(&d->lock);
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "url", json_string(d->url));
    json_object_set_new(o, "state", json_string(db_state_name(db_state_locked(d, now))));
    json_object_set_new(o, "ready", json_boolean(d->live != NULL));
    const vrec *cur = d->live ? vindex_current(d->live) : NULL;
    db_snap s = { 0 };
    if (ov)
        s = *ov;
    else if (cur)
        db_snap_of(cur, &s);
    if (ov || cur) {
        json_object_set_new(o, "txid", txid_json(s.txid));
        json_object_set_new(o, "commit", json_integer(s.commit));
        json_object_set_new(o, "page_size", json_integer(s.page_size));
        json_object_set_new(o, "size", json_integer((json_int_t)s.commit * s.page_size));
        timefmt_format_ms(ts, sizeof ts, s.ts_ms);
        json_object_set_new(o, "timestamp", json_string(ts));
    } else {
        json_object_set_new(o, "txid", json_null());
        json_object_set_new(o, "commit", json_null());
        json_object_set_new(o, "page_size", json_null());
        json_object_set_new(o, "timestamp", json_null());
    }
    if (cur) {
        json_object_set_new(o, "latest_txid", txid_json(cur->txid));
        json_object_set_new(o, "oldest_live_txid", txid_json(vindex_oldest(d->live)->txid));
        json_object_set_new(o, "live_txids", json_integer((json_int_t)d->live->nrecs));
        json_object_set_new(o, "page_versions", json_integer((json_int_t)d->live->nversions));
        json_object_set_new(o, "age_seconds", json_real((double)(now - cur->ts_ms) / 1000.0));
    }
    json_object_set_new(
        o, "lag_seconds",
        json_real(d->last_poll_ok_ms < 0 ? -1.0 : (double)(now - d->last_poll_ok_ms) / 1000.0));
    if (d->last_poll_ok_ms >= 0) {
        timefmt_format_ms(ts, sizeof ts, d->last_poll_ok_ms);
        json_object_set_new(o, "last_poll", json_string(ts));
    }
    json_t *lv = json_object();
    for (int l = 0; l < NLEVELS; l++) {
        if (!d->levels[l].files)
            continue;
        char k[4];
        snprintf(k, sizeof k, "%d", l);
        json_t *e = json_object();
        json_object_set_new(e, "files", json_integer((json_int_t)d->levels[l].files));
        json_object_set_new(e, "max_txid", txid_json(d->levels[l].max_txid));
        json_object_set_new(lv, k, e);
    }
    json_object_set_new(o, "levels", lv);
    int st_now = db_state_locked(d, now);
    if (st_now == DB_DEGRADED && d->consec_fail < DB_DEGRADED_POLLS &&
        d->last_error_ms <= d->last_store_ok_ms) {
        /* a poll hangs in the store: the error recorded is older than the
         * last answer, so it is not the current one; this is */
        char cur[160];
        db_msgf(cur, sizeof cur,
                "no answer from the object store for %.1f s: a poll is stalled waiting on it",
                (double)(now - d->last_store_ok_ms) / 1000.0);
        json_object_set_new(o, "last_error", json_string(cur));
        timefmt_format_ms(ts, sizeof ts, now);
        json_object_set_new(o, "last_error_at", json_string(ts));
    } else {
        json_object_set_new(o, "last_error", d->last_error[0] ? json_string(d->last_error) : json_null());
        if (d->last_error[0]) {
            timefmt_format_ms(ts, sizeof ts, d->last_error_ms);
            json_object_set_new(o, "last_error_at", json_string(ts));
        }
    }
    json_object_set_new(o, "stall_reason", d->stall_reason[0] ? json_string(d->stall_reason) : json_null());
    json_object_set_new(o, "consecutive_poll_failures", json_integer(d->consec_fail));
    if (st_now == DB_DEGRADED) {
        char why[400];
        if (d->consec_fail >= DB_DEGRADED_POLLS)
            db_msgf(why, sizeof why, "%d polls in a row failed: %s", d->consec_fail, d->last_error);
        else
            db_msgf(why, sizeof why, "no successful poll for %.1f s (the store does not answer)",
                    (double)(now - d->last_store_ok_ms) / 1000.0);
        json_object_set_new(o, "degraded_reason", json_string(why));
    }
    if (d->last_store_ok_ms >= 0) {
        timefmt_format_ms(ts, sizeof ts, d->last_store_ok_ms);
        json_object_set_new(o, "last_store_ok", json_string(ts));
    }
    json_t *v = json_object();
    int building = atomic_load(&d->building);
    json_object_set_new(v, "building", json_boolean(building));
    if (d->trailer_only)
        json_object_set_new(v, "disabled", json_true());
    json_object_set_new(v, "files_verified", json_integer((json_int_t)atomic_load(&d->vfy_files_done)));
    json_object_set_new(v, "files_total", json_integer((json_int_t)atomic_load(&d->vfy_files_total)));
    json_object_set_new(v, "bytes_verified", json_integer((json_int_t)atomic_load(&d->vfy_bytes_done)));
    json_object_set_new(v, "bytes_total", json_integer((json_int_t)atomic_load(&d->vfy_bytes_total)));
    json_object_set_new(v, "bytes_read", json_integer((json_int_t)atomic_load(&d->vfy_bytes_read)));
    json_object_set_new(v, "last_build_seconds",
                        d->last_build_ms < 0 ? json_null() : json_real((double)d->last_build_ms / 1000.0));
    if (building) {
        timefmt_format_ms(ts, sizeof ts, d->build_started_ms);
        json_object_set_new(v, "build_started", json_string(ts));
    }
    json_object_set_new(o, "verification", v);
    json_t *hs = json_array();
    for (size_t i = 0; i < d->nhists; i++)
        json_array_append_new(hs, txid_json(d->hists[i]->txid));
    json_object_set_new(o, "historical_txids", hs);
    pthread_rwlock_unlock(&d->lock);
    json_object_set_new(o, "rejected_files", db_verify_bad_json(d));
    json_t *c = json_object();
    json_object_set_new(c, "pages_served", json_integer((json_int_t)atomic_load(&d->pages_served)));
    json_object_set_new(c, "polls", json_integer((json_int_t)atomic_load(&d->polls)));
    json_object_set_new(c, "poll_errors", json_integer((json_int_t)atomic_load(&d->poll_errors)));
    json_object_set_new(c, "files_applied", json_integer((json_int_t)atomic_load(&d->files_applied)));
    json_object_set_new(c, "replans", json_integer((json_int_t)atomic_load(&d->replans)));
    json_object_set_new(c, "historical_builds", json_integer((json_int_t)atomic_load(&d->hist_builds)));
    json_object_set_new(o, "counters", c);
    return o;
}

void ltxdb_metrics(ltxdb *d, db_metrics *m)
{
    memset(m, 0, sizeof *m);
    int64_t now = timefmt_now_ms();
    pthread_rwlock_rdlock(&d->lock);
    const vrec *cur = d->live ? vindex_current(d->live) : NULL;
    if (cur) {
        m->txid = cur->txid;
        m->commit = cur->commit;
        m->age_seconds = (double)(now - cur->ts_ms) / 1000.0;
        m->versions = d->live->nversions;
    }
    m->state = db_state_locked(d, now);
    m->lag_seconds = d->last_poll_ok_ms < 0 ? -1.0 : (double)(now - d->last_poll_ok_ms) / 1000.0;
    m->hist_count = d->nhists;
    pthread_rwlock_unlock(&d->lock);
    m->pages_served = atomic_load(&d->pages_served);
    m->polls = atomic_load(&d->polls);
    m->poll_errors = atomic_load(&d->poll_errors);
    m->files_applied = atomic_load(&d->files_applied);
    m->replans = atomic_load(&d->replans);
    m->hist_builds = atomic_load(&d->hist_builds);
}
