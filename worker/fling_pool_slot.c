/*  fling_pool_slot.c - one pool thread and its hand-off (fling_pool_slot.h). */
#include "fling_pool_slot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* What a thread does after running a job. */
enum { JOB_NEXT, JOB_ABANDONED, JOB_DETACHED };

/* Hook states of the current thread; zero (NULL) on threads outside a pool. */
static _Thread_local void *thread_states[FLING_POOL_HOOKS_MAX];

void *fling_thread_state (int slot)
{
    if (slot < 0 || slot >= FLING_POOL_HOOKS_MAX)
        return NULL;
    return thread_states[slot];
}

/* ---- the crew ----------------------------------------------------------- */

int fling_pool_crew_init (fling_pool_crew_t *crew, const fling_pool_hooks_t *hooks,
                          size_t hook_count, fling_pool_run_fn *run, void *run_arg,
                          fling_pool_discard_fn *discard)
{
    crew->done_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    crew->done_lock_ready = pthread_mutex_init (&crew->done_lock, NULL) == 0;
    crew->run = run;
    crew->run_arg = run_arg;
    crew->discard = discard;
    crew->hook_count = hook_count;
    if (hook_count)
        memcpy (crew->hooks, hooks, hook_count * sizeof *hooks);
    if (crew->done_fd < 0 || !crew->done_lock_ready) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void fling_pool_crew_fini (fling_pool_crew_t *crew)
{
    if (crew->done_lock_ready)
        pthread_mutex_destroy (&crew->done_lock);
    crew->done_lock_ready = false;
    if (crew->done_fd >= 0)
        close (crew->done_fd);
    crew->done_fd = -1;
}

/* On a pool thread: hands its slot to the loop. */
static void post (fling_pool_crew_t *crew, fling_pool_slot_t *slot, char cmd)
{
    slot->done_cmd = cmd;
    slot->done_next = NULL;
    pthread_mutex_lock (&crew->done_lock);
    bool was_empty = crew->done_head == NULL;
    if (was_empty)
        crew->done_head = slot;
    else
        crew->done_tail->done_next = slot;
    crew->done_tail = slot;
    pthread_mutex_unlock (&crew->done_lock);
    uint64_t one = 1;
    if (was_empty && write (crew->done_fd, &one, sizeof one) < 0) {
        /* never: the counter would have to reach 2^64 - 1 */
    }
}

fling_pool_slot_t *fling_pool_crew_take_posted (fling_pool_crew_t *crew)
{
    uint64_t value;
    if (read (crew->done_fd, &value, sizeof value) < 0) {
        /* EAGAIN: nothing written; the queue is read all the same */
    }
    pthread_mutex_lock (&crew->done_lock);
    fling_pool_slot_t *head = crew->done_head;
    crew->done_head = crew->done_tail = NULL;
    pthread_mutex_unlock (&crew->done_lock);
    return head;
}

/* ---- on a pool thread ------------------------------------------------- */

static void hooks_start (fling_pool_crew_t *crew, unsigned index)
{
    for (size_t i = 0; i < crew->hook_count; i++)
        if (crew->hooks[i].start)
            thread_states[i] = crew->hooks[i].start (index, crew->hooks[i].arg);
}

static void hooks_stop (fling_pool_crew_t *crew, unsigned index)
{
    for (size_t i = crew->hook_count; i-- > 0;) {
        if (crew->hooks[i].stop)
            crew->hooks[i].stop (index, thread_states[i], crew->hooks[i].arg);
        thread_states[i] = NULL;
    }
}

static int recv_byte (zsock_t *sock, int flags)
{
    char cmd;
    int rc;
    do
        rc = zmq_recv (zsock_resolve (sock), &cmd, 1, flags);
    while (rc == -1 && errno == EINTR);
    return rc == 1 ? cmd : -1;
}

int fling_pool_slot_send (fling_pool_slot_t *slot, char cmd, int flags)
{
    int rc;
    do
        rc = zmq_send (zsock_resolve (slot->loop_end), &cmd, 1, flags);
    while (rc == -1 && errno == EINTR);
    return rc == 1 ? 0 : -1;
}

/* Runs the job the loop queued. Returns JOB_ABANDONED if the loop
   abandoned this thread meanwhile (the slot is then freed), JOB_DETACHED
   if it was detached (stop hooks and 'X' are the caller's), else JOB_NEXT. */
static int run_job (fling_pool_slot_t *slot, fling_pool_run_fn *run, void *run_arg)
{
    if (!fling_pool_slot_cas (slot, FLING_SLOT_QUEUED, FLING_SLOT_RUNNING))
        return JOB_NEXT; /* cancelled at destroy: an 'S' follows */
    void *job = slot->job;
    fling_pool_crew_t *crew = slot->crew; /* read before the CAS: abandoned, the slot may go */
    run (job, run_arg);
    if (fling_pool_slot_cas (slot, FLING_SLOT_RUNNING, FLING_SLOT_RETURNED)) {
        /* The pool lives until it has joined us. */
        post (crew, slot, 'D');
        return JOB_NEXT;
    }
    if (fling_pool_slot_cas (slot, FLING_SLOT_DETACHED, FLING_SLOT_DETACHED_DONE))
        return JOB_DETACHED;
    /* Abandoned: the loop closed our socket; the pool may be freed; only
       the slot and the job are ours now. */
    if (slot->discard)
        slot->discard (job);
    free (slot);
    return JOB_ABANDONED;
}

static void *thread_main (void *arg)
{
    fling_pool_slot_t *slot = (fling_pool_slot_t *)arg;
    fling_pool_crew_t *crew = slot->crew;
    char name[16];
    snprintf (name, sizeof name, "fling-pool-%u", slot->thread_index);
    pthread_setname_np (pthread_self (), name);

    hooks_start (crew, slot->thread_index);
    fling_pool_run_fn *run = crew->run;
    void *run_arg = crew->run_arg;
    while (recv_byte (slot->thread_end, 0) == 'J') {
        int next = run_job (slot, run, run_arg);
        if (next == JOB_ABANDONED)
            return NULL;
        if (next == JOB_DETACHED) {
            /* The pool lives until it has joined us: its hooks are safe. */
            hooks_stop (crew, slot->thread_index);
            post (crew, slot, 'X');
            return NULL; /* the loop joins us and closes both ends */
        }
    }
    hooks_stop (crew, slot->thread_index);
    zsock_destroy (&slot->thread_end);
    return NULL;
}

/* ---- the slot, on the loop thread ---------------------------------------- */

fling_pool_slot_t *fling_pool_slot_new (fling_pool_crew_t *crew, unsigned index,
                                        unsigned thread_index)
{
    fling_pool_slot_t *slot = (fling_pool_slot_t *)calloc (1, sizeof *slot);
    if (!slot)
        return NULL;
    slot->crew = crew;
    slot->index = index;
    slot->thread_index = thread_index;
    slot->discard = crew->discard;
    atomic_init (&slot->state, FLING_SLOT_IDLE);
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
int fling_pool_slot_start (fling_pool_slot_t *slot)
{
    sigset_t all, saved;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &saved);
    int rc = pthread_create (&slot->thread, NULL, thread_main, slot);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    slot->started = rc == 0;
    if (rc)
        errno = rc;
    return rc ? -1 : 0;
}

void fling_pool_slot_free (fling_pool_slot_t **slot_p)
{
    fling_pool_slot_t *slot = *slot_p;
    if (!slot)
        return;
    zsock_destroy (&slot->loop_end);
    zsock_destroy (&slot->thread_end); /* set only if the thread never started */
    free (slot);
    *slot_p = NULL;
}
