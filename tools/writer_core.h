/* writer_core.h - pure parts of the LTX writer used by `ltxctl snapshot`,
 * `ltxctl replicate` and `ltxctl compact`: durations, database images,
 * database checksums, building L0 files from two database images. Page
 * maps and compaction live in proto/compact.h. No I/O here, so unit tests can
 * link this file alone (with ltxproto).
 */
#ifndef WRITER_CORE_H
#define WRITER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "compact.h"
#include "ltx.h"

/* Largest database or LTX file the writer handles in memory. */
#define WR_MAX_DB_BYTES LTX_PAGEMAP_MAX_BYTES

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
                    uint32_t commit, int full, uint8_t **out, size_t *out_len, size_t *npages, uint64_t *post,
                    ltx_error *e);

/* The same with per-page checksums instead of the previous image (what
 * ltxctl replicate keeps: 8 bytes a page): a page at or below prev_commit is
 * left out when prev_sums and cur_sums (page checksums of `cur`, from
 * wr_image_sums) agree; the post-apply checksum comes from cur_sums. Two
 * different pages with equal CRC-64 (chance 2^-64 a changed page) would be
 * missed. */
ltx_err wr_build_l0_sums(const ltx_header *h, const uint64_t *prev_sums, uint32_t prev_commit,
                         const uint8_t *cur, const uint64_t *cur_sums, uint32_t commit, int full,
                         uint8_t **out, size_t *out_len, size_t *npages, uint64_t *post, ltx_error *e);

/* Page checksums (ltx_page_checksum) of pages 1..commit, 0 at the lock page;
 * *sums is malloc'd (caller frees), commit entries (at least one). */
ltx_err wr_image_sums(const uint8_t *img, uint32_t commit, uint32_t page_size, uint64_t **sums, ltx_error *e);
/* Database checksum from page checksums: XOR of sums[0..commit-1], bit 63. */
uint64_t wr_sums_checksum(const uint64_t *sums, uint32_t commit);

void wr_set_error(ltx_error *e, ltx_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
