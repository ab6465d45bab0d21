/* cmd_read.c - `ltxctl inspect`, `ltxctl verify`, `ltxctl restore`.
 *
 * Exit status: 0 success, 1 a problem was found (damaged file, gap, restore
 * failed), 2 usage error. Reference: docs/ltxctl.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ltx.h"
#include "ltxctl.h"
#include "objstore.h"
#include "restore.h"

#define MAX_LOCAL_FILE ((size_t)4 << 30)

/* ---- small helpers ---------------------------------------------------------- */

static uint32_t rd_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void hex16(char out[17], uint64_t v) { snprintf(out, 17, "%016" PRIx64, v); }

/* Print o on stdout (indented, keys sorted) and release it; NULL prints nothing. */
static void put_json(json_t *o) {
    char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (txt) puts(txt);
    free(txt);
    json_decref(o);
}

static json_t *jhex(uint64_t v) {
    char b[17];
    hex16(b, v);
    return json_string(b);
}

static void sha256_hex(const uint8_t *buf, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        snprintf(out, 65, "%s", "");
        return;
    }
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Read a whole local file (capped). Returns 0 or -1 with err. */
static int read_local(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen) {
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

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Level from ".../ltx/<L>/<name>" or ".../<%04x>/<name>"; -1 if unknown. */
static int level_from_path(const char *path) {
    const char *name = strrchr(path, '/');
    if (!name || name == path) return -1;
    const char *p = name - 1;
    while (p > path && *p != '/') p--;
    if (*p == '/') p++;
    char dir[16];
    size_t dl = (size_t)(name - p);
    if (dl == 0 || dl >= sizeof dir) return -1;
    memcpy(dir, p, dl);
    dir[dl] = '\0';
    int l = ltx_parse_file_level(dir);
    return l >= 0 ? l : ltx_parse_s3_level(dir);
}

static json_t *header_json(const ltx_header *h) {
    char ts[40];
    ltx_format_time(ts, sizeof ts, h->timestamp_ms);
    return json_pack("{s:i, s:i, s:b, s:o, s:o, s:I, s:i, s:o, s:s, s:I, s:I, s:I, s:I, s:I}",
                     "commit", (json_int_t)h->commit, "flags", (json_int_t)h->flags,
                     "is_snapshot", ltx_header_is_snapshot(h), "max_txid", jhex(h->max_txid),
                     "min_txid", jhex(h->min_txid), "node_id", (json_int_t)h->node_id,
                     "page_size", (json_int_t)h->page_size, "pre_apply_checksum",
                     jhex(h->pre_apply_checksum), "timestamp", ts, "timestamp_ms",
                     (json_int_t)h->timestamp_ms, "wal_offset", (json_int_t)h->wal_offset,
                     "wal_salt1", (json_int_t)h->wal_salt1, "wal_salt2", (json_int_t)h->wal_salt2,
                     "wal_size", (json_int_t)h->wal_size);
}

/* "65536", "64K", "64M", "1G" -> bytes. */
static int parse_bytes(const char *s, size_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
    if (*end) return -1;
    if (v > SIZE_MAX / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static int usage_err(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ltxctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

/* Read a whole LTX object named by URL: "s3://bucket/prefix/<%04x>/<name>"
 * or "file:///root/ltx/<L>/<name>". Returns 0 or -1 with err. */
static int read_url(const char *url, uint8_t **buf, size_t *len, char *err, size_t errlen) {
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
    while (ld > url && *ld != '/') ld--;
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
        if (rl < 4 || strncmp(ld - 4, "/ltx", 4) != 0) level = -1;
        else rl -= 4;
    }
    if (level < 0 || rl >= sizeof root) {
        snprintf(err, errlen, "%s: '%s' is not a level folder of a %s replica", url, lvl, s3 ? "S3" : "file");
        return -1;
    }
    memcpy(root, url, rl);
    root[rl] = '\0';
    obj_error oe;
    objstore *st = objstore_open(root, NULL, &oe);
    if (!st) {
        snprintf(err, errlen, "%s", oe.msg);
        return -1;
    }
    ltx_fileinfo *files = NULL, f = {.level = level, .min_txid = mn, .max_txid = mx};
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

/* ---- inspect ------------------------------------------------------------------ */

typedef struct {
    char (*sha)[65]; /* per page, file order */
    size_t n, cap;
} page_hashes;

typedef struct {
    page_hashes *ph;
    uint32_t page_size;
} hash_ctx;

static int hash_page(void *vctx, uint32_t pgno, const uint8_t *page) {
    (void)pgno;
    hash_ctx *c = vctx;
    if (c->ph->n >= c->ph->cap) return 1;
    sha256_hex(page, c->page_size, c->ph->sha[c->ph->n]);
    c->ph->n++;
    return 0;
}

static const char *layout_name(int layout) {
    switch (layout) {
    case 0: return "none";
    case 1: return "frame";
    case 2: return "block";
    default: return "mixed";
    }
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int as_json = 0, show_pages = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (!strcmp(argv[i], "--no-pages")) show_pages = 0;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ltxctl inspect FILE [--json] [--no-pages]\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) return usage_err("inspect", "unknown option %s", argv[i]);
        else if (path) return usage_err("inspect", "one FILE only (got %s and %s)", path, argv[i]);
        else path = argv[i];
    }
    if (!path) return usage_err("inspect", "usage: ltxctl inspect FILE [--json] [--no-pages]");

    char err[512];
    uint8_t *buf = NULL;
    size_t len = 0;
    if ((strstr(path, "://") ? read_url(path, &buf, &len, err, sizeof err)
                              : read_local(path, &buf, &len, err, sizeof err)) != 0) {
        fprintf(stderr, "ltxctl inspect: %s\n", err);
        return 1;
    }
    char file_sha[65];
    sha256_hex(buf, len, file_sha);

    ltx_header h;
    ltx_error he;
    ltx_err hrc = ltx_header_decode(buf, len, &h, &he);

    /* page index from the tail, as a remote reader would see it */
    ltx_index_entry *idx = NULL;
    size_t nidx = 0;
    uint64_t idx_off = 0, idx_len = 0;
    ltx_error ie;
    ltx_err irc = LTX_ERR_HEADER;
    if (hrc == LTX_OK) {
        irc = ltx_index_locate(buf, len, len, &idx_off, &idx_len, &ie);
        if (irc == LTX_OK && idx_off + idx_len <= len)
            irc = ltx_index_decode(buf + idx_off, (size_t)idx_len, idx_off, h.page_size, h.commit,
                                   &idx, &nidx, &ie);
    }

    /* full decode: every frame, index agreement, checksums */
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    page_hashes ph = {0};
    ltx_error fe;
    memset(&fe, 0, sizeof fe);
    ltx_err frc = hrc;
    if (hrc == LTX_OK) {
        ph.cap = len / 8 + 1;
        if (ph.cap > nidx + 1 && irc == LTX_OK) ph.cap = nidx + 1;
        if (ph.cap > h.commit + 1ull) ph.cap = (size_t)h.commit + 1;
        ph.sha = calloc(ph.cap, sizeof *ph.sha);
        if (!ph.sha) {
            fprintf(stderr, "ltxctl inspect: out of memory\n");
            free(buf);
            free(idx);
            return 1;
        }
        hash_ctx hc = {.ph = &ph, .page_size = h.page_size};
        frc = ltx_file_decode(buf, len, hash_page, &hc, &info, &fe);
    } else {
        fe = he;
    }
    const ltx_index_entry *ents = frc == LTX_OK ? info.index : idx;
    size_t nents = frc == LTX_OK ? info.page_count : (irc == LTX_OK ? nidx : 0);
    int have_sha = frc == LTX_OK;
    uint64_t name_min = 0, name_max = 0;
    int named = ltx_parse_filename(base_name(path), &name_min, &name_max) == 0;
    int name_mismatch = hrc == LTX_OK && named && (name_min != h.min_txid || name_max != h.max_txid);
    int ok = frc == LTX_OK && !name_mismatch;

    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "size", json_integer((json_int_t)len));
        json_object_set_new(o, "sha256", json_string(file_sha));
        int lvl = level_from_path(path);
        if (lvl >= 0 && named) json_object_set_new(o, "level", json_integer(lvl));
        if (hrc == LTX_OK) {
            json_object_set_new(o, "min_txid", jhex(h.min_txid));
            json_object_set_new(o, "max_txid", jhex(h.max_txid));
            json_object_set_new(o, "header", header_json(&h));
        }
        if (len >= LTX_HEADER_SIZE + LTX_TRAILER_SIZE && hrc == LTX_OK) {
            uint64_t post = 0, fck = 0;
            for (int i = 0; i < 8; i++) {
                post = post << 8 | buf[len - 16 + i];
                fck = fck << 8 | buf[len - 8 + i];
            }
            json_object_set_new(o, "trailer", json_pack("{s:o, s:o}", "file_checksum", jhex(fck),
                                                        "post_apply_checksum", jhex(post)));
        }
        if (irc == LTX_OK)
            json_object_set_new(o, "page_index", json_pack("{s:I, s:I}", "offset", (json_int_t)idx_off,
                                                           "varint_bytes", (json_int_t)idx_len));
        json_t *pages = json_array(), *frames = json_array();
        for (size_t i = 0; i < nents; i++) {
            const ltx_index_entry *x = &ents[i];
            json_array_append_new(pages, json_integer(x->pgno));
            json_t *fr = json_pack("{s:i, s:I, s:i}", "pgno", (json_int_t)x->pgno, "offset",
                                   (json_int_t)x->offset, "size", (json_int_t)x->size);
            if (x->offset + 10 <= len && x->size >= 6) {
                unsigned fl = (unsigned)buf[x->offset + 4] << 8 | buf[x->offset + 5];
                json_object_set_new(fr, "flags", json_integer(fl));
                uint32_t cs = (fl & LTX_PAGE_FLAG_SIZE) ? rd_be32(buf + x->offset + 6) : x->size - 6;
                json_object_set_new(fr, "compressed_size", json_integer(cs));
            }
            if (have_sha && i < ph.n) json_object_set_new(fr, "data_sha256", json_string(ph.sha[i]));
            json_array_append_new(frames, fr);
        }
        json_object_set_new(o, "pages", pages);
        json_object_set_new(o, "frames", frames);
        if (frc == LTX_OK) json_object_set_new(o, "frame_layout", json_string(layout_name(info.frame_layout)));
        json_object_set_new(o, "checksum_ok", json_boolean(frc == LTX_OK));
        json_object_set_new(o, "ok", json_boolean(ok));
        if (frc != LTX_OK) {
            json_object_set_new(o, "error", json_string(fe.msg[0] ? fe.msg : ltx_strerror(frc)));
            json_object_set_new(o, "error_code", json_string(ltx_err_code(frc)));
            json_object_set_new(o, "error_offset", json_integer((json_int_t)fe.offset));
        } else if (name_mismatch) {
            json_object_set_new(o, "error", json_string("header TXIDs differ from the file name"));
            json_object_set_new(o, "error_code", json_string("name_mismatch"));
        }
        put_json(o);
    } else {
        printf("file         %s\n", path);
        printf("size         %zu bytes\n", len);
        printf("sha256       %s\n", file_sha);
        if (hrc == LTX_OK) {
            char ts[40];
            ltx_format_time(ts, sizeof ts, h.timestamp_ms);
            printf("header\n");
            printf("  flags          0x%08" PRIx32 "%s\n", h.flags,
                   (h.flags & LTX_FLAG_NO_CHECKSUM) ? " (NoChecksum)" : " (checksums tracked)");
            printf("  page_size      %" PRIu32 "\n", h.page_size);
            printf("  commit         %" PRIu32 " pages (%" PRIu64 " bytes)\n", h.commit,
                   (uint64_t)h.commit * h.page_size);
            printf("  min_txid       %016" PRIx64 "\n", h.min_txid);
            printf("  max_txid       %016" PRIx64 "%s\n", h.max_txid,
                   ltx_header_is_snapshot(&h) ? "  (snapshot: min_txid 1)" : "");
            printf("  timestamp      %s (%" PRId64 " ms)\n", ts, h.timestamp_ms);
            printf("  pre_apply      %016" PRIx64 "\n", h.pre_apply_checksum);
            printf("  wal_offset     %" PRId64 "\n", h.wal_offset);
            printf("  wal_size       %" PRId64 "\n", h.wal_size);
            printf("  wal_salt       0x%08" PRIx32 " 0x%08" PRIx32 "\n", h.wal_salt1, h.wal_salt2);
            printf("  node_id        %" PRIu64 "\n", h.node_id);
        }
        if (frc == LTX_OK)
            printf("layout       %s\n", info.frame_layout == 2   ? "LZ4 block (v3b, page flags 0x0001)"
                                               : info.frame_layout == 1 ? "LZ4 frame (v3a, page flags 0x0000)"
                                               : info.frame_layout == 0 ? "no pages"
                                                                        : "mixed v3a/v3b");
        if (nents) {
            printf("pages        %zu%s\n", nents, have_sha ? "" : " (from the page index)");
            if (show_pages) {
                printf("  %10s %12s %8s %6s %8s  %s\n", "pgno", "offset", "size", "flags", "lz4", have_sha ? "sha256 of page" : "");
                for (size_t i = 0; i < nents; i++) {
                    const ltx_index_entry *x = &ents[i];
                    unsigned fl = 0;
                    uint32_t cs = 0;
                    if (x->offset + 10 <= len && x->size >= 6) {
                        fl = (unsigned)buf[x->offset + 4] << 8 | buf[x->offset + 5];
                        cs = (fl & LTX_PAGE_FLAG_SIZE) ? rd_be32(buf + x->offset + 6) : x->size - 6;
                    }
                    printf("  %10" PRIu32 " %12" PRIu64 " %8" PRIu32 " 0x%04x %8" PRIu32 "  %s\n", x->pgno,
                           x->offset, x->size, fl, cs, have_sha && i < ph.n ? ph.sha[i] : "");
                }
            }
        } else if (hrc == LTX_OK) {
            printf("pages        0\n");
        }
        if (irc == LTX_OK)
            printf("page index   offset %" PRIu64 ", %" PRIu64 " bytes of varints\n", idx_off, idx_len);
        if (hrc == LTX_OK && len >= LTX_HEADER_SIZE + LTX_TRAILER_SIZE) {
            uint64_t post = 0, fck = 0;
            for (int i = 0; i < 8; i++) {
                post = post << 8 | buf[len - 16 + i];
                fck = fck << 8 | buf[len - 8 + i];
            }
            printf("trailer\n");
            printf("  post_apply     %016" PRIx64 "\n", post);
            printf("  file_checksum  %016" PRIx64 " (%s)\n", fck,
                   frc == LTX_OK ? "ok" : frc == LTX_ERR_CHECKSUM ? "MISMATCH" : "not verified");
        }
        if (frc != LTX_OK)
            printf("status       FAILED: %s: %s\n", ltx_err_code(frc), fe.msg[0] ? fe.msg : ltx_strerror(frc));
        else if (name_mismatch)
            printf("status       FAILED: name_mismatch: header TXIDs %016" PRIx64 "-%016" PRIx64
                   " differ from the file name\n", h.min_txid, h.max_txid);
        else
            printf("status       ok (frames, index and file checksum verified)\n");
    }
    if (!ok)
        fprintf(stderr, "ltxctl inspect: %s: %s\n", path,
                frc != LTX_OK ? (fe.msg[0] ? fe.msg : ltx_strerror(frc)) : "header TXIDs differ from the file name");
    free(ph.sha);
    free(idx);
    ltx_file_info_free(&info);
    free(buf);
    return ok ? 0 : 1;
}

