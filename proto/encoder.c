/* encoder.c - LTX encoder, current layout (v3b: page flags 0x0001, u32
 * compressed size, one raw LZ4 block per page), byte layout as the reference
 * superfly/ltx Encoder writes it (LTX-FORMAT.md §1.2-§1.7). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "ltx.h"
#include "ltx_internal.h"

struct ltx_encoder {
    ltx_header h;
    uint8_t *buf;
    size_t len, cap, max_bytes;
    uint64_t crc; /* running file checksum (decompressed pages) */
    uint32_t prev_pgno;
    ltx_index_entry *idx;
    size_t nidx, idx_cap;
    uint8_t *scratch; /* page buffer for ltx_encoder_add_block(page NULL) */
    int failed;       /* a previous call failed: refuse to go on */
    int finished;
};

/* Make room for `need` more bytes, within max_bytes. */
static int reserve(ltx_encoder *enc, size_t need)
{
    if (need > enc->max_bytes || enc->len > enc->max_bytes - need)
        return -1;
    size_t want = enc->len + need;
    if (want <= enc->cap)
        return 0;
    size_t nc = enc->cap ? enc->cap : 4096;
    while (nc < want)
        nc = nc > SIZE_MAX / 2 ? want : nc * 2;
    if (nc > enc->max_bytes)
        nc = enc->max_bytes;
    uint8_t *nb = realloc(enc->buf, nc);
    if (!nb)
        return -1;
    enc->buf = nb;
    enc->cap = nc;
    return 0;
}

ltx_encoder *ltx_encoder_new(const ltx_header *h, size_t max_bytes)
{
    if (!h)
        return NULL;
    ltx_encoder *enc = calloc(1, sizeof *enc);
    if (!enc)
        return NULL;
    enc->h = *h;
    enc->max_bytes = max_bytes ? max_bytes : (size_t)4 << 30;
    if (reserve(enc, LTX_HEADER_SIZE) != 0) {
        free(enc);
        return NULL;
    }
    ltx_header_encode(h, enc->buf);
    enc->len = LTX_HEADER_SIZE;
    enc->crc = ltx_crc64(0, enc->buf, LTX_HEADER_SIZE);
    return enc;
}

void ltx_encoder_free(ltx_encoder *enc)
{
    if (!enc)
        return;
    free(enc->buf);
    free(enc->idx);
    free(enc->scratch);
    free(enc);
}

static ltx_err add_frame(ltx_encoder *enc, uint32_t pgno, const uint8_t *page, const uint8_t *block,
                         uint32_t block_len, ltx_error *e)
{
    if (enc->finished || enc->failed)
        return ltx_fail(e, LTX_ERR_ARG, enc->len, "encoder already finished or failed");
    const ltx_header *h = &enc->h;
    if (!ltx_page_size_valid(h->page_size))
        return ltx_fail(e, LTX_ERR_HEADER, 8, "invalid page size %" PRIu32, h->page_size);
    uint32_t lock = ltx_lock_pgno(h->page_size);
    if (pgno == 0)
        return ltx_fail(e, LTX_ERR_ARG, enc->len, "page number 0");
    if (pgno > h->commit)
        return ltx_fail(e, LTX_ERR_PAGE_BEYOND_COMMIT, enc->len, "page %" PRIu32 " is beyond commit %" PRIu32,
                        pgno, h->commit);
    if (pgno == lock)
        return ltx_fail(e, LTX_ERR_LOCK_PAGE, enc->len, "cannot encode the lock page %" PRIu32, pgno);
    if (pgno <= enc->prev_pgno)
        return ltx_fail(e, LTX_ERR_PAGE_ORDER, enc->len,
                        "page %" PRIu32 " after page %" PRIu32 " (must be strictly increasing)", pgno,
                        enc->prev_pgno);
    if (ltx_header_is_snapshot(h)) {
        uint32_t want = enc->prev_pgno + 1 == lock ? enc->prev_pgno + 2 : enc->prev_pgno + 1;
        if (pgno != want)
            return ltx_fail(e, LTX_ERR_SNAPSHOT_INCOMPLETE, enc->len,
                            "snapshot needs page %" PRIu32 " next, got %" PRIu32, want, pgno);
    }
    int bound = LZ4_compressBound((int)h->page_size);
    if (enc->nidx == enc->idx_cap) {
        size_t nc = enc->idx_cap ? enc->idx_cap * 2 : 64;
        ltx_index_entry *ni = realloc(enc->idx, nc * sizeof *ni);
        if (!ni) {
            enc->failed = 1;
            return ltx_fail(e, LTX_ERR_NOMEM, enc->len, "out of memory for the page index");
        }
        enc->idx = ni;
        enc->idx_cap = nc;
    }
    if (reserve(enc, LTX_PAGE_HEADER_SIZE + 4 + (size_t)bound) != 0) {
        enc->failed = 1;
        return ltx_fail(e, LTX_ERR_NOMEM, enc->len,
                        "output would exceed the cap of %zu bytes (or out of memory)", enc->max_bytes);
    }
    uint8_t *p = enc->buf + enc->len;
    int n;
    if (block) {
        if (block_len == 0 || block_len > (uint32_t)bound)
            return ltx_fail(e, LTX_ERR_DECOMPRESS, enc->len,
                            "page %" PRIu32 ": block of %" PRIu32 " bytes is outside 1..%d", pgno, block_len,
                            bound);
        if (!page) {
            if (!enc->scratch && !(enc->scratch = malloc(h->page_size))) {
                enc->failed = 1;
                return ltx_fail(e, LTX_ERR_NOMEM, enc->len, "out of memory for a page buffer");
            }
            int d = LZ4_decompress_safe((const char *)block, (char *)enc->scratch, (int)block_len,
                                        (int)h->page_size);
            if (d != (int)h->page_size)
                return ltx_fail(e, d < 0 ? LTX_ERR_DECOMPRESS : LTX_ERR_PAGE_SIZE, enc->len,
                                "page %" PRIu32 ": block decodes to %d bytes, want %" PRIu32, pgno, d,
                                h->page_size);
            page = enc->scratch;
        }
        memcpy(p + 10, block, block_len);
        n = (int)block_len;
    } else {
        n = LZ4_compress_default((const char *)page, (char *)p + 10, (int)h->page_size, bound);
    }
    if (n <= 0) {
        enc->failed = 1;
        return ltx_fail(e, LTX_ERR_DECOMPRESS, enc->len, "LZ4 compression of page %" PRIu32 " failed", pgno);
    }
    be_put32(p, pgno);
    p[4] = 0;
    p[5] = (uint8_t)LTX_PAGE_FLAG_SIZE;
    be_put32(p + 6, (uint32_t)n);
    enc->crc = ltx_crc64(enc->crc, p, 10);
    enc->crc = ltx_crc64(enc->crc, page, h->page_size);
    enc->idx[enc->nidx].pgno = pgno;
    enc->idx[enc->nidx].offset = enc->len;
    enc->idx[enc->nidx].size = (uint32_t)(10 + n);
    enc->nidx++;
    enc->len += 10 + (size_t)n;
    enc->prev_pgno = pgno;
    ltx_ok(e);
    return LTX_OK;
}

