/* codec.c - LTX decoder: header, trailer, page index and single frames
 * (LTX-FORMAT.md §1); whole files are decoded by the streaming verifier in
 * verify.c, fed the whole buffer. Pure code, no I/O.
 *
 * Every read is bounds-checked against the caller's length. The frame path
 * (ltx_frame_decode) does not allocate: v3b blocks go straight through
 * LZ4_decompress_safe, v3a frames through a per-thread LZ4F_dctx that is
 * created on first use and freed when the thread exits. */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4frame.h>

#include "ltx.h"
#include "ltx_internal.h"

/* ---- helpers ------------------------------------------------------------ */

int ltx_page_size_valid(uint32_t page_size)
{
    return page_size >= LTX_MIN_PAGE_SIZE && page_size <= LTX_MAX_PAGE_SIZE &&
           (page_size & (page_size - 1)) == 0;
}

uint32_t ltx_lock_pgno(uint32_t page_size)
{
    if (page_size == 0)
        return 0;
    return (uint32_t)(0x40000000u / page_size) + 1;
}

int ltx_header_is_snapshot(const ltx_header *h) { return h && h->min_txid == 1; }

/* ---- header / trailer --------------------------------------------------- */

ltx_err ltx_header_validate(const ltx_header *h, ltx_error *e)
{
    if (!h)
        return ltx_fail(e, LTX_ERR_ARG, 0, "header is NULL");
    if (h->flags & ~LTX_FLAG_NO_CHECKSUM) {
        if (h->flags & 1u)
            return ltx_fail(e, LTX_ERR_VERSION, 4,
                            "header flags 0x%08" PRIx32
                            " have bit 0 (v1 CompressLZ4) set: legacy LTX v1 layout is not supported",
                            h->flags);
        return ltx_fail(e, LTX_ERR_FLAGS, 4, "header flags 0x%08" PRIx32 " have unknown bits set", h->flags);
    }
    if (!ltx_page_size_valid(h->page_size))
        return ltx_fail(e, LTX_ERR_HEADER, 8, "page size %" PRIu32 " is not a power of two from 512 to 65536",
                        h->page_size);
    if (h->min_txid == 0)
        return ltx_fail(e, LTX_ERR_HEADER, 16, "min_txid must be non-zero");
    if (h->max_txid == 0)
        return ltx_fail(e, LTX_ERR_HEADER, 24, "max_txid must be non-zero");
    if (h->min_txid > h->max_txid)
        return ltx_fail(e, LTX_ERR_HEADER, 16, "min_txid %016" PRIx64 " > max_txid %016" PRIx64, h->min_txid,
                        h->max_txid);
    if (h->wal_offset < 0)
        return ltx_fail(e, LTX_ERR_HEADER, 48, "wal_offset %" PRId64 " is negative", h->wal_offset);
    if (h->wal_size < 0)
        return ltx_fail(e, LTX_ERR_HEADER, 56, "wal_size %" PRId64 " is negative", h->wal_size);
    if ((h->wal_salt1 || h->wal_salt2) && h->wal_offset == 0)
        return ltx_fail(e, LTX_ERR_HEADER, 48, "wal salts are set but wal_offset is 0");
    if (h->wal_offset == 0 && h->wal_size != 0)
        return ltx_fail(e, LTX_ERR_HEADER, 56, "wal_size %" PRId64 " is set but wal_offset is 0",
                        h->wal_size);
    if (h->min_txid == 1) {
        if (h->pre_apply_checksum)
            return ltx_fail(e, LTX_ERR_HEADER, 40,
                            "snapshot (min_txid 1) has non-zero pre_apply checksum %016" PRIx64,
                            h->pre_apply_checksum);
    } else if (h->flags & LTX_FLAG_NO_CHECKSUM) {
        if (h->pre_apply_checksum)
            return ltx_fail(e, LTX_ERR_HEADER, 40,
                            "pre_apply checksum %016" PRIx64 " set although NoChecksum flag is set",
                            h->pre_apply_checksum);
    } else {
        if (h->pre_apply_checksum == 0)
            return ltx_fail(e, LTX_ERR_HEADER, 40, "pre_apply checksum required when checksums are tracked");
        if (!(h->pre_apply_checksum & LTX_CHECKSUM_FLAG))
            return ltx_fail(e, LTX_ERR_HEADER, 40, "pre_apply checksum %016" PRIx64 " lacks bit 63",
                            h->pre_apply_checksum);
    }
    ltx_ok(e);
    return LTX_OK;
}

