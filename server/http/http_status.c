/* http_status.c - JSON and text about the server and its databases:
 * GET / (index), /healthz, /readyz, /{db}[?time=|?txid=] (status) and
 * /admin/status, /admin/dbs. The status of a database comes from the
 * database layer (ltxdb_status_json); this file only assembles. */
#include "http_int.h"
#include "write.h"

#include "demand.h"
#include "disk.h"
#include "log.h"
#include "timefmt.h"

/* A page for people when the client prefers HTML (http_page.c), else
 * the database names as JSON. */
enum MHD_Result http_status_index(struct http *h, struct http_req *r)
{
    if (http_page_wants_html(r->in.accept))
        return http_page_status(h, r, http_status_doc(h));
    srv *s = h->s;
    json_t *o = json_object();
    json_object_set_new(o, "server", json_string("ltxpaged " LTXPAGED_VERSION));
    json_t *a = json_array();
    pthread_rwlock_rdlock(&s->dbs_lock);
    for (size_t i = 0; i < s->ndbs; i++)
        json_array_append_new(a, json_string(ltxdb_name(s->dbs[i])));
    pthread_rwlock_unlock(&s->dbs_lock);
    json_object_set_new(o, "databases", a);
    return http_page_json(h, r, o);
}

enum MHD_Result http_status_healthz(struct http *h, struct http_req *r)
{
    return http_resp_text(h, r, 200, "ok\n");
}

enum MHD_Result http_status_readyz(struct http *h, struct http_req *r)
{
    return srv_ready(h->s) ? http_resp_text(h, r, 200, "ready\n") : http_resp_text(h, r, 503, "not ready\n");
}

/* file_url, file_url_journal_delete: /file pinned at the status's TXID
 * (null while nothing is indexed). A foreign range reader (a browser's
 * HTTP VFS) reads one of these, never the latest URL, so its ranges all
 * come from one TXID. */
static json_t *http_status_with_urls(ltxdb *d, json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "txid"));
    static const struct {
        const char *field, *suffix;
    } urls[] = { { "file_url", "" }, { "file_url_journal_delete", "&journal=delete" } };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char rest[96], u[LTXW_MAX_URL + 1];
        snprintf(rest, sizeof rest, "file?txid=%.16s%s", t ? t : "", urls[i].suffix);
        json_object_set_new(o, urls[i].field,
                            t && !http_resp_db_path(u, sizeof u, ltxdb_name(d), rest) ? json_string(u)
                                                                                      : json_null());
    }
    return o;
}

/* A point in time (time= wins over txid=) may read the object store:
 * such requests run on a loader thread. */
enum MHD_Result http_status_db(struct http *h, struct http_req *r)
{
    ltxdb *d = r->in.db;
    const char *ts = r->in.q.time;
    if (!http_loader_running(r) && (ts || r->in.q.txid))
        return http_loader_offload(h, r);
    uint64_t txid = r->in.txid;
    int pinned = r->in.pinned;
    db_snap s;
    db_err e = { 0 };
    if (!ts && !pinned) {
        demand_wait_latest(d, &e); /* a backed-off database is polled first; the status says what it has */
        json_t *j = ltxdb_status_json(d, NULL);
        json_t *lease = write_lease_json(h->s, ltxdb_name(d));
        if (lease && j)
            json_object_set_new(j, LTXW_J_LEASE, lease);
        else
            json_decref(lease);
        db_err ne = { 0 };
        if (!ltxdb_ready(d, &ne)) /* never a 200 a reader could take for an empty database */
            return http_resp_json_dberr(h, r, j, &ne);
        return http_resp_json(h, r, 200, http_status_with_urls(d, j), "no-cache");
    }
    int64_t ms = 0;
    if (ts && timefmt_parse_rfc3339(ts, &ms) != 0)
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST,
                               "time must be RFC 3339, e.g. 2025-01-01T00:06:15Z");
    if (ts ? ltxdb_resolve_time(d, ms, &s, &e) : ltxdb_resolve(d, txid, &s, &e))
        return http_resp_dberr(h, r, &e);
    return http_resp_json(h, r, 200, http_status_with_urls(d, ltxdb_status_json(d, &s)), "no-cache");
}

/* A uint64_t counter of a stats struct, by name. */
typedef struct {
    const char *name;
    size_t off;
} stat_field;

/* Each of the n counters of the stats struct at p into o, as a number. */
static void set_stat_fields(json_t *o, const void *p, const stat_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = *(const uint64_t *)(const void *)((const char *)p + f[i].off);
        json_object_set_new(o, f[i].name, json_integer((json_int_t)v));
    }
}

