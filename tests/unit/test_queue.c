/*  test_queue.c - broker tasks, task lists and queues (broker/fling_queue.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fling_queue.h"

/* A record built by the codec, decoded back into a view. */
typedef struct {
    uint8_t raw[256];
    fling_record_t record;
} built_t;

static void build (built_t *built, uint64_t seq, uint16_t max_attempts, const char *payload)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 77, seq);
    size_t size = fling_record_write (built->raw, &id, 0, max_attempts, 0, 0, "email", 5, payload,
                                      strlen (payload));
    const uint8_t *cursor = built->raw;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, built->raw + size, &built->record, &reason), 1);
}

static fling_btask_t *new_task (fling_queue_t *queue, uint64_t seq)
{
    built_t built;
    build (&built, seq, 0, "{}");
    fling_btask_t *task = fling_btask_new (&built.record, queue, 0, 0);
    assert_non_null (task);
    return task;
}

static uint64_t seq_of (const fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    return fling_task_id_seq (&id);
}

static void test_btask_copies_record (void **state)
{
    built_t built;
    build (&built, 42, 5, "{\"to\":\"a@b\"}");
    fling_btask_t *task = fling_btask_new (&built.record, NULL, 2, 0);
    assert_non_null (task);
    memset (built.raw, 0xee, sizeof built.raw); /* the task owns its copy */
    assert_int_equal (task->size, built.record.raw_size);
    assert_int_equal (task->attempt, 2);
    assert_int_equal (fling_btask_max_attempts (task), 5);
    assert_null (task->owner);
    assert_int_equal (seq_of (task), 42);

    fling_record_set_attempt (task->raw, 3);
    const uint8_t *cursor = task->raw;
    fling_record_t again;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, task->raw + task->size, &again, &reason), 1);
    assert_int_equal (again.attempt, 3);
    assert_string_equal (again.payload, "{\"to\":\"a@b\"}");
    /* The header stays small: per-task overhead is part of the design. */
    assert_true (sizeof (fling_btask_t) <= 48);
    fling_btask_destroy (&task);
    assert_null (task);
}

/* The name's default timeout is written into a record that says 0, so the
   worker knows its deadline; a producer's own value is kept. */
static void test_btask_default_timeout (void **state)
{
    built_t built;
    build (&built, 7, 0, "{\"a\":1}");
    fling_btask_t *task = fling_btask_new (&built.record, NULL, 0, 1234);
    assert_non_null (task);
    fling_record_t record;
    fling_btask_record (task, &record);
    assert_int_equal (record.timeout_ms, 1234);
    assert_string_equal (record.payload, "{\"a\":1}");
    assert_int_equal (task->size, built.record.raw_size);
    fling_btask_destroy (&task);

    fling_task_id_t id;
    fling_task_id_make (&id, 1, 1);
    uint8_t raw[256];
    size_t size = fling_record_write (raw, &id, 0, 0, 77, 0, "x", 1, "{}", 2);
    const uint8_t *cursor = raw;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, raw + size, &built.record, &reason), 1);
    task = fling_btask_new (&built.record, NULL, 0, 1234);
    fling_btask_record (task, &record);
    assert_int_equal (record.timeout_ms, 77);
    assert_int_equal (fling_btask_kill (task, 1, "boom", 4), 0);
    assert_int_equal (fling_btask_state (task), FLING_TASK_DEAD);
    assert_string_equal (task->dead->error, "boom");
    fling_btask_destroy (&task); /* frees the dead info too (ASan checks) */
}

/* Tasks of a queue with a pool reuse freed blocks, keep their own bytes,
   and the pool frees what it holds (ASan: no leak, no use after free). */
static void test_pool_reuses_blocks (void **state)
{
    fling_blockpool_t *pool = fling_blockpool_new (4096);
    assert_non_null (pool);
    fling_queue_t *queue = fling_queue_new ("email", 5);
    fling_queue_set_pool (queue, pool);
    fling_btask_t *a = new_task (queue, 1);
    void *block = a;
    fling_btask_destroy (&a);
    fling_btask_t *b = new_task (queue, 2);
    assert_ptr_equal (b, block); /* same size class: the freed block */
    assert_int_equal (seq_of (b), 2);
    assert_int_equal (fling_btask_state (b), FLING_TASK_QUEUED);
    /* Past the byte cap, blocks go back to malloc. */
    fling_btask_t *many[64];
    for (size_t i = 0; i < 64; i++)
        many[i] = new_task (queue, 10 + i);
    for (size_t i = 0; i < 64; i++)
        fling_btask_destroy (&many[i]);
    fling_queue_push_tail (queue, b); /* freed with the queue, into the pool */
    fling_queue_destroy (&queue);
    fling_blockpool_destroy (&pool);
    assert_null (pool);
    fling_blockpool_destroy (&pool); /* NULL is fine */
}

static void test_fifo_and_head_requeue (void **state)
{
    fling_queue_t *queue = fling_queue_new ("email", 5);
    assert_non_null (queue);
    assert_string_equal (fling_queue_name (queue), "email");
    for (uint64_t i = 1; i <= 5; i++)
        fling_queue_push_tail (queue, new_task (queue, i));
    assert_int_equal (fling_queue_queued (queue), 5);
    assert_int_equal (seq_of (fling_queue_peek (queue)), 1);

    fling_btask_t *first = fling_queue_pop (queue);
    fling_btask_t *second = fling_queue_pop (queue);
    assert_int_equal (seq_of (first), 1);
    assert_int_equal (seq_of (second), 2);
    /* Back at the head in reverse order keeps the original order. */
    fling_queue_push_head (queue, second);
    fling_queue_push_head (queue, first);
    for (uint64_t i = 1; i <= 5; i++) {
        fling_btask_t *task = fling_queue_pop (queue);
        assert_int_equal (seq_of (task), i);
        fling_btask_destroy (&task);
    }
    assert_null (fling_queue_pop (queue));
    assert_null (fling_queue_peek (queue));
    fling_queue_destroy (&queue);
    assert_null (queue);
}

