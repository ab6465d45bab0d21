/* compact.c - page maps and compaction (LTX-FORMAT.md §1.9): the state of
 * a database built from LTX files held in memory, and merging LTX files
 * into one with the encoder. Pure code, no I/O (see compact.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "ltx_internal.h"

static uint64_t zero_page_checksum(uint32_t pgno, uint32_t page_size)
{
    /* CRC of u32be(pgno) followed by page_size zero bytes, without a buffer. */
    static const uint8_t zeros[4096];
    uint8_t be[4] = { (uint8_t)(pgno >> 24), (uint8_t)(pgno >> 16), (uint8_t)(pgno >> 8), (uint8_t)pgno };
    uint64_t crc = ltx_crc64(0, be, 4);
    for (uint32_t done = 0; done < page_size;) {
        uint32_t n = page_size - done < sizeof zeros ? page_size - done : (uint32_t)sizeof zeros;
        crc = ltx_crc64(crc, zeros, n);
        done += n;
    }
    return crc | LTX_CHECKSUM_FLAG;
}

/* ---- page map ----------------------------------------------------------- */

void ltx_pagemap_init(ltx_pagemap *pm, size_t max_bytes)
{
    memset(pm, 0, sizeof *pm);
    pm->max_bytes = max_bytes ? max_bytes : LTX_PAGEMAP_MAX_BYTES;
}

struct ltx_pmblock {
    uint32_t len;
    uint8_t data[];
};

static void drop_block(ltx_pagemap *pm, uint32_t i)
{
    if (pm->blk && pm->blk[i]) {
        pm->bytes -= pm->blk[i]->len;
        free(pm->blk[i]);
        pm->blk[i] = NULL;
    }
}

void ltx_pagemap_free(ltx_pagemap *pm)
{
    if (!pm)
        return;
    for (uint32_t i = 0; i < pm->cap; i++) {
        free(pm->pg[i]);
        if (pm->blk)
            free(pm->blk[i]);
    }
    free(pm->pg);
    free(pm->blk);
    pm->pg = NULL;
    pm->blk = NULL;
    pm->cap = 0;
    pm->bytes = 0;
}

