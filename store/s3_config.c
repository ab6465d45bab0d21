/* s3_config.c - opening an S3 store: the s3:// URL (Litestream's forms),
 * endpoint and region choice, the endpoint split (libcurl's CURLU),
 * credentials from the environment, the shared connection cache; and
 * closing it.
 *
 *   s3://bucket[/prefix][?endpoint=..&region=..&forcePathStyle=true]
 *   s3://bucket.host:port/prefix                  (MinIO style, path style)
 *   s3://bucket.s3[.-]<region>.amazonaws.com/prefix */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_internal.h"
#include "strparse.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h;
    (void)a;
    s3ctx *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[d]);
}
static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h;
    s3ctx *c = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[d]);
}

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? strdup(v) : NULL;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Decode %XX in a URL query value (in place). */
static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char h[3] = { s[1], s[2], 0 };
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

static int is_ip_or_localhost(const char *host, size_t n)
{
    if (n == 9 && strncmp(host, "localhost", 9) == 0)
        return 1;
    if (n > 0 && host[0] == '[')
        return 1; /* IPv6 literal */
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)host[i]) && host[i] != '.')
            return 0;
    return n > 0;
}

/* What the bucket part of the URL implies (MinIO or AWS host forms). */
typedef struct {
    char *endpoint; /* "http://host:port" from "bucket.host:port", or NULL */
    char *region;   /* from "bucket.s3.<region>.amazonaws.com", or NULL */
    int path_style; /* 1 with a host endpoint, else -1 */
} host_hints;

static void hints_free(host_hints *h)
{
    free(h->endpoint);
    free(h->region);
    h->endpoint = h->region = NULL;
}

/* Fills c->bucket and c->prefix and *h from "s3://<bucket part>[/prefix]";
 * *query points at what follows '?' (or NULL). */
static obj_status parse_bucket_url(s3ctx *c, const char *url, host_hints *h, const char **query, obj_error *e)
{
    const char *p = url + 5;
    const char *q = strchr(p, '?');
    *query = q ? q + 1 : NULL;
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    const char *slash = memchr(p, '/', plen);
    size_t blen = slash ? (size_t)(slash - p) : plen;
    if (blen == 0 || blen > 255)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 URL needs a bucket: %.180s", url);
    char hostpart[256];
    memcpy(hostpart, p, blen);
    hostpart[blen] = 0;
    char *aws = strstr(hostpart, ".amazonaws.com");
    if (strchr(hostpart, ':') && !strstr(hostpart, ".com")) {
        char *dot = strchr(hostpart, '.');
        if (!dot || is_ip_or_localhost(hostpart, strcspn(hostpart, ":")))
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                            "S3 URL needs a bucket (s3://bucket.host:port/prefix or ?endpoint=): %.150s",
                            url);
        *dot = 0;
        size_t n = strlen(dot + 1) + 8;
        h->endpoint = malloc(n);
        if (h->endpoint)
            snprintf(h->endpoint, n, "http://%s", dot + 1);
        h->path_style = 1;
    } else if (aws && aws[14] == 0) {
        char *s3 = strstr(hostpart, ".s3.");
        if (!s3)
            s3 = strstr(hostpart, ".s3-");
        if (!s3 || s3 == hostpart)
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "unrecognised AWS host in %.180s", url);
        *s3 = 0;
        const char *r = s3 + 4; /* after ".s3." or ".s3-" */
        size_t rl = (size_t)(aws - r);
        if (aws > r && strncmp(r, "dualstack.", 10) != 0)
            h->region = strndup(r, rl);
    }
    c->bucket = strdup(hostpart);
    if (slash) {
        const char *pre = slash + 1;
        size_t n = plen - blen - 1;
        while (n > 0 && pre[n - 1] == '/')
            n--;
        c->prefix = strndup(pre, n);
    } else {
        c->prefix = strdup("");
    }
    if (!c->bucket || !c->prefix)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    int bad_bucket = !c->bucket[0];
    for (const char *b = c->bucket; *b; b++)
        if (!(isalnum((unsigned char)*b) || *b == '-' || *b == '.' || *b == '_'))
            bad_bucket = 1;
    if (bad_bucket)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "invalid S3 bucket name in %.180s", url);
    return OBJ_OK;
}

