/* timefmt.h - RFC 3339 time text <-> Unix milliseconds, and the clock.
 * Pure arithmetic (proleptic Gregorian, no time zone database, no locale). */
#ifndef LTXCOMMON_TIMEFMT_H
#define LTXCOMMON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_MS_LEN 24 /* "2025-01-01T00:06:30.000Z" without its NUL */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, always three fraction digits); needs
 * outlen >= TIMEFMT_MS_LEN + 1 for the whole text, truncates otherwise. */
void timefmt_format_ms(char *out, size_t outlen, int64_t ms);

/* Go's RFC3339Nano at ms precision: fraction without trailing zeros and no
 * fraction at all on a whole second ("2025-01-01T00:06:30.5Z"). */
void timefmt_format_nano(char *out, size_t outlen, int64_t ms);

/* ISO 8601 basic form "YYYYMMDDTHHMMSSZ" of a Unix time in seconds (the
 * x-amz-date of SigV4). */
void timefmt_format_basic(char *out, size_t outlen, int64_t secs);

/* RFC 3339: YYYY-MM-DD 'T' hh:mm:ss [.1-9 digits] ('Z' | +hh:mm | -hh:mm);
 * 't' and 'z' accepted, fraction truncated to ms, no leap second (:60).
 * Returns 0 and sets *ms (when non-NULL), or -1 on anything else. */
int timefmt_parse_rfc3339(const char *s, int64_t *ms);

/* Wall clock (CLOCK_REALTIME) in Unix milliseconds. */
int64_t timefmt_now_ms(void);

#endif
