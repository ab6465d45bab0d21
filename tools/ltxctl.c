/* ltxctl.c - command-line tool for LTX files and Litestream replicas: the
 * table of every subcommand and the table of every option (cli.h), the
 * dispatch to the subcommands (cmd_*.c), `ltxctl help [CMD]`,
 * `ltxctl --version`. Adding an option is adding a row here and its field
 * in cli_args. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ltxctl.h"
#include "restore.h"
#include "strparse.h"

#ifndef LTXCTL_VERSION
#define LTXCTL_VERSION "unknown"
#endif

/* ---- value parsers (CLI_FN) ------------------------------------------------ */

/* --buffer-limit: bytes; "0" (stream every file) is stored as 1, since 0
 * means "not given, the engine's default". */
static int parse_buffer_limit(const char *v, void *field)
{
    uint64_t b;
    if (strparse_size(v, &b) != 0 || b > SIZE_MAX)
        return -1;
    *(size_t *)field = b ? (size_t)b : 1;
    return 0;
}

/* --time-source: auto, listing (alias mtime) or header. */
static int parse_time_source(const char *v, void *field)
{
    static const struct {
        const char *name;
        restore_time_source ts;
    } names[] = { { "auto", RESTORE_TIME_AUTO },
                  { "listing", RESTORE_TIME_LISTING },
                  { "mtime", RESTORE_TIME_LISTING },
                  { "header", RESTORE_TIME_HEADER } };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].name)) {
            *(int *)field = (int)names[i].ts;
            return 0;
        }
    return -1;
}

/* --intervals: three positive durations, "30s,5m,1h". */
static int parse_intervals(const char *v, void *field)
{
    int64_t *iv = field, ms[3];
    int k = 0;
    for (const char *s = v;; k++) {
        const char *comma = strchr(s, ',');
        char t[32];
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (k >= 3 || n >= sizeof t)
            return -1;
        memcpy(t, s, n);
        t[n] = 0;
        if (strparse_duration_ms(t, &ms[k]) != 0 || ms[k] <= 0)
            return -1;
        if (!comma)
            break;
        s = comma + 1;
    }
    if (k != 2)
        return -1;
    memcpy(iv, ms, sizeof ms);
    return 0;
}

/* ---- the tables ------------------------------------------------------------ */

#define F(field)          offsetof(cli_args, field)
#define BUFFER_LIMIT_HELP "read files up to BYTES whole, stream larger ones (default 64M; 0 streams all)"

