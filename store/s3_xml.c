/* s3_xml.c - ListObjectsV2 answer parser (see s3_xml.h). Not a general XML
 * parser: S3 answers are flat and machine-written; '<' never appears raw
 * inside text, so tags can be found by plain search. Everything is bounded
 * by the buffer; malformed input is an error, never a crash. */
#include "s3_xml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

/* Finds <tag>…</tag> in [p, end); returns the content span. */
static int xml_find(const char *p, const char *end, const char *tag, const char **vs, const char **ve,
                    const char **after)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    size_t ol = strlen(open), cl = strlen(close);
    const char *s = memmem(p, (size_t)(end - p), open, ol);
    if (!s)
        return -1;
    s += ol;
    const char *x = memmem(s, (size_t)(end - s), close, cl);
    if (!x)
        return -2; /* malformed */
    *vs = s;
    *ve = x;
    if (after)
        *after = x + cl;
    return 0;
}

static void put_utf8(char *o, size_t *k, unsigned long cp)
{
    if (cp < 0x80)
        o[(*k)++] = (char)cp;
    else if (cp < 0x800) {
        o[(*k)++] = (char)(0xC0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xE0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*k)++] = (char)(0xF0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* XML text -> malloc'd string with entities decoded; NULL if malformed. */
char *s3_xml_text(const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (const char *p = s; p < e; p++) {
        if (*p != '&') {
            o[k++] = *p;
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(e - p));
        if (!semi || semi - p > 12)
            goto bad;
        size_t el = (size_t)(semi - p - 1);
        const char *ent = p + 1;
        if (el == 3 && !strncmp(ent, "amp", 3))
            o[k++] = '&';
        else if (el == 2 && !strncmp(ent, "lt", 2))
            o[k++] = '<';
        else if (el == 2 && !strncmp(ent, "gt", 2))
            o[k++] = '>';
        else if (el == 4 && !strncmp(ent, "quot", 4))
            o[k++] = '"';
        else if (el == 4 && !strncmp(ent, "apos", 4))
            o[k++] = '\'';
        else if (el >= 2 && ent[0] == '#') {
            char num[12];
            memcpy(num, ent + 1, el - 1);
            num[el - 1] = 0;
            char *endp;
            int hex = num[0] == 'x' || num[0] == 'X';
            unsigned long cp = strtoul(num + hex, &endp, hex ? 16 : 10);
            if (*endp || endp == num + hex || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                goto bad;
            /* output never outgrows input: a code point needing k bytes takes >= k+3 chars as &#N; */
            put_utf8(o, &k, cp);
        } else
            goto bad;
        p = semi;
    }
    o[k] = 0;
    if (strlen(o) != k)
        goto bad; /* embedded NUL */
    return o;
bad:
    free(o);
    return NULL;
}

/* LastModified -> ms since epoch: RFC 3339 (common/timefmt.c). */
int s3_parse_iso_ms(const char *s, int64_t *ms) { return timefmt_parse_rfc3339(s, ms); }

void s3_etag_unquote(const char *v, size_t vl, char out[LTX_ETAG_MAX])
{
    if (vl >= 2 && v[0] == 'W' && v[1] == '/')
        v += 2, vl -= 2; /* weak: S3 never sends it */
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
        v++, vl -= 2;
    int ok = vl < LTX_ETAG_MAX;
    for (size_t i = 0; ok && i < vl; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == '"' || (unsigned char)v[i] >= 0x7f)
            ok = 0;
    if (!ok)
        vl = 0;
    memcpy(out, v, vl);
    out[vl] = 0;
}

static void set_why(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

int s3_parse_list(const char *b, size_t len, s3_key_fn kf, s3_prefix_fn pf, void *ctx, int *truncated,
                  char **next_token, char *why, size_t whylen)
{
    *truncated = 0;
    *next_token = NULL;
    if (!b || !memmem(b, len, "<ListBucketResult", 17)) {
        set_why(why, whylen, "not a ListBucketResult");
        return -1;
    }
    const char *end = b + len, *p = b, *vs, *ve, *after;
    int rc;
    while ((rc = xml_find(p, end, "Contents", &vs, &ve, &after)) == 0) {
        const char *ks, *ke, *ss, *se, *ms, *me;
        if (xml_find(vs, ve, "Key", &ks, &ke, NULL) != 0 || xml_find(vs, ve, "Size", &ss, &se, NULL) != 0) {
            set_why(why, whylen, "entry without Key or Size");
            return -1;
        }
        char num[24];
        size_t nl = (size_t)(se - ss);
        uint64_t size = 0;
        int okn = nl > 0 && nl < sizeof num;
        for (size_t i = 0; okn && i < nl; i++)
            if (!isdigit((unsigned char)ss[i]))
                okn = 0;
        if (okn) {
            memcpy(num, ss, nl);
            num[nl] = 0;
            errno = 0;
            size = strtoull(num, NULL, 10);
            okn = !errno;
        }
        if (!okn) {
            set_why(why, whylen, "bad Size");
            return -1;
        }
        int64_t mt = 0;
        if (xml_find(vs, ve, "LastModified", &ms, &me, NULL) != 0 || me - ms >= 48) {
            set_why(why, whylen, "entry without LastModified");
            return -1;
        }
        char ts[48];
        memcpy(ts, ms, (size_t)(me - ms));
        ts[me - ms] = 0;
        if (s3_parse_iso_ms(ts, &mt) != 0) {
            set_why(why, whylen, "bad LastModified");
            return -1;
        }
        char *key = s3_xml_text(ks, ke);
        if (!key) {
            set_why(why, whylen, "bad Key text");
            return -1;
        }
        /* ETag: optional; quotes dropped; one that does not fit is "" (unknown) */
        char etag[LTX_ETAG_MAX] = "";
        const char *es, *ee;
        if (xml_find(vs, ve, "ETag", &es, &ee, NULL) == 0) {
            char *et = s3_xml_text(es, ee);
            if (!et) {
                free(key);
                set_why(why, whylen, "bad ETag text");
                return -1;
            }
            s3_etag_unquote(et, strlen(et), etag);
            free(et);
        }
        int stop = kf ? kf(ctx, key, size, mt, etag) : 0;
        free(key);
        if (stop < 0)
            return -2;
        p = after;
    }
    if (rc == -2) {
        set_why(why, whylen, "unterminated Contents");
        return -1;
    }
    p = b;
    while ((rc = xml_find(p, end, "CommonPrefixes", &vs, &ve, &after)) == 0) {
        const char *ps, *pe;
        if (xml_find(vs, ve, "Prefix", &ps, &pe, NULL) != 0) {
            set_why(why, whylen, "CommonPrefixes without Prefix");
            return -1;
        }
        char *cp = s3_xml_text(ps, pe);
        if (!cp) {
            set_why(why, whylen, "bad Prefix text");
            return -1;
        }
        int stop = pf ? pf(ctx, cp) : 0;
        free(cp);
        if (stop < 0)
            return -2;
        p = after;
    }
    if (rc == -2) {
        set_why(why, whylen, "unterminated CommonPrefixes");
        return -1;
    }
    rc = xml_find(b, end, "IsTruncated", &vs, &ve, NULL);
    if (rc == -2) {
        set_why(why, whylen, "unterminated IsTruncated");
        return -1;
    }
    if (rc == 0) {
        if (ve - vs == 4 && !strncmp(vs, "true", 4))
            *truncated = 1;
        else if (!(ve - vs == 5 && !strncmp(vs, "false", 5))) {
            set_why(why, whylen, "bad IsTruncated");
            return -1;
        }
    }
    if (*truncated) {
        if (xml_find(b, end, "NextContinuationToken", &vs, &ve, NULL) != 0 ||
            !(*next_token = s3_xml_text(vs, ve)) || !(*next_token)[0]) {
            free(*next_token);
            *next_token = NULL;
            set_why(why, whylen, "truncated without a continuation token");
            return -1;
        }
    }
    return 0;
}
