/* plan.c - the restore-plan algorithm of LTX-FORMAT.md §3.1 (Litestream's
 * CalcRestorePlan), pure and in memory.
 *
 * 1. Base: the newest level-9 snapshot (min_txid 1) that passes the target
 *    filter (max <= target TXID, or CreatedAt strictly before target time).
 * 2. Greedy: cur = base max (0 without one). Among the files of levels 8..0
 *    with min <= cur+1, max > cur and passing the filter, take the one that
 *    reaches furthest; ties: smaller min, then higher level, then older
 *    CreatedAt. Repeat until nothing extends cur (or the target TXID is met).
 * 3. Latest target: a level whose next unused file starts beyond cur+1 is a
 *    gap nothing bridges -> LTX_ERR_NONCONTIGUOUS.
 * 4. Nothing chosen, or short of the target TXID -> LTX_ERR_TX_NOT_AVAILABLE.
 *
 * Each level is walked once with a cursor (files sorted by min, max), so a
 * plan over n files costs O(n log n + plan length * levels).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ltx.h"

static void set_err(ltx_error *e, ltx_err code, const char *fmt, const char *a, const char *b)
{
    if (!e)
        return;
    e->code = code;
    e->offset = 0;
    snprintf(e->msg, sizeof e->msg, fmt, a ? a : "", b ? b : "");
}

/* Is `next` a better pick than `cur`? */
static int better(const ltx_fileinfo *cur, const ltx_fileinfo *next)
{
    if (next->max_txid != cur->max_txid)
        return next->max_txid > cur->max_txid;
    if (next->min_txid != cur->min_txid)
        return next->min_txid < cur->min_txid;
    if (next->level != cur->level)
        return next->level > cur->level;
    return next->created_ms < cur->created_ms;
}

static int passes(const ltx_fileinfo *f, uint64_t target_txid, int64_t target_time_ms)
{
    if (target_txid && f->max_txid > target_txid)
        return 0;
    if (target_time_ms && !(f->created_ms < target_time_ms))
        return 0;
    return 1;
}

static int cmp_ptr(const void *pa, const void *pb)
{
    const ltx_fileinfo *a = *(const ltx_fileinfo *const *)pa;
    const ltx_fileinfo *b = *(const ltx_fileinfo *const *)pb;
    if (a->min_txid != b->min_txid)
        return a->min_txid < b->min_txid ? -1 : 1;
    if (a->max_txid != b->max_txid)
        return a->max_txid < b->max_txid ? -1 : 1;
    if (a->created_ms != b->created_ms)
        return a->created_ms < b->created_ms ? -1 : 1;
    return 0;
}

typedef struct {
    const ltx_fileinfo **files; /* this level's files sorted by (min, max) */
    size_t n, pos;              /* pos: next file not yet looked at */
    const ltx_fileinfo *cand;   /* best eligible file seen so far with max > cur */
} cursor;

/* Look at every file of the level that could follow cur; keep the best. */
static void cursor_refresh(cursor *c, uint64_t cur, uint64_t target_txid, int64_t target_time_ms)
{
    if (c->cand && c->cand->max_txid <= cur)
        c->cand = NULL;
    while (c->pos < c->n) {
        const ltx_fileinfo *f = c->files[c->pos];
        if (cur != UINT64_MAX && f->min_txid > cur + 1)
            return;
        c->pos++;
        if (f->max_txid <= cur || !passes(f, target_txid, target_time_ms))
            continue;
        if (!c->cand || better(c->cand, f))
            c->cand = f;
    }
}

/* Arguments and file entries: LTX_OK or LTX_ERR_ARG with a message. */
static ltx_err plan_check_args(const ltx_fileinfo *files, size_t n, uint64_t target_txid,
                               int64_t target_time_ms, ltx_fileinfo **plan, size_t *plan_n,
                               uint64_t *restored_txid, ltx_error *e)
{
    char a[48];
    if (!plan || !plan_n || (n && !files)) {
        set_err(e, LTX_ERR_ARG, "restore plan: missing argument%s%s", NULL, NULL);
        return LTX_ERR_ARG;
    }
    *plan = NULL;
    *plan_n = 0;
    if (restored_txid)
        *restored_txid = 0;
    if (target_txid && target_time_ms) {
        set_err(e, LTX_ERR_ARG, "restore plan: give a TXID or a time target, not both%s%s", NULL, NULL);
        return LTX_ERR_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        const ltx_fileinfo *f = &files[i];
        if (f->level < 0 || f->level > LTX_MAX_LEVEL || f->min_txid == 0 || f->max_txid < f->min_txid) {
            ltx_fileinfo_format(a, sizeof a, f);
            set_err(e, LTX_ERR_ARG, "restore plan: invalid file entry %s (level 0..9, 0 < min <= max)%s", a,
                    NULL);
            return LTX_ERR_ARG;
        }
    }
    return LTX_OK;
}

/* A plan of out_n files reaching cur: LTX_OK, or LTX_ERR_TX_NOT_AVAILABLE
 * saying why when it is empty or stops short of target_txid. */
