/* writer_core.c - pure parts of the LTX writer (see writer_core.h). */
#include "writer_core.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wr_set_error(ltx_error *e, ltx_err code, const char *fmt, ...) {
    if (!e)
        return;
    e->code = code;
    e->offset = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

int wr_parse_duration(const char *s, int64_t *ms) {
    if (!s || !*s || !ms)
        return -1;
    char *end = NULL;
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e12)
        return -1;
    double mult;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        mult = 1000;
    else if (!strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "m"))
        mult = 60000;
    else if (!strcmp(end, "h"))
        mult = 3600000;
    else if (!strcmp(end, "d"))
        mult = 86400000;
    else
        return -1;
    double r = v * mult;
    if (r > 9e15)
        return -1;
    *ms = (int64_t)(r + 0.5);
    return 0;
}

int64_t wr_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t wr_sqlite_page_size(const uint8_t *hdr, size_t len) {
    if (len < 100 || memcmp(hdr, "SQLite format 3", 16) != 0)
        return 0;
    uint32_t ps = ((uint32_t)hdr[16] << 8) | hdr[17];
    if (ps == 1)
        ps = 65536;
    return ltx_page_size_valid(ps) ? ps : 0;
}

static uint64_t zero_page_checksum(uint32_t pgno, uint32_t page_size) {
    /* CRC of u32be(pgno) followed by page_size zero bytes, without a buffer. */
    static const uint8_t zeros[4096];
    uint8_t be[4] = {(uint8_t)(pgno >> 24), (uint8_t)(pgno >> 16), (uint8_t)(pgno >> 8), (uint8_t)pgno};
    uint64_t crc = ltx_crc64(0, be, 4);
    for (uint32_t done = 0; done < page_size;) {
        uint32_t n = page_size - done < sizeof zeros ? page_size - done : (uint32_t)sizeof zeros;
        crc = ltx_crc64(crc, zeros, n);
        done += n;
    }
    return crc | LTX_CHECKSUM_FLAG;
}

uint64_t wr_image_checksum(const uint8_t *img, uint32_t commit, uint32_t page_size) {
    uint64_t ck = 0;
    uint32_t lock = ltx_lock_pgno(page_size);
    for (uint32_t p = 1; p <= commit; p++) {
        if (p == lock)
            continue;
        ck ^= ltx_page_checksum(p, img + (size_t)(p - 1) * page_size, page_size);
    }
    return ck | LTX_CHECKSUM_FLAG;
}

/* ---- page map ----------------------------------------------------------- */

void wr_pages_init(wr_pages *pm, size_t max_bytes) {
    memset(pm, 0, sizeof *pm);
    pm->max_bytes = max_bytes ? max_bytes : WR_MAX_DB_BYTES;
}

struct wr_block {
    uint32_t len;
    uint8_t data[];
};

static void drop_block(wr_pages *pm, uint32_t i) {
    if (pm->blk && pm->blk[i]) {
        pm->bytes -= pm->blk[i]->len;
        free(pm->blk[i]);
        pm->blk[i] = NULL;
    }
}

