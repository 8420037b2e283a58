/*  test_proto.c - the FLP/1 codec (proto/fling_proto.c, proto/fling_error.c).

    Every command goes through its encoder and fling_msg_decode; every
    malformed shape a peer could send must give the documented reason and
    never a crash (ASan/UBSan builds run this too).
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
#include "fling_proto.h"

/* ---- helpers ------------------------------------------------------------ */

static void put_u16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static zframe_t *frame_at (zmsg_t *msg, size_t index)
{
    zframe_t *frame = zmsg_first (msg);
    for (size_t i = 0; frame && i < index; i++)
        frame = zmsg_next (msg);
    assert_non_null (frame);
    return frame;
}

/* Decodes `msg`, expects failure with `want`, and destroys it. */
static void expect_reason (zmsg_t *msg, fling_reason_t want)
{
    assert_non_null (msg);
    fling_msg_t out;
    fling_reason_t reason = FLING_REASON_OK;
    int rc = fling_msg_decode (msg, &out, &reason);
    if (rc != -1 || reason != want)
        fail_msg ("decode gave rc=%d reason=%s, expected -1 %s", rc, fling_reason_name (reason),
                  fling_reason_name (want));
    zmsg_destroy (&msg);
}

/* Decodes `msg` and expects success. The caller keeps and destroys `msg`. */
static void expect_ok (zmsg_t *msg, fling_msg_t *out)
{
    assert_non_null (msg);
    fling_reason_t reason = FLING_REASON_MALFORMED;
    int rc = fling_msg_decode (msg, out, &reason);
    if (rc != 0)
        fail_msg ("decode failed: %s", fling_reason_name (reason));
    assert_int_equal (reason, FLING_REASON_OK);
    assert_int_equal (out->version, FLING_PROTO_VERSION);
}

static zmsg_t *raw_msg (const uint8_t header[4])
{
    zmsg_t *msg = zmsg_new ();
    assert_non_null (msg);
    assert_int_equal (zmsg_addmem (msg, header, 4), 0);
    return msg;
}

/* A record in a fresh buffer; *size gets its length. */
static uint8_t *make_record (uint64_t seq, const char *name, size_t name_size, const char *payload,
                             size_t payload_size, size_t *size)
{
    *size = fling_record_size (name_size, payload_size);
    uint8_t *buf = malloc (*size);
    assert_non_null (buf);
    fling_task_id_t id;
    fling_task_id_make (&id, 0x1122334455667788ULL, seq);
    assert_int_equal (
        fling_record_write (buf, &id, 0, 3, 1000, 50, name, name_size, payload, payload_size),
        *size);
    return buf;
}

/* A SUBMIT with one valid record "mail.send" / {"a":1}. */
static zmsg_t *valid_submit (void)
{
    size_t size;
    uint8_t *rec = make_record (1, "mail.send", 9, "{\"a\":1}", 7, &size);
    zmsg_t *msg = fling_msg_submit (7, 1, rec, size);
    free (rec);
    return msg;
}

static zmsg_t *valid_result (void)
{
    fling_result_t r = {
        .attempt = 1, .outcome = FLING_OUTCOME_FAIL, .error = "boom", .error_size = 4};
    fling_task_id_make (&r.id, 1, 2);
    uint8_t buf[64];
    size_t size = fling_result_write (buf, &r);
    return fling_msg_result (1, buf, size);
}

static zmsg_t *valid_ready (void)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 4, [FLING_CLASS_LOOP] = 100};
    const char *names[] = {"email.send", "resize"};
    fling_class_t classes[] = {FLING_CLASS_POOL, FLING_CLASS_LOOP};
    return fling_msg_ready (capacity, NULL, 42, "w1", 2, names, classes);
}

