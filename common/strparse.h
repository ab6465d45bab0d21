/* strparse.h - strict parsers for numbers, sizes, durations and booleans
 * given on command lines, in environment variables and URI parameters.
 * Every parser takes the whole string (no leading blanks, no trailing
 * junk), returns 0 on success and -1 otherwise, and leaves *out alone on
 * failure. Callers apply their own bounds. */
#ifndef LTXCOMMON_STRPARSE_H
#define LTXCOMMON_STRPARSE_H

#include <stdint.h>

/* Unsigned integer in base 10, 16 or 0 (C prefixes); no sign, no blanks. */
int strparse_u64(const char *s, int base, uint64_t *out);

/* Signed base-10 integer within [lo, hi]. */
int strparse_long(const char *s, long lo, long hi, long *out);

/* Byte size: a non-negative decimal number (fraction allowed) with an
 * optional binary unit K, M, G or T (any case), optionally followed by "B"
 * or "iB"; "B" alone means bytes. "64M", "1.5GiB", "4096", "512kb". */
int strparse_size(const char *s, uint64_t *out);

/* Duration in ms: a non-negative decimal number with an optional unit ms,
 * s (the default), m or min, h, d. "250ms", "1.5s", "5m", "2h", "7d". */
int strparse_duration_ms(const char *s, int64_t *out);

/* Boolean: 1/true/yes/on -> 1, 0/false/no/off -> 0 (any case). */
int strparse_bool(const char *s, int *out);

#endif
