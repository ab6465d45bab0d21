/* Unit tests of the one table that turns the database layer's error codes
 * into HTTP answers (server/errmap.c). The statuses and wire codes are the
 * contract in ../shared/docs/DESIGN.md: a change here is a protocol change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "errmap.h"
#include "wire.h"

static void expect(db_errcode c, int status, const char *code)
{
    const errmap_http *m = errmap_db(c);
    assert_non_null(m);
    assert_int_equal(m->status, status);
    assert_string_equal(m->code, code);
}

static void test_each_code(void **st)
{
    (void)st;
    expect(DB_E_NOT_READY, 503, LTXW_E_UNAVAILABLE);
    expect(DB_E_TXID_AHEAD, 409, LTXW_E_TXID_AHEAD);
    expect(DB_E_TXID_GONE, 410, LTXW_E_TXID_GONE);
    expect(DB_E_PAGE_RANGE, 404, LTXW_E_PAGE_RANGE);
    expect(DB_E_STORE, 502, LTXW_E_UPSTREAM);
    expect(DB_E_STORE_TIMEOUT, 504, LTXW_E_UPSTREAM); /* the store's deadline passed */
    expect(DB_E_NOMEM, 500, LTXW_E_INTERNAL);
    expect(DB_E_INTERNAL, 500, LTXW_E_INTERNAL);
}

static void test_retry_after(void **st)
{
    (void)st;
    /* a database still building its index, and a store that did not answer
     * within its deadline, say when to come back */
    for (int c = 0; c < DB_E_COUNT; c++) {
        const errmap_http *m = errmap_db((db_errcode)c);
        if (c == DB_E_NOT_READY || c == DB_E_STORE_TIMEOUT)
            assert_string_equal(m->retry_after, "1");
        else
            assert_null(m->retry_after);
    }
}

static void test_unset_and_unknown(void **st)
{
    (void)st;
    /* an error nobody filled in, or a code from outside the table */
    expect(DB_E_NONE, 500, LTXW_E_INTERNAL);
    expect(DB_E_COUNT, 500, LTXW_E_INTERNAL);
    expect((db_errcode)-1, 500, LTXW_E_INTERNAL);
    expect((db_errcode)1000, 500, LTXW_E_INTERNAL);
}

static void test_names(void **st)
{
    (void)st;
    /* every code has its own name */
    for (int a = 0; a < DB_E_COUNT; a++) {
        const char *na = db_errcode_name((db_errcode)a);
        assert_non_null(na);
        assert_string_not_equal(na, "unknown");
        for (int b = a + 1; b < DB_E_COUNT; b++)
            assert_string_not_equal(na, db_errcode_name((db_errcode)b));
    }
    assert_string_equal(db_errcode_name(DB_E_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_code),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_unset_and_unknown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
