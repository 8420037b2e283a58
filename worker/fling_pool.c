/*  fling_pool.c - the pool's books on the loop thread (fling_pool.h): idle
    threads, the FIFO of waiting jobs, detached threads, destroy. What
    runs on a pool thread, and the hand-off protocol between the two, is
    in fling_pool_slot.c (fling_pool_slot.h).
*/
#include "fling_pool.h"
#include "fling_dlist.h"
#include "fling_pool_slot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

typedef fling_pool_slot_t slot_t;

struct fling_pool {
    unsigned size;
    slot_t **slots; /* NULL once a slot is abandoned */
    unsigned *idle; /* stack of idle slot indexes */
    unsigned idle_count;
    unsigned busy_count;
    zlistx_t *queue;        /* jobs waiting for an idle thread */
    fling_dlist_t detached; /* slots whose thread was detached, not yet joined */
    unsigned stuck;         /* length of that list */
    unsigned vacant;        /* slots[] entries without a thread (too many detached) */
    unsigned next_thread_index;
    fling_pool_reaped_fn *reaped;
    void *reaped_arg;
    zloop_t *loop;
    fling_pool_done_fn *done;
    void *done_arg;
    /* What the threads share, and the queue they post finished jobs on. */
    fling_pool_crew_t crew;
};

unsigned fling_pool_default_size (void)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
}

/* ---- loop thread -------------------------------------------------------- */

static int start_job (fling_pool_t *self, slot_t *slot, void *job)
{
    slot->job = job;
    atomic_store_explicit (&slot->state, FLING_SLOT_QUEUED, memory_order_release);
    if (fling_pool_slot_send (slot, 'J', ZMQ_DONTWAIT)) {
        atomic_store_explicit (&slot->state, FLING_SLOT_IDLE, memory_order_relaxed);
        slot->job = NULL;
        return -1;
    }
    self->busy_count++;
    return 0;
}

/* Takes the finished job back from a slot whose 'D' was read. */
static void *collect (fling_pool_t *self, slot_t *slot)
{
    (void)atomic_load_explicit (&slot->state, memory_order_acquire);
    void *job = slot->job;
    slot->job = NULL;
    atomic_store_explicit (&slot->state, FLING_SLOT_IDLE, memory_order_relaxed);
    self->busy_count--;
    self->idle[self->idle_count++] = slot->index;
    return job;
}

/* Gives the oldest queued job to an idle thread, if both exist. */
static void feed (fling_pool_t *self)
{
    while (self->idle_count && zlistx_size (self->queue)) {
        unsigned index = self->idle[--self->idle_count];
        void *job = zlistx_detach (self->queue, NULL);
        if (start_job (self, self->slots[index], job)) {
            self->idle[self->idle_count++] = index;
            zlistx_add_start (self->queue, job);
            return;
        }
    }
}

static void reap (fling_pool_t *self, slot_t *slot);

static int on_posted (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_pool_t *self = (fling_pool_t *)arg;
    for (slot_t *slot = fling_pool_crew_take_posted (&self->crew), *next; slot; slot = next) {
        next = slot->done_next; /* read first: a reaped slot is freed */
        if (slot->done_cmd == 'X' && slot->detached) {
            reap (self, slot);
            continue;
        }
        if (slot->done_cmd != 'D')
            continue;
        void *job = collect (self, slot);
        feed (self);
        if (self->done)
            self->done (job, self->done_arg);
    }
    return 0;
}