/* Endpoint, region and path style as chosen so far (owned strings). */
typedef struct {
    char *endpoint, *region;
    int path_style;
} s3_choice;

/* Litestream-style URL parameters; what is already chosen (opts) wins. */
static void apply_query(const char *query, s3_choice *ch)
{
    char *qs = query ? strdup(query) : NULL;
    char *save = NULL;
    for (char *kv = qs ? strtok_r(qs, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *v = eq + 1;
        pct_decode(v);
        int b;
        if (!strcmp(kv, "endpoint") && !ch->endpoint)
            ch->endpoint = strdup(v);
        else if (!strcmp(kv, "region") && !ch->region)
            ch->region = strdup(v);
        else if (!strcmp(kv, "forcePathStyle") && ch->path_style == -1 && strparse_bool(v, &b) == 0)
            ch->path_style = b;
    }
    free(qs);
}

/* Order: opts, URL parameters, the bucket host, the environment, defaults.
 * Sets c->region; ch->endpoint is left for split_endpoint (owned by ch). */
static obj_status choose_endpoint(s3ctx *c, const objstore_opts *opts, const char *query, host_hints *h,
                                  s3_choice *ch, obj_error *e)
{
    ch->path_style = opts ? opts->s3_path_style : -1;
    if (opts && opts->s3_endpoint && *opts->s3_endpoint)
        ch->endpoint = strdup(opts->s3_endpoint);
    if (opts && opts->s3_region && *opts->s3_region)
        ch->region = strdup(opts->s3_region);
    apply_query(query, ch);
    int use_host_ep = !ch->endpoint && h->endpoint;
    if (use_host_ep) {
        ch->endpoint = h->endpoint;
        h->endpoint = NULL;
    }
    if (!ch->region) {
        ch->region = h->region;
        h->region = NULL;
    }
    if (ch->path_style == -1 && use_host_ep)
        ch->path_style = h->path_style;
    if (!ch->endpoint)
        ch->endpoint = dup_env("AWS_ENDPOINT_URL_S3");
    if (!ch->endpoint)
        ch->endpoint = dup_env("AWS_ENDPOINT_URL");
    if (!ch->region)
        ch->region = dup_env("AWS_REGION");
    if (!ch->region)
        ch->region = dup_env("AWS_DEFAULT_REGION");
    if (!ch->region)
        ch->region = strdup("us-east-1");
    c->region = ch->region;
    ch->region = NULL;
    if (!c->region)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    for (const char *r = c->region; *r; r++)
        if (!(isalnum((unsigned char)*r) || *r == '-'))
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "invalid S3 region");
    if (ch->path_style < 0)
        ch->path_style = ch->endpoint ? 1 : 0;
    if (!ch->endpoint) {
        char buf[300];
        snprintf(buf, sizeof buf, "https://s3.%s.amazonaws.com", c->region);
        ch->endpoint = strdup(buf);
        if (!ch->endpoint)
            return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    }
    return OBJ_OK;
}

/* The parts of an endpoint URL: "host[:port]" without a default port, and
 * the path without trailing '/'. */
typedef struct {
    int https;
    char hostport[300];
    size_t bare_len; /* host without ":port" */
    char path[400];
} endpoint_parts;

