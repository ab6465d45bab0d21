/* lh_write.h - write mode of the ltxhttp VFS (write=1): the local write
 * buffer of one connection, its undo log per transaction, the LTX built
 * from it and sent to ltxpaged (POST /{db}/ltx?base=, /work/coord/write-api.md),
 * and the background sync thread.
 *
 * SQLite runs its rollback journal locally (an anonymous temp file of the
 * default VFS); what it writes to the main file lands here. Reads of the
 * writer check the buffer first, then the server at the TXID the buffer
 * was built on (base). Every sync_interval (0: at every COMMIT) the buffer
 * goes to the server as one LTX file with min = max = base + 1.
 *
 * Thread-safety: the connection's thread calls everything below; the sync
 * thread shares the buffer under lh_write's mutex.
 */
#ifndef LH_WRITE_H
#define LH_WRITE_H

#include "lh_sqlite.h"

#include <stdint.h>

struct lh_file;
typedef struct lh_write lh_write;

#define LH_WRITE_ERRLEN 512

/* Start write mode on an open f at the server state (txid, commit, ps);
 * txid 0: the database does not exist yet (created by the first sync).
 * Sets f->wr. Returns SQLITE_OK, or an error after logging why. */
int lh_write_open(struct lh_file *f, uint64_t txid, uint32_t commit, uint32_t ps);

/* Stop the sync thread, send what is buffered (clean close), free. An
 * error is logged (the data not sent is lost). */
void lh_write_close(struct lh_file *f);

int lh_write_read(struct lh_file *f, void *buf, int amt, sqlite3_int64 off);
int lh_write_write(struct lh_file *f, const void *buf, int amt, sqlite3_int64 off);
int lh_write_truncate(struct lh_file *f, sqlite3_int64 size);
sqlite3_int64 lh_write_size(struct lh_file *f);
int lh_write_lock(struct lh_file *f, int level);
int lh_write_unlock(struct lh_file *f, int level);

/* xFileControl: SQLITE_FCNTL_COMMIT_PHASETWO (sync_interval=0: the COMMIT
 * waits for the server) and the write pragmas (ltxhttp_sync,
 * ltxhttp_write, ltxhttp_error; journal_mode=wal and locking_mode=exclusive
 * are refused). SQLITE_NOTFOUND for anything else. */
int lh_write_fcntl(struct lh_file *f, int op, void *arg);

#endif /* LH_WRITE_H */
