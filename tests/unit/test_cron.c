/*  test_cron.c - cron expressions and their fire times (common/fling_cron.c)
    in IANA zones read from the system's tzdata (common/fling_tz.c).

    The vectors are published ones, rewritten here as (expression, zone,
    after, expected fire times):
    - croniter's test suite (pallets-eco/croniter, tests/test_croniter.py):
      testDay, testMonth, testWeekDay, steps, names, the Vixie OR of the
      two day fields, leap days;
    - dagster's cron iterator tests (dagster-io/dagster,
      python_modules/dagster/dagster_tests/utils_tests/test_schedules.py):
      Europe/Berlin "0 2 * * *" across the spring change (2 AM does not
      exist: 3 AM), Australia/Sydney every 15 minutes across it;
    - cron-parser's (harrisiirak/cron-parser, test/timezone.js):
      Europe/Athens hourly across the spring change;
    - cronie's cron(8) rule for jobs at a fixed time across both changes,
      checked by hand in Europe/Berlin and America/New_York for 2026
      (changes on 29 March and 25 October; 8 March and 1 November).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fling_cron.h"
#include "fling_timetext.h"
#include "fling_tz.h"

static int64_t at (const char *rfc3339)
{
    int64_t ms;
    if (fling_utc_parse (rfc3339, &ms))
        fail_msg ("bad time in the test: %s", rfc3339);
    return ms;
}

/* `expected` fire times one after another, starting after `after`. */
static void expect_fires (const char *expression, const char *tz, const char *after,
                          const char *const *expected, size_t count)
{
    char error[128];
    fling_cron_t *cron = fling_cron_new (expression, tz, error, sizeof error);
    if (!cron)
        fail_msg ("\"%s\" in %s: %s", expression, tz ? tz : "UTC", error);
    int64_t t = at (after);
    for (size_t i = 0; i < count; i++) {
        t = fling_cron_next (cron, t);
        char got[FLING_UTC_TEXT_SIZE], want[FLING_UTC_TEXT_SIZE];
        if (t != at (expected[i]))
            fail_msg ("\"%s\" in %s, fire %zu after %s: got %s, want %s (%s)", expression,
                      tz ? tz : "UTC", i + 1, after, t < 0 ? "none" : fling_utc_format (t, got),
                      fling_utc_format (at (expected[i]), want), expected[i]);
    }
    fling_cron_destroy (&cron);
}

#define EXPECT(expression, tz, after, ...)                                                         \
    do {                                                                                           \
        static const char *const fires[] = {__VA_ARGS__};                                          \
        expect_fires (expression, tz, after, fires, sizeof fires / sizeof fires[0]);               \
    } while (0)

static void test_croniter_vectors (void **state)
{
    (void)state;
    /* testDay / testMonth / testWeekDay */
    EXPECT ("* * 3 * *", NULL, "2010-01-25T00:00:00Z", "2010-02-03T00:00:00Z",
            "2010-02-03T00:01:00Z");
    EXPECT ("* * 1 * *", NULL, "2010-01-25T00:00:00Z", "2010-02-01T00:00:00Z",
            "2010-02-01T00:01:00Z");
    EXPECT ("* * * * 6", NULL, "2010-01-25T00:00:00Z", "2010-01-30T00:00:00Z",
            "2010-01-30T00:01:00Z");
    EXPECT ("0 0 * * sat", NULL, "2010-01-25T00:00:00Z", "2010-01-30T00:00:00Z",
            "2010-02-06T00:00:00Z");
    /* Sunday is 0 and 7 */
    EXPECT ("0 0 * * 7", NULL, "2026-12-07T00:00:00Z", "2026-12-13T00:00:00Z");
    EXPECT ("0 0 * * 0", NULL, "2026-12-07T00:00:00Z", "2026-12-13T00:00:00Z");
    EXPECT ("0 0 * * 5-7", NULL, "2026-12-07T00:00:00Z", "2026-12-11T00:00:00Z",
            "2026-12-12T00:00:00Z", "2026-12-13T00:00:00Z", "2026-12-18T00:00:00Z");
    /* steps, ranges, lists */
    EXPECT ("*/5 * * * *", NULL, "2026-12-07T18:02:30Z", "2026-12-07T18:05:00Z",
            "2026-12-07T18:10:00Z");
    EXPECT ("10-40/10 * * * *", NULL, "2026-12-07T18:00:00Z", "2026-12-07T18:10:00Z",
            "2026-12-07T18:20:00Z", "2026-12-07T18:30:00Z", "2026-12-07T18:40:00Z",
            "2026-12-07T19:10:00Z");
    EXPECT ("5/15 * * * *", NULL, "2026-12-07T18:00:00Z", "2026-12-07T18:05:00Z",
            "2026-12-07T18:20:00Z", "2026-12-07T18:35:00Z", "2026-12-07T18:50:00Z");
    EXPECT ("0,30 9-10 * * *", NULL, "2026-12-07T09:00:00Z", "2026-12-07T09:30:00Z",
            "2026-12-07T10:00:00Z", "2026-12-07T10:30:00Z", "2026-12-08T09:00:00Z");
    /* names, any case */
    EXPECT ("0 9 * JAN,jun Mon-Fri", NULL, "2026-12-07T00:00:00Z", "2027-01-01T09:00:00Z",
            "2027-01-04T09:00:00Z");
    /* Vixie OR: both day fields restricted -> Friday or the 13th */
    EXPECT ("0 0 13 * 5", NULL, "2026-12-07T00:00:00Z", "2026-12-11T00:00:00Z",
            "2026-12-13T00:00:00Z", "2026-12-18T00:00:00Z");
    /* ...but a day field starting with '*' (a step too) ANDs */
    EXPECT ("0 0 */2 * 5", NULL, "2026-12-07T00:00:00Z", "2026-12-11T00:00:00Z",
            "2026-12-25T00:00:00Z");
    /* leap days */
    EXPECT ("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z",
            "2032-02-29T00:00:00Z");
    EXPECT ("0 0 31 * *", NULL, "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z",
            "2026-07-31T00:00:00Z");
    /* strictly after, from any millisecond */
    EXPECT ("* * * * *", NULL, "2026-12-07T18:00:00Z", "2026-12-07T18:01:00Z");
    EXPECT ("* * * * *", NULL, "2026-12-07T17:59:59.999Z", "2026-12-07T18:00:00Z");
}

