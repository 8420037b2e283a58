/*  fling_outbox.c - see fling_outbox.h.

    Why a lock and not a message: fling_send() must be callable from any
    thread and must stay near a microsecond. Handing each task to the I/O
    thread as a message would cost a socket send (and a copy, and an
    allocation) per task, and a ZeroMQ socket is not thread-safe, so every
    calling thread would need its own socket to the I/O thread. Instead
    callers write the record straight into the batch the I/O thread will
    send. Under this one mutex a caller only reserves its place (the bytes
    and the sequence number); it writes the record after letting go, and
    then counts it in the batch's `written`. The I/O thread, having taken a
    batch, waits until `written` reaches the batch's count before it reads
    a byte (writers finish within a memcpy, unless preempted). It is the
    only lock in the library; the I/O thread's own state (its socket, the
    batches in flight) is touched by that thread alone.

    Why no wake-up is lost: a caller reserves under the lock and writes its
    record, then, if the reservation sealed a batch or made the outbox
    non-empty, sets `wake_pending` with an atomic exchange and writes the
    eventfd only if the flag was clear. The I/O thread, woken by the
    eventfd, first reads it, then clears the flag, then looks at the outbox
    under the lock (and waits for the writers of what it takes). If a
    caller's exchange ran before the clear, its reservation ran before the
    look and is seen. If it ran after, it found the flag clear (or found it set by
    another caller whose write also came after the read) and the eventfd
    holds a write the thread has not consumed yet, so the thread wakes
    again. Either way the work is seen; at worst a wake-up is spurious. At
    most one write per I/O-thread cycle, and none while nothing new needs
    the thread's attention.

    Keeping the lock cheap when several threads send at once (measured on
    2 cores: 4 sending threads made 30 times more futex calls than one):
    - The lock is a plain mutex. An adaptive one (spin, then sleep) cut the
      futex calls tenfold and the 4-thread p99.9 latency, but made every
      uncontended fling_send ~30 ns slower (glibc takes it off the fast
      path), so appends spin with trylock instead (lock_for_append): the
      same effect on the tail, nothing on the uncontended path.
    - A full outbox is refused without the lock. `held_tasks`, `held_bytes`
      and `closed` have atomic mirrors, written under the lock, that a
      caller reads first; only when they say "room" (or "closed") does it
      take the lock and decide for certain. So callers retrying on EAGAIN do not
      queue up on the lock the I/O thread needs to make room.
    - Batch buffers are recycled, and a new one is allocated and its pages
      touched outside the lock: a fresh 64 KiB buffer is 16 page faults,
      which under the lock stall every other caller.
    - What the lock guards sits together; the counters others read
      lock-free are written with plain stores under the lock (one writer at
      a time), not read-modify-write instructions.
    - The record is encoded and copied outside the lock (reserve, then
      write): with 4 threads on 2 cores the 150-byte copy into cache lines
      another core wrote last made the lock the place where the senders
      queued (futex waits and wakes were 30% of their time).
    - A batch buffer never moves under a writer: a record that does not
      fit in the open batch's buffer grows it only when every reserved
      record is written (checked under the lock, so no new reservation can
      start); otherwise it seals the batch and starts another.
*/
#include "fling_outbox.h"
#include "fling_error.h"
#include "fling_log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Recycled batch buffers kept. Acks free batches in bursts (up to a whole
   window at once), and each buffer given back to malloc may come back as
   fresh pages to fault in: keep enough for a window of 16 and then some
   (at most 32 x 64 KiB = 2 MiB idle). */
#define SPARE_MAX      32
#define APPEND_SPINS   64 /* trylocks before a caller sleeps on the lock */
#define FIRST_CAPACITY (64 * 1024) /* below malloc's mmap threshold */

