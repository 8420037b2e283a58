/*  fling_deliver.h - DISPATCHes built in a turn, held until the turn's store
    commit has made their leases durable, then sent (write-ahead leases).

    fling_dispatch.c holds them; the loop sends or cancels them after the
    commit (fling_broker.c, fling_producers.c).
*/
#ifndef FLING_DELIVER_H_INCLUDED
#define FLING_DELIVER_H_INCLUDED

#include "fling_state.h"

/*  Keeps a DISPATCH of `count` tasks just leased to `worker` (their lease
    staged in the store) until the turn's commit; takes *msg (NULL: out of
    memory). -1 when it cannot be kept: the tasks are back in their queues
    unrun. Write-ahead:
    a worker never holds a task whose lease a restarted broker would not
    know, so the broker never hands it to a second worker (SPEC.md §6.5). */
int fling_deliver_hold (fling_broker_t *self, fling_bworker_t *worker, zmsg_t **msg,
                        uint32_t count);

/*  After the commit: sends the held DISPATCHes. One that cannot be sent
    (the worker is gone) gives its tasks back to their queues, unrun. */
void fling_deliver_send (fling_broker_t *self);

/*  The commit failed: the held DISPATCHes are not sent, their tasks go
    back to their queues (before the turn's tasks are dropped). */
void fling_deliver_cancel (fling_broker_t *self);

#endif
