/* disk.c - the local disk tier of verified LTX files (see disk.h). */
#include "disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_internal.h"
#include "dbname.h"
#include "hash.h"
#include "log.h"

#define DISK_MAX_FILES 65536u /* entries kept (cap of the table) */
#define DISK_NBUCKETS  65536u
#define DISK_QUEUE     256u /* fetches waiting (more are dropped: the next miss asks again) */
#define DISK_KEY_MAX   (DBNAME_MAX + 96)
#define DISK_CHUNK     (1u << 20) /* verification read size */

enum { DE_FREE = 0, DE_BUSY, DE_UNVERIFIED, DE_READY };

typedef struct {
    char key[DISK_KEY_MAX]; /* "<db>/<level>-<min>-<max>-<size>-<created>" */
    uint64_t h, size;
    int64_t used; /* mono ms (wall ms of the file's mtime after a scan) */
    int state;
    int32_t next; /* bucket chain, or free list */
} disk_entry;

typedef struct {
    int32_t idx;
    objstore *store; /* a source's store: lives until srv_destroy */
    char prefix[DBNAME_MAX + 1];
    ltx_fileinfo f;
} disk_job;

struct disk_tier {
    char *dir;
    size_t cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int stop, started;
    disk_entry *e; /* entries [0, ne); free ones chain from free_head */
    uint32_t ne, cape;
    int32_t free_head;
    int32_t *bucket;
    disk_job q[DISK_QUEUE];
    uint32_t qhead, qn;
    uint32_t unverified;
    uint64_t bytes, files;
    atomic_uint_fast64_t hits, misses, fetches, fetch_errors, rejected, evictions;
};

static void disk_key(char *out, const char *db, const ltx_fileinfo *f)
{
    snprintf(out, DISK_KEY_MAX, "%s/%02x-%016" PRIx64 "-%016" PRIx64 "-%" PRIu64 "-%" PRId64, db,
             (unsigned)f->level, f->min_txid, f->max_txid, f->size, f->created_ms);
}

static void disk_path(const disk_tier *t, char *out, size_t n, const char *key, const char *tmp)
{
    const char *slash = strchr(key, '/');
    if (tmp && slash)
        snprintf(out, n, "%s/%.*s/.%s.tmp", t->dir, (int)(slash - key), key, slash + 1);
    else
        snprintf(out, n, "%s/%s.ltx", t->dir, key);
}

/* ---- table (under mu) --------------------------------------------------- */

static int32_t disk_find(disk_tier *t, const char *key, uint64_t h)
{
    for (int32_t i = t->bucket[h % DISK_NBUCKETS]; i >= 0; i = t->e[i].next)
        if (t->e[i].h == h && strcmp(t->e[i].key, key) == 0)
            return i;
    return -1;
}

static int32_t disk_add(disk_tier *t, const char *key, uint64_t h, uint64_t size, int state, int64_t used)
{
    int32_t i = t->free_head;
    if (i >= 0) {
        t->free_head = t->e[i].next;
    } else {
        if (t->ne == t->cape) {
            uint32_t nc = t->cape ? t->cape * 2 : 256;
            if (nc > DISK_MAX_FILES)
                nc = DISK_MAX_FILES;
            if (nc == t->cape)
                return -1;
            disk_entry *n = realloc(t->e, (size_t)nc * sizeof *n);
            if (!n)
                return -1;
            t->e = n;
            t->cape = nc;
        }
        i = (int32_t)t->ne++;
    }
    disk_entry *x = &t->e[i];
    snprintf(x->key, sizeof x->key, "%s", key);
    x->h = h;
    x->size = size;
    x->used = used;
    x->state = state;
    x->next = t->bucket[h % DISK_NBUCKETS];
    t->bucket[h % DISK_NBUCKETS] = i;
    if (state == DE_UNVERIFIED)
        t->unverified++;
    if (state == DE_UNVERIFIED || state == DE_READY) {
        t->bytes += size;
        t->files++;
    }
    return i;
}

