/* file_objects.c - the file backend's small objects and conditional
 * writes: <root>/<db>/<name> (db "": <root>/<name>), and create-only
 * publish of LTX files.
 *
 * Every write goes to a hidden temporary file in the target folder
 * (".<name>.<random>.tmp", O_EXCL), is fsynced, and is installed with
 * link() (create-only: atomic, and EEXIST when the name is taken) or
 * rename() (after comparing the version), then the folder is fsynced.
 * Compare-and-swap steps hold an flock on the folder, so they are atomic
 * between threads and processes on one host. A version is
 * "<inode hex>-<mtime ns hex>"; a replacing write gives its file an mtime
 * after the replaced one's, so a version never repeats for a name. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "file_internal.h"
#include "rng.h"

#define LOCK_WAIT_MS 10000 /* an flock held longer than this: OBJ_ERR_TIMEOUT */

/* A temporary file being written. */
typedef struct {
    char tmp[PATH_MAX]; /* "" once renamed or removed */
    int fd;
} file_tmp;

static void tmp_drop(file_tmp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->tmp[0])
        unlink(t->tmp);
    t->fd = -1;
    t->tmp[0] = 0;
}

static uint64_t tmp_random(void)
{
    static _Thread_local uint64_t seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 17) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
               (uint64_t)(uintptr_t)&seed;
        if (!seed)
            seed = 0x9e3779b97f4a7c15ull;
    }
    return rng_xorshift64(&seed);
}

/* Creates dir (mkdir -p) and writes buf into a new temporary file there,
 * mtime set to ts_ms when ts_ms >= 0, fsynced; t->fd stays open. */
static obj_status tmp_write(objstore *s, const char *dir, const char *name, const uint8_t *buf, size_t len,
                            int64_t ts_ms, file_tmp *t, obj_error *e)
{
    t->fd = -1;
    t->tmp[0] = 0;
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", dir);
    if (file_mkdirs(d) != 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status_io(err), 0, "create folder %.180s: %s", dir, strerror(err));
    }
    for (int i = 0; i < 8 && t->fd < 0; i++) {
        int k = snprintf(t->tmp, sizeof t->tmp, "%s/.%s.%016llx.tmp", dir, name,
                         (unsigned long long)tmp_random());
        if (k < 0 || (size_t)k >= sizeof t->tmp)
            return obj_fail(s, e, OBJ_ERR_INVALID, 0, "path too long");
        t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (t->fd < 0 && errno != EEXIST)
            break;
    }
    if (t->fd < 0) {
        int err = errno;
        t->tmp[0] = 0;
        return obj_fail(s, e, file_errno_status_io(err), 0, "create a temporary file in %.180s: %s", dir,
                        strerror(err));
    }
    const char *step = "write";
    int ok = file_write_all(t->fd, buf, len) == 0;
    if (ok && ts_ms >= 0) {
        struct timespec ts[2] = { { 0, UTIME_OMIT },
                                  { (time_t)(ts_ms / 1000), (long)(ts_ms % 1000) * 1000000L } };
        step = "set mtime of";
        ok = futimens(t->fd, ts) == 0;
    }
    if (ok) {
        step = "fsync";
        ok = fsync(t->fd) == 0;
    }
    if (!ok) {
        int err = errno;
        obj_status st = obj_fail(s, e, OBJ_ERR_IO, 0, "%s %.200s: %s", step, t->tmp, strerror(err));
        tmp_drop(t);
        return st;
    }
    return OBJ_OK;
}

/* flock(dir, LOCK_EX), waiting at most LOCK_WAIT_MS; the fd, or -1 with e. */
static int lock_dir(objstore *s, const char *dir, obj_error *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        obj_fail(s, e, file_errno_status(err), 0, "open folder %.180s: %s", dir, strerror(err));
        return -1;
    }
    for (int waited = 0;; waited += 5) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        int err = errno;
        if (err == EINTR)
            continue;
        if (err != EWOULDBLOCK || waited >= LOCK_WAIT_MS || obj_stopped(s)) {
            close(fd);
            obj_status st = err != EWOULDBLOCK ? OBJ_ERR_IO
                            : obj_stopped(s)   ? OBJ_ERR_ABORTED
                                               : OBJ_ERR_TIMEOUT;
            obj_fail(s, e, st, 0, "lock folder %.180s: %s", dir,
                     err == EWOULDBLOCK ? "held by another writer too long" : strerror(err));
            return -1;
        }
        struct timespec d = { 0, 5000000L };
        nanosleep(&d, NULL);
    }
}

/* Folder and path of the object name: <root>[/<db>] and .../<name>. */
static obj_status object_path(objstore *s, const char *db, const char *name, char *dir, char *path,
                              obj_error *e)
{
    int k = snprintf(dir, PATH_MAX, "%s%s%s", s->root, db[0] ? "/" : "", db);
    if (k < 0 || k >= PATH_MAX)
        return file_path_too_long(s, e, db);
    if (!dir[0])
        snprintf(dir, PATH_MAX, "/");
    k = snprintf(path, PATH_MAX, "%s/%s", s->root, name);
    if (db[0])
        k = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_MAX)
        return file_path_too_long(s, e, db);
    return OBJ_OK;
}

