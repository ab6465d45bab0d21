/* cmd_lease.c - `ltxctl lease show|break REPLICA`: the database's lease
 * object (Litestream's lock.json beside the level folders: who writes the
 * replica, until when), and breaking it for a holder that is gone.
 * Reference: docs/ltxctl.md ("lease"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ltxctl.h"
#include "objstore.h"
#include "timefmt.h"
#include "util.h"

#define LEASE_NAME "lock.json"
#define LEASE_MAX  4096

/* The object's JSON, with "expired" and "etag" added; NULL if unreadable. */
static json_t *lease_parse(const uint8_t *buf, size_t len, const char *etag)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    const char *x = json_string_value(json_object_get(j, "expires_at"));
    int64_t ms = 0;
    if (!x || timefmt_parse_rfc3339(x, &ms) != 0 || !json_is_integer(json_object_get(j, "generation"))) {
        json_decref(j);
        return NULL;
    }
    json_object_set_new(j, "expired", json_boolean(ms <= timefmt_now_ms()));
    json_object_set_new(j, "etag", json_string(etag));
    return j;
}

static void lease_print(const char *what, const json_t *j)
{
    const char *owner = json_string_value(json_object_get(j, "owner"));
    printf("%s: owner %s, generation %lld, expires %s (%s)\n", what, owner ? owner : "(none)",
           (long long)json_integer_value(json_object_get(j, "generation")),
           json_string_value(json_object_get(j, "expires_at")),
           json_is_true(json_object_get(j, "expired")) ? "expired" : "held");
}

int cmd_lease(const cli_args *a, int argc, char **argv)
{
    (void)argc;
    int as_json = a->json;
    if (strcmp(argv[0], "show") && strcmp(argv[0], "break")) {
        cli_help(a->cmd, stderr);
        return 2;
    }
    int do_break = !strcmp(argv[0], "break");
    const char *url = argv[1];
    obj_error e = { 0 };
    objstore *st = objstore_open(url, NULL, &e);
    if (!st) {
        fprintf(stderr, "ltxctl lease: %s: %s\n", url, e.msg);
        return 1;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    char etag[LTX_ETAG_MAX] = "";
    int ret = 1;
    json_t *j = NULL;
    obj_status s = objstore_get_object(st, "", LEASE_NAME, LEASE_MAX, &buf, &len, etag, &e);
    if (s == OBJ_NOT_FOUND) {
        if (as_json)
            put_json(json_pack("{s:n}", "lease"));
        else
            printf("no lease (%s/%s does not exist)\n", url, LEASE_NAME);
        ret = 0;
        goto out;
    }
    if (s != OBJ_OK) {
        fprintf(stderr, "ltxctl lease: %s: %s\n", url, e.msg[0] ? e.msg : obj_status_str(s));
        goto out;
    }
    j = lease_parse(buf, len, etag);
    if (!j && !do_break) {
        fprintf(stderr, "ltxctl lease: %s/%s is not a lease object\n", url, LEASE_NAME);
        goto out;
    }
    if (do_break) {
        s = objstore_delete_object(st, "", LEASE_NAME, etag[0] ? etag : NULL, &e);
        if (s == OBJ_CHANGED) {
            fprintf(stderr,
                    "ltxctl lease: the lease changed while breaking it (renewed or taken); not broken\n");
            goto out;
        }
        if (s != OBJ_OK && s != OBJ_NOT_FOUND) {
            fprintf(stderr, "ltxctl lease: break: %s\n", e.msg[0] ? e.msg : obj_status_str(s));
            goto out;
        }
    }
    if (as_json) {
        json_t *o = json_pack("{s:O?}", "lease", j);
        if (do_break)
            json_object_set_new(o, "broken", json_true());
        put_json(o);
    } else if (j) {
        lease_print(do_break ? "broken" : "lease", j);
    } else {
        printf("broken: an unreadable %s\n", LEASE_NAME);
    }
    ret = 0;
out:
    json_decref(j);
    free(buf);
    objstore_close(st);
    return ret;
}
