/* ltxctl.h - subcommands of the ltxctl tool. Each returns the exit status. */
#ifndef LTXCTL_H
#define LTXCTL_H

/* tools/cmd_read.c */
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_restore(int argc, char **argv);
/* tools/cmd_write.c */
int cmd_snapshot(int argc, char **argv);
int cmd_replicate(int argc, char **argv);
int cmd_compact(int argc, char **argv);

#endif
