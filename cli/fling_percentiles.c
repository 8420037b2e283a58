/*  fling_percentiles.c - see fling_percentiles.h. */
#include "fling_percentiles.h"

#include <math.h>

static void swap_u64 (uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[0..n) so that a[k] holds the value a sort would put there,
   with nothing larger before it and nothing smaller after it (Hoare's
   quickselect with median-of-three pivots). */
static void select_nth (uint64_t *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo])
            swap_u64 (&a[mid], &a[lo]);
        if (a[hi] < a[lo])
            swap_u64 (&a[hi], &a[lo]);
        if (a[hi] < a[mid])
            swap_u64 (&a[hi], &a[mid]);
        uint64_t pivot = a[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) /* stops at a[hi] >= pivot at the latest */
                i++;
            while (a[j] > pivot) /* stops at a[lo] <= pivot at the latest */
                j--;
            if (i <= j) {
                swap_u64 (&a[i], &a[j]);
                i++;
                if (j == 0)
                    break; /* j would wrap; a[0] <= pivot <= a[1..] already */
                j--;
            }
        }
        /* a[lo..j] <= pivot <= a[i..hi]; anything between equals pivot */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

void fling_percentiles (uint64_t *samples, size_t n, const double *ps, uint64_t *out, size_t count)
{
    /* After a selection at k, samples[0..k] hold the k+1 smallest values:
       a higher percentile is selected among samples[k..n) only. */
    size_t from = 0;
    for (size_t i = 0; i < count; i++) {
        size_t rank = (size_t)ceil (ps[i] * (double)n);
        size_t k = rank ? rank - 1 : 0;
        if (k >= n)
            k = n - 1;
        if (k < from)
            k = from;
        select_nth (samples + from, n - from, k - from);
        from = k;
        out[i] = samples[k];
    }
}
