/*  outbox_fixture.c - see outbox_fixture.h. */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "outbox_fixture.h"

const fling_outbox_task_t outbox_task_small = {.name = "t",
                                               .name_size = 1,
                                               .payload = OUTBOX_PAYLOAD,
                                               .payload_size = sizeof OUTBOX_PAYLOAD - 1};

fling_outbox_config_t outbox_config (size_t max_tasks, size_t batch_tasks)
{
    return (fling_outbox_config_t){
        .max_tasks = max_tasks,
        .max_bytes = 1 << 30,
        .overflow = FLING_OVERFLOW_FAIL,
        .batch_max_tasks = batch_tasks,
        .batch_max_bytes = 1 << 20,
        .producer_id = OUTBOX_PRODUCER_ID,
    };
}

int outbox_append (fling_outbox_t *outbox, fling_task_id_t *id)
{
    return fling_outbox_append (outbox, &outbox_task_small, id);
}

uint32_t outbox_count_records (const fling_batch_t *batch, uint64_t *first_seq, uint64_t *last_seq)
{
    const uint8_t *cursor = fling_batch_data (batch);
    const uint8_t *end = cursor + fling_batch_size (batch);
    fling_record_t record;
    fling_reason_t why;
    uint32_t count = 0;
    int rc;
    while ((rc = fling_record_next (&cursor, end, &record, &why)) == 1) {
        assert_int_equal (record.attempt, 0);
        assert_int_equal (fling_task_id_producer (&record.id), OUTBOX_PRODUCER_ID);
        uint64_t seq = fling_task_id_seq (&record.id);
        if (count == 0 && first_seq)
            *first_seq = seq;
        if (last_seq)
            *last_seq = seq;
        count++;
    }
    assert_int_equal (rc, 0);
    return count;
}