/* One valid message of every command, for the shape tests. */
static zmsg_t *valid_message (fling_cmd_t cmd)
{
    static const uint8_t statuses[2] = {FLING_REASON_OK, FLING_REASON_QUEUE_FULL};
    uint32_t capacity[FLING_CLASS_COUNT] = {1, 2};
    size_t size;
    uint8_t *rec;
    zmsg_t *msg;
    switch (cmd) {
    case FLING_CMD_SUBMIT:
        return valid_submit ();
    case FLING_CMD_ACK:
        return fling_msg_ack (7, 2, statuses);
    case FLING_CMD_PING:
        return fling_msg_ping ();
    case FLING_CMD_PONG:
        return fling_msg_pong ();
    case FLING_CMD_READY:
        return valid_ready ();
    case FLING_CMD_DISPATCH:
        rec = make_record (1, "a", 1, "{}", 2, &size);
        msg = fling_msg_dispatch (1, rec, size);
        free (rec);
        return msg;
    case FLING_CMD_RESULT:
        return valid_result ();
    case FLING_CMD_CAPACITY:
        return fling_msg_capacity (capacity, NULL);
    case FLING_CMD_BYE:
        return fling_msg_bye ();
    case FLING_CMD_ERROR:
        return fling_msg_error (FLING_REASON_BAD_STATE, "nope");
    case FLING_CMD_ADMIN:
        return fling_msg_admin ("{\"op\":\"stats\"}");
    case FLING_CMD_ADMIN_REPLY:
        return fling_msg_admin_reply ("{}");
    case FLING_CMD_HOLDING: {
        uint8_t lease[FLING_LEASE_SIZE];
        fling_task_id_t id;
        fling_task_id_make (&id, 3, 4);
        fling_lease_write (lease, &id, 2);
        return fling_msg_holding (1, lease, sizeof lease);
    }
    default:
        fail_msg ("no sample for command %d", cmd);
        return NULL;
    }
}

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
    zmsg_t *msg = fling_msg_result (3, body, size);
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
    zmsg_t *msg = fling_msg_error (FLING_REASON_UNKNOWN_PEER, "send READY");
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.cmd, FLING_CMD_ERROR);
    assert_int_equal (out.reason, FLING_REASON_UNKNOWN_PEER);
    assert_int_equal (out.text_size, 10);
    assert_memory_equal (out.text, "send READY", 10);
    zmsg_destroy (&msg);

    msg = fling_msg_error (FLING_REASON_FORBIDDEN, NULL);
    expect_ok (msg, &out);
    assert_int_equal (out.reason, FLING_REASON_FORBIDDEN);
    assert_int_equal (out.text_size, 0);
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

/* ---- malformed messages ------------------------------------------------- */

static void test_empty_message (void **state)
{
    expect_reason (zmsg_new (), FLING_REASON_MALFORMED);
}

static void test_bad_header (void **state)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "FL\x01", 3);
    expect_reason (msg, FLING_REASON_BAD_SIGNATURE);

    msg = zmsg_new ();
    zmsg_addmem (msg, "FL\x01\x03\x00", 5);
    expect_reason (msg, FLING_REASON_BAD_SIGNATURE);

    msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    expect_reason (msg, FLING_REASON_BAD_SIGNATURE);

    expect_reason (raw_msg ((const uint8_t *)"FX\x01\x03"), FLING_REASON_BAD_SIGNATURE);
    expect_reason (raw_msg ((const uint8_t *)"fl\x01\x03"), FLING_REASON_BAD_SIGNATURE);
    expect_reason (raw_msg ((const uint8_t *)"FL\x02\x03"), FLING_REASON_BAD_VERSION);
    expect_reason (raw_msg ((const uint8_t *)"FL\x00\x03"), FLING_REASON_BAD_VERSION);
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x00"), FLING_REASON_BAD_COMMAND);
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x63"), FLING_REASON_BAD_COMMAND);
    uint8_t header[4] = {'F', 'L', 1, FLING_CMD_MAX};
    expect_reason (raw_msg (header), FLING_REASON_BAD_COMMAND);
    header[3] = 0xff;
    expect_reason (raw_msg (header), FLING_REASON_BAD_COMMAND);
}

static void test_version_reported (void **state)
{
    zmsg_t *msg = raw_msg ((const uint8_t *)"FL\x02\x03");
    fling_msg_t out;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &out, &reason), -1);
    assert_int_equal (out.version, 2);
    zmsg_destroy (&msg);
}

static void test_wrong_frame_counts (void **state)
{
    for (int cmd = FLING_CMD_SUBMIT; cmd < FLING_CMD_MAX; cmd++) {
        zmsg_t *msg = valid_message ((fling_cmd_t)cmd);
        zframe_t *last = zmsg_last (msg);
        zmsg_remove (msg, last);
        zframe_destroy (&last);
        expect_reason (msg, FLING_REASON_MALFORMED);

        msg = valid_message ((fling_cmd_t)cmd);
        zmsg_addmem (msg, "", 0);
        expect_reason (msg, FLING_REASON_MALFORMED);
    }
}

