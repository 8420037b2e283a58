/*  fling_metrics.h - the broker's metrics in the Prometheus text format.

    Rendered on demand, on the broker's thread, from the counters and
    tables the broker keeps anyway: a scrape walks every queue and worker
    once; nothing is counted for the metrics alone on the hot path but a
    few plain increments (fling_queue_counters_t). The names, their labels
    and meanings are listed in the README ("Metrics").
*/
#ifndef FLING_METRICS_H_INCLUDED
#define FLING_METRICS_H_INCLUDED

#include "fling_state.h"

/*  The whole /metrics page, malloc'd and NUL-terminated (`*size` bytes
    without the NUL), or NULL when out of memory. The connection counts
    come from the caller (fling_ops keeps them). */
char *fling_metrics_render (fling_broker_t *self, uint64_t producer_connections,
                            uint64_t worker_connections, size_t *size);

#endif
