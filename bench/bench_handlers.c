/*  bench_handlers.c - handlers for bench/run, without the per-task ledger
    cost of the test handlers (which write two lines with write(2) per task).

    Module args (comma-separated, all optional):
      counters=PATH  a 64-byte file, mmap'd shared, holding six 64-bit
                     counters that bench/run reads while the worker runs:
                     started, done, first start (CLOCK_MONOTONIC ns), last
                     done (CLOCK_MONOTONIC ns), and the loop thread's CPU
                     time (CLOCK_THREAD_CPUTIME_ID ns) at those two instants
                     when both happened on it (async tasks; 0 otherwise).
                     Updating them costs a few atomic operations, no system
                     call. CLOCK_MONOTONIC is the clock Python's
                     time.monotonic() reads, so the driver can compare these
                     instants with its own.
      expect=N       the number of tasks this worker will complete: the
                     last-done instant is then read from the clock only
                     from the N-th completion on, not on every one (a clock
                     read per task was ~4% of an async worker's time,
                     which the figures would charge to fling). Without it
                     (or 0), every completion reads the clock.
      ledger=PATH    also write "start"/"done" lines in the format of
                     tests/handlers (for tools/ledger_check.py); quick mode
                     uses it to check every task id, full runs leave it off.

    bench.noop          async: DONE at once.
    bench.block         blocking: sleeps {"ms": N} (default 10), then DONE.
    bench.async         async: DONE after {"ms": N} (default 10), one zloop
                        timer per task (what the README shows handlers doing).
    bench.async_ticket  async: DONE after 10 ms on a zloop ticket timer, the
                        constant-cost timers czmq recommends for thousands.

    "ms" is read with a cheap scan of fling-load's payload
    {"i":N,"ms":M,...} (a non-negative integer), not a JSON parse: a bench handler should cost as
    little as possible so the figures measure fling.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fling_worker.h"

#define TICKET_DELAY_MS 10
#define DEFAULT_MS      10

typedef struct {
    atomic_uint_fast64_t started, done, first_start_ns, last_done_ns;
    atomic_uint_fast64_t first_start_cpu_ns, last_done_cpu_ns; /* loop thread's CPU time */
} counters_t;

static counters_t private; /* when no counters file was given */
static counters_t *counters = &private;
static int ledger_fd = -1;
static uint64_t expect; /* expect=N, 0: stamp every completion */
static int pid;

static uint64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The calling thread's CPU time: read on the loop thread at the first
   start and the last completion, it is what the loop spent on the run. */
static uint64_t cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void ledger (const char *event, const fling_task_t *task)
{
    if (ledger_fd < 0)
        return;
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %u %d %s\n", event, fling_task_id (task),
                      fling_task_attempt (task), pid, fling_task_name (task));
    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    ssize_t rc = write (ledger_fd, line, (size_t)n);
    (void)rc;
}

/* on_loop: called on the worker's loop thread (an async handler). */
static void mark_started (const fling_task_t *task, bool on_loop)
{
    if (atomic_fetch_add (&counters->started, 1) == 0) {
        atomic_store (&counters->first_start_ns, now_ns ());
        if (on_loop)
            atomic_store (&counters->first_start_cpu_ns, cpu_ns ());
    }
    ledger ("start", task);
}

/* Pool threads finish concurrently: keep the latest instant, not the last
   writer's. */
static void mark_done (const fling_task_t *task, bool on_loop)
{
    ledger ("done", task);
    /* Counted first: the completion that reaches `expect` must stamp. */
    uint64_t done = atomic_fetch_add (&counters->done, 1) + 1;
    if (done < expect)
        return;
    if (on_loop && expect) /* async completions all come on the loop thread: the last stamps */
        atomic_store (&counters->last_done_cpu_ns, cpu_ns ());
    uint64_t now = now_ns ();
    uint_fast64_t seen = atomic_load (&counters->last_done_ns);
    while (seen < now && !atomic_compare_exchange_weak (&counters->last_done_ns, &seen, now))
        ;
}

/* "ms" is the second key of fling-load's payload: a hop from quote to
   quote finds it in three short memchr calls. strstr + strtol did the same
   in ~7% of an async worker's time (perf, W3), which the figures would
   have charged to fling. */
