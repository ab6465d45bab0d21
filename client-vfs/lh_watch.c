/* lh_watch.c - shared state per (servers, db, token) and its watcher
 * thread (see lh_watch.h).
 *
 * The watcher asks GET /{db}/changes?since=KNOWN&wait=S in a loop. A 200
 * closes the ranges of the listed pages (or drops the cache on a reset);
 * a 410 (our TXID forgotten) or, with one server, a 409 (server behind us)
 * starts over from GET /{db} (never to a state without a TXID: a server
 * still indexing is a failure, retried). Failures are retried with backoff
 * up to 2 s, moving to the next server when several are configured; the
 * first one is logged, and fail_since_ms lets connections refuse to pin a
 * stale TXID. With several servers, a 409 (a server up to a poll behind) is
 * waited for up to LH_WATCH_BEHIND_MS; after a failover the preferred server
 * is probed every LH_HTTP_FAILBACK_MS (quietly), and pref_ok tells the
 * connections when to go back to it.
 */
#include "lh_watch.h"

#include "lh_sqlite.h"

#include "../proto/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LH_WATCH_MAX_BODY  (16u * 1024 * 1024)
#define LH_WATCH_BEHIND_MS 2500 /* wait this long for a server that is behind the TXID known (409) */

static pthread_mutex_t lh_watch_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static lh_watch *lh_watch_reg;

/* Messages are cut to the buffer on purpose. */
static void lh_watch_fmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

/* Close the ranges of the pages listed in a /changes answer. */
static void lh_watch_close_pages(lh_watch *sh, json_t *pages, uint64_t since)
{
    size_t i;
    json_t *v;
    json_array_foreach(pages, i, v)
    {
        if (json_is_integer(v)) {
            json_int_t p = json_integer_value(v);
            if (p > 0 && p <= UINT32_MAX)
                lh_cache_close(&sh->cache, (uint32_t)p, since);
        } else if (json_is_string(v)) { /* "a-b" range, tolerated */
            unsigned long a, b;
            if (sscanf(json_string_value(v), "%lu-%lu", &a, &b) == 2 && a > 0 && b >= a && b - a < 1000000)
                for (unsigned long p = a; p <= b; p++)
                    lh_cache_close(&sh->cache, (uint32_t)p, since);
        }
    }
}

int lh_watch_apply_changes(lh_watch *sh, uint64_t since, json_t *j)
{
    uint64_t txid;
    uint32_t commit, ps;
    if (lh_http_parse_state(j, &txid, &commit, &ps) != 0)
        return 0;
    if (txid == 0 || commit == 0)
        return 0; /* no TXID (a server still indexing): never an empty database */
    int is_reset = json_is_true(json_object_get(j, LTXW_J_RESET)) || since != sh->known || txid < since;
    if (!is_reset && txid == since)
        return 0; /* long-poll timed out, nothing new */
    json_t *pages = is_reset ? NULL : json_object_get(j, LTXW_J_PAGES);
    if (is_reset || !json_is_array(pages)) {
        lh_cache_clear(&sh->cache);
        sh->resets++;
    } else {
        lh_watch_close_pages(sh, pages, since);
        if (commit < sh->commit) /* shrink: pages beyond the new end are gone */
            lh_cache_truncate(&sh->cache, commit, since);
    }
    sh->known = txid;
    sh->commit = commit;
    /* The page size is fixed once known; a database that was empty (state
     * "waiting") when the first connection opened learns it now. */
    if (!sh->ps_known && ps && commit > 0 && sh->cache.npages == 0) {
        lh_cache_resize(&sh->cache, ps, sh->cfg.cache_bytes);
        sh->ps_known = 1;
    }
    sh->updates++;
    pthread_cond_broadcast(&sh->cv);
    return 1;
}

/* lh_http_poll's tick: a long poll that got connected means the server is
 * back, so the watcher is healthy while it waits (for max_stale_ms and
 * ltxhttp_error). Returns 1 when asked to stop. */
