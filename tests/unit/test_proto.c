/*  test_proto.c - the FLP/1 codec (proto/fling_proto.c): every command
    through its encoder and fling_msg_decode, and records of every size.
    test_proto_bad.c has the malformed messages, test_proto_text.c task
    ids, names and error texts; proto_fixture.h their shared samples.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_error.h"
#include "proto_fixture.h"

/* ---- round trips of every command ------------------------------------- */

static void test_submit_round_trip (void **state)
{
    size_t size1, size2;
    uint8_t *rec1 = make_record (1, "mail.send", 9, "{\"to\":\"x\"}", 10, &size1);
    uint8_t *rec2 = make_record (2, "b", 1, "{}", 2, &size2);
    uint8_t body[256];
    memcpy (body, rec1, size1);
    memcpy (body + size1, rec2, size2);
    zmsg_t *msg = fling_msg_submit (0xfedcba9876543210ULL, 2, body, size1 + size2);
    assert_int_equal (zmsg_size (msg), 3);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_SUBMIT);
    assert_true (out.batch_seq == 0xfedcba9876543210ULL);
    assert_int_equal (out.count, 2);
    assert_int_equal (out.body_size, size1 + size2);
    assert_memory_equal (out.body, body, size1 + size2);

    const uint8_t *cursor = out.body, *end = out.body + out.body_size;
    fling_record_t r;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, end, &r, &reason), 1);
    assert_int_equal (fling_task_id_seq (&r.id), 1);
    assert_string_equal (r.name, "mail.send");
    assert_string_equal (r.payload, "{\"to\":\"x\"}");
    assert_int_equal (r.max_attempts, 3);
    assert_int_equal (r.timeout_ms, 1000);
    assert_int_equal (r.backoff_ms, 50);
    assert_int_equal (fling_record_next (&cursor, end, &r, &reason), 1);
    assert_int_equal (fling_task_id_seq (&r.id), 2);
    assert_string_equal (r.name, "b");
    assert_int_equal (fling_record_next (&cursor, end, &r, &reason), 0);
    zmsg_destroy (&msg);
    free (rec1);
    free (rec2);
}

static void test_ack_round_trip (void **state)
{
    const uint8_t statuses[3] = {FLING_REASON_OK, FLING_REASON_DUPLICATE, FLING_REASON_QUEUE_FULL};
    zmsg_t *msg = fling_msg_ack (99, 3, statuses);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_ACK);
    assert_int_equal (out.batch_seq, 99);
    assert_int_equal (out.count, 3);
    assert_int_equal (out.body_size, 3);
    assert_memory_equal (out.body, statuses, 3);
    zmsg_destroy (&msg);
}

static void test_empty_commands_round_trip (void **state)
{
    zmsg_t *(*encoders[]) (void) = {fling_msg_ping, fling_msg_pong, fling_msg_bye};
    fling_cmd_t cmds[] = {FLING_CMD_PING, FLING_CMD_PONG, FLING_CMD_BYE};
    for (size_t i = 0; i < 3; i++) {
        zmsg_t *msg = encoders[i]();
        assert_int_equal (zmsg_size (msg), 1);
        fling_msg_t out;
        expect_ok (msg, &out);
        assert_int_equal (out.cmd, cmds[i]);
        zmsg_destroy (&msg);
    }
}

static void test_ready_round_trip (void **state)
{
    zmsg_t *msg = valid_ready ();
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_READY);
    assert_int_equal (out.capacity[FLING_CLASS_POOL], 4);
    assert_int_equal (out.capacity[FLING_CLASS_LOOP], 100);
    assert_int_equal (out.slots[FLING_CLASS_POOL], 4); /* NULL slots: no prefetch */
    assert_int_equal (out.slots[FLING_CLASS_LOOP], 100);
    assert_int_equal (out.pid, 42);
    assert_int_equal (out.count, 2);
    assert_int_equal (out.worker_name_size, 2);
    assert_memory_equal (out.worker_name, "w1", 2);

    const uint8_t *cursor = out.body, *end = out.body + out.body_size;
    fling_class_t cls;
    const char *name;
    size_t name_size;
    assert_int_equal (fling_ready_name_next (&cursor, end, &cls, &name, &name_size), 1);
    assert_int_equal (cls, FLING_CLASS_POOL);
    assert_int_equal (name_size, 10);
    assert_memory_equal (name, "email.send", 10);
    assert_int_equal (fling_ready_name_next (&cursor, end, &cls, &name, &name_size), 1);
    assert_int_equal (cls, FLING_CLASS_LOOP);
    assert_int_equal (name_size, 6);
    assert_memory_equal (name, "resize", 6);
    assert_int_equal (fling_ready_name_next (&cursor, end, &cls, &name, &name_size), 0);
    zmsg_destroy (&msg);
}

