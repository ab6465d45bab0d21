/* writer_core.c - pure parts of the LTX writer (see writer_core.h). */
#include "writer_core.h"

#include "be.h"
#include "strparse.h"
#include "timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wr_set_error(ltx_error *e, ltx_err code, const char *fmt, ...)
{
    if (!e)
        return;
    e->code = code;
    e->offset = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

int wr_parse_duration(const char *s, int64_t *ms) { return strparse_duration_ms(s, ms); }

int64_t wr_now_ms(void) { return timefmt_now_ms(); }

uint32_t wr_sqlite_page_size(const uint8_t *hdr, size_t len)
{
    if (len < 100 || memcmp(hdr, "SQLite format 3", 16) != 0)
        return 0;
    uint32_t ps = be_get16(hdr + 16);
    if (ps == 1)
        ps = 65536;
    return ltx_page_size_valid(ps) ? ps : 0;
}

uint64_t wr_image_checksum(const uint8_t *img, uint32_t commit, uint32_t page_size)
{
    uint64_t ck = 0;
    uint32_t lock = ltx_lock_pgno(page_size);
    for (uint32_t p = 1; p <= commit; p++) {
        if (p == lock)
            continue;
        ck ^= ltx_page_checksum(p, img + (size_t)(p - 1) * page_size, page_size);
    }
    return ck | LTX_CHECKSUM_FLAG;
}

/* ---- building files ----------------------------------------------------- */

static size_t out_cap(uint32_t npages, uint32_t page_size)
{
    uint64_t c = (uint64_t)npages * (LTX_MAX_FRAME_SIZE(page_size) + 16) + 4096;
    return c > ((uint64_t)1 << 32) - 1 ? 0 : (size_t)c;
}

/* Per-page checksums: sums[p-1] for pages 1..commit, 0 at the lock page.
 * Missing pages of a page map count as zeros (as in ltx_pagemap_checksum). */
static ltx_err sums_alloc(uint32_t commit, uint64_t **sums, ltx_error *e)
{
    *sums = calloc(commit ? commit : 1, sizeof **sums);
    if (!*sums) {
        wr_set_error(e, LTX_ERR_NOMEM, "out of memory for %u page checksums", commit);
        return LTX_ERR_NOMEM;
    }
    return LTX_OK;
}

ltx_err wr_image_sums(const uint8_t *img, uint32_t commit, uint32_t page_size, uint64_t **sums, ltx_error *e)
{
    if (sums_alloc(commit, sums, e) != LTX_OK)
        return LTX_ERR_NOMEM;
    uint32_t lock = ltx_lock_pgno(page_size);
    for (uint32_t p = 1; p <= commit; p++)
        if (p != lock)
            (*sums)[p - 1] = ltx_page_checksum(p, img + (size_t)(p - 1) * page_size, page_size);
    return LTX_OK;
}

uint64_t wr_sums_checksum(const uint64_t *sums, uint32_t commit)
{
    uint64_t ck = 0;
    for (uint32_t p = 1; p <= commit; p++)
        ck ^= sums[p - 1]; /* the lock page's entry is 0 */
    return ck | LTX_CHECKSUM_FLAG;
}

/* One L0 file from cur; a page below prev_commit is left out when it did not
 * change: by bytes against prev, or (prev NULL) by checksum against
 * prev_sums/cur_sums. */
static ltx_err build_l0(const ltx_header *h, const uint8_t *prev, const uint64_t *prev_sums,
                        uint32_t prev_commit, const uint8_t *cur, const uint64_t *cur_sums, uint32_t commit,
                        int full, uint8_t **out, size_t *out_len, size_t *npages, uint64_t *post,
                        ltx_error *e)
{
    *out = NULL;
    *out_len = 0;
    if (npages)
        *npages = 0;
    uint32_t ps = h->page_size;
    if (!ltx_page_size_valid(ps) || !cur) {
        wr_set_error(e, LTX_ERR_ARG, "invalid page size %u or no database image", ps);
        return LTX_ERR_ARG;
    }
    ltx_header hh = *h;
    hh.commit = commit;
    int track = !(hh.flags & LTX_FLAG_NO_CHECKSUM);
    if (!prev && !prev_sums)
        prev_commit = 0;
    if (hh.min_txid == 1)
        full = 1;
    uint32_t lock = ltx_lock_pgno(ps);
    ltx_encoder *enc = ltx_encoder_new(&hh, out_cap(commit, ps));
    if (!enc) {
        wr_set_error(e, LTX_ERR_NOMEM, "cannot start an LTX encoder");
        return LTX_ERR_NOMEM;
    }
    size_t n = 0;
    ltx_err rc = LTX_OK;
    for (uint32_t p = 1; p <= commit; p++) {
        if (p == lock)
            continue;
        const uint8_t *pg = cur + (size_t)(p - 1) * ps;
        if (!full && p <= prev_commit &&
            (prev ? !memcmp(pg, prev + (size_t)(p - 1) * ps, ps) : prev_sums[p - 1] == cur_sums[p - 1]))
            continue;
        rc = ltx_encoder_add_page(enc, p, pg, e);
        if (rc != LTX_OK)
            goto done;
        n++;
    }
    uint64_t pa = !track     ? 0
                  : cur_sums ? wr_sums_checksum(cur_sums, commit)
                             : wr_image_checksum(cur, commit, ps);
    rc = ltx_encoder_finish(enc, pa, out, out_len, e);
    if (rc == LTX_OK) {
        if (npages)
            *npages = n;
        if (post)
            *post = pa;
    }
done:
    ltx_encoder_free(enc);
    return rc;
}

ltx_err wr_build_l0(const ltx_header *h, const uint8_t *prev, uint32_t prev_commit, const uint8_t *cur,
                    uint32_t commit, int full, uint8_t **out, size_t *out_len, size_t *npages, uint64_t *post,
                    ltx_error *e)
{
    return build_l0(h, prev, NULL, prev ? prev_commit : 0, cur, NULL, commit, full, out, out_len, npages,
                    post, e);
}

ltx_err wr_build_l0_sums(const ltx_header *h, const uint64_t *prev_sums, uint32_t prev_commit,
                         const uint8_t *cur, const uint64_t *cur_sums, uint32_t commit, int full,
                         uint8_t **out, size_t *out_len, size_t *npages, uint64_t *post, ltx_error *e)
{
    if (!cur_sums) {
        wr_set_error(e, LTX_ERR_ARG, "no page checksums of the database image");
        return LTX_ERR_ARG;
    }
    return build_l0(h, NULL, prev_sums, prev_sums ? prev_commit : 0, cur, cur_sums, commit, full, out,
                    out_len, npages, post, e);
}
