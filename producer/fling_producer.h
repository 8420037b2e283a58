/*  fling_producer.h - send background tasks to a fling broker.

    A producer owns one background I/O thread (a plain pthread, woken by an
    eventfd: fling_sender.c says why not a czmq actor) that holds the
    ZeroMQ socket, batches tasks on the wire, resends what the broker has
    not acknowledged and keeps a bounded outbox while the broker is slow or
    away. fling_send() validates the task in the caller's thread, appends it
    to the outbox and returns: it never waits for the network.

    Thread safety: every function taking a fling_producer_t may be called
    from any number of threads at once, except fling_producer_destroy(),
    which must be the last call.

    Signals: the library never installs signal handlers (it sets czmq's
    ZSYS_SIGHANDLER off before czmq starts, unless the program already
    initialised czmq itself).

    Errors: functions return 0 or -1 with errno set, or NULL with errno set.
    fling_strerror(errno) and fling_last_error() give readable text.
*/
#ifndef FLING_PRODUCER_H_INCLUDED
#define FLING_PRODUCER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "fling_api.h" /* FLING_TASK_ID_TEXT_SIZE */
#include "fling_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_producer fling_producer_t;

/*  What to do when the outbox is full. */
typedef enum {
    FLING_OVERFLOW_FAIL = 0, /* fling_send returns -1, errno EAGAIN (default) */
    FLING_OVERFLOW_DROP = 1  /* fling_send returns 0 and counts the task as dropped */
} fling_overflow_t;

/*  Per-task outcome, reported to the optional ack callback. A broker that
    answers UNAVAILABLE (its store failed, or it is shutting down) has not
    refused the task: its fate is unknown, so the producer keeps it and
    sends it again, with the same id, until a broker accepts or refuses it
    (a copy the broker kept after all is answered DUPLICATE, stored once). */
typedef enum {
    FLING_ACK_ACCEPTED = 0, /* broker stored the task (or had it already) */
    FLING_ACK_REJECTED = 1, /* broker refused it; `err` says why */
    FLING_ACK_DROPPED = 2,  /* never delivered: destroyed before the broker accepted it */
    /* The task had a unique key (fling_send_options_t.unique_key) that another
       task holds (proto/SPEC.md §6.8): the broker did not store this one and
       it will not run. Counted as accepted (the key's work is held). */
    FLING_ACK_DUPLICATE = 3
} fling_ack_t;

/*  Called on the producer's I/O thread, once per task, when its fate is
    known. `task_id` is the text id fling_send_ex returned. `err` is 0 or a
    fling code (FLING_EQUEUEFULL...). Must be quick and must not call back
    into this producer. */
typedef void (fling_ack_fn) (const char *task_id, fling_ack_t ack, int err, void *arg);

typedef struct {
    const char *endpoint;      /* broker's producer endpoint; default
                                  $FLING_PRODUCER_ENDPOINT or tcp://127.0.0.1:5555 */
    size_t outbox_max_tasks;   /* tasks held (queued + unacknowledged); default 100000 */
    size_t outbox_max_bytes;   /* bytes held; default 64 MiB */
    fling_overflow_t overflow; /* default FLING_OVERFLOW_FAIL */
    size_t batch_max_tasks;    /* tasks per SUBMIT; default 256 */
    size_t batch_max_bytes;    /* bytes per SUBMIT; default 256 KiB */
    unsigned batch_linger_us;  /* wait this long to fill a batch; default 200 */
    unsigned window_batches;   /* unacknowledged batches in flight; default 16 */
    unsigned ack_timeout_ms;   /* resend a batch not acknowledged in this; default 3000 */
    unsigned linger_ms;        /* destroy waits this long to flush; default 5000 */
    unsigned heartbeat_ms;     /* PING interval; default 1000 */
    fling_ack_fn *ack_fn;      /* optional per-task outcome callback */
    void *ack_arg;
    /* CurveZMQ (SECURITY.md): both set = CURVE on; "" = off even if the
       environment says otherwise. Read once, by fling_producer_new. */
    const char *curve_broker_key; /* the broker's .pub file or its Z85 public key;
                                     default $FLING_CURVE_BROKER_KEY */
    const char *curve_key;        /* this producer's NAME.secret file (private: mode
                                     0600); default $FLING_CURVE_KEY */
} fling_producer_options_t;

