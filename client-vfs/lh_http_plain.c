/* lh_http_plain.c - HTTP/1.1 over plain sockets for http:// servers (see
 * lh_http_int.h): what a reader needs and no more, so a short-lived
 * process pays for a socket, not for loading libcurl and TLS.
 *
 * One request at a time per call; keep-alive connections go back to a
 * small process-wide pool (LH_PLAIN_POOL idle connections, closed after
 * LH_PLAIN_IDLE_MS) that every connection of the process shares. A pooled
 * connection the server closed meanwhile is noticed before reuse, or (a
 * request sent and nothing answered) the request is sent again once on a
 * new connection, as libcurl does. Bodies: Content-Length, chunked, or up
 * to the end of the connection; capped by the response's body buffer.
 * Headers: at most LH_PLAIN_HDR_MAX bytes. Timeouts: connect_timeout_ms
 * for the connection, timeout_ms for the whole transfer. Results and error
 * texts follow libcurl's (CURLcode numbers), so lh_http.c maps both
 * transports to SQLite codes the same way.
 */
#include "lh_http_int.h"

#include "../proto/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LH_PLAIN_HDR_MAX 16384 /* bytes of a response's header section, and the read buffer */
#define LH_PLAIN_POOL    8     /* idle keep-alive connections kept */
#define LH_PLAIN_IDLE_MS 20000 /* an idle connection older than this is closed, not reused */
#define LH_PLAIN_HOSTLEN 256
#define LH_PLAIN_HEAD    (LTXW_MAX_URL + 1024) /* bytes of a request head */

/* ------------------------------------------------------------------ pool */

struct lh_plain_idle {
    char host[LH_PLAIN_HOSTLEN], port[8];
    int fd;
    int64_t since;
};

static pthread_mutex_t lh_plain_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lh_plain_idle lh_plain_pool[LH_PLAIN_POOL];
static int lh_plain_npool;
static unsigned lh_plain_forks; /* lh_http_forks() of the pooled connections' process */

/* After fork() the pool's connections are the parent's: never shared. */
static void lh_plain_forked(void)
{
    unsigned now = lh_http_forks();
    if (lh_plain_forks == now)
        return;
    for (int i = 0; i < lh_plain_npool; i++)
        close(lh_plain_pool[i].fd);
    lh_plain_npool = 0;
    lh_plain_forks = now;
}

/* An idle connection to host:port that still looks open, or -1. */
static int lh_plain_take(const char *host, const char *port)
{
    int64_t now = lh_http_now_ms();
    pthread_mutex_lock(&lh_plain_mu);
    lh_plain_forked();
    int fd = -1;
    for (int i = lh_plain_npool - 1; i >= 0 && fd < 0; i--) {
        struct lh_plain_idle *e = &lh_plain_pool[i];
        if (strcmp(e->host, host) != 0 || strcmp(e->port, port) != 0)
            continue;
        int cand = e->fd;
        int stale = now - e->since > LH_PLAIN_IDLE_MS;
        memmove(e, e + 1, (size_t)(lh_plain_npool - i - 1) * sizeof *e);
        lh_plain_npool--;
        struct pollfd p = { cand, POLLIN, 0 };
        if (stale || poll(&p, 1, 0) != 0) /* closed by the server, or bytes nobody asked for */
            close(cand);
        else
            fd = cand;
    }
    pthread_mutex_unlock(&lh_plain_mu);
    return fd;
}

/* Keep fd (a finished keep-alive connection) for the next request. */
static void lh_plain_give(const char *host, const char *port, int fd)
{
    pthread_mutex_lock(&lh_plain_mu);
    lh_plain_forked();
    if (lh_plain_npool == LH_PLAIN_POOL) { /* drop the oldest */
        close(lh_plain_pool[0].fd);
        memmove(lh_plain_pool, lh_plain_pool + 1, (LH_PLAIN_POOL - 1) * sizeof lh_plain_pool[0]);
        lh_plain_npool--;
    }
    struct lh_plain_idle *e = &lh_plain_pool[lh_plain_npool++];
    snprintf(e->host, sizeof e->host, "%s", host);
    snprintf(e->port, sizeof e->port, "%s", port);
    e->fd = fd;
    e->since = lh_http_now_ms();
    pthread_mutex_unlock(&lh_plain_mu);
}