/* ---- verify -------------------------------------------------------------------- */

typedef struct {
    int as_json, verbose;
    int errors, warnings;
    json_t *cur_errors, *cur_warnings; /* arrays of the target being checked */
} vstate;

static void vvproblem(vstate *v, int is_error, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (is_error) v->errors++;
    else v->warnings++;
    json_t *arr = is_error ? v->cur_errors : v->cur_warnings;
    if (arr) json_array_append_new(arr, json_string(msg));
    if (!v->as_json) printf("%s: %s\n", is_error ? "error" : "warning", msg);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void vproblem(vstate *v, int is_error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vvproblem(v, is_error, fmt, ap);
    va_end(ap);
}

/* A target that could not be checked at all: {"path", "kind" (unless NULL),
 * "ok": false, "errors": [message]}. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void vfailed_target(vstate *v, json_t *targets, const char *path, const char *kind, const char *fmt, ...) {
    json_t *t = kind ? json_pack("{s:s, s:s, s:b}", "path", path, "kind", kind, "ok", 0)
                     : json_pack("{s:s, s:b}", "path", path, "ok", 0);
    v->cur_errors = json_array();
    va_list ap;
    va_start(ap, fmt);
    vvproblem(v, 1, fmt, ap);
    va_end(ap);
    json_object_set_new(t, "errors", v->cur_errors);
    json_array_append_new(targets, t);
    v->cur_errors = NULL;
}

/* Verify one LTX file held in memory. Returns 0 if fine. */
static int verify_bytes(vstate *v, const char *disp, const uint8_t *buf, size_t len,
                        int have_name, uint64_t nmin, uint64_t nmax, int level, ltx_header *hout,
                        json_t *fj) {
    ltx_file_info info;
    ltx_error e;
    ltx_err rc = ltx_file_decode(buf, len, NULL, NULL, &info, &e);
    if (rc != LTX_OK) {
        vproblem(v, 1, "%s: %s: %s", disp, ltx_err_code(rc), e.msg[0] ? e.msg : ltx_strerror(rc));
        if (fj) {
            json_object_set_new(fj, "ok", json_false());
            json_object_set_new(fj, "error", json_string(e.msg));
            json_object_set_new(fj, "error_code", json_string(ltx_err_code(rc)));
        }
        return -1;
    }
    int bad = 0;
    if (have_name && (info.header.min_txid != nmin || info.header.max_txid != nmax)) {
        vproblem(v, 1, "%s: name_mismatch: header holds TXIDs %016" PRIx64 "-%016" PRIx64, disp,
                 info.header.min_txid, info.header.max_txid);
        bad = 1;
    }
    if (level == LTX_SNAPSHOT_LEVEL && info.header.min_txid != 1) {
        vproblem(v, 1, "%s: bad_snapshot: level 9 file does not start at TXID 1", disp);
        bad = 1;
    }
    if (level == 0 && info.header.min_txid != info.header.max_txid)
        vproblem(v, 0, "%s: level 0 file covers more than one TXID", disp);
    if (fj) {
        json_object_set_new(fj, "ok", json_boolean(!bad));
        json_object_set_new(fj, "pages", json_integer((json_int_t)info.page_count));
        json_object_set_new(fj, "page_size", json_integer(info.header.page_size));
        json_object_set_new(fj, "commit", json_integer(info.header.commit));
        json_object_set_new(fj, "frame_layout", json_string(layout_name(info.frame_layout)));
        json_object_set_new(fj, "timestamp_ms", json_integer((json_int_t)info.header.timestamp_ms));
    }
    if (v->verbose && !v->as_json)
        printf("ok: %s: %zu pages, page size %" PRIu32 ", commit %" PRIu32 ", %s layout\n", disp,
               info.page_count, info.header.page_size, info.header.commit, layout_name(info.frame_layout));
    if (hout) *hout = info.header;
    ltx_file_info_free(&info);
    return bad ? -1 : 0;
}

static int verify_local_file(vstate *v, const char *path, json_t *targets) {
    json_t *t = json_object();
    v->cur_errors = json_array();
    v->cur_warnings = json_array();
    json_object_set_new(t, "path", json_string(path));
    json_object_set_new(t, "kind", json_string("file"));
    int before = v->errors;
    char err[512];
    uint8_t *buf = NULL;
    size_t len = 0;
    json_t *fj = json_object();
    if (read_local(path, &buf, &len, err, sizeof err) != 0) {
        vproblem(v, 1, "%s", err);
    } else {
        uint64_t a = 0, b = 0;
        int named = ltx_parse_filename(base_name(path), &a, &b) == 0;
        verify_bytes(v, path, buf, len, named, a, b, named ? level_from_path(path) : -1, NULL, fj);
        free(buf);
        if (v->errors == before && !v->verbose && !v->as_json) printf("ok: %s\n", path);
    }
    json_object_update(t, fj);
    json_decref(fj);
    json_object_set_new(t, "ok", json_boolean(v->errors == before));
    json_object_set_new(t, "errors", v->cur_errors);
    json_object_set_new(t, "warnings", v->cur_warnings);
    json_array_append_new(targets, t);
    v->cur_errors = v->cur_warnings = NULL;
    return v->errors == before ? 0 : -1;
}

static int cmp_level_min(const void *pa, const void *pb) {
    const ltx_fileinfo *a = pa, *b = pb;
    if (a->level != b->level) return a->level < b->level ? -1 : 1;
    if (a->min_txid != b->min_txid) return a->min_txid < b->min_txid ? -1 : 1;
    if (a->max_txid != b->max_txid) return a->max_txid < b->max_txid ? -1 : 1;
    return 0;
}

static int verify_replica_db(vstate *v, objstore *s, const char *db, const char *label,
                             ltx_fileinfo *files, size_t n, json_t *targets, size_t buffer_limit) {
    json_t *t = json_object();
    v->cur_errors = json_array();
    v->cur_warnings = json_array();
    json_object_set_new(t, "path", json_string(label));
    json_object_set_new(t, "kind", json_string("replica"));
    int before = v->errors;
    char disp[PATH_MAX + 64], disp2[PATH_MAX + 64];
    json_t *jfiles = json_array();
    qsort(files, n, sizeof *files, cmp_level_min);

    /* 1. every file whole */
    uint32_t page_size = 0;
    size_t mtime_off = 0, per_level[LTX_MAX_LEVEL + 1] = {0};
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const ltx_fileinfo *f = &files[i];
        per_level[f->level]++;
        restore_file_display(disp, sizeof disp, s, db, f);
        char name[LTX_FILENAME_LEN + 1];
        ltx_format_filename(name, f->min_txid, f->max_txid);
        json_t *fj = json_pack("{s:s, s:i, s:o, s:o, s:I}", "path", disp, "level", f->level,
                               "min_txid", jhex(f->min_txid), "max_txid", jhex(f->max_txid), "size",
                               (json_int_t)f->size);
        restore_file_stats st;
        char err[1024];
        int lrc = restore_load_file(s, db, f, -1, buffer_limit, NULL, &st, err, sizeof err);
        bytes += st.bytes;
        if (lrc != 0) {
            vproblem(v, 1, "%s", err);
            json_object_set_new(fj, "ok", json_false());
            json_object_set_new(fj, "error", json_string(err));
            if (st.code != LTX_OK) json_object_set_new(fj, "error_code", json_string(st.code == LTX_ERR_NAME ? "name_mismatch" : ltx_err_code(st.code)));
        } else {
            const ltx_header *h = &st.header;
            int bad = 0;
            if (f->level == LTX_SNAPSHOT_LEVEL && h->min_txid != 1) {
                vproblem(v, 1, "%s: bad_snapshot: level 9 file does not start at TXID 1", disp);
                bad = 1;
            }
            if (f->level == 0 && h->min_txid != h->max_txid)
                vproblem(v, 0, "%s: level 0 file covers more than one TXID", disp);
            if (!page_size) page_size = h->page_size;
            else if (h->page_size != page_size) {
                vproblem(v, 1, "%s: page size %" PRIu32 " differs from %" PRIu32 " of other files", disp,
                         h->page_size, page_size);
                bad = 1;
            }
            if (!objstore_is_s3(s) && h->timestamp_ms != f->created_ms) mtime_off++;
            json_object_set_new(fj, "ok", json_boolean(!bad));
            json_object_set_new(fj, "pages", json_integer((json_int_t)st.pages));
            json_object_set_new(fj, "page_size", json_integer(h->page_size));
            json_object_set_new(fj, "commit", json_integer(h->commit));
            json_object_set_new(fj, "frame_layout", json_string(layout_name(st.frame_layout)));
            json_object_set_new(fj, "timestamp_ms", json_integer((json_int_t)h->timestamp_ms));
            json_object_set_new(fj, "streamed", json_boolean(st.streamed));
            if (v->verbose && !v->as_json)
                printf("ok: %s: %zu pages, page size %" PRIu32 ", commit %" PRIu32 ", %s layout%s\n", disp,
                       st.pages, h->page_size, h->commit, layout_name(st.frame_layout),
                       st.streamed ? ", streamed" : "");
        }
        json_array_append_new(jfiles, fj);
    }
    if (mtime_off)
        vproblem(v, 0, "%zu of %zu files have an mtime that differs from their header timestamp "
                 "(time-based restores use the mtime)", mtime_off, n);

    /* 2. TXID contiguity inside each level (snapshots overlap by nature) */
    for (size_t i = 1; i < n; i++) {
        const ltx_fileinfo *a = &files[i - 1], *b = &files[i];
        if (a->level != b->level || b->level == LTX_SNAPSHOT_LEVEL) continue;
        if (b->min_txid > a->max_txid + 1) {
            restore_file_display(disp, sizeof disp, s, db, a);
            restore_file_display(disp2, sizeof disp2, s, db, b);
            vproblem(v, 1, "level %d: gap: TXIDs %016" PRIx64 "..%016" PRIx64 " missing between %s and %s",
                     b->level, a->max_txid + 1, b->min_txid - 1, disp, disp2);
        } else if (b->min_txid <= a->max_txid) {
            restore_file_display(disp2, sizeof disp2, s, db, b);
            vproblem(v, 0, "level %d: %s overlaps the previous file (ends at %016" PRIx64 ")", b->level,
                     disp2, a->max_txid);
        }
    }

    /* 3. a restorable chain to the newest TXID */
    uint64_t newest = 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].max_txid > newest) newest = files[i].max_txid;
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t reached = 0;
    ltx_error le;
    ltx_err prc = ltx_restore_plan(files, n, 0, 0, &plan, &pn, &reached, &le);
    json_t *jplan = json_array();
    if (prc != LTX_OK) {
        vproblem(v, 1, "%s: no restorable chain to the latest TXID: %s", label, le.msg);
    } else {
        for (size_t i = 0; i < pn; i++) {
            char one[48];
            ltx_fileinfo_format(one, sizeof one, &plan[i]);
            json_array_append_new(jplan, json_string(one));
        }
        if (reached < newest)
            vproblem(v, 1, "%s: the restore chain stops at %016" PRIx64 " but files reach %016" PRIx64,
                     label, reached, newest);
    }
    free(plan);

    int ok = v->errors == before;
    json_object_set_new(t, "ok", json_boolean(ok));
    json_object_set_new(t, "file_count", json_integer((json_int_t)n));
    json_object_set_new(t, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(t, "latest_txid", prc == LTX_OK ? jhex(reached) : json_null());
    json_object_set_new(t, "plan", jplan);
    json_object_set_new(t, "files", jfiles);
    json_object_set_new(t, "errors", v->cur_errors);
    json_object_set_new(t, "warnings", v->cur_warnings);
    json_array_append_new(targets, t);
    v->cur_errors = v->cur_warnings = NULL;

    if (!v->as_json) {
        printf("%s %s: %zu files (", ok ? "ok:" : "FAILED:", label, n);
        int first = 1;
        for (int l = 0; l <= LTX_MAX_LEVEL; l++)
            if (per_level[l]) {
                printf("%sL%d %zu", first ? "" : ", ", l, per_level[l]);
                first = 0;
            }
        printf(")");
        if (prc == LTX_OK) printf(", latest TXID %016" PRIx64 " restorable from %zu files", reached, pn);
        printf("\n");
    }
    return ok ? 0 : -1;
}

