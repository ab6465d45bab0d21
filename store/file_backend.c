/* file_backend.c - local-directory replicas (Litestream "file" backend):
 *   <root>/<db>/ltx/<level decimal>/<min %016x>-<max %016x>.ltx
 * db "" means the root itself holds the replica (<root>/ltx/...). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dbname.h"
#include "file_internal.h"

obj_status file_open(objstore *s, const char *path, obj_error *e)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--; /* keep "/" itself */
    if (n == 0)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "empty store path");
    if (n >= PATH_MAX - 64)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "store path too long");
    if (memchr(path, 0, n) != NULL)
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "bad store path");
    if (path[0] != '/') { /* relative: pin it to the current folder now */
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return obj_fail(NULL, e, OBJ_ERR_IO, 0, "getcwd: %s", strerror(errno));
        size_t cl = strlen(cwd);
        if (cl + 1 + n >= PATH_MAX - 64)
            return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "store path too long");
        s->root = malloc(cl + n + 2);
        if (s->root) {
            memcpy(s->root, cwd, cl);
            s->root[cl] = '/';
            memcpy(s->root + cl + 1, path, n);
            s->root[cl + 1 + n] = 0;
        }
    } else {
        s->root = strndup(path, n);
    }
    if (!s->root)
        return obj_fail(NULL, e, OBJ_ERR_NOMEM, 0, "out of memory");
    n = strlen(s->root);
    if (n == 1 && s->root[0] == '/')
        s->root[0] = 0; /* "/" -> "" so joins give "/x" */
    struct stat st;
    if (stat(n ? s->root : "/", &st) == 0 && !S_ISDIR(st.st_mode))
        return obj_fail(NULL, e, OBJ_ERR_INVALID, 0, "store path is not a folder: %.200s", s->root);
    /* A missing root is allowed: it may be created later (empty listings). */
    return OBJ_OK;
}

/* <root>[/<db>]/ltx[/<level>[/<name>]]: the level folder comes from
 * ltx_file_level_dir, the name from ltx_format_filename (proto/layout.c);
 * level < 0 gives the ltx folder itself. */
int file_db_path(const objstore *s, char *out, size_t outlen, const char *db, int level, const char *name)
{
    char replica[PATH_MAX];
    int k = snprintf(replica, sizeof replica, "%s%s%s", s->root, db[0] ? "/" : "", db);
    if (k < 0 || (size_t)k >= sizeof replica)
        return -1;
    if (ltx_file_level_dir(out, outlen, replica, level < 0 ? 0 : level) != 0)
        return -1;
    if (level < 0) {
        *strrchr(out, '/') = 0; /* ".../ltx/0" -> ".../ltx" */
        return 0;
    }
    if (!name)
        return 0;
    size_t n = strlen(out);
    k = snprintf(out + n, outlen - n, "/%s", name);
    return (k < 0 || (size_t)k >= outlen - n) ? -1 : 0;
}

int file_path(const objstore *s, char *out, size_t outlen, const char *db, const ltx_fileinfo *f)
{
    char name[LTX_FILENAME_LEN + 1];
    ltx_format_filename(name, f->min_txid, f->max_txid);
    return file_db_path(s, out, outlen, db, f->level, name);
}

obj_status file_path_too_long(objstore *s, obj_error *e, const char *db)
{
    return obj_fail(s, e, OBJ_ERR_INVALID, 0, "path too long for database %.100s", db);
}

obj_status file_errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR: return OBJ_NOT_FOUND;
    case EACCES:
    case EPERM: return OBJ_ERR_AUTH;
    case ENOMEM: return OBJ_ERR_NOMEM;
    case ENAMETOOLONG:
    case EISDIR: return OBJ_ERR_INVALID;
    default: return OBJ_ERR_IO;
    }
}

/* errno_status for a failure where "not found" would mislead (I/O error). */
obj_status file_errno_status_io(int err)
{
    obj_status st = file_errno_status(err);
    return st == OBJ_NOT_FOUND ? OBJ_ERR_IO : st;
}

/* The next folder entry, or NULL at the end (*rerr = errno of a failed
 * readdir, else 0). */
static struct dirent *next_entry(DIR *d, int *rerr)
{
    errno = 0;
    struct dirent *de = readdir(d);
    *rerr = de ? 0 : errno;
    return de;
}

