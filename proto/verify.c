/* verify.c - streaming LTX verifier, and whole-file decode on top of it
 * (LTX-FORMAT.md §1). Pure code, no I/O.
 *
 * The verifier takes a file's bytes in any chunking and applies every rule
 * of a whole-file decode: header, frames (each decoded by codec.c's
 * ltx_decode_payload), terminator, page index (codec.c's ltx_index_locate
 * and ltx_index_decode, then compared with the frames), trailer, file
 * checksum, snapshot database checksum. ltx_file_decode feeds it the whole
 * buffer, so there is one copy of these rules.
 *
 * Memory: the 100-byte header, one frame of lookahead (pending), the bytes
 * after the terminator up to what an index for the frames seen can need,
 * the last 24 bytes, and the frame list. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "ltx.h"
#include "ltx_internal.h"

/* Lookahead never grows past this: no well-formed frame comes close. */
#define MAX_LOOKAHEAD   ((size_t)64 << 20)
/* Bytes of the file start kept: header + what the legacy sniffer reads. */
#define HEAD_KEEP       110u
/* Longest index entry: three 10-byte varints. */
#define MAX_ENTRY_BYTES 30u

enum { ST_HEADER, ST_FRAMES, ST_TAIL, ST_DONE };

typedef struct {
    ltx_index_entry *v;
    size_t n, cap;
} entry_vec;

struct ltx_verifier {
    ltx_page_fn page_fn;
    void *page_ctx;
    ltx_frame_fn frame_fn;
    void *frame_ctx;
    int state;
    int finished;
    ltx_err rc; /* first problem (sticky) */
    ltx_error err;
    uint64_t total;          /* bytes fed */
    uint8_t head[HEAD_KEEP]; /* bytes 0..109 */
    uint8_t last[24];        /* the last min(total, 24) bytes, right-aligned */

    ltx_header h;
    int have_header;
    uint32_t lock;
    int snapshot, tracked;
    uint8_t *page;

    /* frames */
    uint8_t *pend; /* lookahead: pend[pend_off .. pend_off+pend_len) */
    size_t pend_off, pend_len, pend_cap, want;
    uint64_t pend_at; /* file offset of pend[pend_off] */
    entry_vec ents;
    uint64_t crc, dbck;
    int layout;
    uint32_t prev;

    /* after the terminator */
    uint64_t term_end;
    uint8_t *tail;
    size_t tail_len, tail_cap;
    uint64_t tail_total;

    /* legacy v1 sniffer: page numbers at 100 + k*(4 + page_size) */
    uint64_t lg_next;
    unsigned lg_have;
    uint8_t lg_pg[4];
    uint32_t lg_prev;
    uint64_t lg_bad; /* offset of the first non-increasing one, or UINT64_MAX */
};