static void test_too_many_frames (void **state)
{
    zmsg_t *msg = fling_msg_ping ();
    for (int i = 0; i < FLING_FRAMES_MAX; i++)
        zmsg_addmem (msg, "x", 1);
    assert_int_equal (zmsg_size (msg), FLING_FRAMES_MAX + 1);
    expect_reason (msg, FLING_REASON_MALFORMED);

    msg = fling_msg_ping ();
    for (int i = 0; i < FLING_FRAMES_MAX - 1; i++)
        zmsg_addmem (msg, "x", 1);
    expect_reason (msg, FLING_REASON_MALFORMED);
}

static void test_message_too_large (void **state)
{
    size_t size = FLING_MSG_BYTES_MAX + 1;
    uint8_t *big = calloc (1, size);
    assert_non_null (big);
    zmsg_t *msg = fling_msg_submit (1, 1, big, size);
    expect_reason (msg, FLING_REASON_TOO_LARGE);
    free (big);
}

static void test_fields_frame_size (void **state)
{
    fling_cmd_t cmds[] = {FLING_CMD_SUBMIT, FLING_CMD_ACK,      FLING_CMD_READY, FLING_CMD_DISPATCH,
                          FLING_CMD_RESULT, FLING_CMD_CAPACITY, FLING_CMD_ERROR};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        for (int delta = -1; delta <= 1; delta += 2) {
            zmsg_t *msg = valid_message (cmds[i]);
            zframe_t *fields = frame_at (msg, 1);
            size_t size = zframe_size (fields) + (size_t)delta;
            uint8_t buf[32] = {0};
            memcpy (buf, zframe_data (fields),
                    size < zframe_size (fields) ? size : zframe_size (fields));
            zframe_reset (fields, buf, size);
            expect_reason (msg, FLING_REASON_MALFORMED);
        }
    }
    zmsg_t *msg = valid_message (FLING_CMD_ERROR);
    zframe_reset (frame_at (msg, 1), "\x00", 1);
    expect_reason (msg, FLING_REASON_MALFORMED);
}

/* Builds a SUBMIT whose count field is `count` around the body. */
static zmsg_t *submit_with (uint32_t count, const uint8_t *body, size_t size)
{
    return fling_msg_submit (1, count, body, size);
}

static void test_submit_counts (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "a", 1, "{}", 2, &size);
    uint8_t two[128];
    memcpy (two, rec, size);
    memcpy (two + size, rec, size);
    expect_reason (submit_with (0, rec, size), FLING_REASON_BAD_FIELD);
    expect_reason (submit_with (FLING_BATCH_TASKS_MAX + 1, rec, size), FLING_REASON_BAD_FIELD);
    expect_reason (submit_with (2, rec, size), FLING_REASON_MALFORMED);
    expect_reason (submit_with (1, two, 2 * size), FLING_REASON_MALFORMED);
    expect_reason (submit_with (1, rec, 0), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_dispatch (0, rec, size), FLING_REASON_BAD_FIELD);
    expect_reason (fling_msg_dispatch (FLING_BATCH_TASKS_MAX + 1, rec, size),
                   FLING_REASON_BAD_FIELD);
    expect_reason (fling_msg_dispatch (2, rec, size), FLING_REASON_MALFORMED);

    uint8_t statuses[3] = {0};
    expect_reason (fling_msg_ack (1, 0, statuses), FLING_REASON_BAD_FIELD);
    zmsg_t *msg = fling_msg_ack (1, 3, statuses);
    zframe_reset (frame_at (msg, 2), statuses, 2);
    expect_reason (msg, FLING_REASON_MALFORMED);
    free (rec);
}

