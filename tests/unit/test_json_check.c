/*  test_json_check.c - the payload's single-pass JSON check
    (producer/fling_json_check.c, producer/fling_json_text.c), held to the
    jansson reference fling_validate_payload_reference rule by rule and on
    every prefix of a table of cases. The public face of validation
    (fling_task_validate) is in test_validate.c.
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

/* Both the check and the jansson reference must give `want`. */
static void both (const char *json, size_t size, int want)
{
    if (size == 0)
        size = strlen (json);
    errno = 0;
    int rc = fling_validate_payload (json, size);
    int err = rc ? errno : 0;
    errno = 0;
    int ref = fling_validate_payload_reference (json, size);
    int ref_err = ref ? errno : 0;
    if (err != ref_err)
        fail_msg ("'%.*s': check errno %d, reference errno %d", (int)size, json, err, ref_err);
    if (err != want)
        fail_msg ("'%.*s': errno %d, expected %d (%s)", (int)size, json, err, want,
                  fling_last_error ());
}

static void test_escaped_duplicate_keys (void **state)
{
    (void)state;
    both ("{\"a\":1,\"\\u0061\":2}", 0, FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "duplicate"));
    both ("{\"\\u0061\":1,\"a\":2}", 0, FLING_EBADJSON);
    both ("{\"\\u0061\":1,\"\\u0061\":2}", 0, FLING_EBADJSON);
    both ("{\"caf\xc3\xa9\":1,\"caf\\u00e9\":2}", 0, FLING_EBADJSON);
    both ("{\"caf\\u00E9\":1,\"caf\\u00e9\":2}", 0, FLING_EBADJSON);
    both ("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", 0, FLING_EBADJSON);
    both ("{\"/\":1,\"\\/\":2}", 0, FLING_EBADJSON);
    both ("{\"\\n\":1,\"\\u000a\":2}", 0, FLING_EBADJSON);
    both ("{\"ab\":1,\"a\\u0062\":2}", 0, FLING_EBADJSON);
    /* Close but different. */
    both ("{\"a\":1,\"\\u0062\":2}", 0, 0);
    both ("{\"ab\":1,\"a\\u0063\":2}", 0, 0);
    both ("{\"a\":1,\"a\\u0061\":2}", 0, 0);
    both ("{\"\\u00e9\":1,\"\\u00e8\":2}", 0, 0);
    both ("{\"\":1,\"\\u0020\":2}", 0, 0);
    both ("{\"\":1,\"\":2}", 0, FLING_EBADJSON);
    /* Same key at other levels or in sibling objects is fine. */
    both ("{\"k\":{\"k\":{\"k\":1}},\"j\":[{\"k\":1},{\"k\":2}]}", 0, 0);
    /* A key after a closed child object still meets its object's earlier keys. */
    both ("{\"k\":{\"a\":1,\"b\":2},\"a\":1,\"k\":3}", 0, FLING_EBADJSON);
    both ("{\"k\":[{\"a\":1}],\"a\":1}", 0, 0);
}

/* An object with `count` keys "k0".."k<count-1>", then `extra` (may be ""). */
static char *wide_object (int count, const char *extra)
{
    char *json = (char *)malloc ((size_t)count * 16 + strlen (extra) + 4);
    char *p = json;
    *p++ = '{';
    for (int i = 0; i < count; i++)
        p += sprintf (p, "%s\"k%d\":%d", i ? "," : "", i, i);
    p += sprintf (p, "%s}", extra);
    return json;
}

