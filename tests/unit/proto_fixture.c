/*  proto_fixture.c - see proto_fixture.h. */
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

void put_u16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

zframe_t *frame_at (zmsg_t *msg, size_t index)
{
    zframe_t *frame = zmsg_first (msg);
    for (size_t i = 0; frame && i < index; i++)
        frame = zmsg_next (msg);
    assert_non_null (frame);
    return frame;
}

/* Decodes `msg`, expects failure with `want`, and destroys it. */
void expect_reason (zmsg_t *msg, fling_reason_t want)
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
void expect_ok (zmsg_t *msg, fling_msg_t *out)
{
    assert_non_null (msg);
    fling_reason_t reason = FLING_REASON_MALFORMED;
    int rc = fling_msg_decode (msg, out, &reason);
    if (rc != 0)
        fail_msg ("decode failed: %s", fling_reason_name (reason));
    assert_int_equal (reason, FLING_REASON_OK);
    assert_int_equal (out->version, FLING_PROTO_VERSION);
}

zmsg_t *raw_msg (const uint8_t header[4])
{
    zmsg_t *msg = zmsg_new ();
    assert_non_null (msg);
    assert_int_equal (zmsg_addmem (msg, header, 4), 0);
    return msg;
}

/* A record in a fresh buffer; *size gets its length. */
uint8_t *make_record (uint64_t seq, const char *name, size_t name_size, const char *payload,
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
zmsg_t *valid_submit (void)
{
    size_t size;
    uint8_t *rec = make_record (1, "mail.send", 9, "{\"a\":1}", 7, &size);
    zmsg_t *msg = fling_msg_submit (7, 1, rec, size);
    free (rec);
    return msg;
}

zmsg_t *valid_result (void)
{
    fling_result_t r = {
        .attempt = 1, .outcome = FLING_OUTCOME_FAIL, .error = "boom", .error_size = 4};
    fling_task_id_make (&r.id, 1, 2);
    uint8_t buf[64];
    size_t size = fling_result_write (buf, &r);
    return fling_msg_result (1, 1, buf, size);
}

zmsg_t *valid_ready (void)
{
    uint32_t capacity[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 4, [FLING_CLASS_LOOP] = 100};
    const char *names[] = {"email.send", "resize"};
    fling_class_t classes[] = {FLING_CLASS_POOL, FLING_CLASS_LOOP};
    return fling_msg_ready (capacity, NULL, 42, "w1", 2, names, classes);
}

/* One valid message of every command, for the shape tests. */
zmsg_t *valid_message (fling_cmd_t cmd)
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
        return fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_STATE, 0, 0, "nope");
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
    case FLING_CMD_WELCOME:
        return fling_msg_welcome (1000, 3000);
    case FLING_CMD_RESULT_ACK:
        return fling_msg_result_ack (12);
    default:
        fail_msg ("no sample for command %d", cmd);
        return NULL;
    }
}