static int vec_push(entry_vec *a, uint32_t pgno, uint64_t off, uint32_t size, size_t hard_cap)
{
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

ltx_verifier *ltx_verifier_new(void)
{
    ltx_verifier *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->lg_next = LTX_HEADER_SIZE;
    v->lg_bad = UINT64_MAX;
    return v;
}

void ltx_verifier_on_page(ltx_verifier *v, ltx_page_fn fn, void *ctx)
{
    v->page_fn = fn;
    v->page_ctx = ctx;
}

void ltx_verifier_on_frame(ltx_verifier *v, ltx_frame_fn fn, void *ctx)
{
    v->frame_fn = fn;
    v->frame_ctx = ctx;
}

const ltx_header *ltx_verifier_header(const ltx_verifier *v) { return v && v->have_header ? &v->h : NULL; }

uint64_t ltx_verifier_bytes(const ltx_verifier *v) { return v ? v->total : 0; }

void ltx_verifier_free(ltx_verifier *v)
{
    if (!v)
        return;
    free(v->page);
    free(v->pend);
    free(v->ents.v);
    free(v->tail);
    free(v);
}

/* Record the first problem; later ones are ignored. */
static ltx_err set_rc(ltx_verifier *v, ltx_err rc, const ltx_error *le)
{
    if (v->rc == LTX_OK) {
        v->rc = rc;
        v->err = *le;
    }
    return v->rc;
}

/* ---- bytes every caller's data passes through ------------------------- */

/* Keep the head and the last 24 bytes, and feed the legacy sniffer. */
static void observe(ltx_verifier *v, const uint8_t *p, size_t n)
{
    const uint64_t off = v->total, end = off + n;
    if (off < HEAD_KEEP)
        memcpy(v->head + off, p, (size_t)(end < HEAD_KEEP ? end : HEAD_KEEP) - (size_t)off);
    if (n >= sizeof v->last) {
        memcpy(v->last, p + n - sizeof v->last, sizeof v->last);
    } else {
        memmove(v->last, v->last + n, sizeof v->last - n);
        memcpy(v->last + sizeof v->last - n, p, n);
    }
    if (!v->have_header || v->lg_bad != UINT64_MAX)
        return;
    const uint64_t stride = 4u + v->h.page_size;
    while (v->lg_next + v->lg_have < end) {
        v->lg_pg[v->lg_have] = p[v->lg_next + v->lg_have - off];
        if (++v->lg_have < 4)
            continue;
        uint32_t pg = be_get32(v->lg_pg);
        if (pg <= v->lg_prev) {
            v->lg_bad = v->lg_next;
            return;
        }
        v->lg_prev = pg;
        v->lg_next += stride;
        v->lg_have = 0;
    }
}

/* Does the file look like the legacy v1 (4-byte page headers, raw pages,
 * 4-byte terminator, no index) or v2 (4-byte page header + LZ4 frame)
 * layout? Only asked after the v3 decode failed. */
static const char *legacy_layout(const ltx_verifier *v)
{
    const uint8_t *buf = v->head;
    const uint64_t len = v->total;
    const uint64_t ps = v->h.page_size;
    if (len >= 108 && memcmp(buf + 104, ltx_lz4f_magic, 4) == 0 && be_get32(buf + 100) != 0)
        return "v2 (4-byte page headers with LZ4 frames)";
    if (len < LTX_HEADER_SIZE + 4 + LTX_TRAILER_SIZE)
        return NULL;
    if (len >= LTX_HEADER_SIZE + 10) { /* first frame shaped like v3a/v3b: not legacy */
        uint16_t fl = be_get16(buf + 104);
        if (fl == 0 && memcmp(buf + 106, ltx_lz4f_magic, 4) == 0)
            return NULL;
        if (fl == LTX_PAGE_FLAG_SIZE && be_get32(buf + 106) <= (uint32_t)LZ4_compressBound((int)ps))
            return NULL;
    }
    uint64_t body = len - LTX_HEADER_SIZE - 4 - LTX_TRAILER_SIZE;
    /* last[4..8) = bytes len-20 .. len-17: the v1 terminator */
    if (body % (4 + ps) != 0 || be_get32(v->last + 4) != 0)
        return NULL;
    if (v->lg_bad < LTX_HEADER_SIZE + body)
        return NULL;
    return "v1 (uncompressed, 4-byte page headers, no page index)";
}

/* ---- header ------------------------------------------------------------- */

static void header_done(ltx_verifier *v)
{
    ltx_error le;
    ltx_err r = ltx_header_decode(v->head, LTX_HEADER_SIZE, &v->h, &le);
    if (r != LTX_OK) {
        set_rc(v, r, &le);
        return;
    }
    v->have_header = 1;
    v->lock = ltx_lock_pgno(v->h.page_size);
    v->snapshot = ltx_header_is_snapshot(&v->h);
    v->tracked = !(v->h.flags & LTX_FLAG_NO_CHECKSUM);
    v->page = malloc(v->h.page_size);
    if (!v->page) {
        ltx_fail(&le, LTX_ERR_NOMEM, 0, "out of memory for a %" PRIu32 "-byte page", v->h.page_size);
        set_rc(v, LTX_ERR_NOMEM, &le);
        return;
    }
    v->crc = ltx_crc64(0, v->head, LTX_HEADER_SIZE);
    v->want = LTX_PAGE_HEADER_SIZE + LTX_MAX_FRAME_SIZE(v->h.page_size);
    v->pend_at = LTX_HEADER_SIZE;
    v->state = ST_FRAMES;
}

/* ---- after the terminator ----------------------------------------------- */

static void tail_append(ltx_verifier *v, const uint8_t *p, size_t n)
{
    v->tail_total += n;
    if (n == 0)
        return;
    /* An index for these frames needs at most this many bytes (+ u64 + trailer). */
    const size_t keep = v->ents.n * MAX_ENTRY_BYTES + 1 + 8 + LTX_TRAILER_SIZE;
    if (v->tail_len >= keep)
        return;
    if (n > keep - v->tail_len)
        n = keep - v->tail_len;
    if (v->tail_len + n > v->tail_cap) {
        size_t nc = v->tail_cap ? v->tail_cap * 2 : 256;
        while (nc < v->tail_len + n)
            nc *= 2;
        if (nc > keep)
            nc = keep;
        uint8_t *nt = realloc(v->tail, nc);
        if (!nt) {
            ltx_error le;
            ltx_fail(&le, LTX_ERR_NOMEM, v->term_end, "out of memory for the page index");
            set_rc(v, LTX_ERR_NOMEM, &le);
            return;
        }
        v->tail = nt;
        v->tail_cap = nc;
    }
    memcpy(v->tail + v->tail_len, p, n);
    v->tail_len += n;
}

/* ---- frames ------------------------------------------------------------- */

enum { STEP_OK, STEP_NEED, STEP_STOP };

/* Checks on a frame's page header, as in file order. */
static ltx_err frame_header_checks(ltx_verifier *v, uint32_t pgno, uint16_t flags, uint64_t off,
                                   ltx_error *le)
{
    if (pgno == 0)
        return ltx_fail(le, LTX_ERR_FLAGS, off + 4, "terminator at %" PRIu64 " has non-zero flags 0x%04x",
                        off, flags);
    if (flags & ~LTX_PAGE_FLAG_SIZE)
        return ltx_fail(le, LTX_ERR_FLAGS, off + 4, "page %" PRIu32 ": unknown page flags 0x%04x", pgno,
                        flags);
    if (pgno <= v->prev)
        return ltx_fail(le, LTX_ERR_PAGE_ORDER, off,
                        "page %" PRIu32 " follows page %" PRIu32 " (unsorted or duplicate)", pgno, v->prev);
    if (pgno == v->lock)
        return ltx_fail(le, LTX_ERR_LOCK_PAGE, off, "frame holds the lock page %" PRIu32, pgno);
    if (pgno > v->h.commit)
        return ltx_fail(le, LTX_ERR_PAGE_BEYOND_COMMIT, off, "page %" PRIu32 " is beyond commit %" PRIu32,
                        pgno, v->h.commit);
    if (v->snapshot) {
        uint32_t want = v->prev + 1 == v->lock ? v->prev + 2 : v->prev + 1;
        if (pgno != want)
            return ltx_fail(le, LTX_ERR_SNAPSHOT_INCOMPLETE, off,
                            "snapshot skips from page %" PRIu32 " to %" PRIu32 " (missing %" PRIu32 ")",
                            v->prev, pgno, want);
    }
    return LTX_OK;
}

/* The terminator: a snapshot must have ended at its last page. */
static int terminator(ltx_verifier *v, const uint8_t *b, uint64_t off)
{
    ltx_error le;
    if (v->snapshot) {
        uint32_t last = v->h.commit == v->lock ? v->h.commit - 1 : v->h.commit;
        if (v->prev != last) {
            ltx_fail(&le, LTX_ERR_SNAPSHOT_INCOMPLETE, off,
                     "snapshot ends at page %" PRIu32 " but commit is %" PRIu32, v->prev, v->h.commit);
            set_rc(v, le.code, &le);
            return STEP_STOP;
        }
    }
    v->crc = ltx_crc64(v->crc, b, LTX_PAGE_HEADER_SIZE);
    v->pend_off += LTX_PAGE_HEADER_SIZE;
    v->pend_len -= LTX_PAGE_HEADER_SIZE;
    v->term_end = off + LTX_PAGE_HEADER_SIZE;
    v->state = ST_TAIL;
    tail_append(v, v->pend + v->pend_off, v->pend_len);
    v->pend_len = 0;
    return STEP_OK;
}

/* Decode the frame at the front of the lookahead. */
static int frame_step(ltx_verifier *v, int eof)
{
    const uint8_t *b = v->pend ? v->pend + v->pend_off : NULL;
    const size_t avail = v->pend_len;
    const uint64_t off = v->pend_at;
    ltx_error le;
    if (avail < LTX_PAGE_HEADER_SIZE) {
        if (!eof)
            return STEP_NEED;
        ltx_fail(&le, LTX_ERR_TRUNCATED, off,
                 "file ends at %" PRIu64 " inside the page block (no terminator)", v->total);
        set_rc(v, le.code, &le);
        return STEP_STOP;
    }
    uint32_t pgno = be_get32(b);
    uint16_t flags = be_get16(b + 4);
    if (pgno == 0 && flags == 0)
        return terminator(v, b, off);
    ltx_err r = frame_header_checks(v, pgno, flags, off, &le);
    if (r != LTX_OK) {
        set_rc(v, r, &le);
        return STEP_STOP;
    }
    const uint32_t ps = v->h.page_size;
    size_t used;
    r = ltx_decode_payload(b + LTX_PAGE_HEADER_SIZE, avail - LTX_PAGE_HEADER_SIZE, flags, pgno, ps, v->page,
                           &used, 0, off + LTX_PAGE_HEADER_SIZE, &le);
    if (r == LTX_ERR_TRUNCATED && !eof && v->want < MAX_LOOKAHEAD) {
        /* an oversized frame: look further ahead */
        v->want = v->want * 2 < MAX_LOOKAHEAD ? v->want * 2 : MAX_LOOKAHEAD;
        return STEP_NEED;
    }
    if (r != LTX_OK) {
        set_rc(v, r, &le);
        return STEP_STOP;
    }
    size_t fsize = LTX_PAGE_HEADER_SIZE + used;
    size_t hard_cap = (size_t)((off + fsize) / LTX_MIN_FRAME_SIZE) + 1;
    if (fsize > UINT32_MAX || vec_push(&v->ents, pgno, off, (uint32_t)fsize, hard_cap) != 0) {
        ltx_fail(&le, LTX_ERR_NOMEM, off, "out of memory for the page list");
        set_rc(v, LTX_ERR_NOMEM, &le);
        return STEP_STOP;
    }
    /* hash page header (+ size prefix for v3b), then decompressed data */
    v->crc = ltx_crc64(v->crc, b, LTX_PAGE_HEADER_SIZE + ((flags & LTX_PAGE_FLAG_SIZE) ? 4 : 0));
    v->crc = ltx_crc64(v->crc, v->page, ps);
    v->layout |= (flags & LTX_PAGE_FLAG_SIZE) ? 2 : 1;
    if (v->snapshot && v->tracked)
        v->dbck ^= ltx_page_checksum(pgno, v->page, ps);
    if ((v->page_fn && v->page_fn(v->page_ctx, pgno, v->page) != 0) ||
        (v->frame_fn && v->frame_fn(v->frame_ctx, pgno, v->page, b, fsize) != 0)) {
        ltx_fail(&le, LTX_ERR_ARG, off, "stopped by the page callback at page %" PRIu32, pgno);
        set_rc(v, LTX_ERR_ARG, &le);
        return STEP_STOP;
    }
    v->prev = pgno;
    v->pend_off += fsize;
    v->pend_len -= fsize;
    v->pend_at += fsize;
    return STEP_OK;
}

/* Decode frames while the lookahead holds a whole frame (or at the end). */
static void run_frames(ltx_verifier *v, int eof)
{
    while (v->state == ST_FRAMES && v->rc == LTX_OK && (eof || v->pend_len >= v->want)) {
        if (frame_step(v, eof) != STEP_OK)
            return;
    }
}

static void pend_append(ltx_verifier *v, const uint8_t *p, size_t n)
{
    if (v->pend_off + v->pend_len + n > v->pend_cap) {
        if (v->pend_len)
            memmove(v->pend, v->pend + v->pend_off, v->pend_len);
        v->pend_off = 0;
        if (v->pend_len + n > v->pend_cap) {
            uint8_t *np = realloc(v->pend, v->want);
            if (!np) {
                ltx_error le;
                ltx_fail(&le, LTX_ERR_NOMEM, v->pend_at, "out of memory for %zu bytes of frames", v->want);
                set_rc(v, LTX_ERR_NOMEM, &le);
                return;
            }
            v->pend = np;
            v->pend_cap = v->want;
        }
    }
    memcpy(v->pend + v->pend_off + v->pend_len, p, n);
    v->pend_len += n;
}

/* Bytes past the header: frames, then the tail. */
static void consume(ltx_verifier *v, const uint8_t *p, size_t n)
{
    while (n && v->state == ST_FRAMES && v->rc == LTX_OK) {
        size_t room = v->want > v->pend_len ? v->want - v->pend_len : 0;
        if (room == 0) {
            run_frames(v, 0);
            continue;
        }
        size_t k = n < room ? n : room;
        pend_append(v, p, k);
        p += k;
        n -= k;
        run_frames(v, 0);
    }
    if (n && v->state == ST_TAIL && v->rc == LTX_OK)
        tail_append(v, p, n);
}

ltx_err ltx_verifier_feed(ltx_verifier *v, const void *buf, size_t len, ltx_error *e)
{
    if (!v || (!buf && len))
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL verifier or buffer");
    if (v->finished)
        return ltx_fail(e, LTX_ERR_ARG, v->total, "verifier already finished");
    const uint8_t *p = buf;
    while (len) {
        size_t take = len;
        if (v->total < LTX_HEADER_SIZE && take > LTX_HEADER_SIZE - v->total)
            take = (size_t)(LTX_HEADER_SIZE - v->total);
        observe(v, p, take);
        uint64_t was = v->total;
        v->total += take;
        if (v->rc == LTX_OK) {
            if (v->state == ST_HEADER) {
                if (v->total == LTX_HEADER_SIZE)
                    header_done(v);
            } else {
                (void)was;
                consume(v, p, take);
            }
        }
        p += take;
        len -= take;
    }
    if (v->rc != LTX_OK) {
        if (e)
            *e = v->err;
        return v->rc;
    }
    ltx_ok(e);
    return LTX_OK;
}

/* ---- the end ------------------------------------------------------------ */

/* Index, its u64 length and the trailer, held in v->tail. */
static ltx_err finish_tail(ltx_verifier *v, ltx_trailer *t, uint64_t *computed, ltx_error *e)
{
    const uint64_t len = v->total, off = v->term_end;
    if (v->tail_total < LTX_MIN_TAIL)
        return ltx_fail(e, LTX_ERR_TRUNCATED, off,
                        "file ends %" PRIu64
                        " bytes after the terminator; index and trailer need at least %u",
                        v->tail_total, (unsigned)LTX_MIN_TAIL);
    uint64_t idx_off, idx_len;
    ltx_err r = ltx_index_locate(v->last, sizeof v->last, len, &idx_off, &idx_len, e);
    if (r != LTX_OK)
        return r;
    if (idx_off != off)
        return ltx_fail(e, LTX_ERR_INDEX, len - 24,
                        "page index size field puts the index at %" PRIu64
                        " but the terminator ends at %" PRIu64,
                        idx_off, off);
    if (idx_len + 24 > v->tail_len)
        return ltx_fail(e, LTX_ERR_INDEX, off,
                        "page index of %" PRIu64 " bytes is longer than %zu frames can need", idx_len,
                        v->ents.n);
    ltx_index_entry *idx = NULL;
    size_t nidx = 0;
    r = ltx_index_decode(v->tail, (size_t)idx_len, idx_off, v->h.page_size, v->h.commit, &idx, &nidx, e);
    if (r != LTX_OK)
        return r;
    if (nidx != v->ents.n) {
        free(idx);
        return ltx_fail(e, LTX_ERR_INDEX, off, "page index has %zu entries but the file has %zu frames", nidx,
                        v->ents.n);
    }
    for (size_t i = 0; i < nidx; i++) {
        const ltx_index_entry *a = &idx[i], *b = &v->ents.v[i];
        if (a->pgno != b->pgno || a->offset != b->offset || a->size != b->size) {
            r = ltx_fail(e, LTX_ERR_INDEX, off,
                         "index entry %zu (page %" PRIu32 " at %" PRIu64 " size %" PRIu32
                         ") disagrees with frame (page %" PRIu32 " at %" PRIu64 " size %" PRIu32 ")",
                         i, a->pgno, a->offset, a->size, b->pgno, b->offset, b->size);
            free(idx);
            return r;
        }
    }
    free(idx);
    uint64_t crc = ltx_crc64(v->crc, v->tail, (size_t)idx_len + 8);

    const uint8_t *tb = v->tail + idx_len + 8;
    const uint64_t toff = len - LTX_TRAILER_SIZE;
    t->post_apply_checksum = be_get64(tb);
    t->file_checksum = be_get64(tb + 8);
    crc = ltx_crc64(crc, tb, 8) | LTX_CHECKSUM_FLAG;
    if (crc != t->file_checksum)
        return ltx_fail(e, LTX_ERR_CHECKSUM, toff + 8,
                        "file checksum %016" PRIx64 " in trailer, computed %016" PRIx64, t->file_checksum,
                        crc);
    if (!v->tracked && t->post_apply_checksum != 0)
        return ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                        "post_apply checksum %016" PRIx64 " set although NoChecksum flag is set",
                        t->post_apply_checksum);
    if (v->tracked && !(t->post_apply_checksum & LTX_CHECKSUM_FLAG))
        return ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                        "post_apply checksum %016" PRIx64 " lacks bit 63 although checksums are tracked",
                        t->post_apply_checksum);
    *computed = 0;
    if (v->snapshot && v->tracked) {
        *computed = v->dbck | LTX_CHECKSUM_FLAG;
        if (*computed != t->post_apply_checksum)
            return ltx_fail(e, LTX_ERR_CHECKSUM, toff,
                            "snapshot post_apply checksum %016" PRIx64 ", computed %016" PRIx64,
                            t->post_apply_checksum, *computed);
    }
    return LTX_OK;
}