static int verify_store(vstate *v, const char *url, json_t *targets, size_t buffer_limit) {
    obj_error oe;
    objstore *s = objstore_open(url, NULL, &oe);
    if (!s) {
        vfailed_target(v, targets, url, "replica", "%s: %s", url, oe.msg);
        return -1;
    }
    int rc = 0;
    ltx_fileinfo *files = NULL;
    size_t n = 0;
    if (objstore_list_all(s, "", &files, &n, &oe) != OBJ_OK) {
        vfailed_target(v, targets, url, "replica", "%s: cannot list: %s", url, oe.msg);
        objstore_close(s);
        return -1;
    }
    if (n > 0) {
        rc = verify_replica_db(v, s, "", url, files, n, targets, buffer_limit);
        free(files);
        objstore_close(s);
        return rc;
    }
    free(files);
    /* no replica at the root itself: a root holding several databases? */
    char **names = NULL;
    size_t nn = 0;
    if (objstore_list_dbs(s, &names, &nn, &oe) == OBJ_OK && nn > 0) {
        for (size_t i = 0; i < nn; i++) {
            char label[PATH_MAX];
            snprintf(label, sizeof label, "%s/%s", url, names[i]);
            files = NULL;
            n = 0;
            if (objstore_list_all(s, names[i], &files, &n, &oe) != OBJ_OK) {
                vfailed_target(v, targets, label, "replica", "%s: cannot list: %s", label, oe.msg);
                rc = -1;
                continue;
            }
            if (verify_replica_db(v, s, names[i], label, files, n, targets, buffer_limit) != 0) rc = -1;
            free(files);
        }
        objstore_free_names(names, nn);
    } else {
        objstore_free_names(names, nn);
        obj_error fe;
        if (objstore_check_folder(s, "", &fe) != OBJ_OK) /* a typo reads as "does not exist" */
            vfailed_target(v, targets, url, "replica", "%s: no LTX files found: %s", url, fe.msg);
        else
            vfailed_target(v, targets, url, "replica", "%s: no LTX files found (expected %s)", url,
                           objstore_is_s3(s) ? "<prefix>/<level %04x>/<min>-<max>.ltx"
                                             : "<dir>/ltx/<level>/<min>-<max>.ltx");
        rc = -1;
    }
    objstore_close(s);
    return rc;
}

