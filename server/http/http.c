/* http.c - ltxpaged's HTTP API v1 on libmicrohttpd: the daemon and its
 * connection callbacks (request start, access handler, completion).
 *
 * Everything about what an answer is lives in the other files of this
 * directory (see http_int.h); this file turns libmicrohttpd's calls into
 * a plain struct http_request, hands it to http_route_dispatch, and
 * queues answers that a loader thread prepared while the connection was
 * suspended. It also sizes the daemon: thread pool, connection limit
 * (from the open-file limit), loaders and the long-poll waker. */
#include "http_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- the plain request ---- */

/* Where each query parameter and header we use goes in struct
 * http_request. libmicrohttpd compares names without case (also query
 * parameters) and returns the first match: so do we. */
#define HTTP_Q(f) offsetof(struct http_request, q.f)
#define HTTP_H(f) offsetof(struct http_request, hdr.f)
static const struct {
    enum MHD_ValueKind kind;
    const char *name;
    size_t off;
} http_values[] = {
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_TXID, HTTP_Q(txid) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_PAGES, HTTP_Q(pages) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_JOURNAL, HTTP_Q(journal) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_SINCE, HTTP_Q(since) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_WAIT, HTTP_Q(wait) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_TIME, HTTP_Q(time) },
    { MHD_GET_ARGUMENT_KIND, "pin", HTTP_Q(pin) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_BASE, HTTP_Q(base) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_TO, HTTP_Q(to) },
    { MHD_GET_ARGUMENT_KIND, LTXW_Q_BTREE, HTTP_Q(btree) },
    { MHD_HEADER_KIND, "Authorization", HTTP_H(authorization) },
    { MHD_HEADER_KIND, "Accept", offsetof(struct http_request, accept) },
    { MHD_HEADER_KIND, "If-None-Match", HTTP_H(if_none_match) },
    { MHD_HEADER_KIND, "Range", HTTP_H(range) },
    { MHD_HEADER_KIND, "If-Range", HTTP_H(if_range) },
    { MHD_HEADER_KIND, "If-Match", HTTP_H(if_match) },
    { MHD_HEADER_KIND, "Origin", HTTP_H(origin) },
    { MHD_HEADER_KIND, "Access-Control-Request-Method", HTTP_H(acr_method) },
};
#undef HTTP_Q
#undef HTTP_H
#define HTTP_NVALUES (sizeof http_values / sizeof http_values[0])

struct http_fill {
    struct http_request *in;
    unsigned seen; /* bit i: http_values[i] was found */
};

static enum MHD_Result http_fill_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct http_fill *f = cls;
    for (size_t i = 0; key && i < HTTP_NVALUES; i++)
        if (kind == http_values[i].kind && !(f->seen & (1u << i)) &&
            strcasecmp(key, http_values[i].name) == 0) {
            f->seen |= 1u << i;
            *(const char **)(void *)((char *)f->in + http_values[i].off) = value;
        }
    return MHD_YES;
}

void http_request_fill(struct http_req *r, struct MHD_Connection *c, const char *url, const char *method)
{
    struct http_request *in = &r->in;
    in->method = method;
    in->url = url;
    in->raw = r->raw;
    memset(&in->q, 0, sizeof in->q);
    memset(&in->hdr, 0, sizeof in->hdr);
    in->accept = NULL;
    struct http_fill f = { in, 0 };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND | MHD_HEADER_KIND, http_fill_value, &f);
    r->conn = c;
    r->filled = 1;
}

/* ---- libmicrohttpd callbacks ---- */

