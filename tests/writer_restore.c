/* writer_restore.c - test driver: restore the latest state of a replica
 * (file path, file:// or s3:// URL) into a database file with the writer's
 * own restore (restore plan + whole files applied in order). Used by the
 * writer tests while `ltxctl restore` is not available, and under ASan.
 * usage: writer_restore REPLICA OUT.db */
#include <stdio.h>
#include <stdlib.h>

#include "writer_store.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: writer_restore REPLICA OUT.db\n");
        return 2;
    }
    objstore *st = wr_store_open(argv[1]);
    if (!st)
        return 1;
    wr_pages pm;
    wr_pages_init(&pm, 0);
    uint64_t txid = 0;
    int ret = 1;
    uint8_t *img = NULL;
    size_t len = 0;
    ltx_error e;
    if (wr_restore_latest(st, &pm, &txid, NULL, NULL) || txid == 0) {
        if (txid == 0)
            fprintf(stderr, "writer_restore: empty replica\n");
        goto out;
    }
    if (wr_pages_image(&pm, &img, &len, &e) != LTX_OK) {
        fprintf(stderr, "writer_restore: %s\n", e.msg);
        goto out;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(img, 1, len, f) != len || fclose(f) != 0) {
        perror(argv[2]);
        goto out;
    }
    printf("restored TXID %016llx, %u pages\n", (unsigned long long)txid, pm.commit);
    ret = 0;
out:
    free(img);
    wr_pages_free(&pm);
    objstore_close(st);
    return ret;
}