static int lh_watch_tick(void *ud, int connected)
{
    lh_watch *sh = ud;
    pthread_mutex_lock(&sh->mu);
    if (connected) {
        sh->fail_since_ms = 0;
        sh->werr[0] = 0;
        sh->werr_logged = 0;
        sh->poll_connected = 1;
    }
    /* A long poll still open after 500 ms was accepted: the server has our
     * TXID (one behind answers 409 at once, one not ready 503). */
    if (sh->poll_connected && sh->cfg.cur == 0 && lh_http_now_ms() - sh->poll_t0 >= 500)
        sh->pref_ok = 1;
    int stop = sh->stop;
    pthread_mutex_unlock(&sh->mu);
    return stop;
}

/* Wait up to ms unless stopped; returns 1 if stopped. Caller holds mu. */
static int lh_watch_pause(lh_watch *sh, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!sh->stop)
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) == ETIMEDOUT)
            break;
    return sh->stop;
}

/* A 200 from /changes asked at t0. Returns 1 if applied, 0 if not the
 * expected JSON, -1 if stopped. */
static int lh_watch_changes(lh_watch *sh, const lh_http_resp *r, uint64_t since, int64_t t0)
{
    json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    pthread_mutex_lock(&sh->mu);
    int changed = lh_watch_apply_changes(sh, since, j);
    sh->pref_ok = sh->cfg.cur == 0;
    sh->behind_since = 0;
    sh->werr[0] = 0;
    sh->werr_logged = 0;
    sh->fail_since_ms = 0;
    /* Nothing new and no long poll (a server that does not wait): don't spin
     * (the first poll asks without waiting). */
    int stopped = !changed && sh->first_done && lh_http_now_ms() - t0 < 100 && lh_watch_pause(sh, 250);
    pthread_mutex_unlock(&sh->mu);
    json_decref(j);
    return stopped ? -1 : 1;
}

/* The server forgot our TXID, or (the only server) is behind us, e.g.
 * restarted on an older replica: start over from its state. Returns 1 if
 * done, 0 on failure (answer in r), -1 if stopped. */
static int lh_watch_restart(lh_watch *sh, char *url, size_t ulen, uint64_t since, lh_http_resp *r)
{
    snprintf(url, ulen, "%s/%s", sh->cfg.server, sh->edb);
    if (lh_http_poll(sh->conn, url, sh->cfg.timeout_ms, r, lh_watch_tick, sh) < 0)
        return -1;
    if (r->cc != 0 || r->status != 200)
        return 0;
    json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
    int ok = 0;
    uint64_t txid;
    uint32_t commit;
    /* A server that has no TXID yet (restarted, still indexing) is waited
     * for: failure, not a reset to an empty database. */
    if (j && lh_http_parse_state(j, &txid, &commit, NULL) == 0 && txid != 0 && commit != 0) {
        json_object_set_new(j, LTXW_J_RESET, json_true());
        pthread_mutex_lock(&sh->mu);
        lh_watch_apply_changes(sh, since, j);
        sh->fail_since_ms = 0;
        sh->pref_ok = sh->cfg.cur == 0;
        pthread_mutex_unlock(&sh->mu);
        ok = 1;
    }
    json_decref(j);
    return ok;
}

/* A failed probe of the preferred server (the failback): back to the
 * server in use before, quietly (it still answers); the next probe comes
 * LH_HTTP_FAILBACK_MS later, or later still (up to 16 s) while probes cost
 * time (a server that does not answer connections). */
static void lh_watch_probe_failed(lh_watch *sh, int prev, int64_t took_ms)
{
    sh->probe_extra_ms = took_ms > 500 ? (sh->probe_extra_ms ? sh->probe_extra_ms * 2 : 2000) : 0;
    if (sh->probe_extra_ms > 14000)
        sh->probe_extra_ms = 14000;
    pthread_mutex_lock(&sh->mu);
    lh_http_use_server(&sh->cfg, prev);
    sh->cfg.failover_ms += sh->probe_extra_ms;
    pthread_mutex_unlock(&sh->mu);
}