static void test_many_keys (void **state)
{
    (void)state;
    /* More keys than the check's slots: duplicates go to jansson. */
    int counts[] = {FLING_JSON_KEY_SLOTS - 1, FLING_JSON_KEY_SLOTS, FLING_JSON_KEY_SLOTS + 1, 1000};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char *json = wide_object (counts[i], "");
        both (json, 0, 0);
        free (json);
        json = wide_object (counts[i], ",\"k0\":0");
        both (json, 0, FLING_EBADJSON);
        free (json);
        json = wide_object (counts[i], ",\"\\u006b1\":0");
        both (json, 0, FLING_EBADJSON);
        free (json);
        json = wide_object (counts[i], ",\"k\":{\"a\":1,\"a\":2}");
        both (json, 0, FLING_EBADJSON);
        free (json);
    }
    /* The check itself says when it cannot decide, and decides otherwise. */
    assert_int_equal (fling_json_check ("{\"a\":1,\"b\":2}", 13, 1, NULL), FLING_JSON_UNDECIDED);
    assert_int_equal (fling_json_check ("{\"a\":1,\"b\":2}", 13, 2, NULL), FLING_JSON_VALID);
    assert_int_equal (fling_json_check ("{\"a\":1,\"a\":2}", 13, 1, NULL), FLING_JSON_INVALID);
    assert_int_equal (fling_json_check ("{\"a\":1,\"b\":}", 12, 1, NULL), FLING_JSON_INVALID);
    /* Slots are freed when an object closes: 4 keys, at most 3 held. */
    assert_int_equal (fling_json_check ("{\"o\":{\"a\":1},\"p\":{\"b\":1}}", 25, 3, NULL),
                      FLING_JSON_VALID);
    assert_int_equal (fling_json_check ("{\"o\":{\"a\":1},\"p\":{\"b\":1}}", 25, 2, NULL),
                      FLING_JSON_UNDECIDED);
}

static void test_surrogate_escapes (void **state)
{
    (void)state;
    both ("{\"s\":\"\\ud83d\\ude00\"}", 0, 0);
    both ("{\"s\":\"\\uD83D\\uDE00\"}", 0, 0);
    both ("{\"s\":\"\\udbff\\udfff\"}", 0, 0);              /* U+10FFFF */
    both ("{\"s\":\"\\ud800\"}", 0, FLING_EBADJSON);        /* lone high */
    both ("{\"s\":\"\\ud800x\"}", 0, FLING_EBADJSON);       /* high, then a char */
    both ("{\"s\":\"\\ud800\\n\"}", 0, FLING_EBADJSON);     /* high, then another escape */
    both ("{\"s\":\"\\ud800\\ud800\"}", 0, FLING_EBADJSON); /* high, high */
    both ("{\"s\":\"\\ud800\\u0041\"}", 0, FLING_EBADJSON); /* high, not a surrogate */
    both ("{\"s\":\"\\udc00\"}", 0, FLING_EBADJSON);        /* lone low */
    both ("{\"s\":\"\\udfff\\udc00\"}", 0, FLING_EBADJSON); /* low, low */
    both ("{\"s\":\"\\ude00\\ud83d\"}", 0, FLING_EBADJSON); /* reversed pair */
    both ("{\"\\ud800\":1}", 0, FLING_EBADJSON);            /* in a key */
    both ("{\"s\":\"\\ud800\\u12\"}", 0, FLING_EBADJSON);   /* truncated second */
    both ("{\"s\":\"\\u12\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\\u12g4\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\\x\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\\'\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\\\"}", 0, FLING_EBADJSON); /* the escape eats the closing quote */
    /* \u0000 is a NUL, refused in values and keys. */
    both ("{\"s\":\"\\u0000\"}", 0, FLING_EBADJSON);
    both ("{\"\\u0000\":1}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\\u0001\"}", 0, 0);
}