static void test_dispatch_round_trip (void **state)
{
    size_t size;
    uint8_t *rec = make_record (5, "img.resize", 10, "{\"w\":1}", 7, &size);
    fling_record_set_attempt (rec, 3);
    zmsg_t *msg = fling_msg_dispatch (1, rec, size);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_DISPATCH);
    assert_int_equal (out.count, 1);
    const uint8_t *cursor = out.body;
    fling_record_t r;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, out.body + out.body_size, &r, &reason), 1);
    assert_int_equal (r.attempt, 3);
    assert_int_equal (fling_task_id_seq (&r.id), 5);
    assert_ptr_equal (r.raw, out.body);
    assert_int_equal (r.raw_size, size);
    zmsg_destroy (&msg);
    free (rec);
}

static void test_dispatch_frame_round_trip (void **state)
{
    size_t size;
    uint8_t *rec = make_record (9, "img.resize", 10, "{\"w\":2}", 7, &size);
    zframe_t *body = zframe_new (NULL, 2 * size);
    memcpy (zframe_data (body), rec, size);
    memcpy (zframe_data (body) + size, rec, size);
    zmsg_t *msg = fling_msg_dispatch_frame (2, &body);
    assert_null (body); /* taken */
    zmsg_t *copied = fling_msg_dispatch (2, zframe_data (zmsg_last (msg)), 2 * size);
    assert_int_equal (zmsg_size (msg), zmsg_size (copied)); /* the same bytes on the wire */
    for (zframe_t *a = zmsg_first (msg), *b = zmsg_first (copied); a;
         a = zmsg_next (msg), b = zmsg_next (copied))
        assert_true (zframe_eq (a, b));
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_DISPATCH);
    assert_int_equal (out.count, 2);
    zmsg_destroy (&copied);
    zmsg_destroy (&msg);
    body = NULL;
    assert_null (fling_msg_dispatch_frame (1, &body)); /* no frame: no message */
    free (rec);
}

static void test_record_fields_in_place (void **state)
{
    size_t size;
    uint8_t *rec = make_record (12345, "a", 1, "{}", 2, &size);
    fling_task_id_t id;
    fling_record_id (rec, &id);
    assert_int_equal (fling_task_id_seq (&id), 12345);
    fling_record_set_timeout_ms (rec, 987654);
    assert_int_equal (fling_record_timeout_ms (rec), 987654);
    const uint8_t *cursor = rec;
    fling_record_t r;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, rec + size, &r, &reason), 1);
    assert_int_equal (r.timeout_ms, 987654);
    assert_memory_equal (r.id.bytes, id.bytes, FLING_TASK_ID_SIZE);
    free (rec);
}

