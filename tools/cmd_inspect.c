/* cmd_inspect.c - `ltxctl inspect FILE|URL [--json] [--no-pages]`: header,
 * pages, page index and trailer of one LTX file, fully verified.
 *
 * Exit status: 0 the file is good, 1 it is damaged or unreadable, 2 usage
 * error. Reference: docs/ltxctl.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "be.h"
#include "cli.h"
#include "ltx.h"
#include "ltxctl.h"
#include "util.h"

typedef struct {
    char (*sha)[65]; /* per page, file order */
    size_t n, cap;
} page_hashes;

typedef struct {
    page_hashes *ph;
    uint32_t page_size;
} hash_ctx;

static int hash_page(void *vctx, uint32_t pgno, const uint8_t *page)
{
    (void)pgno;
    hash_ctx *c = vctx;
    if (c->ph->n >= c->ph->cap)
        return 1;
    sha256_hex(page, c->page_size, c->ph->sha[c->ph->n]);
    c->ph->n++;
    return 0;
}

/* Everything inspect found out about one file. */
typedef struct {
    const char *path;
    uint8_t *buf;
    size_t len;
    char file_sha[65];
    ltx_header h;
    ltx_err hrc;          /* header */
    ltx_index_entry *idx; /* page index from the tail */
    size_t nidx;
    uint64_t idx_off, idx_len;
    ltx_err irc;
    ltx_file_info info; /* full decode */
    ltx_error fe;
    ltx_err frc;
    page_hashes ph;
    const ltx_index_entry *ents;
    size_t nents;
    int have_sha, named, name_mismatch, ok;
} inspection;

/* Decode the file three ways: header, page index from the tail (as a
 * remote reader sees it), and the full verification. Returns 0, or 1 when
 * out of memory. */
static int inspect_decode(inspection *x)
{
    ltx_error he;
    x->hrc = ltx_header_decode(x->buf, x->len, &x->h, &he);
    x->irc = LTX_ERR_HEADER;
    ltx_error ie;
    if (x->hrc == LTX_OK) {
        x->irc = ltx_index_locate(x->buf, x->len, x->len, &x->idx_off, &x->idx_len, &ie);
        if (x->irc == LTX_OK && x->idx_off + x->idx_len <= x->len)
            x->irc = ltx_index_decode(x->buf + x->idx_off, (size_t)x->idx_len, x->idx_off, x->h.page_size,
                                      x->h.commit, &x->idx, &x->nidx, &ie);
    }
    memset(&x->fe, 0, sizeof x->fe);
    x->frc = x->hrc;
    if (x->hrc == LTX_OK) {
        page_hashes *ph = &x->ph;
        ph->cap = x->len / 8 + 1;
        if (ph->cap > x->nidx + 1 && x->irc == LTX_OK)
            ph->cap = x->nidx + 1;
        if (ph->cap > x->h.commit + 1ull)
            ph->cap = (size_t)x->h.commit + 1;
        ph->sha = calloc(ph->cap, sizeof *ph->sha);
        if (!ph->sha) {
            fprintf(stderr, "ltxctl inspect: out of memory\n");
            return 1;
        }
        hash_ctx hc = { .ph = ph, .page_size = x->h.page_size };
        x->frc = ltx_file_decode(x->buf, x->len, hash_page, &hc, &x->info, &x->fe);
    } else {
        x->fe = he;
    }
    x->ents = x->frc == LTX_OK ? x->info.index : x->idx;
    x->nents = x->frc == LTX_OK ? x->info.page_count : (x->irc == LTX_OK ? x->nidx : 0);
    x->have_sha = x->frc == LTX_OK;
    uint64_t name_min = 0, name_max = 0;
    x->named = ltx_parse_filename(base_name(x->path), &name_min, &name_max) == 0;
    x->name_mismatch =
        x->hrc == LTX_OK && x->named && (name_min != x->h.min_txid || name_max != x->h.max_txid);
    x->ok = x->frc == LTX_OK && !x->name_mismatch;
    return 0;
}

/* Page flags and compressed size of a frame, when its bytes are there. */
static int frame_bits(const inspection *x, const ltx_index_entry *e, unsigned *fl, uint32_t *cs)
{
    *fl = 0;
    *cs = 0;
    if (e->offset + 10 > x->len || e->size < 6)
        return 0;
    *fl = (unsigned)x->buf[e->offset + 4] << 8 | x->buf[e->offset + 5];
    *cs = (*fl & LTX_PAGE_FLAG_SIZE) ? be_get32(x->buf + e->offset + 6) : e->size - 6;
    return 1;
}

