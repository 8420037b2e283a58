/*  fling_outbox.c - see fling_outbox.h.

    Why locks and not messages: fling_send() must be callable from any
    thread and must stay near a microsecond. Handing each task to the I/O
    thread as a message would cost a socket send (and a copy, and an
    allocation) per task, and a ZeroMQ socket is not thread-safe, so every
    calling thread would need its own socket to the I/O thread. Instead
    callers write the record straight into the batch the I/O thread will
    send.

    Why shards: with one lock and one open batch for every caller, 4
    threads sending on 2 cores moved the lock, the batch header and the
    counters from core to core on every call, and together sent no faster
    than one thread (0.9-1.25x, send_only). So each calling thread appends
    to a shard of its own (SHARDS of them, given out round robin on a
    thread's first call; threads beyond that share): the shard's lock, its
    open batch, and credit, the room in the outbox's bounds the shard has
    taken ahead. A call touches its shard and one shared atomic, the task
    sequence. The outbox lock is taken once per batch (to start one, seal
    one) and when a shard's credit runs out, every FLING_CREDIT_TASKS tasks
    or FLING_CREDIT_BYTES bytes at most.

    Under its shard's lock a caller only reserves its place (the bytes and
    the sequence number); it writes the record after letting go, and then
    counts it in the batch's `written`. The I/O thread, having taken a
    batch, waits until `written` reaches the batch's count before it reads
    a byte (writers finish within a memcpy, unless preempted). A batch
    buffer never moves under a writer: a record that does not fit in the
    open batch's buffer grows it only when every reserved record is written
    (checked under the shard lock, so no new reservation can start);
    otherwise it seals the batch and starts another.

    Locks are taken shard first, then the outbox lock; never a shard while
    holding the outbox lock, never two shards at once.

    The bounds are exact, and how credit is given and taken back is in
    fling_budget.h.

    Task sequences stay dense and increasing: one atomic counter hands them
    out. A batch registers its first sequence under the outbox lock when it
    starts (the counter is read under that lock too), so the lowest first
    sequence among batches not yet resolved bounds what is resolved, as
    before sharding, even though shards seal and the I/O thread takes
    batches in any order.

    No wake-up at all while the I/O thread holds batches awaiting their
    ACK: it will look at the outbox when the next ACK (or its timeout)
    wakes it. The I/O thread publishes that count before each look
    (fling_outbox_set_in_flight); a caller reads it after sealing or
    starting its batch under the outbox lock, which the look takes too, so
    either the look sees the batch or the caller sees the count the look
    began with: 0 (it wakes the thread) or batches whose ACKs will come.
    On a VM a write that wakes a sleeping thread costs 7-15 us (an IPI),
    and one per batch start or seal was fling_send's p99.9.

    How a wake-up is never lost: fling_wake.c.

    Other costs kept off the calling path (measured on 2 cores):
    - Appends spin briefly with trylock before sleeping on a shard lock
      (threads beyond SHARDS share one): an adaptive mutex made every
      uncontended call ~30 ns slower.
    - A full outbox is refused without the outbox lock (fling_budget.h).
    - Batch buffers are recycled, and a new one is allocated and its pages
      touched outside every lock: a fresh 64 KiB buffer is 16 page faults.
*/
#include "fling_outbox.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_batch.h"
#include "fling_budget.h"
#include "fling_wake.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Recycled batch buffers kept. Acks free batches in bursts (up to a whole
   window at once), and each buffer given back to malloc may come back as
   fresh pages to fault in: keep enough for a window of 16 and then some
   (at most 32 x 64 KiB = 2 MiB idle). */
#define SPARE_MAX      32
#define APPEND_SPINS   64          /* trylocks before a caller sleeps on its shard's lock */
#define FIRST_CAPACITY (64 * 1024) /* below malloc's mmap threshold */
#define SHARDS         8
#define RECALLS_MAX    4 /* credit recalls by one refused caller */

/* One per group of calling threads; its own cache lines. */
typedef struct {
    alignas (64) pthread_mutex_t lock;
    fling_batch_t *open;   /* this shard's callers append here */
    fling_credit_t credit; /* room in the bounds taken ahead, not used yet */
    bool closed;           /* fling_outbox_close: refuse appends */
} shard_t;

