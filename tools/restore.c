/* restore.c - restore engine: plan from a replica, apply LTX files to a
 * database file. See restore.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "restore.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void restore_file_display(char *out, size_t outlen, objstore *s, const char *db,
                          const ltx_fileinfo *f) {
    char name[LTX_FILENAME_LEN + 1], dir[PATH_MAX];
    const char *url = objstore_url(s);
    char base[PATH_MAX];
    size_t ul = strlen(url);
    while (ul > 1 && url[ul - 1] == '/') ul--;
    if (db && db[0])
        snprintf(base, sizeof base, "%.*s/%s", (int)ul, url, db);
    else
        snprintf(base, sizeof base, "%.*s", (int)ul, url);
    ltx_format_filename(name, f->min_txid, f->max_txid);
    int rc = objstore_is_s3(s) ? ltx_s3_level_prefix(dir, sizeof dir, base, f->level)
                               : ltx_file_level_dir(dir, sizeof dir, base, f->level);
    if (rc != 0) snprintf(dir, sizeof dir, "L%d", f->level);
    snprintf(out, outlen, "%s/%s", dir, name);
}

int restore_make_plan(objstore *s, const char *db, const restore_opts *o, ltx_fileinfo **plan,
                      size_t *plan_n, uint64_t *txid, ltx_fileinfo **all, size_t *all_n,
                      char *err, size_t errlen) {
    *plan = NULL;
    *plan_n = 0;
    if (all) *all = NULL;
    if (all_n) *all_n = 0;
    ltx_fileinfo *files = NULL;
    size_t n = 0;
    obj_error oe;
    if (objstore_list_all(s, db, &files, &n, &oe) != OBJ_OK) {
        seterr(err, errlen, "cannot list replica %s%s%s: %s", objstore_url(s), db && db[0] ? "/" : "",
               db ? db : "", oe.msg);
        return -1;
    }
    /* Time targets need CreatedAt. S3 LastModified is the upload time, not
     * Litestream's timestamp, so take it from the header unless told not to. */
    restore_time_source ts = o->time_source;
    if (ts == RESTORE_TIME_AUTO) ts = objstore_is_s3(s) ? RESTORE_TIME_HEADER : RESTORE_TIME_LISTING;
    if (o->target_time_ms && ts == RESTORE_TIME_HEADER) {
        for (size_t i = 0; i < n; i++) {
            uint8_t hb[LTX_HEADER_SIZE];
            ltx_header h;
            ltx_error le;
            char disp[PATH_MAX + 64];
            if (objstore_read_range(s, db, &files[i], 0, sizeof hb, hb, &oe) != OBJ_OK) {
                restore_file_display(disp, sizeof disp, s, db, &files[i]);
                seterr(err, errlen, "cannot read header of %s: %s", disp, oe.msg);
                free(files);
                return -1;
            }
            if (ltx_header_decode(hb, sizeof hb, &h, &le) != LTX_OK) {
                restore_file_display(disp, sizeof disp, s, db, &files[i]);
                seterr(err, errlen, "%s: %s", disp, le.msg);
                free(files);
                return -1;
            }
            files[i].created_ms = h.timestamp_ms;
        }
    }
    ltx_error le;
    uint64_t reached = 0;
    ltx_err rc = ltx_restore_plan(files, n, o->target_txid, o->target_time_ms, plan, plan_n,
                                  &reached, &le);
    if (rc != LTX_OK) {
        seterr(err, errlen, "%s%s%s: %s", objstore_url(s), db && db[0] ? "/" : "", db ? db : "", le.msg);
        free(files);
        return -1;
    }
    if (txid) *txid = reached;
    if (all && all_n) {
        *all = files;
        *all_n = n;
    } else {
        free(files);
    }
    return 0;
}

/* ---- apply ---------------------------------------------------------------- */

typedef struct {
    int fd;
    uint32_t page_size;
    uint64_t pages;
    int err;                  /* errno of a failed write */
    uint32_t err_pgno;
    volatile int *cancel;
    int cancelled;
} apply_ctx;

