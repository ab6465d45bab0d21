/* retain.c - which files a retention pass may delete (pure code, no I/O).
 * Litestream's rule (snapshots older than the retention are deleted, the
 * newest always stays, compacted-level files below the oldest retained
 * snapshot go with them), made safe: the newest snapshot created at or
 * before the cutoff stays too (so every point in the window restores), and
 * while no snapshot is that old nothing goes (the level files are then the
 * only way to the window's older points); the newest file of each level
 * stays (the ladder's position), and so does every file of level k the
 * next level has not absorbed yet (level k+1's compaction resumes right
 * after its newest TXID); the pass deletes nothing unless restore plans
 * over the remaining files still reach the latest TXID, the floor and
 * every retained snapshot. Level-9 files that do not start at TXID 1 are
 * not snapshots (plans never use them): they are left alone. */
#include <stdlib.h>
#include <string.h>

#include "compact.h"

/* Does a plan over files[i] with !del[i] reach target exactly (0 = latest,
 * then want = the TXID it must reach)? */
static int retain_reaches(const ltx_fileinfo *files, size_t n, const uint8_t *del, uint64_t target,
                          uint64_t want)
{
    ltx_fileinfo *rest = malloc((n ? n : 1) * sizeof *rest);
    if (!rest)
        return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!del || !del[i])
            rest[m++] = files[i];
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t got = 0;
    ltx_error e = { 0 };
    ltx_err r = ltx_restore_plan(rest, m, target, 0, &plan, &pn, &got, &e);
    free(plan);
    free(rest);
    return r == LTX_OK && got == want;
}

int ltx_retention_select(const ltx_fileinfo *files, size_t n, int64_t cutoff_ms, uint8_t *del,
                         uint64_t *floor)
{
    memset(del, 0, n);
    *floor = 0;
    /* the snapshot kept at the window's start: the newest created at or
     * before the cutoff; none that old: everything is in the window */
    const ltx_fileinfo *keep = NULL;
    for (size_t i = 0; i < n; i++) {
        const ltx_fileinfo *f = &files[i];
        if (f->level != LTX_SNAPSHOT_LEVEL || f->min_txid != 1)
            continue;
        if (f->created_ms <= cutoff_ms && (!keep || f->max_txid > keep->max_txid))
            keep = f;
    }
    if (!keep)
        return 0;
    *floor = keep->max_txid;
    uint64_t top[LTX_SNAPSHOT_LEVEL + 1] = { 0 };
    for (size_t i = 0; i < n; i++)
        if (files[i].level >= 1 && files[i].level < LTX_SNAPSHOT_LEVEL &&
            files[i].max_txid > top[files[i].level])
            top[files[i].level] = files[i].max_txid;
    size_t ndel = 0;
    for (size_t i = 0; i < n; i++) {
        const ltx_fileinfo *f = &files[i];
        int l = f->level;
        if (l == LTX_SNAPSHOT_LEVEL)
            del[i] = f->min_txid == 1 && f->max_txid < *floor;
        else if (l >= 1)
            /* level l+1 resumes after its newest TXID: what it has not
             * absorbed stays (an empty level l+1 starts anywhere) */
            del[i] = f->max_txid <= *floor && f->max_txid < top[l] &&
                     (l + 1 >= LTX_SNAPSHOT_LEVEL || !top[l + 1] || f->max_txid <= top[l + 1]);
        ndel += del[i];
    }
    if (!ndel)
        return 0;
    /* the remaining set must restore what the full set restores */
    uint64_t latest = 0;
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    ltx_error e = { 0 };
    if (ltx_restore_plan(files, n, 0, 0, &plan, &pn, &latest, &e) != LTX_OK)
        latest = 0;
    free(plan);
    int ok =
        latest && retain_reaches(files, n, del, 0, latest) && retain_reaches(files, n, del, *floor, *floor);
    for (size_t i = 0; ok && i < n; i++)
        if (files[i].level == LTX_SNAPSHOT_LEVEL && files[i].min_txid == 1 && !del[i])
            ok = retain_reaches(files, n, del, files[i].max_txid, files[i].max_txid);
    if (!ok) {
        memset(del, 0, n);
        return -1;
    }
    return (int)ndel;
}
