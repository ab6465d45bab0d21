/* lh_file.c - the remote main-database file (see lh_file.h).
 *
 * Reads: xLock(SHARED) pins the newest TXID known (or the fixed one of time
 * travel); every page of that transaction is read at the pinned TXID, from
 * the shared cache or from GET /{db}/pages/N?txid= (a miss after a
 * sequential run from page 2 on, or of page 1, fetches following pages too,
 * through /{db}/pages?n=a-b,c&txid=). Page 1 is patched on the way out so
 * SQLite drops its own cache exactly when the TXID changes. Every page
 * answer must name the pinned TXID in Ltx-Txid (lh_http refuses others).
 *
 * Open: GET /{db}/pages?n=1&btree=B (TXID, size, page 1 and the b-tree
 * interior pages in one answer) until it names a TXID, for up to
 * open_timeout_ms (a server still indexing is never shown as empty).
 *
 * Errors: a failed read returns an LTXHTTP_IOERR_* code and keeps the
 * message for PRAGMA ltxhttp_error, sqlite3_log and (log=1) stderr. The
 * page-read path allocates nothing but cache entries and, rarely, a longer
 * URL buffer.
 */
#include "lh_file.h"
#include "lh_write.h"

#include "ltxhttp.h"

#include "../proto/wire.h"
#include "be.h"
#include "timefmt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LH_FILE_MAX_JSON_BODY (16u * 1024 * 1024)
#define LH_FILE_URL_BUDGET    (LTXW_MAX_URL - 256)

/* Messages are cut to the buffer on purpose. */
static void lh_file_fmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static void lh_file_log(int log, int rc, const char *msg)
{
    sqlite3_log(rc, "ltxhttp: %s", msg);
    if (log)
        fprintf(stderr, "ltxhttp: %s\n", msg);
}

/* Keep the message in f->err, count and log it; returns rc. */
static int lh_file_fail(lh_file *f, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    f->errors++;
    lh_file_log(f->cfg.log && rc != SQLITE_ERROR, rc, f->err); /* SQLITE_ERROR: message returned to SQL */
    return rc;
}

/* A request path in f->url (grown as needed); NULL on out of memory. */
static const char *lh_file_url(lh_file *f, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(f->url, f->urlcap, fmt, ap);
        va_end(ap);
        if (n < 0)
            return NULL;
        if ((size_t)n < f->urlcap)
            return f->url;
        size_t nc = (size_t)n + 64;
        char *np = realloc(f->url, nc);
        if (!np)
            return NULL;
        f->url = np;
        f->urlcap = nc;
    }
}

/* The TXID and commit this connection reads now, and the page size. */
static void lh_file_view(lh_file *f, uint64_t *txid, uint32_t *commit, uint32_t *ps)
{
    pthread_mutex_lock(&f->sh->mu);
    if (f->lock >= SQLITE_LOCK_SHARED) {
        *txid = f->pin_txid;
        *commit = f->pin_commit;
    } else if (f->fixed) {
        *txid = f->fixed_txid;
        *commit = f->fixed_commit;
    } else {
        lh_watch_current(f->sh); /* the latest: as current as a transaction's (starting the watcher) */
        *txid = f->sh->known;
        *commit = f->sh->commit;
    }
    if (ps)
        *ps = f->sh->cache.page_size;
    pthread_mutex_unlock(&f->sh->mu);
}

void lh_file_patch_page1(unsigned char *p, uint32_t ps, uint64_t txid, uint32_t commit)
{
    if (ps < 100)
        return;
    p[18] = 1;
    p[19] = 1;
    be_put32(p + 24, (uint32_t)txid);
    be_put32(p + 28, commit);
    be_put32(p + 92, (uint32_t)txid);
}

/* One GET into f->resp (body capped at max bytes), counted in the file's
 * request and byte totals. want_txid: the TXID a 200 must name in its
 * Ltx-Txid header (0: no check). Returns 1 when an accepted 200 arrived. */
static int lh_file_get(lh_file *f, const char *url, size_t max, int flags, uint64_t want_txid)
{
    f->resp.body.max = max;
    f->resp.want_txid = want_txid;
    unsigned nreq = 0;
    lh_http_get(f->conn, &f->cfg, url, &f->resp, &nreq, flags);
    f->requests += nreq;
    f->bytes += f->resp.body.n;
    return f->resp.cc == 0 && f->resp.status == 200 && !f->resp.bad_txid;
}

