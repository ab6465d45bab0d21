/* cmd_replicate.c - `ltxctl replicate DB REPLICA`: watch a database and
 * write the pages changed since the last tick as the next L0 file
 * (writer.c). Reference: docs/ltxctl.md. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ltxctl.h"
#include "writer.h"
#include "writer_store.h"

int cmd_replicate(const cli_args *a, int argc, char **argv)
{
    (void)argc;
    int once = a->once;
    int64_t interval = a->interval_ms;
    writer w;
    int ret = 1;
    if (writer_start(&w, argv[0], argv[1], !a->no_checksum))
        goto out;
    install_signals();
    int need_resume = 1;
    uint64_t written = 0;
    while (!g_stop) {
        int r = 0;
        if (need_resume) {
            r = resume(&w, 1) ? -1 : 0;
            if (r == 0) {
                need_resume = 0;
                if (!once)
                    wr_log("replicating %s to %s from TXID %016llx every %lld ms", w.path, objstore_url(w.st),
                           (unsigned long long)w.next_txid, (long long)interval);
            }
        }
        if (r == 0) {
            r = tick(&w, 0, !once);
            if (r == 1)
                written++;
            if (r < 0 && !w.have_state)
                need_resume = 1;
        }
        if (once) {
            ret = r < 0 ? 1 : 0;
            goto out;
        }
        nap(interval);
    }
    wr_log("stopped after writing %llu file(s); next TXID %016llx", (unsigned long long)written,
           (unsigned long long)w.next_txid);
    ret = 0;
out:
    writer_close(&w);
    return ret;
}
