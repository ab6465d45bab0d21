/* codec.c - LTX decoder: header, trailer, page index, single frames and
 * whole files (LTX-FORMAT.md §1). Pure code, no I/O.
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

int ltx_page_size_valid(uint32_t page_size) {
    return page_size >= LTX_MIN_PAGE_SIZE && page_size <= LTX_MAX_PAGE_SIZE &&
           (page_size & (page_size - 1)) == 0;
}

uint32_t ltx_lock_pgno(uint32_t page_size) {
    if (page_size == 0)
        return 0;
    return (uint32_t)(0x40000000u / page_size) + 1;
}

int ltx_header_is_snapshot(const ltx_header *h) { return h && h->min_txid == 1; }

/* ---- header / trailer --------------------------------------------------- */

ltx_err ltx_header_validate(const ltx_header *h, ltx_error *e) {
    if (!h)
        return ltx_fail(e, LTX_ERR_ARG, 0, "header is NULL");
    if (h->flags & ~LTX_FLAG_NO_CHECKSUM) {
        if (h->flags & 1u)
            return ltx_fail(e, LTX_ERR_VERSION, 4,
                        "header flags 0x%08" PRIx32
                        " have bit 0 (v1 CompressLZ4) set: legacy LTX v1 layout is not supported",
                        h->flags);
        return ltx_fail(e, LTX_ERR_FLAGS, 4, "header flags 0x%08" PRIx32 " have unknown bits set",
                    h->flags);
    }
    if (!ltx_page_size_valid(h->page_size))
        return ltx_fail(e, LTX_ERR_HEADER, 8,
                    "page size %" PRIu32 " is not a power of two from 512 to 65536", h->page_size);
    if (h->min_txid == 0)
        return ltx_fail(e, LTX_ERR_HEADER, 16, "min_txid must be non-zero");
    if (h->max_txid == 0)
        return ltx_fail(e, LTX_ERR_HEADER, 24, "max_txid must be non-zero");
    if (h->min_txid > h->max_txid)
        return ltx_fail(e, LTX_ERR_HEADER, 16, "min_txid %016" PRIx64 " > max_txid %016" PRIx64,
                    h->min_txid, h->max_txid);
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
            return ltx_fail(e, LTX_ERR_HEADER, 40,
                        "pre_apply checksum required when checksums are tracked");
        if (!(h->pre_apply_checksum & LTX_CHECKSUM_FLAG))
            return ltx_fail(e, LTX_ERR_HEADER, 40,
                        "pre_apply checksum %016" PRIx64 " lacks bit 63", h->pre_apply_checksum);
    }
    ltx_ok(e);
    return LTX_OK;
}

ltx_err ltx_header_decode(const uint8_t *buf, size_t len, ltx_header *h, ltx_error *e) {
    if (!buf || !h)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer or header");
    if (len >= 4 && memcmp(buf, LTX_MAGIC, 4) != 0)
        return ltx_fail(e, LTX_ERR_MAGIC, 0, "bad magic %02x%02x%02x%02x, want \"LTX1\"", buf[0],
                    buf[1], buf[2], buf[3]);
    if (len < LTX_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, len, "header needs 100 bytes, have %zu", len);
    memset(h, 0, sizeof *h);
    h->flags = ltx_be32(buf + 4);
    h->page_size = ltx_be32(buf + 8);
    h->commit = ltx_be32(buf + 12);
    h->min_txid = ltx_be64(buf + 16);
    h->max_txid = ltx_be64(buf + 24);
    h->timestamp_ms = (int64_t)ltx_be64(buf + 32);
    h->pre_apply_checksum = ltx_be64(buf + 40);
    h->wal_offset = (int64_t)ltx_be64(buf + 48);
    h->wal_size = (int64_t)ltx_be64(buf + 56);
    h->wal_salt1 = ltx_be32(buf + 64);
    h->wal_salt2 = ltx_be32(buf + 68);
    h->node_id = ltx_be64(buf + 72);
    return ltx_header_validate(h, e);
}

void ltx_header_encode(const ltx_header *h, uint8_t out[LTX_HEADER_SIZE]) {
    memset(out, 0, LTX_HEADER_SIZE);
    memcpy(out, LTX_MAGIC, 4);
    ltx_put32(out + 4, h->flags);
    ltx_put32(out + 8, h->page_size);
    ltx_put32(out + 12, h->commit);
    ltx_put64(out + 16, h->min_txid);
    ltx_put64(out + 24, h->max_txid);
    ltx_put64(out + 32, (uint64_t)h->timestamp_ms);
    ltx_put64(out + 40, h->pre_apply_checksum);
    ltx_put64(out + 48, (uint64_t)h->wal_offset);
    ltx_put64(out + 56, (uint64_t)h->wal_size);
    ltx_put32(out + 64, h->wal_salt1);
    ltx_put32(out + 68, h->wal_salt2);
    ltx_put64(out + 72, h->node_id);
}