/* In --help order: each command lists its rows in this order. */
const cli_opt cli_options[] = {
    { CLI_INSPECT, "json", 0, CLI_FLAG, F(json), 0, 0, 0, NULL, NULL, NULL, "print one JSON object", NULL },
    { CLI_INSPECT, "no-pages", 0, CLI_FLAG, F(no_pages), 0, 0, 0, NULL, NULL, NULL,
      "leave out the per-page table", NULL },
    { CLI_VERIFY, "json", 0, CLI_FLAG, F(json), 0, 0, 0, NULL, NULL, NULL, "print one JSON report", NULL },
    { CLI_VERIFY, "verbose", 'v', CLI_FLAG, F(verbose), 0, 0, 0, NULL, NULL, NULL,
      "a line for every good file", NULL },
    { CLI_RESTORE, "txid", 0, CLI_STRING, F(txid), 0, 0, 0, NULL, NULL, "T",
      "restore up to TXID T (hex, as in file names)", NULL },
    { CLI_RESTORE, "time", 0, CLI_STRING, F(time), 0, 0, 0, NULL, NULL, "RFC3339",
      "restore the state as of this time", NULL },
    { CLI_RESTORE, "timestamp", 0, CLI_STRING, F(time), 0, 0, 0, NULL, NULL, "RFC3339", NULL, NULL },
    { CLI_RESTORE, "force", 'f', CLI_FLAG, F(force), 0, 0, 0, NULL, NULL, NULL,
      "overwrite OUT.db (and remove a stale -wal, -shm, -journal)", NULL },
    { CLI_RESTORE, "db", 0, CLI_STRING, F(db), 0, 0, 0, NULL, "", "NAME",
      "the database folder inside REPLICA", NULL },
    { CLI_RESTORE, "dry-run", 0, CLI_FLAG, F(dry_run), 0, 0, 0, NULL, NULL, NULL,
      "print the restore plan, write nothing (alias --plan)", NULL },
    { CLI_RESTORE, "plan", 0, CLI_FLAG, F(dry_run), 0, 0, 0, NULL, NULL, NULL, NULL, NULL },
    { CLI_RESTORE, "time-source", 0, CLI_FN, F(time_source), 0, 0, 0, parse_time_source, NULL, "SRC",
      "CreatedAt for --time: auto, listing or header", "auto, listing or header" },
    { CLI_VERIFY | CLI_RESTORE, "buffer-limit", 0, CLI_FN, F(buffer_limit), 0, 0, 0, parse_buffer_limit, NULL,
      "BYTES", BUFFER_LIMIT_HELP, "a byte count, e.g. 64M; 0 streams every file" },
    { CLI_RESTORE, "quiet", 'q', CLI_FLAG, F(quiet), 0, 0, 0, NULL, NULL, NULL,
      "no summary line, no progress", NULL },
    { CLI_RESTORE, "json", 0, CLI_FLAG, F(json), 0, 0, 0, NULL, NULL, NULL,
      "print the result (or the plan) as JSON", NULL },
    { CLI_REPLICATE, "interval", 0, CLI_DURATION, F(interval_ms), 0, 1, 0, NULL, "1s", "D",
      "time between ticks (default 1s; 500ms, 2m, ...)", "e.g. 500ms, 1s, 2m" },
    { CLI_REPLICATE, "once", 0, CLI_FLAG, F(once), 0, 0, 0, NULL, NULL, NULL, "one tick, then exit", NULL },
    { CLI_SNAPSHOT | CLI_REPLICATE, "no-checksum", 0, CLI_FLAG, F(no_checksum), 0, 0, 0, NULL, NULL, NULL,
      "write NoChecksum files (no database checksums)", NULL },
    { CLI_COMPACT, "level", 0, CLI_INT, F(level), 0, 1, 8, NULL, NULL, "N",
      "merge the files of level N-1 above level N's max TXID into one file at level N (1..8)",
      "1..8; level 9 is --snapshot" },
    { CLI_COMPACT, "snapshot", 0, CLI_FLAG, F(snapshot), 0, 0, 0, NULL, NULL, NULL,
      "write a level-9 snapshot (min TXID 1) of the latest state", NULL },
    { CLI_COMPACT, "ladder", 0, CLI_FLAG, F(ladder), 0, 0, 0, NULL, NULL, NULL,
      "run Litestream's ladder: L1 every 30 s, L2 every 5 min, L3 every 1 h (wall-clock aligned), L0 "
      "retention every 15 s",
      NULL },
    { CLI_COMPACT, "once", 0, CLI_FLAG, F(once), 0, 0, 0, NULL, NULL, NULL,
      "one pass of every ladder level now, then exit", NULL },
    { CLI_COMPACT, "intervals", 0, CLI_FN, F(intervals_ms), 0, 0, 0, parse_intervals, "30s,5m,1h", "L1,L2,L3",
      "ladder intervals (default 30s,5m,1h)", "three durations, e.g. 30s,5m,1h" },
    { CLI_COMPACT, "l0-retention", 0, CLI_DURATION, F(l0_retention_ms), F(l0_retention_given), 0, 0, NULL,
      "5m", "D", "delete L0 files older than this once L1 covers them (default 5m; 0 = keep)", NULL },
    { CLI_COMPACT, "snapshot-interval", 0, CLI_DURATION, F(snapshot_interval_ms), 0, 0, 0, NULL, NULL, "D",
      "with --ladder: a level-9 snapshot this often", NULL },
    { CLI_COMPACT, "retention", 0, CLI_DURATION, F(retention_ms), F(retention_given), 0, 0, NULL, "24h", "D",
      "keep snapshots and the L1+ files they cover this long, as ltxpaged --retention (default with --ladder "
      "24h; with --snapshot only when given; 0 = keep)",
      NULL },
    { CLI_LEASE, "json", 'j', CLI_FLAG, F(json), 0, 0, 0, NULL, NULL, NULL, "print the lease as JSON", NULL },
    { CLI_STORE_CMDS, "cafile", 0, CLI_FILE, F(cafile), 0, 0, 0, NULL, NULL, "FILE",
      "CA certificates (PEM) for https:// S3 endpoints (default $AWS_CA_BUNDLE, system CAs)", NULL },
};
const size_t cli_noptions = sizeof cli_options / sizeof cli_options[0];

