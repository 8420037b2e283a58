/*  test_unacked.c - the worker's RESULTs kept until acknowledged
    (worker/fling_unacked.c): order, acknowledgement, the ring going round,
    and what is forgotten when there is no room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fling_unacked.h"

#define RING 4096 /* one page: the ring is rounded up to pages */

typedef struct {
    uint64_t seqs[64];
    uint32_t counts[64];
    size_t n;
    int stop_after;
} seen_t;

static int collect (uint64_t seq, uint32_t count, const uint8_t *body, size_t size, void *arg)
{
    seen_t *seen = (seen_t *)arg;
    /* every body is its seq's byte, repeated */
    for (size_t i = 0; i < size; i++)
        assert_int_equal (body[i], (uint8_t)seq);
    seen->seqs[seen->n] = seq;
    seen->counts[seen->n++] = count;
    return seen->stop_after && (int)seen->n == seen->stop_after ? 7 : 0;
}

static size_t add (fling_unacked_t *u, uint64_t seq, uint32_t count, size_t size)
{
    uint8_t body[RING + 1];
    memset (body, (int)(uint8_t)seq, size);
    return fling_unacked_add (u, seq, count, body, size);
}

static seen_t walk (fling_unacked_t *u)
{
    seen_t seen = {.n = 0};
    assert_int_equal (fling_unacked_each (u, collect, &seen), 0);
    return seen;
}

static void test_order_and_ack (void **state)
{
    fling_unacked_t *u = fling_unacked_new (RING);
    assert_non_null (u);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal (add (u, seq, (uint32_t)seq, 100), 0);
    assert_int_equal (fling_unacked_messages (u), 5);
    assert_int_equal (fling_unacked_results (u), 15);
    seen_t seen = walk (u);
    assert_int_equal (seen.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (seen.seqs[i], i + 1);

    fling_unacked_ack (u, 3); /* cumulative: 1, 2, 3 */
    seen = walk (u);
    assert_int_equal (seen.n, 2);
    assert_int_equal (seen.seqs[0], 4);
    assert_int_equal (fling_unacked_results (u), 9);
    fling_unacked_ack (u, 2); /* an old ack changes nothing */
    assert_int_equal (fling_unacked_messages (u), 2);

    seen_t stop = {.n = 0, .stop_after = 1};
    assert_int_equal (fling_unacked_each (u, collect, &stop), 7);
    assert_int_equal (stop.n, 1);

    fling_unacked_ack (u, 100);
    assert_int_equal (fling_unacked_messages (u), 0);
    assert_int_equal (fling_unacked_results (u), 0);
    fling_unacked_destroy (&u);
    assert_null (u);
}

/* Adds and acknowledges long enough for the bodies to go round the ring
   many times; every body read back is intact (collect checks bytes). */
static void test_ring_goes_round (void **state)
{
    fling_unacked_t *u = fling_unacked_new (RING);
    uint64_t seq = 0;
    for (int round = 0; round < 200; round++) {
        size_t size = 100 + (size_t)(round * 37) % 900;
        assert_int_equal (add (u, ++seq, 1, size), 0);
        assert_int_equal (add (u, ++seq, 1, size / 2 + 25), 0);
        seen_t seen = walk (u);
        assert_true (seen.n >= 2);
        assert_int_equal (seen.seqs[seen.n - 1], seq);
        fling_unacked_ack (u, seq - 1); /* keep the newest one */
        assert_int_equal (fling_unacked_messages (u), 1);
    }
    fling_unacked_destroy (&u);
}

/* No room: the oldest are forgotten and counted, never the new one; a body
   larger than the whole ring is not kept at all. */
static void test_full_forgets_oldest (void **state)
{
    fling_unacked_t *u = fling_unacked_new (RING);
    size_t forgotten = 0;
    for (uint64_t seq = 1; seq <= 10; seq++)
        forgotten += add (u, seq, 2, 1000);
    /* 4 bodies of 1000 fit in 4096 */
    assert_int_equal (fling_unacked_messages (u), 4);
    assert_int_equal (forgotten, 12);
    seen_t seen = walk (u);
    assert_int_equal (seen.seqs[0], 7);
    assert_int_equal (seen.seqs[3], 10);
    assert_int_equal (add (u, 11, 5, RING + 1), 5);
    assert_int_equal (fling_unacked_messages (u), 4);
    assert_int_equal (add (u, 12, 3, RING), 8); /* takes the whole ring */
    seen = walk (u);
    assert_int_equal (seen.n, 1);
    assert_int_equal (seen.seqs[0], 12);
    fling_unacked_destroy (&u);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_order_and_ack),
        cmocka_unit_test (test_ring_goes_round),
        cmocka_unit_test (test_full_forgets_oldest),
    };
    return cmocka_run_group_tests_name ("unacked", tests, NULL, NULL);
}