static int write_full(int fd, const uint8_t *buf, size_t len, off_t off) {
    while (len) {
        ssize_t w = pwrite(fd, buf, len, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

static int apply_page(void *vctx, uint32_t pgno, const uint8_t *page) {
    apply_ctx *c = vctx;
    if (c->cancel && *c->cancel) {
        c->cancelled = 1;
        return 1;
    }
    if (write_full(c->fd, page, c->page_size, (off_t)(pgno - 1) * (off_t)c->page_size) != 0) {
        c->err = errno;
        c->err_pgno = pgno;
        return 1;
    }
    c->pages++;
    return 0;
}

typedef struct {
    int on;
    double start, last;
    int printed;
} progress;

static void progress_show(progress *p, size_t i, size_t n, uint64_t bytes, int final) {
    if (!p->on) return;
    double t = now_s();
    if (!final && (t - p->start < 1.0 || t - p->last < 0.2)) return;
    if (final && !p->printed) return;
    p->last = t;
    p->printed = 1;
    fprintf(stderr, "\rrestore: file %zu/%zu, %.1f MiB read, %.1f s%s", i, n,
            (double)bytes / (1024.0 * 1024.0), t - p->start, final ? "\n" : "");
    fflush(stderr);
}

int restore_apply(objstore *s, const char *db, const ltx_fileinfo *plan, size_t plan_n, int fd,
                  const restore_opts *o, restore_result *r, char *err, size_t errlen) {
    restore_result res;
    memset(&res, 0, sizeof res);
    size_t cap = o->max_file_bytes ? o->max_file_bytes : RESTORE_DEFAULT_MAX_FILE;
    progress pr = {.on = o->progress, .start = now_s()};
    char disp[PATH_MAX + 64];
    if (plan_n == 0) {
        seterr(err, errlen, "restore plan is empty");
        return -1;
    }
    for (size_t i = 0; i < plan_n; i++) {
        const ltx_fileinfo *f = &plan[i];
        restore_file_display(disp, sizeof disp, s, db, f);
        if (o->cancel && *o->cancel) {
            seterr(err, errlen, "interrupted");
            return -1;
        }
        if (i == 0 && f->min_txid != 1) {
            seterr(err, errlen, "%s: the first file of a restore must start at TXID 1", disp);
            return -1;
        }
        if (i > 0 && (f->min_txid > res.txid + 1 || f->max_txid <= res.txid)) {
            seterr(err, errlen, "%s does not continue TXID %016llx", disp,
                   (unsigned long long)res.txid);
            return -1;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        obj_error oe;
        if (objstore_read_file(s, db, f, cap, &buf, &len, &oe) != OBJ_OK) {
            seterr(err, errlen, "cannot read %s: %s", disp, oe.msg);
            return -1;
        }
        res.bytes_read += len;
        ltx_header h;
        ltx_error le;
        if (ltx_header_decode(buf, len, &h, &le) != LTX_OK) {
            seterr(err, errlen, "%s: %s", disp, le.msg);
            free(buf);
            return -1;
        }
        if (h.min_txid != f->min_txid || h.max_txid != f->max_txid) {
            seterr(err, errlen, "%s: header holds TXIDs %016llx-%016llx, not those of its name",
                   disp, (unsigned long long)h.min_txid, (unsigned long long)h.max_txid);
            free(buf);
            return -1;
        }
        if (i > 0 && h.page_size != res.page_size) {
            seterr(err, errlen, "%s: page size %u differs from %u of the earlier files", disp,
                   h.page_size, res.page_size);
            free(buf);
            return -1;
        }
        apply_ctx c = {.fd = fd, .page_size = h.page_size, .cancel = o->cancel};
        ltx_err rc = ltx_file_decode(buf, len, apply_page, &c, NULL, &le);
        free(buf);
        if (c.cancelled) {
            seterr(err, errlen, "interrupted");
            return -1;
        }
        if (c.err) {
            seterr(err, errlen, "writing page %u from %s: %s", c.err_pgno, disp, strerror(c.err));
            return -1;
        }
        if (rc != LTX_OK) {
            seterr(err, errlen, "%s is damaged (%s): %s", disp, ltx_err_code(rc), le.msg);
            return -1;
        }
        if (ftruncate(fd, (off_t)h.commit * (off_t)h.page_size) != 0) {
            seterr(err, errlen, "truncating output to %u pages: %s", h.commit, strerror(errno));
            return -1;
        }
        res.pages_written += c.pages;
        res.page_size = h.page_size;
        res.commit = h.commit;
        res.txid = h.max_txid;
        res.timestamp_ms = h.timestamp_ms;
        res.files++;
        progress_show(&pr, i + 1, plan_n, res.bytes_read, 0);
    }
    progress_show(&pr, plan_n, plan_n, res.bytes_read, 1);
    if (fsync(fd) != 0) {
        seterr(err, errlen, "fsync: %s", strerror(errno));
        return -1;
    }
    if (r) *r = res;
    return 0;
}

static int fsync_dir_of(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int restore_to_path(objstore *s, const char *db, const char *out_path, int force,
                    const restore_opts *o, restore_result *r, char *err, size_t errlen) {
    struct stat sb;
    if (stat(out_path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            seterr(err, errlen, "%s is a folder; give the database file name", out_path);
            return -1;
        }
        if (!force) {
            seterr(err, errlen, "%s already exists; use --force to overwrite it", out_path);
            return -1;
        }
    }
    if (strlen(out_path) > PATH_MAX - 32) {
        seterr(err, errlen, "output path too long");
        return -1;
    }
    ltx_fileinfo *plan = NULL;
    size_t plan_n = 0;
    if (restore_make_plan(s, db, o, &plan, &plan_n, NULL, NULL, NULL, err, errlen) != 0)
        return -1;

    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.ltxctl-tmp-XXXXXX", out_path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        seterr(err, errlen, "cannot create a temporary file next to %s: %s", out_path,
               strerror(errno));
        free(plan);
        return -1;
    }
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    int rc = restore_apply(s, db, plan, plan_n, fd, o, r, err, errlen);
    free(plan);
    if (close(fd) != 0 && rc == 0) {
        seterr(err, errlen, "closing %s: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && force) {
        /* A stale WAL would be replayed over the restored pages. */
        static const char *const sfx[] = {"-wal", "-shm", "-journal"};
        for (size_t i = 0; i < 3 && rc == 0; i++) {
            char side[PATH_MAX];
            snprintf(side, sizeof side, "%s%s", out_path, sfx[i]);
            if (unlink(side) != 0 && errno != ENOENT) {
                seterr(err, errlen, "cannot remove stale %s: %s", side, strerror(errno));
                rc = -1;
            }
        }
    }
    if (rc == 0 && rename(tmp, out_path) != 0) {
        seterr(err, errlen, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        unlink(tmp);
        return -1;
    }
    (void)fsync_dir_of(out_path);
    return 0;
}
