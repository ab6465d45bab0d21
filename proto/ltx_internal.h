/* ltx_internal.h - helpers shared by the proto/ sources (not public API):
 * big-endian loads/stores and filling an ltx_error. */
#ifndef LTX_INTERNAL_H
#define LTX_INTERNAL_H

#include <stdint.h>

#include "be.h"
#include "ltx.h"

/* Big-endian access: be_get16/32/64, be_put32/64 from common/be.h. */

/* Fill *e (when non-NULL) with code, offset and a printf-formatted message;
 * returns code. Defined in ltx_err.c. */
ltx_err ltx_fail(ltx_error *e, ltx_err code, uint64_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Decode one frame payload (after the 6-byte page header) with page flags
 * `flags` from p[0..avail) into out (page_size bytes). On success *used =
 * payload bytes consumed; with exact != 0 the payload must use all `avail`
 * bytes. `base` is the file offset of p for messages. Defined in codec.c. */
ltx_err ltx_decode_payload(const uint8_t *p, size_t avail, uint16_t flags, uint32_t pgno, uint32_t page_size,
                           uint8_t *out, size_t *used, int exact, uint64_t base, ltx_error *e);

/* LZ4 frame magic 04 22 4d 18 as it appears in a v3a payload. */
extern const uint8_t ltx_lz4f_magic[4];

/* Smallest encoded frame: v3b header + size + 1-byte block. */
#define LTX_MIN_FRAME_SIZE 11u
/* Bytes after the terminator in the smallest file: index "00", u64, trailer. */
#define LTX_MIN_TAIL       (1u + 8u + LTX_TRAILER_SIZE)

/* Reset *e (when non-NULL) to LTX_OK with an empty message. */
void ltx_ok(ltx_error *e);

#endif
