/* ltxgen.c - write LTX files for the benchmarks, with the proto encoder.
 *
 *   ltxgen snapshot DB REPLICA [--level L] [--txid T] [--ts-ms MS]
 *       DB (a SQLite file in rollback-journal mode, or a checkpointed WAL
 *       file) as one snapshot file REPLICA/ltx/<L>/<1>-<T>.ltx (default L9,
 *       T = 1).
 *   ltxgen updates DB OUTDIR --start-txid T --count N --sql SQL [--ts-ms MS] [--step-ms MS]
 *       Run SQL N times on DB (parameter ?1 = 1..N, one transaction each) and
 *       write each transaction's changed pages as one L0 file
 *       OUTDIR/<T+i-1>-<T+i-1>.ltx: a prepared chain that continues a replica
 *       at TXID T-1. Changed pages are recorded by a tiny VFS shim (no diff
 *       of the whole file), so this is fast on large databases.
 *   ltxgen synth REPLICA --pages N [--page-size P] [--l0 F] [--touch K] [--level L]
 *       [--seed S] [--ts-ms MS] [--random-bytes R]
 *       A synthetic replica: a snapshot of N pages (L, default 9) and F L0
 *       files (TXIDs 2..F+1) each rewriting K random pages. Pages are mostly
 *       zero with pgno, TXID and R pseudo-random (incompressible) bytes
 *       (default 24, so files stay small; up to the page size minus 16).
 *
 * Files are written to <name>.tmp and renamed; the mtime is set to the
 * header timestamp as Litestream's file backend does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ltx.h"
#include "rng.h"
#include "strparse.h"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "ltxgen: mkdir %s: %s\n", buf, strerror(errno));
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

/* Write buf as dir/name atomically and set its mtime to ts_ms. */
static int write_file(const char *dir, const char *name, const uint8_t *buf, size_t len, int64_t ts_ms) {
    char path[4096], tmp[4200];
    if (mkdirs(dir) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ltxgen: open %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "ltxgen: write %s: %s\n", tmp, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = ts_ms / 1000;
    times[0].tv_nsec = times[1].tv_nsec = (ts_ms % 1000) * 1000000;
    futimens(fd, times);
    close(fd);
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "ltxgen: rename %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int level_dir(char *out, size_t n, const char *replica, int level) {
    if (ltx_file_level_dir(out, n, replica, level) != 0) {
        fprintf(stderr, "ltxgen: path too long\n");
        return -1;
    }
    return 0;
}

static ltx_encoder *enc_start(uint32_t ps, uint32_t commit, uint64_t minx, uint64_t maxx, int64_t ts) {
    ltx_header h;
    memset(&h, 0, sizeof h);
    h.flags = LTX_FLAG_NO_CHECKSUM;
    h.page_size = ps;
    h.commit = commit;
    h.min_txid = minx;
    h.max_txid = maxx;
    h.timestamp_ms = ts;
    ltx_encoder *enc = ltx_encoder_new(&h, 0);
    if (!enc) fprintf(stderr, "ltxgen: ltx_encoder_new failed\n");
    return enc;
}

/* Finish enc and write it under dir; frees enc. */
static int enc_finish_write(ltx_encoder *enc, const char *dir, uint64_t minx, uint64_t maxx, int64_t ts,
                            size_t *bytes) {
    uint8_t *out = NULL;
    size_t out_len = 0;
    ltx_error e;
    memset(&e, 0, sizeof e);
    ltx_err rc = ltx_encoder_finish(enc, 0, &out, &out_len, &e);
    ltx_encoder_free(enc);
    if (rc != LTX_OK) {
        fprintf(stderr, "ltxgen: encode: %s: %s\n", ltx_strerror(rc), e.msg);
        return -1;
    }
    char name[LTX_FILENAME_LEN + 1];
    ltx_format_filename(name, minx, maxx);
    int r = write_file(dir, name, out, out_len, ts);
    free(out);
    if (bytes) *bytes += out_len;
    return r;
}

static int read_page_size(int fd, uint32_t *ps) {
    uint8_t hdr[100];
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        fprintf(stderr, "ltxgen: database header unreadable\n");
        return -1;
    }
    if (memcmp(hdr, "SQLite format 3", 16) != 0) {
        fprintf(stderr, "ltxgen: not a SQLite database\n");
        return -1;
    }
    uint32_t v = ((uint32_t)hdr[16] << 8) | hdr[17];
    *ps = v == 1 ? 65536 : v;
    if (!ltx_page_size_valid(*ps)) {
        fprintf(stderr, "ltxgen: bad page size %u\n", *ps);
        return -1;
    }
    if (hdr[18] == 2 || hdr[19] == 2)
        fprintf(stderr, "ltxgen: note: database is in WAL mode; snapshot reads the main file only "
                        "(checkpoint first)\n");
    return 0;
}