/* --------------------------------------------------------------- waiting */

struct lh_plain_io {
    const lh_http_req *q;
    lh_http_conn *h;
    lh_http_resp *r;
    int64_t start, deadline, last_tick;
    int fd;
    size_t got; /* response bytes received */
};

/* Wait until fd is ready for events: 0, or a CURLcode (timeout, abandoned). */
static int lh_plain_wait(struct lh_plain_io *io, short events)
{
    for (;;) {
        int64_t now = lh_http_now_ms();
        if (now >= io->deadline)
            return CURLE_OPERATION_TIMEDOUT;
        long wait = (long)(io->deadline - now);
        if (io->q->tick) {
            if (now - io->last_tick >= 1000) {
                io->last_tick = now;
                if (io->q->tick(io->q->ud, 0))
                    return CURLE_ABORTED_BY_CALLBACK;
            }
            if (wait > 1000)
                wait = 1000;
        }
        struct pollfd p[2] = { { io->fd, events, 0 }, { io->h->wake[0], POLLIN, 0 } };
        int np = io->q->tick && io->h->wake[0] >= 0 ? 2 : 1;
        int n = poll(p, (nfds_t)np, (int)wait);
        if (n < 0 && errno != EINTR)
            return CURLE_RECV_ERROR;
        if (n > 0 && np == 2 && (p[1].revents & POLLIN)) {
            char b[64];
            while (read(io->h->wake[0], b, sizeof b) > 0) {
            }
            io->last_tick = lh_http_now_ms();
            if (io->q->tick(io->q->ud, 0))
                return CURLE_ABORTED_BY_CALLBACK;
        }
        if (n > 0 && p[0].revents)
            return 0;
    }
}

/* After a send or recv failed with errno: 0 to try again (interrupted, or
 * the socket is ready now), -1 for a failure of the call itself, else the
 * wait's error. */
static int lh_plain_again(struct lh_plain_io *io, short events)
{
    if (errno == EINTR)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return lh_plain_wait(io, events);
    return -1;
}

static int lh_plain_send(struct lh_plain_io *io, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(io->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        int rc = k < 0 ? lh_plain_again(io, POLLOUT) : -1;
        if (rc == 0)
            continue;
        if (rc > 0)
            return rc;
        snprintf(io->r->cerr, sizeof io->r->cerr, "Send failure: %s", strerror(errno));
        return CURLE_SEND_ERROR;
    }
    return 0;
}

/* Up to cap bytes into buf: *n = bytes (0 at the end of the connection). */
static int lh_plain_recv(struct lh_plain_io *io, char *buf, size_t cap, size_t *n)
{
    for (;;) {
        ssize_t k = recv(io->fd, buf, cap, 0);
        if (k >= 0) {
            *n = (size_t)k;
            io->got += (size_t)k;
            return 0;
        }
        int rc = lh_plain_again(io, POLLIN);
        if (rc == 0)
            continue;
        if (rc > 0)
            return rc;
        snprintf(io->r->cerr, sizeof io->r->cerr, "Recv failure: %s", strerror(errno));
        return CURLE_RECV_ERROR;
    }
}

/* ------------------------------------------------------------ connecting */

