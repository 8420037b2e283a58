/*  delay_heap.c - the broker's delay heap after a bulk load, as recovery
    leaves it (issue #20): N delayed tasks pushed at once, due over 100 s
    (10 a ms from an hour on), then the broker's turns as the first ones
    come due: the first turn's time (the first pop pairs every child of
    the root unless they came in bulk, as recovery adds them) and the worst
    of the next 4,999. Not run by bench/run; bench/README.md ("Delayed
    tasks") has figures.

        delay_heap [N] [--bulk]   (N: 1000000)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_broker.h"
#include "fling_names.h"
#include "fling_state.h"
#include "fling_tasks.h"

static double seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One task of `queue` with a 100-byte payload, delayed `ms` on the heap. */
static void push_delayed (fling_broker_t *broker, fling_queue_t *queue, uint64_t seq, uint32_t ms)
{
    static const char payload[] =
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxx\"";
    uint8_t raw[256];
    fling_task_id_t id;
    fling_task_id_make (&id, 7, seq);
    size_t size = fling_record_write (raw, &id, 0, 0, 0, 0, "t", 1, payload, sizeof payload - 1);
    const uint8_t *cursor = raw;
    fling_record_t record;
    fling_reason_t reason;
    fling_btask_t *task = NULL;
    if (fling_record_next (&cursor, raw + size, &record, &reason) == 1)
        task = fling_btask_new (&record, queue, 0, 0);
    if (!task) {
        fprintf (stderr, "delay_heap: out of memory\n");
        _exit (1);
    }
    fling_tasks_delay (broker, task, ms);
}

int main (int argc, char **argv)
{
    size_t n = 1000000;
    int bulk = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--bulk") == 0)
            bulk = 1;
        else
            n = (size_t)strtoull (argv[i], NULL, 10);
    }
    fling_broker_config_t config;
    fling_broker_config_init (&config);
    strcpy (config.store, "memory");
    strcpy (config.producer_endpoint, "tcp://127.0.0.1:*");
    strcpy (config.worker_endpoint, "tcp://127.0.0.1:*");
    config.http_addr[0] = '\0';
    config.max_tasks = n + 1;
    fling_log_init ("delay_heap", FLING_LOG_ERROR);      /* not the CURVE-off warning */
    fling_broker_t *broker = fling_broker_new (&config); /* never run: this thread owns it */
    fling_queue_t *queue = broker ? fling_names_queue (broker, "t", 1, FLING_QUEUE_FOR_TASK) : NULL;
    if (!queue) {
        fprintf (stderr, "delay_heap: cannot make the broker\n");
        return 1;
    }
    double start = seconds ();
    if (bulk)
        fling_tasks_bulk_begin (broker);
    for (size_t i = 0; i < n; i++) /* scattered due times, 10 per ms */
        push_delayed (broker, queue, i + 1, 3600000 + (uint32_t)((i * 7919) % 100000));
    double pushed = seconds ();
    if (bulk)
        fling_tasks_bulk_end (broker);
    double ended = seconds ();
    broker->now_ms += 3600000;
    double first = 0, worst = 0, rest = 0;
    for (int turn = 0; turn < 5000; turn++, broker->now_ms++) {
        double before = seconds ();
        fling_tasks_promote_due (broker);
        double took = seconds () - before;
        if (turn == 0)
            first = took;
        else {
            rest += took;
            worst = took > worst ? took : worst;
        }
    }
    printf ("{\"tasks\": %zu, \"bulk\": %s, \"push_s\": %.3f, \"end_ms\": %.1f, "
            "\"first_turn_ms\": %.2f, \"next_turns_worst_ms\": %.2f, \"next_turns_ms\": %.1f, "
            "\"due\": %zu}\n",
            n, bulk ? "true" : "false", pushed - start, (ended - pushed) * 1e3, first * 1e3,
            worst * 1e3, rest * 1e3, fling_queue_queued (queue));
    fflush (stdout);
    _exit (0); /* the broker's sockets would hold zsys_shutdown at exit */
}
