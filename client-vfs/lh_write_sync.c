/* lh_write_sync.c - sending the write buffer (see lh_write_int.h): one LTX
 * file built with proto's encoder (NoChecksum, min = max = base + 1, every
 * buffered page, zero pages for holes the database grew over, every page
 * when base is 0), POST /{db}/ltx?base= (/work/coord/write-api.md), the
 * answer applied to the buffer, and the background sync thread.
 *
 * Answers: 200 -> the pages sent leave the buffer, base = the new TXID;
 * 409 txid_conflict -> the buffer was built on a stale base: it is dropped
 * at the next read transaction (SQLITE_BUSY_SNAPSHOT); 409 lease_held ->
 * LTXHTTP_BUSY_LEASE naming holder and expiry; anything else keeps the
 * buffer and is retried. The POST itself is retried only when nothing can
 * have been published (connection refused, 503).
 */
#include "lh_write_int.h"

#include "ltxhttp.h"

#include "../proto/wire.h"
#include "ltx.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LH_WRITE_MAX_BACKOFF_MS 10000

static int lh_write_cmp(const void *a, const void *b)
{
    uint32_t x = (*(lh_write_page *const *)a)->pgno, y = (*(lh_write_page *const *)b)->pgno;
    return x < y ? -1 : x > y;
}

/* Zero pages [from, to) except the lock page. */
static ltx_err lh_write_holes(ltx_encoder *enc, uint32_t from, uint32_t to, uint32_t lockpg,
                              const uint8_t *zero, ltx_error *e)
{
    for (uint32_t q = from; q < to; q++) {
        if (q == lockpg)
            continue;
        ltx_err le = ltx_encoder_add_page(enc, q, zero, e);
        if (le != LTX_OK)
            return le;
    }
    return LTX_OK;
}

/* The buffer as one LTX file on top of base. mu held. */
static int lh_write_encode(lh_write *w, uint8_t **out, size_t *len, size_t *npages)
{
    lh_write_page **v = malloc((w->npages ? w->npages : 1) * sizeof *v);
    uint8_t *zero = calloc(1, w->ps);
    ltx_encoder *enc = NULL;
    ltx_error e = { 0 };
    ltx_err le = LTX_ERR_NOMEM;
    size_t n = 0;
    if (!v || !zero)
        goto out;
    for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++)
        for (lh_write_page *p = w->buckets[b]; p; p = p->next)
            if (!p->dead && p->pgno <= w->commit)
                v[n++] = p;
    qsort(v, n, sizeof *v, lh_write_cmp);
    ltx_header h = { .flags = LTX_FLAG_NO_CHECKSUM,
                     .page_size = w->ps,
                     .commit = w->commit,
                     .min_txid = w->base + 1,
                     .max_txid = w->base + 1,
                     .timestamp_ms = (int64_t)time(NULL) * 1000 };
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        h.timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (!(enc = ltx_encoder_new(&h, 2 * w->cap + ((size_t)1 << 20))))
        goto out; /* holes compress to ~20 bytes */
    uint32_t lockpg = ltx_lock_pgno(w->ps);
    uint32_t from = w->base == 0 ? 1 : w->base_commit + 1; /* pages SQLite sees as zeros */
    uint32_t next = 1;
    *npages = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = next > from ? next : from;
        if (lo < v[i]->pgno && (le = lh_write_holes(enc, lo, v[i]->pgno, lockpg, zero, &e)) != LTX_OK)
            goto out;
        if ((le = ltx_encoder_add_page(enc, v[i]->pgno, v[i]->data, &e)) != LTX_OK)
            goto out;
        next = v[i]->pgno + 1;
    }
    uint32_t lo = next > from ? next : from;
    if (lo <= w->commit && (le = lh_write_holes(enc, lo, w->commit + 1, lockpg, zero, &e)) != LTX_OK)
        goto out;
    *npages = n;
    le = ltx_encoder_finish(enc, 0, out, len, &e);
out:
    ltx_encoder_free(enc);
    free(v);
    free(zero);
    if (le != LTX_OK) {
        lh_write_set_err(w, "building the LTX file for %s: %s", w->cfg.db,
                         e.msg[0] ? e.msg : ltx_strerror(le));
        return le == LTX_ERR_NOMEM ? SQLITE_NOMEM : LTXHTTP_IOERR_SYNC;
    }
    return SQLITE_OK;
}

