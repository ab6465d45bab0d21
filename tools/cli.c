/* cli.c - ltxctl's option table at work: getopt_long parsing, defaults and
 * --help for every subcommand (see cli.h; the table is in ltxctl.c). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "strparse.h"

/* getopt_long's value for row i of the table. */
#define CLI_KEY_BASE 256

/* One command runs per process: its store options live here. */
static objstore_opts cli_sopts = { .s3_path_style = -1, .max_retries = -1 };

const objstore_opts *cli_store_opts(void) { return &cli_sopts; }

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ltxctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

static int cli_takes(const cli_cmd *c, const cli_opt *o) { return (o->cmds & c->mask) != 0; }

/* Store a value of option o into a. Returns -1 to go on, or 2 (said). */
static int cli_set(const cli_cmd *c, const cli_opt *o, cli_args *a, const char *v)
{
    void *field = (char *)a + o->off;
    int ok = 1;
    long l;
    switch (o->kind) {
    case CLI_FLAG: *(int *)field = 1; break;
    case CLI_STRING: *(const char **)field = v; break;
    case CLI_INT:
        ok = strparse_long(v, o->min, o->max, &l) == 0;
        if (ok)
            *(int *)field = (int)l;
        break;
    case CLI_DURATION: ok = strparse_duration_ms(v, field) == 0 && *(int64_t *)field >= o->min; break;
    case CLI_FILE: {
        FILE *f = fopen(v, "r"); /* say now, not after the first request */
        if (!f)
            return cli_usage_err(c->name, "--%s %s: %s", o->name, v, strerror(errno));
        fclose(f);
        *(const char **)field = v;
        break;
    }
    case CLI_FN: ok = o->parse(v, field) == 0; break;
    }
    if (!ok)
        return cli_usage_err(c->name, "bad --%s '%s'%s%s%s", o->name, v, o->hint ? " (" : "",
                             o->hint ? o->hint : "", o->hint ? ")" : "");
    return -1;
}

void cli_help(const cli_cmd *c, FILE *f)
{
    const char *s = c->synopsis;
    for (int first = 1; *s; first = 0) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        if (!first && *s == ' ') /* a continuation of the line above */
            fprintf(f, "       %.*s\n", n - 1, s + 1);
        else
            fprintf(f, "%s ltxctl %.*s\n", first ? "usage:" : "      ", n, s);
        s += n + (nl ? 1 : 0);
    }
    if (c->about)
        fprintf(f, "%s\n", c->about);
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < cli_noptions; i++) {
        const cli_opt *o = &cli_options[i];
        if (!cli_takes(c, o) || !o->help)
            continue;
        char left[64];
        char shortf[8] = "    ";
        if (o->key)
            snprintf(shortf, sizeof shortf, "-%c, ", o->key);
        snprintf(left, sizeof left, "%s--%s%s%s", shortf, o->name, o->kind != CLI_FLAG ? " " : "",
                 o->kind != CLI_FLAG ? o->metavar : "");
        fprintf(f, "  %-28s %s\n", left, o->help);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "this help");
}

/* Fill a from the command's defaults, then argv. Returns -1 with the
 * operands in argv[*first .. argc-1], or an exit status. */
static int cli_parse(const cli_cmd *c, int argc, char **argv, cli_args *a, int *first)
{
    struct option lo[cli_noptions + 2];
    char shorts[2 * cli_noptions + 4];
    size_t n = 0, sl = 0;
    shorts[sl++] = ':';
    shorts[sl++] = 'h';
    for (size_t i = 0; i < cli_noptions; i++) {
        const cli_opt *o = &cli_options[i];
        if (!cli_takes(c, o))
            continue;
        if (o->def && cli_set(c, o, a, o->def) >= 0)
            return 2; /* a table error, said */
        int has_arg = o->kind != CLI_FLAG;
        lo[n++] = (struct option){ o->name, has_arg ? required_argument : no_argument, NULL,
                                   CLI_KEY_BASE + (int)i };
        if (o->key) {
            shorts[sl++] = (char)o->key;
            if (has_arg)
                shorts[sl++] = ':';
        }
    }
    shorts[sl] = 0;
    lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[n] = (struct option){ NULL, 0, NULL, 0 };
    optind = 0; /* a fresh scan (GNU: also resets the permutation state) */
    opterr = 0;
    int k;
    while ((k = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (k == 'h') {
            cli_help(c, stdout);
            return 0;
        }
        if (k == '?' || k == ':') {
            char opt[3] = { '-', (char)optopt, 0 };
            const char *arg = argv[optind - 1];
            const char *what = arg && arg[0] == '-' && arg[1] == '-' ? arg : opt;
            if (k == ':')
                return cli_usage_err(c->name, "%s needs a value", what);
            cli_usage_err(c->name, "unknown option %s", what);
            cli_help(c, stderr);
            return 2;
        }
        const cli_opt *o = NULL;
        if (k >= CLI_KEY_BASE)
            o = &cli_options[k - CLI_KEY_BASE];
        else /* a short letter: the command's row with it */
            for (size_t i = 0; i < cli_noptions && !o; i++)
                if (cli_options[i].key == k && cli_takes(c, &cli_options[i]))
                    o = &cli_options[i];
        int r = cli_set(c, o, a, optarg);
        if (r >= 0)
            return r;
        if (o->given)
            *(int *)((char *)a + o->given) = 1;
    }
    *first = optind;
    return -1;
}

int cli_run(const cli_cmd *c, int argc, char **argv)
{
    cli_args a;
    memset(&a, 0, sizeof a);
    a.cmd = c;
    int first = 0;
    int r = cli_parse(c, argc, argv, &a, &first);
    if (r >= 0)
        return r;
    int nargs = argc - first;
    if (nargs > c->max_args)
        return cli_usage_err(c->name, "unexpected argument %s", argv[first + c->max_args]);
    if (nargs < c->min_args) {
        cli_help(c, stderr);
        return 2;
    }
    cli_sopts.ca_file = a.cafile;
    return c->run(&a, nargs, argv + first);
}
