/*  fling_pool_slot.h - one thread of the worker's pool and its hand-off
    with the loop thread (internal to fling_pool.c).

    The pool (fling_pool.c) keeps the loop thread's books: which slots are
    idle, the FIFO of waiting jobs, detached threads, destroy. This module
    is what runs on a pool thread and the few steps both sides take on a
    slot: the pipe that carries 'J' and 'S', the crew's queue of slots
    posted back, and the slot's state, whose compare-and-swap settles every
    race between the two threads.

    Hand-off protocol. Loop -> thread, on each thread's pipe (one byte a
    message): 'J' run the job in slot->job; 'S' stop. Thread -> loop, on
    one queue for the whole pool (the crew's `done`, under its mutex): the
    slot, with 'D' (the job is done) or 'X' (see detaching); a thread that
    finds the queue empty writes the crew's eventfd, the one thing the loop
    polls for its threads. One fd instead of a pipe per thread: zloop
    polled all of them every turn (50 sockets: 35 us of the loop thread's
    time per W2 task, most of it in the kernel's poll and libzmq's
    per-socket checks). The pipe and the queue are the signals; the slot's
    `state` atomic carries the memory hand-off. libzmq's inproc pipes do
    order memory, but through code that ThreadSanitizer cannot see, so the
    job is published and taken back through an atomic as well:

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
    (thread). Once detached the slot leaves the pool's slots for its
    `detached` list and keeps its pipe; when the job returns the thread
    moves DETACHED -> DETACHED_DONE, runs its stop hooks and posts 'X'; the
    loop joins it and frees slot and job. At destroy, DETACHED -> ABANDONED
    wins if the job still runs (the thread then frees itself, as above);
    if the thread got to DETACHED_DONE first, destroy joins it, which waits
    for its stop hooks only.
*/
#ifndef FLING_POOL_SLOT_H_INCLUDED
#define FLING_POOL_SLOT_H_INCLUDED

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fling_dlist.h"
#include "fling_pool.h"

enum {
    FLING_SLOT_IDLE,
    FLING_SLOT_QUEUED,
    FLING_SLOT_RUNNING,
    FLING_SLOT_RETURNED,
    FLING_SLOT_CANCELLED,
    FLING_SLOT_ABANDONED,
    FLING_SLOT_DETACHED,
    FLING_SLOT_DETACHED_DONE
};

typedef struct fling_pool_slot fling_pool_slot_t;

/*  What every thread of one pool shares: its hooks and job functions
    (fixed once the threads start) and the queue of slots posted back to
    the loop. Lives inside the pool, which lives until it has joined every
    thread that may read it. */
typedef struct {
    fling_pool_hooks_t hooks[FLING_POOL_HOOKS_MAX];
    size_t hook_count;
    fling_pool_run_fn *run;
    void *run_arg;
    fling_pool_discard_fn *discard;
    pthread_mutex_t done_lock;
    fling_pool_slot_t *done_head, *done_tail;
    int done_fd; /* eventfd: written when a post finds the queue empty */
    bool done_lock_ready;
} fling_pool_crew_t;

struct fling_pool_slot {
    fling_pool_crew_t *crew;     /* valid on the thread until abandoned */
    unsigned index;              /* position in the pool's slots */
    unsigned thread_index;       /* the hooks' index: unique per pool */
    bool detached;               /* loop thread only: on the detached list */
    fling_dlink_t detached_link; /* on the detached list, loop thread only */
    pthread_t thread;
    bool started;                   /* pthread_create succeeded */
    zsock_t *loop_end;              /* loop thread's end of the pipe */
    zsock_t *thread_end;            /* pool thread's end */
    void *job;                      /* the job in hand; see the state hand-off */
    fling_pool_discard_fn *discard; /* copied: an abandoned thread must not read the crew */
    atomic_int state;
    fling_pool_slot_t *done_next; /* on the crew's done queue, under its lock */
    char done_cmd;                /* 'D' or 'X', posted with it */
};

/*  Sets up the crew (hooks copied). 0, or -1 with errno. */
int fling_pool_crew_init (fling_pool_crew_t *crew, const fling_pool_hooks_t *hooks,
                          size_t hook_count, fling_pool_run_fn *run, void *run_arg,
                          fling_pool_discard_fn *discard);
void fling_pool_crew_fini (fling_pool_crew_t *crew);
/*  On the loop thread: every slot posted so far, oldest first, linked by
    done_next. */
fling_pool_slot_t *fling_pool_crew_take_posted (fling_pool_crew_t *crew);

/*  A slot at `index` with its pipe, no thread yet. NULL with errno. */
fling_pool_slot_t *fling_pool_slot_new (fling_pool_crew_t *crew, unsigned index,
                                        unsigned thread_index);
/*  Starts the slot's thread, which takes no asynchronous signals. 0, or
    -1 with errno. */
int fling_pool_slot_start (fling_pool_slot_t *slot);
/*  Closes both ends of the pipe and frees the slot (its thread joined, or
    never started). */
void fling_pool_slot_free (fling_pool_slot_t **slot_p);
/*  Sends one command byte on the slot's pipe, from the loop thread. */
int fling_pool_slot_send (fling_pool_slot_t *slot, char cmd, int flags);

static inline bool fling_pool_slot_cas (fling_pool_slot_t *slot, int from, int to)
{
    return atomic_compare_exchange_strong_explicit (&slot->state, &from, to, memory_order_acq_rel,
                                                    memory_order_acquire);
}

#endif
