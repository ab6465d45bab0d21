/* http_pages.c - GET /{db}/pages/{N} and /{db}/pages?n=...
 *
 * A page (or a batch whose pages are all) in memory is answered by the
 * HTTP thread that read the request, with no allocation but the answer
 * itself: the answer points at the cache entry (released when sent) or
 * at a static page of zeros. Anything else is run again by a loader
 * thread (http_loader.c), which may read the object store. */
#include "http_int.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t http_pages_zeros[LTX_MAX_PAGE_SIZE];

static void http_pages_release_entry(void *cls) { pcache_release(cls); }

static void http_pages_etag(char *out, size_t len, uint64_t txid, uint32_t pgno)
{
    snprintf(out, len, "\"%016" PRIx64 "-p%u\"", txid, pgno);
}

enum MHD_Result http_pages_page(struct http *h, struct http_req *r)
{
    ltxdb *d = r->in.db;
    const char *pgs = r->in.seg[2];
    uint32_t pgno;
    if (http_parse_page(pgs, &pgno))
        return http_resp_error(h, r, 400, LTXW_E_BAD_PAGE, "page must be a number from 1, got \"%.40s\"",
                               pgs);
    uint64_t txid = r->in.txid;
    int pinned = r->in.pinned;
    db_snap s;
    db_err e = { 0 };
    char etag[64];
    pc_entry *pe = NULL;
    if (ltxdb_try_page(d, txid, pgno, &s, &pe)) {
        /* cached (or zeros): answered here, no waiting */
        http_pages_etag(etag, sizeof etag, s.txid, pgno);
        enum MHD_Result rc;
        if (http_resp_conditional(h, r, &s, pinned, etag, s.page_size, &rc)) {
            pcache_release(pe);
            return rc;
        }
    } else {
        if (!http_loader_running(r))
            return http_loader_offload(h, r);
        /* latest: a TXID that became unrestorable meanwhile (its files
         * removed under a re-plan) is resolved anew, never a 410 */
        for (int again = 0;; again++) {
            if (ltxdb_resolve(d, txid, &s, &e))
                return http_resp_dberr(h, r, &e);
            http_pages_etag(etag, sizeof etag, s.txid, pgno);
            if (pgno > s.commit)
                return http_resp_error(h, r, 404, LTXW_E_PAGE_RANGE,
                                       "page %u is beyond the database size (%u pages)", pgno, s.commit);
            enum MHD_Result rc;
            if (http_resp_conditional(h, r, &s, pinned, etag, s.page_size, &rc))
                return rc;
            if (ltxdb_page(d, &s, pgno, &pe, &e) == 0)
                break;
            if (pinned || e.code != DB_E_TXID_GONE || again >= 3)
                return http_resp_dberr(h, r, &e);
        }
    }
    struct MHD_Response *resp;
    if (pe)
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            pcache_size(pe), (void *)pcache_data(pe), http_pages_release_entry, pe);
    else
        resp = MHD_create_response_from_buffer(s.page_size, (void *)http_pages_zeros, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        pcache_release(pe);
        return MHD_NO;
    }
    ltxdb_count_served(d, 1);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    http_resp_snap_headers(h, resp, &s, pinned, etag);
    return http_resp_queue(h, r, 200, resp);
}

/* The pages of a batch answer: entries held until it is sent. */
struct http_pages_body {
    size_t n;
    pc_entry *ents[];
};

static void http_pages_body_free(void *cls)
{
    struct http_pages_body *b = cls;
    for (size_t i = 0; i < b->n; i++)
        pcache_release(b->ents[i]);
    free(b);
}

/* ETag of a batch: its TXID and a hash of the page list. */
static void http_pages_batch_etag(char *out, size_t len, uint64_t txid, const uint32_t *pages, size_t n)
{
    unsigned char dg[32];
    SHA256((const unsigned char *)pages, n * sizeof *pages, dg);
    snprintf(out, len, "\"%016" PRIx64 "-b%02x%02x%02x%02x%02x%02x%02x%02x\"", txid, dg[0], dg[1], dg[2],
             dg[3], dg[4], dg[5], dg[6], dg[7]);
}

/* The answer for a batch whose entries are in bb (consumed). The answer
 * points at the cache entries (held until it is sent; zeros for pages
 * that read as zeros): no copy of the pages. */
static enum MHD_Result http_pages_batch_send(struct http *h, struct http_req *r, struct http_pages_body *bb,
                                             const db_snap *s, int pinned, const char *etag, const char *list)
{
    size_t n = bb->n;
    struct MHD_IoVec *iov = malloc(n * sizeof *iov);
    if (!iov) {
        http_pages_body_free(bb);
        return http_resp_error(h, r, 500, LTXW_E_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base =
            bb->ents[i] ? (const void *)pcache_data(bb->ents[i]) : (const void *)http_pages_zeros;
        iov[i].iov_len = s->page_size;
    }
    struct MHD_Response *resp = MHD_create_response_from_iovec(iov, (unsigned)n, http_pages_body_free, bb);
    free(iov); /* libmicrohttpd keeps its own copy */
    if (!resp) {
        http_pages_body_free(bb);
        return MHD_NO;
    }
    ltxdb_count_served(r->in.db, n);
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    http_resp_snap_headers(h, resp, s, pinned, etag);
    if (list)
        MHD_add_response_header(resp, LTXW_HDR_PAGES, list);
    return http_resp_queue(h, r, 200, resp);
}

/* "1,4-9,12": pages[0..n) as runs, malloc'd (NULL on out of memory). */
static char *http_pages_list_text(const uint32_t *pages, size_t n)
{
    size_t cap = n * 22 + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && pages[j + 1] == pages[j] + 1)
            j++;
        if (j > i)
            len += (size_t)snprintf(out + len, cap - len, "%s%u-%u", len ? "," : "", pages[i], pages[j]);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s%u", len ? "," : "", pages[i]);
        i = j + 1;
    }
    return out;
}