/* A resumed request that a loader ran: queue its answer. */
static enum MHD_Result http_queue_loaded(struct http *h, struct http_req *r, struct MHD_Connection *c)
{
    r->offloaded = 0;
    struct MHD_Response *resp = r->dresp;
    r->dresp = NULL;
    if (r->job_pending) {
        r->job_pending = 0;
        atomic_fetch_sub(&h->pending_jobs, 1);
    }
    if (r->job_rc != MHD_YES || !resp) {
        if (resp)
            MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->dstatus, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The first call for a request (its headers are complete): 1 when it is
 * answered at once (*rc): a malformed request (400), or a method that no
 * route takes for this path (405) before any body is read or 100
 * Continue sent. A method a route does take (a write) goes on as usual. */
static int http_access_first(struct http *h, struct http_req *r, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, enum MHD_Result *rc)
{
    http_conn_headers_done(c);
    const char *bad = http_conn_check(r, c, url, method, version);
    int other = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "OPTIONS") != 0;
    if (!bad && !other)
        return 0;
    http_request_fill(r, c, url, method);
    if (!bad && http_route_method_allowed(&r->in))
        return 0;
    r->route = HTTP_R_OTHER;
    if (bad)
        *rc = http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST, "%s", bad);
    else
        *rc = http_route_dispatch(h, r); /* 405 (or 414/400 first) */
    return 1;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *upload_data, size_t *upload_size,
                                   void **con_cls)
{
    (void)upload_data;
    struct http *h = cls;
    struct http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
    }
    if (r->calls == 0 && strcmp(method, "POST") == 0)
        http_write_begin(h, r, c);
    if (*upload_size) {
        http_write_upload(r, upload_data, *upload_size); /* other bodies are ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    /* libmicrohttpd 0.9.75 closes keep-alive connections whose response is
     * queued on the first call: answer on the second, except when the
     * connection should close anyway (a bad request, a body not wanted). */
    if (r->calls++ == 0) {
        enum MHD_Result rc;
        if (http_access_first(h, r, c, url, method, version, &rc))
            return rc;
        return MHD_YES;
    }
    if (r->offloaded)
        return http_queue_loaded(h, r, c);
    if (!r->filled)
        http_request_fill(r, c, url, method);
    r->suspended = 0;
    return http_route_dispatch(h, r);
}

/* The request line arrived: keep its raw target (checks that
 * percent-decoding would hide, logs) and the time. */
static void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t len = strlen(uri);
    r->in.rawlen = len;
    r->t0 = mono_ms();
    r->t0_ns = metrics_now_ns();
    size_t keep = len > LTXW_MAX_URL ? LTXW_MAX_URL : len;
    r->raw = malloc(keep + 1);
    if (r->raw) {
        memcpy(r->raw, uri, keep);
        r->raw[keep] = 0;
    }
    return r;
}

static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct http *h = cls;
    http_conn_request_done(h, c); /* the next request's headers: a new deadline */
    struct http_req *r = *con_cls;
    if (!r)
        return;
    http_changes_forget(h, r);
    if (r->dresp)
        MHD_destroy_response(r->dresp);
    if (r->job_pending)
        atomic_fetch_sub(&h->pending_jobs, 1);
    free(r->raw);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
        msg[--l] = 0;
    char q[600];
    logf_(LOG_WARN, "http_error", "error=%s", log_q(q, sizeof q, msg));
}

/* ---- start and stop ---- */

/* Connections at once: --max-connections, else what the open-file limit
 * allows (raised to its hard limit) minus room for the object store,
 * logs and the listening socket. libmicrohttpd's own default (~1020) is
 * too few when every client holds a long-poll. */
static unsigned http_connection_limit(int configured)
{
    struct rlimit rl;
    rlim_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
            struct rlimit nr = { want, rl.rlim_max };
            if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
                rl.rlim_cur = want;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
    }
    unsigned fit = nofile > 128 + 16 ? (unsigned)(nofile - 128 > 65536 ? 65536 : nofile - 128) : 16;
    if (configured <= 0)
        return fit;
    if ((unsigned)configured > fit)
        logf_(LOG_WARN, "connection_limit",
              "max_connections=%d open_file_limit=%llu msg=\"more connections than "
              "open files allow; raise the limit (ulimit -n, LimitNOFILE=)\"",
              configured, (unsigned long long)nofile);
    return (unsigned)configured;
}