/* The version of path now: OBJ_OK with *sb and etag, OBJ_NOT_FOUND, or an error. */
static obj_status current_version(objstore *s, const char *path, struct stat *sb, char *etag, obj_error *e)
{
    if (lstat(path, sb) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return obj_fail(s, e, OBJ_NOT_FOUND, 0, "%.200s does not exist", path);
        return obj_fail(s, e, file_errno_status_io(err), 0, "stat %.200s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb->st_mode))
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "%.200s is not a regular file", path);
    file_etag(sb, etag);
    return OBJ_OK;
}

/* Gives the temporary file an mtime after cur's (the version it replaces),
 * so (inode, mtime) never comes back for this name; fsyncs it again. */
static int mtime_after(int fd, const struct stat *cur)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return -1;
    int later = sb.st_mtim.tv_sec > cur->st_mtim.tv_sec ||
                (sb.st_mtim.tv_sec == cur->st_mtim.tv_sec && sb.st_mtim.tv_nsec > cur->st_mtim.tv_nsec);
    if (later)
        return 0;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, cur->st_mtim };
    if (++ts[1].tv_nsec >= 1000000000L) {
        ts[1].tv_sec++;
        ts[1].tv_nsec = 0;
    }
    return futimens(fd, ts) == 0 && fsync(fd) == 0 ? 0 : -1;
}

/* Installs t at path under the folder lock as cond asks; t->tmp is gone
 * afterwards on success. */
static obj_status install(objstore *s, const char *path, int cond, const char *if_match, file_tmp *t,
                          obj_error *e)
{
    struct stat cur;
    char now[LTX_ETAG_MAX];
    if (cond == OBJ_PUT_ABSENT) {
        if (link(t->tmp, path) != 0) {
            int err = errno;
            if (err == EEXIST)
                return obj_fail(s, e, OBJ_EXISTS, 0, "%.200s exists already", path);
            return obj_fail(s, e, file_errno_status_io(err), 0, "link %.200s: %s", path, strerror(err));
        }
        unlink(t->tmp);
        t->tmp[0] = 0;
        return OBJ_OK;
    }
    obj_status st = current_version(s, path, &cur, now, e);
    if (cond == OBJ_PUT_MATCH && st != OBJ_OK)
        return st;
    if (cond == OBJ_PUT_MATCH && strcmp(now, if_match) != 0)
        return obj_fail(s, e, OBJ_CHANGED, 0, "%.200s changed: version %s, not %s", path, now, if_match);
    if (st == OBJ_OK && mtime_after(t->fd, &cur) != 0) {
        int err = errno;
        return obj_fail(s, e, OBJ_ERR_IO, 0, "set mtime of %.200s: %s", t->tmp, strerror(err));
    }
    obj_ok(e);
    if (rename(t->tmp, path) != 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status_io(err), 0, "rename to %.200s: %s", path, strerror(err));
    }
    t->tmp[0] = 0;
    return OBJ_OK;
}

/* Writes buf as path in dir (conditionally), durable; etag = new version. */
static obj_status put_path(objstore *s, const char *dir, const char *path, const char *name,
                           const uint8_t *buf, size_t len, int64_t ts_ms, int cond, const char *if_match,
                           struct stat *out, obj_error *e)
{
    file_tmp t;
    obj_status st = tmp_write(s, dir, name, buf, len, ts_ms, &t, e);
    if (st != OBJ_OK)
        return st;
    int lk = cond == OBJ_PUT_ABSENT ? -2 : lock_dir(s, dir, e); /* link() needs no lock */
    if (lk == -1) {
        tmp_drop(&t);
        return e ? e->code : OBJ_ERR_IO;
    }
    st = install(s, path, cond, if_match, &t, e);
    if (st == OBJ_OK && file_fsync_dir(dir) != 0) {
        int err = errno;
        st = obj_fail(s, e, OBJ_ERR_IO, 0, "fsync folder %.200s: %s", dir, strerror(err));
    }
    if (lk >= 0)
        close(lk);
    if (st == OBJ_OK && fstat(t.fd, out) != 0) {
        int err = errno;
        st = obj_fail(s, e, OBJ_ERR_IO, 0, "stat %.200s: %s", path, strerror(err));
    }
    tmp_drop(&t);
    if (st == OBJ_OK)
        OBJ_COUNT(s, bytes_written, len);
    return st;
}

obj_status file_put_object(objstore *s, const char *db, const char *name, const uint8_t *buf, size_t len,
                           int cond, const char *if_match, char *etag, obj_error *e)
{
    OBJ_COUNT(s, puts, 1);
    char dir[PATH_MAX], path[PATH_MAX];
    obj_status st = object_path(s, db, name, dir, path, e);
    struct stat sb;
    if (st == OBJ_OK)
        st = put_path(s, dir, path, name, buf, len, -1, cond, if_match, &sb, e);
    if (st == OBJ_OK && etag)
        file_etag(&sb, etag);
    return st;
}

