/*  fling_pool.c - see fling_pool.h.

    Hand-off protocol. Loop -> thread, on each thread's pipe (one byte a
    message): 'J' run the job in slot->job; 'S' stop. Thread -> loop, on
    one queue for the whole pool (`done`, under its mutex): the slot, with
    'D' (the job is done) or 'X' (see detaching); a thread that finds the
    queue empty writes the pool's eventfd, the one thing the loop polls
    for its threads. One fd instead of a pipe per thread: zloop polled all
    of them every turn (50 sockets: 35 us of the loop thread's time per
    W2 task, most of it in the kernel's poll and libzmq's per-socket
    checks). The pipe and the queue are the signals; the slot's `state`
    atomic carries the memory hand-off. libzmq's inproc pipes do order
    memory, but through code that ThreadSanitizer cannot see, so the job is
    published and taken back through an atomic as well:

      loop:   job = X; state = QUEUED (release); send 'J'
      thread: recv 'J'; CAS QUEUED -> RUNNING; run X; CAS RUNNING -> RETURNED;
              post 'D'
      loop:   take 'D'; state (acquire) is RETURNED; X is back; state = IDLE

    The same atomic settles the races at destroy, where exactly one side's
    compare-and-swap wins: QUEUED -> CANCELLED (the thread never touched the
    job: the loop keeps it and stops the thread as usual), or RUNNING ->
    ABANDONED (the thread is inside the handler and not using its socket:
    the loop closes both ends of the pipe and detaches the thread, which
    frees its job and slot when the handler returns). An abandoned thread
    holds no socket and posts nothing, so czmq can still terminate its
    context at exit and flush the worker's last RESULT and BYE.

    Detaching (a job overran its deadline) is a third race, settled the
    same way: RUNNING -> DETACHED (loop) against RUNNING -> RETURNED
    (thread). Once detached the slot leaves slots[] for the `detached`
    list and keeps its pipe; when the job returns the thread moves
    DETACHED -> DETACHED_DONE, runs its stop hooks and posts 'X'; the loop
    joins it and frees slot and job. At destroy, DETACHED -> ABANDONED
    wins if the job still runs (the thread then frees itself, as above);
    if the thread got to DETACHED_DONE first, destroy joins it, which waits
    for its stop hooks only.
*/
#include "fling_pool.h"
#include "fling_dlist.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum {
    SLOT_IDLE,
    SLOT_QUEUED,
    SLOT_RUNNING,
    SLOT_RETURNED,
    SLOT_CANCELLED,
    SLOT_ABANDONED,
    SLOT_DETACHED,
    SLOT_DETACHED_DONE
};

/* What a thread does after running a job. */
enum { JOB_NEXT, JOB_ABANDONED, JOB_DETACHED };

typedef struct slot_s {
    fling_pool_t *pool;          /* valid on the thread until abandoned */
    unsigned index;              /* position in slots[] */
    unsigned thread_index;       /* the hooks' index: unique per pool */
    bool detached;               /* loop thread only: on the detached list */
    fling_dlink_t detached_link; /* on the detached list, loop thread only */
    pthread_t thread;
    bool started;                   /* pthread_create succeeded */
    zsock_t *loop_end;              /* loop thread's end of the pipe */
    zsock_t *thread_end;            /* pool thread's end */
    void *job;                      /* the job in hand; see the state hand-off */
    fling_pool_discard_fn *discard; /* copied: an abandoned thread must not read the pool */
    atomic_int state;
    struct slot_s *done_next; /* on the pool's done queue, under its lock */
    char done_cmd;            /* 'D' or 'X', posted with it */
} slot_t;

struct _fling_pool_t {
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
    fling_pool_hooks_t hooks[FLING_POOL_HOOKS_MAX];
    size_t hook_count;
    fling_pool_run_fn *run;
    void *run_arg;
    fling_pool_discard_fn *discard;
    zloop_t *loop;
    fling_pool_done_fn *done;
    void *done_arg;
    /* Posted by pool threads, taken by the loop (the hand-off above). */
    pthread_mutex_t done_lock;
    slot_t *done_head, *done_tail;
    int done_fd; /* eventfd: written when a post finds the queue empty */
    bool done_lock_ready;
};

