/*  fling_histogram.h - a fixed-bucket histogram of durations, for metrics.

    Observing is a short scan of a dozen bounds and two additions, with no
    allocation and no lock: a histogram belongs to one thread (the broker's,
    or a worker's loop), which also reads it when it renders its metrics.
    Bounds are in microseconds, ascending; the last bucket (+Inf) is
    implicit. fling_prom.h writes one in the Prometheus text format.
*/
#ifndef FLING_HISTOGRAM_H_INCLUDED
#define FLING_HISTOGRAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define FLING_HISTOGRAM_BUCKETS_MAX 20

typedef struct {
    const uint64_t *bounds_us;                    /* `bound_count` upper bounds, ascending */
    size_t bound_count;                           /* at most FLING_HISTOGRAM_BUCKETS_MAX - 1 */
    uint64_t counts[FLING_HISTOGRAM_BUCKETS_MAX]; /* per bucket, not cumulative; last = +Inf */
    uint64_t sum_us;
    uint64_t count;
} fling_histogram_t;

/*  Task run times: 1 ms to 5 minutes. */
static const uint64_t fling_histogram_run_bounds_us[] = {
    1000,    5000,    10000,   25000,    50000,    100000,   250000,   500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 300000000};

/*  Store commits (write + fdatasync): 100 us to 2.5 s. */
static const uint64_t fling_histogram_commit_bounds_us[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};

static inline void fling_histogram_init (fling_histogram_t *self, const uint64_t *bounds_us,
                                         size_t bound_count)
{
    *self = (fling_histogram_t){.bounds_us = bounds_us,
                                .bound_count = bound_count < FLING_HISTOGRAM_BUCKETS_MAX
                                                   ? bound_count
                                                   : FLING_HISTOGRAM_BUCKETS_MAX - 1};
}

#define FLING_HISTOGRAM_INIT(self, bounds)                                                         \
    fling_histogram_init ((self), (bounds), sizeof (bounds) / sizeof (bounds)[0])

static inline void fling_histogram_observe (fling_histogram_t *self, uint64_t us)
{
    size_t i = 0;
    while (i < self->bound_count && us > self->bounds_us[i])
        i++;
    self->counts[i]++;
    self->sum_us += us;
    self->count++;
}

#endif
