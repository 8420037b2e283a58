/*  test_validate.c - task validation in the caller's thread
    (producer/fling_validate.c, through fling_task_validate): names,
    payloads, sizes, and the errno and fling_last_error() of each refusal.
    The single-pass JSON check, rule by rule against the jansson
    reference, is in test_json_check.c.

    Everything refused here never leaves the process, so each refusal must
    give the documented errno and a readable fling_last_error().
*/
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_error.h"
#include "fling_json_check.h"
#include "fling_producer.h"
#include "fling_proto.h"
#include "fling_validate.h"

/* Validates with an explicit size and expects `want` (0 = accepted). */
static void expect_sized (const char *name, const char *json, size_t size, int want)
{
    errno = 0;
    int rc = fling_task_validate (name, json, size);
    if (want == 0) {
        if (rc != 0)
            fail_msg ("refused '%.60s': %s", json, fling_last_error ());
        return;
    }
    if (rc != -1 || errno != want)
        fail_msg ("'%.60s' gave rc=%d errno=%d (%s), expected %d", json ? json : "(null)", rc,
                  errno, fling_strerror (errno), want);
}

static void expect (const char *name, const char *json, int want)
{
    expect_sized (name, json, 0, want);
}

/* `depth` nested objects: {"a":{"a":...{}...}} */
static char *nested_objects (int depth)
{
    size_t size = (size_t)depth * 6 + 1;
    char *json = (char *)malloc (size);
    char *p = json;
    for (int i = 0; i < depth; i++)
        p += sprintf (p, i == depth - 1 ? "{" : "{\"a\":");
    for (int i = 0; i < depth; i++)
        *p++ = '}';
    *p = 0;
    return json;
}

/* {"a":[[...]]} with `count` arrays: nesting depth count + 1. */
static char *nested_arrays (int count)
{
    char *json = (char *)malloc ((size_t)count * 2 + 8);
    char *p = json + sprintf (json, "{\"a\":");
    memset (p, '[', (size_t)count);
    memset (p + count, ']', (size_t)count);
    strcpy (p + 2 * count, "}");
    return json;
}

static void test_good_objects (void **state)
{
    (void)state;
    expect ("email.send", "{}", 0);
    expect ("a", "{\"to\":\"x@example.com\",\"n\":1,\"f\":1.5e3,\"t\":true,\"z\":null}", 0);
    expect ("A-Z_a.z:0-9", " \n\t{ \"list\" : [1, [2, {\"k\": []}]] } \n", 0);
    expect ("unicode", "{\"s\":\"caf\xc3\xa9 \\u00e9 \\\"quoted\\\" \\\\ [{\"}", 0);
    /* Brackets inside strings are not nesting. */
    expect ("brackets",
            "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 0);
    /* Explicit size: the bytes after it are not read. */
    expect_sized ("sized", "{\"a\":1}garbage", 7, 0);
}

static void test_bad_names (void **state)
{
    (void)state;
    char long_name[FLING_NAME_MAX + 2];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0; /* 128 bytes */
    expect (long_name, "{}", FLING_EBADNAME);
    long_name[FLING_NAME_MAX] = 0; /* 127 bytes: fine */
    expect (long_name, "{}", 0);
    expect ("", "{}", FLING_EBADNAME);
    expect (NULL, "{}", FLING_EBADNAME);
    expect ("two words", "{}", FLING_EBADNAME);
    expect ("\0hidden", "{}", FLING_EBADNAME);
    expect ("t\xc3\xa2"
            "che",
            "{}", FLING_EBADNAME);
    expect ("slash/name", "{}", FLING_EBADNAME);
    expect ("tab\tname", "{}", FLING_EBADNAME);
    assert_non_null (strstr (fling_last_error (), "invalid task name"));
}

static void test_not_json (void **state)
{
    (void)state;
    expect ("t", "", FLING_EBADJSON);
    expect ("t", "hello", FLING_EBADJSON);
    expect ("t", "{", FLING_EBADJSON);
    expect ("t", "{\"a\":}", FLING_EBADJSON);
    expect ("t", "{'a':1}", FLING_EBADJSON);
    expect ("t", "{\"a\":1,}", FLING_EBADJSON);
    expect ("t", NULL, FLING_EBADJSON);
}

static void test_trailing_garbage (void **state)
{
    (void)state;
    expect ("t", "{\"a\":1} x", FLING_EBADJSON);
    expect ("t", "{}{}", FLING_EBADJSON);
    expect ("t", "{}]", FLING_EBADJSON);
}

static void test_top_level_not_object (void **state)
{
    (void)state;
    expect ("t", "[1,2]", FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "not an object"));
    expect ("t", "\"text\"", FLING_EBADJSON);
    expect ("t", "42", FLING_EBADJSON);
    expect ("t", "null", FLING_EBADJSON);
}

static void test_duplicate_keys (void **state)
{
    (void)state;
    expect ("t", "{\"a\":1,\"a\":2}", FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "duplicate"));
    expect ("t", "{\"o\":{\"k\":1,\"k\":1}}", FLING_EBADJSON);
    expect ("t", "{\"a\":1,\"A\":2}", 0);
}

