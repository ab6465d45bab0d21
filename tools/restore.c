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
#include "strparse.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void restore_file_display(char *out, size_t outlen, objstore *s, const char *db, const ltx_fileinfo *f)
{
    char name[LTX_FILENAME_LEN + 1], dir[PATH_MAX];
    const char *url = objstore_url(s);
    char base[PATH_MAX];
    size_t ul = strlen(url);
    while (ul > 1 && url[ul - 1] == '/')
        ul--;
    if (db && db[0])
        snprintf(base, sizeof base, "%.*s/%s", (int)ul, url, db);
    else
        snprintf(base, sizeof base, "%.*s", (int)ul, url);
    ltx_format_filename(name, f->min_txid, f->max_txid);
    int rc = objstore_is_s3(s) ? ltx_s3_level_prefix(dir, sizeof dir, base, f->level)
                               : ltx_file_level_dir(dir, sizeof dir, base, f->level);
    if (rc != 0)
        snprintf(dir, sizeof dir, "L%d", f->level);
    snprintf(out, outlen, "%s/%s", dir, name);
}

int restore_make_plan(objstore *s, const char *db, const restore_opts *o, ltx_fileinfo **plan, size_t *plan_n,
                      uint64_t *txid, ltx_fileinfo **all, size_t *all_n, char *err, size_t errlen)
{
    *plan = NULL;
    *plan_n = 0;
    if (all)
        *all = NULL;
    if (all_n)
        *all_n = 0;
    ltx_fileinfo *files = NULL;
    size_t n = 0;
    obj_error oe;
    obj_status ls = objstore_list_all(s, db, &files, &n, &oe);
    if (ls == OBJ_NOT_FOUND && o->empty_ok) {
        files = NULL;
        n = 0;
    } else if (ls != OBJ_OK) {
        seterr(err, errlen, "cannot list replica %s%s%s: %s", objstore_url(s), db && db[0] ? "/" : "",
               db ? db : "", oe.msg);
        return -1;
    }
    /* Time targets need CreatedAt. S3 LastModified is the upload time, not
     * Litestream's timestamp, so take it from the header unless told not to. */
    restore_time_source ts = o->time_source;
    if (ts == RESTORE_TIME_AUTO)
        ts = objstore_is_s3(s) ? RESTORE_TIME_HEADER : RESTORE_TIME_LISTING;
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
    if (n == 0 && o->empty_ok) { /* nothing to restore: TXID 0 */
        free(files);
        if (txid)
            *txid = 0;
        return 0;
    }
    ltx_error le;
    uint64_t reached = 0;
    ltx_err rc = ltx_restore_plan(files, n, o->target_txid, o->target_time_ms, plan, plan_n, &reached, &le);
    if (rc != LTX_OK) {
        obj_error fe;
        if (n == 0 && objstore_check_folder(s, db ? db : "", &fe) != OBJ_OK) /* say why it is empty */
            seterr(err, errlen, "%s%s%s: %s (%s)", objstore_url(s), db && db[0] ? "/" : "", db ? db : "",
                   le.msg, fe.msg);
        else
            seterr(err, errlen, "%s%s%s: %s", objstore_url(s), db && db[0] ? "/" : "", db ? db : "", le.msg);
        free(files);
        return -1;
    }
    if (txid)
        *txid = reached;
    if (all && all_n) {
        *all = files;
        *all_n = n;
    } else {
        free(files);
    }
    return 0;
}

/* ---- sinks: where verified pages go ---------------------------------------- */

