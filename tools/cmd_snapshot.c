/* cmd_snapshot.c - `ltxctl snapshot DB REPLICA`: write the whole database
 * as one L0 file at the replica's next TXID (writer.c).
 * Reference: docs/ltxctl.md. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ltxctl.h"
#include "writer.h"

int cmd_snapshot(const cli_args *a, int argc, char **argv)
{
    (void)argc;
    int track = !a->no_checksum;
    writer w;
    int ret = 1;
    if (writer_start(&w, argv[0], argv[1], track))
        goto out;
    if (resume(&w, track))
        goto out;
    int r = tick(&w, 1, 0);
    if (r == 0)
        fprintf(stderr, "ltxctl: %s is empty, nothing written\n", w.path);
    ret = r == 1 ? 0 : 1;
out:
    writer_close(&w);
    return ret;
}
