/* layout.c - replica layout: LTX file names, TXID and time text, level
 * folder names (LTX-FORMAT.md §1.10 and §2.1). Pure code, no I/O. */
#include <stdio.h>
#include <string.h>

#include "ltx.h"

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 16 lowercase hex digits. */
static int parse_hex16_lower(const char *s, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < LTX_TXID_HEX; i++) {
        int c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        v = (v << 4) | (uint64_t)hexval(c);
    }
    *out = v;
    return 0;
}

int ltx_parse_filename(const char *name, uint64_t *min_txid, uint64_t *max_txid) {
    uint64_t a, b;
    if (!name || strlen(name) != LTX_FILENAME_LEN) return -1;
    if (parse_hex16_lower(name, &a) != 0) return -1;
    if (name[16] != '-') return -1;
    if (parse_hex16_lower(name + 17, &b) != 0) return -1;
    if (memcmp(name + 33, ".ltx", 4) != 0) return -1;
    if (min_txid) *min_txid = a;
    if (max_txid) *max_txid = b;
    return 0;
}

void ltx_format_filename(char *out, uint64_t min_txid, uint64_t max_txid) {
    snprintf(out, LTX_FILENAME_LEN + 1, "%016llx-%016llx.ltx", (unsigned long long)min_txid,
             (unsigned long long)max_txid);
}

int ltx_parse_txid(const char *s, uint64_t *txid, int allow_zero) {
    if (!s) return -1;
    size_t n = strlen(s);
    if (n < 1 || n > LTX_TXID_HEX) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) return -1;
        v = (v << 4) | (uint64_t)h;
    }
    if (v == 0 && !allow_zero) return -1;
    if (txid) *txid = v;
    return 0;
}

void ltx_format_txid(char *out, uint64_t txid) {
    snprintf(out, LTX_TXID_HEX + 1, "%016llx", (unsigned long long)txid);
}

/* ---- time ---------------------------------------------------------------- */

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
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

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

void ltx_format_time(char *out, size_t outlen, int64_t ms) {
    if (!out || outlen == 0) return;
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
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    snprintf(out, outlen, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo, d,
             (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
             (unsigned)rem);
}

/* Read exactly n decimal digits. */
static int digits(const char **p, int n, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ltx_parse_time(const char *s, int64_t *ms) {
    if (!s) return -1;
    const char *p = s;
    unsigned y, mo, d, h, mi, se, frac_ms = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't') return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return -1;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3) frac_ms = frac_ms * 10 + (unsigned)(*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9) return -1;
        for (int i = nd; i < 3; i++) frac_ms *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om)) return -1;
        if (oh > 23 || om > 59) return -1;
        off_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + se) - off_s;
    if (ms) *ms = secs * 1000 + (int64_t)frac_ms;
    return 0;
}

/* ---- level folders --------------------------------------------------------- */

int ltx_file_level_dir(char *out, size_t outlen, const char *replica_root, int level) {
    if (!out || !replica_root || level < 0 || level > LTX_MAX_LEVEL) return -1;
    size_t rl = strlen(replica_root);
    const char *sep = (rl > 0 && replica_root[rl - 1] == '/') ? "" : "/";
    int n = snprintf(out, outlen, "%s%sltx/%d", replica_root, sep, level);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int ltx_s3_level_prefix(char *out, size_t outlen, const char *db_prefix, int level) {
    if (!out || !db_prefix || level < 0 || level > LTX_MAX_LEVEL) return -1;
    /* The prefix is used literally, as Litestream does: "" gives "/0000". */
    int n = snprintf(out, outlen, "%s/%04x", db_prefix, (unsigned)level);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int ltx_parse_file_level(const char *name) {
    if (!name || name[0] < '0' || name[0] > '9' || name[1] != '\0') return -1;
    return name[0] - '0';
}

int ltx_parse_s3_level(const char *name) {
    if (!name || strlen(name) != 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        v = v * 16 + hexval(c);
    }
    return v <= LTX_MAX_LEVEL ? v : -1;
}

void ltx_fileinfo_format(char *out, size_t outlen, const ltx_fileinfo *f) {
    if (!out || outlen == 0) return;
    if (!f) {
        out[0] = '\0';
        return;
    }
    snprintf(out, outlen, "L%d:%016llx-%016llx", f->level, (unsigned long long)f->min_txid,
             (unsigned long long)f->max_txid);
}