static void test_result_round_trip (void **state)
{
    fling_result_t in[3] = {
        {.attempt = 1, .outcome = FLING_OUTCOME_DONE},
        {.attempt = 2,
         .outcome = FLING_OUTCOME_RETRY,
         .retry_delay_ms = 1500,
         .error = "later",
         .error_size = 5},
        {.attempt = 65535, .outcome = FLING_OUTCOME_TIMEOUT},
    };
    uint8_t body[256];
    size_t size = 0;
    for (int i = 0; i < 3; i++) {
        fling_task_id_make (&in[i].id, 0xabcdef, (uint64_t)i + 10);
        size += fling_result_write (body + size, &in[i]);
    }
    assert_int_equal (size, 3 * FLING_RESULT_OVERHEAD + 5);
    zmsg_t *msg = fling_msg_result (7, 3, body, size);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_RESULT);
    assert_int_equal (out.count, 3);
    const uint8_t *cursor = out.body, *end = out.body + out.body_size;
    fling_result_t r;
    fling_reason_t reason;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (fling_result_next (&cursor, end, &r, &reason), 1);
        assert_memory_equal (r.id.bytes, in[i].id.bytes, FLING_TASK_ID_SIZE);
        assert_int_equal (r.attempt, in[i].attempt);
        assert_int_equal (r.outcome, in[i].outcome);
        assert_int_equal (r.retry_delay_ms, in[i].retry_delay_ms);
        assert_int_equal (r.error_size, in[i].error_size);
        if (in[i].error_size)
            assert_memory_equal (r.error, in[i].error, in[i].error_size);
        else
            assert_null (r.error);
    }
    assert_int_equal (fling_result_next (&cursor, end, &r, &reason), 0);
    zmsg_destroy (&msg);
}

static void test_result_error_text_capped (void **state)
{
    char text[FLING_ERROR_TEXT_MAX + 100];
    memset (text, 'e', sizeof text);
    fling_result_t r = {.outcome = FLING_OUTCOME_FAIL, .error = text, .error_size = sizeof text};
    uint8_t buf[FLING_RESULT_OVERHEAD + sizeof text];
    assert_int_equal (fling_result_write (buf, &r), FLING_RESULT_OVERHEAD + FLING_ERROR_TEXT_MAX);
    const uint8_t *cursor = buf;
    fling_result_t back;
    fling_reason_t reason;
    assert_int_equal (fling_result_next (&cursor,
                                         buf + FLING_RESULT_OVERHEAD + FLING_ERROR_TEXT_MAX, &back,
                                         &reason),
                      1);
    assert_int_equal (back.error_size, FLING_ERROR_TEXT_MAX);
}

static void test_capacity_round_trip (void **state)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {
        [FLING_CLASS_POOL] = 0xffffffffu, [FLING_CLASS_LOOP] = 0};
    zmsg_t *msg = fling_msg_capacity (capacity, NULL);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_CAPACITY);
    assert_int_equal (out.capacity[FLING_CLASS_POOL], 0xffffffffu);
    assert_int_equal (out.capacity[FLING_CLASS_LOOP], 0);
    zmsg_destroy (&msg);

    /* Slots travel per class, in the right order, and never exceed the
       capacity: a worker cannot run more than it holds. */
    capacity[FLING_CLASS_POOL] = 16;
    capacity[FLING_CLASS_LOOP] = 2000;
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 8, [FLING_CLASS_LOOP] = 1000};
    msg = fling_msg_capacity (capacity, slots);
    expect_ok (msg, &out);
    assert_int_equal (out.capacity[FLING_CLASS_POOL], 16);
    assert_int_equal (out.capacity[FLING_CLASS_LOOP], 2000);
    assert_int_equal (out.slots[FLING_CLASS_POOL], 8);
    assert_int_equal (out.slots[FLING_CLASS_LOOP], 1000);
    zmsg_destroy (&msg);
    slots[FLING_CLASS_LOOP] = 2001;
    expect_reason (fling_msg_capacity (capacity, slots), FLING_REASON_BAD_FIELD);
    const char *names[] = {"a"};
    fling_class_t classes[] = {FLING_CLASS_LOOP};
    expect_reason (fling_msg_ready (capacity, slots, 1, "w", 1, names, classes),
                   FLING_REASON_BAD_FIELD);
}