/* The read error for a failed answer r at txid. */
static int lh_file_status_error(lh_file *f, const lh_http_resp *r, uint64_t txid, const char *what)
{
    char d[LH_FILE_ERRLEN];
    lh_http_describe(r, d, sizeof d);
    if (r->cc == 0 && r->status == 410)
        return lh_file_fail(f, LTXHTTP_IOERR_TXID_GONE,
                            "snapshot TXID %016" PRIx64
                            " of %s is no longer served by %s (%s); reopen or use a "
                            "newer TXID",
                            txid, f->cfg.db, f->cfg.server, d);
    if (r->cc == 0 && r->status == 409)
        return lh_file_fail(f, LTXHTTP_IOERR_TXID_AHEAD,
                            "snapshot TXID %016" PRIx64 " of %s is newer than %s has (%s)", txid, f->cfg.db,
                            f->cfg.server, d);
    return lh_file_fail(f, LTXHTTP_IOERR_SERVER, "%s of %s at TXID %016" PRIx64 " from %s failed: %s", what,
                        f->cfg.db, txid, f->cfg.server, d);
}

/* Pages to fetch after a miss of pgno: 0, or a doubling run (2, 4, ... up
 * to 1024 and the readahead setting) after sequential reads; page 1 is read
 * first by every new view, and the schema and the roots of small tables
 * usually follow it. */
static int lh_file_readahead(const lh_file *f, uint32_t pgno)
{
    int ra = 0;
    if (f->run >= 1 && f->cfg.readahead > 0) {
        int shift = f->run + 1 > 10 ? 10 : f->run + 1;
        ra = 1 << shift;
        if (ra > f->cfg.readahead)
            ra = f->cfg.readahead;
    }
    if (pgno == 1)
        ra = f->cfg.readahead;
    return ra > LTXW_MAX_BATCH_PAGES - 1 ? LTXW_MAX_BATCH_PAGES - 1 : ra;
}

/* The batch route's page list for list[0..n) as runs ("a-b,c,..."),
 * within the URL budget. Returns how many pages it covers. */
static int lh_file_page_list(const lh_file *f, const uint32_t *list, int n, char *out, size_t cap)
{
    size_t len = 0;
    int used = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && list[j + 1] == list[j] + 1)
            j++;
        char piece[32];
        int pl =
            j > i ? snprintf(piece, sizeof piece, "%s%" PRIu32 "-%" PRIu32, len ? "," : "", list[i], list[j])
                  : snprintf(piece, sizeof piece, "%s%" PRIu32, len ? "," : "", list[i]);
        if (len + (size_t)pl + f->cfg.max_server_len + strlen(f->edb) + 64 >= cap)
            break;
        memcpy(out + len, piece, (size_t)pl);
        len += (size_t)pl;
        used = j + 1;
        i = j + 1;
    }
    out[len] = 0;
    return used;
}

/* Check a batch answer of n pages at txid and cache them; the first lands
 * in f->page. */
static int lh_file_take_pages(lh_file *f, const uint32_t *list, int n, uint64_t txid, uint32_t ps)
{
    lh_http_resp *r = &f->resp;
    if (r->body.n != (size_t)n * ps)
        return lh_file_fail(f, LTXHTTP_IOERR_SERVER,
                            "reading %d page(s) of %s at TXID %016" PRIx64 ": got %zu bytes, want %zu", n,
                            f->cfg.db, txid, r->body.n, (size_t)n * ps);
    if (!r->has_txid || r->txid != txid) /* lh_file_get refused those already */
        return lh_file_fail(f, LTXHTTP_IOERR_SERVER, "asked %s for TXID %016" PRIx64 " but got another",
                            f->cfg.server, txid);
    if (r->page_size > 0 && (uint32_t)r->page_size != ps)
        return lh_file_fail(f, LTXHTTP_IOERR_SERVER, "page size of %s changed from %u to %" PRId64, f->cfg.db,
                            ps, r->page_size);
    lh_watch *sh = f->sh;
    pthread_mutex_lock(&sh->mu);
    if (sh->cache.page_size == ps)
        for (int i = 0; i < n; i++)
            lh_cache_put(&sh->cache, list[i], txid, sh->known, r->body.p + (size_t)i * ps);
    pthread_mutex_unlock(&sh->mu);
    f->readahead += (uint64_t)(n - 1);
    memcpy(f->page, r->body.p, ps);
    return SQLITE_OK;
}

/* Page pgno at txid into f->page: from the cache, else fetched with
 * read-ahead. */
