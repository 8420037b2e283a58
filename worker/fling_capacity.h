/*  fling_capacity.h - how many tasks the worker runs at once and how many
    it asks the broker for, per class (internal).

    Read by the broker link (READY), the tasks in flight (free slots) and
    the overrun module (CAPACITY after a pool thread got stuck or came
    back). Loop thread only.
*/
#ifndef FLING_CAPACITY_H_INCLUDED
#define FLING_CAPACITY_H_INCLUDED

#include <stdint.h>

#include "fling_proto.h"
#include "fling_worker.h"

/*  Pool capacity: the pool size less the stuck threads above the cap (0
    without blocking handlers). */
uint32_t fling_capacity_pool (fling_worker_t *self);
/*  Tasks of class `cls` run at once. */
uint32_t fling_capacity_slots (fling_worker_t *self, fling_class_t cls);
/*  What to announce per class: slots (tasks run at once) and capacity
    (slots plus the prefetch). */
void fling_capacity_get (fling_worker_t *self, uint32_t capacity[FLING_CLASS_COUNT],
                         uint32_t slots[FLING_CLASS_COUNT]);

#endif
