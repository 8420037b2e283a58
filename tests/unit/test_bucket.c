/*  test_bucket.c - the token bucket of a rate limit (broker/fling_bucket.c,
    proto/SPEC.md §6.8): full at start, refilled at the rate without losing
    or making up a fraction of a token, capped at the burst, and the wait
    until the next token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fling_bucket.h"

static void test_no_limit (void **state)
{
    fling_bucket_t bucket;
    fling_bucket_init (&bucket, 0, 0, 0, 100);
    assert_true (fling_bucket_tokens (&bucket, 100) == UINT64_MAX);
    fling_bucket_take (&bucket, 1000000);
    assert_true (fling_bucket_tokens (&bucket, 100) == UINT64_MAX);
    assert_int_equal (fling_bucket_wait_ms (&bucket), 0);
}

static void test_burst_then_rate (void **state)
{
    fling_bucket_t bucket;
    fling_bucket_init (&bucket, 50, 1000, 10, 5000); /* 50/s, burst 10 */
    assert_int_equal (fling_bucket_tokens (&bucket, 5000), 10);
    fling_bucket_take (&bucket, 10);
    assert_int_equal (fling_bucket_tokens (&bucket, 5000), 0);
    assert_int_equal (fling_bucket_wait_ms (&bucket), 20); /* one token per 20 ms */
    assert_int_equal (fling_bucket_tokens (&bucket, 5019), 0);
    assert_int_equal (fling_bucket_wait_ms (&bucket), 1);
    assert_int_equal (fling_bucket_tokens (&bucket, 5020), 1);
    assert_int_equal (fling_bucket_tokens (&bucket, 5100), 5);
    /* Capped at the burst, however long it waits. */
    assert_int_equal (fling_bucket_tokens (&bucket, 5000 + 86400000LL * 365), 10);
    /* A clock read earlier than the last one refills nothing. */
    fling_bucket_take (&bucket, 10);
    assert_int_equal (fling_bucket_tokens (&bucket, 100), 0);
}

/* Full only when it holds the whole burst again: before that the broker
   keeps the name (and this bucket) even with no task and no worker. */
static void test_full (void **state)
{
    fling_bucket_t bucket;
    fling_bucket_init (&bucket, 0, 1000, 0, 0);
    assert_true (fling_bucket_full (&bucket, 0)); /* no limit */
    fling_bucket_init (&bucket, 50, 1000, 10, 5000);
    assert_true (fling_bucket_full (&bucket, 5000));
    fling_bucket_take (&bucket, 1);
    assert_false (fling_bucket_full (&bucket, 5000));
    assert_false (fling_bucket_full (&bucket, 5019));
    assert_true (fling_bucket_full (&bucket, 5020));
    /* A restart: empty at the start, refilled since (1 token per 20 ms). */
    fling_bucket_empty_since (&bucket, 9000);
    assert_int_equal (fling_bucket_tokens (&bucket, 9000), 0);
    assert_int_equal (fling_bucket_tokens (&bucket, 9100), 5);
    assert_int_equal (fling_bucket_tokens (&bucket, 99000), 10);
}

/* Taken as they come, one read every `step` ms over 60 s: exactly
   burst + rate * T tokens while a read comes before the bucket could
   overflow (3 tokens at 7/s: within 285 ms of holding less than one);
   never more when reads come slower (what overflows is lost). */
static void test_exact_over_time (void **state)
{
    const int steps[] = {1, 3, 7, 19, 141, 285, 333};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        fling_bucket_t bucket;
        fling_bucket_init (&bucket, 7, 1000, 3, 0); /* 7/s: a token every 142.857 ms */
        uint64_t taken = 0;
        int64_t now = 0;
        for (; now <= 60000; now += steps[s]) {
            uint64_t tokens = fling_bucket_tokens (&bucket, now);
            fling_bucket_take (&bucket, tokens);
            taken += tokens;
        }
        now -= steps[s]; /* the last read */
        uint64_t most = 3 + 7 * (uint64_t)now / 1000;
        if (steps[s] <= 285)
            assert_int_equal (taken, most);
        else
            assert_true (taken <= most && taken >= most * 9 / 10);
    }
}

static void test_per_minute (void **state)
{
    fling_bucket_t bucket;
    fling_bucket_init (&bucket, 6, 60000, 1, 0); /* 6/m: one every 10 s */
    fling_bucket_take (&bucket, fling_bucket_tokens (&bucket, 0));
    assert_int_equal (fling_bucket_wait_ms (&bucket), 10000);
    assert_int_equal (fling_bucket_tokens (&bucket, 9999), 0);
    assert_int_equal (fling_bucket_wait_ms (&bucket), 1);
    assert_int_equal (fling_bucket_tokens (&bucket, 10000), 1);
    assert_int_equal (fling_bucket_tokens (&bucket, 100000), 1); /* burst 1 */
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_no_limit),   cmocka_unit_test (test_burst_then_rate),
        cmocka_unit_test (test_full),       cmocka_unit_test (test_exact_over_time),
        cmocka_unit_test (test_per_minute),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