/* known is not used: the check is a stat, no LIST */
static obj_status file_list_dbs(objstore *s, objstore_known_fn known, void *ctx, char ***names, size_t *n,
                                obj_error *e)
{
    (void)known;
    (void)ctx;
    OBJ_COUNT_LIST(s);
    const char *root = s->root[0] ? s->root : "/";
    DIR *d = opendir(root);
    if (!d) {
        if (errno == ENOENT)
            return OBJ_OK; /* nothing replicated yet */
        int err = errno;
        return obj_fail(s, e, file_errno_status_io(err), 0, "list %.180s: %s", root, strerror(err));
    }
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    obj_status st = OBJ_OK;
    struct dirent *de;
    char p[PATH_MAX];
    int rerr = 0;
    while ((de = next_entry(d, &rerr)) != NULL) {
        if (!dbname_valid(de->d_name))
            continue;
        if (file_db_path(s, p, sizeof p, de->d_name, -1, NULL) != 0)
            continue;
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        if (cnt == OBJ_MAX_DBS) {
            st = obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "more than %u databases under %.180s", OBJ_MAX_DBS,
                          root);
            break;
        }
        char **g = obj_grow(v, &cap, cnt, sizeof *v, 16);
        if (!g) {
            st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
            break;
        }
        v = g;
        if (!(v[cnt] = strdup(de->d_name))) {
            st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing databases");
            break;
        }
        cnt++;
    }
    if (st == OBJ_OK && rerr != 0)
        st = obj_fail(s, e, OBJ_ERR_IO, 0, "list %.180s: %s", root, strerror(rerr));
    closedir(d);
    if (st != OBJ_OK) {
        objstore_free_names(v, cnt);
        return st;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, obj_cmp_names);
    *names = v;
    *n = cnt;
    return OBJ_OK;
}

static obj_status file_list_level(objstore *s, const char *db, int level, uint64_t min_from,
                                  ltx_fileinfo **out, size_t *n, obj_error *e)
{
    OBJ_COUNT_LIST(s);
    char dir[PATH_MAX];
    if (file_db_path(s, dir, sizeof dir, db, level, NULL) != 0)
        return file_path_too_long(s, e, db);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return OBJ_OK; /* missing level = empty */
        return obj_fail(s, e, file_errno_status(err), 0, "list %.180s: %s", dir, strerror(err));
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        int err = errno;
        close(dfd);
        return obj_fail(s, e, file_errno_status(err), 0, "list %.180s: %s", dir, strerror(err));
    }
    ltx_fileinfo *v = NULL;
    size_t cnt = 0, cap = 0;
    obj_status st = OBJ_OK;
    struct dirent *de;
    int rerr = 0;
    while ((de = next_entry(d, &rerr)) != NULL) {
        uint64_t mn, mx;
        if (obj_parse_ltx_name(de->d_name, strlen(de->d_name), &mn, &mx) != 0)
            continue;
        if (mn < min_from)
            continue;
        struct stat sb;
        if (fstatat(dfd, de->d_name, &sb, 0) != 0) {
            if (errno == ENOENT)
                continue; /* deleted meanwhile (retention) */
            int err = errno;
            st = obj_fail(s, e, file_errno_status_io(err), 0, "stat %.150s/%s: %s", dir, de->d_name,
                          strerror(err));
            break;
        }
        if (!S_ISREG(sb.st_mode))
            continue;
        if (cnt == OBJ_MAX_LIST_ENTRIES) {
            st = obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "more than %u files in %.180s", OBJ_MAX_LIST_ENTRIES,
                          dir);
            break;
        }
        ltx_fileinfo *g = obj_grow(v, &cap, cnt, sizeof *v, 64);
        if (!g) {
            st = obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory listing %.180s", dir);
            break;
        }
        v = g;
        v[cnt].level = level;
        v[cnt].min_txid = mn;
        v[cnt].max_txid = mx;
        v[cnt].size = (uint64_t)sb.st_size;
        v[cnt].created_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        file_etag(&sb, v[cnt].etag);
        cnt++;
    }
    if (st == OBJ_OK && rerr != 0)
        st = obj_fail(s, e, OBJ_ERR_IO, 0, "list %.180s: %s", dir, strerror(rerr));
    closedir(d);
    if (st != OBJ_OK) {
        free(v);
        return st;
    }
    objstore_sort_files(v, cnt);
    *out = v;
    *n = cnt;
    return OBJ_OK;
}

/* The level folders under <db>/ltx (one readdir), so listing every level
 * reads only those that exist, not ten. */
