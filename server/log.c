/* log.c - logfmt lines to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timefmt.h"

static atomic_int g_level = LOG_INFO;

void log_set_level(int level) { atomic_store(&g_level, level); }
int log_enabled(int level) { return level >= atomic_load(&g_level); }

int log_parse_level(const char *s)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

int64_t now_ms(void) { return timefmt_now_ms(); }

void fmt_time_ms(char *out, size_t outlen, int64_t ms) { timefmt_format_ms(out, outlen, ms); }

void deadline_in_ms(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *log_q(char *out, size_t outlen, const char *v)
{
    size_t o = 0;
    if (outlen < 3) {
        if (outlen)
            out[0] = 0;
        return out;
    }
    out[o++] = '"';
    for (const char *p = v ? v : ""; *p && o + 5 < outlen; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

void logf_(int level, const char *event, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    if (level < atomic_load(&g_level))
        return;
    char ts[40];
    timefmt_format_ms(ts, sizeof ts, timefmt_now_ms());
    char line[2048];
    int n = snprintf(line, sizeof line, "ts=%s level=%s event=%s", ts,
                     names[level < 0   ? 0
                           : level > 3 ? 3
                                       : level],
                     event);
    if (n < 0)
        return;
    if ((size_t)n < sizeof line - 2 && fmt && *fmt) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
        if ((size_t)n > sizeof line - 2)
            n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    line[n] = 0;
    fputs(line, stderr);
}