ltx_err ltx_verifier_finish(ltx_verifier *v, ltx_file_info *info, ltx_error *e)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!v)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL verifier");
    if (v->finished)
        return ltx_fail(e, LTX_ERR_ARG, v->total, "verifier already finished");
    v->finished = 1;
    ltx_error le;
    ltx_trailer t = { 0, 0 };
    uint64_t computed = 0;
    if (v->rc == LTX_OK && v->state == ST_HEADER) {
        /* fewer than 100 bytes: the header decoder says what is wrong */
        ltx_header h;
        set_rc(v, ltx_header_decode(v->head, (size_t)v->total, &h, &le), &le);
    }
    if (v->rc == LTX_OK && v->state == ST_FRAMES)
        run_frames(v, 1);
    if (v->rc == LTX_OK) {
        ltx_err r = finish_tail(v, &t, &computed, &le);
        if (r != LTX_OK)
            set_rc(v, r, &le);
    }
    ltx_err r = v->rc;
    if (r != LTX_OK && r != LTX_ERR_ARG && r != LTX_ERR_NOMEM && v->have_header) {
        const char *legacy = legacy_layout(v);
        if (legacy)
            return ltx_fail(e, LTX_ERR_VERSION, LTX_HEADER_SIZE,
                            "legacy LTX %s layout is not supported (written by ltx <= v0.4); "
                            "decoding as v3 failed with: %s",
                            legacy, ltx_err_code(r));
    }
    if (r != LTX_OK) {
        if (e)
            *e = v->err;
        return r;
    }
    v->state = ST_DONE;
    if (info) {
        info->header = v->h;
        info->trailer = t;
        info->page_count = v->ents.n;
        info->index = v->ents.v;
        info->frame_layout = v->layout;
        info->computed_post_apply = computed;
        v->ents.v = NULL;
        v->ents.n = v->ents.cap = 0;
    }
    ltx_ok(e);
    return LTX_OK;
}

