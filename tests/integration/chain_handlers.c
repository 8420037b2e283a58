/*  chain_handlers.c - a handler module that sends follow-up tasks: it uses
    the worker API (it is a module of fling-worker) and the producer API
    (its handlers call fling_send), both from libfling, which fling-worker
    has loaded too. test_follow_up_tasks.py runs it against a real broker.

    Module args: the path of the worker ledger. The producer connects to
    $FLING_PRODUCER_ENDPOINT (fling_producer_options_init reads it) and
    writes its ledger, "accepted <id>" / "rejected <id> <reason>" per
    follow-up task, to "<ledger>.accepted".

    chain.block (pool thread) and chain.async (loop thread) take
    {"depth": N}: each writes "start" to the ledger, sends one follow-up
    task with depth N - 1 while N > 0 (chain.async after chain.block and
    the other way round, so both threads send), and writes "done" when the
    send was queued. Each run also checks that the producer and the worker
    share one error state with this module and its host: a send of a bad
    payload must fail with FLING_EBADJSON, and fling_last_error() (called
    here) must give that failure's detail, its position.
    If not, the task fails with the text it got, and its ledger line is
    "fail" instead of "done".

    The producer is never destroyed: there is no module teardown, and the
    test waits for every task before it stops the workers.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fling_producer.h"
#include "fling_worker.h"

static int ledger_fd = -1;
static int accepted_fd = -1;
static fling_producer_t *producer;

static void write_line (int fd, const char *line, int size)
{
    if (size > 0 && write (fd, line, (size_t)size) != size)
        fprintf (stderr, "chain_handlers: ledger write failed: %s\n", strerror (errno));
}

static void ledger (const char *event, const fling_task_t *task)
{
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %u %d %s\n", event, fling_task_id (task),
                      fling_task_attempt (task), (int)getpid (), fling_task_name (task));
    write_line (ledger_fd, line, n < (int)sizeof line ? n : -1);
}

/* On the producer's I/O thread: the follow-up task's fate. */
static void on_ack (const char *task_id, fling_ack_t ack, int err, void *arg)
{
    char line[256];
    int n = ack == FLING_ACK_ACCEPTED
                ? snprintf (line, sizeof line, "accepted %s\n", task_id)
                : snprintf (line, sizeof line, "%s %s %d\n",
                            ack == FLING_ACK_REJECTED ? "rejected" : "dropped", task_id, err);
    write_line (accepted_fd, line, n < (int)sizeof line ? n : -1);
}

static long task_depth (const fling_task_t *task)
{
    const char *at = strstr (fling_task_payload (task), "\"depth\":");
    return at ? strtol (at + 8, NULL, 10) : 0;
}

/* The whole step; returns NULL when it went well, else what went wrong. */
static const char *step (const fling_task_t *task, const char *next_name, char *why,
                         size_t why_size)
{
    /* errno alone would survive two copies of the error state; the
       detail (the syntax error's position) lives in that state. */
    if (fling_send (producer, "chain.block", "{\"depth\":\n x}") != -1 || errno != FLING_EBADJSON) {
        snprintf (why, why_size, "a bad payload was not refused with FLING_EBADJSON");
        return why;
    }
    const char *text = fling_last_error ();
    if (!strstr (text, "line 2")) {
        snprintf (why, why_size, "fling_last_error() does not describe the send: '%s'", text);
        return why;
    }
    long depth = task_depth (task);
    if (depth <= 0)
        return NULL;
    char payload[64];
    snprintf (payload, sizeof payload, "{\"depth\":%ld}", depth - 1);
    if (fling_send (producer, next_name, payload) != 0) {
        snprintf (why, why_size, "follow-up not queued: %s", fling_last_error ());
        return why;
    }
    return NULL;
}

static fling_status_t handle_block (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    char why[300];
    if (step (task, "chain.async", why, sizeof why)) {
        ledger ("fail", task);
        fling_task_set_error (task, "%s", why);
        return FLING_FAIL;
    }
    ledger ("done", task);
    return FLING_OK;
}

static void handle_async (fling_task_t *task, void *arg)
{
    ledger ("start", task);
    char why[300];
    if (step (task, "chain.block", why, sizeof why)) {
        ledger ("fail", task);
        fling_task_set_error (task, "%s", why);
        fling_task_complete (task, FLING_FAIL);
        return;
    }
    ledger ("done", task);
    fling_task_complete (task, FLING_OK);
}

int fling_module_init (fling_worker_t *worker, const char *args);

int fling_module_init (fling_worker_t *worker, const char *args)
{
    if (!args || !*args) {
        fprintf (stderr, "chain_handlers: module args must name the ledger file\n");
        return -1;
    }
    char accepted[4096];
    snprintf (accepted, sizeof accepted, "%s.accepted", args);
    ledger_fd = open (args, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    accepted_fd = open (accepted, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.ack_fn = on_ack;
    producer = ledger_fd >= 0 && accepted_fd >= 0 ? fling_producer_new (&options) : NULL;
    if (!producer) {
        fprintf (stderr, "chain_handlers: cannot start: %s\n", fling_last_error ());
        return -1;
    }
    if (fling_worker_register_blocking (worker, "chain.block", handle_block, NULL) ||
        fling_worker_register_async (worker, "chain.async", handle_async, NULL))
        return -1;
    return 0;
}