static int fd_write(restore_sink *k, uint32_t pgno, const uint8_t *page, const uint8_t *frame,
                    size_t frame_len)
{
    (void)frame;
    (void)frame_len;
    size_t len = k->page_size_now;
    off_t off = (off_t)(pgno - 1) * (off_t)len;
    while (len) {
        ssize_t w = pwrite(k->fd, page, len, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            seterr(k->err, sizeof k->err, "writing page %u from %s: %s", pgno, k->disp, strerror(errno));
            return -1;
        }
        page += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

static int fd_truncate(restore_sink *k, const ltx_header *h)
{
    if (ftruncate(k->fd, (off_t)h->commit * (off_t)h->page_size) != 0) {
        seterr(k->err, sizeof k->err, "truncating output to %u pages: %s", h->commit, strerror(errno));
        return -1;
    }
    return 0;
}

void restore_sink_fd(restore_sink *k, int fd, int truncate)
{
    memset(k, 0, sizeof *k);
    k->fd = fd;
    k->page = fd_write;
    k->end = truncate ? fd_truncate : NULL;
}

static int pm_begin(restore_sink *k, const ltx_header *h)
{
    ltx_error le;
    if (ltx_pagemap_begin(k->ctx, h, &le) != LTX_OK) {
        seterr(k->err, sizeof k->err, "%s: %s", k->disp, le.msg);
        return -1;
    }
    return 0;
}

static int pm_put(restore_sink *k, uint32_t pgno, const uint8_t *page, const uint8_t *frame, size_t frame_len)
{
    ltx_error le;
    if (ltx_pagemap_put(k->ctx, pgno, page, frame, frame_len, &le) != LTX_OK) {
        seterr(k->err, sizeof k->err, "%s: page %u: %s", k->disp, pgno, le.msg);
        return -1;
    }
    return 0;
}

static int pm_end(restore_sink *k, const ltx_header *h)
{
    ltx_pagemap_end(k->ctx, h, 1);
    return 0;
}

void restore_sink_pagemap(restore_sink *k, ltx_pagemap *pm)
{
    memset(k, 0, sizeof *k);
    k->fd = -1;
    k->ctx = pm;
    k->begin = pm_begin;
    k->page = pm_put;
    k->end = pm_end;
}

/* ---- loading one file ------------------------------------------------------- */

typedef struct {
    ltx_verifier *v;
    restore_sink *sink; /* NULL: verify only */
    const char *disp;
    volatile int *cancel;
    int cancelled;
    int sink_failed;
    int begun; /* header seen, sink told */
    restore_file_stats *st;
    /* optional: called after each LOAD_SLICE bytes verified and applied,
     * with those bytes and the bytes read so far of this file */
    void (*on_bytes)(void *ctx, uint64_t done, uint64_t read);
    void *bytes_ctx;
} load_ctx;

/* Bytes handed to the verifier at once: the unit of progress within a file. */
#define LOAD_SLICE ((size_t)1 << 20)

static int load_frame(void *vctx, uint32_t pgno, const uint8_t *page, const uint8_t *frame, size_t frame_len)
{
    load_ctx *c = vctx;
    if (c->cancel && *c->cancel) {
        c->cancelled = 1;
        return 1;
    }
    if (c->sink && c->sink->page && c->sink->page(c->sink, pgno, page, frame, frame_len) != 0) {
        c->sink_failed = 1;
        return 1;
    }
    return 0;
}

/* Once the header is in: same page size as the earlier files, then the sink. */
static int load_begin(load_ctx *c, const ltx_header *h)
{
    c->begun = 1;
    c->st->header = *h;
    restore_sink *k = c->sink;
    if (!k)
        return 0;
    k->page_size_now = h->page_size;
    if (k->page_size && h->page_size != k->page_size) {
        /* pages would be written at the wrong size: the output would be garbage */
        seterr(k->err, sizeof k->err, "%s: page size %u differs from %u of the earlier files", c->disp,
               h->page_size, k->page_size);
        c->sink_failed = 1;
        return -1;
    }
    if (k->begin && k->begin(k, h) != 0) {
        c->sink_failed = 1;
        return -1;
    }
    return 0;
}

/* Feed bytes in slices of LOAD_SLICE, stopping after the header to tell
 * the sink, and reporting progress after each slice. Returns the
 * verifier's result, or LTX_ERR_ARG when the sink refused the header. */
static ltx_err load_feed(load_ctx *c, const uint8_t *p, size_t n, ltx_error *le)
{
    while (n) {
        size_t take = n < LOAD_SLICE ? n : LOAD_SLICE;
        uint64_t fed = ltx_verifier_bytes(c->v);
        if (!c->begun && fed < LTX_HEADER_SIZE && take > LTX_HEADER_SIZE - fed)
            take = (size_t)(LTX_HEADER_SIZE - fed);
        ltx_err rc = ltx_verifier_feed(c->v, p, take, le);
        if (rc != LTX_OK)
            return rc;
        const ltx_header *h = ltx_verifier_header(c->v);
        if (!c->begun && h && load_begin(c, h) != 0)
            return LTX_ERR_ARG;
        p += take;
        n -= take;
        if (c->on_bytes)
            c->on_bytes(c->bytes_ctx, ltx_verifier_bytes(c->v), c->st->bytes);
    }
    return LTX_OK;
}

/* Report the outcome of a sink / cancel / codec error. */
static int load_fail(const load_ctx *c, ltx_err rc, const ltx_error *le, char *err, size_t errlen)
{
    if (c->cancelled) {
        seterr(err, errlen, "interrupted");
        return -1;
    }
    if (c->sink_failed) {
        seterr(err, errlen, "%s", c->sink->err);
        return -1;
    }
    c->st->code = rc;
    seterr(err, errlen, "%s is damaged (%s): %s", c->disp, ltx_err_code(rc),
           le->msg[0] ? le->msg : ltx_strerror(rc));
    return -1;
}

/* Read the file in RESTORE_STREAM_CHUNK ranges from the start, feeding the
 * verifier; stops at the first problem. Returns 0, or -1 after an I/O error
 * (err set) with *rc LTX_OK, or with *rc the verifier's error. */
static int read_streamed(objstore *s, const char *db, const ltx_fileinfo *f, load_ctx *c, ltx_err *rc,
                         ltx_error *le, char *err, size_t errlen)
{
    size_t cap = f->size < RESTORE_STREAM_CHUNK ? (size_t)f->size : RESTORE_STREAM_CHUNK;
    uint8_t *chunk = malloc(cap ? cap : 1);
    if (!chunk) {
        seterr(err, errlen, "out of memory reading %s", c->disp);
        return -1;
    }
    obj_error oe;
    *rc = LTX_OK;
    for (uint64_t off = 0; off < f->size && *rc == LTX_OK; off += cap) {
        size_t n = f->size - off < cap ? (size_t)(f->size - off) : cap;
        if (objstore_read_range(s, db, f, off, n, chunk, &oe) != OBJ_OK) {
            seterr(err, errlen, "cannot read %s: %s", c->disp, oe.msg);
            free(chunk);
            return -1;
        }
        c->st->bytes += n;
        *rc = load_feed(c, chunk, n, le);
    }
    free(chunk);
    return 0;
}

static int read_whole(objstore *s, const char *db, const ltx_fileinfo *f, size_t buffer_limit, load_ctx *c,
                      ltx_err *rc, ltx_error *le, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    obj_error oe;
    if (objstore_read_file(s, db, f, buffer_limit, &buf, &len, &oe) != OBJ_OK) {
        seterr(err, errlen, "cannot read %s: %s", c->disp, oe.msg);
        return -1;
    }
    c->st->bytes = len;
    *rc = load_feed(c, buf, len, le);
    if (*rc != LTX_OK && !c->cancelled && !c->sink_failed) {
        /* the rest too, so the verifier can tell a legacy layout as the decoder does */
        uint64_t fed = ltx_verifier_bytes(c->v);
        (void)ltx_verifier_feed(c->v, buf + fed, len - (size_t)fed, NULL);
    }
    free(buf);
    return 0;
}

/* Bytes-progress hook of load_one (NULL fn: none). */
typedef struct {
    void (*fn)(void *ctx, uint64_t done, uint64_t read);
    void *ctx;
} load_hook;

static int load_one(objstore *s, const char *db, const ltx_fileinfo *f, restore_sink *sink,
                    size_t buffer_limit, volatile int *cancel, const load_hook *hook, restore_file_stats *st,
                    char *err, size_t errlen)
{
    char disp[PATH_MAX + 64];
    restore_file_display(disp, sizeof disp, s, db, f);
    memset(st, 0, sizeof *st);
    if (!buffer_limit)
        buffer_limit = RESTORE_DEFAULT_BUFFER_LIMIT;
    load_ctx c = {
        .sink = sink, .disp = disp, .cancel = cancel, .st = st, .on_bytes = hook->fn, .bytes_ctx = hook->ctx
    };
    if (sink) {
        sink->disp = disp;
        sink->err[0] = 0;
    }
    if (!(c.v = ltx_verifier_new())) {
        seterr(err, errlen, "out of memory reading %s", disp);
        return -1;
    }
    ltx_verifier_on_frame(c.v, load_frame, &c);
    ltx_error le;
    memset(&le, 0, sizeof le);
    ltx_err rc = LTX_OK;
    st->streamed = f->size > buffer_limit;
    int io = st->streamed ? read_streamed(s, db, f, &c, &rc, &le, err, errlen)
                          : read_whole(s, db, f, buffer_limit, &c, &rc, &le, err, errlen);
    int ret = -1;
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    if (io != 0)
        goto out;
    if (rc == LTX_OK || (!c.cancelled && !c.sink_failed))
        rc = ltx_verifier_finish(c.v, &info, &le);
    if (rc != LTX_OK) {
        ret = load_fail(&c, rc, &le, err, errlen);
        goto out;
    }
    st->header = info.header;
    st->trailer = info.trailer;
    st->pages = info.page_count;
    st->frame_layout = info.frame_layout;
    if (st->header.min_txid != f->min_txid || st->header.max_txid != f->max_txid) {
        st->code = LTX_ERR_NAME;
        seterr(err, errlen, "%s is damaged (name_mismatch): header holds TXIDs %016llx-%016llx", disp,
               (unsigned long long)st->header.min_txid, (unsigned long long)st->header.max_txid);
        goto out;
    }
    if (sink && sink->end && sink->end(sink, &st->header) != 0) {
        seterr(err, errlen, "%s", sink->err);
        goto out;
    }
    ret = 0;
out:
    ltx_file_info_free(&info);
    ltx_verifier_free(c.v);
    if (sink)
        sink->disp = NULL;
    return ret;
}

int restore_load(objstore *s, const char *db, const ltx_fileinfo *f, restore_sink *sink, size_t buffer_limit,
                 volatile int *cancel, restore_file_stats *st, char *err, size_t errlen)
{
    const load_hook none = { NULL, NULL };
    return load_one(s, db, f, sink, buffer_limit, cancel, &none, st, err, errlen);
}

int restore_load_file(objstore *s, const char *db, const ltx_fileinfo *f, int fd, size_t buffer_limit,
                      volatile int *cancel, restore_file_stats *st, char *err, size_t errlen)
{
    restore_sink k;
    restore_sink_fd(&k, fd, 0);
    return restore_load(s, db, f, fd >= 0 ? &k : NULL, buffer_limit, cancel, st, err, errlen);
}

/* ---- apply ---------------------------------------------------------------- */

typedef struct {
    int on;
    double start, last, after, every;
    int printed;
    int width;            /* length of the last line, to blank a longer one */
    size_t file, files;   /* the file being loaded (1-based) and the plan's count */
    uint64_t read_before; /* bytes read by the files before it */
    uint64_t file_size;   /* its size, from the listing */
} progress;

/* A whole number of milliseconds from the environment, in seconds; def
 * when unset or malformed (said once on stderr). */
static double progress_env_s(const char *name, double def)
{
    const char *v = getenv(name);
    long ms;
    if (!v || !*v)
        return def;
    if (strparse_long(v, 0, 86400000L, &ms) != 0) {
        fprintf(stderr, "ltxctl: ignoring %s=%s (want a whole number of milliseconds)\n", name, v);
        return def;
    }
    return (double)ms / 1000.0;
}

/* Shown once the restore has run for `after` seconds (1 s; the environment
 * variable LTXCTL_PROGRESS_AFTER_MS overrides it), then at most once every
 * `every` seconds (200 ms; LTXCTL_PROGRESS_INTERVAL_MS), between files and,
 * for big files, within them (after each LOAD_SLICE verified and applied). */
static void progress_init(progress *p, int on, size_t files)
{
    memset(p, 0, sizeof *p);
    p->on = on;
    p->files = files;
    p->start = now_s();
    p->after = on ? progress_env_s("LTXCTL_PROGRESS_AFTER_MS", 1.0) : 1.0;
    p->every = on ? progress_env_s("LTXCTL_PROGRESS_INTERVAL_MS", 0.2) : 0.2;
}

/* "restore: file i/n (done/size MiB), MiB read, seconds" on one line that
 * rewrites itself (\r); the final call ends it with a newline, and only if
 * a line was shown. */
static void progress_show(progress *p, uint64_t done, uint64_t read, int final)
{
    if (!p->on)
        return;
    double t = now_s();
    if (!final && (t - p->start < p->after || (p->printed && t - p->last < p->every)))
        return;
    if (final && !p->printed)
        return;
    const double mib = 1024.0 * 1024.0;
    char line[160];
    int len = snprintf(line, sizeof line, "restore: file %zu/%zu (%.1f/%.1f MiB), %.1f MiB read, %.1f s",
                       p->file, p->files, (double)done / mib, (double)p->file_size / mib,
                       (double)(p->read_before + read) / mib, t - p->start);
    if (len < 0)
        return;
    fprintf(stderr, "\r%s%*s%s", line, p->width > len ? p->width - len : 0, "", final ? "\n" : "");
    fflush(stderr);
    p->width = len;
    p->last = t;
    p->printed = 1;
}

/* load_hook callback: progress within the file being loaded. */
static void progress_bytes(void *ctx, uint64_t done, uint64_t read) { progress_show(ctx, done, read, 0); }

int restore_apply_sink(objstore *s, const char *db, const ltx_fileinfo *plan, size_t plan_n,
                       restore_sink *sink, const restore_opts *o, restore_result *r, char *err, size_t errlen)
{
    restore_result res;
    memset(&res, 0, sizeof res);
    progress pr;
    progress_init(&pr, o->progress, plan_n);
    const load_hook hook = { o->progress ? progress_bytes : NULL, &pr };
    char disp[PATH_MAX + 64];
    if (plan_n == 0) {
        seterr(err, errlen, "restore plan is empty");
        return -1;
    }
    sink->page_size = 0;
    for (size_t i = 0; i < plan_n; i++) {
        const ltx_fileinfo *f = &plan[i];
        restore_file_display(disp, sizeof disp, s, db, f);
        if (o->cancel && *o->cancel) {
            seterr(err, errlen, "interrupted");
            goto fail;
        }
        if (i == 0 && f->min_txid != 1) {
            seterr(err, errlen, "%s: the first file of a restore must start at TXID 1", disp);
            goto fail;
        }
        if (i > 0 && (f->min_txid > res.txid + 1 || f->max_txid <= res.txid)) {
            seterr(err, errlen, "%s does not continue TXID %016llx", disp, (unsigned long long)res.txid);
            goto fail;
        }
        pr.file = i + 1;
        pr.file_size = f->size;
        pr.read_before = res.bytes_read;
        restore_file_stats st;
        int lrc = load_one(s, db, f, sink, o->buffer_limit, o->cancel, &hook, &st, err, errlen);
        res.bytes_read += st.bytes;
        if (lrc != 0)
            goto fail;
        sink->page_size = st.header.page_size; /* later files must match */
        res.pages_written += st.pages;
        res.page_size = st.header.page_size;
        res.commit = st.header.commit;
        res.txid = st.header.max_txid;
        res.timestamp_ms = st.header.timestamp_ms;
        res.last_header = st.header;
        res.last_trailer = st.trailer;
        res.files++;
        pr.read_before = res.bytes_read;
        progress_show(&pr, f->size, 0, 0);
    }
    progress_show(&pr, plan[plan_n - 1].size, 0, 1);
    if (r)
        *r = res;
    return 0;
fail:
    if (pr.printed)
        fputc('\n', stderr); /* the error goes on a line of its own */
    return -1;
}

int restore_apply(objstore *s, const char *db, const ltx_fileinfo *plan, size_t plan_n, int fd,
                  const restore_opts *o, restore_result *r, char *err, size_t errlen)
{
    restore_sink k;
    restore_sink_fd(&k, fd, 1);
    restore_result res;
    if (restore_apply_sink(s, db, plan, plan_n, &k, o, &res, err, errlen) != 0)
        return -1;
    if (fsync(fd) != 0) {
        seterr(err, errlen, "fsync: %s", strerror(errno));
        return -1;
    }
    if (r)
        *r = res;
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int restore_to_path(objstore *s, const char *db, const char *out_path, int force, const restore_opts *o,
                    restore_result *r, char *err, size_t errlen)
{
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
        seterr(err, errlen, "cannot create a temporary file next to %s: %s", out_path, strerror(errno));
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
        static const char *const sfx[] = { "-wal", "-shm", "-journal" };
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