ltx_err ltx_trailer_decode(const uint8_t *buf, size_t len, ltx_trailer *t, ltx_error *e) {
    if (!buf || !t)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer or trailer");
    if (len < LTX_TRAILER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, len, "trailer needs 16 bytes, have %zu", len);
    t->post_apply_checksum = ltx_be64(buf);
    t->file_checksum = ltx_be64(buf + 8);
    if (!(t->file_checksum & LTX_CHECKSUM_FLAG))
        return ltx_fail(e, LTX_ERR_CHECKSUM, 8,
                    "trailer file checksum %016" PRIx64 " lacks bit 63 (zero or corrupt)",
                    t->file_checksum);
    ltx_ok(e);
    return LTX_OK;
}

/* ---- page index --------------------------------------------------------- */

/* Smallest encoded frame: v3b header + size + 1-byte block. */
#define MIN_FRAME_SIZE 11u
/* Bytes after the terminator in the smallest file: index "00", u64, trailer. */
#define MIN_TAIL (1u + 8u + LTX_TRAILER_SIZE)

ltx_err ltx_index_locate(const uint8_t *tail, size_t tail_len, uint64_t file_size,
                         uint64_t *idx_off, uint64_t *idx_len, ltx_error *e) {
    if (!tail || !idx_off || !idx_len)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    if (tail_len > file_size)
        return ltx_fail(e, LTX_ERR_ARG, 0, "tail length %zu exceeds file size %" PRIu64, tail_len,
                    file_size);
    const uint64_t min_file = LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE + MIN_TAIL;
    if (file_size < min_file)
        return ltx_fail(e, LTX_ERR_TRUNCATED, file_size,
                    "file of %" PRIu64 " bytes is shorter than the smallest LTX file (%" PRIu64
                    ")",
                    file_size, min_file);
    if (tail_len < 24)
        return ltx_fail(e, LTX_ERR_ARG, 0, "tail of %zu bytes, need at least 24", tail_len);
    uint64_t n = ltx_be64(tail + tail_len - 24);
    uint64_t pos = file_size - 24;
    /* varints begin after header + terminator at the earliest */
    if (n < 1 || n > pos - (LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE))
        return ltx_fail(e, LTX_ERR_INDEX, pos,
                    "page index size field %" PRIu64 " does not fit a file of %" PRIu64 " bytes",
                    n, file_size);
    *idx_off = pos - n;
    *idx_len = n;
    ltx_ok(e);
    return LTX_OK;
}

/* Go binary.Uvarint semantics, strict: at most 10 bytes, no overflow.
 * Returns bytes consumed, 0 if the buffer ends, -1 on overflow. */
static int uvarint(const uint8_t *p, size_t len, uint64_t *v) {
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
                         uint32_t commit, ltx_index_entry **out, size_t *n, ltx_error *e) {
    if (!out || !n || (!buf && len))
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    *out = NULL;
    *n = 0;
    if (idx_off < LTX_HEADER_SIZE + LTX_PAGE_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_INDEX, idx_off, "index offset %" PRIu64 " lies inside the header",
                    idx_off);
    const uint64_t frames_end = idx_off - LTX_PAGE_HEADER_SIZE;
    const uint64_t max_frame =
        LTX_MAX_FRAME_SIZE(page_size ? page_size : (uint32_t)LTX_MAX_PAGE_SIZE);
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
                    return ltx_fail(e, LTX_ERR_INDEX, idx_off + i,
                                "page index varint overflows 64 bits");
                i += (size_t)k;
            }
            uint64_t pgno = v[0], off = v[1], size = v[2];
            if (pgno > UINT32_MAX)
                return ltx_fail(e, LTX_ERR_INDEX, at, "index page number %" PRIu64 " exceeds 32 bits",
                            pgno);
            if (pgno <= prev_pgno)
                return ltx_fail(e, LTX_ERR_PAGE_ORDER, at,
                            "index page %" PRIu64 " follows page %" PRIu64
                            " (not strictly increasing)",
                            pgno, prev_pgno);
            if (lock && pgno == lock)
                return ltx_fail(e, LTX_ERR_LOCK_PAGE, at, "index lists the lock page %" PRIu64, pgno);
            if (commit && pgno > commit)
                return ltx_fail(e, LTX_ERR_PAGE_BEYOND_COMMIT, at,
                            "index page %" PRIu64 " is beyond commit %" PRIu32, pgno, commit);
            if (size < MIN_FRAME_SIZE || size > max_frame)
                return ltx_fail(e, LTX_ERR_INDEX, at,
                            "index page %" PRIu64 ": frame size %" PRIu64 " is implausible", pgno,
                            size);
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
            return ltx_fail(e, LTX_ERR_INDEX, idx_off + i,
                        "%zu stray bytes after the page index end marker", len - i);
        if (expect_off != frames_end)
            return ltx_fail(e, LTX_ERR_INDEX, idx_off,
                        "index frames end at %" PRIu64 " but the terminator is at %" PRIu64,
                        expect_off, frames_end);
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

