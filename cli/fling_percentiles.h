/*  fling_percentiles.h - nearest-rank percentiles of latency samples,
    without sorting them (fling-load --latency).

    A selection per percentile is O(n): sorting a million samples cost
    ~0.1 s of CPU, spent while the broker and the worker were still
    draining the run, on the 2 cores the benchmark shares with them.
*/
#ifndef FLING_PERCENTILES_H_INCLUDED
#define FLING_PERCENTILES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/*  Writes to out[i] the nearest-rank percentile ps[i] of samples[0..n):
    the value at rank ceil(ps[i] * n) (at least 1) of the sorted samples.
    ps must be ascending, each in [0, 1]; n > 0. Reorders the samples. */
void fling_percentiles (uint64_t *samples, size_t n, const double *ps, uint64_t *out, size_t count);

#endif
