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

/* A version of a page as a lookup answers it. */
typedef struct {
    vfile *file;   /* NULL: the page reads as zeros */
    uint64_t txid; /* the version's TXID (file max) */
    uint64_t off;
    uint32_t size;
} vpage;

/* One stored version of a page: 16 bytes. fid names an entry of the file
 * table (0: no version, the page reads as zeros); the frame offset is 48
 * bits (an LTX file up to 256 TiB). The version's TXID is its file's. */
typedef struct {
    uint32_t fid;
    uint32_t size;
    uint32_t off_lo;
    uint16_t off_hi;
    uint16_t pad;
} ventry;

/* File table entry: a file (one reference held) or "zeros from txid" (a
 * shrink), and how many ventries name it; free entries chain by next_free. */
typedef struct {
    vfile *file;
    uint64_t txid;
    uint32_t uses;
    uint32_t next_free;
} vftab;

typedef struct {
    uint64_t txid;
    uint32_t commit;
    uint32_t page_size;
    int64_t ts_ms;    /* header timestamp of the file that reached it */
    int64_t added_ms; /* when this server indexed it (monotonic ms) */
    int64_t used_ms;  /* last request pinned at it (monotonic ms) */
    uint32_t *pages;  /* pages changed by this TXID (sorted); NULL for the base */
    /* The side table of older versions: prev[i] is page pages[i] as it was
     * before this TXID (the version as of the previous record). Freed once
     * the previous record is pruned. */
    ventry *prev;
    size_t npages;
} vrec;

/* The newest version of every page is one ventry in slots[pgno] (16 bytes
 * per page); versions older than the newest live only in the records'
 * prev arrays, as long as a record that can see them is kept. */
typedef struct {
    ventry *slots; /* index = pgno */
    uint32_t nslots;
    vftab *files; /* index = fid; entry 0 unused */
    uint32_t nfiles, capfiles, free_fid;
    vrec *recs; /* ascending txid; the last is the newest */
    size_t nrecs, caprecs;
    size_t nversions; /* stored versions: newest plus older ones */
} vindex;

enum {
    VX_OK = 0,
    VX_NOMEM = -1,
    VX_NOT_LIVE = -2,
    VX_RANGE = -3,
    VX_STALE = -4,
    VX_TOOBIG = -5 /* a frame offset beyond 48 bits */
};

void vindex_init(vindex *x);
void vindex_free(vindex *x);

vfile *vfile_new(const ltx_fileinfo *f);
/* The file's name and listing fields back as an ltx_fileinfo. */
void vfile_info(const vfile *v, ltx_fileinfo *out);
/* Drop one reference (NULL ignored); the last frees it. */
void vfile_unref(vfile *f);

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
int vindex_apply(vindex *x, vfile *f, const ltx_index_entry *e, size_t n, uint32_t commit, uint32_t page_size,
                 int64_t ts_ms, int64_t mono_now);

/* --- queries --- */
const vrec *vindex_current(const vindex *x); /* NULL when empty */
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

/* Versions stored for page pgno (the newest plus the older ones). */
size_t vindex_page_versions(const vindex *x, uint32_t pgno);
/* Bytes held by the index (page entries, file table, records). */
size_t vindex_bytes(const vindex *x);

#endif
