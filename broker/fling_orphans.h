/*  fling_orphans.h - what the end of a worker means for the tasks it
    held: crash charges, suspects and trials' groups, requeues (proto/SPEC.md
    §6.4). The worker table (fling_workers.c) decides that a worker is gone
    and calls it; it calls task placement (fling_tasks) and the suspects,
    never the worker table.
*/
#ifndef FLING_ORPHANS_H_INCLUDED
#define FLING_ORPHANS_H_INCLUDED

#include "fling_state.h"

/*  A worker was declared dead (silence, unreachable) holding its leases:
    each goes back released, requeued as a suspect, into a suspect group,
    or is charged the crash (see fling_orphans.c). Returns the leases it
    held. */
size_t fling_orphans_lost (fling_broker_t *self, fling_bworker_t *worker);

/*  A worker that left (BYE) did not crash: its waiting tasks go back as
    released, a task it was running counts as a failed attempt. Returns the
    leases it held. */
size_t fling_orphans_left (fling_broker_t *self, fling_bworker_t *worker);

#endif
