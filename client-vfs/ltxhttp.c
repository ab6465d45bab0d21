/* ltxhttp.c - the `ltxhttp` SQLite VFS shim (see ltxhttp.h, docs/vfs.md).
 *
 * COMPILING
 *   client-vfs/CMakeLists.txt builds every .c file of client-vfs/ twice: the
 *   loadable extension libltxhttp.so (-DLTXHTTP_LOADABLE) and the static
 *   library ltxhttp_static. Both link ltxcommon and jansson (libcurl: dlopen, https only).
 *
 * LOADING
 *   `.load libltxhttp` (sqlite3 CLI) or load_extension() runs
 *   sqlite3_ltxhttp_init, which registers the VFS and keeps it after the
 *   loading connection closes. Programs linked with ltxhttp_static call
 *   ltxhttp_register() once. It is the default VFS with
 *   LTXHTTP_DEFAULT_VFS=1 in the environment at load (or
 *   ltxhttp_register_v2(1)): then a plain file name is a database name on
 *   LTXHTTP_SERVER, for bindings that cannot pass URI filenames.
 *
 * USING
 *   file:app.db?vfs=ltxhttp&server=http://127.0.0.1:7070, opened with
 *   SQLITE_OPEN_URI; settings in lh_settings.c, pragmas in lh_file.c.
 *
 * LIMITATIONS
 *   Read-only: xWrite and xTruncate answer SQLITE_READONLY, locks above
 *   SHARED too. nolock/immutable are refused (reads must pin a snapshot).
 *   A connection cannot be used after fork().
 *
 * IMPLEMENTATION NOTES (DESIGN.md, "Client VFS model")
 *   - Only SQLITE_OPEN_MAIN_DB is ours; journals, WAL and temp files go to
 *     the default VFS and never exist for the main file.
 *   - This file is the SQLite-facing shim alone: the two method tables and
 *     thin methods. The remote file is lh_file.c (snapshot pin, reads,
 *     time travel, pragmas), shared state and the /changes watcher
 *     lh_watch.c, the TXID-ranged page cache lh_cache.c, HTTP lh_http.c,
 *     settings lh_settings.c.
 */
#include "lh_sqlite.h"
#if defined(LTXHTTP_LOADABLE)
SQLITE_EXTENSION_INIT1
#endif

#include "ltxhttp.h"

#include "lh_file.h"
#include "lh_write.h"

#include "strparse.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The default VFS we delegate to; set once at registration. */
static sqlite3_vfs *ltxhttp_base;

static int ltxhttpClose(sqlite3_file *pFile);
static int ltxhttpRead(sqlite3_file *pFile, void *zBuf, int iAmt, sqlite3_int64 iOfst);
static int ltxhttpWrite(sqlite3_file *pFile, const void *zBuf, int iAmt, sqlite3_int64 iOfst);
static int ltxhttpTruncate(sqlite3_file *pFile, sqlite3_int64 size);
static int ltxhttpSync(sqlite3_file *pFile, int flags);
static int ltxhttpFileSize(sqlite3_file *pFile, sqlite3_int64 *pSize);
static int ltxhttpLock(sqlite3_file *pFile, int eLock);
static int ltxhttpUnlock(sqlite3_file *pFile, int eLock);
static int ltxhttpCheckReservedLock(sqlite3_file *pFile, int *pResOut);
static int ltxhttpFileControl(sqlite3_file *pFile, int op, void *pArg);
static int ltxhttpSectorSize(sqlite3_file *pFile);
static int ltxhttpDeviceCharacteristics(sqlite3_file *pFile);

static int ltxhttpOpen(sqlite3_vfs *pVfs, sqlite3_filename zName, sqlite3_file *pFile, int flags,
                       int *pOutFlags);
static int ltxhttpDelete(sqlite3_vfs *pVfs, const char *zName, int syncDir);
static int ltxhttpAccess(sqlite3_vfs *pVfs, const char *zName, int flags, int *pResOut);
static int ltxhttpFullPathname(sqlite3_vfs *pVfs, const char *zName, int nOut, char *zOut);
static void *ltxhttpDlOpen(sqlite3_vfs *pVfs, const char *zPath);
static void ltxhttpDlError(sqlite3_vfs *pVfs, int nByte, char *zErrMsg);
static void (*ltxhttpDlSym(sqlite3_vfs *pVfs, void *p, const char *zSym))(void);
static void ltxhttpDlClose(sqlite3_vfs *pVfs, void *pHandle);
static int ltxhttpRandomness(sqlite3_vfs *pVfs, int nByte, char *zOut);
static int ltxhttpSleep(sqlite3_vfs *pVfs, int nMicro);
static int ltxhttpCurrentTime(sqlite3_vfs *pVfs, double *pTime);
static int ltxhttpGetLastError(sqlite3_vfs *pVfs, int nByte, char *zOut);
static int ltxhttpCurrentTimeInt64(sqlite3_vfs *pVfs, sqlite3_int64 *pTime);

