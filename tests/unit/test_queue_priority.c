/*  test_queue_priority.c - the order a queue gives its waiting tasks
    (broker/fling_queue.c, proto/SPEC.md §6.8): highest effective priority
    first, FIFO within a level, aging by the time waited, tasks requeued at
    the head ahead of their level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "fling_queue.h"

#define AGE_MS 1000

/* A task of `queue` with sequence `seq` and `priority` (0 = none), its
   record written by the codec as the broker holds it. */
static fling_btask_t *new_task (fling_queue_t *queue, uint64_t seq, uint8_t priority)
{
    uint8_t raw[128];
    fling_task_id_t id;
    fling_task_id_make (&id, 7, seq);
    fling_task_ext_t ext = {.priority = priority};
    size_t size =
        fling_record_write_ext (raw, &id, 0, 0, 0, 0, "email", 5, "{}", 2, priority ? &ext : NULL);
    const uint8_t *cursor = raw;
    fling_record_t record;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, raw + size, &record, &reason), 1);
    fling_btask_t *task = fling_btask_new (&record, queue, 0, 0);
    assert_non_null (task);
    assert_int_equal (fling_record_priority (task->raw), priority);
    return task;
}

static uint64_t pop_seq (fling_queue_t *queue)
{
    fling_btask_t *task = fling_queue_pop (queue);
    assert_non_null (task);
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_btask_destroy (&task);
    return fling_task_id_seq (&id);
}

static void test_effective (void **state)
{
    assert_int_equal (fling_queue_effective (0, 0, AGE_MS), 0);
    assert_int_equal (fling_queue_effective (0, AGE_MS - 1, AGE_MS), 0);
    assert_int_equal (fling_queue_effective (0, AGE_MS, AGE_MS), 1);
    assert_int_equal (fling_queue_effective (3, 4 * AGE_MS + 999, AGE_MS), 7);
    assert_int_equal (fling_queue_effective (0, 9 * AGE_MS, AGE_MS), 9);
    assert_int_equal (fling_queue_effective (5, UINT32_MAX, AGE_MS), 9); /* capped, no wrap */
    assert_int_equal (fling_queue_effective (9, UINT32_MAX, 1), 9);
    assert_int_equal (fling_queue_effective (4, 123456, 0), 4); /* no aging */
}

/* Without aging time passing: highest first, FIFO within each level. */
static void test_highest_first_fifo_within (void **state)
{
    int64_t now = 1000;
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_queue_set_aging (queue, &now, AGE_MS);
    const uint8_t priorities[] = {0, 5, 9, 5, 0, 9, 1, 5};
    for (uint64_t i = 0; i < sizeof priorities; i++)
        fling_queue_push_tail (queue, new_task (queue, i + 1, priorities[i]));
    assert_int_equal (fling_queue_queued (queue), 8);
    assert_int_equal (fling_queue_queued_at (queue, 5), 3);
    assert_int_equal (fling_queue_queued_at (queue, 0), 2);
    const uint64_t expected[] = {3, 6, 2, 4, 8, 7, 1, 5};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal (pop_seq (queue), expected[i]);
    assert_null (fling_queue_pop (queue));
    assert_int_equal (fling_queue_queued (queue), 0);
    fling_queue_destroy (&queue);
}

/* A low task that waited long enough competes as a higher one, and wins
   a tie against tasks that entered after it. */
static void test_aging (void **state)
{
    int64_t now = 5000;
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_queue_set_aging (queue, &now, AGE_MS);
    fling_queue_push_tail (queue, new_task (queue, 1, 0)); /* entered at 5000 */
    now += 3 * AGE_MS;
    fling_queue_push_tail (queue, new_task (queue, 2, 3)); /* 8000 */
    now += 10;
    fling_queue_push_tail (queue, new_task (queue, 3, 4)); /* 8010 */
    /* Task 1 is an effective 3: task 3 (4) first, then 1 (3, waited
       longer than 2). */
    assert_int_equal (pop_seq (queue), 3);
    assert_int_equal (pop_seq (queue), 1);
    assert_int_equal (pop_seq (queue), 2);

    /* At the cap: a 0 that waited 9 ages beats a 9 that just came. */
    fling_queue_push_tail (queue, new_task (queue, 4, 0));
    now += 9 * AGE_MS;
    fling_queue_push_tail (queue, new_task (queue, 5, 9));
    assert_int_equal (pop_seq (queue), 4);
    assert_int_equal (pop_seq (queue), 5);

    /* One ms short of an age step changes nothing. */
    fling_queue_push_tail (queue, new_task (queue, 6, 1));
    now += AGE_MS - 1;
    fling_queue_push_tail (queue, new_task (queue, 7, 2));
    assert_int_equal (pop_seq (queue), 7);
    assert_int_equal (pop_seq (queue), 6);
    fling_queue_destroy (&queue);
}

/* A task put back at the head goes first in its level, not before a
   higher level; the level's order by entry time holds. */
static void test_head_keeps_place (void **state)
{
    int64_t now = 0;
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_queue_set_aging (queue, &now, AGE_MS);
    for (uint64_t i = 1; i <= 3; i++)
        fling_queue_push_tail (queue, new_task (queue, i, 2));
    fling_queue_push_tail (queue, new_task (queue, 4, 6));
    fling_btask_t *first = fling_queue_pop (queue);  /* 4 */
    fling_btask_t *second = fling_queue_pop (queue); /* 1 */
    now += 500;
    fling_queue_push_head (queue, second); /* released */
    fling_queue_push_head (queue, first);
    assert_int_equal (pop_seq (queue), 4);
    assert_int_equal (pop_seq (queue), 1);
    /* Aging: the released one keeps the age of the head it went before. */
    fling_btask_t *again = fling_queue_pop (queue); /* 2 */
    now += 4 * AGE_MS;
    fling_queue_push_tail (queue, new_task (queue, 5, 6)); /* 6 now */
    fling_queue_push_head (queue, again);                  /* as old as 3: entered at 0, a 6 too */
    assert_int_equal (pop_seq (queue), 2);
    assert_int_equal (pop_seq (queue), 3);
    assert_int_equal (pop_seq (queue), 5);
    fling_queue_destroy (&queue);
}

/* remove takes a task from the middle of any level. */
static void test_remove_any_level (void **state)
{
    int64_t now = 0;
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_queue_set_aging (queue, &now, AGE_MS);
    fling_btask_t *tasks[6];
    for (uint64_t i = 0; i < 6; i++) {
        tasks[i] = new_task (queue, i + 1, (uint8_t)(i % 3 * 4)); /* 0, 4, 8 */
        fling_queue_push_tail (queue, tasks[i]);
    }
    fling_queue_remove (queue, tasks[2]); /* an 8 */
    fling_queue_remove (queue, tasks[0]); /* a 0 */
    assert_int_equal (fling_queue_queued (queue), 4);
    assert_ptr_equal (fling_queue_peek (queue), tasks[5]);
    assert_int_equal (pop_seq (queue), 6);
    assert_int_equal (pop_seq (queue), 2);
    assert_int_equal (pop_seq (queue), 5);
    assert_int_equal (pop_seq (queue), 4);
    assert_null (fling_queue_peek (queue));
    fling_btask_destroy (&tasks[2]);
    fling_btask_destroy (&tasks[0]);
    fling_queue_destroy (&queue);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_effective),
        cmocka_unit_test (test_highest_first_fifo_within),
        cmocka_unit_test (test_aging),
        cmocka_unit_test (test_head_keeps_place),
        cmocka_unit_test (test_remove_any_level),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
