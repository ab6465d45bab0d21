/* srv.c - sources, database discovery, the poller threads. */
#include "srv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dbname.h"
#include "demand.h"
#include "disk.h"
#include "hash.h"
#include "log.h"
#include "timefmt.h"

/* Slot of a name in the lookup table (the low bits are masked: mixed). */
static size_t name_hash64(const char *n) { return (size_t)hash_mix64(hash_fnv1a64_str(n)); }

/* Store d in the first free slot of t (writers only, under dbs_lock). */
static void table_put(struct srv_dblist *t, ltxdb *d)
{
    size_t m = t->cap - 1;
    for (size_t i = name_hash64(ltxdb_name(d)) & m;; i = (i + 1) & m)
        if (!atomic_load_explicit(&t->v[i], memory_order_relaxed)) {
            atomic_store_explicit(&t->v[i], d, memory_order_release);
            return;
        }
}

/* ---- removed databases ----------------------------------------------
 * A database whose folder is gone leaves s->dbs (listings, readiness,
 * metrics) and answers as unknown, with its indexes dropped; its object
 * stays in the published table (slots never change) and comes back to
 * s->dbs when the folder does. */

/* The database named name in the published table, removed or not. */
static ltxdb *table_find_any(srv *s, const char *name)
{
    const struct srv_dblist *l = atomic_load_explicit(&s->pub, memory_order_acquire);
    if (!l)
        return NULL;
    size_t m = l->cap - 1;
    for (size_t i = name_hash64(name) & m;; i = (i + 1) & m) {
        ltxdb *d = atomic_load_explicit(&((struct srv_dblist *)l)->v[i], memory_order_acquire);
        if (!d || strcmp(ltxdb_name(d), name) == 0)
            return d;
    }
}

/* Under dbs_lock (write): a removed database of this name goes back into
 * s->dbs at position lo. 1 done, 0 none, -1 out of memory. */
static int readd_db(srv *s, const char *name, size_t lo)
{
    ltxdb *d = table_find_any(s, name);
    if (!d || !ltxdb_removed(d))
        return 0;
    if (s->ndbs == s->capdbs)
        return -1; /* s->dbs never shrinks: a removed one left room */
    memmove(s->dbs + lo + 1, s->dbs + lo, (s->ndbs - lo) * sizeof *s->dbs);
    s->dbs[lo] = d;
    s->ndbs++;
    ltxdb_set_added_seq(d, atomic_fetch_add(&s->add_seq, 1) + 1);
    ltxdb_readd(d);
    return 1;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Databases of root src that a rescan no longer lists, and whose own
 * listing is empty with no write since it began, are removed; not those
 * added since the rescan's root listing began (seq0 = add_seq then): a
 * write creating a database adds it before its first file exists. The
 * listings run outside dbs_lock (database objects live until srv_destroy);
 * one re-added meanwhile (add_db) stays in s->dbs. */
static void remove_missing(srv *s, srv_source *src, char **names, size_t n, uint64_t seq0)
{
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_name);
    ltxdb **cand = NULL;
    size_t nc = 0;
    pthread_rwlock_rdlock(&s->dbs_lock);
    for (size_t i = 0; i < s->ndbs; i++) {
        ltxdb *d = s->dbs[i];
        const char *nm = ltxdb_name(d);
        if (ltxdb_store(d) != src->store || !ltxdb_prefix(d)[0] || ltxdb_added_seq(d) > seq0 ||
            (n && bsearch(&nm, names, n, sizeof *names, cmp_name)))
            continue;
        if (!cand && !(cand = malloc(s->ndbs * sizeof *cand)))
            break; /* out of memory: tried again at the next rescan */
        cand[nc++] = d;
    }
    pthread_rwlock_unlock(&s->dbs_lock);
    for (size_t k = 0; k < nc; k++) {
        if (!ltxdb_remove_if_empty(cand[k], seq0))
            continue;
        pthread_rwlock_wrlock(&s->dbs_lock);
        for (size_t i = 0; i < s->ndbs && ltxdb_removed(cand[k]); i++)
            if (s->dbs[i] == cand[k]) {
                memmove(s->dbs + i, s->dbs + i + 1, (s->ndbs - i - 1) * sizeof *s->dbs);
                s->ndbs--;
                break;
            }
        pthread_rwlock_unlock(&s->dbs_lock);
    }
    free(cand);
}

