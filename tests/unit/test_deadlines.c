/*  test_deadlines.c - the worker's deadline lanes (worker/fling_deadlines.c).

    The earliest deadline must come first across lanes, whatever order
    tasks arrive and leave in, including past the lane limit (the shared
    lane) and when a clock reading arrives slightly out of order.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fling_deadlines.h"

#define TASKS 200

static fling_task_t *tasks[TASKS];

static int setup (void **state)
{
    for (int i = 0; i < TASKS; i++) {
        tasks[i] = (fling_task_t *)calloc (1, sizeof (fling_task_t));
        assert_non_null (tasks[i]);
    }
    return 0;
}

static int teardown (void **state)
{
    for (int i = 0; i < TASKS; i++)
        free (tasks[i]);
    return 0;
}

static void add (fling_deadlines_t *deadlines, int i, int64_t now, uint32_t period)
{
    tasks[i]->deadline_ms = now + period;
    fling_deadlines_add (deadlines, tasks[i], period);
}

/* Takes every task out in order and checks deadlines never go backwards. */
static size_t drain_in_order (fling_deadlines_t *deadlines)
{
    size_t taken = 0;
    int64_t last = INT64_MIN;
    fling_task_t *task;
    while ((task = fling_deadlines_first (deadlines))) {
        assert_true (task->deadline_ms >= last);
        last = task->deadline_ms;
        fling_deadlines_remove (deadlines, task);
        assert_int_equal (task->deadline_slot, 0);
        taken++;
    }
    assert_int_equal (fling_deadlines_size (deadlines), 0);
    return taken;
}

static void test_order_across_lanes (void **state)
{
    fling_deadlines_t *deadlines = fling_deadlines_new ();
    assert_non_null (deadlines);
    assert_null (fling_deadlines_first (deadlines));
    /* Three periods interleaved on a moving clock. */
    static const uint32_t periods[] = {300000, 100, 5000};
    for (int i = 0; i < 90; i++)
        add (deadlines, i, 1000 + i, periods[i % 3]);
    assert_int_equal (fling_deadlines_size (deadlines), 90);
    assert_ptr_equal (fling_deadlines_first (deadlines), tasks[1]); /* 1001 + 100 */
    /* Removing from the middle and the head of lanes keeps the order. */
    for (int i = 0; i < 90; i += 7)
        fling_deadlines_remove (deadlines, tasks[i]);
    fling_deadlines_remove (deadlines, tasks[0]); /* twice: a no-op */
    assert_int_equal (drain_in_order (deadlines), 90 - 13);
    fling_deadlines_destroy (&deadlines);
    assert_null (deadlines);
}

static void test_readd_moves_task (void **state)
{
    fling_deadlines_t *deadlines = fling_deadlines_new ();
    add (deadlines, 0, 0, 1000);
    add (deadlines, 1, 10, 1000);
    /* Re-keyed later (a prefetched task that starts): it moves behind. */
    add (deadlines, 0, 50, 1000);
    assert_int_equal (fling_deadlines_size (deadlines), 2);
    assert_ptr_equal (fling_deadlines_first (deadlines), tasks[1]);
    /* A reading slightly behind the tail still lands in order. */
    add (deadlines, 2, 5, 1000);
    assert_ptr_equal (fling_deadlines_first (deadlines), tasks[2]);
    assert_int_equal (drain_in_order (deadlines), 3);
    fling_deadlines_destroy (&deadlines);
}

static void test_more_periods_than_lanes (void **state)
{
    fling_deadlines_t *deadlines = fling_deadlines_new ();
    /* Distinct periods, far more than FLING_DEADLINE_LANES, in a scrambled
       order: the overflow shares one sorted lane. */
    for (int i = 0; i < TASKS; i++) {
        uint32_t period = (uint32_t)((i * 7919) % TASKS + 1) * 10;
        add (deadlines, i, 0, period);
    }
    assert_int_equal (drain_in_order (deadlines), TASKS);
    /* Lanes freed by the drain are taken by new periods. */
    for (int i = 0; i < FLING_DEADLINE_LANES; i++)
        add (deadlines, i, 0, (uint32_t)(FLING_DEADLINE_LANES - i));
    assert_ptr_equal (fling_deadlines_first (deadlines), tasks[FLING_DEADLINE_LANES - 1]);
    assert_int_equal (drain_in_order (deadlines), FLING_DEADLINE_LANES);
    fling_deadlines_destroy (&deadlines);
}

static void test_destroy_clears_slots (void **state)
{
    fling_deadlines_t *deadlines = fling_deadlines_new ();
    add (deadlines, 0, 0, 100);
    add (deadlines, 1, 0, 200);
    fling_deadlines_destroy (&deadlines);
    assert_int_equal (tasks[0]->deadline_slot, 0);
    assert_int_equal (tasks[1]->deadline_slot, 0);
    fling_deadlines_destroy (&deadlines); /* NULL: a no-op */
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_order_across_lanes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_readd_moves_task, setup, teardown),
        cmocka_unit_test_setup_teardown (test_more_periods_than_lanes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_destroy_clears_slots, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
