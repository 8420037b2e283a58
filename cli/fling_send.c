/*  fling_send.c - `fling send`: tasks through the producer library.

    The broker's verdict on each task arrives in the producer's ack callback,
    on its I/O thread. fling_producer_flush() tells when the outbox is empty,
    but not that every callback has already run, so the main thread waits on
    a condition variable for the callbacks to catch up before it reports.

    With --json, each verdict is also printed as one JSON line on stdout as
    it arrives (for scripts that pipe tasks in and must know which ones the
    broker holds): {"line":N,"id":ID,"status":S[,"error":CODE,"message":M]}.
    The callback sees only the task id, so the main thread records id ->
    input line number under the same lock before the callback can look it up.
*/
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>
#include <jansson.h>

#include "fling_cli.h"
#include "fling_log.h"
#include "fling_proto.h"

#define DEFAULT_TIMEOUT_MS    5000
#define ACK_GRACE_MS          500 /* callbacks may trail the flush a little */
#define PRODUCER_LINGER_MS    100 /* we flush ourselves; destroy need not wait */
#define OUTBOX_RETRY_SLEEP_US 1000

/* Shared between the I/O thread (callback) and the main thread: a lock and a
   condition are the simplest correct tool for "wait until N verdicts". */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t accepted, rejected, dropped;
    uint64_t duplicates;   /* of accepted: keyed tasks whose key another task holds */
    bool print_rejections; /* stdin mode: report each one as it comes */
    int last_err;          /* single mode: why the task was rejected */
    zhashx_t *lines;       /* --json: task id -> input line number; else NULL */
    bool lines_closed;     /* --json: every line printed; later callbacks are quiet */
} verdicts_t;

/* Stable, machine-readable names for the codes a verdict can carry. */
static const char *error_code (int err)
{
    switch (err) {
    case FLING_EBADNAME:
        return "BAD_NAME";
    case FLING_EBADJSON:
        return "BAD_JSON";
    case FLING_ETOOLARGE:
        return "TOO_LARGE";
    case FLING_EQUEUEFULL:
        return "QUEUE_FULL";
    case FLING_ESTOREFULL:
        return "STORE_FULL";
    case FLING_EUNAVAILABLE:
        return "UNAVAILABLE";
    case FLING_EPROTO:
        return "PROTOCOL";
    case FLING_ECLOSED:
        return "CLOSED";
    case FLING_EVERSION:
        return "BAD_VERSION";
    case FLING_EFORBIDDEN:
        return "FORBIDDEN";
    case FLING_EBADTASK:
        return "BAD_TASK";
    default:
        return "OTHER";
    }
}

/* One JSON line on stdout; `id` may be NULL (an invalid input line), `err`
   0 for an accepted task. Flushed at once: the reader may be waiting on it. */