static void test_bad_records (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "abc", 3, "{\"k\":1}", 7, &size);
    uint8_t buf[128];

    /* length pointing past the frame, then too short for its own fields */
    memcpy (buf, rec, size);
    put_u32 (buf, (uint32_t)(size - 4 + 1));
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);
    put_u32 (buf, 0xffffffffu);
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);
    put_u32 (buf, FLING_RECORD_OVERHEAD - 5);
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);

    /* name length past the record */
    memcpy (buf, rec, size);
    buf[32] = 200;
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);

    /* payload length not matching the record length */
    memcpy (buf, rec, size);
    put_u32 (buf + 34 + 3, 8);
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);

    /* missing zero terminators after the name and after the payload */
    memcpy (buf, rec, size);
    buf[33 + 3] = 'x';
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);
    memcpy (buf, rec, size);
    buf[size - 1] = '}';
    expect_reason (submit_with (1, buf, size), FLING_REASON_BAD_TASK);

    /* a truncated second record */
    memcpy (buf, rec, size);
    memcpy (buf + size, rec, 10);
    expect_reason (submit_with (2, buf, size + 10), FLING_REASON_BAD_TASK);
    free (rec);

    /* bad names: empty, a space, a control byte, a slash, 128 bytes */
    const char *bad_names[] = {"", "a b", "a\x01", "a/b", "\x7f"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        rec = make_record (1, bad_names[i], strlen (bad_names[i]), "{}", 2, &size);
        expect_reason (submit_with (1, rec, size), FLING_REASON_BAD_TASK);
        free (rec);
    }
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'n', sizeof long_name);
    rec = make_record (1, long_name, sizeof long_name, "{}", 2, &size);
    expect_reason (submit_with (1, rec, size), FLING_REASON_BAD_TASK);
    free (rec);
}

/* The decoder checks a name once per batch while it repeats (the common
   case): a later record whose name differs, even by one byte of the same
   length, is still checked. */
static void test_repeated_names_in_a_batch (void **state)
{
    size_t good_size, bad_size, other_size;
    uint8_t *good = make_record (1, "job.a", 5, "{}", 2, &good_size);
    uint8_t *bad = make_record (2, "job a", 5, "{}", 2, &bad_size);
    uint8_t *other = make_record (3, "job.b", 5, "{}", 2, &other_size);
    uint8_t buf[512];
    size_t used = 0;
    for (int i = 0; i < 3; i++, used += good_size)
        memcpy (buf + used, good, good_size);
    memcpy (buf + used, other, other_size);
    zmsg_t *msg = submit_with (4, buf, used + other_size);
    fling_msg_t decoded;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &decoded, &reason), 0);
    zmsg_destroy (&msg);

    memcpy (buf + used, bad, bad_size); /* good, good, good, then a bad one */
    expect_reason (submit_with (4, buf, used + bad_size), FLING_REASON_BAD_TASK);
    memcpy (buf, bad, bad_size); /* a bad one first */
    memcpy (buf + bad_size, good, good_size);
    expect_reason (submit_with (2, buf, bad_size + good_size), FLING_REASON_BAD_TASK);
    free (good);
    free (bad);
    free (other);
}

static void test_payload_too_large (void **state)
{
    size_t size;
    char *payload = calloc (1, FLING_PAYLOAD_MAX + 1);
    assert_non_null (payload);
    uint8_t *rec = make_record (1, "big", 3, payload, FLING_PAYLOAD_MAX + 1, &size);
    expect_reason (submit_with (1, rec, size), FLING_REASON_TOO_LARGE);
    expect_reason (fling_msg_dispatch (1, rec, size), FLING_REASON_TOO_LARGE);
    free (rec);
    free (payload);

    /* the claim alone is enough: no need to carry the bytes */
    rec = make_record (1, "big", 3, "{}", 2, &size);
    put_u32 (rec + 34 + 3, FLING_PAYLOAD_MAX + 1);
    expect_reason (submit_with (1, rec, size), FLING_REASON_TOO_LARGE);
    free (rec);
}

static void test_bad_results (void **state)
{
    fling_result_t r = {
        .attempt = 1, .outcome = FLING_OUTCOME_DONE, .error = "err", .error_size = 3};
    uint8_t buf[2 * (FLING_RESULT_OVERHEAD + 8)];
    size_t size = fling_result_write (buf, &r);

    buf[18] = 9;
    expect_reason (fling_msg_result (1, buf, size), FLING_REASON_BAD_FIELD);
    buf[18] = FLING_OUTCOME_MAX;
    expect_reason (fling_msg_result (1, buf, size), FLING_REASON_BAD_FIELD);
    buf[18] = FLING_OUTCOME_DONE;

    put_u16 (buf + 23, 4);
    expect_reason (fling_msg_result (1, buf, size), FLING_REASON_MALFORMED);
    put_u16 (buf + 23, 0xffff);
    expect_reason (fling_msg_result (1, buf, size), FLING_REASON_MALFORMED);
    put_u16 (buf + 23, 3);

    expect_reason (fling_msg_result (1, buf, size - 1), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (1, buf, FLING_RESULT_OVERHEAD - 1), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (2, buf, size), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (0, buf, size), FLING_REASON_BAD_FIELD);
    memcpy (buf + size, buf, size);
    expect_reason (fling_msg_result (1, buf, 2 * size), FLING_REASON_MALFORMED);
}