static obj_status parse_endpoint(const char *endpoint, endpoint_parts *ep, obj_error *e)
{
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0,
                        "S3 endpoint must start with http:// or https://: %.160s", endpoint);
    ep->https = endpoint[4] == 's';
    const char *hs = endpoint + (ep->https ? 8 : 7);
    if (strcspn(hs, "/?#") == 0) /* CURLU would read "https:///x" as host "x" */
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 endpoint has no host");
    CURLU *u = curl_url();
    if (!u)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    char *host = NULL, *port = NULL, *path = NULL;
    obj_status st = OBJ_OK;
    if (curl_url_set(u, CURLUPART_URL, endpoint, CURLU_PATH_AS_IS) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
        st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 endpoint has no host");
    else if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        st = obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    if (st == OBJ_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
            port = NULL;
        int k =
            snprintf(ep->hostport, sizeof ep->hostport, "%s%s%s", host, port ? ":" : "", port ? port : "");
        size_t pl = strlen(path);
        while (pl > 0 && path[pl - 1] == '/')
            pl--;
        if (k < 0 || (size_t)k >= sizeof ep->hostport || pl >= sizeof ep->path)
            st = obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "S3 endpoint host too long");
        else {
            ep->bare_len = strlen(host);
            memcpy(ep->path, path, pl);
            ep->path[pl] = 0;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return st;
}

/* c->host, c->scheme_host, c->base_path from the endpoint and path style. */
static obj_status split_endpoint(s3ctx *c, const char *endpoint, int path_style, obj_error *e)
{
    endpoint_parts ep;
    obj_status st = parse_endpoint(endpoint, &ep, e);
    if (st != OBJ_OK)
        return st;
    const char *scheme = ep.https ? "https" : "http";
    if (!path_style && is_ip_or_localhost(ep.hostport, ep.bare_len))
        path_style = 1; /* no DNS for bucket.<ip> */
    if (!path_style && strchr(c->bucket, '.') && ep.https)
        path_style = 1; /* TLS wildcard would not match */
    char buf[700];
    if (path_style) {
        c->host = strdup(ep.hostport);
        snprintf(buf, sizeof buf, "%s://%s", scheme, ep.hostport);
        c->scheme_host = strdup(buf);
        snprintf(buf, sizeof buf, "%s/%s", ep.path, c->bucket);
        c->base_path = strdup(buf);
    } else {
        snprintf(buf, sizeof buf, "%s.%s", c->bucket, ep.hostport);
        c->host = strdup(buf);
        snprintf(buf, sizeof buf, "%s://%s.%s", scheme, c->bucket, ep.hostport);
        c->scheme_host = strdup(buf);
        c->base_path = strdup(ep.path);
    }
    if (!c->host || !c->scheme_host || !c->base_path)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    return OBJ_OK;
}

static obj_status load_credentials(s3ctx *c, obj_error *e)
{
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
        return obj_fail(
            NULL, e, OBJ_ERR_AUTH, 0,
            "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither, for anonymous access)");
    return OBJ_OK;
}

static obj_status init_share(s3ctx *c, obj_error *e)
{
    c->share = curl_share_init();
    if (!c->share)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "curl_share_init failed");
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return OBJ_OK;
}

/* On failure the half-built context stays in s->s3: objstore_open closes it. */
obj_status s3_open(objstore *s, const char *url, const objstore_opts *opts, obj_error *e)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return obj_fail(NULL, e, OBJ_ERR_IO, 0, "libcurl init failed");
    s3ctx *c = calloc(1, sizeof *c);
    if (!c)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    s->s3 = c;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);

    host_hints h = { .path_style = -1 };
    s3_choice ch = { 0 };
    const char *query = NULL;
    obj_status st = parse_bucket_url(c, url, &h, &query, e);
    if (st == OBJ_OK)
        st = choose_endpoint(c, opts, query, &h, &ch, e);
    if (st == OBJ_OK)
        st = split_endpoint(c, ch.endpoint, ch.path_style, e);
    hints_free(&h);
    free(ch.endpoint);
    free(ch.region);
    if (st == OBJ_OK)
        st = load_credentials(c, e);
    if (st != OBJ_OK)
        return st;
    c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 3000;
    c->deadline_ms = opts && opts->deadline_ms > 0 ? opts->deadline_ms : 10000;
    c->max_retries = opts && opts->max_retries >= 0 ? opts->max_retries : 4;
    /* CA bundle: opts, then $AWS_CA_BUNDLE (as the AWS CLI), $SSL_CERT_FILE (as Go's Litestream) */
    const char *ca = opts && opts->ca_file && *opts->ca_file ? opts->ca_file : NULL;
    c->ca_file = ca ? strdup(ca) : dup_env("AWS_CA_BUNDLE");
    if (!c->ca_file && !ca)
        c->ca_file = dup_env("SSL_CERT_FILE");
    if (ca && !c->ca_file)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    return init_share(c, e);
}

void s3_close(objstore *s)
{
    s3ctx *c = s->s3;
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    curl_slist_free_all(c->connect_to);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->bucket);
    free(c->prefix);
    free(c->scheme_host);
    free(c->host);
    free(c->base_path);
    free(c->region);
    free(c->ca_file);
    free_secret(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    free(c);
    s->s3 = NULL;
}
