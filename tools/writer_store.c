/* writer_store.c - replica-side operations of the LTX writer. */
#include "writer_store.h"

#include <limits.h>

#include "cli.h"
#include "restore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wr_log(const char *fmt, ...)
{
    char ts[40];
    ltx_format_time(ts, sizeof ts, wr_now_ms());
    printf("%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

objstore *wr_store_open(const char *url)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    objstore *st = objstore_open(url, cli_store_opts(), &oe);
    if (!st)
        fprintf(stderr, "ltxctl: cannot open replica %s: %s\n", url,
                oe.msg[0] ? oe.msg : obj_status_str(oe.code));
    return st;
}

static int list_all(objstore *st, ltx_fileinfo **files, size_t *n)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    *files = NULL;
    *n = 0;
    obj_status s = objstore_list_all(st, WR_DB, files, n, &oe);
    if (s == OBJ_NOT_FOUND) {
        *files = NULL;
        *n = 0;
        return 0;
    }
    if (s != OBJ_OK) {
        fprintf(stderr, "ltxctl: listing %s: %s\n", objstore_url(st), oe.msg[0] ? oe.msg : obj_status_str(s));
        return -1;
    }
    return 0;
}

static int list_level(objstore *st, int level, uint64_t min_from, ltx_fileinfo **files, size_t *n)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    *files = NULL;
    *n = 0;
    obj_status s = objstore_list_level(st, WR_DB, level, min_from, files, n, &oe);
    if (s == OBJ_NOT_FOUND) {
        *files = NULL;
        *n = 0;
        return 0;
    }
    if (s != OBJ_OK) {
        fprintf(stderr, "ltxctl: listing level %d of %s: %s\n", level, objstore_url(st),
                oe.msg[0] ? oe.msg : obj_status_str(s));
        return -1;
    }
    return 0;
}

static int read_whole(objstore *st, const ltx_fileinfo *f, uint8_t **buf, size_t *len)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    obj_status s = objstore_read_file(st, WR_DB, f, WR_MAX_DB_BYTES, buf, len, &oe);
    if (s != OBJ_OK) {
        char name[64];
        ltx_fileinfo_format(name, sizeof name, f);
        fprintf(stderr, "ltxctl: reading %s: %s\n", name, oe.msg[0] ? oe.msg : obj_status_str(s));
        return -1;
    }
    return 0;
}

int wr_replica_max_txid(objstore *st, uint64_t *max_txid)
{
    ltx_fileinfo *files;
    size_t n;
    *max_txid = 0;
    if (list_all(st, &files, &n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (files[i].max_txid > *max_txid)
            *max_txid = files[i].max_txid;
    free(files);
    return 0;
}

int wr_restore_latest(objstore *st, ltx_pagemap *pm, uint64_t *txid, ltx_header *last_hdr,
                      ltx_trailer *last_trl)
{
    /* the restore engine of `ltxctl restore`, into a page map */
    restore_opts o;
    memset(&o, 0, sizeof o);
    o.empty_ok = 1;
    ltx_fileinfo *plan = NULL;
    size_t pn = 0;
    uint64_t reached = 0;
    char err[PATH_MAX + 512];
    *txid = 0;
    if (restore_make_plan(st, WR_DB, &o, &plan, &pn, &reached, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "ltxctl: %s\n", err);
        return -1;
    }
    if (pn == 0) {
        free(plan);
        return 0;
    }
    restore_sink k;
    restore_sink_pagemap(&k, pm);
    restore_result res;
    int r = restore_apply_sink(st, WR_DB, plan, pn, &k, &o, &res, err, sizeof err);
    free(plan);
    if (r != 0) {
        fprintf(stderr, "ltxctl: %s\n", err);
        return -1;
    }
    *txid = reached;
    if (last_hdr)
        *last_hdr = res.last_header;
    if (last_trl)
        *last_trl = res.last_trailer;
    return 0;
}

int wr_put_file(objstore *st, int level, const ltx_header *h, const uint8_t *buf, size_t len, size_t npages)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    obj_status s =
        objstore_write_file(st, WR_DB, level, h->min_txid, h->max_txid, buf, len, h->timestamp_ms, &oe);
    char name[LTX_FILENAME_LEN + 1];
    ltx_format_filename(name, h->min_txid, h->max_txid);
    if (s != OBJ_OK) {
        fprintf(stderr, "ltxctl: writing L%d %s: %s\n", level, name, oe.msg[0] ? oe.msg : obj_status_str(s));
        return -1;
    }
    wr_log("wrote L%d %s: %zu page%s, commit %u, %zu bytes%s", level, name, npages, npages == 1 ? "" : "s",
           h->commit, len, h->min_txid == 1 ? " (snapshot)" : "");
    return 0;
}

static uint64_t level_max(const ltx_fileinfo *f, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].max_txid > m)
            m = f[i].max_txid;
    return m;
}