/* Hook states of the current thread; zero (NULL) on threads outside a pool. */
static _Thread_local void *s_thread_states[FLING_POOL_HOOKS_MAX];

void *fling_thread_state (int slot)
{
    if (slot < 0 || slot >= FLING_POOL_HOOKS_MAX)
        return NULL;
    return s_thread_states[slot];
}

unsigned fling_pool_default_size (void)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
}

/* ---- pool threads ------------------------------------------------------ */

static void s_hooks_start (fling_pool_t *pool, unsigned index)
{
    for (size_t i = 0; i < pool->hook_count; i++)
        if (pool->hooks[i].start)
            s_thread_states[i] = pool->hooks[i].start (index, pool->hooks[i].arg);
}

static void s_hooks_stop (fling_pool_t *pool, unsigned index)
{
    for (size_t i = pool->hook_count; i-- > 0;) {
        if (pool->hooks[i].stop)
            pool->hooks[i].stop (index, s_thread_states[i], pool->hooks[i].arg);
        s_thread_states[i] = NULL;
    }
}

static int s_recv_byte (zsock_t *sock, int flags)
{
    char cmd;
    int rc;
    do
        rc = zmq_recv (zsock_resolve (sock), &cmd, 1, flags);
    while (rc == -1 && errno == EINTR);
    return rc == 1 ? cmd : -1;
}

static int s_send_byte (zsock_t *sock, char cmd, int flags)
{
    int rc;
    do
        rc = zmq_send (zsock_resolve (sock), &cmd, 1, flags);
    while (rc == -1 && errno == EINTR);
    return rc == 1 ? 0 : -1;
}

/* On a pool thread: hands its slot to the loop. */
static void s_post (fling_pool_t *pool, slot_t *slot, char cmd)
{
    slot->done_cmd = cmd;
    slot->done_next = NULL;
    pthread_mutex_lock (&pool->done_lock);
    bool was_empty = pool->done_head == NULL;
    if (was_empty)
        pool->done_head = slot;
    else
        pool->done_tail->done_next = slot;
    pool->done_tail = slot;
    pthread_mutex_unlock (&pool->done_lock);
    uint64_t one = 1;
    if (was_empty && write (pool->done_fd, &one, sizeof one) < 0) {
        /* never: the counter would have to reach 2^64 - 1 */
    }
}

/* On the loop thread: everything posted so far, oldest first. */
static slot_t *s_take_posted (fling_pool_t *self)
{
    uint64_t value;
    if (read (self->done_fd, &value, sizeof value) < 0) {
        /* EAGAIN: nothing written; the queue is read all the same */
    }
    pthread_mutex_lock (&self->done_lock);
    slot_t *head = self->done_head;
    self->done_head = self->done_tail = NULL;
    pthread_mutex_unlock (&self->done_lock);
    return head;
}

static bool s_cas (slot_t *slot, int from, int to)
{
    return atomic_compare_exchange_strong_explicit (&slot->state, &from, to, memory_order_acq_rel,
                                                    memory_order_acquire);
}

/* Runs the job the loop queued. Returns JOB_ABANDONED if the loop
   abandoned this thread meanwhile (the slot is then freed), JOB_DETACHED
   if it was detached (stop hooks and 'X' are the caller's), else JOB_NEXT. */
static int s_run_job (slot_t *slot, fling_pool_run_fn *run, void *run_arg)
{
    if (!s_cas (slot, SLOT_QUEUED, SLOT_RUNNING))
        return JOB_NEXT; /* cancelled at destroy: an 'S' follows */
    void *job = slot->job;
    fling_pool_t *pool = slot->pool; /* read before the CAS: abandoned, the slot may go */
    run (job, run_arg);
    if (s_cas (slot, SLOT_RUNNING, SLOT_RETURNED)) {
        /* The pool lives until it has joined us. */
        s_post (pool, slot, 'D');
        return JOB_NEXT;
    }
    if (s_cas (slot, SLOT_DETACHED, SLOT_DETACHED_DONE))
        return JOB_DETACHED;
    /* Abandoned: the loop closed our socket; the pool may be freed; only
       the slot and the job are ours now. */
    if (slot->discard)
        slot->discard (job);
    free (slot);
    return JOB_ABANDONED;
}

