/*  fling_pool.h - the worker's pool of threads for blocking handlers.

    The pool belongs to the loop thread. The loop thread hands a job to an
    idle thread only (it knows which threads are idle), over an inproc PAIR
    pipe to that thread; the threads give finished jobs back on one queue
    for the whole pool, which the loop polls through one eventfd (not a
    socket per thread: polling 50 of them every turn cost the loop more
    than the jobs' hand-offs). Jobs that find no idle thread wait in a FIFO
    in the pool, on the loop thread, until a thread is free.

    Thread hooks: each thread calls every hook set's start(index, arg) once
    before its first job, in the order the sets were given, and every stop
    once as it exits, in reverse order. fling_thread_state(slot) (declared
    in fling_worker.h) reads what start returned, on that thread.

    Stuck jobs: fling_pool_detach() takes a running job's thread out of the
    pool (its job overran a deadline). The pool starts a replacement thread
    (new thread index, start hooks run) so its capacity stays, as long as
    no more than `size` threads are detached; beyond that no replacement is
    started and fling_pool_capacity() drops by one per extra detached
    thread, so threads never exceed 2 x size. A detached thread, once its
    job returns, runs its stop hooks and exits; the loop thread then joins
    it, frees the job with `discard`, starts a thread again in a slot that
    had none, and calls the `reaped` callback.

    Thread indexes (the hooks' `thread_index`) are 0..size-1 for the first
    threads; each replacement takes the next unused number.

    Every function here is for the loop thread (the thread that created the
    pool), except that `run` and the hooks are called on pool threads.
*/
#ifndef FLING_POOL_H_INCLUDED
#define FLING_POOL_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "fling_worker.h"

#define FLING_POOL_HOOKS_MAX 16

typedef struct fling_pool fling_pool_t;

typedef struct {
    fling_thread_start_fn *start; /* may be NULL */
    fling_thread_stop_fn *stop;   /* may be NULL */
    void *arg;
} fling_pool_hooks_t;

/*  Runs one job, on a pool thread. */
typedef void (fling_pool_run_fn) (void *job, void *arg);
/*  A job came back from its thread, on the loop thread. */
typedef void (fling_pool_done_fn) (void *job, void *arg);
/*  A job whose thread was abandoned at destroy finished after all, on that
    pool thread: free it (nobody else will). */
typedef void (fling_pool_discard_fn) (void *job);

/*  Number of online cores, at least 1. */
unsigned fling_pool_default_size (void);

/*  Starts `size` threads (0 = fling_pool_default_size()). `hooks` is
    copied. `run` runs each job; `discard` (may be NULL) frees a job that
    finished on an abandoned thread. NULL with errno on failure. */
fling_pool_t *fling_pool_new (unsigned size, const fling_pool_hooks_t *hooks, size_t hook_count,
                              fling_pool_run_fn *run, void *run_arg,
                              fling_pool_discard_fn *discard);

/*  Stops the pool. Idle threads run their stop hooks and are joined. A job
    that came back but was not read yet is handed to `done` first. Threads
    still running a job are abandoned: detached, they free their job with
    `discard` when it returns and exit without running their stop hooks
    (the hooks' arguments may be gone by then). Nulls *self_p. */
void fling_pool_destroy (fling_pool_t **self_p);

/*  Adds the pool's pipes to `loop`; `done` is called for each job that
    comes back. Call once, before the first submit. 0 or -1. */
int fling_pool_attach (fling_pool_t *self, zloop_t *loop, fling_pool_done_fn *done, void *done_arg);

/*  Hands `job` to an idle thread, or queues it (FIFO) if all are busy.
    0, or -1 with errno (ENOMEM). */
int fling_pool_submit (fling_pool_t *self, void *job);

/*  Takes the oldest queued (not started) job out of the FIFO, or NULL. */
void *fling_pool_take_queued (fling_pool_t *self);

/*  Removes `job` from the FIFO if it is queued there (not yet handed to a
    thread). 0, or -1 with errno ENOENT. */
int fling_pool_remove_queued (fling_pool_t *self, const void *job);

/*  Detaches the thread running `job` (see above); from then on the pool
    owns the job and frees it with `discard` once the handler returned.
    0, or -1 with errno: EAGAIN if the job was handed to a thread that has
    not started it yet (try again shortly), EALREADY if the job returned and
    comes back through `done`, ENOENT if no thread holds it. */
int fling_pool_detach (fling_pool_t *self, const void *job);

/*  A detached thread ended and was joined (loop thread). */
typedef void (fling_pool_reaped_fn) (void *arg);
void fling_pool_on_reaped (fling_pool_t *self, fling_pool_reaped_fn *reaped, void *arg);

unsigned fling_pool_size (fling_pool_t *self);
/*  Threads that take jobs: size minus the slots left empty because more
    than `size` threads are detached. */
unsigned fling_pool_capacity (fling_pool_t *self);
/*  Detached threads still inside their job. */
unsigned fling_pool_stuck (fling_pool_t *self);
/*  Threads running a job now. */
unsigned fling_pool_busy (fling_pool_t *self);
/*  Jobs waiting in the FIFO. */
size_t fling_pool_queued (fling_pool_t *self);

#endif
