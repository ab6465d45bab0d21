/* s3_backend.c - the S3 backend's operations: keys, ListObjectsV2 paging,
 * database discovery, ranged and whole reads, writes, deletes, timestamps.
 *
 * Layout (LTX-FORMAT.md §2.1): <prefix>/<db>/<level %04x>/<min>-<max>.ltx,
 * no "ltx/" part; level folders and file names come from proto/layout.c.
 * The prefix is the URL path without its leading '/'. With db "" the prefix
 * itself is the replica path, taken literally as Litestream does (an empty
 * prefix gives keys starting with '/').
 *
 * Connections are reused across calls and threads (see s3_request.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbname.h"
#include "s3_internal.h"
#include "s3_xml.h"
#include "timefmt.h"

/* ---- keys --------------------------------------------------------------- */

/* <prefix>/<db> (db "" = the prefix itself, literally) */
int s3_db_path(const s3ctx *c, const char *db, char *out, size_t outlen)
{
    int k;
    if (!db[0])
        k = snprintf(out, outlen, "%s", c->prefix);
    else if (!c->prefix[0])
        k = snprintf(out, outlen, "%s", db);
    else
        k = snprintf(out, outlen, "%s/%s", c->prefix, db);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

static int level_prefix(const s3ctx *c, const char *db, int level, char *out, size_t outlen)
{
    char dp[1024];
    if (s3_db_path(c, db, dp, sizeof dp) != 0)
        return -1;
    if (ltx_s3_level_prefix(out, outlen, dp, level) != 0)
        return -1;
    size_t k = strlen(out);
    if (k + 2 > outlen)
        return -1;
    out[k] = '/';
    out[k + 1] = 0;
    return 0;
}

int s3_file_key(const s3ctx *c, const char *db, const ltx_fileinfo *f, char *out, size_t outlen)
{
    char lp[1100], name[LTX_FILENAME_LEN + 1];
    if (level_prefix(c, db, f->level, lp, sizeof lp) != 0)
        return -1;
    ltx_format_filename(name, f->min_txid, f->max_txid);
    int k = snprintf(out, outlen, "%s%s", lp, name);
    return (k < 0 || (size_t)k >= outlen) ? -1 : 0;
}

/* ---- ListObjectsV2 ------------------------------------------------------ */

typedef s3_key_fn key_fn;
typedef s3_prefix_fn prefix_fn;

/* Pages through ListObjectsV2. Callbacks return 0 to go on, <0 on error
 * (the status is then in *cb_status). */
static obj_status s3_list(objstore *s, const char *prefix, const char *start_after, int delimiter,
                          const char *max_keys, key_fn kf, prefix_fn pf, void *ctx, obj_status *cb_status,
                          obj_error *e)
{
    s3ctx *c = s->s3;
    char *token = NULL;
    obj_status st = OBJ_OK;
    for (int page = 0;; page++) {
        sigv4_pair q[6];
        size_t nq = 0;
        q[nq++] = (sigv4_pair){ "list-type", "2" };
        q[nq++] = (sigv4_pair){ "prefix", prefix };
        if (delimiter)
            q[nq++] = (sigv4_pair){ "delimiter", "/" };
        if (max_keys)
            q[nq++] = (sigv4_pair){ "max-keys", max_keys };
        if (token)
            q[nq++] = (sigv4_pair){ "continuation-token", token };
        else if (start_after && *start_after)
            q[nq++] = (sigv4_pair){ "start-after", start_after };
        s3_req rq = {
            .method = "GET", .key = NULL, .label = prefix, .query = q, .nquery = nq, .max_body = LIST_PAGE_CAP
        };
        s3_resp r = { 0 };
        OBJ_COUNT_LIST(s);
        st = s3_request(s, &rq, &r, e);
        if (st != OBJ_OK) {
            if (st == OBJ_ERR_TOO_LARGE)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "listing of %s/%.180s: page over %u bytes",
                              c->bucket, prefix, LIST_PAGE_CAP);
            s3_resp_free(&r);
            break;
        }
        OBJ_COUNT(s, bytes_read, r.len);
        int truncated = 0;
        char *next = NULL;
        char why[128];
        int rc = s3_parse_list((const char *)r.grow, r.len, (s3_key_fn)kf, (s3_prefix_fn)pf, ctx, &truncated,
                               &next, why, sizeof why);
        if (rc == -2)
            st = *cb_status;
        else if (rc != 0)
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "listing of %s/%.160s: %s", c->bucket, prefix, why);
        else if (truncated && token && !strcmp(token, next))
            st = obj_fail(s, e, OBJ_ERR_INVALID, 200, "listing of %s/%.160s: continuation token repeats",
                          c->bucket, prefix);
        free(token);
        token = next;
        s3_resp_free(&r);
        if (st != OBJ_OK || !truncated)
            break;
        if (page > 100000) {
            st = obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "listing of %s/%.180s: too many pages", c->bucket,
                          prefix);
            break;
        }
    }
    free(token);
    return st;
}

