/* Unit tests of the demand polling policy (server/demand.c): the interval
 * a database gets after a poll. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "demand.h"

static void test_read_recently_polls_every_interval(void **st)
{
    (void)st;
    /* read 10 s ago, idle after 30 s: every poll interval, whatever it was */
    assert_int_equal(demand_next_interval(1000, 10000, 1000, 30000, 60000), 1000);
    assert_int_equal(demand_next_interval(60000, 10000, 1000, 30000, 60000), 1000);
    assert_int_equal(demand_next_interval(0, 0, 250, 30000, 60000), 250);
}

static void test_idle_doubles_up_to_max(void **st)
{
    (void)st;
    int64_t iv = 0, seen[8];
    for (int i = 0; i < 8; i++)
        seen[i] = iv = demand_next_interval(iv, 31000, 1000, 30000, 60000);
    int64_t want[8] = {2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    assert_memory_equal(seen, want, sizeof want);
    /* never read (a huge since): backs off from the first poll */
    assert_int_equal(demand_next_interval(0, INT64_MAX / 2, 1000, 30000, 60000), 2000);
}

static void test_max_never_below_poll_interval(void **st)
{
    (void)st;
    /* --poll-idle-max below --poll-interval: the interval stays the poll interval */
    assert_int_equal(demand_next_interval(5000, 99000, 5000, 30000, 1000), 5000);
    assert_int_equal(demand_next_interval(5000, 99000, 5000, 30000, 7000), 7000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_recently_polls_every_interval),
        cmocka_unit_test(test_idle_doubles_up_to_max),
        cmocka_unit_test(test_max_never_below_poll_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
