/*  test_proto_bad.c - the FLP/1 decoder against every malformed shape a
    peer could send: each must give the documented reason and never a
    crash (ASan/UBSan builds run this too). Samples: proto_fixture.h.
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

/* ---- malformed messages ------------------------------------------------- */

static void test_empty_message (void **state)
{
    /* No header, so no signature: dropped as a bad signature is. */
    expect_reason (zmsg_new (), FLING_REASON_BAD_SIGNATURE);
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
    expect_reason (raw_msg ((const uint8_t *)"FL\x03\x03"), FLING_REASON_BAD_VERSION);
    expect_reason (raw_msg ((const uint8_t *)"FL\x00\x03"), FLING_REASON_BAD_VERSION);
    /* WELCOME and RESULT_ACK are FLP/1.1 (version 2) only */
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x0e"), FLING_REASON_BAD_COMMAND);
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x0f"), FLING_REASON_BAD_COMMAND);
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x00"), FLING_REASON_BAD_COMMAND);
    expect_reason (raw_msg ((const uint8_t *)"FL\x01\x63"), FLING_REASON_BAD_COMMAND);
    uint8_t header[4] = {'F', 'L', 1, FLING_CMD_MAX};
    expect_reason (raw_msg (header), FLING_REASON_BAD_COMMAND);
    header[3] = 0xff;
    expect_reason (raw_msg (header), FLING_REASON_BAD_COMMAND);
}

/* Both versions decode, and say which they were; the commands whose
   frames differ (ERROR, RESULT) are read in their version's layout. */
static void test_version_reported (void **state)
{
    zmsg_t *msg = raw_msg ((const uint8_t *)"FL\x01\x03");
    fling_msg_t out;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &out, &reason), 0);
    assert_int_equal (out.version, 1);
    assert_int_equal (out.cmd, FLING_CMD_PING);
    zmsg_destroy (&msg);

    msg = fling_msg_error (1, FLING_REASON_UNKNOWN_PEER, FLING_CMD_RESULT, 9, "who");
    assert_int_equal (zframe_size (frame_at (msg, 1)), 2);
    assert_int_equal (fling_msg_decode (msg, &out, &reason), 0);
    assert_int_equal (out.version, 1);
    assert_int_equal (out.reason, FLING_REASON_UNKNOWN_PEER);
    assert_int_equal (out.refused_cmd, 0); /* not in version 1 */
    assert_true (out.batch_seq == 0);
    zmsg_destroy (&msg);

    /* a version 1 RESULT: the count alone in its fields */
    msg = valid_result ();
    zframe_t *fields = frame_at (msg, 1);
    uint8_t count_only[4];
    memcpy (count_only, zframe_data (fields) + 8, 4);
    zframe_reset (fields, count_only, 4);
    fling_msg_set_version (msg, 1);
    assert_int_equal (fling_msg_decode (msg, &out, &reason), 0);
    assert_int_equal (out.version, 1);
    assert_int_equal (out.count, 1);
    assert_true (out.batch_seq == 0);
    zmsg_destroy (&msg);
    /* ...and a version 2 layout under a version 1 header is refused */
    msg = valid_result ();
    fling_msg_set_version (msg, 1);
    expect_reason (msg, FLING_REASON_MALFORMED);

    /* set_version on a command whose frames are the same in both */
    msg = fling_msg_ack (5, 2, (const uint8_t *)"\x00\x02");
    fling_msg_set_version (msg, 1);
    assert_int_equal (zframe_data (frame_at (msg, 0))[2], 1);
    assert_int_equal (fling_msg_decode (msg, &out, &reason), 0);
    assert_int_equal (out.version, 1);
    assert_true (out.batch_seq == 5);
    zmsg_destroy (&msg);
}

