/* lease.c - Litestream's lease object (lock.json): acquire, renew,
 * release. See lease.h. */
#include "lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

#define LEASE_MAX_BYTES 4096

int lease_encode(const lease_info *li, char *out, size_t outlen)
{
    char t[64];
    timefmt_format_nano(t, sizeof t, li->expires_ms);
    json_t *j = json_pack("{s:I,s:s,s:s}", "generation", (json_int_t)li->generation, "expires_at", t, "owner",
                          li->owner);
    if (!j)
        return -1;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return -1;
    int n = snprintf(out, outlen, "%s", s);
    free(s);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

int lease_decode(const uint8_t *buf, size_t len, lease_info *li)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    json_t *g = json_object_get(j, "generation");
    json_t *x = json_object_get(j, "expires_at");
    json_t *o = json_object_get(j, "owner");
    int rc = -1;
    int64_t ms = 0;
    if (json_is_integer(g) && json_is_string(x) && timefmt_parse_rfc3339(json_string_value(x), &ms) == 0 &&
        (!o || json_is_string(o))) {
        li->generation = (int64_t)json_integer_value(g);
        li->expires_ms = ms;
        snprintf(li->owner, sizeof li->owner, "%s", o ? json_string_value(o) : "");
        rc = 0;
    }
    json_decref(j);
    return rc;
}

obj_status lease_read(objstore *st, const char *db, lease_info *li, obj_error *e)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char etag[LTX_ETAG_MAX] = "";
    obj_status s = objstore_get_object(st, db, LEASE_OBJECT, LEASE_MAX_BYTES, &buf, &len, etag, e);
    if (s != OBJ_OK)
        return s;
    memset(li, 0, sizeof *li);
    int rc = lease_decode(buf, len, li);
    free(buf);
    if (rc != 0) {
        /* unreadable: treat as held by someone unknown until replaced by hand */
        snprintf(e->msg, sizeof e->msg, "%s is not a lease object", LEASE_OBJECT);
        e->code = OBJ_ERR_INVALID;
        return OBJ_ERR_INVALID;
    }
    snprintf(li->etag, sizeof li->etag, "%s", etag);
    return OBJ_OK;
}

lease *lease_new(objstore *st, const char *db, int64_t ttl_ms)
{
    lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->db = strdup(db);
    if (!l->db) {
        free(l);
        return NULL;
    }
    l->store = st;
    l->ttl_ms = ttl_ms > 0 ? ttl_ms : LEASE_TTL_MS;
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(l->owner, sizeof l->owner, "pid-%ld", (long)getpid());
    else
        snprintf(l->owner, sizeof l->owner, "%s:%ld", host, (long)getpid());
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->vmu, NULL);
    return l;
}

void lease_free(lease *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->vmu);
    free(l->db);
    free(l);
}

/* Write li conditionally: on if_match, or create-only when it is "". */
static obj_status lease_put(lease *l, lease_info *li, const char *if_match, obj_error *e)
{
    char body[512];
    int n = lease_encode(li, body, sizeof body);
    if (n < 0) {
        snprintf(e->msg, sizeof e->msg, "lease too large to encode");
        return OBJ_ERR_INVALID;
    }
    char etag[LTX_ETAG_MAX] = "";
    obj_status s = if_match && if_match[0]
                       ? objstore_put_if_match(l->store, l->db, LEASE_OBJECT, (const uint8_t *)body,
                                               (size_t)n, if_match, etag, e)
                       : objstore_put_if_absent(l->store, l->db, LEASE_OBJECT, (const uint8_t *)body,
                                                (size_t)n, etag, e);
    if (s == OBJ_OK)
        snprintf(li->etag, sizeof li->etag, "%s", etag);
    return s;
}