static void test_macros (void **state)
{
    (void)state;
    EXPECT ("@hourly", NULL, "2026-12-07T18:00:00Z", "2026-12-07T19:00:00Z");
    EXPECT ("@daily", NULL, "2026-12-07T18:00:00Z", "2026-12-08T00:00:00Z");
    EXPECT ("@midnight", NULL, "2026-12-07T18:00:00Z", "2026-12-08T00:00:00Z");
    EXPECT ("@weekly", NULL, "2026-12-07T18:00:00Z", "2026-12-13T00:00:00Z");
    EXPECT ("@monthly", NULL, "2026-12-07T18:00:00Z", "2027-01-01T00:00:00Z");
    EXPECT ("@yearly", NULL, "2026-12-07T18:00:00Z", "2027-01-01T00:00:00Z");
    EXPECT ("@annually", NULL, "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z");
}

static void test_published_dst_vectors (void **state)
{
    (void)state;
    /* dagster: 2 AM on 2023-03-26 does not exist in Berlin: 3 AM CEST */
    EXPECT ("0 2 * * *", "Europe/Berlin", "2023-03-23T12:00:00+01:00", "2023-03-24T02:00:00+01:00",
            "2023-03-25T02:00:00+01:00", "2023-03-26T03:00:00+02:00", "2023-03-27T02:00:00+02:00",
            "2023-03-28T02:00:00+02:00");
    /* dagster: every 15 minutes in Sydney, 2021-10-03 (2 AM -> 3 AM) */
    EXPECT ("*/15 * * * *", "Australia/Sydney", "2021-10-03T01:30:01+10:00",
            "2021-10-03T01:45:00+10:00", "2021-10-03T03:00:00+11:00", "2021-10-03T03:15:00+11:00",
            "2021-10-03T03:30:00+11:00", "2021-10-03T03:45:00+11:00", "2021-10-03T04:00:00+11:00");
    /* cron-parser: hourly in Athens, 2016-03-27 (3 AM -> 4 AM): 3 is skipped */
    EXPECT ("0 * * * *", "Europe/Athens", "2016-03-27T02:00:01+02:00", "2016-03-27T04:00:00+03:00",
            "2016-03-27T05:00:00+03:00");
}

static void test_cronie_rule_berlin_2026 (void **state)
{
    (void)state;
    /* Spring (29 March, 02:00 CET -> 03:00 CEST): a fixed-time job in the
       gap runs once right after the change; a wildcard job skips it. */
    EXPECT ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z");
    EXPECT ("0,30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z",
            "2026-03-30T00:00:00Z");
    EXPECT ("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z",
            "2026-03-29T01:30:00Z");
    /* Autumn (25 October, 03:00 CEST -> 02:00 CET): a fixed-time job in the
       repeated hour runs at its first occurrence only; a wildcard job at
       both. */
    EXPECT ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z");
    EXPECT ("30 * * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", "2026-10-24T23:30:00Z",
            "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z");
    EXPECT ("*/20 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:00:00Z",
            "2026-10-25T00:20:00Z", "2026-10-25T00:40:00Z", "2026-10-25T01:00:00Z",
            "2026-10-25T01:20:00Z", "2026-10-25T01:40:00Z", "2026-10-26T01:00:00Z");
}

static void test_cronie_rule_new_york_2026 (void **state)
{
    (void)state;
    /* 8 March, 02:00 EST -> 03:00 EDT */
    EXPECT ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z");
    EXPECT ("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z");
    /* 1 November, 02:00 EDT -> 01:00 EST */
    EXPECT ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z");
    EXPECT ("0 * * * *", "America/New_York", "2026-11-01T03:30:00Z", "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z");
    /* A daily job away from the change keeps its wall time: 9 AM local. */
    EXPECT ("0 9 * * *", "America/New_York", "2026-10-31T00:00:00Z", "2026-10-31T13:00:00Z",
            "2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z");
}