/* Remove entry i (and its file when unlink_file). */
static void disk_remove(disk_tier *t, int32_t i, int unlink_file)
{
    disk_entry *x = &t->e[i];
    int32_t *pp = &t->bucket[x->h % DISK_NBUCKETS];
    while (*pp != i)
        pp = &t->e[*pp].next;
    *pp = x->next;
    if (x->state == DE_UNVERIFIED)
        t->unverified--;
    if (x->state == DE_UNVERIFIED || x->state == DE_READY) {
        t->bytes -= x->size;
        t->files--;
    }
    if (unlink_file) {
        char p[4096];
        disk_path(t, p, sizeof p, x->key, NULL);
        unlink(p);
    }
    x->state = DE_FREE;
    x->next = t->free_head;
    t->free_head = i;
}

/* Least recently read files go until the bytes kept fit the cap. */
static void disk_evict(disk_tier *t)
{
    while (t->bytes > t->cap) {
        int32_t victim = -1;
        for (uint32_t i = 0; i < t->ne; i++)
            if ((t->e[i].state == DE_READY || t->e[i].state == DE_UNVERIFIED) &&
                (victim < 0 || t->e[i].used < t->e[victim].used))
                victim = (int32_t)i;
        if (victim < 0)
            return;
        disk_remove(t, victim, 1);
        atomic_fetch_add(&t->evictions, 1);
    }
}

/* ---- background work ---------------------------------------------------- */