static void test_remove_from_middle (void **state)
{
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_btask_t *tasks[4];
    for (int i = 0; i < 4; i++) {
        tasks[i] = new_task (queue, (uint64_t)i);
        fling_queue_push_tail (queue, tasks[i]);
    }
    fling_queue_remove (queue, tasks[1]);
    fling_queue_remove (queue, tasks[3]); /* the tail */
    fling_btask_destroy (&tasks[1]);
    fling_btask_destroy (&tasks[3]);
    assert_int_equal (fling_queue_queued (queue), 2);
    fling_btask_t *task = fling_queue_pop (queue);
    assert_ptr_equal (task, tasks[0]);
    fling_btask_destroy (&task);
    /* Destroying the queue frees what is still on it (ASan checks). */
    fling_queue_destroy (&queue);
}

static void test_tasklist_moves (void **state)
{
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_tasklist_t lease = {NULL, NULL, 0};
    fling_btask_t *a = new_task (queue, 1), *b = new_task (queue, 2);
    fling_tasklist_push_tail (&lease, a);
    fling_tasklist_push_tail (&lease, b);
    assert_int_equal (lease.count, 2);
    fling_tasklist_remove (&lease, a);
    assert_ptr_equal (fling_tasklist_head (&lease), b);
    assert_ptr_equal (fling_tasklist_tail (&lease), b);
    fling_queue_push_tail (queue, a); /* same link, other list */
    assert_ptr_equal (fling_tasklist_pop_head (&lease), b);
    assert_null (fling_tasklist_pop_head (&lease));
    assert_int_equal (lease.count, 0);
    fling_btask_destroy (&b);
    fling_queue_destroy (&queue);
}

static void test_counters_and_held (void **state)
{
    fling_queue_t *queue = fling_queue_new ("q", 1);
    fling_queue_push_tail (queue, new_task (queue, 1));
    fling_queue_push_tail (queue, new_task (queue, 2));
    fling_queue_counters_t *counters = fling_queue_counters (queue);
    assert_int_equal (counters->inflight, 0);
    fling_btask_t *task = fling_queue_pop (queue);
    counters->inflight++;
    assert_int_equal (fling_queue_held (queue), 2);
    counters->inflight--;
    counters->done++;
    fling_btask_destroy (&task);
    assert_int_equal (fling_queue_held (queue), 1);
    assert_int_equal (fling_queue_counters (queue)->done, 1);
    fling_queue_destroy (&queue);
}

static void test_servers (void **state)
{
    fling_queue_t *queue = fling_queue_new ("q", 1);
    /* The queue never dereferences workers: any distinct pointers do. */
    int w[10];
    for (int i = 0; i < 10; i++)
        assert_int_equal (fling_queue_add_server (queue, (fling_bworker_t *)&w[i],
                                                  i % 2 ? FLING_CLASS_POOL : FLING_CLASS_LOOP),
                          0);
    assert_int_equal (fling_queue_server_count (queue), 10);
    /* Adding again only changes the class. */
    assert_int_equal (fling_queue_add_server (queue, (fling_bworker_t *)&w[0], FLING_CLASS_POOL),
                      0);
    assert_int_equal (fling_queue_server_count (queue), 10);
    fling_class_t cls;
    assert_ptr_equal (fling_queue_server (queue, 0, &cls), &w[0]);
    assert_int_equal (cls, FLING_CLASS_POOL);
    fling_queue_remove_server (queue, (fling_bworker_t *)&w[0]);
    fling_queue_remove_server (queue, (fling_bworker_t *)&w[0]); /* absent: no-op */
    assert_int_equal (fling_queue_server_count (queue), 9);
    for (size_t i = 0; i < 9; i++)
        assert_ptr_not_equal (fling_queue_server (queue, i, NULL), &w[0]);
    assert_null (fling_queue_server (queue, 9, NULL));
    fling_queue_destroy (&queue);
}

static void test_bad_names (void **state)
{
    assert_null (fling_queue_new ("", 0));
    assert_int_equal (errno, EINVAL);
    char long_name[FLING_NAME_MAX + 2];
    memset (long_name, 'a', sizeof long_name);
    assert_null (fling_queue_new (long_name, FLING_NAME_MAX + 1));
    fling_queue_t *queue = fling_queue_new (long_name, FLING_NAME_MAX);
    assert_non_null (queue);
    assert_int_equal (strlen (fling_queue_name (queue)), FLING_NAME_MAX);
    fling_queue_destroy (&queue);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_btask_copies_record), cmocka_unit_test (test_btask_default_timeout),
        cmocka_unit_test (test_pool_reuses_blocks),  cmocka_unit_test (test_fifo_and_head_requeue),
        cmocka_unit_test (test_remove_from_middle),  cmocka_unit_test (test_tasklist_moves),
        cmocka_unit_test (test_counters_and_held),   cmocka_unit_test (test_servers),
        cmocka_unit_test (test_bad_names),
    };
    return cmocka_run_group_tests_name ("queue", tests, NULL, NULL);
}