int cmd_verify(int argc, char **argv) {
    vstate v = {0};
    size_t buffer_limit = 0;
    int npaths = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) v.as_json = 1;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) v.verbose = 1;
        else if (!strncmp(argv[i], "--buffer-limit=", 15)) {
            if (parse_bytes(argv[i] + 15, &buffer_limit) != 0)
                return usage_err("verify", "--buffer-limit needs a byte count (e.g. 64M)");
            if (buffer_limit == 0) buffer_limit = 1;
        }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ltxctl verify PATH... [--json] [-v] [--buffer-limit=BYTES]\n"
                   "PATH: an LTX file, a replica folder (holding ltx/), file:///path or s3://bucket/prefix\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) return usage_err("verify", "unknown option %s", argv[i]);
        else npaths++;
    }
    if (npaths == 0) return usage_err("verify", "usage: ltxctl verify PATH... [--json] [-v]");
    json_t *targets = json_array();
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        if (p[0] == '-' && p[1]) continue;
        struct stat sb;
        int is_url = strstr(p, "://") != NULL;
        if (!is_url && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (verify_local_file(&v, p, targets) != 0) rc = 1;
        } else if (!is_url && stat(p, &sb) != 0) {
            vfailed_target(&v, targets, p, NULL, "%s: %s", p, strerror(errno));
            rc = 1;
        } else {
            if (verify_store(&v, p, targets, buffer_limit) != 0) rc = 1;
        }
    }
    if (v.as_json) {
        json_t *o = json_pack("{s:b, s:i, s:i, s:o}", "ok", rc == 0, "errors", v.errors, "warnings",
                              v.warnings, "targets", targets);
        put_json(o);
    } else {
        json_decref(targets);
        if (rc) fprintf(stderr, "ltxctl verify: FAILED: %d error(s), %d warning(s)\n", v.errors, v.warnings);
    }
    return rc;
}