/* Methods of the remote main database file. */
static const sqlite3_io_methods ltxhttp_io_methods = {
    .iVersion = 1,
    .xClose = ltxhttpClose,
    .xRead = ltxhttpRead,
    .xWrite = ltxhttpWrite,
    .xTruncate = ltxhttpTruncate,
    .xSync = ltxhttpSync,
    .xFileSize = ltxhttpFileSize,
    .xLock = ltxhttpLock,
    .xUnlock = ltxhttpUnlock,
    .xCheckReservedLock = ltxhttpCheckReservedLock,
    .xFileControl = ltxhttpFileControl,
    .xSectorSize = ltxhttpSectorSize,
    .xDeviceCharacteristics = ltxhttpDeviceCharacteristics,
};

/* The VFS. iVersion, szOsFile and mxPathname follow the default VFS and
 * are filled in by ltxhttp_register_vfs. */
static sqlite3_vfs ltxhttp_vfs = {
    .iVersion = 1,
    .szOsFile = (int)sizeof(lh_file),
    .mxPathname = 512,
    .zName = LTXHTTP_VFS_NAME,
    .xOpen = ltxhttpOpen,
    .xDelete = ltxhttpDelete,
    .xAccess = ltxhttpAccess,
    .xFullPathname = ltxhttpFullPathname,
    .xDlOpen = ltxhttpDlOpen,
    .xDlError = ltxhttpDlError,
    .xDlSym = ltxhttpDlSym,
    .xDlClose = ltxhttpDlClose,
    .xRandomness = ltxhttpRandomness,
    .xSleep = ltxhttpSleep,
    .xCurrentTime = ltxhttpCurrentTime,
    .xGetLastError = ltxhttpGetLastError,
    .xCurrentTimeInt64 = ltxhttpCurrentTimeInt64,
};

/* ------------------------------------------------------ sqlite3_io_methods */

static int ltxhttpClose(sqlite3_file *pFile)
{
    lh_file_close((lh_file *)pFile);
    pFile->pMethods = NULL;
    return SQLITE_OK;
}

static int ltxhttpRead(sqlite3_file *pFile, void *zBuf, int iAmt, sqlite3_int64 iOfst)
{
    return lh_file_read((lh_file *)pFile, zBuf, iAmt, iOfst);
}

static int ltxhttpWrite(sqlite3_file *pFile, const void *zBuf, int iAmt, sqlite3_int64 iOfst)
{
    lh_file *f = (lh_file *)pFile;
    return f->wr ? lh_write_write(f, zBuf, iAmt, iOfst) : SQLITE_READONLY;
}

static int ltxhttpTruncate(sqlite3_file *pFile, sqlite3_int64 size)
{
    lh_file *f = (lh_file *)pFile;
    return f->wr ? lh_write_truncate(f, size) : SQLITE_READONLY;
}

static int ltxhttpSync(sqlite3_file *pFile, int flags)
{
    (void)pFile, (void)flags;
    return SQLITE_OK;
}

static int ltxhttpFileSize(sqlite3_file *pFile, sqlite3_int64 *pSize)
{
    *pSize = lh_file_size((lh_file *)pFile);
    return SQLITE_OK;
}

static int ltxhttpLock(sqlite3_file *pFile, int eLock) { return lh_file_lock((lh_file *)pFile, eLock); }

static int ltxhttpUnlock(sqlite3_file *pFile, int eLock)
{
    lh_file *f = (lh_file *)pFile;
    if (f->wr)
        return lh_write_unlock(f, eLock);
    if (eLock < f->lock)
        f->lock = eLock;
    return SQLITE_OK;
}

static int ltxhttpCheckReservedLock(sqlite3_file *pFile, int *pResOut)
{
    (void)pFile;
    *pResOut = 0;
    return SQLITE_OK;
}