/* http://host[:port][/path]: host (no brackets), port and path. 0, or -1. */
static int lh_plain_url(const char *url, char *host, char *port, const char **path)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *a = url + 7, *end = a + strcspn(a, "/?#");
    const char *hs = a, *he, *colon;
    if (*a == '[') {
        hs = a + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return -1;
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
        he = colon ? colon : end;
    }
    size_t hl = (size_t)(he - hs), pl = colon ? (size_t)(end - colon - 1) : 2;
    if (hl == 0 || hl >= LH_PLAIN_HOSTLEN || pl == 0 || pl > 5)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = 0;
    if (colon) {
        memcpy(port, colon + 1, pl);
        port[pl] = 0;
    } else {
        strcpy(port, "80");
    }
    *path = *end == '/' ? end : "/";
    return 0;
}

/* A new connection to host:port within connect_timeout_ms: 0 (io->fd), or
 * a CURLcode with its text. */
static int lh_plain_connect(struct lh_plain_io *io, const char *host, const char *port)
{
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV; /* an address needs no resolver */
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        if (getaddrinfo(host, port, &hints, &ai) != 0) {
            snprintf(io->r->cerr, sizeof io->r->cerr, "Could not resolve host: %.100s", host);
            return CURLE_COULDNT_RESOLVE_HOST;
        }
    }
    int64_t cdl = io->start + io->h->connect_timeout_ms;
    int rc = CURLE_COULDNT_CONNECT, err = ECONNREFUSED;
    for (struct addrinfo *a = ai; a && io->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        io->fd = fd;
        int64_t saved = io->deadline;
        io->deadline = cdl < saved ? cdl : saved;
        int w = lh_plain_wait(io, POLLOUT);
        io->deadline = saved;
        socklen_t sl = sizeof err;
        if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
            break;
        io->fd = -1;
        close(fd);
        if (w) {
            rc = w;
            break;
        }
    }
    freeaddrinfo(ai);
    if (io->fd >= 0)
        return 0;
    long took = (long)(lh_http_now_ms() - io->start);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(io->r->cerr, sizeof io->r->cerr, "Connection timed out after %ld milliseconds", took);
    else if (rc == CURLE_COULDNT_CONNECT)
        snprintf(io->r->cerr, sizeof io->r->cerr, "Failed to connect to %.100s port %s after %ld ms: %.60s",
                 host, port, took, strerror(err));
    return rc;
}

/* -------------------------------------------------------------- response */

struct lh_plain_rd {
    char b[LH_PLAIN_HDR_MAX];
    size_t pos, len;
};

/* More bytes into rd (compacted first): 0 with *n (0 at the end), or a CURLcode. */
static int lh_plain_fill(struct lh_plain_io *io, struct lh_plain_rd *rd, size_t *n)
{
    if (rd->pos > 0) {
        memmove(rd->b, rd->b + rd->pos, rd->len - rd->pos);
        rd->len -= rd->pos;
        rd->pos = 0;
    }
    if (rd->len == sizeof rd->b) {
        snprintf(io->r->cerr, sizeof io->r->cerr, "response line or headers too long");
        return CURLE_RECV_ERROR;
    }
    int rc = lh_plain_recv(io, rd->b + rd->len, sizeof rd->b - rd->len, n);
    rd->len += rc ? 0 : *n;
    return rc;
}

/* The next line (without CR LF) at *line, *ll bytes. 0, or a CURLcode. */
static int lh_plain_line(struct lh_plain_io *io, struct lh_plain_rd *rd, const char **line, size_t *ll)
{
    for (;;) {
        char *nl = memchr(rd->b + rd->pos, '\n', rd->len - rd->pos);
        if (nl) {
            *line = rd->b + rd->pos;
            *ll = (size_t)(nl - *line);
            if (*ll > 0 && (*line)[*ll - 1] == '\r')
                (*ll)--;
            rd->pos = (size_t)(nl - rd->b) + 1;
            return 0;
        }
        size_t n;
        int rc = lh_plain_fill(io, rd, &n);
        if (rc)
            return rc;
        if (n == 0) {
            snprintf(io->r->cerr, sizeof io->r->cerr,
                     io->got ? "connection closed in a response" : "Empty reply from server");
            return io->got ? CURLE_RECV_ERROR : CURLE_GOT_NOTHING;
        }
    }
}