struct fling_outbox {
    shard_t shards[SHARDS];
    alignas (64) pthread_mutex_t lock; /* everything below that is not atomic */
    pthread_cond_t resolved;           /* signalled when resolved_seq moves */
    fling_outbox_config_t config;
    fling_batch_t *sealed_head; /* full batches waiting for the I/O thread */
    fling_batch_t *sealed_tail;
    /* The same batches by shard: each shard seals in sequence order, so
       the lowest first sequence sealed is among these heads. */
    fling_batch_t *shard_sealed_head[SHARDS];
    fling_batch_t *shard_sealed_tail[SHARDS];
    fling_batch_t *spare; /* freed batches, kept to avoid malloc */
    size_t spare_count;
    uint64_t open_first_seq[SHARDS]; /* each shard's open batch; 0 = none */
    fling_budget_t budget;           /* room in the bounds not given to any shard */
    uint64_t resolved_seq;           /* every task up to this one is resolved */
    /* Lock-free mirrors and counters. */
    alignas (64) _Atomic uint64_t last_seq; /* last task sequence handed out = tasks appended */
    alignas (64) _Atomic uint64_t resolved_tasks;
    fling_wake_t *wake;
};

static atomic_uint next_shard; /* round robin over calling threads */
/* 1 + this thread's shard, 0 until its first call. Initial-exec: the
   default model for a shared library calls __tls_get_addr on every read. */
static _Thread_local unsigned t_shard_ref __attribute__ ((tls_model ("initial-exec")));

/* ---- batches ------------------------------------------------------------ */

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

/* Keeps a few buffers of ordinary size; an outsized one (a 1 MiB task) goes. */
static void batch_recycle (fling_outbox_t *self, fling_batch_t *batch)
{
    size_t keep = self->config.batch_max_bytes > FIRST_CAPACITY ? self->config.batch_max_bytes
                                                                : FIRST_CAPACITY;
    if (self->spare_count >= SPARE_MAX || batch->capacity > keep) {
        fling_batch_free (batch);
        return;
    }
    batch_give (self, batch);
}

/* ---- outbox ------------------------------------------------------------- */

fling_outbox_t *fling_outbox_new (const fling_outbox_config_t *config)
{
    if (!config || !config->max_tasks || !config->max_bytes || !config->batch_max_tasks ||
        config->batch_max_tasks > FLING_BATCH_TASKS_MAX || !config->batch_max_bytes) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = (sizeof (fling_outbox_t) + 63) / 64 * 64;
    fling_outbox_t *self = (fling_outbox_t *)aligned_alloc (64, size);
    if (!self)
        return NULL;
    memset (self, 0, size);
    self->config = *config;
    self->wake = fling_wake_new ();
    if (!self->wake) {
        free (self);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->resolved, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&self->lock, NULL);
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init (&self->shards[i].lock, NULL);
    fling_budget_init (&self->budget, config->max_tasks, config->max_bytes);
    atomic_init (&self->last_seq, 0);
    atomic_init (&self->resolved_tasks, 0);
    return self;
}