static void print_verdict_line (unsigned long line, const char *id, const char *status, int err,
                                const char *message)
{
    json_t *out = json_pack ("{s:I,s:s}", "line", (json_int_t)line, "status", status);
    if (!out)
        return;
    if (id)
        json_object_set_new (out, "id", json_string (id));
    if (err) {
        json_object_set_new (out, "error", json_string (error_code (err)));
        json_object_set_new (out, "message", json_string (message));
    }
    json_dumpf (out, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (out);
    fputc ('\n', stdout);
    fflush (stdout);
}

static const char *verdict_status (fling_ack_t ack)
{
    return ack == FLING_ACK_ACCEPTED    ? "accepted"
           : ack == FLING_ACK_DUPLICATE ? "duplicate"
           : ack == FLING_ACK_REJECTED  ? "rejected"
                                        : "dropped";
}

static void on_ack (const char *task_id, fling_ack_t ack, int err, void *arg)
{
    verdicts_t *v = (verdicts_t *)arg;
    pthread_mutex_lock (&v->lock);
    if (ack == FLING_ACK_ACCEPTED || ack == FLING_ACK_DUPLICATE) {
        v->accepted++;
        v->duplicates += ack == FLING_ACK_DUPLICATE;
    } else if (ack == FLING_ACK_REJECTED) {
        v->rejected++;
        v->last_err = err;
        if (v->print_rejections)
            fprintf (stderr, "fling: task %s rejected: %s\n", task_id, fling_strerror (err));
    } else
        v->dropped++;
    if (v->lines && !v->lines_closed) {
        unsigned long line = (unsigned long)(uintptr_t)zhashx_lookup (v->lines, task_id);
        zhashx_delete (v->lines, task_id);
        print_verdict_line (line, task_id, verdict_status (ack),
                            ack == FLING_ACK_REJECTED ? err : 0, fling_strerror (err));
    }
    pthread_cond_broadcast (&v->changed);
    pthread_mutex_unlock (&v->lock);
}

static int verdicts_init (verdicts_t *v, bool print_rejections, bool json_lines)
{
    memset (v, 0, sizeof *v);
    v->print_rejections = print_rejections;
    if (json_lines && !(v->lines = zhashx_new ()))
        return -1;
    pthread_condattr_t attr;
    if (pthread_condattr_init (&attr) || pthread_condattr_setclock (&attr, CLOCK_MONOTONIC))
        return -1;
    int rc = pthread_cond_init (&v->changed, &attr) || pthread_mutex_init (&v->lock, NULL);
    pthread_condattr_destroy (&attr);
    return rc ? -1 : 0;
}

static void verdicts_fini (verdicts_t *v)
{
    zhashx_destroy (&v->lines);
    pthread_cond_destroy (&v->changed);
    pthread_mutex_destroy (&v->lock);
}

/* Waits up to `wait_ms` until `expected` tasks have a verdict; copies them. */
static void verdicts_wait (verdicts_t *v, uint64_t expected, unsigned wait_ms, verdicts_t *copy)
{
    struct timespec deadline = fling_clock_deadline (wait_ms);
    pthread_mutex_lock (&v->lock);
    while (v->accepted + v->rejected + v->dropped < expected)
        if (pthread_cond_timedwait (&v->changed, &v->lock, &deadline) == ETIMEDOUT)
            break;
    copy->accepted = v->accepted;
    copy->rejected = v->rejected;
    copy->dropped = v->dropped;
    copy->duplicates = v->duplicates;
    copy->last_err = v->last_err;
    pthread_mutex_unlock (&v->lock);
}

static fling_producer_t *start_producer (const fling_cli_t *cli, verdicts_t *v)
{
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = cli->endpoint;
    options.curve_broker_key = cli->curve.broker_key;
    options.curve_key = cli->curve.key;
    options.linger_ms = PRODUCER_LINGER_MS;
    options.ack_fn = on_ack;
    options.ack_arg = v;
    fling_producer_t *producer = fling_producer_new (&options);
    if (!producer)
        fprintf (stderr, "fling: cannot start the producer: %s\n", fling_last_error ());
    return producer;
}

/* fling_send_ex(), recording the task's input line for --json under the
   verdict lock, so that its verdict cannot be printed before it is known. */
static int send_task (verdicts_t *v, fling_producer_t *producer, const char *name, const char *json,
                      size_t json_size, const fling_send_options_t *options, unsigned long line,
                      char *id)
{
    if (v->lines)
        pthread_mutex_lock (&v->lock);
    int rc = fling_send_ex (producer, name, json, json_size, options, id);
    int err = errno;
    if (rc == 0 && v->lines && id[0])
        zhashx_insert (v->lines, id, (void *)(uintptr_t)line);
    if (v->lines)
        pthread_mutex_unlock (&v->lock);
    errno = err;
    return rc;
}

/* --json: a line for an input line that never reached the broker. */
static void print_unsent (verdicts_t *v, unsigned long line, const char *status, int err,
                          const char *message)
{
    if (!v->lines)
        return;
    pthread_mutex_lock (&v->lock);
    print_verdict_line (line, NULL, status, err, message);
    pthread_mutex_unlock (&v->lock);
}

/* --json: a line for every task still without a verdict after the wait.
   Its fate is unknown (the broker may hold it), so the producer's "dropped"
   verdicts that follow at destroy are not printed: one line per task. */
static void print_unconfirmed (verdicts_t *v)
{
    if (!v->lines)
        return;
    pthread_mutex_lock (&v->lock);
    for (void *line = zhashx_first (v->lines); line; line = zhashx_next (v->lines))
        print_verdict_line ((unsigned long)(uintptr_t)line, (const char *)zhashx_cursor (v->lines),
                            "unconfirmed", 0, NULL);
    v->lines_closed = true;
    pthread_mutex_unlock (&v->lock);
}

static bool is_invalid (int err)
{
    return err == FLING_EBADNAME || err == FLING_EBADJSON || err == FLING_ETOOLARGE ||
           err == EINVAL; /* EINVAL: the task's options (fling_send_ex) */
}

static unsigned timeout_of (const fling_cli_t *cli)
{
    return cli->timeout_ms ? cli->timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* Checks the task (for stdin: the name, with an empty payload) before
   anything starts, then starts a producer whose verdicts land in *v.
   NULL after saying why. */
static fling_producer_t *start_session (const fling_cli_t *cli, const char *name, const char *json,
                                        bool print_rejections, verdicts_t *v)
{
    if (fling_task_validate (name, json, strlen (json))) {
        fprintf (stderr, "fling: invalid task: %s\n", fling_last_error ());
        return NULL;
    }
    if (verdicts_init (v, print_rejections, cli->json)) {
        fprintf (stderr, "fling: cannot initialise: %s\n", strerror (errno));
        return NULL;
    }
    fling_producer_t *producer = start_producer (cli, v);
    if (!producer)
        verdicts_fini (v);
    return producer;
}

/* ---- one task from the command line -------------------------------------- */

static int send_one (const fling_cli_t *cli, const char *name, const char *json)
{
    verdicts_t v, got;
    fling_producer_t *producer = start_session (cli, name, json, false, &v);
    if (!producer)
        return FLING_CLI_EXIT_FAIL;
    char id[FLING_TASK_ID_TEXT_SIZE] = "";
    int rc = FLING_CLI_EXIT_FAIL;
    if (send_task (&v, producer, name, json, strlen (json), &cli->send, 1, id)) {
        int err = errno;
        fprintf (stderr, "fling: %s: %s\n", is_invalid (err) ? "invalid task" : "send failed",
                 is_invalid (err) ? fling_last_error () : fling_strerror (err));
        goto done;
    }
    fling_producer_flush (producer, timeout_of (cli));
    verdicts_wait (&v, 1, ACK_GRACE_MS, &got);
    print_unconfirmed (&v);
    if (got.accepted) {
        if (!cli->json)
            printf ("%s\n", id);
        if (got.duplicates)
            fprintf (stderr,
                     "fling: task %s not stored: another task holds its unique key (it runs "
                     "once, as that task)\n",
                     id);
        rc = FLING_CLI_EXIT_OK;
    } else if (got.rejected)
        fprintf (stderr, "fling: task %s rejected by the broker: %s\n", id,
                 fling_strerror (got.last_err));
    else
        fprintf (stderr, "fling: task %s not confirmed by the broker at %s within %u ms\n", id,
                 cli->endpoint, timeout_of (cli));
done:
    fling_producer_destroy (&producer);
    verdicts_fini (&v);
    return rc;
}

/* ---- one task per line of stdin ------------------------------------------- */

typedef struct {
    uint64_t sent, invalid;
    bool aborted; /* stopped reading early: outbox stuck or producer closed */
} line_counts_t;

static bool blank (const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return false;
    return true;
}

/* Sends one line; waits out a full outbox for up to the timeout. */
static void send_line (const fling_cli_t *cli, verdicts_t *v, fling_producer_t *producer,
                       const char *name, char *line, size_t len, unsigned long number,
                       line_counts_t *counts)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (blank (line, len))
        return;
    struct timespec pause = {0, OUTBOX_RETRY_SLEEP_US * 1000L};
    for (unsigned waited_us = 0;; waited_us += OUTBOX_RETRY_SLEEP_US) {
        char id[FLING_TASK_ID_TEXT_SIZE];
        if (send_task (v, producer, name, line, len, &cli->send, number, id) == 0) {
            counts->sent++;
            return;
        }
        int err = errno;
        if (is_invalid (err)) {
            fprintf (stderr, "fling: line %lu: invalid task: %s\n", number, fling_last_error ());
            print_unsent (v, number, "invalid", err, fling_last_error ());
            counts->invalid++;
            return;
        }
        if (err != EAGAIN || waited_us / 1000 >= timeout_of (cli)) {
            fprintf (stderr, "fling: line %lu: %s; stopping (is the broker at %s up?)\n", number,
                     fling_strerror (err), cli->endpoint);
            print_unsent (v, number, "unsent", err, fling_strerror (err));
            counts->aborted = true;
            return;
        }
        nanosleep (&pause, NULL);
    }
}

static int send_lines (const fling_cli_t *cli, const char *name)
{
    verdicts_t v, got;
    fling_producer_t *producer = start_session (cli, name, "{}", true, &v);
    if (!producer)
        return FLING_CLI_EXIT_FAIL;
    line_counts_t counts = {0, 0, false};
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    for (unsigned long number = 1;
         !counts.aborted && (len = getline (&line, &capacity, stdin)) >= 0; number++)
        send_line (cli, &v, producer, name, line, (size_t)len, number, &counts);
    free (line);
    if (ferror (stdin)) {
        fprintf (stderr, "fling: reading stdin: %s\n", strerror (errno));
        counts.aborted = true;
    }
    fling_producer_flush (producer, timeout_of (cli));
    verdicts_wait (&v, counts.sent, ACK_GRACE_MS, &got);
    print_unconfirmed (&v);
    uint64_t unconfirmed = counts.sent - got.accepted - got.rejected;
    fprintf (stderr, "sent=%llu accepted=%llu rejected=%llu invalid=%llu",
             (unsigned long long)counts.sent, (unsigned long long)got.accepted,
             (unsigned long long)got.rejected, (unsigned long long)counts.invalid);
    if (got.duplicates)
        fprintf (stderr, " duplicate=%llu", (unsigned long long)got.duplicates);
    if (unconfirmed)
        fprintf (stderr, " unconfirmed=%llu", (unsigned long long)unconfirmed);
    fprintf (stderr, "\n");
    if (unconfirmed)
        fprintf (stderr, "fling: %llu task(s) not confirmed by the broker at %s within %u ms\n",
                 (unsigned long long)unconfirmed, cli->endpoint, timeout_of (cli));
    fling_producer_destroy (&producer);
    verdicts_fini (&v);
    bool ok = !counts.aborted && !counts.invalid && !got.rejected && !unconfirmed;
    return ok ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}

int fling_cli_send (const fling_cli_t *cli, const char *name, const char *json)
{
    return json ? send_one (cli, name, json) : send_lines (cli, name);
}
