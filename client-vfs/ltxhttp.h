/* ltxhttp.h - the `ltxhttp` SQLite VFS: read-only access to databases served
 * by ltxpaged (HTTP API v1), one consistent snapshot per read transaction.
 *
 * Two builds of the same source:
 *   - libltxhttp.so, a loadable extension (`.load libltxhttp` in the sqlite3
 *     CLI, Connection.load_extension() in Python); entry point
 *     sqlite3_ltxhttp_init; it stays registered after the loading connection
 *     closes.
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
#define LTXHTTP_IOERR_TXID_GONE (10 | (200 << 8))
#define LTXHTTP_IOERR_TXID_AHEAD (10 | (201 << 8))
#define LTXHTTP_IOERR_SERVER (10 | (202 << 8))

/* Register the VFS (not as the default). Returns an SQLite result code.
 * Only in the static library (ltxhttp_static); safe to call more than once. */
int ltxhttp_register(void);

#ifdef __cplusplus
}
#endif
#endif /* LTXHTTP_H */