int wr_compact_level(objstore *st, int level, int *wrote)
{
    *wrote = 0;
    if (level < 1 || level > LTX_MAX_LEVEL) {
        fprintf(stderr, "ltxctl: compaction level must be 1..%d\n", LTX_MAX_LEVEL);
        return -1;
    }
    ltx_fileinfo *dst, *src;
    size_t nd, ns;
    if (list_level(st, level, 0, &dst, &nd))
        return -1;
    uint64_t seek = level_max(dst, nd);
    free(dst);
    if (list_level(st, level - 1, seek + 1, &src, &ns))
        return -1;
    /* The backend filters by min; keep the rule explicit for every backend. */
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        if (src[i].min_txid > seek)
            src[k++] = src[i];
    ns = k;
    if (ns == 0) {
        free(src);
        return 0;
    }
    uint8_t **bufs = calloc(ns, sizeof *bufs);
    size_t *lens = calloc(ns, sizeof *lens);
    int r = -1;
    if (!bufs || !lens) {
        fprintf(stderr, "ltxctl: out of memory\n");
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < ns; i++) {
        if (read_whole(st, &src[i], &bufs[i], &lens[i]))
            goto done;
        total += lens[i];
        if (total > WR_MAX_DB_BYTES) {
            fprintf(stderr, "ltxctl: compaction inputs exceed %zu bytes\n", (size_t)WR_MAX_DB_BYTES);
            goto done;
        }
    }
    uint8_t *out = NULL;
    size_t out_len = 0, npages = 0;
    ltx_header oh;
    ltx_error le;
    memset(&le, 0, sizeof le);
    ltx_err rc = ltx_compact((const uint8_t *const *)bufs, lens, ns, &out, &out_len, &oh, &npages, &le);
    if (rc != LTX_OK) {
        fprintf(stderr, "ltxctl: compacting L%d into L%d: %s%s%s\n", level - 1, level, ltx_strerror(rc),
                le.msg[0] ? ": " : "", le.msg);
        goto done;
    }
    r = wr_put_file(st, level, &oh, out, out_len, npages);
    free(out);
    if (r == 0)
        *wrote = 1;
done:
    if (bufs)
        for (size_t i = 0; i < ns; i++)
            free(bufs[i]);
    free(bufs);
    free(lens);
    free(src);
    return r;
}