static const cli_cmd commands[] = {
    { "inspect", CLI_INSPECT, cmd_inspect, 1, 1,
      "inspect FILE [--json]            header, pages, trailer of one LTX file",
      "inspect FILE|URL [--json] [--no-pages]",
      "Decode one LTX file (a path, file:///… or s3://…) and verify all of it:\n"
      "frames, page index and file checksum." },
    { "verify", CLI_VERIFY, cmd_verify, 1, INT_MAX,
      "verify PATH... [--json]          check files or whole replicas",
      "verify PATH... [--json] [-v] [--buffer-limit=BYTES]",
      "PATH: an LTX file, a replica folder (holding ltx/), file:///path or s3://bucket/prefix" },
    { "restore", CLI_RESTORE, cmd_restore, 1, 2,
      "restore REPLICA OUT.db [--txid T | --time RFC3339] [--force]",
      "restore REPLICA OUT.db [--txid T | --time RFC3339] [--force]\n"
      " [--db NAME] [--dry-run] [--time-source auto|listing|header]\n"
      " [--buffer-limit BYTES] [--quiet] [--json] [--cafile FILE]",
      NULL },
    { "snapshot", CLI_SNAPSHOT, cmd_snapshot, 2, 2,
      "snapshot DB REPLICA              write DB as a full L0 file at the next TXID",
      "snapshot DB REPLICA [--no-checksum]",
      "  Write the whole database as one L0 file at the replica's next TXID\n"
      "  (TXID 1, a snapshot, for an empty replica)." },
    { "replicate", CLI_REPLICATE, cmd_replicate, 2, 2,
      "replicate DB REPLICA [--interval 1s] [--once]   live L0 writer",
      "replicate DB REPLICA [--interval 1s] [--once] [--no-checksum]",
      "  Watch DB (WAL or rollback journal, written by other processes) and write the\n"
      "  pages changed since the last tick as the next L0 file. Ctrl-C stops." },
    { "compact", CLI_COMPACT, cmd_compact, 0, 1,
      "compact REPLICA --level N | --ladder   merge into level N / run L1-L3 ladder",
      "compact REPLICA --level N [--l0-retention D]\n"
      "compact REPLICA --snapshot [--retention D]\n"
      "compact REPLICA --ladder [--once] [--intervals 30s,5m,1h]\n"
      "                        [--l0-retention 5m] [--snapshot-interval D] [--retention 24h]",
      NULL },
    { "lease", CLI_LEASE, cmd_lease, 2, 2,
      "lease show|break REPLICA         the writer's lease (lock.json): show or break it",
      "lease show REPLICA [--json]\nlease break REPLICA [--json]",
      "  show: who holds the replica's lease (Litestream's lock.json, also taken by\n"
      "  ltxpaged --write-token), its generation and expiry, and whether it expired.\n"
      "  break: delete it (only the version just read), so another writer can take\n"
      "  it at once. Meant for a holder that is gone: a live holder notices at its\n"
      "  next renewal and must take the lease again before it writes; its\n"
      "  create-only publishes never replace a file either way.\n"
      "  Exit status: 0 ok (also when there is no lease), 1 error." },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ---- dispatch -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: ltxctl COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  ltxctl %s\n", commands[i].summary);
    fprintf(f, "\nREPLICA is a directory holding ltx/<level>/, file:///path, or s3://bucket/prefix.\n"
               "TXIDs are hex as in LTX file names (16 digits; shorter accepted).\n"
               "`ltxctl help COMMAND` or `ltxctl COMMAND --help` shows a command's options;\n"
               "`ltxctl --version` the version.\n");
}

static const cli_cmd *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("ltxctl %s\n", LTXCTL_VERSION);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "help")) {
        const cli_cmd *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "ltxctl: unknown command '%s'\n", argv[2]);
            usage(stderr);
            return 2;
        }
        cli_help(c, stdout);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const cli_cmd *c = find(argv[1]);
    if (c)
        return cli_run(c, argc - 1, argv + 1);
    fprintf(stderr, "ltxctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