static int lh_file_page(lh_file *f, uint64_t txid, uint32_t commit, uint32_t ps, uint32_t pgno)
{
    lh_watch *sh = f->sh;
    if (pgno == f->last_pgno + 1 && f->last_pgno > 1) /* 1 then 2 is how every view starts: no run */
        f->run++;
    else if (pgno != f->last_pgno)
        f->run = 0;
    f->last_pgno = pgno;

    pthread_mutex_lock(&sh->mu);
    if (sh->cache.page_size != ps) {
        pthread_mutex_unlock(&sh->mu);
        return lh_file_fail(f, LTXHTTP_IOERR_SERVER, "page size of %s changed during a transaction; retry it",
                            f->cfg.db);
    }
    lh_cache_entry *e = lh_cache_find(&sh->cache, pgno, txid, sh->known);
    if (e) {
        memcpy(f->page, e->data, ps);
        lh_cache_touch(&sh->cache, e);
        pthread_mutex_unlock(&sh->mu);
        f->hits++;
        return SQLITE_OK;
    }
    /* Miss: this page plus up to `ra` following uncached pages, looking at
     * most 4*ra pages ahead. */
    int ra = lh_file_readahead(f, pgno);
    uint32_t list[LTXW_MAX_BATCH_PAGES];
    int n = 0;
    list[n++] = pgno;
    uint32_t scan_end = commit;
    if ((uint64_t)pgno + 4u * (uint32_t)ra < scan_end)
        scan_end = pgno + 4u * (uint32_t)ra;
    for (uint32_t p = pgno + 1; n <= ra && p <= scan_end && p > pgno; p++)
        if (!lh_cache_find(&sh->cache, p, txid, sh->known))
            list[n++] = p;
    pthread_mutex_unlock(&sh->mu);
    f->misses++;

    const char *url;
    if (n == 1) {
        url = lh_file_url(f, "/%s/%s/%" PRIu32 "?%s=%016" PRIx64, f->edb, LTXW_SEG_PAGES, pgno, LTXW_Q_TXID,
                          txid);
    } else {
        char nlist[LH_FILE_URL_BUDGET];
        n = lh_file_page_list(f, list, n, nlist, sizeof nlist);
        url = lh_file_url(f, "/%s/%s?%s=%s&%s=%016" PRIx64, f->edb, LTXW_SEG_PAGES, LTXW_Q_PAGES, nlist,
                          LTXW_Q_TXID, txid);
    }
    if (!url)
        return SQLITE_IOERR_NOMEM;
    if (!lh_file_get(f, url, (size_t)n * ps + 1, LH_HTTP_RETRY_409, txid))
        return lh_file_status_error(f, &f->resp, txid, "reading pages");
    return lh_file_take_pages(f, list, n, txid, ps);
}

int lh_file_read(lh_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return f->wr ? lh_write_read(f, buf, amt, off) : lh_file_read_remote(f, buf, amt, off);
}

int lh_file_read_remote(lh_file *f, void *buf, int amt, sqlite3_int64 off)
{
    uint64_t txid;
    uint32_t commit, ps;
    lh_file_view(f, &txid, &commit, &ps);
    unsigned char *out = buf;
    if (amt < 0 || off < 0)
        return SQLITE_IOERR_READ;
    sqlite3_int64 end = off + amt, pos = off;
    while (pos < end) {
        uint64_t pg = (uint64_t)(pos / ps) + 1;
        size_t in = (size_t)(pos % ps);
        size_t take = ps - in;
        if ((sqlite3_int64)take > end - pos)
            take = (size_t)(end - pos);
        if (pg > commit) {
            memset(out + (pos - off), 0, (size_t)(end - pos));
            return SQLITE_IOERR_SHORT_READ;
        }
        int rc = lh_file_page(f, txid, commit, ps, (uint32_t)pg);
        if (rc != SQLITE_OK)
            return rc;
        if (pg == 1)
            lh_file_patch_page1(f->page, ps, txid, commit);
        memcpy(out + (pos - off), f->page + in, take);
        pos += (sqlite3_int64)take;
    }
    return SQLITE_OK;
}

sqlite3_int64 lh_file_size(lh_file *f)
{
    if (f->wr)
        return lh_write_size(f);
    uint64_t txid;
    uint32_t commit, ps;
    lh_file_view(f, &txid, &commit, &ps);
    return (sqlite3_int64)commit * ps;
}

/* Pin the newest TXID known, unless the watcher has been failing longer
 * than max_stale_ms. */
