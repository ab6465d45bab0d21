/* layout.c - replica layout: LTX file names, TXID and time text, level
 * folder names (LTX-FORMAT.md §1.10 and §2.1). Pure code, no I/O. */
#include <stdio.h>
#include <string.h>

#include "ltx.h"
#include "timefmt.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 16 lowercase hex digits. */
static int parse_hex16_lower(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < LTX_TXID_HEX; i++) {
        int c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        v = (v << 4) | (uint64_t)hexval(c);
    }
    *out = v;
    return 0;
}

int ltx_parse_filename(const char *name, uint64_t *min_txid, uint64_t *max_txid)
{
    uint64_t a, b;
    if (!name || strlen(name) != LTX_FILENAME_LEN)
        return -1;
    if (parse_hex16_lower(name, &a) != 0)
        return -1;
    if (name[16] != '-')
        return -1;
    if (parse_hex16_lower(name + 17, &b) != 0)
        return -1;
    if (memcmp(name + 33, ".ltx", 4) != 0)
        return -1;
    if (min_txid)
        *min_txid = a;
    if (max_txid)
        *max_txid = b;
    return 0;
}

void ltx_format_filename(char *out, uint64_t min_txid, uint64_t max_txid)
{
    snprintf(out, LTX_FILENAME_LEN + 1, "%016llx-%016llx.ltx", (unsigned long long)min_txid,
             (unsigned long long)max_txid);
}

int ltx_parse_txid(const char *s, uint64_t *txid, int allow_zero)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (n < 1 || n > LTX_TXID_HEX)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint64_t)h;
    }
    if (v == 0 && !allow_zero)
        return -1;
    if (txid)
        *txid = v;
    return 0;
}

void ltx_format_txid(char *out, uint64_t txid)
{
    snprintf(out, LTX_TXID_HEX + 1, "%016llx", (unsigned long long)txid);
}

/* ---- time (common/timefmt.c holds the one RFC 3339 implementation) ------ */

void ltx_format_time(char *out, size_t outlen, int64_t ms) { timefmt_format_ms(out, outlen, ms); }

int ltx_parse_time(const char *s, int64_t *ms) { return timefmt_parse_rfc3339(s, ms); }

/* ---- level folders --------------------------------------------------------- */

int ltx_file_level_dir(char *out, size_t outlen, const char *replica_root, int level)
{
    if (!out || !replica_root || level < 0 || level > LTX_MAX_LEVEL)
        return -1;
    size_t rl = strlen(replica_root);
    const char *sep = (rl > 0 && replica_root[rl - 1] == '/') ? "" : "/";
    int n = snprintf(out, outlen, "%s%sltx/%d", replica_root, sep, level);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int ltx_s3_level_prefix(char *out, size_t outlen, const char *db_prefix, int level)
{
    if (!out || !db_prefix || level < 0 || level > LTX_MAX_LEVEL)
        return -1;
    /* The prefix is used literally, as Litestream does: "" gives "/0000". */
    int n = snprintf(out, outlen, "%s/%04x", db_prefix, (unsigned)level);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int ltx_parse_file_level(const char *name)
{
    if (!name || name[0] < '0' || name[0] > '9' || name[1] != '\0')
        return -1;
    return name[0] - '0';
}

int ltx_parse_s3_level(const char *name)
{
    if (!name || strlen(name) != 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        v = v * 16 + hexval(c);
    }
    return v <= LTX_MAX_LEVEL ? v : -1;
}

void ltx_fileinfo_format(char *out, size_t outlen, const ltx_fileinfo *f)
{
    if (!out || outlen == 0)
        return;
    if (!f) {
        out[0] = '\0';
        return;
    }
    snprintf(out, outlen, "L%d:%016llx-%016llx", f->level, (unsigned long long)f->min_txid,
             (unsigned long long)f->max_txid);
}