static void test_result_error_over_cap (void **state)
{
    size_t size = FLING_RESULT_OVERHEAD + FLING_ERROR_TEXT_MAX + 1;
    uint8_t *buf = calloc (1, size);
    assert_non_null (buf);
    put_u16 (buf + 23, FLING_ERROR_TEXT_MAX + 1);
    expect_reason (fling_msg_result (1, buf, size), FLING_REASON_MALFORMED);
    free (buf);
}

static void test_bad_ready (void **state)
{
    /* a bad class byte in the names frame */
    zmsg_t *msg = valid_ready ();
    zframe_t *names = frame_at (msg, 3);
    uint8_t packed[64];
    size_t size = zframe_size (names);
    memcpy (packed, zframe_data (names), size);
    packed[0] = FLING_CLASS_COUNT;
    zframe_reset (names, packed, size);
    expect_reason (msg, FLING_REASON_MALFORMED);

    /* name count in the fields frame not matching the names */
    msg = valid_ready ();
    zframe_t *fields = frame_at (msg, 1);
    uint8_t f[22];
    memcpy (f, zframe_data (fields), 22);
    put_u16 (f + 12, 3);
    zframe_reset (fields, f, 22);
    expect_reason (msg, FLING_REASON_MALFORMED);

    msg = valid_ready ();
    fields = frame_at (msg, 1);
    put_u16 (f + 12, 1);
    zframe_reset (fields, f, 22);
    expect_reason (msg, FLING_REASON_MALFORMED);

    msg = valid_ready ();
    fields = frame_at (msg, 1);
    put_u16 (f + 12, 0);
    zframe_reset (fields, f, 22);
    expect_reason (msg, FLING_REASON_BAD_FIELD);

    /* a name length running past the frame; a bad name byte */
    msg = valid_ready ();
    names = frame_at (msg, 3);
    memcpy (packed, zframe_data (names), size);
    packed[1] = 60;
    zframe_reset (names, packed, size);
    expect_reason (msg, FLING_REASON_MALFORMED);

    msg = valid_ready ();
    names = frame_at (msg, 3);
    memcpy (packed, zframe_data (names), size);
    packed[2] = ' ';
    zframe_reset (names, packed, size);
    expect_reason (msg, FLING_REASON_MALFORMED);

    /* worker name with a zero byte, or too long */
    msg = valid_ready ();
    zframe_reset (frame_at (msg, 2), "w\0x", 3);
    expect_reason (msg, FLING_REASON_BAD_FIELD);
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'w', sizeof long_name);
    msg = valid_ready ();
    zframe_reset (frame_at (msg, 2), long_name, sizeof long_name);
    expect_reason (msg, FLING_REASON_BAD_FIELD);
}

/* Decoding must never read past a frame: feed every prefix of every frame. */
static void test_every_truncation (void **state)
{
    for (int cmd = FLING_CMD_SUBMIT; cmd < FLING_CMD_MAX; cmd++) {
        zmsg_t *sample = valid_message ((fling_cmd_t)cmd);
        for (size_t index = 1; index < zmsg_size (sample); index++) {
            size_t full = zframe_size (frame_at (sample, index));
            for (size_t cut = 0; cut < full; cut++) {
                zmsg_t *msg = zmsg_dup (sample);
                zframe_t *frame = frame_at (msg, index);
                uint8_t *copy = malloc (cut + 1);
                memcpy (copy, zframe_data (frame), cut);
                zframe_reset (frame, copy, cut);
                free (copy);
                fling_msg_t out;
                fling_reason_t reason;
                int rc = fling_msg_decode (msg, &out, &reason);
                /* text frames may shrink and stay valid; the rest must fail */
                if (cmd != FLING_CMD_ERROR && cmd != FLING_CMD_ADMIN &&
                    cmd != FLING_CMD_ADMIN_REPLY && !(cmd == FLING_CMD_READY && index == 2))
                    assert_int_equal (rc, -1);
                zmsg_destroy (&msg);
            }
        }
        zmsg_destroy (&sample);
    }
}

/* ---- task ids ------------------------------------------------------------ */