void wr_pages_free(wr_pages *pm) {
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

ltx_err wr_pages_set(wr_pages *pm, uint32_t pgno, const uint8_t *page, ltx_error *e) {
    if (pgno == 0 || !pm->page_size) {
        wr_set_error(e, LTX_ERR_ARG, "page %u: invalid page number or page size unset", pgno);
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
            wr_set_error(e, LTX_ERR_NOMEM, "out of memory growing the page map to %llu pages",
                         (unsigned long long)ncap);
            return LTX_ERR_NOMEM;
        }
        memset(np + pm->cap, 0, (size_t)(ncap - pm->cap) * sizeof *np);
        pm->pg = np;
        if (pm->keep_blocks) {
            wr_block **nb = realloc(pm->blk, (size_t)ncap * sizeof *nb);
            if (!nb) {
                wr_set_error(e, LTX_ERR_NOMEM, "out of memory growing the page map");
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
            wr_set_error(e, LTX_ERR_NOMEM, "database larger than the writer's limit of %zu bytes",
                         pm->max_bytes);
            return LTX_ERR_NOMEM;
        }
        *slot = malloc(pm->page_size);
        if (!*slot) {
            wr_set_error(e, LTX_ERR_NOMEM, "out of memory for page %u", pgno);
            return LTX_ERR_NOMEM;
        }
        pm->bytes += pm->page_size;
    }
    memcpy(*slot, page, pm->page_size);
    return LTX_OK;
}

void wr_pages_truncate(wr_pages *pm, uint32_t commit) {
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

struct apply_ctx {
    wr_pages *pm;
    ltx_error err;
    int failed;
};

static int apply_cb(void *ctx, uint32_t pgno, const uint8_t *page) {
    struct apply_ctx *ac = ctx;
    if (wr_pages_set(ac->pm, pgno, page, &ac->err) != LTX_OK) {
        ac->failed = 1;
        return 1;
    }
    return 0;
}

ltx_err wr_pages_apply(wr_pages *pm, const uint8_t *buf, size_t len, int truncate, ltx_header *hdr,
                       ltx_trailer *trl, ltx_error *e) {
    ltx_header h;
    ltx_err rc = ltx_header_decode(buf, len, &h, e);
    if (rc != LTX_OK)
        return rc;
    if (pm->page_size && pm->page_size != h.page_size) {
        wr_set_error(e, LTX_ERR_PAGE_SIZE, "page size %u differs from the earlier files' %u", h.page_size,
                     pm->page_size);
        return LTX_ERR_PAGE_SIZE;
    }
    pm->page_size = h.page_size;
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    struct apply_ctx ac;
    memset(&ac, 0, sizeof ac);
    ac.pm = pm;
    rc = ltx_file_decode(buf, len, apply_cb, &ac, &info, e);
    if (rc != LTX_OK && ac.failed) {
        rc = ac.err.code;
        if (e)
            *e = ac.err;
    }
    if (rc != LTX_OK) {
        ltx_file_info_free(&info);
        return rc;
    }
    if (pm->keep_blocks && pm->blk) {
        /* keep each v3b frame's LZ4 block: [pgno u32][flags u16 = 1][len u32][block] */
        for (size_t i = 0; i < info.page_count; i++) {
            const ltx_index_entry *ie = &info.index[i];
            if (ie->offset + ie->size > len || ie->size < 10 || ie->pgno > pm->cap)
                continue;
            const uint8_t *fr = buf + ie->offset;
            uint32_t flags = ((uint32_t)fr[4] << 8) | fr[5];
            uint32_t bl = ((uint32_t)fr[6] << 24) | ((uint32_t)fr[7] << 16) | ((uint32_t)fr[8] << 8) | fr[9];
            if (flags != LTX_PAGE_FLAG_SIZE || (uint64_t)bl + 10 != ie->size)
                continue;
            if (pm->bytes + bl > pm->max_bytes)
                break; /* blocks are an optimisation: recompress the rest */
            wr_block *b = malloc(sizeof *b + bl);
            if (!b)
                break;
            b->len = bl;
            memcpy(b->data, fr + 10, bl);
            drop_block(pm, ie->pgno - 1);
            pm->blk[ie->pgno - 1] = b;
            pm->bytes += bl;
        }
    }
    if (truncate)
        wr_pages_truncate(pm, info.header.commit);
    else
        pm->commit = info.header.commit;
    if (hdr)
        *hdr = info.header;
    if (trl)
        *trl = info.trailer;
    ltx_file_info_free(&info);
    return LTX_OK;
}

ltx_err wr_pages_image(const wr_pages *pm, uint8_t **img, size_t *len, ltx_error *e) {
    size_t n = (size_t)pm->commit * pm->page_size;
    *img = NULL;
    *len = 0;
    if (n > pm->max_bytes) {
        wr_set_error(e, LTX_ERR_NOMEM, "database of %zu bytes is over the writer's limit", n);
        return LTX_ERR_NOMEM;
    }
    uint8_t *b = calloc(1, n ? n : 1);
    if (!b) {
        wr_set_error(e, LTX_ERR_NOMEM, "out of memory for a %zu-byte image", n);
        return LTX_ERR_NOMEM;
    }
    for (uint32_t p = 1; p <= pm->commit && p <= pm->cap; p++)
        if (pm->pg[p - 1])
            memcpy(b + (size_t)(p - 1) * pm->page_size, pm->pg[p - 1], pm->page_size);
    *img = b;
    *len = n;
    return LTX_OK;
}

uint64_t wr_pages_checksum(const wr_pages *pm) {
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

/* ---- building files ----------------------------------------------------- */

static size_t out_cap(uint32_t npages, uint32_t page_size) {
    uint64_t c = (uint64_t)npages * (LTX_MAX_FRAME_SIZE(page_size) + 16) + 4096;
    return c > ((uint64_t)1 << 32) - 1 ? 0 : (size_t)c;
}

/* Per-page checksums: sums[p-1] for pages 1..commit, 0 at the lock page.
 * Missing pages of a page map count as zeros (as in wr_pages_checksum). */
static ltx_err sums_alloc(uint32_t commit, uint64_t **sums, ltx_error *e) {
    *sums = calloc(commit ? commit : 1, sizeof **sums);
    if (!*sums) {
        wr_set_error(e, LTX_ERR_NOMEM, "out of memory for %u page checksums", commit);
        return LTX_ERR_NOMEM;
    }
    return LTX_OK;
}

ltx_err wr_image_sums(const uint8_t *img, uint32_t commit, uint32_t page_size, uint64_t **sums, ltx_error *e) {
    if (sums_alloc(commit, sums, e) != LTX_OK)
        return LTX_ERR_NOMEM;
    uint32_t lock = ltx_lock_pgno(page_size);
    for (uint32_t p = 1; p <= commit; p++)
        if (p != lock)
            (*sums)[p - 1] = ltx_page_checksum(p, img + (size_t)(p - 1) * page_size, page_size);
    return LTX_OK;
}

ltx_err wr_pages_sums(const wr_pages *pm, uint64_t **sums, ltx_error *e) {
    if (sums_alloc(pm->commit, sums, e) != LTX_OK)
        return LTX_ERR_NOMEM;
    uint32_t lock = ltx_lock_pgno(pm->page_size);
    for (uint32_t p = 1; p <= pm->commit; p++) {
        if (p == lock)
            continue;
        const uint8_t *pg = p <= pm->cap ? pm->pg[p - 1] : NULL;
        (*sums)[p - 1] = pg ? ltx_page_checksum(p, pg, pm->page_size) : zero_page_checksum(p, pm->page_size);
    }
    return LTX_OK;
}

uint64_t wr_sums_checksum(const uint64_t *sums, uint32_t commit) {
    uint64_t ck = 0;
    for (uint32_t p = 1; p <= commit; p++)
        ck ^= sums[p - 1]; /* the lock page's entry is 0 */
    return ck | LTX_CHECKSUM_FLAG;
}

/* One L0 file from cur; a page below prev_commit is left out when it did not
 * change: by bytes against prev, or (prev NULL) by checksum against
 * prev_sums/cur_sums. */
static ltx_err build_l0(const ltx_header *h, const uint8_t *prev, const uint64_t *prev_sums, uint32_t prev_commit,
                        const uint8_t *cur, const uint64_t *cur_sums, uint32_t commit, int full, uint8_t **out,
                        size_t *out_len, size_t *npages, uint64_t *post, ltx_error *e) {
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
    uint64_t pa = !track ? 0 : cur_sums ? wr_sums_checksum(cur_sums, commit) : wr_image_checksum(cur, commit, ps);
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
                    uint32_t commit, int full, uint8_t **out, size_t *out_len, size_t *npages,
                    uint64_t *post, ltx_error *e) {
    return build_l0(h, prev, NULL, prev ? prev_commit : 0, cur, NULL, commit, full, out, out_len, npages, post, e);
}

ltx_err wr_build_l0_sums(const ltx_header *h, const uint64_t *prev_sums, uint32_t prev_commit, const uint8_t *cur,
                         const uint64_t *cur_sums, uint32_t commit, int full, uint8_t **out, size_t *out_len,
                         size_t *npages, uint64_t *post, ltx_error *e) {
    if (!cur_sums) {
        wr_set_error(e, LTX_ERR_ARG, "no page checksums of the database image");
        return LTX_ERR_ARG;
    }
    return build_l0(h, NULL, prev_sums, prev_sums ? prev_commit : 0, cur, cur_sums, commit, full, out, out_len,
                    npages, post, e);
}

ltx_err wr_encode_pages(const ltx_header *h, const wr_pages *pm, uint64_t post_apply, uint8_t **out,
                        size_t *out_len, size_t *npages, ltx_error *e) {
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
        wr_set_error(e, LTX_ERR_NOMEM, "cannot start an LTX encoder");
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
                wr_set_error(e, rc, "page %u of %u is in none of the inputs, cannot write a snapshot", p,
                             h->commit);
                goto done;
            }
            continue;
        }
        const wr_block *b = pm->blk ? pm->blk[p - 1] : NULL;
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

ltx_err wr_compact_buffers(const uint8_t *const *bufs, const size_t *lens, size_t n, uint8_t **out,
                           size_t *out_len, ltx_header *out_hdr, size_t *npages, ltx_error *e) {
    *out = NULL;
    *out_len = 0;
    if (n == 0) {
        wr_set_error(e, LTX_ERR_ARG, "nothing to compact");
        return LTX_ERR_ARG;
    }
    wr_pages pm;
    wr_pages_init(&pm, 0);
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
        rc = wr_pages_apply(&pm, bufs[i], lens[i], 0, &h, &t, e);
        if (rc != LTX_OK)
            goto done;
        if (i == 0) {
            first = h;
        } else if (h.min_txid > last.max_txid + 1 || h.max_txid <= last.max_txid) {
            rc = LTX_ERR_NONCONTIGUOUS;
            wr_set_error(e, rc, "input %016llx-%016llx does not follow %016llx-%016llx",
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
    wr_pages_truncate(&pm, oh.commit);
    rc = wr_encode_pages(&oh, &pm, nochk ? 0 : last_trl.post_apply_checksum, out, out_len, npages, e);
    if (rc == LTX_OK && out_hdr)
        *out_hdr = oh;
done:
    wr_pages_free(&pm);
    return rc;
}
