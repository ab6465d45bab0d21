/* ltx_err.c - names and sentences for ltx_err codes. */
#include <stdarg.h>
#include <stdio.h>

#include "ltx.h"
#include "ltx_internal.h"

ltx_err ltx_fail(ltx_error *e, ltx_err code, uint64_t off, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        e->offset = off;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void ltx_ok(ltx_error *e)
{
    if (e) {
        e->code = LTX_OK;
        e->offset = 0;
        e->msg[0] = 0;
    }
}

static const struct {
    const char *code;
    const char *text;
} errs[LTX_ERR__COUNT] = {
    [LTX_OK] = { "ok", "no error" },
    [LTX_ERR_ARG] = { "bad_argument", "invalid argument" },
    [LTX_ERR_NOMEM] = { "out_of_memory", "out of memory" },
    [LTX_ERR_MAGIC] = { "bad_magic", "not an LTX file (bad magic)" },
    [LTX_ERR_HEADER] = { "bad_header", "invalid LTX header field" },
    [LTX_ERR_FLAGS] = { "bad_flags", "unknown LTX header or page flags" },
    [LTX_ERR_VERSION] = { "unsupported_version", "legacy LTX layout (v1/v2) is not supported" },
    [LTX_ERR_PAGE_ORDER] = { "page_order", "pages are not strictly increasing (unsorted or duplicate)" },
    [LTX_ERR_LOCK_PAGE] = { "lock_page", "lock page present in LTX file" },
    [LTX_ERR_PAGE_BEYOND_COMMIT] = { "page_beyond_commit", "page number beyond the commit size" },
    [LTX_ERR_SNAPSHOT_INCOMPLETE] = { "snapshot_incomplete", "snapshot does not hold every page" },
    [LTX_ERR_TRUNCATED] = { "truncated", "LTX data is truncated" },
    [LTX_ERR_DECOMPRESS] = { "decompress", "LZ4 decompression failed" },
    [LTX_ERR_PAGE_SIZE] = { "page_size_mismatch", "page size mismatch" },
    [LTX_ERR_INDEX] = { "bad_index", "malformed page index" },
    [LTX_ERR_CHECKSUM] = { "checksum_mismatch", "checksum mismatch" },
    [LTX_ERR_NAME] = { "bad_name", "not a valid LTX file name or TXID" },
    [LTX_ERR_TX_NOT_AVAILABLE] = { "tx_not_available", "transaction not available in the replica" },
    [LTX_ERR_NONCONTIGUOUS] = { "non_contiguous", "non-contiguous ltx files" },
};

const char *ltx_err_code(ltx_err e) { return (unsigned)e < LTX_ERR__COUNT ? errs[e].code : "unknown"; }

const char *ltx_strerror(ltx_err e) { return (unsigned)e < LTX_ERR__COUNT ? errs[e].text : "unknown error"; }