/* A string field of a JSON error body, or "?". */
static void lh_write_body_field(const lh_http_resp *r, const char *name, char *out, size_t n)
{
    snprintf(out, n, "?");
    json_t *j = r->body.n ? json_loadb((const char *)r->body.p, r->body.n, 0, NULL) : NULL;
    const char *s = j ? json_string_value(json_object_get(j, name)) : NULL;
    if (s)
        snprintf(out, n, "%s", s);
    json_decref(j);
}

/* The pages just published at txid go to the shared cache (the writer
 * reads them there, page 1 first, instead of asking the server). mu held. */
static void lh_write_to_cache(lh_write *w, uint64_t sent_gen, uint64_t txid, uint32_t commit)
{
    pthread_mutex_lock(&w->sh->mu);
    if (w->sh->cache.page_size == w->ps)
        for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++)
            for (lh_write_page *p = w->buckets[b]; p; p = p->next)
                if (p->gen <= sent_gen && !p->dead && p->pgno <= commit)
                    lh_cache_put(&w->sh->cache, p->pgno, txid, w->sh->known, p->data);
    pthread_mutex_unlock(&w->sh->mu);
}

/* What becomes of the buffer after a failed sync, for the message. */
static const char *lh_write_fate(const lh_write *w, char *out, size_t n)
{
    if (w->cfg.sync_interval_ms == 0)
        snprintf(out, n, "the transaction is undone");
    else
        snprintf(out, n, "%zu page(s) kept, retried", w->npages);
    return out;
}

/* The pages up to sent_gen were published on base as txid: they leave the
 * buffer (into the shared cache), base moves on. mu held. */
static void lh_write_published(lh_write *w, uint64_t sent_gen, uint64_t base, uint64_t txid, uint32_t commit)
{
    if (base == 0) { /* a new database: the shared cache learns its page size */
        pthread_mutex_lock(&w->sh->mu);
        if (!w->sh->ps_known && w->sh->cache.npages == 0) {
            lh_cache_resize(&w->sh->cache, w->ps, w->sh->cfg.cache_bytes);
            w->sh->ps_known = 1;
        }
        pthread_mutex_unlock(&w->sh->mu);
    }
    lh_write_to_cache(w, sent_gen, txid, commit);
    for (unsigned b = 0; b < LH_WRITE_NBUCKETS; b++) {
        lh_write_page *p = w->buckets[b];
        while (p) {
            lh_write_page *next = p->next;
            if (p->gen <= sent_gen)
                lh_write_remove(w, p);
            p = next;
        }
    }
    w->base = txid;
    w->base_commit = commit;
    w->failing = 0;
    w->report = 0;
    w->err[0] = 0;
    w->syncs++;
    lh_write_forget_attempt(w);
}

typedef struct {
    lh_write *w;
    uint64_t txid;
    uint32_t commit;
} lh_write_probe;

/* One page of a file we sent against the server's page at probe->txid. */
static int lh_write_landed_page(void *ctx, uint32_t pgno, const uint8_t *page)
{
    const lh_write_probe *pr = ctx;
    lh_write *w = pr->w;
    char path[LTXW_MAX_URL];
    snprintf(path, sizeof path, "/%s/%s/%u?%s=%016" PRIx64, w->edb, LTXW_SEG_PAGES, pgno, LTXW_Q_TXID,
             pr->txid);
    w->resp.body.max = (size_t)w->ps + 1;
    lh_http_get(w->conn, &w->cfg, path, &w->resp, NULL, 0);
    lh_http_resp *r = &w->resp;
    int same = r->cc == 0 && r->status == 200 && r->body.n == w->ps && memcmp(r->body.p, page, w->ps) == 0 &&
               r->commit == (int64_t)pr->commit;
    return same ? 0 : 1;
}

/* 1 if the server's TXID txid holds exactly the pages (and size) of the
 * file body we sent: it landed although we did not hear so (a lost answer,
 * or libcurl resending on a fresh connection). Called with mu held
 * (released here); the caller holds the flush (w->flushing). */
