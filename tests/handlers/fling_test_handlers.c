/*  fling_test_handlers.c - handlers for the multi-process tests.

    Module args: the path of the ledger file (required). Each handler
    appends "start <id> <attempt> <pid> <name>" when it starts and
    "done <id> <attempt> <pid> <name>" just before it reports DONE, each
    line with one write(2) on an O_APPEND descriptor: lines from threads
    and processes never interleave, and a line written survives a SIGKILL
    (tools/ledger_check.py reads them).

    test.noop   async: DONE at once.
    test.async  async: DONE after {"ms": N} (default 10) on a loop timer.
    test.block  blocking: sleeps {"ms": N} (default 0), then DONE.

    test.async and test.block also honour {"fail_attempts": K}: attempts
    1..K return FAIL ("forced failure") with no done line, so tests can
    exercise retries and giving up.
*/
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_worker.h"

static int s_ledger_fd = -1;
static int s_pid;

static void s_ledger (const char *event, const fling_task_t *task)
{
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %u %d %s\n", event, fling_task_id (task),
                      fling_task_attempt (task), s_pid, fling_task_name (task));
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t rc = write (s_ledger_fd, line, (size_t)n);
    (void)rc;
}

typedef struct {
    long ms;
    long fail_attempts;
} params_t;

static params_t s_params (const fling_task_t *task, long default_ms)
{
    params_t params = {default_ms, 0};
    json_error_t error;
    json_t *root =
        json_loadb (fling_task_payload (task), fling_task_payload_size (task), 0, &error);
    json_t *ms = json_object_get (root, "ms");
    json_t *fail = json_object_get (root, "fail_attempts");
    if (json_is_number (ms))
        params.ms = (long)json_number_value (ms);
    if (json_is_integer (fail))
        params.fail_attempts = (long)json_integer_value (fail);
    json_decref (root);
    if (params.ms < 0)
        params.ms = 0;
    if (params.ms > 600000)
        params.ms = 600000;
    return params;
}

static bool s_forced_failure (fling_task_t *task, const params_t *params)
{
    if ((long)fling_task_attempt (task) > params->fail_attempts)
        return false;
    fling_task_set_error (task, "forced failure (attempt %u of %ld)", fling_task_attempt (task),
                          params->fail_attempts);
    return true;
}

static void s_noop (fling_task_t *task, void *arg)
{
    s_ledger ("start", task);
    s_ledger ("done", task);
    fling_task_complete (task, FLING_OK);
}

static int s_async_fired (zloop_t *loop, int timer_id, void *arg)
{
    fling_task_t *task = (fling_task_t *)arg;
    params_t params = s_params (task, 10);
    if (s_forced_failure (task, &params)) {
        fling_task_complete (task, FLING_FAIL);
        return 0;
    }
    s_ledger ("done", task);
    fling_task_complete (task, FLING_OK);
    return 0;
}

static void s_async (fling_task_t *task, void *arg)
{
    s_ledger ("start", task);
    params_t params = s_params (task, 10);
    zloop_t *loop = fling_worker_loop (fling_task_worker (task));
    if (zloop_timer (loop, (size_t)params.ms, 1, s_async_fired, task) == -1) {
        fling_task_set_error (task, "cannot arm a timer");
        fling_task_complete (task, FLING_RETRY);
    }
}

static fling_status_t s_block (fling_task_t *task, void *arg)
{
    s_ledger ("start", task);
    params_t params = s_params (task, 0);
    struct timespec left = {params.ms / 1000, (params.ms % 1000) * 1000000L};
    while ((left.tv_sec || left.tv_nsec) && nanosleep (&left, &left) == -1 && errno == EINTR)
        ;
    if (s_forced_failure (task, &params))
        return FLING_FAIL;
    s_ledger ("done", task);
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
    s_pid = (int)getpid ();
    s_ledger_fd = open (args, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (s_ledger_fd < 0) {
        fprintf (stderr, "fling_test_handlers: cannot open %s: %s\n", args, strerror (errno));
        return -1;
    }
    if (fling_worker_register_async (worker, "test.noop", s_noop, NULL) ||
        fling_worker_register_async (worker, "test.async", s_async, NULL) ||
        fling_worker_register_blocking (worker, "test.block", s_block, NULL))
        return -1;
    return 0;
}
