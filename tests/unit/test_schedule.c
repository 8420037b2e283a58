/*  test_schedule.c - broker-owned schedules (common/fling_schedule.c,
    proto/SPEC.md §6.8): fire times of intervals and cron expressions, what
    is due after a pause or a restart (missed: once / skip), and the
    deterministic task id of a firing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fling_schedule.h"
#include "fling_timetext.h"

static int64_t at (const char *rfc3339)
{
    int64_t ms;
    if (fling_utc_parse (rfc3339, &ms))
        fail_msg ("bad time in the test: %s", rfc3339);
    return ms;
}

static fling_schedule_t *make (const fling_schedule_def_t *def)
{
    char error[128];
    fling_schedule_t *self = fling_schedule_new (def, error, sizeof error);
    if (!self)
        fail_msg ("%s: %s", def->name, error);
    return self;
}

static void test_interval (void **state)
{
    (void)state;
    fling_schedule_def_t def = {.name = "tick", .every_ms = 1000};
    fling_schedule_t *s = make (&def);
    assert_true (fling_schedule_next (s, 1500) == 2000);
    assert_true (fling_schedule_next (s, 2000) == 3000);
    int64_t mark = 1000;
    assert_true (fling_schedule_due (s, &mark, 1999, false) == -1);
    assert_true (mark == 1000);
    assert_true (fling_schedule_due (s, &mark, 2000, false) == 2000);
    assert_true (mark == 2000);
    assert_true (fling_schedule_due (s, &mark, 2999, false) == -1);
    /* A stall of several fire times: one firing, the latest. */
    assert_true (fling_schedule_due (s, &mark, 7300, false) == 7000);
    assert_true (mark == 7000);
    /* Down from 7000 to 60,500, restarted: missed once -> the latest, once. */
    assert_true (fling_schedule_due (s, &mark, 60500, true) == 60000);
    assert_true (fling_schedule_due (s, &mark, 60500, true) == -1);
    fling_schedule_destroy (&s);
    assert_null (s);

    def.missed = FLING_MISSED_SKIP;
    s = make (&def);
    mark = 7000;
    assert_true (fling_schedule_due (s, &mark, 60500, true) == -1);
    assert_true (mark == 60000); /* skipped, and not asked again */
    assert_true (fling_schedule_due (s, &mark, 61000, false) == 61000);
    fling_schedule_destroy (&s);
}

static void test_cron_schedule (void **state)
{
    (void)state;
    fling_schedule_def_t def = {
        .name = "hourly.report", .cron = "0 * * * *", .tz = "Europe/Berlin"};
    fling_schedule_t *s = make (&def);
    int64_t mark = at ("2026-12-07T17:30:00Z");
    assert_true (fling_schedule_due (s, &mark, at ("2026-12-07T17:59:59.999Z"), false) == -1);
    assert_true (fling_schedule_due (s, &mark, at ("2026-12-07T18:00:00.005Z"), false) ==
                 at ("2026-12-07T18:00:00Z"));
    assert_true (mark == at ("2026-12-07T18:00:00Z"));
    fling_schedule_destroy (&s);

    /* A yearly schedule down for years: the latest missed fire time, once. */
    fling_schedule_def_t yearly = {.name = "new.year", .cron = "@yearly"};
    s = make (&yearly);
    mark = at ("2020-06-01T00:00:00Z");
    assert_true (fling_schedule_due (s, &mark, at ("2026-12-07T18:00:00Z"), true) ==
                 at ("2026-01-01T00:00:00Z"));
    assert_true (fling_schedule_due (s, &mark, at ("2026-12-07T18:00:01Z"), false) == -1);
    fling_schedule_destroy (&s);
}

static void test_task_ids (void **state)
{
    (void)state;
    fling_task_id_t a, b, c;
    int64_t fire = at ("2026-12-07T18:00:00Z");
    assert_int_equal (fling_schedule_task_id ("nightly.report", fire, &a), 0);
    assert_int_equal (fling_schedule_task_id ("nightly.report", fire, &b), 0);
    assert_memory_equal (a.bytes, b.bytes, FLING_TASK_ID_SIZE);
    char text[FLING_TASK_ID_TEXT_SIZE];
    /* SHA-1("fling-schedule:nightly.report") starts e8380cd855c05855 */
    assert_string_equal (fling_task_id_format (&a, text), "e8380cd855c05855:1796666400000");
    assert_int_equal (fling_schedule_task_id ("other", fire, &c), 0);
    assert_true (fling_task_id_producer (&c) != fling_task_id_producer (&a));
    assert_int_equal (fling_schedule_task_id ("nightly.report", fire + 60000, &c), 0);
    assert_true (fling_task_id_producer (&c) == fling_task_id_producer (&a));
}

static void test_refused (void **state)
{
    (void)state;
    static const fling_schedule_def_t bad[] = {
        {.name = "both", .cron = "* * * * *", .every_ms = 1000},
        {.name = "neither"},
        {.name = "short", .every_ms = 999},
        {.name = "long", .every_ms = FLING_EVERY_MS_MAX + 1ULL},
        {.name = "bad name", .every_ms = 1000},
        {.name = "", .every_ms = 1000},
        {.name = "cron", .cron = "61 * * * *"},
        {.name = "missed", .every_ms = 1000, .missed = (fling_missed_t)7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char error[128] = "";
        errno = 0;
        if (fling_schedule_new (&bad[i], error, sizeof error))
            fail_msg ("schedule \"%s\" accepted", bad[i].name);
        assert_int_equal (errno, EINVAL);
        assert_true (error[0] != 0);
    }
    char error[128];
    fling_schedule_def_t zone = {.name = "zone", .cron = "* * * * *", .tz = "Nowhere/Land"};
    errno = 0;
    assert_null (fling_schedule_new (&zone, error, sizeof error));
    assert_int_equal (errno, ENOENT);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_interval),
        cmocka_unit_test (test_cron_schedule),
        cmocka_unit_test (test_task_ids),
        cmocka_unit_test (test_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
