/*  test_results.c - the worker's RESULT batch (worker/fling_results.c).

    What the worker relies on: every pending result leaves in one RESULT
    that decodes to the same records, the batch is empty afterwards whether
    the send worked or not, the body travels without a copy and its buffer
    comes back to be filled again, and a buffer still inside libzmq when the
    batch is destroyed is freed when libzmq lets go of it (ASan checks that
    nothing leaks and nothing is touched after it is freed).

    An inproc DEALER -> ROUTER pair stands in for the broker link: over
    inproc libzmq hands the message itself to the receiver, so the body
    comes back exactly when the test destroys what it received.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fling_results.h"

typedef struct {
    zsock_t *router;
    zsock_t *dealer;
} pair_t;

static int setup (void **state)
{
    static int serial;
    pair_t *pair = (pair_t *)calloc (1, sizeof (pair_t));
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://test-results-%d", ++serial);
    pair->router = zsock_new_router (endpoint);
    pair->dealer = zsock_new_dealer (endpoint);
    assert_non_null (pair->router);
    assert_non_null (pair->dealer);
    zsock_set_rcvtimeo (pair->router, 2000);
    *state = pair;
    return 0;
}

static int teardown (void **state)
{
    pair_t *pair = (pair_t *)*state;
    zsock_destroy (&pair->dealer);
    zsock_destroy (&pair->router);
    free (pair);
    return 0;
}

static fling_result_t make_result (unsigned i, const char *error)
{
    fling_result_t result = {.attempt = (uint16_t)(i % 7 + 1),
                             .outcome = (uint8_t)(error ? FLING_OUTCOME_FAIL : FLING_OUTCOME_DONE),
                             .error = error,
                             .error_size = error ? strlen (error) : 0};
    memset (result.id.bytes, 0, sizeof result.id.bytes);
    memcpy (result.id.bytes, &i, sizeof i);
    return result;
}

/* Receives one RESULT at the router and checks it holds results 0..count-1
   as make_result made them. Returns the message (the body is still lent). */
static zmsg_t *receive_checked (pair_t *pair, unsigned count, const char *error)
{
    zmsg_t *msg = zmsg_recv (pair->router);
    assert_non_null (msg);
    zframe_t *routing = zmsg_pop (msg);
    zframe_destroy (&routing);
    fling_msg_t decoded;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &decoded, &reason), 0);
    assert_int_equal (decoded.cmd, FLING_CMD_RESULT);
    assert_int_equal (decoded.count, count);
    const uint8_t *cursor = decoded.body, *end = decoded.body + decoded.body_size;
    fling_result_t got;
    for (unsigned i = 0; i < count; i++) {
        assert_int_equal (fling_result_next (&cursor, end, &got, &reason), 1);
        fling_result_t want = make_result (i, error);
        assert_memory_equal (got.id.bytes, want.id.bytes, sizeof want.id.bytes);
        assert_int_equal (got.attempt, want.attempt);
        assert_int_equal (got.outcome, want.outcome);
        assert_int_equal (got.error_size, want.error_size);
        if (want.error_size)
            assert_memory_equal (got.error, want.error, want.error_size);
    }
    assert_ptr_equal (cursor, end);
    return msg;
}

static void add (fling_results_t *results, unsigned count, const char *error)
{
    for (unsigned i = 0; i < count; i++) {
        fling_result_t result = make_result (i, error);
        assert_int_equal (fling_results_add (results, &result), 0);
    }
    assert_int_equal (fling_results_count (results), count);
}

static void test_batch_leaves_as_one_result (void **state)
{
    pair_t *pair = (pair_t *)*state;
    fling_results_t *results = fling_results_new ();
    assert_non_null (results);
    assert_int_equal (fling_results_send (results, zsock_resolve (pair->dealer), 1), 0); /* empty */
    add (results, 3, NULL);
    assert_int_equal (fling_results_send (results, zsock_resolve (pair->dealer), 1), 0);
    assert_int_equal (fling_results_count (results), 0);
    zmsg_t *msg = receive_checked (pair, 3, NULL);
    zmsg_destroy (&msg);
    fling_results_destroy (&results);
    assert_null (results);
}

