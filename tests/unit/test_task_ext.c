/*  test_task_ext.c - FLP/1.2 task extensions (proto/fling_task_ext.c,
    proto/fling_record.c; proto/SPEC.md §3.6): golden bytes of extended
    records, who may carry them (a version-3 SUBMIT only), every rule a
    receiver checks, and stripping them for a DISPATCH.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto_fixture.h"

#define PRODUCER 0x0102030405060708ULL

/* A record "t" / {} of sequence 42 with `ext` into `buf`; its size. */
static size_t ext_record (uint8_t *buf, const fling_task_ext_t *ext)
{
    fling_task_id_t id;
    fling_task_id_make (&id, PRODUCER, 42);
    size_t size = fling_record_size_ext (1, 2, ext);
    assert_int_equal (fling_record_write_ext (buf, &id, 0, 0, 0, 0, "t", 1, "{}", 2, ext), size);
    return size;
}

/* The FLP/1.1 part of that record, its length prefix left out. */
static const uint8_t base_after_len[] = {
    1, 2,   3, 4, 5,   6,   7, 8, 0, 0, 0, 0, 0, 0, 0, 42, /* task id */
    0, 0,                                                  /* attempt */
    0, 0,                                                  /* max attempts */
    0, 0,   0, 0,                                          /* timeout */
    0, 0,   0, 0,                                          /* backoff */
    1, 't', 0,                                             /* name */
    0, 0,   0, 2, '{', '}', 0,                             /* payload */
};

static void test_golden_delay_priority_key (void **state)
{
    (void)state;
    fling_task_ext_t ext = {
        .delay_ms = 5000, .priority = 7, .key = "user:42", .key_size = 7, .key_ttl_ms = 3600000};
    uint8_t buf[128];
    size_t size = ext_record (buf, &ext);
    static const uint8_t tail[] = {
        1, 4,  0x00, 0x00, 0x13, 0x88,                                    /* delay 5000 */
        3, 1,  7,                                                         /* priority 7 */
        4, 11, 0x00, 0x36, 0xee, 0x80, 'u', 's', 'e', 'r', ':', '4', '2', /* key, ttl 1 h */
    };
    assert_int_equal (size, 4 + sizeof base_after_len + sizeof tail);
    static const uint8_t len[] = {0, 0, 0, sizeof base_after_len + sizeof tail};
    assert_memory_equal (buf, len, 4);
    assert_memory_equal (buf + 4, base_after_len, sizeof base_after_len);
    assert_memory_equal (buf + 4 + sizeof base_after_len, tail, sizeof tail);
}

static void test_golden_due_at (void **state)
{
    (void)state;
    /* 2026-12-07T18:00:00Z */
    fling_task_ext_t ext = {.due_at_ms = 1796666400000ULL};
    uint8_t buf[128];
    size_t size = ext_record (buf, &ext);
    static const uint8_t tail[] = {2, 8, 0x00, 0x00, 0x01, 0xa2, 0x51, 0xa9, 0x9d, 0x00};
    assert_int_equal (size, 4 + sizeof base_after_len + sizeof tail);
    assert_memory_equal (buf + 4 + sizeof base_after_len, tail, sizeof tail);
}

static void test_no_extension_is_flp11 (void **state)
{
    (void)state;
    fling_task_ext_t none = {0};
    uint8_t with[128], plain[128];
    size_t size = ext_record (with, &none);
    fling_task_id_t id;
    fling_task_id_make (&id, PRODUCER, 42);
    assert_int_equal (fling_record_write (plain, &id, 0, 0, 0, 0, "t", 1, "{}", 2), size);
    assert_memory_equal (with, plain, size);
    assert_int_equal (fling_task_ext_size (&none), 0);
    assert_int_equal (fling_task_ext_size (NULL), 0);
}

static void test_read_back (void **state)
{
    (void)state;
    fling_task_ext_t ext = {
        .due_at_ms = 1796666400000ULL, .priority = 9, .key = "k", .key_size = 1, .key_ttl_ms = 0};
    uint8_t buf[128];
    size_t size = ext_record (buf, &ext);
    const uint8_t *cursor = buf;
    fling_record_t r;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, buf + size, &r, &reason), 1);
    assert_true (cursor == buf + size);
    assert_true (r.ext.due_at_ms == 1796666400000ULL);
    assert_int_equal (r.ext.delay_ms, 0);
    assert_int_equal (r.ext.priority, 9);
    assert_int_equal (r.ext.key_size, 1);
    assert_memory_equal (r.ext.key, "k", 1);
    assert_int_equal (r.ext_size, size - fling_record_size (1, 2));
    assert_string_equal (r.payload, "{}");
}