static void test_wrong_frame_counts (void **state)
{
    for (int cmd = FLING_CMD_SUBMIT; cmd < FLING_CMD_MAX; cmd++) {
        zmsg_t *msg = valid_message ((fling_cmd_t)cmd);
        zframe_t *last = zmsg_last (msg);
        zmsg_remove (msg, last);
        zframe_destroy (&last);
        /* a one-frame command without its frame has no header left */
        expect_reason (msg, zmsg_size (msg) ? FLING_REASON_MALFORMED : FLING_REASON_BAD_SIGNATURE);

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

/* Decodes a SUBMIT of `count` records that are framed right, and expects
   record `bad` (or none: -1) refused with `status`, each other one sound. */
static void expect_submit_statuses (const uint8_t *body, size_t size, uint32_t count, int bad,
                                    fling_reason_t status)
{
    zmsg_t *msg = fling_msg_submit (3, count, body, size);
    fling_msg_t out;
    expect_ok (msg, &out);
    assert_int_equal (out.bad_records, bad < 0 ? 0 : 1);
    const uint8_t *cursor = out.body, *end = out.body + out.body_size;
    fling_record_t record;
    fling_reason_t got;
    for (uint32_t i = 0; i < count; i++) {
        assert_int_equal (fling_submit_record_next (&cursor, end, &record, &got), 1);
        if ((int)i == bad)
            assert_int_equal (got, status);
        else
            assert_int_equal (got, FLING_REASON_OK);
    }
    assert_int_equal (fling_submit_record_next (&cursor, end, &record, &got), 0);
    zmsg_destroy (&msg);
}

/* A record whose length prefix frames it but whose content is wrong: in a
   DISPATCH the message is refused (BAD_TASK), in a SUBMIT that record
   alone (SPEC.md: a bad record refuses that record only). */
static void expect_bad_record (const uint8_t *rec, size_t size, fling_reason_t status)
{
    expect_reason (fling_msg_dispatch (1, rec, size), status);
    expect_submit_statuses (rec, size, 1, 0, status);
    /* between two sound records: only the middle one is refused */
    size_t good_size;
    uint8_t *good = make_record (9, "ok", 2, "{}", 2, &good_size);
    uint8_t *three = malloc (2 * good_size + size);
    assert_non_null (three);
    memcpy (three, good, good_size);
    memcpy (three + good_size, rec, size);
    memcpy (three + good_size + size, good, good_size);
    expect_submit_statuses (three, 2 * good_size + size, 3, 1, status);
    free (three);
    free (good);
}

static void test_bad_records (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "abc", 3, "{\"k\":1}", 7, &size);
    uint8_t buf[128];

    /* length prefix pointing past the frame, or too short for its own
       fields: the framing is lost, the SUBMIT is refused whole */
    memcpy (buf, rec, size);
    put_u32 (buf, (uint32_t)(size - 4 + 1));
    expect_reason (submit_with (1, buf, size), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_dispatch (1, buf, size), FLING_REASON_BAD_TASK);
    put_u32 (buf, 0xffffffffu);
    expect_reason (submit_with (1, buf, size), FLING_REASON_MALFORMED);
    put_u32 (buf, FLING_RECORD_OVERHEAD - 5);
    expect_reason (submit_with (1, buf, size), FLING_REASON_MALFORMED);
    /* a truncated second record */
    memcpy (buf, rec, size);
    memcpy (buf + size, rec, 10);
    expect_reason (submit_with (2, buf, size + 10), FLING_REASON_MALFORMED);

    /* name length past the record */
    memcpy (buf, rec, size);
    buf[32] = 200;
    expect_bad_record (buf, size, FLING_REASON_BAD_TASK);
    /* payload length not matching the record length */
    memcpy (buf, rec, size);
    put_u32 (buf + 34 + 3, 8);
    expect_bad_record (buf, size, FLING_REASON_BAD_TASK);
    /* missing zero terminators after the name and after the payload */
    memcpy (buf, rec, size);
    buf[33 + 3] = 'x';
    expect_bad_record (buf, size, FLING_REASON_BAD_TASK);
    memcpy (buf, rec, size);
    buf[size - 1] = '}';
    expect_bad_record (buf, size, FLING_REASON_BAD_TASK);
    free (rec);

    /* bad names: empty, a space, a control byte, a slash, 128 bytes */
    const char *bad_names[] = {"", "a b", "a\x01", "a/b", "\x7f"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        rec = make_record (1, bad_names[i], strlen (bad_names[i]), "{}", 2, &size);
        expect_bad_record (rec, size, FLING_REASON_BAD_TASK);
        free (rec);
    }
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'n', sizeof long_name);
    rec = make_record (1, long_name, sizeof long_name, "{}", 2, &size);
    expect_bad_record (rec, size, FLING_REASON_BAD_TASK);
    free (rec);
}