static void test_error_round_trip (void **state)
{
    zmsg_t *msg =
        fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER, 0, 0, "send READY");
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_ERROR);
    assert_int_equal (out.reason, FLING_REASON_UNKNOWN_PEER);
    assert_int_equal (out.text_size, 10);
    assert_memory_equal (out.text, "send READY", 10);
    zmsg_destroy (&msg);

    msg = fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_FORBIDDEN, 0, 0, NULL);
    expect_ok (msg, &out);
    assert_int_equal (out.reason, FLING_REASON_FORBIDDEN);
    assert_int_equal (out.text_size, 0);
    zmsg_destroy (&msg);

    /* FLP/1.1: the command refused and its batch */
    msg = fling_msg_error (2, FLING_REASON_BAD_FIELD, FLING_CMD_SUBMIT, 0x0102030405060708ULL,
                           "count must be 1 to 1000");
    assert_int_equal (zframe_size (frame_at (msg, 1)), 11);
    expect_ok (msg, &out);
    assert_int_equal (out.reason, FLING_REASON_BAD_FIELD);
    assert_int_equal (out.refused_cmd, FLING_CMD_SUBMIT);
    assert_true (out.batch_seq == 0x0102030405060708ULL);
    zmsg_destroy (&msg);

    /* the text is capped at 1024 bytes */
    char long_text[2000];
    memset (long_text, 'e', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    msg = fling_msg_error (2, FLING_REASON_MALFORMED, 0, 0, long_text);
    expect_ok (msg, &out);
    assert_int_equal (out.text_size, FLING_ERROR_TEXT_MAX);
    zmsg_destroy (&msg);
    msg = fling_msg_error (2, FLING_REASON_MALFORMED, 0, 0, "x");
    zframe_reset (frame_at (msg, 2), long_text, FLING_ERROR_TEXT_MAX + 1);
    expect_reason (msg, FLING_REASON_MALFORMED); /* and a decoder refuses more */
}

static void test_welcome_and_result_ack_round_trip (void **state)
{
    zmsg_t *msg = fling_msg_welcome (250, 4000);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_WELCOME);
    assert_int_equal (out.heartbeat_ms, 250);
    assert_int_equal (out.worker_timeout_ms, 4000);
    zmsg_destroy (&msg);

    msg = fling_msg_result_ack (0xffffffffffffULL);
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_RESULT_ACK);
    assert_true (out.batch_seq == 0xffffffffffffULL);
    zmsg_destroy (&msg);

    msg = valid_result (); /* RESULT carries its result_seq in FLP/1.1 */
    expect_ok (msg, &out);
    assert_true (out.batch_seq == 1);
    zmsg_destroy (&msg);
}

static void test_admin_round_trip (void **state)
{
    const char *json = "{\"op\":\"stats\"}";
    zmsg_t *msg = fling_msg_admin (json);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_ADMIN);
    assert_int_equal (out.text_size, strlen (json));
    assert_memory_equal (out.text, json, strlen (json));
    zmsg_destroy (&msg);

    msg = fling_msg_admin_reply ("{\"tasks\":0}");
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_ADMIN_REPLY);
    assert_int_equal (out.text_size, 11);
    assert_memory_equal (out.text, "{\"tasks\":0}", 11);
    zmsg_destroy (&msg);

    msg = fling_msg_admin ("");
    expect_ok (msg, &out);
    assert_int_equal (out.text_size, 0);
    zmsg_destroy (&msg);
}

static void test_full_batch_decodes (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "n", 1, "{}", 2, &size);
    uint8_t *body = malloc (size * FLING_BATCH_TASKS_MAX);
    assert_non_null (body);
    for (size_t i = 0; i < FLING_BATCH_TASKS_MAX; i++)
        memcpy (body + i * size, rec, size);
    zmsg_t *msg = fling_msg_submit (1, FLING_BATCH_TASKS_MAX, body, size * FLING_BATCH_TASKS_MAX);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.count, FLING_BATCH_TASKS_MAX);
    zmsg_destroy (&msg);
    free (body);
    free (rec);
}

/* ---- records ------------------------------------------------------------ */

