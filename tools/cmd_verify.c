/* cmd_verify.c - `ltxctl verify PATH...`: check LTX files, or whole
 * replicas (every file through the restore engine's loader, then the
 * levels, chains and restore plan).
 *
 * Exit status: 0 everything is good, 1 a problem was found, 2 usage error.
 * Reference: docs/ltxctl.md. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "ltx.h"
#include "ltxctl.h"
#include "objstore.h"
#include "restore.h"
#include "util.h"

typedef struct {
    int as_json, verbose;
    int errors, warnings;
    json_t *cur_errors, *cur_warnings; /* arrays of the target being checked */
} vstate;

static void vvproblem(vstate *v, int is_error, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (is_error)
        v->errors++;
    else
        v->warnings++;
    json_t *arr = is_error ? v->cur_errors : v->cur_warnings;
    if (arr)
        json_array_append_new(arr, json_string(msg));
    if (!v->as_json)
        printf("%s: %s\n", is_error ? "error" : "warning", msg);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
vproblem(vstate *v, int is_error, const char *fmt, ...)
{
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
static void
vfailed_target(vstate *v, json_t *targets, const char *path, const char *kind, const char *fmt, ...)
{
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
static int verify_bytes(vstate *v, const char *disp, const uint8_t *buf, size_t len, int have_name,
                        uint64_t nmin, uint64_t nmax, int level, ltx_header *hout, json_t *fj)
{
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
    if (hout)
        *hout = info.header;
    ltx_file_info_free(&info);
    return bad ? -1 : 0;
}

/* A target to check: {path, kind}; its errors and warnings collect in v
 * until target_done. */
static json_t *target_begin(vstate *v, const char *path, const char *kind)
{
    json_t *t = json_object();
    v->cur_errors = json_array();
    v->cur_warnings = json_array();
    json_object_set_new(t, "path", json_string(path));
    json_object_set_new(t, "kind", json_string(kind));
    return t;
}

/* The target's errors and warnings into t, last; t into targets. */
static void target_done(vstate *v, json_t *t, json_t *targets)
{
    json_object_set_new(t, "errors", v->cur_errors);
    json_object_set_new(t, "warnings", v->cur_warnings);
    json_array_append_new(targets, t);
    v->cur_errors = v->cur_warnings = NULL;
}

static int verify_local_file(vstate *v, const char *path, json_t *targets)
{
    json_t *t = target_begin(v, path, "file");
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
        if (v->errors == before && !v->verbose && !v->as_json)
            printf("ok: %s\n", path);
    }
    json_object_update(t, fj);
    json_decref(fj);
    json_object_set_new(t, "ok", json_boolean(v->errors == before));
    target_done(v, t, targets);
    return v->errors == before ? 0 : -1;
}

static int verify_replica_db(vstate *v, objstore *s, const char *db, const char *label, ltx_fileinfo *files,
                             size_t n, json_t *targets, size_t buffer_limit)
{
    json_t *t = target_begin(v, label, "replica");
    int before = v->errors;
    char disp[PATH_MAX + 64], disp2[PATH_MAX + 64];
    json_t *jfiles = json_array();
    objstore_sort_files(files, n);

    /* 1. every file whole */
    uint32_t page_size = 0;
    size_t mtime_off = 0, per_level[LTX_MAX_LEVEL + 1] = { 0 };
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const ltx_fileinfo *f = &files[i];
        per_level[f->level]++;
        restore_file_display(disp, sizeof disp, s, db, f);
        char name[LTX_FILENAME_LEN + 1];
        ltx_format_filename(name, f->min_txid, f->max_txid);
        json_t *fj = json_pack("{s:s, s:i, s:o, s:o, s:I}", "path", disp, "level", f->level, "min_txid",
                               jhex(f->min_txid), "max_txid", jhex(f->max_txid), "size", (json_int_t)f->size);
        restore_file_stats st;
        char err[1024];
        int lrc = restore_load_file(s, db, f, -1, buffer_limit, NULL, &st, err, sizeof err);
        bytes += st.bytes;
        if (lrc != 0) {
            vproblem(v, 1, "%s", err);
            json_object_set_new(fj, "ok", json_false());
            json_object_set_new(fj, "error", json_string(err));
            if (st.code != LTX_OK)
                json_object_set_new(
                    fj, "error_code",
                    json_string(st.code == LTX_ERR_NAME ? "name_mismatch" : ltx_err_code(st.code)));
        } else {
            const ltx_header *h = &st.header;
            int bad = 0;
            if (f->level == LTX_SNAPSHOT_LEVEL && h->min_txid != 1) {
                vproblem(v, 1, "%s: bad_snapshot: level 9 file does not start at TXID 1", disp);
                bad = 1;
            }
            if (f->level == 0 && h->min_txid != h->max_txid)
                vproblem(v, 0, "%s: level 0 file covers more than one TXID", disp);
            if (!page_size)
                page_size = h->page_size;
            else if (h->page_size != page_size) {
                vproblem(v, 1, "%s: page size %" PRIu32 " differs from %" PRIu32 " of other files", disp,
                         h->page_size, page_size);
                bad = 1;
            }
            if (!objstore_is_s3(s) && h->timestamp_ms != f->created_ms)
                mtime_off++;
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
        vproblem(v, 0,
                 "%zu of %zu files have an mtime that differs from their header timestamp "
                 "(time-based restores use the mtime)",
                 mtime_off, n);

    /* 2. TXID contiguity inside each level (snapshots overlap by nature) */
    for (size_t i = 1; i < n; i++) {
        const ltx_fileinfo *a = &files[i - 1], *b = &files[i];
        if (a->level != b->level || b->level == LTX_SNAPSHOT_LEVEL)
            continue;
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
        if (files[i].max_txid > newest)
            newest = files[i].max_txid;
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
            vproblem(v, 1, "%s: the restore chain stops at %016" PRIx64 " but files reach %016" PRIx64, label,
                     reached, newest);
    }
    free(plan);

    int ok = v->errors == before;
    json_object_set_new(t, "ok", json_boolean(ok));
    json_object_set_new(t, "file_count", json_integer((json_int_t)n));
    json_object_set_new(t, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(t, "latest_txid", prc == LTX_OK ? jhex(reached) : json_null());
    json_object_set_new(t, "plan", jplan);
    json_object_set_new(t, "files", jfiles);
    target_done(v, t, targets);

    if (!v->as_json) {
        printf("%s %s: %zu files (", ok ? "ok:" : "FAILED:", label, n);
        int first = 1;
        for (int l = 0; l <= LTX_MAX_LEVEL; l++)
            if (per_level[l]) {
                printf("%sL%d %zu", first ? "" : ", ", l, per_level[l]);
                first = 0;
            }
        printf(")");
        if (prc == LTX_OK)
            printf(", latest TXID %016" PRIx64 " restorable from %zu files", reached, pn);
        printf("\n");
    }
    return ok ? 0 : -1;
}

static int verify_store(vstate *v, const char *url, json_t *targets, size_t buffer_limit)
{
    obj_error oe;
    objstore *s = objstore_open(url, cli_store_opts(), &oe);
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
            if (verify_replica_db(v, s, names[i], label, files, n, targets, buffer_limit) != 0)
                rc = -1;
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

int cmd_verify(const cli_args *a, int argc, char **argv)
{
    vstate v = { 0 };
    v.as_json = a->json;
    v.verbose = a->verbose;
    size_t buffer_limit = a->buffer_limit;
    json_t *targets = json_array();
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        const char *p = argv[i];
        struct stat sb;
        int is_url = strstr(p, "://") != NULL;
        if (!is_url && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (verify_local_file(&v, p, targets) != 0)
                rc = 1;
        } else if (!is_url && stat(p, &sb) != 0) {
            vfailed_target(&v, targets, p, NULL, "%s: %s", p, strerror(errno));
            rc = 1;
        } else {
            if (verify_store(&v, p, targets, buffer_limit) != 0)
                rc = 1;
        }
    }
    if (v.as_json) {
        json_t *o = json_pack("{s:b, s:i, s:i, s:o}", "ok", rc == 0, "errors", v.errors, "warnings",
                              v.warnings, "targets", targets);
        put_json(o);
    } else {
        json_decref(targets);
        if (rc)
            fprintf(stderr, "ltxctl verify: FAILED: %d error(s), %d warning(s)\n", v.errors, v.warnings);
    }
    return rc;
}