static int ltxhttpFileControl(sqlite3_file *pFile, int op, void *pArg)
{
    lh_file *f = (lh_file *)pFile;
    int rc = f->wr ? lh_write_fcntl(f, op, pArg) : SQLITE_NOTFOUND;
    if (rc != SQLITE_NOTFOUND)
        return rc;
    switch (op) {
    case SQLITE_FCNTL_PRAGMA: return lh_file_pragma((lh_file *)pFile, (char **)pArg);
    case SQLITE_FCNTL_VFSNAME: *(char **)pArg = sqlite3_mprintf("%s", LTXHTTP_VFS_NAME); return SQLITE_OK;
    default: return SQLITE_NOTFOUND;
    }
}

static int ltxhttpSectorSize(sqlite3_file *pFile)
{
    (void)pFile;
    return 512;
}

static int ltxhttpDeviceCharacteristics(sqlite3_file *pFile)
{
    /* Write mode: the buffer applies writes in order and undoes unfinished
     * transactions itself, so SQLite need not fsync its (anonymous) journal. */
    return ((lh_file *)pFile)->wr ? SQLITE_IOCAP_SEQUENTIAL : 0;
}

/* ------------------------------------------------------------ sqlite3_vfs */

static int ltxhttpOpen(sqlite3_vfs *pVfs, sqlite3_filename zName, sqlite3_file *pFile, int flags,
                       int *pOutFlags)
{
    (void)pVfs;
    if (flags & SQLITE_OPEN_WAL)
        return SQLITE_CANTOPEN;             /* write mode keeps a rollback journal */
    if (flags & SQLITE_OPEN_MAIN_JOURNAL) { /* write mode: an anonymous temp file, never a hot journal */
        int jf = (flags & ~(SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_EXCLUSIVE)) | SQLITE_OPEN_TEMP_JOURNAL |
                 SQLITE_OPEN_DELETEONCLOSE | SQLITE_OPEN_CREATE;
        return ltxhttp_base->xOpen(ltxhttp_base, NULL, pFile, jf, pOutFlags);
    }
    if (!(flags & SQLITE_OPEN_MAIN_DB))
        return ltxhttp_base->xOpen(ltxhttp_base, zName, pFile, flags, pOutFlags);
    lh_file *f = (lh_file *)pFile;
    memset(f, 0, sizeof *f);
    f->oflags = flags;
    int rc = lh_file_open(f, zName);
    if (rc != SQLITE_OK) {
        ltxhttpClose(pFile);
        return rc;
    }
    if (pOutFlags && !f->wr)
        *pOutFlags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
    if (pOutFlags && f->wr)
        *pOutFlags = flags;
    f->base.pMethods = &ltxhttp_io_methods;
    return SQLITE_OK;
}

static int ltxhttp_ends_with(const char *s, const char *suf);

static int ltxhttpDelete(sqlite3_vfs *pVfs, const char *zName, int syncDir)
{
    (void)pVfs;
    /* Our journals are anonymous temp files: never delete a local file of that name. */
    if (ltxhttp_ends_with(zName, "-journal"))
        return SQLITE_OK;
    return ltxhttp_base->xDelete(ltxhttp_base, zName, syncDir);
}

static int ltxhttp_ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int ltxhttpAccess(sqlite3_vfs *pVfs, const char *zName, int flags, int *pResOut)
{
    (void)pVfs;
    /* The main file is remote and read-only: it never has a journal or WAL. */
    if (ltxhttp_ends_with(zName, "-journal") || ltxhttp_ends_with(zName, "-wal") ||
        ltxhttp_ends_with(zName, "-shm")) {
        *pResOut = 0;
        return SQLITE_OK;
    }
    return ltxhttp_base->xAccess(ltxhttp_base, zName, flags, pResOut);
}

static int ltxhttpFullPathname(sqlite3_vfs *pVfs, const char *zName, int nOut, char *zOut)
{
    (void)pVfs;
    return ltxhttp_base->xFullPathname(ltxhttp_base, zName, nOut, zOut);
}

static void *ltxhttpDlOpen(sqlite3_vfs *pVfs, const char *zPath)
{
    (void)pVfs;
    return ltxhttp_base->xDlOpen(ltxhttp_base, zPath);
}

