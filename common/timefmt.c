/* timefmt.c - RFC 3339 formatting and parsing (see timefmt.h). */
#include "timefmt.h"

#include <stdio.h>
#include <time.h>

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Broken-down UTC time of a Unix time in ms. */
typedef struct {
    int64_t y;
    unsigned mo, d, h, mi, s, ms;
} civil_time;

static civil_time civil_from_ms(int64_t ms)
{
    civil_time t;
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    civil_from_days(days, &t.y, &t.mo, &t.d);
    t.h = (unsigned)(sod / 3600);
    t.mi = (unsigned)(sod / 60 % 60);
    t.s = (unsigned)(sod % 60);
    t.ms = (unsigned)rem;
    return t;
}

void timefmt_format_ms(char *out, size_t outlen, int64_t ms)
{
    if (!out || outlen == 0)
        return;
    civil_time t = civil_from_ms(ms);
    snprintf(out, outlen, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)t.y, t.mo, t.d, t.h, t.mi, t.s,
             t.ms);
}

void timefmt_format_nano(char *out, size_t outlen, int64_t ms)
{
    if (!out || outlen == 0)
        return;
    civil_time t = civil_from_ms(ms);
    char frac[16] = "";
    if (t.ms) {
        snprintf(frac, sizeof frac, ".%03u", t.ms % 1000u);
        for (int i = 3; i > 1 && frac[i] == '0'; i--)
            frac[i] = 0;
    }
    snprintf(out, outlen, "%04lld-%02u-%02uT%02u:%02u:%02u%sZ", (long long)t.y, t.mo, t.d, t.h, t.mi, t.s,
             frac);
}

void timefmt_format_basic(char *out, size_t outlen, int64_t secs)
{
    if (!out || outlen == 0)
        return;
    civil_time t = civil_from_ms(secs * 1000);
    snprintf(out, outlen, "%04lld%02u%02uT%02u%02u%02uZ", (long long)t.y, t.mo, t.d, t.h, t.mi, t.s);
}

int64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n decimal digits. */
static int digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int timefmt_parse_rfc3339(const char *s, int64_t *ms)
{
    if (!s)
        return -1;
    const char *p = s;
    unsigned y, mo, d, h, mi, se, frac_ms = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return -1;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (unsigned)(*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (int i = nd; i < 3; i++)
            frac_ms *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + se) - off_s;
    if (ms)
        *ms = secs * 1000 + (int64_t)frac_ms;
    return 0;
}
