/*  unit_support.c - see unit_support.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>

#include "fling_log.h"
#include "unit_support.h"

bool test_wait_until (bool (*done) (void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = fling_clock_ms () + timeout_ms;
    bool ok;
    while (!(ok = done (arg)) && fling_clock_ms () < deadline)
        zclock_sleep (1);
    return ok;
}

typedef struct {
    atomic_int *value;
    int want;
} target_t;

static bool reached (void *arg)
{
    target_t *target = (target_t *)arg;
    return atomic_load (target->value) >= target->want;
}

void test_wait_atomic (atomic_int *value, int want, int timeout_ms)
{
    target_t target = {value, want};
    test_wait_until (reached, &target, timeout_ms);
    int seen = atomic_load (value);
    if (seen != want)
        fail_msg ("waited up to %d ms for %d, saw %d", timeout_ms, want, seen);
}