static LZ4F_dctx *thread_dctx(void) {
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

static const uint8_t lz4f_magic[4] = {0x04, 0x22, 0x4d, 0x18};

/* Decode one frame payload (after the 6-byte page header) with page flags
 * `flags` from p[0..avail). On success *used = payload bytes consumed. With
 * exact != 0 the payload must use all `avail` bytes. `base` is the file
 * offset of p for messages. */
static ltx_err decode_payload(const uint8_t *p, size_t avail, uint16_t flags, uint32_t pgno,
                              uint32_t page_size, uint8_t *out, size_t *used, int exact,
                              uint64_t base, ltx_error *e) {
    if (flags & LTX_PAGE_FLAG_SIZE) {
        if (avail < 4)
            return ltx_fail(e, LTX_ERR_TRUNCATED, base,
                        "page %" PRIu32 ": size prefix cut off (%zu bytes left)", pgno, avail);
        uint32_t n = ltx_be32(p);
        if (n == 0 || n > (uint32_t)LZ4_compressBound((int)page_size))
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base,
                        "page %" PRIu32 ": compressed size %" PRIu32
                        " is outside 1..%d for page size %" PRIu32,
                        pgno, n, LZ4_compressBound((int)page_size), page_size);
        if ((size_t)n > avail - 4)
            return ltx_fail(e, LTX_ERR_TRUNCATED, base + 4,
                        "page %" PRIu32 ": LZ4 block of %" PRIu32 " bytes, only %zu left", pgno,
                        n, avail - 4);
        if (exact && (size_t)n != avail - 4)
            return ltx_fail(e, LTX_ERR_INDEX, base,
                        "page %" PRIu32 ": frame has %zu bytes after its %" PRIu32
                        "-byte LZ4 block",
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
                            "page %" PRIu32 ": LZ4 block decodes to %d bytes, want %" PRIu32,
                            pgno, r2, page_size);
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
                        "page %" PRIu32 ": LZ4 frame decodes to more than %" PRIu32 " bytes",
                        pgno, page_size);
        }
        if (dp != spill)
            got += dst;
        in += src;
        if (hint != 0 && src == 0 && dst == 0) {
            LZ4F_resetDecompressionContext(d);
            if (in >= avail)
                return ltx_fail(e, LTX_ERR_TRUNCATED, base + in,
                            "page %" PRIu32 ": LZ4 frame cut off after %zu bytes", pgno, in);
            return ltx_fail(e, LTX_ERR_DECOMPRESS, base + in,
                        "page %" PRIu32 ": LZ4 frame makes no progress", pgno);
        }
    }
    if (got != page_size)
        return ltx_fail(e, LTX_ERR_PAGE_SIZE, base,
                    "page %" PRIu32 ": decoded %zu bytes, want %" PRIu32, pgno, got, page_size);
    if (exact && in != avail)
        return ltx_fail(e, LTX_ERR_INDEX, base + in,
                    "page %" PRIu32 ": frame has %zu bytes after its LZ4 frame", pgno, avail - in);
    *used = in;
    return LTX_OK;
}