/* ---- restore ------------------------------------------------------------------- */

static volatile int g_cancel;
static void on_sigint(int sig) {
    (void)sig;
    g_cancel = 1;
}

int cmd_restore(int argc, char **argv) {
    const char *replica = NULL, *out = NULL, *db = "";
    const char *txid_s = NULL, *time_s = NULL;
    int force = 0, dry_run = 0, quiet = 0, as_json = 0;
    restore_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
#define OPTVAL(name)                                                                     \
    (!strncmp(a, name "=", sizeof name) ? (val = a + sizeof name, 1)                     \
     : !strcmp(a, name)                 ? (i + 1 < argc ? (val = argv[++i], 1)           \
                                                        : (val = NULL, 1))               \
                                        : 0)
        if (!strcmp(a, "--force") || !strcmp(a, "-f")) force = 1;
        else if (!strcmp(a, "--dry-run") || !strcmp(a, "--plan")) dry_run = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--json")) as_json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: ltxctl restore REPLICA OUT.db [--txid T | --time RFC3339] [--force]\n"
                   "       [--db NAME] [--dry-run] [--time-source auto|listing|header]\n"
                   "       [--buffer-limit BYTES] [--quiet] [--json]\n");
            return 0;
        } else if (OPTVAL("--txid")) {
            if (!val) return usage_err("restore", "--txid needs a value");
            txid_s = val;
        } else if (OPTVAL("--time") || OPTVAL("--timestamp")) {
            if (!val) return usage_err("restore", "--time needs a value");
            time_s = val;
        } else if (OPTVAL("--db")) {
            if (!val) return usage_err("restore", "--db needs a value");
            db = val;
        } else if (OPTVAL("--time-source")) {
            if (!val) return usage_err("restore", "--time-source needs a value");
            if (!strcmp(val, "auto")) o.time_source = RESTORE_TIME_AUTO;
            else if (!strcmp(val, "listing") || !strcmp(val, "mtime")) o.time_source = RESTORE_TIME_LISTING;
            else if (!strcmp(val, "header")) o.time_source = RESTORE_TIME_HEADER;
            else return usage_err("restore", "--time-source must be auto, listing or header (got '%s')", val);
        } else if (OPTVAL("--buffer-limit")) {
            if (!val || parse_bytes(val, &o.buffer_limit) != 0)
                return usage_err("restore", "--buffer-limit needs a byte count (e.g. 64M, 0 streams every file)");
            if (o.buffer_limit == 0) o.buffer_limit = 1; /* 0 means "stream everything" here */
        } else if (a[0] == '-' && a[1]) {
            return usage_err("restore", "unknown option %s", a);
        } else if (!replica) replica = a;
        else if (!out) out = a;
        else return usage_err("restore", "unexpected argument %s", a);
