/* s3_backend.c - S3-compatible replicas over libcurl, signed with SigV4.
 *
 * Layout (LTX-FORMAT.md §2.1): <prefix>/<db>/<level %04x>/<min>-<max>.ltx,
 * no "ltx/" part. The prefix is the URL path without its leading '/'. With
 * db "" the prefix itself is the replica path, taken literally as Litestream
 * does (an empty prefix gives keys starting with '/').
 *
 * Connections are reused across calls and threads: a small pool of easy
 * handles plus a CURLSH sharing the connection cache, DNS and TLS sessions.
 * Retries: connection errors, timeouts, 5xx and 429, with exponential
 * backoff and jitter; never on other 4xx. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3_xml.h"
#include "sigv4.h"
#include "store_internal.h"

#define POOL_MAX 16
#define ERRBODY_CAP (64u * 1024u)      /* error documents we keep for the Code */
#define LIST_PAGE_CAP (16u * 1024u * 1024u)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000

struct s3ctx {
    char *bucket;
    char *prefix;        /* without leading '/'; trailing '/' trimmed */
    char *scheme_host;   /* "https://s3.us-east-1.amazonaws.com" or endpoint (no trailing '/') */
    char *host;          /* Host header value (with :port when not default) */
    char *base_path;     /* "/bucket" (path style) or "" (virtual host); plus endpoint path */
    char *region;
    char *access_key, *secret_key, *session_token; /* NULL = unsigned requests */
    struct curl_slist *connect_to; /* $LTXHTTP_S3_CONNECT_TO (like curl --connect-to) */
    long timeout_ms;
    int max_retries;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    int npool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u) {
    (void)h;
    (void)a;
    s3ctx *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&c->share_locks[d]);
}
static void share_unlock(CURL *h, curl_lock_data d, void *u) {
    (void)h;
    s3ctx *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&c->share_locks[d]);
}

static char *dup_env(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? strdup(v) : NULL;
}

static void free_secret(char *s) {
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* "true"/"1"/"yes" -> 1, "false"/"0"/"no" -> 0, else -1 */
static int parse_bool(const char *v) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) return 1;
    if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) return 0;
    return -1;
}

/* Decode %XX in a URL query value (in place). */
static void pct_decode(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char h[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else if (*s == '+') {
            *o++ = ' ';
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

static int is_ip_or_localhost(const char *host, size_t n) {
    if (n == 9 && strncmp(host, "localhost", 9) == 0) return 1;
    if (n > 0 && host[0] == '[') return 1; /* IPv6 literal */
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)host[i]) && host[i] != '.') return 0;
    return n > 0;
}

