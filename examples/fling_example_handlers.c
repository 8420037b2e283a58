/*  fling_example_handlers.c - example task handlers; start your own here.

    A handler module is a shared object that exports one function,
    fling_module_init(), in which it registers its handlers with the worker.
    The generic host loads it:

        fling-worker --module /usr/local/lib/fling/fling_example_handlers.so:/tmp/analytics.log

    (the text after ':' is handed to fling_module_init as `args`). A program
    may also link libfling (fling::worker) and call the same registration
    functions itself; nothing here depends on the host.

    Three handlers, one of each kind you will need:

    example.sleep      blocking: sleeps {"ms": N} (default 100, at most 60000).
                       Blocking handlers run on the worker's thread pool and
                       may sleep, do I/O or burn CPU; what they return is
                       the task's outcome.
    example.timer      async: finishes after {"ms": N} (default 100) on a
                       timer of the worker's event loop. Async handlers run
                       on the event loop thread and must never block; they
                       finish now or later with fling_task_complete().
    example.analytics  blocking: appends the payload as one line to a file
                       (module args, else $FLING_ANALYTICS_FILE, else
                       ./fling-analytics.log). Each pool thread opens its own
                       descriptor in a thread hook, to show how hooks give a
                       thread its own clients (a database connection, say).

    Outcomes: FLING_OK forgets the task; FLING_RETRY and FLING_FAIL run it
    again later while it has attempts left (the broker's backoff), then give
    it up. fling_task_set_error() attaches a reason, which the worker logs
    and the broker keeps. A task may run more than once (at-least-once
    delivery), so make handlers idempotent where it matters: this analytics
    file may get a line twice after a crash; a real sink would dedupe by
    fling_task_id().
*/
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_worker.h"

#define DEFAULT_MS 100
#define MAX_MS     60000

/* ---- payload ----------------------------------------------------------- */

/*  Reads the payload's "ms" member, clamped to [0, max_ms]. The payload is
    always one JSON object (producers validate it before sending), but its
    members are whatever the producer put there: check every type. */
static long payload_ms (const fling_task_t *task, long fallback, long max_ms)
{
    json_error_t error;
    json_t *root =
        json_loadb (fling_task_payload (task), fling_task_payload_size (task), 0, &error);
    json_t *value = json_object_get (root, "ms"); /* NULL-safe */
    long ms = fallback;
    if (json_is_number (value))
        ms = (long)json_number_value (value);
    json_decref (root);
    if (ms < 0)
        ms = 0;
    return ms > max_ms ? max_ms : ms;
}

/* ---- example.sleep (blocking) ------------------------------------------------ */

static fling_status_t sleep_handler (fling_task_t *task, void *arg)
{
    long ms = payload_ms (task, DEFAULT_MS, MAX_MS);
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep (&left, &left) == -1 && errno == EINTR)
        ;
    return FLING_OK;
}

/* ---- example.timer (async) ------------------------------------------------ */

static int timer_fired (zloop_t *loop, int timer_id, void *arg)
{
    fling_task_complete ((fling_task_t *)arg, FLING_OK); /* frees the task */
    return 0;                                            /* -1 would stop the worker's event loop */
}

static void timer_handler (fling_task_t *task, void *arg)
{
    long ms = payload_ms (task, DEFAULT_MS, MAX_MS);
    zloop_t *loop = fling_worker_loop (fling_task_worker (task));
    if (zloop_timer (loop, (size_t)ms, 1, timer_fired, task) == -1) {
        fling_task_set_error (task, "cannot arm a timer");
        fling_task_complete (task, FLING_RETRY);
    }
    /* Returning without completing is fine: the task stays in flight (and
       counts against the worker's async limit) until the timer fires. */
}

/* ---- example.analytics (blocking, with thread hooks) ------------------------ */

/*  What each pool thread owns: its descriptor and a line buffer, so the
    handler needs no lock and no allocation per task. */
typedef struct {
    int fd;
    char *line;
    size_t line_size;
} analytics_thread_t;

static char analytics_path[PATH_MAX];
static int analytics_slot = -1; /* fling_thread_state() slot of our hooks */

static int analytics_open (void)
{
    /* O_APPEND: every write(2) lands at the end of the file in one piece,
       so lines from threads and processes never interleave. */
    return open (analytics_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/*  Thread hooks: start runs once on each pool thread before its first
    task; what it returns is that thread's fling_thread_state(slot). */
static void *analytics_thread_start (unsigned thread_index, void *arg)
{
    analytics_thread_t *state = (analytics_thread_t *)calloc (1, sizeof *state);
    if (state)
        state->fd = analytics_open (); /* may fail: retried per task */
    return state;
}

static void analytics_thread_stop (unsigned thread_index, void *arg, void *hook_arg)
{
    analytics_thread_t *state = (analytics_thread_t *)arg;
    if (!state)
        return;
    if (state->fd >= 0)
        close (state->fd);
    free (state->line);
    free (state);
}

static fling_status_t analytics_handler (fling_task_t *task, void *arg)
{
    analytics_thread_t *state = (analytics_thread_t *)fling_thread_state (analytics_slot);
    if (!state) {
        fling_task_set_error (task, "out of memory");
        return FLING_RETRY;
    }
    if (state->fd < 0 && (state->fd = analytics_open ()) < 0) {
        fling_task_set_error (task, "cannot open %s: %s", analytics_path, strerror (errno));
        return FLING_RETRY; /* a full or read-only disk may come back */
    }
    size_t size = fling_task_payload_size (task);
    if (state->line_size < size + 1) {
        char *line = (char *)realloc (state->line, size + 1);
        if (!line) {
            fling_task_set_error (task, "out of memory");
            return FLING_RETRY;
        }
        state->line = line;
        state->line_size = size + 1;
    }
    /* JSON allows raw newlines only as whitespace between tokens (inside
       strings they are escaped), so blanking them keeps one task a line. */
    const char *payload = fling_task_payload (task);
    for (size_t i = 0; i < size; i++)
        state->line[i] = payload[i] == '\n' || payload[i] == '\r' ? ' ' : payload[i];
    state->line[size] = '\n';
    ssize_t written = write (state->fd, state->line, size + 1);
    if (written != (ssize_t)(size + 1)) {
        fling_task_set_error (task, "write to %s failed: %s", analytics_path,
                              written < 0 ? strerror (errno) : "short write");
        return FLING_FAIL;
    }
    return FLING_OK;
}

/* ---- module entry point ---------------------------------------------------- */

/* Declared through the header's typedef, so the compiler checks the signature. */
fling_module_init_fn fling_module_init __attribute__ ((visibility ("default")));

int fling_module_init (fling_worker_t *worker, const char *args)
{
    const char *path = args && *args ? args : getenv ("FLING_ANALYTICS_FILE");
    if (!path || !*path)
        path = "./fling-analytics.log";
    size_t size = strlen (path);
    if (size >= sizeof analytics_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (analytics_path, path, size + 1);

    analytics_slot =
        fling_worker_add_thread_hooks (worker, analytics_thread_start, analytics_thread_stop, NULL);
    if (analytics_slot < 0)
        return -1;
    if (fling_worker_register_blocking (worker, "example.sleep", sleep_handler, NULL) ||
        fling_worker_register_async (worker, "example.timer", timer_handler, NULL) ||
        fling_worker_register_blocking (worker, "example.analytics", analytics_handler, NULL))
        return -1; /* errno says why (EEXIST: a name is taken) */
    return 0;
}