/* Wake the pollers for a new or re-added database. The kick count, not the
 * broadcast alone, is what a poller checks before it sleeps: a broadcast
 * sent while it walked the table (not yet waiting) would be lost, and it
 * would sleep until --rescan-interval with the new database never indexed
 * (CI saw /readyz stay 503 for 15 s with one of two databases waiting). */
void srv_kick_pollers(srv *s)
{
    pthread_mutex_lock(&s->poll_mu);
    atomic_fetch_add(&s->poll_kicks, 1);
    pthread_cond_broadcast(&s->poll_cv);
    pthread_mutex_unlock(&s->poll_mu);
}

static int add_db(srv *s, const char *name, objstore *st, const char *prefix, const char *url)
{
    pthread_rwlock_wrlock(&s->dbs_lock);
    size_t lo = 0, hi = s->ndbs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ltxdb_name(s->dbs[mid]), name);
        if (c == 0) {
            /* known; marked removed by a rescan still taking it out of s->dbs */
            int back = ltxdb_removed(s->dbs[mid]);
            if (back) {
                ltxdb_set_added_seq(s->dbs[mid], atomic_fetch_add(&s->add_seq, 1) + 1);
                ltxdb_readd(s->dbs[mid]);
            }
            pthread_rwlock_unlock(&s->dbs_lock);
            if (back)
                srv_kick_pollers(s);
            return back;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (readd_db(s, name, lo)) {
        pthread_rwlock_unlock(&s->dbs_lock);
        srv_kick_pollers(s);
        return 1;
    }
    if (s->ndbs == s->capdbs) {
        size_t nc = s->capdbs ? s->capdbs * 2 : 16;
        ltxdb **n = realloc(s->dbs, nc * sizeof *n);
        if (!n) {
            pthread_rwlock_unlock(&s->dbs_lock);
            return -1;
        }
        s->dbs = n;
        s->capdbs = nc;
    }
    struct srv_dblist *cur = atomic_load_explicit(&s->pub, memory_order_relaxed);
    struct srv_dblist *nl = NULL;
    if (!cur || (s->ndbs + 1) * 2 > cur->cap) {
        size_t cap = cur ? cur->cap * 2 : 64;
        nl = calloc(1, sizeof *nl + cap * sizeof nl->v[0]);
        if (!nl) {
            pthread_rwlock_unlock(&s->dbs_lock);
            return -1;
        }
        nl->cap = cap;
    }
    ltxdb *d = ltxdb_new(s, name, st, prefix, url);
    if (!d) {
        free(nl);
        pthread_rwlock_unlock(&s->dbs_lock);
        return -1;
    }
    memmove(s->dbs + lo + 1, s->dbs + lo, (s->ndbs - lo) * sizeof *s->dbs);
    s->dbs[lo] = d;
    s->ndbs++;
    ltxdb_set_added_seq(d, atomic_fetch_add(&s->add_seq, 1) + 1);
    if (nl) {
        for (size_t i = 0; i < s->ndbs; i++)
            table_put(nl, s->dbs[i]);
        struct srv_dblist *old = atomic_exchange(&s->pub, nl);
        if (old) {
            old->next_retired = s->retired;
            s->retired = old;
        }
    } else {
        table_put(cur, d);
    }
    pthread_rwlock_unlock(&s->dbs_lock);
    char q[600];
    logf_(LOG_INFO, "db_added", "db=%s url=%s", name, log_q(q, sizeof q, url));
    srv_kick_pollers(s);
    return 1;
}

struct known_ctx {
    srv *s;
    objstore *store;
};

/* A folder of a root that need not be probed for level folders: the
 * database it holds is served from that root and has a history (a known
 * database whose levels are gone has none after its level check: its
 * folder is probed again, and removed when it holds no replica). */
static int known_db(void *u, const char *name)
{
    struct known_ctx *k = u;
    ltxdb *d = srv_find_db(k->s, name);
    return d && ltxdb_store(d) == k->store && ltxdb_prefix(d)[0] && ltxdb_current_txid(d) != 0;
}