static void check_record_round_trip (size_t name_size, size_t payload_size)
{
    char *name = malloc (name_size + 1);
    char *payload = malloc (payload_size + 1);
    assert_non_null (name);
    assert_non_null (payload);
    for (size_t i = 0; i < name_size; i++)
        name[i] = "abcXYZ019._:-"[i % 13];
    memset (payload, 'p', payload_size);
    size_t size;
    uint8_t *rec =
        make_record (0xffffffffffffffffULL, name, name_size, payload, payload_size, &size);
    assert_int_equal (size, FLING_RECORD_OVERHEAD + name_size + payload_size);

    const uint8_t *cursor = rec;
    fling_record_t r;
    fling_reason_t reason = FLING_REASON_MALFORMED;
    assert_int_equal (fling_record_next (&cursor, rec + size, &r, &reason), 1);
    assert_int_equal (reason, FLING_REASON_OK);
    assert_ptr_equal (cursor, rec + size);
    assert_ptr_equal (r.raw, rec);
    assert_int_equal (r.raw_size, size);
    assert_true (fling_task_id_producer (&r.id) == 0x1122334455667788ULL);
    assert_true (fling_task_id_seq (&r.id) == 0xffffffffffffffffULL);
    assert_int_equal (r.attempt, 0);
    assert_int_equal (r.max_attempts, 3);
    assert_int_equal (r.timeout_ms, 1000);
    assert_int_equal (r.backoff_ms, 50);
    assert_int_equal (r.name_size, name_size);
    assert_memory_equal (r.name, name, name_size);
    assert_int_equal (r.name[name_size], '\0');
    assert_int_equal (r.payload_size, payload_size);
    if (payload_size)
        assert_memory_equal (r.payload, payload, payload_size);
    assert_int_equal (r.payload[payload_size], '\0');
    assert_int_equal (fling_record_next (&cursor, rec + size, &r, &reason), 0);

    fling_record_set_attempt (rec, 513);
    cursor = rec;
    assert_int_equal (fling_record_next (&cursor, rec + size, &r, &reason), 1);
    assert_int_equal (r.attempt, 513);
    free (rec);
    free (name);
    free (payload);
}

static void test_record_round_trips (void **state)
{
    size_t names[] = {1, FLING_NAME_MAX};
    size_t payloads[] = {0, FLING_PAYLOAD_MAX};
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 2; p++)
            check_record_round_trip (names[n], payloads[p]);
}

static void test_record_max_payload_in_submit (void **state)
{
    size_t size;
    char *payload = malloc (FLING_PAYLOAD_MAX);
    assert_non_null (payload);
    memset (payload, ' ', FLING_PAYLOAD_MAX);
    uint8_t *rec = make_record (1, "big", 3, payload, FLING_PAYLOAD_MAX, &size);
    zmsg_t *msg = fling_msg_submit (1, 1, rec, size);
    fling_msg_t out;
    expect_ok (msg, &out);
    zmsg_destroy (&msg);
    free (rec);
    free (payload);
}

static void test_record_truncated_buffer (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "abc", 3, "{}", 2, &size);
    fling_record_t r;
    fling_reason_t reason;
    for (size_t cut = 1; cut < size; cut++) {
        const uint8_t *cursor = rec;
        assert_int_equal (fling_record_next (&cursor, rec + cut, &r, &reason), -1);
        assert_int_equal (reason, FLING_REASON_BAD_TASK);
        assert_ptr_equal (cursor, rec);
    }
    free (rec);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_submit_round_trip),
        cmocka_unit_test (test_ack_round_trip),
        cmocka_unit_test (test_empty_commands_round_trip),
        cmocka_unit_test (test_ready_round_trip),
        cmocka_unit_test (test_dispatch_round_trip),
        cmocka_unit_test (test_dispatch_frame_round_trip),
        cmocka_unit_test (test_record_fields_in_place),
        cmocka_unit_test (test_result_round_trip),
        cmocka_unit_test (test_result_error_text_capped),
        cmocka_unit_test (test_capacity_round_trip),
        cmocka_unit_test (test_error_round_trip),
        cmocka_unit_test (test_welcome_and_result_ack_round_trip),
        cmocka_unit_test (test_admin_round_trip),
        cmocka_unit_test (test_full_batch_decodes),
        cmocka_unit_test (test_record_round_trips),
        cmocka_unit_test (test_record_max_payload_in_submit),
        cmocka_unit_test (test_record_truncated_buffer),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