static void test_task_id_format_parse (void **state)
{
    struct {
        uint64_t producer, seq;
        const char *text;
    } cases[] = {
        {0, 0, "0000000000000000:0"},
        {0x0123456789abcdefULL, 42, "0123456789abcdef:42"},
        {0xffffffffffffffffULL, 0xffffffffffffffffULL, "ffffffffffffffff:18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fling_task_id_t id, back;
        fling_task_id_make (&id, cases[i].producer, cases[i].seq);
        assert_true (fling_task_id_producer (&id) == cases[i].producer);
        assert_true (fling_task_id_seq (&id) == cases[i].seq);
        char buf[FLING_TASK_ID_TEXT_SIZE];
        assert_ptr_equal (fling_task_id_format (&id, buf), buf);
        assert_string_equal (buf, cases[i].text);
        assert_int_equal (fling_task_id_parse (&back, buf), 0);
        assert_memory_equal (back.bytes, id.bytes, FLING_TASK_ID_SIZE);
    }
    /* big-endian: ids sort by producer, then sequence */
    fling_task_id_t id;
    fling_task_id_make (&id, 0x0102030405060708ULL, 0x090a0b0c0d0e0f10ULL);
    for (int i = 0; i < FLING_TASK_ID_SIZE; i++)
        assert_int_equal (id.bytes[i], i + 1);
}

/* The hand-written formatter against the printf form it replaces: every
   digit count of the sequence (10^k - 1, 10^k) and scrambled values. */
static void test_task_id_format_like_printf (void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) {
        uint64_t producer = x, seq;
        if (i < 40) {
            uint64_t power = 1;
            for (int k = 0; k < i / 2; k++)
                power *= 10;
            seq = power - (uint64_t) (i % 2 == 0); /* 10^19 still fits */
        } else
            seq = x >> (i % 64);
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        fling_task_id_t id;
        fling_task_id_make (&id, producer, seq);
        char want[64], got[FLING_TASK_ID_TEXT_SIZE];
        snprintf (want, sizeof want, "%016" PRIx64 ":%" PRIu64, producer, seq);
        assert_string_equal (fling_task_id_format (&id, got), want);
    }
}

static void test_task_id_parse_rejects (void **state)
{
    const char *bad[] = {
        "",
        "0123456789abcde:1",                      /* 15 hex digits */
        "0123456789abcdef0:1",                    /* 17 hex digits */
        "0123456789ABCDEF:1",                     /* uppercase */
        "0123456789abcdef1",                      /* no colon */
        "0123456789abcdef",                       /* nothing after the digits */
        "0123456789abcdef:",                      /* empty sequence */
        "0123456789abcdef:18446744073709551616",  /* 2^64 */
        "0123456789abcdef:99999999999999999999",  /* 20 digits, above 2^64 */
        "0123456789abcdef:123456789012345678901", /* 21 digits */
        "0123456789abcdef:-1",
        "0123456789abcdef:+1",
        "0123456789abcdef:12a",
        "0123456789abcdef:1 ",
        "0123456789abcdeg:1",
        " 123456789abcdef:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fling_task_id_t id;
        if (fling_task_id_parse (&id, bad[i]) != -1)
            fail_msg ("parsed bad id \"%s\"", bad[i]);
    }
    /* one text form per id: leading zeros are refused, "0" alone is fine */
    fling_task_id_t id;
    assert_int_equal (fling_task_id_parse (&id, "0123456789abcdef:00042"), -1);
    assert_int_equal (fling_task_id_parse (&id, "0123456789abcdef:0"), 0);
    assert_int_equal (fling_task_id_seq (&id), 0);
}

/* ---- names and texts ------------------------------------------------------ */

