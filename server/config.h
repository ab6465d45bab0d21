/* config.h - ltxpaged flags and LTXPAGED_* environment variables.
 *
 * One table (config.c) describes every option; config_load fills a
 * srv_config from it, config_usage and config_print_markdown print it.
 * Not thread-safe: used from main() before threads start. */
#ifndef LTXPAGED_CONFIG_H
#define LTXPAGED_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "srv.h"

/* "250ms", "1s", "2m", "1h", bare number = seconds. -1 on error. */
int64_t config_parse_duration_ms(const char *s);
/* "256M", "1G", "512K", "256MiB", bare number = bytes. 0 on error. */
uint64_t config_parse_size(const char *s);

/* What an option's value is, and so how it is parsed and stored. */
enum config_kind {
    CONFIG_LIST,      /* char ** at off, size_t count at off2; repeatable,
                         the environment gives several separated by commas
                         or white space */
    CONFIG_LISTEN,    /* HOST:PORT into listen_host (off) and listen_port */
    CONFIG_INT,       /* int, min..max accepted, values above cap (if not 0)
                         are used as cap */
    CONFIG_SIZE,      /* size_t bytes, config_parse_size */
    CONFIG_DURATION,  /* int64_t ms, config_parse_duration_ms, at least min */
    CONFIG_STRING,    /* const char * (a copy owned until config_free) */
    CONFIG_BOOL,      /* int 0/1; the flag alone means true */
    CONFIG_LOG_LEVEL, /* int LOG_* from log_parse_level */
};

/* One row of the option table. */
struct config_opt {
    const char *flag;    /* without the leading "--" */
    const char *env;     /* LTXPAGED_<FLAG> */
    const char *metavar; /* value placeholder in --help ("N", "SIZE") */
    enum config_kind kind;
    size_t off, off2;     /* offsetof(srv_config, ...) */
    long min, max;        /* CONFIG_INT bounds; CONFIG_DURATION min (ms) */
    long cap;             /* CONFIG_INT: larger values are used as this */
    int (*def_fn)(void);  /* default that depends on the machine, or NULL */
    const char *def;      /* default as a flag value (parsed), or NULL */
    const char *def_text; /* default described, when def is NULL
                             (markdown; backticks dropped in --help) */
    int section;          /* heading in --help */
    const char *help;     /* --help text (the default is appended) */
    const char *doc;      /* docs/server.md text (markdown); NULL = help */
};

/* The option table: *n rows, static storage. */
const struct config_opt *config_options(size_t *n);

/* Fill cfg from defaults, environment, then argv. Returns 0 ok, 1 when
 * --help/--help-markdown/--version was printed (exit 0), -1 on a usage
 * error (message printed to err). Strings point into argv/environ or are
 * owned by cfg (free with config_free). */
int config_load(srv_config *cfg, int argc, char **argv, FILE *err);
void config_free(srv_config *cfg);
/* --help text. */
void config_usage(FILE *out);
/* The options table of docs/server.md ("## Flags and environment"). */
void config_print_markdown(FILE *out);

#endif