static void *s_thread_main (void *arg)
{
    slot_t *slot = (slot_t *)arg;
    fling_pool_t *pool = slot->pool;
    char name[16];
    snprintf (name, sizeof name, "fling-pool-%u", slot->thread_index);
    pthread_setname_np (pthread_self (), name);

    s_hooks_start (pool, slot->thread_index);
    fling_pool_run_fn *run = pool->run;
    void *run_arg = pool->run_arg;
    while (s_recv_byte (slot->thread_end, 0) == 'J') {
        int next = s_run_job (slot, run, run_arg);
        if (next == JOB_ABANDONED)
            return NULL;
        if (next == JOB_DETACHED) {
            /* The pool lives until it has joined us: its hooks are safe. */
            s_hooks_stop (pool, slot->thread_index);
            s_post (pool, slot, 'X');
            return NULL; /* the loop joins us and closes both ends */
        }
    }
    s_hooks_stop (pool, slot->thread_index);
    zsock_destroy (&slot->thread_end);
    return NULL;
}

/* ---- loop thread -------------------------------------------------------- */

static int s_start_job (fling_pool_t *self, slot_t *slot, void *job)
{
    slot->job = job;
    atomic_store_explicit (&slot->state, SLOT_QUEUED, memory_order_release);
    if (s_send_byte (slot->loop_end, 'J', ZMQ_DONTWAIT)) {
        atomic_store_explicit (&slot->state, SLOT_IDLE, memory_order_relaxed);
        slot->job = NULL;
        return -1;
    }
    self->busy_count++;
    return 0;
}

/* Takes the finished job back from a slot whose 'D' was read. */
static void *s_collect (fling_pool_t *self, slot_t *slot)
{
    (void)atomic_load_explicit (&slot->state, memory_order_acquire);
    void *job = slot->job;
    slot->job = NULL;
    atomic_store_explicit (&slot->state, SLOT_IDLE, memory_order_relaxed);
    self->busy_count--;
    self->idle[self->idle_count++] = slot->index;
    return job;
}

/* Gives the oldest queued job to an idle thread, if both exist. */
static void s_feed (fling_pool_t *self)
{
    while (self->idle_count && zlistx_size (self->queue)) {
        unsigned index = self->idle[--self->idle_count];
        void *job = zlistx_detach (self->queue, NULL);
        if (s_start_job (self, self->slots[index], job)) {
            self->idle[self->idle_count++] = index;
            zlistx_add_start (self->queue, job);
            return;
        }
    }
}

static void s_reap (fling_pool_t *self, slot_t *slot);

static int s_on_posted (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_pool_t *self = (fling_pool_t *)arg;
    for (slot_t *slot = s_take_posted (self), *next; slot; slot = next) {
        next = slot->done_next; /* read first: a reaped slot is freed */
        if (slot->done_cmd == 'X' && slot->detached) {
            s_reap (self, slot);
            continue;
        }
        if (slot->done_cmd != 'D')
            continue;
        void *job = s_collect (self, slot);
        s_feed (self);
        if (self->done)
            self->done (job, self->done_arg);
    }
    return 0;
}

int fling_pool_submit (fling_pool_t *self, void *job)
{
    if (self->idle_count) {
        unsigned index = self->idle[--self->idle_count];
        if (s_start_job (self, self->slots[index], job) == 0)
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
    zmq_pollitem_t item = {NULL, self->done_fd, ZMQ_POLLIN, 0};
    if (zloop_poller (loop, &item, s_on_posted, self))
        return -1;
    self->loop = loop; /* set once the poller exists, so destroy removes it */
    return 0;
}

/* ---- creation and destruction ------------------------------------------- */

static slot_t *s_slot_new (fling_pool_t *self, unsigned index)
{
    slot_t *slot = (slot_t *)calloc (1, sizeof *slot);
    if (!slot)
        return NULL;
    slot->pool = self;
    slot->index = index;
    slot->thread_index = self->next_thread_index++;
    slot->discard = self->discard;
    atomic_init (&slot->state, SLOT_IDLE);
    slot->loop_end = zsys_create_pipe (&slot->thread_end);
    if (!slot->loop_end) {
        free (slot);
        errno = ENOMEM;
        return NULL;
    }
    return slot;
}

/* Pool threads take no asynchronous signals: a SIGTERM meant for the
   process then lands on the loop thread, and a handler's sleep or read is
   never cut short by EINTR. */
static int s_thread_create (slot_t *slot)
{
    sigset_t all, saved;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &saved);
    int rc = pthread_create (&slot->thread, NULL, s_thread_main, slot);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    slot->started = rc == 0;
    if (rc)
        errno = rc;
    return rc ? -1 : 0;
}