/* A producer's record carries attempt 0 and a sequence from 1 (the all-
   zero task id is not one); the broker's DISPATCH carries attempt >= 1. */
static void test_submit_record_rules (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "a", 1, "{}", 2, &size);
    fling_record_set_attempt (rec, 2);
    expect_submit_statuses (rec, size, 1, 0, FLING_REASON_BAD_TASK);
    fling_msg_t out;
    zmsg_t *msg = fling_msg_dispatch (1, rec, size);
    expect_ok (msg, &out);
    zmsg_destroy (&msg);
    free (rec);

    rec = make_record (0, "a", 1, "{}", 2, &size);
    expect_submit_statuses (rec, size, 1, 0, FLING_REASON_BAD_TASK);
    memset (rec + 4, 0, FLING_TASK_ID_SIZE); /* the all-zero id */
    expect_submit_statuses (rec, size, 1, 0, FLING_REASON_BAD_TASK);
    free (rec);
}

/* A failed SUBMIT still tells its batch when its fields frame could be
   read, so the broker can answer that batch (SPEC.md §4.1). */
static void test_submit_failure_names_batch (void **state)
{
    size_t size;
    uint8_t *rec = make_record (1, "a", 1, "{}", 2, &size);
    put_u32 (rec, 0xffffffffu);
    zmsg_t *msg = fling_msg_submit (77, 1, rec, size);
    fling_msg_t out;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, &out, &reason), -1);
    assert_int_equal (reason, FLING_REASON_MALFORMED);
    assert_true (out.has_batch);
    assert_true (out.batch_seq == 77);
    assert_int_equal (out.count, 1);
    assert_non_null (out.problem);
    zmsg_destroy (&msg);

    msg = fling_msg_submit (78, 0, rec, size); /* count 0: no batch to answer */
    assert_int_equal (fling_msg_decode (msg, &out, &reason), -1);
    assert_int_equal (reason, FLING_REASON_BAD_FIELD);
    assert_false (out.has_batch);
    assert_true (out.batch_seq == 78);
    zmsg_destroy (&msg);

    msg = fling_msg_submit (79, 1, rec, size); /* frame count wrong */
    zmsg_addmem (msg, "", 0);
    assert_int_equal (fling_msg_decode (msg, &out, &reason), -1);
    assert_int_equal (reason, FLING_REASON_MALFORMED);
    assert_true (out.has_batch);
    zmsg_destroy (&msg);
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
    assert_int_equal (decoded.bad_records, 0);
    zmsg_destroy (&msg);

    memcpy (buf + used, bad, bad_size); /* good, good, good, then a bad one */
    expect_submit_statuses (buf, used + bad_size, 4, 3, FLING_REASON_BAD_TASK);
    expect_reason (fling_msg_dispatch (4, buf, used + bad_size), FLING_REASON_BAD_TASK);
    memcpy (buf, bad, bad_size); /* a bad one first */
    memcpy (buf + bad_size, good, good_size);
    expect_submit_statuses (buf, bad_size + good_size, 2, 0, FLING_REASON_BAD_TASK);
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
    expect_bad_record (rec, size, FLING_REASON_TOO_LARGE);
    free (rec);
    free (payload);

    /* the claim alone is enough: no need to carry the bytes */
    rec = make_record (1, "big", 3, "{}", 2, &size);
    put_u32 (rec + 34 + 3, FLING_PAYLOAD_MAX + 1);
    expect_bad_record (rec, size, FLING_REASON_TOO_LARGE);
    free (rec);
}

