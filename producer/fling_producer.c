/*  fling_producer.c - the public producer API (see fling_producer.h).

    fling_send() runs in the caller's thread: validate (fling_validate),
    append to the outbox (fling_outbox), return. The I/O thread
    (fling_sender) does everything that touches the network.
*/
#include "fling_producer.h"
#include "fling_curve.h"
#include "fling_log.h"
#include "fling_outbox.h"
#include "fling_proto.h"
#include "fling_sender.h"
#include "fling_validate.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"

/* Every fling_send reads `outbox`; the counters are written only by sends
   that fail or drop. They sit on a cache line of their own so that those
   writes do not take the line the other sending threads read from. The
   `sent` count is the outbox's, kept under the lock it already takes. */
struct fling_producer {
    fling_producer_options_t options;
    fling_outbox_t *outbox;
    fling_sender_t *sender;
    _Alignas(64) _Atomic uint64_t dropped;
    _Atomic uint64_t invalid;
};

/* ---- czmq without its signal handlers ------------------------------------

    czmq 4.2.1's zsys_init() (run by the first zsock_new) installs SIGINT
    and SIGTERM handlers that only set zsys_interrupted, unless the
    environment has ZSYS_SIGHANDLER=false or zsys_handler_set(NULL) ran
    before. This library lives inside other people's services, so it calls
    zsys_handler_set(NULL) before czmq starts. If the program had already
    started czmq, that call restores the dispositions czmq saved at its
    start, which may undo a handler the program installed since; so the
    dispositions found on entry are put back exactly as they were. Either
    way the program keeps the SIGINT/SIGTERM handling it had. Once per
    process, and before our first socket, because zsys_init is not
    thread-safe. */
static pthread_once_t czmq_once = PTHREAD_ONCE_INIT;

static void czmq_start_quietly (void)
{
    struct sigaction old_int, old_term;
    sigaction (SIGINT, NULL, &old_int);
    sigaction (SIGTERM, NULL, &old_term);
    zsys_handler_set (NULL);
    sigaction (SIGINT, &old_int, NULL);
    sigaction (SIGTERM, &old_term, NULL);
    zsys_init ();
}

/* ---- options -------------------------------------------------------------- */

void fling_producer_options_init (fling_producer_options_t *options)
{
    memset (options, 0, sizeof *options);
    const char *endpoint = getenv ("FLING_PRODUCER_ENDPOINT");
    options->endpoint = endpoint && *endpoint ? endpoint : DEFAULT_ENDPOINT;
    options->outbox_max_tasks = 100000;
    options->outbox_max_bytes = 64u << 20;
    options->overflow = FLING_OVERFLOW_FAIL;
    options->batch_max_tasks = 256;
    options->batch_max_bytes = 256u << 10;
    options->batch_linger_us = 200;
    options->window_batches = 16;
    options->ack_timeout_ms = 3000;
    options->linger_ms = 5000;
    options->heartbeat_ms = 1000;
    options->curve_broker_key = getenv ("FLING_CURVE_BROKER_KEY");
    options->curve_key = getenv ("FLING_CURVE_KEY");
}

/* Zero (or NULL) in a field means its default, as in fling_send_options_t,
   so a zeroed struct with two fields set is a valid configuration. Zero
   stays zero where it has a meaning: linger_ms, batch_linger_us. */
static void fill_defaults (fling_producer_options_t *options)
{
    fling_producer_options_t defaults;
    fling_producer_options_init (&defaults);
    if (!options->endpoint)
        options->endpoint = defaults.endpoint;
    if (!options->outbox_max_tasks)
        options->outbox_max_tasks = defaults.outbox_max_tasks;
    if (!options->outbox_max_bytes)
        options->outbox_max_bytes = defaults.outbox_max_bytes;
    if (!options->batch_max_tasks)
        options->batch_max_tasks = defaults.batch_max_tasks;
    if (!options->batch_max_bytes)
        options->batch_max_bytes = defaults.batch_max_bytes;
    if (!options->window_batches)
        options->window_batches = defaults.window_batches;
    if (!options->ack_timeout_ms)
        options->ack_timeout_ms = defaults.ack_timeout_ms;
    if (!options->heartbeat_ms)
        options->heartbeat_ms = defaults.heartbeat_ms;
    if (!options->curve_broker_key)
        options->curve_broker_key = defaults.curve_broker_key;
    if (!options->curve_key)
        options->curve_key = defaults.curve_key;
}

