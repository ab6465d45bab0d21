/* cmd_restore.c - `ltxctl restore REPLICA OUT.db`: rebuild a database from a
 * replica at the latest TXID, a given TXID or a point in time, through the
 * restore engine (restore.c).
 *
 * Exit status: 0 restored, 1 the restore failed, 2 usage error.
 * Reference: docs/ltxctl.md. */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ltx.h"
#include "ltxctl.h"
#include "objstore.h"
#include "restore.h"
#include "util.h"

typedef struct {
    const char *db, *txid_s, *time_s;
    int force, dry_run, quiet, as_json;
    restore_opts o;
} restore_args;

/* --dry-run: print the plan. */
static int show_plan(objstore *s, const restore_args *a, char *err, size_t errlen)
{
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t reached = 0;
    int rc = restore_make_plan(s, a->db, &a->o, &plan, &pn, &reached, NULL, NULL, err, errlen);
    if (rc != 0)
        return rc;
    json_t *jp = a->as_json ? json_array() : NULL;
    for (size_t i = 0; i < pn; i++) {
        char one[48], disp[PATH_MAX + 64];
        ltx_fileinfo_format(one, sizeof one, &plan[i]);
        restore_file_display(disp, sizeof disp, s, a->db, &plan[i]);
        if (jp)
            json_array_append_new(jp, json_pack("{s:s, s:s, s:I}", "file", one, "path", disp, "size",
                                                (json_int_t)plan[i].size));
        else
            printf("%s  %s  %" PRIu64 " bytes\n", one, disp, plan[i].size);
    }
    if (jp)
        put_json(json_pack("{s:o, s:o}", "txid", jhex(reached), "plan", jp));
    else
        printf("restores TXID %016" PRIx64 " from %zu files\n", reached, pn);
    free(plan);
    return 0;
}

static volatile int g_cancel;
static void on_sigint(int sig)
{
    (void)sig;
    g_cancel = 1;
}

/* The restore itself, Ctrl-C cancelling it cleanly. */
static int run_restore(objstore *s, const char *out, restore_args *a, char *err, size_t errlen)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    a->o.cancel = &g_cancel;
    a->o.progress = !a->quiet && isatty(STDERR_FILENO);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    restore_result r;
    memset(&r, 0, sizeof r);
    int rc = restore_to_path(s, a->db, out, a->force, &a->o, &r, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc != 0)
        return rc;
    char ts[40];
    ltx_format_time(ts, sizeof ts, r.timestamp_ms);
    if (a->as_json) {
        json_t *jo = json_pack("{s:s, s:o, s:s, s:I, s:i, s:i, s:I, s:I, s:I, s:f}", "output", out, "txid",
                               jhex(r.txid), "timestamp", ts, "timestamp_ms", (json_int_t)r.timestamp_ms,
                               "page_size", (int)r.page_size, "commit", (int)r.commit, "files",
                               (json_int_t)r.files, "bytes_read", (json_int_t)r.bytes_read, "size",
                               (json_int_t)((uint64_t)r.commit * r.page_size), "seconds", secs);
        put_json(jo);
    } else if (!a->quiet) {
        printf("restored TXID %016" PRIx64 " (%s) to %s: %" PRIu32 " pages of %" PRIu32
               " bytes from %zu file%s (%.1f KiB read) in %.2f s\n",
               r.txid, ts, out, r.commit, r.page_size, r.files, r.files == 1 ? "" : "s",
               (double)r.bytes_read / 1024.0, secs);
    }
    return 0;
}

int cmd_restore(const cli_args *ca, int argc, char **argv)
{
    restore_args a;
    memset(&a, 0, sizeof a);
    a.db = ca->db;
    a.txid_s = ca->txid;
    a.time_s = ca->time;
    a.force = ca->force;
    a.dry_run = ca->dry_run;
    a.quiet = ca->quiet;
    a.as_json = ca->json;
    a.o.time_source = (restore_time_source)ca->time_source;
    a.o.buffer_limit = ca->buffer_limit;
    const char *replica = argv[0];
    const char *out = argc > 1 ? argv[1] : NULL;
    if (!out && !a.dry_run) {
        cli_help(ca->cmd, stderr);
        return 2;
    }
    if (a.txid_s && a.time_s)
        return cli_usage_err("restore", "give --txid or --time, not both");
    if (a.txid_s && ltx_parse_txid(a.txid_s, &a.o.target_txid, 0) != 0)
        return cli_usage_err("restore", "bad --txid '%s' (want 1 to 16 hex digits, not zero)", a.txid_s);
    if (a.time_s && (ltx_parse_time(a.time_s, &a.o.target_time_ms) != 0 || a.o.target_time_ms == 0))
        return cli_usage_err("restore", "bad --time '%s' (want RFC 3339, e.g. 2025-01-01T00:06:30Z)",
                             a.time_s);

    obj_error oe;
    objstore *s = objstore_open(replica, cli_store_opts(), &oe);
    if (!s) {
        fprintf(stderr, "ltxctl restore: %s\n", oe.msg);
        return 1;
    }
    char err[1024];
    int rc = a.dry_run ? show_plan(s, &a, err, sizeof err) : run_restore(s, out, &a, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "ltxctl restore: %s\n", err);
    objstore_close(s);
    return rc == 0 ? 0 : 1;
}