static int s_start_threads (fling_pool_t *self)
{
    for (unsigned i = 0; i < self->size; i++) {
        if (s_thread_create (self->slots[i]))
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
    self->done_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->done_lock_ready = pthread_mutex_init (&self->done_lock, NULL) == 0;
    self->run = run;
    self->run_arg = run_arg;
    self->discard = discard;
    self->hook_count = hook_count;
    if (hook_count)
        memcpy (self->hooks, hooks, hook_count * sizeof *hooks);
    self->slots = (slot_t **)calloc (self->size, sizeof *self->slots);
    self->idle = (unsigned *)calloc (self->size, sizeof *self->idle);
    self->queue = zlistx_new ();
    bool ok =
        self->slots && self->idle && self->queue && self->done_fd >= 0 && self->done_lock_ready;
    for (unsigned i = 0; ok && i < self->size; i++)
        ok = (self->slots[i] = s_slot_new (self, i)) != NULL;
    if (!ok) {
        errno = ENOMEM;
        fling_pool_destroy (&self);
        return NULL;
    }
    if (s_start_threads (self)) {
        int err = errno;
        fling_pool_destroy (&self);
        errno = err;
        return NULL;
    }
    return self;
}

/* ---- detached threads ------------------------------------------------------ */

/* Starts a fresh thread in the empty slots[index] and gives it work. */
static int s_refill (fling_pool_t *self, unsigned index)
{
    slot_t *slot = s_slot_new (self, index);
    if (!slot)
        return -1;
    if (s_thread_create (slot)) {
        zsock_destroy (&slot->loop_end);
        zsock_destroy (&slot->thread_end);
        free (slot);
        return -1;
    }
    self->slots[index] = slot;
    self->idle[self->idle_count++] = index;
    s_feed (self);
    return 0;
}

/* Slots that must stay empty: one per detached thread beyond `size`. */
static unsigned s_vacant_wanted (fling_pool_t *self)
{
    return self->stuck > self->size ? self->stuck - self->size : 0;
}

/* Fills empty slots while fewer must stay empty than are. */
static void s_refill_vacant (fling_pool_t *self)
{
    for (unsigned i = 0; i < self->size && self->vacant > s_vacant_wanted (self); i++) {
        if (self->slots[i])
            continue;
        if (s_refill (self, i))
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
    if (!s_cas (slot, SLOT_RUNNING, SLOT_DETACHED)) {
        int state = atomic_load_explicit (&slot->state, memory_order_acquire);
        errno = state == SLOT_QUEUED ? EAGAIN : EALREADY;
        return -1;
    }
    slot->detached = true;
    fling_dlist_push_head (&self->detached, &slot->detached_link);
    self->stuck++;
    self->slots[slot->index] = NULL;
    self->busy_count--;
    self->vacant++;
    s_refill_vacant (self);
    return 0;
}

static void s_unlink_detached (fling_pool_t *self, slot_t *slot)
{
    fling_dlist_remove (&self->detached, &slot->detached_link);
    self->stuck--;
}

/* A detached thread sent 'X': its job returned and its stop hooks ran. */
static void s_reap (fling_pool_t *self, slot_t *slot)
{
    pthread_join (slot->thread, NULL);
    s_unlink_detached (self, slot);
    zsock_destroy (&slot->loop_end);
    zsock_destroy (&slot->thread_end);
    if (self->discard)
        self->discard (slot->job);
    free (slot);
    s_refill_vacant (self);
    if (self->reaped)
        self->reaped (self->reaped_arg);
}

/* At destroy: a detached thread still in its job is abandoned (it frees
   itself); one already past it is joined (it is in its stop hooks). */
static void s_settle_detached (fling_pool_t *self, slot_t *slot)
{
    /* Copies first: once abandoned, the thread may free the slot any time. */
    zsock_t *loop_end = slot->loop_end, *thread_end = slot->thread_end;
    pthread_t thread = slot->thread;
    if (s_cas (slot, SLOT_DETACHED, SLOT_ABANDONED)) {
        zsock_destroy (&loop_end);
        zsock_destroy (&thread_end);
        pthread_detach (thread);
        return;
    }
    pthread_join (slot->thread, NULL);
    zsock_destroy (&slot->loop_end);
    zsock_destroy (&slot->thread_end);
    if (self->discard)
        self->discard (slot->job);
    free (slot);
}

/* For a slot with a job at destroy: take the job back if the thread never
   started it, abandon the thread if it is still in it. A job the thread
   has finished comes back through the done queue once the thread is
   joined (s_drain_posted). Returns false if abandoned (the slot is gone
   then). */
static bool s_settle (fling_pool_t *self, unsigned index)
{
    slot_t *slot = self->slots[index];
    zsock_t *loop_end = slot->loop_end, *thread_end = slot->thread_end;
    pthread_t thread = slot->thread;
    void *job = slot->job;
    if (s_cas (slot, SLOT_QUEUED, SLOT_CANCELLED)) {
        slot->job = NULL;
        self->busy_count--;
        if (self->discard)
            self->discard (job);
        return true;
    }
    if (s_cas (slot, SLOT_RUNNING, SLOT_ABANDONED)) {
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
   s_settle_detached. */
static void s_drain_posted (fling_pool_t *self)
{
    for (slot_t *slot = s_take_posted (self); slot; slot = slot->done_next)
        if (slot->done_cmd == 'D' &&
            atomic_load_explicit (&slot->state, memory_order_acquire) == SLOT_RETURNED) {
            void *job = s_collect (self, slot);
            if (self->done)
                self->done (job, self->done_arg);
        }
}

static void s_slot_destroy (fling_pool_t *self, unsigned index)
{
    slot_t *slot = self->slots[index];
    if (!slot)
        return;
    zsock_destroy (&slot->loop_end);
    zsock_destroy (&slot->thread_end); /* set only if the thread never started */
    free (slot);
    self->slots[index] = NULL;
}

void fling_pool_destroy (fling_pool_t **self_p)
{
    fling_pool_t *self = *self_p;
    if (!self)
        return;
    if (self->loop) {
        zmq_pollitem_t item = {NULL, self->done_fd, ZMQ_POLLIN, 0};
        zloop_poller_end (self->loop, &item);
    }
    for (unsigned i = 0; self->slots && i < self->size; i++) {
        slot_t *slot = self->slots[i];
        if (!slot || !slot->started)
            continue;
        int state = atomic_load_explicit (&slot->state, memory_order_acquire);
        if (state != SLOT_IDLE && !s_settle (self, i))
            continue;
        s_send_byte (slot->loop_end, 'S', 0);
    }
    for (unsigned i = 0; self->slots && i < self->size; i++)
        if (self->slots[i] && self->slots[i]->started)
            pthread_join (self->slots[i]->thread, NULL);
    if (self->done_lock_ready)
        s_drain_posted (self);
    for (unsigned i = 0; self->slots && i < self->size; i++)
        s_slot_destroy (self, i);
    while (self->detached.head) {
        slot_t *stuck = FLING_DLIST_ITEM (self->detached.head, slot_t, detached_link);
        s_unlink_detached (self, stuck);
        s_settle_detached (self, stuck);
    }
    void *job;
    while (self->queue && (job = zlistx_detach (self->queue, NULL)))
        if (self->discard)
            self->discard (job);
    zlistx_destroy (&self->queue);
    if (self->done_lock_ready)
        pthread_mutex_destroy (&self->done_lock);
    if (self->done_fd >= 0)
        close (self->done_fd);
    free (self->slots);
    free (self->idle);
    free (self);
    *self_p = NULL;
}