static void test_body_buffer_comes_back_and_is_reused (void **state)
{
    pair_t *pair = (pair_t *)*state;
    fling_results_t *results = fling_results_new ();
    add (results, 10, "boom");
    assert_int_equal (fling_results_send (results, zsock_resolve (pair->dealer), 1), 0);
    size_t spares = fling_results_spares (results);     /* made up front */
    assert_int_equal (fling_results_lent (results), 1); /* inside libzmq, not copied */
    zmsg_t *msg = receive_checked (pair, 10, "boom");
    assert_int_equal (fling_results_lent (results), 1); /* the received frame is the buffer */
    zmsg_destroy (&msg);
    assert_int_equal (fling_results_lent (results), 0);
    assert_int_equal (fling_results_spares (results), spares + 1);
    add (results, 1, NULL); /* the next batch fills a buffer that came back */
    assert_int_equal (fling_results_spares (results), spares);
    fling_results_destroy (&results);
}

static void test_big_batch_grows_its_buffer (void **state)
{
    pair_t *pair = (pair_t *)*state;
    fling_results_t *results = fling_results_new ();
    char error[FLING_ERROR_TEXT_MAX + 1];
    memset (error, 'e', sizeof error - 1);
    error[sizeof error - 1] = '\0';
    add (results, FLING_BATCH_TASKS_MAX, error); /* error texts: well past the first buffer */
    assert_int_equal (fling_results_send (results, zsock_resolve (pair->dealer), 1), 0);
    zmsg_t *msg = receive_checked (pair, FLING_BATCH_TASKS_MAX, error);
    zmsg_destroy (&msg);
    fling_results_destroy (&results);
}

static void test_no_socket_empties_the_batch (void **state)
{
    fling_results_t *results = fling_results_new ();
    add (results, 4, NULL);
    assert_int_equal (fling_results_send (results, NULL, 1), -1);
    assert_int_equal (errno, ENOTCONN);
    assert_int_equal (fling_results_count (results), 0);
    assert_int_equal (fling_results_lent (results), 0);
    fling_results_destroy (&results);
}

static void test_refused_send_gives_the_buffer_back (void **state)
{
    /* A DEALER with no peer takes no message: EAGAIN at once, never a block. */
    zsock_t *lonely = zsock_new (ZMQ_DEALER);
    assert_non_null (lonely);
    fling_results_t *results = fling_results_new ();
    add (results, 5, NULL);
    size_t spares = fling_results_spares (results);
    assert_int_equal (fling_results_send (results, zsock_resolve (lonely), 1), -1);
    assert_int_equal (errno, EAGAIN);
    assert_int_equal (fling_results_count (results), 0);
    assert_int_equal (fling_results_lent (results), 0);
    assert_int_equal (fling_results_spares (results), spares + 1); /* it came back */
    fling_results_destroy (&results);
    zsock_destroy (&lonely);
}

static void test_buffer_returned_after_destroy_is_freed (void **state)
{
    pair_t *pair = (pair_t *)*state;
    fling_results_t *results = fling_results_new ();
    add (results, 2, NULL);
    assert_int_equal (fling_results_send (results, zsock_resolve (pair->dealer), 1), 0);
    add (results, 3, NULL);           /* a second buffer, never sent */
    fling_results_destroy (&results); /* the first is still inside libzmq */
    zmsg_t *msg = receive_checked (pair, 2, NULL);
    zmsg_destroy (&msg); /* comes back now: freed, with what held it */
}

int main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_batch_leaves_as_one_result, setup, teardown),
        cmocka_unit_test_setup_teardown (test_body_buffer_comes_back_and_is_reused, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_big_batch_grows_its_buffer, setup, teardown),
        cmocka_unit_test (test_no_socket_empties_the_batch),
        cmocka_unit_test (test_refused_send_gives_the_buffer_back),
        cmocka_unit_test_setup_teardown (test_buffer_returned_after_destroy_is_freed, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