static obj_status file_levels_present(objstore *s, const char *db, unsigned *mask, obj_error *e)
{
    OBJ_COUNT_LIST(s);
    *mask = 0;
    char dir[PATH_MAX];
    if (file_db_path(s, dir, sizeof dir, db, -1, NULL) != 0)
        return file_path_too_long(s, e, db);
    DIR *d = opendir(dir);
    if (!d) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return OBJ_OK; /* no ltx folder: every level empty */
        return obj_fail(s, e, file_errno_status(err), 0, "list %.180s: %s", dir, strerror(err));
    }
    struct dirent *de;
    int rerr = 0;
    while ((de = next_entry(d, &rerr)) != NULL) {
        int level = ltx_parse_file_level(de->d_name);
        if (level >= 0 && level <= LTX_MAX_LEVEL)
            *mask |= 1u << level; /* not a folder: its listing says so (empty) */
    }
    closedir(d);
    if (rerr != 0)
        return obj_fail(s, e, OBJ_ERR_IO, 0, "list %.180s: %s", dir, strerror(rerr));
    return OBJ_OK;
}

/* An LTX file opened for reading. */
typedef struct {
    char path[PATH_MAX];
    int fd;
    uint64_t size;
} rfile;

/* Counts a GET and opens f (a regular file) into *o. */
static obj_status open_file(objstore *s, const char *db, const ltx_fileinfo *f, rfile *o, obj_error *e)
{
    OBJ_COUNT(s, gets, 1);
    o->fd = -1;
    if (file_path(s, o->path, sizeof o->path, db, f) != 0)
        return file_path_too_long(s, e, db);
    o->fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (o->fd < 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status(err), 0, "open %.200s: %s", o->path, strerror(err));
    }
    struct stat sb;
    if (fstat(o->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int err = errno;
        close(o->fd);
        o->fd = -1;
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "%.200s is not a regular file (%s)", o->path,
                        strerror(err));
    }
    o->size = (uint64_t)sb.st_size;
    char now[LTX_ETAG_MAX];
    file_etag(&sb, now);
    if (f->etag[0] && strcmp(now, f->etag) != 0) {
        close(o->fd);
        o->fd = -1;
        return obj_fail(s, e, OBJ_CHANGED, 0,
                        "%.200s was replaced since it was listed (version %s, listed %s)", o->path, now,
                        f->etag);
    }
    return OBJ_OK;
}

/* Closes o and passes st on (for checks that fail before reading). */
static obj_status close_fail(rfile *o, obj_status st)
{
    close(o->fd);
    o->fd = -1;
    return st;
}

/* The listing's size (when known) must match the file's; closes o if not. */
static obj_status check_listed_size(objstore *s, const ltx_fileinfo *f, rfile *o, obj_error *e)
{
    if (f->size == 0 || f->size == o->size)
        return OBJ_OK;
    return close_fail(o, obj_fail(s, e, OBJ_ERR_INVALID, 0, "%.180s has %llu bytes but the listing said %llu",
                                  o->path, (unsigned long long)o->size, (unsigned long long)f->size));
}

/* Read exactly len bytes at off; *got = bytes actually read (short at EOF). */
static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return -1;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

/* Reads len bytes at off into buf, closes o and counts the bytes read:
 * OBJ_OK (possibly short: *got tells) or OBJ_ERR_IO on a read error. */
static obj_status read_close(objstore *s, rfile *o, uint8_t *buf, size_t len, uint64_t off, size_t *got,
                             obj_error *e)
{
    *got = 0;
    int rc = pread_full(o->fd, buf, len, off, got);
    int err = errno;
    close(o->fd);
    o->fd = -1;
    OBJ_COUNT(s, bytes_read, *got);
    if (rc != 0)
        return obj_fail(s, e, OBJ_ERR_IO, 0, "read %.200s: %s", o->path, strerror(err));
    return OBJ_OK;
}

static obj_status file_read_range(objstore *s, const char *db, const ltx_fileinfo *f, uint64_t off,
                                  size_t len, uint8_t *buf, obj_error *e)
{
    rfile o;
    obj_status st = open_file(s, db, f, &o, e);
    if (st != OBJ_OK)
        return st;
    if (off > (uint64_t)INT64_MAX - len)
        return close_fail(&o, obj_fail(s, e, OBJ_ERR_INVALID, 0, "range beyond file %.200s", o.path));
    size_t got;
    if ((st = read_close(s, &o, buf, len, off, &got, e)) != OBJ_OK)
        return st;
    if (got != len)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0,
                        "truncated: %.180s has %llu bytes, wanted %zu at offset %llu", o.path,
                        (unsigned long long)o.size, len, (unsigned long long)off);
    return OBJ_OK;
}