struct http *http_new(srv *s)
{
    struct http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->s = s;
    pthread_mutex_init(&h->wmu, NULL);
    pthread_cond_init(&h->wcv, NULL);
    pthread_mutex_init(&h->jmu, NULL);
    pthread_cond_init(&h->jcv, NULL);
    pthread_mutex_init(&h->cwmu, NULL);
    pthread_cond_init(&h->cwcv, NULL);
    for (unsigned i = 0; i < HTTP_CONN_STRIPES; i++)
        pthread_mutex_init(&h->conns[i].mu, NULL);
    h->header_timeout_ms = s->cfg.header_timeout_ms > 0 ? s->cfg.header_timeout_ms : 10000;
    h->waiters.wnext = h->waiters.wprev = &h->waiters;
    http_cors_init(h);
    if (s->cfg.read_token && *s->cfg.read_token) {
        h->has_read = 1;
        h->private_cache = 1;
        http_auth_hash(s->cfg.read_token, h->read_hash);
    }
    if (s->cfg.write_token && *s->cfg.write_token) {
        h->has_write = 1;
        http_auth_hash(s->cfg.write_token, h->write_hash);
    }
    if (s->cfg.admin_token && *s->cfg.admin_token) {
        h->has_admin = 1;
        http_auth_hash(s->cfg.admin_token, h->admin_hash);
    }
    return h;
}

void http_free(struct http *h)
{
    pthread_mutex_destroy(&h->wmu);
    pthread_cond_destroy(&h->wcv);
    pthread_mutex_destroy(&h->jmu);
    pthread_cond_destroy(&h->jcv);
    pthread_mutex_destroy(&h->cwmu);
    pthread_cond_destroy(&h->cwcv);
    for (unsigned i = 0; i < HTTP_CONN_STRIPES; i++)
        pthread_mutex_destroy(&h->conns[i].mu);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
}

/* The listening socket, bound here so that a taken address fails start-up
 * with its own error: SO_REUSEADDR (a restart while old connections sit
 * in TIME_WAIT) but never SO_REUSEPORT (a second server on the same
 * address would share its traffic). -1 on failure (logged). */
static int http_listen_socket(const srv_config *cfg, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
        (ai->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0) &&
        bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    int err = errno;
    logf_(LOG_ERROR, "startup_error", "listen=\"%s:%d\" error=\"cannot listen: %s\"", cfg->listen_host,
          cfg->listen_port, err == EADDRINUSE ? "address in use" : strerror(err));
    if (fd >= 0)
        close(fd);
    return -1;
}

