/* fuzz_decode.c - libFuzzer entry for the LTX decoders.
 *
 * Feeds the input to every decoder a remote reader uses: the whole-file
 * decoder (with a page callback), the page index located from the tail and
 * decoded, every frame the index names, and the input as a lone frame at
 * each page size, and the streaming verifier fed in chunks (it must give
 * the whole-file decoder's answer). Any crash, sanitizer report or leak is a bug; errors are
 * expected. Build and run: tests/fuzz/run_fuzz.sh (see docs/ltx-codec.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ltx.h"

static uint8_t page_buf[LTX_MAX_PAGE_SIZE];

static int touch_page(void *ctx, uint32_t pgno, const uint8_t *page) {
    size_t *n = ctx;
    (void)pgno;
    *n += page[0]; /* read the page so ASan checks it */
    return 0;
}

/* The streaming verifier in chunks of 1..64 bytes (from the first byte)
 * must agree with the whole-file decoder: same code, same message. */
static void check_streamed(const uint8_t *data, size_t size, ltx_err want, const ltx_error *we) {
    ltx_verifier *v = ltx_verifier_new();
    if (!v)
        return;
    size_t chunk = size ? (size_t)(data[0] % 64) + 1 : 1;
    for (size_t off = 0; off < size; off += chunk)
        (void)ltx_verifier_feed(v, data + off, size - off < chunk ? size - off : chunk, NULL);
    ltx_error e;
    ltx_file_info info;
    ltx_err r = ltx_verifier_finish(v, &info, &e);
    if (r != want || (r != LTX_OK && strcmp(e.msg, we->msg) != 0))
        abort();
    if (r == LTX_OK)
        ltx_file_info_free(&info);
    ltx_verifier_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ltx_error e;
    ltx_file_info info;
    size_t sum = 0;
    ltx_err r = ltx_file_decode(data, size, touch_page, &sum, &info, &e);
    check_streamed(data, size, r, &e);
    if (r == LTX_OK) {
        /* a valid file: every indexed frame must decode on its own too */
        uint32_t ps = info.header.page_size;
        for (size_t i = 0; i < info.page_count; i++) {
            ltx_err fr = ltx_frame_decode(data + info.index[i].offset, info.index[i].size, ps,
                                          info.index[i].pgno, page_buf, &e);
            if (fr != LTX_OK)
                abort();
        }
        ltx_file_info_free(&info);
    }

    /* remote-reader path: header, tail, index, frames by (offset, size) */
    ltx_header h;
    uint32_t ps = 4096, commit = 0;
    if (ltx_header_decode(data, size, &h, NULL) == LTX_OK) {
        ps = h.page_size;
        commit = h.commit;
    }
    if (size >= 24) {
        size_t tail_len = size < 32768 ? size : 32768;
        uint64_t off, len;
        if (ltx_index_locate(data + size - tail_len, tail_len, size, &off, &len, &e) == LTX_OK &&
            off + len <= size) {
            ltx_index_entry *ents = NULL;
            size_t n = 0;
            if (ltx_index_decode(data + off, (size_t)len, off, ps, commit, &ents, &n, &e) ==
                LTX_OK) {
                for (size_t i = 0; i < n; i++) {
                    if (ents[i].offset + ents[i].size > size)
                        abort(); /* decode promised frames end before the index */
                    (void)ltx_frame_decode(data + ents[i].offset, ents[i].size, ps, ents[i].pgno,
                                           page_buf, &e);
                }
            }
            free(ents);
        }
    }

    /* the input as one frame, page size chosen by its first byte */
    if (size >= 1) {
        uint32_t fps = 512u << (data[0] % 8);
        (void)ltx_frame_decode(data + 1, size - 1, fps, 0, page_buf, &e);
    }
    return 0;
}