ltx_err ltx_header_decode(const uint8_t *buf, size_t len, ltx_header *h, ltx_error *e)
{
    if (!buf || !h)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer or header");
    if (len >= 4 && memcmp(buf, LTX_MAGIC, 4) != 0)
        return ltx_fail(e, LTX_ERR_MAGIC, 0, "bad magic %02x%02x%02x%02x, want \"LTX1\"", buf[0], buf[1],
                        buf[2], buf[3]);
    if (len < LTX_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, len, "header needs 100 bytes, have %zu", len);
    memset(h, 0, sizeof *h);
    h->flags = be_get32(buf + 4);
    h->page_size = be_get32(buf + 8);
    h->commit = be_get32(buf + 12);
    h->min_txid = be_get64(buf + 16);
    h->max_txid = be_get64(buf + 24);
    h->timestamp_ms = (int64_t)be_get64(buf + 32);
    h->pre_apply_checksum = be_get64(buf + 40);
    h->wal_offset = (int64_t)be_get64(buf + 48);
    h->wal_size = (int64_t)be_get64(buf + 56);
    h->wal_salt1 = be_get32(buf + 64);
    h->wal_salt2 = be_get32(buf + 68);
    h->node_id = be_get64(buf + 72);
    return ltx_header_validate(h, e);
}

void ltx_header_encode(const ltx_header *h, uint8_t out[LTX_HEADER_SIZE])
{
    memset(out, 0, LTX_HEADER_SIZE);
    memcpy(out, LTX_MAGIC, 4);
    be_put32(out + 4, h->flags);
    be_put32(out + 8, h->page_size);
    be_put32(out + 12, h->commit);
    be_put64(out + 16, h->min_txid);
    be_put64(out + 24, h->max_txid);
    be_put64(out + 32, (uint64_t)h->timestamp_ms);
    be_put64(out + 40, h->pre_apply_checksum);
    be_put64(out + 48, (uint64_t)h->wal_offset);
    be_put64(out + 56, (uint64_t)h->wal_size);
    be_put32(out + 64, h->wal_salt1);
    be_put32(out + 68, h->wal_salt2);
    be_put64(out + 72, h->node_id);
}

ltx_err ltx_trailer_decode(const uint8_t *buf, size_t len, ltx_trailer *t, ltx_error *e)
{
    if (!buf || !t)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer or trailer");
    if (len < LTX_TRAILER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, len, "trailer needs 16 bytes, have %zu", len);
    t->post_apply_checksum = be_get64(buf);
    t->file_checksum = be_get64(buf + 8);
    if (!(t->file_checksum & LTX_CHECKSUM_FLAG))
        return ltx_fail(e, LTX_ERR_CHECKSUM, 8,
                        "trailer file checksum %016" PRIx64 " lacks bit 63 (zero or corrupt)",
                        t->file_checksum);
    ltx_ok(e);
    return LTX_OK;
}

/* ---- page index --------------------------------------------------------- */

#define MIN_FRAME_SIZE LTX_MIN_FRAME_SIZE
#define MIN_TAIL       LTX_MIN_TAIL

ltx_err ltx_index_locate(const uint8_t *tail, size_t tail_len, uint64_t file_size, uint64_t *idx_off,
                         uint64_t *idx_len, ltx_error *e)
{
    if (!tail || !idx_off || !idx_len)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    if (tail_len > file_size)
        return ltx_fail(e, LTX_ERR_ARG, 0, "tail length %zu exceeds file size %" PRIu64, tail_len, file_size);
    const uint64_t min_file = LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE + MIN_TAIL;
    if (file_size < min_file)
        return ltx_fail(e, LTX_ERR_TRUNCATED, file_size,
                        "file of %" PRIu64 " bytes is shorter than the smallest LTX file (%" PRIu64 ")",
                        file_size, min_file);
    if (tail_len < 24)
        return ltx_fail(e, LTX_ERR_ARG, 0, "tail of %zu bytes, need at least 24", tail_len);
    uint64_t n = be_get64(tail + tail_len - 24);
    uint64_t pos = file_size - 24;
    /* varints begin after header + terminator at the earliest */
    if (n < 1 || n > pos - (LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE))
        return ltx_fail(e, LTX_ERR_INDEX, pos,
                        "page index size field %" PRIu64 " does not fit a file of %" PRIu64 " bytes", n,
                        file_size);
    *idx_off = pos - n;
    *idx_len = n;
    ltx_ok(e);
    return LTX_OK;
}