/* ---- list level ---- */

typedef struct {
    objstore *s;
    obj_error *e;
    obj_status st;
    const char *lp;
    size_t lplen;
    int level;
    uint64_t min_from;
    ltx_fileinfo *v;
    size_t n, cap;
} level_ctx;

/* level_ctx.level < 0: listing every level under the database prefix lp;
 * a key counts when it is lp + "000N/" (N 0..9, as level_prefix writes it)
 * + a strict LTX name. */
static int level_key(void *u, const char *key, uint64_t size, int64_t mt, const char *etag)
{
    level_ctx *x = u;
    size_t kl = strlen(key);
    if (kl < x->lplen || memcmp(key, x->lp, x->lplen) != 0)
        return 0;
    const char *name = key + x->lplen;
    int level = x->level;
    if (level < 0) {
        if (kl - x->lplen < 5 || name[4] != '/')
            return 0;
        char lv[5] = { name[0], name[1], name[2], name[3], 0 };
        level = ltx_parse_s3_level(lv);
        if (level < 0)
            return 0; /* not a level folder */
        name += 5;
    }
    uint64_t mn, mx;
    if (obj_parse_ltx_name(name, kl - (size_t)(name - key), &mn, &mx) != 0)
        return 0; /* foreign */
    if (mn < x->min_from)
        return 0;
    if (x->n == OBJ_MAX_LIST_ENTRIES) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_TOO_LARGE, 0, "more than %u files under %.180s",
                         OBJ_MAX_LIST_ENTRIES, x->lp);
        return -1;
    }
    ltx_fileinfo *g = obj_grow(x->v, &x->cap, x->n, sizeof *x->v, 64);
    if (!g) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing %.180s", x->lp);
        return -1;
    }
    x->v = g;
    ltx_fileinfo *fi = &x->v[x->n++];
    *fi = (ltx_fileinfo){ .level = level, .min_txid = mn, .max_txid = mx, .size = size, .created_ms = mt };
    obj_set_etag(fi->etag, etag, strlen(etag));
    return 0;
}

/* List the LTX files under lp (level >= 0: one level folder, from min_from
 * via start_after; level -1: every level folder under the database prefix),
 * sorted. */
static obj_status list_files(objstore *s, const char *lp, const char *start_after, int level,
                             uint64_t min_from, ltx_fileinfo **out, size_t *n, obj_error *e)
{
    level_ctx x = {
        .s = s, .e = e, .st = OBJ_OK, .lp = lp, .lplen = strlen(lp), .level = level, .min_from = min_from
    };
    obj_status st = s3_list(s, lp, start_after, 0, NULL, level_key, NULL, &x, &x.st, e);
    if (st != OBJ_OK) {
        free(x.v);
        return st;
    }
    objstore_sort_files(x.v, x.n);
    *out = x.v;
    *n = x.n;
    return OBJ_OK;
}