static int disk_write_file(disk_tier *t, const char *key, const uint8_t *buf, size_t len)
{
    char p[4096], tmp[4096];
    const char *slash = strchr(key, '/');
    snprintf(p, sizeof p, "%s/%.*s", t->dir, (int)(slash - key), key);
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return -1;
    disk_path(t, tmp, sizeof tmp, key, "tmp");
    disk_path(t, p, sizeof p, key, NULL);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    /* no fsync: a file cut short by a crash fails its verification at the next start */
    if (close(fd) != 0 || done != len || rename(tmp, p) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void disk_fetch(disk_tier *t, const disk_job *j)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    obj_error oe = { 0 };
    int ok = 0;
    obj_status st = objstore_read_file(j->store, j->prefix, &j->f, (size_t)j->f.size, &buf, &len, &oe);
    atomic_fetch_add(&t->fetches, 1);
    if (st == OBJ_OK && len == j->f.size) {
        ltx_file_info info;
        ltx_error le = { 0 };
        memset(&info, 0, sizeof info);
        ok = ltx_file_decode(buf, len, NULL, NULL, &info, &le) == LTX_OK &&
             info.header.min_txid == j->f.min_txid && info.header.max_txid == j->f.max_txid;
        ltx_file_info_free(&info);
    }
    char key[DISK_KEY_MAX];
    pthread_mutex_lock(&t->mu);
    snprintf(key, sizeof key, "%s", t->e[j->idx].key); /* a busy entry stays put; the array may move */
    pthread_mutex_unlock(&t->mu);
    ok = ok && disk_write_file(t, key, buf, len) == 0;
    free(buf);
    pthread_mutex_lock(&t->mu);
    disk_entry *x = &t->e[j->idx];
    if (ok) {
        x->state = DE_READY;
        x->used = mono_ms();
        t->bytes += x->size;
        t->files++;
        disk_evict(t);
    } else {
        atomic_fetch_add(&t->fetch_errors, 1);
        disk_remove(t, j->idx, 0);
    }
    pthread_mutex_unlock(&t->mu);
}

/* Verify a file found at start: every byte through the LTX verifier, its
 * header's TXIDs against its name. */
static int disk_verify(const char *path, uint64_t size, const char *key, uint8_t *chunk)
{
    unsigned level;
    uint64_t min, max;
    const char *slash = strchr(key, '/');
    if (!slash || sscanf(slash + 1, "%2x-%16" SCNx64 "-%16" SCNx64, &level, &min, &max) != 3)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ltx_verifier *v = ltx_verifier_new();
    ltx_error le = { 0 };
    int rc = v ? 0 : -1;
    uint64_t total = 0;
    ssize_t r = 0;
    while (rc == 0 && (r = read(fd, chunk, DISK_CHUNK)) > 0) {
        total += (uint64_t)r;
        if (ltx_verifier_feed(v, chunk, (size_t)r, &le) != LTX_OK)
            rc = -1;
    }
    close(fd);
    ltx_file_info info;
    memset(&info, 0, sizeof info);
    if (rc == 0 && (r < 0 || total != size || ltx_verifier_finish(v, &info, &le) != LTX_OK ||
                    info.header.min_txid != min || info.header.max_txid != max))
        rc = -1;
    ltx_file_info_free(&info);
    ltx_verifier_free(v);
    return rc;
}

static void disk_verify_one(disk_tier *t, int32_t i, uint8_t *chunk)
{
    char key[DISK_KEY_MAX], p[4096];
    snprintf(key, sizeof key, "%s", t->e[i].key);
    uint64_t size = t->e[i].size;
    t->e[i].state = DE_BUSY; /* still counted in bytes and files */
    t->unverified--;
    pthread_mutex_unlock(&t->mu);
    disk_path(t, p, sizeof p, key, NULL);
    int ok = chunk && disk_verify(p, size, key, chunk) == 0;
    pthread_mutex_lock(&t->mu);
    if (ok) {
        t->e[i].state = DE_READY;
    } else {
        t->e[i].state = DE_READY; /* so disk_remove uncounts it */
        disk_remove(t, i, 1);
        atomic_fetch_add(&t->rejected, 1);
        logf_(LOG_WARN, "disk_rejected", "file=%s reason=\"failed verification\"", key);
    }
}

static void *disk_main(void *arg)
{
    disk_tier *t = arg;
    uint8_t *chunk = malloc(DISK_CHUNK);
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        if (t->qn) {
            disk_job j = t->q[t->qhead];
            t->qhead = (t->qhead + 1) % DISK_QUEUE;
            t->qn--;
            pthread_mutex_unlock(&t->mu);
            disk_fetch(t, &j);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        int32_t u = -1;
        for (uint32_t i = 0; t->unverified && i < t->ne && u < 0; i++)
            if (t->e[i].state == DE_UNVERIFIED)
                u = (int32_t)i;
        if (u >= 0) {
            disk_verify_one(t, u, chunk);
            continue;
        }
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    free(chunk);
    return NULL;
}

/* ---- start: scan what an earlier run left ----------------------------- */

static void disk_scan_db(disk_tier *t, const char *db)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", t->dir, db);
    DIR *d = opendir(p);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char fp[4096 + 512], key[DISK_KEY_MAX], want[DISK_KEY_MAX + 8];
        snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
        if (de->d_name[0] == '.') {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlink(fp); /* a write cut short */
            continue;
        }
        ltx_fileinfo f = { 0 };
        unsigned level = 0;
        struct stat sb = { 0 };
        int ok = sscanf(de->d_name, "%2x-%16" SCNx64 "-%16" SCNx64 "-%" SCNu64 "-%" SCNd64, &level,
                        &f.min_txid, &f.max_txid, &f.size, &f.created_ms) == 5 &&
                 level <= LTX_MAX_LEVEL;
        f.level = (int)level;
        if (ok) {
            disk_key(key, db, &f);
            snprintf(want, sizeof want, "%s.ltx", strchr(key, '/') + 1);
            ok = strcmp(want, de->d_name) == 0 && stat(fp, &sb) == 0 && S_ISREG(sb.st_mode) &&
                 (uint64_t)sb.st_size == f.size;
        }
        uint64_t h = ok ? hash_fnv1a64_str(key) : 0;
        if (!ok || disk_find(t, key, h) >= 0 ||
            disk_add(t, key, h, f.size, DE_UNVERIFIED, (int64_t)sb.st_mtime * 1000 - timefmt_now_ms()) < 0)
            unlink(fp);
    }
    closedir(d);
}

disk_tier *disk_open(const char *dir, size_t cap_bytes, char *msg, size_t msglen)
{
    if (strlen(dir) > 3000) {
        snprintf(msg, msglen, "--cache-dir path too long");
        return NULL;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, msglen, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, msglen, "cannot open %s: %s", dir, strerror(errno));
        return NULL;
    }
    disk_tier *t = calloc(1, sizeof *t);
    if (t) {
        t->dir = strdup(dir);
        t->bucket = malloc(DISK_NBUCKETS * sizeof *t->bucket);
    }
    if (!t || !t->dir || !t->bucket) {
        closedir(d);
        snprintf(msg, msglen, "out of memory");
        disk_close(t);
        return NULL;
    }
    t->cap = cap_bytes;
    t->free_head = -1;
    memset(t->bucket, 0xff, DISK_NBUCKETS * sizeof *t->bucket);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (dbname_valid(de->d_name))
            disk_scan_db(t, de->d_name);
    closedir(d);
    disk_evict(t);
    if (pthread_create(&t->th, NULL, disk_main, t) != 0) {
        snprintf(msg, msglen, "cannot start the disk tier thread");
        disk_close(t);
        return NULL;
    }
    t->started = 1;
    logf_(LOG_INFO, "disk_tier", "dir=%s cap_bytes=%zu files=%" PRIu64 " bytes=%" PRIu64, dir, cap_bytes,
          t->files, t->bytes);
    return t;
}

