/* lh_http_curl.c - https:// through libcurl, loaded with dlopen at the
 * first https URL of the process (see lh_http_int.h): libcurl and its TLS
 * libraries are never loaded by a process that reads http:// servers only.
 *
 * Easy handles are created per lh_http_conn on first use, share one
 * process-wide connection cache (keep-alive across SQLite connections),
 * and a poller connection drives its long polls through a multi handle so
 * lh_http_wakeup can interrupt them.
 */
#include "lh_http_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LH_HTTP_ERRLEN >= CURL_ERROR_SIZE, "error buffer smaller than libcurl's");

/* The libcurl functions used, resolved from the library. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
} lc;
static int lc_ok; /* 1 once every function resolved */
static pthread_once_t lc_once = PTHREAD_ONCE_INIT;
static CURLSH *lc_share;
static pthread_mutex_t lc_share_mu[CURL_LOCK_DATA_LAST];

struct lh_curl {
    CURL *h;
    struct curl_slist *hdrs; /* Authorization, or NULL */
    CURLM *multi;            /* poller connections only */
};

static void lc_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *ud)
{
    (void)c, (void)a, (void)ud;
    pthread_mutex_lock(&lc_share_mu[d]);
}

static void lc_unlock(CURL *c, curl_lock_data d, void *ud)
{
    (void)c, (void)ud;
    pthread_mutex_unlock(&lc_share_mu[d]);
}

#define LC_SYM(field, name)                               \
    do {                                                  \
        *(void **)(&lc.field) = dlsym(lib, "curl_" name); \
        if (!lc.field)                                    \
            return;                                       \
    } while (0)

