/* http_conn.c - connections as a whole: the header deadline and the raw
 * request checks that libmicrohttpd 0.9.75 does not make.
 *
 * Header deadline. libmicrohttpd's connection timeout counts idle time
 * only: a client that sends one header byte every few seconds ("slow
 * loris") keeps its connection for ever, and enough of them take every
 * connection. Here each connection (MHD_OPTION_NOTIFY_CONNECTION) gets
 * a deadline when it opens and again when an answer is done (keep-alive):
 * its next request line and headers must be in by then. The access
 * handler clears the deadline when the headers are complete. A watchdog
 * thread shuts down (shutdown(2), not close: the descriptor stays
 * libmicrohttpd's) the sockets whose deadline passed; libmicrohttpd then
 * sees end of file and closes the connection itself. Connections live in
 * striped lists (a mutex per stripe, taken when a connection opens or
 * closes and by the watchdog), so there is no lock per request, and the
 * watchdog never shuts down a descriptor that was closed and reused:
 * libmicrohttpd reports a connection closed before it closes its socket.
 *
 * Raw checks. libmicrohttpd keeps the request line and headers in its
 * read buffer, with the separators it parsed replaced by NUL bytes, and
 * hands out C strings into it. A NUL sent by the client cuts such a
 * string short silently ("GET /a\0junk" reads as "/a"). The header block
 * is contiguous ([method, method + header size)), so every byte between
 * the end of one string and the start of the next must be a separator
 * libmicrohttpd wrote: anything else is a NUL (or folding) from the
 * client, answered 400. One case cannot be told apart: a NUL as the
 * last byte of a line that ends with a bare LF looks like CR LF. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

struct http_conn {
    struct http_conn *next, *prev;
    int fd;
    unsigned stripe;
    _Atomic int64_t deadline; /* mono ms; 0 = not waiting for headers */
};

/* ---- the header deadline ---- */

static void http_conn_arm(struct http *h, struct http_conn *k)
{
    atomic_store_explicit(&k->deadline, mono_ms() + h->header_timeout_ms, memory_order_relaxed);
}

static struct http_conn *http_conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct http_conn *k = calloc(1, sizeof *k);
        if (!k || !ci) {
            free(k);
            return; /* no deadline for this one */
        }
        k->fd = ci->connect_fd;
        k->stripe = (unsigned)k->fd % HTTP_CONN_STRIPES;
        http_conn_arm(h, k);
        struct http_conn_stripe *st = &h->conns[k->stripe];
        pthread_mutex_lock(&st->mu);
        k->next = st->head;
        if (st->head)
            st->head->prev = k;
        st->head = k;
        pthread_mutex_unlock(&st->mu);
        *socket_context = k;
        return;
    }
    struct http_conn *k = *socket_context;
    if (!k)
        return;
    struct http_conn_stripe *st = &h->conns[k->stripe];
    pthread_mutex_lock(&st->mu);
    if (k->prev)
        k->prev->next = k->next;
    else
        st->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&st->mu);
    free(k);
    *socket_context = NULL;
}

void http_conn_headers_done(struct MHD_Connection *c)
{
    struct http_conn *k = http_conn_of(c);
    if (k)
        atomic_store_explicit(&k->deadline, 0, memory_order_relaxed);
}

void http_conn_request_done(struct http *h, struct MHD_Connection *c)
{
    struct http_conn *k = c ? http_conn_of(c) : NULL;
    if (k)
        http_conn_arm(h, k);
}

static void *http_conn_watchdog(void *arg)
{
    struct http *h = arg;
    int64_t step = h->header_timeout_ms / 4;
    if (step < 50)
        step = 50;
    if (step > 500)
        step = 500;
    pthread_mutex_lock(&h->cwmu);
    while (!h->cwstop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(step % 1000) * 1000000L;
        ts.tv_sec += (time_t)(step / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->cwcv, &h->cwmu, &ts);
        if (h->cwstop)
            break;
        int64_t now = mono_ms();
        unsigned cut = 0;
        for (unsigned i = 0; i < HTTP_CONN_STRIPES; i++) {
            struct http_conn_stripe *st = &h->conns[i];
            pthread_mutex_lock(&st->mu);
            for (struct http_conn *k = st->head; k; k = k->next) {
                int64_t dl = atomic_load_explicit(&k->deadline, memory_order_relaxed);
                if (dl && now > dl) {
                    atomic_store_explicit(&k->deadline, 0, memory_order_relaxed);
                    shutdown(k->fd, SHUT_RDWR);
                    cut++;
                }
            }
            pthread_mutex_unlock(&st->mu);
        }
        if (cut)
            logf_(LOG_INFO, "header_timeout",
                  "connections=%u header_timeout_ms=%lld msg=\"request headers not "
                  "complete in time; disconnected\"",
                  cut, (long long)h->header_timeout_ms);
    }
    pthread_mutex_unlock(&h->cwmu);
    return NULL;
}

