/*  fling_test_handlers.c - handlers for the multi-process tests.

    Module args: the path of the ledger file (required). Each handler
    appends "start <id> <attempt> <pid> <name> <ms>" when it starts and
    "done <id> <attempt> <pid> <name> <ms>" just before it reports DONE;
    a handler that fails on purpose writes "fail <id> <attempt> <pid>
    <name> <ms>" instead of "done". <ms> is CLOCK_REALTIME in milliseconds,
    comparable across processes (the delay between attempts). Each line is
    one write(2) on an O_APPEND descriptor: lines from threads and
    processes never interleave, and a line written survives a SIGKILL
    (tools/ledger_check.py reads them and ignores fields past the fourth).

    test.noop   async: DONE at once.
    test.async  async: DONE after {"ms": N} (default 10) on a loop timer.
    test.block  blocking: sleeps {"ms": N} (default 0), then DONE.
    test.abort  blocking: abort() (the worker process dies) if the payload
                has "poison": true, else as test.block.
    test.segv   async: raises SIGSEGV in the handler (the worker process
                dies, as on a bad pointer) if the payload has "poison":
                true, else as test.async.
    test.segv_block  blocking: the same on a pool thread, else as test.block.
    test.flaky  blocking: FAIL ("flaky attempt N") while the attempt is at
                most {"fail_attempts": K} (default 2), then DONE.
    test.fail   blocking: always FAIL ("always fails", or the payload's
                {"error": TEXT}).
    test.hang   blocking: sleeps {"ms": N} (default 3600000, one hour) in
                short steps: a stuck handler. The process stays killable
                (SIGTERM starts a drain, SIGKILL ends it).

    test.async and test.block also honour {"fail_attempts": K}: attempts
    1..K return FAIL ("forced failure") with no done line, so tests can
    exercise retries and giving up.
*/
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_worker.h"

static int ledger_fd = -1;
static int pid;

static long long realtime_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ledger (const char *event, const fling_task_t *task)
{
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %u %d %s %lld\n", event, fling_task_id (task),
                      fling_task_attempt (task), pid, fling_task_name (task), realtime_ms ());
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t rc = write (ledger_fd, line, (size_t)n);
    (void)rc;
}

typedef struct {
    long ms;
    long fail_attempts;
    bool poison;
} params_t;

#define MS_MAX 3600000L /* test.hang's default; others are capped here too */

static params_t read_params (const fling_task_t *task, long default_ms, long default_fail)
{
    params_t params = {default_ms, default_fail, false};
    json_error_t error;
    json_t *root =
        json_loadb (fling_task_payload (task), fling_task_payload_size (task), 0, &error);
    json_t *ms = json_object_get (root, "ms");
    json_t *fail = json_object_get (root, "fail_attempts");
    if (json_is_number (ms))
        params.ms = (long)json_number_value (ms);
    if (json_is_integer (fail))
        params.fail_attempts = (long)json_integer_value (fail);
    params.poison = json_is_true (json_object_get (root, "poison"));
    json_decref (root);
    if (params.ms < 0)
        params.ms = 0;
    if (params.ms > MS_MAX)
        params.ms = MS_MAX;
    return params;
}

/* Sleeps `ms` in steps of at most 100 ms, so a stuck handler is a loop of
   short sleeps, as real ones often are (and a debugger shows it moving). */
static void sleep_ms (long ms)
{
    while (ms > 0) {
        long step = ms < 100 ? ms : 100;
        struct timespec left = {step / 1000, (step % 1000) * 1000000L};
        while (nanosleep (&left, &left) == -1 && errno == EINTR)
            ;
        ms -= step;
    }
}

static bool forced_failure (fling_task_t *task, const params_t *params)
{
    if ((long)fling_task_attempt (task) > params->fail_attempts)
        return false;
    fling_task_set_error (task, "forced failure (attempt %u of %ld)", fling_task_attempt (task),
                          params->fail_attempts);
    return true;
}

static void handle_noop (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    ledger ("done", task);
    fling_task_complete (task, FLING_OK);
}

