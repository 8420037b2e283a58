/*  unit_support.h - clocks and bounded waits for the unit tests.

    Time comes from fling_clock_ms (CLOCK_MONOTONIC, fling_log.h) and sleeps
    from czmq's zclock_sleep; what is here is the waiting: every wait has a
    bound and fails the test when it runs out, never hangs it.

    ThreadSanitizer: libzmq is not instrumented, so the suppressions for it
    are in tests/tsan.supp, which tools/test and CTest pass to every test.
*/
#ifndef UNIT_SUPPORT_H_INCLUDED
#define UNIT_SUPPORT_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>

/* Polls `done (arg)` every millisecond until it is true or timeout_ms has
   passed; returns its last answer. */
bool test_wait_until (bool (*done) (void *arg), void *arg, int timeout_ms);

/* Waits up to timeout_ms for *value, which other threads raise, to reach
   `want`; fails the test, saying what it saw, unless it is exactly `want`. */
void test_wait_atomic (atomic_int *value, int want, int timeout_ms);

#endif
