/* Unit tests of ltxpaged's database set (server/srv.c): a write creating a
 * database holds it, so a rescan that finds its folder still empty (no
 * first file yet) cannot remove it; one removed just before the hold is
 * added back. CI once saw a create answer 404 because a rescan removed
 * the database between its add and the write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "srv.h"

static char root[] = "/tmp/ltxsrv-XXXXXX";
static srv g_srv;

/* one server for the group: a file --replica root, no pollers */
static int open_srv(void **st)
{
    (void)st;
    if (!mkdtemp(root))
        return -1;
    char url[64];
    snprintf(url, sizeof url, "file://%s", root);
    char *argv[] = {"ltxpaged", "--replica", url, NULL};
    FILE *null = fopen("/dev/null", "w");
    int rc = null && config_load(&g_srv.cfg, 3, argv, null) == 0 && srv_init(&g_srv) == 0 ? 0 : -1;
    if (null)
        fclose(null);
    return rc;
}

static int close_srv(void **st)
{
    (void)st;
    srv_destroy(&g_srv);
    config_free(&g_srv.cfg);
    return rmdir(root);
}

static void test_create_hold_survives_rescan(void **st)
{
    (void)st;
    ltxdb *d = srv_create_db(&g_srv, "new.db");
    assert_non_null(d);
    /* held: a rescan of any age leaves it, though its folder is empty */
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 0);
    assert_ptr_equal(srv_find_db(&g_srv, "new.db"), d);
    ltxdb_creator_release(d);
    /* the create ended without a file: the next rescan removes it */
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 1);
    assert_null(srv_find_db(&g_srv, "new.db"));
}

static void test_create_readds_removed(void **st)
{
    (void)st;
    ltxdb *d = srv_create_db(&g_srv, "again.db");
    assert_non_null(d);
    ltxdb_creator_release(d);
    /* a rescan removes it between a create's add and its hold */
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 1);
    assert_true(ltxdb_removed(d));
    assert_ptr_equal(srv_create_db(&g_srv, "again.db"), d);
    assert_false(ltxdb_removed(d));
    assert_ptr_equal(srv_find_db(&g_srv, "again.db"), d);
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 0);
    ltxdb_creator_release(d);
    /* two creates at once: removable only when both let go */
    assert_ptr_equal(srv_create_db(&g_srv, "again.db"), d);
    assert_ptr_equal(srv_create_db(&g_srv, "again.db"), d);
    ltxdb_creator_release(d);
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 0);
    ltxdb_creator_release(d);
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 1);
}

/* Each database added (or added back) bumps poll_kicks: a poller checks the
 * count, not only the broadcast, before it sleeps, so one that was walking
 * its table when the database came does not sleep until the next rescan. */
static void test_added_db_kicks_pollers(void **st)
{
    (void)st;
    uint64_t k0 = atomic_load(&g_srv.poll_kicks);
    ltxdb *d = srv_create_db(&g_srv, "kick.db");
    assert_non_null(d);
    uint64_t k1 = atomic_load(&g_srv.poll_kicks);
    assert_true(k1 > k0);
    ltxdb_creator_release(d);
    assert_int_equal(ltxdb_remove_if_empty(d, UINT64_MAX), 1);
    assert_ptr_equal(srv_create_db(&g_srv, "kick.db"), d);
    assert_true(atomic_load(&g_srv.poll_kicks) > k1);
    ltxdb_creator_release(d);
}

static void test_create_refuses_bad_names(void **st)
{
    (void)st;
    assert_null(srv_create_db(&g_srv, "../x.db"));
    assert_null(srv_create_db(&g_srv, ""));
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_hold_survives_rescan),
        cmocka_unit_test(test_create_readds_removed),
        cmocka_unit_test(test_added_db_kicks_pollers),
        cmocka_unit_test(test_create_refuses_bad_names),
    };
    return cmocka_run_group_tests(tests, open_srv, close_srv);
}
