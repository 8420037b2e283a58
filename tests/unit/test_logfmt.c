/*  test_logfmt.c - log lines for machines: values quoted so that logfmt
    and JSON readers get the text back exactly (spaces, quotes, newlines,
    control bytes, UTF-8 kept, bad UTF-8 replaced), and a "message
    key=value" line turned into logfmt and JSON with the message split
    from its pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fling_logfmt.h"

static const char *quote (const char *text, size_t size)
{
    static char out[256];
    return fling_logfmt_quote (out, sizeof out, text, size);
}

static void test_quote (void **state)
{
    assert_string_equal (quote ("always fails", 12), "\"always fails\"");
    assert_string_equal (quote ("a \"b\" \\c", 8), "\"a \\\"b\\\" \\\\c\"");
    assert_string_equal (quote ("x\ny\tz\r", 6), "\"x\\ny\\tz\\r\"");
    assert_string_equal (quote ("\x01\x1b[2J\x7f", 6), "\"\\u0001\\u001b[2J\\u007f\"");
    assert_string_equal (quote ("J\xc3\xbcrgen \xe2\x82\xac", 11),
                         "\"J\xc3\xbcrgen \xe2\x82\xac\"");
    assert_string_equal (quote ("bad \xc3 \xff \xed\xa0\x80", 11),
                         "\"bad \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd\"");
    assert_string_equal (quote ("nul\0in", 6), "\"nul\\u0000in\"");
    assert_string_equal (quote ("", 0), "\"\"");
    char small[8];
    fling_logfmt_quote (small, sizeof small, "abcdefghij", 10); /* cut, still closed */
    assert_string_equal (small, "\"abcde\"");
    fling_logfmt_quote (small, sizeof small, "\"\"\"\"", 4); /* an escape is never split */
    assert_string_equal (small, "\"\\\"\\\"\"");
}

static void test_lines (void **state)
{
    char out[1024];
    const char *body = "task dead-lettered id=9f86d081884c7d65:42 name=email.send attempts=3 "
                       "error=\"always \\\"fails\\\"\"";
    fling_logfmt_line (out, sizeof out, FLING_LOG_FORMAT_LOGFMT, "2026-12-07T13:20:35.123Z", "warn",
                       "broker", body);
    assert_string_equal (out, "time=2026-12-07T13:20:35.123Z level=warn component=broker "
                              "msg=\"task dead-lettered\" id=9f86d081884c7d65:42 name=email.send "
                              "attempts=3 error=\"always \\\"fails\\\"\"");
    fling_logfmt_line (out, sizeof out, FLING_LOG_FORMAT_JSON, "T", "warn", "broker", body);
    assert_string_equal (out, "{\"time\":\"T\",\"level\":\"warn\",\"component\":\"broker\","
                              "\"msg\":\"task dead-lettered\",\"id\":\"9f86d081884c7d65:42\","
                              "\"name\":\"email.send\",\"attempts\":3,"
                              "\"error\":\"always \\\"fails\\\"\"}");
    /* No pairs; a colon and an '=' inside a word do not start them. */
    fling_logfmt_line (out, sizeof out, FLING_LOG_FORMAT_JSON, "T", "error", "worker",
                       "cannot bind tcp://a=b: in use");
    assert_string_equal (out, "{\"time\":\"T\",\"level\":\"error\",\"component\":\"worker\","
                              "\"msg\":\"cannot bind tcp://a=b: in use\"}");
    /* A bare value with a quote or a newline, and text that is no pair. */
    fling_logfmt_line (out, sizeof out, FLING_LOG_FORMAT_LOGFMT, "T", "info", "broker",
                       "x a=b\"c d=e\nf g=");
    assert_string_equal (out, "time=T level=info component=broker msg=\"x\" a=\"b\\\"c\" d=e "
                              "rest=\"\\nf g=\"");
    fling_logfmt_line (out, sizeof out, FLING_LOG_FORMAT_JSON, "T", "info", "broker",
                       "n pid=42 neg=-7 big=12345678901234567890 zero=0 lead=007");
    assert_string_equal (out,
                         "{\"time\":\"T\",\"level\":\"info\",\"component\":\"broker\","
                         "\"msg\":\"n\",\"pid\":42,\"neg\":-7,\"big\":\"12345678901234567890\","
                         "\"zero\":0,\"lead\":\"007\"}");
    char tiny[40];
    fling_logfmt_line (tiny, sizeof tiny, FLING_LOG_FORMAT_JSON, "T", "info", "b", body);
    assert_int_equal (strlen (tiny), sizeof tiny - 1); /* cut, never past the end */
    assert_int_equal (fling_log_format_parse ("json"), FLING_LOG_FORMAT_JSON);
    assert_int_equal (fling_log_format_parse ("xml"), -1);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_quote),
        cmocka_unit_test (test_lines),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