int wr_snapshot_level9(objstore *st, int *wrote)
{
    *wrote = 0;
    ltx_fileinfo *snaps;
    size_t nsnap;
    uint64_t latest;
    if (wr_replica_max_txid(st, &latest))
        return -1;
    if (latest == 0) {
        fprintf(stderr, "ltxctl: %s is empty, nothing to snapshot\n", objstore_url(st));
        return 0;
    }
    if (list_level(st, LTX_SNAPSHOT_LEVEL, 0, &snaps, &nsnap))
        return -1;
    uint64_t have = level_max(snaps, nsnap);
    free(snaps);
    if (have >= latest)
        return 0;
    ltx_pagemap pm;
    ltx_pagemap_init(&pm, 0);
    pm.keep_blocks = 1;
    uint64_t txid = 0;
    ltx_header last;
    ltx_trailer trl;
    memset(&last, 0, sizeof last);
    memset(&trl, 0, sizeof trl);
    int r = -1;
    if (wr_restore_latest(st, &pm, &txid, &last, &trl))
        goto done;
    ltx_header h;
    memset(&h, 0, sizeof h);
    h.flags = last.flags & LTX_FLAG_NO_CHECKSUM;
    h.page_size = pm.page_size;
    h.commit = pm.commit;
    h.min_txid = 1;
    h.max_txid = txid;
    h.timestamp_ms = wr_now_ms();
    uint64_t post = (h.flags & LTX_FLAG_NO_CHECKSUM) ? 0 : ltx_pagemap_checksum(&pm);
    uint8_t *out = NULL;
    size_t out_len = 0, npages = 0;
    ltx_error le;
    memset(&le, 0, sizeof le);
    ltx_err rc = ltx_pagemap_encode(&h, &pm, post, &out, &out_len, &npages, &le);
    if (rc != LTX_OK) {
        fprintf(stderr, "ltxctl: building the snapshot: %s%s%s\n", ltx_strerror(rc), le.msg[0] ? ": " : "",
                le.msg);
        goto done;
    }
    r = wr_put_file(st, LTX_SNAPSHOT_LEVEL, &h, out, out_len, npages);
    free(out);
    if (r == 0)
        *wrote = 1;
done:
    ltx_pagemap_free(&pm);
    return r;
}

/* Delete one file; a file already gone counts as deleted. Returns 0, or -1
 * said on stderr ("ltxctl: <what>: ..."). */
static int delete_file(objstore *st, const ltx_fileinfo *f, const char *what)
{
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    obj_status s = objstore_delete_file(st, WR_DB, f, &oe);
    if (s == OBJ_OK || s == OBJ_NOT_FOUND)
        return 0;
    fprintf(stderr, "ltxctl: %s: %s\n", what, oe.msg[0] ? oe.msg : obj_status_str(s));
    return -1;
}

int wr_l0_retention(objstore *st, int64_t retention_ms, int64_t now_ms, int *deleted)
{
    *deleted = 0;
    ltx_fileinfo *l0, *l1;
    size_t n0, n1;
    if (list_level(st, 1, 0, &l1, &n1))
        return -1;
    uint64_t l1max = level_max(l1, n1);
    free(l1);
    if (l1max == 0)
        return 0;
    if (list_level(st, 0, 0, &l0, &n0))
        return -1;
    int r = 0;
    for (size_t i = 0; i + 1 < n0; i++) { /* the newest L0 file is always kept */
        if (l0[i].created_ms > now_ms - retention_ms || l0[i].max_txid > l1max)
            break;
        if (delete_file(st, &l0[i], "deleting L0 file")) {
            r = -1;
            break;
        }
        (*deleted)++;
    }
    if (*deleted)
        wr_log("L0 retention: deleted %d file(s) up to TXID %016llx (L1 reaches %016llx)", *deleted,
               (unsigned long long)l0[*deleted - 1].max_txid, (unsigned long long)l1max);
    free(l0);
    return r;
}

int wr_retention(objstore *st, int64_t retention_ms, int64_t now_ms, int *deleted)
{
    *deleted = 0;
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    if (list_all(st, &f, &n))
        return -1;
    uint8_t *del = calloc(n ? n : 1, 1);
    uint64_t floor = 0;
    int k = del ? ltx_retention_select(f, n, now_ms - retention_ms, del, &floor) : -1;
    int r = 0;
    if (k < 0) {
        fprintf(stderr, "ltxctl: retention: the files left would not restore the window; nothing deleted\n");
        r = -1;
    }
    for (int pass = 0; pass < 2 && k > 0 && r == 0; pass++) /* level files first, snapshots last */
        for (size_t i = 0; i < n && r == 0; i++) {
            if (!del[i] || (f[i].level == LTX_SNAPSHOT_LEVEL) != pass)
                continue;
            if (delete_file(st, &f[i], "retention"))
                r = -1;
            else
                (*deleted)++;
        }
    if (*deleted)
        wr_log("retention: deleted %d snapshot/L1+ file(s); kept from the snapshot at TXID %016llx", *deleted,
               (unsigned long long)floor);
    free(del);
    free(f);
    return r;
}