static void test_numbers (void **state)
{
    (void)state;
    both ("{\"n\":9223372036854775807}", 0, 0);
    both ("{\"n\":9223372036854775808}", 0, FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "too big integer"));
    both ("{\"n\":-9223372036854775808}", 0, 0);
    both ("{\"n\":-9223372036854775809}", 0, FLING_EBADJSON);
    both ("{\"n\":99999999999999999999}", 0, FLING_EBADJSON);
    both ("{\"n\":9223372036854775808.0}", 0, 0); /* a real: fine */
    both ("{\"n\":1e308}", 0, 0);
    both ("{\"n\":1.7976931348623157e308}", 0, 0); /* DBL_MAX */
    both ("{\"n\":1.7976931348623158e308}", 0, 0); /* rounds down to DBL_MAX */
    both ("{\"n\":1.7976931348623159e308}", 0, FLING_EBADJSON);
    both ("{\"n\":1e309}", 0, FLING_EBADJSON);
    assert_non_null (strstr (fling_last_error (), "overflow"));
    both ("{\"n\":-1e309}", 0, FLING_EBADJSON);
    both ("{\"n\":1e99999999999999999999}", 0, FLING_EBADJSON);
    both ("{\"n\":1e-400}", 0, 0); /* underflow is fine */
    both ("{\"n\":1e-99999999999999999999}", 0, 0);
    both ("{\"n\":0e99999999999999999999}", 0, 0);
    both ("{\"n\":0.0000000001e318}", 0, 0);
    both ("{\"n\":0.0000000001e319}", 0, FLING_EBADJSON);
    both ("{\"n\":1000000000e299}", 0, 0);
    both ("{\"n\":1000000000e300}", 0, FLING_EBADJSON);
    /* 2^1024 - 2^970 is where doubles round to infinity. */
    static const char threshold[] =
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946"
        "649017977587207096330286416692887910946555547851940402630657488671505820681908902000"
        "708383676273854845817711531764475730270069855571366959622842914819860834936475292719"
        "074168444365510704342711559699508093042880177904174497792";
    char json[512];
    snprintf (json, sizeof json, "{\"n\":%s.0}", threshold);
    both (json, 0, FLING_EBADJSON);
    snprintf (json, sizeof json, "{\"n\":%.308s1.0}", threshold); /* last digit 2 -> 1 */
    both (json, 0, 0);
    snprintf (json, sizeof json, "{\"n\":%.308s1.9999e0}", threshold);
    both (json, 0, 0);
    snprintf (json, sizeof json, "{\"n\":0.%se309}", threshold);
    both (json, 0, FLING_EBADJSON);
    snprintf (json, sizeof json, "{\"n\":%.100s.%se209}", threshold, threshold + 100);
    both (json, 0, FLING_EBADJSON);
    /* Grammar. */
    both ("{\"n\":-0}", 0, 0);
    both ("{\"n\":-0.0e-0}", 0, 0);
    both ("{\"n\":0E+1}", 0, 0);
    both ("{\"n\":01}", 0, FLING_EBADJSON);
    both ("{\"n\":-01}", 0, FLING_EBADJSON);
    both ("{\"n\":1.}", 0, FLING_EBADJSON);
    both ("{\"n\":.5}", 0, FLING_EBADJSON);
    both ("{\"n\":1e}", 0, FLING_EBADJSON);
    both ("{\"n\":1e+}", 0, FLING_EBADJSON);
    both ("{\"n\":+1}", 0, FLING_EBADJSON);
    both ("{\"n\":-}", 0, FLING_EBADJSON);
    both ("{\"n\":1.5.5}", 0, FLING_EBADJSON);
    both ("{\"n\":0x10}", 0, FLING_EBADJSON);
    both ("{\"n\":NaN}", 0, FLING_EBADJSON);
    both ("{\"n\":Infinity}", 0, FLING_EBADJSON);
}

static void test_control_characters (void **state)
{
    (void)state;
    both ("{\"s\":\"a\x01\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"a\x1f\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"a\tb\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"a\nb\"}", 0, FLING_EBADJSON);
    both ("{\"a\x02\":1}", 0, FLING_EBADJSON);
    both ("{\"s\":\"a\x7f\"}", 0, 0); /* DEL is not a control character to JSON */
    both ("{\"s\":\"a\\t\\u001f\"}", 0, 0);
    /* Whitespace is exactly space, tab, LF, CR. */
    both ("\r\n\t {\r\n\t \"a\"\r\n\t :\r\n\t 1\r\n\t }\r\n\t ", 0, 0);
    both ("{\"a\":1}\f", 0, FLING_EBADJSON);
    both ("{\"a\":1}\v", 0, FLING_EBADJSON);
    both ("{\"a\":1}\xc2\xa0", 0, FLING_EBADJSON);
}