static void test_bad_results (void **state)
{
    fling_result_t r = {
        .attempt = 1, .outcome = FLING_OUTCOME_DONE, .error = "err", .error_size = 3};
    uint8_t buf[2 * (FLING_RESULT_OVERHEAD + 8)];
    size_t size = fling_result_write (buf, &r);

    buf[18] = 9;
    expect_reason (fling_msg_result (1, 1, buf, size), FLING_REASON_BAD_FIELD);
    buf[18] = FLING_OUTCOME_MAX;
    expect_reason (fling_msg_result (1, 1, buf, size), FLING_REASON_BAD_FIELD);
    buf[18] = FLING_OUTCOME_DONE;

    put_u16 (buf + 23, 4);
    expect_reason (fling_msg_result (1, 1, buf, size), FLING_REASON_MALFORMED);
    put_u16 (buf + 23, 0xffff);
    expect_reason (fling_msg_result (1, 1, buf, size), FLING_REASON_MALFORMED);
    put_u16 (buf + 23, 3);

    expect_reason (fling_msg_result (1, 1, buf, size - 1), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (1, 1, buf, FLING_RESULT_OVERHEAD - 1), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (1, 2, buf, size), FLING_REASON_MALFORMED);
    expect_reason (fling_msg_result (1, 0, buf, size), FLING_REASON_BAD_FIELD);
    memcpy (buf + size, buf, size);
    expect_reason (fling_msg_result (1, 1, buf, 2 * size), FLING_REASON_MALFORMED);
}

static void test_result_error_over_cap (void **state)
{
    size_t size = FLING_RESULT_OVERHEAD + FLING_ERROR_TEXT_MAX + 1;
    uint8_t *buf = calloc (1, size);
    assert_non_null (buf);
    put_u16 (buf + 23, FLING_ERROR_TEXT_MAX + 1);
    expect_reason (fling_msg_result (1, 1, buf, size), FLING_REASON_MALFORMED);
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
    expect_reason (msg, FLING_REASON_BAD_FIELD);

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
    expect_reason (msg, FLING_REASON_BAD_TASK);

    /* worker name with a zero byte, or too long */
    msg = valid_ready ();
    zframe_reset (frame_at (msg, 2), "w\0x", 3);
    expect_reason (msg, FLING_REASON_BAD_FIELD);
    char long_name[FLING_NAME_MAX + 1];
    memset (long_name, 'w', sizeof long_name);
    msg = valid_ready ();
    zframe_reset (frame_at (msg, 2), long_name, sizeof long_name);
    expect_reason (msg, FLING_REASON_BAD_FIELD);
    msg = valid_ready ();
    zframe_reset (frame_at (msg, 2), "w\n1", 3); /* a control character */
    expect_reason (msg, FLING_REASON_BAD_FIELD);
    msg = valid_ready (); /* UTF-8 beyond ASCII is a name like any other */
    zframe_reset (frame_at (msg, 2), "w\xc3\xa9", 3);
    fling_msg_t out;
    expect_ok (msg, &out);
    zmsg_destroy (&msg);
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

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_empty_message),
        cmocka_unit_test (test_bad_header),
        cmocka_unit_test (test_version_reported),
        cmocka_unit_test (test_wrong_frame_counts),
        cmocka_unit_test (test_too_many_frames),
        cmocka_unit_test (test_message_too_large),
        cmocka_unit_test (test_fields_frame_size),
        cmocka_unit_test (test_submit_counts),
        cmocka_unit_test (test_bad_records),
        cmocka_unit_test (test_submit_record_rules),
        cmocka_unit_test (test_submit_failure_names_batch),
        cmocka_unit_test (test_repeated_names_in_a_batch),
        cmocka_unit_test (test_payload_too_large),
        cmocka_unit_test (test_bad_results),
        cmocka_unit_test (test_result_error_over_cap),
        cmocka_unit_test (test_bad_ready),
        cmocka_unit_test (test_every_truncation),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
