/* ltxhttp.h - the `ltxhttp` SQLite VFS: read-only access to databases served
 * by ltxpaged (HTTP API v1), one consistent snapshot per read transaction.
 *
 * Two builds of the same source:
 *   - libltxhttp.so, a loadable extension (`.load libltxhttp` in the sqlite3
 *     CLI, Connection.load_extension() in Python); entry point
 *     sqlite3_ltxhttp_init; it stays registered after the loading connection
 *     closes; with LTXHTTP_DEFAULT_VFS=1 in the environment it becomes the
 *     default VFS.
 *   - ltxhttp_static, for programs linked against libsqlite3: call
 *     ltxhttp_register() once before opening databases.
 *
 * Then open e.g. "file:app.db?vfs=ltxhttp&server=http://127.0.0.1:7070"
 * (SQLITE_OPEN_URI). See docs/vfs.md for parameters, pragmas and errors.
 */
#ifndef LTXHTTP_H
#define LTXHTTP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Name under which the VFS is registered. */
#define LTXHTTP_VFS_NAME "ltxhttp"

/* Extended result codes returned by reads (primary code SQLITE_IOERR = 10):
 *   TXID_GONE   the pinned snapshot is no longer served (HTTP 410)
 *   TXID_AHEAD  the server is behind the pinned snapshot (HTTP 409)
 *   SERVER      the server could not be reached or answered an error */
#define LTXHTTP_IOERR_TXID_GONE  (10 | (200 << 8))
#define LTXHTTP_IOERR_TXID_AHEAD (10 | (201 << 8))
#define LTXHTTP_IOERR_SERVER     (10 | (202 << 8))

/* Write mode (write=1): a sync of the write buffer failed (kept, retried);
 * SQLITE_BUSY (5) family: another process holds the database's lease. A
 * txid_conflict answers SQLITE_BUSY_SNAPSHOT. */
#define LTXHTTP_IOERR_SYNC (10 | (203 << 8))
#define LTXHTTP_BUSY_LEASE (5 | (200 << 8))

/* Register the VFS. Returns an SQLite result code. Only in the static
 * library (ltxhttp_static); safe to call more than once. ltxhttp_register
 * keeps its original signature (programs built against it keep working);
 * ltxhttp_register_v2 with make_default nonzero also makes ltxhttp SQLite's
 * default VFS (as LTXHTTP_DEFAULT_VFS=1 in the environment does for both),
 * so that plain file names open databases on LTXHTTP_SERVER; a later call
 * with make_default makes an already registered VFS the default. */
int ltxhttp_register(void);
int ltxhttp_register_v2(int make_default);

#ifdef __cplusplus
}
#endif
#endif /* LTXHTTP_H */
