/* ltx_internal.h - helpers shared by the proto/ sources (not public API):
 * big-endian loads/stores and filling an ltx_error. */
#ifndef LTX_INTERNAL_H
#define LTX_INTERNAL_H

#include <stdint.h>

#include "ltx.h"

static inline uint16_t ltx_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t ltx_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ltx_be64(const uint8_t *p) {
    return (uint64_t)ltx_be32(p) << 32 | ltx_be32(p + 4);
}
static inline void ltx_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void ltx_put64(uint8_t *p, uint64_t v) {
    ltx_put32(p, (uint32_t)(v >> 32));
    ltx_put32(p + 4, (uint32_t)v);
}

/* Fill *e (when non-NULL) with code, offset and a printf-formatted message;
 * returns code. Defined in ltx_err.c. */
ltx_err ltx_fail(ltx_error *e, ltx_err code, uint64_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Reset *e (when non-NULL) to LTX_OK with an empty message. */
void ltx_ok(ltx_error *e);

#endif