/* ---- whole file ----------------------------------------------------------- */

void ltx_file_info_free(ltx_file_info *info)
{
    if (!info)
        return;
    free(info->index);
    info->index = NULL;
    info->page_count = 0;
}

ltx_err ltx_file_decode(const uint8_t *buf, size_t len, ltx_page_fn fn, void *ctx, ltx_file_info *info,
                        ltx_error *e)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!buf)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL buffer");
    ltx_verifier *v = ltx_verifier_new();
    if (!v)
        return ltx_fail(e, LTX_ERR_NOMEM, 0, "out of memory for the verifier");
    ltx_verifier_on_page(v, fn, ctx);
    (void)ltx_verifier_feed(v, buf, len, NULL);
    ltx_err r = ltx_verifier_finish(v, info, e);
    ltx_verifier_free(v);
    return r;
}

/* ---- header + page index from the tail ------------------------------------ */

ltx_err ltx_tail_parse(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                       uint64_t file_size, ltx_header *h, ltx_index_entry **index, size_t *n,
                       uint64_t *idx_off, size_t *need, ltx_error *e)
{
    if (!head || !tail || !h || !index || !n || !idx_off || !need)
        return ltx_fail(e, LTX_ERR_ARG, 0, "NULL argument");
    *index = NULL;
    *n = 0;
    *need = 0;
    ltx_err r = ltx_header_decode(head, head_len, h, e);
    if (r != LTX_OK)
        return r;
    uint64_t io, il;
    r = ltx_index_locate(tail, tail_len, file_size, &io, &il, e);
    if (r != LTX_OK)
        return r;
    *idx_off = io;
    const uint64_t region = file_size - io; /* varints + u64 + trailer */
    if (region > tail_len) {
        if (region > SIZE_MAX)
            return ltx_fail(e, LTX_ERR_INDEX, io, "page index of %" PRIu64 " bytes", il);
        *need = (size_t)region;
        ltx_ok(e);
        return LTX_OK;
    }
    r = ltx_index_decode(tail + (tail_len - region), (size_t)il, io, h->page_size, h->commit, index, n, e);
    if (r != LTX_OK)
        return r;
    if (h->commit == 0 && *n > 0) {
        r = ltx_fail(e, LTX_ERR_PAGE_BEYOND_COMMIT, (*index)[0].offset, "page %" PRIu32 " is beyond commit 0",
                     (*index)[0].pgno);
        free(*index);
        *index = NULL;
        *n = 0;
        return r;
    }
    ltx_ok(e);
    return LTX_OK;
}