static void discover(srv *s)
{
    for (size_t i = 0; i < s->nsources; i++) {
        srv_source *src = &s->sources[i];
        if (!src->is_root)
            continue;
        char **names = NULL;
        size_t n = 0;
        obj_error oe = { 0 };
        uint64_t seq0 = atomic_load(&s->add_seq);
        struct known_ctx kc = { s, src->store };
        obj_status st = objstore_list_dbs_known(src->store, known_db, &kc, &names, &n, &oe);
        if (st != OBJ_OK) {
            char q[600];
            logf_(LOG_ERROR, "discover_error", "url=%s error=%s", src->url,
                  log_q(q, sizeof q, oe.msg[0] ? oe.msg : obj_status_str(st)));
            continue;
        }
        if (n == 0) {
            /* --replica pointing at one database's replica (it holds
             * ltx/ or the %04x levels itself): serve it under its folder name */
            ltx_fileinfo *files = NULL;
            size_t nf = 0;
            obj_error e2 = { 0 };
            if (objstore_list_all(src->store, "", &files, &nf, &e2) == OBJ_OK && nf > 0) {
                const char *u = src->url;
                size_t l = strlen(u);
                while (l > 0 && u[l - 1] == '/')
                    l--;
                size_t b = l;
                while (b > 0 && u[b - 1] != '/')
                    b--;
                char name[DBNAME_MAX + 1];
                if (l - b > 0 && l - b <= DBNAME_MAX) {
                    memcpy(name, u + b, l - b);
                    name[l - b] = 0;
                    if (dbname_servable(name) && !srv_find_db(s, name))
                        add_db(s, name, src->store, "", src->url);
                }
            }
            free(files);
        }
        for (size_t j = 0; j < n; j++) {
            if (!dbname_servable(names[j])) {
                char q[600];
                logf_(LOG_WARN, "db_skipped", "name=%s reason=\"not a servable name\"",
                      log_q(q, sizeof q, names[j]));
                continue;
            }
            char url[2048];
            snprintf(url, sizeof url, "%s/%s", src->url, names[j]);
            ltxdb *known = srv_find_db(s, names[j]);
            if (known)
                continue;
            add_db(s, names[j], src->store, names[j], url);
        }
        remove_missing(s, src, names, n, seq0);
        objstore_free_names(names, n);
    }
}

ltxdb *srv_create_db(srv *s, const char *name)
{
    if (!dbname_servable(name))
        return NULL;
    srv_source *root = NULL;
    for (size_t i = 0; i < s->nsources && !root; i++)
        if (s->sources[i].is_root)
            root = &s->sources[i];
    ltxdb *d = table_find_any(s, name);
    if (!d && !root)
        return NULL;
    char url[2048];
    if (root)
        snprintf(url, sizeof url, "%s/%s", root->url, name);
    if (!d) {
        if (add_db(s, name, root->store, name, url) < 0 || !(d = table_find_any(s, name)))
            return NULL;
    }
    /* a rescan may have removed it since (its folder is still empty): held,
     * it is re-added once and stays */
    if (ltxdb_creator_hold(d) && (!root || add_db(s, name, root->store, name, url) < 0 || ltxdb_removed(d))) {
        ltxdb_creator_release(d);
        return NULL;
    }
    return d;
}

ltxdb *srv_find_db(srv *s, const char *name)
{
    /* lock-free: slots of a published table are set once, never changed */
    ltxdb *d = table_find_any(s, name);
    return d && !ltxdb_removed(d) ? d : NULL;
}

int srv_ready(srv *s)
{
    pthread_rwlock_rdlock(&s->dbs_lock);
    int ok = atomic_load(&s->discovered);
    for (size_t i = 0; i < s->ndbs && ok; i++)
        if (!ltxdb_initialized(s->dbs[i]))
            ok = 0;
    pthread_rwlock_unlock(&s->dbs_lock);
    return ok;
}

/* Open url as an object store and record it as the next source; NULL
 * (logged as startup_error with key=val naming it) when it cannot be opened
 * or memory runs out (the store, if open, is closed with the other sources). */
static srv_source *add_source(srv *s, const char *url, const char *key, const char *val)
{
    obj_error oe = { 0 };
    objstore *st = objstore_open(url, &s->sopts, &oe);
    if (!st) {
        char q[600];
        logf_(LOG_ERROR, "startup_error", "%s=%s error=%s", key, val,
              log_q(q, sizeof q, oe.msg[0] ? oe.msg : "cannot open replica"));
        return NULL;
    }
    srv_source *src = &s->sources[s->nsources++];
    src->store = st;
    src->url = strdup(url);
    if (!src->url) {
        logf_(LOG_ERROR, "startup_error", "%s=%s error=\"out of memory\"", key, val);
        return NULL;
    }
    return src;
}