int fling_pool_submit (fling_pool_t *self, void *job)
{
    if (self->idle_count) {
        unsigned index = self->idle[--self->idle_count];
        if (start_job (self, self->slots[index], job) == 0)
            return 0;
        self->idle[self->idle_count++] = index;
    }
    if (!zlistx_add_end (self->queue, job)) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void *fling_pool_take_queued (fling_pool_t *self)
{
    return zlistx_size (self->queue) ? zlistx_detach (self->queue, NULL) : NULL;
}

int fling_pool_remove_queued (fling_pool_t *self, const void *job)
{
    for (void *item = zlistx_first (self->queue); item; item = zlistx_next (self->queue))
        if (item == job) {
            zlistx_delete (self->queue, zlistx_cursor (self->queue));
            return 0;
        }
    errno = ENOENT;
    return -1;
}

unsigned fling_pool_size (fling_pool_t *self)
{
    return self->size;
}

unsigned fling_pool_capacity (fling_pool_t *self)
{
    return self->size - self->vacant;
}

unsigned fling_pool_stuck (fling_pool_t *self)
{
    return self->stuck;
}

void fling_pool_on_reaped (fling_pool_t *self, fling_pool_reaped_fn *reaped, void *arg)
{
    self->reaped = reaped;
    self->reaped_arg = arg;
}

unsigned fling_pool_busy (fling_pool_t *self)
{
    return self->busy_count;
}

size_t fling_pool_queued (fling_pool_t *self)
{
    return zlistx_size (self->queue);
}

int fling_pool_attach (fling_pool_t *self, zloop_t *loop, fling_pool_done_fn *done, void *done_arg)
{
    self->done = done;
    self->done_arg = done_arg;
    zmq_pollitem_t item = {NULL, self->crew.done_fd, ZMQ_POLLIN, 0};
    if (zloop_poller (loop, &item, on_posted, self))
        return -1;
    self->loop = loop; /* set once the poller exists, so destroy removes it */
    return 0;
}

/* ---- creation and destruction ------------------------------------------- */

static slot_t *slot_new (fling_pool_t *self, unsigned index)
{
    return fling_pool_slot_new (&self->crew, index, self->next_thread_index++);
}

static int start_threads (fling_pool_t *self)
{
    for (unsigned i = 0; i < self->size; i++) {
        if (fling_pool_slot_start (self->slots[i]))
            return -1;
        self->idle[self->idle_count++] = self->size - 1 - i; /* pops 0 first */
    }
    return 0;
}

fling_pool_t *fling_pool_new (unsigned size, const fling_pool_hooks_t *hooks, size_t hook_count,
                              fling_pool_run_fn *run, void *run_arg, fling_pool_discard_fn *discard)
{
    if (!run || hook_count > FLING_POOL_HOOKS_MAX || (hook_count && !hooks)) {
        errno = EINVAL;
        return NULL;
    }
    fling_pool_t *self = (fling_pool_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->size = size ? size : fling_pool_default_size ();
    bool crew_ok =
        fling_pool_crew_init (&self->crew, hooks, hook_count, run, run_arg, discard) == 0;
    self->slots = (slot_t **)calloc (self->size, sizeof *self->slots);
    self->idle = (unsigned *)calloc (self->size, sizeof *self->idle);
    self->queue = zlistx_new ();
    bool ok = self->slots && self->idle && self->queue && crew_ok;
    for (unsigned i = 0; ok && i < self->size; i++)
        ok = (self->slots[i] = slot_new (self, i)) != NULL;
    if (!ok) {
        errno = ENOMEM;
        fling_pool_destroy (&self);
        return NULL;
    }
    if (start_threads (self)) {
        int err = errno;
        fling_pool_destroy (&self);
        errno = err;
        return NULL;
    }
    return self;
}

/* ---- detached threads ------------------------------------------------------ */

/* Starts a fresh thread in the empty slots[index] and gives it work. */
static int refill (fling_pool_t *self, unsigned index)
{
    slot_t *slot = slot_new (self, index);
    if (!slot)
        return -1;
    if (fling_pool_slot_start (slot)) {
        fling_pool_slot_free (&slot);
        return -1;
    }
    self->slots[index] = slot;
    self->idle[self->idle_count++] = index;
    feed (self);
    return 0;
}

/* Slots that must stay empty: one per detached thread beyond `size`. */
static unsigned vacant_wanted (fling_pool_t *self)
{
    return self->stuck > self->size ? self->stuck - self->size : 0;
}

/* Fills empty slots while fewer must stay empty than are. */
static void refill_vacant (fling_pool_t *self)
{
    for (unsigned i = 0; i < self->size && self->vacant > vacant_wanted (self); i++) {
        if (self->slots[i])
            continue;
        if (refill (self, i))
            return; /* out of threads or memory: stays empty, retried at the next reap */
        self->vacant--;
    }
}

int fling_pool_detach (fling_pool_t *self, const void *job)
{
    slot_t *slot = NULL;
    for (unsigned i = 0; i < self->size && !slot; i++)
        if (self->slots[i] && self->slots[i]->job == job)
            slot = self->slots[i];
    if (!slot) {
        errno = ENOENT;
        return -1;
    }
    if (!fling_pool_slot_cas (slot, FLING_SLOT_RUNNING, FLING_SLOT_DETACHED)) {
        int state = atomic_load_explicit (&slot->state, memory_order_acquire);
        errno = state == FLING_SLOT_QUEUED ? EAGAIN : EALREADY;
        return -1;
    }
    slot->detached = true;
    fling_dlist_push_head (&self->detached, &slot->detached_link);
    self->stuck++;
    self->slots[slot->index] = NULL;
    self->busy_count--;
    self->vacant++;
    refill_vacant (self);
    return 0;
}

static void unlink_detached (fling_pool_t *self, slot_t *slot)
{
    fling_dlist_remove (&self->detached, &slot->detached_link);
    self->stuck--;
}

/* A detached thread sent 'X': its job returned and its stop hooks ran. */
static void reap (fling_pool_t *self, slot_t *slot)
{
    pthread_join (slot->thread, NULL);
    unlink_detached (self, slot);
    if (self->crew.discard)
        self->crew.discard (slot->job);
    fling_pool_slot_free (&slot);
    refill_vacant (self);
    if (self->reaped)
        self->reaped (self->reaped_arg);
}

/* At destroy: a detached thread still in its job is abandoned (it frees
   itself); one already past it is joined (it is in its stop hooks). */
static void settle_detached (fling_pool_t *self, slot_t *slot)
{
    /* Copies first: once abandoned, the thread may free the slot any time. */
    zsock_t *loop_end = slot->loop_end, *thread_end = slot->thread_end;
    pthread_t thread = slot->thread;
    if (fling_pool_slot_cas (slot, FLING_SLOT_DETACHED, FLING_SLOT_ABANDONED)) {
        zsock_destroy (&loop_end);
        zsock_destroy (&thread_end);
        pthread_detach (thread);
        return;
    }
    pthread_join (slot->thread, NULL);
    if (self->crew.discard)
        self->crew.discard (slot->job);
    fling_pool_slot_free (&slot);
}

/* For a slot with a job at destroy: take the job back if the thread never
   started it, abandon the thread if it is still in it. A job the thread
   has finished comes back through the done queue once the thread is
   joined (drain_posted). Returns false if abandoned (the slot is gone
   then). */
static bool settle (fling_pool_t *self, unsigned index)
{
    slot_t *slot = self->slots[index];
    zsock_t *loop_end = slot->loop_end, *thread_end = slot->thread_end;
    pthread_t thread = slot->thread;
    void *job = slot->job;
    if (fling_pool_slot_cas (slot, FLING_SLOT_QUEUED, FLING_SLOT_CANCELLED)) {
        slot->job = NULL;
        self->busy_count--;
        if (self->crew.discard)
            self->crew.discard (job);
        return true;
    }
    if (fling_pool_slot_cas (slot, FLING_SLOT_RUNNING, FLING_SLOT_ABANDONED)) {
        /* From here the thread owns (and frees) the slot: use copies only. */
        self->slots[index] = NULL;
        self->busy_count--;
        zsock_destroy (&loop_end);
        zsock_destroy (&thread_end);
        pthread_detach (thread);
        return false;
    }
    return true; /* returned: its 'D' is posted, or will be before it exits */
}

/* At destroy, every pool thread joined: the jobs they finished go back
   through `done`; posts of detached threads are left to
   settle_detached. */
static void drain_posted (fling_pool_t *self)
{
    for (slot_t *slot = fling_pool_crew_take_posted (&self->crew); slot; slot = slot->done_next)
        if (slot->done_cmd == 'D' &&
            atomic_load_explicit (&slot->state, memory_order_acquire) == FLING_SLOT_RETURNED) {
            void *job = collect (self, slot);
            if (self->done)
                self->done (job, self->done_arg);
        }
}

void fling_pool_destroy (fling_pool_t **self_p)
{
    fling_pool_t *self = *self_p;
    if (!self)
        return;
    if (self->loop) {
        zmq_pollitem_t item = {NULL, self->crew.done_fd, ZMQ_POLLIN, 0};
        zloop_poller_end (self->loop, &item);
    }
    for (unsigned i = 0; self->slots && i < self->size; i++) {
        slot_t *slot = self->slots[i];
        if (!slot || !slot->started)
            continue;
        int state = atomic_load_explicit (&slot->state, memory_order_acquire);
        if (state != FLING_SLOT_IDLE && !settle (self, i))
            continue;
        fling_pool_slot_send (slot, 'S', 0);
    }
    for (unsigned i = 0; self->slots && i < self->size; i++)
        if (self->slots[i] && self->slots[i]->started)
            pthread_join (self->slots[i]->thread, NULL);
    if (self->crew.done_lock_ready)
        drain_posted (self);
    for (unsigned i = 0; self->slots && i < self->size; i++)
        fling_pool_slot_free (&self->slots[i]);
    while (self->detached.head) {
        slot_t *stuck = FLING_DLIST_ITEM (self->detached.head, slot_t, detached_link);
        unlink_detached (self, stuck);
        settle_detached (self, stuck);
    }
    void *job;
    while (self->queue && (job = zlistx_detach (self->queue, NULL)))
        if (self->crew.discard)
            self->crew.discard (job);
    zlistx_destroy (&self->queue);
    fling_pool_crew_fini (&self->crew);
    free (self->slots);
    free (self->idle);
    free (self);
    *self_p = NULL;
}
