/*  fling_recover.h - opening the store and replaying it into the task tables
    (fling_tasks, fling_names) at start, in log order.
*/
#ifndef FLING_RECOVER_H_INCLUDED
#define FLING_RECOVER_H_INCLUDED

#include "fling_state.h"

/*  Opens the configured store and recovers its tasks: dead ones to their
    dead list, in-flight ones parked (their worker may claim them back with
    HOLDING), the others queued; the duplicate window refilled. -1 with
    errno after logging why: the broker must not start. */
int fling_recover_open_store (fling_broker_t *self);

#endif
