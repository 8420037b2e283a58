/*  test_prom.c - the Prometheus text writer: HELP/TYPE lines, label values
    escaped as the format wants (a worker or task name cannot break a line
    or forge a label), seconds written exactly, histograms cumulative with
    +Inf, _sum and _count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fling_prom.h"

static void test_samples (void **state)
{
    fling_prom_t *prom = fling_prom_new ();
    fling_prom_family (prom, "fling_x_total", "counter", "Help with a \\ and\na newline.");
    fling_prom_sample (prom, "fling_x_total", 42, NULL);
    fling_prom_sample (prom, "fling_x_total", UINT64_MAX, "name", "a\"b\\c\nd", "class", "pool",
                       NULL);
    fling_prom_seconds (prom, "fling_t_seconds", 2500, NULL);
    fling_prom_seconds (prom, "fling_t_seconds", 3000000, NULL);
    size_t size = 0;
    char *text = fling_prom_take (&prom, &size);
    assert_null (prom);
    assert_string_equal (text, "# HELP fling_x_total Help with a \\\\ and\\na newline.\n"
                               "# TYPE fling_x_total counter\n"
                               "fling_x_total 42\n"
                               "fling_x_total{name=\"a\\\"b\\\\c\\nd\",class=\"pool\"} "
                               "18446744073709551615\n"
                               "fling_t_seconds 0.0025\n"
                               "fling_t_seconds 3\n");
    assert_int_equal (size, strlen (text));
    free (text);
}

static void test_histogram (void **state)
{
    static const uint64_t bounds[] = {1000, 500000};
    fling_histogram_t histogram;
    FLING_HISTOGRAM_INIT (&histogram, bounds);
    fling_histogram_observe (&histogram, 0);
    fling_histogram_observe (&histogram, 1000); /* on the bound: in it (le) */
    fling_histogram_observe (&histogram, 1001);
    fling_histogram_observe (&histogram, 9000000);
    fling_prom_t *prom = fling_prom_new ();
    fling_prom_histogram (prom, "fling_h_seconds", &histogram, "class", "loop", NULL);
    char *text = fling_prom_take (&prom, NULL);
    assert_string_equal (text, "fling_h_seconds_bucket{class=\"loop\",le=\"0.001\"} 2\n"
                               "fling_h_seconds_bucket{class=\"loop\",le=\"0.5\"} 3\n"
                               "fling_h_seconds_bucket{class=\"loop\",le=\"+Inf\"} 4\n"
                               "fling_h_seconds_sum{class=\"loop\"} 9.002001\n"
                               "fling_h_seconds_count{class=\"loop\"} 4\n");
    free (text);
}

static void test_grows (void **state)
{
    fling_prom_t *prom = fling_prom_new ();
    fling_prom_family (prom, "fling_q", "gauge", "Many names.");
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf (name, sizeof name, "queue.%d", i);
        fling_prom_sample (prom, "fling_q", (uint64_t)i, "name", name, NULL);
    }
    size_t size;
    char *text = fling_prom_take (&prom, &size);
    assert_non_null (strstr (text, "fling_q{name=\"queue.9999\"} 9999\n"));
    assert_int_equal (size, strlen (text));
    free (text);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_samples),
        cmocka_unit_test (test_histogram),
        cmocka_unit_test (test_grows),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
