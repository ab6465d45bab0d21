/* cli.h - ltxctl's command-line plumbing, the way server/config.c does it
 * for ltxpaged: one table (cli_options, ltxctl.c) has a row per option:
 * the commands that take it, flag, kind, field of cli_args, bounds,
 * default, help. The same rows drive getopt_long parsing, fill cli_args
 * (defaults, then argv) and print each command's --help (`ltxctl help CMD`).
 * A command's run function gets the filled cli_args and its operands. */
#ifndef LTXCTL_CLI_H
#define LTXCTL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "objstore.h"

/* The commands, as bits of cli_opt.cmds and cli_cmd.mask. */
enum {
    CLI_INSPECT = 1 << 0,
    CLI_VERIFY = 1 << 1,
    CLI_RESTORE = 1 << 2,
    CLI_SNAPSHOT = 1 << 3,
    CLI_REPLICATE = 1 << 4,
    CLI_COMPACT = 1 << 5,
    CLI_LEASE = 1 << 6,
};
/* The commands that open a replica through cli_store_opts(). */
#define CLI_STORE_CMDS (CLI_INSPECT | CLI_VERIFY | CLI_RESTORE | CLI_SNAPSHOT | CLI_REPLICATE | CLI_COMPACT)

/* What an option's value is, and so how it is parsed and stored. */
enum cli_kind {
    CLI_FLAG,     /* int set to 1; takes no value */
    CLI_STRING,   /* const char * (points into argv or the default) */
    CLI_INT,      /* int, min..max */
    CLI_DURATION, /* int64_t ms (strparse_duration_ms), at least min */
    CLI_FILE,     /* const char *, a file that must open for reading */
    CLI_FN,       /* cli_opt.parse(value, field) */
};

struct cli_cmd;

/* Every option value of every command; each command reads its own. */
typedef struct cli_args {
    const struct cli_cmd *cmd; /* first: offset 0 is no option's "given" */
    int json, verbose, quiet, no_pages;
    size_t buffer_limit; /* 0: the engine's default; "0" given is stored as 1 */
    /* restore */
    const char *txid, *time, *db;
    int force, dry_run, time_source;
    /* snapshot, replicate */
    int no_checksum, once;
    int64_t interval_ms;
    /* compact */
    int level, snapshot, ladder, l0_retention_given, retention_given;
    int64_t intervals_ms[3], l0_retention_ms, snapshot_interval_ms, retention_ms;
    const char *cafile;
} cli_args;

/* One row of the option table. */
typedef struct {
    unsigned cmds;      /* CLI_* bits of the commands that take it */
    const char *name;   /* long name without "--" */
    int key;            /* a short option letter, or 0 */
    enum cli_kind kind; /* how the value is parsed and stored */
    size_t off;         /* offsetof(cli_args, ...) of the value */
    size_t given;       /* offsetof an int set to 1 when given on the command line, or 0 */
    long min, max;      /* CLI_INT bounds; CLI_DURATION min (ms) */
    int (*parse)(const char *val, void *field); /* CLI_FN: 0 ok, -1 refused */
    const char *def;     /* default as a value of the flag (parsed like one), or NULL */
    const char *metavar; /* value name in --help ("T", "BYTES") */
    const char *help;    /* one line; NULL hides an alias from --help */
    const char *hint;    /* after "bad --name 'V'" when a value is refused, or NULL */
} cli_opt;

typedef struct cli_cmd {
    const char *name; /* "restore" */
    unsigned mask;    /* its CLI_* bit */
    /* Runs with the options parsed and the operands in argv[0 .. argc-1]. */
    int (*run)(const cli_args *a, int argc, char **argv);
    int min_args, max_args; /* operand count; fewer: the help on stderr, more: an error */
    const char *summary;    /* one line for `ltxctl --help` (after "ltxctl ") */
    const char *synopsis;   /* usage lines, '\n'-separated, each after "ltxctl "; a
                             * line starting with a space continues the one above */
    const char *about;      /* text after the usage lines, or NULL */
} cli_cmd;

/* The option table (ltxctl.c), in --help order; -h/--help is implicit. */
extern const cli_opt cli_options[];
extern const size_t cli_noptions;

/* Parse argv (argv[0] is the command name) with getopt_long: options may
 * come before, between or after the operands. -h/--help prints the help
 * and returns 0; an unknown option, a missing or refused value or a wrong
 * number of operands prints "ltxctl CMD: ..." on stderr and returns 2.
 * Otherwise runs the command and returns its exit status. */
int cli_run(const cli_cmd *c, int argc, char **argv);

/* The store options given on the command line (--cafile), for objstore_open;
 * fields not given are zero (the store's defaults and environment). */
const objstore_opts *cli_store_opts(void);

/* "usage: ltxctl ...", the about text and the command's options. */
void cli_help(const cli_cmd *c, FILE *f);

/* "ltxctl CMD: <message>" on stderr; returns 2 (a usage error). */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
