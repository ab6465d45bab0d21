/* strbuf.h - a growable, always NUL-terminated byte buffer with a hard cap.
 *
 * Errors are sticky: once an append would pass the cap or allocation fails,
 * err is set and later appends do nothing, so a caller can append freely
 * and check err once. The buffer owns p; strbuf_free releases it, or the
 * caller takes p over (and frees it) after checking err. */
#ifndef LTXCOMMON_STRBUF_H
#define LTXCOMMON_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;    /* NULL until the first append, then NUL-terminated */
    size_t len; /* bytes held, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* cap on the allocation (NUL included) */
    int err;    /* 1 after a refused or failed append */
} strbuf;

#define STRBUF_INIT(max_bytes)     \
    {                              \
        NULL, 0, 0, (max_bytes), 0 \
    }

/* Appends n bytes (n may be 0: p is then allocated, holding ""); 0 or -1. */
int strbuf_append(strbuf *b, const void *data, size_t n);
int strbuf_puts(strbuf *b, const char *s);
int strbuf_putc(strbuf *b, char c);
int strbuf_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Frees p and resets the buffer (max is kept). */
void strbuf_free(strbuf *b);

#endif