obj_status s3_open(objstore *s, const char *url, const objstore_opts *opts, obj_error *e) {
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return obj_fail(NULL, e, OBJ_ERR_IO, 0, "libcurl init failed");
    s3ctx *c = calloc(1, sizeof *c);
    if (!c) return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    s->s3 = c;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);

    /* s3://bucket[/prefix][?endpoint=..&region=..&forcePathStyle=true]; the
     * bucket part may also be Litestream's "bucket.host:port" (MinIO style)
     * or "bucket.s3[.-]<region>.amazonaws.com". */
    const char *p = url + 5;
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    const char *slash = memchr(p, '/', plen);
    size_t blen = slash ? (size_t)(slash - p) : plen;
    if (blen == 0 || blen > 255) return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 URL needs a bucket: %.180s", url);
    char hostpart[256];
    memcpy(hostpart, p, blen);
    hostpart[blen] = 0;
    char *host_endpoint = NULL, *host_region = NULL;
    int host_path_style = -1;
    char *aws = strstr(hostpart, ".amazonaws.com");
    if (strchr(hostpart, ':') && !strstr(hostpart, ".com")) {
        char *dot = strchr(hostpart, '.');
        if (!dot || is_ip_or_localhost(hostpart, strcspn(hostpart, ":")))
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                            "S3 URL needs a bucket (s3://bucket.host:port/prefix or ?endpoint=): %.150s", url);
        *dot = 0;
        size_t n = strlen(dot + 1) + 8;
        host_endpoint = malloc(n);
        if (host_endpoint) snprintf(host_endpoint, n, "http://%s", dot + 1);
        host_path_style = 1;
    } else if (aws && aws[14] == 0) {
        char *s3 = strstr(hostpart, ".s3.");
        if (!s3) s3 = strstr(hostpart, ".s3-");
        if (!s3 || s3 == hostpart)
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "unrecognised AWS host in %.180s", url);
        *s3 = 0;
        const char *r = s3 + 4; /* after ".s3." or ".s3-" */
        size_t rl = (size_t)(aws - r);
        if (aws > r && strncmp(r, "dualstack.", 10) != 0) host_region = strndup(r, rl);
    }
    c->bucket = strdup(hostpart);
    if (slash) {
        const char *pre = slash + 1;
        size_t n = plen - blen - 1;
        while (n > 0 && pre[n - 1] == '/') n--;
        c->prefix = strndup(pre, n);
    } else {
        c->prefix = strdup("");
    }
    if (!c->bucket || !c->prefix) {
        free(host_endpoint);
        free(host_region);
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    }
    int bad_bucket = !c->bucket[0];
    for (const char *b = c->bucket; *b; b++)
        if (!(isalnum((unsigned char)*b) || *b == '-' || *b == '.' || *b == '_')) bad_bucket = 1;
    if (bad_bucket) {
        free(host_endpoint);
        free(host_region);
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "invalid S3 bucket name in %.180s", url);
    }

    char *endpoint = NULL, *region = NULL;
    int path_style = opts ? opts->s3_path_style : -1;
    if (opts && opts->s3_endpoint && *opts->s3_endpoint) endpoint = strdup(opts->s3_endpoint);
    if (opts && opts->s3_region && *opts->s3_region) region = strdup(opts->s3_region);
    if (q) { /* Litestream-style URL parameters; explicit opts win */
        char *qs = strdup(q + 1);
        char *save = NULL;
        for (char *kv = qs ? strtok_r(qs, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq) continue;
            *eq = 0;
            char *v = eq + 1;
            pct_decode(v);
            if (!strcmp(kv, "endpoint") && !endpoint) endpoint = strdup(v);
            else if (!strcmp(kv, "region") && !region) region = strdup(v);
            else if (!strcmp(kv, "forcePathStyle") && path_style == -1) {
                int b = parse_bool(v);
                if (b >= 0) path_style = b;
            }
        }
        free(qs);
    }
    int use_host_ep = !endpoint && host_endpoint;
    if (use_host_ep) endpoint = host_endpoint;
    else free(host_endpoint);
    if (!region) region = host_region;
    else free(host_region);
    if (path_style == -1 && use_host_ep) path_style = host_path_style;
    if (!endpoint) endpoint = dup_env("AWS_ENDPOINT_URL_S3");
    if (!endpoint) endpoint = dup_env("AWS_ENDPOINT_URL");
    if (!region) region = dup_env("AWS_REGION");
    if (!region) region = dup_env("AWS_DEFAULT_REGION");
    if (!region) region = strdup("us-east-1");
    c->region = region;
    if (!c->region) {
        free(endpoint);
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    }
    for (const char *r = c->region; *r; r++)
        if (!(isalnum((unsigned char)*r) || *r == '-')) {
            free(endpoint);
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "invalid S3 region");
        }
    if (path_style < 0) path_style = endpoint ? 1 : 0;
    if (!endpoint) {
        char buf[300];
        snprintf(buf, sizeof buf, "https://s3.%s.amazonaws.com", c->region);
        endpoint = strdup(buf);
        if (!endpoint) return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    }
    /* split endpoint: scheme://host[:port][/path] */
    const char *sep = strstr(endpoint, "://");
    if (!sep || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)) {
        obj_status st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                                 "S3 endpoint must start with http:// or https://: %.160s", endpoint);
        free(endpoint);
        return st;
    }
    int https = endpoint[4] == 's';
    const char *hs = sep + 3;
    size_t hl = strcspn(hs, "/?#");
    const char *ep_path = hs + hl;
    size_t eplen = strcspn(ep_path, "?#");
    while (eplen > 0 && ep_path[eplen - 1] == '/') eplen--;
    if (hl == 0) {
        free(endpoint);
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 endpoint has no host");
    }
    /* host without a default port */
    char hostport[300];
    if (hl >= sizeof hostport) {
        free(endpoint);
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 endpoint host too long");
    }
    memcpy(hostport, hs, hl);
    hostport[hl] = 0;
    char *colon = hostport[0] == '[' ? strstr(hostport, "]:") : strrchr(hostport, ':');
    if (colon && hostport[0] == '[') colon++;
    if (colon && ((https && !strcmp(colon, ":443")) || (!https && !strcmp(colon, ":80")))) *colon = 0;
    size_t bare_len = colon && *colon ? (size_t)(colon - hostport) : strlen(hostport);
    if (!path_style && is_ip_or_localhost(hostport, bare_len)) path_style = 1; /* no DNS for bucket.<ip> */
    if (!path_style && strchr(c->bucket, '.') && https) path_style = 1;       /* TLS wildcard would not match */
    char buf[700];
    if (path_style) {
        c->host = strdup(hostport);
        snprintf(buf, sizeof buf, "%s://%s", https ? "https" : "http", hostport);
        c->scheme_host = strdup(buf);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)eplen, ep_path, c->bucket);
        c->base_path = strdup(buf);
    } else {
        snprintf(buf, sizeof buf, "%s.%s", c->bucket, hostport);
        c->host = strdup(buf);
        snprintf(buf, sizeof buf, "%s://%s.%s", https ? "https" : "http", c->bucket, hostport);
        c->scheme_host = strdup(buf);
        snprintf(buf, sizeof buf, "%.*s", (int)eplen, ep_path);
        c->base_path = strdup(buf);
    }
    free(endpoint);
    if (!c->host || !c->scheme_host || !c->base_path)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");

    c->access_key = dup_env("AWS_ACCESS_KEY_ID");
    c->secret_key = dup_env("AWS_SECRET_ACCESS_KEY");
    c->session_token = dup_env("AWS_SESSION_TOKEN");
    const char *ct = getenv("LTXHTTP_S3_CONNECT_TO"); /* "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" */
    if (ct && *ct && !(c->connect_to = curl_slist_append(NULL, ct)))
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    if (!c->access_key && !c->secret_key) { /* Litestream's own names, as a pair */
        c->access_key = dup_env("LITESTREAM_ACCESS_KEY_ID");
        c->secret_key = dup_env("LITESTREAM_SECRET_ACCESS_KEY");
    }
    if (!c->access_key != !c->secret_key)
        return obj_fail(NULL, e, OBJ_ERR_AUTH, 0,
                        "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither, for anonymous access)");
    c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    c->max_retries = opts && opts->max_retries >= 0 ? opts->max_retries : 4;
    if (!opts) c->max_retries = 4;

    c->share = curl_share_init();
    if (!c->share) return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "curl_share_init failed");
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return OBJ_OK;
}

static void s3_close(objstore *s) {
    s3ctx *c = s->s3;
    if (!c) return;
    for (int i = 0; i < c->npool; i++) curl_easy_cleanup(c->pool[i]);
    if (c->share) curl_share_cleanup(c->share);
    curl_slist_free_all(c->connect_to);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->bucket);
    free(c->prefix);
    free(c->scheme_host);
    free(c->host);
    free(c->base_path);
    free(c->region);
    free_secret(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    free(c);
    s->s3 = NULL;
}

static CURL *handle_get(s3ctx *c) {
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0) h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    if (h) curl_easy_reset(h); /* keeps its connections */
    else h = curl_easy_init();
    return h;
}

static void handle_put(s3ctx *c, CURL *h) {
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h) curl_easy_cleanup(h);
}

/* ---- one HTTP exchange -------------------------------------------------- */

typedef struct {
    const char *method;
    const char *key;            /* object key (raw), or NULL for a bucket request */
    const char *label;          /* what to call it in messages when key is NULL (a listing's prefix) */
    const sigv4_pair *query;
    size_t nquery;
    const char *range;          /* "bytes=a-b" / "bytes=-n" or NULL */
    const uint8_t *body;        /* PUT body */
    size_t body_len;
    const char *meta_ts;        /* x-amz-meta-litestream-timestamp */
    uint8_t *dst;               /* fixed destination (ranges), or NULL to grow */
    size_t max_body;            /* cap for dst or the grown buffer */
    uint64_t expect_bytes;      /* body size expected either way (for the time budget) */
} s3_req;