static obj_status s3_list_level(objstore *s, const char *db, int level, uint64_t min_from, ltx_fileinfo **out,
                                size_t *n, obj_error *e)
{
    char lp[1100];
    if (level_prefix(s->s3, db, level, lp, sizeof lp) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "database name too long");
    char start_after[1200] = "", name[LTX_FILENAME_LEN + 1];
    if (min_from > 1) {
        ltx_format_filename(name, min_from - 1, UINT64_MAX);
        snprintf(start_after, sizeof start_after, "%s%s", lp, name);
    }
    return list_files(s, lp, start_after, level, min_from, out, n, e);
}

/* Every level in one paged ListObjectsV2 over "<prefix>/<db>/" without a
 * delimiter: one request per 1000 keys instead of one per level. */
static obj_status s3_list_all(objstore *s, const char *db, ltx_fileinfo **out, size_t *n, obj_error *e)
{
    char dp[1024], lp[1100];
    if (s3_db_path(s->s3, db, dp, sizeof dp) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "database name too long");
    snprintf(lp, sizeof lp, "%s/", dp);
    return list_files(s, lp, NULL, -1, 0, out, n, e);
}

/* ---- list dbs ---- */

typedef struct {
    objstore *s;
    obj_error *e;
    obj_status st;
    size_t rootlen;
    char **v;
    size_t n, cap;
    int found; /* level probe */
    const char *probe;
    size_t probelen;
} dbs_ctx;

