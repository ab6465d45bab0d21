/* srv.c - sources, database discovery, the poller threads. */
#include "srv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "wire.h"

static size_t name_hash64(const char *n)
{
    uint64_t h = 1469598103934665603ull;
    for (; *n; n++)
        h = (h ^ (unsigned char)*n) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

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

static int add_db(srv *s, const char *name, objstore *st, const char *prefix, const char *url)
{
    pthread_rwlock_wrlock(&s->dbs_lock);
    size_t lo = 0, hi = s->ndbs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ltxdb_name(s->dbs[mid]), name);
        if (c == 0) {
            pthread_rwlock_unlock(&s->dbs_lock);
            return 0; /* known */
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
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
    /* wake the poller that owns it */
    pthread_mutex_lock(&s->poll_mu);
    pthread_cond_broadcast(&s->poll_cv);
    pthread_mutex_unlock(&s->poll_mu);
    return 1;
}

/* Names that can never be database names on the wire. */
static int name_ok(const char *n)
{
    static const char *reserved[] = LTXW_RESERVED_NAMES;
    size_t len = strlen(n);
    if (len == 0 || len > LTXW_MAX_DB_NAME || n[0] == '.')
        return 0;
    for (int i = 0; reserved[i]; i++)
        if (strcmp(n, reserved[i]) == 0)
            return 0;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '/' || *p == '\\' || *p == '%' || *p == '?' || *p == '#')
            return 0;
    return 1;
}

static void discover(srv *s)
{
    for (size_t i = 0; i < s->nsources; i++) {
        srv_source *src = &s->sources[i];
        if (!src->is_root)
            continue;
        char **names = NULL;
        size_t n = 0;
        obj_error oe = {0};
        obj_status st = objstore_list_dbs(src->store, &names, &n, &oe);
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
            obj_error e2 = {0};
            if (objstore_list_all(src->store, "", &files, &nf, &e2) == OBJ_OK && nf > 0) {
                const char *u = src->url;
                size_t l = strlen(u);
                while (l > 0 && u[l - 1] == '/')
                    l--;
                size_t b = l;
                while (b > 0 && u[b - 1] != '/')
                    b--;
                char name[LTXW_MAX_DB_NAME + 1];
                if (l - b > 0 && l - b <= LTXW_MAX_DB_NAME) {
                    memcpy(name, u + b, l - b);
                    name[l - b] = 0;
                    if (name_ok(name) && !srv_find_db(s, name))
                        add_db(s, name, src->store, "", src->url);
                }
            }
            free(files);
        }
        for (size_t j = 0; j < n; j++) {
            if (!name_ok(names[j])) {
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
        objstore_free_names(names, n);
    }
}

ltxdb *srv_find_db(srv *s, const char *name)
{
    /* lock-free: slots of a published table are set once, never changed */
    const struct srv_dblist *l = atomic_load_explicit(&s->pub, memory_order_acquire);
    if (!l)
        return NULL;
    size_t m = l->cap - 1;
    for (size_t i = name_hash64(name) & m;; i = (i + 1) & m) {
        ltxdb *d = atomic_load_explicit(&((struct srv_dblist *)l)->v[i], memory_order_acquire);
        if (!d)
            return NULL;
        if (strcmp(ltxdb_name(d), name) == 0)
            return d;
    }
}

int srv_ready(srv *s)
{
    pthread_rwlock_rdlock(&s->dbs_lock);
    int ok = 1;
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
    obj_error oe = {0};
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
    s->started_ms = now_ms();
    s->cache = pcache_new(s->cfg.cache_size, 16);
    if (!s->cache) {
        logf_(LOG_ERROR, "startup_error", "error=\"cannot allocate the cache\"");
        return -1;
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
        char name[LTXW_MAX_DB_NAME + 1];
        size_t nl = (size_t)(eq - spec);
        if (nl > LTXW_MAX_DB_NAME) {
            logf_(LOG_ERROR, "startup_error", "error=\"--db name too long\"");
            return -1;
        }
        memcpy(name, spec, nl);
        name[nl] = 0;
        if (!name_ok(name)) {
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
    discover(s);
    return 0;
}

static unsigned name_hash(const char *n)
{
    unsigned h = 2166136261u;
    for (; *n; n++)
        h = (h ^ (unsigned char)*n) * 16777619u;
    return h;
}

static void *poller_main(void *arg)
{
    struct srv_poller_arg *pa = arg;
    srv *s = pa->s;
    int me = pa->idx, k = s->npollers > 0 ? s->npollers : 1;
    int64_t next_rescan = mono_ms() + s->cfg.rescan_ms;
    while (!atomic_load(&s->stopping)) {
        int64_t now = mono_ms();
        if (me == 0 && now >= next_rescan) {
            discover(s);
            next_rescan = now + s->cfg.rescan_ms;
        }
        /* published tables stay valid until srv_destroy: no lock needed */
        struct srv_dblist *l = atomic_load_explicit(&s->pub, memory_order_acquire);
        int64_t next = me == 0 ? next_rescan : now + s->cfg.rescan_ms;
        for (size_t i = 0; l && i < l->cap && !atomic_load(&s->stopping); i++) {
            ltxdb *d = atomic_load_explicit(&l->v[i], memory_order_acquire);
            if (!d || (int)(name_hash(ltxdb_name(d)) % (unsigned)k) != me)
                continue;
            if (mono_ms() >= ltxdb_next_poll(d))
                ltxdb_poll(d, mono_ms());
            if (ltxdb_next_poll(d) < next)
                next = ltxdb_next_poll(d);
        }
        pthread_mutex_lock(&s->poll_mu);
        int64_t wait = next - mono_ms();
        if (wait > 0 && !atomic_load(&s->stopping)) {
            struct timespec ts;
            deadline_in_ms(&ts, wait);
            pthread_cond_timedwait(&s->poll_cv, &s->poll_mu, &ts);
        }
        pthread_mutex_unlock(&s->poll_mu);
    }
    return NULL;
}

int srv_start_poller(srv *s)
{
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
    pthread_mutex_unlock(&s->poll_mu);
    for (int i = 0; i < s->npollers; i++)
        pthread_join(s->pollers[i], NULL);
    s->npollers = 0;
}

void srv_destroy(srv *s)
{
    for (size_t i = 0; i < s->ndbs; i++)
        ltxdb_free(s->dbs[i]);
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
    pcache_free(s->cache);
    s->cache = NULL;
    pthread_rwlock_destroy(&s->dbs_lock);
    pthread_mutex_destroy(&s->poll_mu);
    pthread_cond_destroy(&s->poll_cv);
}