typedef struct {
    CURL *h;
    long status;
    int routed;                 /* write callback decided where the body goes */
    int to_err;
    uint8_t *dst;               /* fixed */
    uint8_t *grow;              /* or growing */
    size_t len, cap, max;
    int overflow;
    uint8_t *err;
    size_t errlen;
    char content_range[128];
    char meta_ts[64];           /* x-amz-meta-litestream-timestamp */
    char bucket_region[40];     /* x-amz-bucket-region (wrong-region answers) */
    char last_modified[64];
    long long content_length;   /* -1 unknown */
    const uint8_t *up;
    size_t up_len, up_off;
} s3_resp;

static size_t on_header(char *data, size_t sz, size_t n, void *u) {
    s3_resp *r = u;
    size_t len = sz * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* new response (redirect/100) */
        r->content_range[0] = 0;
        r->meta_ts[0] = 0;
        r->bucket_region[0] = 0;
        r->last_modified[0] = 0;
        r->content_length = -1;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (nl == 13 && strncasecmp(data, "content-range", 13) == 0) {
        if (vl >= sizeof r->content_range) vl = sizeof r->content_range - 1;
        memcpy(r->content_range, v, vl);
        r->content_range[vl] = 0;
    } else if (nl == 31 && strncasecmp(data, "x-amz-meta-litestream-timestamp", 31) == 0) {
        if (vl >= sizeof r->meta_ts) vl = sizeof r->meta_ts - 1;
        memcpy(r->meta_ts, v, vl);
        r->meta_ts[vl] = 0;
    } else if (nl == 19 && strncasecmp(data, "x-amz-bucket-region", 19) == 0) {
        size_t k = 0;
        for (size_t i = 0; i < vl && k + 1 < sizeof r->bucket_region; i++)
            if (isalnum((unsigned char)v[i]) || v[i] == '-') r->bucket_region[k++] = v[i];
        r->bucket_region[k] = 0;
    } else if (nl == 13 && strncasecmp(data, "last-modified", 13) == 0) {
        if (vl >= sizeof r->last_modified) vl = sizeof r->last_modified - 1;
        memcpy(r->last_modified, v, vl);
        r->last_modified[vl] = 0;
    } else if (nl == 14 && strncasecmp(data, "content-length", 14) == 0) {
        char tmp[32];
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = 0;
            char *end;
            errno = 0;
            long long cl = strtoll(tmp, &end, 10);
            if (!errno && end != tmp && *end == 0 && cl >= 0) r->content_length = cl;
        }
    }
    return len;
}

static size_t on_body(char *data, size_t sz, size_t n, void *u) {
    s3_resp *r = u;
    size_t len = sz * n;
    if (!r->routed) {
        long code = 0;
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
        r->to_err = code < 200 || code >= 300;
        r->routed = 1;
        if (!r->to_err && r->content_length > 0 && (unsigned long long)r->content_length > r->max) {
            r->overflow = 1;
            return 0; /* abort: larger than the caller's cap */
        }
    }
    if (r->to_err) {
        size_t room = ERRBODY_CAP - r->errlen;
        size_t take = len < room ? len : room;
        if (take) {
            uint8_t *g = realloc(r->err, r->errlen + take + 1);
            if (!g) return 0;
            r->err = g;
            memcpy(r->err + r->errlen, data, take);
            r->errlen += take;
            r->err[r->errlen] = 0;
        }
        return len;
    }
    if (len > r->max - r->len) {
        r->overflow = 1;
        return 0;
    }
    if (r->dst) {
        memcpy(r->dst + r->len, data, len);
    } else {
        if (r->len + len > r->cap) {
            size_t nc = r->cap ? r->cap : 16384;
            while (nc < r->len + len) nc *= 2;
            if (nc > r->max) nc = r->max;
            uint8_t *g = realloc(r->grow, nc ? nc : 1);
            if (!g) return 0;
            r->grow = g;
            r->cap = nc;
        }
        memcpy(r->grow + r->len, data, len);
    }
    r->len += len;
    return len;
}

static size_t on_upload(char *buf, size_t sz, size_t n, void *u) {
    s3_resp *r = u;
    size_t room = sz * n, left = r->up_len - r->up_off;
    size_t take = left < room ? left : room;
    if (take) memcpy(buf, r->up + r->up_off, take);
    r->up_off += take;
    return take;
}