static obj_status file_read_tail(objstore *s, const char *db, const ltx_fileinfo *f, size_t len, uint8_t *buf,
                                 size_t *got, obj_error *e)
{
    rfile o;
    obj_status st = open_file(s, db, f, &o, e);
    if (st == OBJ_OK)
        st = check_listed_size(s, f, &o, e);
    if (st != OBJ_OK)
        return st;
    size_t want = (uint64_t)len < o.size ? len : (size_t)o.size;
    size_t n;
    if ((st = read_close(s, &o, buf, want, o.size - want, &n, e)) != OBJ_OK)
        return st;
    if (n != want)
        return obj_fail(s, e, OBJ_ERR_INVALID, 0, "truncated: %.200s shrank", o.path);
    *got = n;
    return OBJ_OK;
}

static obj_status file_read_file(objstore *s, const char *db, const ltx_fileinfo *f, size_t max_bytes,
                                 uint8_t **buf, size_t *len, obj_error *e)
{
    rfile o;
    obj_status st = open_file(s, db, f, &o, e);
    if (st != OBJ_OK)
        return st;
    if (o.size > max_bytes)
        return close_fail(&o,
                          obj_fail(s, e, OBJ_ERR_TOO_LARGE, 0, "%.180s has %llu bytes, more than the cap %zu",
                                   o.path, (unsigned long long)o.size, max_bytes));
    if ((st = check_listed_size(s, f, &o, e)) != OBJ_OK)
        return st;
    uint8_t *b = malloc(o.size ? (size_t)o.size : 1);
    if (!b)
        return close_fail(&o, obj_fail(s, e, OBJ_ERR_NOMEM, 0, "out of memory reading %.200s", o.path));
    size_t n;
    st = read_close(s, &o, b, (size_t)o.size, 0, &n, e);
    if (st == OBJ_OK && n != o.size)
        st = obj_fail(s, e, OBJ_ERR_INVALID, 0, "truncated: %.200s shrank while read", o.path);
    if (st != OBJ_OK) {
        free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return OBJ_OK;
}

void file_etag(const struct stat *sb, char *etag)
{
    uint64_t ns = (uint64_t)sb->st_mtim.tv_sec * 1000000000u + (uint64_t)sb->st_mtim.tv_nsec;
    snprintf(etag, LTX_ETAG_MAX, "%llx-%llx", (unsigned long long)sb->st_ino, (unsigned long long)ns);
}

int file_write_all(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

/* mkdir -p; every folder created is made durable by fsyncing its parent. */
int file_mkdirs(char *path)
{
    size_t n = strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == 0) {
            char c = path[i];
            path[i] = 0;
            if (mkdir(path, 0755) == 0) {
                char parent[PATH_MAX];
                snprintf(parent, sizeof parent, "%s", path);
                char *sl = strrchr(parent, '/');
                if (sl == parent)
                    sl[1] = 0;
                else if (sl)
                    *sl = 0;
                else
                    snprintf(parent, sizeof parent, ".");
                if (file_fsync_dir(parent) != 0) {
                    path[i] = c;
                    return -1;
                }
            } else if (errno != EEXIST) {
                path[i] = c;
                return -1;
            }
            path[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static obj_status file_write_file(objstore *s, const char *db, int level, uint64_t min_txid,
                                  uint64_t max_txid, const uint8_t *buf, size_t len, int64_t timestamp_ms,
                                  obj_error *e)
{
    OBJ_COUNT(s, puts, 1);
    char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 8], name[LTX_FILENAME_LEN + 1];
    ltx_format_filename(name, min_txid, max_txid);
    if (file_db_path(s, dir, sizeof dir, db, level, NULL) != 0 ||
        file_db_path(s, path, sizeof path, db, level, name) != 0)
        return file_path_too_long(s, e, db);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (file_mkdirs(dir) != 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status_io(err), 0, "create folder %.180s: %s", dir, strerror(err));
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status_io(err), 0, "create %.200s: %s", tmp, strerror(err));
    }
    int ok = file_write_all(fd, buf, len) == 0;
    int err = errno;
    const char *step = "write";
    if (ok) {
        struct timespec ts[2];
        ts[0].tv_sec = (time_t)(timestamp_ms / 1000);
        ts[0].tv_nsec = (long)(timestamp_ms % 1000) * 1000000L;
        if (ts[0].tv_nsec < 0) {
            ts[0].tv_sec -= 1;
            ts[0].tv_nsec += 1000000000L;
        }
        ts[1] = ts[0];
        /* mtime last: nothing writes the data after this */
        if (futimens(fd, ts) != 0) {
            ok = 0;
            step = "set mtime of";
        } else if (fsync(fd) != 0) {
            ok = 0;
            step = "fsync";
        }
        err = errno;
    }
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
        step = "close";
    }
    if (!ok) {
        unlink(tmp);
        return obj_fail(s, e, OBJ_ERR_IO, 0, "%s %.200s: %s", step, tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return obj_fail(s, e, OBJ_ERR_IO, 0, "rename to %.200s: %s", path, strerror(err));
    }
    if (file_fsync_dir(dir) != 0) {
        err = errno;
        return obj_fail(s, e, OBJ_ERR_IO, 0, "fsync folder %.200s: %s", dir, strerror(err));
    }
    OBJ_COUNT(s, bytes_written, len);
    return OBJ_OK;
}

static obj_status file_delete_file(objstore *s, const char *db, const ltx_fileinfo *f, obj_error *e)
{
    OBJ_COUNT(s, deletes, 1);
    char path[PATH_MAX];
    if (file_path(s, path, sizeof path, db, f) != 0)
        return file_path_too_long(s, e, db);
    if (unlink(path) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return OBJ_OK; /* already gone: as S3's DELETE */
        return obj_fail(s, e, file_errno_status(err), 0, "delete %.200s: %s", path, strerror(err));
    }
    return OBJ_OK;
}

static obj_status file_file_timestamp(objstore *s, const char *db, const ltx_fileinfo *f, int64_t *ms,
                                      obj_error *e)
{
    OBJ_COUNT(s, heads, 1);
    char path[PATH_MAX];
    if (file_path(s, path, sizeof path, db, f) != 0)
        return file_path_too_long(s, e, db);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        return obj_fail(s, e, file_errno_status(err), 0, "stat %.200s: %s", path, strerror(err));
    }
    char now[LTX_ETAG_MAX];
    file_etag(&sb, now);
    if (f->etag[0] && strcmp(now, f->etag) != 0)
        return obj_fail(s, e, OBJ_CHANGED, 0, "%.200s was replaced since it was listed", path);
    *ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    return OBJ_OK;
}

