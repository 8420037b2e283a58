/*  outbox_fixture.h - the producer's outbox (producer/fling_outbox.c) set
    up for a test: a configuration, one small task to append, and a batch
    decoded record by record. Used by test_outbox.c and
    test_outbox_threads.c.
*/
#ifndef OUTBOX_FIXTURE_H_INCLUDED
#define OUTBOX_FIXTURE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "fling_outbox.h"
#include "fling_proto.h"

#define OUTBOX_PRODUCER_ID 0x0123456789abcdefULL
#define OUTBOX_PAYLOAD     "{\"n\":1}"

/* A task named "t" with OUTBOX_PAYLOAD. */
extern const fling_outbox_task_t outbox_task_small;

/* Room for `max_tasks` tasks (and 1 GiB), batches of at most `batch_tasks`
   tasks (and 1 MiB), overflow FAIL, producer OUTBOX_PRODUCER_ID. */
fling_outbox_config_t outbox_config (size_t max_tasks, size_t batch_tasks);

/* Appends outbox_task_small; fling_outbox_append's answer. */
int outbox_append (fling_outbox_t *outbox, fling_task_id_t *id);

/* Decodes every record of a batch, checks each (attempt 0, our producer
   id) and returns their count; the first and last sequence numbers go to
   `first_seq` and `last_seq` (either may be NULL). */
uint32_t outbox_count_records (const fling_batch_t *batch, uint64_t *first_seq, uint64_t *last_seq);

#endif
