/* http_changes.c - GET /{db}/changes?since=T[&wait=S] and the long-poll
 * waiters.
 *
 * With wait=S and nothing newer than T, the request is suspended (no
 * worker thread held) in a list that one waker thread watches: it
 * resumes a waiter when its database indexes a new TXID (on_new_txid
 * signals it), when its history is replaced, at its deadline, when the
 * client closed the connection (looked at once a second) and at
 * shutdown. The resumed request is dispatched again and answers. At
 * most 3/4 of the connections wait; beyond that a long-poll answers at
 * once. The list and the waker's condition share wmu. */
#include "http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "demand.h"
#include "log.h"
#include "timefmt.h"

static void http_changes_add(struct http *h, struct http_req *r)
{
    r->wnext = &h->waiters;
    r->wprev = h->waiters.wprev;
    h->waiters.wprev->wnext = r;
    h->waiters.wprev = r;
    h->nwaiters++;
}

static void http_changes_del(struct http *h, struct http_req *r)
{
    r->wprev->wnext = r->wnext;
    r->wnext->wprev = r->wprev;
    r->wnext = r->wprev = NULL;
    h->nwaiters--;
}

void http_changes_forget(struct http *h, struct http_req *r)
{
    if (r->wnext) {
        pthread_mutex_lock(&h->wmu);
        if (r->wnext)
            http_changes_del(h, r);
        pthread_mutex_unlock(&h->wmu);
    }
    if (r->was_waiter)
        atomic_fetch_sub(&h->pending_polls, 1);
}

size_t http_changes_waiting(struct http *h)
{
    pthread_mutex_lock(&h->wmu);
    size_t n = h->nwaiters;
    pthread_mutex_unlock(&h->wmu);
    return n;
}

/* A suspended connection is not polled by libmicrohttpd, so a client that
 * closed it is only noticed when the poll is resumed: look (without
 * reading) whether the peer closed or reset it. */
static int http_changes_peer_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void *http_changes_waker(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->wmu);
    int64_t next_reap = 0;
    while (!h->waker_stop || h->nwaiters) {
        int64_t now = mono_ms(), next = now + 1000;
        /* look for abandoned polls once a second, not at every wake-up */
        int reap = now >= next_reap;
        if (reap)
            next_reap = now + 1000;
        for (struct http_req *r = h->waiters.wnext; r != &h->waiters;) {
            struct http_req *n = r->wnext;
            if (h->waker_stop || now >= r->deadline || ltxdb_current_txid(r->wdb) > r->since ||
                ltxdb_history_gen(r->wdb) != r->hgen || (reap && http_changes_peer_gone(r->conn))) {
                http_changes_del(h, r);
                r->waited = 1;
                MHD_resume_connection(r->conn);
            } else {
                demand_note_read(r->wdb); /* a waiter keeps its database polled every interval */
                if (r->deadline < next)
                    next = r->deadline;
            }
            r = n;
        }
        if (h->waker_stop && !h->nwaiters)
            break;
        int64_t wait = next - mono_ms();
        if (wait < 1)
            wait = 1;
        struct timespec ts;
        deadline_in_ms(&ts, wait);
        pthread_cond_timedwait(&h->wcv, &h->wmu, &ts);
    }
    pthread_mutex_unlock(&h->wmu);
    return NULL;
}

int http_changes_start(struct http *h)
{
    h->waiters.wnext = h->waiters.wprev = &h->waiters;
    if (pthread_create(&h->waker, NULL, http_changes_waker, h) != 0)
        return -1;
    h->waker_started = 1;
    return 0;
}

void http_changes_stop(struct http *h)
{
    pthread_mutex_lock(&h->wmu);
    h->waker_stop = 1;
    pthread_cond_broadcast(&h->wcv);
    pthread_mutex_unlock(&h->wmu);
    if (h->waker_started)
        pthread_join(h->waker, NULL);
    h->waker_started = 0;
}