static void test_more_utf8 (void **state)
{
    (void)state;
    both ("{\"s\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}", 0,
          0);
    both ("{\"s\":\"\xe0\x9f\xbf\"}", 0, FLING_EBADJSON);     /* overlong 3-byte */
    both ("{\"s\":\"\xf0\x8f\xbf\xbf\"}", 0, FLING_EBADJSON); /* overlong 4-byte */
    both ("{\"s\":\"\xc1\xbf\"}", 0, FLING_EBADJSON);         /* overlong 2-byte */
    both ("{\"s\":\"\xf4\x90\x80\x80\"}", 0, FLING_EBADJSON); /* above U+10FFFF */
    both ("{\"s\":\"\xf5\x80\x80\x80\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\xed\xbf\xbf\"}", 0, FLING_EBADJSON); /* encoded low surrogate */
    both ("{\"s\":\"\xed\x9f\xbf\"}", 0, 0);              /* U+D7FF */
    both ("{\"s\":\"\x80\"}", 0, FLING_EBADJSON);
    both ("{\"s\":\"\xe2\x82\"}", 0, FLING_EBADJSON); /* quote as continuation */
    both ("{\"s\":\"\xe2\x82", 0, FLING_EBADJSON);    /* truncated at the end */
    both ("{\"s\":\"\xf0\x9f\x98\x80\"}", 0, 0);
    both ("\xef\xbb\xbf{}", 0, FLING_EBADJSON); /* a BOM is not whitespace */
    both ("{\"s\":1\xc3\xa9}", 0, FLING_EBADJSON);
}