static int lh_write_landed(lh_write *w, const uint8_t *body, size_t len, uint64_t txid, uint32_t commit)
{
    if (!body || len == 0)
        return 0;
    pthread_mutex_unlock(&w->mu);
    ltx_error e;
    lh_write_probe pr = { w, txid, commit };
    int ok = ltx_file_decode(body, len, lh_write_landed_page, &pr, NULL, &e) == LTX_OK;
    w->resp.body.max = LH_WRITE_MAX_BODY;
    pthread_mutex_lock(&w->mu);
    return ok;
}

/* The server's answer to the POST of pages up to sent_gen on base. mu held. */
static int lh_write_result(lh_write *w, uint64_t sent_gen, uint64_t base, uint32_t commit, int64_t t0,
                           const uint8_t *body, size_t len)
{
    lh_http_resp *r = &w->resp;
    char d[LH_WRITE_ERRLEN], fate[64];
    lh_http_describe(r, d, sizeof d);
    if (r->cc == 0 && r->status == 200) {
        uint64_t txid = 0;
        uint32_t c2 = 0;
        json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
        int bad = lh_http_parse_state(j, &txid, &c2, NULL) != 0 || txid <= base;
        json_decref(j);
        if (bad) {
            lh_write_set_err(w, "syncing %s: the server's answer names no TXID after %016" PRIx64, w->cfg.db,
                             base);
            return LTXHTTP_IOERR_SYNC;
        }
        lh_write_published(w, sent_gen, base, txid, commit);
        w->last_sync_ms = lh_http_now_ms() - t0;
        return SQLITE_OK;
    }
    w->failing = 1;
    w->sync_errors++;
    if (r->cc == 0 && r->status == 409 && lh_http_code_is(r, "txid_conflict")) {
        char cur[40];
        uint64_t now_txid = 0;
        lh_write_body_field(r, LTXW_J_TXID, cur, sizeof cur);
        int next = lh_http_parse_hex64(cur, strlen(cur), &now_txid) == 0 && now_txid == base + 1;
        if (next && lh_write_landed(w, body, len, base + 1, commit)) { /* this very file is there */
            lh_write_published(w, sent_gen, base, base + 1, commit);
            return SQLITE_OK;
        }
        if (next && w->amb_body && w->amb_base == base &&
            lh_write_landed(w, w->amb_body, w->amb_len, base + 1, w->amb_commit)) { /* an earlier attempt */
            lh_write_published(w, w->amb_gen, base, base + 1, w->amb_commit);
            return SQLITE_OK;
        }
        w->doomed = 1;
        lh_write_forget_attempt(w);
        lh_write_set_err(
            w,
            "%s changed on the server (now at TXID %s): %zu buffered page(s) built on TXID %016" PRIx64
            " are dropped; retry the transaction (%s)",
            w->cfg.db, cur, w->npages, base, d);
        return SQLITE_BUSY_SNAPSHOT;
    }
    if (r->cc == 0 && r->status == 409 && lh_http_code_is(r, "lease_held")) {
        char holder[128], until[64];
        lh_write_body_field(r, "holder", holder, sizeof holder);
        lh_write_body_field(r, "expires", until, sizeof until);
        lh_write_set_err(w, "database %s is locked by %s until %s (lease_held; %s)", w->cfg.db, holder, until,
                         lh_write_fate(w, fate, sizeof fate));
        return LTXHTTP_BUSY_LEASE;
    }
    lh_write_set_err(w, "syncing %s to %s (base %016" PRIx64 ", %s): %s", w->cfg.db, w->cfg.server, base,
                     lh_write_fate(w, fate, sizeof fate), d);
    if (r->cc == 0 && (r->status == 401 || r->status == 403))
        return SQLITE_AUTH;
    return LTXHTTP_IOERR_SYNC;
}

/* 1 if the server may have published the body although the answer says
 * otherwise (sent, but no answer; or a 5xx after the store was asked). */
static int lh_write_ambiguous(const lh_http_resp *r)
{
    if (r->cc != 0)
        return r->cc != CURLE_COULDNT_CONNECT && r->cc != CURLE_COULDNT_RESOLVE_HOST;
    return r->status == 500 || r->status == 502 || r->status == 504;
}

