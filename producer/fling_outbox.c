/*  fling_outbox.c - see fling_outbox.h.

    Why a lock and not a message: fling_send() must be callable from any
    thread and must stay near a microsecond. Handing each task to the I/O
    thread as a message would cost a socket send (and a copy, and an
    allocation) per task, and a ZeroMQ socket is not thread-safe, so every
    calling thread would need its own socket to the I/O thread. Instead
    callers write the record straight into the batch the I/O thread will
    send, under this one mutex, held for a memcpy. It is the only lock in
    the library; the I/O thread's own state (its socket, the batches in
    flight) is touched by that thread alone.

    Why no wake-up is lost: a caller appends under the lock, then, if the
    append sealed a batch or made the outbox non-empty, sets `wake_pending`
    with an atomic exchange and writes the eventfd only if the flag was
    clear. The I/O thread, woken by the eventfd, first reads it, then clears
    the flag, then looks at the outbox under the lock. If a caller's
    exchange ran before the clear, its append ran before the look and is
    seen. If it ran after, it found the flag clear (or found it set by
    another caller whose write also came after the read) and the eventfd
    holds a write the thread has not consumed yet, so the thread wakes
    again. Either way the work is seen; at worst a wake-up is spurious. At
    most one write per I/O-thread cycle, and none while nothing new needs
    the thread's attention.
*/
#include "fling_outbox.h"
#include "fling_error.h"
#include "fling_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SPARE_MAX      4           /* recycled batch buffers kept */
#define FIRST_CAPACITY (64 * 1024) /* below malloc's mmap threshold */

struct _fling_batch_t {
    uint8_t *data;
    size_t size;
    size_t capacity;
    uint32_t count;
    uint64_t first_seq; /* sequence of the first task; the rest follow */
    int64_t opened_us;  /* when the first task went in */
    fling_batch_t *next;
};

struct _fling_outbox_t {
    pthread_mutex_t lock;
    pthread_cond_t resolved; /* signalled when resolved_seq moves */
    fling_outbox_config_t config;
    fling_batch_t *open;        /* callers append here */
    fling_batch_t *sealed_head; /* full batches waiting for the I/O thread */
    fling_batch_t *sealed_tail;
    fling_batch_t *spare; /* freed batches, kept to avoid malloc */
    size_t spare_count;
    size_t queued_tasks;         /* in open + sealed */
    size_t held_bytes;           /* record bytes from append to resolve */
    _Atomic uint64_t held_tasks; /* tasks from append to resolve */
    uint64_t last_seq;           /* last task sequence handed out */
    uint64_t resolved_seq;       /* every task up to this one is resolved */
    bool closed;
    int wake_fd;
    atomic_bool wake_pending;
};

/* ---- batches ------------------------------------------------------------ */

static void batch_free (fling_batch_t *batch)
{
    if (batch) {
        free (batch->data);
        free (batch);
    }
}

static void batch_list_free (fling_batch_t *batch)
{
    while (batch) {
        fling_batch_t *next = batch->next;
        batch_free (batch);
        batch = next;
    }
}

/* A recycled batch or a new one. Called with the lock held. */
static fling_batch_t *batch_get (fling_outbox_t *self)
{
    fling_batch_t *batch = self->spare;
    if (batch) {
        self->spare = batch->next;
        self->spare_count--;
        batch->next = NULL;
        return batch;
    }
    batch = (fling_batch_t *)calloc (1, sizeof *batch);
    if (!batch)
        return NULL;
    batch->capacity = self->config.batch_max_bytes < FIRST_CAPACITY ? self->config.batch_max_bytes
                                                                    : FIRST_CAPACITY;
    batch->data = (uint8_t *)malloc (batch->capacity);
    if (!batch->data) {
        free (batch);
        return NULL;
    }
    return batch;
}

static int batch_reserve (fling_batch_t *batch, size_t more)
{
    if (batch->size + more <= batch->capacity)
        return 0;
    size_t capacity = batch->capacity * 2;
    if (capacity < batch->size + more)
        capacity = batch->size + more;
    uint8_t *data = (uint8_t *)realloc (batch->data, capacity);
    if (!data)
        return -1;
    batch->data = data;
    batch->capacity = capacity;
    return 0;
}