static int read_page(int fd, uint32_t ps, uint32_t pgno, uint8_t *buf) {
    ssize_t r = pread(fd, buf, ps, (off_t)(pgno - 1) * ps);
    if (r != (ssize_t)ps) {
        fprintf(stderr, "ltxgen: short read of page %u\n", pgno);
        return -1;
    }
    return 0;
}

/* ---- snapshot ----------------------------------------------------------- */

static int cmd_snapshot(int argc, char **argv) {
    const char *db = NULL, *replica = NULL;
    uint64_t level = 9, txid = 1, ts = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--level") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &level) || level > LTX_MAX_LEVEL) goto usage;
        } else if (!strcmp(argv[i], "--txid") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &txid) || txid == 0) goto usage;
        } else if (!strcmp(argv[i], "--ts-ms") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &ts)) goto usage;
        } else if (!db) db = argv[i];
        else if (!replica) replica = argv[i];
        else goto usage;
    }
    if (!db || !replica) goto usage;
    if (!ts) ts = (uint64_t)now_ms();
    int fd = open(db, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "ltxgen: open %s: %s\n", db, strerror(errno));
        return 1;
    }
    uint32_t ps;
    struct stat st;
    if (read_page_size(fd, &ps) || fstat(fd, &st)) {
        close(fd);
        return 1;
    }
    uint32_t commit = (uint32_t)(st.st_size / ps);
    uint32_t lock = ltx_lock_pgno(ps);
    ltx_encoder *enc = enc_start(ps, commit, 1, txid, (int64_t)ts);
    uint8_t *page = malloc(ps);
    if (!enc || !page) {
        free(page);
        ltx_encoder_free(enc);
        close(fd);
        return 1;
    }
    for (uint32_t p = 1; p <= commit; p++) {
        if (p == lock) continue;
        ltx_error e;
        memset(&e, 0, sizeof e);
        if (read_page(fd, ps, p, page) || ltx_encoder_add_page(enc, p, page, &e) != LTX_OK) {
            fprintf(stderr, "ltxgen: page %u: %s\n", p, e.msg);
            free(page);
            ltx_encoder_free(enc);
            close(fd);
            return 1;
        }
    }
    free(page);
    close(fd);
    char dir[4096];
    size_t bytes = 0;
    if (level_dir(dir, sizeof dir, replica, (int)level) ||
        enc_finish_write(enc, dir, 1, txid, (int64_t)ts, &bytes))
        return 1;
    printf("{\"pages\":%u,\"page_size\":%u,\"bytes\":%zu,\"level\":%d,\"txid\":%llu}\n", commit, ps, bytes,
           (int)level, (unsigned long long)txid);
    return 0;
usage:
    fprintf(stderr, "usage: ltxgen snapshot DB REPLICA [--level L] [--txid T] [--ts-ms MS]\n");
    return 2;
}

/* ---- updates: a VFS shim that records which main-db pages were written -- */

typedef struct {
    uint8_t *bits;
    size_t nbits;
    uint32_t page_size;
} rec_set;

static rec_set g_rec;

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
    int is_main;
} rec_file;

static sqlite3_vfs *g_parent;
static sqlite3_vfs g_rec_vfs;
static sqlite3_io_methods g_rec_io;