static ltx_err plan_check_reached(size_t out_n, size_t n, uint64_t cur, uint64_t target_txid,
                                  int64_t target_time_ms, ltx_error *e)
{
    char a[48], b[48];
    if (out_n == 0) {
        if (target_txid) {
            ltx_format_txid(a, target_txid);
            set_err(e, LTX_ERR_TX_NOT_AVAILABLE,
                    "transaction not available: no file chain from TXID 1 stops at or before %s%s", a, NULL);
        } else if (target_time_ms) {
            ltx_format_time(a, sizeof a, target_time_ms);
            set_err(e, LTX_ERR_TX_NOT_AVAILABLE,
                    "transaction not available: no file chain from TXID 1 created before %s%s", a, NULL);
        } else {
            set_err(e, LTX_ERR_TX_NOT_AVAILABLE, "transaction not available: %s%s",
                    n ? "no file chain starts at TXID 1" : "replica holds no ltx files", NULL);
        }
        return LTX_ERR_TX_NOT_AVAILABLE;
    }
    if (target_txid && cur < target_txid) {
        ltx_format_txid(a, target_txid);
        ltx_format_txid(b, cur);
        set_err(e, LTX_ERR_TX_NOT_AVAILABLE,
                "transaction not available: target %s, but the files reach only %s", a, b);
        return LTX_ERR_TX_NOT_AVAILABLE;
    }
    return LTX_OK;
}

ltx_err ltx_restore_plan(const ltx_fileinfo *files, size_t n, uint64_t target_txid, int64_t target_time_ms,
                         ltx_fileinfo **plan, size_t *plan_n, uint64_t *restored_txid, ltx_error *e)
{
    char a[48], b[48];
    if (e)
        memset(e, 0, sizeof *e);
    ltx_err rc = plan_check_args(files, n, target_txid, target_time_ms, plan, plan_n, restored_txid, e);
    if (rc != LTX_OK)
        return rc;

    const ltx_fileinfo **sorted = NULL;
    ltx_fileinfo *out = NULL;
    size_t out_n = 0;
    cursor cur_lv[LTX_MAX_LEVEL]; /* levels 0..8 */
    memset(cur_lv, 0, sizeof cur_lv);

    if (n) {
        sorted = malloc(n * sizeof *sorted);
        if (!sorted)
            goto nomem;
    }
    /* Group by level (counting sort), then order each level by (min, max). */
    size_t count[LTX_MAX_LEVEL + 1] = { 0 }, start[LTX_MAX_LEVEL + 2] = { 0 };
    for (size_t i = 0; i < n; i++)
        count[files[i].level]++;
    for (int l = 0; l <= LTX_MAX_LEVEL; l++)
        start[l + 1] = start[l] + count[l];
    {
        size_t fill[LTX_MAX_LEVEL + 1];
        memcpy(fill, start, sizeof fill);
        for (size_t i = 0; i < n; i++)
            sorted[fill[files[i].level]++] = &files[i];
    }
    for (int l = 0; l <= LTX_MAX_LEVEL; l++)
        if (count[l] > 1)
            qsort(sorted + start[l], count[l], sizeof *sorted, cmp_ptr);

    /* The plan has at most one snapshot plus one file per TXID step, and
     * each file is used once: n + 1 entries is a hard bound. */
    out = malloc((n + 1) * sizeof *out);
    if (!out)
        goto nomem;

    /* 1. Base snapshot: the eligible level-9 file (min 1) with the highest
     * max; the older one if two share a name. Level-9 files that do not
     * start at TXID 1 are not snapshots and are never used. */
    const ltx_fileinfo *snap = NULL;
    for (size_t i = start[LTX_SNAPSHOT_LEVEL]; i < start[LTX_SNAPSHOT_LEVEL + 1]; i++) {
        const ltx_fileinfo *f = sorted[i];
        if (f->min_txid != 1 || !passes(f, target_txid, target_time_ms))
            continue;
        if (!snap || f->max_txid > snap->max_txid ||
            (f->max_txid == snap->max_txid && f->created_ms < snap->created_ms))
            snap = f;
    }
    uint64_t cur = 0;
    if (snap) {
        out[out_n++] = *snap;
        cur = snap->max_txid;
    }

    /* 2. Greedy extension over levels 8..0. */
    for (int l = 0; l < LTX_MAX_LEVEL; l++) {
        cur_lv[l].files = sorted + start[l];
        cur_lv[l].n = count[l];
    }
    while (!(target_txid && cur >= target_txid) && cur != UINT64_MAX) {
        cursor *best = NULL;
        for (int l = LTX_MAX_LEVEL - 1; l >= 0; l--) {
            cursor *c = &cur_lv[l];
            cursor_refresh(c, cur, target_txid, target_time_ms);
            if (c->cand && (!best || better(best->cand, c->cand)))
                best = c;
        }
        if (!best)
            break;
        out[out_n++] = *best->cand;
        cur = best->cand->max_txid;
        best->cand = NULL;
    }

    /* 3. Latest target: every level must be used up to cur. */
    if (out_n > 0 && !target_txid && !target_time_ms) {
        for (int l = 0; l < LTX_MAX_LEVEL; l++) {
            cursor *c = &cur_lv[l];
            cursor_refresh(c, cur, 0, 0);
            if (c->pos < c->n) {
                ltx_format_txid(a, cur);
                ltx_fileinfo_format(b, sizeof b, c->files[c->pos]);
                set_err(e, LTX_ERR_NONCONTIGUOUS,
                        "non-contiguous ltx files: have up to %s but next file is %s", a, b);
                rc = LTX_ERR_NONCONTIGUOUS;
                goto fail;
            }
        }
    }

    /* 4. Nothing, or short of the target. */
    rc = plan_check_reached(out_n, n, cur, target_txid, target_time_ms, e);
    if (rc != LTX_OK)
        goto fail;

    free(sorted);
    *plan = out;
    *plan_n = out_n;
    if (restored_txid)
        *restored_txid = cur;
    return LTX_OK;

nomem:
    set_err(e, LTX_ERR_NOMEM, "restore plan: out of memory%s%s", NULL, NULL);
    rc = LTX_ERR_NOMEM;
fail:
    free(sorted);
    free(out);
    return rc;
}
