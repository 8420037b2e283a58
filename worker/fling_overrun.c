/*  fling_overrun.c - task deadlines and what an overrun does
    (fling_overrun.h; the user's view in fling_worker.h, "Deadlines").

    Every task whose record carries a timeout_ms sits in one min-heap
    (fling_deadlines.c); one zloop timer is armed for the earliest
    deadline and re-armed when it fires or when an earlier one arrives. A
    worker with thousands of async tasks in flight thus has one timer, and
    a task that finishes in time costs one heap removal.

    A task still waiting in the backlog at its deadline (it found no free
    slot within its timeout) never started: it goes back unrun, RELEASED.
    On overrun the worker answers TIMEOUT at once (the broker may run the
    task elsewhere) and lets go of the task:
    - async: it moves to the overdue list; its late fling_task_complete
      frees it and sends nothing.
    - blocking, still waiting for a thread: taken out of the pool's FIFO.
    - blocking, running: its thread cannot be stopped safely, so it is
      detached from the pool (fling_pool_detach), which starts a
      replacement; past pool_size stuck threads the pool stops replacing
      them and the capacity announced to the broker drops instead.
*/
#include "fling_overrun.h"
#include "fling_capacity.h"
#include "fling_flight.h"
#include "fling_link.h"
#include "fling_log.h"
#include "fling_worker_impl.h"

#include <errno.h>
#include <stdio.h>

/* A job handed to a thread that has not picked it up yet cannot be
   detached; look again this much later. */
#define DETACH_RETRY_MS 10

/* Sends CAPACITY if the pool capacity changed since last announced. */
static void announce (fling_worker_t *self)
{
    uint32_t capacity[FLING_CLASS_COUNT], slots[FLING_CLASS_COUNT];
    fling_capacity_get (self, capacity, slots);
    if (self->draining || slots[FLING_CLASS_POOL] == self->announced_pool)
        return;
    fling_link_send (self, fling_msg_capacity (capacity, slots));
    self->announced_pool = slots[FLING_CLASS_POOL];
}

/* The TIMEOUT result and the one log line of an overrun. The task's error
   text is not read: a detached handler may be writing it right now. */
static void send_timeout (fling_worker_t *self, const fling_task_t *task)
{
    fling_warn ("task overran its deadline id=%s name=%s timeout_ms=%u class=%s", task->id_text,
                task->name, (unsigned)task->timeout_ms, fling_class_name (task->cls));
    char error[64];
    int size =
        snprintf (error, sizeof error, "overran its deadline of %u ms", (unsigned)task->timeout_ms);
    fling_result_t result = {.id = task->id,
                             .attempt = task->attempt,
                             .outcome = FLING_OUTCOME_TIMEOUT,
                             .error = error,
                             .error_size = size > 0 ? (size_t)size : 0};
    fling_flight_add_result (self, &result);
}

static void after_detach (fling_worker_t *self)
{
    unsigned stuck = fling_pool_stuck (self->pool);
    if (stuck > self->pool_size)
        fling_warn ("%u pool threads stuck in overrun handlers, above the cap of %u: pool "
                    "capacity reduced to %u",
                    stuck, self->pool_size, fling_pool_capacity (self->pool));
    announce (self);
}

/* `task` (off the heap already) is past its deadline. */
static void overrun (fling_worker_t *self, fling_task_t *task)
{
    if (task->waiting) {
        /* Never started: it did not overrun, it found no slot in time. */
        fling_flight_release_waiting (self, task);
        return;
    }
    if (task->cls == FLING_CLASS_LOOP) {
        fling_flight_untrack (self, task);
        send_timeout (self, task);
        fling_flight_keep_overdue (self, task);
        return;
    }
    if (fling_pool_remove_queued (self->pool, task) == 0) {
        fling_flight_untrack (self, task);
        send_timeout (self, task);
        fling_task_destroy (&task);
        return;
    }
    if (fling_pool_detach (self->pool, task) == 0) {
        /* The pool owns the task now and frees it when the handler returns;
           it cannot do so before this callback ends. */
        fling_flight_untrack (self, task);
        send_timeout (self, task);
        after_detach (self);
        return;
    }
    if (errno == EAGAIN) {
        task->deadline_ms = fling_clock_ms () + DETACH_RETRY_MS;
        fling_deadlines_add (self->deadlines, task, DETACH_RETRY_MS);
    }
    /* EALREADY: the handler returned just now; its own result follows. */
}

static int on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->deadline_timer = -1; /* one-shot: zloop drops it after this call */
    self->in_callback = true;
    int64_t now = fling_clock_ms ();
    fling_task_t *task;
    while ((task = fling_deadlines_first (self->deadlines)) && task->deadline_ms <= now) {
        fling_deadlines_remove (self->deadlines, task);
        overrun (self, task);
    }
    fling_flight_arm_deadline (self);
    return fling_flight_end_turn (self);
}

/* A stuck thread's handler returned at last and its thread ended. */
static void on_reaped (void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    uint32_t before = self->announced_pool;
    announce (self);
    if (self->announced_pool != before)
        fling_info ("a stuck pool thread ended (%u still stuck): pool capacity back to %u",
                    fling_pool_stuck (self->pool), (unsigned)self->announced_pool);
    else
        fling_debug ("a stuck pool thread ended (%u still stuck)", fling_pool_stuck (self->pool));
}

int fling_overrun_setup (fling_worker_t *self)
{
    self->on_deadline = on_deadline;
    if (self->pool)
        fling_pool_on_reaped (self->pool, on_reaped, self);
    return 0;
}