static int dbs_prefix(void *u, const char *pfx)
{
    dbs_ctx *x = u;
    size_t pl = strlen(pfx);
    if (pl <= x->rootlen + 1 || pfx[pl - 1] != '/')
        return 0;
    char *name = strndup(pfx + x->rootlen, pl - x->rootlen - 1);
    if (!name) {
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
        return -1;
    }
    if (!dbname_valid(name)) {
        free(name);
        return 0;
    }
    if (x->n == OBJ_MAX_DBS) {
        free(name);
        x->st = obj_fail(x->s, x->e, OBJ_ERR_TOO_LARGE, 0, "more than %u databases", OBJ_MAX_DBS);
        return -1;
    }
    char **g = obj_grow(x->v, &x->cap, x->n, sizeof *x->v, 16);
    if (!g) {
        free(name);
        x->st = obj_fail(x->s, x->e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
        return -1;
    }
    x->v = g;
    x->v[x->n++] = name;
    return 0;
}

static int probe_prefix(void *u, const char *pfx)
{
    dbs_ctx *x = u;
    size_t pl = strlen(pfx);
    if (pl == x->probelen + 5 && !strncmp(pfx, x->probe, x->probelen) && pfx[pl - 1] == '/') {
        char lv[5];
        memcpy(lv, pfx + x->probelen, 4);
        lv[4] = 0;
        if (ltx_parse_s3_level(lv) >= 0)
            x->found = 1;
    }
    return 0;
}

/* Probing candidates for level folders: one small listing each, run by up
 * to PROBE_THREADS threads (the store is thread-safe), so discovery over
 * many databases is not a long serial chain of round trips. */
#define PROBE_THREADS 8

typedef struct {
    objstore *s;
    const char *root;
    char **v;
    size_t *todo; /* indexes into v of the folders to probe */
    size_t n;     /* of todo */
    char *found;
    size_t next;
    pthread_mutex_t mu;
    obj_status st;
    obj_error err;
} probe_pool;

static void *probe_worker(void *u)
{
    probe_pool *pp = u;
    int kind = obj_list_kind;
    obj_list_kind = OBJSTORE_LIST_PROBE;
    for (;;) {
        pthread_mutex_lock(&pp->mu);
        if (pp->st != OBJ_OK || pp->next >= pp->n) {
            pthread_mutex_unlock(&pp->mu);
            break;
        }
        size_t i = pp->todo[pp->next++];
        pthread_mutex_unlock(&pp->mu);
        char probe[1400], pq[1420];
        snprintf(probe, sizeof probe, "%s%s/", pp->root, pp->v[i]);
        snprintf(pq, sizeof pq, "%s000", probe);
        dbs_ctx x = { .s = pp->s, .st = OBJ_OK, .probe = probe, .probelen = strlen(probe) };
        obj_error e;
        obj_status st = s3_list(pp->s, pq, NULL, 1, "20", NULL, probe_prefix, &x, &x.st, &e);
        if (st != OBJ_OK) {
            pthread_mutex_lock(&pp->mu);
            if (pp->st == OBJ_OK) {
                pp->st = st;
                pp->err = e;
            }
            pthread_mutex_unlock(&pp->mu);
            break;
        }
        pp->found[i] = (char)x.found;
    }
    obj_list_kind = kind;
    return NULL;
}

static obj_status s3_list_dbs(objstore *s, objstore_known_fn known, void *ctx, char ***names, size_t *n,
                              obj_error *e)
{
    s3ctx *c = s->s3;
    char root[1100];
    snprintf(root, sizeof root, "%s%s", c->prefix, c->prefix[0] ? "/" : "");
    dbs_ctx x = { .s = s, .e = e, .st = OBJ_OK, .rootlen = strlen(root) };
    obj_status st = s3_list(s, root, NULL, 1, NULL, NULL, dbs_prefix, &x, &x.st, e);
    if (st != OBJ_OK) {
        objstore_free_names(x.v, x.n);
        return st;
    }
    /* keep only folders that hold level folders (<name>/000d/); those the
     * caller knows as replicas are not probed */
    probe_pool pp = { .s = s, .root = root, .v = x.v, .st = OBJ_OK };
    pp.found = calloc(x.n ? x.n : 1, 1);
    pp.todo = malloc((x.n ? x.n : 1) * sizeof *pp.todo);
    if (!pp.found || !pp.todo) {
        free(pp.found);
        free(pp.todo);
        objstore_free_names(x.v, x.n);
        return obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
    }
    for (size_t i = 0; i < x.n; i++) {
        if (known && known(ctx, x.v[i]))
            pp.found[i] = 1;
        else
            pp.todo[pp.n++] = i;
    }
    pthread_mutex_init(&pp.mu, NULL);
    pthread_t th[PROBE_THREADS];
    int nth = 0;
    size_t want = pp.n > 1 ? pp.n - 1 : 0;
    while ((size_t)nth < want && nth < PROBE_THREADS &&
           pthread_create(&th[nth], NULL, probe_worker, &pp) == 0)
        nth++;
    probe_worker(&pp);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pp.mu);
    free(pp.todo);
    if (pp.st != OBJ_OK) {
        if (e)
            *e = pp.err;
        free(pp.found);
        objstore_free_names(x.v, x.n);
        return pp.st;
    }
    size_t kept = 0;
    for (size_t i = 0; i < x.n; i++) {
        char *nm = x.v[i];
        x.v[i] = NULL;
        if (pp.found[i])
            x.v[kept++] = nm;
        else
            free(nm);
    }
    free(pp.found);
    if (kept > 1)
        qsort(x.v, kept, sizeof *x.v, obj_cmp_names);
    if (!kept) {
        free(x.v);
        x.v = NULL;
    }
    *names = x.v;
    *n = kept;
    return OBJ_OK;
}

/* ---- reads -------------------------------------------------------------- */

/* "bytes a-b/total" (total may be "*") */
static int parse_content_range(const char *s, uint64_t *a, uint64_t *b, uint64_t *total)
{
    unsigned long long x, y, t;
    char star[2];
    if (sscanf(s, "bytes %llu-%llu/%llu", &x, &y, &t) == 3) {
        *total = t;
    } else if (sscanf(s, "bytes %llu-%llu/%1[*]", &x, &y, star) == 3) {
        *total = UINT64_MAX;
    } else
        return -1;
    if (y < x)
        return -1;
    *a = x;
    *b = y;
    return 0;
}

