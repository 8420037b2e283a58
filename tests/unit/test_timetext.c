/*  test_timetext.c - durations and RFC 3339 times as the command line takes
    them, and the civil calendar under them (common/fling_timetext.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fling_timetext.h"

static uint64_t duration (const char *text)
{
    uint64_t ms = 12345;
    if (fling_duration_parse (text, UINT32_MAX, &ms))
        fail_msg ("\"%s\" refused", text);
    return ms;
}

static void test_durations (void **state)
{
    (void)state;
    assert_int_equal (duration ("0"), 0);
    assert_int_equal (duration ("250ms"), 250);
    assert_int_equal (duration ("5s"), 5000);
    assert_int_equal (duration ("2m"), 120000);
    assert_int_equal (duration ("1h"), 3600000);
    assert_int_equal (duration ("1h30m"), 5400000);
    assert_int_equal (duration ("1d"), 86400000);
    assert_int_equal (duration ("1s500ms"), 1500);
    assert_int_equal (duration ("49d"), 49u * 86400000u);
    static const char *bad[] = {"", "5", "s", "5x", "-5s", "5 s", "1.5s", "50d", "5sm", "0s0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms;
        errno = 0;
        if (fling_duration_parse (bad[i], UINT32_MAX, &ms) != -1 || errno != EINVAL)
            fail_msg ("\"%s\" accepted", bad[i]);
    }
    uint64_t ms;
    assert_int_equal (fling_duration_parse ("99999999999999999999999d", UINT64_MAX, &ms), -1);
}

static int64_t utc (const char *text)
{
    int64_t ms = -1;
    if (fling_utc_parse (text, &ms))
        fail_msg ("\"%s\" refused", text);
    return ms;
}

static void test_rfc3339 (void **state)
{
    (void)state;
    assert_true (utc ("1970-01-01T00:00:00Z") == 0);
    assert_true (utc ("2026-12-07T18:00:00Z") == 1796666400000LL);
    assert_true (utc ("2026-12-07T19:00:00+01:00") == 1796666400000LL);
    assert_true (utc ("2026-12-07T13:00:00-05:00") == 1796666400000LL);
    assert_true (utc ("2026-12-07t18:00:00.25z") == 1796666400250LL);
    assert_true (utc ("2026-12-07T18:00:00.123456Z") == 1796666400123LL);
    assert_true (utc ("2024-02-29T00:00:00Z") == 1709164800000LL);
    assert_true (utc ("2000-02-29T12:00:00Z") == 951825600000LL);
    static const char *bad[] = {
        "2026-12-07T18:00:00",  /* no zone */
        "2026-12-07 18:00:00Z", /* a space */
        "2025-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* nor this */
        "2026-13-01T00:00:00Z",     "2026-12-32T00:00:00Z",
        "2026-12-07T24:00:00Z",     "2026-12-07T18:60:00Z",
        "2026-12-07T18:00:60Z", /* leap seconds are not */
        "2026-12-07T18:00:00.Z",    "2026-12-07T18:00:00+1:00",
        "1969-12-31T23:59:59Z",     "1970-01-01T00:30:00+01:00", /* before the epoch */
        "2026-12-07T18:00:00Zjunk", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        if (fling_utc_parse (bad[i], &ms) != -1)
            fail_msg ("\"%s\" accepted", bad[i]);
    }
}

static void test_format_and_calendar (void **state)
{
    (void)state;
    char buf[FLING_UTC_TEXT_SIZE];
    assert_string_equal (fling_utc_format (1796666400250LL, buf), "2026-12-07T18:00:00.250Z");
    assert_string_equal (fling_utc_format (0, buf), "1970-01-01T00:00:00.000Z");
    /* Every day of 1900-2400 to days and back, weekdays in step. */
    int64_t days = fling_days_from_civil (1900, 1, 1);
    int weekday = fling_weekday_of_days (days);
    assert_int_equal (weekday, 1); /* 1900-01-01 was a Monday */
    for (int year = 1900; year <= 2400; year++)
        for (int month = 1; month <= 12; month++)
            for (int day = 1; day <= fling_days_in_month (year, month); day++, days++) {
                int y, m, d;
                assert_true (fling_days_from_civil (year, month, day) == days);
                fling_civil_from_days (days, &y, &m, &d);
                assert_true (y == year && m == month && d == day);
                assert_int_equal (fling_weekday_of_days (days), weekday);
                weekday = (weekday + 1) % 7;
            }
    assert_int_equal (fling_days_in_month (2100, 2), 28);
    assert_int_equal (fling_days_in_month (2400, 2), 29);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_durations),
        cmocka_unit_test (test_rfc3339),
        cmocka_unit_test (test_format_and_calendar),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