ltx_err ltx_pagemap_set(ltx_pagemap *pm, uint32_t pgno, const uint8_t *page, ltx_error *e)
{
    if (pgno == 0 || !pm->page_size) {
        (void)ltx_fail(e, LTX_ERR_ARG, 0, "page %u: invalid page number or page size unset", pgno);
        return LTX_ERR_ARG;
    }
    if (pgno > pm->cap) {
        uint64_t ncap = pm->cap ? pm->cap : 64;
        while (ncap < pgno)
            ncap *= 2;
        if (ncap > UINT32_MAX)
            ncap = UINT32_MAX;
        uint8_t **np = realloc(pm->pg, (size_t)ncap * sizeof *np);
        if (!np) {
            (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory growing the page map to %llu pages",
                           (unsigned long long)ncap);
            return LTX_ERR_NOMEM;
        }
        memset(np + pm->cap, 0, (size_t)(ncap - pm->cap) * sizeof *np);
        pm->pg = np;
        if (pm->keep_blocks) {
            ltx_pmblock **nb = realloc(pm->blk, (size_t)ncap * sizeof *nb);
            if (!nb) {
                (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory growing the page map");
                return LTX_ERR_NOMEM; /* pg grew, cap did not: consistent */
            }
            memset(nb + pm->cap, 0, (size_t)(ncap - pm->cap) * sizeof *nb);
            pm->blk = nb;
        }
        pm->cap = (uint32_t)ncap;
    }
    drop_block(pm, pgno - 1);
    uint8_t **slot = &pm->pg[pgno - 1];
    if (!*slot) {
        if (pm->bytes + pm->page_size > pm->max_bytes) {
            (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "database larger than the writer's limit of %zu bytes",
                           pm->max_bytes);
            return LTX_ERR_NOMEM;
        }
        *slot = malloc(pm->page_size);
        if (!*slot) {
            (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for page %u", pgno);
            return LTX_ERR_NOMEM;
        }
        pm->bytes += pm->page_size;
    }
    memcpy(*slot, page, pm->page_size);
    return LTX_OK;
}

void ltx_pagemap_truncate(ltx_pagemap *pm, uint32_t commit)
{
    for (uint32_t i = commit; i < pm->cap; i++) {
        if (pm->pg[i]) {
            free(pm->pg[i]);
            pm->pg[i] = NULL;
            pm->bytes -= pm->page_size;
        }
        drop_block(pm, i);
    }
    pm->commit = commit;
}

ltx_err ltx_pagemap_put(ltx_pagemap *pm, uint32_t pgno, const uint8_t *page, const uint8_t *frame,
                        size_t frame_len, ltx_error *e)
{
    ltx_err rc = ltx_pagemap_set(pm, pgno, page, e); /* drops the page's old block */
    if (rc != LTX_OK || !pm->keep_blocks || !pm->blk || !frame || frame_len < 10)
        return rc;
    /* keep a v3b frame's LZ4 block: [pgno u32][flags u16 = 1][len u32][block] */
    uint32_t flags = be_get16(frame + 4);
    uint32_t bl = be_get32(frame + 6);
    if (flags != LTX_PAGE_FLAG_SIZE || (uint64_t)bl + 10 != frame_len)
        return LTX_OK;
    if (pm->bytes + bl > pm->max_bytes)
        return LTX_OK; /* blocks are an optimisation: recompress this page */
    ltx_pmblock *b = malloc(sizeof *b + bl);
    if (!b)
        return LTX_OK;
    b->len = bl;
    memcpy(b->data, frame + 10, bl);
    pm->blk[pgno - 1] = b;
    pm->bytes += bl;
    return LTX_OK;
}

struct apply_ctx {
    ltx_pagemap *pm;
    ltx_error err;
    int failed;
};

static int apply_frame(void *ctx, uint32_t pgno, const uint8_t *page, const uint8_t *frame, size_t frame_len)
{
    struct apply_ctx *ac = ctx;
    if (ltx_pagemap_put(ac->pm, pgno, page, frame, frame_len, &ac->err) != LTX_OK) {
        ac->failed = 1;
        return 1;
    }
    return 0;
}

ltx_err ltx_pagemap_begin(ltx_pagemap *pm, const ltx_header *h, ltx_error *e)
{
    if (pm->page_size && pm->page_size != h->page_size) {
        (void)ltx_fail(e, LTX_ERR_PAGE_SIZE, 0, "page size %u differs from the earlier files' %u",
                       h->page_size, pm->page_size);
        return LTX_ERR_PAGE_SIZE;
    }
    pm->page_size = h->page_size;
    return LTX_OK;
}

void ltx_pagemap_end(ltx_pagemap *pm, const ltx_header *h, int truncate)
{
    if (truncate)
        ltx_pagemap_truncate(pm, h->commit);
    else
        pm->commit = h->commit;
}

ltx_err ltx_pagemap_apply(ltx_pagemap *pm, const uint8_t *buf, size_t len, int truncate, ltx_header *hdr,
                          ltx_trailer *trl, ltx_error *e)
{
    ltx_header h;
    ltx_err rc = ltx_header_decode(buf, len, &h, e);
    if (rc != LTX_OK)
        return rc;
    if ((rc = ltx_pagemap_begin(pm, &h, e)) != LTX_OK)
        return rc;
    ltx_verifier *v = ltx_verifier_new();
    if (!v) {
        (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for the verifier");
        return LTX_ERR_NOMEM;
    }
    struct apply_ctx ac;
    memset(&ac, 0, sizeof ac);
    ac.pm = pm;
    ltx_verifier_on_frame(v, apply_frame, &ac);
    ltx_file_info info;
    (void)ltx_verifier_feed(v, buf, len, NULL);
    rc = ltx_verifier_finish(v, &info, e);
    ltx_verifier_free(v);
    if (rc != LTX_OK && ac.failed) {
        rc = ac.err.code;
        if (e)
            *e = ac.err;
    }
    if (rc != LTX_OK)
        return rc;
    ltx_pagemap_end(pm, &info.header, truncate);
    if (hdr)
        *hdr = info.header;
    if (trl)
        *trl = info.trailer;
    ltx_file_info_free(&info);
    return LTX_OK;
}

ltx_err ltx_pagemap_image(const ltx_pagemap *pm, uint8_t **img, size_t *len, ltx_error *e)
{
    size_t n = (size_t)pm->commit * pm->page_size;
    *img = NULL;
    *len = 0;
    if (n > pm->max_bytes) {
        (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "database of %zu bytes is over the writer's limit", n);
        return LTX_ERR_NOMEM;
    }
    uint8_t *b = calloc(1, n ? n : 1);
    if (!b) {
        (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for a %zu-byte image", n);
        return LTX_ERR_NOMEM;
    }
    for (uint32_t p = 1; p <= pm->commit && p <= pm->cap; p++)
        if (pm->pg[p - 1])
            memcpy(b + (size_t)(p - 1) * pm->page_size, pm->pg[p - 1], pm->page_size);
    *img = b;
    *len = n;
    return LTX_OK;
}

uint64_t ltx_pagemap_checksum(const ltx_pagemap *pm)
{
    uint64_t ck = 0;
    uint32_t lock = ltx_lock_pgno(pm->page_size);
    for (uint32_t p = 1; p <= pm->commit; p++) {
        if (p == lock)
            continue;
        const uint8_t *pg = p <= pm->cap ? pm->pg[p - 1] : NULL;
        ck ^= pg ? ltx_page_checksum(p, pg, pm->page_size) : zero_page_checksum(p, pm->page_size);
    }
    return ck | LTX_CHECKSUM_FLAG;
}

/* ---- page checksums, encoding ---------------------------------------- */

ltx_err ltx_pagemap_sums(const ltx_pagemap *pm, uint64_t **sums, ltx_error *e)
{
    *sums = calloc(pm->commit ? pm->commit : 1, sizeof **sums);
    if (!*sums) {
        (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for %u page checksums", pm->commit);
        return LTX_ERR_NOMEM;
    }
    uint32_t lock = ltx_lock_pgno(pm->page_size);
    for (uint32_t p = 1; p <= pm->commit; p++) {
        if (p == lock)
            continue;
        const uint8_t *pg = p <= pm->cap ? pm->pg[p - 1] : NULL;
        (*sums)[p - 1] = pg ? ltx_page_checksum(p, pg, pm->page_size) : zero_page_checksum(p, pm->page_size);
    }
    return LTX_OK;
}

static size_t out_cap(uint32_t npages, uint32_t page_size)
{
    uint64_t c = (uint64_t)npages * (LTX_MAX_FRAME_SIZE(page_size) + 16) + 4096;
    return c > ((uint64_t)1 << 32) - 1 ? 0 : (size_t)c;
}

ltx_err ltx_pagemap_encode(const ltx_header *h, const ltx_pagemap *pm, uint64_t post_apply, uint8_t **out,
                           size_t *out_len, size_t *npages, ltx_error *e)
{
    *out = NULL;
    *out_len = 0;
    uint32_t lock = ltx_lock_pgno(h->page_size);
    int snap = h->min_txid == 1;
    size_t count = 0;
    for (uint32_t p = 1; p <= h->commit; p++)
        if (p != lock && p <= pm->cap && pm->pg[p - 1])
            count++;
    ltx_encoder *enc = ltx_encoder_new(h, out_cap((uint32_t)count, h->page_size));
    if (!enc) {
        (void)ltx_fail(e, LTX_ERR_NOMEM, 0, "cannot start an LTX encoder");
        return LTX_ERR_NOMEM;
    }
    ltx_err rc = LTX_OK;
    for (uint32_t p = 1; p <= h->commit; p++) {
        if (p == lock)
            continue;
        const uint8_t *pg = p <= pm->cap ? pm->pg[p - 1] : NULL;
        if (!pg) {
            if (snap) {
                rc = LTX_ERR_SNAPSHOT_INCOMPLETE;
                (void)ltx_fail(e, rc, 0, "page %u of %u is in none of the inputs, cannot write a snapshot", p,
                               h->commit);
                goto done;
            }
            continue;
        }
        const ltx_pmblock *b = pm->blk ? pm->blk[p - 1] : NULL;
        rc = b ? ltx_encoder_add_block(enc, p, pg, b->data, b->len, e) : ltx_encoder_add_page(enc, p, pg, e);
        if (rc != LTX_OK)
            goto done;
    }
    rc = ltx_encoder_finish(enc, post_apply, out, out_len, e);
    if (rc == LTX_OK && npages)
        *npages = count;
done:
    ltx_encoder_free(enc);
    return rc;
}

/* ---- compaction ---------------------------------------------------------- */

ltx_err ltx_compact(const uint8_t *const *bufs, const size_t *lens, size_t n, uint8_t **out, size_t *out_len,
                    ltx_header *out_hdr, size_t *npages, ltx_error *e)
{
    *out = NULL;
    *out_len = 0;
    if (n == 0) {
        (void)ltx_fail(e, LTX_ERR_ARG, 0, "nothing to compact");
        return LTX_ERR_ARG;
    }
    ltx_pagemap pm;
    ltx_pagemap_init(&pm, 0);
    pm.keep_blocks = 1;
    ltx_header first, last;
    ltx_trailer last_trl;
    memset(&first, 0, sizeof first);
    memset(&last, 0, sizeof last);
    memset(&last_trl, 0, sizeof last_trl);
    int nochk = 0;
    ltx_err rc = LTX_OK;
    for (size_t i = 0; i < n; i++) {
        ltx_header h;
        ltx_trailer t;
        rc = ltx_pagemap_apply(&pm, bufs[i], lens[i], 0, &h, &t, e);
        if (rc != LTX_OK)
            goto done;
        if (i == 0) {
            first = h;
        } else if (h.min_txid > last.max_txid + 1 || h.max_txid <= last.max_txid) {
            rc = LTX_ERR_NONCONTIGUOUS;
            (void)ltx_fail(e, rc, 0, "input %016llx-%016llx does not follow %016llx-%016llx",
                           (unsigned long long)h.min_txid, (unsigned long long)h.max_txid,
                           (unsigned long long)last.min_txid, (unsigned long long)last.max_txid);
            goto done;
        }
        if (h.flags & LTX_FLAG_NO_CHECKSUM)
            nochk = 1;
        last = h;
        last_trl = t;
    }
    ltx_header oh;
    memset(&oh, 0, sizeof oh);
    oh.flags = nochk ? LTX_FLAG_NO_CHECKSUM : 0;
    oh.page_size = last.page_size;
    oh.commit = last.commit;
    oh.min_txid = first.min_txid;
    oh.max_txid = last.max_txid;
    oh.timestamp_ms = last.timestamp_ms;
    oh.pre_apply_checksum = nochk ? 0 : first.pre_apply_checksum;
    ltx_pagemap_truncate(&pm, oh.commit);
    rc = ltx_pagemap_encode(&oh, &pm, nochk ? 0 : last_trl.post_apply_checksum, out, out_len, npages, e);
    if (rc == LTX_OK && out_hdr)
        *out_hdr = oh;
done:
    ltx_pagemap_free(&pm);
    return rc;
}