static int retryable_curl(CURLcode cc) {
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static uint64_t xorshift(uint64_t *st) {
    uint64_t x = *st;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *st = x;
}

static void backoff_sleep(int attempt) {
    static _Thread_local uint64_t seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&seed ^ (uint64_t)ts.tv_sec;
        if (!seed) seed = 88172645463325252ull;
    }
    long ms = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++) ms *= 2;
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    long jittered = ms / 2 + (long)(xorshift(&seed) % (uint64_t)(ms / 2 + 1)); /* [ms/2, ms] */
    struct timespec d = {jittered / 1000, (jittered % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {
    }
}

static void amz_now(char out[17]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Pulls <Code>…</Code> out of an S3 error document (for messages). */
static void error_code(const uint8_t *body, size_t len, char *out, size_t outlen) {
    out[0] = 0;
    if (!body || !len) return;
    const char *b = (const char *)body;
    const char *s = strstr(b, "<Code>");
    if (!s) return;
    s += 6;
    const char *en = strstr(s, "</Code>");
    if (!en) return;
    size_t n = (size_t)(en - s);
    if (n >= outlen) n = outlen - 1;
    for (size_t i = 0; i < n; i++) out[i] = isalnum((unsigned char)s[i]) ? s[i] : '_';
    out[n] = 0;
}

typedef struct {
    obj_status st;
    long status;
} s3_result;

/* What to call an object in messages: "bucket/key". */
static void obj_name(const s3ctx *c, const char *key, char *out, size_t outlen) {
    snprintf(out, outlen, "%s/%s", c->bucket, key ? key : "");
}

/* Performs one request with retries. On OBJ_OK the body is in r (r->grow or
 * the caller's dst). On any error e is filled (naming bucket/key and status).
 * Body overflow gives OBJ_ERR_TOO_LARGE; the caller may re-map it. */
static obj_status s3_do(objstore *s, const s3_req *rq, s3_resp *r, obj_error *e) {
    s3ctx *c = s->s3;
    char what[300];
    obj_name(c, rq->key ? rq->key : rq->label, what, sizeof what);
    /* path: base_path + "/" + key, encoded (keep '/') */
    size_t klen = rq->key ? strlen(rq->key) : 0;
    size_t raw_len = strlen(c->base_path) + klen + 2;
    char *raw = malloc(raw_len);
    char *enc = malloc(raw_len * 3 + 1);
    if (!raw || !enc) {
        free(raw);
        free(enc);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory for %.200s", what);
    }
    snprintf(raw, raw_len, "%s/%s", c->base_path, rq->key ? rq->key : "");
    sigv4_uri_encode(raw, 1, enc, raw_len * 3 + 1);
    /* query string (same encoding as the canonical form) */
    size_t qcap = 1;
    for (size_t i = 0; i < rq->nquery; i++)
        qcap += 3 * (strlen(rq->query[i].name) + (rq->query[i].value ? strlen(rq->query[i].value) : 0)) + 2;
    char *qs = malloc(qcap);
    size_t url_cap = strlen(c->scheme_host) + strlen(enc) + qcap + 2;
    char *url = malloc(url_cap);
    if (!qs || !url) {
        free(raw);
        free(enc);
        free(qs);
        free(url);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory for %.200s", what);
    }
    size_t qo = 0;
    qs[0] = 0;
    for (size_t i = 0; i < rq->nquery; i++) {
        if (i) qs[qo++] = '&';
        int k = sigv4_uri_encode(rq->query[i].name, 0, qs + qo, qcap - qo);
        qo += (size_t)(k > 0 ? k : 0);
        qs[qo++] = '=';
        k = sigv4_uri_encode(rq->query[i].value ? rq->query[i].value : "", 0, qs + qo, qcap - qo);
        qo += (size_t)(k > 0 ? k : 0);
        qs[qo] = 0;
    }
    snprintf(url, url_cap, "%s%s%s%s", c->scheme_host, enc, qo ? "?" : "", qs);
    free(enc);
    free(qs);

    char payload_hash[65];
    if (rq->body) sigv4_sha256_hex(rq->body, rq->body_len, payload_hash);
    else sigv4_sha256_hex("", 0, payload_hash);

    obj_status result = OBJ_ERR_IO;
    long last_status = 0;
    char last_err[CURL_ERROR_SIZE] = "";
    int attempts = 0;
    CURL *h = handle_get(c);
    if (!h) {
        free(raw);
        free(url);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "curl_easy_init failed for %.200s", what);
    }
    for (int attempt = 0;; attempt++) {
        attempts++;
        free(r->grow);
        free(r->err);
        memset(r, 0, sizeof *r);
        r->h = h;
        r->dst = rq->dst;
        r->max = rq->max_body;
        r->content_length = -1;
        r->up = rq->body;
        r->up_len = rq->body_len;

        char amz_date[17];
        amz_now(amz_date);
        sigv4_pair hd[8];
        size_t nh = 0;
        hd[nh++] = (sigv4_pair){"host", c->host};
        hd[nh++] = (sigv4_pair){"x-amz-content-sha256", payload_hash};
        hd[nh++] = (sigv4_pair){"x-amz-date", amz_date};
        if (rq->range) hd[nh++] = (sigv4_pair){"range", rq->range};
        if (rq->meta_ts) hd[nh++] = (sigv4_pair){"x-amz-meta-litestream-timestamp", rq->meta_ts};
        if (c->session_token) hd[nh++] = (sigv4_pair){"x-amz-security-token", c->session_token};

        struct curl_slist *hl = NULL, *t;
        enum { LINE_CAP = 16384 }; /* STS session tokens can be a few KiB */
        char *line = malloc(LINE_CAP);
        int ok = line != NULL;
        for (size_t i = 0; i < nh && ok; i++) {
            int k = snprintf(line, LINE_CAP, "%s: %s", hd[i].name, hd[i].value);
            if (k < 0 || k >= LINE_CAP || !(t = curl_slist_append(hl, line))) ok = 0;
            else hl = t;
        }
        if (ok && c->access_key) {
            sigv4_input in = {.method = rq->method, .path = raw, .query = rq->query, .nquery = rq->nquery,
                              .headers = hd, .nheaders = nh, .payload_hash = payload_hash,
                              .amz_date = amz_date, .region = c->region, .service = "s3",
                              .access_key = c->access_key, .secret_key = c->secret_key};
            char sig[65], auth[1024];
            if (sigv4_sign(&in, sig, auth, sizeof auth) != 0) ok = 0;
            else {
                snprintf(line, LINE_CAP, "Authorization: %s", auth);
                if (!(t = curl_slist_append(hl, line))) ok = 0;
                else hl = t;
            }
        }
        if (line) {
            OPENSSL_cleanse(line, LINE_CAP); /* held the session token */
            free(line);
        }
        if (ok && (t = curl_slist_append(hl, "Expect:"))) hl = t;
        if (ok && rq->body && (t = curl_slist_append(hl, "Content-Type: application/octet-stream"))) hl = t;
        if (!ok) {
            curl_slist_free_all(hl);
            result = obj_fail(s, e, OBJ_ERR_INVALID, 0, "cannot sign request for %.200s", what);
            break;
        }
        char errbuf[CURL_ERROR_SIZE];
        errbuf[0] = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_SHARE, c->share);
        /* The shared connection cache keeps only a few idle connections by
         * default; with more reads in flight (parallel index builds, many
         * cold pages) it closed them and every read paid a new TCP/TLS
         * handshake. Keep enough for the fan-out. */
        curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 64L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        /* time budget: timeout_ms plus 1 s per MiB moved (large snapshots),
         * and a stall detector (< 1 KiB/s for the timeout) */
        uint64_t xfer = rq->expect_bytes > rq->body_len ? rq->expect_bytes : rq->body_len;
        uint64_t extra = (xfer >> 20) * 1000u;
        long budget = c->timeout_ms + (long)(extra < 86400000u ? extra : 86400000u);
        long stall_s = c->timeout_ms / 1000 > 0 ? c->timeout_ms / 1000 : 1;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_s);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        if (c->connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
        if (!strcmp(rq->method, "PUT")) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
            curl_easy_setopt(h, CURLOPT_READDATA, r);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
        } else if (!strcmp(rq->method, "HEAD")) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(rq->method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        }
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hl);
        long nconn = 0;
        if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
            OBJ_COUNT(s, connects, nconn);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        r->status = status;
        last_status = status;
        int retry = 0;
        if (cc != CURLE_OK) {
            if (r->overflow) {
                result = obj_fail(s, e, OBJ_ERR_TOO_LARGE, status, "%.200s is larger than %zu bytes",
                                  what, rq->max_body);
                break;
            }
            snprintf(last_err, sizeof last_err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
            retry = retryable_curl(cc);
            if (!retry) {
                result = obj_fail(s, e, OBJ_ERR_IO, status, "%s %.200s: %s", rq->method, what, last_err);
                break;
            }
        } else if (status >= 200 && status < 300) {
            result = OBJ_OK;
            break;
        } else if (status >= 500 || status == 429) {
            retry = 1;
            last_err[0] = 0;
        } else {
            char code[64];
            error_code(r->err, r->errlen, code, sizeof code);
            obj_status st = status == 404                     ? OBJ_NOT_FOUND
                            : (status == 401 || status == 403) ? OBJ_ERR_AUTH
                                                                : OBJ_ERR_INVALID;
            char hint[96] = "";
            if (r->bucket_region[0] && strcmp(r->bucket_region, c->region) != 0)
                snprintf(hint, sizeof hint, " (the bucket is in region %s, not %s: set AWS_REGION)",
                         r->bucket_region, c->region);
            result = obj_fail(s, e, st, status, "%s %.200s: HTTP %ld%s%s%s", rq->method, what, status,
                              code[0] ? " " : "", code, hint);
            break;
        }
        if (retry && attempt < c->max_retries) {
            OBJ_COUNT(s, retries, 1);
            backoff_sleep(attempt);
            continue;
        }
        /* out of retries */
        if (last_err[0])
            result = obj_fail(s, e, OBJ_ERR_IO, status, "%s %.200s: %s (after %d attempts)", rq->method,
                              what, last_err, attempts);
        else {
            char code[64];
            error_code(r->err, r->errlen, code, sizeof code);
            result = obj_fail(s, e, OBJ_ERR_IO, status, "%s %.200s: HTTP %ld%s%s (after %d attempts)",
                              rq->method, what, status, code[0] ? " " : "", code, attempts);
        }
        break;
    }
    (void)last_status;
    handle_put(c, h);
    free(raw);
    free(url);
    return result;
}