int srv_init(srv *s)
{
    pthread_rwlock_init(&s->dbs_lock, NULL);
    pthread_mutex_init(&s->poll_mu, NULL);
    pthread_cond_init(&s->poll_cv, NULL);
    pthread_cond_init(&s->demand_cv, NULL);
    pthread_cond_init(&s->rescan_cv, NULL);
    s->started_ms = timefmt_now_ms();
    s->cache = pcache_new(s->cfg.cache_size, 16);
    if (!s->cache) {
        logf_(LOG_ERROR, "startup_error", "error=\"cannot allocate the cache\"");
        return -1;
    }
    if (s->cfg.cache_dir && s->cfg.cache_dir[0]) {
        char m[512];
        s->disk = disk_open(s->cfg.cache_dir, s->cfg.cache_dir_size, m, sizeof m);
        if (!s->disk) {
            char q[600];
            logf_(LOG_ERROR, "startup_error", "cache_dir=%s error=%s", s->cfg.cache_dir,
                  log_q(q, sizeof q, m));
            return -1;
        }
    }
    s->sopts.s3_endpoint = s->cfg.s3_endpoint;
    s->sopts.s3_region = s->cfg.s3_region;
    s->sopts.s3_path_style = s->cfg.s3_path_style;
    s->sopts.max_retries = -1;
    size_t n = s->cfg.nreplicas + s->cfg.ndbs;
    s->sources = calloc(n ? n : 1, sizeof *s->sources);
    if (!s->sources)
        return -1;
    for (size_t i = 0; i < s->cfg.nreplicas; i++) {
        const char *url = s->cfg.replicas[i];
        srv_source *src = add_source(s, url, "url", url);
        if (!src)
            return -1;
        src->is_root = 1;
        /* drop a trailing slash for display */
        size_t l = strlen(src->url);
        while (l > 1 && src->url[l - 1] == '/')
            src->url[--l] = 0;
        char q[600];
        logf_(LOG_INFO, "replica_added", "url=%s", log_q(q, sizeof q, url));
    }
    for (size_t i = 0; i < s->cfg.ndbs; i++) {
        const char *spec = s->cfg.dbs[i];
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec || !eq[1]) {
            logf_(LOG_ERROR, "startup_error", "db=\"%s\" error=\"--db wants NAME=URL\"", spec);
            return -1;
        }
        char name[DBNAME_MAX + 1];
        size_t nl = (size_t)(eq - spec);
        if (nl > DBNAME_MAX) {
            logf_(LOG_ERROR, "startup_error", "error=\"--db name too long\"");
            return -1;
        }
        memcpy(name, spec, nl);
        name[nl] = 0;
        if (!dbname_servable(name)) {
            logf_(LOG_ERROR, "startup_error", "db=\"%s\" error=\"invalid or reserved database name\"", name);
            return -1;
        }
        srv_source *src = add_source(s, eq + 1, "db", name);
        if (!src)
            return -1;
        src->db_name = strdup(name);
        if (!src->db_name) {
            logf_(LOG_ERROR, "startup_error", "db=%s error=\"out of memory\"", name);
            return -1;
        }
        if (add_db(s, name, src->store, "", eq + 1) < 0)
            return -1;
    }
    /* --replica roots are scanned by the rescanner thread, once the server
     * listens (/healthz answers meanwhile; /readyz says not ready) */
    int roots = 0;
    for (size_t i = 0; i < s->nsources; i++)
        roots |= s->sources[i].is_root;
    atomic_store(&s->discovered, !roots);
    return 0;
}

/* One pass over this poller's databases: with urgent_only, those a reader
 * waits for; else every database that is due. Returns the earliest next
 * due time (mono ms), never later than `next`. */
static int64_t srv_poll_pass(srv *s, int me, int k, int urgent_only, int64_t next)
{
    /* published tables stay valid until srv_destroy: no lock needed */
    struct srv_dblist *l = atomic_load_explicit(&s->pub, memory_order_acquire);
    for (size_t i = 0; l && i < l->cap && !atomic_load(&s->stopping); i++) {
        ltxdb *d = atomic_load_explicit(&l->v[i], memory_order_acquire);
        if (!d || (int)(hash_fnv1a32_str(ltxdb_name(d)) % (unsigned)k) != me)
            continue;
        if (urgent_only ? demand_urgent(d) : mono_ms() >= demand_due(d))
            demand_poll(s, d, mono_ms());
        if (demand_due(d) < next)
            next = demand_due(d);
    }
    return next;
}