static struct MHD_Daemon *http_daemon(struct http *h, int lfd, int ipv6)
{
    const srv_config *cfg = &h->s->cfg;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls[] = {
        { h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    if (h->tls_cert)
        flags |= MHD_USE_TLS;
    return MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, http_access, h, MHD_OPTION_EXTERNAL_LOGGER,
        http_mhd_log, h, MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
        MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, h, MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_LIMIT, h->max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->max_per_client,
        MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

/* A whole PEM file (at most 1 MiB) as a string; NULL (logged) otherwise. */
static char *http_read_pem(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc((1u << 20) + 1) : NULL;
    size_t n = buf ? fread(buf, 1, 1u << 20, f) : 0;
    int ok = buf && n > 0 && n < (1u << 20) && !ferror(f);
    int err = errno;
    if (f)
        fclose(f);
    if (!ok) {
        free(buf);
        char q[600];
        logf_(LOG_ERROR, "startup_error", "%s=%s error=\"%s\"", what, log_q(q, sizeof q, path),
              !f ? strerror(err) : "empty, unreadable or larger than 1 MiB");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* --tls-cert and --tls-key: both or neither. 0 ok, -1 (logged). */
static int http_tls_load(struct http *h, const srv_config *cfg)
{
    int cert = cfg->tls_cert && *cfg->tls_cert, key = cfg->tls_key && *cfg->tls_key;
    if (!cert && !key)
        return 0;
    if (cert != key) {
        logf_(LOG_ERROR, "startup_error", "error=\"--tls-cert and --tls-key go together\"");
        return -1;
    }
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        logf_(LOG_ERROR, "startup_error", "error=\"this libmicrohttpd has no TLS support\"");
        return -1;
    }
    h->tls_cert = http_read_pem(cfg->tls_cert, "tls_cert");
    h->tls_key = h->tls_cert ? http_read_pem(cfg->tls_key, "tls_key") : NULL;
    return h->tls_key ? 0 : -1;
}

/* Connections at once from one address: --max-client-connections, else
 * all but 1/16 of the connections (at least 2 kept for other addresses). */
static unsigned http_per_client_limit(int configured, unsigned max_conns)
{
    if (configured > 0)
        return (unsigned)configured < max_conns ? (unsigned)configured : max_conns;
    unsigned keep = max_conns / 16 > 2 ? max_conns / 16 : 2;
    return max_conns > keep + 1 ? max_conns - keep : 1;
}

int http_start(srv *s)
{
    struct http *h = http_new(s);
    if (!h)
        return -1;
    if (!h->has_read)
        logf_(LOG_WARN, "auth_open",
              "msg=\"no --read-token: database routes are open to anyone who can connect\"");
    if (!h->has_admin)
        logf_(LOG_WARN, "auth_open",
              "msg=\"no --admin-token: /admin and /metrics are open to anyone who can connect\"");
    if (http_tls_load(h, &s->cfg)) {
        http_free(h);
        return -1;
    }
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.listen_port);
    int gr = getaddrinfo(s->cfg.listen_host[0] ? s->cfg.listen_host : NULL, port, &hints, &ai);
    if (gr != 0 || !ai) {
        logf_(LOG_ERROR, "startup_error", "listen=\"%s:%d\" error=\"%s\"", s->cfg.listen_host,
              s->cfg.listen_port, gai_strerror(gr));
        http_free(h);
        return -1;
    }
    int lfd = http_listen_socket(&s->cfg, ai);
    int ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (lfd < 0) {
        http_free(h);
        return -1;
    }
    h->max_conns = http_connection_limit(s->cfg.max_connections);
    h->max_per_client = http_per_client_limit(s->cfg.max_client_connections, h->max_conns);
    h->max_waiters = (size_t)h->max_conns * 3 / 4;
    s->http = h;
    s->on_new_txid = http_changes_on_new_txid;
    http_changes_start(h);
    http_loader_start(h, s->cfg.io_threads > 0 ? s->cfg.io_threads : 32);
    http_conn_start(h);
    h->d = http_daemon(h, lfd, ipv6);
    if (!h->d) {
        logf_(LOG_ERROR, "startup_error", "listen=\"%s:%d\" error=\"cannot start the HTTP daemon%s\"",
              s->cfg.listen_host, s->cfg.listen_port,
              h->tls_cert ? " (is the TLS certificate/key valid PEM?)" : "");
        close(lfd);
        http_stop(s);
        return -1;
    }
    logf_(LOG_INFO, "listening",
          "addr=\"%s:%d\" tls=%s threads=%d io_threads=%d max_connections=%u "
          "max_client_connections=%u max_long_polls=%zu header_timeout_ms=%lld",
          s->cfg.listen_host, s->cfg.listen_port, h->tls_cert ? "on" : "off", s->cfg.threads, h->nloaders,
          h->max_conns, h->max_per_client, h->max_waiters, (long long)h->header_timeout_ms);
    return 0;
}

void http_stop(srv *s)
{
    struct http *h = s->http;
    if (!h)
        return;
    s->on_new_txid = NULL;
    int lfd = h->d ? MHD_quiesce_daemon(h->d) : -1; /* ours to close once the daemon stops */
    http_changes_stop(h);                           /* answer every long-poll now */
    http_loader_stop(h); /* loaders finish what is queued (later requests run in place) */
    /* let the resumed long-polls and loaded requests send their answers
     * before the daemon closes the connections (at most 2 s) */
    for (int i = 0; i < 400 && (atomic_load(&h->pending_polls) > 0 || atomic_load(&h->pending_jobs) > 0);
         i++) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    http_conn_stop(h);
    if (h->d)
        MHD_stop_daemon(h->d);
    if (lfd >= 0)
        close(lfd);
    http_free(h);
    s->http = NULL;
}