static void rec_mark(uint32_t pgno) {
    if (pgno == 0) return;
    if (pgno >= g_rec.nbits) {
        size_t n = g_rec.nbits ? g_rec.nbits : 1024;
        while (n <= pgno) n *= 2;
        if (n > ((size_t)1 << 32)) return;
        uint8_t *nb = realloc(g_rec.bits, n / 8);
        if (!nb) return;
        memset(nb + g_rec.nbits / 8, 0, (n - g_rec.nbits) / 8);
        g_rec.bits = nb;
        g_rec.nbits = n;
    }
    g_rec.bits[pgno / 8] |= (uint8_t)(1u << (pgno % 8));
}

static int rec_test(uint32_t pgno) {
    return pgno < g_rec.nbits && (g_rec.bits[pgno / 8] & (1u << (pgno % 8)));
}

static int rClose(sqlite3_file *f) {
    rec_file *r = (rec_file *)f;
    int rc = r->real->pMethods ? r->real->pMethods->xClose(r->real) : SQLITE_OK;
    sqlite3_free(r->real);
    return rc;
}
static int rRead(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xRead(r->real, b, n, o);
}
static int rWrite(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
    rec_file *r = (rec_file *)f;
    if (r->is_main && g_rec.page_size) {
        uint64_t first = (uint64_t)o / g_rec.page_size + 1;
        uint64_t last = ((uint64_t)o + (uint64_t)n - 1) / g_rec.page_size + 1;
        for (uint64_t p = first; p <= last; p++) rec_mark((uint32_t)p);
    }
    return r->real->pMethods->xWrite(r->real, b, n, o);
}
static int rTruncate(sqlite3_file *f, sqlite3_int64 s) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xTruncate(r->real, s);
}
static int rSync(sqlite3_file *f, int fl) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xSync(r->real, fl);
}
static int rFileSize(sqlite3_file *f, sqlite3_int64 *s) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xFileSize(r->real, s);
}
static int rLock(sqlite3_file *f, int l) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xLock(r->real, l);
}
static int rUnlock(sqlite3_file *f, int l) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xUnlock(r->real, l);
}
static int rCheck(sqlite3_file *f, int *o) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xCheckReservedLock(r->real, o);
}
static int rFcntl(sqlite3_file *f, int op, void *a) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xFileControl(r->real, op, a);
}
static int rSector(sqlite3_file *f) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xSectorSize(r->real);
}
static int rDevChar(sqlite3_file *f) {
    rec_file *r = (rec_file *)f;
    return r->real->pMethods->xDeviceCharacteristics(r->real);
}

static int rOpen(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    rec_file *r = (rec_file *)f;
    memset(r, 0, sizeof *r);
    r->real = sqlite3_malloc(g_parent->szOsFile);
    if (!r->real) return SQLITE_NOMEM;
    memset(r->real, 0, (size_t)g_parent->szOsFile);
    int rc = g_parent->xOpen(g_parent, name, r->real, flags, out);
    if (rc != SQLITE_OK) {
        sqlite3_free(r->real);
        r->real = NULL;
        return rc;
    }
    r->is_main = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    r->base.pMethods = &g_rec_io;
    return SQLITE_OK;
}
static int rDelete(sqlite3_vfs *v, const char *n, int s) {
    (void)v;
    return g_parent->xDelete(g_parent, n, s);
}
static int rAccess(sqlite3_vfs *v, const char *n, int fl, int *o) {
    (void)v;
    return g_parent->xAccess(g_parent, n, fl, o);
}
static int rFull(sqlite3_vfs *v, const char *n, int no, char *o) {
    (void)v;
    return g_parent->xFullPathname(g_parent, n, no, o);
}
static int rRand(sqlite3_vfs *v, int n, char *o) {
    (void)v;
    return g_parent->xRandomness(g_parent, n, o);
}
static int rSleep(sqlite3_vfs *v, int us) {
    (void)v;
    return g_parent->xSleep(g_parent, us);
}
static int rTime(sqlite3_vfs *v, double *t) {
    (void)v;
    return g_parent->xCurrentTime(g_parent, t);
}
static int rErr(sqlite3_vfs *v, int n, char *o) {
    (void)v;
    return g_parent->xGetLastError ? g_parent->xGetLastError(g_parent, n, o) : 0;
}