/*  Fills `options` with the defaults. */
FLING_EXPORT void fling_producer_options_init (fling_producer_options_t *options);

/*  Creates a producer and its I/O thread. `options` may be NULL for the
    defaults. The broker need not be up: tasks wait in the outbox until it
    is. Returns NULL with errno on failure (EINVAL for a bad option). */
FLING_EXPORT fling_producer_t *fling_producer_new (const fling_producer_options_t *options);

/*  Waits up to the linger time for the outbox to be accepted, stops the I/O
    thread, frees everything, and sets *self_p to NULL. Tasks still not
    accepted are reported FLING_ACK_DROPPED and counted as dropped. */
FLING_EXPORT void fling_producer_destroy (fling_producer_t **self_p);

/*  Sends a task. `name`: 1-127 bytes of [A-Za-z0-9._:-]. `json`: one JSON
    object (NUL-terminated), at most 1 MiB, no duplicate keys, nesting at
    most 64 deep. Returns 0 when the task is in the outbox, or -1 with
    errno: FLING_EBADNAME, FLING_EBADJSON, FLING_ETOOLARGE (invalid task;
    nothing leaves the process), EAGAIN (outbox full, policy FAIL),
    FLING_ECLOSED. Never blocks on the network. */
FLING_EXPORT int fling_send (fling_producer_t *self, const char *name, const char *json);

/*  Per-task options for fling_send_ex. Zero means "the queue's default".

    The fields after backoff_ms (proto/SPEC.md §3.6, §6.8) need a broker
    that speaks FLP/1.2; a task that uses any of them travels in a batch of
    its own kind, and a broker that does not speak FLP/1.2 refuses it
    (ack FLING_ACK_REJECTED, err FLING_EVERSION) without running it. Tasks
    that use none of them are sent as before. */
typedef struct {
    unsigned max_attempts;
    unsigned timeout_ms;
    unsigned backoff_ms;
    unsigned delay_ms;      /* hold the task this long after the broker accepts it */
    int64_t at_ms;          /* or until this UTC time, ms since the epoch (not with delay_ms) */
    unsigned priority;      /* 0..9 within its task name, 9 served first; 0 = default */
    const char *unique_key; /* 1-128 bytes of printable ASCII, no space: while a task with
                               this key (and this name) is held, and key_ttl_ms after it
                               ended, another one is answered DUPLICATE and never runs */
    unsigned key_ttl_ms;
} fling_send_options_t;

/*  As fling_send, with per-task options (may be NULL) and the task's id
    written into `task_id` (may be NULL; room for FLING_TASK_ID_TEXT_SIZE
    bytes). */
FLING_EXPORT int fling_send_ex (fling_producer_t *self, const char *name, const char *json,
                                size_t json_size, const fling_send_options_t *options,
                                char *task_id);

/*  Waits until every task sent before this call was accepted or rejected by
    the broker. Returns 0, or -1 with errno ETIMEDOUT. */
FLING_EXPORT int fling_producer_flush (fling_producer_t *self, unsigned timeout_ms);

typedef struct {
    uint64_t sent;               /* fling_send calls that returned 0 (dropped ones excluded) */
    uint64_t accepted;           /* tasks the broker accepted */
    uint64_t rejected;           /* tasks the broker refused */
    uint64_t dropped;            /* tasks dropped by the overflow policy or at destroy */
    uint64_t queued;             /* tasks in the outbox now, unacknowledged included */
    uint64_t resent;             /* batches sent again after a timeout or reconnect */
    uint64_t invalid;            /* fling_send calls refused by validation */
    uint64_t handshake_failures; /* CURVE handshakes the broker refused (key not
                                    allowed) or that failed (wrong broker key) */
} fling_producer_stats_t;

/*  Copies the counters. Cheap; safe from any thread. */
FLING_EXPORT void fling_producer_stats (fling_producer_t *self, fling_producer_stats_t *stats);

/*  True (1) when the I/O thread currently hears from the broker. */
FLING_EXPORT int fling_producer_connected (fling_producer_t *self);

/*  Validates a task without sending it: 0, or -1 with errno as fling_send. */
FLING_EXPORT int fling_task_validate (const char *name, const char *json, size_t json_size);

#ifdef __cplusplus
}
#endif

#endif