static obj_status file_check_folder(objstore *s, const char *db, obj_error *e)
{
    char p[PATH_MAX];
    struct stat sb;
    const char *what[3] = { "replica folder", "database folder", "ltx folder" };
    for (int step = 0; step < 3; step++) {
        int k;
        if (step == 0) {
            k = snprintf(p, sizeof p, "%s", s->root[0] ? s->root : "/");
        } else if (step == 1) {
            if (!db[0])
                continue;
            k = snprintf(p, sizeof p, "%s/%s", s->root, db);
        } else {
            k = file_db_path(s, p, sizeof p, db, -1, NULL) == 0 ? 0 : -1;
        }
        if (k < 0 || (size_t)k >= sizeof p)
            return file_path_too_long(s, e, db);
        if (stat(p, &sb) != 0) {
            int err = errno;
            if (err == ENOENT || err == ENOTDIR)
                return obj_fail(s, e, OBJ_NOT_FOUND, 0, "%s %.200s does not exist", what[step], p);
            return obj_fail(s, e, file_errno_status(err), 0, "%.200s: %s", p, strerror(err));
        }
        if (!S_ISDIR(sb.st_mode))
            return obj_fail(s, e, OBJ_ERR_INVALID, 0, "%s %.200s is not a folder", what[step], p);
    }
    return OBJ_OK;
}

const obj_backend obj_file_backend = {
    .list_dbs = file_list_dbs,
    .list_level = file_list_level,
    .list_all = NULL,
    .levels_present = file_levels_present,
    .read_range = file_read_range,
    .read_tail = file_read_tail,
    .read_file = file_read_file,
    .write_file = file_write_file,
    .delete_file = file_delete_file,
    .file_timestamp = file_file_timestamp,
    .get_object = file_get_object,
    .put_object = file_put_object,
    .delete_object = file_delete_object,
    .publish_file = file_publish_file,
    .delete_file_if_match = file_delete_file_if_match,
    .check_folder = file_check_folder,
    .close = NULL,
};
