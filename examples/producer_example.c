/*  producer_example.c - send ten example.analytics tasks to a broker.

    Usage: producer-example [ENDPOINT]
    (default $FLING_PRODUCER_ENDPOINT, else tcp://127.0.0.1:5555)

    fling_send() never waits for the network: it validates the task, puts
    it in the producer's outbox and returns. fling_producer_flush() waits
    until the broker has accepted (stored) everything sent so far.
*/
#include <stdio.h>
#include <stdlib.h>

#include "fling_producer.h"

int main (int argc, char **argv)
{
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    if (argc > 1)
        options.endpoint = argv[1];
    fling_producer_t *producer = fling_producer_new (&options);
    if (!producer) {
        fprintf (stderr, "producer: %s\n", fling_last_error ());
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < 10; i++) {
        char json[128];
        snprintf (json, sizeof json, "{\"event\":\"page_view\",\"n\":%d}", i);
        if (fling_send (producer, "example.analytics", json)) {
            fprintf (stderr, "send %d: %s\n", i, fling_last_error ());
            rc = 1;
        }
    }
    if (fling_producer_flush (producer, 5000)) {
        fprintf (stderr, "flush: %s (is the broker running?)\n", fling_last_error ());
        rc = 1;
    }
    fling_producer_stats_t stats;
    fling_producer_stats (producer, &stats);
    printf ("sent=%llu accepted=%llu rejected=%llu queued=%llu\n", (unsigned long long)stats.sent,
            (unsigned long long)stats.accepted, (unsigned long long)stats.rejected,
            (unsigned long long)stats.queued);
    fling_producer_destroy (&producer);
    return rc;
}