static int lh_file_pin_latest(lh_file *f)
{
    pthread_mutex_lock(&f->sh->mu);
    int64_t failing = f->sh->fail_since_ms ? lh_http_now_ms() - f->sh->fail_since_ms : 0;
    if (f->cfg.max_stale_ms > 0 && failing > f->cfg.max_stale_ms) {
        char w[LH_WATCH_ERRLEN];
        memcpy(w, f->sh->werr, sizeof w);
        pthread_mutex_unlock(&f->sh->mu);
        return lh_file_fail(
            f, SQLITE_IOERR_LOCK,
            "no news about %s for %lld ms (max_stale_ms=%ld): not starting a possibly stale read; %s",
            f->cfg.db, (long long)failing, f->cfg.max_stale_ms, w);
    }
    if (lh_watch_current(f->sh) != 0) {
        pthread_mutex_unlock(&f->sh->mu);
        return lh_file_fail(f, SQLITE_IOERR_LOCK, "%s: cannot start the change watcher", f->cfg.db);
    }
    f->pin_txid = f->sh->known;
    f->pin_commit = f->sh->commit;
    pthread_mutex_unlock(&f->sh->mu);
    return SQLITE_OK;
}

/* After a failover, go back to the preferred server once the watcher gets
 * answers from it again (so a transaction never pays for the probe). */
static void lh_file_failback(lh_file *f)
{
    if (f->cfg.nservers < 2 || f->cfg.cur == 0)
        return;
    pthread_mutex_lock(&f->sh->mu);
    int back = f->sh->pref_ok;
    pthread_mutex_unlock(&f->sh->mu);
    if (back)
        lh_http_use_server(&f->cfg, 0);
}

