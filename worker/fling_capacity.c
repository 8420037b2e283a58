/*  fling_capacity.c - slots and the capacity announced to the broker
    (fling_capacity.h). */
#include "fling_capacity.h"
#include "fling_worker_impl.h"

uint32_t fling_capacity_pool (fling_worker_t *self)
{
    if (!self->class_handlers[FLING_CLASS_POOL])
        return 0;
    return self->pool ? fling_pool_capacity (self->pool) : self->pool_size;
}

uint32_t fling_capacity_slots (fling_worker_t *self, fling_class_t cls)
{
    return cls == FLING_CLASS_LOOP ? self->async_limit : fling_capacity_pool (self);
}

void fling_capacity_get (fling_worker_t *self, uint32_t capacity[FLING_CLASS_COUNT],
                         uint32_t slots[FLING_CLASS_COUNT])
{
    slots[FLING_CLASS_POOL] = fling_capacity_pool (self);
    slots[FLING_CLASS_LOOP] = self->class_handlers[FLING_CLASS_LOOP] ? self->async_limit : 0;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        uint64_t credit = (uint64_t)slots[cls] * (1u + (uint64_t)self->prefetch);
        capacity[cls] = credit > UINT32_MAX ? UINT32_MAX : (uint32_t)credit;
    }
}