static void print_json(const inspection *x)
{
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(x->path));
    json_object_set_new(o, "size", json_integer((json_int_t)x->len));
    json_object_set_new(o, "sha256", json_string(x->file_sha));
    int lvl = level_from_path(x->path);
    if (lvl >= 0 && x->named)
        json_object_set_new(o, "level", json_integer(lvl));
    if (x->hrc == LTX_OK) {
        json_object_set_new(o, "min_txid", jhex(x->h.min_txid));
        json_object_set_new(o, "max_txid", jhex(x->h.max_txid));
        json_object_set_new(o, "header", header_json(&x->h));
    }
    if (x->len >= LTX_HEADER_SIZE + LTX_TRAILER_SIZE && x->hrc == LTX_OK)
        json_object_set_new(o, "trailer",
                            json_pack("{s:o, s:o}", "file_checksum", jhex(be_get64(x->buf + x->len - 8)),
                                      "post_apply_checksum", jhex(be_get64(x->buf + x->len - 16))));
    if (x->irc == LTX_OK)
        json_object_set_new(o, "page_index",
                            json_pack("{s:I, s:I}", "offset", (json_int_t)x->idx_off, "varint_bytes",
                                      (json_int_t)x->idx_len));
    json_t *pages = json_array(), *frames = json_array();
    for (size_t i = 0; i < x->nents; i++) {
        const ltx_index_entry *e = &x->ents[i];
        json_array_append_new(pages, json_integer(e->pgno));
        json_t *fr = json_pack("{s:i, s:I, s:i}", "pgno", (json_int_t)e->pgno, "offset",
                               (json_int_t)e->offset, "size", (json_int_t)e->size);
        unsigned fl;
        uint32_t cs;
        if (frame_bits(x, e, &fl, &cs)) {
            json_object_set_new(fr, "flags", json_integer(fl));
            json_object_set_new(fr, "compressed_size", json_integer(cs));
        }
        if (x->have_sha && i < x->ph.n)
            json_object_set_new(fr, "data_sha256", json_string(x->ph.sha[i]));
        json_array_append_new(frames, fr);
    }
    json_object_set_new(o, "pages", pages);
    json_object_set_new(o, "frames", frames);
    if (x->frc == LTX_OK)
        json_object_set_new(o, "frame_layout", json_string(layout_name(x->info.frame_layout)));
    json_object_set_new(o, "checksum_ok", json_boolean(x->frc == LTX_OK));
    json_object_set_new(o, "ok", json_boolean(x->ok));
    if (x->frc != LTX_OK) {
        json_object_set_new(o, "error", json_string(x->fe.msg[0] ? x->fe.msg : ltx_strerror(x->frc)));
        json_object_set_new(o, "error_code", json_string(ltx_err_code(x->frc)));
        json_object_set_new(o, "error_offset", json_integer((json_int_t)x->fe.offset));
    } else if (x->name_mismatch) {
        json_object_set_new(o, "error", json_string("header TXIDs differ from the file name"));
        json_object_set_new(o, "error_code", json_string("name_mismatch"));
    }
    put_json(o);
}

static void print_header(const ltx_header *h)
{
    char ts[40];
    ltx_format_time(ts, sizeof ts, h->timestamp_ms);
    printf("header\n");
    printf("  flags          0x%08" PRIx32 "%s\n", h->flags,
           (h->flags & LTX_FLAG_NO_CHECKSUM) ? " (NoChecksum)" : " (checksums tracked)");
    printf("  page_size      %" PRIu32 "\n", h->page_size);
    printf("  commit         %" PRIu32 " pages (%" PRIu64 " bytes)\n", h->commit,
           (uint64_t)h->commit * h->page_size);
    printf("  min_txid       %016" PRIx64 "\n", h->min_txid);
    printf("  max_txid       %016" PRIx64 "%s\n", h->max_txid,
           ltx_header_is_snapshot(h) ? "  (snapshot: min_txid 1)" : "");
    printf("  timestamp      %s (%" PRId64 " ms)\n", ts, h->timestamp_ms);
    printf("  pre_apply      %016" PRIx64 "\n", h->pre_apply_checksum);
    printf("  wal_offset     %" PRId64 "\n", h->wal_offset);
    printf("  wal_size       %" PRId64 "\n", h->wal_size);
    printf("  wal_salt       0x%08" PRIx32 " 0x%08" PRIx32 "\n", h->wal_salt1, h->wal_salt2);
    printf("  node_id        %" PRIu64 "\n", h->node_id);
}