static void test_depth (void **state)
{
    (void)state;
    char *ok = nested_objects (FLING_JSON_DEPTH_MAX);
    char *deep = nested_objects (FLING_JSON_DEPTH_MAX + 1);
    expect ("t", ok, 0);
    expect ("t", deep, FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "nesting deeper than 64"));
    free (ok);
    free (deep);

    /* Arrays count too: the top object and 63 arrays = 64 levels. */
    char *arrays = nested_arrays (63);
    expect ("t", arrays, 0);
    free (arrays);
    arrays = nested_arrays (64);
    expect ("t", arrays, FLING_EBADJSON);
    free (arrays);

    /* Far deeper than jansson's own limit: refused before parsing. */
    char *very_deep = nested_objects (5000);
    expect ("t", very_deep, FLING_EBADJSON);
    free (very_deep);
}

static void test_size_limit (void **state)
{
    (void)state;
    /* {"p":"xxx...x"} exactly FLING_PAYLOAD_MAX bytes, then one more. */
    size_t size = FLING_PAYLOAD_MAX + 1;
    char *json = (char *)malloc (size + 1);
    memcpy (json, "{\"p\":\"", 6);
    memset (json + 6, 'x', size - 8);
    memcpy (json + size - 2, "\"}", 3);
    assert_int_equal (strlen (json), FLING_PAYLOAD_MAX + 1);
    expect ("t", json, FLING_ETOOLARGE);
    expect_sized ("t", json, size, FLING_ETOOLARGE);
    /* One byte shorter fits. */
    memmove (json + 6, json + 7, size - 7 + 1);
    assert_int_equal (strlen (json), FLING_PAYLOAD_MAX);
    expect ("t", json, 0);
    free (json);
}

static void test_invalid_utf8 (void **state)
{
    (void)state;
    expect ("t", "{\"s\":\"\xff\"}", FLING_EBADJSON);
    expect ("t", "{\"s\":\"\xc3\"}", FLING_EBADJSON);         /* truncated sequence */
    expect ("t", "{\"s\":\"\xed\xa0\x80\"}", FLING_EBADJSON); /* UTF-16 surrogate */
    expect ("t", "{\"\xc0\xaf\":1}", FLING_EBADJSON);         /* overlong, in a key */
    expect ("t", "{\"s\":\"\\ud800\"}", FLING_EBADJSON);      /* lone surrogate escape */
}

static void test_nul_bytes (void **state)
{
    (void)state;
    static const char with_nul[] = "{\"a\":\"x\0y\"}";
    expect_sized ("t", with_nul, sizeof with_nul - 1, FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "NUL"));
    static const char nul_outside[] = "{\"a\":1}\0";
    expect_sized ("t", nul_outside, sizeof nul_outside - 1, FLING_EBADJSON);
    /* The escaped form is a NUL too, and jansson refuses it without
       JSON_ALLOW_NUL. */
    expect ("t", "{\"a\":\"x\\u0000y\"}", FLING_EBADJSON);
}

static void test_error_text (void **state)
{
    (void)state;
    expect ("t", "{\"a\":1,\n \"b\" 2}", FLING_EBADJSON);
    const char *text = fling_last_error ();
    assert_non_null (strstr (text, "payload is not a valid JSON object"));
    assert_non_null (strstr (text, "line 2"));
    assert_non_null (strstr (text, "column"));
    assert_non_null (strstr (text, "byte"));

    expect ("t", "{\"p\":1}", 0);
    char *big = (char *)calloc (FLING_PAYLOAD_MAX + 2, 1);
    memset (big, ' ', FLING_PAYLOAD_MAX + 1);
    expect ("t", big, FLING_ETOOLARGE);
    assert_non_null (strstr (fling_last_error (), "too large"));
    free (big);

    /* The module's own entry points agree with the public one. */
    errno = 0;
    assert_int_equal (fling_validate_name ("ok.name", 7), 0);
    assert_int_equal (fling_validate_name ("bad name", 8), -1);
    assert_int_equal (errno, FLING_EBADNAME);
    assert_int_equal (fling_validate_payload ("{}", 2), 0);
    assert_int_equal (fling_validate_payload ("[]", 2), -1);
    assert_int_equal (errno, FLING_EBADJSON);
}

static void test_error_position (void **state)
{
    (void)state;
    expect ("t", "{\"a\":1,\n\"b\":[1,2,,3]}", FLING_EBADJSON);
    const char *text = fling_last_error ();
    assert_non_null (strstr (text, "line 2 column 10 (byte 17)"));
    expect ("t", "{\"s\":\"\xff\"}", FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "UTF-8"));
    assert_non_null (strstr (fling_last_error (), "(byte 6)"));
    /* The check's own error record. */
    fling_json_error_t error;
    assert_int_equal (fling_json_check ("{\n\n  \"a\":x}", 11, FLING_JSON_KEY_SLOTS, &error),
                      FLING_JSON_INVALID);
    assert_int_equal (error.offset, 9);
    assert_int_equal (error.line, 3);
    assert_int_equal (error.column, 7);
    assert_non_null (strstr (error.text, "invalid token"));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_good_objects),
        cmocka_unit_test (test_bad_names),
        cmocka_unit_test (test_not_json),
        cmocka_unit_test (test_trailing_garbage),
        cmocka_unit_test (test_top_level_not_object),
        cmocka_unit_test (test_duplicate_keys),
        cmocka_unit_test (test_depth),
        cmocka_unit_test (test_size_limit),
        cmocka_unit_test (test_invalid_utf8),
        cmocka_unit_test (test_nul_bytes),
        cmocka_unit_test (test_error_text),
        cmocka_unit_test (test_error_position),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