static void test_name_valid (void **state)
{
    char max[FLING_NAME_MAX + 1];
    memset (max, 'a', sizeof max);
    struct {
        const char *name;
        size_t size;
        bool valid;
    } cases[] = {
        {"a", 1, true},
        {"email.send", 10, true},
        {"Az09._:-", 8, true},
        {max, FLING_NAME_MAX, true},
        {max, FLING_NAME_MAX + 1, false},
        {"", 0, false},
        {"a b", 3, false},
        {"a b", 1, true},
        {"a/b", 3, false},
        {"a\0b", 3, false},
        {"a\n", 2, false},
        {"a\t", 2, false},
        {"\x7f", 1, false},
        {"\xc3\xa9", 2, false},
        {"a*", 2, false},
        {"a@b", 3, false},
        {"[a]", 3, false},
        {"a,b", 3, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fling_name_valid (cases[i].name, cases[i].size) != cases[i].valid)
            fail_msg ("case %zu: name_valid should be %d", i, cases[i].valid);
    /* Every byte value, alone and after a valid one: the table is the spec. */
    for (int c = 0; c < 256; c++) {
        bool spec = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
        char name[2] = {'x', (char) c};
        if (fling_name_valid (name + 1, 1) != spec || fling_name_valid (name, 2) != spec)
            fail_msg ("byte 0x%02x: name_valid should be %d", c, spec);
    }
}

static void test_cmd_names (void **state)
{
    const char *want[FLING_CMD_MAX] = {
        [FLING_CMD_SUBMIT] = "SUBMIT", [FLING_CMD_ACK] = "ACK",
        [FLING_CMD_PING] = "PING",     [FLING_CMD_PONG] = "PONG",
        [FLING_CMD_READY] = "READY",   [FLING_CMD_DISPATCH] = "DISPATCH",
        [FLING_CMD_RESULT] = "RESULT", [FLING_CMD_CAPACITY] = "CAPACITY",
        [FLING_CMD_BYE] = "BYE",       [FLING_CMD_ERROR] = "ERROR",
        [FLING_CMD_ADMIN] = "ADMIN",   [FLING_CMD_ADMIN_REPLY] = "ADMIN_REPLY",
        [FLING_CMD_HOLDING] = "HOLDING",
    };
    for (int cmd = 1; cmd < FLING_CMD_MAX; cmd++)
        assert_string_equal (fling_cmd_name (cmd), want[cmd]);
    assert_string_equal (fling_cmd_name (0), "UNKNOWN");
    assert_string_equal (fling_cmd_name (FLING_CMD_MAX), "UNKNOWN");
    assert_string_equal (fling_cmd_name (-1), "UNKNOWN");
    assert_string_equal (fling_cmd_name (255), "UNKNOWN");
}

static void test_reason_names (void **state)
{
    struct {
        int reason;
        const char *name;
        int err;
    } cases[] = {
        {FLING_REASON_OK, "OK", 0},
        {FLING_REASON_DUPLICATE, "DUPLICATE", 0},
        {FLING_REASON_QUEUE_FULL, "QUEUE_FULL", FLING_EQUEUEFULL},
        {FLING_REASON_STORE_FULL, "STORE_FULL", FLING_ESTOREFULL},
        {FLING_REASON_UNAVAILABLE, "UNAVAILABLE", FLING_EUNAVAILABLE},
        {FLING_REASON_BAD_TASK, "BAD_TASK", FLING_EBADNAME},
        {FLING_REASON_TOO_LARGE, "TOO_LARGE", FLING_ETOOLARGE},
        {FLING_REASON_BAD_SIGNATURE, "BAD_SIGNATURE", FLING_EPROTO},
        {FLING_REASON_BAD_VERSION, "BAD_VERSION", FLING_EPROTO},
        {FLING_REASON_BAD_COMMAND, "BAD_COMMAND", FLING_EPROTO},
        {FLING_REASON_MALFORMED, "MALFORMED", FLING_EPROTO},
        {FLING_REASON_BAD_FIELD, "BAD_FIELD", FLING_EPROTO},
        {FLING_REASON_BAD_STATE, "BAD_STATE", FLING_EPROTO},
        {FLING_REASON_UNKNOWN_PEER, "UNKNOWN_PEER", FLING_EPROTO},
        {FLING_REASON_FORBIDDEN, "FORBIDDEN", FLING_EFORBIDDEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal (fling_reason_name (cases[i].reason), cases[i].name);
        assert_int_equal (fling_reason_errno (cases[i].reason), cases[i].err);
    }
    int unknown[] = {-1, 7, 19, FLING_REASON_MAX, 255, 65535};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal (fling_reason_name (unknown[i]), "UNKNOWN_REASON");
        assert_int_equal (fling_reason_errno (unknown[i]), FLING_EPROTO);
    }
}

static void test_outcome_and_class_names (void **state)
{
    const char *outcomes[] = {"DONE", "RETRY", "FAIL", "RELEASED", "TIMEOUT"};
    for (int i = 0; i < FLING_OUTCOME_MAX; i++)
        assert_string_equal (fling_outcome_name (i), outcomes[i]);
    assert_string_equal (fling_outcome_name (FLING_OUTCOME_MAX), "UNKNOWN");
    assert_string_equal (fling_outcome_name (-1), "UNKNOWN");
    assert_string_equal (fling_class_name (FLING_CLASS_LOOP), "loop");
    assert_string_equal (fling_class_name (FLING_CLASS_POOL), "pool");
    assert_string_equal (fling_class_name (FLING_CLASS_COUNT), "unknown");
    assert_string_equal (fling_class_name (-1), "unknown");
}

static void test_strerror (void **state)
{
    const char *seen[FLING_EMAX - FLING_EBASE] = {0};
    for (int err = FLING_EBASE + 1; err < FLING_EMAX; err++) {
        if (err == FLING_EBASE + 8)
            continue; /* not used (fling_error.h) */
        const char *text = fling_strerror (err);
        assert_non_null (text);
        assert_true (strlen (text) > 5);
        assert_null (strstr (text, "Unknown error"));
        for (int other = FLING_EBASE + 1; other < err; other++)
            if (seen[other - FLING_EBASE])
                assert_string_not_equal (text, seen[other - FLING_EBASE]);
        seen[err - FLING_EBASE] = text;
    }
    assert_string_equal (fling_strerror (FLING_EQUEUEFULL), "broker refused the task: queue full");
    assert_string_equal (fling_strerror (EINVAL), strerror (EINVAL));
    assert_string_equal (fling_strerror (ETIMEDOUT), strerror (ETIMEDOUT));
    assert_non_null (strstr (fling_strerror (EAGAIN), "outbox full"));
    /* codes around fling's range fall back to the system's text */
    assert_non_null (fling_strerror (FLING_EBASE));
    assert_non_null (fling_strerror (FLING_EMAX));
    assert_non_null (fling_strerror (0));
}

static void test_last_error (void **state)
{
    fling_set_last_error (FLING_EBADJSON, "line 1 column 3");
    assert_int_equal (errno, FLING_EBADJSON);
    assert_string_equal (fling_last_error (),
                         "payload is not a valid JSON object: line 1 column 3");
    fling_set_last_error (FLING_EBADNAME, NULL);
    assert_int_equal (errno, FLING_EBADNAME);
    assert_string_equal (fling_last_error (), fling_strerror (FLING_EBADNAME));
    fling_set_last_error (ENOMEM, "");
    assert_string_equal (fling_last_error (), strerror (ENOMEM));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_submit_round_trip),
        cmocka_unit_test (test_ack_round_trip),
        cmocka_unit_test (test_empty_commands_round_trip),
        cmocka_unit_test (test_ready_round_trip),
        cmocka_unit_test (test_dispatch_round_trip),
        cmocka_unit_test (test_result_round_trip),
        cmocka_unit_test (test_result_error_text_capped),
        cmocka_unit_test (test_capacity_round_trip),
        cmocka_unit_test (test_error_round_trip),
        cmocka_unit_test (test_admin_round_trip),
        cmocka_unit_test (test_full_batch_decodes),
        cmocka_unit_test (test_record_round_trips),
        cmocka_unit_test (test_record_max_payload_in_submit),
        cmocka_unit_test (test_record_truncated_buffer),
        cmocka_unit_test (test_empty_message),
        cmocka_unit_test (test_bad_header),
        cmocka_unit_test (test_version_reported),
        cmocka_unit_test (test_wrong_frame_counts),
        cmocka_unit_test (test_too_many_frames),
        cmocka_unit_test (test_message_too_large),
        cmocka_unit_test (test_fields_frame_size),
        cmocka_unit_test (test_submit_counts),
        cmocka_unit_test (test_bad_records),
        cmocka_unit_test (test_repeated_names_in_a_batch),
        cmocka_unit_test (test_payload_too_large),
        cmocka_unit_test (test_bad_results),
        cmocka_unit_test (test_result_error_over_cap),
        cmocka_unit_test (test_bad_ready),
        cmocka_unit_test (test_every_truncation),
        cmocka_unit_test (test_task_id_format_parse),
        cmocka_unit_test (test_task_id_format_like_printf),
        cmocka_unit_test (test_task_id_parse_rejects),
        cmocka_unit_test (test_name_valid),
        cmocka_unit_test (test_dispatch_frame_round_trip),
        cmocka_unit_test (test_record_fields_in_place),
        cmocka_unit_test (test_cmd_names),
        cmocka_unit_test (test_reason_names),
        cmocka_unit_test (test_outcome_and_class_names),
        cmocka_unit_test (test_strerror),
        cmocka_unit_test (test_last_error),
    };
    return cmocka_run_group_tests_name ("proto", tests, NULL, NULL);
}