static void test_depth_exact (void **state)
{
    (void)state;
    /* Mixed objects and arrays: 64 levels pass, 65 do not. */
    char json[512];
    for (int levels = 62; levels <= 66; levels++) {
        char *p = json;
        for (int i = 0; i < levels; i++)
            p += sprintf (p, i % 2 ? "[" : "{\"a\":");
        p += sprintf (p, "1");
        for (int i = levels - 1; i >= 0; i--)
            *p++ = i % 2 ? ']' : '}';
        *p = 0;
        both (json, 0, levels <= FLING_JSON_DEPTH_MAX ? 0 : FLING_EBADJSON);
    }
    /* Closed containers give their level back. */
    char *wide = (char *)malloc (64 * 200 + 16);
    char *p = wide + sprintf (wide, "{\"a\":[");
    for (int i = 0; i < 200; i++)
        p += sprintf (p, "%s[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                      i ? "," : "");
    strcpy (p, "]}");
    both (wide, 0, 0);
    free (wide);
}

/* Accept (1) or refuse (0), and the jansson reference must say the same.
   Every prefix of every entry is cross-checked too. */
static const struct {
    const char *json;
    int valid;
} table[] = {
    {"{}", 1},
    {" {} ", 1},
    {"{\"a\":1}", 1},
    {"{\"a\":\"b\"}", 1},
    {"{\"a\":true,\"b\":false,\"c\":null}", 1},
    {"{\"a\":[]}", 1},
    {"{\"a\":[1,2,3]}", 1},
    {"{\"a\":{}}", 1},
    {"{\"a\":[{},{},[]]}", 1},
    {"{\"a\":-1.25e+10}", 1},
    {"{\"a\":0.5E-3}", 1},
    {"{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 1},
    {"{\"a\":\"\\u0041\\u00e9\\u20ac\\ud834\\udd1e\"}", 1},
    {"{\"\\u00e9\":1,\"e\":2}", 1},
    {"{\"a\":\"x\",\"b\":\"x\"}", 1},
    {"{\"a\":1,\"b\":{\"a\":1}}", 1},
    {"{\"i\":7,\"ms\":0,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
     1},
    {"{\"a\" : 1 , \"b\" : [ 1 , { } ] }", 1},
    {"{\"a\":1e0}", 1},
    {"{\"a\":-0.0}", 1},
    {"{\"a\":123456789012345678}", 1},
    {"{\"a\":\"caf\xc3\xa9\"}", 1},
    {"{\"\xe2\x82\xac\":\"\xf0\x9f\x98\x80\"}", 1},
    {"{\"a\":\"[{]}\"}", 1},
    {"{\"a\":\"}\"}", 1},
    {"{\"a\":\"\\\\\"}", 1},
    {"{\"a\":[true,false,null,1,\"s\",{},[]]}", 1},
    {"{\"\":\"\"}", 1},
    {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}", 1},
    {"{\"ab\":1,\"ba\":2}", 1},
    {"{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", 1},
    {"{\"a\":\"\x7f\"}", 1},
    {"{\"a\":1E400}", 0},
    {"{\"a\":-1E400}", 0},
    {"{\"a\":1E-400}", 1},
    {"{\"a\":18446744073709551616}", 0},
    {"{\"a\":-18446744073709551616}", 0},
    {"", 0},
    {" ", 0},
    {"{", 0},
    {"}", 0},
    {"{}}", 0},
    {"{{}}", 0},
    {"{\"a\"}", 0},
    {"{\"a\":}", 0},
    {"{\"a\"::1}", 0},
    {"{\"a\":1,}", 0},
    {"{,\"a\":1}", 0},
    {"{\"a\":1,,\"b\":2}", 0},
    {"{\"a\":1 \"b\":2}", 0},
    {"{\"a\":[1,]}", 0},
    {"{\"a\":[,1]}", 0},
    {"{\"a\":[1 2]}", 0},
    {"{\"a\":[}", 0},
    {"{\"a\":]}", 0},
    {"{\"a\":{]}", 0},
    {"{\"a\":[}]}", 0},
    {"{1:1}", 0},
    {"{a:1}", 0},
    {"{'a':1}", 0},
    {"{\"a\":'b'}", 0},
    {"{\"a\":tru}", 0},
    {"{\"a\":trueX}", 0},
    {"{\"a\":True}", 0},
    {"{\"a\":nul}", 0},
    {"{\"a\":nulll}", 0},
    {"{\"a\":falsey}", 0},
    {"{\"a\":undefined}", 0},
    {"{\"a\":1}x", 0},
    {"{\"a\":1}{}", 0},
    {"{\"a\":1}[]", 0},
    {"{\"a\":1}1", 0},
    {"{\"a\":1}\"\"", 0},
    {"{\"a\":1} ,", 0},
    {"[]", 0},
    {"[{}]", 0},
    {"\"a\"", 0},
    {"1", 0},
    {"true", 0},
    {"null", 0},
    {"{\"a\":\"\\u\"}", 0},
    {"{\"a\":\"\\u1\"}", 0},
    {"{\"a\":\"\\u123\"}", 0},
    {"{\"a\":\"\\uzzzz\"}", 0},
    {"{\"a\":\"\\U0041\"}", 0},
    {"{\"a\":\"\\a\"}", 0},
    {"{\"a\":\"\\0\"}", 0},
    {"{\"a\":\"\\ud834\"}", 0},
    {"{\"a\":\"\\udd1e\"}", 0},
    {"{\"a\":\"\\ud834\\ud834\"}", 0},
    {"{\"a\":\"\\ud834\\\\udd1e\"}", 0},
    {"{\"a\":\"\\u0000\"}", 0},
    {"{\"a\":\"x\\u0000\"}", 0},
    {"{\"a\\u0000b\":1}", 0},
    {"{\"a\":\"\x01\"}", 0},
    {"{\"a\":\"\x1f\"}", 0},
    {"{\"a\":\"\t\"}", 0},
    {"{\"a\":\"\r\"}", 0},
    {"{\"a\":\"\xc3\x28\"}", 0},
    {"{\"a\":\"\xa0\xa1\"}", 0},
    {"{\"a\":\"\xe2\x28\xa1\"}", 0},
    {"{\"a\":\"\xe2\x82\x28\"}", 0},
    {"{\"a\":\"\xf0\x28\x8c\xbc\"}", 0},
    {"{\"a\":\"\xf0\x90\x28\xbc\"}", 0},
    {"{\"a\":\"\xf8\xa1\xa1\xa1\xa1\"}", 0},
    {"{\"a\":\"\xfe\"}", 0},
    {"{\"a\":\"\xed\xa0\x80\xed\xb0\x80\"}", 0},
    {"{\"a\":\"\xc0\x80\"}", 0},
    {"{\"a\":\"\xe0\x80\x80\"}", 0},
    {"{\"a\":1,\"a\":1}", 0},
    {"{\"a\":1,\"b\":2,\"a\":3}", 0},
    {"{\"\\u0041\":1,\"A\":2}", 0},
    {"{\"\\u00e9\":1,\"\xc3\xa9\":2}", 0},
    {"{\"\\ud834\\udd1e\":1,\"\xf0\x9d\x84\x9e\":2}", 0},
    {"{\"\\\\\":1,\"\\u005c\":2}", 0},
    {"{\"\\\"\":1,\"\\u0022\":2}", 0},
    {"{\"\\b\\f\":1,\"\\u0008\\u000c\":2}", 0},
    {"{\"x\":{\"a\":1},\"y\":{\"a\":1,\"a\":2}}", 0},
    {"{\"a\":[{\"b\":1,\"b\":2}]}", 0},
    {"{\"a\":01}", 0},
    {"{\"a\":00}", 0},
    {"{\"a\":1.e1}", 0},
    {"{\"a\":.1}", 0},
    {"{\"a\":1e+-1}", 0},
    {"{\"a\":--1}", 0},
    {"{\"a\":- 1}", 0},
    {"{\"a\":1 .5}", 0},
    {"{\"a\":Infinity}", 0},
    {"{\"a\":-Infinity}", 0},
    {"{\"a\":NaN}", 0},
    {"{\"a\":\"\"\"}", 0},
    {"{\"a\":\"unterminated}", 0},
    {"{\"a\":1/*c*/}", 0},
    {"{\"a\":1}//", 0},
    {"\xef\xbb\xbf{\"a\":1}", 0},
    {"\x0c{}", 0},
    {"{}\x0b", 0},
};

static void test_cross_check_table (void **state)
{
    (void)state;
    size_t entries = sizeof table / sizeof table[0];
    assert_true (entries >= 100);
    size_t checks = 0;
    for (size_t i = 0; i < entries; i++) {
        size_t size = strlen (table[i].json);
        int got = fling_validate_payload (table[i].json, size) == 0;
        if (got != table[i].valid)
            fail_msg ("table[%zu] '%s': %s, expected %s (%s)", i, table[i].json,
                      got ? "accepted" : "refused", table[i].valid ? "accepted" : "refused",
                      fling_last_error ());
        /* The entry and each prefix: check and reference agree. */
        for (size_t n = 0; n <= size; n++, checks++) {
            int fast = fling_validate_payload (table[i].json, n) == 0;
            int ref = fling_validate_payload_reference (table[i].json, n) == 0;
            if (fast != ref)
                fail_msg ("table[%zu] prefix %zu '%.*s': check %d, reference %d", i, n, (int)n,
                          table[i].json, fast, ref);
        }
    }
    assert_true (checks > 1000);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_escaped_duplicate_keys),
        cmocka_unit_test (test_many_keys),
        cmocka_unit_test (test_surrogate_escapes),
        cmocka_unit_test (test_numbers),
        cmocka_unit_test (test_control_characters),
        cmocka_unit_test (test_more_utf8),
        cmocka_unit_test (test_depth_exact),
        cmocka_unit_test (test_cross_check_table),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
