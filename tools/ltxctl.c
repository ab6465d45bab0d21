/* ltxctl.c - command-line tool for LTX files and Litestream replicas. */
#include <stdio.h>
#include <string.h>

#include "ltxctl.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *usage;
} commands[] = {
    {"inspect", cmd_inspect, "inspect FILE [--json]            header, pages, trailer of one LTX file"},
    {"verify", cmd_verify, "verify PATH... [--json]          check files or whole replicas"},
    {"restore", cmd_restore, "restore REPLICA OUT.db [--txid T | --time RFC3339] [--force]"},
    {"snapshot", cmd_snapshot, "snapshot DB REPLICA              write DB as a full L0 file at the next TXID"},
    {"replicate", cmd_replicate, "replicate DB REPLICA [--interval 1s] [--once]   live L0 writer"},
    {"compact", cmd_compact, "compact REPLICA --level N | --ladder   merge into level N / run L1-L3 ladder"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ltxctl COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  ltxctl %s\n", commands[i].usage);
    fprintf(f, "\nREPLICA is a directory holding ltx/<level>/, file:///path, or s3://bucket/prefix.\n"
               "TXIDs are hex as in LTX file names (16 digits; shorter accepted).\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ltxctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