/* Go binary.Uvarint semantics, strict: at most 10 bytes, no overflow.
 * Returns bytes consumed, 0 if the buffer ends, -1 on overflow. */
static int uvarint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    unsigned s = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 10)
            return -1;
        uint8_t b = p[i];
        if (b < 0x80) {
            if (i == 9 && b > 1)
                return -1;
            *v = x | (uint64_t)b << s;
            return (int)i + 1;
        }
        x |= (uint64_t)(b & 0x7f) << s;
        s += 7;
    }
    return 0;
}

ltx_err ltx_index_decode(const uint8_t *buf, size_t len, uint64_t idx_off, uint32_t page_size,
                         uint32_t commit, ltx_index_entry **out, size_t *n, ltx_error *e)
{
    if (!out || !n || (!buf && len))
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    *out = NULL;
    *n = 0;
    if (idx_off < LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_INDEX, idx_off, "index offset %" PRIu64 " lies inside the header",
                        idx_off);
    const uint64_t frames_end = idx_off - LTX_PAGE_HEADER_SIZE;
    const uint64_t max_frame = LTX_MAX_FRAME_SIZE(page_size ? page_size : (uint32_t)LTX_MAX_PAGE_SIZE);
    const uint32_t lock = page_size ? ltx_lock_pgno(page_size) : 0;

    /* Two passes: validate and count, then fill, so the allocation is exact. */
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0, count = 0;
        uint64_t prev_pgno = 0, expect_off = LTX_HEADER_SIZE;
        for (;;) {
            uint64_t v[3];
            uint64_t at = idx_off + i;
            int k = uvarint(buf + i, len - i, &v[0]);
            if (k == 0)
                return ltx_fail(e, LTX_ERR_INDEX, at, "page index ends inside a varint (no end marker)");
            if (k < 0)
                return ltx_fail(e, LTX_ERR_INDEX, at, "page index varint overflows 64 bits");
            i += (size_t)k;
            if (v[0] == 0)
                break;
            for (int j = 1; j < 3; j++) {
                k = uvarint(buf + i, len - i, &v[j]);
                if (k == 0)
                    return ltx_fail(e, LTX_ERR_INDEX, idx_off + i,
                                    "page index ends inside entry for page %" PRIu64, v[0]);
                if (k < 0)
                    return ltx_fail(e, LTX_ERR_INDEX, idx_off + i, "page index varint overflows 64 bits");
                i += (size_t)k;
            }
            uint64_t pgno = v[0], off = v[1], size = v[2];
            if (pgno > UINT32_MAX)
                return ltx_fail(e, LTX_ERR_INDEX, at, "index page number %" PRIu64 " exceeds 32 bits", pgno);
            if (pgno <= prev_pgno)
                return ltx_fail(e, LTX_ERR_PAGE_ORDER, at,
                                "index page %" PRIu64 " follows page %" PRIu64 " (not strictly increasing)",
                                pgno, prev_pgno);
            if (lock && pgno == lock)
                return ltx_fail(e, LTX_ERR_LOCK_PAGE, at, "index lists the lock page %" PRIu64, pgno);
            if (commit && pgno > commit)
                return ltx_fail(e, LTX_ERR_PAGE_BEYOND_COMMIT, at,
                                "index page %" PRIu64 " is beyond commit %" PRIu32, pgno, commit);
            if (size < MIN_FRAME_SIZE || size > max_frame)
                return ltx_fail(e, LTX_ERR_INDEX, at,
                                "index page %" PRIu64 ": frame size %" PRIu64 " is implausible", pgno, size);
            if (off != expect_off)
                return ltx_fail(e, LTX_ERR_INDEX, at,
                                "index page %" PRIu64 ": offset %" PRIu64 ", want %" PRIu64
                                " (frames must be contiguous from byte 100)",
                                pgno, off, expect_off);
            if (off + size > frames_end)
                return ltx_fail(e, LTX_ERR_INDEX, at,
                                "index page %" PRIu64 ": frame [%" PRIu64 ",%" PRIu64
                                ") runs past the terminator at %" PRIu64,
                                pgno, off, off + size, frames_end);
            if (pass == 1) {
                (*out)[count].pgno = (uint32_t)pgno;
                (*out)[count].offset = off;
                (*out)[count].size = (uint32_t)size;
            }
            count++;
            prev_pgno = pgno;
            expect_off = off + size;
        }
        if (i != len)
            return ltx_fail(e, LTX_ERR_INDEX, idx_off + i, "%zu stray bytes after the page index end marker",
                            len - i);
        if (expect_off != frames_end)
            return ltx_fail(e, LTX_ERR_INDEX, idx_off,
                            "index frames end at %" PRIu64 " but the terminator is at %" PRIu64, expect_off,
                            frames_end);
        if (pass == 0) {
            if (count == 0)
                break;
            *out = malloc(count * sizeof **out);
            if (!*out)
                return ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for %zu index entries", count);
        } else {
            *n = count;
        }
    }
    ltx_ok(e);
    return LTX_OK;
}

