/* cmd_write.c - `ltxctl snapshot`, `ltxctl replicate`, `ltxctl compact`:
 * a small, correct LTX writer for demos and tests (Litestream is the
 * production writer). All replica I/O goes through the shared object-store
 * backends, so file and S3 replicas behave the same.
 *
 * Reading the database: one read transaction per tick, inside which
 * sqlite3_serialize() copies every page through SQLite's own pager (so the
 * WAL is applied and a torn state is never seen). Pages that differ from the
 * previous tick's image (kept in memory) go into the next L0 file. After a
 * restart the previous image is rebuilt by restoring the replica.
 */
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ltxctl.h"
#include "writer_store.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Sleep up to ms, waking early when a stop signal arrives. */
static void nap(int64_t ms) {
    while (ms > 0 && !g_stop) {
        int64_t step = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Option "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t nl = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, nl) != 0)
        return NULL;
    if (a[nl] == '=')
        return a + nl + 1;
    if (a[nl] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ltxctl: %s needs a value\n", name);
        return "";
    }
    return argv[++*i];
}

/* ---- the database side -------------------------------------------------- */

/* Return freed memory to the system between ticks: glibc keeps a freed
 * database-sized block in the heap otherwise (RSS stays one database). */
static void give_back(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

typedef struct {
    const char *path;
    sqlite3 *db;
    objstore *st;
    int track;             /* checksums tracked (flags 0) */
    uint64_t *prev_sums;   /* page checksums of the replica's latest state (8 bytes a
                            * page instead of a copy of the database) */
    uint32_t prev_commit;
    uint32_t page_size;
    uint64_t prev_post;    /* database checksum of that state */
    int have_state;        /* prev_sums is the replica's latest state */
    uint64_t next_txid;
    sqlite3_int64 last_dv;
    int have_dv;
} writer;

static int db_open(writer *w) {
    int rc = sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK && access(w->path, F_OK) == 0) {
        /* no write permission: a read-only connection still reads consistently */
        sqlite3_close(w->db);
        w->db = NULL;
        rc = sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "ltxctl: cannot open database %s: %s\n", w->path,
                w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        sqlite3_close(w->db);
        w->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(w->db, 5000);
    return 0;
}

static int exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "ltxctl: %s: %s\n", sql, err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Inside one read transaction: data_version, then (unless skip_if_dv says
 * nothing changed) a full copy of the database (sqlite3_serialize; free it
 * with sqlite3_free). *img NULL with *len 0 means "unchanged" or "empty".
 * Returns -1 on error. */
static int db_read(writer *w, int skip_if_dv, uint8_t **img, size_t *len, sqlite3_int64 *dv) {
    *img = NULL;
    *len = 0;
    if (exec(w->db, "BEGIN"))
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->db, "PRAGMA data_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fprintf(stderr, "ltxctl: reading %s: %s\n", w->path, sqlite3_errmsg(w->db));
        sqlite3_finalize(st);
        exec(w->db, "ROLLBACK");
        return -1;
    }
    *dv = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (skip_if_dv && w->have_dv && *dv == w->last_dv) {
        exec(w->db, "COMMIT");
        return 0;
    }
    sqlite3_int64 sz = -1;
    unsigned char *p = sqlite3_serialize(w->db, "main", &sz, 0);
    int ok = 1;
    if (!p && sz > 0) {
        fprintf(stderr, "ltxctl: cannot copy %s (%lld bytes): out of memory\n", w->path, (long long)sz);
        ok = 0;
    } else if (sz > (sqlite3_int64)WR_MAX_DB_BYTES) {
        fprintf(stderr, "ltxctl: %s is %lld bytes, over the writer's limit of %zu\n", w->path, (long long)sz,
                (size_t)WR_MAX_DB_BYTES);
        ok = 0;
    }
    if (exec(w->db, "COMMIT"))
        ok = 0;
    if (!ok) {
        sqlite3_free(p);
        return -1;
    }
    if (p && sz > 0) {
        *img = p;
        *len = (size_t)sz;
    } else {
        sqlite3_free(p);
    }
    return 0;
}

/* Find where the replica stands. With need_state the latest state is
 * rebuilt (restore) so the next file can hold only changed pages and the
 * pre-apply checksum is known. */
static int resume(writer *w, int need_state) {
    free(w->prev_sums);
    w->prev_sums = NULL;
    w->prev_commit = 0;
    w->have_state = 0;
    w->prev_post = 0;
    w->have_dv = 0; /* compare the database with the rebuilt state at the next tick */
    if (need_state) {
        wr_pages pm;
        wr_pages_init(&pm, 0);
        uint64_t txid = 0;
        int r = wr_restore_latest(w->st, &pm, &txid, NULL, NULL);
        if (r == 0 && txid > 0) {
            uint64_t *sums = NULL;
            ltx_error le;
            memset(&le, 0, sizeof le);
            if (wr_pages_sums(&pm, &sums, &le) != LTX_OK) {
                fprintf(stderr, "ltxctl: %s\n", le.msg);
                r = -1;
            } else {
                w->prev_sums = sums;
                w->prev_commit = pm.commit;
                w->page_size = pm.page_size;
                w->prev_post = wr_sums_checksum(sums, pm.commit);
                w->have_state = 1;
                w->next_txid = txid + 1;
            }
        } else if (r == 0) {
            w->next_txid = 1;
            w->have_state = 1; /* empty replica: the first file is a snapshot */
        }
        wr_pages_free(&pm);
        give_back(); /* the rebuilt state was one malloc per page; only sums stay */
        if (r == 0)
            return 0;
        if (w->track) {
            fprintf(stderr, "ltxctl: cannot rebuild the replica's state, so the pre-apply checksum of the "
                            "next file is unknown; use --no-checksum to write a full file instead\n");
            return -1;
        }
        fprintf(stderr, "ltxctl: cannot rebuild the replica's state; the next file will hold every page\n");
    }
    uint64_t max = 0;
    if (wr_replica_max_txid(w->st, &max))
        return -1;
    w->next_txid = max + 1;
    w->have_state = (max == 0);
    return 0;
}

/* One tick: read the database, write the next L0 file if anything changed.
 * The previous state is kept as page checksums only, so a tick holds one
 * copy of the database (sqlite3_serialize's) plus the file it writes.
 * Returns 1 when a file was written, 0 when nothing changed, -1 on error. */
static int tick(writer *w, int full, int use_dv) {
    uint8_t *img = NULL;
    size_t len = 0;
    sqlite3_int64 dv = 0;
    if (db_read(w, use_dv && !full && w->have_state, &img, &len, &dv))
        return -1;
    if (!img) { /* unchanged (data_version) or empty: nothing to do */
        w->last_dv = dv;
        w->have_dv = 1;
        return 0;
    }
    int ret = -1;
    uint64_t *sums = NULL;
    ltx_error le;
    memset(&le, 0, sizeof le);
    uint32_t ps = wr_sqlite_page_size(img, len);
    if (!ps || len % ps) {
        fprintf(stderr, "ltxctl: %s does not look like a SQLite database (%zu bytes)\n", w->path, len);
        goto done;
    }
    uint32_t commit = (uint32_t)(len / ps);
    if (w->prev_sums && w->page_size != ps) {
        fprintf(stderr,
                "ltxctl: the page size of %s changed from %u to %u; replicate it into a new replica\n",
                w->path, w->page_size, ps);
        goto done;
    }
    if (wr_image_sums(img, commit, ps, &sums, &le) != LTX_OK) {
        fprintf(stderr, "ltxctl: %s\n", le.msg);
        goto done;
    }
    if (!full && w->have_state && w->prev_sums && commit == w->prev_commit &&
        !memcmp(sums, w->prev_sums, (size_t)commit * sizeof *sums)) {
        w->last_dv = dv;
        w->have_dv = 1;
        ret = 0;
        goto done;
    }
    /* Another writer? Refuse to overwrite or fork the replica. */
    ltx_fileinfo *later = NULL;
    size_t nlater = 0;
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    obj_status s = objstore_list_level(w->st, WR_DB, 0, w->next_txid, &later, &nlater, &oe);
    if (s != OBJ_OK && s != OBJ_NOT_FOUND) {
        fprintf(stderr, "ltxctl: listing L0: %s\n", oe.msg[0] ? oe.msg : obj_status_str(s));
        goto done;
    }
    int conflict = 0;
    for (size_t i = 0; i < nlater; i++)
        if (later[i].max_txid >= w->next_txid)
            conflict = 1;
    free(later);
    if (conflict) {
        fprintf(stderr, "ltxctl: the replica already holds TXID %016llx: another writer is active; "
                        "rebuilding state from the replica\n",
                (unsigned long long)w->next_txid);
        w->have_state = 0;
        goto done;
    }
    ltx_header h;
    memset(&h, 0, sizeof h);
    h.flags = w->track ? 0 : LTX_FLAG_NO_CHECKSUM;
    h.page_size = ps;
    h.commit = commit;
    h.min_txid = h.max_txid = w->next_txid;
    h.timestamp_ms = wr_now_ms();
    h.pre_apply_checksum = (w->track && w->next_txid > 1) ? w->prev_post : 0;
    uint8_t *out = NULL;
    size_t out_len = 0, npages = 0;
    uint64_t post = 0;
    int is_full = full || !w->have_state || !w->prev_sums;
    ltx_err rc = wr_build_l0_sums(&h, is_full ? NULL : w->prev_sums, is_full ? 0 : w->prev_commit, img, sums,
                                  commit, is_full, &out, &out_len, &npages, &post, &le);
    /* the image is no longer needed: free it before the upload */
    sqlite3_free(img);
    img = NULL;
    if (rc != LTX_OK) {
        fprintf(stderr, "ltxctl: building TXID %016llx: %s%s%s\n", (unsigned long long)w->next_txid,
                ltx_strerror(rc), le.msg[0] ? ": " : "", le.msg);
        goto done;
    }
    int r = wr_put_file(w->st, 0, &h, out, out_len, npages);
    free(out);
    if (r)
        goto done;
    free(w->prev_sums);
    w->prev_sums = sums;
    sums = NULL;
    w->prev_commit = commit;
    w->page_size = ps;
    w->prev_post = w->track ? post : wr_sums_checksum(w->prev_sums, commit);
    w->have_state = 1;
    w->next_txid++;
    w->last_dv = dv;
    w->have_dv = 1;
    ret = 1;
done:
    free(sums);
    sqlite3_free(img);
    give_back(); /* the database copy of this tick */
    return ret;
}

static void writer_close(writer *w) {
    free(w->prev_sums);
    w->prev_sums = NULL;
    if (w->db)
        sqlite3_close(w->db);
    w->db = NULL;
    if (w->st)
        objstore_close(w->st);
    w->st = NULL;
}

static void usage_snapshot(FILE *f) {
    fprintf(f, "usage: ltxctl snapshot DB REPLICA [--no-checksum]\n"
               "  Write the whole database as one L0 file at the replica's next TXID\n"
               "  (TXID 1, a snapshot, for an empty replica).\n");
}

/* Arguments of snapshot and replicate: DB REPLICA [--no-checksum], plus
 * --once and --interval D when `watch` (replicate). */
typedef struct {
    const char *pos[2];
    int track, once;
    int64_t interval;
} writer_args;

/* Returns -1 to go on, else the exit code (0 after --help, 2 on bad use). */
static int parse_writer_args(int argc, char **argv, const char *cmd, void (*usage)(FILE *), int watch,
                             writer_args *a) {
    int npos = 0;
    memset(a, 0, sizeof *a);
    a->track = 1;
    a->interval = 1000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--no-checksum")) {
            a->track = 0;
        } else if (watch && !strcmp(argv[i], "--once")) {
            a->once = 1;
        } else if (watch && (v = opt_value(argc, argv, &i, "--interval"))) {
            if (wr_parse_duration(v, &a->interval) || a->interval <= 0) {
                fprintf(stderr, "ltxctl %s: bad --interval '%s' (e.g. 500ms, 1s, 2m)\n", cmd, v);
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ltxctl %s: unknown option %s\n", cmd, argv[i]);
            usage(stderr);
            return 2;
        } else if (npos < 2) {
            a->pos[npos++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (npos != 2) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Open the database and the replica named by a. Returns -1 on error. */
static int writer_start(writer *w, const writer_args *a) {
    memset(w, 0, sizeof *w);
    w->path = a->pos[0];
    w->track = a->track;
    if (db_open(w))
        return -1;
    if (!(w->st = wr_store_open(a->pos[1])))
        return -1;
    return 0;
}

int cmd_snapshot(int argc, char **argv) {
    writer_args a;
    int pr = parse_writer_args(argc, argv, "snapshot", usage_snapshot, 0, &a);
    if (pr >= 0)
        return pr;
    writer w;
    int ret = 1;
    if (writer_start(&w, &a))
        goto out;
    if (resume(&w, a.track))
        goto out;
    int r = tick(&w, 1, 0);
    if (r == 0)
        fprintf(stderr, "ltxctl: %s is empty, nothing written\n", w.path);
    ret = r == 1 ? 0 : 1;
out:
    writer_close(&w);
    return ret;
}

static void usage_replicate(FILE *f) {
    fprintf(f, "usage: ltxctl replicate DB REPLICA [--interval 1s] [--once] [--no-checksum]\n"
               "  Watch DB (WAL or rollback journal, written by other processes) and write the\n"
               "  pages changed since the last tick as the next L0 file. Ctrl-C stops.\n");
}

int cmd_replicate(int argc, char **argv) {
    writer_args a;
    int pr = parse_writer_args(argc, argv, "replicate", usage_replicate, 1, &a);
    if (pr >= 0)
        return pr;
    int once = a.once;
    int64_t interval = a.interval;
    writer w;
    int ret = 1;
    if (writer_start(&w, &a))
        goto out;
    install_signals();
    int need_resume = 1;
    uint64_t written = 0;
    while (!g_stop) {
        int r = 0;
        if (need_resume) {
            r = resume(&w, 1) ? -1 : 0;
            if (r == 0) {
                need_resume = 0;
                if (!once)
                    wr_log("replicating %s to %s from TXID %016llx every %lld ms", w.path,
                           objstore_url(w.st), (unsigned long long)w.next_txid, (long long)interval);
            }
        }
        if (r == 0) {
            r = tick(&w, 0, !once);
            if (r == 1)
                written++;
            if (r < 0 && !w.have_state)
                need_resume = 1;
        }
        if (once) {
            ret = r < 0 ? 1 : 0;
            goto out;
        }
        nap(interval);
    }
    wr_log("stopped after writing %llu file(s); next TXID %016llx", (unsigned long long)written,
           (unsigned long long)w.next_txid);
    ret = 0;
out:
    writer_close(&w);
    return ret;
}

/* ---- compact -------------------------------------------------------------- */

static void usage_compact(FILE *f) {
    fprintf(f,
            "usage: ltxctl compact REPLICA --level N [--l0-retention D]\n"
            "       ltxctl compact REPLICA --snapshot\n"
            "       ltxctl compact REPLICA --ladder [--once] [--intervals 30s,5m,1h]\n"
            "                              [--l0-retention 5m] [--snapshot-interval D]\n"
            "  --level N      merge the files of level N-1 above level N's max TXID into one\n"
            "                 file at level N (1..8)\n"
            "  --snapshot     write a level-9 snapshot (min TXID 1) of the latest state\n"
            "  --ladder       run Litestream's ladder: L1 every 30 s, L2 every 5 min, L3 every\n"
            "                 1 h (wall-clock aligned), L0 retention every 15 s\n"
            "  --once         one pass of every ladder level now, then exit\n"
            "  --l0-retention delete L0 files older than this once L1 covers them (0 = keep)\n");
}

static int parse_intervals(const char *s, int64_t iv[3]) {
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (k >= 3 || wr_parse_duration(t, &iv[k]) || iv[k] <= 0)
            return -1;
        k++;
    }
    return k == 3 ? 0 : -1;
}

/* Newest CreatedAt in a level (0 if empty or unreadable). */
static int64_t newest_created(objstore *st, int level) {
    ltx_fileinfo *f = NULL;
    size_t n = 0;
    obj_error oe;
    memset(&oe, 0, sizeof oe);
    int64_t m = 0;
    if (objstore_list_level(st, WR_DB, level, 0, &f, &n, &oe) == OBJ_OK)
        for (size_t i = 0; i < n; i++)
            if (f[i].created_ms > m)
                m = f[i].created_ms;
    free(f);
    return m;
}

static int retention_pass(objstore *st, int64_t ret_ms) {
    int deleted = 0;
    if (ret_ms <= 0)
        return 0;
    return wr_l0_retention(st, ret_ms, wr_now_ms(), &deleted);
}

int cmd_compact(int argc, char **argv) {
    const char *replica = NULL;
    int level = 0, ladder = 0, once = 0, snapshot = 0, ret_set = 0;
    int64_t iv[3] = {30000, 300000, 3600000};
    int64_t ret_ms = 300000, snap_iv = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--ladder")) {
            ladder = 1;
        } else if (!strcmp(argv[i], "--once")) {
            once = 1;
        } else if (!strcmp(argv[i], "--snapshot")) {
            snapshot = 1;
        } else if ((v = opt_value(argc, argv, &i, "--level"))) {
            char *end = NULL;
            long l = strtol(v, &end, 10);
            if (!*v || *end || l < 1 || l > 8) {
                fprintf(stderr, "ltxctl compact: --level must be 1..8 (level 9 is --snapshot)\n");
                return 2;
            }
            level = (int)l;
        } else if ((v = opt_value(argc, argv, &i, "--l0-retention"))) {
            if (wr_parse_duration(v, &ret_ms)) {
                fprintf(stderr, "ltxctl compact: bad --l0-retention '%s'\n", v);
                return 2;
            }
            ret_set = 1;
        } else if ((v = opt_value(argc, argv, &i, "--intervals"))) {
            if (parse_intervals(v, iv)) {
                fprintf(stderr, "ltxctl compact: --intervals wants three durations, e.g. 30s,5m,1h\n");
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--snapshot-interval"))) {
            if (wr_parse_duration(v, &snap_iv)) {
                fprintf(stderr, "ltxctl compact: bad --snapshot-interval '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_compact(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ltxctl compact: unknown option %s\n", argv[i]);
            usage_compact(stderr);
            return 2;
        } else if (!replica) {
            replica = argv[i];
        } else {
            usage_compact(stderr);
            return 2;
        }
    }
    if (!replica || (!!level + ladder + snapshot) != 1) {
        fprintf(stderr, "ltxctl compact: give REPLICA and exactly one of --level N, --ladder, --snapshot\n");
        usage_compact(stderr);
        return 2;
    }
    objstore *st = wr_store_open(replica);
    if (!st)
        return 1;
    int ret = 1, wrote = 0;
    obj_error fe;
    if (!ladder && objstore_check_folder(st, WR_DB, &fe) != OBJ_OK) /* a typo: say so, still nothing to do */
        fprintf(stderr, "ltxctl compact: note: %s\n", fe.msg);
    if (level) {
        if (wr_compact_level(st, level, &wrote) == 0) {
            if (!wrote)
                wr_log("L%d: nothing new in L%d", level, level - 1);
            ret = 0;
            if (level == 1 && ret_set && retention_pass(st, ret_ms))
                ret = 1;
        }
        goto out;
    }
    if (snapshot) {
        if (wr_snapshot_level9(st, &wrote) == 0) {
            if (!wrote)
                wr_log("L9: the newest snapshot is already current");
            ret = 0;
        }
        goto out;
    }
    /* ladder */
    if (once) {
        ret = 0;
        for (int l = 1; l <= 3; l++) {
            if (wr_compact_level(st, l, &wrote))
                ret = 1;
            else if (!wrote)
                wr_log("L%d: nothing new in L%d", l, l - 1);
        }
        if (retention_pass(st, ret_ms))
            ret = 1;
        if (snap_iv > 0 && wr_snapshot_level9(st, &wrote))
            ret = 1;
        goto out;
    }
    install_signals();
    int64_t now = wr_now_ms();
    int64_t last_tick[3], last_snap = snap_iv > 0 ? now / snap_iv * snap_iv : 0, last_ret = now;
    for (int l = 0; l < 3; l++)
        last_tick[l] = now / iv[l] * iv[l];
    wr_log("compaction ladder on %s: L1 %lld ms, L2 %lld ms, L3 %lld ms, L0 retention %lld ms",
           objstore_url(st), (long long)iv[0], (long long)iv[1], (long long)iv[2], (long long)ret_ms);
    while (!g_stop) {
        now = wr_now_ms();
        for (int l = 0; l < 3 && !g_stop; l++) {
            int64_t t = now / iv[l] * iv[l];
            if (t <= last_tick[l])
                continue;
            last_tick[l] = t;
            /* Litestream's rule: skip when the destination already has a
             * file made in this window (another compactor, or a restart). */
            if (newest_created(st, l + 1) >= t)
                continue;
            if (wr_compact_level(st, l + 1, &wrote) == 0 && wrote && l == 0 && ret_ms > 0) {
                retention_pass(st, ret_ms);
                last_ret = now;
            }
        }
        if (ret_ms > 0 && now - last_ret >= 15000) {
            retention_pass(st, ret_ms);
            last_ret = now;
        }
        if (snap_iv > 0 && now / snap_iv * snap_iv > last_snap) {
            last_snap = now / snap_iv * snap_iv;
            wr_snapshot_level9(st, &wrote);
        }
        int64_t to_next = 1000 - wr_now_ms() % 1000;
        nap(to_next > 0 ? to_next : 1);
    }
    wr_log("compaction ladder stopped");
    ret = 0;
out:
    objstore_close(st);
    return ret;
}