static void *poller_main(void *arg)
{
    struct srv_poller_arg *pa = arg;
    srv *s = pa->s;
    int me = pa->idx, k = s->npollers > 0 ? s->npollers : 1;
    uint64_t kicks = atomic_load(&s->poll_kicks);
    while (!atomic_load(&s->stopping)) {
        int64_t next = mono_ms() + s->cfg.rescan_ms;
        /* readers waiting for a backed-off database go first */
        srv_poll_pass(s, me, k, 1, next);
        next = srv_poll_pass(s, me, k, 0, next);
        pthread_mutex_lock(&s->poll_mu);
        int64_t wait = next - mono_ms();
        /* a reader that asked for a poll, or a database added, during the
         * passes is not missed */
        if (wait > 0 && !atomic_load(&s->stopping) && atomic_load(&s->poll_kicks) == kicks) {
            struct timespec ts;
            deadline_in_ms(&ts, wait);
            pthread_cond_timedwait(&s->poll_cv, &s->poll_mu, &ts);
        }
        kicks = atomic_load(&s->poll_kicks);
        pthread_mutex_unlock(&s->poll_mu);
    }
    return NULL;
}

/* The rescans of the --replica roots have a thread of their own: a root
 * listing the store stalls (up to its deadline) delays no database's poll.
 * The first scan runs here, after the server listens. */
static void *rescan_main(void *arg)
{
    srv *s = arg;
    while (!atomic_load(&s->stopping)) {
        int64_t t0 = mono_ms();
        discover(s);
        atomic_store(&s->discovered, 1);
        pthread_mutex_lock(&s->poll_mu);
        int64_t wait = t0 + s->cfg.rescan_ms - mono_ms();
        if (wait > 0 && !atomic_load(&s->stopping)) {
            struct timespec ts;
            deadline_in_ms(&ts, wait);
            pthread_cond_timedwait(&s->rescan_cv, &s->poll_mu, &ts);
        }
        pthread_mutex_unlock(&s->poll_mu);
    }
    return NULL;
}

int srv_start_poller(srv *s)
{
    int roots = 0;
    for (size_t i = 0; i < s->nsources; i++)
        roots |= s->sources[i].is_root;
    if (roots) {
        if (pthread_create(&s->rescanner, NULL, rescan_main, s) != 0)
            return -1;
        s->rescanning = 1;
    }
    int k = s->cfg.poll_threads > 0 ? s->cfg.poll_threads : 1;
    if (k > 64)
        k = 64;
    s->npollers = k;
    for (int i = 0; i < k; i++) {
        s->poller_args[i].s = s;
        s->poller_args[i].idx = i;
        if (pthread_create(&s->pollers[i], NULL, poller_main, &s->poller_args[i]) != 0) {
            s->npollers = i;
            return -1;
        }
    }
    return 0;
}

void srv_stop_poller(srv *s)
{
    atomic_store(&s->stopping, 1);
    pthread_mutex_lock(&s->poll_mu);
    pthread_cond_broadcast(&s->poll_cv);
    pthread_cond_broadcast(&s->rescan_cv);
    pthread_cond_broadcast(&s->demand_cv); /* readers waiting for a poll answer now */
    pthread_mutex_unlock(&s->poll_mu);
    for (int i = 0; i < s->npollers; i++)
        pthread_join(s->pollers[i], NULL);
    s->npollers = 0;
    if (s->rescanning)
        pthread_join(s->rescanner, NULL);
    s->rescanning = 0;
}

void srv_destroy(srv *s)
{
    /* every database ever added is in the published table, removed or not */
    struct srv_dblist *pl = atomic_load(&s->pub);
    for (size_t i = 0; pl && i < pl->cap; i++)
        ltxdb_free(atomic_load(&pl->v[i]));
    free(s->dbs);
    s->dbs = NULL;
    s->ndbs = 0;
    free(atomic_exchange(&s->pub, NULL));
    while (s->retired) {
        struct srv_dblist *n = s->retired->next_retired;
        free(s->retired);
        s->retired = n;
    }
    for (size_t i = 0; i < s->nsources; i++) {
        objstore_close(s->sources[i].store);
        free(s->sources[i].url);
        free(s->sources[i].db_name);
    }
    free(s->sources);
    s->sources = NULL;
    disk_close(s->disk);
    s->disk = NULL;
    pcache_free(s->cache);
    s->cache = NULL;
    pthread_rwlock_destroy(&s->dbs_lock);
    pthread_mutex_destroy(&s->poll_mu);
    pthread_cond_destroy(&s->poll_cv);
    pthread_cond_destroy(&s->demand_cv);
    pthread_cond_destroy(&s->rescan_cv);
}