ltx_err ltx_frame_decode(const uint8_t *frame, size_t frame_len, uint32_t page_size,
                         uint32_t expect_pgno, uint8_t *out, ltx_error *e) {
    if (!frame || !out)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL frame or output buffer");
    if (!ltx_page_size_valid(page_size))
        return ltx_fail(e, LTX_ERR_ARG, 0, "invalid page size %" PRIu32, page_size);
    if (frame_len < LTX_PAGE_HEADER_SIZE)
        return ltx_fail(e, LTX_ERR_TRUNCATED, frame_len,
                    "frame of %zu bytes is shorter than a page header", frame_len);
    uint32_t pgno = ltx_be32(frame);
    uint16_t flags = ltx_be16(frame + 4);
    if (pgno == 0)
        return ltx_fail(e, LTX_ERR_INDEX, 0,
                    "frame has page number 0 (a terminator, not a page frame)");
    if (flags & ~LTX_PAGE_FLAG_SIZE)
        return ltx_fail(e, LTX_ERR_FLAGS, 4, "page %" PRIu32 ": unknown page flags 0x%04x", pgno,
                    flags);
    if (expect_pgno && pgno != expect_pgno)
        return ltx_fail(e, LTX_ERR_INDEX, 0, "frame holds page %" PRIu32 ", want page %" PRIu32,
                    pgno, expect_pgno);
    size_t used;
    ltx_err r = decode_payload(frame + LTX_PAGE_HEADER_SIZE, frame_len - LTX_PAGE_HEADER_SIZE,
                               flags, pgno, page_size, out, &used, 1, LTX_PAGE_HEADER_SIZE, e);
    if (r != LTX_OK)
        return r;
    ltx_ok(e);
    return LTX_OK;
}

/* ---- whole file --------------------------------------------------------- */

void ltx_file_info_free(ltx_file_info *info) {
    if (!info)
        return;
    free(info->index);
    info->index = NULL;
    info->page_count = 0;
}

/* Does the file look like the legacy v1 (4-byte page headers, raw pages,
 * 4-byte terminator, no index) or v2 (4-byte page header + LZ4 frame)
 * layout? Only asked after the v3 decode failed. */
static const char *legacy_layout(const uint8_t *buf, size_t len, const ltx_header *h) {
    size_t ps = h->page_size;
    if (len >= 108 && memcmp(buf + 104, lz4f_magic, 4) == 0 && ltx_be32(buf + 100) != 0)
        return "v2 (4-byte page headers with LZ4 frames)";
    if (len < LTX_HEADER_SIZE + 4 + LTX_TRAILER_SIZE)
        return NULL;
    if (len >= LTX_HEADER_SIZE + 10) { /* first frame shaped like v3a/v3b: not legacy */
        uint16_t fl = ltx_be16(buf + 104);
        if (fl == 0 && memcmp(buf + 106, lz4f_magic, 4) == 0)
            return NULL;
        if (fl == LTX_PAGE_FLAG_SIZE && ltx_be32(buf + 106) <= (uint32_t)LZ4_compressBound((int)ps))
            return NULL;
    }
    size_t body = len - LTX_HEADER_SIZE - 4 - LTX_TRAILER_SIZE;
    if (body % (4 + ps) != 0 || ltx_be32(buf + len - LTX_TRAILER_SIZE - 4) != 0)
        return NULL;
    uint32_t prev = 0;
    for (size_t off = LTX_HEADER_SIZE; off < LTX_HEADER_SIZE + body; off += 4 + ps) {
        uint32_t pg = ltx_be32(buf + off);
        if (pg <= prev)
            return NULL;
        prev = pg;
    }
    return "v1 (uncompressed, 4-byte page headers, no page index)";
}

typedef struct {
    ltx_index_entry *v;
    size_t n, cap;
} entry_vec;

static int vec_push(entry_vec *a, uint32_t pgno, uint64_t off, uint32_t size, size_t hard_cap) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        if (nc > hard_cap)
            nc = hard_cap;
        if (nc <= a->n)
            return -1;
        ltx_index_entry *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n].pgno = pgno;
    a->v[a->n].offset = off;
    a->v[a->n].size = size;
    a->n++;
    return 0;
}

