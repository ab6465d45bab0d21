/* cmd_write.c - placeholder until implemented. */
#include <stdio.h>
#include "ltxctl.h"
int cmd_snapshot(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl snapshot: not implemented yet\n"); return 2; }
int cmd_replicate(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl replicate: not implemented yet\n"); return 2; }
int cmd_compact(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl compact: not implemented yet\n"); return 2; }
