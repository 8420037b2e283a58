/*  test_proto_text.c - task ids in text, name validation, the names of
    commands, reasons and outcomes, and the error texts (proto/fling_proto.c,
    proto/fling_error.c).
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
            seq = power - (uint64_t)(i % 2 == 0); /* 10^19 still fits */
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
        char name[2] = {'x', (char)c};
        if (fling_name_valid (name + 1, 1) != spec || fling_name_valid (name, 2) != spec)
            fail_msg ("byte 0x%02x: name_valid should be %d", c, spec);
    }
}

static void test_cmd_names (void **state)
{
    const char *want[FLING_CMD_MAX] = {
        [FLING_CMD_SUBMIT] = "SUBMIT",
        [FLING_CMD_ACK] = "ACK",
        [FLING_CMD_PING] = "PING",
        [FLING_CMD_PONG] = "PONG",
        [FLING_CMD_READY] = "READY",
        [FLING_CMD_DISPATCH] = "DISPATCH",
        [FLING_CMD_RESULT] = "RESULT",
        [FLING_CMD_CAPACITY] = "CAPACITY",
        [FLING_CMD_BYE] = "BYE",
        [FLING_CMD_ERROR] = "ERROR",
        [FLING_CMD_ADMIN] = "ADMIN",
        [FLING_CMD_ADMIN_REPLY] = "ADMIN_REPLY",
        [FLING_CMD_HOLDING] = "HOLDING",
        [FLING_CMD_WELCOME] = "WELCOME",
        [FLING_CMD_RESULT_ACK] = "RESULT_ACK",
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
        {FLING_REASON_BAD_TASK, "BAD_TASK", FLING_EBADTASK},
        {FLING_REASON_TOO_LARGE, "TOO_LARGE", FLING_ETOOLARGE},
        {FLING_REASON_BAD_SIGNATURE, "BAD_SIGNATURE", FLING_EPROTO},
        {FLING_REASON_BAD_VERSION, "BAD_VERSION", FLING_EVERSION},
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
    /* A later error that sets only errno (most functions do) is not
       described by the detail of an earlier one. */
    fling_set_last_error (FLING_EBADJSON, "line 1 column 3");
    errno = EINVAL;
    assert_string_equal (fling_last_error (), strerror (EINVAL));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_task_id_format_parse),
        cmocka_unit_test (test_task_id_format_like_printf),
        cmocka_unit_test (test_task_id_parse_rejects),
        cmocka_unit_test (test_name_valid),
        cmocka_unit_test (test_cmd_names),
        cmocka_unit_test (test_reason_names),
        cmocka_unit_test (test_outcome_and_class_names),
        cmocka_unit_test (test_strerror),
        cmocka_unit_test (test_last_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
