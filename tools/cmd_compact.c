/* cmd_compact.c - `ltxctl compact REPLICA`: merge level N-1 into level N,
 * write a level-9 snapshot, or run Litestream's compaction ladder (the
 * merging itself is proto/compact.c's ltx_compact, through writer_store.c).
 * Reference: docs/ltxctl.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ltxctl.h"
#include "writer.h"
#include "writer_store.h"

/* Newest CreatedAt in a level (0 if empty or unreadable). */
static int64_t newest_created(objstore *st, int level)
{
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    int64_t m = 0;
    if (objstore_list_level(st, WR_DB, level, 0, &f, &n, &oe) == OBJ_OK)
        for (size_t i = 0; i < n; i++)
            if (f[i].created_ms > m)
                m = f[i].created_ms;
    free(f);
    return m;
}

static int retention_pass(objstore *st, int64_t ret_ms)
{
    int deleted = 0;
    if (ret_ms <= 0)
        return 0;
    return wr_l0_retention(st, ret_ms, wr_now_ms(), &deleted);
}

/* --retention: snapshots and L1+ files (0 = keep everything). */
static int keep_pass(objstore *st, int64_t keep_ms)
{
    int deleted = 0;
    if (keep_ms <= 0)
        return 0;
    return wr_retention(st, keep_ms, wr_now_ms(), &deleted);
}

/* --ladder without --once: Litestream's wall-clock aligned levels until a
 * stop signal. */
static void ladder_loop(objstore *st, const int64_t iv[3], int64_t ret_ms, int64_t snap_iv, int64_t keep_ms)
{
    int wrote = 0;
    install_signals();
    int64_t now = wr_now_ms();
    int64_t last_tick[3], last_snap = snap_iv > 0 ? now / snap_iv * snap_iv : 0, last_ret = now;
    for (int l = 0; l < 3; l++)
        last_tick[l] = now / iv[l] * iv[l];
    wr_log("compaction ladder on %s: L1 %lld ms, L2 %lld ms, L3 %lld ms, L0 retention %lld ms",
           objstore_url(st), (long long)iv[0], (long long)iv[1], (long long)iv[2], (long long)ret_ms);
    while (!g_stop) {
        now = wr_now_ms();
        for (int l = 0; l < 3 && !g_stop; l++) {
            int64_t t = now / iv[l] * iv[l];
            if (t <= last_tick[l])
                continue;
            last_tick[l] = t;
            /* Litestream's rule: skip when the destination already has a
             * file made in this window (another compactor, or a restart). */
            if (newest_created(st, l + 1) >= t)
                continue;
            if (wr_compact_level(st, l + 1, &wrote) == 0 && wrote && l == 0 && ret_ms > 0) {
                retention_pass(st, ret_ms);
                last_ret = now;
            }
        }
        if (now - last_ret >= 15000) {
            retention_pass(st, ret_ms);
            keep_pass(st, keep_ms);
            last_ret = now;
        }
        if (snap_iv > 0 && now / snap_iv * snap_iv > last_snap) {
            last_snap = now / snap_iv * snap_iv;
            if (wr_snapshot_level9(st, &wrote) == 0 && wrote)
                keep_pass(st, keep_ms);
        }
        int64_t to_next = 1000 - wr_now_ms() % 1000;
        nap(to_next > 0 ? to_next : 1);
    }
}

int cmd_compact(const cli_args *a, int argc, char **argv)
{
    const char *replica = argc ? argv[0] : NULL;
    if (!replica || (!!a->level + a->ladder + a->snapshot) != 1) {
        fprintf(stderr, "ltxctl compact: give REPLICA and exactly one of --level N, --ladder, --snapshot\n");
        cli_help(a->cmd, stderr);
        return 2;
    }
    objstore *st = wr_store_open(replica);
    if (!st)
        return 1;
    int ret = 1, wrote = 0;
    obj_error fe;
    if (!a->ladder &&
        objstore_check_folder(st, WR_DB, &fe) != OBJ_OK) /* a typo: say so, still nothing to do */
        fprintf(stderr, "ltxctl compact: note: %s\n", fe.msg);
    if (a->level) {
        if (wr_compact_level(st, a->level, &wrote) == 0) {
            if (!wrote)
                wr_log("L%d: nothing new in L%d", a->level, a->level - 1);
            ret = 0;
            if (a->level == 1 && a->l0_retention_given && retention_pass(st, a->l0_retention_ms))
                ret = 1;
        }
        goto out;
    }
    if (a->snapshot) {
        if (wr_snapshot_level9(st, &wrote) == 0) {
            if (!wrote)
                wr_log("L9: the newest snapshot is already current");
            ret = 0;
            if (a->retention_given && keep_pass(st, a->retention_ms))
                ret = 1;
        }
        goto out;
    }
    /* ladder */
    if (a->once) {
        ret = 0;
        for (int l = 1; l <= 3; l++) {
            if (wr_compact_level(st, l, &wrote))
                ret = 1;
            else if (!wrote)
                wr_log("L%d: nothing new in L%d", l, l - 1);
        }
        if (retention_pass(st, a->l0_retention_ms))
            ret = 1;
        if (a->snapshot_interval_ms > 0 && wr_snapshot_level9(st, &wrote))
            ret = 1;
        if (keep_pass(st, a->retention_ms))
            ret = 1;
        goto out;
    }
    ladder_loop(st, a->intervals_ms, a->l0_retention_ms, a->snapshot_interval_ms, a->retention_ms);
    wr_log("compaction ladder stopped");
    ret = 0;
out:
    objstore_close(st);
    return ret;
}
