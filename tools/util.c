/* util.c - helpers shared by ltxctl's read-side commands (inspect, verify,
 * restore): JSON output, reading a local or remote LTX file whole, file
 * names and levels, byte counts. See util.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "be.h"
#include "cli.h"
#include "ltx.h"
#include "objstore.h"
#include "util.h"

/* Print o on stdout (indented, keys sorted) and release it; NULL prints nothing. */
void put_json(json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (txt)
        puts(txt);
    free(txt);
    json_decref(o);
}

json_t *jhex(uint64_t v)
{
    char b[17];
    ltx_format_txid(b, v);
    return json_string(b);
}

void sha256_hex(const uint8_t *buf, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        snprintf(out, 65, "%s", "");
        return;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Read a whole local file (capped). Returns 0 or -1 with err. */
int read_local(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((uint64_t)sb.st_size > MAX_LOCAL_FILE) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, MAX_LOCAL_FILE);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        snprintf(err, errlen, "out of memory reading %s", path);
        fclose(f);
        return -1;
    }
    size_t got = n ? fread(b, 1, n, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != n) {
        snprintf(err, errlen, "cannot read %s", path);
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Level from ".../ltx/<L>/<name>" or ".../<%04x>/<name>"; -1 if unknown. */
int level_from_path(const char *path)
{
    const char *name = strrchr(path, '/');
    if (!name || name == path)
        return -1;
    const char *p = name - 1;
    while (p > path && *p != '/')
        p--;
    if (*p == '/')
        p++;
    char dir[16];
    size_t dl = (size_t)(name - p);
    if (dl == 0 || dl >= sizeof dir)
        return -1;
    memcpy(dir, p, dl);
    dir[dl] = '\0';
    int l = ltx_parse_file_level(dir);
    return l >= 0 ? l : ltx_parse_s3_level(dir);
}

json_t *header_json(const ltx_header *h)
{
    char ts[40];
    ltx_format_time(ts, sizeof ts, h->timestamp_ms);
    return json_pack(
        "{s:i, s:i, s:b, s:o, s:o, s:I, s:i, s:o, s:s, s:I, s:I, s:I, s:I, s:I}", "commit",
        (json_int_t)h->commit, "flags", (json_int_t)h->flags, "is_snapshot", ltx_header_is_snapshot(h),
        "max_txid", jhex(h->max_txid), "min_txid", jhex(h->min_txid), "node_id", (json_int_t)h->node_id,
        "page_size", (json_int_t)h->page_size, "pre_apply_checksum", jhex(h->pre_apply_checksum), "timestamp",
        ts, "timestamp_ms", (json_int_t)h->timestamp_ms, "wal_offset", (json_int_t)h->wal_offset, "wal_salt1",
        (json_int_t)h->wal_salt1, "wal_salt2", (json_int_t)h->wal_salt2, "wal_size", (json_int_t)h->wal_size);
}

/* Read a whole LTX object named by URL: "s3://bucket/prefix/<%04x>/<name>"
 * or "file:///root/ltx/<L>/<name>". Returns 0 or -1 with err. */
int read_url(const char *url, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    const int s3 = strncmp(url, "s3://", 5) == 0;
    char root[PATH_MAX], lvl[16];
    const char *name = strrchr(url, '/');
    uint64_t mn, mx;
    if (!name || ltx_parse_filename(name + 1, &mn, &mx) != 0) {
        snprintf(err, errlen, "%s: the URL must end in <level folder>/<min>-<max>.ltx", url);
        return -1;
    }
    const char *ld = name - 1;
    while (ld > url && *ld != '/')
        ld--;
    size_t ll = (size_t)(name - ld - 1);
    if (*ld != '/' || ll == 0 || ll >= sizeof lvl) {
        snprintf(err, errlen, "%s: no level folder before the file name", url);
        return -1;
    }
    memcpy(lvl, ld + 1, ll);
    lvl[ll] = '\0';
    int level = s3 ? ltx_parse_s3_level(lvl) : ltx_parse_file_level(lvl);
    size_t rl = (size_t)(ld - url);
    if (!s3) { /* file: strip the "/ltx" folder too */
        if (rl < 4 || strncmp(ld - 4, "/ltx", 4) != 0)
            level = -1;
        else
            rl -= 4;
    }
    if (level < 0 || rl >= sizeof root) {
        snprintf(err, errlen, "%s: '%s' is not a level folder of a %s replica", url, lvl, s3 ? "S3" : "file");
        return -1;
    }
    memcpy(root, url, rl);
    root[rl] = '\0';
    obj_error oe;
    objstore *st = objstore_open(root, cli_store_opts(), &oe);
    if (!st) {
        snprintf(err, errlen, "%s", oe.msg);
        return -1;
    }
    ltx_fileinfo *files = NULL, f = { .level = level, .min_txid = mn, .max_txid = mx };
    size_t n = 0;
    int found = 0;
    if (objstore_list_level(st, "", level, mn, &files, &n, &oe) != OBJ_OK) {
        snprintf(err, errlen, "cannot list %s: %s", url, oe.msg);
        objstore_close(st);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (files[i].min_txid == mn && files[i].max_txid == mx) {
            f = files[i];
            found = 1;
        }
    free(files);
    int rc = -1;
    if (!found)
        snprintf(err, errlen, "%s: not found", url);
    else if (objstore_read_file(st, "", &f, MAX_LOCAL_FILE, buf, len, &oe) != OBJ_OK)
        snprintf(err, errlen, "cannot read %s: %s", url, oe.msg);
    else
        rc = 0;
    objstore_close(st);
    return rc;
}

const char *layout_name(int layout)
{
    switch (layout) {
    case 0: return "none";
    case 1: return "frame";
    case 2: return "block";
    default: return "mixed";
    }
}