int http_conn_start(struct http *h)
{
    if (pthread_create(&h->cwatch, NULL, http_conn_watchdog, h) != 0)
        return -1;
    h->cwatch_started = 1;
    return 0;
}

void http_conn_stop(struct http *h)
{
    if (!h->cwatch_started)
        return;
    pthread_mutex_lock(&h->cwmu);
    h->cwstop = 1;
    pthread_cond_signal(&h->cwcv);
    pthread_mutex_unlock(&h->cwmu);
    pthread_join(h->cwatch, NULL);
    h->cwatch_started = 0;
}

/* ---- raw request checks ---- */

/* The header block and where the last string seen ended. */
struct http_conn_scan {
    const char *lo, *hi; /* [method, method + header size) */
    const char *end;     /* end of the previous string (its NUL) */
    int bad;             /* a byte the client sent where a separator belongs */
    int hosts;           /* Host headers seen */
};

static int http_conn_in(const struct http_conn_scan *s, const char *p)
{
    return (uintptr_t)p >= (uintptr_t)s->lo && (uintptr_t)p < (uintptr_t)s->hi;
}

/* Bytes [s->end, next) are only NULs (line ends libmicrohttpd cut),
 * at least 1 and at most max. */
static int http_conn_gap(const struct http_conn_scan *s, const char *next, size_t max)
{
    if ((uintptr_t)next <= (uintptr_t)s->end || (size_t)(next - s->end) > max)
        return 0;
    for (const char *p = s->end; p < next; p++)
        if (*p)
            return 0;
    return 1;
}

static enum MHD_Result http_conn_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                             const char *value)
{
    (void)kind;
    struct http_conn_scan *s = cls;
    if (s->bad || !key || !value)
        return MHD_YES;
    if (strcasecmp(key, "Host") == 0)
        s->hosts++;
    /* "key" NUL(was ':') [spaces] "value", then a line end before the next */
    const char *kend = key + strlen(key);
    if (!http_conn_in(s, key) || !http_conn_in(s, value) || !http_conn_gap(s, key, 2) || value <= kend) {
        s->bad = 1;
        return MHD_YES;
    }
    for (const char *p = kend + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            s->bad = 1;
    s->end = value + strlen(value);
    return MHD_YES;
}

const char *http_conn_check(const struct http_req *r, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    struct http_conn_scan s = { 0 };
    if (ci && ci->header_size) {
        s.lo = method;
        s.hi = method + ci->header_size;
    }
    int in_buf = s.lo && http_conn_in(&s, url) && http_conn_in(&s, version);
    if (in_buf) {
        /* method NUL(was ' ') [spaces] target NUL(was ' ') version */
        for (const char *p = method + strlen(method) + 1; p < url; p++)
            if (*p != ' ')
                return "a NUL byte in the request line";
        if (!r->raw || url + r->in.rawlen + 1 != version)
            return "a NUL byte in the request target";
        s.end = version + strlen(version);
        MHD_get_connection_values(c, MHD_HEADER_KIND, http_conn_scan_header, &s);
        /* the last line end and the empty line: CR LF CR LF at most */
        if (s.bad || !http_conn_gap(&s, s.hi, 4) || s.hi - s.end < 2)
            return "a NUL byte or a folded line in the request headers";
    } else {
        s.end = NULL;
        MHD_get_connection_values(c, MHD_HEADER_KIND, http_conn_scan_header, &s);
        s.bad = 0; /* nothing to compare against: count Host only */
    }
    if (strcmp(version, "HTTP/1.1") == 0 && s.hosts == 0)
        return "an HTTP/1.1 request needs a Host header";
    if (s.hosts > 1)
        return "more than one Host header";
    return NULL;
}