/* One long poll from the TXID known (on the preferred server again when
 * it is time to probe it). Returns 1 if it brought news or nothing new (or
 * a probe failed quietly), 0 on failure (answer in r), -1 if stopped. */
static int lh_watch_step(lh_watch *sh, char *url, size_t ulen, uint64_t since, lh_http_resp *r)
{
    pthread_mutex_lock(&sh->mu);
    int prev = sh->cfg.cur;
    int probe = lh_http_failback(&sh->cfg);
    pthread_mutex_unlock(&sh->mu);
    snprintf(url, ulen, "%s/%s/%s?%s=%016" PRIx64 "&%s=%d", sh->cfg.server, sh->edb, LTXW_SEG_CHANGES,
             LTXW_Q_SINCE, since, LTXW_Q_WAIT, sh->first_done ? sh->cfg.wait_s : 0);
    int64_t t0 = lh_http_now_ms();
    sh->poll_t0 = t0;
    sh->poll_connected = 0;
    if (lh_http_poll(sh->conn, url, (sh->cfg.wait_s + 15) * 1000L, r, lh_watch_tick, sh) < 0)
        return -1;
    if (probe && !(r->cc == 0 && (r->status == 200 || r->status == 409))) {
        lh_watch_probe_failed(sh, prev, lh_http_now_ms() - t0);
        return 1;
    }
    if (probe)
        sh->probe_extra_ms = 0;
    if (r->cc == 0 && r->status == 200)
        return lh_watch_changes(sh, r, since, t0);
    /* With several servers a 409 is a lagging one (e.g. the preferred one
     * just restarted, up to a poll behind): wait for it a little, then try
     * the next. */
    if (r->cc == 0 && r->status == 409 && sh->cfg.nservers > 1) {
        int64_t now = lh_http_now_ms();
        if (!sh->behind_since)
            sh->behind_since = now;
        if (now - sh->behind_since < LH_WATCH_BEHIND_MS) {
            pthread_mutex_lock(&sh->mu);
            int stopped = lh_watch_pause(sh, 200);
            pthread_mutex_unlock(&sh->mu);
            return stopped ? -1 : 1;
        }
        sh->behind_since = 0;
        return 0;
    }
    if (r->cc == 0 && (r->status == 410 || (r->status == 409 && sh->cfg.nservers == 1)))
        return lh_watch_restart(sh, url, ulen, since, r);
    return 0;
}

/* After a failed step: note the error (logged once per failure streak),
 * move to the next server if that may help, wait backoff ms. Returns 1 if
 * stopped meanwhile. */
static int lh_watch_failed(lh_watch *sh, const lh_http_resp *r, long backoff)
{
    char msg[LH_WATCH_ERRLEN], full[LH_WATCH_ERRLEN + 256];
    if (r->cc == 0 && r->status == 200) /* lh_watch_restart: a state without a TXID */
        lh_watch_fmt(msg, sizeof msg, "the server has no TXID for it yet (still indexing)");
    else
        lh_http_describe(r, msg, sizeof msg);
    int next = r->cc != 0 || r->status == 200 || lh_http_should_failover(r, LH_HTTP_RETRY_409);
    if (sh->cfg.nservers > 1 && next) {
        pthread_mutex_lock(&sh->mu);
        lh_http_use_server(&sh->cfg, (sh->cfg.cur + 1) % sh->cfg.nservers);
        sh->pref_ok = 0;
        pthread_mutex_unlock(&sh->mu);
    }
    lh_watch_fmt(full, sizeof full, "watching %s/%s: %s (retrying)", sh->cfg.server, sh->cfg.db, msg);
    pthread_mutex_lock(&sh->mu);
    lh_watch_fmt(sh->werr, sizeof sh->werr, "%s", full);
    if (!sh->fail_since_ms)
        sh->fail_since_ms = lh_http_now_ms();
    int log_now = !sh->werr_logged;
    sh->werr_logged = 1;
    pthread_mutex_unlock(&sh->mu);
    if (log_now)
        sqlite3_log(SQLITE_WARNING, "ltxhttp: %s", full);
    pthread_mutex_lock(&sh->mu);
    int stopped = lh_watch_pause(sh, backoff);
    pthread_mutex_unlock(&sh->mu);
    return stopped;
}

