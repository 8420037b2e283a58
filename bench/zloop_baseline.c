/*  zloop_baseline.c - W3 without fling: the same zloop timers on a bare
    loop, the yardstick for W3 in bench/run.

    Usage: zloop_baseline timer|ticket COUNT LIMIT MS

    COUNT tasks, at most LIMIT at once, each one a zloop timer of MS
    milliseconds (timer: zloop_timer, one per task, as bench.async arms;
    ticket: zloop_ticket with the delay set to MS, as bench.async_ticket).
    The first LIMIT start at once; each firing finishes its task and
    starts the next one in the same callback. No broker, no worker, no
    network: what is left is zloop's own cost and precision (whole
    milliseconds, an O(timers) scan per loop turn), which W3 pays too.

    Rate = COUNT / (last firing - first start), CLOCK_MONOTONIC. Prints one
    JSON line: {"mode":..,"count":..,"limit":..,"ms":..,"seconds":..,
    "throughput":..,"share_of_ideal":..,"loop_cpu_ns_per_task":..} where the
    ideal is LIMIT / MS and the last is the loop thread's CPU time
    (CLOCK_THREAD_CPUTIME_ID) over the same span, divided by COUNT.
    Exit status 0 when all COUNT fired.
*/
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    zloop_t *loop;
    bool tickets;
    long count, limit, ms;
    long started, done;
    int64_t first_start_ns, last_done_ns;
    int64_t first_cpu_ns, last_cpu_ns; /* this thread's CPU time */
} run_t;

static int64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fired (zloop_t *loop, int timer_id, void *arg);

static int start (run_t *self)
{
    self->started++;
    if (self->tickets)
        return zloop_ticket (self->loop, fired, self) ? 0 : -1;
    return zloop_timer (self->loop, (size_t)self->ms, 1, fired, self) == -1 ? -1 : 0;
}

static int fired (zloop_t *loop, int timer_id, void *arg)
{
    run_t *self = (run_t *)arg;
    self->done++;
    if (self->done == self->count) {
        self->last_done_ns = now_ns ();
        self->last_cpu_ns = cpu_ns ();
        return -1;
    }
    if (self->started < self->count && start (self))
        return -1;
    return 0;
}

/* Started from a timer so the first tasks run inside zloop_start, as a
   worker's do. */
static int go (zloop_t *loop, int timer_id, void *arg)
{
    run_t *self = (run_t *)arg;
    self->first_start_ns = now_ns ();
    self->first_cpu_ns = cpu_ns ();
    for (long i = 0; i < self->limit && self->started < self->count; i++)
        if (start (self))
            return -1;
    return 0;
}

static long parse_arg (const char *text)
{
    char *end = NULL;
    long value = strtol (text, &end, 10);
    return end != text && *end == '\0' && value > 0 ? value : -1;
}

int main (int argc, char *argv[])
{
    run_t run = {0};
    if (argc == 5) {
        run.tickets = strcmp (argv[1], "ticket") == 0;
        run.count = parse_arg (argv[2]);
        run.limit = parse_arg (argv[3]);
        run.ms = parse_arg (argv[4]);
    }
    if (argc != 5 || (!run.tickets && strcmp (argv[1], "timer") != 0) || run.count < 0 ||
        run.limit < 0 || run.ms < 0) {
        fprintf (stderr, "usage: zloop_baseline timer|ticket COUNT LIMIT MS\n");
        return 2;
    }
    zsys_init ();
    zsys_handler_set (NULL);
    run.loop = zloop_new ();
    if (!run.loop)
        return 2;
    if (run.tickets)
        zloop_set_ticket_delay (run.loop, (size_t)run.ms);
    if (zloop_timer (run.loop, 1, 1, go, &run) == -1)
        return 2;
    zloop_start (run.loop);
    zloop_destroy (&run.loop);
    if (run.done != run.count) {
        fprintf (stderr, "zloop_baseline: %ld of %ld fired\n", run.done, run.count);
        return 1;
    }
    double seconds = (double)(run.last_done_ns - run.first_start_ns) / 1e9;
    double rate = (double)run.count / seconds;
    double ideal = (double)run.limit * 1000.0 / (double)run.ms;
    printf ("{\"mode\":\"%s\",\"count\":%ld,\"limit\":%ld,\"ms\":%ld,\"seconds\":%.6f,"
            "\"throughput\":%.1f,\"share_of_ideal\":%.4f,\"loop_cpu_ns_per_task\":%.1f}\n",
            argv[1], run.count, run.limit, run.ms, seconds, rate, rate / ideal,
            (double)(run.last_cpu_ns - run.first_cpu_ns) / (double)run.count);
    return 0;
}