/* Acquire (caller holds mu). */
static int lease_acquire_locked(lease *l, lease_info *other, obj_error *e)
{
    lease_info ex;
    memset(&ex, 0, sizeof ex);
    obj_status s = lease_read(l->store, l->db, &ex, e);
    int64_t now = timefmt_now_ms();
    if (s == OBJ_ERR_INVALID) {
        snprintf(ex.owner, sizeof ex.owner, "unknown (unreadable %s)", LEASE_OBJECT);
        ex.expires_ms = now + l->ttl_ms;
        *other = ex;
        l->cur = ex;
        return LEASE_HELD;
    }
    if (s != OBJ_OK && s != OBJ_NOT_FOUND)
        return LEASE_ERR;
    if (s == OBJ_OK && ex.expires_ms > now && strcmp(ex.owner, l->owner) != 0) {
        *other = ex;
        l->cur = ex;
        l->seen_ms = now;
        return LEASE_HELD;
    }
    lease_info nl;
    memset(&nl, 0, sizeof nl);
    nl.generation = s == OBJ_OK ? ex.generation + 1 : 1;
    nl.expires_ms = now + l->ttl_ms;
    snprintf(nl.owner, sizeof nl.owner, "%s", l->owner);
    s = lease_put(l, &nl, s == OBJ_OK ? ex.etag : "", e);
    if (s == OBJ_EXISTS || s == OBJ_CHANGED || s == OBJ_NOT_FOUND) {
        /* somebody else was quicker: report them */
        obj_error e2 = { 0 };
        memset(other, 0, sizeof *other);
        if (lease_read(l->store, l->db, other, &e2) != OBJ_OK) {
            snprintf(other->owner, sizeof other->owner, "unknown");
            other->expires_ms = now + l->ttl_ms;
        }
        l->cur = *other;
        return LEASE_HELD;
    }
    if (s != OBJ_OK)
        return LEASE_ERR;
    l->cur = nl;
    l->held = 1;
    l->seen_ms = now;
    char q[200];
    logf_(LOG_INFO, "lease_acquired", "db=%s owner=%s generation=%lld", l->db[0] ? l->db : "-",
          log_q(q, sizeof q, l->owner), (long long)nl.generation);
    return LEASE_ACQUIRED;
}

/* Renew ours (caller holds mu, l->held). */
static int lease_renew_locked(lease *l, obj_error *e)
{
    lease_info nl = l->cur;
    nl.expires_ms = timefmt_now_ms() + l->ttl_ms;
    obj_status s = lease_put(l, &nl, l->cur.etag, e);
    if (s == OBJ_OK) {
        l->cur = nl;
        l->seen_ms = timefmt_now_ms();
        return LEASE_OURS;
    }
    if (s == OBJ_CHANGED || s == OBJ_NOT_FOUND) {
        l->held = 0;
        memset(&l->cur, 0, sizeof l->cur); /* the next write reads who holds it now */
        logf_(LOG_WARN, "lease_lost", "db=%s reason=%s", l->db[0] ? l->db : "-",
              s == OBJ_CHANGED ? "replaced" : "deleted");
        return LEASE_HELD;
    }
    return LEASE_ERR;
}

/* Publish cur/held for lease_peek (caller holds mu). */
static void lease_publish_view(lease *l)
{
    pthread_mutex_lock(&l->vmu);
    l->view = l->cur;
    l->view_held = l->held;
    pthread_mutex_unlock(&l->vmu);
}

int lease_ensure(lease *l, int64_t margin_ms, lease_info *other, obj_error *e)
{
    pthread_mutex_lock(&l->mu);
    int rc = LEASE_OURS;
    int64_t now = timefmt_now_ms();
    if (l->held && l->cur.expires_ms - now <= margin_ms) {
        rc = lease_renew_locked(l, e);
        if (rc == LEASE_ERR && l->cur.expires_ms - timefmt_now_ms() > 1000)
            rc = LEASE_OURS; /* still ours for a while; try again next time */
    }
    if (!l->held && rc != LEASE_ERR)
        rc = lease_acquire_locked(l, other, e);
    lease_publish_view(l);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int lease_renew_due(lease *l, obj_error *e)
{
    pthread_mutex_lock(&l->mu);
    int rc = LEASE_HELD;
    if (l->held) {
        rc = LEASE_OURS;
        if (l->cur.expires_ms - timefmt_now_ms() <= l->ttl_ms / 2)
            rc = lease_renew_locked(l, e);
    }
    lease_publish_view(l);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int lease_release(lease *l)
{
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->held) {
        /* not ours from now on: readers of lease_peek see that before the
         * object goes (a status read right after the DELETE must not say ours) */
        lease_info was = l->cur;
        l->held = 0;
        memset(&l->cur, 0, sizeof l->cur);
        lease_publish_view(l);
        obj_error e = { 0 };
        obj_status s = objstore_delete_object(l->store, l->db, LEASE_OBJECT, was.etag, &e);
        if (s != OBJ_OK && s != OBJ_NOT_FOUND && s != OBJ_CHANGED) {
            char q[300];
            logf_(LOG_WARN, "lease_release_error", "db=%s error=%s", l->db[0] ? l->db : "-",
                  log_q(q, sizeof q, e.msg[0] ? e.msg : obj_status_str(s)));
            rc = -1;
        } else {
            logf_(LOG_INFO, "lease_released", "db=%s", l->db[0] ? l->db : "-");
        }
    }
    lease_publish_view(l);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int lease_peek(lease *l, lease_info *li)
{
    pthread_mutex_lock(&l->vmu);
    *li = l->view;
    int held = l->view_held && l->view.expires_ms > timefmt_now_ms();
    pthread_mutex_unlock(&l->vmu);
    return held;
}
