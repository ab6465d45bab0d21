/* ltxctl.h - subcommands of the ltxctl tool, one file each (cmd_*.c). Each
 * runs with its options parsed (cli_args, from the table in ltxctl.c) and
 * its operands in argv[0 .. argc-1], and returns the exit status. */
#ifndef LTXCTL_H
#define LTXCTL_H

#include "cli.h"

int cmd_inspect(const cli_args *a, int argc, char **argv);
int cmd_verify(const cli_args *a, int argc, char **argv);
int cmd_restore(const cli_args *a, int argc, char **argv);
int cmd_snapshot(const cli_args *a, int argc, char **argv);
int cmd_replicate(const cli_args *a, int argc, char **argv);
int cmd_compact(const cli_args *a, int argc, char **argv);
int cmd_lease(const cli_args *a, int argc, char **argv);

#endif