ltx_err ltx_encoder_add_page(ltx_encoder *enc, uint32_t pgno, const uint8_t *page, ltx_error *e)
{
    if (!enc || !page)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL encoder or page");
    return add_frame(enc, pgno, page, NULL, 0, e);
}

ltx_err ltx_encoder_add_block(ltx_encoder *enc, uint32_t pgno, const uint8_t *page, const uint8_t *block,
                              uint32_t block_len, ltx_error *e)
{
    if (!enc || !block)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL encoder or block");
    return add_frame(enc, pgno, page, block, block_len, e);
}

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

ltx_err ltx_encoder_finish(ltx_encoder *enc, uint64_t post_apply, uint8_t **out, size_t *out_len,
                           ltx_error *e)
{
    if (!enc || !out || !out_len)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    *out = NULL;
    *out_len = 0;
    if (enc->finished || enc->failed)
        return ltx_fail(e, LTX_ERR_ARG, 0, "encoder already finished or failed");
    const ltx_header *h = &enc->h;
    ltx_err r = ltx_header_validate(h, e);
    if (r != LTX_OK)
        return r;
    uint32_t lock = ltx_lock_pgno(h->page_size);
    if (ltx_header_is_snapshot(h)) {
        uint32_t last = h->commit == lock ? h->commit - 1 : h->commit;
        if (enc->prev_pgno != last)
            return ltx_fail(e, LTX_ERR_SNAPSHOT_INCOMPLETE, enc->len,
                            "snapshot ends at page %" PRIu32 " but commit is %" PRIu32, enc->prev_pgno,
                            h->commit);
    }
    if (h->flags & LTX_FLAG_NO_CHECKSUM) {
        if (post_apply != 0)
            return ltx_fail(e, LTX_ERR_CHECKSUM, 0, "post_apply checksum must be 0 with the NoChecksum flag");
        if (h->commit == 0)
            return ltx_fail(e, LTX_ERR_HEADER, 12,
                            "commit 0 needs checksum tracking and post_apply 0x8000000000000000");
    } else {
        if (!(post_apply & LTX_CHECKSUM_FLAG))
            return ltx_fail(e, LTX_ERR_CHECKSUM, 0, "post_apply checksum %016" PRIx64 " lacks bit 63",
                            post_apply);
        if (h->commit == 0 && post_apply != LTX_CHECKSUM_FLAG)
            return ltx_fail(e, LTX_ERR_CHECKSUM, 0, "commit 0 needs post_apply checksum 0x8000000000000000");
    }
    /* terminator + index (3 varints of <= 10 bytes per page + end) + u64 + trailer */
    size_t need = LTX_PAGE_HEADER_SIZE + enc->nidx * 30 + 1 + 8 + LTX_TRAILER_SIZE;
    if (reserve(enc, need) != 0) {
        enc->failed = 1;
        return ltx_fail(e, LTX_ERR_NOMEM, enc->len,
                        "output would exceed the cap of %zu bytes (or out of memory)", enc->max_bytes);
    }
    uint8_t *b = enc->buf;
    size_t o = enc->len;
    memset(b + o, 0, LTX_PAGE_HEADER_SIZE);
    o += LTX_PAGE_HEADER_SIZE;
    size_t idx_start = o;
    for (size_t i = 0; i < enc->nidx; i++) {
        o += put_uvarint(b + o, enc->idx[i].pgno);
        o += put_uvarint(b + o, enc->idx[i].offset);
        o += put_uvarint(b + o, enc->idx[i].size);
    }
    b[o++] = 0;
    uint64_t ilen = o - idx_start;
    be_put64(b + o, ilen);
    o += 8;
    be_put64(b + o, post_apply);
    uint64_t crc = ltx_crc64(enc->crc, b + enc->len, o + 8 - enc->len) | LTX_CHECKSUM_FLAG;
    be_put64(b + o + 8, crc);
    o += LTX_TRAILER_SIZE;

    /* hand over the buffer, shrunk to size */
    uint8_t *res = realloc(b, o);
    *out = res ? res : b;
    *out_len = o;
    enc->buf = NULL;
    enc->len = enc->cap = 0;
    enc->finished = 1;
    ltx_ok(e);
    return LTX_OK;
}