static zmsg_t *submit_of (const uint8_t *record, size_t size, uint8_t version)
{
    zmsg_t *msg = fling_msg_submit (7, 1, record, size);
    fling_msg_set_version (msg, version);
    return msg;
}

static void test_only_version_3_carries_them (void **state)
{
    (void)state;
    fling_task_ext_t ext = {.delay_ms = 1};
    uint8_t buf[128];
    size_t size = ext_record (buf, &ext);
    fling_msg_t out;
    fling_reason_t reason;

    /* An FLP/1.1 decoder refuses version 3 whole: BAD_VERSION, not a misread. */
    zmsg_t *msg = submit_of (buf, size, FLING_PROTO_VERSION_SCHED);
    assert_int_equal (fling_msg_decode (msg, &out, &reason), -1);
    assert_int_equal (reason, FLING_REASON_BAD_VERSION);
    assert_string_equal (out.problem, "versions 1 and 2 are spoken");
    /* One that opts in reads it, extensions and all. */
    assert_int_equal (fling_msg_decode_v (msg, &out, &reason, FLING_PROTO_VERSION_SCHED), 0);
    assert_int_equal (out.version, 3);
    assert_int_equal (out.bad_records, 0);
    const uint8_t *cursor = out.body;
    fling_record_t r;
    fling_reason_t status;
    assert_int_equal (
        fling_submit_record_next_v (&cursor, out.body + out.body_size, &r, &status, 3), 1);
    assert_int_equal (status, FLING_REASON_OK);
    assert_int_equal (r.ext.delay_ms, 1);
    zmsg_destroy (&msg);

    /* In a version-2 SUBMIT the same record is BAD_TASK on its own. */
    msg = submit_of (buf, size, FLING_PROTO_VERSION);
    assert_int_equal (fling_msg_decode_v (msg, &out, &reason, FLING_PROTO_VERSION_SCHED), 0);
    assert_int_equal (out.bad_records, 1);
    cursor = out.body;
    assert_int_equal (fling_submit_record_next (&cursor, out.body + out.body_size, &r, &status), 1);
    assert_int_equal (status, FLING_REASON_BAD_TASK);
    zmsg_destroy (&msg);

    /* A DISPATCH never carries them (SPEC.md §4.7). */
    msg = fling_msg_dispatch (1, buf, size);
    fling_record_set_attempt (zframe_data (frame_at (msg, 2)), 1);
    assert_int_equal (fling_msg_decode_v (msg, &out, &reason, FLING_PROTO_VERSION_SCHED), -1);
    assert_int_equal (reason, FLING_REASON_BAD_TASK);
    zmsg_destroy (&msg);
}

static void test_strip_for_dispatch (void **state)
{
    (void)state;
    fling_task_ext_t ext = {.priority = 3, .key = "abc", .key_size = 3};
    uint8_t buf[128];
    ext_record (buf, &ext);
    size_t base = fling_record_strip_ext (buf);
    assert_int_equal (base, fling_record_size (1, 2));
    fling_record_set_attempt (buf, 1);
    zmsg_t *msg = fling_msg_dispatch (1, buf, base);
    fling_msg_t out;
    expect_ok (msg, &out);
    zmsg_destroy (&msg);
}

/* The bytes after the payload's zero byte, written by hand, in a record
   of a version-3 SUBMIT: the status its receiver gives. */
static fling_reason_t status_of_tail (const uint8_t *tail, size_t tail_size)
{
    uint8_t buf[512];
    size_t base = ext_record (buf, NULL);
    memcpy (buf + base, tail, tail_size);
    put_u32 (buf, (uint32_t)(base + tail_size - 4));
    const uint8_t *cursor = buf;
    fling_record_t r;
    fling_reason_t status;
    assert_int_equal (fling_submit_record_next_v (&cursor, buf + base + tail_size, &r, &status, 3),
                      1);
    assert_true (cursor == buf + base + tail_size);
    return status;
}

