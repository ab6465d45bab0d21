/* log.h - one structured (logfmt) line per event, to stderr. */
#ifndef LTXPAGED_LOG_H
#define LTXPAGED_LOG_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Minimum level printed (default LOG_INFO). */
void log_set_level(int level);
int log_enabled(int level);
int log_parse_level(const char *s); /* "debug".."error"; -1 if unknown */

/* logf(LOG_INFO, "db_added", "db=%s url=%s", ...): writes
 *   ts=2026-01-01T00:00:00.000Z level=info event=db_added db=... url=...
 * `fmt` holds further key=value pairs (use log_q for values with spaces). */
void logf_(int level, const char *event, const char *fmt, ...) LOG_PRINTF(3, 4);

/* Quote a value for logfmt into out (always quoted, escapes " and \ and
 * control characters). Returns out. */
const char *log_q(char *out, size_t outlen, const char *value);

/* RFC 3339 UTC with ms (out >= 25 bytes) and the wall clock in ms since
 * the epoch: thin wrappers over common/timefmt.h (timefmt_format_ms,
 * timefmt_now_ms), which new code calls directly. */
void fmt_time_ms(char *out, size_t outlen, int64_t ms);
int64_t now_ms(void);
int64_t mono_ms(void); /* monotonic clock, ms */
/* *ts = wall clock + ms (ms >= 0): the deadline pthread_cond_timedwait takes. */
struct timespec;
void deadline_in_ms(struct timespec *ts, int64_t ms);

#endif