static json_t *http_status_cache_json(srv *s)
{
    pcache_stats cs;
    pcache_get_stats(s->cache, &cs);
    static const stat_field fields[] = {
        { "max_bytes", offsetof(pcache_stats, max_bytes) },
        { "bytes", offsetof(pcache_stats, bytes) },
        { "entries", offsetof(pcache_stats, entries) },
        { "hits", offsetof(pcache_stats, hits) },
        { "misses", offsetof(pcache_stats, misses) },
        { "coalesced", offsetof(pcache_stats, coalesced) },
        { "evictions", offsetof(pcache_stats, evictions) },
        { "inserts", offsetof(pcache_stats, inserts) },
        { "load_errors", offsetof(pcache_stats, load_errors) },
    };
    json_t *o = json_object();
    set_stat_fields(o, &cs, fields, sizeof fields / sizeof fields[0]);
    return o;
}

static json_t *http_status_stores_json(srv *s)
{
    static const stat_field fields[] = {
        { "gets", offsetof(objstore_stats, gets) },
        { "lists", offsetof(objstore_stats, lists) },
        { "heads", offsetof(objstore_stats, heads) },
        { "bytes_read", offsetof(objstore_stats, bytes_read) },
        { "errors", offsetof(objstore_stats, errors) },
        { "retries", offsetof(objstore_stats, retries) },
    };
    json_t *a = json_array();
    for (size_t i = 0; i < s->nsources; i++) {
        objstore_stats st;
        objstore_get_stats(s->sources[i].store, &st);
        json_t *o = json_object();
        json_object_set_new(o, "url", json_string(s->sources[i].url));
        if (s->sources[i].db_name)
            json_object_set_new(o, "db", json_string(s->sources[i].db_name));
        set_stat_fields(o, &st, fields, sizeof fields / sizeof fields[0]);
        json_t *by = json_object();
        for (int k = 0; k < OBJSTORE_LIST__N; k++)
            json_object_set_new(by, objstore_list_kind_names[k],
                                json_integer((json_int_t)st.lists_by_kind[k]));
        json_object_set_new(o, "lists_by_kind", by);
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *http_status_dbs_json(srv *s)
{
    json_t *a = json_array();
    pthread_rwlock_rdlock(&s->dbs_lock);
    for (size_t i = 0; i < s->ndbs; i++)
        json_array_append_new(a, ltxdb_status_json(s->dbs[i], NULL));
    pthread_rwlock_unlock(&s->dbs_lock);
    return a;
}

static json_t *http_status_server_json(struct http *h)
{
    srv *s = h->s;
    json_t *sv = json_object();
    char ts[40];
    json_object_set_new(sv, "version", json_string(LTXPAGED_VERSION));
    timefmt_format_ms(ts, sizeof ts, s->started_ms);
    json_object_set_new(sv, "started", json_string(ts));
    json_object_set_new(sv, "uptime_seconds", json_real((double)(now_ms() - s->started_ms) / 1000.0));
    json_object_set_new(sv, "threads", json_integer(s->cfg.threads));
    json_object_set_new(sv, "poll_interval_ms", json_integer(s->cfg.poll_ms));
    json_object_set_new(sv, "version_window_ms", json_integer(s->cfg.version_window_ms));
    json_object_set_new(sv, "ready", json_boolean(srv_ready(s)));
    json_object_set_new(sv, "read_token_required", json_boolean(h->has_read));
    json_object_set_new(sv, "long_polls_waiting", json_integer((json_int_t)http_changes_waiting(h)));
    return sv;
}

/* /admin/status and /admin/dbs answer the same document. */
enum MHD_Result http_status_admin(struct http *h, struct http_req *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "server", http_status_server_json(h));
    json_object_set_new(o, "cache", http_status_cache_json(h->s));
    json_object_set_new(o, "object_stores", http_status_stores_json(h->s));
    json_object_set_new(o, "disk", disk_status_json(h->s->disk)); /* server/disk.c */
    json_object_set_new(o, "databases", http_status_dbs_json(h->s));
    return http_resp_json(h, r, 200, o, "no-store");
}

json_t *http_status_doc(struct http *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "server", http_status_server_json(h));
    json_object_set_new(o, "cache", http_status_cache_json(h->s));
    json_object_set_new(o, "object_stores", http_status_stores_json(h->s));
    json_object_set_new(o, "databases", http_status_dbs_json(h->s));
    return o;
}