static void *lh_watch_main(void *arg)
{
    lh_watch *sh = arg;
    size_t ulen = sh->cfg.max_server_len + strlen(sh->edb) + 128;
    char *url = malloc(ulen);
    lh_http_resp r;
    lh_http_resp_init(&r, LH_WATCH_MAX_BODY);
    long backoff = 100;
    if (!url) {
        pthread_mutex_lock(&sh->mu);
        lh_watch_fmt(sh->werr, sizeof sh->werr, "watcher for %s: out of memory", sh->cfg.db);
        pthread_mutex_unlock(&sh->mu);
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        uint64_t since = sh->known;
        int stop = sh->stop;
        pthread_mutex_unlock(&sh->mu);
        if (stop)
            break;
        int ok = lh_watch_step(sh, url, ulen, since, &r);
        if (ok < 0)
            break;
        if (!sh->first_done) { /* a transaction may wait for this (lh_watch_start) */
            pthread_mutex_lock(&sh->mu);
            sh->first_done = 1;
            pthread_cond_broadcast(&sh->cv);
            pthread_mutex_unlock(&sh->mu);
        }
        if (ok) {
            backoff = 100;
            continue;
        }
        if (lh_watch_failed(sh, &r, backoff))
            break;
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
out:
    lh_http_resp_free(&r);
    free(url);
    return NULL;
}

static void lh_watch_destroy(lh_watch *sh)
{
    if (sh->th_ok) {
        pthread_mutex_lock(&sh->mu);
        sh->stop = 1;
        lh_http_wakeup(sh->conn);
        pthread_cond_broadcast(&sh->cv);
        pthread_mutex_unlock(&sh->mu);
        pthread_join(sh->th, NULL);
    }
    lh_http_free_escaped(sh->edb);
    lh_http_close(sh->conn);
    lh_cache_clear(&sh->cache);
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->cv);
    lh_settings_free(&sh->cfg);
    free(sh->key);
    free(sh);
}

/* A new shared state under key (owned from now on, even on failure) with
 * its watcher running, or NULL. */
static lh_watch *lh_watch_new(const lh_settings *c, char *key, uint64_t txid, uint32_t commit, uint32_t ps)
{
    lh_watch *sh = calloc(1, sizeof *sh);
    if (!sh) {
        free(key);
        return NULL;
    }
    sh->key = key;
    sh->refs = 1;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    sh->known = txid;
    sh->commit = commit;
    sh->ps_known = ps != 0;
    lh_cache_init(&sh->cache, ps ? ps : 4096, c->cache_bytes);
    if (lh_settings_copy(&sh->cfg, c) != 0)
        goto fail;
    sh->fresh_ms = lh_http_now_ms();
    /* Write mode (its syncs follow other writers through `known`) and a
     * database without a TXID yet start the watcher at once. */
    if (c->write || !txid) {
        pthread_mutex_lock(&sh->mu);
        int rc = lh_watch_start(sh, 0);
        pthread_mutex_unlock(&sh->mu);
        if (rc != 0)
            goto fail;
    }
    return sh;
fail:
    lh_watch_destroy(sh);
    return NULL;
}

/* Wait (mu held, at most timeout_ms) until the running watcher's first
 * poll has answered: what is known before it is the open answer's TXID,
 * which may be as old as the shared state. */
