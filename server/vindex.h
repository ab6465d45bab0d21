/* vindex.h - versioned page index of one database.
 *
 * For each page the versions still needed, each naming where the page lives
 * (LTX file, frame offset, frame size) or "zeros" (a page dropped by a
 * shrink). A reader asks "page P as of TXID T" and gets the newest version
 * <= T. Alongside, one record per indexed TXID (commit, page size,
 * timestamp, pages changed) so /changes and pinned reads work. Not
 * thread-safe: the owner (db.c) guards it with a rwlock.
 */
#ifndef LTXPAGED_VINDEX_H
#define LTXPAGED_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

/* One LTX file referenced by index entries (refcounted by the index). */
typedef struct vfile {
    int refs;
    int level;
    uint64_t min_txid, max_txid, size;
    int64_t created_ms;
} vfile;

typedef struct {
    vfile *file;          /* NULL: the page reads as zeros */
    uint64_t txid;        /* the version's TXID (file max) */
    uint64_t off;
    uint32_t size;
} vpage;

typedef struct {
    vpage *v;             /* ascending txid */
    uint32_t n, cap;
} vslot;

typedef struct {
    uint64_t txid;
    uint32_t commit;
    uint32_t page_size;
    int64_t ts_ms;        /* header timestamp of the file that reached it */
    int64_t added_ms;     /* when this server indexed it (monotonic ms) */
    int64_t used_ms;      /* last request pinned at it (monotonic ms) */
    uint32_t *pages;      /* pages changed by this TXID (sorted); NULL for the base */
    size_t npages;
} vrec;

typedef struct {
    vslot *slots;         /* index = pgno */
    uint32_t nslots;
    vrec *recs;           /* ascending txid; the last is the newest */
    size_t nrecs, caprecs;
    size_t nversions;
} vindex;

enum { VX_OK = 0, VX_NOMEM = -1, VX_NOT_LIVE = -2, VX_RANGE = -3, VX_STALE = -4 };

void vindex_init(vindex *x);
void vindex_free(vindex *x);

vfile *vfile_new(const ltx_fileinfo *f);

/* --- building from a restore plan (no history) --- */
/* Merge one plan file: each entry replaces the page's version (later files
 * win; the version's txid is the file max), then pages > commit are
 * dropped. Returns VX_OK or VX_NOMEM. */
int vindex_merge_file(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit);
/* Finish a built index: one base record at txid. */
int vindex_seal(vindex *x, uint64_t txid, uint32_t commit, uint32_t page_size, int64_t ts_ms,
                int64_t mono_now);

/* --- live updates --- */
/* Apply a file that advances the index to f->max_txid (> current txid):
 * a new version per entry (pgno <= commit), zeros for pages in
 * (commit, previous commit] and a record listing the changed pages.
 * VX_STALE if f->max_txid <= current. */
int vindex_apply(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit,
                 uint32_t page_size, int64_t ts_ms, int64_t mono_now);

/* --- queries --- */
const vrec *vindex_current(const vindex *x);   /* NULL when empty */
const vrec *vindex_oldest(const vindex *x);
/* The record of exactly txid, or NULL. */
vrec *vindex_find(vindex *x, uint64_t txid);
/* Page pgno as of record txid: VX_OK (*out filled; file may be NULL =
 * zeros), VX_NOT_LIVE (txid not in this index), VX_RANGE (pgno > commit
 * or 0). */
int vindex_lookup(const vindex *x, uint64_t txid, uint32_t pgno, vpage *out);
/* Pages changed in (since, current], sorted, unique, <= current commit.
 * VX_NOT_LIVE when since < oldest record's txid. *pages malloc'd. */
int vindex_changes(const vindex *x, uint64_t since, uint32_t **pages, size_t *n);

/* Drop records (and the page versions only they need) that are older than
 * the newest and were both superseded and unused for window_ms. Returns the
 * number of records dropped. */
size_t vindex_prune(vindex *x, int64_t mono_now, int64_t window_ms);

#endif