static void test_receiver_rules (void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t size;
        fling_reason_t want;
    } cases[] = {
        {"delay", {1, 4, 0, 0, 0, 9}, 6, FLING_REASON_OK},
        {"delay 0", {1, 4, 0, 0, 0, 0}, 6, FLING_REASON_BAD_TASK},
        {"due at 0", {2, 8, 0, 0, 0, 0, 0, 0, 0, 0}, 10, FLING_REASON_BAD_TASK},
        {"delay and due at",
         {1, 4, 0, 0, 0, 9, 2, 8, 0, 0, 0, 0, 0, 0, 0, 9},
         16,
         FLING_REASON_BAD_TASK},
        {"priority 9", {3, 1, 9}, 3, FLING_REASON_OK},
        {"priority 0 (said by leaving it out)", {3, 1, 0}, 3, FLING_REASON_BAD_TASK},
        {"priority 10", {3, 1, 10}, 3, FLING_REASON_BAD_TASK},
        {"unknown type", {5, 1, 0}, 3, FLING_REASON_BAD_TASK},
        {"type 0", {0, 0}, 2, FLING_REASON_BAD_TASK},
        {"out of order", {3, 1, 1, 1, 4, 0, 0, 0, 9}, 9, FLING_REASON_BAD_TASK},
        {"repeated", {3, 1, 1, 3, 1, 2}, 6, FLING_REASON_BAD_TASK},
        {"wrong length", {3, 2, 1, 1}, 4, FLING_REASON_BAD_TASK},
        {"past the record", {1, 4, 0, 0}, 4, FLING_REASON_BAD_TASK},
        {"a lone byte", {1}, 1, FLING_REASON_BAD_TASK},
        {"key", {4, 6, 0, 0, 0, 0, 'a', '~'}, 8, FLING_REASON_OK},
        {"empty key", {4, 4, 0, 0, 0, 0}, 6, FLING_REASON_BAD_TASK},
        {"key with a space", {4, 6, 0, 0, 0, 0, 'a', ' '}, 8, FLING_REASON_BAD_TASK},
        {"key with DEL", {4, 5, 0, 0, 0, 0, 0x7f}, 7, FLING_REASON_BAD_TASK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fling_reason_t got = status_of_tail (cases[i].bytes, cases[i].size);
        if (got != cases[i].want)
            fail_msg ("%s: status %d, want %d", cases[i].what, got, cases[i].want);
    }
    /* A key of 128 bytes is the most; 129 is one too many. */
    uint8_t key[6 + 129];
    key[0] = 4;
    memset (key + 2, 0, 4);
    memset (key + 6, 'k', 129);
    key[1] = 4 + 128;
    assert_int_equal (status_of_tail (key, 6 + 128), FLING_REASON_OK);
    key[1] = 4 + 129;
    assert_int_equal (status_of_tail (key, 6 + 129), FLING_REASON_BAD_TASK);
}

static void test_every_cut_is_refused (void **state)
{
    (void)state;
    fling_task_ext_t ext = {.delay_ms = 5000, .priority = 7, .key = "user:42", .key_size = 7};
    uint8_t buf[128];
    size_t size = ext_record (buf, &ext);
    /* A record whose length prefix claims fewer bytes: the extensions are
       cut somewhere, and the record must be refused, never read past;
       except where the cut falls between two extensions (after the delay,
       after the priority), which leaves a shorter valid record. */
    size_t base = fling_record_size (1, 2);
    for (size_t cut = base + 1; cut < size; cut++) {
        uint8_t copy[128];
        memcpy (copy, buf, cut);
        put_u32 (copy, (uint32_t)(cut - 4));
        const uint8_t *cursor = copy;
        fling_record_t r;
        fling_reason_t reason;
        bool boundary = cut == base + 6 || cut == base + 9;
        assert_int_equal (fling_record_next (&cursor, copy + cut, &r, &reason), boundary ? 1 : -1);
        if (!boundary)
            assert_int_equal (reason, FLING_REASON_BAD_TASK);
    }
}

static void test_sender_side_problems (void **state)
{
    (void)state;
    fling_task_ext_t ok = {.delay_ms = 1, .priority = 9, .key = "x", .key_size = 1};
    assert_null (fling_task_ext_problem (&ok));
    assert_null (fling_task_ext_problem (NULL));
    fling_task_ext_t both = {.delay_ms = 1, .due_at_ms = 2};
    assert_non_null (fling_task_ext_problem (&both));
    fling_task_ext_t high = {.priority = 10};
    assert_non_null (fling_task_ext_problem (&high));
    fling_task_ext_t empty = {.key = "", .key_size = 0};
    assert_non_null (fling_task_ext_problem (&empty));
    char long_key[130];
    memset (long_key, 'a', sizeof long_key);
    fling_task_ext_t too_long = {.key = long_key, .key_size = 129};
    assert_non_null (fling_task_ext_problem (&too_long));
    fling_task_ext_t spaced = {.key = "a b", .key_size = 3};
    assert_non_null (fling_task_ext_problem (&spaced));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_golden_delay_priority_key),
        cmocka_unit_test (test_golden_due_at),
        cmocka_unit_test (test_no_extension_is_flp11),
        cmocka_unit_test (test_read_back),
        cmocka_unit_test (test_only_version_3_carries_them),
        cmocka_unit_test (test_strip_for_dispatch),
        cmocka_unit_test (test_receiver_rules),
        cmocka_unit_test (test_every_cut_is_refused),
        cmocka_unit_test (test_sender_side_problems),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