static void resp_free(s3_resp *r) {
    free(r->grow);
    free(r->err);
    r->grow = NULL;
    r->err = NULL;
}

/* ---- keys --------------------------------------------------------------- */

/* <prefix>/<db> (db "" = the prefix itself, literally) */
static int db_path(const s3ctx *c, const char *db, char *out, size_t outlen) {
    int k;
    if (!db[0]) k = snprintf(out, outlen, "%s", c->prefix);
    else if (!c->prefix[0]) k = snprintf(out, outlen, "%s", db);
    else k = snprintf(out, outlen, "%s/%s", c->prefix, db);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

static int level_prefix(const s3ctx *c, const char *db, int level, char *out, size_t outlen) {
    char dp[1024];
    if (db_path(c, db, dp, sizeof dp) != 0) return -1;
    int k = snprintf(out, outlen, "%s/%04x/", dp, level);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

static int file_key(const s3ctx *c, const char *db, const ltx_fileinfo *f, char *out, size_t outlen) {
    char lp[1100], name[38];
    if (level_prefix(c, db, f->level, lp, sizeof lp) != 0) return -1;
    obj_format_ltx_name(name, f->min_txid, f->max_txid);
    int k = snprintf(out, outlen, "%s%s", lp, name);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

/* ---- ListObjectsV2 ------------------------------------------------------ */

typedef s3_key_fn key_fn;
typedef s3_prefix_fn prefix_fn;

/* Pages through ListObjectsV2. Callbacks return 0 to go on, <0 on error
 * (the status is then in *cb_status). */
static obj_status s3_list(objstore *s, const char *prefix, const char *start_after, int delimiter,
                          const char *max_keys, key_fn kf, prefix_fn pf, void *ctx, obj_status *cb_status,
                          obj_error *e) {
    s3ctx *c = s->s3;
    char *token = NULL;
    obj_status st = OBJ_OK;
    for (int page = 0;; page++) {
        sigv4_pair q[6];
        size_t nq = 0;
        q[nq++] = (sigv4_pair){"list-type", "2"};
        q[nq++] = (sigv4_pair){"prefix", prefix};
        if (delimiter) q[nq++] = (sigv4_pair){"delimiter", "/"};
        if (max_keys) q[nq++] = (sigv4_pair){"max-keys", max_keys};
        if (token) q[nq++] = (sigv4_pair){"continuation-token", token};
        else if (start_after && *start_after) q[nq++] = (sigv4_pair){"start-after", start_after};
        s3_req rq = {.method = "GET", .key = NULL, .label = prefix, .query = q, .nquery = nq,
                     .max_body = LIST_PAGE_CAP};
        s3_resp r = {0};
        OBJ_COUNT(s, lists, 1);
        st = s3_do(s, &rq, &r, e);
        if (st != OBJ_OK) {
            if (st == OBJ_ERR_TOO_LARGE)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "listing of %s/%.180s: page over %u bytes",
                              c->bucket, prefix, LIST_PAGE_CAP);
            resp_free(&r);
            break;
        }
        OBJ_COUNT(s, bytes_read, r.len);
        int truncated = 0;
        char *next = NULL;
        char why[128];
        int rc = s3_parse_list((const char *)r.grow, r.len, (s3_key_fn)kf, (s3_prefix_fn)pf, ctx, &truncated,
                               &next, why, sizeof why);
        if (rc == -2) st = *cb_status;
        else if (rc != 0)
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "listing of %s/%.160s: %s", c->bucket, prefix, why);
        else if (truncated && token && !strcmp(token, next))
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "listing of %s/%.160s: continuation token repeats",
                          c->bucket, prefix);
        free(token);
        token = next;
        resp_free(&r);
        if (st != OBJ_OK || !truncated) break;
        if (page > 100000) {
            st = obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "listing of %s/%.180s: too many pages", c->bucket, prefix);
            break;
        }
    }
    free(token);
    return st;
}

/* ---- list level ---- */

typedef struct {
    objstore *s;
    obj_error *e;
    obj_status st;
    const char *lp;
    size_t lplen;
    int level;
    uint64_t min_from;
    ltx_fileinfo *v;
    size_t n, cap;
} level_ctx;

/* level_ctx.level < 0: listing every level under the database prefix lp;
 * a key counts when it is lp + "000N/" (N 0..9, as level_prefix writes it)
 * + a strict LTX name. */