void disk_close(disk_tier *t)
{
    if (!t)
        return;
    if (t->started) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->th, NULL);
    }
    if (t->bucket) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
    }
    free(t->e);
    free(t->bucket);
    free(t->dir);
    free(t);
}

void disk_get_stats(disk_tier *t, disk_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    out->hits = atomic_load(&t->hits);
    out->misses = atomic_load(&t->misses);
    out->fetches = atomic_load(&t->fetches);
    out->fetch_errors = atomic_load(&t->fetch_errors);
    out->rejected = atomic_load(&t->rejected);
    out->evictions = atomic_load(&t->evictions);
    pthread_mutex_lock(&t->mu);
    out->files = t->files;
    out->bytes = t->bytes;
    out->unverified = t->unverified;
    pthread_mutex_unlock(&t->mu);
}

json_t *disk_status_json(disk_tier *t)
{
    if (!t)
        return json_null();
    disk_stats st;
    disk_get_stats(t, &st);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dir", t->dir, "cap_bytes",
                     (json_int_t)t->cap, "files", (json_int_t)st.files, "bytes", (json_int_t)st.bytes,
                     "unverified", (json_int_t)st.unverified, "hits", (json_int_t)st.hits, "misses",
                     (json_int_t)st.misses, "fetches", (json_int_t)st.fetches, "fetch_errors",
                     (json_int_t)st.fetch_errors, "rejected", (json_int_t)st.rejected, "evictions",
                     (json_int_t)st.evictions);
}

/* ---- the read path ------------------------------------------------------ */

/* pread len bytes at off of the tier's copy of key: 0 ok, -1 not readable. */
static int disk_pread(disk_tier *t, const char *key, uint64_t off, size_t len, uint8_t *buf)
{
    char p[4096];
    disk_path(t, p, sizeof p, key, NULL);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    return done == len ? 0 : -1;
}

obj_status disk_read_range(ltxdb *d, const ltx_fileinfo *f, uint64_t off, size_t len, uint8_t *buf,
                           obj_error *e)
{
    disk_tier *t = d->srv->disk;
    if (!t)
        return objstore_read_range(d->store, d->prefix, f, off, len, buf, e);
    char key[DISK_KEY_MAX];
    disk_key(key, d->name, f);
    uint64_t h = hash_fnv1a64_str(key);
    pthread_mutex_lock(&t->mu);
    int32_t i = disk_find(t, key, h);
    int ready = i >= 0 && t->e[i].state == DE_READY;
    if (ready) {
        t->e[i].used = mono_ms();
    } else if (i < 0 && f->size <= t->cap / 4 && t->qn < DISK_QUEUE && strlen(d->prefix) <= DBNAME_MAX &&
               (i = disk_add(t, key, h, f->size, DE_BUSY, mono_ms())) >= 0) {
        disk_job *j = &t->q[(t->qhead + t->qn++) % DISK_QUEUE];
        j->idx = i;
        j->store = d->store;
        snprintf(j->prefix, sizeof j->prefix, "%s", d->prefix);
        j->f = *f;
        pthread_cond_signal(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    if (ready && off + len <= f->size && disk_pread(t, key, off, len, buf) == 0) {
        atomic_fetch_add(&t->hits, 1);
        return OBJ_OK;
    }
    if (ready) { /* gone or cut short under us: forget it */
        pthread_mutex_lock(&t->mu);
        i = disk_find(t, key, h);
        if (i >= 0 && t->e[i].state == DE_READY)
            disk_remove(t, i, 1);
        pthread_mutex_unlock(&t->mu);
    }
    atomic_fetch_add(&t->misses, 1);
    return objstore_read_range(d->store, d->prefix, f, off, len, buf, e);
}