obj_status file_get_object(objstore *s, const char *db, const char *name, size_t max_bytes, uint8_t **buf,
                           size_t *len, char *etag, obj_error *e)
{
    OBJ_COUNT(s, gets, 1);
    char dir[PATH_MAX], path[PATH_MAX];
    obj_status st = object_path(s, db, name, dir, path, e);
    if (st != OBJ_OK)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status(err), 0, "open %.200s: %s", path, strerror(err));
    }
    struct stat sb;
    uint8_t *b = NULL;
    size_t got = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = obj_fail(s, e, OBJ_ERR_INVALID, 0, "%.200s is not a regular file", path);
    else if ((uint64_t)sb.st_size > max_bytes)
        st = obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "%.200s has %lld bytes, more than the cap %zu", path,
                      (long long)sb.st_size, max_bytes);
    else if (!(b = malloc(sb.st_size ? (size_t)sb.st_size : 1)))
        st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory reading %.200s", path);
    while (st == OBJ_OK && got < (size_t)sb.st_size) {
        ssize_t r = pread(fd, b + got, (size_t)sb.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? errno : 0;
            st = obj_fail(s, e, OBJ_ERR_IO, 0, "read %.200s: %s", path, err ? strerror(err) : "file shrank");
        } else {
            got += (size_t)r;
        }
    }
    close(fd);
    if (st != OBJ_OK) {
        free(b);
        return st;
    }
    OBJ_COUNT(s, bytes_read, got);
    *buf = b;
    *len = got;
    if (etag)
        file_etag(&sb, etag);
    return OBJ_OK;
}

/* Deletes path (in dir) if its version is if_match (NULL: any, idempotent). */
static obj_status delete_path(objstore *s, const char *dir, const char *path, const char *if_match,
                              obj_error *e)
{
    OBJ_COUNT(s, deletes, 1);
    int lk = lock_dir(s, dir, e);
    if (lk < 0) {
        if (e && e->code == OBJ_NOT_FOUND)
            return if_match ? OBJ_NOT_FOUND : (obj_ok(e), OBJ_OK);
        return e ? e->code : OBJ_ERR_IO;
    }
    struct stat cur;
    char now[LTX_ETAG_MAX];
    obj_status st = current_version(s, path, &cur, now, e);
    if (st == OBJ_NOT_FOUND && !if_match) {
        obj_ok(e);
        st = OBJ_NOT_FOUND; /* nothing to do */
    } else if (st == OBJ_OK && if_match && strcmp(now, if_match) != 0) {
        st = obj_fail(s, e, OBJ_CHANGED, 0, "%.200s changed: version %s, not %s", path, now, if_match);
    } else if (st == OBJ_OK && unlink(path) != 0) {
        int err = errno;
        st = obj_fail(s, e, file_errno_status_io(err), 0, "delete %.200s: %s", path, strerror(err));
    } else if (st == OBJ_OK && file_fsync_dir(dir) != 0) {
        int err = errno;
        st = obj_fail(s, e, OBJ_ERR_IO, 0, "fsync folder %.200s: %s", dir, strerror(err));
    }
    close(lk);
    return (st == OBJ_NOT_FOUND && !if_match) ? OBJ_OK : st;
}

obj_status file_delete_object(objstore *s, const char *db, const char *name, const char *if_match,
                              obj_error *e)
{
    char dir[PATH_MAX], path[PATH_MAX];
    obj_status st = object_path(s, db, name, dir, path, e);
    return st == OBJ_OK ? delete_path(s, dir, path, if_match, e) : st;
}

obj_status file_publish_file(objstore *s, const char *db, int level, uint64_t min_txid, uint64_t max_txid,
                             const uint8_t *buf, size_t len, int64_t timestamp_ms, ltx_fileinfo *out,
                             obj_error *e)
{
    OBJ_COUNT(s, puts, 1);
    char dir[PATH_MAX], path[PATH_MAX], name[LTX_FILENAME_LEN + 1];
    ltx_format_filename(name, min_txid, max_txid);
    if (file_db_path(s, dir, sizeof dir, db, level, NULL) != 0 ||
        file_db_path(s, path, sizeof path, db, level, name) != 0)
        return file_path_too_long(s, e, db);
    struct stat sb;
    obj_status st = put_path(s, dir, path, name, buf, len, timestamp_ms, OBJ_PUT_ABSENT, NULL, &sb, e);
    if (st == OBJ_OK && out) {
        out->size = (uint64_t)sb.st_size;
        out->created_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        file_etag(&sb, out->etag);
    }
    return st;
}

obj_status file_delete_file_if_match(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (file_db_path(s, dir, sizeof dir, db, f->level, NULL) != 0 ||
        file_path(s, path, sizeof path, db, f) != 0)
        return file_path_too_long(s, e, db);
    return delete_path(s, dir, path, f->etag, e);
}