static void lc_load(void)
{
    static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", NULL };
    void *lib = NULL;
    for (int i = 0; names[i] && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    LC_SYM(global_init, "global_init");
    LC_SYM(easy_init, "easy_init");
    LC_SYM(easy_setopt, "easy_setopt");
    LC_SYM(easy_perform, "easy_perform");
    LC_SYM(easy_getinfo, "easy_getinfo");
    LC_SYM(easy_cleanup, "easy_cleanup");
    LC_SYM(easy_strerror, "easy_strerror");
    LC_SYM(slist_append, "slist_append");
    LC_SYM(slist_free_all, "slist_free_all");
    LC_SYM(multi_init, "multi_init");
    LC_SYM(multi_add_handle, "multi_add_handle");
    LC_SYM(multi_remove_handle, "multi_remove_handle");
    LC_SYM(multi_perform, "multi_perform");
    LC_SYM(multi_poll, "multi_poll");
    LC_SYM(multi_wakeup, "multi_wakeup");
    LC_SYM(multi_info_read, "multi_info_read");
    LC_SYM(multi_cleanup, "multi_cleanup");
    LC_SYM(share_init, "share_init");
    LC_SYM(share_setopt, "share_setopt");
    if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&lc_share_mu[i], NULL);
    if ((lc_share = lc.share_init()) != NULL) {
        lc.share_setopt(lc_share, CURLSHOPT_LOCKFUNC, lc_lock);
        lc.share_setopt(lc_share, CURLSHOPT_UNLOCKFUNC, lc_unlock);
        lc.share_setopt(lc_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        lc.share_setopt(lc_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
    lc_ok = 1; /* the library stays loaded for the life of the process */
}

static size_t lc_write_cb(char *ptr, size_t sz, size_t nm, void *ud)
{
    size_t len = sz * nm;
    return lh_http_resp_append(ud, ptr, len) == 0 ? len : 0;
}

static size_t lc_header_cb(char *ptr, size_t sz, size_t nm, void *ud)
{
    size_t len = sz * nm, l = len;
    while (l > 0 && (ptr[l - 1] == '\r' || ptr[l - 1] == '\n'))
        l--;
    lh_http_header_line(ud, ptr, l);
    return len;
}

/* h's easy handle, set up on first use; NULL (r->cc set) without libcurl. */
static struct lh_curl *lc_conn(lh_http_conn *h, lh_http_resp *r)
{
    pthread_once(&lc_once, lc_load);
    if (!lc_ok) {
        r->cc = CURLE_FAILED_INIT;
        snprintf(r->cerr, sizeof r->cerr, "https:// needs libcurl (libcurl.so.4), which could not be loaded");
        return NULL;
    }
    if (h->curl)
        return h->curl;
    struct lh_curl *c = calloc(1, sizeof *c);
    if (!c || !(c->h = lc.easy_init()) || (h->poller && !(c->multi = lc.multi_init()))) {
        if (c && c->h)
            lc.easy_cleanup(c->h);
        free(c);
        r->cc = CURLE_OUT_OF_MEMORY;
        return NULL;
    }
    if (h->auth) {
        char line[LH_HTTP_ERRLEN + 64];
        size_t need = strlen(h->auth) + 32;
        char *l = need <= sizeof line ? line : malloc(need);
        if (l) {
            snprintf(l, need, "Authorization: %s", h->auth);
            c->hdrs = lc.slist_append(NULL, l);
            if (l != line)
                free(l);
        }
    }
    lc.easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    lc.easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
    lc.easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    lc.easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    lc.easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
    lc.easy_setopt(c->h, CURLOPT_USERAGENT, "ltxhttp-vfs/0.1");
    lc.easy_setopt(c->h, CURLOPT_WRITEFUNCTION, lc_write_cb);
    lc.easy_setopt(c->h, CURLOPT_HEADERFUNCTION, lc_header_cb);
    if (h->cafile)
        lc.easy_setopt(c->h, CURLOPT_CAINFO, h->cafile);
    if (!h->poller && lc_share) /* the watcher's long polls keep their own connection */
        lc.easy_setopt(c->h, CURLOPT_SHARE, lc_share);
    h->curl = c;
    return c;
}

/* The finished transfer's result on c's multi handle into r->cc. */
static void lc_multi_result(struct lh_curl *c, lh_http_resp *r)
{
    CURLMsg *m;
    int q;
    while ((m = lc.multi_info_read(c->multi, &q)))
        if (m->msg == CURLMSG_DONE)
            r->cc = (int)m->data.result;
}

/* A poll-mode transfer on the multi handle. -1 if abandoned. */
static int lc_multi(struct lh_curl *c, const lh_http_req *q, lh_http_resp *r)
{
    if (lc.multi_add_handle(c->multi, c->h) != CURLM_OK) {
        r->cc = CURLE_FAILED_INIT;
        return 0;
    }
    int running = 1, stopped = 0, connected = 0;
    r->cc = CURLE_OK;
    for (;;) {
        if (lc.multi_perform(c->multi, &running) != CURLM_OK) {
            r->cc = CURLE_FAILED_INIT;
            break;
        }
        if (!running)
            break;
        curl_off_t ct = 0;
        int now_connected =
            !connected && lc.easy_getinfo(c->h, CURLINFO_CONNECT_TIME_T, &ct) == CURLE_OK && ct > 0;
        if (now_connected)
            connected = r->connected = 1;
        if ((stopped = q->tick(q->ud, now_connected)) != 0)
            break;
        if (lc.multi_poll(c->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            r->cc = CURLE_FAILED_INIT;
            break;
        }
    }
    lc_multi_result(c, r);
    lc.multi_remove_handle(c->multi, c->h);
    return stopped ? -1 : 0;
}

int lh_http_curl(lh_http_conn *h, const lh_http_req *q, lh_http_resp *r)
{
    struct lh_curl *c = lc_conn(h, r);
    if (!c)
        return 0;
    struct curl_slist *hd = NULL;
    lc.easy_setopt(c->h, CURLOPT_URL, q->url);
    lc.easy_setopt(c->h, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    lc.easy_setopt(c->h, CURLOPT_WRITEDATA, r);
    lc.easy_setopt(c->h, CURLOPT_HEADERDATA, r);
    lc.easy_setopt(c->h, CURLOPT_ERRORBUFFER, r->cerr);
    if (q->body) {
        for (struct curl_slist *s = c->hdrs; s; s = s->next)
            hd = lc.slist_append(hd, s->data);
        hd = lc.slist_append(hd, "Content-Type: application/octet-stream");
        hd = lc.slist_append(hd, "Expect:");
        lc.easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
        lc.easy_setopt(c->h, CURLOPT_POSTFIELDS, q->body);
        lc.easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->blen);
    } else {
        lc.easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
        lc.easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    }
    int rc = 0;
    if (q->tick && c->multi) {
        rc = lc_multi(c, q, r);
    } else {
        r->cc = (int)lc.easy_perform(c->h);
        curl_off_t ct = 0;
        r->connected =
            r->cc == CURLE_OK || (lc.easy_getinfo(c->h, CURLINFO_CONNECT_TIME_T, &ct) == CURLE_OK && ct > 0);
    }
    if (rc == 0 && r->cc == CURLE_OK)
        lc.easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (q->body) {
        lc.easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
        lc.easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
        lc.slist_free_all(hd);
    }
    return rc;
}

void lh_http_curl_wakeup(lh_http_conn *h)
{
    if (h->curl && h->curl->multi)
        lc.multi_wakeup(h->curl->multi);
}

void lh_http_curl_close(lh_http_conn *h)
{
    struct lh_curl *c = h->curl;
    if (!c)
        return;
    if (c->multi)
        lc.multi_cleanup(c->multi);
    if (c->h)
        lc.easy_cleanup(c->h);
    lc.slist_free_all(c->hdrs);
    free(c);
    h->curl = NULL;
}

const char *lh_http_strerror(int cc)
{
    if (lc_ok)
        return lc.easy_strerror((CURLcode)cc);
    switch (cc) {
    case CURLE_OK: return "No error";
    case CURLE_URL_MALFORMAT: return "URL using bad/illegal format or missing URL";
    case CURLE_COULDNT_RESOLVE_HOST: return "Couldn't resolve host name";
    case CURLE_COULDNT_CONNECT: return "Couldn't connect to server";
    case CURLE_PARTIAL_FILE: return "Transferred a partial file";
    case CURLE_WRITE_ERROR: return "Failed writing received data to disk/application";
    case CURLE_OUT_OF_MEMORY: return "Out of memory";
    case CURLE_OPERATION_TIMEDOUT: return "Timeout was reached";
    case CURLE_GOT_NOTHING: return "Server returned nothing (no headers, no data)";
    case CURLE_SEND_ERROR: return "Failed sending data to the peer";
    case CURLE_RECV_ERROR: return "Failure when receiving data from the peer";
    default: return "transport error";
    }
}