void fling_outbox_destroy (fling_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_outbox_t *self = *self_p;
    /* A caller that reserved before fling_outbox_close may still be writing. */
    for (int i = 0; i < SHARDS; i++) {
        if (self->shards[i].open)
            fling_batch_settle (self->shards[i].open);
        fling_batch_free (self->shards[i].open);
        pthread_mutex_destroy (&self->shards[i].lock);
    }
    for (fling_batch_t *batch = self->sealed_head; batch; batch = batch->next)
        fling_batch_settle (batch);
    fling_batch_list_free (self->sealed_head);
    fling_batch_list_free (self->spare);
    fling_wake_destroy (&self->wake);
    pthread_cond_destroy (&self->resolved);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static shard_t *my_shard (fling_outbox_t *self)
{
    if (!t_shard_ref)
        t_shard_ref = 1 + atomic_fetch_add_explicit (&next_shard, 1, memory_order_relaxed) % SHARDS;
    return &self->shards[t_shard_ref - 1];
}

static int shard_index (const fling_outbox_t *self, const shard_t *shard)
{
    return (int)(shard - self->shards);
}

/* The holder is out within a few dozen ns unless it was preempted: try
   a little before sleeping on the futex. Uncontended (a thread with a
   shard of its own), the first trylock is the same one atomic as a lock. */
static void lock_for_append (shard_t *shard)
{
    for (int i = 0; i < APPEND_SPINS; i++)
        if (pthread_mutex_trylock (&shard->lock) == 0)
            return;
    pthread_mutex_lock (&shard->lock);
}

/* What a full outbox makes of an append: 1 (dropped) or -1 (EAGAIN). */
static int refuse_full (const fling_outbox_t *self)
{
    errno = EAGAIN;
    return self->config.overflow == FLING_OVERFLOW_DROP ? 1 : -1;
}

/* Gives the shard room for at least one more record of `record_size`
   bytes from the outbox's bounds. Called with the shard lock held; takes
   the outbox lock unless the lock-free look already says "full". Returns
   0, or refuse_full's value. */
static int take_credit (fling_outbox_t *self, shard_t *shard, size_t record_size)
{
    if (fling_budget_looks_short (&self->budget, &shard->credit, record_size))
        return refuse_full (self);
    pthread_mutex_lock (&self->lock);
    bool granted = fling_budget_grant (&self->budget, &shard->credit, record_size, SHARDS);
    pthread_mutex_unlock (&self->lock);
    return granted ? 0 : refuse_full (self);
}

/* Gives every shard's unused credit back to the outbox; true if there was
   any. Holding no lock (a refused caller, or the I/O thread). */
static bool take_back_credit (fling_outbox_t *self)
{
    bool recovered = false;
    for (int i = 0; i < SHARDS; i++) {
        shard_t *shard = &self->shards[i];
        pthread_mutex_lock (&shard->lock);
        if (shard->credit.tasks || shard->credit.bytes) {
            pthread_mutex_lock (&self->lock);
            fling_budget_take_back (&self->budget, &shard->credit);
            pthread_mutex_unlock (&self->lock);
            recovered = true;
        }
        pthread_mutex_unlock (&shard->lock);
    }
    return recovered;
}

/* The I/O thread's part: take_back_credit once a refusal asked for it. */
static void recall_credit (fling_outbox_t *self)
{
    if (fling_budget_recall_asked (&self->budget))
        take_back_credit (self);
}

/* Moves the shard's open batch to the sealed list. Called with the shard
   lock held. */
static void seal (fling_outbox_t *self, shard_t *shard)
{
    fling_batch_t *batch = shard->open;
    shard->open = NULL;
    int i = shard_index (self, shard);
    batch->shard = i;
    pthread_mutex_lock (&self->lock);
    self->open_first_seq[i] = 0;
    if (self->sealed_tail)
        self->sealed_tail->next = batch;
    else
        self->sealed_head = batch;
    self->sealed_tail = batch;
    if (self->shard_sealed_tail[i])
        self->shard_sealed_tail[i]->shard_next = batch;
    else
        self->shard_sealed_head[i] = batch;
    self->shard_sealed_tail[i] = batch;
    pthread_mutex_unlock (&self->lock);
}

#define NEED_BATCH 2 /* reserve: no spare batch; allocate one unlocked */

/* Where an append writes, once its place is reserved. */
typedef struct {
    fling_batch_t *batch;
    uint8_t *at;
    uint64_t seq;
} place_t;

/* Opens a batch on the shard with the record's room and sequence in it.
   Called with the shard lock held. Returns 0, NEED_BATCH, or -1 + errno. */
static int start_batch (fling_outbox_t *self, shard_t *shard, size_t record_size, bool extended,
                        place_t *place)
{
    pthread_mutex_lock (&self->lock);
    fling_batch_t *batch = batch_get (self);
    int rc = 0;
    if (!batch)
        rc = NEED_BATCH;
    else if (fling_batch_reserve (batch, record_size)) { /* an outsized first record */
        batch_give (self, batch);
        errno = ENOMEM;
        rc = -1;
    } else {
        /* Read and registered under the outbox lock: a resolve that runs
           meanwhile sees either this batch or a last_seq below its start. */
        place->seq = atomic_fetch_add_explicit (&self->last_seq, 1, memory_order_relaxed) + 1;
        self->open_first_seq[shard_index (self, shard)] = place->seq;
        batch->first_seq = place->seq;
        batch->opened_us = fling_clock_us ();
        batch->extended = extended;
        shard->open = batch;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

/* Reserves room for the record in the shard's open batch. Called with the
   shard lock held; sets *wake_needed when the I/O thread has new work to
   hear about. Returns 0, NEED_BATCH when there is no batch to reserve in
   (nothing reserved), 1 or -1 (refuse_full) when full, -1 + errno. */
static int reserve (fling_outbox_t *self, shard_t *shard, size_t record_size, bool extended,
                    place_t *place, bool *wake_needed)
{
    if (shard->closed) {
        errno = FLING_ECLOSED;
        return -1;
    }
    if (shard->credit.tasks < 1 || shard->credit.bytes < record_size) {
        int rc = take_credit (self, shard, record_size);
        if (rc)
            return rc;
    }
    fling_batch_t *batch = shard->open;
    if (batch &&
        (batch->size + record_size > self->config.batch_max_bytes || batch->extended != extended ||
         (batch->size + record_size > batch->capacity && !fling_batch_quiet (batch)))) {
        seal (self, shard);
        *wake_needed = true;
        batch = NULL;
    }
    if (!batch) {
        int rc = start_batch (self, shard, record_size, extended, place);
        if (rc)
            return rc;
        *wake_needed = true;
        batch = shard->open;
    } else {
        if (fling_batch_reserve (batch, record_size)) { /* moves the buffer: only a quiet batch */
            errno = ENOMEM;
            return -1;
        }
        place->seq = atomic_fetch_add_explicit (&self->last_seq, 1, memory_order_relaxed) + 1;
    }
    place->batch = batch;
    place->at = batch->data + batch->size;
    batch->size += record_size;
    batch->count++;
    shard->credit.tasks--;
    shard->credit.bytes -= record_size;
    if (batch->count >= self->config.batch_max_tasks ||
        batch->size >= self->config.batch_max_bytes) {
        seal (self, shard);
        *wake_needed = true;
    }
    return 0;
}

int fling_outbox_append (fling_outbox_t *self, const fling_outbox_task_t *task, fling_task_id_t *id)
{
    size_t record_size = fling_record_size_ext (task->name_size, task->payload_size, &task->ext);
    bool extended = fling_task_ext_size (&task->ext) > 0;
    shard_t *shard = my_shard (self);
    place_t place = {0};
    bool wake_needed = false;
    int rc;
    int recalls = 0;
    bool recovered = true;
    lock_for_append (shard);
    while ((rc = reserve (self, shard, record_size, extended, &place, &wake_needed)) != 0) {
        if (rc != NEED_BATCH) {
            /* Full, unless other shards sit on unused credit (their
               threads may have stopped sending): take it back and try
               again, until a look finds none (bounded: senders that keep
               taking credit may race us for it). */
            if (errno != EAGAIN || recalls == RECALLS_MAX || !recovered)
                break;
            pthread_mutex_unlock (&shard->lock);
            recovered = take_back_credit (self);
            recalls++;
            lock_for_append (shard);
            continue;
        }
        /* No spare: allocate (and fault in) a batch without holding up the
           I/O thread, then look again. */
        pthread_mutex_unlock (&shard->lock);
        size_t first = self->config.batch_max_bytes < FIRST_CAPACITY ? self->config.batch_max_bytes
                                                                     : FIRST_CAPACITY;
        fling_batch_t *fresh = fling_batch_new (first);
        lock_for_append (shard);
        if (!fresh) {
            errno = ENOMEM;
            rc = -1;
            break;
        }
        pthread_mutex_lock (&self->lock);
        batch_give (self, fresh);
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_unlock (&shard->lock);
    if (wake_needed) /* a batch sealed before a refusal still needs the thread */
        fling_wake_signal (self->wake);
    if (rc != 0)
        return rc;
    fling_task_id_t local_id;
    if (!id)
        id = &local_id;
    fling_task_id_make (id, self->config.producer_id, self->config.seq_base + place.seq);
    fling_record_write_ext (place.at, id, 0, task->max_attempts, task->timeout_ms, task->backoff_ms,
                            task->name, task->name_size, task->payload, task->payload_size,
                            &task->ext);
    /* Release: the I/O thread reads the record after it sees the count. */
    atomic_fetch_add_explicit (&place.batch->written, 1, memory_order_release);
    return 0;
}

void fling_outbox_close (fling_outbox_t *self)
{
    /* Decided under each shard's lock, so that a caller stopped by it is
       ordered before destroy frees the outbox. */
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock (&self->shards[i].lock);
        self->shards[i].closed = true;
        pthread_mutex_unlock (&self->shards[i].lock);
    }
}

/* The open batch of shard `i` if it is due (sets *due_us otherwise). */
static fling_batch_t *take_open (fling_outbox_t *self, int i, int64_t now_us, int64_t linger_us,
                                 int64_t *due_us)
{
    shard_t *shard = &self->shards[i];
    fling_batch_t *batch = NULL;
    pthread_mutex_lock (&shard->lock);
    fling_batch_t *open = shard->open;
    if (open && open->count) {
        if (now_us - open->opened_us >= linger_us) {
            batch = open;
            shard->open = NULL;
            pthread_mutex_lock (&self->lock);
            self->open_first_seq[i] = 0;
            pthread_mutex_unlock (&self->lock);
        } else if (*due_us < 0 || open->opened_us + linger_us < *due_us) {
            *due_us = open->opened_us + linger_us;
        }
    }
    pthread_mutex_unlock (&shard->lock);
    return batch;
}

fling_batch_t *fling_outbox_take (fling_outbox_t *self, int64_t now_us, int64_t linger_us,
                                  int64_t *due_us)
{
    recall_credit (self);
    fling_batch_t *batch = NULL;
    int64_t due = -1;
    bool open[SHARDS];
    pthread_mutex_lock (&self->lock);
    if (self->sealed_head) {
        batch = self->sealed_head;
        self->sealed_head = batch->next;
        if (!self->sealed_head)
            self->sealed_tail = NULL;
        batch->next = NULL;
        /* Oldest sealed of all, so the oldest of its shard too. */
        self->shard_sealed_head[batch->shard] = batch->shard_next;
        if (!batch->shard_next)
            self->shard_sealed_tail[batch->shard] = NULL;
        batch->shard_next = NULL;
    }
    for (int i = 0; i < SHARDS; i++)
        open[i] = self->open_first_seq[i] != 0;
    pthread_mutex_unlock (&self->lock);
    for (int i = 0; !batch && linger_us >= 0 && i < SHARDS; i++)
        if (open[i])
            batch = take_open (self, i, now_us, linger_us, &due);
    if (batch)
        fling_batch_settle (batch); /* taken: no new reservations, wait for the last writes */
    if (due_us)
        *due_us = batch ? -1 : due;
    return batch;
}

/* The lowest first sequence of the batches the outbox still holds (sealed
   or open), or `lowest` if that is lower. Called with the outbox lock held. */
static uint64_t lowest_held_seq (const fling_outbox_t *self, uint64_t lowest)
{
    for (int i = 0; i < SHARDS; i++) {
        const fling_batch_t *sealed = self->shard_sealed_head[i];
        if (sealed && sealed->first_seq < lowest)
            lowest = sealed->first_seq;
        if (self->open_first_seq[i] && self->open_first_seq[i] < lowest)
            lowest = self->open_first_seq[i];
    }
    return lowest;
}

void fling_outbox_resolve (fling_outbox_t *self, fling_batch_t **batch_p,
                           uint64_t unresolved_min_seq)
{
    if (!batch_p || !*batch_p)
        return;
    fling_batch_t *batch = *batch_p;
    *batch_p = NULL;
    pthread_mutex_lock (&self->lock);
    fling_budget_release (&self->budget, batch->count, batch->size);
    atomic_fetch_add_explicit (&self->resolved_tasks, batch->count, memory_order_relaxed);
    /* Every task is in a batch from the moment its sequence is handed out,
       and a batch's first sequence is its lowest: the lowest first
       sequence still held anywhere bounds what is resolved. */
    uint64_t next = atomic_load_explicit (&self->last_seq, memory_order_relaxed) + 1;
    uint64_t lowest = lowest_held_seq (self, unresolved_min_seq < next ? unresolved_min_seq : next);
    if (lowest - 1 > self->resolved_seq)
        self->resolved_seq = lowest - 1;
    batch_recycle (self, batch);
    pthread_cond_broadcast (&self->resolved);
    pthread_mutex_unlock (&self->lock);
    recall_credit (self);
}

int fling_outbox_flush (fling_outbox_t *self, unsigned timeout_ms)
{
    struct timespec deadline = fling_clock_deadline (timeout_ms);
    pthread_mutex_lock (&self->lock);
    uint64_t target = atomic_load_explicit (&self->last_seq, memory_order_relaxed);
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
    uint64_t resolved = atomic_load_explicit (&self->resolved_tasks, memory_order_relaxed);
    uint64_t appended = atomic_load_explicit (&self->last_seq, memory_order_relaxed);
    return appended > resolved ? appended - resolved : 0;
}

uint64_t fling_outbox_appended (fling_outbox_t *self)
{
    return atomic_load_explicit (&self->last_seq, memory_order_relaxed);
}

int fling_outbox_wake_fd (fling_outbox_t *self)
{
    return fling_wake_fd (self->wake);
}

void fling_outbox_wake_clear (fling_outbox_t *self)
{
    fling_wake_clear (self->wake);
}

void fling_outbox_set_in_flight (fling_outbox_t *self, size_t batches)
{
    fling_wake_set_in_flight (self->wake, batches);
}

void fling_outbox_wake_force (fling_outbox_t *self)
{
    fling_wake_force (self->wake);
}