static bool options_valid (const fling_producer_options_t *options)
{
    return (options->overflow == FLING_OVERFLOW_FAIL || options->overflow == FLING_OVERFLOW_DROP) &&
           options->batch_max_tasks <= FLING_BATCH_TASKS_MAX &&
           options->batch_max_bytes <= FLING_MSG_BYTES_MAX / 2 &&
           options->batch_linger_us <= 1000000;
}

/* 8 random bytes name this producer instance in every task id, so ids from
   two processes (or two producers in one) never collide. */
static uint64_t producer_id (void)
{
    uint64_t id = 0;
    if (getrandom (&id, sizeof id, GRND_NONBLOCK) == (ssize_t)sizeof id && id)
        return id;
    /* No getrandom (old kernel, seccomp, entropy not ready yet): mix
       what differs between instances. */
    static _Atomic uint64_t instances;
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    id = ((uint64_t)now.tv_sec << 32) ^ (uint64_t)now.tv_nsec ^ ((uint64_t)getpid () << 16) ^
         (atomic_fetch_add (&instances, 1) << 56);
    return id ? id : 1;
}

/* With CURVE the id prefix is the key's tag (the broker holds each key to
   its own), so the sequence must tell apart the instances that share a
   key: each starts at a random point below 2^62, and two instances meet
   only if one of them sends about as many tasks as lie between their
   starting points. */
static uint64_t sequence_base (void)
{
    uint64_t base = 0;
    if (getrandom (&base, sizeof base, GRND_NONBLOCK) != (ssize_t)sizeof base)
        base = producer_id () ^ (uint64_t)fling_clock_us ();
    return base >> 2;
}

/* ---- life cycle ------------------------------------------------------------ */

static fling_sender_t *start_sender (const fling_producer_options_t *options,
                                     fling_outbox_t *outbox)
{
    fling_sender_config_t config = {
        .endpoint = options->endpoint,
        .window_batches = options->window_batches,
        .ack_timeout_ms = options->ack_timeout_ms,
        .heartbeat_ms = options->heartbeat_ms,
        .batch_linger_us = options->batch_linger_us,
        .ack_fn = options->ack_fn,
        .ack_arg = options->ack_arg,
        .curve = {.broker_key = options->curve_broker_key, .key = options->curve_key},
    };
    return fling_sender_new (&config, outbox);
}

fling_producer_t *fling_producer_new (const fling_producer_options_t *options)
{
    pthread_once (&czmq_once, czmq_start_quietly);
    fling_producer_t *self = (fling_producer_t *)aligned_alloc (64, sizeof *self);
    if (!self)
        return NULL;
    memset (self, 0, sizeof *self);
    if (options)
        self->options = *options;
    fill_defaults (&self->options);
    if (!options_valid (&self->options)) {
        free (self);
        errno = EINVAL;
        return NULL;
    }
    /* The key files are read here, so a bad one fails the constructor
       with its reason rather than the I/O thread later. */
    fling_curve_client_t curve = {self->options.curve_broker_key, self->options.curve_key};
    uint64_t tag = 0;
    char error[256];
    if (fling_curve_client_apply (&curve, NULL, &tag, error, sizeof error)) {
        free (self);
        fling_set_last_error (EINVAL, error);
        return NULL;
    }
    fling_outbox_config_t config = {
        .max_tasks = self->options.outbox_max_tasks,
        .max_bytes = self->options.outbox_max_bytes,
        .overflow = self->options.overflow,
        .batch_max_tasks = self->options.batch_max_tasks,
        .batch_max_bytes = self->options.batch_max_bytes,
        .producer_id = tag ? tag : producer_id (),
        .seq_base = tag ? sequence_base () : 0,
    };
    self->outbox = fling_outbox_new (&config);
    if (self->outbox)
        self->sender = start_sender (&self->options, self->outbox);
    if (!self->sender) {
        int err = errno;
        fling_outbox_destroy (&self->outbox);
        free (self);
        errno = err;
        return NULL;
    }
    /* The strings belong to the caller; the sender has what it needs. */
    self->options.endpoint = NULL;
    self->options.curve_broker_key = self->options.curve_key = NULL;
    return self;
}