static ltx_err file_decode(const uint8_t *buf, size_t len, ltx_page_fn fn, void *ctx,
                           ltx_file_info *info, ltx_header *hout, ltx_error *e) {
    ltx_header h;
    ltx_err r = ltx_header_decode(buf, len, &h, e);
    if (r != LTX_OK)
        return r;
    *hout = h;
    const uint32_t ps = h.page_size;
    const uint32_t lock = ltx_lock_pgno(ps);
    const int snapshot = ltx_header_is_snapshot(&h);
    const int tracked = !(h.flags & LTX_FLAG_NO_CHECKSUM);

    uint8_t *page = malloc(ps);
    entry_vec ents = {0};
    if (!page)
        return ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for a %" PRIu32 "-byte page", ps);

    uint64_t crc = ltx_crc64(0, buf, LTX_HEADER_SIZE);
    uint64_t dbck = 0;
    int layout = 0;
    uint32_t prev = 0;
    size_t off = LTX_HEADER_SIZE;
    const size_t max_entries = len / MIN_FRAME_SIZE + 1;

    for (;;) {
        if (len - off < LTX_PAGE_HEADER_SIZE) {
            r = ltx_fail(e, LTX_ERR_TRUNCATED, off,
                     "file ends at %zu inside the page block (no terminator)", len);
            goto out;
        }
        uint32_t pgno = ltx_be32(buf + off);
        uint16_t flags = ltx_be16(buf + off + 4);
        if (pgno == 0 && flags == 0)
            break;
        if (pgno == 0) {
            r = ltx_fail(e, LTX_ERR_FLAGS, off + 4,
                     "terminator at %zu has non-zero flags 0x%04x", off, flags);
            goto out;
        }
        if (flags & ~LTX_PAGE_FLAG_SIZE) {
            r = ltx_fail(e, LTX_ERR_FLAGS, off + 4, "page %" PRIu32 ": unknown page flags 0x%04x",
                     pgno, flags);
            goto out;
        }
        if (pgno <= prev) {
            r = ltx_fail(e, LTX_ERR_PAGE_ORDER, off,
                     "page %" PRIu32 " follows page %" PRIu32 " (unsorted or duplicate)", pgno,
                     prev);
            goto out;
        }
        if (pgno == lock) {
            r = ltx_fail(e, LTX_ERR_LOCK_PAGE, off, "frame holds the lock page %" PRIu32, pgno);
            goto out;
        }
        if (pgno > h.commit) {
            r = ltx_fail(e, LTX_ERR_PAGE_BEYOND_COMMIT, off,
                     "page %" PRIu32 " is beyond commit %" PRIu32, pgno, h.commit);
            goto out;
        }
        if (snapshot) {
            uint32_t want = prev + 1 == lock ? prev + 2 : prev + 1;
            if (pgno != want) {
                r = ltx_fail(e, LTX_ERR_SNAPSHOT_INCOMPLETE, off,
                         "snapshot skips from page %" PRIu32 " to %" PRIu32 " (missing %" PRIu32
                         ")",
                         prev, pgno, want);
                goto out;
            }
        }
        size_t used;
        r = decode_payload(buf + off + LTX_PAGE_HEADER_SIZE, len - off - LTX_PAGE_HEADER_SIZE,
                           flags, pgno, ps, page, &used, 0, off + LTX_PAGE_HEADER_SIZE, e);
        if (r != LTX_OK)
            goto out;
        size_t fsize = LTX_PAGE_HEADER_SIZE + used;
        if (fsize > UINT32_MAX || vec_push(&ents, pgno, off, (uint32_t)fsize, max_entries) != 0) {
            r = ltx_fail(e, LTX_ERR_NOMEM, off, "out of memory for the page list");
            goto out;
        }
        /* hash page header (+ size prefix for v3b), then decompressed data */
        crc = ltx_crc64(crc, buf + off, LTX_PAGE_HEADER_SIZE +
                                            ((flags & LTX_PAGE_FLAG_SIZE) ? 4 : 0));
        crc = ltx_crc64(crc, page, ps);
        layout |= (flags & LTX_PAGE_FLAG_SIZE) ? 2 : 1;
        if (snapshot && tracked)
            dbck ^= ltx_page_checksum(pgno, page, ps);
        if (fn && fn(ctx, pgno, page) != 0) {
            r = ltx_fail(e, LTX_ERR_ARG, off, "stopped by the page callback at page %" PRIu32, pgno);
            goto out;
        }
        prev = pgno;
        off += fsize;
    }

    if (snapshot) {
        uint32_t last = h.commit == lock ? h.commit - 1 : h.commit;
        if (prev != last) {
            r = ltx_fail(e, LTX_ERR_SNAPSHOT_INCOMPLETE, off,
                     "snapshot ends at page %" PRIu32 " but commit is %" PRIu32, prev, h.commit);
            goto out;
        }
    }
    crc = ltx_crc64(crc, buf + off, LTX_PAGE_HEADER_SIZE);
    off += LTX_PAGE_HEADER_SIZE;

    /* index, u64 size, trailer */
    if (len - off < MIN_TAIL) {
        r = ltx_fail(e, LTX_ERR_TRUNCATED, off,
                 "file ends %zu bytes after the terminator; index and trailer need at least %u",
                 len - off, (unsigned)MIN_TAIL);
        goto out;
    }
    uint64_t idx_off, idx_len;
    r = ltx_index_locate(buf, len, len, &idx_off, &idx_len, e);
    if (r != LTX_OK)
        goto out;
    if (idx_off != off) {
        r = ltx_fail(e, LTX_ERR_INDEX, len - 24,
                 "page index size field puts the index at %" PRIu64 " but the terminator ends at %zu",
                 idx_off, off);
        goto out;
    }
    ltx_index_entry *idx = NULL;
    size_t nidx = 0;
    r = ltx_index_decode(buf + off, (size_t)idx_len, idx_off, ps, h.commit, &idx, &nidx, e);
    if (r != LTX_OK)
        goto out;
    if (nidx != ents.n) {
        free(idx);
        r = ltx_fail(e, LTX_ERR_INDEX, off, "page index has %zu entries but the file has %zu frames",
                 nidx, ents.n);
        goto out;
    }
    for (size_t i = 0; i < nidx; i++) {
        if (idx[i].pgno != ents.v[i].pgno || idx[i].offset != ents.v[i].offset ||
            idx[i].size != ents.v[i].size) {
            r = ltx_fail(e, LTX_ERR_INDEX, off,
                     "index entry %zu (page %" PRIu32 " at %" PRIu64 " size %" PRIu32
                     ") disagrees with frame (page %" PRIu32 " at %" PRIu64 " size %" PRIu32 ")",
                     i, idx[i].pgno, idx[i].offset, idx[i].size, ents.v[i].pgno,
                     ents.v[i].offset, ents.v[i].size);
            free(idx);
            goto out;
        }
    }
    free(idx);
    crc = ltx_crc64(crc, buf + off, (size_t)idx_len + 8);

    ltx_trailer t;
    const size_t toff = len - LTX_TRAILER_SIZE;
    t.post_apply_checksum = ltx_be64(buf + toff);
    t.file_checksum = ltx_be64(buf + toff + 8);
    crc = ltx_crc64(crc, buf + toff, 8) | LTX_CHECKSUM_FLAG;
    if (crc != t.file_checksum) {
        r = ltx_fail(e, LTX_ERR_CHECKSUM, toff + 8,
                 "file checksum %016" PRIx64 " in trailer, computed %016" PRIx64,
                 t.file_checksum, crc);
        goto out;
    }
    if (!tracked && t.post_apply_checksum != 0) {
        r = ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                 "post_apply checksum %016" PRIx64 " set although NoChecksum flag is set",
                 t.post_apply_checksum);
        goto out;
    }
    if (tracked && !(t.post_apply_checksum & LTX_CHECKSUM_FLAG)) {
        r = ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                 "post_apply checksum %016" PRIx64 " lacks bit 63 although checksums are tracked",
                 t.post_apply_checksum);
        goto out;
    }
    uint64_t computed = 0;
    if (snapshot && tracked) {
        computed = dbck | LTX_CHECKSUM_FLAG;
        if (computed != t.post_apply_checksum) {
            r = ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                     "snapshot post_apply checksum %016" PRIx64 ", computed %016" PRIx64,
                     t.post_apply_checksum, computed);
            goto out;
        }
    }

    if (info) {
        info->header = h;
        info->trailer = t;
        info->page_count = ents.n;
        info->index = ents.v;
        info->frame_layout = layout;
        info->computed_post_apply = computed;
        ents.v = NULL;
    }
    r = LTX_OK;
    ltx_ok(e);
out:
    free(page);
    free(ents.v);
    return r;
}

ltx_err ltx_file_decode(const uint8_t *buf, size_t len, ltx_page_fn fn, void *ctx,
                        ltx_file_info *info, ltx_error *e) {
    if (info)
        memset(info, 0, sizeof *info);
    if (!buf)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer");
    ltx_header h;
    memset(&h, 0, sizeof h);
    ltx_err r = file_decode(buf, len, fn, ctx, info, &h, e);
    if (r == LTX_OK || r == LTX_ERR_ARG || r == LTX_ERR_NOMEM || h.page_size == 0)
        return r;
    const char *legacy = legacy_layout(buf, len, &h);
    if (legacy)
        return ltx_fail(e, LTX_ERR_VERSION, LTX_HEADER_SIZE,
                    "legacy LTX %s layout is not supported (written by ltx <= v0.4); "
                    "decoding as v3 failed with: %s",
                    legacy, ltx_err_code(r));
    return r;
}
