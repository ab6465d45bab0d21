/* strparse.c - strict string parsers (see strparse.h). */
#include "strparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int strparse_u64(const char *s, int base, uint64_t *out)
{
    if (!s || !out || !((*s >= '0' && *s <= '9')))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (end == s || *end || errno)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int strparse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !out || !*s || *s == ' ' || *s == '\t' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A non-negative decimal number ("12", "1.5", ".5"); *end at what follows. */
static int parse_decimal(const char *s, double *v, const char **end)
{
    if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    char *e;
    errno = 0;
    double x = strtod(s, &e);
    if (e == s || errno || !(x >= 0) || x > 1e30)
        return -1;
    /* strtod also reads hex floats and exponents: allow only digits and '.' */
    for (const char *p = s; p < e; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1;
    *v = x;
    *end = e;
    return 0;
}

int strparse_size(const char *s, uint64_t *out)
{
    double v;
    const char *u;
    if (!out || parse_decimal(s, &v, &u) != 0)
        return -1;
    static const char units[] = "KMGT";
    double mult = 1;
    const char *rest = u;
    if (*u) {
        const char *k = strchr(units, *u >= 'a' && *u <= 'z' ? *u - 'a' + 'A' : *u);
        if (k && *k) {
            for (const char *q = units; q <= k; q++)
                mult *= 1024.0;
            rest = u + 1;
            if (*rest && strcasecmp(rest, "B") != 0 && strcasecmp(rest, "iB") != 0)
                return -1;
        } else if (strcasecmp(u, "B") != 0) {
            return -1;
        }
    }
    double b = v * mult;
    if (b >= 1.8e19)
        return -1;
    *out = (uint64_t)b;
    return 0;
}

int strparse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = { { "", 1000 },     { "s", 1000 },    { "ms", 1 },      { "m", 60000 },
                  { "min", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
    double v;
    const char *u;
    if (!out || parse_decimal(s, &v, &u) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(u, units[i].unit) != 0)
            continue;
        double r = v * units[i].ms;
        if (r > 9e15)
            return -1;
        *out = (int64_t)(r + 0.5);
        return 0;
    }
    return -1;
}

int strparse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" }, *const no[] = { "0", "false", "no",
                                                                                   "off" };
    if (!s || !out)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}