int lh_file_lock(lh_file *f, int level)
{
    if (f->wr)
        return lh_write_lock(f, level);
    if (level > SQLITE_LOCK_SHARED)
        return SQLITE_READONLY;
    if (f->forks != lh_http_forks()) /* the watcher thread did not survive fork(): data would go stale */
        return lh_file_fail(
            f, SQLITE_IOERR_LOCK,
            "connection to %s opened in process %ld used in process %ld after fork(); open it again "
            "in this process",
            f->cfg.db, (long)f->pid, (long)getpid());
    if (level == SQLITE_LOCK_SHARED && f->lock < SQLITE_LOCK_SHARED) {
        lh_file_failback(f);
        if (f->fixed) {
            f->pin_txid = f->fixed_txid;
            f->pin_commit = f->fixed_commit;
        } else {
            int rc = lh_file_pin_latest(f);
            if (rc != SQLITE_OK)
                return rc;
        }
        f->lock = SQLITE_LOCK_SHARED;
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------ time travel */

/* Resolve a TXID on the server (page 1 at that TXID gives its commit). */
static int lh_file_resolve_txid(lh_file *f, uint64_t txid, uint32_t *commit)
{
    const char *url = lh_file_url(f, "/%s/%s/1?%s=%016" PRIx64, f->edb, LTXW_SEG_PAGES, LTXW_Q_TXID, txid);
    if (!url)
        return SQLITE_NOMEM;
    pthread_mutex_lock(&f->sh->mu);
    uint32_t ps = f->sh->cache.page_size;
    pthread_mutex_unlock(&f->sh->mu);
    if (!lh_file_get(f, url, (size_t)ps + 1, 0, txid)) {
        char d[LH_FILE_ERRLEN];
        lh_http_describe(&f->resp, d, sizeof d);
        if (f->resp.cc == 0 && f->resp.status == 410)
            return lh_file_fail(f, SQLITE_ERROR, "TXID %016" PRIx64 " of %s is not served by %s (%s)", txid,
                                f->cfg.db, f->cfg.server, d);
        if (f->resp.cc == 0 && f->resp.status == 409)
            return lh_file_fail(f, SQLITE_ERROR, "TXID %016" PRIx64 " of %s is newer than %s has (%s)", txid,
                                f->cfg.db, f->cfg.server, d);
        return lh_file_fail(f, SQLITE_ERROR, "resolving TXID %016" PRIx64 " of %s on %s: %s", txid, f->cfg.db,
                            f->cfg.server, d);
    }
    if (f->resp.commit < 0 || f->resp.commit > UINT32_MAX || f->resp.body.n != ps)
        return lh_file_fail(f, SQLITE_ERROR,
                            "resolving TXID %016" PRIx64 " of %s: answer lacks %s or has a wrong size", txid,
                            f->cfg.db, LTXW_HDR_COMMIT);
    *commit = (uint32_t)f->resp.commit;
    pthread_mutex_lock(&f->sh->mu);
    if (f->sh->cache.page_size == ps)
        lh_cache_put(&f->sh->cache, 1, txid, f->sh->known, f->resp.body.p);
    pthread_mutex_unlock(&f->sh->mu);
    return SQLITE_OK;
}

/* Resolve an RFC 3339 time on the server (GET /{db}?time=). */
static int lh_file_resolve_time(lh_file *f, const char *when, uint64_t *txid, uint32_t *commit)
{
    char *ew = lh_http_escape(f->conn, when);
    if (!ew)
        return SQLITE_NOMEM;
    const char *url = lh_file_url(f, "/%s?%s=%s", f->edb, LTXW_Q_TIME, ew);
    lh_http_free_escaped(ew);
    if (!url)
        return SQLITE_NOMEM;
    if (!lh_file_get(f, url, LH_FILE_MAX_JSON_BODY, 0, 0)) {
        char d[LH_FILE_ERRLEN];
        lh_http_describe(&f->resp, d, sizeof d);
        if (f->resp.cc == 0 && f->resp.status == 410)
            return lh_file_fail(f, SQLITE_ERROR, "no TXID of %s at or before %s can be served by %s (%s)",
                                f->cfg.db, when, f->cfg.server, d);
        return lh_file_fail(f, SQLITE_ERROR, "resolving time %s of %s on %s: %s", when, f->cfg.db,
                            f->cfg.server, d);
    }
    json_t *j = json_loadb((const char *)f->resp.body.p, f->resp.body.n, 0, NULL);
    int bad = lh_http_parse_state(j, txid, commit, NULL) != 0 || *txid == 0;
    json_decref(j);
    if (bad)
        return lh_file_fail(f, SQLITE_ERROR, "resolving time %s of %s: unexpected answer", when, f->cfg.db);
    return SQLITE_OK;
}

/* A TXID value meaning "follow the latest": empty, latest, now, or 0. */
static int lh_file_is_latest(const char *v)
{
    return !v || !*v || strcasecmp(v, "latest") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "now") == 0;
}

/* A time value meaning "follow the latest": empty, latest or now; never a
 * time, not even 0 or the Unix epoch. */
static int lh_file_is_latest_time(const char *v)
{
    return !v || !*v || strcasecmp(v, "latest") == 0 || strcasecmp(v, "now") == 0;
}

/* Read the latest TXID from the next transaction on. */
static void lh_file_unfix(lh_file *f)
{
    f->fixed = 0;
    free(f->fixed_time);
    f->fixed_time = NULL;
}

/* Time travel to TXID v (hex), or back to the latest. */
static int lh_file_set_txid(lh_file *f, const char *v)
{
    if (lh_file_is_latest(v)) {
        lh_file_unfix(f);
        return SQLITE_OK;
    }
    uint64_t t;
    if (lh_http_parse_hex64(v, strlen(v), &t) != 0)
        return lh_file_fail(f, SQLITE_ERROR,
                            "bad TXID '%s': want up to 16 hex digits (quote it), or 'latest'", v);
    if (t == 0) {
        f->fixed = 0;
        return SQLITE_OK;
    }
    uint32_t commit;
    int rc = lh_file_resolve_txid(f, t, &commit);
    if (rc != SQLITE_OK)
        return rc;
    lh_file_unfix(f);
    f->fixed = 1;
    f->fixed_txid = t;
    f->fixed_commit = commit;
    return SQLITE_OK;
}

/* Time travel to the TXID a restore at time v reaches, or to the latest. */
static int lh_file_set_time(lh_file *f, const char *v)
{
    if (lh_file_is_latest_time(v))
        return lh_file_set_txid(f, NULL);
    uint64_t t;
    uint32_t commit;
    int64_t ms;
    /* ltxpaged reads time 0 as "no time bound" (the latest TXID); no file
     * of a replica is from the Unix epoch or before, so answer here. */
    if (timefmt_parse_rfc3339(v, &ms) == 0 && ms <= 0)
        return lh_file_fail(f, SQLITE_ERROR,
                            "no TXID of %s at or before %s (replica files are newer than that)", f->cfg.db,
                            v);
    int rc = lh_file_resolve_time(f, v, &t, &commit);
    if (rc != SQLITE_OK)
        return rc;
    f->fixed = 1;
    f->fixed_txid = t;
    f->fixed_commit = commit;
    free(f->fixed_time);
    f->fixed_time = strdup(v);
    return SQLITE_OK;
}

/* ---------------------------------------------------------------- pragmas */

/* PRAGMA answer with the TXID this connection reads now; if set is given, it
 * first applies val (failure: the error text is the answer, SQLITE_ERROR). */
static int lh_file_pragma_txid(lh_file *f, char **az, int (*set)(lh_file *, const char *), const char *val)
{
    uint64_t txid;
    uint32_t commit;
    if (set) {
        int rc = set(f, val);
        if (rc != SQLITE_OK) {
            az[0] = sqlite3_mprintf("ltxhttp: %s", f->err);
            return SQLITE_ERROR;
        }
    }
    lh_file_view(f, &txid, &commit, NULL);
    az[0] = sqlite3_mprintf("%016llx", (unsigned long long)txid);
    return SQLITE_OK;
}

/* PRAGMA ltxhttp_stats: this connection's counters and the shared cache's. */
static char *lh_file_stats(lh_file *f)
{
    uint64_t txid;
    uint32_t commit;
    lh_watch *sh = f->sh;
    lh_file_view(f, &txid, &commit, NULL);
    pthread_mutex_lock(&sh->mu);
    char *s = sqlite3_mprintf(
        "{\"txid\":\"%016llx\",\"commit\":%u,\"page_size\":%u,\"hits\":%llu,\"misses\":%llu,\"requests\":%"
        "llu,"
        "\"bytes\":%llu,\"readahead_pages\":%llu,\"errors\":%llu,\"cache_pages\":%llu,\"cache_max_pages\":%"
        "llu,"
        "\"evictions\":%llu,\"latest_txid\":\"%016llx\",\"watch_updates\":%llu,\"watch_resets\":%llu,"
        "\"connections\":%d}",
        (unsigned long long)txid, commit, sh->cache.page_size, (unsigned long long)f->hits,
        (unsigned long long)f->misses, (unsigned long long)f->requests, (unsigned long long)f->bytes,
        (unsigned long long)f->readahead, (unsigned long long)f->errors, (unsigned long long)sh->cache.npages,
        (unsigned long long)sh->cache.maxpages, (unsigned long long)sh->cache.evictions,
        (unsigned long long)sh->known, (unsigned long long)sh->updates, (unsigned long long)sh->resets,
        sh->refs);
    pthread_mutex_unlock(&sh->mu);
    return s;
}

int lh_file_pragma(lh_file *f, char **az)
{
    const char *name = az[1], *val = az[2];
    if (strcasecmp(name, "ltxhttp_txid") == 0)
        return lh_file_pragma_txid(f, az, val ? lh_file_set_txid : NULL, val);
    if (strcasecmp(name, "ltxhttp_time") == 0) {
        if (val)
            return lh_file_pragma_txid(f, az, lh_file_set_time, val);
        az[0] = sqlite3_mprintf("%s", f->fixed_time ? f->fixed_time : (f->fixed ? "txid" : "latest"));
        return SQLITE_OK;
    }
    if (strcasecmp(name, "ltxhttp_stats") == 0) {
        az[0] = lh_file_stats(f);
        return SQLITE_OK;
    }
    if (strcasecmp(name, "ltxhttp_error") == 0) {
        char w[LH_WATCH_ERRLEN];
        pthread_mutex_lock(&f->sh->mu);
        memcpy(w, f->sh->werr, sizeof w);
        pthread_mutex_unlock(&f->sh->mu);
        az[0] = sqlite3_mprintf("%s", f->err[0] ? f->err : w);
        return SQLITE_OK;
    }
    if (strcasecmp(name, "ltxhttp_server") == 0) {
        az[0] = sqlite3_mprintf("%s/%s", f->cfg.server, f->cfg.db);
        return SQLITE_OK;
    }
    return SQLITE_NOTFOUND;
}

/* ------------------------------------------------------------------ open */

#define LH_FILE_NOT_READY (-1) /* lh_file_state: no TXID yet, wait */

/* The open answer in f->resp (page 1 at the latest TXID, with the b-tree
 * pages of btree=): SQLITE_OK with the state, an open error, or
 * LH_FILE_NOT_READY (503: a server still building its index or a replica
 * with no files yet), each with its message in err. */
static int lh_file_state(lh_file *f, uint64_t *txid, uint32_t *commit, uint32_t *ps, char *err, size_t errn)
{
    char d[LH_FILE_ERRLEN];
    lh_http_resp *r = &f->resp;
    lh_http_describe(r, d, sizeof d);
    if (r->cc != 0) {
        lh_file_fmt(err, errn, "cannot reach server %s for %s: %s", f->cfg.server_list, f->cfg.db, d);
        return SQLITE_CANTOPEN;
    }
    if (r->status == 503) {
        lh_file_fmt(err, errn, "%s is not ready on %s (%s)", f->cfg.db, f->cfg.server, d);
        return LH_FILE_NOT_READY;
    }
    if (r->status != 200) {
        if (r->status == 404)
            lh_file_fmt(err, errn, "no database %s on %s (%s)", f->cfg.db, f->cfg.server, d);
        else
            lh_file_fmt(err, errn, "opening %s on %s: %s", f->cfg.db, f->cfg.server, d);
        return r->status == 401 || r->status == 403 ? SQLITE_AUTH : SQLITE_CANTOPEN;
    }
    int64_t p = r->page_size;
    if (!r->has_txid || r->txid == 0 || r->commit <= 0 || r->commit > UINT32_MAX || p < 512 || p > 65536 ||
        (p & (p - 1)) != 0 || r->body.n < (size_t)p || r->body.n % (size_t)p != 0) {
        lh_file_fmt(err, errn, "opening %s on %s: the answer lacks %s, %s or %s, or has a wrong size",
                    f->cfg.db, f->cfg.server, LTXW_HDR_TXID, LTXW_HDR_COMMIT, LTXW_HDR_PAGE_SIZE);
        return SQLITE_CANTOPEN;
    }
    *txid = r->txid;
    *commit = (uint32_t)r->commit;
    *ps = (uint32_t)p;
    return SQLITE_OK;
}

/* GET /{db}/pages?n=1&btree=B (one round trip: the latest TXID, its size,
 * page 1 and the b-tree interior pages) until it names a TXID: a database
 * the server has not indexed yet is waited for (Retry-After, else 250 ms
 * between asks) for at most open_timeout_ms, then SQLITE_BUSY; never
 * opened as an empty file. */
static int lh_file_status(lh_file *f, uint64_t *txid, uint32_t *commit, uint32_t *ps, char *err, size_t errn)
{
    const char *url = f->cfg.open_btree > 0 ? lh_file_url(f, "/%s/%s?%s=1&%s=%ld", f->edb, LTXW_SEG_PAGES,
                                                          LTXW_Q_PAGES, LTXW_Q_BTREE, f->cfg.open_btree)
                                            : lh_file_url(f, "/%s/%s/1", f->edb, LTXW_SEG_PAGES);
    f->resp.body.max = (size_t)f->cfg.open_btree + LH_FILE_MAX_PAGE + 1;
    if (!url) {
        lh_file_fmt(err, errn, "out of memory");
        return SQLITE_CANTOPEN;
    }
    int64_t t0 = lh_http_now_ms();
    for (int asked = 1;; asked++) {
        unsigned nreq = 0;
        f->resp.want_txid = 0, f->resp.need_txid = 1; /* a 200 without Ltx-Txid is refused */
        lh_http_get(f->conn, &f->cfg, url, &f->resp, &nreq, LH_HTTP_NO_WAIT_503);
        f->resp.need_txid = 0;
        f->requests += nreq, f->bytes += f->resp.body.n;
        int rc = lh_file_state(f, txid, commit, ps, err, errn);
        if (rc != LH_FILE_NOT_READY)
            return rc;
        if (f->cfg.nservers > 1) { /* another server may have it: ask each once a round */
            int was = f->cfg.cur;
            lh_http_use_server(&f->cfg, (was + 1) % f->cfg.nservers);
            f->cfg.down_until[was] = lh_http_now_ms() + LH_HTTP_DOWN_MS;
            if (asked % f->cfg.nservers != 0)
                continue;
        }
        long waited = (long)(lh_http_now_ms() - t0), left = f->cfg.open_timeout_ms - waited;
        if (left <= 0) {
            size_t len = strlen(err);
            lh_file_fmt(err + len, errn - len, "; waited %ld ms (open_timeout_ms=%ld), try again later",
                        waited, f->cfg.open_timeout_ms);
            return SQLITE_BUSY;
        }
        long pause = f->resp.retry_after_ms > 0 ? f->resp.retry_after_ms : 250;
        lh_http_sleep_ms(pause < left ? pause : left);
    }
}

/* Join (or start) the shared state at the state just read. */
static int lh_file_share(lh_file *f, uint64_t txid, uint32_t commit, uint32_t ps, char *err, size_t errn)
{
    f->sh = lh_watch_acquire(&f->cfg, txid, commit, ps);
    if (!f->sh) {
        lh_file_fmt(err, errn, "opening %s: cannot start the change watcher", f->cfg.db);
        return SQLITE_CANTOPEN;
    }
    pthread_mutex_lock(&f->sh->mu);
    uint32_t shps = f->sh->cache.page_size;
    int shknown = f->sh->ps_known;
    pthread_mutex_unlock(&f->sh->mu);
    if (ps && shknown && ps != shps) {
        lh_file_fmt(err, errn, "opening %s: page size %u differs from the shared cache's %u", f->cfg.db, ps,
                    shps);
        return SQLITE_CANTOPEN;
    }
    return SQLITE_OK;
}

/* Write mode may create a missing database: mode=rwc in the URI. */
static int lh_file_creates(const lh_file *f, const char *zName)
{
    const char *mode = sqlite3_uri_parameter(zName, "mode");
    return (f->oflags & SQLITE_OPEN_CREATE) && mode && strcmp(mode, "rwc") == 0;
}

int lh_file_open(lh_file *f, const char *zName)
{
    char err[LH_FILE_ERRLEN];
    err[0] = 0;
    int rc = SQLITE_CANTOPEN;
    uint64_t txid;
    uint32_t commit, ps;
    lh_http_resp_init(&f->resp, LH_FILE_MAX_JSON_BODY);
    if (lh_settings_load(&f->cfg, zName, err, sizeof err) != 0)
        goto fail;
    if (sqlite3_uri_boolean(zName, "nolock", 0) || sqlite3_uri_boolean(zName, "immutable", 0)) {
        lh_file_fmt(err, sizeof err,
                    "nolock/immutable would read without a pinned snapshot (TXIDs could mix); remove them");
        goto fail;
    }
    f->conn = lh_http_open(&f->cfg, 0);
    if (!f->conn || !(f->edb = lh_http_escape(f->conn, f->cfg.db)) || !(f->page = malloc(LH_FILE_MAX_PAGE))) {
        lh_file_fmt(err, sizeof err, "out of memory");
        goto fail;
    }
    rc = lh_file_status(f, &txid, &commit, &ps, err, sizeof err);
    int writing = f->cfg.write && (f->oflags & SQLITE_OPEN_READWRITE);
    if (rc != SQLITE_OK && writing && f->resp.cc == 0 && f->resp.status == 404 && lh_file_creates(f, zName)) {
        txid = 0, commit = 0, ps = 0, rc = SQLITE_OK; /* a new database: the first sync creates it */
        err[0] = 0;
    }
    if (rc != SQLITE_OK)
        goto fail;
    if ((rc = lh_file_share(f, txid, commit, ps, err, sizeof err)) != SQLITE_OK)
        goto fail;
    if (txid)
        lh_watch_put_pages(f->sh, txid, ps, f->resp.body.p, f->resp.body.n / ps, f->resp.pages);
    if (writing && (sqlite3_uri_parameter(zName, "txid") || sqlite3_uri_parameter(zName, "time"))) {
        lh_file_fmt(err, sizeof err, "txid=/time= (time travel) need a read-only connection, not write=1");
        rc = SQLITE_CANTOPEN;
        goto fail;
    }
    f->pid = getpid();
    f->forks = lh_http_forks();
    if (writing && (rc = lh_write_open(f, txid, commit, ps)) != SQLITE_OK)
        return rc;
    /* Open in the past: txid=T or time=RFC3339 in the URI. */
    const char *tv = sqlite3_uri_parameter(zName, "txid");
    const char *tm = sqlite3_uri_parameter(zName, "time");
    if ((tv && lh_file_set_txid(f, tv) != SQLITE_OK) || (!tv && tm && lh_file_set_time(f, tm) != SQLITE_OK)) {
        if (f->cfg.log)
            fprintf(stderr, "ltxhttp: %s\n", f->err); /* lh_file_fail sent it to sqlite3_log */
        return SQLITE_CANTOPEN;
    }
    return SQLITE_OK;
fail:
    lh_file_log(f->cfg.log, rc, err);
    return rc;
}

void lh_file_close(lh_file *f)
{
    lh_write_close(f);
    if (f->sh)
        lh_watch_release(f->sh);
    f->sh = NULL;
    lh_http_free_escaped(f->edb);
    f->edb = NULL;
    lh_http_close(f->conn);
    f->conn = NULL;
    lh_http_resp_free(&f->resp);
    free(f->url);
    f->url = NULL;
    free(f->page);
    f->page = NULL;
    free(f->fixed_time);
    f->fixed_time = NULL;
    lh_settings_free(&f->cfg);
}