/* What a read asked for, for the answer checks below. */
typedef struct {
    const ltx_fileinfo *f;
    uint64_t off; /* read_range */
    size_t len;   /* bytes asked (range, tail) */
    const char *what;
    size_t got; /* read_tail: the bytes of the answer */
} read_ask;

/* read_range: a 206 naming exactly the asked range, with that many bytes.
 * A Content-Range that is not the asked range is retried (a proxy or a
 * flaky store); one that ends at the object's end before the range does is
 * a truncated object; a body unlike its own Content-Range is refused. */
static int check_range(const s3_req *rq, const s3_resp *r, char *why, size_t whylen)
{
    const read_ask *a = rq->check_ctx;
    uint64_t x, y, total;
    if (r->status != 206) {
        if (r->status == 200 && a->off == 0 && r->len == a->len)
            return 0;
        snprintf(why, whylen, "truncated: %.200s gave %zu bytes for %zu at offset %llu (HTTP %ld)", a->what,
                 r->len, a->len, (unsigned long long)a->off, r->status);
        return -1;
    }
    if (parse_content_range(r->content_range, &x, &y, &total) != 0 || x != a->off) {
        snprintf(why, whylen, "%.200s: Content-Range \"%.60s\" is not the range asked", a->what,
                 r->content_range);
        return 1;
    }
    if (y - x + 1 != r->len) {
        snprintf(why, whylen, "truncated: %.200s body %zu bytes, Content-Range says %llu", a->what, r->len,
                 (unsigned long long)(y - x + 1));
        return -1;
    }
    if (r->len != a->len) {
        int at_end = total != UINT64_MAX && y + 1 == total && r->len < a->len;
        snprintf(why, whylen, "truncated: %.200s has %llu bytes, wanted %zu at offset %llu", a->what,
                 (unsigned long long)total, a->len, (unsigned long long)a->off);
        return at_end ? -1 : 1;
    }
    return 0;
}

/* read_tail: a 206 ending at the object's end, or a 200 with the whole
 * (smaller) object; the size must be the listing's. */
static int check_tail(const s3_req *rq, const s3_resp *r, char *why, size_t whylen)
{
    const read_ask *a = rq->check_ctx;
    uint64_t x, y, total = 0;
    if (r->status == 206) {
        if (parse_content_range(r->content_range, &x, &y, &total) != 0 || total == UINT64_MAX ||
            y + 1 != total) {
            snprintf(why, whylen, "%.200s: bad Content-Range \"%.60s\"", a->what, r->content_range);
            return 1;
        }
        if (y - x + 1 != r->len) {
            snprintf(why, whylen, "truncated: %.200s body %zu bytes, Content-Range says %llu", a->what,
                     r->len, (unsigned long long)(y - x + 1));
            return -1;
        }
    } else if (r->status == 200) {
        total = r->len; /* whole object, smaller than len */
        if (r->content_length >= 0 && (uint64_t)r->content_length != r->len) {
            snprintf(why, whylen, "truncated: %.200s body shorter than Content-Length", a->what);
            return 1;
        }
    } else {
        snprintf(why, whylen, "%.200s: unexpected HTTP %ld", a->what, r->status);
        return -1;
    }
    if (a->f->size && total != a->f->size) {
        snprintf(why, whylen, "%.200s has %llu bytes but the listing said %llu", a->what,
                 (unsigned long long)total, (unsigned long long)a->f->size);
        return -1;
    }
    if (r->len != (a->len < total ? a->len : total)) {
        snprintf(why, whylen, "truncated: %.200s tail is %zu bytes", a->what, r->len);
        return 1;
    }
    return 0;
}