struct _fling_batch_t {
    uint8_t *data;
    size_t size; /* reserved bytes */
    size_t capacity;
    uint32_t count;          /* reserved records */
    _Atomic uint32_t written; /* records in place; == count once settled */
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
    size_t queued_tasks; /* in open + sealed */
    size_t held_bytes;   /* record bytes from append to resolve */
    size_t held_tasks;   /* tasks from append to resolve */
    uint64_t last_seq;   /* last task sequence handed out = tasks appended */
    uint64_t resolved_seq; /* every task up to this one is resolved */
    bool closed;
    /* Lock-free mirrors of the fields above, stored under the lock. */
    _Atomic size_t held_tasks_seen, held_bytes_seen;
    _Atomic uint64_t appended_seen;
    atomic_bool closed_seen;
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

/* A new empty batch, its pages already faulted in. Called without the lock. */
static fling_batch_t *batch_new (const fling_outbox_config_t *config)
{
    fling_batch_t *batch = (fling_batch_t *)calloc (1, sizeof *batch);
    if (!batch)
        return NULL;
    batch->capacity =
        config->batch_max_bytes < FIRST_CAPACITY ? config->batch_max_bytes : FIRST_CAPACITY;
    batch->data = (uint8_t *)malloc (batch->capacity);
    if (!batch->data) {
        free (batch);
        return NULL;
    }
    memset (batch->data, 0, batch->capacity);
    return batch;
}

/* A recycled batch, or NULL when there is none. Called with the lock held. */
static fling_batch_t *batch_get (fling_outbox_t *self)
{
    fling_batch_t *batch = self->spare;
    if (batch) {
        self->spare = batch->next;
        self->spare_count--;
        batch->next = NULL;
    }
    return batch;
}

/* Adds a batch to the spares whatever their number. Called with the lock held. */
static void batch_give (fling_outbox_t *self, fling_batch_t *batch)
{
    batch->size = 0;
    batch->count = 0;
    atomic_store_explicit (&batch->written, 0, memory_order_relaxed);
    batch->next = self->spare;
    self->spare = batch;
    self->spare_count++;
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
    batch_give (self, batch);
}

/* Waits until every reserved record of a batch that takes no more
   reservations (sealed, or taken) is in place. Writers are a memcpy away
   from done unless the scheduler stopped them: spin briefly, then yield. */
/* No writer holds a place in the batch: its records are all in place and
   its buffer may move. For the open batch, with the lock held (no
   reservation can start meanwhile). */
static bool batch_quiet (fling_batch_t *batch)
{
    return atomic_load_explicit (&batch->written, memory_order_acquire) == batch->count;
}

/* Waits until a batch that takes no more reservations (sealed, or taken)
   is quiet. Writers are a memcpy away from done unless the scheduler
   stopped them: spin briefly, then yield. */
static void batch_settle (fling_batch_t *batch)
{
    for (unsigned spins = 0; !batch_quiet (batch); spins++)
        if (spins >= 64)
            sched_yield ();
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
    atomic_init (&self->held_tasks_seen, 0);
    atomic_init (&self->held_bytes_seen, 0);
    atomic_init (&self->appended_seen, 0);
    atomic_init (&self->closed_seen, false);
    atomic_init (&self->wake_pending, false);
    return self;
}

void fling_outbox_destroy (fling_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_outbox_t *self = *self_p;
    /* A caller that reserved before fling_outbox_close may still be writing. */
    if (self->open)
        batch_settle (self->open);
    for (fling_batch_t *batch = self->sealed_head; batch; batch = batch->next)
        batch_settle (batch);
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

#define NEED_BATCH 2 /* append_locked: no spare batch; allocate one unlocked */

/* The held counts, for readers that do not take the lock. Called with the
   lock held: one writer at a time, so plain stores suffice. */
static void publish_held (fling_outbox_t *self)
{
    atomic_store_explicit (&self->held_tasks_seen, self->held_tasks, memory_order_relaxed);
    atomic_store_explicit (&self->held_bytes_seen, self->held_bytes, memory_order_relaxed);
}

static bool over_bounds (const fling_outbox_config_t *config, size_t held_tasks, size_t held_bytes,
                         size_t record_size)
{
    return held_tasks >= config->max_tasks || held_bytes + record_size > config->max_bytes;
}

/* What a full outbox makes of an append: 1 (dropped) or -1 (EAGAIN). */
static int refuse_full (const fling_outbox_t *self)
{
    errno = EAGAIN;
    return self->config.overflow == FLING_OVERFLOW_DROP ? 1 : -1;
}

/* The lock-free first look: refuses a full outbox (0 = go on and check
   under the lock). A stale "full" only orders this call before the resolve
   that made room, which it may well have been. A closed outbox is left to
   the lock: FLING_ECLOSED must be decided under it, so that a caller that
   stops on it is ordered before destroy frees the outbox (TSan checks). */
static int refuse_early (fling_outbox_t *self, size_t record_size)
{
    if (atomic_load_explicit (&self->closed_seen, memory_order_relaxed))
        return 0;
    size_t tasks = atomic_load_explicit (&self->held_tasks_seen, memory_order_relaxed);
    size_t bytes = atomic_load_explicit (&self->held_bytes_seen, memory_order_relaxed);
    return over_bounds (&self->config, tasks, bytes, record_size) ? refuse_full (self) : 0;
}

/* The holder is out within a few dozen ns unless it was preempted: try
   a little before sleeping on the futex. With 4 senders on 2 cores this
   took the 4-thread p99.9 from ~90 to ~25 µs (send_only); uncontended,
   the first trylock is the same one atomic as a lock. */
static void lock_for_append (fling_outbox_t *self)
{
    for (int i = 0; i < APPEND_SPINS; i++)
        if (pthread_mutex_trylock (&self->lock) == 0)
            return;
    pthread_mutex_lock (&self->lock);
}

/* Where an append writes, once its place is reserved. */
typedef struct {
    fling_batch_t *batch;
    uint8_t *at;
    uint64_t seq;
} place_t;

/* Reserves room for the record in the open batch. Called with the lock
   held; sets *wake_needed when the I/O thread has new work to hear about.
   Returns 0, NEED_BATCH when there is no batch to reserve in (nothing
   reserved), or -1 when out of memory. */
static int reserve_locked (fling_outbox_t *self, size_t record_size, place_t *place,
                           bool *wake_needed)
{
    fling_batch_t *batch = self->open;
    if (batch && batch->count &&
        (batch->size + record_size > self->config.batch_max_bytes ||
         (batch->size + record_size > batch->capacity && !batch_quiet (batch)))) {
        seal (self);
        *wake_needed = true;
        batch = NULL;
    }
    if (!batch && !(batch = self->open = batch_get (self)))
        return NEED_BATCH;
    if (batch_reserve (batch, record_size)) /* moves the buffer: only a quiet batch gets here */
        return -1;
    place->batch = batch;
    place->at = batch->data + batch->size;
    place->seq = ++self->last_seq;
    batch->size += record_size;
    if (batch->count++ == 0) {
        batch->first_seq = place->seq;
        batch->opened_us = fling_clock_us ();
    }
    if (self->queued_tasks++ == 0)
        *wake_needed = true;
    self->held_tasks++;
    self->held_bytes += record_size;
    publish_held (self);
    atomic_store_explicit (&self->appended_seen, place->seq, memory_order_relaxed);
    if (batch->count >= self->config.batch_max_tasks ||
        batch->size >= self->config.batch_max_bytes) {
        seal (self);
        *wake_needed = true;
    }
    return 0;
}

/* The authoritative checks and the reservation. Called with the lock held. */
static int try_reserve_locked (fling_outbox_t *self, size_t record_size, place_t *place,
                               bool *wake_needed)
{
    if (self->closed) {
        errno = FLING_ECLOSED;
        return -1;
    }
    if (over_bounds (&self->config, self->held_tasks, self->held_bytes, record_size))
        return refuse_full (self);
    int rc = reserve_locked (self, record_size, place, wake_needed);
    if (rc < 0)
        errno = ENOMEM;
    return rc;
}

int fling_outbox_append (fling_outbox_t *self, const fling_outbox_task_t *task, fling_task_id_t *id)
{
    size_t record_size = fling_record_size (task->name_size, task->payload_size);
    int rc = refuse_early (self, record_size);
    if (rc)
        return rc;
    place_t place;
    bool wake_needed = false;
    lock_for_append (self);
    while ((rc = try_reserve_locked (self, record_size, &place, &wake_needed)) == NEED_BATCH) {
        /* No spare: allocate (and fault in) a batch without holding up the
           other callers, then look again; the outbox may have changed. */
        pthread_mutex_unlock (&self->lock);
        fling_batch_t *fresh = batch_new (&self->config);
        pthread_mutex_lock (&self->lock);
        if (!fresh) {
            errno = ENOMEM;
            rc = -1;
            break;
        }
        batch_give (self, fresh);
    }
    pthread_mutex_unlock (&self->lock);
    if (rc != 0)
        return rc;
    fling_task_id_t local_id;
    if (!id)
        id = &local_id;
    fling_task_id_make (id, self->config.producer_id, place.seq);
    fling_record_write (place.at, id, 0, task->max_attempts, task->timeout_ms, task->backoff_ms,
                        task->name, task->name_size, task->payload, task->payload_size);
    /* Release: the I/O thread reads the record after it sees the count. */
    atomic_fetch_add_explicit (&place.batch->written, 1, memory_order_release);
    if (wake_needed)
        wake (self);
    return 0;
}

void fling_outbox_close (fling_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    atomic_store_explicit (&self->closed_seen, true, memory_order_relaxed);
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
    if (batch)
        batch_settle (batch); /* taken: no new reservations, wait for the last writes */
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
    self->held_tasks -= batch->count;
    publish_held (self);
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
    struct timespec deadline = fling_clock_deadline (timeout_ms);
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
    return atomic_load_explicit (&self->held_tasks_seen, memory_order_relaxed);
}

uint64_t fling_outbox_appended (fling_outbox_t *self)
{
    return atomic_load_explicit (&self->appended_seen, memory_order_relaxed);
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