/* want bytes of body (SIZE_MAX: up to the end of the connection) into r. */
static int lh_plain_body(struct lh_plain_io *io, struct lh_plain_rd *rd, size_t want)
{
    while (want > 0) {
        if (rd->pos == rd->len) {
            size_t n;
            int rc = lh_plain_fill(io, rd, &n);
            if (rc)
                return rc;
            if (n == 0) {
                if (want == SIZE_MAX)
                    return 0;
                snprintf(io->r->cerr, sizeof io->r->cerr, "transfer closed with %zu bytes remaining to read",
                         want);
                return CURLE_PARTIAL_FILE;
            }
        }
        size_t k = rd->len - rd->pos;
        if (k > want)
            k = want;
        if (lh_http_resp_append(io->r, rd->b + rd->pos, k) != 0)
            return CURLE_WRITE_ERROR;
        rd->pos += k;
        if (want != SIZE_MAX)
            want -= k;
    }
    return 0;
}

static int lh_plain_chunked(struct lh_plain_io *io, struct lh_plain_rd *rd)
{
    for (;;) {
        const char *line;
        size_t ll;
        int rc = lh_plain_line(io, rd, &line, &ll);
        if (rc)
            return rc;
        char num[20];
        size_t nl = strspn(line, "0123456789abcdefABCDEF");
        if (nl == 0 || nl > 15 || nl > ll)
            return CURLE_RECV_ERROR;
        memcpy(num, line, nl);
        num[nl] = 0;
        size_t n = (size_t)strtoull(num, NULL, 16);
        if (n == 0)
            break;
        if ((rc = lh_plain_body(io, rd, n)) != 0 || (rc = lh_plain_line(io, rd, &line, &ll)) != 0)
            return rc;
    }
    for (;;) { /* trailer fields, up to the empty line */
        const char *line;
        size_t ll;
        int rc = lh_plain_line(io, rd, &line, &ll);
        if (rc || ll == 0)
            return rc;
    }
}

