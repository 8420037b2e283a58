/*  fling_budget.c - see fling_budget.h. */
#include "fling_budget.h"

static size_t min_size (size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The room not given to any shard, for readers that do not take the lock.
   Called with the outbox lock held: one writer at a time. */
static void publish (fling_budget_t *self)
{
    atomic_store_explicit (&self->tasks_seen, self->tasks, memory_order_relaxed);
    atomic_store_explicit (&self->bytes_seen, self->bytes, memory_order_relaxed);
}

void fling_budget_init (fling_budget_t *self, size_t tasks, size_t bytes)
{
    self->tasks = tasks;
    self->bytes = bytes;
    atomic_init (&self->tasks_seen, tasks);
    atomic_init (&self->bytes_seen, bytes);
    atomic_init (&self->recall, false);
}

bool fling_budget_looks_short (fling_budget_t *self, const fling_credit_t *held, size_t record_size)
{
    if (atomic_load_explicit (&self->tasks_seen, memory_order_relaxed) + held->tasks >= 1 &&
        atomic_load_explicit (&self->bytes_seen, memory_order_relaxed) + held->bytes >= record_size)
        return false;
    atomic_store_explicit (&self->recall, true, memory_order_relaxed);
    return true;
}

void fling_budget_take_back (fling_budget_t *self, fling_credit_t *credit)
{
    self->tasks += credit->tasks;
    self->bytes += credit->bytes;
    credit->tasks = credit->bytes = 0;
    publish (self);
}

bool fling_budget_grant (fling_budget_t *self, fling_credit_t *credit, size_t record_size,
                         size_t shares)
{
    /* What the shard holds goes back first, so that it can all be granted. */
    fling_budget_take_back (self, credit);
    if (self->tasks < 1 || self->bytes < record_size) {
        atomic_store_explicit (&self->recall, true, memory_order_relaxed);
        return false;
    }
    size_t tasks = min_size (FLING_CREDIT_TASKS, self->tasks / (2 * shares));
    size_t bytes = min_size (FLING_CREDIT_BYTES, self->bytes / (2 * shares));
    credit->tasks = tasks ? tasks : 1;
    credit->bytes = bytes > record_size ? bytes : record_size;
    self->tasks -= credit->tasks;
    self->bytes -= credit->bytes;
    publish (self);
    return true;
}

void fling_budget_release (fling_budget_t *self, size_t tasks, size_t bytes)
{
    self->tasks += tasks;
    self->bytes += bytes;
    publish (self);
}

bool fling_budget_recall_asked (fling_budget_t *self)
{
    return atomic_exchange_explicit (&self->recall, false, memory_order_relaxed);
}
