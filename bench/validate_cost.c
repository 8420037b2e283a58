/*  validate_cost.c - what fling_send spends on validation alone, so that
    bench/run can tell the send path's own cost from the JSON check's.

    Usage: validate_cost COUNT PAYLOAD_BYTES

    Payloads are fling-load's: {"i":SEQ,"ms":0,"pad":"xxx..."} padded to
    PAYLOAD_BYTES, 1024 of them prepared before timing and used in turn.
    Two loops, each timed per call (CLOCK_MONOTONIC around the call, as
    fling-load --latency times fling_send) and as a whole (mean, without the
    clock reads):
      validate       fling_task_validate (name + the one-pass JSON check)
      jansson_parse  json_loadb (JSON_REJECT_DUPLICATES) + json_decref only
    Prints one JSON line per loop: {"what":..,"count":..,"mean_ns":..,
    "p50_ns":..,"p99_ns":..,"p999_ns":..}. Exit status 1 if a payload fails.
*/
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fling_producer.h"

#define PAYLOADS 1024
#define NAME     "bench.noop"

typedef int (check_fn) (const char *json, size_t size);

static int64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int check_validate (const char *json, size_t size)
{
    return fling_task_validate (NAME, json, size);
}

static int check_jansson (const char *json, size_t size)
{
    json_error_t error;
    json_t *root = json_loadb (json, size, JSON_REJECT_DUPLICATES, &error);
    if (!root)
        return -1;
    json_decref (root);
    return 0;
}

static int compare_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double rank (const uint64_t *sorted, size_t n, double p)
{
    size_t r = (size_t)ceil (p * (double)n);
    return (double)sorted[r ? r - 1 : 0];
}

static int measure (const char *what, check_fn *check, char **payloads, size_t *sizes, size_t count,
                    uint64_t *samples)
{
    for (size_t i = 0; i < count; i++) {
        int64_t t0 = now_ns ();
        if (check (payloads[i % PAYLOADS], sizes[i % PAYLOADS])) {
            fprintf (stderr, "validate_cost: %s refused payload %zu\n", what, i % PAYLOADS);
            return -1;
        }
        samples[i] = (uint64_t)(now_ns () - t0);
    }
    int64_t t0 = now_ns ();
    for (size_t i = 0; i < count; i++)
        check (payloads[i % PAYLOADS], sizes[i % PAYLOADS]);
    double mean = (double)(now_ns () - t0) / (double)count;
    qsort (samples, count, sizeof *samples, compare_u64);
    printf ("{\"what\":\"%s\",\"count\":%zu,\"mean_ns\":%.1f,\"p50_ns\":%.0f,\"p99_ns\":%.0f,"
            "\"p999_ns\":%.0f}\n",
            what, count, mean, rank (samples, count, 0.50), rank (samples, count, 0.99),
            rank (samples, count, 0.999));
    return 0;
}

int main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: validate_cost COUNT PAYLOAD_BYTES\n");
        return 2;
    }
    size_t count = (size_t)atol (argv[1]), bytes = (size_t)atol (argv[2]);
    if (count == 0 || bytes < 32 || bytes > 65536) {
        fprintf (stderr, "validate_cost: COUNT > 0, 32 <= PAYLOAD_BYTES <= 65536\n");
        return 2;
    }
    static char *payloads[PAYLOADS];
    static size_t sizes[PAYLOADS];
    for (size_t i = 0; i < PAYLOADS; i++) {
        payloads[i] = malloc (bytes + 64);
        int head = snprintf (payloads[i], bytes + 64, "{\"i\":%zu,\"ms\":0,\"pad\":\"", i);
        size_t used = (size_t)head, pad = bytes > used + 2 ? bytes - used - 2 : 0;
        memset (payloads[i] + used, 'x', pad);
        memcpy (payloads[i] + used + pad, "\"}", 3);
        sizes[i] = strlen (payloads[i]);
    }
    uint64_t *samples = malloc (count * sizeof *samples);
    if (!samples)
        return 1;
    int rc = measure ("validate", check_validate, payloads, sizes, count, samples) ||
             measure ("jansson_parse", check_jansson, payloads, sizes, count, samples);
    free (samples);
    for (size_t i = 0; i < PAYLOADS; i++)
        free (payloads[i]);
    return rc ? 1 : 0;
}
