/* demand.c - polling that follows demand (see demand.h). */
#include "demand.h"

#include <pthread.h>

#include "db_internal.h"
#include "hash.h"
#include "log.h"
#include "timefmt.h"

int64_t demand_next_interval(int64_t prev_ms, int64_t since_read_ms, int64_t poll_ms, int64_t idle_after_ms,
                             int64_t idle_max_ms)
{
    if (idle_max_ms < poll_ms)
        idle_max_ms = poll_ms;
    if (since_read_ms < idle_after_ms)
        return poll_ms;
    int64_t n = prev_ms > poll_ms ? prev_ms * 2 : poll_ms * 2;
    return n > idle_max_ms ? idle_max_ms : n;
}

void demand_note_read(ltxdb *d)
{
    int64_t now = mono_ms();
    /* one shared store per DEMAND_NOTE_MS: a hot database's cache line is
     * read by every request, written ten times a second at most */
    if (now - atomic_load_explicit(&d->dm.last_read_ms, memory_order_relaxed) >= DEMAND_NOTE_MS)
        atomic_store_explicit(&d->dm.last_read_ms, now, memory_order_relaxed);
}

/* Latest is fresh when the database is polled every interval (or was not
 * polled yet: the first index decides readiness on its own). */
static int demand_fresh(ltxdb *d)
{
    int64_t iv = atomic_load_explicit(&d->dm.interval_ms, memory_order_acquire);
    return iv <= d->srv->cfg.poll_ms;
}

int demand_latest_ok(ltxdb *d, uint64_t txid)
{
    demand_note_read(d);
    return txid != 0 || demand_fresh(d);
}

int demand_wait_latest(ltxdb *d, db_err *err)
{
    demand_note_read(d);
    if (demand_fresh(d))
        return 0;
    srv *s = d->srv;
    /* a poll that starts after this point sees the replica as it is now */
    uint64_t want = atomic_load(&d->dm.started) + 1;
    struct timespec dl;
    deadline_in_ms(&dl, DEMAND_WAIT_MS);
    pthread_mutex_lock(&s->poll_mu);
    atomic_store(&d->dm.urgent, 1);
    atomic_fetch_add(&s->poll_kicks, 1);
    pthread_cond_broadcast(&s->poll_cv);
    int rc = 0;
    while (atomic_load(&d->dm.done) < want && !atomic_load(&s->stopping) && rc == 0)
        rc = pthread_cond_timedwait(&s->demand_cv, &s->poll_mu, &dl);
    int ok = atomic_load(&d->dm.done) >= want;
    pthread_mutex_unlock(&s->poll_mu);
    if (ok)
        return 0;
    db_set_err(err, DB_E_NOT_READY, "database %s was idle: its replica is being polled, retry", d->name);
    return -1;
}

int64_t demand_due(ltxdb *d) { return atomic_load(&d->dm.urgent) ? 0 : d->dm.next_ms; }

int demand_urgent(ltxdb *d) { return atomic_load(&d->dm.urgent); }

void demand_poll(srv *s, ltxdb *d, int64_t mono_now)
{
    /* urgent is taken before the poll is numbered: a reader that set it
     * after reading `started` waits for a poll numbered after its read */
    int was_urgent = atomic_exchange(&d->dm.urgent, 0);
    atomic_store(&d->dm.started_ms, timefmt_now_ms());
    uint64_t n = atomic_fetch_add(&d->dm.started, 1) + 1;
    if (was_urgent) {
        /* a reader waits: list every level too (the newest TXID may be in
         * L1+ only, e.g. after retention removed L0 while it was idle) */
        pthread_mutex_lock(&d->update);
        d->next_levels = 0;
        pthread_mutex_unlock(&d->update);
    }
    ltxdb_poll(d, mono_now);
    int64_t now = mono_ms();
    int64_t prev = atomic_load(&d->dm.interval_ms);
    int64_t since = now - atomic_load_explicit(&d->dm.last_read_ms, memory_order_relaxed);
    if (!atomic_load_explicit(&d->dm.last_read_ms, memory_order_relaxed))
        since = INT64_MAX / 2;
    int64_t iv =
        demand_next_interval(prev, since, s->cfg.poll_ms, s->cfg.poll_idle_after_ms, s->cfg.poll_idle_max_ms);
    if (iv != prev && (iv == s->cfg.poll_ms || prev <= s->cfg.poll_ms))
        logf_(LOG_DEBUG, "poll_interval", "db=%s interval_ms=%lld reason=%s", d->name, (long long)iv,
              iv == s->cfg.poll_ms ? "read" : "idle");
    if (iv > s->cfg.poll_ms) {
        /* idle: level listings (stats, catch-up) ten times rarer than L0
         * polls, counted from the last one (counted from this poll, they
         * would never come while the database stays idle); the first read
         * lists them again (above) */
        int64_t every = s->cfg.l1_interval_ms > 10 * iv ? s->cfg.l1_interval_ms : 10 * iv;
        pthread_mutex_lock(&d->update);
        int64_t lv = d->levels_listed + every;
        if (d->next_levels < lv)
            d->next_levels = lv;
        pthread_mutex_unlock(&d->update);
    }
    /* backed-off databases spread out (up to 1/8 of the interval earlier,
     * fixed per database): not all polled in the same second */
    int64_t jitter = iv > s->cfg.poll_ms ? (int64_t)(hash_fnv1a32_str(d->name) % (uint32_t)(iv / 8 + 1)) : 0;
    d->dm.next_ms = mono_now + iv - jitter;
    atomic_store_explicit(&d->dm.interval_ms, iv, memory_order_release);
    pthread_mutex_lock(&s->poll_mu);
    atomic_store(&d->dm.done, n);
    if (was_urgent || atomic_load(&d->dm.urgent))
        pthread_cond_broadcast(&s->demand_cv);
    pthread_mutex_unlock(&s->poll_mu);
}