static int async_fired (zloop_t *loop, int timer_id, void *arg)
{
    fling_task_t *task = (fling_task_t *)arg;
    params_t params = read_params (task, 10, 0);
    if (forced_failure (task, &params)) {
        fling_task_complete (task, FLING_FAIL);
        return 0;
    }
    ledger ("done", task);
    fling_task_complete (task, FLING_OK);
    return 0;
}

static void handle_async (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    params_t params = read_params (task, 10, 0);
    zloop_t *loop = fling_worker_loop (fling_task_worker (task));
    if (zloop_timer (loop, (size_t)params.ms, 1, async_fired, task) == -1) {
        fling_task_set_error (task, "cannot arm a timer");
        fling_task_complete (task, FLING_RETRY);
    }
}

static fling_status_t handle_block (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    params_t params = read_params (task, 0, 0);
    sleep_ms (params.ms);
    if (forced_failure (task, &params))
        return FLING_FAIL;
    ledger ("done", task);
    return FLING_OK;
}

static fling_status_t handle_abort (fling_task_t *task, void *arg)
{
    params_t params = read_params (task, 0, 0);
    if (!params.poison)
        return handle_block (task, arg);
    ledger ("start", task);
    abort ();
}

/* A real crash, not abort(): SIGSEGV with its default action, as a bad
   pointer would raise it. raise() rather than a NULL store: the compiler
   may not drop it, and UBSan builds do not stop on it first. */
static void segfault (void)
{
    signal (SIGSEGV, SIG_DFL);
    raise (SIGSEGV);
    abort (); /* not reached */
}

static void handle_segv (fling_task_t *task, void *arg)
{
    if (!read_params (task, 0, 0).poison) {
        handle_async (task, arg);
        return;
    }
    ledger ("start", task);
    segfault ();
}

static fling_status_t handle_segv_block (fling_task_t *task, void *arg)
{
    if (!read_params (task, 0, 0).poison)
        return handle_block (task, arg);
    ledger ("start", task);
    segfault ();
    return FLING_FAIL; /* not reached */
}

static fling_status_t handle_flaky (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    params_t params = read_params (task, 0, 2);
    sleep_ms (params.ms);
    if ((long)fling_task_attempt (task) <= params.fail_attempts) {
        fling_task_set_error (task, "flaky attempt %u", fling_task_attempt (task));
        ledger ("fail", task);
        return FLING_FAIL;
    }
    ledger ("done", task);
    return FLING_OK;
}

static fling_status_t handle_fail (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    json_t *root = json_loadb (fling_task_payload (task), fling_task_payload_size (task), 0, NULL);
    const char *text = json_string_value (json_object_get (root, "error"));
    fling_task_set_error (task, "%s", text ? text : "always fails");
    json_decref (root);
    ledger ("fail", task);
    return FLING_FAIL;
}

static fling_status_t handle_hang (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    params_t params = read_params (task, MS_MAX, 0);
    sleep_ms (params.ms);
    ledger ("done", task);
    return FLING_OK;
}

fling_module_init_fn fling_module_init __attribute__ ((visibility ("default")));

int fling_module_init (fling_worker_t *worker, const char *args)
{
    if (!args || !*args) {
        fprintf (stderr, "fling_test_handlers: the module args must name a ledger file\n");
        errno = EINVAL;
        return -1;
    }
    pid = (int)getpid ();
    ledger_fd = open (args, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (ledger_fd < 0) {
        fprintf (stderr, "fling_test_handlers: cannot open %s: %s\n", args, strerror (errno));
        return -1;
    }
    if (fling_worker_register_async (worker, "test.noop", handle_noop, NULL) ||
        fling_worker_register_async (worker, "test.async", handle_async, NULL) ||
        fling_worker_register_blocking (worker, "test.block", handle_block, NULL) ||
        fling_worker_register_blocking (worker, "test.abort", handle_abort, NULL) ||
        fling_worker_register_async (worker, "test.segv", handle_segv, NULL) ||
        fling_worker_register_blocking (worker, "test.segv_block", handle_segv_block, NULL) ||
        fling_worker_register_blocking (worker, "test.flaky", handle_flaky, NULL) ||
        fling_worker_register_blocking (worker, "test.fail", handle_fail, NULL) ||
        fling_worker_register_blocking (worker, "test.hang", handle_hang, NULL))
        return -1;
    return 0;
}