/* ---- single frames ------------------------------------------------------ */

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *p) { LZ4F_freeDecompressionContext(p); }
static void dctx_init(void) { dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0; }

static LZ4F_dctx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_init);
    if (!dctx_key_ok)
        return NULL;
    LZ4F_dctx *d = pthread_getspecific(dctx_key);
    if (!d) {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
            return NULL;
        if (pthread_setspecific(dctx_key, d) != 0) {
            LZ4F_freeDecompressionContext(d);
            return NULL;
        }
    }
    return d;
}

const uint8_t ltx_lz4f_magic[4] = { 0x04, 0x22, 0x4d, 0x18 };
#define lz4f_magic ltx_lz4f_magic

/* See ltx_internal.h. */
ltx_err ltx_decode_payload(const uint8_t *p, size_t avail, uint16_t flags, uint32_t pgno, uint32_t page_size,
                           uint8_t *out, size_t *used, int exact, uint64_t base, ltx_error *e)
{
    if (flags & LTX_PAGE_FLAG_SIZE) {
        if (avail < 4)
            return ltx_fail(e, LTX_ERR_TRUNCATED, base,
                            "page %" PRIu32 ": size prefix cut off (%zu bytes left)", pgno, avail);
        uint32_t n = be_get32(p);
        if (n == 0 || n > (uint32_t)LZ4_compressBound((int)page_size))
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base,
                            "page %" PRIu32 ": compressed size %" PRIu32
                            " is outside 1..%d for page size %" PRIu32,
                            pgno, n, LZ4_compressBound((int)page_size), page_size);
        if ((size_t)n > avail - 4)
            return ltx_fail(e, LTX_ERR_TRUNCATED, base + 4,
                            "page %" PRIu32 ": LZ4 block of %" PRIu32 " bytes, only %zu left", pgno, n,
                            avail - 4);
        if (exact && (size_t)n != avail - 4)
            return ltx_fail(e, LTX_ERR_INDEX, base,
                            "page %" PRIu32 ": frame has %zu bytes after its %" PRIu32 "-byte LZ4 block",
                            pgno, avail - 4 - n, n);
        int r = LZ4_decompress_safe((const char *)p + 4, (char *)out, (int)n, (int)page_size);
        if (r < 0) {
            /* Error path only: tell "too long" from "corrupt". */
            size_t cap = (size_t)page_size * 2;
            char *tmp = malloc(cap);
            int r2 = tmp ? LZ4_decompress_safe((const char *)p + 4, tmp, (int)n, (int)cap) : -1;
            free(tmp);
            if (r2 > (int)page_size)
                return ltx_fail(e, LTX_ERR_PAGE_SIZE, base + 4,
                                "page %" PRIu32 ": LZ4 block decodes to %d bytes, want %" PRIu32, pgno, r2,
                                page_size);
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base + 4,
                            "page %" PRIu32 ": LZ4 block of %" PRIu32 " bytes is corrupt", pgno, n);
        }
        if ((uint32_t)r != page_size)
            return ltx_fail(e, LTX_ERR_PAGE_SIZE, base + 4,
                            "page %" PRIu32 ": decoded %d bytes, want %" PRIu32, pgno, r, page_size);
        *used = 4 + (size_t)n;
        return LTX_OK;
    }

    /* v3a: one standard LZ4 frame. */
    if (avail < 4 || memcmp(p, lz4f_magic, 4) != 0)
        return ltx_fail(e, avail < 4 ? LTX_ERR_TRUNCATED : LTX_ERR_DECOMPRESS, base,
                        "page %" PRIu32 ": payload is not an LZ4 frame (magic 04224d18 missing)", pgno);
    LZ4F_dctx *d = thread_dctx();
    if (!d)
        return ltx_fail(e, LTX_ERR_NOMEM, base, "cannot create LZ4F decompression context");
    LZ4F_resetDecompressionContext(d);
    size_t in = 0, got = 0;
    size_t hint = 1;
    while (hint != 0) {
        size_t src = avail - in;
        size_t dst = page_size - got;
        uint8_t spill[1];
        uint8_t *dp = out + got;
        if (dst == 0) { /* page full: any further output is an overrun */
            dp = spill;
            dst = sizeof spill;
        }
        hint = LZ4F_decompress(d, dp, &dst, p + in, &src, NULL);
        if (LZ4F_isError(hint)) {
            LZ4F_resetDecompressionContext(d);
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base + in, "page %" PRIu32 ": LZ4 frame: %s", pgno,
                            LZ4F_getErrorName(hint));
        }
        if (dp == spill && dst > 0) {
            LZ4F_resetDecompressionContext(d);
            return ltx_fail(e, LTX_ERR_PAGE_SIZE, base,
                            "page %" PRIu32 ": LZ4 frame decodes to more than %" PRIu32 " bytes", pgno,
                            page_size);
        }
        if (dp != spill)
            got += dst;
        in += src;
        if (hint != 0 && src == 0 && dst == 0) {
            LZ4F_resetDecompressionContext(d);
            if (in >= avail)
                return ltx_fail(e, LTX_ERR_TRUNCATED, base + in,
                                "page %" PRIu32 ": LZ4 frame cut off after %zu bytes", pgno, in);
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base + in, "page %" PRIu32 ": LZ4 frame makes no progress",
                            pgno);
        }
    }
    if (got != page_size)
        return ltx_fail(e, LTX_ERR_PAGE_SIZE, base, "page %" PRIu32 ": decoded %zu bytes, want %" PRIu32,
                        pgno, got, page_size);
    if (exact && in != avail)
        return ltx_fail(e, LTX_ERR_INDEX, base + in,
                        "page %" PRIu32 ": frame has %zu bytes after its LZ4 frame", pgno, avail - in);
    *used = in;
    return LTX_OK;
}