/* btree=BYTES: the batch body bb (n pages asked) grown with the b-tree
 * pages of the snapshot (http_btree.c), and the page list of the answer
 * in *list. 0; -1 not all in memory (bb released: offload); -2 error in e
 * (bb released). */
static int http_pages_add_btree(struct http_req *r, struct http_pages_body **bbp, const uint32_t *pages,
                                const db_snap *s, uint64_t budget, char **list, db_err *e)
{
    struct http_pages_body *bb = *bbp;
    size_t n = bb->n, max = budget / s->page_size;
    if (max > LTXW_MAX_BTREE_PAGES)
        max = LTXW_MAX_BTREE_PAGES;
    struct http_pages_body *nb = realloc(bb, sizeof *bb + (n + max) * sizeof bb->ents[0]);
    uint32_t *all = malloc((n + max) * sizeof *all);
    if (!nb || !all) {
        free(all);
        http_pages_body_free(nb ? nb : bb);
        *bbp = NULL;
        e->code = DB_E_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return -2;
    }
    *bbp = bb = nb;
    memcpy(all, pages, n * sizeof *all);
    size_t added = 0;
    int rc =
        http_btree_walk(r->in.db, s, http_loader_running(r), pages, n, max, all + n, bb->ents + n, &added, e);
    if (rc) {
        free(all);
        http_pages_body_free(bb);
        *bbp = NULL;
        return rc;
    }
    bb->n = n + added;
    *list = http_pages_list_text(all, n + added);
    free(all);
    return 0;
}

enum MHD_Result http_pages_batch(struct http *h, struct http_req *r)
{
    ltxdb *d = r->in.db;
    const char *ns = r->in.q.pages;
    if (!ns)
        return http_resp_error(h, r, 400, LTXW_E_BAD_PAGE, "missing n=<pages>, e.g. n=1,4,9-12");
    uint32_t *pages = NULL;
    size_t n = 0;
    int pr = http_parse_page_list(ns, LTXW_MAX_BATCH_PAGES, &pages, &n);
    if (pr == -2)
        return http_resp_error(h, r, 413, LTXW_E_BATCH_TOO_LARGE, "at most %d pages per batch",
                               LTXW_MAX_BATCH_PAGES);
    if (pr)
        return http_resp_error(h, r, 400, LTXW_E_BAD_PAGE,
                               "n must be page numbers from 1 or ranges a-b, comma separated");
    uint64_t txid = r->in.txid;
    int pinned = r->in.pinned;
    uint64_t btree = 0;
    if (r->in.q.btree && http_parse_u64(r->in.q.btree, &btree) != 0) {
        free(pages);
        return http_resp_error(h, r, 400, LTXW_E_BAD_REQUEST,
                               "btree must be a number of bytes, got \"%.40s\"", r->in.q.btree);
    }
    if (btree > LTXW_MAX_BTREE_BYTES)
        btree = LTXW_MAX_BTREE_BYTES;
    enum MHD_Result rc;
    db_snap s;
    db_err e = { 0 };
    struct http_pages_body *bb = NULL;
    bb = malloc(sizeof *bb + n * sizeof bb->ents[0]);
    if (!bb) {
        rc = http_resp_error(h, r, 500, LTXW_E_INTERNAL, "out of memory");
        goto out;
    }
    bb->n = n;
    /* every page in memory: answered here; else on a loader thread */
    int have = ltxdb_try_pages(d, txid, pages, n, &s, bb->ents);
    if (!have && !http_loader_running(r)) {
        rc = http_loader_offload(h, r);
        goto out;
    }
    int again = 0; /* latest: a TXID that became unrestorable meanwhile is resolved anew, never a 410 */
resolve:
    if (!have && ltxdb_resolve(d, txid, &s, &e)) {
        rc = http_resp_dberr(h, r, &e);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (pages[i] > s.commit) {
            http_pages_body_free(bb); /* entries are NULL unless held */
            bb = NULL;
            rc = http_resp_error(h, r, 404, LTXW_E_PAGE_RANGE,
                                 "page %u is beyond the database size (%u pages)", pages[i], s.commit);
            goto out;
        }
    char etag[112];
    http_pages_batch_etag(etag, sizeof etag, s.txid, pages, n);
    if (btree) /* the pages added follow from the TXID and the budget */
        snprintf(etag + strlen(etag) - 1, sizeof etag - strlen(etag) + 1, "-t%" PRIu64 "\"", btree);
    if (http_resp_conditional(h, r, &s, pinned, etag, (uint64_t)n * s.page_size, &rc)) {
        http_pages_body_free(bb);
        bb = NULL;
        goto out;
    }
    if (!have && ltxdb_pages(d, &s, pages, n, bb->ents, &e)) {
        if (!pinned && e.code == DB_E_TXID_GONE && again++ < 3)
            goto resolve;
        rc = http_resp_dberr(h, r, &e);
        goto out;
    }
    char *list = NULL;
    if (btree) {
        int br = http_pages_add_btree(r, &bb, pages, &s, btree, &list, &e);
        if (br == -1) {
            rc = http_loader_offload(h, r);
            goto out;
        }
        if (br) {
            rc = http_resp_dberr(h, r, &e);
            goto out;
        }
    }
    rc = http_pages_batch_send(h, r, bb, &s, pinned, etag, list);
    free(list);
    bb = NULL;
out:
    free(bb); /* its entries are NULL here */
    free(pages);
    return rc;
}