static int rec_register(void) {
    g_parent = sqlite3_vfs_find(NULL);
    if (!g_parent) return -1;
    memset(&g_rec_io, 0, sizeof g_rec_io);
    g_rec_io.iVersion = 1;
    g_rec_io.xClose = rClose;
    g_rec_io.xRead = rRead;
    g_rec_io.xWrite = rWrite;
    g_rec_io.xTruncate = rTruncate;
    g_rec_io.xSync = rSync;
    g_rec_io.xFileSize = rFileSize;
    g_rec_io.xLock = rLock;
    g_rec_io.xUnlock = rUnlock;
    g_rec_io.xCheckReservedLock = rCheck;
    g_rec_io.xFileControl = rFcntl;
    g_rec_io.xSectorSize = rSector;
    g_rec_io.xDeviceCharacteristics = rDevChar;
    memset(&g_rec_vfs, 0, sizeof g_rec_vfs);
    g_rec_vfs.iVersion = 1;
    g_rec_vfs.szOsFile = (int)sizeof(rec_file);
    g_rec_vfs.mxPathname = g_parent->mxPathname;
    g_rec_vfs.zName = "ltxgen_rec";
    g_rec_vfs.xOpen = rOpen;
    g_rec_vfs.xDelete = rDelete;
    g_rec_vfs.xAccess = rAccess;
    g_rec_vfs.xFullPathname = rFull;
    g_rec_vfs.xRandomness = rRand;
    g_rec_vfs.xSleep = rSleep;
    g_rec_vfs.xCurrentTime = rTime;
    g_rec_vfs.xGetLastError = rErr;
    /* dlopen & co. stay NULL: no extensions are loaded. */
    return sqlite3_vfs_register(&g_rec_vfs, 0) == SQLITE_OK ? 0 : -1;
}

static int cmd_updates(int argc, char **argv) {
    const char *db = NULL, *outdir = NULL, *sql = NULL;
    uint64_t start = 0, count = 0, ts = 0, step = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--start-txid") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &start) || start < 2) goto usage;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &count) || count == 0 || count > 10000000) goto usage;
        } else if (!strcmp(argv[i], "--sql") && i + 1 < argc) {
            sql = argv[++i];
        } else if (!strcmp(argv[i], "--ts-ms") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &ts)) goto usage;
        } else if (!strcmp(argv[i], "--step-ms") && i + 1 < argc) {
            if (strparse_u64(argv[++i], 0, &step)) goto usage;
        } else if (!db) db = argv[i];
        else if (!outdir) outdir = argv[i];
        else goto usage;
    }
    if (!db || !outdir || !sql || !start || !count) goto usage;
    if (!ts) ts = (uint64_t)now_ms();
    if (mkdirs(outdir)) return 1;
    if (rec_register()) {
        fprintf(stderr, "ltxgen: cannot register the recording VFS\n");
        return 1;
    }
    int fd = open(db, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "ltxgen: open %s: %s\n", db, strerror(errno));
        return 1;
    }
    uint32_t ps;
    if (read_page_size(fd, &ps)) {
        close(fd);
        return 1;
    }
    g_rec.page_size = ps;
    sqlite3 *conn = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t *page = malloc(ps);
    int ret = 1;
    size_t bytes = 0, pages_total = 0;
    if (!page) goto done;
    if (sqlite3_open_v2(db, &conn, SQLITE_OPEN_READWRITE, "ltxgen_rec") != SQLITE_OK) {
        fprintf(stderr, "ltxgen: open %s: %s\n", db, conn ? sqlite3_errmsg(conn) : "?");
        goto done;
    }
    if (sqlite3_exec(conn, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "ltxgen: %s\n", sqlite3_errmsg(conn));
        goto done;
    }
    uint32_t lock = ltx_lock_pgno(ps);
    for (uint64_t i = 1; i <= count; i++) {
        free(g_rec.bits);
        g_rec.bits = NULL;
        g_rec.nbits = 0;
        if (sqlite3_bind_parameter_count(st) >= 1) sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "ltxgen: step %llu: %s\n", (unsigned long long)i, sqlite3_errmsg(conn));
            goto done;
        }
        sqlite3_reset(st);
        struct stat sb;
        if (fstat(fd, &sb)) goto done;
        uint32_t commit = (uint32_t)(sb.st_size / ps);
        uint64_t txid = start + i - 1;
        int64_t fts = (int64_t)(ts + (i - 1) * step);
        ltx_encoder *enc = enc_start(ps, commit, txid, txid, fts);
        if (!enc) goto done;
        for (uint32_t p = 1; p <= commit; p++) {
            if (!rec_test(p) || p == lock) continue;
            ltx_error e;
            memset(&e, 0, sizeof e);
            if (read_page(fd, ps, p, page) || ltx_encoder_add_page(enc, p, page, &e) != LTX_OK) {
                fprintf(stderr, "ltxgen: page %u: %s\n", p, e.msg);
                ltx_encoder_free(enc);
                goto done;
            }
            pages_total++;
        }
        if (enc_finish_write(enc, outdir, txid, txid, fts, &bytes)) goto done;
    }
    printf("{\"files\":%llu,\"pages\":%zu,\"bytes\":%zu,\"first_txid\":%llu,\"last_txid\":%llu}\n",
           (unsigned long long)count, pages_total, bytes, (unsigned long long)start,
           (unsigned long long)(start + count - 1));
    ret = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(conn);
    free(page);
    free(g_rec.bits);
    g_rec.bits = NULL;
    close(fd);
    return ret;