static long task_ms (const fling_task_t *task)
{
    const char *at = fling_task_payload (task);
    const char *end = at + fling_task_payload_size (task);
    while ((at = (const char *)memchr (at, '"', (size_t)(end - at))) && end - at > 5) {
        if (memcmp (at, "\"ms\":", 5) == 0) {
            long ms = 0;
            for (at += 5; at < end && *at >= '0' && *at <= '9' && ms <= 600000; at++)
                ms = ms * 10 + (*at - '0');
            return ms > 600000 ? 600000 : ms;
        }
        at++;
    }
    return DEFAULT_MS;
}

static void handle_noop (fling_task_t *task, void *arg)
{
    mark_started (task, true);
    mark_done (task, true);
    fling_task_complete (task, FLING_OK);
}

static fling_status_t handle_block (fling_task_t *task, void *arg)
{
    mark_started (task, false);
    long ms = task_ms (task);
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while ((left.tv_sec || left.tv_nsec) && nanosleep (&left, &left) == -1 && errno == EINTR)
        ;
    mark_done (task, false);
    return FLING_OK;
}

static int fired (zloop_t *loop, int timer_id, void *arg)
{
    fling_task_t *task = (fling_task_t *)arg;
    mark_done (task, true);
    fling_task_complete (task, FLING_OK);
    return 0;
}

static void handle_async (fling_task_t *task, void *arg)
{
    mark_started (task, true);
    zloop_t *loop = fling_worker_loop (fling_task_worker (task));
    if (zloop_timer (loop, (size_t)task_ms (task), 1, fired, task) == -1) {
        fling_task_set_error (task, "cannot arm a timer");
        fling_task_complete (task, FLING_RETRY);
    }
}

static void handle_async_ticket (fling_task_t *task, void *arg)
{
    mark_started (task, true);
    zloop_t *loop = fling_worker_loop (fling_task_worker (task));
    if (!zloop_ticket (loop, fired, task)) {
        fling_task_set_error (task, "cannot arm a ticket");
        fling_task_complete (task, FLING_RETRY);
    }
}

static int open_counters (const char *path)
{
    int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate (fd, sizeof (counters_t)) != 0) {
        fprintf (stderr, "bench_handlers: %s: %s\n", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    void *map = mmap (NULL, sizeof (counters_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close (fd);
    if (map == MAP_FAILED) {
        fprintf (stderr, "bench_handlers: mmap %s: %s\n", path, strerror (errno));
        return -1;
    }
    counters = (counters_t *)map;
    return 0;
}

static int open_ledger (const char *path)
{
    ledger_fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (ledger_fd >= 0)
        return 0;
    fprintf (stderr, "bench_handlers: cannot open %s: %s\n", path, strerror (errno));
    return -1;
}

static int parse_args (const char *args)
{
    char *copy = strdup (args ? args : "");
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item && rc == 0;
         item = strtok_r (NULL, ",", &save)) {
        if (strncmp (item, "counters=", 9) == 0)
            rc = open_counters (item + 9);
        else if (strncmp (item, "expect=", 7) == 0) {
            char *end = NULL;
            errno = 0;
            expect = strtoull (item + 7, &end, 10);
            if (errno || end == item + 7 || *end) {
                fprintf (stderr, "bench_handlers: bad %s\n", item);
                rc = -1;
            }
        } else if (strncmp (item, "ledger=", 7) == 0)
            rc = open_ledger (item + 7);
        else {
            fprintf (stderr, "bench_handlers: unknown argument '%s'\n", item);
            rc = -1;
        }
    }
    free (copy);
    return rc;
}

fling_module_init_fn fling_module_init __attribute__ ((visibility ("default")));

int fling_module_init (fling_worker_t *worker, const char *args)
{
    pid = (int)getpid ();
    if (parse_args (args)) {
        errno = EINVAL;
        return -1;
    }
    /* No tickets exist yet: the only safe moment to set their delay. */
    zloop_set_ticket_delay (fling_worker_loop (worker), TICKET_DELAY_MS);
    if (fling_worker_register_async (worker, "bench.noop", handle_noop, NULL) ||
        fling_worker_register_blocking (worker, "bench.block", handle_block, NULL) ||
        fling_worker_register_async (worker, "bench.async", handle_async, NULL) ||
        fling_worker_register_async (worker, "bench.async_ticket", handle_async_ticket, NULL))
        return -1;
    return 0;
}