static void print_pages(const inspection *x, int show_pages)
{
    if (x->nents) {
        printf("pages        %zu%s\n", x->nents, x->have_sha ? "" : " (from the page index)");
        if (!show_pages)
            return;
        printf("  %10s %12s %8s %6s %8s  %s\n", "pgno", "offset", "size", "flags", "lz4",
               x->have_sha ? "sha256 of page" : "");
        for (size_t i = 0; i < x->nents; i++) {
            const ltx_index_entry *e = &x->ents[i];
            unsigned fl;
            uint32_t cs;
            frame_bits(x, e, &fl, &cs);
            printf("  %10" PRIu32 " %12" PRIu64 " %8" PRIu32 " 0x%04x %8" PRIu32 "  %s\n", e->pgno, e->offset,
                   e->size, fl, cs, x->have_sha && i < x->ph.n ? x->ph.sha[i] : "");
        }
    } else if (x->hrc == LTX_OK) {
        printf("pages        0\n");
    }
}

static void print_text(const inspection *x, int show_pages)
{
    printf("file         %s\n", x->path);
    printf("size         %zu bytes\n", x->len);
    printf("sha256       %s\n", x->file_sha);
    if (x->hrc == LTX_OK)
        print_header(&x->h);
    if (x->frc == LTX_OK) {
        int l = x->info.frame_layout;
        printf("layout       %s\n", l == 2   ? "LZ4 block (v3b, page flags 0x0001)"
                                    : l == 1 ? "LZ4 frame (v3a, page flags 0x0000)"
                                    : l == 0 ? "no pages"
                                             : "mixed v3a/v3b");
    }
    print_pages(x, show_pages);
    if (x->irc == LTX_OK)
        printf("page index   offset %" PRIu64 ", %" PRIu64 " bytes of varints\n", x->idx_off, x->idx_len);
    if (x->hrc == LTX_OK && x->len >= LTX_HEADER_SIZE + LTX_TRAILER_SIZE) {
        printf("trailer\n");
        printf("  post_apply     %016" PRIx64 "\n", be_get64(x->buf + x->len - 16));
        printf("  file_checksum  %016" PRIx64 " (%s)\n", be_get64(x->buf + x->len - 8),
               x->frc == LTX_OK             ? "ok"
               : x->frc == LTX_ERR_CHECKSUM ? "MISMATCH"
                                            : "not verified");
    }
    if (x->frc != LTX_OK)
        printf("status       FAILED: %s: %s\n", ltx_err_code(x->frc),
               x->fe.msg[0] ? x->fe.msg : ltx_strerror(x->frc));
    else if (x->name_mismatch)
        printf("status       FAILED: name_mismatch: header TXIDs %016" PRIx64 "-%016" PRIx64
               " differ from the file name\n",
               x->h.min_txid, x->h.max_txid);
    else
        printf("status       ok (frames, index and file checksum verified)\n");
}

int cmd_inspect(const cli_args *a, int argc, char **argv)
{
    (void)argc;
    inspection x;
    memset(&x, 0, sizeof x);
    x.path = argv[0];
    char err[512];
    if ((strstr(x.path, "://") ? read_url(x.path, &x.buf, &x.len, err, sizeof err)
                               : read_local(x.path, &x.buf, &x.len, err, sizeof err)) != 0) {
        fprintf(stderr, "ltxctl inspect: %s\n", err);
        return 1;
    }
    sha256_hex(x.buf, x.len, x.file_sha);
    int ret = 1;
    if (inspect_decode(&x) == 0) {
        if (a->json)
            print_json(&x);
        else
            print_text(&x, !a->no_pages);
        if (!x.ok)
            fprintf(stderr, "ltxctl inspect: %s: %s\n", x.path,
                    x.frc != LTX_OK ? (x.fe.msg[0] ? x.fe.msg : ltx_strerror(x.frc))
                                    : "header TXIDs differ from the file name");
        ret = x.ok ? 0 : 1;
    }
    free(x.ph.sha);
    free(x.idx);
    ltx_file_info_free(&x.info);
    free(x.buf);
    return ret;
}