static int level_key(void *u, const char *key, uint64_t size, int64_t mt) {
    level_ctx *x = u;
    size_t kl = strlen(key);
    if (kl < x->lplen || memcmp(key, x->lp, x->lplen) != 0) return 0;
    const char *name = key + x->lplen;
    int level = x->level;
    if (level < 0) {
        char want[8];
        if (kl - x->lplen < 5) return 0;
        for (level = 0; level <= LTX_MAX_LEVEL; level++) {
            snprintf(want, sizeof want, "%04x/", level);
            if (!memcmp(name, want, 5)) break;
        }
        if (level > LTX_MAX_LEVEL) return 0; /* not a level folder */
        name += 5;
    }
    uint64_t mn, mx;
    if (obj_parse_ltx_name(name, kl - (size_t)(name - key), &mn, &mx) != 0) return 0; /* foreign */
    if (mn < x->min_from) return 0;
    if (x->n == OBJ_MAX_LIST_ENTRIES) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_TOO_LARGE, 0, "more than %u files under %.180s",
                         OBJ_MAX_LIST_ENTRIES, x->lp);
        return -1;
    }
    ltx_fileinfo *g = obj_grow(x->v, &x->cap, x->n, sizeof *x->v, 64);
    if (!g) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing %.180s", x->lp);
        return -1;
    }
    x->v = g;
    x->v[x->n++] = (ltx_fileinfo){.level = level, .min_txid = mn, .max_txid = mx, .size = size,
                                  .created_ms = mt};
    return 0;
}

/* List the LTX files under lp (level >= 0: one level folder, from min_from
 * via start_after; level -1: every level folder under the database prefix),
 * sorted. */
static obj_status list_files(objstore *s, const char *lp, const char *start_after, int level, uint64_t min_from,
                             ltx_fileinfo **out, size_t *n, obj_error *e) {
    level_ctx x = {.s = s, .e = e, .st = OBJ_OK, .lp = lp, .lplen = strlen(lp), .level = level,
                   .min_from = min_from};
    obj_status st = s3_list(s, lp, start_after, 0, NULL, level_key, NULL, &x, &x.st, e);
    if (st != OBJ_OK) {
        free(x.v);
        return st;
    }
    obj_sort_files(x.v, x.n);
    *out = x.v;
    *n = x.n;
    return OBJ_OK;
}

static obj_status s3_list_level(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out,
                                size_t *n, obj_error *e) {
    char lp[1100];
    if (level_prefix(s->s3, db, level, lp, sizeof lp) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "database name too long");
    char start_after[1200] = "";
    if (min_from > 1)
        snprintf(start_after, sizeof start_after, "%s%016llx-ffffffffffffffff.ltx", lp,
                 (unsigned long long)(min_from - 1));
    return list_files(s, lp, start_after, level, min_from, out, n, e);
}

/* Every level in one paged ListObjectsV2 over "<prefix>/<db>/" without a
 * delimiter: one request per 1000 keys instead of one per level. */
static obj_status s3_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e) {
    char dp[1024], lp[1100];
    if (db_path(s->s3, db, dp, sizeof dp) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "database name too long");
    snprintf(lp, sizeof lp, "%s/", dp);
    return list_files(s, lp, NULL, -1, 0, out, n, e);
}

/* ---- list dbs ---- */

typedef struct {
    objstore *s;
    obj_error *e;
    obj_status st;
    size_t rootlen;
    char **v;
    size_t n, cap;
    int found; /* level probe */
    const char *probe;
    size_t probelen;
} dbs_ctx;

static int dbs_prefix(void *u, const char *pfx) {
    dbs_ctx *x = u;
    size_t pl = strlen(pfx);
    if (pl <= x->rootlen + 1 || pfx[pl - 1] != '/') return 0;
    char *name = strndup(pfx + x->rootlen, pl - x->rootlen - 1);
    if (!name) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
        return -1;
    }
    if (obj_db_name_valid(name, 0) != 0) {
        free(name);
        return 0;
    }
    if (x->n == OBJ_MAX_DBS) {
        free(name);
        x->st = obj_fail(x->s, x->e, OBJ_ERR_TOO_LARGE, 0, "more than %u databases", OBJ_MAX_DBS);
        return -1;
    }
    char **g = obj_grow(x->v, &x->cap, x->n, sizeof *x->v, 16);
    if (!g) {
        free(name);
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
        return -1;
    }
    x->v = g;
    x->v[x->n++] = name;
    return 0;
}

static int probe_prefix(void *u, const char *pfx) {
    dbs_ctx *x = u;
    size_t pl = strlen(pfx);
    if (pl == x->probelen + 5 && !strncmp(pfx, x->probe, x->probelen) && pfx[pl - 1] == '/') {
        char lv[5];
        memcpy(lv, pfx + x->probelen, 4);
        lv[4] = 0;
        int ok = 1;
        for (int i = 0; i < 4; i++)
            if (!isxdigit((unsigned char)lv[i]) || isupper((unsigned char)lv[i])) ok = 0;
        if (ok && strtol(lv, NULL, 16) <= LTX_MAX_LEVEL) x->found = 1;
    }
    return 0;
}

/* Probing candidates for level folders: one small listing each, run by up
 * to PROBE_THREADS threads (the store is thread-safe), so discovery over
 * many databases is not a long serial chain of round trips. */
#define PROBE_THREADS 8

typedef struct {
    objstore *s;
    const char *root;
    char **v;
    size_t n;
    char *found;
    size_t next;
    pthread_mutex_t mu;
    obj_status st;
    obj_error err;
} probe_pool;

static void *probe_worker(void *u) {
    probe_pool *pp = u;
    for (;;) {
        pthread_mutex_lock(&pp->mu);
        if (pp->st != OBJ_OK || pp->next >= pp->n) {
            pthread_mutex_unlock(&pp->mu);
            break;
        }
        size_t i = pp->next++;
        pthread_mutex_unlock(&pp->mu);
        char probe[1400], pq[1420];
        snprintf(probe, sizeof probe, "%s%s/", pp->root, pp->v[i]);
        snprintf(pq, sizeof pq, "%s000", probe);
        dbs_ctx x = {.s = pp->s, .st = OBJ_OK, .probe = probe, .probelen = strlen(probe)};
        obj_error e;
        obj_status st = s3_list(pp->s, pq, NULL, 1, "20", NULL, probe_prefix, &x, &x.st, &e);
        if (st != OBJ_OK) {
            pthread_mutex_lock(&pp->mu);
            if (pp->st == OBJ_OK) {
                pp->st = st;
                pp->err = e;
            }
            pthread_mutex_unlock(&pp->mu);
            break;
        }
        pp->found[i] = (char)x.found;
    }
    return NULL;
}