/* read_file: a 200 whose body is its Content-Length and the listed size. */
static int check_whole(const s3_req *rq, const s3_resp *r, char *why, size_t whylen)
{
    const read_ask *a = rq->check_ctx;
    if (r->status != 200) {
        snprintf(why, whylen, "%.200s: unexpected HTTP %ld", a->what, r->status);
        return -1;
    }
    if (r->content_length >= 0 && (uint64_t)r->content_length != r->len) {
        snprintf(why, whylen, "truncated: %.200s body %zu of %lld bytes", a->what, r->len, r->content_length);
        return 1;
    }
    if (a->f && a->f->size && a->f->size != r->len) {
        snprintf(why, whylen, "%.200s has %zu bytes but the listing said %llu", a->what, r->len,
                 (unsigned long long)a->f->size);
        return -1;
    }
    return 0;
}

/* One ranged GET of f into buf (at most len bytes) for read_range (tail 0,
 * range starting at off) and read_tail (tail 1), tied to f's version when
 * known. Maps a 416 to OBJ_ERR_INVALID. */
static obj_status ranged_get(objstore *s, const char *db, read_ask *a, int tail, uint8_t *buf, s3_resp *r,
                             char *what, size_t whatlen, obj_error *e)
{
    s3ctx *c = s->s3;
    char key[1200], range[64];
    if (s3_file_key(c, db, a->f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    s3_obj_name(c, key, what, whatlen);
    a->what = what;
    if (tail)
        snprintf(range, sizeof range, "bytes=-%zu", a->len);
    else
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)a->off,
                 (unsigned long long)(a->off + a->len - 1));
    s3_req rq = { .method = "GET",
                  .key = key,
                  .range = range,
                  .dst = buf,
                  .max_body = a->len,
                  .expect_bytes = a->len,
                  .if_match = a->f->etag[0] ? a->f->etag : NULL,
                  .retry_overflow = 1,
                  .check = tail ? check_tail : check_range,
                  .check_ctx = a };
    OBJ_COUNT(s, gets, 1);
    obj_status st = s3_request(s, &rq, r, e);
    if (st == OBJ_ERR_TOO_LARGE)
        st =
            obj_fail(s, e, OBJ_ERR_INVALID, r->status,
                     "%.200s: server sent more than the %zu bytes asked (HTTP %ld)", what, a->len, r->status);
    else if (st == OBJ_ERR_INVALID && r->status == 416 && tail)
        st = obj_fail(s, e, OBJ_ERR_INVALID, 416, "truncated: %.200s is empty", what);
    else if (st == OBJ_ERR_INVALID && r->status == 416)
        st = obj_fail(s, e, OBJ_ERR_INVALID, 416, "truncated: %.200s has no byte %llu", what,
                      (unsigned long long)a->off);
    if (st == OBJ_OK)
        OBJ_COUNT(s, bytes_read, r->len);
    return st;
}

static obj_status s3_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off, size_t len,
                                uint8_t *buf, obj_error *e)
{
    char what[1300];
    s3_resp r = { 0 };
    read_ask a = { .f = f, .off = off, .len = len };
    obj_status st = ranged_get(s, db, &a, 0, buf, &r, what, sizeof what, e);
    s3_resp_free(&r);
    return st;
}

static obj_status s3_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                               size_t *got, obj_error *e)
{
    char what[1300];
    s3_resp r = { 0 };
    read_ask a = { .f = f, .len = len };
    obj_status st = ranged_get(s, db, &a, 1, buf, &r, what, sizeof what, e);
    if (st == OBJ_OK)
        *got = r.len;
    s3_resp_free(&r);
    return st;
}

