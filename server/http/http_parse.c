/* http_parse.c - strict parsers of request values: page numbers, batch
 * lists, Range headers, decimal numbers, ?txid=. Pure functions (no
 * connection, no locks); tests/test_server_parse.c covers them. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_parse_page(const char *s, uint32_t *out)
{
    if (!s || !*s || strlen(s) > 10)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > 0xffffffffull)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* One "a" or "a-b" item of a batch list into a, b. 0 ok, -1 malformed. */
static int http_parse_page_item(const char *p, size_t len, uint32_t *a, uint32_t *b)
{
    char item[32];
    if (len == 0 || len >= sizeof item)
        return -1;
    memcpy(item, p, len);
    item[len] = 0;
    char *dash = strchr(item, '-');
    if (!dash) {
        if (http_parse_page(item, a))
            return -1;
        *b = *a;
        return 0;
    }
    *dash = 0;
    if (http_parse_page(item, a) || http_parse_page(dash + 1, b) || *b < *a)
        return -1;
    return 0;
}

int http_parse_page_list(const char *s, uint32_t max, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s)
        return -1;
    size_t cap = 16, cnt = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    const char *p = s;
    while (1) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        uint32_t a, b;
        if (http_parse_page_item(p, len, &a, &b))
            goto bad;
        if ((uint64_t)cnt + (b - a) + 1 > max) {
            free(v);
            return -2;
        }
        for (uint64_t x = a; x <= b; x++) {
            if (cnt == cap) {
                cap *= 2;
                uint32_t *nv = realloc(v, cap * sizeof *nv);
                if (!nv)
                    goto bad;
                v = nv;
            }
            v[cnt++] = (uint32_t)x;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
bad:
    free(v);
    return -1;
}

int http_parse_u64(const char *s, uint64_t *out)
{
    if (!*s || strlen(s) > 19)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

int http_parse_range(const char *h, uint64_t total, uint64_t *start, uint64_t *end)
{
    if (!h)
        return 1;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "bytes=", 6) != 0)
        return 1;
    h += 6;
    if (strchr(h, ','))
        return 1; /* multiple ranges: serve the whole file */
    char a[32], b[32];
    const char *dash = strchr(h, '-');
    if (!dash || (size_t)(dash - h) >= sizeof a || strlen(dash + 1) >= sizeof b)
        return 1;
    memcpy(a, h, (size_t)(dash - h));
    a[dash - h] = 0;
    memcpy(b, dash + 1, strlen(dash + 1) + 1);
    uint64_t x, y;
    if (a[0] == 0) {
        if (http_parse_u64(b, &y))
            return 1;
        if (y == 0 || total == 0)
            return -1;
        *start = y >= total ? 0 : total - y;
        *end = total - 1;
        return 0;
    }
    if (http_parse_u64(a, &x))
        return 1;
    if (b[0] == 0) {
        y = total ? total - 1 : 0;
    } else {
        if (http_parse_u64(b, &y) || y < x)
            return 1;
        if (y >= total)
            y = total - 1;
    }
    if (x >= total)
        return -1;
    *start = x;
    *end = y;
    return 0;
}

int http_parse_txid_param(const char *t, uint64_t *txid)
{
    *txid = 0;
    if (!t)
        return 0;
    if (ltx_parse_txid(t, txid, 0) != 0) {
        *txid = 0;
        return -1;
    }
    return 1;
}