void http_changes_on_new_txid(srv *s, ltxdb *d)
{
    (void)d;
    struct http *h = s->http;
    if (!h)
        return;
    pthread_mutex_lock(&h->wmu);
    pthread_cond_broadcast(&h->wcv);
    pthread_mutex_unlock(&h->wmu);
}

/* Suspend r until something changes (1), or 0 when it must answer now
 * (the database moved on meanwhile, stopping, too many waiting). */
static int http_changes_wait(struct http *h, struct http_req *r, ltxdb *d, uint64_t since, uint64_t wait)
{
    pthread_mutex_lock(&h->wmu);
    /* a full set of long-polls answers at once rather than leave no
     * connection for page reads (clients poll again) */
    if (r->conn && ltxdb_current_txid(d) <= since && ltxdb_history_gen(d) == r->hgen && !h->waker_stop &&
        h->nwaiters < h->max_waiters) {
        r->wdb = d;
        r->since = since;
        r->deadline = mono_ms() + (int64_t)wait * 1000;
        r->suspended = 1;
        if (!r->was_waiter) {
            r->was_waiter = 1;
            atomic_fetch_add(&h->pending_polls, 1);
        }
        http_changes_add(h, r);
        MHD_suspend_connection(r->conn);
        pthread_cond_broadcast(&h->wcv);
        pthread_mutex_unlock(&h->wmu);
        return 1;
    }
    pthread_mutex_unlock(&h->wmu);
    return 0;
}

static json_t *http_changes_json(const db_snap *s, int reset, const uint32_t *pages, size_t n)
{
    json_t *j = json_object();
    char b[40];
    if (reset)
        json_object_set_new(j, "reset", json_true());
    ltx_format_txid(b, s->txid);
    json_object_set_new(j, "txid", json_string(b));
    json_object_set_new(j, "commit", json_integer(s->commit));
    json_object_set_new(j, "page_size", json_integer(s->page_size));
    timefmt_format_ms(b, sizeof b, s->ts_ms);
    json_object_set_new(j, "timestamp", json_string(b));
    if (!reset) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(pages[i]));
        json_object_set_new(j, "pages", a);
    }
    return j;
}

enum MHD_Result http_changes_get(struct http *h, struct http_req *r)
{
    ltxdb *d = r->in.db;
    const char *ss = r->in.q.since;
    uint64_t since;
    if (!ss || ltx_parse_txid(ss, &since, 1) != 0)
        return http_resp_error(h, r, 400, LTXW_E_BAD_TXID, "since must be a TXID (1-16 hex digits)");
    const char *ws = r->in.q.wait;
    uint64_t wait = 0;
    if (ws && http_parse_u64(ws, &wait))
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST, "wait must be whole seconds");
    if (wait > LTXW_MAX_WAIT_SECONDS)
        wait = LTXW_MAX_WAIT_SECONDS;
    for (;;) {
        db_snap s;
        int reset;
        uint32_t *pages = NULL;
        size_t n = 0;
        db_err e = { 0 };
        if (!r->waited)
            r->hgen = ltxdb_history_gen(d);
        int cr = ltxdb_changes(d, since, &s, &reset, &pages, &n, &e);
        int replaced = r->waited && ltxdb_history_gen(d) != r->hgen;
        /* a new history behind `since` is a reset, not "ahead" (s is filled) */
        if (cr && !(replaced && e.code == DB_E_TXID_AHEAD))
            return http_resp_dberr(h, r, &e);
        if (replaced) {
            /* the history this poll started under was replaced: whatever
             * the client cached at `since` may be from the old one */
            free(pages);
            pages = NULL;
            n = 0;
            reset = 1;
        }
        if (!reset && s.txid <= since && wait > 0 && !r->waited && !atomic_load(&h->s->stopping)) {
            free(pages);
            if (http_changes_wait(h, r, d, since, wait))
                return MHD_YES;
            r->waited = 1;
            continue; /* answer now */
        }
        json_t *j = http_changes_json(&s, reset, pages, n);
        free(pages);
        return http_resp_json(h, r, 200, j, "no-cache");
    }
}