ltx_err ltx_frame_decode(const uint8_t *frame, size_t frame_len, uint32_t page_size, uint32_t expect_pgno,
                         uint8_t *out, ltx_error *e)
{
    if (!frame || !out)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL frame or output buffer");
    if (!ltx_page_size_valid(page_size))
        return ltx_fail(e, LTX_ERR_ARG, 0, "invalid page size %" PRIu32, page_size);
    if (frame_len < LTX_PAGE_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, frame_len, "frame of %zu bytes is shorter than a page header",
                        frame_len);
    uint32_t pgno = be_get32(frame);
    uint16_t flags = be_get16(frame + 4);
    if (pgno == 0)
        return ltx_fail(e, LTX_ERR_INDEX, 0, "frame has page number 0 (a terminator, not a page frame)");
    if (flags & ~LTX_PAGE_FLAG_SIZE)
        return ltx_fail(e, LTX_ERR_FLAGS, 4, "page %" PRIu32 ": unknown page flags 0x%04x", pgno, flags);
    if (expect_pgno && pgno != expect_pgno)
        return ltx_fail(e, LTX_ERR_INDEX, 0, "frame holds page %" PRIu32 ", want page %" PRIu32, pgno,
                        expect_pgno);
    size_t used;
    ltx_err r = ltx_decode_payload(frame + LTX_PAGE_HEADER_SIZE, frame_len - LTX_PAGE_HEADER_SIZE, flags,
                                   pgno, page_size, out, &used, 1, LTX_PAGE_HEADER_SIZE, e);
    if (r != LTX_OK)
        return r;
    ltx_ok(e);
    return LTX_OK;
}
