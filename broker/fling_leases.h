/*  fling_leases.h - a task leased to a worker: the bookkeeping on both
    sides (the worker's lease list and credit, the task's owner, attempt
    and deadline). Below the worker table, dispatch, delivery and the
    reaper, which all lease or take back; it calls none of them.
*/
#ifndef FLING_LEASES_H_INCLUDED
#define FLING_LEASES_H_INCLUDED

#include "fling_state.h"

/*  Leases a task that is on no list to a worker: attempt + 1 (unless
    `same_attempt`: HOLDING), credit - 1, lease deadline set. revoke
    undoes the bookkeeping (not the attempt); the caller places the task. */
void fling_leases_grant (fling_broker_t *self, fling_bworker_t *worker, fling_btask_t *task,
                         fling_class_t cls, bool same_attempt);

/*  How long the broker lets a lease of `task` run (twice its timeout plus
    two worker timeouts), 0 = no deadline. A leased task's `due` is its
    lease start plus this (fling task shows the start). */
uint32_t fling_leases_deadline_ms (const fling_broker_t *self, const fling_btask_t *task);
void fling_leases_revoke (fling_btask_t *task);

#endif