/* Keeps a few buffers of ordinary size; an outsized one (a 1 MiB task) goes. */
static void batch_recycle (fling_outbox_t *self, fling_batch_t *batch)
{
    size_t keep = self->config.batch_max_bytes > FIRST_CAPACITY ? self->config.batch_max_bytes
                                                                : FIRST_CAPACITY;
    if (self->spare_count >= SPARE_MAX || batch->capacity > keep) {
        batch_free (batch);
        return;
    }
    batch->size = 0;
    batch->count = 0;
    batch->next = self->spare;
    self->spare = batch;
    self->spare_count++;
}

/* ---- outbox ------------------------------------------------------------- */

fling_outbox_t *fling_outbox_new (const fling_outbox_config_t *config)
{
    if (!config || !config->max_tasks || !config->max_bytes || !config->batch_max_tasks ||
        config->batch_max_tasks > FLING_BATCH_TASKS_MAX || !config->batch_max_bytes) {
        errno = EINVAL;
        return NULL;
    }
    fling_outbox_t *self = (fling_outbox_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wake_fd < 0) {
        free (self);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->resolved, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&self->lock, NULL);
    atomic_init (&self->held_tasks, 0);
    atomic_init (&self->wake_pending, false);
    return self;
}

void fling_outbox_destroy (fling_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_outbox_t *self = *self_p;
    batch_free (self->open);
    batch_list_free (self->sealed_head);
    batch_list_free (self->spare);
    close (self->wake_fd);
    pthread_cond_destroy (&self->resolved);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static void wake (fling_outbox_t *self)
{
    if (atomic_exchange (&self->wake_pending, true))
        return;
    uint64_t one = 1;
    /* Fails only if the counter would overflow 2^64-2: never. */
    if (write (self->wake_fd, &one, sizeof one) < 0)
        return;
}

/* Moves the open batch to the sealed list. Called with the lock held. */
static void seal (fling_outbox_t *self)
{
    fling_batch_t *batch = self->open;
    self->open = NULL;
    if (self->sealed_tail)
        self->sealed_tail->next = batch;
    else
        self->sealed_head = batch;
    self->sealed_tail = batch;
}

static bool is_full (fling_outbox_t *self, size_t record_size)
{
    uint64_t held = atomic_load_explicit (&self->held_tasks, memory_order_relaxed);
    return held >= self->config.max_tasks ||
           self->held_bytes + record_size > self->config.max_bytes;
}

/* Writes the record into the open batch. Called with the lock held; sets
   *wake_needed when the I/O thread has new work to hear about. Returns -1
   when out of memory. */
static int append_locked (fling_outbox_t *self, const fling_outbox_task_t *task, size_t record_size,
                          fling_task_id_t *id, bool *wake_needed)
{
    fling_batch_t *batch = self->open;
    if (batch && batch->count && batch->size + record_size > self->config.batch_max_bytes) {
        seal (self);
        *wake_needed = true;
        batch = NULL;
    }
    if (!batch && !(batch = self->open = batch_get (self)))
        return -1;
    if (batch_reserve (batch, record_size))
        return -1;
    uint64_t seq = ++self->last_seq;
    fling_task_id_make (id, self->config.producer_id, seq);
    batch->size += fling_record_write (batch->data + batch->size, id, 0, task->max_attempts,
                                       task->timeout_ms, task->backoff_ms, task->name,
                                       task->name_size, task->payload, task->payload_size);
    if (batch->count++ == 0) {
        batch->first_seq = seq;
        batch->opened_us = fling_clock_us ();
    }
    if (self->queued_tasks++ == 0)
        *wake_needed = true;
    self->held_bytes += record_size;
    atomic_fetch_add_explicit (&self->held_tasks, 1, memory_order_relaxed);
    if (batch->count >= self->config.batch_max_tasks ||
        batch->size >= self->config.batch_max_bytes) {
        seal (self);
        *wake_needed = true;
    }
    return 0;
}

int fling_outbox_append (fling_outbox_t *self, const fling_outbox_task_t *task, fling_task_id_t *id)
{
    size_t record_size = fling_record_size (task->name_size, task->payload_size);
    fling_task_id_t local_id;
    bool wake_needed = false;
    int rc;
    pthread_mutex_lock (&self->lock);
    if (self->closed) {
        errno = FLING_ECLOSED;
        rc = -1;
    } else if (is_full (self, record_size)) {
        errno = EAGAIN;
        rc = self->config.overflow == FLING_OVERFLOW_DROP ? 1 : -1;
    } else {
        rc = append_locked (self, task, record_size, id ? id : &local_id, &wake_needed);
        if (rc)
            errno = ENOMEM;
    }
    pthread_mutex_unlock (&self->lock);
    if (wake_needed)
        wake (self);
    return rc;
}

void fling_outbox_close (fling_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    pthread_mutex_unlock (&self->lock);
}

fling_batch_t *fling_outbox_take (fling_outbox_t *self, int64_t now_us, int64_t linger_us,
                                  int64_t *due_us)
{
    fling_batch_t *batch = NULL;
    int64_t due = -1;
    pthread_mutex_lock (&self->lock);
    if (self->sealed_head) {
        batch = self->sealed_head;
        self->sealed_head = batch->next;
        if (!self->sealed_head)
            self->sealed_tail = NULL;
        batch->next = NULL;
    } else if (self->open && self->open->count && linger_us >= 0) {
        if (now_us - self->open->opened_us >= linger_us) {
            batch = self->open;
            self->open = NULL;
        } else {
            due = self->open->opened_us + linger_us;
        }
    }
    if (batch)
        self->queued_tasks -= batch->count;
    pthread_mutex_unlock (&self->lock);
    if (due_us)
        *due_us = due;
    return batch;
}

void fling_outbox_resolve (fling_outbox_t *self, fling_batch_t **batch_p,
                           uint64_t unresolved_min_seq)
{
    if (!batch_p || !*batch_p)
        return;
    fling_batch_t *batch = *batch_p;
    *batch_p = NULL;
    pthread_mutex_lock (&self->lock);
    self->held_bytes -= batch->size;
    atomic_fetch_sub_explicit (&self->held_tasks, batch->count, memory_order_relaxed);
    /* Batches hold consecutive sequences and leave in order, so the lowest
       first sequence still held anywhere bounds what is resolved. */
    uint64_t lowest = unresolved_min_seq;
    if (self->sealed_head && self->sealed_head->first_seq < lowest)
        lowest = self->sealed_head->first_seq;
    if (self->open && self->open->count && self->open->first_seq < lowest)
        lowest = self->open->first_seq;
    if (self->last_seq + 1 < lowest)
        lowest = self->last_seq + 1;
    if (lowest - 1 > self->resolved_seq)
        self->resolved_seq = lowest - 1;
    batch_recycle (self, batch);
    pthread_cond_broadcast (&self->resolved);
    pthread_mutex_unlock (&self->lock);
}

int fling_outbox_flush (fling_outbox_t *self, unsigned timeout_ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    uint64_t target = self->last_seq;
    while (self->resolved_seq < target) {
        if (pthread_cond_timedwait (&self->resolved, &self->lock, &deadline) == ETIMEDOUT)
            break;
    }
    bool done = self->resolved_seq >= target;
    pthread_mutex_unlock (&self->lock);
    if (!done) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

uint64_t fling_outbox_held (fling_outbox_t *self)
{
    return atomic_load_explicit (&self->held_tasks, memory_order_relaxed);
}

int fling_outbox_wake_fd (fling_outbox_t *self)
{
    return self->wake_fd;
}

void fling_outbox_wake_clear (fling_outbox_t *self)
{
    uint64_t value;
    if (read (self->wake_fd, &value, sizeof value) < 0) {
        /* EAGAIN: nothing to consume; the flag is cleared all the same. */
    }
    atomic_store (&self->wake_pending, false);
}

void fling_outbox_wake_force (fling_outbox_t *self)
{
    uint64_t one = 1;
    if (write (self->wake_fd, &one, sizeof one) < 0)
        return;
}

const uint8_t *fling_batch_data (const fling_batch_t *batch)
{
    return batch->data;
}

size_t fling_batch_size (const fling_batch_t *batch)
{
    return batch->size;
}

uint32_t fling_batch_count (const fling_batch_t *batch)
{
    return batch->count;
}

uint64_t fling_batch_first_seq (const fling_batch_t *batch)
{
    return batch->first_seq;
}