/* 1 if the header line is name: a value containing token (any case). */
static int lh_plain_hdr_has(const char *line, size_t ll, const char *name, const char *token)
{
    size_t n = strlen(name);
    if (ll <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    for (size_t i = n + 1; i + strlen(token) <= ll; i++)
        if (strncasecmp(line + i, token, strlen(token)) == 0)
            return 1;
    return 0;
}

/* Status line, headers and body into r. *reuse: the connection may serve
 * another request. 0, or a CURLcode. */
static int lh_plain_response(struct lh_plain_io *io, int head_only, int *reuse)
{
    struct lh_plain_rd *rd = malloc(sizeof *rd);
    if (!rd)
        return CURLE_OUT_OF_MEMORY;
    rd->pos = rd->len = 0;
    const char *line;
    size_t ll;
    int rc, minor = 0, close_after = 0, chunked = 0;
    int64_t clen = -1;
    do { /* 1xx answers are skipped */
        if ((rc = lh_plain_line(io, rd, &line, &ll)) != 0)
            goto out;
        long st;
        if (ll < 12 || strncmp(line, "HTTP/1.", 7) != 0 || sscanf(line + 7, "%d %ld", &minor, &st) != 2) {
            snprintf(io->r->cerr, sizeof io->r->cerr, "not an HTTP/1.x answer");
            rc = CURLE_WEIRD_SERVER_REPLY;
            goto out;
        }
        io->r->status = st;
        close_after = minor == 0, chunked = 0, clen = -1;
        while ((rc = lh_plain_line(io, rd, &line, &ll)) == 0 && ll > 0) {
            lh_http_header_line(io->r, line, ll);
            if (ll > 15 && strncasecmp(line, "Content-Length:", 15) == 0)
                clen = strtoll(line + 15, NULL, 10);
            if (lh_plain_hdr_has(line, ll, "Transfer-Encoding", "chunked"))
                chunked = 1;
            if (lh_plain_hdr_has(line, ll, "Connection", "close"))
                close_after = 1;
            else if (lh_plain_hdr_has(line, ll, "Connection", "keep-alive"))
                close_after = 0;
        }
        if (rc)
            goto out;
    } while (io->r->status >= 100 && io->r->status < 200);
    long st = io->r->status;
    if (head_only || st == 204 || st == 304)
        rc = 0;
    else if (chunked)
        rc = lh_plain_chunked(io, rd);
    else if (clen >= 0)
        rc = lh_plain_body(io, rd, (size_t)clen);
    else {
        close_after = 1;
        rc = lh_plain_body(io, rd, SIZE_MAX);
    }
    *reuse = rc == 0 && !close_after && rd->pos == rd->len;
out:
    free(rd);
    return rc;
}

/* ---------------------------------------------------------------- request */

/* The request head into buf (cap bytes). Its length, or 0 if too long. */
static size_t lh_plain_head(const lh_http_conn *h, const lh_http_req *q, const char *url, const char *path,
                            char *buf, size_t cap)
{
    const char *auth = url + 7, *aend = auth + strcspn(auth, "/?#");
    int n =
        snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: ltxhttp-vfs/0.1\r\nAccept: */*\r\n",
                 q->method, path, (int)(aend - auth), auth);
    if (n > 0 && (size_t)n < cap && h->auth)
        n += snprintf(buf + n, cap - (size_t)n, "Authorization: %s\r\n", h->auth);
    if (n > 0 && (size_t)n < cap && q->body)
        n += snprintf(buf + n, cap - (size_t)n,
                      "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n", q->blen);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "\r\n");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int lh_http_plain(lh_http_conn *h, const lh_http_req *q, lh_http_resp *r)
{
    char host[LH_PLAIN_HOSTLEN], port[8];
    const char *path;
    struct lh_plain_io io = { q, h, r, lh_http_now_ms(), 0, 0, -1, 0 };
    io.deadline = io.start + q->timeout_ms;
    io.last_tick = io.start;
    char head[LH_PLAIN_HEAD];
    size_t hl;
    if (lh_plain_url(q->url, host, port, &path) != 0 ||
        !(hl = lh_plain_head(h, q, q->url, path, head, sizeof head))) {
        snprintf(r->cerr, sizeof r->cerr, "URL rejected: %.200s", q->url);
        r->cc = CURLE_URL_MALFORMAT;
        return 0;
    }
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        io.fd = lh_plain_take(host, port);
        int reused = io.fd >= 0;
        if (!reused && (rc = lh_plain_connect(&io, host, port)) != 0)
            break;
        r->connected = 1;
        if (q->tick && q->tick(q->ud, 1)) {
            rc = CURLE_ABORTED_BY_CALLBACK;
        } else {
            io.got = 0;
            int reuse = 0;
            rc = lh_plain_send(&io, head, hl);
            if (!rc && q->body)
                rc = lh_plain_send(&io, q->body, q->blen);
            if (!rc)
                rc = lh_plain_response(&io, 0, &reuse);
            if (!rc && reuse) {
                lh_plain_give(host, port, io.fd);
                io.fd = -1;
            }
        }
        if (io.fd >= 0)
            close(io.fd);
        io.fd = -1;
        /* a pooled connection the server had closed: once more on a new one */
        if (!(reused && io.got == 0 &&
              (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)))
            break;
        lh_http_resp_reset(r);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT && r->connected && !r->cerr[0])
        snprintf(r->cerr, sizeof r->cerr,
                 "Operation timed out after %ld milliseconds with %zu bytes received",
                 (long)(lh_http_now_ms() - io.start), io.got);
    r->cc = rc;
    if (rc == CURLE_ABORTED_BY_CALLBACK && q->tick)
        return -1;
    return 0;
}