static obj_status s3_list_dbs(objstore *s, char ***names, size_t *n, obj_error *e) {
    s3ctx *c = s->s3;
    char root[1100];
    snprintf(root, sizeof root, "%s%s", c->prefix, c->prefix[0] ? "/" : "");
    dbs_ctx x = {.s = s, .e = e, .st = OBJ_OK, .rootlen = strlen(root)};
    obj_status st = s3_list(s, root, NULL, 1, NULL, NULL, dbs_prefix, &x, &x.st, e);
    if (st != OBJ_OK) {
        objstore_free_names(x.v, x.n);
        return st;
    }
    /* keep only folders that hold level folders (<name>/000d/) */
    probe_pool pp = {.s = s, .root = root, .v = x.v, .n = x.n, .st = OBJ_OK};
    pp.found = calloc(x.n ? x.n : 1, 1);
    if (!pp.found) {
        objstore_free_names(x.v, x.n);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
    }
    pthread_mutex_init(&pp.mu, NULL);
    pthread_t th[PROBE_THREADS];
    int nth = 0;
    size_t want = x.n > 1 ? x.n - 1 : 0;
    while ((size_t)nth < want && nth < PROBE_THREADS && pthread_create(&th[nth], NULL, probe_worker, &pp) == 0)
        nth++;
    probe_worker(&pp);
    for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pp.mu);
    if (pp.st != OBJ_OK) {
        if (e) *e = pp.err;
        free(pp.found);
        objstore_free_names(x.v, x.n);
        return pp.st;
    }
    size_t kept = 0;
    for (size_t i = 0; i < x.n; i++) {
        char *nm = x.v[i];
        x.v[i] = NULL;
        if (pp.found[i]) x.v[kept++] = nm;
        else free(nm);
    }
    free(pp.found);
    if (kept > 1) qsort(x.v, kept, sizeof *x.v, obj_cmp_names);
    if (!kept) {
        free(x.v);
        x.v = NULL;
    }
    *names = x.v;
    *n = kept;
    return OBJ_OK;
}

/* ---- reads -------------------------------------------------------------- */

/* "bytes a-b/total" (total may be "*") */
static int parse_content_range(const char *s, uint64_t *a, uint64_t *b, uint64_t *total) {
    unsigned long long x, y, t;
    char star[2];
    if (sscanf(s, "bytes %llu-%llu/%llu", &x, &y, &t) == 3) {
        *total = t;
    } else if (sscanf(s, "bytes %llu-%llu/%1[*]", &x, &y, star) == 3) {
        *total = UINT64_MAX;
    } else
        return -1;
    if (y < x) return -1;
    *a = x;
    *b = y;
    return 0;
}

/* One ranged GET of f into buf (at most len bytes) for read_range (tail 0,
 * range starting at off) and read_tail (tail 1). Maps a body over len and a
 * 416 to OBJ_ERR_INVALID; *what names the object for messages. The caller
 * checks the status and Content-Range, then frees *r. */
static obj_status ranged_get(objstore *s, const char *db, const ltx_fileinfo *f, int tail, uint64_t off,
                             size_t len, uint8_t *buf, s3_resp *r, char *what, size_t whatlen, obj_error *e) {
    s3ctx *c = s->s3;
    char key[1200], range[64];
    if (file_key(c, db, f, key, sizeof key) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    obj_name(c, key, what, whatlen);
    if (tail)
        snprintf(range, sizeof range, "bytes=-%zu", len);
    else
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1));
    s3_req rq = {.method = "GET", .key = key, .range = range, .dst = buf, .max_body = len, .expect_bytes = len};
    OBJ_COUNT(s, gets, 1);
    obj_status st = s3_do(s, &rq, r, e);
    if (st == OBJ_ERR_TOO_LARGE)
        st = obj_fail(s, e, OBJ_ERR_INVALID, r->status, "%.200s: server sent more than the %zu bytes asked",
                      what, len);
    else if (st == OBJ_ERR_INVALID && r->status == 416 && tail)
        st = obj_fail(s, e, OBJ_ERR_INVALID, 416, "truncated: %.200s is empty", what);
    else if (st == OBJ_ERR_INVALID && r->status == 416)
        st = obj_fail(s, e, OBJ_ERR_INVALID, 416, "truncated: %.200s has no byte %llu", what,
                      (unsigned long long)off);
    if (st == OBJ_OK) OBJ_COUNT(s, bytes_read, r->len);
    return st;
}

static obj_status s3_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len,
                                uint8_t *buf, obj_error *e) {
    char what[1300];
    s3_resp r = {0};
    obj_status st = ranged_get(s, db, f, 0, off, len, buf, &r, what, sizeof what, e);
    if (st == OBJ_OK) {
        uint64_t a, b, total;
        if (r.status == 206) {
            if (parse_content_range(r.content_range, &a, &b, &total) != 0 || a != off)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 206, "%.200s: bad Content-Range \"%.60s\"", what,
                              r.content_range);
            else if (b - a + 1 != r.len)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 206, "truncated: %.200s body %zu bytes, Content-Range says %llu",
                              what, r.len, (unsigned long long)(b - a + 1));
            else if (r.len != len)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 206, "truncated: %.200s has %llu bytes, wanted %zu at offset %llu",
                              what, (unsigned long long)total, len, (unsigned long long)off);
        } else if (!(r.status == 200 && off == 0 && r.len == len)) {
            st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "truncated: %.200s gave %zu bytes for %zu at offset %llu",
                          what, r.len, len, (unsigned long long)off);
        }
    }
    resp_free(&r);
    return st;
}