void fling_producer_destroy (fling_producer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_producer_t *self = *self_p;
    /* From here fling_send fails with FLING_ECLOSED; the outbox decides it
       under its lock, so a caller racing with destroy is ordered before the
       frees below (and destroy must still be the last call). */
    fling_outbox_close (self->outbox);
    fling_outbox_flush (self->outbox, self->options.linger_ms);
    /* Stopping the I/O thread reports whatever is still unresolved as
       dropped: linger 0 would lose it anyway. */
    fling_sender_destroy (&self->sender);
    fling_outbox_destroy (&self->outbox);
    free (self);
    *self_p = NULL;
}

/* ---- sending --------------------------------------------------------------- */

static int refuse (fling_producer_t *self, int err, const char *detail)
{
    atomic_fetch_add_explicit (&self->invalid, 1, memory_order_relaxed);
    fling_set_last_error (err, detail);
    return -1;
}

/* The options of one task into `task`: NULL, or what is wrong with them. */
static const char *task_options (const fling_send_options_t *options, fling_outbox_task_t *task)
{
    if (options->max_attempts > UINT16_MAX)
        return "max_attempts above 65535";
    if (options->at_ms < 0)
        return "at_ms before 1970";
    task->max_attempts = (uint16_t)options->max_attempts;
    task->timeout_ms = options->timeout_ms;
    task->backoff_ms = options->backoff_ms;
    fling_task_ext_t *ext = &task->ext;
    ext->delay_ms = options->delay_ms;
    ext->due_at_ms = (uint64_t)options->at_ms;
    ext->priority = options->priority > UINT8_MAX ? UINT8_MAX : (uint8_t)options->priority;
    if (options->unique_key) {
        ext->key = options->unique_key;
        ext->key_size = strnlen (options->unique_key, FLING_UNIQUE_KEY_MAX + 1);
        ext->key_ttl_ms = options->key_ttl_ms;
    } else if (options->key_ttl_ms) {
        return "key_ttl_ms without a unique_key";
    }
    return fling_task_ext_problem (ext);
}

int fling_send_ex (fling_producer_t *self, const char *name, const char *json, size_t json_size,
                   const fling_send_options_t *options, char *task_id)
{
    if (task_id)
        task_id[0] = 0;
    if (!self) {
        fling_set_last_error (EINVAL, "no producer");
        return -1;
    }
    fling_outbox_task_t task = {.name = name, .payload = json};
    if (fling_validate_task (name, json, json_size, &task.name_size, &task.payload_size)) {
        atomic_fetch_add_explicit (&self->invalid, 1, memory_order_relaxed);
        return -1;
    }
    const char *problem = options ? task_options (options, &task) : NULL;
    if (problem)
        return refuse (self, EINVAL, problem);
    fling_task_id_t id;
    int rc = fling_outbox_append (self->outbox, &task, &id);
    if (rc == 1) {
        atomic_fetch_add_explicit (&self->dropped, 1, memory_order_relaxed);
        return 0;
    }
    if (rc < 0) {
        fling_set_last_error (errno, errno == EAGAIN ? "outbox full" : NULL);
        return -1;
    }
    if (task_id)
        fling_task_id_format (&id, task_id);
    return 0;
}

int fling_send (fling_producer_t *self, const char *name, const char *json)
{
    return fling_send_ex (self, name, json, 0, NULL, NULL);
}

int fling_producer_flush (fling_producer_t *self, unsigned timeout_ms)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    return fling_outbox_flush (self->outbox, timeout_ms);
}

void fling_producer_stats (fling_producer_t *self, fling_producer_stats_t *stats)
{
    fling_sender_counts_t counts;
    fling_sender_counts (self->sender, &counts);
    stats->sent = fling_outbox_appended (self->outbox);
    stats->accepted = counts.accepted;
    stats->rejected = counts.rejected;
    stats->dropped = atomic_load_explicit (&self->dropped, memory_order_relaxed) + counts.dropped;
    stats->queued = fling_outbox_held (self->outbox);
    stats->resent = counts.resent;
    stats->invalid = atomic_load_explicit (&self->invalid, memory_order_relaxed);
    stats->handshake_failures = counts.handshake_failures;
}

int fling_producer_connected (fling_producer_t *self)
{
    return self && fling_sender_connected (self->sender) ? 1 : 0;
}

int fling_task_validate (const char *name, const char *json, size_t json_size)
{
    return fling_validate_task (name, json, json_size, NULL, NULL);
}
