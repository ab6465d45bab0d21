/* cmd_read.c - placeholder until implemented. */
#include <stdio.h>
#include "ltxctl.h"
int cmd_inspect(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl inspect: not implemented yet\n"); return 2; }
int cmd_verify(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl verify: not implemented yet\n"); return 2; }
int cmd_restore(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "ltxctl restore: not implemented yet\n"); return 2; }