static void test_never (void **state)
{
    (void)state;
    char error[128];
    fling_cron_t *cron = fling_cron_new ("0 0 30 2 *", NULL, error, sizeof error);
    assert_non_null (cron);
    assert_true (fling_cron_next (cron, at ("2026-01-01T00:00:00Z")) == -1);
    fling_cron_destroy (&cron);
    assert_null (cron);
}

static void test_refused (void **state)
{
    (void)state;
    static const char *bad[] = {
        "60 * * * *",   "* 24 * * *",  "* * 0 * *",   "* * 32 * *",    "* * * 0 *",   "* * * 13 *",
        "* * * * 8",    "*/0 * * * *", "5-1 * * * *", "* * * *",       "* * * * * *", "a * * * *",
        "1,,2 * * * *", "1, * * * *",  "* * * foo *", "1-2-3 * * * *", "@reboot",     "",
        "1/ * * * *",   "-1 * * * *",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char error[128] = "";
        errno = 0;
        fling_cron_t *cron = fling_cron_new (bad[i], NULL, error, sizeof error);
        if (cron)
            fail_msg ("\"%s\" accepted", bad[i]);
        assert_int_equal (errno, EINVAL);
        assert_true (error[0] != 0);
    }
    char error[128];
    errno = 0;
    assert_null (fling_cron_new ("* * * * *", "Mars/Olympus_Mons", error, sizeof error));
    assert_int_equal (errno, ENOENT);
    assert_null (fling_cron_new ("* * * * *", "../etc/passwd", error, sizeof error));
    assert_int_equal (errno, EINVAL);
}

static void test_zone_offsets (void **state)
{
    (void)state;
    fling_tz_t *berlin = fling_tz_new ("Europe/Berlin");
    fling_tz_t *york = fling_tz_new ("America/New_York");
    fling_tz_t *utc = fling_tz_new ("UTC");
    assert_non_null (berlin);
    assert_non_null (york);
    assert_non_null (utc);
    assert_int_equal (fling_tz_offset (berlin, at ("2026-01-15T12:00:00Z") / 1000), 3600);
    assert_int_equal (fling_tz_offset (berlin, at ("2026-07-15T12:00:00Z") / 1000), 7200);
    assert_int_equal (fling_tz_offset (york, at ("2026-01-15T12:00:00Z") / 1000), -18000);
    assert_int_equal (fling_tz_offset (york, at ("2026-07-15T12:00:00Z") / 1000), -14400);
    assert_int_equal (fling_tz_offset (utc, at ("2026-07-15T12:00:00Z") / 1000), 0);
    /* Past 2037, where the file's transitions may end: its footer's rule. */
    assert_int_equal (fling_tz_offset (berlin, at ("2040-07-01T12:00:00Z") / 1000), 7200);
    assert_int_equal (fling_tz_offset (berlin, at ("2040-12-01T12:00:00Z") / 1000), 3600);
    assert_int_equal (fling_tz_offset (york, at ("2100-07-01T12:00:00Z") / 1000), -14400);
    assert_int_equal (fling_tz_offset (york, at ("2100-12-01T12:00:00Z") / 1000), -18000);
    /* 2040 changes: last Sunday of March 01:00Z, last Sunday of October 01:00Z */
    assert_int_equal (fling_tz_offset (berlin, at ("2040-03-25T00:59:59Z") / 1000), 3600);
    assert_int_equal (fling_tz_offset (berlin, at ("2040-03-25T01:00:00Z") / 1000), 7200);
    assert_int_equal (fling_tz_offset (berlin, at ("2040-10-28T00:59:59Z") / 1000), 7200);
    assert_int_equal (fling_tz_offset (berlin, at ("2040-10-28T01:00:00Z") / 1000), 3600);
    int64_t instants[2];
    /* 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 twice. */
    int64_t gap = fling_days_from_civil (2026, 3, 29) * 86400 + 9000;
    int64_t twice = fling_days_from_civil (2026, 10, 25) * 86400 + 9000;
    assert_int_equal (fling_tz_resolve (berlin, gap, instants), 0);
    assert_int_equal (fling_tz_resolve (berlin, twice, instants), 2);
    assert_true (instants[0] == at ("2026-10-25T00:30:00Z") / 1000);
    assert_true (instants[1] == at ("2026-10-25T01:30:00Z") / 1000);
    assert_int_equal (fling_tz_resolve (berlin, twice + 86400, instants), 1);
    fling_tz_destroy (&berlin);
    fling_tz_destroy (&york);
    fling_tz_destroy (&utc);
    assert_null (berlin);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_croniter_vectors),
        cmocka_unit_test (test_macros),
        cmocka_unit_test (test_published_dst_vectors),
        cmocka_unit_test (test_cronie_rule_berlin_2026),
        cmocka_unit_test (test_cronie_rule_new_york_2026),
        cmocka_unit_test (test_never),
        cmocka_unit_test (test_refused),
        cmocka_unit_test (test_zone_offsets),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
