/* sigv4.c - AWS Signature Version 4 signing (see sigv4.h). */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

#define SB_CAP (1u << 20) /* canonical requests are small; refuse anything bigger */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void sb_encode(strbuf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c) || (keep_slash && c == '/')) {
            strbuf_putc(b, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            strbuf_append(b, e, 3);
        }
    }
}

int sigv4_uri_encode(const char *in, int keep_slash, char *out, size_t outlen)
{
    strbuf b = STRBUF_INIT(SB_CAP);
    sb_encode(&b, in, keep_slash);
    if (b.err || b.len + 1 > outlen) {
        free(b.p);
        return -1;
    }
    memcpy(out, b.p ? b.p : "", b.len + 1);
    free(b.p);
    return (int)b.len;
}

static void hexify(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = 0;
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, len, d);
    hexify(d, sizeof d, out);
}

typedef struct {
    char *name; /* encoded (query) or lower-cased (headers) */
    char *value;
    size_t idx; /* original order, for stable merging of duplicates */
} kv;

static int cmp_kv(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_kv_query(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return strcmp(x->value, y->value);
}

static void free_kvs(kv *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

/* Header value: trim, collapse runs of spaces/tabs to one space. */
static char *canon_value(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = 1;
            continue;
        }
        if (space && k > 0)
            o[k++] = ' ';
        space = 0;
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

/* Builds the canonical request; *signed_headers gets "a;b;c" (malloc'd). */
static char *build_canonical(const sigv4_input *in, char **signed_headers)
{
    if (!in || !in->method || !in->path || !in->payload_hash || (in->nquery && !in->query) ||
        (in->nheaders && !in->headers))
        return NULL;
    strbuf b = STRBUF_INIT(SB_CAP), sh = STRBUF_INIT(SB_CAP);
    kv *q = NULL, *h = NULL;
    size_t nq = 0, nh = 0;
    int ok = 1;
    strbuf_puts(&b, in->method);
    strbuf_putc(&b, '\n');
    sb_encode(&b, in->path[0] ? in->path : "/", 1);
    strbuf_putc(&b, '\n');
    /* query */
    if (in->nquery) {
        q = calloc(in->nquery, sizeof *q);
        if (!q)
            ok = 0;
        for (size_t i = 0; ok && i < in->nquery; i++) {
            strbuf kn = STRBUF_INIT(SB_CAP), kvv = STRBUF_INIT(SB_CAP);
            sb_encode(&kn, in->query[i].name ? in->query[i].name : "", 0);
            sb_encode(&kvv, in->query[i].value ? in->query[i].value : "", 0);
            strbuf_puts(&kn, "");
            strbuf_puts(&kvv, "");
            q[i].name = kn.p;
            q[i].value = kvv.p;
            q[i].idx = i;
            nq++;
            if (kn.err || kvv.err)
                ok = 0;
        }
        if (ok)
            qsort(q, nq, sizeof *q, cmp_kv_query);
        for (size_t i = 0; ok && i < nq; i++) {
            if (i)
                strbuf_putc(&b, '&');
            strbuf_puts(&b, q[i].name);
            strbuf_putc(&b, '=');
            strbuf_puts(&b, q[i].value);
        }
    }
    strbuf_putc(&b, '\n');
    /* headers */
    if (ok && in->nheaders) {
        h = calloc(in->nheaders, sizeof *h);
        if (!h)
            ok = 0;
        for (size_t i = 0; ok && i < in->nheaders; i++) {
            const char *nm = in->headers[i].name;
            if (!nm || !*nm) {
                ok = 0;
                break;
            }
            char *ln = strdup(nm);
            char *cv = canon_value(in->headers[i].value ? in->headers[i].value : "");
            h[i].name = ln;
            h[i].value = cv;
            h[i].idx = i;
            nh++;
            if (!ln || !cv) {
                ok = 0;
                break;
            }
            for (char *p = ln; *p; p++) {
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
                else if ((unsigned char)*p <= ' ' || *p == ':')
                    ok = 0;
            }
        }
        if (ok)
            qsort(h, nh, sizeof *h, cmp_kv);
        for (size_t i = 0; ok && i < nh;) {
            size_t j = i;
            strbuf_puts(&b, h[i].name);
            strbuf_putc(&b, ':');
            if (sh.len)
                strbuf_putc(&sh, ';');
            strbuf_puts(&sh, h[i].name);
            for (; j < nh && strcmp(h[j].name, h[i].name) == 0; j++) {
                if (j > i)
                    strbuf_putc(&b, ',');
                strbuf_puts(&b, h[j].value);
            }
            strbuf_putc(&b, '\n');
            i = j;
        }
    }
    strbuf_putc(&b, '\n');
    strbuf_puts(&b, sh.p ? sh.p : "");
    strbuf_putc(&b, '\n');
    strbuf_puts(&b, in->payload_hash);
    free_kvs(q, nq);
    free_kvs(h, nh);
    if (!ok || b.err || sh.err || !sh.p) {
        free(b.p);
        free(sh.p);
        return NULL;
    }
    *signed_headers = sh.p;
    return b.p;
}

char *sigv4_canonical_request(const sigv4_input *in)
{
    char *sh = NULL;
    char *c = build_canonical(in, &sh);
    free(sh);
    return c;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen) ||
        olen != 32)
        return -1;
    return 0;
}

int sigv4_sign(const sigv4_input *in, char sig_hex[65], char *auth, size_t authlen)
{
    if (!in || !in->amz_date || strlen(in->amz_date) != 16 || !in->region || !in->service ||
        !in->access_key || !in->secret_key)
        return -1;
    char *sh = NULL;
    char *creq = build_canonical(in, &sh);
    if (!creq)
        return -1;
    char chash[65];
    sigv4_sha256_hex(creq, strlen(creq), chash);
    free(creq);
    char date[9];
    memcpy(date, in->amz_date, 8);
    date[8] = 0;
    char scope[256];
    int k = snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, in->region, in->service);
    if (k < 0 || (size_t)k >= sizeof scope) {
        free(sh);
        return -1;
    }
    strbuf sts = STRBUF_INIT(SB_CAP);
    strbuf_puts(&sts, "AWS4-HMAC-SHA256\n");
    strbuf_puts(&sts, in->amz_date);
    strbuf_putc(&sts, '\n');
    strbuf_puts(&sts, scope);
    strbuf_putc(&sts, '\n');
    strbuf_puts(&sts, chash);
    strbuf key = STRBUF_INIT(SB_CAP);
    strbuf_puts(&key, "AWS4");
    strbuf_puts(&key, in->secret_key);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    int rc = -1;
    if (!sts.err && !key.err && hmac(key.p, key.len, date, k1) == 0 && hmac(k1, 32, in->region, k2) == 0 &&
        hmac(k2, 32, in->service, k3) == 0 && hmac(k3, 32, "aws4_request", k4) == 0 &&
        hmac(k4, 32, sts.p, sig) == 0) {
        hexify(sig, 32, sig_hex);
        k = snprintf(auth, authlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                     in->access_key, scope, sh, sig_hex);
        rc = (k < 0 || (size_t)k >= authlen) ? -1 : 0;
    }
    if (key.p) {
        OPENSSL_cleanse(key.p, key.len);
        free(key.p);
    }
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(k3, sizeof k3);
    OPENSSL_cleanse(k4, sizeof k4);
    free(sts.p);
    free(sh);
    return rc;
}
