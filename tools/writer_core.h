/* writer_core.h - pure parts of the LTX writer used by `ltxctl snapshot`,
 * `ltxctl replicate` and `ltxctl compact`: durations, database images,
 * page maps, database checksums, building L0 files from two database
 * images and merging LTX files (compaction). No I/O here, so unit tests can
 * link this file alone (with ltxproto).
 */
#ifndef WRITER_CORE_H
#define WRITER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "ltx.h"

/* Largest database or LTX file the writer handles in memory. */
#define WR_MAX_DB_BYTES ((size_t)1 << 31)

/* "250ms", "1s", "1.5s", "5m", "1h", "2d", plain "3" (seconds), "0".
 * Returns 0 and *ms on success, -1 on anything else. */
int wr_parse_duration(const char *s, int64_t *ms);
int64_t wr_now_ms(void);

/* Page size from a database header (bytes 16..17, 1 = 65536); 0 if the
 * buffer is not a plausible SQLite database header. */
uint32_t wr_sqlite_page_size(const uint8_t *hdr, size_t len);

/* Database checksum (LTX-FORMAT.md §1.8) of a contiguous image of `commit`
 * pages: XOR of page checksums over 1..commit except the lock page, bit 63
 * set. */
uint64_t wr_image_checksum(const uint8_t *img, uint32_t commit, uint32_t page_size);

/* ---- sparse page map: the state of a database built from LTX files ---- */
typedef struct wr_block wr_block; /* a page's LZ4 block as stored in its file */

typedef struct {
    uint32_t page_size;  /* 0 until the first file */
    uint32_t commit;     /* commit of the last file applied */
    uint32_t cap;        /* slots in pg (and blk) */
    uint8_t **pg;        /* pg[pgno-1]: malloc'd page or NULL (never written = zeros) */
    wr_block **blk;      /* with keep_blocks: blk[pgno-1] = the page's LZ4 block (v3b
                          * inputs), reused when encoding so pages are not recompressed
                          * and compactions of reference files reproduce them byte for byte */
    int keep_blocks;     /* set after wr_pages_init to keep blocks */
    size_t bytes;        /* bytes held in pages and blocks */
    size_t max_bytes;    /* cap on bytes (0 = WR_MAX_DB_BYTES) */
} wr_pages;

void wr_pages_init(wr_pages *pm, size_t max_bytes);
void wr_pages_free(wr_pages *pm);
/* Store a copy of one page (page_size must already be set). */
ltx_err wr_pages_set(wr_pages *pm, uint32_t pgno, const uint8_t *page, ltx_error *e);
/* Drop every page above commit and set pm->commit. */
void wr_pages_truncate(wr_pages *pm, uint32_t commit);
/* Decode one whole LTX file held in memory (verifying its checksums) and
 * write its pages into pm. With truncate, pages above the file's commit are
 * dropped afterwards (restore semantics); without, only pm->commit is set
 * (compaction semantics: only the final commit truncates). The file's page
 * size must match pm's (set from the first file). hdr/trl may be NULL. */
ltx_err wr_pages_apply(wr_pages *pm, const uint8_t *buf, size_t len, int truncate, ltx_header *hdr,
                       ltx_trailer *trl, ltx_error *e);
/* Flatten to a contiguous image of pm->commit pages (missing pages are
 * zeros). *img is malloc'd (caller frees); *len = commit * page_size. */
ltx_err wr_pages_image(const wr_pages *pm, uint8_t **img, size_t *len, ltx_error *e);
/* Database checksum of pages 1..commit (missing pages count as zeros). */
uint64_t wr_pages_checksum(const wr_pages *pm);

/* ---- building files ----------------------------------------------------- */

/* Build one L0 file that turns database image `prev` (prev_commit pages; NULL
 * or prev_commit 0 when there is none) into `cur` (commit pages), both with
 * page size h->page_size. h supplies every header field (flags, min/max,
 * timestamp, WAL fields, pre_apply); commit is taken from `commit`. Pages
 * written: every page when h->min_txid == 1 or full != 0, else pages above
 * prev_commit plus pages whose bytes differ; never the lock page. With
 * checksums tracked (flags without NoChecksum) the post-apply checksum is
 * computed from cur. On success *out (malloc'd) holds the file, *npages the
 * number of pages in it, *post the post-apply checksum (0 with NoChecksum). */
ltx_err wr_build_l0(const ltx_header *h, const uint8_t *prev, uint32_t prev_commit, const uint8_t *cur,
                    uint32_t commit, int full, uint8_t **out, size_t *out_len, size_t *npages,
                    uint64_t *post, ltx_error *e);

/* The same with per-page checksums instead of the previous image (what
 * ltxctl replicate keeps: 8 bytes a page): a page at or below prev_commit is
 * left out when prev_sums and cur_sums (page checksums of `cur`, from
 * wr_image_sums) agree; the post-apply checksum comes from cur_sums. Two
 * different pages with equal CRC-64 (chance 2^-64 a changed page) would be
 * missed. */
ltx_err wr_build_l0_sums(const ltx_header *h, const uint64_t *prev_sums, uint32_t prev_commit, const uint8_t *cur,
                         const uint64_t *cur_sums, uint32_t commit, int full, uint8_t **out, size_t *out_len,
                         size_t *npages, uint64_t *post, ltx_error *e);

/* Page checksums (ltx_page_checksum) of pages 1..commit, 0 at the lock page;
 * *sums is malloc'd (caller frees), commit entries (at least one). */
ltx_err wr_image_sums(const uint8_t *img, uint32_t commit, uint32_t page_size, uint64_t **sums, ltx_error *e);
/* The same for a page map (missing pages count as zeros). */
ltx_err wr_pages_sums(const wr_pages *pm, uint64_t **sums, ltx_error *e);
/* Database checksum from page checksums: XOR of sums[0..commit-1], bit 63. */
uint64_t wr_sums_checksum(const uint64_t *sums, uint32_t commit);

/* Encode the pages of pm (1..h->commit, only those present unless the file
 * is a snapshot, where missing pages are an error) under header h. */
ltx_err wr_encode_pages(const ltx_header *h, const wr_pages *pm, uint64_t post_apply, uint8_t **out,
                        size_t *out_len, size_t *npages, ltx_error *e);

/* Compaction of files already in memory (LTX-FORMAT.md §1.9): inputs in
 * TXID order, contiguous (next min <= prev max + 1, next max > prev max),
 * same page size. Output: min of first, max/commit/timestamp/post of last,
 * pre of first, WAL fields and node id zero, flags NoChecksum if any input
 * has it. Pages: union, newest wins, pages above the final commit dropped. */
ltx_err wr_compact_buffers(const uint8_t *const *bufs, const size_t *lens, size_t n, uint8_t **out,
                           size_t *out_len, ltx_header *out_hdr, size_t *npages, ltx_error *e);

void wr_set_error(ltx_error *e, ltx_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