static obj_status s3_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                               size_t *got, obj_error *e) {
    char what[1300];
    s3_resp r = {0};
    obj_status st = ranged_get(s, db, f, 1, 0, len, buf, &r, what, sizeof what, e);
    if (st == OBJ_OK) {
        uint64_t a, b, total = 0;
        if (r.status == 206) {
            if (parse_content_range(r.content_range, &a, &b, &total) != 0 || total == UINT64_MAX ||
                b + 1 != total)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 206, "%.200s: bad Content-Range \"%.60s\"", what,
                              r.content_range);
            else if (b - a + 1 != r.len)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 206, "truncated: %.200s body %zu bytes, Content-Range says %llu",
                              what, r.len, (unsigned long long)(b - a + 1));
        } else if (r.status == 200) {
            total = r.len; /* whole object, smaller than len */
            if (r.content_length >= 0 && (uint64_t)r.content_length != r.len)
                st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "truncated: %.200s body shorter than Content-Length", what);
        } else {
            st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: unexpected HTTP %ld", what, r.status);
        }
        if (st == OBJ_OK && f->size && total != f->size)
            st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s has %llu bytes but the listing said %llu",
                          what, (unsigned long long)total, (unsigned long long)f->size);
        if (st == OBJ_OK && r.len != (len < total ? len : total))
            st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "truncated: %.200s tail is %zu bytes", what, r.len);
        if (st == OBJ_OK) *got = r.len;
    }
    resp_free(&r);
    return st;
}

static obj_status s3_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes, uint8_t **buf,
                               size_t *len, obj_error *e) {
    s3ctx *c = s->s3;
    char key[1200], what[1300];
    if (file_key(c, db, f, key, sizeof key) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    obj_name(c, key, what, sizeof what);
    s3_req rq = {.method = "GET", .key = key, .max_body = max_bytes,
                 .expect_bytes = f->size ? f->size : max_bytes};
    s3_resp r = {0};
    OBJ_COUNT(s, gets, 1);
    obj_status st = s3_do(s, &rq, &r, e);
    if (st == OBJ_OK) {
        OBJ_COUNT(s, bytes_read, r.len);
        if (r.status != 200)
            st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: unexpected HTTP %ld", what, r.status);
        else if (r.content_length >= 0 && (uint64_t)r.content_length != r.len)
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "truncated: %.200s body %zu of %lld bytes", what, r.len,
                          r.content_length);
        else if (f->size && f->size != r.len)
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "%.200s has %zu bytes but the listing said %llu", what,
                          r.len, (unsigned long long)f->size);
    }
    if (st == OBJ_OK) {
        if (!r.grow) r.grow = malloc(1);
        if (!r.grow) st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory reading %.200s", what);
    }
    if (st == OBJ_OK) {
        *buf = r.grow;
        *len = r.len;
        r.grow = NULL;
    }
    resp_free(&r);
    return st;
}

/* RFC3339Nano as Go prints it: fraction without trailing zeros. */
static void rfc3339nano(char *out, size_t outlen, int64_t ms) {
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!frac) {
        snprintf(out, outlen, "%sZ", base);
        return;
    }
    char fs[4];
    snprintf(fs, sizeof fs, "%03d", (int)frac);
    for (int i = 2; i > 0 && fs[i] == '0'; i--) fs[i] = 0;
    snprintf(out, outlen, "%s.%sZ", base, fs);
}

static obj_status s3_write_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                                const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e) {
    s3ctx *c = s->s3;
    ltx_fileinfo f = {.level = level, .min_txid = min_txid, .max_txid = max_txid};
    char key[1200], ts[64];
    if (file_key(c, db, &f, key, sizeof key) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    rfc3339nano(ts, sizeof ts, timestamp_ms);
    static const uint8_t empty[1] = {0};
    s3_req rq = {.method = "PUT", .key = key, .body = buf ? buf : empty, .body_len = len, .meta_ts = ts,
                 .max_body = 1 << 20};
    s3_resp r = {0};
    OBJ_COUNT(s, puts, 1);
    obj_status st = s3_do(s, &rq, &r, e);
    if (st == OBJ_OK) OBJ_COUNT(s, bytes_written, len);
    resp_free(&r);
    return st;
}

static obj_status s3_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e) {
    s3ctx *c = s->s3;
    char key[1200];
    if (file_key(c, db, f, key, sizeof key) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    s3_req rq = {.method = "DELETE", .key = key, .max_body = 1 << 20};
    s3_resp r = {0};
    OBJ_COUNT(s, deletes, 1);
    obj_status st = s3_do(s, &rq, &r, e);
    resp_free(&r);
    return st;
}

/* RFC 3339 with any fraction and Z or +hh:mm / -hh:mm -> ms */
static int parse_rfc3339_ms(const char *s, int64_t *ms) {
    char buf[64];
    size_t n = strlen(s);
    if (n < 20 || n >= sizeof buf) return -1;
    memcpy(buf, s, n + 1);
    int64_t off_ms = 0;
    char *tz = buf + 19;
    while (*tz == '.' || isdigit((unsigned char)*tz)) tz++;
    if ((*tz == '+' || *tz == '-') && strlen(tz) == 6 && tz[3] == ':') {
        int hh = atoi(tz + 1), mm = atoi(tz + 4);
        off_ms = ((int64_t)hh * 60 + mm) * 60000 * (*tz == '+' ? 1 : -1);
        tz[0] = 'Z';
        tz[1] = 0;
    }
    if (s3_parse_iso_ms(buf, ms) != 0) return -1;
    *ms -= off_ms;
    return 0;
}

static obj_status s3_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms, obj_error *e) {
    s3ctx *c = s->s3;
    char key[1200], what[1300];
    if (file_key(c, db, f, key, sizeof key) != 0) return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    obj_name(c, key, what, sizeof what);
    s3_req rq = {.method = "HEAD", .key = key, .max_body = 1 << 20};
    s3_resp r = {0};
    OBJ_COUNT(s, heads, 1);
    obj_status st = s3_do(s, &rq, &r, e);
    if (st == OBJ_OK) {
        if (r.meta_ts[0]) {
            if (parse_rfc3339_ms(r.meta_ts, ms) != 0)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: bad litestream-timestamp \"%.40s\"", what,
                              r.meta_ts);
        } else {
            time_t t = r.last_modified[0] ? curl_getdate(r.last_modified, NULL) : (time_t)-1;
            if (t == (time_t)-1)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: no timestamp in HEAD answer", what);
            else
                *ms = (int64_t)t * 1000;
        }
    }
    resp_free(&r);
    return st;
}

const obj_backend obj_s3_backend = {
    .list_dbs = s3_list_dbs,
    .list_level = s3_list_level,
    .list_all = s3_list_all,
    .read_range = s3_read_range,
    .read_tail = s3_read_tail,
    .read_file = s3_read_file,
    .write_file = s3_write_file,
    .delete_file = s3_delete_file,
    .file_timestamp = s3_file_timestamp,
    .check_folder = NULL,
    .close = s3_close,
};
