/* strbuf.c - growable, capped byte buffer (see strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL, growing by doubling from 256 up to
 * max; sets err and returns -1 when that would pass max or memory is out. */
static int reserve(strbuf *b, size_t n)
{
    if (b->err || b->len >= b->max || n > b->max - b->len - 1) {
        b->err = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < need && nc <= b->max / 2)
        nc *= 2;
    if (nc < need)
        nc = need;
    if (nc > b->max)
        nc = b->max;
    char *g = realloc(b->p, nc);
    if (!g) {
        b->err = 1;
        return -1;
    }
    b->p = g;
    b->cap = nc;
    return 0;
}

int strbuf_append(strbuf *b, const void *data, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int strbuf_puts(strbuf *b, const char *s) { return strbuf_append(b, s, strlen(s)); }

int strbuf_putc(strbuf *b, char c) { return strbuf_append(b, &c, 1); }

int strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = 1;
        return -1;
    }
    if (reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void strbuf_free(strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