usage:
    fprintf(stderr, "usage: ltxgen updates DB OUTDIR --start-txid T --count N --sql SQL [--ts-ms MS] "
                    "[--step-ms MS]\n");
    return 2;
}

/* ---- synth -------------------------------------------------------------- */

static uint32_t g_random_bytes = 24;

static void synth_page(uint8_t *p, uint32_t ps, uint32_t pgno, uint64_t txid) {
    memset(p, 0, ps);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(pgno >> (24 - 8 * i));
    for (int i = 0; i < 8; i++) p[8 + i] = (uint8_t)(txid >> (56 - 8 * i));
    uint64_t s = ((uint64_t)pgno << 32) ^ txid ^ 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < g_random_bytes; i += 8) {
        uint64_t r = rng_xorshift64(&s);
        uint32_t n = g_random_bytes - i < 8 ? g_random_bytes - i : 8;
        memcpy(p + 16 + i, &r, n);
    }
}

static int cmd_synth(int argc, char **argv) {
    const char *replica = NULL;
    uint64_t pages = 0, ps = 4096, l0 = 0, touch = 4, level = 9, seed = 1, ts = 0, rnd = 24;
    for (int i = 1; i < argc; i++) {
        uint64_t *dst = NULL;
        if (!strcmp(argv[i], "--pages")) dst = &pages;
        else if (!strcmp(argv[i], "--page-size")) dst = &ps;
        else if (!strcmp(argv[i], "--l0")) dst = &l0;
        else if (!strcmp(argv[i], "--touch")) dst = &touch;
        else if (!strcmp(argv[i], "--level")) dst = &level;
        else if (!strcmp(argv[i], "--seed")) dst = &seed;
        else if (!strcmp(argv[i], "--ts-ms")) dst = &ts;
        else if (!strcmp(argv[i], "--random-bytes")) dst = &rnd;
        if (dst) {
            if (i + 1 >= argc || strparse_u64(argv[++i], 0, dst)) goto usage;
        } else if (!replica) replica = argv[i];
        else goto usage;
    }
    if (!replica || !pages || pages > 0x7fffffff || !ltx_page_size_valid((uint32_t)ps) ||
        level > LTX_MAX_LEVEL || l0 > 10000000 || touch == 0 || touch > 100000 || seed == 0 || rnd + 16 > ps)
        goto usage;
    g_random_bytes = (uint32_t)rnd;
    uint32_t lock = ltx_lock_pgno((uint32_t)ps);
    uint32_t commit = (uint32_t)pages;
    if (commit >= lock) commit++; /* N data pages: skip over the lock page */
    if (!ts) ts = (uint64_t)(now_ms() - (int64_t)(l0 + 1) * 1000);
    uint8_t *page = malloc(ps);
    uint32_t *sel = malloc(touch * sizeof *sel);
    if (!page || !sel) {
        free(page);
        free(sel);
        return 1;
    }
    char dir[4096];
    size_t bytes = 0;
    int ret = 1;
    ltx_encoder *enc = enc_start((uint32_t)ps, commit, 1, 1, (int64_t)ts);
    if (!enc) goto done;
    for (uint32_t p = 1; p <= commit; p++) {
        if (p == lock) continue;
        synth_page(page, (uint32_t)ps, p, 1);
        ltx_error e;
        memset(&e, 0, sizeof e);
        if (ltx_encoder_add_page(enc, p, page, &e) != LTX_OK) {
            fprintf(stderr, "ltxgen: page %u: %s\n", p, e.msg);
            ltx_encoder_free(enc);
            goto done;
        }
    }
    if (level_dir(dir, sizeof dir, replica, (int)level) || enc_finish_write(enc, dir, 1, 1, (int64_t)ts, &bytes))
        goto done;
    if (level_dir(dir, sizeof dir, replica, 0)) goto done;
    uint64_t rng = seed * 0x2545F4914F6CDD1Dull;
    for (uint64_t f = 0; f < l0; f++) {
        uint64_t txid = 2 + f;
        int64_t fts = (int64_t)(ts + (f + 1) * 1000);
        size_t k = 0;
        while (k < touch && k < commit - (commit >= lock)) { /* distinct random pages, sorted */
            uint32_t p = (uint32_t)(rng_xorshift64(&rng) % commit) + 1;
            if (p == lock) continue;
            int dup = 0;
            for (size_t j = 0; j < k; j++) dup |= sel[j] == p;
            if (!dup) sel[k++] = p;
        }
        for (size_t a = 1; a < k; a++) /* insertion sort, k is small */
            for (size_t b = a; b > 0 && sel[b - 1] > sel[b]; b--) {
                uint32_t t = sel[b];
                sel[b] = sel[b - 1];
                sel[b - 1] = t;
            }
        enc = enc_start((uint32_t)ps, commit, txid, txid, fts);
        if (!enc) goto done;
        for (size_t j = 0; j < k; j++) {
            synth_page(page, (uint32_t)ps, sel[j], txid);
            ltx_error e;
            memset(&e, 0, sizeof e);
            if (ltx_encoder_add_page(enc, sel[j], page, &e) != LTX_OK) {
                fprintf(stderr, "ltxgen: page %u: %s\n", sel[j], e.msg);
                ltx_encoder_free(enc);
                goto done;
            }
        }
        if (enc_finish_write(enc, dir, txid, txid, fts, &bytes)) goto done;
    }
    printf("{\"pages\":%llu,\"commit\":%u,\"page_size\":%llu,\"files\":%llu,\"bytes\":%zu,\"txid\":%llu}\n",
           (unsigned long long)pages, commit, (unsigned long long)ps, (unsigned long long)(l0 + 1), bytes,
           (unsigned long long)(l0 + 1));
    ret = 0;
done:
    free(page);
    free(sel);
    return ret;
usage:
    fprintf(stderr, "usage: ltxgen synth REPLICA --pages N [--page-size P] [--l0 F] [--touch K] [--level L] "
                    "[--seed S] [--ts-ms MS] [--random-bytes R]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "snapshot")) return cmd_snapshot(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "updates")) return cmd_updates(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    fprintf(stderr, "usage: ltxgen snapshot|updates|synth ... (see the comment at the top of bench/ltxgen.c)\n");
    return 2;
}
