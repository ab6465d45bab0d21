/* writer.h - the LTX writer behind `ltxctl snapshot` and `ltxctl replicate`
 * (writer.c): read a SQLite database consistently, write the pages changed
 * since the replica's latest state as the next L0 file. */
#ifndef LTXCTL_WRITER_H
#define LTXCTL_WRITER_H

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>

#include "objstore.h"

typedef struct {
    const char *path;
    sqlite3 *db;
    objstore *st;
    int track;           /* checksums tracked (flags 0) */
    uint64_t *prev_sums; /* page checksums of the replica's latest state (8 bytes a
                            * page instead of a copy of the database) */
    uint32_t prev_commit;
    uint32_t page_size;
    uint64_t prev_post; /* database checksum of that state */
    int have_state;     /* prev_sums is the replica's latest state */
    uint64_t next_txid;
    sqlite3_int64 last_dv;
    int have_dv;
} writer;

/* Set by SIGINT/SIGTERM once install_signals ran. */
extern volatile sig_atomic_t g_stop;
void install_signals(void);
/* Sleep up to ms, waking early when a stop signal arrives. */
void nap(int64_t ms);

/* Open the database and the replica. Returns 0, or -1 after a message. */
int writer_start(writer *w, const char *db_path, const char *replica, int track);
/* Find where the replica stands. With need_state the latest state is
 * rebuilt (the restore engine, into a page map) so the next file can hold
 * only changed pages and the pre-apply checksum is known. 0 or -1. */
int resume(writer *w, int need_state);
/* One tick: read the database, write the next L0 file if anything changed
 * (every page with full). Returns 1 when a file was written, 0 when nothing
 * changed, -1 on error. */
int tick(writer *w, int full, int use_dv);
void writer_close(writer *w);

#endif