static void ltxhttpDlError(sqlite3_vfs *pVfs, int nByte, char *zErrMsg)
{
    (void)pVfs;
    ltxhttp_base->xDlError(ltxhttp_base, nByte, zErrMsg);
}

static void (*ltxhttpDlSym(sqlite3_vfs *pVfs, void *p, const char *zSym))(void)
{
    (void)pVfs;
    return ltxhttp_base->xDlSym(ltxhttp_base, p, zSym);
}

static void ltxhttpDlClose(sqlite3_vfs *pVfs, void *pHandle)
{
    (void)pVfs;
    ltxhttp_base->xDlClose(ltxhttp_base, pHandle);
}

static int ltxhttpRandomness(sqlite3_vfs *pVfs, int nByte, char *zOut)
{
    (void)pVfs;
    return ltxhttp_base->xRandomness(ltxhttp_base, nByte, zOut);
}

static int ltxhttpSleep(sqlite3_vfs *pVfs, int nMicro)
{
    (void)pVfs;
    return ltxhttp_base->xSleep(ltxhttp_base, nMicro);
}

static int ltxhttpCurrentTime(sqlite3_vfs *pVfs, double *pTime)
{
    (void)pVfs;
    return ltxhttp_base->xCurrentTime(ltxhttp_base, pTime);
}

static int ltxhttpGetLastError(sqlite3_vfs *pVfs, int nByte, char *zOut)
{
    (void)pVfs;
    return ltxhttp_base->xGetLastError ? ltxhttp_base->xGetLastError(ltxhttp_base, nByte, zOut) : 0;
}

static int ltxhttpCurrentTimeInt64(sqlite3_vfs *pVfs, sqlite3_int64 *pTime)
{
    (void)pVfs;
    return ltxhttp_base->xCurrentTimeInt64(ltxhttp_base, pTime);
}

/* ----------------------------------------------------------- registration */

/* 1 if LTXHTTP_DEFAULT_VFS asks for the default VFS (1, true, yes, on). */
static int ltxhttp_env_default(void)
{
    const char *v = getenv("LTXHTTP_DEFAULT_VFS");
    int b = 0;
    return v && *v && strparse_bool(v, &b) == 0 && b;
}

/* Register once, wrapping the default VFS (never ourselves); make_default
 * (or LTXHTTP_DEFAULT_VFS) then makes it the default VFS, also when it was
 * registered before. */
static int ltxhttp_register_vfs(int make_default)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int rc = SQLITE_OK;
    make_default = make_default || ltxhttp_env_default();
    pthread_mutex_lock(&mu);
    if (!ltxhttp_base) {
        sqlite3_vfs *base = sqlite3_vfs_find(NULL);
        if (!base || strcmp(base->zName, LTXHTTP_VFS_NAME) == 0) {
            pthread_mutex_unlock(&mu);
            return SQLITE_ERROR;
        }
        /* Files the default VFS opens (journals, temp files) use our slot. */
        ltxhttp_vfs.iVersion = base->iVersion >= 2 && base->xCurrentTimeInt64 ? 2 : 1;
        ltxhttp_vfs.szOsFile = base->szOsFile > (int)sizeof(lh_file) ? base->szOsFile : (int)sizeof(lh_file);
        ltxhttp_vfs.mxPathname = base->mxPathname;
        ltxhttp_base = base;
        rc = sqlite3_vfs_register(&ltxhttp_vfs, make_default);
        if (rc != SQLITE_OK)
            ltxhttp_base = NULL;
    } else if (make_default) {
        rc = sqlite3_vfs_register(&ltxhttp_vfs, 1);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

#if defined(LTXHTTP_LOADABLE)
#ifdef _WIN32
__declspec(dllexport)
#elif defined(__GNUC__)
__attribute__((visibility("default"))) /* the one symbol the .so exports */
#endif
    int sqlite3_ltxhttp_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
    (void)db;
    SQLITE_EXTENSION_INIT2(pApi);
    int rc = ltxhttp_register_vfs(0);
    if (rc != SQLITE_OK) {
        if (pzErrMsg)
            *pzErrMsg = sqlite3_mprintf("ltxhttp: cannot register the VFS (%d)", rc);
        return rc;
    }
    return SQLITE_OK_LOAD_PERMANENTLY;
}
#else
int ltxhttp_register_v2(int make_default) { return ltxhttp_register_vfs(make_default); }

int ltxhttp_register(void) { return ltxhttp_register_vfs(0); }
#endif