int lh_write_flush(lh_write *w)
{
    while (w->flushing)
        pthread_cond_wait(&w->cv, &w->mu);
    if (!lh_write_has_changes(w))
        return SQLITE_OK;
    if (w->doomed)
        return SQLITE_BUSY_SNAPSHOT;
    uint8_t *body = NULL;
    size_t len = 0, npages = 0;
    uint64_t sent_gen = w->gen, base = w->base;
    uint32_t commit = w->commit;
    int rc = lh_write_encode(w, &body, &len, &npages);
    if (rc != SQLITE_OK)
        return rc;
    w->flushing = 1;
    pthread_mutex_unlock(&w->mu);
    char path[LTXW_MAX_URL];
    snprintf(path, sizeof path, "/%s/ltx?base=%016" PRIx64, w->edb, base);
    int64_t t0 = lh_http_now_ms();
    lh_http_post(w->conn, &w->cfg, path, body, len, &w->resp, NULL);
    pthread_mutex_lock(&w->mu);
    rc = lh_write_result(w, sent_gen, base, commit, t0, body, len);
    if (rc != SQLITE_OK && !w->doomed && lh_write_ambiguous(&w->resp)) { /* keep it: it may have landed */
        lh_write_forget_attempt(w);
        w->amb_body = body;
        w->amb_len = len;
        w->amb_base = base;
        w->amb_gen = sent_gen;
        w->amb_commit = commit;
        body = NULL;
    }
    free(body);
    w->flushing = 0;
    pthread_cond_broadcast(&w->cv);
    if (rc == SQLITE_OK) {
        w->sync_pages += npages;
        w->sync_bytes += len;
    }
    return rc;
}

int lh_write_status(lh_write *w, lh_http_conn *conn, lh_settings *cfg, lh_http_resp *r, uint64_t *txid,
                    uint32_t *commit, uint32_t *ps)
{
    char path[LTXW_MAX_URL];
    snprintf(path, sizeof path, "/%s", w->edb);
    size_t keep = r->body.max;
    r->body.max = LH_WRITE_MAX_BODY;
    lh_http_get(conn, cfg, path, r, NULL, 0);
    r->body.max = keep;
    if (r->cc != 0 || r->status != 200)
        return -1;
    json_t *j = json_loadb((const char *)r->body.p, r->body.n, 0, NULL);
    int bad = lh_http_parse_state(j, txid, commit, ps) != 0;
    json_decref(j);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------ the thread */

/* Wait on cv until ms (monotonic) or a signal. mu held. */
static void lh_write_wait_until(lh_write *w, int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

/* One background sync, due now, outside any transaction. mu held. */
static void lh_write_sync_now(lh_write *w)
{
    w->want = 0;
    pthread_cond_broadcast(&w->cv);
    int rc = lh_write_flush(w);
    int64_t now = lh_http_now_ms();
    if (rc == SQLITE_OK) {
        w->backoff_ms = w->cfg.sync_interval_ms;
        w->due_ms = lh_write_has_changes(w) ? now + w->cfg.sync_interval_ms : 0;
        return;
    }
    if (!w->report)
        lh_write_log(w, rc, w->err);
    w->report = 1;
    w->report_rc = rc;
    w->backoff_ms = w->backoff_ms * 2 > LH_WRITE_MAX_BACKOFF_MS ? LH_WRITE_MAX_BACKOFF_MS : w->backoff_ms * 2;
    if (w->backoff_ms < 100)
        w->backoff_ms = 100;
    w->due_ms = now + w->backoff_ms;
}

static void *lh_write_main(void *arg)
{
    lh_write *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        int64_t now = lh_http_now_ms();
        if (w->doomed || !lh_write_has_changes(w) || !w->due_ms || now < w->due_ms) {
            if (w->want) { /* nothing to send after all: never keep a writer waiting */
                w->want = 0;
                pthread_cond_broadcast(&w->cv);
            }
            lh_write_wait_until(w, w->due_ms && w->due_ms > now ? w->due_ms : now + 1000);
            continue;
        }
        if (w->in_txn) { /* wait for the gap after this transaction */
            w->want = 1;
            lh_write_wait_until(w, now + 100);
            continue;
        }
        lh_write_sync_now(w);
    }
    w->want = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int lh_write_start_thread(lh_write *w)
{
    if (pthread_create(&w->th, NULL, lh_write_main, w) != 0)
        return -1;
    w->th_ok = 1;
    return 0;
}

void lh_write_stop_thread(lh_write *w)
{
    if (!w->th_ok)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->th_ok = 0;
    w->stop = 0;
}
