/* compact.h - page maps and compaction (LTX-FORMAT.md §1.9), pure code on
 * LTX files held in memory, no I/O. Used by ltxctl (snapshot, replicate,
 * compact, restore into memory); the server can compact with it too.
 */
#ifndef LTX_COMPACT_H
#define LTX_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

/* Largest database a page map holds by default. */
#define LTX_PAGEMAP_MAX_BYTES ((size_t)1 << 31)

typedef struct ltx_pmblock ltx_pmblock; /* a page's LZ4 block as stored in its file */

/* Sparse page map: the state of a database built from LTX files. */
typedef struct {
    uint32_t page_size; /* 0 until the first file */
    uint32_t commit;    /* commit of the last file applied */
    uint32_t cap;       /* slots in pg (and blk) */
    uint8_t **pg;       /* pg[pgno-1]: malloc'd page or NULL (never written = zeros) */
    ltx_pmblock **blk;  /* with keep_blocks: blk[pgno-1] = the page's LZ4 block (v3b
                          * inputs), reused when encoding so pages are not recompressed
                          * and compactions of reference files reproduce them byte for byte */
    int keep_blocks;    /* set after ltx_pagemap_init to keep blocks */
    size_t bytes;       /* bytes held in pages and blocks */
    size_t max_bytes;   /* cap on bytes (0 = LTX_PAGEMAP_MAX_BYTES) */
} ltx_pagemap;

void ltx_pagemap_init(ltx_pagemap *pm, size_t max_bytes);
void ltx_pagemap_free(ltx_pagemap *pm);
/* Store a copy of one page (page_size must already be set). */
ltx_err ltx_pagemap_set(ltx_pagemap *pm, uint32_t pgno, const uint8_t *page, ltx_error *e);
/* The same from a decoded frame (as ltx_frame_fn gives it): with
 * keep_blocks, a v3b frame's LZ4 block is kept too. */
ltx_err ltx_pagemap_put(ltx_pagemap *pm, uint32_t pgno, const uint8_t *page, const uint8_t *frame,
                        size_t frame_len, ltx_error *e);
/* Drop every page above commit and set pm->commit. */
void ltx_pagemap_truncate(ltx_pagemap *pm, uint32_t commit);
/* Applying one file whose pages arrive one by one (e.g. from a streaming
 * verifier): begin with its header (sets or checks the page size), put each
 * page, end after the file verified: with truncate, pages above the file's
 * commit are dropped (restore semantics); without, only pm->commit is set
 * (compaction semantics: only the final commit truncates). */
ltx_err ltx_pagemap_begin(ltx_pagemap *pm, const ltx_header *h, ltx_error *e);
void ltx_pagemap_end(ltx_pagemap *pm, const ltx_header *h, int truncate);
/* All three for one whole LTX file held in memory (verified with the
 * streaming verifier). hdr/trl may be NULL. */
ltx_err ltx_pagemap_apply(ltx_pagemap *pm, const uint8_t *buf, size_t len, int truncate, ltx_header *hdr,
                          ltx_trailer *trl, ltx_error *e);
/* Flatten to a contiguous image of pm->commit pages (missing pages are
 * zeros). *img is malloc'd (caller frees); *len = commit * page_size. */
ltx_err ltx_pagemap_image(const ltx_pagemap *pm, uint8_t **img, size_t *len, ltx_error *e);
/* Database checksum of pages 1..commit (missing pages count as zeros). */
uint64_t ltx_pagemap_checksum(const ltx_pagemap *pm);
/* Page checksums of pages 1..commit (missing pages count as zeros, 0 at the
 * lock page); *sums is malloc'd (caller frees). */
ltx_err ltx_pagemap_sums(const ltx_pagemap *pm, uint64_t **sums, ltx_error *e);

/* Encode the pages of pm (1..h->commit, only those present unless the file
 * is a snapshot, where missing pages are an error) under header h. */
ltx_err ltx_pagemap_encode(const ltx_header *h, const ltx_pagemap *pm, uint64_t post_apply, uint8_t **out,
                           size_t *out_len, size_t *npages, ltx_error *e);

/* Compaction of files already in memory (LTX-FORMAT.md §1.9): inputs in
 * TXID order, contiguous (next min <= prev max + 1, next max > prev max),
 * same page size. Output: min of first, max/commit/timestamp/post of last,
 * pre of first, WAL fields and node id zero, flags NoChecksum if any input
 * has it. Pages: union, newest wins, pages above the final commit dropped. */
ltx_err ltx_compact(const uint8_t *const *bufs, const size_t *lens, size_t n, uint8_t **out, size_t *out_len,
                    ltx_header *out_hdr, size_t *npages, ltx_error *e);

/* ---- retention (retain.c) ---- */

/* Choose the files a retention pass deletes: snapshots (level 9, min TXID
 * 1) older than the one kept at the window's start (the newest created at
 * or before cutoff_ms; its TXID is *floor; the newest snapshot always
 * stays), and level 1..8 files whose max TXID is at or below *floor,
 * except the newest file of each level and the files of level k above
 * level k+1's newest TXID (not yet compacted into it). Nothing while no
 * snapshot was created at or before cutoff_ms (*floor 0): the level files
 * are the window's only way back. Level 0 is left to L0 retention, other
 * level-9 files are kept. del[n] gets 1 for each file to delete. Returns
 * how many, 0 when nothing may go, or -1 (del all 0) when restore plans
 * over the remaining files would not reach the latest TXID, the floor and
 * every kept snapshot as the full set does. */
int ltx_retention_select(const ltx_fileinfo *files, size_t n, int64_t cutoff_ms, uint8_t *del,
                         uint64_t *floor);

#endif