#undef OPTVAL
    }
    if (!replica || (!out && !dry_run))
        return usage_err("restore", "usage: ltxctl restore REPLICA OUT.db [--txid T | --time RFC3339] [--force]");
    if (txid_s && time_s) return usage_err("restore", "give --txid or --time, not both");
    if (txid_s && ltx_parse_txid(txid_s, &o.target_txid, 0) != 0)
        return usage_err("restore", "bad --txid '%s' (want 1 to 16 hex digits, not zero)", txid_s);
    if (time_s && (ltx_parse_time(time_s, &o.target_time_ms) != 0 || o.target_time_ms == 0))
        return usage_err("restore", "bad --time '%s' (want RFC 3339, e.g. 2025-01-01T00:06:30Z)", time_s);

    obj_error oe;
    objstore *s = objstore_open(replica, NULL, &oe);
    if (!s) {
        fprintf(stderr, "ltxctl restore: %s\n", oe.msg);
        return 1;
    }
    char err[1024];
    int rc;
    if (dry_run) {
        ltx_fileinfo *plan = NULL;
        size_t pn = 0;
        uint64_t reached = 0;
        rc = restore_make_plan(s, db, &o, &plan, &pn, &reached, NULL, NULL, err, sizeof err);
        if (rc == 0) {
            if (as_json) {
                json_t *jp = json_array();
                for (size_t i = 0; i < pn; i++) {
                    char one[48], disp[PATH_MAX + 64];
                    ltx_fileinfo_format(one, sizeof one, &plan[i]);
                    restore_file_display(disp, sizeof disp, s, db, &plan[i]);
                    json_array_append_new(jp, json_pack("{s:s, s:s, s:I}", "file", one, "path", disp, "size",
                                                        (json_int_t)plan[i].size));
                }
                json_t *jo = json_pack("{s:o, s:o}", "txid", jhex(reached), "plan", jp);
                put_json(jo);
            } else {
                for (size_t i = 0; i < pn; i++) {
                    char one[48], disp[PATH_MAX + 64];
                    ltx_fileinfo_format(one, sizeof one, &plan[i]);
                    restore_file_display(disp, sizeof disp, s, db, &plan[i]);
                    printf("%s  %s  %" PRIu64 " bytes\n", one, disp, plan[i].size);
                }
                printf("restores TXID %016" PRIx64 " from %zu files\n", reached, pn);
            }
        }
        free(plan);
    } else {
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        o.cancel = &g_cancel;
        o.progress = !quiet && isatty(STDERR_FILENO);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        restore_result r;
        memset(&r, 0, sizeof r);
        rc = restore_to_path(s, db, out, force, &o, &r, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (rc == 0) {
            char ts[40];
            ltx_format_time(ts, sizeof ts, r.timestamp_ms);
            if (as_json) {
                json_t *jo = json_pack("{s:s, s:o, s:s, s:I, s:i, s:i, s:I, s:I, s:I, s:f}", "output", out, "txid",
                                       jhex(r.txid), "timestamp", ts, "timestamp_ms", (json_int_t)r.timestamp_ms,
                                       "page_size", (int)r.page_size, "commit", (int)r.commit, "files",
                                       (json_int_t)r.files, "bytes_read", (json_int_t)r.bytes_read,
                                       "size", (json_int_t)((uint64_t)r.commit * r.page_size), "seconds", secs);
                put_json(jo);
            } else if (!quiet) {
                printf("restored TXID %016" PRIx64 " (%s) to %s: %" PRIu32 " pages of %" PRIu32
                       " bytes from %zu file%s (%.1f KiB read) in %.2f s\n",
                       r.txid, ts, out, r.commit, r.page_size, r.files, r.files == 1 ? "" : "s", (double)r.bytes_read / 1024.0, secs);
            }
        }
    }
    if (rc != 0) fprintf(stderr, "ltxctl restore: %s\n", err);
    objstore_close(s);
    return rc == 0 ? 0 : 1;
}
