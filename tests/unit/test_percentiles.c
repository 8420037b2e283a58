/*  test_percentiles.c - fling-load's latency percentiles
    (cli/fling_percentiles.c), selected without a sort.

    The figures bench/run reports (send_latency_p50/p99/p999 and the max)
    must be exactly what sorting the samples and taking the nearest rank
    would give: checked against qsort on thousands of random arrays (few
    distinct values, many, already sorted, reversed, one element), and the
    percentiles selected one after the other reuse the earlier selection.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fling_percentiles.h"

static int compare_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t nearest_rank (const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil (p * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

/* xorshift64: the same arrays on every run */
static uint64_t next (uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static void fill (uint64_t *a, size_t n, int shape, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        switch (shape) {
        case 0:
            a[i] = next (rng) % 3;
            break; /* many equal values */
        case 1:
            a[i] = next (rng) % 1000000;
            break;
        case 2:
            a[i] = i;
            break; /* sorted */
        case 3:
            a[i] = n - i;
            break; /* reversed */
        default:
            a[i] = 1000 + (i % 2) * (next (rng) % 50);
            break; /* a floor and a tail */
        }
    }
}

static void test_same_as_sorting (void **state)
{
    static const double ps[5] = {0.0, 0.50, 0.99, 0.999, 1.0};
    uint64_t rng = 88172645463325252ull;
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + next (&rng) % (round < 2500 ? 64 : 20000);
        int shape = round % 5;
        uint64_t *a = (uint64_t *)malloc (n * sizeof *a);
        uint64_t *sorted = (uint64_t *)malloc (n * sizeof *a);
        assert_non_null (a);
        assert_non_null (sorted);
        fill (a, n, shape, &rng);
        memcpy (sorted, a, n * sizeof *a);
        qsort (sorted, n, sizeof *sorted, compare_u64);
        uint64_t got[5];
        fling_percentiles (a, n, ps, got, 5);
        for (int i = 0; i < 5; i++)
            assert_int_equal (got[i], nearest_rank (sorted, n, ps[i]));
        /* Reordered, not changed: the same values are all still there. */
        qsort (a, n, sizeof *a, compare_u64);
        assert_memory_equal (a, sorted, n * sizeof *a);
        free (a);
        free (sorted);
    }
}

static void test_one_sample_and_equal_percentiles (void **state)
{
    uint64_t one = 42, out[3];
    const double ps[3] = {0.5, 0.5, 1.0};
    fling_percentiles (&one, 1, ps, out, 3);
    assert_int_equal (out[0], 42);
    assert_int_equal (out[2], 42);
    uint64_t a[4] = {9, 1, 7, 3};
    fling_percentiles (a, 4, ps, out, 3);
    assert_int_equal (out[0], 3); /* rank ceil(0.5 * 4) = 2 */
    assert_int_equal (out[1], 3);
    assert_int_equal (out[2], 9);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_same_as_sorting),
        cmocka_unit_test (test_one_sample_and_equal_percentiles),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