static void lh_watch_wait_first(lh_watch *sh)
{
    if (!sh->known || sh->first_done)
        return; /* nothing to catch up with, or caught up */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ms = sh->cfg.timeout_ms;
    ts.tv_sec += ms / 1000 + (ts.tv_nsec + (ms % 1000) * 1000000L) / 1000000000L;
    ts.tv_nsec = (ts.tv_nsec + (ms % 1000) * 1000000L) % 1000000000L;
    while (!sh->first_done && !sh->stop)
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) == ETIMEDOUT)
            break;
}

int lh_watch_start(lh_watch *sh, int wait)
{
    if (sh->th_ok)
        return 0;
    /* the watcher's own connection (with its wake pipe) only when it runs:
     * a short-lived connection that never starts it pays for neither */
    if (!sh->conn && !(sh->conn = lh_http_open(&sh->cfg, 1)))
        return -1;
    if (!sh->edb && !(sh->edb = lh_http_escape(sh->conn, sh->cfg.db)))
        return -1;
    if (pthread_create(&sh->th, NULL, lh_watch_main, sh) != 0)
        return -1;
    sh->th_ok = 1;
    if (wait)
        lh_watch_wait_first(sh);
    return 0;
}

int lh_watch_current(lh_watch *sh)
{
    if (lh_http_now_ms() - sh->fresh_ms <= LH_WATCH_FRESH_MS)
        return 0;
    if (!sh->th_ok)
        return lh_watch_start(sh, 1);
    /* started by another connection whose transaction still waits for its
     * first answer: this one waits too, or it would pin the open answer */
    lh_watch_wait_first(sh);
    return 0;
}

void lh_watch_put_pages(lh_watch *sh, uint64_t txid, uint32_t ps, const unsigned char *body, size_t n,
                        const char *list)
{
    size_t i = 0;
    const char *s = list && *list ? list : "1";
    pthread_mutex_lock(&sh->mu);
    while (*s && i < n && sh->cache.page_size == ps) {
        char *e;
        unsigned long a = strtoul(s, &e, 10), b = a;
        if (*e == '-')
            b = strtoul(e + 1, &e, 10);
        if (a == 0 || b < a || (*e && *e != ','))
            break;
        for (unsigned long pg = a; pg <= b && i < n && pg <= UINT32_MAX; pg++, i++)
            lh_cache_put(&sh->cache, (uint32_t)pg, txid, sh->known, body + i * ps);
        s = *e ? e + 1 : e;
    }
    pthread_mutex_unlock(&sh->mu);
}

lh_watch *lh_watch_acquire(const lh_settings *c, uint64_t txid, uint32_t commit, uint32_t ps)
{
    size_t klen = strlen(c->server_list) + strlen(c->db) + (c->token ? strlen(c->token) : 0) +
                  (c->cafile ? strlen(c->cafile) : 0) + 4;
    char *key = malloc(klen);
    if (!key)
        return NULL;
    snprintf(key, klen, "%s\n%s\n%s\n%s", c->server_list, c->db, c->token ? c->token : "",
             c->cafile ? c->cafile : "");
    pthread_mutex_lock(&lh_watch_reg_mu);
    lh_watch *sh;
    for (sh = lh_watch_reg; sh; sh = sh->next)
        if (strcmp(sh->key, key) == 0)
            break;
    if (sh) {
        sh->refs++;
        free(key);
    } else if ((sh = lh_watch_new(c, key, txid, commit, ps)) != NULL) {
        sh->next = lh_watch_reg;
        lh_watch_reg = sh;
    }
    pthread_mutex_unlock(&lh_watch_reg_mu);
    return sh;
}

void lh_watch_release(lh_watch *sh)
{
    pthread_mutex_lock(&lh_watch_reg_mu);
    if (--sh->refs > 0) {
        pthread_mutex_unlock(&lh_watch_reg_mu);
        return;
    }
    for (lh_watch **pp = &lh_watch_reg; *pp; pp = &(*pp)->next)
        if (*pp == sh) {
            *pp = sh->next;
            break;
        }
    pthread_mutex_unlock(&lh_watch_reg_mu);
    lh_watch_destroy(sh);
}
