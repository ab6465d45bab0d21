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
        obj_error fe;
        if (n == 0 && objstore_check_folder(s, db ? db : "", &fe) != OBJ_OK) /* say why it is empty */
            seterr(err, errlen, "%s%s%s: %s (%s)", objstore_url(s), db && db[0] ? "/" : "", db ? db : "", le.msg,
                   fe.msg);
        else
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

/* ---- loading one file ------------------------------------------------------- */

typedef struct {
    int fd;                   /* < 0: verify only */
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
    if (c->fd >= 0 &&
        write_full(c->fd, page, c->page_size, (off_t)(pgno - 1) * (off_t)c->page_size) != 0) {
        c->err = errno;
        c->err_pgno = pgno;
        return 1;
    }
    c->pages++;
    return 0;
}

static uint64_t be64p(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

/* Report the outcome of a page callback / codec error. */
static int load_fail(const apply_ctx *c, ltx_err rc, const ltx_error *le, const char *disp,
                     restore_file_stats *st, char *err, size_t errlen) {
    if (c->cancelled) {
        seterr(err, errlen, "interrupted");
        return -1;
    }
    if (c->err) {
        seterr(err, errlen, "writing page %u from %s: %s", c->err_pgno, disp, strerror(c->err));
        return -1;
    }
    st->code = rc;
    seterr(err, errlen, "%s is damaged (%s): %s", disp, ltx_err_code(rc),
           le->msg[0] ? le->msg : ltx_strerror(rc));
    return -1;
}

#define DAMAGED(ecode, ...)                                                                 \
    do {                                                                                    \
        le.code = (ecode);                                                                  \
        snprintf(le.msg, sizeof le.msg, __VA_ARGS__);                                       \
        rc = (ecode);                                                                       \
        goto damaged;                                                                       \
    } while (0)

/* Stream a file by ranges: header, tail (index + trailer), then frames in
 * chunks. Feeds the CRC exactly as the whole-file decoder does: header,
 * per frame the page header (+ size prefix) and the decoded page, the
 * terminator, the index with its u64 length, the post-apply checksum. */
static int load_streamed(objstore *s, const char *db, const ltx_fileinfo *f, apply_ctx *c,
                         const char *disp, restore_file_stats *st, char *err, size_t errlen) {
    obj_error oe;
    ltx_error le;
    memset(&le, 0, sizeof le);
    ltx_err rc = LTX_OK;
    uint8_t hb[LTX_HEADER_SIZE];
    uint8_t *tail = NULL, *region_buf = NULL, *chunk = NULL, *page = NULL;
    ltx_index_entry *ents = NULL;
    size_t n = 0;
    int ret = -1;
    const uint64_t size = f->size;

    if (size < LTX_HEADER_SIZE) DAMAGED(LTX_ERR_TRUNCATED, "file of %llu bytes has no complete header", (unsigned long long)size);
    if (objstore_read_range(s, db, f, 0, sizeof hb, hb, &oe) != OBJ_OK) goto io;
    st->bytes += sizeof hb;
    ltx_header h;
    if ((rc = ltx_header_decode(hb, sizeof hb, &h, &le)) != LTX_OK) goto damaged;
    st->header = h;
    const uint32_t ps = h.page_size;
    c->page_size = ps;

    /* tail: index, its length, trailer */
    size_t tl = size < 65536 ? (size_t)size : 65536, got = 0;
    if (!(tail = malloc(tl))) goto nomem;
    if (objstore_read_tail(s, db, f, tl, tail, &got, &oe) != OBJ_OK) goto io;
    st->bytes += got;
    uint64_t idx_off = 0, idx_len = 0;
    if ((rc = ltx_index_locate(tail, got, size, &idx_off, &idx_len, &le)) != LTX_OK) goto damaged;
    const uint64_t region_len = size - idx_off; /* varints + u64 + trailer */
    const uint8_t *region;
    if (region_len <= got) {
        region = tail + (got - region_len);
    } else {
        if (region_len > ((uint64_t)256 << 20)) DAMAGED(LTX_ERR_INDEX, "page index of %llu bytes is implausibly large", (unsigned long long)idx_len);
        if (!(region_buf = malloc((size_t)region_len))) goto nomem;
        if (objstore_read_range(s, db, f, idx_off, (size_t)region_len, region_buf, &oe) != OBJ_OK) goto io;
        st->bytes += region_len;
        region = region_buf;
    }
    if ((rc = ltx_index_decode(region, (size_t)idx_len, idx_off, ps, h.commit, &ents, &n, &le)) != LTX_OK) goto damaged;

    if (h.commit == 0 && n > 0) DAMAGED(LTX_ERR_PAGE_BEYOND_COMMIT, "page %u is beyond commit 0", ents[0].pgno);
    /* a snapshot holds every page 1..commit but the lock page */
    const uint32_t lock = ltx_lock_pgno(ps);
    if (ltx_header_is_snapshot(&h)) {
        uint32_t want = 0;
        for (size_t i = 0; i <= n; i++) {
            want = want + 1 == lock ? want + 2 : want + 1;
            if (i == n) {
                if (want <= h.commit) DAMAGED(LTX_ERR_SNAPSHOT_INCOMPLETE, "snapshot ends at page %u but commit is %u", want - 1, h.commit);
                break;
            }
            if (ents[i].pgno != want) DAMAGED(LTX_ERR_SNAPSHOT_INCOMPLETE, "snapshot misses page %u", want);
        }
    }

    const size_t maxf = LTX_MAX_FRAME_SIZE(ps);
    const size_t chunk_cap = RESTORE_STREAM_CHUNK + maxf + LTX_PAGE_HEADER_SIZE;
    if (!(chunk = malloc(chunk_cap)) || !(page = malloc(ps))) goto nomem;
    uint64_t crc = ltx_crc64(0, hb, sizeof hb), dbck = 0;
    const int tracked = !(h.flags & LTX_FLAG_NO_CHECKSUM);
    int layout = 0;
    size_t i = 0;
    do {
        /* frames i..j-1 in one range; the last range also takes the terminator */
        uint64_t start = n ? ents[i].offset : idx_off - LTX_PAGE_HEADER_SIZE, end = start;
        size_t j = i;
        while (j < n && (j == i || ents[j].offset + ents[j].size - start <= RESTORE_STREAM_CHUNK)) {
            end = ents[j].offset + ents[j].size;
            j++;
        }
        if (j == n) end = idx_off;
        if (end < start || end - start > chunk_cap) DAMAGED(LTX_ERR_INDEX, "page index describes a range of %llu bytes at %llu", (unsigned long long)(end - start), (unsigned long long)start);
        if (objstore_read_range(s, db, f, start, (size_t)(end - start), chunk, &oe) != OBJ_OK) goto io;
        st->bytes += end - start;
        for (size_t k = i; k < j; k++) {
            const uint8_t *fr = chunk + (ents[k].offset - start);
            uint16_t flags = (uint16_t)(fr[4] << 8 | fr[5]);
            if ((rc = ltx_frame_decode(fr, ents[k].size, ps, ents[k].pgno, page, &le)) != LTX_OK) {
                le.offset += ents[k].offset;
                goto damaged;
            }
            crc = ltx_crc64(crc, fr, LTX_PAGE_HEADER_SIZE + ((flags & LTX_PAGE_FLAG_SIZE) ? 4 : 0));
            crc = ltx_crc64(crc, page, ps);
            layout |= (flags & LTX_PAGE_FLAG_SIZE) ? 2 : 1;
            if (tracked && ltx_header_is_snapshot(&h)) dbck ^= ltx_page_checksum(ents[k].pgno, page, ps);
            if (apply_page(c, ents[k].pgno, page) != 0) goto cb;
        }
        if (j == n) {
            const uint8_t *term = chunk + (idx_off - LTX_PAGE_HEADER_SIZE - start);
            static const uint8_t zero[LTX_PAGE_HEADER_SIZE];
            if (memcmp(term, zero, sizeof zero) != 0) DAMAGED(LTX_ERR_INDEX, "no terminator before the page index at %llu", (unsigned long long)idx_off);
            crc = ltx_crc64(crc, term, LTX_PAGE_HEADER_SIZE);
        }
        i = j;
    } while (i < n);

    crc = ltx_crc64(crc, region, (size_t)idx_len + 8);
    const uint8_t *tr = region + idx_len + 8;
    st->trailer.post_apply_checksum = be64p(tr);
    st->trailer.file_checksum = be64p(tr + 8);
    crc = ltx_crc64(crc, tr, 8) | LTX_CHECKSUM_FLAG;
    if (crc != st->trailer.file_checksum)
        DAMAGED(LTX_ERR_CHECKSUM, "file checksum %016llx in trailer, computed %016llx", (unsigned long long)st->trailer.file_checksum, (unsigned long long)crc);
    if (!tracked && st->trailer.post_apply_checksum != 0)
        DAMAGED(LTX_ERR_CHECKSUM, "post_apply checksum set although NoChecksum flag is set");
    if (tracked && !(st->trailer.post_apply_checksum & LTX_CHECKSUM_FLAG))
        DAMAGED(LTX_ERR_CHECKSUM, "post_apply checksum lacks bit 63 although checksums are tracked");
    if (tracked && ltx_header_is_snapshot(&h) && (dbck | LTX_CHECKSUM_FLAG) != st->trailer.post_apply_checksum)
        DAMAGED(LTX_ERR_CHECKSUM, "snapshot post_apply checksum %016llx, computed %016llx", (unsigned long long)st->trailer.post_apply_checksum, (unsigned long long)(dbck | LTX_CHECKSUM_FLAG));
    st->pages = n;
    st->frame_layout = layout;
    ret = 0;
    goto out;

io:
    seterr(err, errlen, "cannot read %s: %s", disp, oe.msg);
    goto out;
nomem:
    seterr(err, errlen, "out of memory reading %s", disp);
    goto out;
cb:
    ret = load_fail(c, LTX_OK, &le, disp, st, err, errlen);
    goto out;
damaged:
    ret = load_fail(c, rc, &le, disp, st, err, errlen);
out:
    free(tail);
    free(region_buf);
    free(chunk);
    free(page);
    free(ents);
    return ret;
}

int restore_load_file(objstore *s, const char *db, const ltx_fileinfo *f, int fd,
                      size_t buffer_limit, volatile int *cancel, restore_file_stats *st,
                      char *err, size_t errlen) {
    char disp[PATH_MAX + 64];
    restore_file_display(disp, sizeof disp, s, db, f);
    memset(st, 0, sizeof *st);
    apply_ctx c = {.fd = fd, .cancel = cancel};
    if (!buffer_limit) buffer_limit = RESTORE_DEFAULT_BUFFER_LIMIT;
    int ret;
    if (f->size > buffer_limit) {
        st->streamed = 1;
        ret = load_streamed(s, db, f, &c, disp, st, err, errlen);
    } else {
        uint8_t *buf = NULL;
        size_t len = 0;
        obj_error oe;
        if (objstore_read_file(s, db, f, buffer_limit, &buf, &len, &oe) != OBJ_OK) {
            seterr(err, errlen, "cannot read %s: %s", disp, oe.msg);
            return -1;
        }
        st->bytes = len;
        ltx_error le;
        memset(&le, 0, sizeof le);
        ltx_err rc = ltx_header_decode(buf, len, &st->header, &le);
        if (rc == LTX_OK) {
            c.page_size = st->header.page_size;
            ltx_file_info info;
            rc = ltx_file_decode(buf, len, apply_page, &c, &info, &le);
            if (rc == LTX_OK) {
                st->trailer = info.trailer;
                st->pages = info.page_count;
                st->frame_layout = info.frame_layout;
                ltx_file_info_free(&info);
            }
        }
        free(buf);
        ret = rc == LTX_OK ? 0 : load_fail(&c, rc, &le, disp, st, err, errlen);
    }
    if (ret == 0 && (st->header.min_txid != f->min_txid || st->header.max_txid != f->max_txid)) {
        st->code = LTX_ERR_NAME;
        seterr(err, errlen, "%s is damaged (name_mismatch): header holds TXIDs %016llx-%016llx", disp,
               (unsigned long long)st->header.min_txid, (unsigned long long)st->header.max_txid);
        ret = -1;
    }
    return ret;
}

/* ---- apply ---------------------------------------------------------------- */

typedef struct {
    int on;
    double start, last, after;
    int printed;
} progress;

/* Shown once the restore has run for `after` seconds (1 s; the environment
 * variable LTXCTL_PROGRESS_AFTER_MS overrides it), at most 5 times a second. */
static void progress_init(progress *p, int on) {
    memset(p, 0, sizeof *p);
    p->on = on;
    p->start = now_s();
    p->after = 1.0;
    const char *v = getenv("LTXCTL_PROGRESS_AFTER_MS");
    if (v && *v) p->after = atof(v) / 1000.0;
}

static void progress_show(progress *p, size_t i, size_t n, uint64_t bytes, int final) {
    if (!p->on) return;
    double t = now_s();
    if (!final && (t - p->start < p->after || (p->printed && t - p->last < 0.2))) return;
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
    progress pr;
    progress_init(&pr, o->progress);
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
        restore_file_stats st;
        if (restore_load_file(s, db, f, fd, o->buffer_limit, o->cancel, &st, err, errlen) != 0) {
            res.bytes_read += st.bytes;
            return -1;
        }
        res.bytes_read += st.bytes;
        if (i > 0 && st.header.page_size != res.page_size) {
            /* pages were written at the wrong size: the output is garbage, so fail */
            seterr(err, errlen, "%s: page size %u differs from %u of the earlier files", disp,
                   st.header.page_size, res.page_size);
            return -1;
        }
        if (ftruncate(fd, (off_t)st.header.commit * (off_t)st.header.page_size) != 0) {
            seterr(err, errlen, "truncating output to %u pages: %s", st.header.commit,
                   strerror(errno));
            return -1;
        }
        res.pages_written += st.pages;
        res.page_size = st.header.page_size;
        res.commit = st.header.commit;
        res.txid = st.header.max_txid;
        res.timestamp_ms = st.header.timestamp_ms;
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