obj_status s3_get_key(objstore *s, const char *key, const ltx_fileinfo *f, size_t max_bytes, uint8_t **buf,
                      size_t *len, char *etag, obj_error *e)
{
    char what[1300];
    s3_obj_name(s->s3, key, what, sizeof what);
    read_ask a = { .f = f, .what = what };
    s3_req rq = { .method = "GET",
                  .key = key,
                  .max_body = max_bytes,
                  .expect_bytes = f && f->size ? f->size : max_bytes,
                  .if_match = f && f->etag[0] ? f->etag : NULL,
                  .check = check_whole,
                  .check_ctx = &a };
    s3_resp r = { 0 };
    OBJ_COUNT(s, gets, 1);
    obj_status st = s3_request(s, &rq, &r, e);
    if (st == OBJ_OK) {
        OBJ_COUNT(s, bytes_read, r.len);
        if (!r.grow)
            r.grow = malloc(1);
        if (!r.grow)
            st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory reading %.200s", what);
    }
    if (st == OBJ_OK) {
        *buf = r.grow;
        *len = r.len;
        r.grow = NULL;
        obj_set_etag(etag, r.etag, strlen(r.etag));
    }
    s3_resp_free(&r);
    return st;
}

static obj_status s3_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                               uint8_t **buf, size_t *len, obj_error *e)
{
    char key[1200];
    if (s3_file_key(s->s3, db, f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    return s3_get_key(s, key, f, max_bytes, buf, len, NULL, e);
}

static obj_status s3_write_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                                const uint8_t *buf, size_t len, int64_t timestamp_ms, obj_error *e)
{
    return s3_put_file(s, db, level, min_txid, max_txid, buf, len, timestamp_ms, OBJ_PUT_ANY, NULL, e);
}

static obj_status s3_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    s3ctx *c = s->s3;
    char key[1200];
    if (s3_file_key(c, db, f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    s3_req rq = { .method = "DELETE", .key = key, .max_body = 1 << 20 };
    s3_resp r = { 0 };
    OBJ_COUNT(s, deletes, 1);
    obj_status st = s3_request(s, &rq, &r, e);
    s3_resp_free(&r);
    return st;
}

static obj_status s3_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                    obj_error *e)
{
    s3ctx *c = s->s3;
    char key[1200], what[1300];
    if (s3_file_key(c, db, f, key, sizeof key) != 0)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "key too long");
    s3_obj_name(c, key, what, sizeof what);
    s3_req rq = {
        .method = "HEAD", .key = key, .max_body = 1 << 20, .if_match = f->etag[0] ? f->etag : NULL
    };
    s3_resp r = { 0 };
    OBJ_COUNT(s, heads, 1);
    obj_status st = s3_request(s, &rq, &r, e);
    if (st == OBJ_OK) {
        if (r.meta_ts[0]) {
            if (timefmt_parse_rfc3339(r.meta_ts, ms) != 0)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: bad litestream-timestamp \"%.40s\"",
                              what, r.meta_ts);
        } else {
            time_t t = r.last_modified[0] ? curl_getdate(r.last_modified, NULL) : (time_t)-1;
            if (t == (time_t)-1)
                st = obj_fail(s, e, OBJ_ERR_INVALID, r.status, "%.200s: no timestamp in HEAD answer", what);
            else
                *ms = (int64_t)t * 1000;
        }
    }
    s3_resp_free(&r);
    return st;
}

const obj_backend obj_s3_backend = {
    .list_dbs = s3_list_dbs,
    .list_level = s3_list_level,
    .list_all = s3_list_all,
    .read_range = s3_read_range,
    .read_tail = s3_read_tail,
    .read_file = s3_read_file,
    .write_file = s3_write_file,
    .delete_file = s3_delete_file,
    .file_timestamp = s3_file_timestamp,
    .get_object = s3_get_object,
    .put_object = s3_put_object,
    .delete_object = s3_delete_object,
    .publish_file = s3_publish_file,
    .delete_file_if_match = s3_delete_file_if_match,
    .check_folder = NULL,
    .close = s3_close,
};
